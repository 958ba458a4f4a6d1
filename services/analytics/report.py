"""``engage report``: a brand's last day (or any window) as one self-contained HTML file and PNG charts.

The numbers come from the documented queries (``report_data``: the window and its rows), the pictures
from ``charts``; this module turns them into sections (a chart, tables, or a sentence saying there is
nothing in this window) and the page, and writes the files. The headline numbers, their deltas against
the previous period and the written summary come from :mod:`services.analytics.insights`, so the report
itself is only formatting.

Any brand and window give a report. Times are shown in the report's zone (``ENGAGE_TIMEZONE``, else the
brand's zone from the brands file, else UTC) and brands by their display names. Charts are embedded in
``report.html`` as base64 data URIs so the page can be mailed.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from services.analytics import insights
from services.analytics.charts import (
    CHART_NAMES,
    Chart,
    chart_alerts,
    chart_cadence,
    chart_cascades,
    chart_engagement,
    chart_followers,
    chart_funnel,
    chart_response_times,
    chart_sentiment,
    chart_top_posts,
)
from services.analytics.insights import local, platform_name, when
from services.analytics.report_data import (
    ReportData,
    ReportError,
    Runner,
    Window,
    collect,
    parse_since,
    parse_until,
    report_window,
)
from services.common import brands

__all__ = ["ReportError", "Runner", "Window", "generate", "parse_since", "parse_until"]


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
