"""`engage simulate` without --out produces every simulated event to the raw topic of a real broker."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from typer.testing import CliRunner

from services.cli import app
from services.common.avro import codec
from services.common.kafka import ensure_topics
from services.common.settings import IngestSettings
from services.ingest.pseudonym import is_pseudonym
from services.sim.simulator import SimulationConfig, simulate

pytestmark = pytest.mark.integration


async def _end_offsets(bootstrap: str, topic: str) -> int:
    # Subscribing makes the consumer fetch the topic's metadata on start, so its partitions are known.
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        assert partitions, topic
        return sum((await consumer.end_offsets(partitions)).values())
    finally:
        await consumer.stop()


async def _first_records(bootstrap: str, topic: str, n: int) -> list[dict[str, object]]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    decoder = codec("social_event")
    try:
        records: list[dict[str, object]] = []
        while len(records) < n:
            batches = await consumer.getmany(timeout_ms=2000, max_records=n)
            records.extend(decoder.decode(m.value) for msgs in batches.values() for m in msgs)
        return records[:n]
    finally:
        await consumer.stop()


def test_simulate_produces_exactly_the_simulated_events(kafka_bootstrap: str) -> None:
    suffix = uuid.uuid4().hex[:8]
    settings = IngestSettings(
        kafka_bootstrap=kafka_bootstrap,
        topic_raw=f"sim.raw.{suffix}",
        topic_dlq=f"sim.dlq.{suffix}",
        topic_enriched=f"sim.enriched.{suffix}",
        topic_alerts=f"sim.alerts.{suffix}",
    )
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

    assert asyncio.run(_end_offsets(kafka_bootstrap, settings.topic_raw)) == len(expected)
    assert asyncio.run(_end_offsets(kafka_bootstrap, settings.topic_dlq)) == 0
    records = asyncio.run(_first_records(kafka_bootstrap, settings.topic_raw, 20))
    by_id = {e["event_id"]: e for e in expected}
    for record in records:
        source = by_id[str(record["event_id"])]
        assert record["event_type"] == source["event_type"] and record["text"] == source["text"]
        assert is_pseudonym(str(record["actor_id"])) and record["actor_id"] != source["actor_id"]
