"""The alerts worker's two input streams built from simulated or demo events, without Kafka.

``Enrich`` stands for one enrich worker: it labels events (sentiment and complaint from the simulator's
own labels, or the demo's negative texts), runs the real feature engine for the per-event features
(the unanswered-complaints change among them) and the post snapshots, and keeps every topic's offsets,
so successive calls continue the same topics (a backfill after live traffic)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.alerts.engine import AlertEngine
from services.common.avro import codec
from services.common.keyed_state import Position
from services.enrich.features.engine import FeatureEngine, Stores
from services.sim import demo

BRAND_PARTITION = {"cafe-lumi": 0, "hanbit-mobile": 1, "nordpeak-outdoor": 0}
_DEMO_NEGATIVE = frozenset(demo.KO_NEGATIVE + demo.EN_NEGATIVE)

Batch = tuple[list[dict[str, Any]], list[Position], list[dict[str, Any]], list[Position]]


def label(e: dict[str, Any]) -> dict[str, Any]:
    """An enriched-like record of a canonical event."""
    attrs = e.get("attributes") or {}
    r = dict(e)
    r["occurred_at"] = datetime.fromisoformat(e["occurred_at"].replace("Z", "+00:00"))
    demo_negative = e.get("text") in _DEMO_NEGATIVE
    sentiment = attrs.get("sim_sentiment") or ("negative" if demo_negative else "neutral")
    r["sentiment_label"] = sentiment
    r["sentiment_score"] = {"negative": -0.8, "positive": 0.8}.get(sentiment, 0.0)
    intent = attrs.get("sim_intent") or ("complaint" if demo_negative else "")
    r["is_complaint"] = intent == "complaint" and not e["is_brand"]
    return r


def _decoded(row: dict[str, Any], subject: str) -> dict[str, Any]:
    """What the alerts worker decodes from the snapshot topic (timestamps as datetimes)."""
    c = codec(subject)
    return c.decode(c.encode(row))


@dataclass
class Enrich:
    features: FeatureEngine = field(default_factory=lambda: FeatureEngine(Stores()))
    offsets: dict[Any, int] = field(default_factory=lambda: defaultdict(int))

    def batches(self, events: list[dict[str, Any]], size: int = 1000) -> list[Batch]:
        out: list[Batch] = []
        for i in range(0, len(events), size):
            records = [label(e) for e in events[i : i + size]]
            positions = [self._next(BRAND_PARTITION.get(r["brand_id"], 0)) for r in records]
            result = self.features.process(records, positions)
            for record, extra in zip(records, result.event_features, strict=True):
                record.update(extra)  # as the enrich batch does before publishing
            posts = [_decoded(r, "post_virality") for r in result.posts]
            out.append((records, positions, posts, [self._next(("posts", 0)) for _ in posts]))
        return out

    def events_only(self, events: list[dict[str, Any]], size: int = 1000) -> list[Batch]:
        """Batches of enriched events alone (no feature engine): for the count signals, cheaply."""
        out: list[Batch] = []
        for i in range(0, len(events), size):
            records = [label(e) for e in events[i : i + size]]
            positions = [self._next(BRAND_PARTITION.get(r["brand_id"], 0)) for r in records]
            out.append((records, positions, [], []))
        return out

    def _next(self, topic_partition: Any) -> Position:
        offset = self.offsets[topic_partition]
        self.offsets[topic_partition] += 1
        partition = topic_partition if isinstance(topic_partition, int) else topic_partition[1]
        return Position(partition, offset)


def run(engine: AlertEngine, batches: list[Batch]) -> list[dict[str, Any]]:
    alerts: list[dict[str, Any]] = []
    for records, positions, posts, post_pos in batches:
        alerts += engine.process_events(records, positions)
        alerts += engine.process_posts(posts, post_pos)
    return alerts
