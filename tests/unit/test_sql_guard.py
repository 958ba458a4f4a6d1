"""Ad-hoc SQL rules (services/common/sql_guard.py) and the read-only query session, on a real chDB."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.common.clickhouse import Database, QueryLimits, QuerySession
from services.common.sql_guard import (
    ALWAYS_DENIED_FUNCTIONS,
    QueryRefused,
    QuerySyntaxError,
    check_statement,
    denied_functions,
    tokenize,
)
from services.loader.tables import TARGETS, to_columns
from tests.factories import make_enriched_event

DENIED = denied_functions(["file", "url", "s3", "remote", "numbers", "values", "executable", "python"])

ALLOWED_CANONICAL = [
    "SELECT count() FROM events",
    "WITH 1 AS x SELECT x",
    "SELECT 1 UNION ALL SELECT 2",
    "SHOW TABLES",
    "SHOW SETTINGS LIKE 'max%'",
    "SHOW CREATE TABLE events",
    "SHOW FULL TABLES",
    "SHOW COLUMNS FROM events",
    "DESCRIBE TABLE events",
    "EXPLAIN SELECT 1",
    "EXPLAIN PIPELINE graph = 1, compact = 1 SELECT 1",
    "EXPLAIN QUERY TREE SELECT 1",
    "SELECT number FROM numbers(10)",
    "SELECT format('{} {}', brand_id, platform) FROM events",
    "SELECT 'INTO OUTFILE \\'/tmp/x\\' FORMAT CSV SETTINGS readonly = 0; file(1)' AS s",
    "SELECT `weird name`, {ids:Array(String)} FROM events",
]

REFUSED_CANONICAL = [
    ("DROP TABLE events", "not DROP"),
    ("INSERT INTO events FORMAT Values", "not INSERT"),
    ("CREATE VIEW v AS SELECT 1", "not CREATE"),
    ("KILL QUERY WHERE 1", "not KILL"),
    ("SET readonly = 0", "not SET"),
    ("SYSTEM FLUSH LOGS", "not SYSTEM"),
    ("OPTIMIZE TABLE events FINAL", "not OPTIMIZE"),
    ("EXPLAIN AST INSERT INTO t FORMAT Values", "not EXPLAIN INSERT"),
    ("SELECT 1 INTO OUTFILE '/tmp/x'", "INTO OUTFILE"),
    ("SELECT 1 INTO OUTFILE '/tmp/x' TRUNCATE FORMAT CSV", "INTO OUTFILE"),
    ("SHOW TABLES INTO OUTFILE '/tmp/x'", "INTO OUTFILE"),
    ("EXPLAIN SELECT 1 INTO OUTFILE '/tmp/x'", "INTO OUTFILE"),
    ("SELECT 1 FORMAT JSON", "FORMAT"),
    ("SELECT 1 SETTINGS readonly = 0", "SETTINGS"),
    ("SELECT * FROM file('/etc/passwd', 'LineAsString')", "file()"),
    ("SELECT file('/etc/passwd')", "file()"),
    ("SELECT * FROM url('http://169.254.169.254/', 'RawBLOB')", "url()"),
    ("SELECT * FROM s3('https://b/x.csv')", "s3()"),
    ("SELECT * FROM remote('h:9000', db.t)", "remote()"),
    ("SELECT * FROM events AS e, executable('x.sh', 'TSV', 'a String')", "executable()"),
    ("SELECT * FROM Python(settings)", "Python()"),
    ("SELECT * FROM `file`('/etc/passwd')", "file()"),
    ("SELECT * FROM mysql('h', 'd', 't', 'u', 'p')", "mysql()"),  # fixed list, not the engine's
    ("SELECT 1; SELECT 2", "one statement"),
    ("SHOW GRANTS", "SHOW GRANTS is not allowed"),
    ("SHOW CREATE USER default", "SHOW CREATE USER is not allowed"),
    ("SHOW USERS", "SHOW USERS"),
    ("SHOW ACCESS", "SHOW ACCESS"),
]


@pytest.mark.parametrize("sql", ALLOWED_CANONICAL)
def test_read_statements_are_allowed(sql: str) -> None:
    check_statement(sql, DENIED)


@pytest.mark.parametrize(("sql", "why"), REFUSED_CANONICAL)
def test_writes_outputs_and_outside_reads_are_refused(sql: str, why: str) -> None:
    with pytest.raises(QueryRefused, match=why.replace("(", r"\(").replace(")", r"\)")):
        check_statement(sql, DENIED)


def test_tokens_respect_quotes_escapes_and_comments() -> None:
    tokens = tokenize("SELECT 'a\\'b''c', `x``y` /* INTO /* nested */ OUTFILE */ -- FORMAT\n, 1e-3")
    assert [(t.kind, t.text) for t in tokens] == [
        ("word", "SELECT"),
        ("string", "a\\'b''c"),
        ("punct", ","),
        ("quoted", "x``y"),
        ("punct", ","),
        ("number", "1e-3"),
    ]
    with pytest.raises(QueryRefused, match="unterminated"):
        tokenize("SELECT 'open")


def test_safe_table_functions_stay_allowed_and_the_fixed_list_always_applies() -> None:
    denied = denied_functions(["numbers", "values", "deltaLakeLocal"])
    assert "numbers" not in denied and "values" not in denied
    assert "deltalakelocal" in denied  # an engine's new table function is refused by default
    assert denied >= ALWAYS_DENIED_FUNCTIONS


@pytest.fixture
def session(db: Database) -> Iterator[QuerySession]:
    s = db.query_session(
        QueryLimits(max_execution_time=5, max_result_rows=1000, max_memory_usage=500_000_000)
    )
    try:
        yield s
    finally:
        s.close()


def _insert_event(db: Database, event_id: str) -> None:
    target = TARGETS["enriched_event"]
    rows = to_columns([make_enriched_event(event_id=event_id)], target.columns)
    db.insert_columns("events", rows, target.columns, {"insert_deduplication_token": event_id})


def test_raw_text_is_judged_on_clickhouse_s_own_parse(session: QuerySession, tmp_path: Path) -> None:
    """Comments, quoting and case cannot hide a clause: the rules see ClickHouse's canonical form."""
    out = tmp_path / "stolen.csv"
    for sql in (
        f"SELECT 1 /* a /* nested */ comment */ INTO OUTFILE '{out}'",
        f"SELECT 1 -- comment\nINTO OUTFILE '{out}' TRUNCATE",
        f"select 1 into outfile '{out}' and stdout",
        f"SELECT 1 # comment\n INTO OUTFILE '{out}'",
        f"SELECT * FROM numbers(3) INTO OUTFILE '{out}' FORMAT CSV",
    ):
        with pytest.raises(QueryRefused, match="INTO OUTFILE"):
            session.query_rows(sql)
    for sql in (
        "SELECT * FROM FiLe('/etc/hostname', 'LineAsString')",
        "SELECT * FROM `file` ('/etc/hostname')",
    ):
        with pytest.raises(QueryRefused, match=r"(?i)file\(\)"):
            session.query_rows(sql)
    assert not out.exists()
    with pytest.raises(QuerySyntaxError, match="Multi-statements"):
        session.query_rows("SELECT 1; DROP TABLE events")
    # Clause words inside strings and comments are data, not clauses.
    assert session.query_rows("SELECT 'INTO OUTFILE' AS s -- FORMAT CSV") == (["s"], [("INTO OUTFILE",)])


