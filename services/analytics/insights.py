"""What a report says in words: headline numbers, their change against the previous period, sentences.

Pure functions over the rows of the documented queries (``{"Q1": [row, ...], ...}``), so the written
summary and the tiles' deltas are tested without ClickHouse. The previous period is the window of the
same length just before the report's (Sprout Social's and Brandwatch's "vs previous period").
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

Results = Mapping[str, Sequence[Mapping[str, Any]]]

PLATFORM_NAMES = {"facebook": "Facebook", "instagram": "Instagram", "x": "X", "youtube": "YouTube"}
ALERT_NAMES = {
    "negative_mentions": "surge of negative messages",
    "negative_spike": "surge of negative messages",
    "complaints": "surge of complaints",
    "unfollows": "surge of unfollows",
    "unanswered_complaints": "growing pile of unanswered complaints",
    "viral_negative_post": "negative post going viral",
    "mentions": "surge of mentions",
    "volume_spike": "surge in activity",
}
# A rising term is worth a sentence when it is in this many messages and this many times more
# frequent than the previous period predicts.
RISING_MIN_MESSAGES = 5
RISING_MIN_LIFT = 3.0
SLOW_ANSWER_SHARE = 0.5
# The report lists a word as rising from this lift on (1.0: as often as the previous period predicts).
RISING_SHOWN_LIFT = 1.5


def as_datetime(value: Any) -> datetime:
    """Naive UTC datetime from a driver value or from the chDB owner's JSON (ISO strings)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    elif isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if not isinstance(value, datetime):
        raise TypeError(f"not a timestamp: {value!r}")
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def platform_name(platform: Any) -> str:
    return PLATFORM_NAMES.get(str(platform), str(platform))


def alert_name(kind: Any) -> str:
    return ALERT_NAMES.get(str(kind), str(kind).replace("_", " "))


def _sum(rows: Sequence[Mapping[str, Any]], col: str) -> int:
    return sum(int(r[col] or 0) for r in rows)


def _share(a: float, b: float) -> float | None:
    return a / b if b else None


@dataclass(frozen=True)
class Headline:
    """The numbers on the tiles, from one window's results (None: not defined in this window)."""

    interactions: int
    messages: int
    negative_share: float | None
    complaints: int
    answered_within_1h_share: float | None
    median_response_seconds: float | None
    replies: int
    customers: int
    mean_touches: float | None
    follows: int
    unfollows: int
    brand_posts: int

    @property
    def net_followers(self) -> int:
        return self.follows - self.unfollows

    @property
    def empty(self) -> bool:
        """Nothing happened at all (no audience activity, no posts, no replies)."""
        return not (self.interactions or self.messages or self.follows or self.unfollows or self.brand_posts)


def headline(r: Results) -> Headline:
    messages = _sum(r.get("Q2", []), "messages")
    negative = sum(int(x["messages"]) for x in r.get("Q2", []) if x["sentiment_label"] == "negative")
    complaints = _sum(r.get("Q8", []), "complaints")
    within = _sum(r.get("Q8", []), "answered_within_1h")
    q10 = r.get("Q10", [])
    overall = [x for x in q10 if not x["platform"]]  # the ROLLUP row
    median = float(overall[0]["median_seconds"]) if overall and int(overall[0]["answered"]) else None
    replies = int(overall[0]["answered"]) if overall else _sum(q10, "answered")
    q12 = r.get("Q12", [])
    customers = _sum(q12, "customers")
    touches = sum(int(x["touches"]) * int(x["customers"]) for x in q12)
    q20 = r.get("Q20", [])
    return Headline(
        interactions=_sum(r.get("Q1", []), "engagements"),
        messages=messages,
        negative_share=_share(negative, messages),
        complaints=complaints,
        answered_within_1h_share=_share(within, complaints),
        median_response_seconds=median,
        replies=replies,
        customers=customers,
        mean_touches=_share(touches, customers),
        follows=_sum(q20, "follows"),
        unfollows=_sum(q20, "unfollows"),
        brand_posts=_sum(q20, "brand_posts"),
    )


