"""``engage report``: a brand's last day (or any window) as PNG charts and one self-contained HTML file.

Every number comes from a query documented in ``docs/analysts.md`` (run through a ``Runner``, which in
the CLI is :func:`services.common.query.run_query`, so the report works while the loader owns chDB),
and the documented-queries test checks those queries against ground truth: the report is only
formatting. The window ends at the end of the hour of the brand's latest event *in the data*, not at
the wall clock, so a report on a simulated or backfilled day shows that day; it spans whole hours so
the hourly rollups count exactly the events of the window.

Charts are drawn with matplotlib's Agg canvas (no display, thread-safe figures, no pyplot state),
written as PNG files and embedded in ``report.html`` as base64 data URIs so the page can be mailed.
"""

from __future__ import annotations

import base64
import html
import io
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import date2num
from matplotlib.figure import Figure

from services.analytics import queries

Runner = Callable[[str, dict[str, Any]], tuple[list[str], list[list[Any]]]]
Rows = list[dict[str, Any]]

PLATFORM_COLOURS = {"facebook": "#1877f2", "instagram": "#e1306c", "x": "#14171a", "youtube": "#ff0000"}
SENTIMENT_COLOURS = {"positive": "#2e9e4f", "neutral": "#a3a3a3", "negative": "#d64541"}
STEP_COLOURS = {"clicked": "#4c78a8", "leads": "#f58518", "customers": "#54a24b"}
# Queries the report runs (ids in docs/analysts.md) and the columns it reads from each.
USES = {
    "Q1": {"hour", "platform", "engagements"},
    "Q2": {"platform", "sentiment_label", "messages", "share"},
    "Q4": {"post_id", "platform", "posted_at", "likes", "comments", "shares", "clicks", "engagement", "text"},
    "Q6": {"post_id", "platform", "cascade_size", "cascade_depth", "unique_reach", "is_viral"},
    "Q7": {"post_id", "bucket", "shares"},
    "Q8": {"complaints", "answered_within_1h"},
    "Q9": {"le_seconds", "answered", "cumulative_share"},
    "Q10": {"platform", "answered", "median_seconds"},
    "Q11": {"campaign_id", "clicked", "leads", "customers"},
    "Q12": {"touches", "customers"},
    "Q15": {
        "kind",
        "severity",
        "fired_at",
        "sample_event_id",
        "sample_text",
        "platform",
        "post_id",
        "post_text",
    },
    "Q16": {"alert_id", "kind", "severity", "window_start", "window_end", "fired_at", "resolved_at"},
    "Q17": {"open_items", "unanswered_complaints", "mean_response_seconds"},
    "Q18": {"window_start", "complaints", "negative"},
}
_SINCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class ReportError(RuntimeError):
    """The report cannot be made (no data for the brand, a documented query changed shape, …)."""


def parse_since(text: str) -> timedelta:
    """``30m``, ``24h``, ``7d``, ``2w`` or plain seconds."""
    m = _SINCE.match(text)
    if not m or float(m.group(1)) <= 0:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30m, 24h, 7d)")
    return timedelta(seconds=float(m.group(1)) * _UNIT[m.group(2)])


def as_datetime(value: Any) -> datetime:
    """Naive UTC datetime from a driver value or from the owner's JSON (ISO strings)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    elif isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if not isinstance(value, datetime):
        raise TypeError(f"not a timestamp: {value!r}")
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


@dataclass(frozen=True)
class Window:
    since: datetime
    until: datetime

    def params(self, brand: str) -> dict[str, Any]:
        fmt = "%Y-%m-%d %H:%M:%S"
        return {"brand": brand, "since": self.since.strftime(fmt), "until": self.until.strftime(fmt)}


def report_window(run: Runner, brand: str, span: timedelta) -> Window:
    """Whole hours ending with the hour of the brand's latest event, covering at least ``span``."""
    _, rows = run(
        "SELECT count() AS n, max(occurred_at) AS latest FROM events WHERE brand_id = {brand:String}",
        {"brand": brand},
    )
    if not rows or not rows[0][0]:
        raise ReportError(f"no events for brand {brand!r}")
    latest = as_datetime(rows[0][1])
    until = latest.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    since = until - span
    return Window(since.replace(minute=0, second=0, microsecond=0), until)


@dataclass
class ReportData:
    brand: str
    window: Window
    results: dict[str, Rows]
    titles: dict[str, str]


