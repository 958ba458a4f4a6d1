"""The ingest HTTP service: ``POST /v1/events`` for canonical batches, and platform webhooks.

Layout: ``create_app`` (here) assembles one router per concern — ``ops`` (health, readiness,
metrics), ``events`` (the batch API), ``meta``, ``x`` and ``youtube`` (webhooks; ``signed`` holds
what they share) — around one ``service.IngestService``, which routes receive through ``deps``.

Guarantees and choices:

* A 202/200 is returned only after Kafka acknowledged every accepted event (``EventProducer.publish``);
  rejected events are dead-lettered by the producer and reported per event (index, field, message).
* Nothing is produced for a request that fails authentication (401 missing, 403 invalid), size or
  format checks. Those checks, the handshakes and ``/healthz`` need no Kafka: the producer is started
  lazily on the first request that has something to publish (503 while Kafka is unreachable).
* Replayed webhooks: Meta, X and WebSub signatures carry no timestamp, so a byte-identical replay
  verifies. Event ids are derived from platform ids, so a replay collapses downstream anyway; on top,
  each webhook endpoint remembers the SHA-256 of recently published bodies (10k, 24 h, in memory,
  per process) and answers a repeat with 200 ``{"duplicate": true}`` without producing again.
* Untrusted input is bounded before it costs anything: JSON nesting depth (400 naming the event), the
  handshake challenges and X CRC tokens (a short fixed alphabet: no JSON body can be signed through
  the CRC answer), the publish wait (``ENGAGE_INGEST_PUBLISH_TIMEOUT_SECONDS``) and the requests
  publishing at once (``ENGAGE_INGEST_MAX_INFLIGHT_REQUESTS``); both answer 503 to retry. A 503 body
  is generic, the detail goes to the log, and every logged client value is escaped.
* Who is a brand is configuration (``ENGAGE_BRAND_ACCOUNTS``), not the client's word: X deliveries are
  accepted for those accounts only, YouTube subscriptions and notifications for those channels only,
  and ``POST /v1/events`` sets ``is_brand`` from the list.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common import metrics
from services.common.settings import IngestSettings
from services.ingest.api import events, meta, ops, x, youtube
from services.ingest.api.service import ApiError, IngestService
from services.ingest.producer import pseudonym_key

__all__ = ["create_app"]


def create_app(settings: IngestSettings) -> FastAPI:
    """The ingest app; the lifespan stops the producer (if it was ever started) on shutdown.

    Raises ``MissingPseudonymKey`` without ``ENGAGE_PSEUDONYM_KEY`` (unless the development key is
    explicitly allowed): the service refuses to start rather than store guessable pseudonyms.
    """
    pseudonym_key(settings)
    service = IngestService(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        metrics.events_received("ingest")  # silent since start counts as silent
        try:
            yield
        finally:
            await service.close()

    app = FastAPI(
        title="engage ingest",
        version="1",
        description="Canonical events and platform webhooks into Kafka (acknowledged before answering).",
        lifespan=lifespan,
    )
    app.state.service = service
    app.add_middleware(NoSniff)
    app.add_exception_handler(ApiError, _api_error)  # type: ignore[arg-type]  # typed for Exception
    for module in (ops, events, meta, x, youtube):
        app.include_router(module.router)
    _add_bearer_scheme(app)
    return app


async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
    metrics.INGEST_REQUESTS.labels(request.url.path, exc.outcome).inc()
    return JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=exc.headers)


class NoSniff:
    """Adds ``X-Content-Type-Options: nosniff`` to every response (echoed challenges included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-content-type-options", b"nosniff")]
            await send(message)

        await self.app(scope, receive, send_with_header)


def _add_bearer_scheme(app: FastAPI) -> None:
    """Declare the bearer scheme referenced by ``POST /v1/events`` in the OpenAPI document."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        schema = original()
        schema.setdefault("components", {}).setdefault("securitySchemes", {})["bearer"] = {
            "type": "http",
            "scheme": "bearer",
            "description": "One of ENGAGE_INGEST_TOKENS.",
        }
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
