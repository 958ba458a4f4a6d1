"""HTTP endpoints every faust worker serves: /healthz, /readyz, /metrics."""

from __future__ import annotations

from typing import Any

import faust
from faust.web import Request, Response, View

from services.common import metrics


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
