"""The raw-event producer: validate, encode, publish with an idempotent acks=all producer.

Every accepted event is acknowledged by Kafka before ``publish`` returns; every rejected one goes to
the DLQ with the reason, so a caller can report exact accepted/rejected counts and nothing is lost.
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


class EventProducer:
    """Async context manager around an idempotent AIOKafkaProducer for the raw and DLQ topics."""

    def __init__(self, settings: IngestSettings, source: str = "api") -> None:
        self.settings = settings
        self.source = source
        self._codec = codec("social_event")
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
        now = datetime.now(UTC)
        for index, cand in enumerate(candidates):
            try:
                if cand.error is not None:
                    raise EventValidationError("$", cand.error)
                record = parse_event(
                    cand.obj, received_at=now, max_text_chars=self.settings.ingest_max_text_chars
                )
                value = self._codec.encode(record)
            except (EventValidationError, SchemaError) as exc:
                fld = exc.field if isinstance(exc, EventValidationError) else "$"
                result.rejected.append(Rejection(index, fld, str(exc)))
                metrics.DLQ.labels("ingest", "invalid_event").inc()
                futures.append(
                    await self._producer.send(
                        self.settings.topic_dlq,
                        value=cand.raw,
                        headers=dlq_headers(
                            reason="invalid_event",
                            stage=f"ingest.{self.source}",
                            detail=str(exc),
                            line=cand.line,
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
            result.accepted += 1
        await asyncio.gather(*futures)
        return result


def candidates_from_objects(objs: Iterable[Any]) -> list[Candidate]:
    return [Candidate(obj=o, raw=orjson.dumps(o, default=str)) for o in objs]
