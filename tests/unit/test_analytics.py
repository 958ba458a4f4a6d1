"""The analyst layer's pure parts: the query document parser, report windows, retention statements."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.analytics import queries, retention
from services.analytics.report import ReportError, as_datetime, parse_since, report_window


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


def _runner(latest: Any, n: int = 10) -> Any:
    def run(sql: str, params: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
        assert params == {"brand": "b"}
        return ["n", "latest"], [[n, latest]]

    return run


def test_window_is_whole_hours_ending_after_the_latest_event_not_now() -> None:
    w = report_window(_runner("2026-11-01T23:59:58.123"), "b", timedelta(hours=24))  # JSON from the owner
    assert (w.since, w.until) == (datetime(2026, 11, 1), datetime(2026, 11, 2))
    w = report_window(_runner(datetime(2026, 11, 1, 10, 5, tzinfo=UTC)), "b", timedelta(minutes=30))
    assert (w.since, w.until) == (datetime(2026, 11, 1, 10), datetime(2026, 11, 1, 11))
    assert w.params("b") == {"brand": "b", "since": "2026-11-01 10:00:00", "until": "2026-11-01 11:00:00"}
    with pytest.raises(ReportError, match="no events"):
        report_window(_runner(None, n=0), "b", timedelta(hours=1))


def test_as_datetime_accepts_driver_and_json_values() -> None:
    assert as_datetime("2026-11-01T00:00:00") == datetime(2026, 11, 1)
    assert as_datetime("2026-11-01") == datetime(2026, 11, 1)
    assert as_datetime(datetime(2026, 11, 1, 9, tzinfo=UTC)) == datetime(2026, 11, 1, 9)


def test_retention_statements() -> None:
    sql = retention.statements(30)
    assert sql == [
        "ALTER TABLE events MODIFY COLUMN text Nullable(String) TTL toDateTime(loaded_at) + INTERVAL 30 DAY",
        "ALTER TABLE alerts MODIFY COLUMN sample_texts Array(String)"
        " TTL toDateTime(loaded_at) + INTERVAL 30 DAY",
        "ALTER TABLE events MODIFY COLUMN complaint_reasons Array(String)"
        " TTL toDateTime(loaded_at) + INTERVAL 30 DAY",
    ]
    with pytest.raises(ValueError):
        retention.statements(0)
