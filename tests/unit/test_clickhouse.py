"""DSN parsing, backend selection, chDB ownership, and migrations on a real embedded engine."""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.common.clickhouse import (
    ChdbPathBusy,
    ClickHouseError,
    EmbeddedTarget,
    ServerTarget,
    connect,
    owner_info,
    parse_dsn,
)
from services.common.migrations import MigrationError, discover, migrate
from services.common.query import run_query
from services.common.settings import CommonSettings
from services.local.kafka import free_port


def test_default_dsn_is_embedded_under_the_var_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ENGAGE_VAR_DIR", raising=False)
    monkeypatch.delenv("ENGAGE_CLICKHOUSE_DSN", raising=False)
    assert parse_dsn(CommonSettings().clickhouse_dsn) == EmbeddedTarget(tmp_path / "var" / "clickhouse")
    monkeypatch.setenv("ENGAGE_VAR_DIR", str(tmp_path / "state"))
    assert parse_dsn(CommonSettings().clickhouse_dsn) == EmbeddedTarget(tmp_path / "state" / "clickhouse")
    assert parse_dsn("chdb:///abs/path") == EmbeddedTarget(Path("/abs/path"))


def test_http_dsn_is_a_server_target() -> None:
    target = parse_dsn("https://analyst:s%40cret@ch.example.internal:8443/engage")
    assert target == ServerTarget("ch.example.internal", 8443, "analyst", "s@cret", "engage", True)
    assert "s@cret" not in repr(target)
    assert parse_dsn("http://ch:8123") == ServerTarget("ch", 8123, "default", "", "default", False)


def test_env_var_switches_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENGAGE_CLICKHOUSE_DSN", "http://user:pw@clickhouse:8123/analytics")
    target = parse_dsn(CommonSettings().clickhouse_dsn)
    assert isinstance(target, ServerTarget) and target.database == "analytics"


def test_server_dsn_uses_the_http_client_and_fails_clearly_without_a_server() -> None:
    port = free_port()  # nothing listens here: no ClickHouse server is reachable on this machine
    with pytest.raises(ClickHouseError, match=f"127.0.0.1:{port}"):
        connect(f"http://default@127.0.0.1:{port}/default", connect_timeout=1)


@pytest.mark.parametrize("dsn", ["postgres://x", "chdb://", "http:///nohost"])
def test_bad_dsns_are_refused(dsn: str) -> None:
    with pytest.raises(ClickHouseError):
        parse_dsn(dsn)


def test_migrations_apply_once_and_refuse_edits(tmp_path: Path) -> None:
    db = connect(f"chdb://{tmp_path / 'ch'}")
    try:
        first = migrate(db)
        assert [m.version for m in first] == [m.version for m in discover()]
        assert migrate(db) == []  # rerun is a no-op
        _, tables = db.query_rows("SHOW TABLES")
        assert {"events", "alerts", "engage_migrations"} <= {t[0] for t in tables}
        edited = tmp_path / "migrations"
        edited.mkdir()
        for m in discover():
            (edited / m.path.name).write_text(m.sql + ("\n-- edited\n" if m.version == 1 else ""))
        with pytest.raises(MigrationError, match="changed after it was applied"):
            migrate(db, edited)
    finally:
        db.close()


def test_chdb_path_has_one_owner_and_others_are_told_who(tmp_path: Path) -> None:
    dsn = f"chdb://{tmp_path / 'ch'}"
    db = connect(dsn)
    try:
        db.advertise("http://127.0.0.1:1/query")
        info = owner_info(parse_dsn(dsn))  # type: ignore[arg-type]
        assert info is not None and info["query_url"] == "http://127.0.0.1:1/query"
        probe = (
            "from services.common.clickhouse import connect, ChdbPathBusy\n"
            f"try:\n    connect({dsn!r})\nexcept ChdbPathBusy as e:\n    print('BUSY', e.owner.get('pid'))\n"
        )
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
        assert out.stdout.strip() == f"BUSY {__import__('os').getpid()}", out.stderr
    finally:
        db.close()
    assert owner_info(parse_dsn(dsn)) is None  # type: ignore[arg-type]


def test_a_dead_owners_lock_is_cleared_with_a_log_line_and_a_clean_close_leaves_none(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dsn = f"chdb://{tmp_path / 'ch'}"
    target = parse_dsn(dsn)
    assert isinstance(target, EmbeddedTarget)
    dead = subprocess.Popen(["true"])
    dead.wait()
    target.lock_path.write_text(json.dumps({"pid": dead.pid, "query_url": "http://127.0.0.1:1/query"}))
    assert owner_info(target) is None  # nobody holds it: the file alone does not make an owner
    with caplog.at_level(logging.WARNING, logger="services.common.clickhouse"):
        db = connect(dsn)
    try:
        assert f"cleared stale chDB owner lock {target.lock_path} left by pid {dead.pid}" in caplog.text
        assert json.loads(target.lock_path.read_text())["pid"] == os.getpid()
    finally:
        db.close()
    assert not target.lock_path.exists()


def test_query_opens_the_path_when_nobody_owns_it_and_is_read_only(tmp_path: Path) -> None:
    dsn = f"chdb://{tmp_path / 'ch'}"
    db = connect(dsn)
    migrate(db)
    db.close()
    columns, rows = run_query(dsn, "SELECT count() AS n FROM events")
    assert columns == ["n"] and rows == [[0]]
    from services.common.query import QueryError

    with pytest.raises(QueryError, match=r"only SELECT"):
        run_query(dsn, "DROP TABLE events")
    assert run_query(dsn, "SELECT count() FROM events")[1] == [[0]]


def test_busy_error_message_names_the_owner() -> None:
    exc = ChdbPathBusy(Path("/x"), {"pid": 42, "query_url": "http://h/query"})
    assert "pid 42" in str(exc) and "http://h/query" in str(exc)
