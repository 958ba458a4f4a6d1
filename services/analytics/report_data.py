"""What a report is made of: its window, and the rows of the documented queries over it.

Every number comes from a query documented in ``docs/analysts.md``, run through a ``Runner`` (in the
CLI :func:`services.common.query.run_query`, so the report works while the loader owns chDB). The
window ends at the end of the hour of the brand's latest event *in the data* (or at ``--until``), not at
the wall clock, so a report on a simulated or backfilled period shows that period; it spans whole hours
so the hourly rollups count exactly the events of the window. The headline queries run a second time
over the previous period of the same length.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from services.analytics import insights, queries
from services.analytics.insights import as_datetime, local, when
from services.common import brands

Runner = Callable[[str, dict[str, Any]], tuple[list[str], list[list[Any]]]]
Rows = list[dict[str, Any]]

# Queries the report runs (ids in docs/analysts.md) and the columns it reads from each.
USES = {
    "Q1": {"hour", "platform", "engagements"},
    "Q2": {"platform", "sentiment_label", "messages", "share"},
    "Q4": {"post_id", "platform", "posted_at", "likes", "comments", "shares", "clicks", "engagement", "text"},
    "Q6": {"post_id", "platform", "posted_at", "cascade_size", "cascade_depth", "unique_reach", "is_viral"},
    "Q7": {"post_id", "bucket", "shares"},
    "Q8": {"complaints", "answered_within_1h"},
    "Q9": {"le_seconds", "answered", "cumulative_share"},
    "Q10": {"platform", "answered", "median_seconds", "p90_seconds", "share_within_1h"},
    "Q11": {"campaign_id", "clicked", "leads", "customers"},
    "Q12": {"touches", "customers"},
    "Q14": {
        "post_id",
        "platform",
        "posted_at",
        "unfollows",
        "first_unfollow_after_minutes",
        "promotional",
        "text",
    },
    "Q15": {"kind", "severity", "window_start", "sample_event_id", "sample_text", "platform", "post_text"},
    "Q16": {"alert_id", "kind", "severity", "window_start", "window_end", "fired_at", "resolved_at"},
    "Q18": {"window_start", "complaints", "negative"},
    "Q20": {"hour", "brand_posts", "promotional_posts", "follows", "unfollows", "unfollows_after_posts"},
    "Q21": {
        "platform",
        "brand_posts",
        "promotional_posts",
        "unfollows_per_promotional_post",
        "unfollows_per_other_post",
    },
    "Q22": {"term", "language", "messages_now", "messages_before", "lift"},
}
# Queries also run over the previous period, for the tiles' deltas and the summary's comparison.
PREVIOUS = ("Q1", "Q2", "Q8", "Q10", "Q12", "Q20")
_SINCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
HOUR = timedelta(hours=1)


class ReportError(RuntimeError):
    """The report cannot be made (a brand without any data, a documented query changed shape, …)."""


def parse_since(text: str) -> timedelta:
    """``30m``, ``24h``, ``7d``, ``2w`` or plain seconds."""
    m = _SINCE.match(text)
    if not m or float(m.group(1)) <= 0:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30m, 24h, 7d)")
    return timedelta(seconds=float(m.group(1)) * _UNIT[m.group(2)])


def parse_until(text: str, tz: ZoneInfo) -> datetime:
    """``2026-11-02`` or ``2026-11-02 09:00`` in ``tz`` (or with an explicit offset) → naive UTC."""
    try:
        t = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a date or time: {text!r} (use e.g. 2026-11-02 or 2026-11-02T09:00)") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=tz)
    return t.astimezone(UTC).replace(tzinfo=None)


def _ceil_hour(t: datetime) -> datetime:
    floor = t.replace(minute=0, second=0, microsecond=0)
    return floor if floor == t else floor + HOUR


@dataclass(frozen=True)
class Window:
    since: datetime
    until: datetime
    chosen_end: bool = False  # --until given, rather than the latest event in the data
    data_since: datetime | None = None  # the brand's first event (to tell a partial previous period)
    data_until: datetime | None = None  # and its last

    @property
    def span(self) -> timedelta:
        return self.until - self.since

    def previous(self) -> Window:
        """The period of the same length just before this one."""
        return Window(
            self.since - self.span, self.since, data_since=self.data_since, data_until=self.data_until
        )

    @property
    def partly_before_data(self) -> bool:
        """The brand's data starts inside this window, so the window is only partly covered."""
        return self.data_since is not None and self.since < self.data_since < self.until

    def params(self, brand: str) -> dict[str, Any]:
        fmt = "%Y-%m-%d %H:%M:%S"
        return {"brand": brand, "since": self.since.strftime(fmt), "until": self.until.strftime(fmt)}


