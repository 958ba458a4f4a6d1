"""``POST /v1/events``: canonical events in batches, as a JSON array or NDJSON, behind a bearer token."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from services.common import metrics
from services.common.events import json_too_deep
from services.ingest.api.deps import ERRORS, Service, media_type, read_body, require_bearer
from services.ingest.api.service import ApiError
from services.ingest.producer import Candidate, PublishResult, candidates_from_objects

JSON_TYPES = ("application/json",)
NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl")


class EventError(BaseModel):
    index: int
    field: str
    message: str
    line: int | None = None


class IngestResult(BaseModel):
    accepted: int
    rejected: int
    errors: list[EventError] = []


def parse_batch(body: bytes, media_type: str, max_batch: int, max_depth: int = 32) -> list[Candidate]:
    """JSON array or NDJSON → candidates; malformed JSON is a 400 naming the line (NDJSON), an event
    nested deeper than ``max_depth`` a 400 naming its index."""
    if media_type in JSON_TYPES:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ApiError(400, f"malformed JSON: {exc}", "bad_request") from None
        if not isinstance(data, list):
            raise ApiError(400, "expected a JSON array of events", "bad_request")
        if len(data) > max_batch:
            raise ApiError(
                413, f"batch of {len(data)} events exceeds ingest_max_batch={max_batch}", "too_large"
            )
        for index, item in enumerate(data):
            if json_too_deep(item, max_depth):
                detail = f"event {index}: JSON nested deeper than ingest_max_json_depth={max_depth}"
                raise ApiError(400, detail, "bad_request")
        return candidates_from_objects(data)
    candidates: list[Candidate] = []
    for lineno, line in enumerate(body.split(b"\n"), start=1):
        line = line.strip()
        if not line:
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            detail = f"line {lineno}, column {exc.colno}: malformed JSON: {exc.msg}"
            raise ApiError(400, detail, "bad_request") from None
        if json_too_deep(obj, max_depth):
            detail = (
                f"line {lineno} (event {len(candidates)}): JSON nested deeper than "
                f"ingest_max_json_depth={max_depth}"
            )
            raise ApiError(400, detail, "bad_request")
        candidates.append(Candidate(obj=obj, raw=line, line=lineno))
        if len(candidates) > max_batch:
            raise ApiError(413, f"batch exceeds ingest_max_batch={max_batch} events", "too_large")
    return candidates


_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A canonical event (services/common/events.py); unknown fields become x.* "
    "attributes, stored only when allowlisted (services/ingest/privacy.py).",
    "required": ["event_id", "platform", "event_type", "brand_id", "actor_id", "occurred_at"],
    "properties": {
        "event_id": {"type": "string"},
        "platform": {"type": "string", "enum": ["facebook", "instagram", "x", "youtube", "other"]},
        "event_type": {"type": "string"},
        "brand_id": {"type": "string"},
        "actor_id": {"type": "string"},
        "text": {"type": ["string", "null"]},
        "is_brand": {"type": "boolean", "description": "Ignored: set from ENGAGE_BRAND_ACCOUNTS."},
        "occurred_at": {"type": ["string", "integer"]},
        "attributes": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
_EVENTS_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "array", "items": _EVENT_SCHEMA}},
            "application/x-ndjson": {"schema": {"type": "string", "description": "One event per line."}},
        },
    }
}

router = APIRouter(tags=["ingest"])


@router.post(
    "/v1/events",
    status_code=202,
    response_model=IngestResult,
    dependencies=[Depends(require_bearer)],
    openapi_extra={**_EVENTS_BODY, "security": [{"bearer": []}]},
    responses={**ERRORS, 415: {"description": "Content-Type is not JSON or NDJSON"}},
)
async def post_events(request: Request, service: Service) -> JSONResponse:
    """A batch of canonical events as a JSON array or NDJSON; 202 once Kafka acknowledged them."""
    settings = service.settings
    kind = media_type(request)
    if kind not in JSON_TYPES + NDJSON_TYPES:
        raise ApiError(
            415,
            f"Content-Type must be application/json or application/x-ndjson, got {kind!r}",
            "unsupported_media",
        )
    async with service.slot():
        body = await read_body(request, settings.ingest_max_body_bytes)
        candidates = parse_batch(body, kind, settings.ingest_max_batch, settings.ingest_max_json_depth)
        service.mark_brands(candidates)
        result = await service.publish(candidates) if candidates else PublishResult()
    lines = {i: c.line for i, c in enumerate(candidates)}
    out = IngestResult(
        accepted=result.accepted,
        rejected=len(result.rejected),
        errors=[
            EventError(index=r.index, field=r.field, message=r.message, line=lines.get(r.index))
            for r in result.rejected
        ],
    )
    metrics.INGEST_REQUESTS.labels("/v1/events", "accepted").inc()
    return JSONResponse(out.model_dump(exclude_none=True), status_code=202)
