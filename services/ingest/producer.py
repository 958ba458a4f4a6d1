"""The raw-event producer: validate, encode, publish with an idempotent acks=all producer.

Every accepted event is acknowledged by Kafka before ``publish`` returns; every rejected one goes to
the DLQ with the reason, so a caller can report exact accepted/rejected counts and nothing is lost.

``publish`` is also the one place personal data is reduced, for every source (API, webhooks, replay,
simulator): actor ids are pseudonymised (``services.ingest.pseudonym``, the DLQ copies included), as
are the user ids inside the event ids of likes and follows built by the webhook mappers;
attributes are filtered to an allowlist and e-mail addresses and phone numbers in text are redacted
(``services.ingest.privacy``).

A batch is validated and encoded completely before anything is sent: an event that is out of bounds
(time window, attribute count and sizes, encoded size) is rejected on its own, and the good events
around it are all published, never a prefix of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from services.common import metrics
from services.common.avro import SchemaError, codec
from services.common.dlq import dlq_headers
from services.common.events import EventLimits, EventValidationError, parse_event, parse_timestamp
from services.common.kafka import new_producer
from services.common.settings import IngestSettings
from services.ingest.privacy import allowed_attributes, filter_attributes, redact_text
from services.ingest.pseudonym import pseudonymise, resolve_key
from services.ingest.webhooks import pseudonymise_event_id


@dataclass
class Rejection:
    index: int
    field: str
    message: str


@dataclass
class PublishResult:
    accepted: int = 0
    rejected: list[Rejection] = field(default_factory=list)


@dataclass
class Candidate:
    """One input event as received: parsed JSON (or None when unparseable) plus its raw bytes."""

    obj: Any
    raw: bytes
    error: str | None = None  # a parse error found before validation (bad JSON line)
    line: int | None = None
    source_file: str | None = None  # for file replay: the __dlq.file header


class EventProducer:
    """Async context manager around an idempotent AIOKafkaProducer for the raw and DLQ topics."""

    def __init__(self, settings: IngestSettings, source: str = "api") -> None:
        self.settings = settings
        self.source = source
        self._codec = codec("social_event")
        self._pseudonym_key = pseudonym_key(settings)
        self._limits = event_limits(settings)
        extra = [a.strip() for a in settings.ingest_extra_attributes.split(",") if a.strip()]
        self._allowed = {
            p: allowed_attributes(p, extra) for p in ("facebook", "instagram", "x", "youtube", "other")
        }
        self._producer = new_producer(
            **settings.kafka_client_options(),
            enable_idempotence=True,
            acks="all",
            linger_ms=settings.ingest_linger_ms,
            max_batch_size=1 << 20,
        )

    async def __aenter__(self) -> EventProducer:
        await self._producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._producer.stop()

    def prepare(self, candidates: Iterable[Candidate]) -> tuple[list[Prepared], list[Rejection]]:
        """Validate, reduce and encode every candidate; nothing is sent yet."""
        now = datetime.now(UTC)
        ready: list[Prepared] = []
        rejected: list[Rejection] = []
        for index, cand in enumerate(candidates):
            try:
                ready.append(self._prepare_one(index, cand, now))
            except EventValidationError as exc:
                rejected.append(Rejection(index, exc.field, str(exc)))
        return ready, rejected

    def _prepare_one(self, index: int, cand: Candidate, now: datetime) -> Prepared:
        if cand.error is not None:
            raise EventValidationError("$", cand.error)
        record = parse_event(
            cand.obj, received_at=now, max_text_chars=self.settings.ingest_max_text_chars, limits=self._limits
        )
        pseudonymise_actor(record, self._pseudonym_key)
        if self._pseudonym_key is not None:
            key = self._pseudonym_key
            record["event_id"] = pseudonymise_event_id(
                record["event_id"], lambda user, platform: pseudonymise(user, platform, key)
            )
        record["attributes"] = filter_attributes(record["attributes"], self._allowed[record["platform"]])
        if self.settings.ingest_redact_text and record["text"]:
            record["text"] = redact_text(record["text"])
        try:
            value = self._codec.encode(record)
        except (SchemaError, ValueError, OverflowError, TypeError) as exc:
            raise EventValidationError("$", f"cannot be encoded: {exc}") from None
        limit = self.settings.ingest_max_record_bytes
        if len(value) > limit:
            raise EventValidationError("$", f"encoded event of {len(value)} bytes exceeds {limit} bytes")
        when = int(record["occurred_at"].timestamp() * 1000)
        return Prepared(index, record["brand_id"], record["platform"], record["event_type"], value, when)

    async def publish(self, candidates: Iterable[Candidate]) -> PublishResult:
        """Validate and produce a batch; returns after Kafka acknowledged every message sent."""
        cands = list(candidates)
        ready, rejected = self.prepare(cands)
        result = PublishResult(accepted=len(ready), rejected=rejected)
        futures: list[asyncio.Future[Any]] = []
        for r in rejected:
            cand = cands[r.index]
            metrics.DLQ.labels("ingest", "invalid_event").inc()
            futures.append(
                await self._producer.send(
                    self.settings.topic_dlq,
                    value=self._dead_letter(cand),
                    headers=dlq_headers(
                        reason="invalid_event",
                        stage=f"ingest.{self.source}",
                        detail=r.message,
                        line=cand.line,
                        source_file=cand.source_file,
                    ),
                )
            )
        for p in ready:
            futures.append(
                await self._producer.send(
                    self.settings.topic_raw,
                    key=p.brand_id.encode(),
                    value=p.value,
                    timestamp_ms=p.timestamp_ms,
                )
            )
            metrics.EVENTS_IN.labels("ingest", p.platform, p.event_type).inc()
        await asyncio.gather(*futures)
        for p in ready:  # acknowledged by Kafka
            metrics.EVENTS_OUT.labels("ingest", p.platform, p.event_type).inc()
        if ready or rejected:
            metrics.events_received("ingest")
        return result

    def _dead_letter(self, cand: Candidate) -> bytes:
        """The dead letter's value, cut to the record limit so that an oversized event still lands."""
        value = dead_letter_value(cand, self._pseudonym_key)
        return value[: self.settings.ingest_max_record_bytes]


