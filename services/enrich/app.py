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

The ClickHouse loader (:mod:`services.loader.consumer`) runs in the same worker as a batching
consumer of its own, committing offsets only after the inserts succeeded.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from typing import Any

import faust

from services.common import metrics
from services.common.avro import AvroCodec, SchemaError, codec
from services.common.clickhouse import Database, QueryLimits
from services.common.keyed_state import Position
from services.common.settings import EnrichSettings
from services.enrich.features.engine import FeatureEngine, Stores
from services.enrich.processor import enrich_records, invalid_reason
from services.loader.consumer import Loader
from services.loader.query_api import QueryServer, add_query_view, parse_tokens
from services.loader.tables import TARGETS
from services.runtime.app import faust_app
from services.runtime.batch_send import OutputBatch
from services.runtime.batches import dead_letter, decode_batch, take_events
from services.runtime.state import ChangelogWriter, TableBacking
from services.runtime.web import add_health_views

log = logging.getLogger(__name__)

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
    dlq_topic = raw_topic_of(settings.topic_dlq)
    # (topic name, codec, key of a snapshot row) per feature snapshot kind.
    snapshot_outputs: dict[str, tuple[str, AvroCodec, Any]] = {
        "posts": (
            settings.topic_post_virality,
            codec("post_virality"),
            lambda r: f"{r['brand_id']}|{r['post_id']}",
        ),
        "funnels": (
            settings.topic_follower_funnel,
            codec("follower_funnel"),
            lambda r: f"{r['brand_id']}|{r['actor_id']}",
        ),
        "brands": (
            settings.topic_brand_backlog,
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
            out = OutputBatch(app.producer)
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
            changelogs.queue(out)
            seen: Counter[tuple[str, str]] = Counter()
            sent: Counter[tuple[str, str]] = Counter()
            for (event, raw), record, extra in zip(decoded, enriched, features.event_features, strict=True):
                labels = (raw["platform"], raw["event_type"])
                seen[labels] += 1
                record.update(extra)
                try:
                    value = enriched_codec.encode(record)
                except SchemaError as exc:
                    pending.append(await dead_letter(dlq_topic, event, "enrich", "schema", str(exc)))
                    continue
                out.add(settings.topic_enriched, event.message.key, value)
                sent[labels] += 1
            for kind, rows in (
                ("posts", features.posts),
                ("funnels", features.funnels),
                ("brands", features.brands),
            ):
                topic_name, row_codec, key_of = snapshot_outputs[kind]
                for row in rows:
                    out.add(topic_name, key_of(row).encode(), row_codec.encode(row))
                metrics.FEATURE_SNAPSHOTS.labels(kind).inc(len(rows))
            pending.extend(await out.send())
            # Wait for Kafka to acknowledge every output before the batch is acked (and committed).
            await asyncio.gather(*pending)
            for labels, n in seen.items():
                metrics.EVENTS_IN.labels("enrich", *labels).inc(n)
            for labels, n in sent.items():
                metrics.EVENTS_OUT.labels("enrich", *labels).inc(n)
            metrics.PROCESSING_SECONDS.labels("enrich").observe(time.perf_counter() - started)

    if settings.loader_enabled:
        if db is None:
            raise ValueError("the loader needs a ClickHouse database")
        loader: Loader | None = Loader(settings, db, app.producer, app.conf)
        app.service(loader)  # type: ignore[arg-type]  # an instance: faust starts it with the app
        # Analysts' queries on a read-only session of their own: a refused write cannot touch the loader's.
        session, tokens = db.query_session(QueryLimits.of(settings)), parse_tokens(settings.query_tokens)
        if settings.enrich_query_port:
            server = QueryServer(session, tokens, settings.enrich_query_host, settings.enrich_query_port)
            app.service(server)  # type: ignore[arg-type]
        else:
            add_query_view(app, session, tokens)
    else:
        loader = None
    metrics.events_received("enrich")
    if settings.loader_enabled:
        metrics.events_received("loader")
        # Export the failure counters at 0, so that their first increment shows in rate()/increase().
        for target in TARGETS.values():
            metrics.LOADER_FAILURES.labels(target.table)
        metrics.DLQ.labels("loader", "clickhouse_insert_failed")
        metrics.DLQ.labels("loader", "clickhouse_row_rejected")
    add_health_views(
        app,
        extra_lag=loader.partition_lag if loader is not None else None,
        not_ready=loader.problem if loader is not None else None,
    )
    return app
