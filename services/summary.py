"""The run summary, read back from ClickHouse: produced vs loaded, by platform and language, alerts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from services.common.query import run_query


@dataclass
class Summary:
    produced: int
    loaded: int
    rows: int
    duplicates: int
    with_language: int
    by_platform_language: list[tuple[str, str, int]] = field(default_factory=list)
    alerts: list[tuple[Any, ...]] = field(default_factory=list)


def summarize(dsn: str, event_ids: list[str]) -> Summary:
    """Counts for exactly the given event ids; ``rows`` counts with FINAL (after deduplication)."""
    ids = {"ids": list(dict.fromkeys(event_ids))}
    _, totals = run_query(
        dsn,
        "SELECT uniqExact(event_id), count(), countIf(language IN ('ko', 'en', 'other', 'none')) "
        "FROM events FINAL WHERE event_id IN {ids:Array(String)}",
        ids,
    )
    loaded, rows, with_language = (int(v) for v in totals[0])
    _, breakdown = run_query(
        dsn,
        "SELECT platform, language, uniqExact(event_id) AS n FROM events FINAL "
        "WHERE event_id IN {ids:Array(String)} GROUP BY platform, language ORDER BY platform, language",
        ids,
    )
    _, alerts = run_query(
        dsn,
        "SELECT brand_id, kind, severity, window_start, observed, expected FROM alerts FINAL "
        "WHERE status = 'firing' ORDER BY fired_at",
    )
    return Summary(
        produced=len(ids["ids"]),
        loaded=loaded,
        rows=rows,
        duplicates=rows - loaded,
        with_language=with_language,
        by_platform_language=[(str(p), str(lang), int(n)) for p, lang, n in breakdown],
        alerts=[tuple(a) for a in alerts],
    )


def print_summary(console: Console, s: Summary) -> None:
    totals = Table(title="engage run summary (read from ClickHouse)")
    for col in ("produced", "enriched (has language)", "loaded (distinct event_id)", "rows", "duplicates"):
        totals.add_column(col, justify="right")
    totals.add_row(str(s.produced), str(s.with_language), str(s.loaded), str(s.rows), str(s.duplicates))
    console.print(totals)
    by = Table(title="loaded by platform and language")
    by.add_column("platform")
    by.add_column("language")
    by.add_column("events", justify="right")
    for platform, language, n in s.by_platform_language:
        by.add_row(platform, language, str(n))
    console.print(by)
    alerts = Table(title=f"alerts ({len(s.alerts)})")
    for col in ("brand", "kind", "severity", "window start (UTC)", "observed", "expected"):
        alerts.add_column(col)
    for a in s.alerts:
        alerts.add_row(str(a[0]), str(a[1]), str(a[2]), str(a[3])[:16], f"{a[4]:.0f}", f"{a[5]:.0f}")
    console.print(alerts)
