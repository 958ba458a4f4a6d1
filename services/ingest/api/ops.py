"""Liveness, readiness and metrics: what Kubernetes and Prometheus ask of the ingest service."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from services.common import metrics
from services.ingest.api.deps import Service

router = APIRouter(tags=["ops"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process answers; needs no Kafka."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Kafka unreachable"}})
async def readyz(service: Service) -> JSONResponse:
    """Readiness: the producer is started and Kafka answered a metadata request (cached ~3 s)."""
    if await service.ready():
        return JSONResponse({"status": "ready"})
    return JSONResponse({"status": "kafka unreachable"}, status_code=503)


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics_endpoint() -> Response:
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)
