"""Simulated traffic (seed 7) through real Kafka, the enrich worker and chDB: features equal ground truth.

The same checks after crashes, broker restarts and insert failures are in ``test_faults.py``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import pytest

from services.sim.cli import produce_events
from services.sim.simulator import Simulation, SimulationConfig, simulate
from tests.integration.groundtruth_checks import assert_equals_ground_truth
from tests.integration.helpers import drain_pipeline, running_pipeline, task_dump
from tests.integration.pipeline import Pipeline

pytestmark = pytest.mark.integration

SEED = 7
DURATION = 4 * 3600.0


@pytest.fixture(scope="module")
def sim() -> Simulation:
    return simulate(SimulationConfig(seed=SEED, duration_seconds=DURATION))


@pytest.fixture
def pipeline(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    with running_pipeline(kafka_bootstrap, tmp_path_factory, "features") as p:
        yield p


def test_simulated_traffic_features_equal_ground_truth(pipeline: Pipeline, sim: Simulation) -> None:
    accepted, rejected = asyncio.run(produce_events(pipeline.ingest, sim.events))
    assert (accepted, rejected) == (len(sim.events), 0)
    drain_pipeline(pipeline, 300)
    assert_equals_ground_truth(pipeline, sim)

    # A live worker's own account of where it waits (docs/runbook.md), read as a stall would be.
    dump = task_dump(pipeline.procs["enrich"].pid, pipeline.root / "enrich.log")
    assert "--- asyncio await chains ---" in dump, dump[-2000:]
    assert f"  {pipeline.enrich.topic_raw}[0] position=" in dump, dump[-2000:]
    producer = dump[dump.index("\nproducer: in flight to nodes ") + 1 :]
    assert "sender task running" in producer.splitlines()[0], producer
    connection = r"connection to node \d+ \(DEFAULT\): \d+ request\(s\) awaiting a response"
    assert re.search(connection, producer), producer
