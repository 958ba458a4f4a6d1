"""The run summary, read back from ClickHouse: first what the audience felt and did, per brand, then the
plumbing check (every produced event loaded exactly once).

Per brand, over all of its data (whole hours from its first to its last event): sentiment mix by
language, complaints and the share answered within an hour, the median brand response time, the top
post and the largest share cascade, conversions with the mean touches before purchase, the post that
lost the most fans, and the alerts that fired with one sample message each. The numbers come from the
queries documented in ``docs/analysts.md`` (the same the report draws), through
:func:`services.common.query.run_query`, so this works while the pipeline's loader owns chDB.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table

from services.analytics import insights, queries
from services.analytics.insights import as_datetime, platform_name, when
from services.analytics.report import Runner, Window, generate
from services.common import brands
from services.common.query import run_query

LANGUAGE_NAMES = {"ko": "Korean", "en": "English", "other": "other languages", "none": "no text"}
# The documented queries the summary reads (a subset of the report's).
SUMMARY_QUERIES = ("Q4", "Q6", "Q8", "Q10", "Q12", "Q14", "Q15", "Q16", "Q20")
SENTIMENT_BY_LANGUAGE = """
SELECT
    language,
    uniqExactMerge(events) AS messages,
    uniqExactMergeIf(events, sentiment_label = 'positive') AS positive,
    uniqExactMergeIf(events, sentiment_label = 'neutral') AS neutral,
    uniqExactMergeIf(events, sentiment_label = 'negative') AS negative
FROM events_minute
WHERE brand_id = {brand:String}
  AND minute >= {since:DateTime64(3, 'UTC')} AND minute < {until:DateTime64(3, 'UTC')}
  AND NOT is_brand
  AND event_type IN ('comment', 'reply', 'mention', 'message')
GROUP BY language
ORDER BY messages DESC, language
"""


# --- exactly once --------------------------------------------------------------------------------


@dataclass
class Summary:
    produced: int
    loaded: int
    rows: int
    duplicates: int
    with_language: int
    by_platform_language: list[tuple[str, str, int]] = field(default_factory=list)
    alerts: list[tuple[Any, ...]] = field(default_factory=list)


def summarize(dsn: str, event_ids: list[str], chunk: int = 10_000) -> Summary:
    """Counts for exactly the given event ids; ``rows`` counts with FINAL (after deduplication).

    The ids go in chunks (disjoint, so the counts add up), which keeps each request to the chDB owner's
    /query well under its body limit however long the run.
    """
    unique = list(dict.fromkeys(event_ids))
    loaded = rows = with_language = 0
    by_key: Counter[tuple[str, str]] = Counter()
    for start in range(0, len(unique), chunk):
        ids = {"ids": unique[start : start + chunk]}
        _, totals = run_query(
            dsn,
            "SELECT uniqExact(event_id), count(), countIf(language IN ('ko', 'en', 'other', 'none')) "
            "FROM events FINAL WHERE event_id IN {ids:Array(String)}",
            ids,
        )
        loaded, rows, with_language = (
            a + int(b) for a, b in zip((loaded, rows, with_language), totals[0], strict=True)
        )
        _, part = run_query(
            dsn,
            "SELECT platform, language, uniqExact(event_id) AS n FROM events FINAL "
            "WHERE event_id IN {ids:Array(String)} GROUP BY platform, language",
            ids,
        )
        for platform, lang, n in part:
            by_key[(str(platform), str(lang))] += int(n)
    breakdown = [(p, lang, n) for (p, lang), n in sorted(by_key.items())]
    _, alerts = run_query(
        dsn,
        "SELECT brand_id, kind, severity, window_start, observed, expected FROM alerts FINAL "
        "WHERE status = 'firing' ORDER BY window_start, fired_at",
    )
    return Summary(
        produced=len(unique),
        loaded=loaded,
        rows=rows,
        duplicates=rows - loaded,
        with_language=with_language,
        by_platform_language=breakdown,
        alerts=[tuple(a) for a in alerts],
    )


def print_summary(console: Console, s: Summary) -> None:
    """The pipeline check: produced vs enriched vs loaded, and no duplicate rows."""
    totals = Table(title="pipeline check: every event loaded exactly once (read from ClickHouse)")
    for col in ("produced", "enriched", "loaded (distinct event_id)", "rows", "duplicates"):
        totals.add_column(col, justify="right")
    totals.add_row(str(s.produced), str(s.with_language), str(s.loaded), str(s.rows), str(s.duplicates))
    console.print(totals)
    platforms = sorted({p for p, _, _ in s.by_platform_language})
    languages = sorted({lang for _, lang, _ in s.by_platform_language}, key=_language_order)
    by = Table(title="loaded events by platform and language ('no text': likes, follows, clicks)")
    by.add_column("platform")
    for lang in languages:
        by.add_column(LANGUAGE_NAMES.get(lang, lang), justify="right")
    counts = {(p, lang): n for p, lang, n in s.by_platform_language}
    for p in platforms:
        by.add_row(platform_name(p), *(f"{counts.get((p, lang), 0):,}" for lang in languages))
    console.print(by)


def _language_order(lang: str) -> tuple[int, str]:
    return (list(LANGUAGE_NAMES).index(lang) if lang in LANGUAGE_NAMES else len(LANGUAGE_NAMES), lang)


# --- per brand -----------------------------------------------------------------------------------


@dataclass
class BrandSummary:
    """What the audience felt and did for one brand over its data, ready to print."""

    brand: brands.Brand
    window: Window
    tz: ZoneInfo
    sentiment_by_language: list[dict[str, Any]]
    results: dict[str, list[dict[str, Any]]]

    @property
    def headline(self) -> insights.Headline:
        return insights.headline(self.results)

    def when(self, value: Any) -> str:
        return when(as_datetime(value), self.tz, "%b %d %H:%M")

    def alerts(self) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
        """Each firing alert with one sample message (the first whose text is still kept)."""
        samples: dict[str, list[dict[str, Any]]] = {}
        for r in self.results["Q15"]:
            samples.setdefault(str(r["alert_id"]), []).append(r)
        out: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
        for a in self.results["Q16"]:
            rows = samples.get(str(a["alert_id"]), [])
            out.append((a, _first([r for r in rows if r["sample_text"]] or rows)))
        return out


def brand_ids(run: Runner) -> list[str]:
    return [str(r[0]) for r in run("SELECT DISTINCT brand_id FROM events ORDER BY brand_id", {})[1]]


def data_window(run: Runner, brand: str) -> Window | None:
    """Whole hours from the brand's first to its last event (None: no events)."""
    _, rows = run(
        "SELECT count(), min(occurred_at), max(occurred_at) FROM events WHERE brand_id = {brand:String}",
        {"brand": brand},
    )
    if not rows or not rows[0][0]:
        return None
    first, last = as_datetime(rows[0][1]), as_datetime(rows[0][2])
    since = first.replace(minute=0, second=0, microsecond=0)
    until = last.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return Window(since, until, data_since=first, data_until=last)


