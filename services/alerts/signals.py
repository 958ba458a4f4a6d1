"""Reputation signals per brand, bucketed in event time, and the alerts the detector's transitions make.

Pure: the faust agent feeds enriched events and post snapshots in, stores the JSON-shaped state in
tables and publishes what comes out. Every brand has one detector per signal kind:

- ``mentions``: customer conversation volume (comments, replies, mentions, messages, shares) —
  counted, but not paged on by default (see ``DEFAULT_KINDS``);
- ``negative_mentions``: the part of it with negative sentiment;
- ``complaints``: messages flagged ``is_complaint``;
- ``unfollows``: fan loss;
- ``unanswered_complaints``: growth of the brand's backlog of open complaints: each enriched event's
  ``unanswered_complaints_change`` (+1 for a complaint not answered yet, -1 for the reply that
  answered one) counts in its own event-time bucket, whose value is how much the backlog grew in it
  (never below zero). The level itself only grows — some complaints are never answered — so its
  growth, not its size, is what can spike. (Per event rather than from ``brand_backlog`` snapshots:
  a snapshot carries a whole batch's change at its latest event time, so how the stream was batched
  would move growth between buckets and change what pages.)

**Event time.** Every event counts in the bucket of its own ``occurred_at``. A signal's *watermark* is
the latest event time it has seen; a bucket is final, and goes to the detector, once the watermark is
``allowed_lateness`` past the bucket's end (empty buckets in between are fed as zeros). Events for a
bucket that is already final are *late*: they are counted (``engage_alerts_late_events_total``) and
dropped, never added to another bucket. Events seen twice while their bucket is open (a replay that
overlaps the last hour) count once. So replaying or backfilling any period raises exactly the alerts one
in-order pass raises, and alert ids are deterministic per (brand, kind, bucket that fired): a
redelivered or re-run stream re-fires the same alert, which every sink deduplicates. The price is
latency: a bucket is judged ``allowed_lateness`` after it ends (lower it where sources deliver in order).

**Paging policy** (:func:`page_decision`, outside the detector, which knows no absolute units):

- *Minimum volume*: a spike pages only when its window holds at least ``PAGE_MIN_EXCESS`` messages
  above expected; a significant jump from 1 to 4 complaints is not worth waking anyone.
- *Reputation, not popularity*: a complaints, negative-mentions or backlog-growth spike pages only when
  those messages rose beyond what the conversation volume explains (a popular post draws more comments,
  so more complaints, and more of them wait for an answer): the volume-explained count is the window's
  conversation times the brand's usual share; the window must hold ``SHARE_RISE`` times that, and the
  minimum volume counts messages beyond it as well as beyond the detector's expectation. A launch that
  goes viral with happy comments brings proportionally more of everything, and never pages; nor does a
  popular post whose comments carry the usual sprinkle of negative ones.
- A detector fire that fails either rule is held while the detector stays active and pages as soon as
  the evidence passes (a crisis that starts small still pages once it is big enough); if the episode
  ends first, nothing is sent, neither fire nor resolve.
- *Severity* follows the evidence: ``critical`` when a complaints, negative-mentions or backlog spike
  holds at least ``CRITICAL_RATIO`` times its expectation and ``CRITICAL_MIN_EXCESS`` extra messages
  (a crisis: the pager), ``warning`` otherwise (chat). Unfollow and volume spikes warn. A resolve keeps
  its fire's severity, so Alertmanager pairs them.

``viral_negative_post`` is a rule, not a detector: a post whose cascade is viral while most of its
comments are negative fires once per post (critical with ``CRITICAL_MIN_EXCESS`` negative comments),
and resolves when its negative share falls below ``VIRAL_RESOLVE_SHARE`` or when it has drawn no new
negative comment for ``POST_QUIET_SECONDS`` of event time.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from services.alerts.spike import SpikeConfig, SpikeDetector, Transition

CONVERSATION_TYPES = frozenset(("comment", "reply", "mention", "message", "share"))
COUNT_KINDS = ("mentions", "negative_mentions", "complaints", "unfollows", "unanswered_complaints")
NET_KINDS = frozenset(("unanswered_complaints",))
"""Kinds whose events count +1 or -1: a bucket's value is its net growth, floored at zero."""
KINDS = COUNT_KINDS
# Paging kinds by default: reputation, not popularity. A viral launch spikes ``mentions`` too, so
# the volume signal alone only pages when configured (ENGAGE_ALERT_KINDS). So does the backlog's
# growth: per 15 minutes it is mostly the complaints that just arrived (brands answer in tens of
# minutes), so it pages with every complaints spike, a second page for one incident, and on popular
# posts whose comments bring the usual share of complaints (the 3-day simulation of
# tests/unit/test_alert_engine.py: besides the crisis, its only fire was such a post).
DEFAULT_KINDS = (
    "negative_mentions",
    "complaints",
    "unfollows",
    "viral_negative_post",
)
SHARE_KINDS = frozenset(("negative_mentions", "complaints", "unanswered_complaints"))
CRITICAL_KINDS = frozenset(
    ("negative_mentions", "complaints", "unanswered_complaints", "viral_negative_post")
)
MAX_GAP_BUCKETS = 7 * 24 * 12  # a brand silent for longer restarts its series rather than replaying zeros
SAMPLE_SIZE = 5
TOP_POSTS = 3
HISTORY_BUCKETS = 48
"""Closed buckets kept per signal (counts): the detector's longest window (4 h of 5 min)."""
EVIDENCE_BUCKETS = 12
"""Closed buckets that keep their sample messages and top posts (an hour): the evidence of an alert."""

