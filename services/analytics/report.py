"""``engage report``: a brand's last day (or any window) as one self-contained HTML file and PNG charts.

Every number comes from a query documented in ``docs/analysts.md`` (run through a ``Runner``, which in
the CLI is :func:`services.common.query.run_query`, so the report works while the loader owns chDB),
and the documented-queries test checks those queries against ground truth: the report is only
formatting. The window ends at the end of the hour of the brand's latest event *in the data* (or at
``--until``), not at the wall clock, so a report on a simulated or backfilled period shows that period;
it spans whole hours so the hourly rollups count exactly the events of the window. The headline
queries run a second time over the previous period of the same length for the tiles' deltas and the
written summary (:mod:`services.analytics.insights`).

Any brand and window give a report: a section without data says "nothing in this window" in a
sentence instead of drawing an empty chart. Times are shown in the report's zone (``ENGAGE_TIMEZONE``,
else the brand's zone from the brands file, else UTC) and brands by their display names.

Charts are drawn with matplotlib's Agg canvas (no display, thread-safe figures, no pyplot state) in
the Okabe–Ito colour-blind-safe palette, written as PNG files and embedded in ``report.html`` as
base64 data URIs so the page can be mailed.
"""

from __future__ import annotations

import base64
import html
import io
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import date2num
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from services.analytics import insights, queries
from services.analytics.insights import as_datetime, local, platform_name, when
from services.common import brands

__all__ = ["ReportError", "as_datetime", "generate", "parse_since", "parse_until", "report_window"]

Runner = Callable[[str, dict[str, Any]], tuple[list[str], list[list[Any]]]]
Rows = list[dict[str, Any]]

# Okabe & Ito (2008), "Color Universal Design": distinguishable with every common colour-vision deficiency.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}
PLATFORM_COLOURS = {
    "facebook": OKABE_ITO["blue"],
    "instagram": OKABE_ITO["reddish_purple"],
    "x": OKABE_ITO["black"],
    "youtube": OKABE_ITO["orange"],
}
SENTIMENT_COLOURS = {
    "positive": OKABE_ITO["bluish_green"],
    "neutral": "#BBBBBB",
    "negative": OKABE_ITO["vermillion"],
}
STEP_COLOURS = {
    "clicked": OKABE_ITO["sky_blue"],
    "leads": OKABE_ITO["orange"],
    "customers": OKABE_ITO["bluish_green"],
}
ENGAGEMENT_COLOURS = {
    "likes": OKABE_ITO["blue"],
    "comments": OKABE_ITO["orange"],
    "shares": OKABE_ITO["bluish_green"],
    "clicks": OKABE_ITO["reddish_purple"],
}
SEVERITY_COLOURS = {"critical": OKABE_ITO["vermillion"], "warning": OKABE_ITO["orange"]}
COMPLAINT_FILL = "#F5C9A6"  # a light vermillion, under the negative-messages line
GREY = "#666666"

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
_HOUR = timedelta(hours=1)


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
    return floor if floor == t else floor + _HOUR


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
        else as_datetime(rows[0][1]).replace(minute=0, second=0, microsecond=0) + _HOUR
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
    titles: dict[str, str]

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
        {qid: documented[qid].title for qid in USES},
    )


# --- charts --------------------------------------------------------------------------------------


@dataclass
class Chart:
    name: str
    title: str
    png: bytes
    source: str  # documented query ids
    caption: str = ""

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode()


def _figure(title: str, width: float = 9.0, height: float = 4.2) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    fig.suptitle(title, x=0.01, ha="left", fontsize=13, fontweight="bold")
    return fig


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", facecolor="white")
    return buf.getvalue()


def _style(ax: Any) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color="#e5e5e5", linewidth=0.8)
    ax.set_axisbelow(True)


def _legend_above(
    ax: Any, handles: list[Any] | None = None, labels: list[str] | None = None, ncols: int = 3
) -> None:
    """The legend in a row above the plot, where it can never cover data or alert labels."""
    kw: dict[str, Any] = dict(
        frameon=False, loc="lower left", bbox_to_anchor=(0, 1.0), fontsize=8, ncols=ncols
    )
    if handles is not None and labels is not None:
        ax.legend(handles, labels, **kw)
    else:
        ax.legend(**kw)


def _x(times: Sequence[datetime]) -> list[float]:
    """Matplotlib date numbers (its typed API takes floats; the date axis formats them back)."""
    return [_x1(t) for t in times]


def _x1(t: datetime) -> float:
    return float(date2num(t))


def _time_axis(ax: Any, data: ReportData) -> None:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    ax.set_xlabel(f"time ({data.zone})")


def _hours(data: ReportData) -> list[datetime]:
    w = data.window
    return [w.since + i * _HOUR for i in range(int(w.span / _HOUR))]


