"""Alerts worker: reputation signals per brand in faust tables, detection, and delivery.

Two agents turn inputs into alerts on ``social.alerts`` (enriched events → count signals, the
unanswered-complaints growth among them; post snapshots → viral negative posts), in event
time with an allowed lateness (later events are dropped and counted in
``engage_alerts_late_events_total``), with the same per-key exactly-once state as enrich (the enriched
topic is keyed by brand, so a brand's signals stay on one partition). A third agent delivers
``social.alerts`` to Alertmanager and the webhook and acks each batch only after every sink accepted
it: while Alertmanager is down the agent retries and the alerts wait in Kafka, so a fired alert is
never lost. Firing alerts are re-posted every ``alert_resend_seconds`` from a table of active alerts
until they resolve.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import faust

from services.alerts.batch import firing_alerts, handle_batch, plan_delivery
from services.alerts.delivery import Deliverer
from services.alerts.engine import AlertEngine
from services.alerts.spike import SpikeConfig
from services.common import metrics
from services.common.avro import codec
from services.common.keyed_state import Position
from services.common.settings import AlertsSettings
from services.runtime.app import faust_app
from services.runtime.batches import decode_batch, take_events
from services.runtime.state import ChangelogWriter, TableBacking
from services.runtime.web import add_health_views

log = logging.getLogger(__name__)


def create_app(settings: AlertsSettings) -> faust.App:
    app = faust_app(
        settings,
        settings.alerts_app_id,
        settings.alerts_data_dir,
        settings.alerts_web_host,
        settings.alerts_web_port,
    )
    alert_codec = codec("alert")

    def topic(name: str, partitions: int | None = None) -> Any:
        return app.topic(name, value_serializer="raw", key_serializer="raw", partitions=partitions)

    enriched_topic = topic(settings.topic_enriched)
    posts_topic = topic(settings.topic_post_virality)
    alerts_topic = topic(settings.topic_alerts, partitions=1)
    dlq_topic = topic(settings.topic_dlq)
    tables = {
        "signals": app.Table("alert-signals", default=None, partitions=settings.topic_partitions),
        "active": app.Table("alerts-active", default=None, partitions=1),
    }
    config = SpikeConfig(
        bucket_seconds=settings.alert_bucket_seconds, warmup_seconds=settings.alert_warmup_seconds
    )
    kinds = [k.strip() for k in settings.alert_kinds.split(",") if k.strip()]
    engine = AlertEngine(
        TableBacking(tables["signals"]),
        config,
        kinds,
        allowed_lateness_seconds=settings.alert_allowed_lateness_seconds,
    )
    deliverer = Deliverer(
        settings.alertmanager_url,
        settings.alert_webhook_url,
        settings.alert_resend_seconds,
        settings.runbook_url(),
    )
    metrics.ALERTS_LATE_EVENTS.inc(0)

    async def run_batches(stream: faust.StreamT, subject: str) -> None:
        decoder = codec(subject)
        # One writer per agent: a batch must wait for its own state writes, not send another agent's
        # (which that agent would then ack without having waited for them).
        changelogs = ChangelogWriter(tables)
        async for events in take_events(stream, 1000, within=0.2):
            started = time.perf_counter()
            metrics.events_received("alerts")
            decoded, pending = await decode_batch(events, decoder, dlq_topic, "alerts")
            positions = [Position(e.message.partition, e.message.offset) for e, _ in decoded]
            out = handle_batch(engine, subject, [r for _, r in decoded], positions, write=changelogs.write)
            if out.late_events:
                metrics.ALERTS_LATE_EVENTS.inc(out.late_events)
                log.info("%d late event(s) past the allowed lateness dropped", out.late_events)
            pending.extend(await changelogs.send_each())
            for key, value in out.messages:
                pending.append(await alerts_topic.send(key=key, value=value, force=True))
            for (kind, severity), n in out.fired.items():
                metrics.ALERTS_FIRED.labels(kind, severity).inc(n)
            for alert in out.alerts:
                if alert["status"] == "firing":
                    log.warning("alert fired: %s", alert["summary"])
            await asyncio.gather(*pending)
            metrics.PROCESSING_SECONDS.labels(f"alerts_{subject}").observe(time.perf_counter() - started)

    @app.agent(enriched_topic, name="signals")
    async def count_signals(stream: faust.StreamT) -> None:
        await run_batches(stream, "enriched_event")

    @app.agent(posts_topic, name="viral-negative")
    async def viral_negative(stream: faust.StreamT) -> None:
        await run_batches(stream, "post_virality")

    active = tables["active"]

    @app.agent(alerts_topic, name="deliver")
    async def deliver(stream: faust.StreamT) -> None:
        changelogs = ChangelogWriter(tables)
        async for events in take_events(stream, 100, within=0.5):
            decoded, dead = await decode_batch(events, alert_codec, dlq_topic, "alerts.deliver")
            await asyncio.gather(*dead)
            plan = plan_delivery([alert for _, alert in decoded], active.data)
            for key, value in plan.active_writes:
                changelogs.write("active", key, 0, value)
            # Blocks (retrying) until every sink accepted: the batch is acked only after delivery.
            await deliverer.deliver(plan.deliver)
            await asyncio.gather(*(await changelogs.send_each()))
            metrics.ALERTS_ACTIVE.set(sum(1 for v in active.data.values() if v is not None))

    @app.timer(interval=settings.alert_resend_seconds)
    async def resend_firing() -> None:
        """Keep firing alerts alive in Alertmanager (it resolves alerts that stop being re-sent)."""
        firing = firing_alerts(active.data)
        if firing and settings.alertmanager_url:
            await deliverer.deliver(firing, webhook=False)

    metrics.events_received("alerts")
    add_health_views(app)
    return app
