"""Enrich worker: a faust app with the enrich agent.

The enrich agent consumes raw events in batches (``take_events``) and hands each to
:func:`~services.enrich.batch.handle_batch`: stateless features, then stateful ones (the feature engine
over four changelog-backed tables). It publishes the enriched events and one snapshot per changed post,
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

import faust

from services.common import metrics
from services.common.avro import codec, extending_encoder
from services.common.settings import EnrichSettings
from services.enrich.batch import OutputTopics, RawEvent, handle_batch
from services.enrich.features.engine import FeatureEngine, Stores
from services.runtime.app import faust_app, output_batch
from services.runtime.batches import dead_letter, decode_batch, take_events
from services.runtime.state import ChangelogWriter, TableBacking
from services.runtime.web import add_health_views

log = logging.getLogger(__name__)

STATE_TABLES = ("posts", "funnels", "threads", "brands")


def enrich_faust_app(settings: EnrichSettings) -> faust.App:
    """The enrich worker's faust app before any agent or table (also the shell `make bench-floor` times)."""
    return faust_app(
        settings,
        settings.enrich_app_id,
        settings.enrich_data_dir,
        settings.enrich_web_host,
        settings.enrich_web_port,
        store=settings.faust_store,
        commit_interval=settings.enrich_commit_interval_seconds,
    )


def create_app(settings: EnrichSettings) -> faust.App:
    """Build the enrich app (its agent, tables and web views)."""
    app = enrich_faust_app(settings)
    raw_codec = codec("social_event")
    body = extending_encoder("enriched_event", "social_event").base_body
    raw_topic = app.topic(settings.topic_raw, value_serializer="raw", key_serializer="raw")
    dlq_topic = app.topic(settings.topic_dlq, value_serializer="raw", key_serializer="raw")
    topics = OutputTopics(
        enriched=settings.topic_enriched,
        posts=settings.topic_post_virality,
        funnels=settings.topic_follower_funnel,
        brands=settings.topic_brand_backlog,
    )
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
            inbound = [
                RawEvent(e.message.key, e.message.partition, e.message.offset, r, body(e.message.value))
                for e, r in decoded
            ]
            result = handle_batch(
                inbound, engine, topics, settings.enrich_max_text_chars, write=changelogs.write
            )
            for index, reason, detail in result.rejected:
                pending.append(await dead_letter(dlq_topic, decoded[index][0], "enrich", reason, detail))
            out = output_batch(app)
            changelogs.queue(out)
            for topic, key, value in result.messages:
                out.add(topic, key, value)
            pending.extend(await out.send())
            # Wait for Kafka to acknowledge every output before the batch is acked (and committed).
            await asyncio.gather(*pending)
            for kind, n in result.snapshots.items():
                metrics.FEATURE_SNAPSHOTS.labels(kind).inc(n)
            for labels, n in result.seen.items():
                metrics.EVENTS_IN.labels("enrich", *labels).inc(n)
            for labels, n in result.sent.items():
                metrics.EVENTS_OUT.labels("enrich", *labels).inc(n)
            metrics.PROCESSING_SECONDS.labels("enrich").observe(time.perf_counter() - started)

    metrics.events_received("enrich")
    add_health_views(app)
    return app
