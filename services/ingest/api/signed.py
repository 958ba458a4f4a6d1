"""What the signed platform webhooks share: the replay check, mapping, publishing and the handshake echo.

Each platform's router (``meta``, ``x``, ``youtube``) answers its own handshake and hands a delivery to
``receive`` with its signature header, verifier, secret and mapper.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel

from services.common import metrics
from services.common.events import json_too_deep
from services.ingest.api.deps import authorised, quoted, read_body
from services.ingest.api.service import ApiError, IngestService
from services.ingest.producer import candidates_from_objects
from services.ingest.webhooks import MappedPayload, PayloadError, unknown_field_label

log = logging.getLogger(__name__)

# Meta and WebSub hubs send short opaque tokens; anything else (markup, CR/LF, 60k characters) is refused.
CHALLENGE = re.compile(r"[A-Za-z0-9._~+/=-]{1,256}")

JSON_OBJECT_BODY: dict[str, Any] = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}
}

Mapper = Callable[[bytes], MappedPayload]
Verifier = Callable[[bytes, str | None, str], None]


class WebhookResult(BaseModel):
    accepted: int = 0
    rejected: int = 0
    ignored: int = 0
    duplicate: bool = False


def json_payload(body: bytes, max_depth: int) -> Any:
    """The body as JSON, bounded in depth; a ``PayloadError`` (400) otherwise."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise PayloadError("$", f"malformed JSON: {exc}") from None
    if json_too_deep(payload, max_depth):
        raise PayloadError("$", f"JSON nested deeper than ingest_max_json_depth={max_depth}")
    return payload


async def receive(
    request: Request,
    service: IngestService,
    source: str,
    signature_header: str,
    verify: Verifier,
    secret: str,
    mapper: Mapper,
) -> JSONResponse:
    """Within a request slot: the bounded body, its signature checked (401/403), then ``deliver``."""
    async with service.slot():
        body = await read_body(request, service.settings.ingest_max_body_bytes)
        signature = request.headers.get(signature_header)
        authorised(lambda: verify(body, signature, secret))
        return await deliver(service, source, body, mapper)


async def deliver(service: IngestService, source: str, body: bytes, mapper: Mapper) -> JSONResponse:
    """A verified delivery: skipped when it repeats a recent body, else mapped, published and counted."""
    path = f"/webhooks/{source}"
    digest = hashlib.sha256(body).digest()
    if service.recent[source].seen(digest):
        metrics.INGEST_REQUESTS.labels(path, "duplicate").inc()
        return JSONResponse(WebhookResult(duplicate=True).model_dump())
    try:
        mapped = mapper(body)
    except PayloadError as exc:
        raise ApiError(400, f"payload: {exc}", "bad_request") from None
    result = await service.publish(candidates_from_objects(mapped.events)) if mapped.events else None
    service.recent[source].add(digest)
    if mapped.ignored:
        metrics.WEBHOOK_IGNORED.labels(source).inc(mapped.ignored)
    for name in mapped.unknown_fields:
        label = unknown_field_label(source, name)
        if label == "other":
            log.debug("unknown %s webhook field %s", source, quoted(name))
        metrics.WEBHOOK_UNKNOWN_FIELDS.labels(source, label).inc()
    metrics.INGEST_REQUESTS.labels(path, "accepted").inc()
    return JSONResponse(
        WebhookResult(
            accepted=result.accepted if result else 0,
            rejected=len(result.rejected) if result else 0,
            ignored=mapped.ignored,
        ).model_dump()
    )


def echo_challenge(value: str, path: str) -> PlainTextResponse:
    """The hub's ``hub.challenge`` echoed back, once it is a short opaque token."""
    if not CHALLENGE.fullmatch(value):
        raise ApiError(
            400, "hub.challenge must be 1-256 characters of A-Z a-z 0-9 . _ ~ + / = -", "bad_request"
        )
    metrics.INGEST_REQUESTS.labels(path, "handshake").inc()
    return PlainTextResponse(value)