def collect(
    run: Runner, brand: str, window: Window, documented: dict[str, queries.Query] | None = None
) -> ReportData:
    """Run the documented queries the report needs; refuse if one no longer has the columns used."""
    documented = documented or queries.load()
    results: dict[str, Rows] = {}
    for qid, needed in USES.items():
        if qid not in documented:
            raise ReportError(f"docs/analysts.md has no {qid}, which the report uses")
        q = documented[qid]
        columns, rows = run(q.sql, q.bind(window.params(brand)))
        if missing := needed - set(columns):
            raise ReportError(f"{qid} ({q.title}) lacks column(s) {', '.join(sorted(missing))}")
        results[qid] = [dict(zip(columns, r, strict=True)) for r in rows]
    return ReportData(brand, window, results, {qid: documented[qid].title for qid in USES})


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


def _figure(width: float = 9.0, height: float = 4.2) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", facecolor="white")
    return buf.getvalue()


def _empty(ax: Any, message: str = "no data in this window") -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=12, color="#666666", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _style(ax: Any) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color="#e5e5e5", linewidth=0.8)
    ax.set_axisbelow(True)


def _x(times: Sequence[datetime]) -> list[float]:
    """Matplotlib date numbers (its typed API takes floats; the date axis formats them back)."""
    return [_x1(t) for t in times]


def _x1(t: datetime) -> float:
    return float(date2num(t))


def _hour_axis(ax: Any) -> None:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))


def chart_engagement(data: ReportData) -> Chart:
    rows = data.results["Q1"]
    fig = _figure()
    ax = fig.add_subplot()
    hours = [
        data.window.since + timedelta(hours=i)
        for i in range(int((data.window.until - data.window.since) / timedelta(hours=1)))
    ]
    series: dict[str, dict[datetime, int]] = defaultdict(dict)
    for r in rows:
        series[r["platform"]][as_datetime(r["hour"])] = int(r["engagements"])
    if not series:
        _empty(ax)
    for platform in sorted(series):
        values = [series[platform].get(h, 0) for h in hours]
        ax.plot(
            _x(hours),
            values,
            label=platform,
            color=PLATFORM_COLOURS.get(platform),
            linewidth=2,
            marker="o",
            markersize=3,
        )
    if series:
        _style(ax)
        _hour_axis(ax)
        ax.set_ylabel("audience interactions per hour")
        ax.legend(frameon=False, ncols=len(series))
    return Chart("engagement", "Engagement over time by platform", _png(fig), "Q1")


