"""ClickHouse access through clickhouse-connect, embedded (chDB) or server, chosen by one DSN.

``chdb://PATH`` opens the ClickHouse engine in-process; chDB allows one process per data path, so
the process that opens it takes an exclusive lock file beside the data and records where it serves
read-only queries (``owner_info``). Everyone else — ``engage query``, the run summary, tests while the
pipeline runs — routes queries to that owner instead of opening the path. ``http(s)://…`` DSNs go
to a ClickHouse server with no code change and no lock.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from services.common.settings import CommonSettings
from services.common.sql_guard import QuerySyntaxError, check_statement, denied_functions

log = logging.getLogger(__name__)


class ClickHouseError(RuntimeError):
    """A ClickHouse target could not be opened or used."""


class ChdbPathBusy(ClickHouseError):
    """Another process owns the chDB path; query through it instead."""

    def __init__(self, path: Path, owner: dict[str, Any] | None) -> None:
        self.path = path
        self.owner = owner or {}
        who = f"pid {self.owner.get('pid')}" if self.owner.get("pid") else "another process"
        super().__init__(
            f"chDB path {path} is owned by {who}; route queries through it "
            f"({self.owner.get('query_url', 'its /query endpoint')}) or stop it first"
        )


@dataclass(frozen=True)
class EmbeddedTarget:
    """An in-process chDB engine rooted at ``path``."""

    path: Path

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".owner")


@dataclass(frozen=True)
class ServerTarget:
    """A ClickHouse server reached over HTTP(S)."""

    host: str
    port: int
    username: str
    password: str
    database: str
    secure: bool

    def __repr__(self) -> str:  # never print the password
        scheme = "https" if self.secure else "http"
        return f"ServerTarget({scheme}://{self.username}@{self.host}:{self.port}/{self.database})"


Target = EmbeddedTarget | ServerTarget


def parse_dsn(dsn: str, base_dir: Path | None = None) -> Target:
    """Parse ``chdb://PATH`` (relative paths resolve against ``base_dir``) or ``http(s)://…``."""
    if dsn.startswith("chdb:"):
        raw = dsn[len("chdb:") :]
        raw = raw[2:] if raw.startswith("//") else raw
        raw = raw.split("?", 1)[0]
        if not raw or raw in (":memory:", "memory"):
            raise ClickHouseError("chdb DSN needs a data path, e.g. chdb://./var/clickhouse")
        path = Path(unquote(raw))
        if not path.is_absolute():
            path = (base_dir or Path.cwd()) / path
        return EmbeddedTarget(path=Path(os.path.normpath(path)))
    parsed = urlparse(dsn)
    if parsed.scheme not in ("http", "https"):
        raise ClickHouseError(
            f"unsupported ClickHouse DSN scheme {parsed.scheme!r}: use chdb://PATH or http(s)://host:port/db"
        )
    if not parsed.hostname:
        raise ClickHouseError(f"ClickHouse DSN {dsn!r} has no host")
    secure = parsed.scheme == "https"
    return ServerTarget(
        host=parsed.hostname,
        port=parsed.port or (8443 if secure else 8123),
        username=unquote(parsed.username or "default"),
        password=unquote(parsed.password or ""),
        database=(parsed.path.strip("/") or "default"),
        secure=secure,
    )


