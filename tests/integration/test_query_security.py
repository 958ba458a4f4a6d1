"""/query on a running loader worker: token, read-only rules, its own session, readiness, web pages.

The worker here serves /query on a port of its own (``ENGAGE_LOADER_QUERY_PORT``), as the chart
deploys it; the end-to-end module covers /query on the web port.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator

import httpx
import orjson
import pytest

from services.common import failpoints
from services.common.query import run_query
from services.ingest.replay import replay_files
from services.local.kafka import free_port
from services.sim.demo import demo_events
from tests.integration.helpers import eventually, eventually_async, run_engage, running_pipeline
from tests.integration.pipeline import Pipeline

pytestmark = pytest.mark.integration

TOKEN = os.environ["ENGAGE_QUERY_TOKENS"].split(",")[0]


def _own_query_port() -> dict[str, object]:
    return {"loader_query_port": free_port(), "loader_query_host": "127.0.0.1"}


@pytest.fixture(scope="module")
def worker(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    with running_pipeline(
        kafka_bootstrap, tmp_path_factory, "qsec", ("enrich", "loader"), loader=_own_query_port()
    ) as p:
        yield p


def _post(p: Pipeline, sql: str, token: str | None = TOKEN) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(p.loader.query_url(), json={"sql": sql}, headers=headers, timeout=60)


def _load(p: Pipeline, n: int, seed: int) -> set[str]:
    """Replay ``n`` demo events and wait until every one is in ClickHouse; returns their ids."""
    events = [{**e, "event_id": f"{seed}-{e['event_id']}"} for e in demo_events(n=n, seed=seed)[:n]]
    path = p.root / f"events-{seed}.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n")
    assert asyncio.run(replay_files(p.ingest, [path])).accepted == n
    ids = {str(e["event_id"]) for e in events}

    def loaded() -> int:
        _, rows = run_query(
            p.dsn,
            "SELECT uniqExact(event_id) FROM events WHERE event_id IN {ids:Array(String)}",
            {"ids": sorted(ids)},
        )
        return int(rows[0][0])

    eventually(lambda: loaded() == n, timeout=90, what=lambda: f"{n} events loaded:\n{p.log_tail('loader')}")
    return ids


def test_query_needs_a_configured_bearer_token(worker: Pipeline) -> None:
    assert _post(worker, "SELECT 1", token=None).status_code == 401
    assert _post(worker, "SELECT 1", token="not-the-token").status_code == 401
    ok = _post(worker, "SELECT 1 AS one")
    assert ok.status_code == 200 and ok.json() == {"columns": ["one"], "rows": [[1]]}


def test_refused_writes_leave_the_loader_loading(worker: Pipeline) -> None:
    """Before, a refused DROP left the loader's shared chDB session read-only: every later insert failed."""
    for sql in (
        "DROP TABLE events",
        "INSERT INTO events (event_id) VALUES ('forged')",
        "CREATE VIEW leak AS SELECT * FROM events",
        "KILL QUERY WHERE 1",
        "SET readonly = 0",
    ):
        resp = _post(worker, sql)
        assert resp.status_code == 403, (sql, resp.text)
    assert len(_load(worker, 40, seed=21)) == 40
    assert httpx.get(worker.url("loader", "/readyz"), timeout=5).status_code == 200


def test_no_file_is_written_or_read_through_query(worker: Pipeline) -> None:
    target = worker.root / "outfile.csv"
    for sql in (
        f"SELECT * FROM events INTO OUTFILE '{target}' TRUNCATE",
        f"SELECT 1 /* c */ INTO OUTFILE '{target}' FORMAT CSV",
        "SELECT * FROM file('/etc/hostname', 'LineAsString')",
        "SELECT * FROM url('http://127.0.0.1:1/', 'RawBLOB')",
        "SELECT * FROM remote('127.0.0.1:1', system.one)",
    ):
        resp = _post(worker, sql)
        assert resp.status_code == 403, (sql, resp.text)
    assert not target.exists()


def test_query_has_its_own_port_and_faust_s_pages_are_off(worker: Pipeline) -> None:
    web = worker.url("loader", "")
    assert httpx.post(f"{web}/query", json={"sql": "SELECT 1"}, timeout=5).status_code in (404, 405)
    assert httpx.get(f"{web}/metrics", timeout=5).status_code == 200
    enrich = worker.url("enrich", "")
    assert httpx.post(f"{enrich}/query", json={"sql": "SELECT 1"}, timeout=5).status_code in (404, 405)
    for page in ("/table/", "/router/", "/table/features-posts/"):
        assert httpx.get(enrich + page, timeout=5).status_code == 404, page


def test_engage_query_sends_the_token(worker: Pipeline) -> None:
    out = run_engage("query", "SELECT count() > 0 AS loaded FROM events", "-f", "json", env=worker.env())
    assert out.returncode == 0, out.stderr
    assert orjson.loads(out.stdout) == [{"loaded": True}]


def test_readyz_reports_failing_inserts_and_recovers(
    make_pipeline: Callable[..., Pipeline], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Six inserts in a row fail: from the fifth on the worker is not ready; the seventh loads."""
    p = make_pipeline(loader=_own_query_port())
    monkeypatch.setenv(failpoints.ENV_VAR, "loader.insert.before=6")
    p.start(("enrich", "loader"))
    seen: list[tuple[int, str]] = []

    async def watch() -> None:
        async with httpx.AsyncClient(timeout=5) as client:
            while True:
                resp = await client.get(p.url("loader", "/readyz"))
                seen.append((resp.status_code, resp.text))
                await asyncio.sleep(0.2)

    async def load_while_watching() -> None:
        task = asyncio.create_task(watch())
        try:
            await asyncio.to_thread(_load, p, 20, 22)
            loaded_at = len(seen)

            async def ready_again() -> bool:
                return len(seen) > loaded_at and seen[-1][0] == 200

            await eventually_async(
                ready_again, timeout=30, what=lambda: f"/readyz 200 after the load ({seen[-3:]})"
            )
        finally:
            task.cancel()

    asyncio.run(load_while_watching())
    unready = [body for status, body in seen if status == 503]
    assert unready and "ClickHouse inserts in a row failed" in unready[0], seen[-5:]
