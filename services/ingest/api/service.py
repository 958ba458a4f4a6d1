"""The ingest app's state: a lazily started producer, a readiness probe, request slots and replay memories.

One ``IngestService`` per app (``app.state.service``); routes reach it through ``deps.Service``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

from services.common.settings import IngestSettings
from services.ingest.producer import Candidate, EventProducer, PublishResult
from services.ingest.webhooks import signatures as sig

log = logging.getLogger(__name__)

READY_CACHE_SECONDS = 3.0
UNAVAILABLE = "events could not be stored right now; retry later"


class ApiError(Exception):
    """An HTTP error with a clear message; rendered as ``{"detail": message}``."""

    def __init__(self, status: int, detail: str, outcome: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.outcome = outcome
        self.headers = headers


def brand_accounts(value: str) -> dict[str, frozenset[str]]:
    """``platform:account_id,...`` → account ids per platform (``ENGAGE_BRAND_ACCOUNTS``)."""
    found: dict[str, set[str]] = {}
    for item in value.split(","):
        platform, sep, account = item.strip().partition(":")
        if sep and platform.strip() and account.strip():
            found.setdefault(platform.strip(), set()).add(account.strip())
    return {p: frozenset(a) for p, a in found.items()}


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