def test_session_is_read_only_limited_and_separate_from_the_writer(
    db: Database, session: QuerySession
) -> None:
    """A refused write or a failed query leaves the loader's session able to insert."""
    for sql in ("DROP TABLE events", "INSERT INTO events (event_id) VALUES ('x')", "KILL QUERY WHERE 1"):
        with pytest.raises(QueryRefused):
            session.query_rows(sql)
    # Past the guard, the session itself is read-only: the engine refuses writes and setting changes.
    for sql in ("DROP TABLE events", "SET readonly = 0", "SELECT 1 SETTINGS max_result_rows = 0"):
        with pytest.raises(Exception, match=r"(?i)readonly"):
            session.client.query(sql)
    with pytest.raises(Exception, match=r"TOO_MANY_ROWS_OR_BYTES|Limit for result exceeded"):
        session.query_rows("SELECT number FROM numbers(5000)")
    _insert_event(db, "after-refusals")
    assert session.query_rows("SELECT event_id FROM events") == (["event_id"], [("after-refusals",)])
    assert session.query_rows("SELECT {n:UInt32} + 1 AS n", {"n": 41}) == (["n"], [(42,)])


def test_max_execution_time_stops_a_long_query(db: Database) -> None:
    session = db.query_session(QueryLimits(max_execution_time=0.5))
    try:
        with pytest.raises(Exception, match=r"TIMEOUT_EXCEEDED|Timeout exceeded"):
            session.query_rows("SELECT count() FROM numbers_mt(1000000000000) WHERE sipHash64(number) = 0")
    finally:
        session.close()