@dataclass
class Prepared:
    """A valid event ready to send: its index in the batch and the raw-topic message."""

    index: int
    brand_id: str
    platform: str
    event_type: str
    value: bytes
    timestamp_ms: int


def event_limits(settings: IngestSettings) -> EventLimits:
    return EventLimits(
        min_occurred_at=parse_timestamp(settings.ingest_min_occurred_at, "ingest_min_occurred_at"),
        max_future=timedelta(seconds=settings.ingest_max_future_seconds),
        max_attributes=settings.ingest_max_attributes,
        max_key_chars=settings.ingest_max_attribute_key_chars,
        max_value_chars=settings.ingest_max_attribute_value_chars,
        max_depth=settings.ingest_max_json_depth,
    )


def pseudonym_key(settings: IngestSettings) -> bytes | None:
    """None keeps raw platform ids (ENGAGE_INGEST_KEEP_RAW_IDS); otherwise the HMAC key for actor ids."""
    if settings.ingest_keep_raw_ids:
        return None
    return resolve_key(settings.pseudonym_key, settings.allow_development_key)


def pseudonymise_actor(record: dict[str, Any], key: bytes | None) -> None:
    """Replace ``actor_id`` in place, every one: neither a client's ``is_brand`` nor an id shaped like a
    pseudonym is a reason to store what the client sent."""
    if key is None:
        return
    actor = record.get("actor_id")
    if isinstance(actor, str) and actor:
        record["actor_id"] = pseudonymise(actor, str(record.get("platform")), key)


def dead_letter_value(cand: Candidate, key: bytes | None) -> bytes:
    """The rejected input, with its actor id pseudonymised when it can be found (a JSON object).

    The DLQ is storage too. A dead letter that is fixed and replayed has its (already hashed) actor id
    hashed again, so it no longer joins that actor's other events; event ids still collapse replays.
    """
    if key is None or not isinstance(cand.obj, dict):
        return cand.raw
    record = dict(cand.obj)
    before = record.get("actor_id")
    pseudonymise_actor(record, key)
    if record.get("actor_id") == before:
        return cand.raw
    try:
        return orjson.dumps(record, default=str)
    except orjson.JSONEncodeError:  # nested deeper than orjson writes: keep no copy rather than the raw id
        return orjson.dumps({"__dlq.omitted": "the input could not be re-encoded with its actor id hashed"})


def candidates_from_objects(objs: Iterable[Any]) -> list[Candidate]:
    return [Candidate(obj=o, raw=orjson.dumps(o, default=str)) for o in objs]
