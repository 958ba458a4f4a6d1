"""Run read-only SQL wherever the data is: the chDB owner's /query endpoint, the chDB path, or a server.

In embedded mode only one process may open the chDB path, and while the pipeline runs that is the
loader worker; queries are then routed to its HTTP endpoint with a bearer token (see
:func:`client_token`). When nothing owns the path, the caller opens it itself (and holds it briefly).
Either way statements run on a read-only, limited session after the same checks
(:class:`services.common.clickhouse.QuerySession`).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import httpx

from services.common.clickhouse import EmbeddedTarget, QueryLimits, connect, owner_info, parse_dsn
from services.common.settings import CommonSettings


class QueryError(RuntimeError):
    """The query was refused or failed; the message is ClickHouse's (or the refusal's)."""


def local_token_file() -> Path:
    """The local stack's /query token (``<var_dir>/run/query-token``, mode 0600)."""
    return CommonSettings().var_dir / "run" / "query-token"


def ensure_local_token() -> str:
    """The local stack's /query token, created on first use; its workers accept it, its CLI sends it."""
    path = local_token_file()
    try:
        token = path.read_text().strip()
    except FileNotFoundError:
        token = ""
    if not token:
        path.parent.mkdir(parents=True, exist_ok=True)
        token = secrets.token_urlsafe(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(token + "\n")
    return token


def client_token() -> str | None:
    """The token sent to /query: ``ENGAGE_QUERY_TOKEN``, else the first of ``ENGAGE_QUERY_TOKENS`` (the
    worker's own list, when client and worker share an environment), else the local stack's file."""
    explicit = os.environ.get("ENGAGE_QUERY_TOKEN", "").strip()
    if explicit:
        return explicit
    listed = [t.strip() for t in os.environ.get("ENGAGE_QUERY_TOKENS", "").split(",") if t.strip()]
    if listed:
        return listed[0]
    try:
        return local_token_file().read_text().strip() or None
    except OSError:
        return None


def run_query(
    dsn: str,
    sql: str,
    parameters: dict[str, Any] | None = None,
    base_dir: Path | None = None,
    timeout: float = 120.0,
    token: str | None = None,
) -> tuple[list[str], list[list[Any]]]:
    """Return (column names, rows) for a read-only query."""
    target = parse_dsn(dsn, base_dir)
    if isinstance(target, EmbeddedTarget):
        owner = owner_info(target)
        if owner is not None:
            url = owner.get("query_url")
            if not url:
                raise QueryError(
                    f"chDB path {target.path} is held by pid {owner.get('pid')}, which serves no queries"
                )
            return _via_owner(url, sql, parameters, timeout, token or client_token())
    db = connect(dsn, base_dir)
    try:
        session = db.query_session(QueryLimits.of(CommonSettings()))
        try:
            columns, rows = session.query_rows(sql, parameters)
        finally:
            session.close()
    except Exception as exc:  # refused by the checks, or failed in ClickHouse
        raise QueryError(str(exc)) from exc
    finally:
        db.close()
    return columns, [list(r) for r in rows]


def _via_owner(
    url: str, sql: str, parameters: dict[str, Any] | None, timeout: float, token: str | None
) -> tuple[list[str], list[list[Any]]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        resp = httpx.post(url, json={"sql": sql, "parameters": parameters}, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise QueryError(f"query endpoint {url} unreachable: {exc}") from exc
    try:
        body = resp.json()
    except ValueError:
        body = {}
    if resp.status_code != 200:
        message = body.get("error", resp.text) if isinstance(body, dict) else resp.text
        if resp.status_code == 401 and not token:
            message += " (set ENGAGE_QUERY_TOKEN to a token of the worker's ENGAGE_QUERY_TOKENS)"
        raise QueryError(message)
    return list(body["columns"]), [list(r) for r in body["rows"]]