# --- formatting ----------------------------------------------------------------------------------


def duration(seconds: float | None) -> str:
    """``45 s``, ``12 min``, ``3.5 h``, ``2.1 days``."""
    if seconds is None or math.isnan(seconds):
        return "–"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def span_words(span: timedelta) -> str:
    """``24 hours``, ``7 days``, ``90 minutes``."""
    seconds = span.total_seconds()
    if seconds % 86400 == 0 and seconds >= 2 * 86400:
        return f"{seconds / 86400:.0f} days"
    if seconds % 3600 == 0:
        return f"{seconds / 3600:.0f} hour{'' if seconds == 3600 else 's'}"
    return f"{seconds / 60:.0f} minutes"


def pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


def local(t: datetime, tz: ZoneInfo) -> datetime:
    """A naive UTC time from ClickHouse as naive wall-clock time in ``tz`` (for labels and axes)."""
    return t.replace(tzinfo=ZoneInfo("UTC")).astimezone(tz).replace(tzinfo=None)


def zone_label(tz: ZoneInfo, at: datetime) -> str:
    """The zone's abbreviation at ``at`` (naive UTC): ``KST`` for Asia/Seoul, ``UTC``, ``CET``/``CEST``."""
    return at.replace(tzinfo=ZoneInfo("UTC")).astimezone(tz).tzname() or str(tz)


def when(t: datetime, tz: ZoneInfo, fmt: str = "%b %d, %H:%M") -> str:
    """``Nov 01, 13:12 KST`` — every time a person reads is in the report's zone, with its name."""
    return f"{local(t, tz):{fmt}} {zone_label(tz, t)}"


# --- change against the previous period ----------------------------------------------------------


@dataclass(frozen=True)
class Delta:
    """How a tile's number moved: ``text`` for people, ``tone`` good/bad/flat for the colour."""

    text: str
    tone: str  # "good", "bad", "flat", "none"


NO_EARLIER = Delta("no earlier data", "none")


def delta_count(now: float, before: float, previous_empty: bool, higher_is_better: bool = True) -> Delta:
    """Relative change of a count or a time."""
    if previous_empty:
        return NO_EARLIER
    if now == before:
        return Delta("no change", "flat")
    if before == 0:
        return Delta("new: none the period before", "good" if higher_is_better else "bad")
    change = (now - before) / before
    up = change > 0
    arrow = "▲" if up else "▼"
    tone = "good" if up == higher_is_better else "bad"
    return Delta(f"{arrow} {abs(change) * 100:.0f}% vs previous", tone if abs(change) >= 0.005 else "flat")


def delta_share(
    now: float | None, before: float | None, previous_empty: bool, higher_is_better: bool = True
) -> Delta:
    """Change of a share in percentage points."""
    if previous_empty:
        return NO_EARLIER
    if now is None or before is None:
        return Delta("nothing to compare", "none")
    points = (now - before) * 100
    if abs(points) < 0.5:
        return Delta("no change", "flat")
    up = points > 0
    unit = "pt" if round(abs(points)) == 1 else "pts"
    return Delta(
        f"{'▲' if up else '▼'} {abs(points):.0f} {unit} vs previous",
        "good" if up == higher_is_better else "bad",
    )


@dataclass(frozen=True)
class Tile:
    value: str
    label: str
    delta: Delta


