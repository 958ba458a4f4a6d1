"""The report's charts: one PNG per concern, drawn from a ``ReportData`` (``None`` when it has no data).

Drawn with matplotlib's Agg canvas (no display, thread-safe figures, no pyplot state) in the Okabe–Ito
colour-blind-safe palette; the HTML page (``report``) embeds them.
"""

from __future__ import annotations

import base64
import io
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import date2num
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from services.analytics import insights
from services.analytics.insights import as_datetime, local, platform_name
from services.analytics.report_data import HOUR, ReportData

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
    return [w.since + i * HOUR for i in range(int(w.span / HOUR))]


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
    return (lambda t: t.replace(minute=0, second=0, microsecond=0)), HOUR, "hour"


def _cadence(data: ReportData) -> tuple[list[datetime], dict[datetime, dict[str, int]], str, timedelta]:
    bucket, step, unit = _cadence_bucket(data)
    cols = ("brand_posts", "promotional_posts", "follows", "unfollows", "unfollows_after_posts")
    sums = insights.by_local_period(data.results["Q20"], "hour", data.tz, bucket, cols)
    w = data.window
    # From the brand's first data on: before it there is no data, which is not "zero unfollows".
    start = max(w.since, w.data_since) if w.data_since is not None and w.data_since < w.until else w.since
    first, last = bucket(data.local(start)), bucket(data.local(w.until - HOUR))
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
