"""``POST /query`` on the loader: analysts' read-only SQL against the ClickHouse it loads.

In embedded mode the loader is the only process that may open the chDB path, so ``engage query``, the
run summary and reports come here. The endpoint

* needs ``Authorization: Bearer <token>`` with a token from ``ENGAGE_QUERY_TOKENS``; without any
  configured token it refuses every call (fail closed);
* runs statements on a read-only, limited session of its own (:class:`QuerySession`), never the
  loader's, after :mod:`services.common.sql_guard` accepted them;
* is served on the loader's web port, or with ``ENGAGE_LOADER_QUERY_PORT`` on a port of its own, so a
  NetworkPolicy can admit analysts to /query and metrics scrapers to /metrics separately.

Answers: 200 ``{"columns", "rows"}``; 400 malformed body or SQL that does not parse; 401 no or wrong
token; 403 a statement that may not run here, or no tokens configured; 422 ClickHouse failed it
(limits included).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from services.common.clickhouse import QuerySession
from services.common.sql_guard import QueryRefused, QuerySyntaxError

log = logging.getLogger(__name__)

Answer = tuple[int, bytes, dict[str, str]]


def parse_tokens(value: str) -> list[str]:
    return [t.strip() for t in value.split(",") if t.strip()]


def bearer_ok(header: str | None, tokens: list[str]) -> bool:
    """``Authorization: Bearer <token>`` against every configured token (no early exit)."""
    scheme, _, provided = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not provided.strip():
        return False
    given = provided.strip().encode()
    ok = False
    for token in tokens:
        ok |= hmac.compare_digest(given, token.encode())
    return ok


async def answer(session: QuerySession, tokens: list[str], authorization: str | None, body: bytes) -> Answer:
    """The whole endpoint, HTTP framework aside: (status, JSON body, extra headers)."""
    if not tokens:
        return _error(403, "/query is disabled: no tokens are configured (ENGAGE_QUERY_TOKENS)")
    if not bearer_ok(authorization, tokens):
        status, payload, _ = _error(401, "missing or invalid Authorization: Bearer <token>")
        return status, payload, {"WWW-Authenticate": 'Bearer realm="engage-query"'}
    try:
        sql, parameters = _parse_body(orjson.loads(body))
    except (ValueError, TypeError) as exc:
        return _error(400, f"bad request: {exc}")
    try:
        columns, rows = await asyncio.to_thread(session.query_rows, sql, parameters)
    except QuerySyntaxError as exc:
        return _error(400, str(exc))
    except QueryRefused as exc:
        return _error(403, f"refused: {exc}")
    except Exception as exc:
        return _error(422, str(exc))
    payload = orjson.dumps({"columns": columns, "rows": rows}, default=str, option=orjson.OPT_NON_STR_KEYS)
    return 200, payload, {}


def _error(status: int, message: str) -> Answer:
    return status, orjson.dumps({"error": message}), {}


def _parse_body(body: Any) -> tuple[str, dict[str, Any] | None]:
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object with field 'sql'")
    sql = body.get("sql")
    if not isinstance(sql, str) or not sql.strip():
        raise ValueError("field 'sql' must be a non-empty string")
    parameters = body.get("parameters")
    if parameters is not None and not (
        isinstance(parameters, dict) and all(isinstance(k, str) for k in parameters)
    ):
        raise ValueError("field 'parameters' must be an object of name: value")
    return sql, parameters


def query_handler(
    session: QuerySession, tokens: list[str]
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The aiohttp handler of ``POST /query``."""
    _warn_if_closed(tokens)

    async def post(request: web.Request) -> web.Response:
        status, payload, headers = await answer(
            session, tokens, request.headers.get("Authorization"), await request.read()
        )
        return web.Response(body=payload, status=status, headers=headers, content_type="application/json")

    return post


def _warn_if_closed(tokens: list[str]) -> None:
    if not tokens:
        log.warning("ENGAGE_QUERY_TOKENS is empty: /query refuses every call")
