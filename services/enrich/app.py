"""Enrich worker: a faust app with the enrich agent and the ClickHouse loader agents.

The enrich agent consumes raw events in batches (``take_events``), adds stateless features
(:func:`~services.enrich.processor.enrich_records`) and stateful ones (the feature engine over four
changelog-backed tables), then publishes the enriched events and one snapshot per changed post,
follower journey and brand. Faust acks a batch only after the loop body finished with it, and
flushes the producer (outputs and changelogs) before committing offsets; the engine's per-key
offset marks make a redelivered event change no state twice (see ``services/enrich/features``).

Raw events are keyed by brand, so every table key (post, brand|actor, thread, brand) belongs to one
raw partition; table values are written to the changelog partition of the raw partition that
changed them, so a worker that takes over a raw partition restores exactly that state.

Loader agents insert each topic into its table, committing offsets only after the insert succeeded.
Redeliveries after a crash are absorbed by ReplacingMergeTree tables and insert deduplication tokens.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Sequence
from typing import Any

import faust
import orjson
from faust.types import EventT
from faust.web import Request, Response, View

from services.common import failpoints, metrics
from services.common.avro import AvroCodec, SchemaError, codec
from services.common.clickhouse import Database
from services.common.faust_state import ChangelogWriter, TableBacking
from services.common.faust_web import add_health_views, dead_letter, decode_batch, take_events
from services.common.kafka import faust_app
from services.common.keyed_state import Position
from services.common.settings import EnrichSettings
from services.enrich.features.engine import FeatureEngine, Stores
from services.enrich.loader import TARGETS, LoadTarget, to_columns
from services.enrich.processor import enrich_records, invalid_reason

log = logging.getLogger(__name__)

READ_ONLY_SETTINGS = {"readonly": 1}
STATE_TABLES = ("posts", "funnels", "threads", "brands")


def create_app(settings: EnrichSettings, db: Database | None) -> faust.App:
    """Build the enrich app; ``db`` is required when the loader runs in this worker."""
    app = faust_app(
        settings,
        settings.enrich_app_id,
        settings.enrich_data_dir,
        settings.enrich_web_host,
        settings.enrich_web_port,
        store=settings.faust_store,
    )
    raw_codec, enriched_codec = codec("social_event"), codec("enriched_event")

    def raw_topic_of(name: str) -> Any:
        return app.topic(name, value_serializer="raw", key_serializer="raw")

    raw_topic = raw_topic_of(settings.topic_raw)
    enriched_topic = raw_topic_of(settings.topic_enriched)
    alerts_topic = raw_topic_of(settings.topic_alerts)
    dlq_topic = raw_topic_of(settings.topic_dlq)
    loader_dlq_topic = raw_topic_of(settings.topic_loader_dlq)
    # (topic, codec, key of a snapshot row) per feature snapshot kind.
    snapshot_outputs: dict[str, tuple[Any, AvroCodec, Any]] = {
        "posts": (
            raw_topic_of(settings.topic_post_virality),
            codec("post_virality"),
            lambda r: f"{r['brand_id']}|{r['post_id']}",
        ),
        "funnels": (
            raw_topic_of(settings.topic_follower_funnel),
            codec("follower_funnel"),
            lambda r: f"{r['brand_id']}|{r['actor_id']}",
        ),
        "brands": (
            raw_topic_of(settings.topic_brand_backlog),
            codec("brand_backlog"),
            lambda r: r["brand_id"],
        ),
    }
    tables = {
        name: app.Table(f"features-{name}", default=None, partitions=settings.topic_partitions)
        for name in STATE_TABLES
    }
    engine = FeatureEngine(
        Stores(*(TableBacking(tables[n]) for n in STATE_TABLES)),
        attribution_window_s=settings.fan_loss_window_seconds,
    )

    changelogs = ChangelogWriter(tables)

    @app.agent(raw_topic, name="enrich")
    async def enrich(stream: faust.StreamT) -> None:
        async for events in take_events(
            stream, settings.enrich_batch_size, within=settings.enrich_batch_seconds
        ):
            started = time.perf_counter()
            metrics.events_received("enrich")
            decoded, pending = await decode_batch(events, raw_codec, dlq_topic, "enrich")
            valid = []
            for event, raw in decoded:
                problem = invalid_reason(raw, settings.enrich_max_text_chars)
                if problem is None:
                    valid.append((event, raw))
                else:
                    pending.append(await dead_letter(dlq_topic, event, "enrich", "invalid_event", problem))
            decoded = valid
            enriched = enrich_records([record for _, record in decoded])
            positions = [Position(e.message.partition, e.message.offset) for e, _ in decoded]
            features = engine.process(enriched, positions, write=changelogs.write)
            pending.extend(await changelogs.send())
            for (event, raw), record, extra in zip(decoded, enriched, features.event_features, strict=True):
                metrics.EVENTS_IN.labels("enrich", raw["platform"], raw["event_type"]).inc()
                record.update(extra)
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
            for kind, rows in (
                ("posts", features.posts),
                ("funnels", features.funnels),
                ("brands", features.brands),
            ):
                topic, row_codec, key_of = snapshot_outputs[kind]
                for row in rows:
                    pending.append(
                        await topic.send(key=key_of(row).encode(), value=row_codec.encode(row), force=True)
                    )
                metrics.FEATURE_SNAPSHOTS.labels(kind).inc(len(rows))
            # Wait for Kafka to acknowledge every output before the batch is acked (and committed).
            await asyncio.gather(*pending)
            metrics.PROCESSING_SECONDS.labels("enrich").observe(time.perf_counter() - started)

    if settings.loader_enabled:
        if db is None:
            raise ValueError("the loader needs a ClickHouse database")
        owned_db: Database = db

        async def load(events: Sequence[EventT], target: LoadTarget) -> None:
            started = time.perf_counter()
            decoder = codec(target.subject)
            table = target.table
            decoded, dead = await decode_batch(events, decoder, dlq_topic, "loader")
            await asyncio.gather(*dead)
            records = [record for _, record in decoded]
            if not records:
                return
            token = _dedup_token(events)
            data = to_columns(records, target.columns)
            try:
                inserted = await _insert_with_retry(
                    db, table, data, target.columns, token, settings.loader_max_retry_seconds
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
                metrics.events_received("loader")
                now = time.time()
                for r in records:
                    metrics.EVENT_TO_LOAD_SECONDS.labels("occurred").observe(
                        now - r["occurred_at"].timestamp()
                    )
                    metrics.EVENTS_OUT.labels("loader", r["platform"], r["event_type"]).inc()

        async def _park(events: Sequence[EventT], reason: str, detail: str) -> None:
            futures = [await dead_letter(loader_dlq_topic, e, "loader", reason, detail) for e in events]
            await asyncio.gather(*futures)

        def loader_agent(topic: Any, target: LoadTarget) -> None:
            async def run(stream: faust.StreamT) -> None:
                async for events in take_events(
                    stream, settings.loader_batch_size, within=settings.loader_batch_seconds
                ):
                    await load(events, target)

            app.agent(topic, name=f"load-{target.table.replace('_', '-')}")(run)

        loader_agent(enriched_topic, TARGETS["enriched_event"])
        loader_agent(alerts_topic, TARGETS["alert"])
        loader_agent(snapshot_outputs["posts"][0], TARGETS["post_virality"])
        loader_agent(snapshot_outputs["funnels"][0], TARGETS["follower_funnel"])
        loader_agent(snapshot_outputs["brands"][0], TARGETS["brand_backlog"])

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

    metrics.events_received("enrich")
    if settings.loader_enabled:
        metrics.events_received("loader")
        # Export the failure counters at 0, so that their first increment shows in rate()/increase().
        for target in TARGETS.values():
            metrics.LOADER_FAILURES.labels(target.table)
        metrics.DLQ.labels("loader", "clickhouse_insert_failed")
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
            await asyncio.to_thread(_insert, db, table, data, columns, token)
            return True
        except Exception as exc:
            metrics.LOADER_FAILURES.labels(table).inc()
            if time.monotonic() + delay > deadline:
                log.error("giving up on insert into %s after retries: %s", table, exc)
                return False
            log.warning("insert into %s failed (%s); retrying in %.1fs", table, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)


def _insert(db: Database, table: str, data: list[list[Any]], columns: Sequence[str], token: str) -> None:
    failpoints.hit("loader.insert.before")
    db.insert_columns(table, data, columns, {"insert_deduplication_token": token})
    failpoints.hit("loader.insert.after")  # written, but neither returned nor committed yet


def _dedup_token(events: Sequence[EventT]) -> str:
    """Same Kafka messages → same token, so a retried or redelivered batch is dropped by ClickHouse."""
    h = hashlib.sha256()
    for e in events:
        m = e.message
        h.update(f"{m.topic}/{m.partition}/{m.offset};".encode())
    return h.hexdigest()
