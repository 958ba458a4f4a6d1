"""Alerts worker: faust app counting enriched events per brand and window, publishing alerts.

Window state lives in a changelog-backed table, so counts and "already fired" flags survive restarts;
the enriched topic is keyed by brand, so each brand's counts stay on one partition without repartition.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict
from datetime import UTC, datetime

import faust

from services.alerts.detector import WindowCount, observe, volume_alert, window_start
from services.common import metrics
from services.common.avro import DecodeError, codec
from services.common.faust_web import add_health_views, dead_letter
from services.common.kafka import faust_app
from services.common.settings import AlertsSettings

log = logging.getLogger(__name__)


def create_app(settings: AlertsSettings) -> faust.App:
    app = faust_app(
        settings,
        settings.alerts_app_id,
        settings.alerts_data_dir,
        settings.alerts_web_host,
        settings.alerts_web_port,
    )
    enriched_codec, alert_codec = codec("enriched_event"), codec("alert")
    enriched_topic = app.topic(settings.topic_enriched, value_serializer="raw", key_serializer="raw")
    alerts_topic = app.topic(settings.topic_alerts, value_serializer="raw", key_serializer="raw")
    dlq_topic = app.topic(settings.topic_dlq, value_serializer="raw", key_serializer="raw")
    # key "brand|window_start_epoch" → WindowCount as a dict (JSON-serialised into the changelog).
    windows = app.Table("brand-volume-windows", default=dict, partitions=settings.topic_partitions)

    @app.agent(enriched_topic, name="volume")
    async def volume(stream: faust.StreamT) -> None:
        async for event in stream.events():
            msg = event.message
            try:
                record = enriched_codec.decode(msg.value or b"")
            except DecodeError as exc:
                await (await dead_letter(dlq_topic, event, "alerts", exc.reason, str(exc)))
                continue
            start = window_start(record["occurred_at"], settings.alert_window_seconds)
            key = f"{record['brand_id']}|{int(start.timestamp())}"
            state = WindowCount(**windows[key]) if windows[key] else WindowCount()
            crossed = observe(
                state,
                record,
                threshold=settings.alert_volume_threshold,
                sample_size=settings.alert_sample_size,
            )
            windows[key] = asdict(state)
            if crossed:
                alert = volume_alert(
                    brand_id=record["brand_id"],
                    start=start,
                    window_seconds=settings.alert_window_seconds,
                    state=state,
                    threshold=settings.alert_volume_threshold,
                    fired_at=datetime.now(UTC),
                )
                await (
                    await alerts_topic.send(
                        key=record["brand_id"].encode(), value=alert_codec.encode(alert), force=True
                    )
                )
                metrics.ALERTS_FIRED.labels(alert["kind"], alert["severity"]).inc()
                log.warning("alert fired: %s", alert["summary"])

    @app.timer(interval=300.0)
    async def expire_windows() -> None:
        """Drop window state older than a day (event time) so the table stays small."""
        horizon = datetime.now(UTC).timestamp() - 86400
        stale = [k for k in list(windows.keys()) if int(str(k).rsplit("|", 1)[1]) < horizon]
        for k in stale:
            del windows[k]
        if stale:
            await asyncio.sleep(0)

    add_health_views(app)
    return app
