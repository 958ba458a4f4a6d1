"""/query's answers (services/loader/query_api.py) and how clients find their token (common/query.py)."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from services.common.clickhouse import QuerySession, connect
from services.common.query import client_token, ensure_local_token, local_token_file
from services.common.settings import EnrichSettings
from services.loader.query_api import answer, bearer_ok, parse_tokens
from services.local.stack import worker_env

TOKENS = ["analyst-token", "grafana-token"]


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QuerySession]:
    db = connect(f"chdb://{tmp_path_factory.mktemp('q') / 'ch'}")
    db.command("CREATE TABLE events (event_id String) ENGINE = MergeTree ORDER BY event_id")
    db.command("INSERT INTO events VALUES ('e1'), ('e2')")
    s = db.query_session()
    try:
        yield s
    finally:
        s.close()
        db.close()


def _ask(
    session: QuerySession, body: object, auth: str | None = "Bearer grafana-token", tokens: list[str] = TOKENS
):
    status, payload, headers = asyncio.run(answer(session, tokens, auth, orjson.dumps(body)))
    return status, orjson.loads(payload), headers


def test_without_configured_tokens_every_call_is_refused(session: QuerySession) -> None:
    status, body, _ = _ask(session, {"sql": "SELECT 1"}, auth="Bearer anything", tokens=[])
    assert status == 403 and "ENGAGE_QUERY_TOKENS" in body["error"]
    assert parse_tokens(" , ") == []  # blank entries configure no token


@pytest.mark.parametrize("auth", [None, "", "Bearer", "Bearer wrong", "Basic grafana-token", "grafana-token"])
def test_a_missing_or_wrong_token_gets_401(session: QuerySession, auth: str | None) -> None:
    status, body, headers = _ask(session, {"sql": "SELECT count() FROM events"}, auth=auth)
    assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
    assert "rows" not in body


def test_a_valid_token_reads(session: QuerySession) -> None:
    status, body, _ = _ask(session, {"sql": "SELECT count() AS n FROM events"}, auth="bearer  analyst-token ")
    assert (status, body) == (200, {"columns": ["n"], "rows": [[2]]})
    assert bearer_ok("Bearer grafana-token", TOKENS) and not bearer_ok("Bearer grafana-tok", TOKENS)


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"sql": "DROP TABLE events"}, 403, "only SELECT"),
        ({"sql": "SELECT 1 INTO OUTFILE '/tmp/engage-query-probe'"}, 403, "INTO OUTFILE"),
        ({"sql": "SELECT * FROM url('http://127.0.0.1:1/', 'RawBLOB')"}, 403, "url()"),
        ({"sql": "SELEC 1"}, 400, "not a valid statement"),
        ({"sql": ""}, 400, "'sql'"),
        ({"sql": "SELECT 1", "parameters": [1]}, 400, "'parameters'"),
        (["SELECT 1"], 400, "JSON object"),
        ({"sql": "SELECT no_such_column FROM events"}, 422, "no_such_column"),
    ],
)
def test_refusals_and_failures_name_the_rule(
    session: QuerySession, body: object, status: int, fragment: str
) -> None:
    got, answer_body, _ = _ask(session, body)
    assert got == status and fragment in answer_body["error"]
    assert not Path("/tmp/engage-query-probe").exists()


def test_the_local_stack_shares_a_generated_token_with_its_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENGAGE_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("ENGAGE_QUERY_TOKENS", raising=False)
    monkeypatch.delenv("ENGAGE_QUERY_TOKEN", raising=False)
    assert client_token() is None
    env = worker_env(EnrichSettings())
    token = env["ENGAGE_QUERY_TOKENS"]
    assert len(token) >= 32 and local_token_file() == tmp_path / "run" / "query-token"
    assert stat.S_IMODE(os.stat(local_token_file()).st_mode) == 0o600
    assert client_token() == token == ensure_local_token()  # stable across runs
    monkeypatch.setenv("ENGAGE_QUERY_TOKEN", "explicit")
    assert client_token() == "explicit"
    monkeypatch.setenv("ENGAGE_QUERY_TOKENS", "mine,other")
    assert "ENGAGE_QUERY_TOKENS" not in worker_env(EnrichSettings())  # the operator's tokens are kept