def chart_engagement(data: ReportData) -> Chart | None:
    rows = data.results["Q1"]
    if not rows:
        return None
    fig = _figure("Audience interactions per hour, by platform")
    ax = fig.add_subplot()
    hours = _hours(data)
    series: dict[str, dict[datetime, int]] = defaultdict(dict)
    for r in rows:
        series[r["platform"]][as_datetime(r["hour"])] = int(r["engagements"])
    for platform in sorted(series):
        ax.plot(
            _x([local(h, data.tz) for h in hours]),
            [series[platform].get(h, 0) for h in hours],
            label=platform_name(platform),
            color=PLATFORM_COLOURS.get(platform, GREY),
            linewidth=2,
            marker="o",
            markersize=3,
        )
    _style(ax)
    _time_axis(ax, data)
    ax.set_ylabel("interactions per hour")
    ax.set_ylim(bottom=0)
    _legend_above(ax, ncols=len(series))
    return Chart(
        "engagement",
        "Engagement over time",
        _png(fig),
        "Q1",
        "Likes, comments, replies, shares, clicks, mentions and direct messages.",
    )


def chart_sentiment(data: ReportData) -> Chart | None:
    rows = data.results["Q2"]
    if not rows:
        return None
    fig = _figure("Sentiment of the audience's messages, by platform", height=3.6)
    ax = fig.add_subplot()
    shares: dict[str, dict[str, float]] = defaultdict(dict)
    totals: dict[str, int] = defaultdict(int)
    for r in rows:
        shares[r["platform"]][r["sentiment_label"]] = float(r["share"])
        totals[r["platform"]] += int(r["messages"])
    platforms = sorted(shares)
    labels = [f"{platform_name(p)} ({totals[p]:,})" for p in platforms]
    left = [0.0] * len(platforms)
    for label in ("positive", "neutral", "negative"):
        values = [shares[p].get(label, 0.0) * 100 for p in platforms]
        bars = ax.barh(labels, values, left=left, color=SENTIMENT_COLOURS[label], label=label)
        for bar, v in zip(bars, values, strict=True):
            if v >= 6:
                ax.text(
                    bar.get_x() + bar.get_width() / 2,
                    bar.get_y() + bar.get_height() / 2,
                    f"{v:.0f}%",
                    ha="center",
                    va="center",
                    color="black" if label == "neutral" else "white",
                    fontsize=9,
                )
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.set_xlim(0, 100)
    ax.set_xlabel(
        "% of the audience's messages (comments, replies, mentions, DMs); number of messages in brackets"
    )
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(frameon=False, ncols=3, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    return Chart("sentiment", "Sentiment mix", _png(fig), "Q2")


def _post_label(r: dict[str, Any], data: ReportData) -> str:
    posted = data.local(r["posted_at"]).strftime("%b %d %H:%M") if r.get("posted_at") else "?"
    return f"{platform_name(r['platform'])}, {posted}"


def chart_top_posts(data: ReportData) -> Chart | None:
    rows = data.results["Q4"]
    if not rows:
        return None
    fig = _figure("Top brand posts by engagement", height=4.6)
    ax = fig.add_subplot()
    labels = [f"{i}. {_post_label(r, data)}" for i, r in enumerate(rows, 1)][::-1]
    left = [0] * len(rows)
    for col, colour in ENGAGEMENT_COLOURS.items():
        values = [int(r[col]) for r in rows][::-1]
        ax.barh(labels, values, left=left, color=colour, label=col)
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.set_xlabel("interactions so far (likes + comments + shares at any depth + clicks)")
    ax.spines[["top", "right"]].set_visible(False)
    _legend_above(ax, ncols=4)
    return Chart(
        "top_posts",
        "Top posts",
        _png(fig),
        "Q4",
        f"Posts published in the window; times in {data.zone}. The numbers match the table below.",
    )


def chart_cascades(data: ReportData) -> Chart | None:
    rows, velocity = data.results["Q6"], data.results["Q7"]
    if not rows:
        return None
    fig = _figure("Share cascades: how far posts travelled", width=10.0, height=4.4)
    left, right = fig.subplots(1, 2, width_ratios=[1.15, 1])
    top = rows[:10][::-1]
    bars = left.barh(
        [_post_label(r, data) for r in top],
        [int(r["cascade_size"]) for r in top],
        color=[PLATFORM_COLOURS.get(r["platform"], GREY) for r in top],
    )
    for bar, r in zip(bars, top, strict=True):
        left.text(
            bar.get_width(),
            bar.get_y() + bar.get_height() / 2,
            f" {r['cascade_depth']} levels deep" + (" · viral" if r["is_viral"] else ""),
            va="center",
            fontsize=8,
            fontweight="bold" if r["is_viral"] else "normal",
        )
    left.set_xlabel("shares at any depth (shares of shares included)")
    left.spines[["top", "right"]].set_visible(False)
    left.set_xlim(0, max(int(r["cascade_size"]) for r in top) * 1.45)
    left.set_title("largest cascades", fontsize=10)
    posted = {str(r["post_id"]): as_datetime(r["posted_at"]) for r in rows if r.get("posted_at")}
    labels = {str(r["post_id"]): _post_label(r, data) for r in rows}
    per_post: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    for r in velocity:
        per_post[str(r["post_id"])].append((as_datetime(r["bucket"]), int(r["shares"])))
    palette = list(OKABE_ITO.values())
    if per_post:
        for i, (post_id, points) in enumerate(
            sorted(per_post.items(), key=lambda kv: -sum(n for _, n in kv[1]))
        ):
            points.sort()
            origin = posted.get(post_id, points[0][0])
            hours = [0.0] + [((t - origin).total_seconds() + 300) / 3600 for t, _ in points]
            total = [0]
            for _, n in points:
                total.append(total[-1] + n)
            right.step(
                hours,
                total,
                where="post",
                label=labels.get(post_id, post_id[-6:]),
                linewidth=1.8,
                color=palette[i % 8],
            )
        _style(right)
        right.set_xlabel("hours since the post")
        right.set_ylabel("shares so far")
        right.legend(frameon=False, fontsize=8)
        right.set_title("growth of the five largest", fontsize=10)
    else:
        right.set_axis_off()
    return Chart(
        "cascades",
        "Share cascades",
        _png(fig),
        "Q6, Q7",
        "Posts are labelled by platform and the time they were published.",
    )


def chart_funnel(data: ReportData) -> Chart | None:
    rows = [r for r in data.results["Q11"] if int(r["clicked"]) or int(r["leads"]) or int(r["customers"])]
    if not rows:
        return None
    fig = _figure("Campaign funnel: clicked → left a lead → bought", height=4.2)
    ax = fig.add_subplot()
    width = 0.27
    xs = range(len(rows))
    for i, step in enumerate(("clicked", "leads", "customers")):
        values = [int(r[step]) for r in rows]
        bars = ax.bar([x + (i - 1) * width for x in xs], values, width, label=step, color=STEP_COLOURS[step])
        ax.bar_label(bars, fontsize=8, padding=1)
    prefix = f"{data.brand.brand_id}-"
    ax.set_xticks(
        list(xs), [str(r["campaign_id"]).removeprefix(prefix) or "(none)" for r in rows], rotation=15
    )
    ax.set_ylabel("people")
    _style(ax)
    _legend_above(ax, ncols=3)
    return Chart(
        "funnel",
        "Funnel by campaign",
        _png(fig),
        "Q11",
        "People who clicked a campaign link, then left a lead, then bought.",
    )


def _bucket_label(seconds: int) -> str:
    if seconds >= 4_294_967_295:
        return "> 1 day"
    if seconds < 3600:
        return f"≤ {seconds // 60} min"
    if seconds < 86400:
        return f"≤ {seconds // 3600} h"
    return f"≤ {seconds // 86400} day"


def chart_response_times(data: ReportData) -> Chart | None:
    rows = data.results["Q9"]
    if not rows:
        return None
    fig = _figure("How long customers waited for the brand's first reply", height=3.8)
    ax = fig.add_subplot()
    labels = [_bucket_label(int(r["le_seconds"])) for r in rows]
    ax.bar(
        labels,
        [int(r["answered"]) for r in rows],
        color=OKABE_ITO["sky_blue"],
        label="replies in this time band",
    )
    ax.set_ylabel("brand replies")
    ax.set_xlabel("waiting time")
    _style(ax)
    twin = ax.twinx()
    twin.plot(
        labels,
        [float(r["cumulative_share"]) * 100 for r in rows],
        color=OKABE_ITO["vermillion"],
        marker="o",
        linewidth=2,
        label="% answered within this time",
    )
    twin.set_ylim(0, 105)
    twin.set_ylabel("% answered within", color=OKABE_ITO["vermillion"])
    twin.spines[["top"]].set_visible(False)
    (h1, l1), (h2, l2) = ax.get_legend_handles_labels(), twin.get_legend_handles_labels()
    _legend_above(ax, h1 + h2, l1 + l2, ncols=2)
    return Chart("response_times", "Response times", _png(fig), "Q9")


def _label_levels(xs: Sequence[float], width: float) -> list[int]:
    """A text row for each label (sorted by x) so no two labels on one row overlap."""
    ends: list[float] = []
    levels = []
    for x in xs:
        for level, end in enumerate(ends):
            if x > end:
                ends[level] = x + width
                levels.append(level)
                break
        else:
            ends.append(x + width)
            levels.append(len(ends) - 1)
    return levels


def chart_alerts(data: ReportData) -> Chart | None:
    volume, alerts = data.results["Q18"], data.results["Q16"]
    if not volume and not alerts:
        return None
    fig = _figure(
        "Complaints and negative messages" + (", with the alerts they raised" if alerts else ""), height=4.4
    )
    ax = fig.add_subplot()
    w = data.window
    by_start = {as_datetime(r["window_start"]): r for r in volume}
    steps = int(w.span / timedelta(minutes=10))
    times = [w.since + timedelta(minutes=10 * i) for i in range(steps + 1)]
    complaints = [int(by_start[t]["complaints"]) if t in by_start else 0 for t in times]
    negative = [int(by_start[t]["negative"]) if t in by_start else 0 for t in times]
    xs = _x([local(t, data.tz) for t in times])
    ax.fill_between(xs, complaints, step="post", color=COMPLAINT_FILL, label="complaints per 10 min")
    ax.step(
        xs,
        negative,
        where="post",
        color=OKABE_ITO["vermillion"],
        linewidth=1.2,
        label="negative messages per 10 min",
    )
    top = max([*complaints, *negative, 1])
    ordered = sorted(alerts, key=lambda a: str(a["window_start"]))
    x0, x1 = _x1(local(w.since, data.tz)), _x1(local(w.until, data.tz))
    label_width = (x1 - x0) * 0.2  # a label is about a fifth of the axis wide
    starts = [_x1(data.local(a["window_start"])) for a in ordered]
    levels = _label_levels(starts, label_width)
    for a, start_x, level in zip(ordered, starts, levels, strict=True):
        start = as_datetime(a["window_start"])
        end = max(
            as_datetime(a["resolved_at"]) if a.get("resolved_at") else as_datetime(a["window_end"]),
            start + timedelta(minutes=5),
        )
        colour = SEVERITY_COLOURS.get(str(a["severity"]), OKABE_ITO["blue"])
        ax.axvspan(start_x, _x1(local(end, data.tz)), color=colour, alpha=0.2)
        ax.axvline(start_x, color=colour, linewidth=1.5)
        right_edge = start_x + label_width > x1
        ax.text(
            start_x,
            top * (1.04 + 0.11 * level),
            f"{insights.alert_name(a['kind'])} ({a['severity']}) "
            if right_edge
            else f" {insights.alert_name(a['kind'])} ({a['severity']})",
            color=colour,
            fontsize=8,
            fontweight="bold",
            va="bottom",
            ha="right" if right_edge else "left",
        )
    ax.set_xlim(x0, x1)
    ax.set_ylim(0, top * (1.2 + 0.11 * (max(levels) if levels else 0)))
    ax.set_ylabel("messages per 10 minutes")
    _style(ax)
    _time_axis(ax, data)
    _legend_above(ax, ncols=2)
    caption = (
        f"{len(alerts)} alert(s) in the window, drawn where their evaluation window lies in event time and "
        "shaded until they resolved."
        if alerts
        else "Complaints and negative messages per 10 minutes; no alert fired."
    )
    return Chart("alerts", "Alerts timeline", _png(fig), "Q16, Q18", caption)


def _cadence_bucket(data: ReportData) -> tuple[Callable[[datetime], datetime], timedelta, str]:
    """Local days for windows of three days or more, else local hours."""
    if data.window.span >= timedelta(days=3):
        return (lambda t: t.replace(hour=0, minute=0, second=0, microsecond=0)), timedelta(days=1), "day"
    return (lambda t: t.replace(minute=0, second=0, microsecond=0)), _HOUR, "hour"


def _cadence(data: ReportData) -> tuple[list[datetime], dict[datetime, dict[str, int]], str, timedelta]:
    bucket, step, unit = _cadence_bucket(data)
    cols = ("brand_posts", "promotional_posts", "follows", "unfollows", "unfollows_after_posts")
    sums = insights.by_local_period(data.results["Q20"], "hour", data.tz, bucket, cols)
    w = data.window
    # From the brand's first data on: before it there is no data, which is not "zero unfollows".
    start = max(w.since, w.data_since) if w.data_since is not None and w.data_since < w.until else w.since
    first, last = bucket(data.local(start)), bucket(data.local(w.until - _HOUR))
    periods = []
    t = first
    while t <= last:
        periods.append(t)
        t += step
    return periods, sums, unit, step


def chart_cadence(data: ReportData) -> Chart | None:
    rows = data.results["Q20"]
    if not any(int(r["brand_posts"]) or int(r["unfollows"]) for r in rows):
        return None
    periods, sums, unit, step = _cadence(data)
    fig = _figure(f"Brand posts and unfollows per {unit}", height=4.0)
    ax = fig.add_subplot()
    xs = _x(periods)
    width = (_x1(periods[0] + step) - _x1(periods[0])) * 0.8 if periods else 0.03
    promo = [sums.get(p, {}).get("promotional_posts", 0) for p in periods]
    other = [sums.get(p, {}).get("brand_posts", 0) - n for p, n in zip(periods, promo, strict=True)]
    offset = width / 2 / 0.8
    centres = [x + offset for x in xs]
    ax.bar(centres, other, width, color=OKABE_ITO["blue"], label="brand posts")
    ax.bar(centres, promo, width, bottom=other, color=OKABE_ITO["orange"], label="promotional brand posts")
    ax.set_ylabel(f"brand posts per {unit}")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    _style(ax)
    twin = ax.twinx()
    twin.plot(
        centres,
        [sums.get(p, {}).get("unfollows", 0) for p in periods],
        color=OKABE_ITO["vermillion"],
        marker="o",
        markersize=3,
        linewidth=2,
        label=f"unfollows per {unit}",
    )
    ax.set_xlim(_x1(data.local(data.window.since)), _x1(data.local(data.window.until)))
    twin.set_ylabel(f"unfollows per {unit}", color=OKABE_ITO["vermillion"])
    twin.set_ylim(bottom=0)
    twin.spines[["top"]].set_visible(False)
    _time_axis(ax, data)
    (h1, l1), (h2, l2) = ax.get_legend_handles_labels(), twin.get_legend_handles_labels()
    _legend_above(ax, h1 + h2, l1 + l2, ncols=3)
    return Chart(
        "cadence", "Posting cadence and unfollows", _png(fig), "Q20", f"Days and hours in {data.zone}."
    )


def chart_followers(data: ReportData) -> Chart | None:
    rows = data.results["Q20"]
    if not any(int(r["follows"]) or int(r["unfollows"]) for r in rows):
        return None
    periods, sums, unit, step = _cadence(data)
    fig = _figure("Follower growth", height=5.0)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[1, 1.3])
    cell = _x1(periods[0] + step) - _x1(periods[0])
    xs = [x + cell / 2 for x in _x(periods)]
    follows = [sums.get(p, {}).get("follows", 0) for p in periods]
    unfollows = [sums.get(p, {}).get("unfollows", 0) for p in periods]
    net, total = [0], 0
    for f, u in zip(follows, unfollows, strict=True):
        total += f - u
        net.append(total)
    edges = [*_x(periods), _x1(periods[-1] + step)]
    top.plot(edges, net, color=OKABE_ITO["black"], linewidth=2, drawstyle="default")
    top.axhline(0, color="#999999", linewidth=0.8)
    top.set_ylabel("net followers\nsince the start")
    _style(top)
    bottom.bar(xs, follows, cell * 0.8, color=OKABE_ITO["bluish_green"], label=f"new followers per {unit}")
    bottom.bar(
        xs, [-u for u in unfollows], cell * 0.8, color=OKABE_ITO["vermillion"], label=f"unfollows per {unit}"
    )
    bottom.axhline(0, color="#999999", linewidth=0.8)
    bottom.set_ylabel(f"people per {unit}")
    bottom.set_xlim(_x1(data.local(data.window.since)), _x1(data.local(data.window.until)))
    bottom.yaxis.set_major_formatter(lambda v, _pos: f"{abs(v):.0f}")
    _style(bottom)
    _time_axis(bottom, data)
    _legend_above(bottom, ncols=2)
    return Chart(
        "followers",
        "Follower growth",
        _png(fig),
        "Q20",
        "Top: followers gained minus followers lost since the start of the window. Bottom: new followers "
        "above the line, unfollows below it.",
    )