PAGE_MIN_EXCESS = 10.0
"""Minimum volume for paging: messages above expected in the alert's window."""
SHARE_RISE = 1.5
"""A complaints / negative spike must lift its share of the conversation at least this much."""
SHARE_HALFLIFE_BUCKETS = 288.0
"""Memory of the usual share (a day of 5-min buckets): long enough that an incident barely moves it."""
SHARE_PRIOR = 0.25
SHARE_PRIOR_MESSAGES = 20.0
"""The usual share starts as ``SHARE_PRIOR`` worth this many messages, so a brand with little history is
judged against a plausible share rather than against its first few messages."""
CRITICAL_RATIO = 5.0
"""Severity: critical needs at least this multiple of the expectation..."""
CRITICAL_MIN_EXCESS = 25.0
"""...and at least this many messages above it (68 complaints vs 2.3 expected is critical)."""

VIRAL_NEGATIVE_SHARE = 0.5
VIRAL_NEGATIVE_MIN_COMMENTS = 10
VIRAL_RESOLVE_SHARE = 0.35
POST_QUIET_SECONDS = 2 * 3600.0


def counts_for(record: dict[str, Any]) -> dict[str, int]:
    """What one enriched event adds to each count signal of its brand."""
    if record.get("is_brand"):
        change = int(record.get("unanswered_complaints_change") or 0)
        return {"unanswered_complaints": change} if change else {}
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
    if change := int(record.get("unanswered_complaints_change") or 0):
        out["unanswered_complaints"] = change
    return out


def new_signal(brand_id: str, kind: str) -> dict[str, Any]:
    return {
        "brand": brand_id,
        "kind": kind,
        "closed": None,  # last final bucket (None: nothing judged yet)
        "watermark": None,  # latest event time seen, epoch ms
        "open": {},  # bucket -> [count (net kinds: net change), conversation, {post_id: n}]
        "samples": {},  # bucket -> [[event_id, text, score], ...]
        "history": [],  # [[bucket, count, conversation, {post_id: n}, samples], ...] closed buckets
        "share": [0.0, 0.0],  # decayed (signal, conversation) sums: the usual share
        "detector": None,
        "episode": None,  # the paged episode: {"alerts": [[start, severity, fired ms], ...]}
        "held": None,  # the detector's episode in progress: its fire's expectation, score and window
    }


