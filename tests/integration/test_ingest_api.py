"""The ingest HTTP service on a real broker: auth, acknowledgement, pseudonymisation, replays, fuzzing.

The app runs in-process under uvicorn on a free port (its own thread and event loop), exactly as
``engage ingest serve`` runs it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from services.common.kafka import ensure_topics, topic_end_offsets
from services.common.query import run_query
from services.common.settings import IngestSettings
from services.ingest.api import create_app
from services.ingest.pseudonym import is_pseudonym, pseudonymise
from services.ingest.webhooks import signatures as sig
from services.local.kafka import free_port
from tests.integration.helpers import drain_pipeline, namespaced, read_records, running_pipeline, unique_name
from tests.integration.ingest_server import serve
from tests.integration.pipeline import Pipeline

pytestmark = pytest.mark.integration

TOKEN = "tok-1"
SECRETS: dict[str, Any] = {
    "ingest_tokens": f"{TOKEN},tok-2",
    "meta_app_secret": "meta-secret",
    "meta_verify_token": "verify-me",
    "x_consumer_secret": "x-secret",
    "youtube_secret": "yt-secret",
    "pseudonym_key": "test-pseudonym-key",
    "brand_accounts": "x:brand-x,youtube:UCbrand,instagram:brand-account",
}
KEY = SECRETS["pseudonym_key"].encode()
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PAGE = "page-1"


@pytest.fixture(scope="module")
def settings(kafka_bootstrap: str) -> IngestSettings:
    s = namespaced(
        IngestSettings,
        kafka_bootstrap,
        unique_name("ingestapi"),
        topic_partitions=2,
        ingest_max_batch=50,
        ingest_max_body_bytes=100_000,
        **SECRETS,
    )
    asyncio.run(ensure_topics(s))
    return s


@pytest.fixture(scope="module")
def base_url(settings: IngestSettings) -> Iterator[str]:
    with serve(settings) as url:
        yield url


@pytest.fixture
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=30) as c:
        yield c


def offsets(settings: IngestSettings) -> tuple[int, int]:
    async def both() -> tuple[int, int]:
        return (
            await topic_end_offsets(settings, settings.topic_raw),
            await topic_end_offsets(settings, settings.topic_dlq),
        )

    return asyncio.run(both())


def read_raw(settings: IngestSettings, event_ids: set[str]) -> dict[str, dict[str, Any]]:
    """The wanted events as the raw topic holds them (a 202 means they are in Kafka already)."""
    records = asyncio.run(read_records(settings, settings.topic_raw, "social_event"))
    return {r["event_id"]: r for r in records if r["event_id"] in event_ids}


def event(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_id": f"api-{uuid.uuid4().hex}",
        "platform": "instagram",
        "event_type": "comment",
        "brand_id": "brand-api",
        "actor_id": "ig-user-77",
        "text": "Love it",
        "occurred_at": "2026-11-01T09:30:00Z",
    }
    base.update(overrides)
    return base


def meta_comment(comment_id: str, user: str = "fb-user-9") -> bytes:
    return orjson.dumps(
        {
            "object": "page",
            "entry": [
                {
                    "id": PAGE,
                    "time": 1767225600,
                    "changes": [
                        {
                            "field": "feed",
                            "value": {
                                "item": "comment",
                                "verb": "add",
                                "comment_id": comment_id,
                                "post_id": f"{PAGE}_1",
                                "parent_id": f"{PAGE}_1",
                                "from": {"id": user},
                                "message": "Where is my order?",
                                "created_time": 1767225700,
                            },
                        }
                    ],
                }
            ],
        }
    )


def x_delivery(tweet_id: str) -> bytes:
    return orjson.dumps(
        {
            "for_user_id": "brand-x",
            "tweet_create_events": [
                {
                    "id_str": tweet_id,
                    "text": "@brand hello",
                    "timestamp_ms": "1767225600000",
                    "user": {"id_str": "x-fan", "followers_count": 3},
                }
            ],
        }
    )


def atom(video_id: str) -> bytes:
    return (
        '<feed xmlns:yt="http://www.youtube.com/xml/schemas/2015" xmlns="http://www.w3.org/2005/Atom">'
        f"<entry><yt:videoId>{video_id}</yt:videoId><yt:channelId>UCbrand</yt:channelId>"
        "<title>New video</title><published>2026-01-01T09:59:00+00:00</published></entry></feed>"
    ).encode()


# --- authentication: nothing forged reaches Kafka ---------------------------------------------------


def test_missing_and_invalid_credentials_are_refused_and_produce_nothing(
    client: httpx.Client, settings: IngestSettings
) -> None:
    before = offsets(settings)
    batch = orjson.dumps([event()])
    meta, x, yt = meta_comment("forged-1"), x_delivery("forged-2"), atom("forged-3")
    other = b'{"object": "page", "entry": []}'
    cases: list[tuple[str, bytes, dict[str, str], int]] = [
        ("/v1/events", batch, {"content-type": "application/json"}, 401),
        ("/v1/events", batch, {"content-type": "application/json", "authorization": "Bearer nope"}, 403),
        ("/v1/events", batch, {"content-type": "application/json", "authorization": "Basic dG9rLTE="}, 401),
        ("/webhooks/meta", meta, {}, 401),
        ("/webhooks/meta", meta, {"x-hub-signature-256": "sha256=" + "0" * 64}, 403),
        ("/webhooks/meta", meta, {"x-hub-signature-256": sig.meta_signature(other, "meta-secret")}, 403),
        ("/webhooks/meta", meta, {"x-hub-signature-256": sig.meta_signature(meta, "wrong")}, 403),
        ("/webhooks/x", x, {}, 401),
        ("/webhooks/x", x, {"x-twitter-webhooks-signature": sig.x_signature(x, "wrong")}, 403),
        ("/webhooks/x", x, {"x-twitter-webhooks-signature": sig.meta_signature(x, "x-secret")}, 403),
        ("/webhooks/youtube", yt, {}, 401),
        ("/webhooks/youtube", yt, {"x-hub-signature": sig.websub_signature(yt, "wrong")}, 403),
    ]
    for path, body, headers, status in cases:
        resp = client.post(path, content=body, headers=headers)
        assert resp.status_code == status, (path, headers, resp.text)
        assert resp.json()["detail"]
    assert offsets(settings) == before


def test_handshakes(client: httpx.Client) -> None:
    ok = client.get(
        "/webhooks/meta",
        params={"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "c1"},
    )
    assert (ok.status_code, ok.text, ok.headers["content-type"].split(";")[0]) == (200, "c1", "text/plain")
    bad = client.get(
        "/webhooks/meta", params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "c1"}
    )
    assert bad.status_code == 403 and "c1" not in bad.text
    crc = client.get("/webhooks/x", params={"crc_token": "tok"})
    assert crc.json() == sig.x_crc_response("tok", "x-secret")
    for mode in ("subscribe", "unsubscribe"):
        yt = client.get(
            "/webhooks/youtube",
            params={
                "hub.mode": mode,
                "hub.topic": "https://www.youtube.com/xml/feeds/videos.xml?channel_id=UCbrand",
                "hub.challenge": "yc",
            },
        )
        assert (yt.status_code, yt.text) == (200, "yc")
    assert client.get("/webhooks/youtube", params={"hub.mode": "publish"}).status_code == 400


# --- canonical batches -----------------------------------------------------------------------------


def test_batch_is_acknowledged_counted_and_pseudonymised(
    client: httpx.Client, settings: IngestSettings
) -> None:
    good = [
        event(actor_id="ig-user-1", mood="happy", attributes={"utm_campaign": "c1"}),
        event(actor_id="brand-account", is_brand=False, event_type="reply"),
        event(actor_id=pseudonymise("known", "instagram", KEY), is_brand=True),
    ]
    too_long = event(text="x" * (settings.ingest_max_text_chars + 1))
    before_raw, before_dlq = offsets(settings)
    resp = client.post("/v1/events", json=[*good, too_long], headers=AUTH)
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert (body["accepted"], body["rejected"]) == (3, 1)
    assert body["errors"][0]["index"] == 3 and body["errors"][0]["field"] == "text"
    assert "longer than" in body["errors"][0]["message"]
    # Acknowledged before the answer: the offsets have already moved.
    assert offsets(settings) == (before_raw + 3, before_dlq + 1)

    ndjson = [event(actor_id="ig-user-2"), event(actor_id="ig-user-3")]
    resp = client.post(
        "/v1/events",
        content=b"\n".join(orjson.dumps(e) for e in ndjson) + b"\n",
        headers={**AUTH, "content-type": "application/x-ndjson"},
    )
    assert resp.status_code == 202 and resp.json() == {"accepted": 2, "rejected": 0, "errors": []}

    records = read_raw(settings, {e["event_id"] for e in good + ndjson})
    assert len(records) == 5
    first = records[good[0]["event_id"]]
    assert first["actor_id"] == pseudonymise("ig-user-1", "instagram", KEY)
    assert first["attributes"] == {"utm_campaign": "c1"}  # allowlisted attributes only
    brand = records[good[1]["event_id"]]  # a configured brand account, whatever the client said
    assert brand["is_brand"] is True and brand["actor_id"] == pseudonymise("brand-account", "instagram", KEY)
    lookalike = records[good[2]["event_id"]]  # shaped like a pseudonym: hashed all the same
    assert lookalike["is_brand"] is False
    assert lookalike["actor_id"] == pseudonymise(good[2]["actor_id"], "instagram", KEY)
    assert all(is_pseudonym(records[e["event_id"]]["actor_id"]) for e in ndjson)


def test_limits_and_malformed_bodies(client: httpx.Client, settings: IngestSettings) -> None:
    before = offsets(settings)
    too_many = client.post("/v1/events", json=[event() for _ in range(51)], headers=AUTH)
    assert too_many.status_code == 413 and "ingest_max_batch=50" in too_many.json()["detail"]
    big = client.post("/v1/events", json=[event(text="x" * 2000) for _ in range(50)], headers=AUTH)
    assert big.status_code == 413 and "ingest_max_body_bytes=100000" in big.json()["detail"]
    wrong_type = client.post("/v1/events", content=b"[]", headers={**AUTH, "content-type": "text/csv"})
    assert wrong_type.status_code == 415
    bad_line = client.post(
        "/v1/events",
        content=orjson.dumps(event()) + b"\n{oops\n",
        headers={**AUTH, "content-type": "application/x-ndjson"},
    )
    assert bad_line.status_code == 400 and bad_line.json()["detail"].startswith("line 2")
    bad_json = client.post("/v1/events", content=b"[{", headers={**AUTH, "content-type": "application/json"})
    assert bad_json.status_code == 400 and "malformed JSON" in bad_json.json()["detail"]
    not_array = client.post("/v1/events", json={"event_id": "x"}, headers=AUTH)
    assert not_array.status_code == 400
    xxe = b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><feed>&e;</feed>'
    refused = client.post(
        "/webhooks/youtube", content=xxe, headers={"x-hub-signature": sig.websub_signature(xxe, "yt-secret")}
    )
    assert refused.status_code == 400 and "DOCTYPE" in refused.json()["detail"]
    assert offsets(settings) == before


# --- webhooks: signed deliveries and replays -------------------------------------------------------


def test_signed_webhooks_produce_once_and_replays_produce_nothing(
    client: httpx.Client, settings: IngestSettings
) -> None:
    meta = meta_comment("c-100")
    x = x_delivery("900")
    yt = atom("VIDabc")
    deliveries = [
        ("/webhooks/meta", meta, {"x-hub-signature-256": sig.meta_signature(meta, "meta-secret")}),
        ("/webhooks/x", x, {"x-twitter-webhooks-signature": sig.x_signature(x, "x-secret")}),
        ("/webhooks/youtube", yt, {"x-hub-signature": sig.websub_signature(yt, "yt-secret", "sha1")}),
    ]
    raw_before, dlq_before = offsets(settings)
    for path, body, headers in deliveries:
        resp = client.post(path, content=body, headers=headers)
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"accepted": 1, "rejected": 0, "ignored": 0, "duplicate": False}
    assert offsets(settings) == (raw_before + 3, dlq_before)

    for path, body, headers in deliveries:  # byte-identical replays: valid signature, nothing produced
        resp = client.post(path, content=body, headers=headers)
        assert resp.status_code == 200 and resp.json()["duplicate"] is True
    assert offsets(settings) == (raw_before + 3, dlq_before)

    records = read_raw(settings, {"fb:c-100", "x:900", "yt:VIDabc"})
    assert records["fb:c-100"]["actor_id"] == pseudonymise("fb-user-9", "facebook", KEY)
    assert records["fb:c-100"]["brand_id"] == PAGE and records["fb:c-100"]["event_type"] == "comment"
    assert records["x:900"]["actor_id"] == pseudonymise("x-fan", "x", KEY)
    assert records["x:900"]["event_type"] == "mention"
    assert records["yt:VIDabc"]["actor_id"] == pseudonymise("UCbrand", "youtube", KEY)
    assert records["yt:VIDabc"]["is_brand"] is True


def test_health_readiness_and_metrics(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    text = client.get("/metrics").text
    assert 'engage_ingest_requests_total{endpoint="/v1/events",outcome="accepted"}' in text
    assert 'outcome="duplicate"' in text and 'outcome="forbidden"' in text


def test_the_app_answers_without_kafka() -> None:
    """Handshakes, health and auth failures need no broker; publishing says 503, readiness too."""
    settings = IngestSettings(kafka_bootstrap=f"127.0.0.1:{free_port()}", **SECRETS)

    async def run() -> None:
        transport = httpx.ASGITransport(app=create_app(settings))
        async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as c:
            assert (await c.get("/healthz")).status_code == 200
            assert (await c.get("/webhooks/x", params={"crc_token": "t"})).status_code == 200
            assert (await c.post("/v1/events", json=[event()])).status_code == 401
            assert (await c.post("/webhooks/meta", content=b"{}")).status_code == 401
            assert (await c.get("/readyz")).status_code == 503
            down = await c.post("/v1/events", json=[event()], headers=AUTH)
            assert down.status_code == 503 and "retry" in down.json()["detail"]

    asyncio.run(run())


# --- fuzzing the documented API --------------------------------------------------------------------


def test_openapi_fuzzing_finds_no_server_errors(base_url: str) -> None:
    import schemathesis
    from hypothesis import HealthCheck, given
    from hypothesis import settings as hsettings
    from schemathesis.checks import not_a_server_error

    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.label for op in operations} >= {"POST /v1/events", "POST /webhooks/meta", "GET /webhooks/x"}
    statuses: dict[str, set[int]] = {}
    for operation in operations:

        @hsettings(
            max_examples=30,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(
            case=operation.as_strategy(schemathesis.GenerationMode.POSITIVE)
            | operation.as_strategy(schemathesis.GenerationMode.NEGATIVE)
        )
        def fuzz(case: Any) -> None:
            response = case.call_and_validate(headers=AUTH, checks=[not_a_server_error], timeout=30)
            statuses.setdefault(case.operation.label, set()).add(response.status_code)

        fuzz()
    # Not vacuous: valid batches got past auth and parsing into Kafka, and schema-violating ones were refused.
    assert {202, 400} <= statuses["POST /v1/events"], statuses


# --- end to end: HTTP → Kafka → enrich → ClickHouse ------------------------------------------------


@pytest.fixture(scope="module")
def pipeline(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    with running_pipeline(kafka_bootstrap, tmp_path_factory, "ingestapi") as p:
        yield p


def test_webhook_and_batch_reach_clickhouse(pipeline: Pipeline) -> None:
    settings = pipeline.ingest.model_copy(update=SECRETS)
    meta = meta_comment("e2e-c-1", user="fb-e2e-user")
    batch = [event(event_id="e2e-api-1", actor_id="ig-e2e-user"), event(event_id="e2e-api-2", lang="en")]
    with serve(settings) as url, httpx.Client(base_url=url, timeout=30) as c:
        signed = c.post(
            "/webhooks/meta",
            content=meta,
            headers={"x-hub-signature-256": sig.meta_signature(meta, "meta-secret")},
        )
        assert signed.status_code == 200 and signed.json()["accepted"] == 1
        assert c.post("/v1/events", json=batch, headers=AUTH).json()["accepted"] == 2
    drain_pipeline(pipeline, 120)
    _, rows = run_query(
        pipeline.dsn,
        "SELECT event_id, platform, event_type, actor_id, brand_id FROM events FINAL ORDER BY event_id",
    )
    assert rows == [
        ["e2e-api-1", "instagram", "comment", pseudonymise("ig-e2e-user", "instagram", KEY), "brand-api"],
        ["e2e-api-2", "instagram", "comment", pseudonymise("ig-user-77", "instagram", KEY), "brand-api"],
        ["fb:e2e-c-1", "facebook", "comment", pseudonymise("fb-e2e-user", "facebook", KEY), PAGE],
    ]
