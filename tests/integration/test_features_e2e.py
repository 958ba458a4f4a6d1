"""Simulated traffic (seed 7) through real Kafka, the enrich worker and chDB: features equal ground truth.

The same checks after crashes, broker restarts and insert failures are in ``test_faults.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from services.drain import wait_processed
from services.sim.cli import produce_events
from services.sim.simulator import Simulation, SimulationConfig, simulate
from tests.integration.groundtruth_checks import assert_equals_ground_truth
from tests.integration.helpers import running_pipeline
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
    asyncio.run(wait_processed(pipeline.enrich, pipeline.alerts, pipeline.loader, timeout=300))
    assert_equals_ground_truth(pipeline, sim)
