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


def test_the_producer_refreshes_metadata_often_enough_to_bound_a_stalled_send(tmp_path: Path) -> None:
    """The faust producer's aiokafka client gets the short metadata interval (not aiokafka's 5 min)."""
    from services.runtime.app import PRODUCER_METADATA_MAX_AGE_MS

    app = _app(tmp_path)
    assert app.conf.producer_metadata_max_age_ms == PRODUCER_METADATA_MAX_AGE_MS <= 30_000
    producer_kwargs = app.producer._settings_default()  # what faust hands to AIOKafkaProducer
    assert producer_kwargs["metadata_max_age_ms"] == PRODUCER_METADATA_MAX_AGE_MS


def test_the_producer_builds_large_record_batches(tmp_path: Path) -> None:
    """Record batches of 256 KiB reach aiokafka (its default, 16 KiB, splits a batch's outputs)."""
    from services.runtime.app import PRODUCER_MAX_BATCH_BYTES

    app = _app(tmp_path)
    assert app.producer._settings_default()["max_batch_size"] == PRODUCER_MAX_BATCH_BYTES == 256 * 1024


def test_the_enrich_app_commits_at_its_configured_interval(tmp_path: Path) -> None:
    """``enrich_commit_interval_seconds`` reaches faust's commit timer; other apps keep faust's default."""
    from services.enrich.app import create_app

    settings = EnrichSettings(enrich_data_dir=tmp_path / "enrich", enrich_commit_interval_seconds=0.7)
    assert create_app(settings).conf.broker_commit_interval == 0.7
    assert EnrichSettings().enrich_commit_interval_seconds == 0.5
    assert _app(tmp_path).conf.broker_commit_interval == 2.8