def summarize_brands(
    dsn: str,
    brand_list: Sequence[str] | None = None,
    timezone: str | None = None,
    brands_file: str | None = None,
    run: Runner | None = None,
) -> list[BrandSummary]:
    """One :class:`BrandSummary` per brand in ``events`` (or per given brand)."""
    runner: Runner = run or (lambda sql, params: run_query(dsn, sql, params))
    documented = queries.load()
    out = []
    for brand_id in brand_list or brand_ids(runner):
        window = data_window(runner, brand_id)
        if window is None:
            continue
        params = window.params(brand_id)
        results = {}
        for qid in SUMMARY_QUERIES:
            q = documented[qid]
            columns, rows = runner(q.sql, q.bind(params))
            results[qid] = [dict(zip(columns, r, strict=True)) for r in rows]
        columns, rows = runner(SENTIMENT_BY_LANGUAGE, params)
        out.append(
            BrandSummary(
                brands.brand(brand_id, brands_file),
                window,
                brands.display_zone(brand_id, timezone, brands_file),
                [dict(zip(columns, r, strict=True)) for r in rows],
                results,
            )
        )
    return out


def _first(rows: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    return rows[0] if rows else None


def brand_lines(s: BrandSummary) -> list[str]:
    """The summary of one brand as plain sentences (what ``print_brand_summaries`` prints)."""
    h = s.headline
    w = s.window
    lines = [
        f"{s.brand.label} — {when(w.since, s.tz, '%b %d %H:%M')} to {when(w.until, s.tz, '%b %d %H:%M')} "
        f"({insights.span_words(w.span)} of data)"
    ]
    if s.sentiment_by_language:
        parts = []
        for r in s.sentiment_by_language:
            n = int(r["messages"])
            parts.append(
                f"{LANGUAGE_NAMES.get(str(r['language']), r['language'])} {n:,} "
                f"({100 * int(r['positive']) / n:.0f}% positive, {100 * int(r['neutral']) / n:.0f}% neutral, "
                f"{100 * int(r['negative']) / n:.0f}% negative)"
            )
        lines.append("Sentiment of the audience's messages: " + "; ".join(parts) + ".")
    else:
        lines.append("Sentiment: no messages from the audience.")
    if h.complaints:
        lines.append(
            f"Complaints: {h.complaints:,}, {insights.pct(h.answered_within_1h_share)} answered within 1 h; "
            f"median brand response time {insights.duration(h.median_response_seconds)} "
            f"over {h.replies:,} replies."
        )
    else:
        lines.append(
            "Complaints: none."
            + (
                f" Median brand response time {insights.duration(h.median_response_seconds)}."
                if h.replies
                else ""
            )
        )
    if top := _first(s.results["Q4"]):
        lines.append(
            f"Top post: {insights.quote(top['text'], 60)} ({platform_name(top['platform'])}, "
            f"{s.when(top['posted_at'])}), {int(top['engagement']):,} interactions."
        )
    if cascade := _first(s.results["Q6"]):
        lines.append(
            f"Largest cascade: {int(cascade['cascade_size']):,} shares, "
            f"{cascade['cascade_depth']} levels deep, "
            f"reaching {int(cascade['unique_reach']):,} people ({platform_name(cascade['platform'])} post of "
            f"{s.when(cascade['posted_at'])}){', viral' if cascade['is_viral'] else ''}."
        )
    lines.append(
        f"Conversions: {h.customers:,} new customers"
        + (f", {h.mean_touches:.1f} touches on average before buying." if h.customers else ".")
    )
    if lost := _first(s.results["Q14"]):
        lines.append(
            f"Fan loss: {h.unfollows:,} unfollows; most ({int(lost['unfollows']):,}) followed the "
            f"{platform_name(lost['platform'])} post of {s.when(lost['posted_at'])} "
            f"{insights.quote(lost['text'], 60)}{' (promotional)' if lost['promotional'] else ''}."
        )
    else:
        lines.append(f"Fan loss: {h.unfollows:,} unfollows, none right after a brand post.")
    alerts = s.alerts()
    if not alerts:
        lines.append("Alerts: none fired.")
    for a, sample in alerts:
        text = (
            f" — e.g. {insights.quote(sample['sample_text'], 60)}"
            + (f" on {platform_name(sample['platform'])}" if sample.get("platform") else "")
            if sample and sample["sample_text"]
            else ""
        )
        lines.append(
            f"Alert: {insights.alert_name(a['kind'])} ({a['severity']}) "
            f"from {s.when(a['window_start'])}{text}."
        )
    return lines


def print_brand_summaries(console: Console, summaries: Sequence[BrandSummary]) -> None:
    for s in summaries:
        first, *rest = brand_lines(s)
        console.print(f"\n[bold]{first}[/]", soft_wrap=True, highlight=False)
        for line in rest:
            console.print(f"  • {line}", soft_wrap=True, highlight=False)


def write_reports(
    dsn: str,
    out_dir: Path,
    since: timedelta = timedelta(days=7),
    brand_list: Sequence[str] | None = None,
    timezone: str | None = None,
    brands_file: str | None = None,
    run: Runner | None = None,
) -> dict[str, Path]:
    """``out_dir/<brand>/report.html`` for every brand in ``events``; brand id → path."""
    runner: Runner = run or (lambda sql, params: run_query(dsn, sql, params))
    paths = {}
    for brand_id in brand_list or brand_ids(runner):
        report = generate(
            runner, brand_id, since, out_dir / brand_id, timezone=timezone, brands_file=brands_file
        )
        paths[brand_id] = report.html_path
    return paths


def print_report_paths(console: Console, paths: dict[str, Path]) -> None:
    for brand_id, path in paths.items():
        console.print(f"report for {brands.brand(brand_id).name}: {path}", soft_wrap=True, highlight=False)


def print_run_summary(
    console: Console,
    dsn: str,
    event_ids: list[str],
    report_dir: Path,
    since: timedelta = timedelta(days=7),
    timezone: str | None = None,
    brands_file: str | None = None,
) -> Summary:
    """Everything ``engage run`` shows after the pipeline drained: per brand what the audience felt and
    did, one report per brand (paths printed), then the exactly-once check (returned for its verdict)."""
    print_brand_summaries(console, summarize_brands(dsn, timezone=timezone, brands_file=brands_file))
    console.print()
    print_report_paths(
        console, write_reports(dsn, report_dir, since, timezone=timezone, brands_file=brands_file)
    )
    summary = summarize(dsn, event_ids)
    print_summary(console, summary)
    return summary


__all__ = [
    "BrandSummary",
    "Summary",
    "print_brand_summaries",
    "print_report_paths",
    "print_run_summary",
    "print_summary",
    "summarize",
    "summarize_brands",
    "write_reports",
]
