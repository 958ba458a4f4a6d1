"""The faust workers' web port: what faust serves there."""

from __future__ import annotations

import asyncio
from pathlib import Path

import faust
from aiohttp.test_utils import TestClient, TestServer

from services.common.settings import EnrichSettings
from services.runtime.app import faust_app
from services.runtime.web import add_health_views


def _app(tmp_path: Path) -> faust.App:
    return faust_app(EnrichSettings(), "web-probe", tmp_path, "127.0.0.1", 1)


async def _get(app: faust.App, *paths: str) -> list[tuple[int, str]]:
    app.web.init_server()
    async with TestClient(TestServer(app.web.web_app)) as client:
        out = []
        for path in paths:
            resp = await client.get(path)
            out.append((resp.status, await resp.text()))
        return out


def test_faust_table_router_and_debug_pages_are_not_served(tmp_path: Path) -> None:
    """/table/ reads any key of any table and /router/ tells where keys live: off on the workers' port."""
    app = _app(tmp_path)
    add_health_views(app)
    got = asyncio.run(_get(app, "/table/", "/router/", "/graph/", "/stats/", "/healthz"))
    assert [status for status, _ in got] == [404, 404, 404, 404, 200]
