"""The faust app factory and worker runner every faust worker uses (broker, credentials, web defaults)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

from services.common.kafka import keep_all_topics
from services.common.settings import CommonSettings
from services.runtime import consume, offsets
from services.runtime.batch_send import OutputBatch
from services.runtime.taskdump import format_consumer, format_producer, format_tasks

log = logging.getLogger(__name__)


def _producers_keep_all_topics() -> None:
    """faust's aiokafka producers get :func:`services.common.kafka.keep_all_topics` (once per process):
    the workers' tables create changelog topics after their producer started, and a first write to one
    must not make the producer forget the topics it writes rarely (the alerts worker's alerts)."""
    producer_class: Any = faust_aiokafka.Producer
    if getattr(producer_class, "_engage_keeps_all_topics", False):
        return
    build = producer_class._new_producer

    def _new_producer(self: Any, transactional_id: str | None = None) -> Any:
        producer = build(self, transactional_id)
        keep_all_topics(producer.client)
        return producer

    producer_class._new_producer = _new_producer
    producer_class._engage_keeps_all_topics = True


def faust_app(
    settings: CommonSettings,
    app_id: str,
    data_dir: Path,
    web_host: str,
    web_port: int,
    store: str = "memory://",
    commit_interval: float | None = None,
) -> faust.App:
    """A faust app with the pipeline's broker, topic and web defaults (one per worker kind).

    ``commit_interval``: seconds between offset commits (None: faust's default, 2.8 s)."""
    offsets.install()
    consume.install()
    _producers_keep_all_topics()
    data_dir.mkdir(parents=True, exist_ok=True)
    extra: dict[str, object] = {}
    if commit_interval is not None:
        extra["broker_commit_interval"] = commit_interval
    app = faust.App(
        app_id,
        store=store,
        datadir=str(data_dir),
        web_enabled=True,
        web_port=web_port,
        web_bind=web_host,
        web_host=web_host,
        # The port serves /healthz, /readyz and /metrics: not faust's pages that
        # read any table key (/table/) or tell where keys live (/router/), nor the debug pages.
        web_router_enabled=False,
        web_tables_enabled=False,
        web_graph_enabled=False,
        web_stats_enabled=False,
        web_metrics_enabled=False,
        **faust_broker_kwargs(settings),  # type: ignore[arg-type]
        **extra,  # type: ignore[arg-type]
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
        for section, state in (("consumer", format_consumer), ("producer", format_producer)):
            try:
                print(state(self.app), file=self.stderr, flush=True)
            except Exception as exc:  # a diagnostic must not take the worker down
                print(f"{section} state not available: {exc!r}", file=self.stderr, flush=True)


PRODUCER_METADATA_MAX_AGE_MS = 10_000
# Record batches of up to 256 KiB (aiokafka's default is 16 KiB). The batched output path
# (:mod:`services.runtime.batch_send`) builds one record batch per topic partition and starts a new one
# when it is full; aiokafka queues a partition's next batch only once the one before it was drained to
# the broker, so small batches made a processing batch's sends wait on each other in turn.
PRODUCER_MAX_BATCH_BYTES = 256 * 1024


def faust_broker_kwargs(settings: CommonSettings) -> dict[str, object]:
    """faust.App keyword arguments for the broker connection, including SASL/TLS credentials."""
    kwargs: dict[str, object] = {
        "broker": ";".join(f"kafka://{b.strip()}" for b in settings.kafka_bootstrap.split(",")),
        "topic_partitions": settings.topic_partitions,
        "topic_replication_factor": settings.topic_replication,
        "consumer_auto_offset_reset": "earliest",
        "producer_acks": -1,
        # A refresh every 10 s (aiokafka: 5 min) bounds how long a producer works from stale leaders.
        # The minutes-long stalls with `unknown_leaders_exist` once seen right after faust creates its
        # changelog topics match aiokafka narrowing the producer's metadata to a new topic, which no
        # refresh repairs: `_producers_keep_all_topics` above is the fix for that. A metadata request
        # every 10 s costs the broker nothing.
        "producer_metadata_max_age_ms": PRODUCER_METADATA_MAX_AGE_MS,
        "producer_max_batch_size": PRODUCER_MAX_BATCH_BYTES,
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


def output_batch(app: faust.App) -> OutputBatch:
    """A batch of outputs sent on the app's own aiokafka producer (it exists once the app started)."""
    return OutputBatch(getattr(app.producer, "_producer", None))
