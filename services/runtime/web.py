"""What every faust worker serves: /healthz, /readyz, /metrics, and the consumer-lag gauge."""

from __future__ import annotations

import logging
from typing import Any

import faust
from faust.web import Request, Response, View

from services.common import metrics

log = logging.getLogger(__name__)

LAG_INTERVAL_SECONDS = 10.0


def add_health_views(app: faust.App) -> None:
    """Register liveness, readiness (partitions assigned, not rebalancing), Prometheus metrics, and the
    periodic consumer-lag measurement."""

    @app.page("/healthz")
    class Healthz(View):
        async def get(self, request: Request) -> Response:
            return self.json({"status": "ok"})

    @app.page("/readyz")
    class Readyz(View):
        async def get(self, request: Request) -> Response:
            ready = _is_ready(app)
            return self.json({"ready": ready}, status=200 if ready else 503)

    @app.page("/metrics")
    class Metrics(View):
        async def get(self, request: Request) -> Response:
            body, content_type = metrics.render()
            return self.bytes(body, content_type=content_type.split(";")[0])

    add_lag_metrics(app)


def add_lag_metrics(app: faust.App, interval: float = LAG_INTERVAL_SECONDS) -> None:
    """Every ``interval`` seconds, set ``engage_consumer_lag`` for each source partition this worker
    is assigned: the partition's high watermark minus the group's committed offset. Each replica
    reports only its own partitions, so summing over replicas gives the group's lag; series of
    partitions that moved to another replica are removed."""
    reported: set[tuple[str, str, str]] = set()

    @app.timer(interval=interval, name="consumer-lag")
    async def consumer_lag() -> None:
        nonlocal reported
        try:
            current = await _partition_lag(app)
        except Exception as exc:  # not started yet, rebalancing, broker briefly unreachable
            log.debug("consumer lag not measured: %s", exc)
            return
        reported = metrics.publish_lag(current, reported)


async def _partition_lag(app: faust.App) -> dict[tuple[str, str, str], int]:
    consumer: Any = getattr(app, "_consumer", None)
    if consumer is None or app.rebalancing:
        raise RuntimeError("consumer not running")
    # Changelog partitions are restored, not consumed by the group: they have no committed offsets.
    tps = [tp for tp in consumer.assignment() if tp.topic not in app.tables.changelog_topics]
    if not tps:
        return {}
    highwaters = await consumer.highwaters(*tps)
    unknown = [tp for tp in tps if consumer._committed_offset.get(tp) is None]
    earliest = await consumer.earliest_offsets(*unknown) if unknown else {}
    group = app.conf.id
    lag: dict[tuple[str, str, str], int] = {}
    for tp in tps:
        end = highwaters.get(tp)
        if end is None:
            continue
        committed = consumer._committed_offset.get(tp)
        start = committed if committed is not None else earliest.get(tp, 0)
        lag[(group, tp.topic, str(tp.partition))] = max(0, end - start)
    return lag


def _is_ready(app: faust.App) -> bool:
    consumer: Any = getattr(app, "_consumer", None)
    if consumer is None or app.rebalancing:
        return False
    try:
        return bool(consumer.assignment())
    except Exception:
        return False
