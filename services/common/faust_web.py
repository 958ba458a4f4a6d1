"""What every faust worker shares: HTTP endpoints (/healthz, /readyz, /metrics) and dead-lettering."""

from __future__ import annotations

from typing import Any

import faust
from faust.types import EventT, TopicT
from faust.web import Request, Response, View

from services.common import metrics
from services.common.dlq import dlq_headers


def add_health_views(app: faust.App) -> None:
    """Register liveness, readiness (partitions assigned, not rebalancing) and Prometheus metrics."""

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


def _is_ready(app: faust.App) -> bool:
    consumer: Any = getattr(app, "_consumer", None)
    if consumer is None or app.rebalancing:
        return False
    try:
        return bool(consumer.assignment())
    except Exception:
        return False


async def dead_letter(topic: TopicT, event: EventT, stage: str, reason: str, detail: str) -> Any:
    """Send the event's original bytes to ``topic`` with DLQ headers; returns the delivery future."""
    msg = event.message
    metrics.DLQ.labels(stage, reason).inc()
    return await topic.send(
        key=msg.key,
        value=msg.value,
        headers=dlq_headers(
            reason=reason,
            stage=stage,
            detail=detail,
            source_topic=msg.topic,
            partition=msg.partition,
            offset=msg.offset,
        ),
        force=True,
    )