@dataclass
class Fired:
    """A transition to publish for one brand and kind, with its evidence."""

    brand_id: str
    kind: str
    transition: Transition
    episode_start: datetime  # bucket that fired the episode: the alert id, shared by its resolve
    samples: list[list[Any]] = field(default_factory=list)
    severity: str = "warning"
    top_posts: list[tuple[str, int]] = field(default_factory=list)
    growth: float | None = None  # observed / expected
    share: tuple[float, float] | None = None  # (share in the window, usual share)
    post: dict[str, Any] | None = None  # viral_negative_post: the post snapshot
    fired_event_time: datetime | None = None


def bucket_of(ts: datetime, config: SpikeConfig) -> int:
    return int(ts.timestamp()) // config.bucket_seconds


def _ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


def digest(event_id: str) -> str:
    return hashlib.blake2b(event_id.encode(), digest_size=8).hexdigest()


def add_event(
    signal: dict[str, Any],
    record: dict[str, Any],
    n: int,
    conversation: int,
    config: SpikeConfig,
    lateness_seconds: float,
    on_fire: Callable[[Fired], None],
    duplicate: bool = False,
) -> bool:
    """Count one event in its own event-time bucket; returns False when it is late (dropped).

    ``duplicate``: the brand's :func:`event_clock` has seen this event id in the same open bucket (a
    replay inside the lateness): it moves the watermark but counts nothing."""
    ts: datetime = record["occurred_at"]
    bucket = bucket_of(ts, config)
    if signal["closed"] is not None and bucket <= signal["closed"]:
        return False
    if not duplicate:
        key = str(bucket)
        cell = signal["open"].setdefault(key, [0, 0, {}])
        cell[0] += n
        cell[1] += conversation
        if n > 0:  # evidence: the messages that raised the count, not the replies that lowered it
            if post := record.get("post_id"):
                cell[2][post] = cell[2].get(post, 0) + 1
            _add_sample(signal["samples"].setdefault(key, []), record)
    signal["watermark"] = max(signal["watermark"] or 0, _ms(ts))
    close_final(signal, config, lateness_seconds, on_fire)
    return True