def tiles(now: Headline, before: Headline) -> list[Tile]:
    """The headline tiles with their change against the previous period of the same length."""
    gone = before.empty

    def med(h: Headline) -> float:
        return h.median_response_seconds or 0.0

    return [
        Tile(
            f"{now.interactions:,}",
            "audience interactions",
            delta_count(now.interactions, before.interactions, gone),
        ),
        Tile(f"{now.messages:,}", "messages to the brand", delta_count(now.messages, before.messages, gone)),
        Tile(
            pct(now.negative_share),
            "of messages negative",
            delta_share(now.negative_share, before.negative_share, gone, higher_is_better=False),
        ),
        Tile(
            pct(now.answered_within_1h_share),
            f"of {now.complaints:,} complaints answered within 1 h",
            delta_share(now.answered_within_1h_share, before.answered_within_1h_share, gone),
        ),
        Tile(
            duration(now.median_response_seconds),
            "median brand response time",
            Delta("no replies", "none")
            if now.median_response_seconds is None
            else delta_count(med(now), med(before), gone or before.median_response_seconds is None, False),
        ),
        Tile(
            f"{now.net_followers:+,}",
            f"net followers ({now.follows:,} new, {now.unfollows:,} left)",
            delta_count(now.net_followers, before.net_followers, gone),
        ),
        Tile(f"{now.unfollows:,}", "unfollows", delta_count(now.unfollows, before.unfollows, gone, False)),
        Tile(f"{now.customers:,}", "new customers", delta_count(now.customers, before.customers, gone)),
    ]


# --- sentences -----------------------------------------------------------------------------------


def quote(text: Any, limit: int = 70) -> str:
    t = " ".join(str(text or "").split())
    return f"“{t[: limit - 1]}…”" if len(t) > limit else f"“{t}”"


def _change_phrase(now: float, before: float) -> str:
    if before == 0:
        return "none in the period before" if now else "as in the period before"
    change = (now - before) / before
    if abs(change) < 0.005:
        return "the same as the period before"
    return f"{abs(change) * 100:.0f}% {'more' if change > 0 else 'fewer'} than the period before"


def change_sentence(name: str, span: timedelta, now: Headline, before: Headline) -> str:
    """What changed against the previous period of the same length."""
    period = span_words(span)
    if now.empty:
        return f"Nothing happened for {name} in these {period}: no audience activity, no brand posts." + (
            "" if before.empty else f" The {period} before had {before.interactions:,} interactions."
        )
    s = f"In these {period} {name}'s audience interacted {now.interactions:,} times"
    if before.empty:
        s += f"; there is no data for the {period} before to compare with."
    else:
        s += f", {_change_phrase(now.interactions, before.interactions)}."
    if now.messages:
        s += f" {pct(now.negative_share)} of their {now.messages:,} messages were negative"
        if not before.empty and before.negative_share is not None and now.negative_share is not None:
            points = (now.negative_share - before.negative_share) * 100
            s += (
                f" ({'up' if points > 0 else 'down'} {abs(points):.0f} points)"
                if abs(points) >= 1
                else " (about the same as before)"
            )
        s += "."
    return s


def brand_terms(*names: str | None) -> frozenset[str]:
    """Words of a brand's id and names: in every complaint about the brand, so never "a topic"."""
    out: set[str] = set()
    for n in names:
        out.update(w for w in re.split(r"[\W_]+", (n or "").lower()) if w)
    return frozenset(out)


def topic_terms(r: Results, exclude: frozenset[str] = frozenset()) -> list[Mapping[str, Any]]:
    """Q22's words without the brand's own name."""
    return [x for x in r.get("Q22", []) if str(x["term"]).lower() not in exclude]


