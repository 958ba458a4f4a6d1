"""What every route needs: the service and settings as dependencies, bounded body reads, auth errors.

Routes take ``Service``/``Settings`` parameters instead of closing over ``create_app``'s locals, so each
router is a module of its own and the app only assembles them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request

from services.common.settings import IngestSettings
from services.ingest.api.service import ApiError, IngestService
from services.ingest.webhooks import signatures as sig

T = TypeVar("T")

# The error answers the routes document in OpenAPI.
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Malformed body or payload (the message names the line or field path)"},
    401: {"description": "Missing credentials or signature"},
    403: {"description": "Invalid credentials or signature"},
    413: {"description": "Body or batch too large (the message names the limit)"},
    503: {"description": "Events could not be stored right now, or too many requests; retry later"},
}


def ingest_service(request: Request) -> IngestService:
    service: IngestService = request.app.state.service
    return service


def ingest_settings(service: Annotated[IngestService, Depends(ingest_service)]) -> IngestSettings:
    return service.settings


Service = Annotated[IngestService, Depends(ingest_service)]
Settings = Annotated[IngestSettings, Depends(ingest_settings)]


def authorised(check: Callable[[], T]) -> T:
    """``check()``, its signature errors answered as 401 (missing) or 403 (invalid)."""
    try:
        return check()
    except sig.SignatureError as exc:
        outcome = "unauthorized" if exc.status_code == 401 else "forbidden"
        raise ApiError(exc.status_code, str(exc), outcome) from None


def require_bearer(request: Request, service: Service) -> None:
    """One of ``ENGAGE_INGEST_TOKENS`` as ``Authorization: Bearer``, checked before anything else."""
    authorised(lambda: sig.check_bearer(request.headers.get("authorization"), service.tokens))


def quoted(value: object, limit: int = 200) -> str:
    """A client-supplied value made safe for one log line: escaped (no CR/LF/ESC) and bounded."""
    return repr(str(value)[:limit])


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing (413) as soon as it exceeds ``limit`` bytes, declared or streamed."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"body of {declared} bytes exceeds ingest_max_body_bytes={limit}", "too_large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"body exceeds ingest_max_body_bytes={limit}", "too_large")
        chunks.append(chunk)
    return b"".join(chunks)