# --- sections and HTML ---------------------------------------------------------------------------

CHART_NAMES = (
    "alerts",
    "sentiment",
    "engagement",
    "top_posts",
    "cascades",
    "cadence",
    "followers",
    "response_times",
    "funnel",
)


@dataclass
class Section:
    name: str
    title: str
    intro: str = ""
    chart: Chart | None = None
    tables: list[str] = field(default_factory=list)
    empty: str | None = None  # the "nothing in this window" sentence, when there is nothing to show


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], numeric: Sequence[int] = ()) -> str:
    head = "".join(
        f"<th{' class=num' if i in numeric else ''}>{html.escape(h)}</th>" for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{' class=num' if i in numeric else ''}>{html.escape('' if v is None else str(v))}</td>"
            for i, v in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<div class='scroll'><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"


def _nothing(data: ReportData, what: str) -> str:
    return f"Nothing in this window: {what}."


def section_alerts(data: ReportData) -> Section:
    s = Section("alerts", "Alerts and complaints", chart=chart_alerts(data))
    q15 = data.results["Q15"]
    if not data.results["Q16"]:
        s.intro = "No alert fired in this window."
    else:
        s.intro = (
            "Each alert with the messages the detector picked as examples, and the post they were about."
        )
    if q15:
        s.tables.append(
            _table(
                ["from", "alert", "severity", "example message", "platform", "about the post"],
                [
                    (
                        data.when(r["window_start"], "%b %d %H:%M"),
                        insights.alert_name(r["kind"]),
                        r["severity"],
                        r["sample_text"] or "(text no longer kept)"
                        if r["sample_event_id"]
                        else "(no example)",
                        platform_name(r["platform"]) if r["platform"] else "",
                        r["post_text"] or "",
                    )
                    for r in q15
                ],
            )
        )
    return _or_nothing(s, data, "no alerts, complaints or negative messages")


def section_topics(data: ReportData) -> Section:
    rows = insights.topic_terms(data.results, data.exclude)
    period = insights.span_words(data.window.span)
    comparable = insights.comparable_topics(rows)
    if comparable:
        rows = [r for r in rows if float(r["lift"]) >= insights.RISING_SHOWN_LIFT]
    if rows and not comparable:
        s = Section(
            "topics",
            "Topics in negative messages",
            intro=f"The {period} before this window hold no negative messages to compare with, so these are "
            "the words found in the most negative or complaint messages (Korean and English), "
            "not the fastest rising ones.",
        )
    else:
        s = Section(
            "topics",
            "Rising topics in negative messages",
            intro=f"Words found in more negative or complaint messages than the previous {period} predict "
            "(Korean and English). “× expected” takes the overall change in message volume out, so a word "
            "rises only when people talk about it more than about everything else.",
        )
    if not rows:
        s.empty = _nothing(
            data,
            f"no word in negative messages rose against the previous {period}"
            if comparable
            else "no word appears in 3 or more negative or complaint messages",
        )
        return s
    s.tables.append(
        _table(
            ["word", "language", "messages now", f"previous {period}", "× expected"],
            [
                (
                    r["term"],
                    {"ko": "Korean", "en": "English"}.get(str(r["language"]), str(r["language"])),
                    f"{int(r['messages_now']):,}",
                    f"{int(r['messages_before']):,}",
                    f"{float(r['lift']):.1f}",
                )
                for r in rows
            ],
            numeric=(2, 3, 4),
        )
    )
    return s


def _or_nothing(s: Section, data: ReportData, reason: str) -> Section:
    """A section whose chart had no data says why in one line instead."""
    if s.chart is None:
        s.empty = _nothing(data, reason)
    return s


def section_sentiment(data: ReportData) -> Section:
    s = Section("sentiment", "Sentiment mix", chart=chart_sentiment(data))
    return _or_nothing(s, data, "no comments, replies, mentions or direct messages from the audience")


def section_engagement(data: ReportData) -> Section:
    s = Section("engagement", "Engagement over time", chart=chart_engagement(data))
    return _or_nothing(s, data, "no audience interactions")


def section_top_posts(data: ReportData) -> Section:
    s = Section("top_posts", "Top posts", chart=chart_top_posts(data))
    rows = data.results["Q4"]
    if not rows:
        s.empty = _nothing(data, "the brand published no posts")
        return s
    s.tables.append(
        _table(
            ["#", "posted", "platform", "interactions", "likes", "comments", "shares", "clicks", "text"],
            [
                (
                    i,
                    data.when(r["posted_at"], "%b %d %H:%M"),
                    platform_name(r["platform"]),
                    f"{int(r['engagement']):,}",
                    f"{int(r['likes']):,}",
                    f"{int(r['comments']):,}",
                    f"{int(r['shares']):,}",
                    f"{int(r['clicks']):,}",
                    r["text"],
                )
                for i, r in enumerate(rows, 1)
            ],
            numeric=(3, 4, 5, 6, 7),
        )
    )
    return s


def section_cascades(data: ReportData) -> Section:
    s = Section("cascades", "Share cascades", chart=chart_cascades(data))
    return _or_nothing(s, data, "no post published in it was shared")


def section_fan_loss(data: ReportData) -> Section:
    s = Section(
        "fan_loss",
        "Fan loss and posting cadence",
        intro="Fans leave for three reasons: the brand posts too often, pushes products too hard, or posts "
        "something offensive. Each unfollow is counted against the brand's latest post on that platform.",
        chart=chart_cadence(data),
    )
    q21 = data.results["Q21"]
    posts = sum(int(r["brand_posts"]) for r in q21)
    promo = sum(int(r["promotional_posts"]) for r in q21)
    if posts:
        per_promo = [float(r["unfollows_per_promotional_post"]) * int(r["promotional_posts"]) for r in q21]
        per_other = [
            float(r["unfollows_per_other_post"]) * (int(r["brand_posts"]) - int(r["promotional_posts"]))
            for r in q21
        ]
        text = (
            f"{promo} of {posts} brand posts ({100 * promo / posts:.0f}%) read as promotional "
            "(sale, launch, giveaway)."
        )
        if promo and posts - promo:
            text += (
                f" Promotional posts were followed by {sum(per_promo) / promo:.1f} unfollows each, "
                f"other posts by {sum(per_other) / (posts - promo):.1f}."
            )
        s.intro += " " + text
    rows = data.results["Q14"]
    if rows:
        s.tables.append(
            _table(
                [
                    "posted",
                    "platform",
                    "unfollows after it",
                    "first one after",
                    "promotional",
                    "negative comments",
                    "text",
                ],
                [
                    (
                        data.when(r["posted_at"], "%b %d %H:%M") if r.get("posted_at") else "",
                        platform_name(r["platform"]),
                        f"{int(r['unfollows']):,}",
                        insights.duration(float(r["first_unfollow_after_minutes"]) * 60),
                        "yes" if r["promotional"] else "",
                        r.get("negative_comments", ""),
                        r["text"] or "",
                    )
                    for r in rows
                ],
                numeric=(2, 3, 5),
            )
        )
    if s.chart is None and not rows:
        s.empty = _nothing(data, "no brand posts and no unfollows")
    return s


def section_followers(data: ReportData) -> Section:
    now = insights.headline(data.results)
    s = Section("followers", "Follower growth", chart=chart_followers(data))
    if s.chart is None:
        s.empty = _nothing(data, "nobody followed or unfollowed the brand")
    else:
        s.intro = (
            f"{now.follows:,} people followed the brand and {now.unfollows:,} unfollowed: "
            f"{now.net_followers:+,} net."
        )
    return s


def section_responses(data: ReportData) -> Section:
    s = Section("response_times", "Response times", chart=chart_response_times(data))
    rows = data.results["Q10"]
    if rows:
        s.intro = "How fast the brand answered customers' comments and direct messages."
        s.tables.append(
            _table(
                ["platform", "replies", "median wait", "9 in 10 answered within", "answered within 1 h"],
                [
                    (
                        platform_name(r["platform"]) if r["platform"] else "all platforms",
                        f"{int(r['answered']):,}",
                        insights.duration(float(r["median_seconds"])),
                        insights.duration(float(r["p90_seconds"])),
                        insights.pct(float(r["share_within_1h"])),
                    )
                    for r in rows
                ],
                numeric=(1, 2, 3, 4),
            )
        )
    return _or_nothing(s, data, "the brand replied to nobody")


def section_funnel(data: ReportData) -> Section:
    s = Section("funnel", "Campaign funnel", chart=chart_funnel(data))
    now = insights.headline(data.results)
    if now.customers:
        s.intro = (
            f"{now.customers:,} new customers; they interacted with the brand {now.mean_touches:.1f} times "
            "on average before their first purchase."
        )
    return _or_nothing(s, data, "no campaign clicks, leads or purchases")


SECTIONS: Sequence[Callable[[ReportData], Section]] = (
    section_alerts,
    section_topics,
    section_sentiment,
    section_engagement,
    section_top_posts,
    section_cascades,
    section_fan_loss,
    section_followers,
    section_responses,
    section_funnel,
)

_CSS = """
body{font-family:'Noto Sans','Noto Sans CJK KR','Apple SD Gothic Neo','Malgun Gothic',-apple-system,
'Segoe UI',Roboto,'Noto Color Emoji','Apple Color Emoji','Segoe UI Emoji',sans-serif;
margin:24px auto;max-width:1040px;color:#1f2328;padding:0 16px;line-height:1.45}
h1{margin-bottom:4px}.sub{color:#57606a;margin-top:0}
.summary{background:#f6f8fa;border-left:4px solid #0072B2;padding:10px 16px;margin:16px 0;font-size:15px}
.summary p{margin:6px 0}
.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(175px,1fr));gap:12px;margin:20px 0}
.kpi{border:1px solid #d0d7de;border-radius:8px;padding:10px 12px}.kpi b{display:block;font-size:22px}
.kpi span{color:#57606a;font-size:12px;display:block}
.kpi i{font-style:normal;font-size:12px;display:block;margin-top:4px}
.good{color:#007a55}.bad{color:#b34700}.flat,.none{color:#57606a}
section{margin:30px 0}img{max-width:100%;border:1px solid #eaeef2;border-radius:6px}
figure{margin:8px 0}figcaption,.src{color:#57606a;font-size:12px}
.empty{color:#57606a;font-style:italic;border:1px dashed #d0d7de;border-radius:6px;padding:10px 12px}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:13px;margin-top:8px}
td,th{border-bottom:1px solid #eaeef2;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f6f8fa}.num{text-align:right;white-space:nowrap}
"""


def render_html(data: ReportData, sections: Sequence[Section], generated_at: datetime | None = None) -> str:
    w, prev = data.window, data.window.previous()
    generated = generated_at or datetime.now(UTC).replace(tzinfo=None)
    fmt = "%Y-%m-%d %H:%M"
    zone = data.zone
    tiles = insights.tiles(insights.headline(data.results), insights.headline(data.previous))
    sentences = insights.summary_sentences(
        data.name, w.span, data.results, data.previous, data.tz, data.exclude
    )
    if prev.partly_before_data and w.data_since is not None:
        sentences.insert(
            1,
            f"The data starts at {when(w.data_since, data.tz)}, inside the previous "
            f"{insights.span_words(w.span)}: comparisons are with a partial period.",
        )
    if insights.headline(data.results).empty and w.data_since is not None and w.data_until is not None:
        sentences.append(
            f"{data.name}'s data runs from {when(w.data_since, data.tz)} to {when(w.data_until, data.tz)}; "
            "choose a window inside it with --since and --until."
        )
    kpis = "".join(
        f"<div class='kpi'><b>{html.escape(t.value)}</b><span>{html.escape(t.label)}</span>"
        f"<i class='{t.delta.tone}'>{html.escape(t.delta.text)}</i></div>"
        for t in tiles
    )
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>engage report: {html.escape(data.name)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(data.brand.label)}</h1>",
        f"<p class='sub'>{local(w.since, data.tz):{fmt}} – {local(w.until, data.tz):{fmt}} {zone} "
        f"({html.escape(str(data.tz))}; {insights.span_words(w.span)} "
        f"{'ending at the chosen time' if w.chosen_end else 'ending with the latest hour in the data'}) · "
        f"compared with {local(prev.since, data.tz):{fmt}} – {local(prev.until, data.tz):{fmt}} · "
        f"generated {local(generated, data.tz):{fmt}} {zone}</p>",
        "<div class='summary'>" + "".join(f"<p>{html.escape(t)}</p>" for t in sentences) + "</div>",
        f"<div class='kpis'>{kpis}</div>",
    ]
    for s in sections:
        parts.append(f"<section id='{s.name}'><h2>{html.escape(s.title)}</h2>")
        if s.intro and not (s.empty and s.chart is None and not s.tables):
            parts.append(f"<p>{html.escape(s.intro)}</p>")
        if s.chart is not None:
            c = s.chart
            parts.append(
                f"<figure><img src='{c.data_uri}' alt='{html.escape(c.title)}' width='900'>"
                f"<figcaption>{html.escape(c.caption)} <span class='src'>Source: {c.source} in "
                f"docs/analysts.md; also {c.name}.png</span></figcaption></figure>"
            )
        parts.extend(s.tables)
        if s.empty:
            parts.append(f"<p class='empty'>{html.escape(s.empty)}</p>")
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