def comparable_topics(rows: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the previous period had negative messages to compare with (else "rising" means nothing)."""
    return bool(rows) and int(rows[0]["volume_before"]) > 0


def risk_sentence(r: Results, now: Headline, tz: ZoneInfo, exclude: frozenset[str] = frozenset()) -> str:
    """The biggest risk: alerts first, then a rising complaint topic, slow answers, a post that lost fans."""
    alerts = list(r.get("Q16", []))
    terms = topic_terms(r, exclude)
    rising = [
        x
        for x in terms
        if int(x["messages_now"]) >= RISING_MIN_MESSAGES and float(x["lift"]) >= RISING_MIN_LIFT
    ]
    topic = ""
    if rising and comparable_topics(terms):
        words = ", ".join(f"“{x['term']}”" for x in rising[:3])
        top = rising[0]
        topic = (
            f"Rising in negative messages: {words} "
            f"(“{top['term']}” in {int(top['messages_now']):,} messages, "
            f"{int(top['messages_before']):,} the period before)."
        )
    elif terms:
        words = ", ".join(f"“{x['term']}”" for x in terms[:3])
        topic = f"Most frequent words in negative messages: {words} (no earlier messages to compare with)."
        rising = []
    if alerts:
        first = min(alerts, key=lambda a: str(a["window_start"]))
        more = f" ({len(alerts)} alerts in all)" if len(alerts) > 1 else ""
        return (
            f"Biggest risk: a {alert_name(first['kind'])} ({first['severity']}) from "
            f"{when(as_datetime(first['window_start']), tz)}{more}. {topic}"
        ).strip()
    if rising:
        return f"Biggest risk: a complaint topic is growing. {topic}"
    if now.complaints >= 5 and (now.answered_within_1h_share or 0) < SLOW_ANSWER_SHARE:
        return (
            f"Biggest risk: only {pct(now.answered_within_1h_share)} of {now.complaints:,} complaints were "
            f"answered within an hour."
        )
    lost = [x for x in r.get("Q14", []) if int(x["unfollows"]) >= 5]
    if lost:
        p = lost[0]
        return (
            f"Biggest risk: {int(p['unfollows']):,} people unfollowed after the "
            f"{platform_name(p['platform'])} "
            f"post {quote(p.get('text'))}."
        )
    calm = "No risk stands out: no alerts, no rising complaint topic, complaints answered in time."
    return f"{calm} {topic}" if topic else calm


def best_post_sentence(r: Results, tz: ZoneInfo) -> str:
    posts = list(r.get("Q4", []))
    if not posts:
        return "No brand post was published in this window."
    p = posts[0]
    s = (
        f"Best post: {quote(p.get('text'))} on {platform_name(p['platform'])} "
        f"({when(as_datetime(p['posted_at']), tz)}), {int(p['engagement']):,} interactions — "
        f"{int(p['likes']):,} likes, {int(p['comments']):,} comments, {int(p['shares']):,} shares, "
        f"{int(p['clicks']):,} clicks."
    )
    lost = {str(x["post_id"]): int(x["unfollows"]) for x in r.get("Q14", [])}
    if lost.get(str(p["post_id"]), 0) >= 5:
        s += f" But {lost[str(p['post_id'])]:,} people unfollowed after it."
    return s


def fans_sentence(r: Results, now: Headline) -> str | None:
    if not (now.follows or now.unfollows or now.brand_posts):
        return None
    q21 = list(r.get("Q21", []))
    posts = sum(int(x["brand_posts"]) for x in q21)
    promo = sum(int(x["promotional_posts"]) for x in q21)
    s = f"Followers: {now.net_followers:+,} net ({now.follows:,} new, {now.unfollows:,} unfollows)"
    if posts:
        s += f"; {promo} of {posts} brand posts read as promotional"
    return s + "."


def summary_sentences(
    name: str,
    span: timedelta,
    r: Results,
    previous: Results,
    tz: ZoneInfo,
    exclude: frozenset[str] = frozenset(),
) -> list[str]:
    """The few sentences a marketer reads before any chart."""
    now, before = headline(r), headline(previous)
    out = [change_sentence(name, span, now, before)]
    if now.empty:
        return out
    out.append(risk_sentence(r, now, tz, exclude))
    out.append(best_post_sentence(r, tz))
    if fans := fans_sentence(r, now):
        out.append(fans)
    return out


def by_local_period(
    rows: Sequence[Mapping[str, Any]],
    time_col: str,
    tz: ZoneInfo,
    bucket: Callable[[datetime], datetime],
    cols: Sequence[str],
) -> dict[datetime, dict[str, int]]:
    """Sum hourly rows into local periods (days, hours) given by ``bucket`` of the local time."""
    out: dict[datetime, dict[str, int]] = {}
    for row in rows:
        key = bucket(local(as_datetime(row[time_col]), tz))
        acc = out.setdefault(key, dict.fromkeys(cols, 0))
        for c in cols:
            acc[c] += int(row[c] or 0)
    return out
