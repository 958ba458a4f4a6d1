"""Reputation signals per brand, bucketed in event time, and the alerts the detector's transitions make.

Pure: the faust agent feeds enriched events and feature snapshots in, stores the JSON-shaped state in
tables and publishes what comes out. Every brand has one detector per signal kind:

- ``mentions``: customer conversation volume (comments, replies, mentions, messages, shares) —
  counted, but not paged on by default (see ``DEFAULT_KINDS``);
- ``negative_mentions``: the part of it with negative sentiment;
- ``complaints``: messages flagged ``is_complaint``;
- ``unfollows``: fan loss;
- ``unanswered_complaints``: growth of the brand's backlog of open complaints (from ``brand_backlog``
  snapshots: the bucket's value is how much the backlog grew in it). The level itself only grows —
  some complaints are never answered — so its growth, not its size, is what can spike.

Buckets close when an event of the same brand with a later bucket arrives (event time, so a replay of
last week alerts exactly as it did live); empty buckets in between are fed as zeros. Alert ids are
deterministic per (brand, kind, bucket that fired), so a redelivered or re-run stream re-fires the same
alert, which every sink deduplicates.

``viral_negative_post`` is a rule, not a detector: a post whose cascade is viral while most of its
comments are negative fires once per post.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from services.alerts.spike import SpikeConfig, SpikeDetector, Transition

CONVERSATION_TYPES = frozenset(("comment", "reply", "mention", "message", "share"))
COUNT_KINDS = ("mentions", "negative_mentions", "complaints", "unfollows")
LEVEL_KINDS = ("unanswered_complaints",)
KINDS = COUNT_KINDS + LEVEL_KINDS
# Paging kinds by default: reputation, not popularity. A viral launch spikes ``mentions`` too, so
# the volume signal alone only pages when configured (ENGAGE_ALERT_KINDS).
DEFAULT_KINDS = (
    "negative_mentions",
    "complaints",
    "unfollows",
    "unanswered_complaints",
    "viral_negative_post",
)
MAX_GAP_BUCKETS = 7 * 24 * 12  # a brand silent for longer restarts its series rather than replaying zeros
SAMPLE_SIZE = 5
VIRAL_NEGATIVE_SHARE = 0.5
VIRAL_NEGATIVE_MIN_COMMENTS = 10


def counts_for(record: dict[str, Any]) -> dict[str, int]:
    """What one enriched event adds to each count signal of its brand."""
    if record.get("is_brand"):
        return {}
    kind = record["event_type"]
    if kind == "unfollow":
        return {"unfollows": 1}
    if kind not in CONVERSATION_TYPES:
        return {}
    out = {"mentions": 1}
    if record.get("sentiment_label") == "negative":
        out["negative_mentions"] = 1
    if record.get("is_complaint"):
        out["complaints"] = 1
    return out


def new_signal(brand_id: str, kind: str) -> dict[str, Any]:
    return {
        "brand": brand_id,
        "kind": kind,
        "bucket": None,
        "value": 0,
        "samples": [],
        "detector": None,
        "episode": None,
    }


@dataclass
class Fired:
    """A detector transition for one brand and kind, with the samples of the bucket that caused it."""

    brand_id: str
    kind: str
    transition: Transition
    episode_start: datetime  # bucket that fired the episode: the alert id, shared by its resolve
    samples: list[list[str]] = field(default_factory=list)


def advance(
    signal: dict[str, Any], bucket: int, config: SpikeConfig, on_fire: Callable[[Fired], None]
) -> None:
    """Close every bucket before ``bucket``: feed it (and empty ones after it) to the detector."""
    current = signal["bucket"]
    if current is None:
        signal["bucket"] = bucket
        return
    if bucket <= current:
        return
    detector = (
        SpikeDetector.from_state(signal["detector"], config) if signal["detector"] else SpikeDetector(config)
    )
    step = config.bucket_seconds
    level_kind = signal["kind"] in LEVEL_KINDS
    observed = max(0, signal["value"] - (signal.get("base") or 0)) if level_kind else signal["value"]
    closing = [(current, observed)]
    gap = bucket - current - 1
    if gap > MAX_GAP_BUCKETS:
        detector = SpikeDetector(config)  # a long silence: start the series over
        closing = []
    else:
        closing += [(current + i, 0) for i in range(1, gap + 1)]
    for b, value in closing:
        start = datetime.fromtimestamp(b * step, tz=UTC)
        for t in detector.update(start + timedelta(seconds=step), value):
            if t.kind == "fire":
                signal["episode"] = start.isoformat()
            episode = datetime.fromisoformat(signal.get("episode") or start.isoformat())
            on_fire(Fired(signal["brand"], signal["kind"], t, episode, list(signal["samples"])))
            if t.kind == "resolve":
                signal["episode"] = None
        if b == current:
            signal["samples"] = []
    signal["detector"] = detector.to_state()
    signal["bucket"] = bucket
    if level_kind:
        signal["base"] = signal["value"]
    else:
        signal["value"] = 0


def add_sample(signal: dict[str, Any], record: dict[str, Any]) -> None:
    """Keep a few events of the bucket as evidence, the most negative first."""
    if not record.get("text"):
        return
    samples: list[list[Any]] = signal["samples"]
    samples.append([record["event_id"], record["text"][:280], float(record.get("sentiment_score") or 0.0)])
    samples.sort(key=lambda s: s[2])
    del samples[SAMPLE_SIZE:]


def bucket_of(ts: datetime, config: SpikeConfig) -> int:
    return int(ts.timestamp()) // config.bucket_seconds


def alert_id(brand_id: str, kind: str, fired_bucket: datetime) -> str:
    digest = hashlib.sha256(f"{brand_id}|{kind}|{fired_bucket.isoformat()}".encode()).hexdigest()
    return digest[:32]


_TITLES = {
    "mentions": "conversation volume",
    "negative_mentions": "negative mentions",
    "complaints": "complaints",
    "unfollows": "unfollows",
    "unanswered_complaints": "unanswered complaints backlog",
    "viral_negative_post": "viral negative post",
}


def alert_record(fired: Fired, fired_at: datetime) -> dict[str, Any]:
    """The ``alert.avsc`` record of a fire or resolve (same alert id for both)."""
    t = fired.transition
    window = timedelta(seconds=t.window_seconds or 300)
    title = _TITLES.get(fired.kind, fired.kind)
    status = "firing" if t.kind == "fire" else "resolved"
    verb = "spiking" if status == "firing" else "back to normal"
    return {
        "alert_id": alert_id(fired.brand_id, fired.kind, fired.episode_start),
        "brand_id": fired.brand_id,
        "platform": None,
        "kind": fired.kind,
        "severity": t.severity,
        "status": status,
        "window_start": t.timestamp - window,
        "window_end": t.timestamp,
        "fired_at": fired_at,
        "observed": float(t.observed),
        "expected": float(round(t.expected, 3)),
        "score": float(round(t.score, 3)),
        "summary": (
            f"{fired.brand_id}: {title} {verb} — {t.observed:g} in {int(window.total_seconds() // 60)} min "
            f"vs {t.expected:.1f} expected (score {t.score:.1f})"
        ),
        "sample_event_ids": [s[0] for s in fired.samples],
        "sample_texts": [s[1] for s in fired.samples],
    }


def viral_negative(row: dict[str, Any]) -> bool:
    """A viral post whose comments are mostly negative: the crisis is spreading through shares."""
    comments = row.get("comments") or 0
    return (
        bool(row.get("is_viral"))
        and comments >= VIRAL_NEGATIVE_MIN_COMMENTS
        and (row.get("negative_comments") or 0) / comments >= VIRAL_NEGATIVE_SHARE
    )
