"""Run read-only SQL wherever the data is: the chDB owner's /query endpoint, the chDB path, or a server.

In embedded mode only one process may open the chDB path, and while the pipeline runs that is the
enrich worker's loader; queries are then routed to its HTTP endpoint, which executes them with
``readonly=1``. When nothing owns the path, the caller opens it itself (and holds it briefly).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from services.common.clickhouse import EmbeddedTarget, connect, owner_info, parse_dsn

READ_ONLY = {"readonly": 1}


class QueryError(RuntimeError):
    """The query was refused or failed; the message is ClickHouse's."""


def run_query(
    dsn: str,
    sql: str,
    parameters: dict[str, Any] | None = None,
    base_dir: Path | None = None,
    timeout: float = 120.0,
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
            try:
                resp = httpx.post(url, json={"sql": sql, "parameters": parameters}, timeout=timeout)
            except httpx.HTTPError as exc:
                raise QueryError(f"query endpoint {url} unreachable: {exc}") from exc
            body = resp.json()
            if resp.status_code != 200:
                raise QueryError(body.get("error", resp.text))
            return list(body["columns"]), [list(r) for r in body["rows"]]
    db = connect(dsn, base_dir)
    try:
        columns, rows = db.query_rows(sql, parameters, READ_ONLY)
    except Exception as exc:
        raise QueryError(str(exc)) from exc
    finally:
        db.close()
    return columns, [list(r) for r in rows]
