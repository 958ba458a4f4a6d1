"""``engage query`` output: a header for empty results in every format; wide cells wrap or scroll."""

from __future__ import annotations

import io
import re

import orjson
import pytest

from services.common.output import OutputFormat, print_result

COLUMNS = ["brand_id", "text", "n"]
LONG = "배송이 너무 늦어요 " * 6 + "where is my refund, still waiting after two weeks " * 3


def _print(rows: list[list[object]], fmt: OutputFormat, width: int | None) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    print_result(COLUMNS, rows, fmt, out, err, width)
    return out.getvalue(), err.getvalue()


@pytest.mark.parametrize("width", [None, 80])
def test_empty_table_has_its_header_and_a_row_count(width: int | None) -> None:
    out, _ = _print([], OutputFormat.table, width)
    assert re.search(r"brand_id\s*┃\s*text\s*┃\s*n", out), out
    assert "0 rows" in out


def test_empty_csv_has_its_header_row() -> None:
    out, _ = _print([], OutputFormat.csv, None)
    assert out.splitlines() == ["brand_id,text,n"]


def test_empty_json_is_an_empty_array_and_names_the_columns_on_stderr() -> None:
    out, err = _print([], OutputFormat.json, None)
    assert orjson.loads(out) == []
    assert "columns: brand_id, text, n" in err


def _cells(out: str) -> str:
    """The table's text with borders and line breaks removed (a wrapped cell joins up again)."""
    return re.sub(r"[\s│┃┏┓┗┛┡┩└┘━─╇┳┻┴┬]+", "", out)


def test_wide_table_wraps_on_a_terminal_and_never_cuts_a_cell() -> None:
    out, _ = _print([["cafe-lumi", LONG, 3]], OutputFormat.table, 80)
    assert "…" not in out
    assert max(len(line) for line in out.splitlines()) <= 80
    cells = _cells(out)
    assert cells.count("배송이너무늦어요") == 6 and cells.count("stillwaitingaftertwoweeks") == 3


def test_wide_table_piped_is_printed_at_full_width_to_scroll() -> None:
    out, _ = _print([["cafe-lumi", LONG, 3]], OutputFormat.table, None)
    assert "…" not in out
    assert LONG.strip() in out  # one line, uncut


def test_many_columns_on_a_narrow_terminal_scroll_instead_of_squeezing() -> None:
    columns = [f"column_{i}" for i in range(20)]
    out, err = io.StringIO(), io.StringIO()
    print_result(columns, [[f"value-{i}" for i in range(20)]], OutputFormat.table, out, err, 80)
    assert "…" not in out.getvalue()
    assert all(f"value-{i}" in out.getvalue() for i in range(20))
    assert all(c in out.getvalue() for c in columns)


def test_an_empty_result_keeps_its_column_names(tmp_path: object) -> None:
    """ClickHouse's Native format sends no block for zero rows; the names must still arrive."""
    from pathlib import Path

    from services.common.clickhouse import connect
    from services.common.migrations import migrate
    from services.common.query import run_query

    dsn = f"chdb://{Path(str(tmp_path)) / 'ch'}"
    db = connect(dsn)
    migrate(db)
    db.close()
    columns, rows = run_query(
        dsn,
        "SELECT kind, fired_at, count() AS n FROM alerts WHERE brand_id = {brand:String} "
        "GROUP BY kind, fired_at;",
        {"brand": "nobody"},
    )
    assert (columns, rows) == (["kind", "fired_at", "n"], [])
    assert run_query(dsn, "SHOW TABLES LIKE 'nothing%'") == ([], [])  # not describable: no names, no error
