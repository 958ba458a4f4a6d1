"""The analyst layer's pure parts: the query document parser, report windows, retention statements."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest

from services.analytics import queries, retention
from services.analytics.insights import as_datetime
from services.analytics.report_data import ReportError, parse_since, report_window
from services.common.settings import REPO_ROOT


def test_documented_queries_parse_with_parameters() -> None:
    docs = queries.load()
    assert len(docs) >= 12
    assert list(docs) == [f"Q{i}" for i in range(1, len(docs) + 1)]
    q1 = docs["Q1"]
    assert q1.parameters == {
        "brand": "String",
        "since": "DateTime64(3, 'UTC')",
        "until": "DateTime64(3, 'UTC')",
    }
    assert q1.bind({"brand": "b", "since": "s", "until": "u", "extra": 1}) == {
        "brand": "b",
        "since": "s",
        "until": "u",
    }
    with pytest.raises(ValueError, match="needs parameter"):
        q1.bind({"brand": "b"})


DOCUMENT = REPO_ROOT / "docs" / "analysts.md"
REGENERATE = (
    "python -m services.analytics.queries --from-doc docs/analysts.md > services/analytics/queries.sql"
)


def test_packaged_queries_are_the_documented_ones() -> None:
    packaged = files("services.analytics").joinpath(queries.SQL_FILE).read_text(encoding="utf-8")
    assert packaged == queries.to_sql_file(queries.load(DOCUMENT)), f"queries.sql is stale; run {REGENERATE}"
    assert queries.load() == queries.load(DOCUMENT)


def test_an_edited_document_no_longer_matches_the_packaged_queries(tmp_path: Path) -> None:
    doc = tmp_path / "analysts.md"
    text = DOCUMENT.read_text(encoding="utf-8")
    doc.write_text(text.replace("ORDER BY hour, platform", "ORDER BY hour", 1), encoding="utf-8")
    edited = queries.load(doc)
    assert edited["Q1"].sql.endswith("ORDER BY hour")
    assert edited != queries.load()
    assert queries.from_sql_file(queries.to_sql_file(edited)) == edited


def test_a_heading_without_sql_is_refused(tmp_path: Path) -> None:
    doc = tmp_path / "a.md"
    doc.write_text("### Q1: fine\n\n```sql\nSELECT 1\n```\n\n### Q2: no sql\n\ntext\n", encoding="utf-8")
    with pytest.raises(ValueError, match="Q2 has no"):
        queries.load(doc)


@pytest.mark.parametrize(
    ("text", "seconds"), [("30m", 1800), ("24h", 86400), ("7d", 604800), ("2w", 1209600), ("90", 90)]
)
def test_parse_since(text: str, seconds: int) -> None:
    assert parse_since(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "abc", "-1h", "0", "5y"])
def test_parse_since_refuses_nonsense(text: str) -> None:
    with pytest.raises(ValueError):
        parse_since(text)


def _runner(latest: Any, n: int = 10, earliest: Any = "2026-10-01T00:00:00") -> Any:
    def run(sql: str, params: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
        if "DISTINCT brand_id" in sql:
            return ["brand_id"], [["cafe-lumi"], ["hanbit-mobile"]]
        assert params == {"brand": "b"}
        return ["n", "latest", "earliest"], [[n, latest, earliest if n else None]]

    return run


def test_window_is_whole_hours_ending_after_the_latest_event_not_now() -> None:
    w = report_window(_runner("2026-11-01T23:59:58.123"), "b", timedelta(hours=24))  # JSON from the owner
    assert (w.since, w.until) == (datetime(2026, 11, 1), datetime(2026, 11, 2))
    w = report_window(_runner(datetime(2026, 11, 1, 10, 5, tzinfo=UTC)), "b", timedelta(minutes=30))
    assert (w.since, w.until) == (datetime(2026, 11, 1, 10), datetime(2026, 11, 1, 11))
    assert w.params("b") == {"brand": "b", "since": "2026-11-01 10:00:00", "until": "2026-11-01 11:00:00"}
    with pytest.raises(
        ReportError, match="no events for brand 'b'; brands with events: cafe-lumi, hanbit-mobile"
    ):
        report_window(_runner(None, n=0), "b", timedelta(hours=1))


def test_a_chosen_end_is_rounded_up_to_the_hour_and_the_previous_period_is_as_long() -> None:
    w = report_window(
        _runner("2026-11-01T23:59:58"), "b", timedelta(hours=6), until=datetime(2026, 11, 1, 7, 30)
    )
    assert (w.since, w.until, w.chosen_end) == (datetime(2026, 11, 1, 2), datetime(2026, 11, 1, 8), True)
    prev = w.previous()
    assert (prev.since, prev.until) == (datetime(2026, 10, 31, 20), datetime(2026, 11, 1, 2))
    assert not prev.partly_before_data  # the data starts 2026-10-01
    late_start = report_window(
        _runner("2026-11-01T23:59:58", earliest="2026-11-01T00:10:00"), "b", timedelta(hours=12)
    )
    assert late_start.previous().partly_before_data and not late_start.partly_before_data


def test_as_datetime_accepts_driver_and_json_values() -> None:
    assert as_datetime("2026-11-01T00:00:00") == datetime(2026, 11, 1)
    assert as_datetime("2026-11-01") == datetime(2026, 11, 1)
    assert as_datetime(datetime(2026, 11, 1, 9, tzinfo=UTC)) == datetime(2026, 11, 1, 9)


def test_retention_statements() -> None:
    sql = retention.statements(30)
    assert sql == [
        "ALTER TABLE events MODIFY COLUMN text Nullable(String) TTL toDateTime(loaded_at) + INTERVAL 30 DAY",
        "ALTER TABLE events MODIFY COLUMN attributes Map(String, String)"
        " TTL toDateTime(loaded_at) + INTERVAL 30 DAY",
        "ALTER TABLE alerts MODIFY COLUMN sample_texts Array(String)"
        " TTL toDateTime(loaded_at) + INTERVAL 30 DAY",
        "ALTER TABLE events MODIFY COLUMN complaint_reasons Array(String)"
        " TTL toDateTime(loaded_at) + INTERVAL 30 DAY",
    ]
    with pytest.raises(ValueError):
        retention.statements(0)


def test_parse_until_reads_the_reports_zone_or_an_explicit_offset() -> None:
    from zoneinfo import ZoneInfo

    from services.analytics.report_data import parse_until

    seoul = ZoneInfo("Asia/Seoul")
    assert parse_until("2026-11-02", seoul) == datetime(2026, 11, 1, 15)
    assert parse_until("2026-11-02T09:00", seoul) == datetime(2026, 11, 2, 0)
    assert parse_until("2026-11-02T09:00+00:00", seoul) == datetime(2026, 11, 2, 9)
    with pytest.raises(ValueError, match="not a date"):
        parse_until("yesterday", seoul)
