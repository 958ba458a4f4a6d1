"""`engage simulate` without --out produces every simulated event to the raw topic of a real broker."""

from __future__ import annotations

import asyncio
import time

import pytest
from typer.testing import CliRunner

from services.cli import app
from services.common.kafka import ensure_topics, topic_end_offsets
from services.common.settings import IngestSettings
from services.ingest.pseudonym import is_pseudonym
from services.sim.simulator import SimulationConfig, simulate
from tests.integration.helpers import namespaced, read_records, unique_name

pytestmark = pytest.mark.integration


def test_simulate_produces_exactly_the_simulated_events(kafka_bootstrap: str) -> None:
    settings = namespaced(IngestSettings, kafka_bootstrap, unique_name("sim"))
    asyncio.run(ensure_topics(settings))
    expected = simulate(SimulationConfig(seed=13, duration_seconds=60)).events
    env = {
        "ENGAGE_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "ENGAGE_TOPIC_RAW": settings.topic_raw,
        "ENGAGE_TOPIC_DLQ": settings.topic_dlq,
        "ENGAGE_PSEUDONYM_KEY": "simulate-test-key",
    }
    rate = 1500.0
    began = time.monotonic()
    result = CliRunner().invoke(
        app, ["simulate", "--seed", "13", "--duration", "60", "--rate", str(rate)], env=env
    )
    elapsed = time.monotonic() - began
    assert result.exit_code == 0, result.output
    assert f"{len(expected)} accepted, 0 rejected" in result.output
    # Paced: the last batch may not leave before (n - batch) / rate seconds have passed.
    assert elapsed >= (len(expected) - rate / 10) / rate

    assert asyncio.run(topic_end_offsets(settings, settings.topic_raw)) == len(expected)
    assert asyncio.run(topic_end_offsets(settings, settings.topic_dlq)) == 0
    records = asyncio.run(read_records(settings, settings.topic_raw, "social_event"))[:20]
    by_id = {e["event_id"]: e for e in expected}
    for record in records:
        source = by_id[str(record["event_id"])]
        assert record["event_type"] == source["event_type"] and record["text"] == source["text"]
        assert is_pseudonym(str(record["actor_id"])) and record["actor_id"] != source["actor_id"]