def _read_owner(lock_path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(lock_path.read_text() or "{}")
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def owner_info(target: EmbeddedTarget) -> dict[str, Any] | None:
    """Who holds the chDB path right now (pid, query_url), or None when nobody does."""
    if not target.lock_path.exists():
        return None
    fd = os.open(target.lock_path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_owner(target.lock_path) or {}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


# SYNTAX_ERROR, TOO_DEEP_AST, TOO_BIG_AST: ClickHouse's parser did not accept the text.
_PARSE_ERRORS = frozenset({62, 167, 168})


@dataclass(frozen=True)
class QueryLimits:
    """Limits on every ad-hoc query (ClickHouse settings of the same names)."""

    max_execution_time: float = 60.0
    max_result_rows: int = 500_000
    max_memory_usage: int = 1_000_000_000

    @classmethod
    def of(cls, settings: CommonSettings) -> QueryLimits:
        return cls(
            settings.query_max_execution_seconds,
            settings.query_max_result_rows,
            settings.query_max_memory_bytes,
        )

    def settings(self) -> dict[str, Any]:
        # Limits first, readonly last: once read-only, a session refuses to change any setting.
        return {
            "max_execution_time": self.max_execution_time,
            "max_result_rows": self.max_result_rows,
            "result_overflow_mode": "throw",
            "max_memory_usage": self.max_memory_usage,
            "readonly": 1,
        }


def _query_rows(
    client: Client, sql: str, parameters: dict[str, Any] | None, settings: dict[str, Any] | None
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """(column names, rows); an empty result keeps its column names.

    The Native format sends no block for an empty result, so the driver has no names; asking
    ``DESCRIBE (query)`` gets them. Statements that cannot be described (SHOW, EXISTS, …) keep none.
    """
    result = client.query(sql, parameters=parameters, settings=settings)
    columns, rows = list(result.column_names), [tuple(r) for r in result.result_rows]
    if columns or rows:
        return columns, rows
    body = sql.strip().rstrip(";")
    try:
        described = client.query(f"DESCRIBE TABLE ({body})", parameters=parameters, settings=settings)
    except Exception:
        return [], []
    return [str(r[0]) for r in described.result_rows], []


class QuerySession:
    """Ad-hoc read-only SQL on a ClickHouse session of its own, never the loader's.

    A refused write must not change the writer's session: with chDB, per-call settings are applied
    with ``SET`` and restored afterwards, and a restore after ``readonly=1`` fails, leaving the session
    read-only for every later insert. Here the session is read-only and limited from the start (for
    chDB a second handle on the engine this process owns, with the limits and ``readonly=1`` set once;
    for a server, the same settings on every request), and every statement passes
    :func:`services.common.sql_guard.check_statement` first. It has its own lock, so a long query
    does not hold up the loader's inserts.
    """

    def __init__(self, client: Client, embedded: bool, limits: QueryLimits) -> None:
        self.client = client
        self.limits = limits
        self._lock = threading.Lock()
        if embedded:
            for name, value in limits.settings().items():
                client.command(f"SET {name} = {value!r}")
            self._per_query: dict[str, Any] = {}
        else:
            self._per_query = limits.settings()
        try:
            names = [r[0] for r in client.query("SELECT name FROM system.table_functions").result_rows]
        except Exception:  # an old server or a restricted user: the fixed list still applies
            names = []
        self.denied = denied_functions(names)

    def canonical(self, sql: str) -> str:
        """ClickHouse's own parse of ``sql`` as one canonical line; a syntax error raises QuerySyntaxError."""
        with self._lock:
            try:
                result = self.client.query(
                    "SELECT formatQuerySingleLine({sql:String})",
                    parameters={"sql": sql},
                    settings=self._per_query,
                )
            except Exception as exc:
                if getattr(exc, "code", None) in _PARSE_ERRORS:
                    raise QuerySyntaxError(f"not a valid statement: {exc}") from exc
                raise
        return str(result.result_rows[0][0])

    def check(self, sql: str) -> str:
        """The canonical form of ``sql`` when it may run here; QueryRefused otherwise."""
        canonical = self.canonical(sql)
        check_statement(canonical, self.denied)
        return canonical

    def query_rows(
        self, sql: str, parameters: dict[str, Any] | None = None
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Check, then run ``sql``; QueryRefused for a statement that may not run, the driver's error
        for one that failed."""
        self.check(sql)
        with self._lock:
            return _query_rows(self.client, sql, parameters, self._per_query)

    def close(self) -> None:
        with self._lock:
            self.client.close()


class Database:
    """A thread-safe handle on one ClickHouse target.

    chDB calls block and are not safe to interleave, so every call takes one lock; the async
    services call these methods through ``asyncio.to_thread``.
    """

    def __init__(self, client: Client, target: Target, lock_fd: int | None = None) -> None:
        self.client = client
        self.target = target
        self._lock = threading.Lock()
        self._lock_fd = lock_fd

    @property
    def embedded(self) -> bool:
        return isinstance(self.target, EmbeddedTarget)

    def command(self, sql: str, settings: dict[str, Any] | None = None) -> Any:
        with self._lock:
            return self.client.command(sql, settings=settings)

    def query_rows(
        self, sql: str, parameters: dict[str, Any] | None = None, settings: dict[str, Any] | None = None
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """(column names, rows); an empty result keeps its column names (see :func:`_describe`)."""
        with self._lock:
            return _query_rows(self.client, sql, parameters, settings)

    def insert_columns(
        self,
        table: str,
        columns: Sequence[Sequence[Any]],
        column_names: Sequence[str],
        settings: dict[str, Any] | None = None,
    ) -> None:
        """Column-oriented insert: one list per column avoids building row tuples."""
        with self._lock:
            self.client.insert(
                table,
                list(columns),
                column_names=list(column_names),
                column_oriented=True,
                settings=settings,
            )

    def query_session(self, limits: QueryLimits | None = None) -> QuerySession:
        """A read-only session of its own for ad-hoc queries (see :class:`QuerySession`)."""
        return QuerySession(_client(self.target), self.embedded, limits or QueryLimits())

    def advertise(self, query_url: str) -> None:
        """Record where this owner serves read-only queries (embedded mode only)."""
        if isinstance(self.target, EmbeddedTarget) and self._lock_fd is not None:
            payload = json.dumps({"pid": os.getpid(), "query_url": query_url}).encode()
            os.ftruncate(self._lock_fd, 0)
            os.pwrite(self._lock_fd, payload, 0)

    def close(self) -> None:
        with self._lock:
            self.client.close()
            if self._lock_fd is not None:
                if isinstance(self.target, EmbeddedTarget):
                    self.target.lock_path.unlink(missing_ok=True)  # still ours: we hold the lock
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
                os.close(self._lock_fd)
                self._lock_fd = None


def _take_owner_lock(target: EmbeddedTarget) -> int:
    """Lock ``target.lock_path`` exclusively; a lock file left by a dead owner is taken over, with a log line.

    The owner removes the file when it closes; the inode check makes sure the lock we hold is on the file
    that is at the path now, not on one a closing owner just unlinked.
    """
    target.path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(target.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ChdbPathBusy(target.path, _read_owner(target.lock_path)) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(target.lock_path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    previous = _read_owner(target.lock_path) or {}
    if previous.get("pid") not in (None, os.getpid()):
        log.warning(
            "cleared stale chDB owner lock %s left by pid %s, which no longer holds it",
            target.lock_path,
            previous["pid"],
        )
    return fd


def connect(dsn: str, base_dir: Path | None = None, connect_timeout: float = 10.0) -> Database:
    """Open the DSN's target; for chDB take ownership of the path or raise :class:`ChdbPathBusy`."""
    target = parse_dsn(dsn, base_dir)
    if isinstance(target, EmbeddedTarget):
        fd = _take_owner_lock(target)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid()}).encode(), 0)
        try:
            client = _client(target)
        except Exception:
            target.lock_path.unlink(missing_ok=True)
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            raise
        return Database(client, target, lock_fd=fd)
    return Database(_client(target, connect_timeout), target)


def _client(target: Target, connect_timeout: float = 10.0) -> Client:
    """A new client (for chDB: a new handle, with session state of its own, on the process's engine)."""
    if isinstance(target, EmbeddedTarget):
        return clickhouse_connect.get_client(dsn=f"chdb://{target.path}")
    try:
        return clickhouse_connect.get_client(
            host=target.host,
            port=target.port,
            username=target.username,
            password=target.password,
            database=target.database,
            secure=target.secure,
            connect_timeout=connect_timeout,
        )
    except Exception as exc:
        raise ClickHouseError(f"cannot reach ClickHouse server {target!r}: {exc}") from exc
