"""Enrich worker: a faust app with the enrich agent.

The enrich agent consumes raw events in batches (``take_events``), adds stateless features
(:func:`~services.enrich.processor.enrich_records`) and stateful ones (the feature engine over four
changelog-backed tables), then publishes the enriched events and one snapshot per changed post,
follower journey and brand. Faust acks a batch only after the loop body finished with it, and
flushes the producer (outputs and changelogs) before committing offsets; the engine's per-key
offset marks make a redelivered event change no state twice (see ``services/enrich/features``).

Raw events are keyed by brand, so every table key (post, brand|actor, thread, brand) belongs to one
raw partition; table values are written to the changelog partition of the raw partition that
changed them, so a worker that takes over a raw partition restores exactly that state.

The ClickHouse loader (:mod:`services.loader`) is a worker of its own; this one never touches ClickHouse.
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
from services.common.keyed_state import Position
from services.common.settings import EnrichSettings
from services.enrich.features.engine import FeatureEngine, Stores
from services.enrich.processor import enrich_records, invalid_reason
from services.runtime.app import faust_app, output_batch
from services.runtime.batches import dead_letter, decode_batch, take_events
from services.runtime.state import ChangelogWriter, TableBacking
from services.runtime.web import add_health_views

log = logging.getLogger(__name__)

STATE_TABLES = ("posts", "funnels", "threads", "brands")


def create_app(settings: EnrichSettings) -> faust.App:
    """Build the enrich app (its agent, tables and web views)."""
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
            out = output_batch(app)
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

    metrics.events_received("enrich")
    add_health_views(app)
    return app
