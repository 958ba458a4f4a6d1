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
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import clickhouse_connect
from clickhouse_connect.driver.client import Client


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
            result = self.client.query(sql, parameters=parameters, settings=settings)
            columns, rows = list(result.column_names), [tuple(r) for r in result.result_rows]
            if not columns and not rows:
                columns = self._describe(sql, parameters, settings)
            return columns, rows

    def _describe(
        self, sql: str, parameters: dict[str, Any] | None, settings: dict[str, Any] | None
    ) -> list[str]:
        """Column names of a query that returned no rows.

        The Native format sends no block for an empty result, so the driver has no names; asking
        ``DESCRIBE (query)`` gets them. Statements that cannot be described (SHOW, EXISTS, …) keep none.
        """
        body = sql.strip().rstrip(";")
        try:
            described = self.client.query(
                f"DESCRIBE TABLE ({body})", parameters=parameters, settings=settings
            )
        except Exception:
            return []
        return [str(r[0]) for r in described.result_rows]

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
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
                os.close(self._lock_fd)
                self._lock_fd = None


def connect(dsn: str, base_dir: Path | None = None, connect_timeout: float = 10.0) -> Database:
    """Open the DSN's target; for chDB take ownership of the path or raise :class:`ChdbPathBusy`."""
    target = parse_dsn(dsn, base_dir)
    if isinstance(target, EmbeddedTarget):
        target.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ChdbPathBusy(target.path, _read_owner(target.lock_path)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid()}).encode(), 0)
        try:
            client = clickhouse_connect.get_client(dsn=f"chdb://{target.path}")
        except Exception:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            raise
        return Database(client, target, lock_fd=fd)
    try:
        client = clickhouse_connect.get_client(
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
    return Database(client, target)
