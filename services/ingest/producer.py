"""The raw-event producer: validate, encode, publish with an idempotent acks=all producer.

Every accepted event is acknowledged by Kafka before ``publish`` returns; every rejected one goes to
the DLQ with the reason, so a caller can report exact accepted/rejected counts and nothing is lost.

``publish`` is also the one place actor ids are pseudonymised (see ``services.ingest.pseudonym``), for
every source (API, webhooks, replay, simulator), including the copies that go to the DLQ.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from services.common import metrics
from services.common.avro import SchemaError, codec
from services.common.dlq import dlq_headers
from services.common.settings import IngestSettings
from services.ingest.canonical import EventValidationError, parse_event
from services.ingest.pseudonym import is_pseudonym, pseudonymise, resolve_key


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
        self._producer = AIOKafkaProducer(
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

    async def publish(self, candidates: Iterable[Candidate]) -> PublishResult:
        """Validate and produce a batch; returns after Kafka acknowledged every message sent."""
        result = PublishResult()
        futures: list[asyncio.Future[Any]] = []
        published: list[tuple[str, str]] = []
        now = datetime.now(UTC)
        for index, cand in enumerate(candidates):
            try:
                if cand.error is not None:
                    raise EventValidationError("$", cand.error)
                record = parse_event(
                    cand.obj, received_at=now, max_text_chars=self.settings.ingest_max_text_chars
                )
                pseudonymise_actor(record, self._pseudonym_key)
                value = self._codec.encode(record)
            except (EventValidationError, SchemaError) as exc:
                fld = exc.field if isinstance(exc, EventValidationError) else "$"
                result.rejected.append(Rejection(index, fld, str(exc)))
                metrics.DLQ.labels("ingest", "invalid_event").inc()
                futures.append(
                    await self._producer.send(
                        self.settings.topic_dlq,
                        value=dead_letter_value(cand, self._pseudonym_key),
                        headers=dlq_headers(
                            reason="invalid_event",
                            stage=f"ingest.{self.source}",
                            detail=str(exc),
                            line=cand.line,
                            source_file=cand.source_file,
                        ),
                    )
                )
                continue
            futures.append(
                await self._producer.send(
                    self.settings.topic_raw,
                    key=record["brand_id"].encode(),
                    value=value,
                    timestamp_ms=int(record["occurred_at"].timestamp() * 1000),
                )
            )
            metrics.EVENTS_IN.labels("ingest", record["platform"], record["event_type"]).inc()
            published.append((record["platform"], record["event_type"]))
            result.accepted += 1
        await asyncio.gather(*futures)
        for platform, event_type in published:  # acknowledged by Kafka
            metrics.EVENTS_OUT.labels("ingest", platform, event_type).inc()
        if published or result.rejected:
            metrics.events_received("ingest")
        return result


def pseudonym_key(settings: IngestSettings) -> bytes | None:
    """None keeps raw platform ids (ENGAGE_INGEST_KEEP_RAW_IDS); otherwise the HMAC key for actor ids."""
    return None if settings.ingest_keep_raw_ids else resolve_key(settings.pseudonym_key)


def pseudonymise_actor(record: dict[str, Any], key: bytes | None) -> None:
    """Replace ``actor_id`` in place; brand accounts are not personal data, pseudonyms pass through."""
    if key is None or record.get("is_brand") is True:
        return
    actor = record.get("actor_id")
    if isinstance(actor, str) and actor and not is_pseudonym(actor):
        record["actor_id"] = pseudonymise(actor, str(record.get("platform")), key)


def dead_letter_value(cand: Candidate, key: bytes | None) -> bytes:
    """The rejected input, with its actor id pseudonymised when it can be found (a JSON object).

    The DLQ is storage too. Replaying a fixed dead letter stays idempotent: pseudonyms pass through.
    """
    if key is None or not isinstance(cand.obj, dict):
        return cand.raw
    record = dict(cand.obj)
    before = record.get("actor_id")
    pseudonymise_actor(record, key)
    return cand.raw if record.get("actor_id") == before else orjson.dumps(record, default=str)


def candidates_from_objects(objs: Iterable[Any]) -> list[Candidate]:
    return [Candidate(obj=o, raw=orjson.dumps(o, default=str)) for o in objs]
