"""The ingest HTTP service: ``POST /v1/events`` for canonical batches, and platform webhooks.

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

import asyncio
import contextlib
import hashlib
import logging
import re
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import orjson
from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common import metrics
from services.common.events import json_too_deep
from services.common.settings import IngestSettings
from services.ingest.producer import (
    Candidate,
    EventProducer,
    PublishResult,
    candidates_from_objects,
    pseudonym_key,
)
from services.ingest.webhooks import MappedPayload, PayloadError, map_platform_payload, unknown_field_label
from services.ingest.webhooks import signatures as sig
from services.ingest.webhooks.youtube import map_websub

log = logging.getLogger(__name__)
T = TypeVar("T")

JSON_TYPES = ("application/json",)
NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl")
READY_CACHE_SECONDS = 3.0
UNAVAILABLE = "events could not be stored right now; retry later"
# Meta and WebSub hubs send short opaque tokens; anything else (markup, CR/LF, 60k characters) is refused.
CHALLENGE = re.compile(r"[A-Za-z0-9._~+/=-]{1,256}")
# X CRC tokens are base64-like. No JSON value that a webhook would accept (an object) can match, so the
# CRC answer cannot be used to sign a delivery body.
CRC_TOKEN = re.compile(r"[A-Za-z0-9_+/=-]{1,256}")
YOUTUBE_FEED_HOSTS = frozenset({"www.youtube.com", "youtube.com"})
YOUTUBE_FEED_PATH = "/xml/feeds/videos.xml"


def youtube_topic_channel(topic: str) -> str | None:
    """The channel id of a YouTube feed topic (``https://www.youtube.com/xml/feeds/videos.xml?channel_id=UC…``)."""
    url = urlsplit(topic)
    if url.scheme not in ("https", "http") or url.hostname not in YOUTUBE_FEED_HOSTS:
        return None
    if url.path != YOUTUBE_FEED_PATH:
        return None
    channels = parse_qs(url.query).get("channel_id", [])
    return channels[0] if len(channels) == 1 else None


def quoted(value: object, limit: int = 200) -> str:
    """A client-supplied value made safe for one log line: escaped (no CR/LF/ESC) and bounded."""
    return repr(str(value)[:limit])


def brand_accounts(value: str) -> dict[str, frozenset[str]]:
    """``platform:account_id,...`` → account ids per platform (``ENGAGE_BRAND_ACCOUNTS``)."""
    found: dict[str, set[str]] = {}
    for item in value.split(","):
        platform, sep, account = item.strip().partition(":")
        if sep and platform.strip() and account.strip():
            found.setdefault(platform.strip(), set()).add(account.strip())
    return {p: frozenset(a) for p, a in found.items()}


class ApiError(Exception):
    """An HTTP error with a clear message; rendered as ``{"detail": message}``."""

    def __init__(self, status: int, detail: str, outcome: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.outcome = outcome
        self.headers = headers


class EventError(BaseModel):
    index: int
    field: str
    message: str
    line: int | None = None


class IngestResult(BaseModel):
    accepted: int
    rejected: int
    errors: list[EventError] = []


class WebhookResult(BaseModel):
    accepted: int = 0
    rejected: int = 0
    ignored: int = 0
    duplicate: bool = False


class RecentDigests:
    """A bounded, expiring set of body digests: a replayed webhook delivery is recognised and skipped."""

    def __init__(self, max_items: int = 10_000, ttl_seconds: float = 24 * 3600.0) -> None:
        self.max_items = max_items
        self.ttl = ttl_seconds
        self._seen: OrderedDict[bytes, float] = OrderedDict()

    def seen(self, digest: bytes, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        stamp = self._seen.get(digest)
        if stamp is None:
            return False
        if now - stamp > self.ttl:
            del self._seen[digest]
            return False
        return True

    def add(self, digest: bytes, now: float | None = None) -> None:
        self._seen[digest] = time.monotonic() if now is None else now
        self._seen.move_to_end(digest)
        while len(self._seen) > self.max_items:
            self._seen.popitem(last=False)


class IngestService:
    """The app's state: a lazily started producer, a readiness probe and the replay memories."""

    def __init__(self, settings: IngestSettings) -> None:
        self.settings = settings
        self.tokens = sig.parse_tokens(settings.ingest_tokens)
        self.brands = brand_accounts(settings.brand_accounts)
        self._inflight = 0
        self.recent: dict[str, RecentDigests] = {k: RecentDigests() for k in ("meta", "x", "youtube")}
        self._producer: EventProducer | None = None
        self._lock = asyncio.Lock()
        self._client: Any = None
        self._ready_at = 0.0
        self._ready = False

    async def producer(self) -> EventProducer:
        if self._producer is not None:
            return self._producer
        async with self._lock:
            if self._producer is None:
                producer = EventProducer(self.settings, source="api")
                try:
                    await asyncio.wait_for(
                        producer.__aenter__(), timeout=self.settings.ingest_publish_timeout_seconds
                    )
                except Exception as exc:
                    with contextlib.suppress(Exception):
                        await producer.__aexit__(None, None, None)
                    log.warning("Kafka producer did not start: %r", exc)
                    raise ApiError(503, UNAVAILABLE, "unavailable") from exc
                self._producer = producer
            return self._producer

    async def publish(self, candidates: list[Candidate]) -> PublishResult:
        """Publish within ``ingest_publish_timeout_seconds``; 503 (retry) beyond it.

        A request cut off by the timeout may still have some of its events stored later; a retry is
        safe because event ids collapse duplicates downstream."""
        producer = await self.producer()
        timeout = self.settings.ingest_publish_timeout_seconds
        try:
            return await asyncio.wait_for(producer.publish(candidates), timeout=timeout)
        except TimeoutError as exc:
            log.warning("publish not acknowledged within %.1f s", timeout)
            raise ApiError(503, UNAVAILABLE, "unavailable") from exc
        except Exception as exc:  # aiokafka timeouts/connection errors: the caller should retry
            log.warning("publish failed: %r", exc)
            raise ApiError(503, UNAVAILABLE, "unavailable") from exc

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """One of ``ingest_max_inflight_requests`` request slots, or 503 at once when all are taken."""
        if self._inflight >= self.settings.ingest_max_inflight_requests:
            raise ApiError(503, "too many requests in progress; retry later", "busy", {"Retry-After": "1"})
        self._inflight += 1
        try:
            yield
        finally:
            self._inflight -= 1

    def mark_brands(self, candidates: list[Candidate]) -> None:
        """``is_brand`` from the configured brand accounts, whatever the client said."""
        for cand in candidates:
            if isinstance(cand.obj, dict):
                actor = cand.obj.get("actor_id")
                accounts = self.brands.get(str(cand.obj.get("platform")), frozenset())
                cand.obj["is_brand"] = isinstance(actor, str) and actor in accounts

    async def ready(self) -> bool:
        """Producer started and a fresh metadata request answered; cached for a few seconds."""
        now = time.monotonic()
        if now - self._ready_at < READY_CACHE_SECONDS:
            return self._ready
        try:
            await self.producer()
            await asyncio.wait_for(self._metadata(), timeout=3.0)
            self._ready = True
        except Exception as exc:
            log.info("not ready: %r", exc)
            self._ready = False
        self._ready_at = time.monotonic()
        return self._ready

    async def _metadata(self) -> None:
        from aiokafka.client import AIOKafkaClient

        if self._client is None:
            client = AIOKafkaClient(**self.settings.kafka_client_options(), request_timeout_ms=3000)
            try:
                await client.bootstrap()
            except Exception:
                await client.close()
                raise
            self._client = client
        await self._client.fetch_all_metadata()

    async def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.close()
            self._client = None
        if self._producer is not None:
            await self._producer.__aexit__(None, None, None)
            self._producer = None


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def _read_body(request: Request, limit: int) -> bytes:
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
_JSON_OBJECT_BODY = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}
}
_ATOM_BODY = {
    "requestBody": {"required": True, "content": {"application/atom+xml": {"schema": {"type": "string"}}}}
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Malformed body or payload (the message names the line or field path)"},
    401: {"description": "Missing credentials or signature"},
    403: {"description": "Invalid credentials or signature"},
    413: {"description": "Body or batch too large (the message names the limit)"},
    503: {"description": "Events could not be stored right now, or too many requests; retry later"},
}


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
    limit = settings.ingest_max_body_bytes
    depth = settings.ingest_max_json_depth

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        metrics.INGEST_REQUESTS.labels(request.url.path, exc.outcome).inc()
        return JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=exc.headers)

    def _auth(check: Callable[[], T]) -> T:
        try:
            return check()
        except sig.SignatureError as exc:
            outcome = "unauthorized" if exc.status_code == 401 else "forbidden"
            raise ApiError(exc.status_code, str(exc), outcome) from None

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers; needs no Kafka."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], responses={503: {"description": "Kafka unreachable"}})
    async def readyz() -> JSONResponse:
        """Readiness: the producer is started and Kafka answered a metadata request (cached ~3 s)."""
        if await service.ready():
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "kafka unreachable"}, status_code=503)

    @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse)
    async def metrics_endpoint() -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    @app.post(
        "/v1/events",
        status_code=202,
        response_model=IngestResult,
        tags=["ingest"],
        openapi_extra={**_EVENTS_BODY, "security": [{"bearer": []}]},
        responses={**_ERRORS, 415: {"description": "Content-Type is not JSON or NDJSON"}},
    )
    async def post_events(request: Request) -> JSONResponse:
        """A batch of canonical events as a JSON array or NDJSON; 202 once Kafka acknowledged them."""
        _auth(lambda: sig.check_bearer(request.headers.get("authorization"), service.tokens))
        media_type = _media_type(request)
        if media_type not in JSON_TYPES + NDJSON_TYPES:
            raise ApiError(
                415,
                f"Content-Type must be application/json or application/x-ndjson, got {media_type!r}",
                "unsupported_media",
            )
        async with service.slot():
            body = await _read_body(request, limit)
            candidates = parse_batch(body, media_type, settings.ingest_max_batch, depth)
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

    async def _webhook(source: str, body: bytes, mapper: Callable[[bytes], MappedPayload]) -> JSONResponse:
        """Shared tail of the signed webhooks: replay check, mapping, publish, metrics."""
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

    def _json_mapper(kind: str) -> Callable[[bytes], MappedPayload]:
        def mapper(body: bytes) -> MappedPayload:
            try:
                payload = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise PayloadError("$", f"malformed JSON: {exc}") from None
            if json_too_deep(payload, depth):
                raise PayloadError("$", f"JSON nested deeper than ingest_max_json_depth={depth}")
            if kind == "x" and isinstance(payload, dict):
                user = payload.get("for_user_id")
                known = isinstance(user, str | int) and not isinstance(user, bool)
                if known and str(user) not in service.brands.get("x", frozenset()):
                    raise ApiError(
                        403,
                        "for_user_id is not one of the configured X accounts (ENGAGE_BRAND_ACCOUNTS)",
                        "forbidden",
                    )
            return map_platform_payload(kind, payload)

        return mapper

    def _youtube_mapper(body: bytes) -> MappedPayload:
        """Notifications for configured channels only; others are counted as ignored."""
        mapped = map_websub(body)
        channels = service.brands.get("youtube", frozenset())
        kept = [e for e in mapped.events if e.get("brand_id") in channels]
        mapped.ignored += len(mapped.events) - len(kept)
        mapped.events = kept
        return mapped

    def _challenge(value: str, path: str) -> PlainTextResponse:
        if not CHALLENGE.fullmatch(value):
            raise ApiError(
                400, "hub.challenge must be 1-256 characters of A-Z a-z 0-9 . _ ~ + / = -", "bad_request"
            )
        metrics.INGEST_REQUESTS.labels(path, "handshake").inc()
        return PlainTextResponse(value)

    # --- Meta (Facebook Pages, Instagram) -----------------------------------------------------------

    @app.get("/webhooks/meta", tags=["webhooks"], response_class=PlainTextResponse, responses=_ERRORS)
    async def meta_handshake(
        mode: Annotated[str | None, Query(alias="hub.mode")] = None,
        verify_token: Annotated[str | None, Query(alias="hub.verify_token")] = None,
        challenge: Annotated[str | None, Query(alias="hub.challenge")] = None,
    ) -> PlainTextResponse:
        """Subscription handshake: echo ``hub.challenge`` when ``hub.verify_token`` matches."""
        if mode != "subscribe" or challenge is None:
            raise ApiError(400, "expected hub.mode=subscribe and hub.challenge", "bad_request")
        expected = settings.meta_verify_token
        if not verify_token:
            raise ApiError(401, "missing hub.verify_token", "unauthorized")
        if not expected or not sig.constant_time_equal(verify_token, expected):
            raise ApiError(403, "hub.verify_token does not match", "forbidden")
        return _challenge(challenge, "/webhooks/meta")

    @app.post(
        "/webhooks/meta",
        tags=["webhooks"],
        response_model=WebhookResult,
        openapi_extra=_JSON_OBJECT_BODY,
        responses=_ERRORS,
    )
    async def meta_webhook(request: Request) -> JSONResponse:
        """Page ``feed`` and Instagram ``comments``/``mentions`` changes, signed with X-Hub-Signature-256."""
        async with service.slot():
            body = await _read_body(request, limit)
            header = request.headers.get("x-hub-signature-256")
            _auth(lambda: sig.verify_meta(body, header, settings.meta_app_secret))
            return await _webhook("meta", body, _json_mapper("meta"))

    # --- X Account Activity -------------------------------------------------------------------------

    @app.get("/webhooks/x", tags=["webhooks"], responses=_ERRORS)
    async def x_crc(crc_token: Annotated[str | None, Query()] = None) -> JSONResponse:
        """CRC challenge: ``{"response_token": "sha256=<base64 HMAC-SHA256(consumer secret, token)>"}``.

        Only tokens of 1-256 base64-like characters are answered."""
        if not crc_token:
            raise ApiError(400, "missing crc_token", "bad_request")
        if not CRC_TOKEN.fullmatch(crc_token):
            raise ApiError(400, "crc_token must be 1-256 characters of A-Z a-z 0-9 _ + / = -", "bad_request")
        answer = _auth(lambda: sig.x_crc_response(crc_token, settings.x_consumer_secret))
        metrics.INGEST_REQUESTS.labels("/webhooks/x", "handshake").inc()
        return JSONResponse(answer)

    @app.post(
        "/webhooks/x",
        tags=["webhooks"],
        response_model=WebhookResult,
        openapi_extra=_JSON_OBJECT_BODY,
        responses=_ERRORS,
    )
    async def x_webhook(request: Request) -> JSONResponse:
        """Account Activity deliveries, signed with x-twitter-webhooks-signature."""
        async with service.slot():
            body = await _read_body(request, limit)
            header = request.headers.get("x-twitter-webhooks-signature")
            _auth(lambda: sig.verify_x(body, header, settings.x_consumer_secret))
            return await _webhook("x", body, _json_mapper("x"))

    # --- YouTube WebSub -----------------------------------------------------------------------------

    @app.get(
        "/webhooks/youtube",
        tags=["webhooks"],
        response_class=PlainTextResponse,
        responses={**_ERRORS, 404: {"description": "hub.topic is not a configured channel's feed"}},
    )
    async def youtube_verify(
        mode: Annotated[str | None, Query(alias="hub.mode")] = None,
        topic: Annotated[str | None, Query(alias="hub.topic")] = None,
        challenge: Annotated[str | None, Query(alias="hub.challenge")] = None,
        lease_seconds: Annotated[str | None, Query(alias="hub.lease_seconds")] = None,
    ) -> PlainTextResponse:
        """Intent verification: echo ``hub.challenge`` for subscribe/unsubscribe of a configured channel's
        feed (404 for any other topic, as WebSub says); refused while ENGAGE_YOUTUBE_SECRET is unset."""
        if mode not in ("subscribe", "unsubscribe") or not topic or challenge is None:
            raise ApiError(
                400, "expected hub.mode=subscribe|unsubscribe, hub.topic and hub.challenge", "bad_request"
            )
        if not settings.youtube_secret:
            raise ApiError(403, "ENGAGE_YOUTUBE_SECRET is not configured on this server", "forbidden")
        channel = youtube_topic_channel(topic)
        if channel is None or channel not in service.brands.get("youtube", frozenset()):
            log.info("WebSub %s refused for topic %s", quoted(mode), quoted(topic))
            raise ApiError(404, "hub.topic is not the feed of a configured YouTube channel", "not_found")
        log.info("WebSub %s %s (lease %s s)", quoted(mode), quoted(topic), quoted(lease_seconds))
        return _challenge(challenge, "/webhooks/youtube")

    @app.post(
        "/webhooks/youtube",
        tags=["webhooks"],
        response_model=WebhookResult,
        openapi_extra=_ATOM_BODY,
        responses=_ERRORS,
    )
    async def youtube_webhook(request: Request) -> JSONResponse:
        """Atom notifications signed with X-Hub-Signature (sha1 or sha256); refused without a hub secret."""
        async with service.slot():
            body = await _read_body(request, limit)
            header = request.headers.get("x-hub-signature")
            _auth(lambda: sig.verify_websub(body, header, settings.youtube_secret))
            return await _webhook("youtube", body, _youtube_mapper)

    _add_bearer_scheme(app)
    return app


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
