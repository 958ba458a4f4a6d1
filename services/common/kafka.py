"""Kafka plumbing shared by the services: topic declarations, producers, committed offsets, consumer lag."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from services.common.settings import CommonSettings

log = logging.getLogger(__name__)

DAY_MS = 24 * 3600 * 1000


def keep_all_topics(client: Any) -> None:
    """Keep an aiokafka client that watches every topic doing so.

    A client with no topic of its own (every producer's) asks the broker about all topics. aiokafka's
    ``add_topic``, called by a send to a topic the client does not know yet (one created after its last
    refresh), narrows it to that one topic, and each refresh then replaces the known partitions with the
    tracked topics' alone: a batch already queued for any other topic has no leader from then on and
    waits until a later send re-adds its topic, or until it expires (20 minutes in faust's producer).
    A worker waiting for that batch before it sends anything else stalls. Here ``add_topic`` on such a
    client asks for a refresh instead, so a new topic is learnt and none is forgotten
    (tests/integration/test_producer_metadata.py shows both); a client that tracks chosen topics keeps
    aiokafka's behaviour."""
    add_topic = client.add_topic

    def add_topic_keeping_all(topic: str) -> asyncio.Future[Any]:
        if not client._topics:
            return client.force_metadata_update()  # type: ignore[no-any-return]
        return add_topic(topic)  # type: ignore[no-any-return]

    client.add_topic = add_topic_keeping_all


def new_producer(**options: Any) -> AIOKafkaProducer:
    """An aiokafka producer (``options`` as for ``AIOKafkaProducer``) whose metadata keeps every topic."""
    producer = AIOKafkaProducer(**options)
    keep_all_topics(producer.client)
    return producer


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication: int
    config: dict[str, str]


def topic_specs(settings: CommonSettings) -> list[TopicSpec]:
    """Every topic the pipeline owns, with retention chosen for its role.

    Producers stamp messages with the event's ``occurred_at``, so backfills and simulations carry
    old timestamps; ``LogAppendTime`` makes retention count from arrival instead, otherwise the
    broker would delete a replay of last month's events as soon as it landed.
    """
    p, r = settings.topic_partitions, settings.topic_replication

    def config(days: int, **extra: str) -> dict[str, str]:
        return {"retention.ms": str(days * DAY_MS), "message.timestamp.type": "LogAppendTime", **extra}

    specs = [
        TopicSpec(settings.topic_raw, p, r, config(7)),
        TopicSpec(settings.topic_enriched, p, r, config(7)),
        TopicSpec(settings.topic_alerts, 1, r, config(30)),
        # Feature snapshots: only the latest per key matters, so compact (and keep a week of history).
        *(
            TopicSpec(t, p, r, config(7, **{"cleanup.policy": "compact,delete"}))
            for t in settings.feature_topics()
        ),
        # Dead letters are kept long: each one is a promise that nothing accepted was lost.
        TopicSpec(settings.topic_dlq, 1, r, config(30)),
        TopicSpec(settings.topic_loader_dlq, 1, r, config(30)),
    ]
    return specs


async def ensure_topics(settings: CommonSettings, timeout: float = 30.0) -> list[str]:
    """Create missing pipeline topics; return the names created. Existing topics are left alone."""
    admin = AIOKafkaAdminClient(**settings.kafka_client_options(), request_timeout_ms=int(timeout * 1000))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [s for s in topic_specs(settings) if s.name not in existing]
        if not wanted:
            return []
        new = [NewTopic(s.name, s.partitions, s.replication, topic_configs=s.config) for s in wanted]
        # Another process may create them between our list and create: that is fine.
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics(new)
        return [s.name for s in wanted]
    finally:
        await admin.close()


async def committed_offsets(settings: CommonSettings, group_id: str) -> dict[TopicPartition, int]:
    """The offsets ``group_id`` has committed, per partition (partitions without one are absent)."""
    admin = AIOKafkaAdminClient(**settings.kafka_client_options())
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(group_id)
    finally:
        await admin.close()
    return {tp: meta.offset for tp, meta in committed.items() if meta is not None and meta.offset >= 0}


async def consumer_lag(settings: CommonSettings, group_id: str, topics: list[str]) -> dict[str, int]:
    """Messages not yet committed by ``group_id``, per topic (end offset minus committed offset)."""
    committed = await committed_offsets(settings, group_id)
    lag: dict[str, int] = dict.fromkeys(topics, 0)
    for tp, end in (await _end_offsets(settings, topics)).items():
        lag[tp.topic] += max(0, end - committed.get(tp, 0))
    return lag


async def topic_end_offsets(settings: CommonSettings, topic: str) -> int:
    """Total messages ever written to ``topic`` (sum of end offsets), for DLQ and progress counts."""
    return sum((await _end_offsets(settings, [topic])).values())


async def _end_offsets(settings: CommonSettings, topics: list[str]) -> dict[TopicPartition, int]:
    """The end offset of every partition of ``topics``."""
    admin = AIOKafkaAdminClient(**settings.kafka_client_options())
    consumer = AIOKafkaConsumer(**settings.kafka_client_options(), enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        ends: dict[TopicPartition, int] = await consumer.end_offsets(await _partitions(admin, topics))
        return ends
    finally:
        await consumer.stop()
        await admin.close()


async def _partitions(admin: AIOKafkaAdminClient, topics: list[str]) -> list[TopicPartition]:
    """All partitions of ``topics``, from a fresh metadata request; unknown topics are an error."""
    found: list[TopicPartition] = []
    for desc in await admin.describe_topics(topics):
        if desc.get("error_code", 0) or not desc.get("partitions"):
            raise LookupError(f"topic {desc.get('topic')!r} is unknown to the cluster")
        found.extend(TopicPartition(desc["topic"], p["partition"]) for p in desc["partitions"])
    return found
