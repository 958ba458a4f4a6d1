"""Kafka plumbing shared by the services: topic declarations, consumer lag, faust app defaults."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path

import faust
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from services.common import faust_offsets
from services.common.settings import CommonSettings
from services.common.taskdump import format_consumer, format_tasks

log = logging.getLogger(__name__)

DAY_MS = 24 * 3600 * 1000


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
    ]
    loader_dlq = getattr(settings, "topic_loader_dlq", None)
    if loader_dlq:
        specs.append(TopicSpec(loader_dlq, 1, r, config(30)))
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
    admin = AIOKafkaAdminClient(**settings.kafka_client_options())
    consumer = AIOKafkaConsumer(**settings.kafka_client_options(), enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        partitions = await _partitions(admin, topics)
        ends = await consumer.end_offsets(partitions)
        lag: dict[str, int] = dict.fromkeys(topics, 0)
        for tp, end in ends.items():
            lag[tp.topic] += max(0, end - committed.get(tp, 0))
        return lag
    finally:
        await consumer.stop()
        await admin.close()


async def topic_end_offsets(settings: CommonSettings, topic: str) -> int:
    """Total messages ever written to ``topic`` (sum of end offsets), for DLQ and progress counts."""
    admin = AIOKafkaAdminClient(**settings.kafka_client_options())
    consumer = AIOKafkaConsumer(**settings.kafka_client_options(), enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        ends = await consumer.end_offsets(await _partitions(admin, [topic]))
        return sum(ends.values())
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


def faust_app(
    settings: CommonSettings,
    app_id: str,
    data_dir: Path,
    web_host: str,
    web_port: int,
    store: str = "memory://",
) -> faust.App:
    """A faust app with the pipeline's broker, topic and web defaults (one per worker kind)."""
    faust_offsets.install()
    data_dir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        app_id,
        store=store,
        datadir=str(data_dir),
        web_enabled=True,
        web_port=web_port,
        web_bind=web_host,
        web_host=web_host,
        # The port serves /healthz, /readyz, /metrics (and the loader's /query): not faust's pages that
        # read any table key (/table/) or tell where keys live (/router/), nor the debug pages.
        web_router_enabled=False,
        web_tables_enabled=False,
        web_graph_enabled=False,
        web_stats_enabled=False,
        web_metrics_enabled=False,
        **faust_broker_kwargs(settings),  # type: ignore[arg-type]
    )
    return app


def run_worker(app: faust.App, loglevel: str) -> None:
    """Run ``app`` as a faust worker (blocks until it stops). Like every mode worker it writes the
    stack of each thread and asyncio task to stderr on SIGUSR1."""
    _ServiceWorker(app, loglevel=loglevel, quiet=True).execute_from_commandline()


class _ServiceWorker(faust.Worker):
    """faust's worker without the terminal spinner. At WARNING and above the spinner sets the root
    logger to DEBUG, so every debug record of faust, mode and aiokafka is built and formatted for
    nothing: about a tenth of the enrich worker's CPU."""

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        self.spinner = None
        super().on_setup_root_logger(logger, level)

    async def _cry(self) -> None:
        """SIGUSR1: mode's dump of every thread and task, then each task's await chain to the
        innermost future (mode shows only the outermost frame of a task)."""
        await super()._cry()
        print("--- asyncio await chains ---", file=self.stderr)
        print(format_tasks(), file=self.stderr)
        try:
            print(format_consumer(self.app), file=self.stderr, flush=True)
        except Exception as exc:  # a diagnostic must not take the worker down
            print(f"consumer state not available: {exc!r}", file=self.stderr, flush=True)


def faust_broker_kwargs(settings: CommonSettings) -> dict[str, object]:
    """faust.App keyword arguments for the broker connection, including SASL/TLS credentials."""
    kwargs: dict[str, object] = {
        "broker": ";".join(f"kafka://{b.strip()}" for b in settings.kafka_bootstrap.split(",")),
        "topic_partitions": settings.topic_partitions,
        "topic_replication_factor": settings.topic_replication,
        "consumer_auto_offset_reset": "earliest",
        "producer_acks": -1,
        "autodiscover": False,
    }
    proto = settings.kafka_security_protocol
    if settings.kafka_sasl_mechanism:
        ssl_context = None
        if proto.endswith("SSL"):
            from aiokafka.helpers import create_ssl_context

            ssl_context = create_ssl_context(cafile=settings.kafka_ssl_cafile)
        kwargs["broker_credentials"] = faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=settings.kafka_sasl_password,
            mechanism=settings.kafka_sasl_mechanism,
            ssl_context=ssl_context,
        )
    elif proto == "SSL":
        from aiokafka.helpers import create_ssl_context

        kwargs["broker_credentials"] = faust.SSLCredentials(
            create_ssl_context(cafile=settings.kafka_ssl_cafile)
        )
    return kwargs


async def wait_for(predicate, timeout: float, interval: float = 0.5) -> bool:  # type: ignore[no-untyped-def]
    """Poll an async predicate until it is true or ``timeout`` passes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        if await predicate():
            return True
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(interval)
