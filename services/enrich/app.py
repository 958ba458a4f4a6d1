"""Enrich worker: a faust app with the enrich agent and the ClickHouse loader agents.

Both agents consume in batches (``take_events``), which faust acks only after the agent's loop body
finished with the batch — so offsets are committed only after enriched events were delivered to
Kafka, and only after rows were inserted into ClickHouse. Redeliveries after a crash are absorbed by
the ReplacingMergeTree keyed on event_id and by insert deduplication tokens.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, cast

import faust
import orjson
from faust import Stream
from faust.types import EventT
from faust.web import Request, Response, View

from services.common import metrics
from services.common.avro import DecodeError, SchemaError, codec
from services.common.clickhouse import Database
from services.common.faust_web import add_health_views, dead_letter
from services.common.kafka import faust_app
from services.common.settings import EnrichSettings
from services.enrich.loader import ALERT_COLUMNS, EVENT_COLUMNS, to_columns
from services.enrich.processor import enrich_records

log = logging.getLogger(__name__)

READ_ONLY_SETTINGS = {"readonly": 1}


def create_app(settings: EnrichSettings, db: Database | None) -> faust.App:
    """Build the enrich app; ``db`` is required when the loader runs in this worker."""
    app = faust_app(
        settings,
        settings.enrich_app_id,
        settings.enrich_data_dir,
        settings.enrich_web_host,
        settings.enrich_web_port,
    )
    raw_codec, enriched_codec, alert_codec = codec("social_event"), codec("enriched_event"), codec("alert")
    raw_topic = app.topic(settings.topic_raw, value_serializer="raw", key_serializer="raw")
    enriched_topic = app.topic(settings.topic_enriched, value_serializer="raw", key_serializer="raw")
    alerts_topic = app.topic(settings.topic_alerts, value_serializer="raw", key_serializer="raw")
    dlq_topic = app.topic(settings.topic_dlq, value_serializer="raw", key_serializer="raw")
    loader_dlq_topic = app.topic(settings.topic_loader_dlq, value_serializer="raw", key_serializer="raw")

    @app.agent(raw_topic, name="enrich")
    async def enrich(stream: faust.StreamT) -> None:
        async for events in _take_events(
            stream, settings.enrich_batch_size, within=settings.enrich_batch_seconds
        ):
            started = time.perf_counter()
            pending: list[Any] = []
            decoded: list[tuple[EventT, dict[str, Any]]] = []
            for event in events:
                try:
                    decoded.append((event, raw_codec.decode(event.message.value or b"")))
                except DecodeError as exc:
                    pending.append(await dead_letter(dlq_topic, event, "enrich", exc.reason, str(exc)))
            enriched = enrich_records([record for _, record in decoded])
            for (event, raw), record in zip(decoded, enriched, strict=True):
                metrics.EVENTS_IN.labels("enrich", raw["platform"], raw["event_type"]).inc()
                try:
                    value = enriched_codec.encode(record)
                except SchemaError as exc:
                    pending.append(await dead_letter(dlq_topic, event, "enrich", "schema", str(exc)))
                    continue
                pending.append(
                    await enriched_topic.send(
                        key=event.message.key,
                        value=value,
                        timestamp=record["occurred_at"].timestamp(),
                        force=True,
                    )
                )
                metrics.EVENTS_OUT.labels("enrich", raw["platform"], raw["event_type"]).inc()
            # Wait for Kafka to acknowledge every output before the batch is acked (and committed).
            await asyncio.gather(*pending)
            metrics.PROCESSING_SECONDS.labels("enrich").observe(time.perf_counter() - started)

    if settings.loader_enabled:
        if db is None:
            raise ValueError("the loader needs a ClickHouse database")
        owned_db: Database = db

        async def load(events: Sequence[EventT], table: str, decode: Any, columns: Sequence[str]) -> None:
            started = time.perf_counter()
            records: list[dict[str, Any]] = []
            for event in events:
                try:
                    records.append(decode(event.message.value or b""))
                except DecodeError as exc:
                    await (await dead_letter(dlq_topic, event, "loader", exc.reason, str(exc)))
            if not records:
                return
            token = _dedup_token(events)
            data = to_columns(records, columns)
            try:
                inserted = await _insert_with_retry(
                    db, table, data, columns, token, settings.loader_max_retry_seconds
                )
            except asyncio.CancelledError:
                # Stopping mid-retry: park the batch so the ack that follows cannot lose it.
                await _park(events, "shutdown_before_insert", "worker stopped before the insert succeeded")
                raise
            if not inserted:
                await _park(events, "clickhouse_insert_failed", f"insert into {table} kept failing")
                return
            metrics.LOADER_BATCH_ROWS.labels(table).observe(len(records))
            metrics.LOADER_ROWS.labels(table).inc(len(records))
            metrics.PROCESSING_SECONDS.labels(f"load_{table}").observe(time.perf_counter() - started)
            if table == "events":
                now = time.time()
                for r in records:
                    metrics.EVENT_TO_LOAD_SECONDS.labels("occurred").observe(
                        now - r["occurred_at"].timestamp()
                    )

        async def _park(events: Sequence[EventT], reason: str, detail: str) -> None:
            futures = [await dead_letter(loader_dlq_topic, e, "loader", reason, detail) for e in events]
            await asyncio.gather(*futures)

        @app.agent(enriched_topic, name="load-events")
        async def load_events(stream: faust.StreamT) -> None:
            async for events in _take_events(
                stream, settings.loader_batch_size, within=settings.loader_batch_seconds
            ):
                await load(events, "events", enriched_codec.decode, EVENT_COLUMNS)

        @app.agent(alerts_topic, name="load-alerts")
        async def load_alerts(stream: faust.StreamT) -> None:
            async for events in _take_events(
                stream, settings.loader_batch_size, within=settings.loader_batch_seconds
            ):
                await load(events, "alerts", alert_codec.decode, ALERT_COLUMNS)

        @app.page("/query")
        class Query(View):
            """Read-only SQL against the chDB this worker owns: analysts query while it loads."""

            async def post(self, request: Request) -> Response:
                try:
                    body = await request.json()
                    sql = body["sql"]
                    if not isinstance(sql, str) or not sql.strip():
                        raise ValueError("field 'sql' must be a non-empty string")
                except (ValueError, KeyError, TypeError) as exc:
                    return self.json({"error": f"bad request: {exc}"}, status=400)
                try:
                    columns, rows = await asyncio.to_thread(
                        owned_db.query_rows, sql, body.get("parameters"), READ_ONLY_SETTINGS
                    )
                except Exception as exc:
                    return self.json({"error": str(exc)}, status=422)
                payload = orjson.dumps(
                    {"columns": columns, "rows": rows}, default=str, option=orjson.OPT_NON_STR_KEYS
                )
                return self.bytes(payload, content_type="application/json")

    add_health_views(app)
    return app


async def _insert_with_retry(
    db: Database,
    table: str,
    data: list[list[Any]],
    columns: Sequence[str],
    token: str,
    max_retry_seconds: float,
) -> bool:
    """Insert one batch, retrying with capped exponential backoff; the token makes retries idempotent."""
    delay, deadline = 0.2, time.monotonic() + max_retry_seconds
    while True:
        try:
            await asyncio.to_thread(
                db.insert_columns, table, data, columns, {"insert_deduplication_token": token}
            )
            return True
        except Exception as exc:
            metrics.LOADER_FAILURES.labels(table).inc()
            if time.monotonic() + delay > deadline:
                log.error("giving up on insert into %s after retries: %s", table, exc)
                return False
            log.warning("insert into %s failed (%s); retrying in %.1fs", table, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)


def _dedup_token(events: Sequence[EventT]) -> str:
    """Same Kafka messages → same token, so a retried or redelivered batch is dropped by ClickHouse."""
    h = hashlib.sha256()
    for e in events:
        m = e.message
        h.update(f"{m.topic}/{m.partition}/{m.offset};".encode())
    return h.hexdigest()


def _take_events(stream: faust.StreamT, max_: int, within: float) -> AsyncIterator[Sequence[EventT]]:
    """Batches of events, acked by faust only after the consumer's loop body finished with them."""
    return cast(Stream, stream).take_events(max_, within=within)
