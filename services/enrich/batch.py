"""One enrich batch as a function: decoded raw events in, messages to publish and rejections out.

The faust agent in :mod:`services.enrich.app` takes batches from Kafka, calls :func:`handle_batch`, and
sends what it returns (with the state writes the engine reported through ``write``) before the batch
is acked; everything here works on plain records, so it is tested without Kafka.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.common.avro import SchemaError, codec, extending_encoder
from services.common.keyed_state import Position
from services.enrich.features.engine import FeatureEngine, Writer
from services.enrich.processor import enrich_records, invalid_reason


@dataclass(frozen=True)
class RawEvent:
    """A decoded raw event and where it was read (its partition and offset key the engine's marks).

    ``body``: the message's Avro body when it was written with the latest raw schema
    (:meth:`ExtendingEncoder.base_body`); the enriched event then reuses it instead of encoding the raw
    fields again.
    """

    key: bytes | None
    partition: int
    offset: int
    record: dict[str, Any]
    body: bytes | None = None


@dataclass(frozen=True)
class OutputTopics:
    """Where enriched events and each kind of feature snapshot go."""

    enriched: str
    posts: str
    funnels: str
    brands: str


@dataclass
class EnrichOutputs:
    """What one batch produced: ``messages`` (topic, key, value) in publishing order, ``rejected``
    (index of the input event, DLQ reason, detail), and counts for the metrics."""

    messages: list[tuple[str, bytes | None, bytes]] = field(default_factory=list)
    rejected: list[tuple[int, str, str]] = field(default_factory=list)
    seen: Counter[tuple[str, str]] = field(default_factory=Counter)  # (platform, event_type) valid in
    sent: Counter[tuple[str, str]] = field(default_factory=Counter)  # (platform, event_type) enriched out
    snapshots: Counter[str] = field(default_factory=Counter)  # snapshot kind -> rows


# The enriched event extends the raw one: its raw fields are written as the raw body they came in.
_ENRICHED = extending_encoder("enriched_event", "social_event")
# Snapshot kind -> (Avro codec, message key of a row).
_SNAPSHOTS: dict[str, tuple[Any, Callable[[dict[str, Any]], str]]] = {
    "posts": (codec("post_virality"), lambda r: f"{r['brand_id']}|{r['post_id']}"),
    "funnels": (codec("follower_funnel"), lambda r: f"{r['brand_id']}|{r['actor_id']}"),
    "brands": (codec("brand_backlog"), lambda r: r["brand_id"]),
}


def handle_batch(
    events: Sequence[RawEvent],
    engine: FeatureEngine,
    topics: OutputTopics,
    max_text_chars: int,
    write: Writer | None = None,
) -> EnrichOutputs:
    """Validate, enrich and run the feature engine over one batch.

    Invalid events are rejected (reason ``invalid_event``) before they touch any state; an enriched
    record the schema refuses is rejected (``schema``) after the engine saw it, as its state changes
    were already made. The engine's state writes go to ``write`` (partition of the event that made
    them), to be published with the messages.
    """
    out = EnrichOutputs()
    valid: list[tuple[int, RawEvent]] = []
    for index, event in enumerate(events):
        problem = invalid_reason(event.record, max_text_chars)
        if problem is None:
            valid.append((index, event))
        else:
            out.rejected.append((index, "invalid_event", problem))
    enriched = enrich_records([event.record for _, event in valid])
    positions = [Position(event.partition, event.offset) for _, event in valid]
    features = engine.process(enriched, positions, write=write)
    for (index, event), record, extra in zip(valid, enriched, features.event_features, strict=True):
        labels = (event.record["platform"], event.record["event_type"])
        out.seen[labels] += 1
        record.update(extra)
        try:
            value = _ENRICHED.encode(record, event.body)
        except SchemaError as exc:
            out.rejected.append((index, "schema", str(exc)))
            continue
        out.messages.append((topics.enriched, event.key, value))
        out.sent[labels] += 1
    for kind, rows in (("posts", features.posts), ("funnels", features.funnels), ("brands", features.brands)):
        row_codec, key_of = _SNAPSHOTS[kind]
        topic = getattr(topics, kind)
        out.messages.extend((topic, key_of(row).encode(), row_codec.encode(row)) for row in rows)
        out.snapshots[kind] += len(rows)
    return out