@dataclass
class Report:
    html_path: Path
    pngs: list[Path] = field(default_factory=list)
    data: ReportData | None = None
    sections: list[Section] = field(default_factory=list)


def generate(
    run: Runner,
    brand: str,
    span: timedelta,
    out_dir: Path,
    until: datetime | None = None,
    timezone: str | None = None,
    brands_file: str | None = None,
) -> Report:
    """Query, draw and write ``out_dir/report.html`` plus one PNG per chart that has data.

    ``until`` is naive UTC; ``timezone`` overrides the brand's zone (``ENGAGE_TIMEZONE``).
    """
    info = brands.brand(brand, brands_file)
    tz = brands.display_zone(brand, timezone, brands_file)
    window = report_window(run, brand, span, until)
    data = collect(run, brand, window, tz=tz, brand_info=info)
    sections = [make(data) for make in SECTIONS]
    out_dir.mkdir(parents=True, exist_ok=True)
    report = Report(out_dir / "report.html", data=data, sections=sections)
    drawn = {s.chart.name: s.chart for s in sections if s.chart is not None}
    for name in CHART_NAMES:
        path = out_dir / f"{name}.png"
        if name in drawn:
            path.write_bytes(drawn[name].png)
            report.pngs.append(path)
        else:
            path.unlink(missing_ok=True)  # not a chart from an earlier report into the same directory
    report.html_path.write_text(render_html(data, sections), encoding="utf-8")
    return report