def chart_sentiment(data: ReportData) -> Chart:
    rows = data.results["Q2"]
    fig = _figure(height=3.4)
    ax = fig.add_subplot()
    shares: dict[str, dict[str, float]] = defaultdict(dict)
    totals: dict[str, int] = defaultdict(int)
    for r in rows:
        shares[r["platform"]][r["sentiment_label"]] = float(r["share"])
        totals[r["platform"]] += int(r["messages"])
    platforms = sorted(shares)
    if not platforms:
        _empty(ax)
    left = [0.0] * len(platforms)
    for label in ("positive", "neutral", "negative"):
        values = [shares[p].get(label, 0.0) * 100 for p in platforms]
        bars = ax.barh(platforms, values, left=left, color=SENTIMENT_COLOURS[label], label=label)
        for bar, v in zip(bars, values, strict=True):
            if v >= 6:
                ax.text(
                    bar.get_x() + bar.get_width() / 2,
                    bar.get_y() + bar.get_height() / 2,
                    f"{v:.0f}%",
                    ha="center",
                    va="center",
                    color="white",
                    fontsize=9,
                )
        left = [a + b for a, b in zip(left, values, strict=True)]
    if platforms:
        ax.set_yticks(range(len(platforms)), [f"{p} ({totals[p]})" for p in platforms])
        ax.set_xlim(0, 100)
        ax.set_xlabel("% of the audience's messages (comments, replies, mentions, DMs)")
        ax.spines[["top", "right"]].set_visible(False)
        ax.legend(frameon=False, ncols=3, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    return Chart("sentiment", "Sentiment mix", _png(fig), "Q2")


def _post_label(r: dict[str, Any]) -> str:
    posted = as_datetime(r["posted_at"]).strftime("%m-%d %H:%M") if r.get("posted_at") else "?"
    return f"{r['platform']} {posted} …{str(r['post_id'])[-6:]}"


def chart_top_posts(data: ReportData) -> Chart:
    rows = data.results["Q4"]
    fig = _figure(height=4.6)
    ax = fig.add_subplot()
    if not rows:
        _empty(ax)
    else:
        labels = [_post_label(r) for r in rows][::-1]
        left = [0] * len(rows)
        for col, colour in (
            ("likes", "#4c78a8"),
            ("comments", "#f58518"),
            ("shares", "#54a24b"),
            ("clicks", "#b279a2"),
        ):
            values = [int(r[col]) for r in rows][::-1]
            ax.barh(labels, values, left=left, color=colour, label=col)
            left = [a + b for a, b in zip(left, values, strict=True)]
        ax.set_xlabel("engagement so far (likes + comments + shares + clicks)")
        ax.spines[["top", "right"]].set_visible(False)
        ax.legend(frameon=False, ncols=4, loc="lower right")
    return Chart("top_posts", "Top posts by engagement", _png(fig), "Q4", "Posts published in the window.")


def chart_cascades(data: ReportData) -> Chart:
    rows, velocity = data.results["Q6"], data.results["Q7"]
    fig = _figure(width=10.0, height=4.4)
    left, right = fig.subplots(1, 2, width_ratios=[1.15, 1])
    if not rows:
        _empty(left)
    else:
        top = rows[:12][::-1]
        bars = left.barh(
            [_post_label(r) for r in top],
            [int(r["cascade_size"]) for r in top],
            color=[PLATFORM_COLOURS.get(r["platform"], "#4c78a8") for r in top],
        )
        for bar, r in zip(bars, top, strict=True):
            left.text(
                bar.get_width(),
                bar.get_y() + bar.get_height() / 2,
                f" depth {r['cascade_depth']}" + (" · viral" if r["is_viral"] else ""),
                va="center",
                fontsize=8,
                fontweight="bold" if r["is_viral"] else "normal",
            )
        left.set_xlabel("shares at any depth")
        left.spines[["top", "right"]].set_visible(False)
        left.set_xlim(0, max(int(r["cascade_size"]) for r in top) * 1.3)
        left.set_title("largest cascades", fontsize=10)
    posted = {str(r["post_id"]): as_datetime(r["posted_at"]) for r in rows if r.get("posted_at")}
    per_post: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    for r in velocity:
        per_post[str(r["post_id"])].append((as_datetime(r["bucket"]), int(r["shares"])))
    if not per_post:
        _empty(right)
    else:
        for post_id, points in sorted(per_post.items()):
            points.sort()
            origin = posted.get(post_id, points[0][0])
            hours = [0.0] + [((t - origin).total_seconds() + 300) / 3600 for t, _ in points]
            total = [0]
            for _, n in points:
                total.append(total[-1] + n)
            right.step(hours, total, where="post", label=f"…{post_id[-6:]}", linewidth=1.8)
        _style(right)
        right.set_xlabel("hours since the post")
        right.set_ylabel("shares so far")
        right.legend(frameon=False, fontsize=8)
        right.set_title("growth of the five largest (5-minute buckets)", fontsize=10)
    return Chart("cascades", "Share cascades", _png(fig), "Q6, Q7")


def chart_funnel(data: ReportData) -> Chart:
    rows = [r for r in data.results["Q11"] if int(r["clicked"]) or int(r["leads"]) or int(r["customers"])]
    fig = _figure(height=4.2)
    ax = fig.add_subplot()
    if not rows:
        _empty(ax)
    else:
        width = 0.27
        xs = range(len(rows))
        for i, step in enumerate(("clicked", "leads", "customers")):
            values = [int(r[step]) for r in rows]
            bars = ax.bar(
                [x + (i - 1) * width for x in xs], values, width, label=step, color=STEP_COLOURS[step]
            )
            ax.bar_label(bars, fontsize=8, padding=1)
        brand_prefix = f"{data.brand}-"
        ax.set_xticks(
            list(xs),
            [str(r["campaign_id"]).removeprefix(brand_prefix) or "(none)" for r in rows],
            rotation=15,
        )
        ax.set_ylabel("distinct people")
        _style(ax)
        ax.legend(frameon=False, ncols=3)
    return Chart(
        "funnel",
        "Funnel by campaign",
        _png(fig),
        "Q11",
        "People who clicked a campaign link, then left a lead, then bought.",
    )


def _bucket_label(seconds: int) -> str:
    if seconds >= 4_294_967_295:
        return "> 1 d"
    if seconds < 3600:
        return f"≤ {seconds // 60} min"
    if seconds < 86400:
        return f"≤ {seconds // 3600} h"
    return f"≤ {seconds // 86400} d"


def chart_response_times(data: ReportData) -> Chart:
    rows = data.results["Q9"]
    fig = _figure(height=3.8)
    ax = fig.add_subplot()
    if not rows:
        _empty(ax, "no brand replies in this window")
    else:
        labels = [_bucket_label(int(r["le_seconds"])) for r in rows]
        ax.bar(labels, [int(r["answered"]) for r in rows], color="#4c78a8")
        ax.set_ylabel("brand replies")
        _style(ax)
        twin = ax.twinx()
        twin.plot(
            labels,
            [float(r["cumulative_share"]) * 100 for r in rows],
            color="#d64541",
            marker="o",
            linewidth=2,
        )
        twin.set_ylim(0, 105)
        twin.set_ylabel("cumulative % answered", color="#d64541")
        twin.spines[["top"]].set_visible(False)
    return Chart(
        "response_times",
        "Response-time distribution",
        _png(fig),
        "Q9",
        "How long customers waited for the brand's first reply.",
    )


def chart_alerts(data: ReportData) -> Chart:
    volume, alerts = data.results["Q18"], data.results["Q16"]
    fig = _figure(height=4.0)
    ax = fig.add_subplot()
    if not volume and not alerts:
        _empty(ax)
        return Chart("alerts", "Alerts timeline", _png(fig), "Q16, Q18")
    by_start = {as_datetime(r["window_start"]): r for r in volume}
    steps = int((data.window.until - data.window.since) / timedelta(minutes=10))
    times = [data.window.since + timedelta(minutes=10 * i) for i in range(steps + 1)]
    complaints = [int(by_start[t]["complaints"]) if t in by_start else 0 for t in times]
    negative = [int(by_start[t]["negative"]) if t in by_start else 0 for t in times]
    ax.fill_between(_x(times), complaints, step="post", color="#f2b5b3", label="complaints / 10 min")
    ax.step(
        _x(times), negative, where="post", color="#d64541", linewidth=1.2, label="negative messages / 10 min"
    )
    top = max([*complaints, *negative, 1])
    for a in alerts:
        start = as_datetime(a["window_start"])
        end = as_datetime(a["resolved_at"]) if a.get("resolved_at") else as_datetime(a["window_end"])
        colour = "#7b2cbf" if a["severity"] == "critical" else "#f08c00"
        ax.axvspan(_x1(start), _x1(max(end, start + timedelta(minutes=5))), color=colour, alpha=0.18)
        ax.axvline(_x1(as_datetime(a["fired_at"])), color=colour, linewidth=1.5)
        ax.text(
            _x1(as_datetime(a["fired_at"])),
            top * 1.02,
            f" {a['kind']} ({a['severity']})",
            color=colour,
            fontsize=8,
            va="bottom",
        )
    ax.set_ylim(0, top * 1.18)
    ax.set_ylabel("messages")
    _style(ax)
    _hour_axis(ax)
    ax.legend(frameon=False, loc="upper right", fontsize=8)
    caption = (
        f"{len(alerts)} alert(s) fired in the window; shaded from the alert's window start until it resolved"
        " (event time, like the volume)."
    )
    return Chart("alerts", "Alerts timeline", _png(fig), "Q16, Q18", caption)


CHARTS: Sequence[Callable[[ReportData], Chart]] = (
    chart_engagement,
    chart_sentiment,
    chart_top_posts,
    chart_cascades,
    chart_funnel,
    chart_response_times,
    chart_alerts,
)


# --- HTML ----------------------------------------------------------------------------------------

_CSS = """
body{font-family:-apple-system,'Segoe UI',Roboto,'Noto Sans','Noto Sans CJK KR',sans-serif;margin:24px auto;
max-width:1040px;color:#1f2328;padding:0 16px}
h1{margin-bottom:4px}.sub{color:#57606a;margin-top:0}
.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:12px;margin:20px 0}
.kpi{border:1px solid #d0d7de;border-radius:8px;padding:10px 12px}.kpi b{display:block;font-size:22px}
.kpi span{color:#57606a;font-size:12px}
section{margin:28px 0}img{max-width:100%;border:1px solid #eaeef2;border-radius:6px}
figcaption,.src{color:#57606a;font-size:12px}
table{border-collapse:collapse;width:100%;font-size:13px}
td,th{border-bottom:1px solid #eaeef2;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f6f8fa}
"""


def _kpis(data: ReportData) -> list[tuple[str, str]]:
    r = data.results
    engagements = sum(int(x["engagements"]) for x in r["Q1"])
    messages = sum(int(x["messages"]) for x in r["Q2"])
    negative = sum(int(x["messages"]) for x in r["Q2"] if x["sentiment_label"] == "negative")
    complaints = sum(int(x["complaints"]) for x in r["Q8"])
    within = sum(int(x["answered_within_1h"]) for x in r["Q8"])
    answered = sum(int(x["answered"]) for x in r["Q10"])
    customers = sum(int(x["customers"]) for x in r["Q12"])
    backlog = r["Q17"][0] if r["Q17"] else {}

    def pct(a: int, b: int) -> str:
        return f"{100 * a / b:.0f}%" if b else "–"

    return [
        (f"{engagements:,}", "audience interactions"),
        (f"{messages:,}", "messages to the brand"),
        (pct(negative, messages), "of messages negative"),
        (pct(within, complaints), f"of {complaints} complaints answered within 1 h"),
        (f"{answered:,}", "brand replies"),
        (f"{customers:,}", "new customers"),
        (str(backlog.get("unanswered_complaints", "–")), "complaints waiting now"),
    ]


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape('' if v is None else str(v))}</td>" for v in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(data: ReportData, charts: Sequence[Chart], generated_at: datetime | None = None) -> str:
    w = data.window
    stamp = (generated_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    kpis = "".join(
        f'<div class="kpi"><b>{html.escape(v)}</b><span>{html.escape(k)}</span></div>' for v, k in _kpis(data)
    )
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>engage report: {html.escape(data.brand)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(data.brand)}</h1>",
        f"<p class='sub'>{w.since:%Y-%m-%d %H:%M} – {w.until:%Y-%m-%d %H:%M} UTC "
        f"(window ends with the hour of the latest event in the data) · generated {stamp}</p>",
        f"<div class='kpis'>{kpis}</div>",
    ]
    for chart in charts:
        parts.append(
            f"<section id='{chart.name}'><h2>{html.escape(chart.title)}</h2><figure>"
            f"<img src='{chart.data_uri}' alt='{html.escape(chart.title)}' width='900'>"
            f"<figcaption>{html.escape(chart.caption)} <span class='src'>Source: {chart.source} "
            f"in docs/analysts.md; also {chart.name}.png</span></figcaption></figure>"
        )
        if chart.name == "top_posts" and data.results["Q4"]:
            parts.append(
                _table(
                    ["post", "platform", "posted", "engagement", "text"],
                    [
                        (
                            r["post_id"],
                            r["platform"],
                            as_datetime(r["posted_at"]).strftime("%m-%d %H:%M"),
                            r["engagement"],
                            r["text"],
                        )
                        for r in data.results["Q4"]
                    ],
                )
            )
        if chart.name == "alerts" and data.results["Q15"]:
            parts.append(
                _table(
                    ["fired", "alert", "severity", "sample event", "its text", "platform", "about the post"],
                    [
                        (
                            as_datetime(r["fired_at"]).strftime("%m-%d %H:%M"),
                            r["kind"],
                            r["severity"],
                            r["sample_event_id"],
                            r["sample_text"],
                            r["platform"],
                            r["post_text"] or r["post_id"],
                        )
                        for r in data.results["Q15"]
                    ],
                )
            )
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


@dataclass
class Report:
    html_path: Path
    pngs: list[Path] = field(default_factory=list)
    data: ReportData | None = None


def generate(run: Runner, brand: str, span: timedelta, out_dir: Path) -> Report:
    """Query, draw and write ``out_dir/report.html`` plus one PNG per chart."""
    window = report_window(run, brand, span)
    data = collect(run, brand, window)
    charts = [make(data) for make in CHARTS]
    out_dir.mkdir(parents=True, exist_ok=True)
    report = Report(out_dir / "report.html", data=data)
    for chart in charts:
        path = out_dir / f"{chart.name}.png"
        path.write_bytes(chart.png)
        report.pngs.append(path)
    report.html_path.write_text(render_html(data, charts), encoding="utf-8")
    return report