def event_clock(
    clock: dict[str, Any], record: dict[str, Any], config: SpikeConfig, lateness_seconds: float
) -> str:
    """The brand's event-time clock, ahead of its signals: is the event ``"late"`` (its bucket is final),
    a ``"duplicate"`` (its id was seen in its still-open bucket) or ``"new"``?

    Its watermark and final bucket follow the same rule as every signal of the brand (each sees every
    event), so one short list of event-id digests per open bucket serves them all."""
    ts: datetime = record["occurred_at"]
    bucket = bucket_of(ts, config)
    closed = clock.get("closed")
    if closed is not None and bucket <= closed:
        return "late"
    seen = clock.setdefault("seen", {}).setdefault(str(bucket), [])
    d = digest(record["event_id"])
    verdict = "duplicate" if d in seen else "new"
    if verdict == "new":
        seen.append(d)
    watermark = clock["watermark"] = max(int(clock.get("watermark") or 0), _ms(ts))
    limit = int((watermark / 1000 - lateness_seconds) // config.bucket_seconds) - 1
    if closed is None or limit > closed:
        clock["closed"] = limit
        clock["seen"] = {b: ids for b, ids in clock["seen"].items() if int(b) > limit}
    return verdict


def close_final(
    signal: dict[str, Any], config: SpikeConfig, lateness_seconds: float, on_fire: Callable[[Fired], None]
) -> None:
    """Judge every bucket the watermark has left ``lateness_seconds`` behind (and empty ones between)."""
    step = config.bucket_seconds
    limit = int((signal["watermark"] / 1000 - lateness_seconds) // step) - 1  # last bucket now final
    closed = signal["closed"]
    if closed is None:
        if not signal["open"]:
            return
        first = min(int(b) for b in signal["open"])
        if limit < first:
            return
        closed = first - 1
    if limit <= closed:
        return
    # a state stored by an older detector version restarts the warm-up instead of failing the worker
    detector = SpikeDetector.resume(signal["detector"], config)
    if limit - closed > MAX_GAP_BUCKETS:
        # A long silence: start the series over from the first bucket that has data.
        detector = SpikeDetector(config)
        signal["history"], signal["episode"], signal["held"] = [], None, None
        pending = [int(b) for b in signal["open"] if int(b) <= limit]
        closed = (min(pending) if pending else limit) - 1
    for b in range(closed + 1, limit + 1):
        _close_bucket(signal, detector, b, config, on_fire)
    signal["detector"] = detector.to_state()
    signal["closed"] = limit


def _close_bucket(
    signal: dict[str, Any],
    detector: SpikeDetector,
    b: int,
    config: SpikeConfig,
    on_fire: Callable[[Fired], None],
) -> None:
    key = str(b)
    cell = signal["open"].pop(key, None)
    samples = signal["samples"].pop(key, [])
    value, conversation, posts = (cell[0], cell[1], cell[2]) if cell else (0, 0, {})
    if signal["kind"] in NET_KINDS:
        value = max(0, value)  # answered complaints shrink the backlog; only its growth can spike
    history = signal["history"]
    top = dict(sorted(posts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_POSTS])
    history.append([b, value, conversation, top, samples])
    del history[:-HISTORY_BUCKETS]
    if len(history) > EVIDENCE_BUCKETS:  # evidence (texts, posts) only for the last hour: a small state
        history[-EVIDENCE_BUCKETS - 1][3:] = [{}, []]
    step = config.bucket_seconds
    end = datetime.fromtimestamp((b + 1) * step, tz=UTC)
    for t in detector.update(end, value):
        if t.kind == "fire":
            signal["held"] = _transition_state(t)
        elif signal["episode"] is not None:
            _publish_resolve(signal, t, on_fire)
        else:
            signal["held"] = None  # the episode ended without ever meeting the paging policy
    if signal["held"] is not None:
        _try_page(signal, end, config, on_fire)
    # The usual share learns from final buckets outside episodes (an incident must not become normal).
    if signal["episode"] is None and signal["held"] is None:
        decay = 0.5 ** (1.0 / SHARE_HALFLIFE_BUCKETS)
        share = signal["share"]
        share[0] = share[0] * decay + value
        share[1] = share[1] * decay + conversation


def _transition_state(t: Transition) -> dict[str, Any]:
    return {"expected": t.expected, "score": t.score, "window_seconds": t.window_seconds}


def _window(
    signal: dict[str, Any], end: datetime, window_seconds: int, config: SpikeConfig
) -> list[list[Any]]:
    buckets = max(1, window_seconds // config.bucket_seconds)
    last = int(end.timestamp()) // config.bucket_seconds - 1
    return [h for h in signal["history"] if last - buckets < h[0] <= last]


def usual_share(signal: dict[str, Any]) -> float:
    """The signal's usual share of the conversation, shrunk towards ``SHARE_PRIOR`` on thin history."""
    s, c = signal["share"]
    return (s + SHARE_PRIOR * SHARE_PRIOR_MESSAGES) / (c + SHARE_PRIOR_MESSAGES)


def page_decision(kind: str, observed: float, expected: float, explained: float | None) -> tuple[bool, str]:
    """Whether a detector fire pages, and at which severity (the policy in the module docstring).

    ``expected`` is the detector's expectation for the window; ``explained`` (complaints, negative
    mentions and backlog growth) is what the window's conversation volume explains at the brand's
    usual share. The minimum volume counts messages beyond both."""
    baseline = max(expected, explained or 0.0)
    excess = observed - baseline
    if excess < PAGE_MIN_EXCESS:
        return False, "warning"
    if explained is not None and observed < SHARE_RISE * explained:
        return False, "warning"
    critical = (
        kind in CRITICAL_KINDS
        and excess >= CRITICAL_MIN_EXCESS
        and observed >= CRITICAL_RATIO * max(expected, 1e-9)
    )
    return True, "critical" if critical else "warning"


def _try_page(
    signal: dict[str, Any], end: datetime, config: SpikeConfig, on_fire: Callable[[Fired], None]
) -> None:
    """While the detector is in an episode: page it once the evidence of its window (ending at the
    bucket just judged) passes the policy, and escalate a warning to a critical alert when it grows.

    An escalation is a second alert (its own id and ``severity`` label, as Prometheus pairs a warning and a
    critical rule); both resolve with the episode."""
    held = signal["held"]
    window = _window(signal, end, held["window_seconds"] or config.bucket_seconds, config)
    observed = float(sum(h[1] for h in window))
    # The detector's expectation for its window when it fired; a rate over minutes, so it carries over.
    expected = float(held["expected"])
    conversation = sum(h[2] for h in window)
    window_share = observed / conversation if conversation else None
    usual = usual_share(signal) if signal["kind"] in SHARE_KINDS else None
    explained = usual * conversation if usual is not None else None
    pages, severity = page_decision(signal["kind"], observed, expected, explained)
    episode = signal["episode"]
    if not pages or (episode is not None and (severity == "warning" or len(episode["alerts"]) > 1)):
        return
    if episode is not None and episode["alerts"][0][1] == "critical":
        return
    t = Transition("fire", end, observed, expected, held["score"], severity, held["window_seconds"])  # type: ignore[arg-type]
    start = end - timedelta(seconds=config.bucket_seconds)
    if episode is None:
        episode = signal["episode"] = {"alerts": []}
    episode["alerts"].append([start.isoformat(), severity, _ms(end)])
    on_fire(
        Fired(
            signal["brand"],
            signal["kind"],
            t,
            start,
            _samples(window),
            severity,
            _top_posts(window),
            observed / expected if expected > 0 else None,
            (window_share, usual) if window_share is not None and usual is not None else None,
            fired_event_time=end,
        )
    )


def _publish_resolve(signal: dict[str, Any], t: Transition, on_fire: Callable[[Fired], None]) -> None:
    for start, severity, fired in signal["episode"]["alerts"]:
        on_fire(
            Fired(
                signal["brand"],
                signal["kind"],
                t,
                datetime.fromisoformat(start),
                [],
                severity,
                [],
                t.observed / t.expected if t.expected > 0 else None,
                fired_event_time=datetime.fromtimestamp(fired / 1000, tz=UTC),
            )
        )
    signal["episode"] = None
    signal["held"] = None


def _samples(window: list[list[Any]]) -> list[list[Any]]:
    samples = sorted((s for h in window for s in h[4]), key=lambda s: (s[2], s[0]))
    return samples[:SAMPLE_SIZE]


def _top_posts(window: list[list[Any]]) -> list[tuple[str, int]]:
    totals: dict[str, int] = {}
    for h in window:
        for post, n in h[3].items():
            totals[post] = totals.get(post, 0) + n
    return sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_POSTS]


def _add_sample(samples: list[list[Any]], record: dict[str, Any]) -> None:
    """Keep a few events of the bucket as evidence, the most negative first."""
    if not record.get("text"):
        return
    samples.append([record["event_id"], record["text"][:280], float(record.get("sentiment_score") or 0.0)])
    samples.sort(key=lambda s: (s[2], s[0]))
    del samples[SAMPLE_SIZE:]


def alert_id(brand_id: str, kind: str, fired_bucket: datetime, post_id: str | None = None) -> str:
    subject = f"{kind}|{post_id}" if post_id else kind
    digest_ = hashlib.sha256(f"{brand_id}|{subject}|{fired_bucket.isoformat()}".encode()).hexdigest()
    return digest_[:32]


_TITLES = {
    "mentions": "conversation volume",
    "negative_mentions": "negative mentions",
    "complaints": "complaints",
    "unfollows": "unfollows",
    "unanswered_complaints": "unanswered complaints backlog growth",
    "viral_negative_post": "viral negative post",
}
_UNITS = {
    "mentions": "messages",
    "negative_mentions": "negative messages",
    "complaints": "complaints",
    "unfollows": "unfollows",
    "unanswered_complaints": "new unanswered complaints",
}


def _hm(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _minutes(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60} h" if minutes >= 60 and minutes % 60 == 0 else f"{minutes} min"


def alert_record(fired: Fired, processed_at: datetime) -> dict[str, Any]:
    """The ``alert.avsc`` record of a fire or resolve (same alert id and severity for both)."""
    if fired.post is not None:
        return _post_record(fired, processed_at)
    t = fired.transition
    window = timedelta(seconds=t.window_seconds or 300)
    start = t.timestamp - window
    title = _TITLES.get(fired.kind, fired.kind)
    unit = _UNITS.get(fired.kind, "events")
    firing = t.kind == "fire"
    growth = f"x{fired.growth:.1f}" if fired.growth is not None else "n/a"
    span = f"{_minutes(window.total_seconds())} to {_hm(t.timestamp)}"
    if firing:
        summary = (
            f"{fired.brand_id}: {title} spiking — {t.observed:g} {unit} in {span} "
            f"vs {t.expected:.1f} expected ({growth})"
        )
    else:
        summary = (
            f"{fired.brand_id}: {title} back to normal at {_hm(t.timestamp)} — {t.observed:g} {unit} in the "
            f"last {_minutes(window.total_seconds())} vs {t.expected:.1f} expected"
        )
    lines = [
        summary + ".",
        f"Signal: {title} of brand {fired.brand_id} (event time, {_minutes(window.total_seconds())} window "
        f"{_hm(start)} – {_hm(t.timestamp)}).",
        f"Observed {t.observed:g} vs {t.expected:.1f} expected: growth {growth}, "
        f"detector score {t.score:.1f}.",
    ]
    if fired.share is not None:
        lines.append(
            f"Share of the conversation: {fired.share[0]:.0%} in the window vs {fired.share[1]:.0%} usually."
        )
    if fired.top_posts:
        lines.append(
            "Top posts involved: " + ", ".join(f"{p} ({n} {unit})" for p, n in fired.top_posts) + "."
        )
    if fired.samples:
        lines.append("Sample messages:")
        lines += [f"- {s[1]}" for s in fired.samples]
    return _record(
        fired,
        processed_at,
        start,
        t.timestamp,
        summary,
        "\n".join(lines),
        [p for p, _ in fired.top_posts],
        None,
    )


def _post_record(fired: Fired, processed_at: datetime) -> dict[str, Any]:
    t, row = fired.transition, fired.post or {}
    post_id, comments = row["post_id"], int(row.get("comments") or 0)
    negative = int(row.get("negative_comments") or 0)
    share = negative / comments if comments else 0.0
    posted = row.get("posted_at")
    start = (
        posted if isinstance(posted, datetime) else t.timestamp - timedelta(seconds=t.window_seconds or 300)
    )
    where = f"{row.get('platform', '')} post {post_id}".strip()
    if t.kind == "fire":
        summary = (
            f"{fired.brand_id}: viral negative post — {where} reshared {row.get('cascade_size', 0)} times, "
            f"{negative} of {comments} comments negative ({share:.0%})"
        )
    else:
        summary = (
            f"{fired.brand_id}: viral negative post {post_id} calmed down at {_hm(t.timestamp)} — "
            f"{negative} of {comments} comments negative ({share:.0%})"
        )
    lines = [
        summary + ".",
        f"Post: {where}" + (f", posted {_hm(posted)}" if isinstance(posted, datetime) else "") + ".",
        f"Cascade: {row.get('cascade_size', 0)} shares (depth {row.get('cascade_depth', 0)}, reach "
        f"{row.get('unique_reach', 0)}); comments {comments}, negative {negative} ({share:.0%}), complaints "
        f"{row.get('complaints', 0)}; as of {_hm(t.timestamp)} (event time).",
    ]
    return _record(fired, processed_at, start, t.timestamp, summary, "\n".join(lines), [post_id], post_id)


def _record(
    fired: Fired,
    processed_at: datetime,
    window_start: datetime,
    window_end: datetime,
    summary: str,
    description: str,
    top_posts: list[str],
    post_id: str | None,
) -> dict[str, Any]:
    t = fired.transition
    return {
        "alert_id": alert_id(fired.brand_id, fired.kind, fired.episode_start, post_id),
        "brand_id": fired.brand_id,
        "platform": None if fired.post is None else fired.post.get("platform"),
        "kind": fired.kind,
        "severity": fired.severity,
        "status": "firing" if t.kind == "fire" else "resolved",
        "window_start": window_start,
        "window_end": window_end,
        "fired_at": processed_at,
        "observed": float(t.observed),
        "expected": float(round(t.expected, 3)),
        "score": float(round(t.score, 3)) if math.isfinite(t.score) else 0.0,
        "summary": summary,
        "sample_event_ids": [s[0] for s in fired.samples],
        "sample_texts": [s[1] for s in fired.samples],
        "event_time": t.timestamp,
        "fired_event_time": fired.fired_event_time or t.timestamp,
        "processed_at": processed_at,
        "post_id": post_id,
        "description": description,
        "top_post_ids": top_posts,
    }


def viral_negative(row: dict[str, Any]) -> bool:
    """A viral post whose comments are mostly negative: the crisis is spreading through shares."""
    comments = row.get("comments") or 0
    return (
        bool(row.get("is_viral"))
        and comments >= VIRAL_NEGATIVE_MIN_COMMENTS
        and (row.get("negative_comments") or 0) / comments >= VIRAL_NEGATIVE_SHARE
    )


def viral_post_update(post: dict[str, Any], row: dict[str, Any], on_fire: Callable[[Fired], None]) -> None:
    """One snapshot of a post: fire when it turns viral and negative, resolve when it calms down.

    The record's ``observed`` is the negative share of the post's comments, ``expected`` the share that
    makes a viral post negative (``VIRAL_NEGATIVE_SHARE``), ``score`` the cascade size. Snapshots not
    newer (event time) than the last one applied change nothing, so a replay of them is harmless."""
    updated: datetime = row["updated_at"]
    at = _ms(updated)
    if post.get("at") is not None and at <= post["at"]:
        return
    post["at"] = at
    negative = int(row.get("negative_comments") or 0)
    if negative > int(post.get("negative") or 0):
        post["negative"], post["grew"] = negative, at
    comments = int(row.get("comments") or 0)
    share = negative / comments if comments else 0.0
    cascade = float(row.get("cascade_size") or 0)
    episode = post.get("episode")
    if episode is None:
        if post.get("done") or not viral_negative(row):
            return
        severity = "critical" if negative >= CRITICAL_MIN_EXCESS else "warning"
        post["episode"] = {"start": updated.isoformat(), "severity": severity, "fired": at}
        t = Transition("fire", updated, share, VIRAL_NEGATIVE_SHARE, cascade, severity, 0)  # type: ignore[arg-type]
        on_fire(
            Fired(
                row["brand_id"],
                "viral_negative_post",
                t,
                updated,
                [],
                severity,
                post=dict(row),
                fired_event_time=updated,
            )
        )
        return
    quiet = (at - int(post.get("grew") or at)) / 1000 >= POST_QUIET_SECONDS
    if share < VIRAL_RESOLVE_SHARE or quiet:
        severity = episode["severity"]
        t = Transition("resolve", updated, share, VIRAL_NEGATIVE_SHARE, cascade, severity, 0)  # type: ignore[arg-type]
        on_fire(
            Fired(
                row["brand_id"],
                "viral_negative_post",
                t,
                datetime.fromisoformat(episode["start"]),
                [],
                severity,
                post=dict(row),
                fired_event_time=datetime.fromtimestamp(episode["fired"] / 1000, tz=UTC),
            )
        )
        post["episode"], post["done"] = None, True
