"""The loader's HTTP endpoints: readiness from its inserts and assignment, metrics, /query on one port
or its own."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from services.common.clickhouse import Database
from services.common.settings import LoaderSettings
from services.loader.consumer import Loader
from services.loader.worker import query_app, web_app

TOKEN = "loader-test-token"


async def _call(http: web.Application, method: str, path: str, **kw: Any) -> tuple[int, str]:
    async with TestClient(TestServer(http)) as client:
        resp = await client.request(method, path, **kw)
        return resp.status, await resp.text()


def _loader(db: Database, **settings: Any) -> Loader:
    return Loader(LoaderSettings(query_tokens=TOKEN, loader_unready_after_failures=2, **settings), db)


def test_readyz_needs_partitions_and_answers_503_with_the_failing_inserts(db: Database) -> None:
    loader = _loader(db)
    http = web_app(loader, db, with_query=False)
    status, body = asyncio.run(_call(http, "GET", "/readyz"))
    assert status == 503 and '"ready": false' in body  # no consumer yet: no partitions assigned
    loader._record(RuntimeError("READONLY"))
    loader._record(RuntimeError("READONLY"))
    status, body = asyncio.run(_call(web_app(loader, db, with_query=False), "GET", "/readyz"))
    assert status == 503 and "2 ClickHouse inserts in a row failed" in body and "READONLY" in body
    assert asyncio.run(_call(web_app(loader, db, with_query=False), "GET", "/healthz"))[0] == 200


def test_metrics_carry_the_loader_s_series(db: Database) -> None:
    status, body = asyncio.run(_call(web_app(_loader(db), db, with_query=False), "GET", "/metrics"))
    assert status == 200 and "engage_loader_rows_total" in body


def test_query_is_served_on_the_web_port_or_on_its_own(db: Database) -> None:
    auth = {"headers": {"Authorization": f"Bearer {TOKEN}"}}

    def post(http: web.Application, sql: str, **kw: Any) -> tuple[int, str]:
        return asyncio.run(_call(http, "POST", "/query", json={"sql": sql}, **kw))

    status, body = post(web_app(_loader(db), db, with_query=True), "SELECT 1 AS one", **auth)
    assert status == 200 and '"one"' in body
    assert post(web_app(_loader(db), db, with_query=True), "SELECT 1")[0] == 401
    assert post(web_app(_loader(db), db, with_query=False), "SELECT 1", **auth)[0] in (404, 405)
    assert post(query_app(_loader(db).settings, db), "SELECT 1", **auth)[0] == 200
    assert asyncio.run(_call(query_app(_loader(db).settings, db), "GET", "/metrics"))[0] == 404