def report_window(run: Runner, brand: str, span: timedelta, until: datetime | None = None) -> Window:
    """Whole hours covering at least ``span``, ending with the hour of the brand's latest event, or at
    ``until`` (naive UTC, rounded up to the hour) for a past period. A brand without any event at all is
    an error (most likely a typo); a window without events is not."""
    _, rows = run(
        "SELECT count() AS n, max(occurred_at) AS latest, min(occurred_at) AS earliest FROM events "
        "WHERE brand_id = {brand:String}",
        {"brand": brand},
    )
    if not rows or not rows[0][0]:
        known = [str(r[0]) for r in run("SELECT DISTINCT brand_id FROM events ORDER BY brand_id", {})[1]]
        raise ReportError(
            f"no events for brand {brand!r}" + (f"; brands with events: {', '.join(known)}" if known else "")
        )
    end = (
        _ceil_hour(until)
        if until is not None
        else as_datetime(rows[0][1]).replace(minute=0, second=0, microsecond=0) + HOUR
    )
    since = (end - span).replace(minute=0, second=0, microsecond=0)
    return Window(since, end, until is not None, as_datetime(rows[0][2]), as_datetime(rows[0][1]))


@dataclass
class ReportData:
    brand: brands.Brand
    window: Window
    tz: ZoneInfo
    results: dict[str, Rows]
    previous: dict[str, Rows]

    @property
    def name(self) -> str:
        return self.brand.name

    def when(self, value: Any, fmt: str = "%b %d, %H:%M") -> str:
        return when(as_datetime(value), self.tz, fmt)

    def local(self, value: Any) -> datetime:
        return local(as_datetime(value), self.tz)

    @property
    def zone(self) -> str:
        return insights.zone_label(self.tz, self.window.until)

    @property
    def exclude(self) -> frozenset[str]:
        """The brand's own name: in most complaints, never a topic."""
        return insights.brand_terms(self.brand.brand_id, self.brand.name, self.brand.local_name)


def _run_all(
    run: Runner, brand: str, window: Window, documented: dict[str, queries.Query], ids: Sequence[str]
) -> dict[str, Rows]:
    results: dict[str, Rows] = {}
    for qid in ids:
        if qid not in documented:
            raise ReportError(f"docs/analysts.md has no {qid}, which the report uses")
        q = documented[qid]
        columns, rows = run(q.sql, q.bind(window.params(brand)))
        if missing := USES[qid] - set(columns):
            raise ReportError(f"{qid} ({q.title}) lacks column(s) {', '.join(sorted(missing))}")
        results[qid] = [dict(zip(columns, r, strict=True)) for r in rows]
    return results


def collect(
    run: Runner,
    brand: str,
    window: Window,
    documented: dict[str, queries.Query] | None = None,
    tz: ZoneInfo | None = None,
    brand_info: brands.Brand | None = None,
) -> ReportData:
    """Run the documented queries the report needs, for the window and the previous period."""
    documented = documented or queries.load()
    return ReportData(
        brand_info or brands.Brand(brand, brand),
        window,
        tz or ZoneInfo("UTC"),
        _run_all(run, brand, window, documented, list(USES)),
        _run_all(run, brand, window.previous(), documented, PREVIOUS),
    )
