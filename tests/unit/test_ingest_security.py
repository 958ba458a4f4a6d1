"""The ingest service probed as an attacker would, without Kafka: the app runs in-process (ASGI) and the
producer's Kafka client is replaced by a recorder, so every test sees exactly what would be sent."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from services.common import metrics
from services.common.avro import codec
from services.common.dlq import header_dict
from services.common.settings import IngestSettings
from services.ingest.api import create_app
from services.ingest.producer import Candidate, EventProducer, candidates_from_objects
from services.ingest.pseudonym import MissingPseudonymKey, pseudonymise
from services.ingest.webhooks import signatures as sig
from services.local.kafka import free_port

TOKEN = "tok"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
KEY = "unit-pseudonym-key"
BASE: dict[str, Any] = {
    "ingest_tokens": TOKEN,
    "meta_app_secret": "meta-secret",
    "meta_verify_token": "verify-me",
    "x_consumer_secret": "x-secret",
    "youtube_secret": "yt-secret",
    "pseudonym_key": KEY,
    "brand_accounts": "x:brand-x,youtube:UCbrand,instagram:brand-ig",
    "topic_raw": "raw",
    "topic_dlq": "dlq",
}


class RecordingKafka:
    """Stands in for AIOKafkaProducer: records every send and acknowledges it at once."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send(self, topic: str, **kwargs: Any) -> asyncio.Future[None]:
        self.sent.append({"topic": topic, **kwargs})
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def on(self, topic: str) -> list[dict[str, Any]]:
        return [m for m in self.sent if m["topic"] == topic]


def settings(**overrides: Any) -> IngestSettings:
    return IngestSettings(**{"kafka_bootstrap": f"127.0.0.1:{free_port()}", **BASE, **overrides})


Call = Callable[[httpx.AsyncClient, RecordingKafka], Awaitable[None]]


def run_app(s: IngestSettings, body: Call) -> RecordingKafka:
    """Serve the app in-process with a recording Kafka client; returns what was sent."""
    kafka = RecordingKafka()

    async def main() -> None:
        app = create_app(s)
        producer = EventProducer(s, source="api")
        await producer._producer.stop()
        producer._producer = kafka  # type: ignore[assignment]
        app.state.service._producer = producer
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as client:
            await body(client, kafka)

    asyncio.run(main())
    return kafka


def event(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_id": f"e-{time.monotonic_ns()}",
        "platform": "instagram",
        "event_type": "comment",
        "brand_id": "brand-api",
        "actor_id": "ig-user-1",
        "text": "Love it",
        "occurred_at": "2026-11-01T09:30:00Z",
    }
    return {**base, **overrides}


def decoded(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [codec("social_event").decode(m["value"]) for m in messages]


def x_body(for_user_id: str) -> bytes:
    return orjson.dumps(
        {
            "for_user_id": for_user_id,
            "tweet_create_events": [
                {
                    "id_str": "77",
                    "text": "hello",
                    "timestamp_ms": "1767225600000",
                    "user": {"id_str": "x-fan"},
                }
            ],
        }
    )


def atom(channel: str) -> bytes:
    return (
        '<feed xmlns:yt="http://www.youtube.com/xml/schemas/2015" xmlns="http://www.w3.org/2005/Atom">'
        f"<entry><yt:videoId>V-{channel}</yt:videoId><yt:channelId>{channel}</yt:channelId>"
        "<title>New video</title><published>2026-01-01T09:59:00+00:00</published></entry></feed>"
    ).encode()


# --- 1. the X CRC endpoint signs only CRC tokens; deliveries only for configured accounts ------------


def test_x_crc_refuses_tokens_shaped_like_a_body_and_deliveries_for_other_accounts() -> None:
    forged = x_body("victim-brand")

    async def body(c: httpx.AsyncClient, kafka: RecordingKafka) -> None:
        ok = await c.get("/webhooks/x", params={"crc_token": "Zm9vYmFyLWNyYy10b2tlbg=="})
        assert ok.json() == sig.x_crc_response("Zm9vYmFyLWNyYy10b2tlbg==", "x-secret")
        for token in (forged.decode(), "a" * 257, "tok en", '"quoted"', "[1]"):
            refused = await c.get("/webhooks/x", params={"crc_token": token})
            assert refused.status_code == 400, token
            assert "response_token" not in refused.text
        # Even with a valid signature, a delivery for an account that is not configured is refused.
        signed = {"x-twitter-webhooks-signature": sig.x_signature(forged, "x-secret")}
        resp = await c.post("/webhooks/x", content=forged, headers=signed)
        assert resp.status_code == 403 and "for_user_id" in resp.json()["detail"]
        assert kafka.sent == []
        mine = x_body("brand-x")
        resp = await c.post(
            "/webhooks/x",
            content=mine,
            headers={"x-twitter-webhooks-signature": sig.x_signature(mine, "x-secret")},
        )
        assert resp.status_code == 200 and resp.json()["accepted"] == 1

    kafka = run_app(settings(), body)
    assert [r["brand_id"] for r in decoded(kafka.on("raw"))] == ["brand-x"]


# --- 2. YouTube fails closed without a hub secret and confirms only configured channels --------------


def test_youtube_without_a_secret_refuses_notifications_and_verification() -> None:
    feed = atom("UCbrand")

    async def body(c: httpx.AsyncClient, kafka: RecordingKafka) -> None:
        assert (await c.post("/webhooks/youtube", content=feed)).status_code == 401
        forged = {"x-hub-signature": sig.websub_signature(feed, "")}
        assert (await c.post("/webhooks/youtube", content=feed, headers=forged)).status_code == 403
        verify = await c.get(
            "/webhooks/youtube",
            params={
                "hub.mode": "subscribe",
                "hub.topic": "https://www.youtube.com/xml/feeds/videos.xml?channel_id=UCbrand",
                "hub.challenge": "abc",
            },
        )
        assert verify.status_code == 403 and "abc" not in verify.text

    kafka = run_app(settings(youtube_secret=""), body)
    assert kafka.sent == []


def test_youtube_verification_and_notifications_only_for_configured_channels() -> None:
    topic = "https://www.youtube.com/xml/feeds/videos.xml?channel_id="

    async def body(c: httpx.AsyncClient, kafka: RecordingKafka) -> None:
        params = {"hub.mode": "subscribe", "hub.challenge": "c-1"}
        mine = await c.get("/webhooks/youtube", params={**params, "hub.topic": topic + "UCbrand"})
        assert (mine.status_code, mine.text) == (200, "c-1")
        for other in (
            topic + "UCother",
            "https://evil.example/xml/feeds/videos.xml?channel_id=UCbrand",
            topic + "UCbrand2",
        ):
            refused = await c.get("/webhooks/youtube", params={**params, "hub.topic": other})
            assert refused.status_code == 404, other
        for channel, accepted in (("UCbrand", 1), ("UCother", 0)):
            feed = atom(channel)
            resp = await c.post(
                "/webhooks/youtube",
                content=feed,
                headers={"x-hub-signature": sig.websub_signature(feed, "yt-secret")},
            )
            assert resp.status_code == 200 and resp.json()["accepted"] == accepted

    kafka = run_app(settings(), body)
    assert [r["brand_id"] for r in decoded(kafka.on("raw"))] == ["UCbrand"]


# --- 6. out-of-bounds events are invalid (field named, DLQ with reason), never a 503 ---------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"occurred_at": 10**17}, "occurred_at"),
        ({"occurred_at": -(10**15)}, "occurred_at"),
        ({"occurred_at": 2**63}, "occurred_at"),
        ({"occurred_at": 1e300}, "occurred_at"),
        ({"occurred_at": "0001-01-01T00:00:00Z"}, "occurred_at"),
        ({"occurred_at": "9999-12-31T23:59:59Z"}, "occurred_at"),
        ({"occurred_at": "1999-12-31T23:59:59Z"}, "occurred_at"),
        ({"attributes": {"k": "v" * 2_000_000}}, "attributes.k"),
        ({"attributes": {f"k{i}": "v" for i in range(65)}}, "attributes"),
        ({"attributes": {"k" * 129: "v"}}, "attributes." + "k" * 40),
        ({"post_id": "p" * 100_000}, "post_id"),
        ({"mood": "m" * 5000}, "attributes.x.mood"),
        ({"received_at": "9999-12-31T00:00:00Z"}, "received_at"),
        ({"received_at": 10**17}, "received_at"),
        ({"actor_followers": 2**70}, "actor_followers"),
    ],
)
def test_events_out_of_bounds_are_rejected_naming_the_field(overrides: dict[str, Any], field: str) -> None:
    async def main() -> None:
        producer = EventProducer(settings(), source="api")
        await producer._producer.stop()
        ready, rejected = producer.prepare([Candidate(obj=event(**overrides), raw=b"{}")])
        assert ready == [] and [(r.index, r.field) for r in rejected] == [(0, field)]

    asyncio.run(main())


def test_the_occurred_at_window_is_a_setting() -> None:
    now = datetime.now(UTC)
    s = settings(ingest_min_occurred_at="2020-01-01T00:00:00Z", ingest_max_future_seconds=60)

    async def main() -> None:
        producer = EventProducer(s, source="api")
        await producer._producer.stop()
        cases = [
            ("2019-12-31T23:59:59Z", False),
            ("2020-01-01T00:00:00Z", True),
            ((now + timedelta(seconds=30)).isoformat(), True),
            ((now + timedelta(seconds=600)).isoformat(), False),
        ]
        ready, rejected = producer.prepare(candidates_from_objects([event(occurred_at=t) for t, _ in cases]))
        assert [p.index for p in ready] == [i for i, (_, ok) in enumerate(cases) if ok]
        assert all(r.field == "occurred_at" for r in rejected)

    asyncio.run(main())


def test_an_oversized_record_is_rejected_and_its_dead_letter_still_fits() -> None:
    async def main() -> None:
        producer = EventProducer(settings(ingest_max_record_bytes=2000), source="api")
        await producer._producer.stop()
        kafka = RecordingKafka()
        producer._producer = kafka  # type: ignore[assignment]
        result = await producer.publish(candidates_from_objects([event(text="x" * 5000)]))
        assert (result.accepted, [r.field for r in result.rejected]) == (0, ["$"])
        assert "exceeds 2000 bytes" in result.rejected[0].message
        (letter,) = kafka.on("dlq")
        assert len(letter["value"]) <= 2000

    asyncio.run(main())


def test_a_bad_event_amid_good_ones_is_rejected_alone_and_dead_lettered() -> None:
    good = [event(event_id="g1"), event(event_id="g2"), event(event_id="g3")]
    bad = [event(event_id="b1", occurred_at=10**17), event(event_id="b2", attributes={"k": "v" * 2_000_000})]
    batch = [good[0], bad[0], good[1], bad[1], good[2]]

    async def body(c: httpx.AsyncClient, kafka: RecordingKafka) -> None:
        resp = await c.post(
            "/v1/events", content=orjson.dumps(batch), headers={**AUTH, "content-type": "application/json"}
        )
        assert resp.status_code == 202, resp.text
        out = resp.json()
        assert (out["accepted"], out["rejected"]) == (3, 2)
        assert [(e["index"], e["field"]) for e in out["errors"]] == [(1, "occurred_at"), (3, "attributes.k")]

    kafka = run_app(settings(ingest_max_body_bytes=5_000_000), body)
    assert [r["event_id"] for r in decoded(kafka.on("raw"))] == ["g1", "g2", "g3"]
    letters = [header_dict(m["headers"]) for m in kafka.on("dlq")]
    assert [h["__dlq.reason"] for h in letters] == ["invalid_event", "invalid_event"]
    assert "occurred_at" in letters[0]["__dlq.detail"] and "attributes.k" in letters[1]["__dlq.detail"]


# --- 7. nesting depth is bounded at parse time ------------------------------------------------------


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"a": value}
    return value


def test_deeply_nested_json_is_a_400_naming_the_event() -> None:
    async def body(c: httpx.AsyncClient, kafka: RecordingKafka) -> None:
        deep = event(extra=nested(300))
        array = await c.post(
            "/v1/events",
            content=b"[" + orjson.dumps(event()) + b"," + _dumps_deep(deep) + b"]",
            headers={**AUTH, "content-type": "application/json"},
        )
        assert array.status_code == 400 and array.json()["detail"].startswith("event 1:")
        ndjson = await c.post(
            "/v1/events",
            content=orjson.dumps(event()) + b"\n" + _dumps_deep(deep) + b"\n",
            headers={**AUTH, "content-type": "application/x-ndjson"},
        )
        assert ndjson.status_code == 400 and ndjson.json()["detail"].startswith("line 2 (event 1)")
        meta = b'{"object": "page", "entry": [' + _dumps_deep(nested(300)) + b"]}"
        signed = {"x-hub-signature-256": sig.meta_signature(meta, "meta-secret")}
        webhook = await c.post("/webhooks/meta", content=meta, headers=signed)
        assert webhook.status_code == 400 and "nested deeper" in webhook.json()["detail"]
        shallow = await c.post("/v1/events", json=[event(extra=nested(10))], headers=AUTH)
        assert shallow.status_code == 202

    kafka = run_app(settings(), body)
    assert len(kafka.on("raw")) == 1


def test_deep_events_from_files_are_dead_lettered_not_crashing_the_producer() -> None:
    """Replay has no HTTP layer: the producer bounds depth too, and the dead letter still encodes."""
    deep = event(event_id="deep", extra=nested(300))
    candidates = [Candidate(obj=deep, raw=_dumps_deep(deep), line=1), *candidates_from_objects([event()])]

    async def main() -> None:
        producer = EventProducer(settings(), source="replay")
        await producer._producer.stop()
        kafka = RecordingKafka()
        producer._producer = kafka  # type: ignore[assignment]
        result = await producer.publish(candidates)
        assert result.accepted == 1 and [(r.index, r.field) for r in result.rejected] == [(0, "$")]
        assert "nested deeper" in result.rejected[0].message
        (letter,) = kafka.on("dlq")
        assert b"ig-user-1" not in letter["value"]

    asyncio.run(main())


def _dumps_deep(value: Any) -> bytes:
    """JSON text for structures deeper than orjson.dumps allows (it stops at 254 levels)."""
    if isinstance(value, dict):
        return b"{" + b",".join(orjson.dumps(k) + b":" + _dumps_deep(v) for k, v in value.items()) + b"}"
    return orjson.dumps(value)


# --- 9. unknown webhook fields cannot mint metric series --------------------------------------------


def test_unknown_webhook_fields_use_a_fixed_label_set() -> None:
    async def body(c: httpx.AsyncClient, kafka: RecordingKafka) -> None:
        for i in range(20):
            value = {
                "item": "comment",
                "verb": "add",
                "comment_id": f"c{i}",
                "post_id": "p",
                "from": {"id": "u"},
                "created_time": 1767225700,
                f"forged_field_{i}": "x",
                "message_tags": [],
            }
            payload = orjson.dumps(
                {
                    "object": "page",
                    "entry": [
                        {"id": "page", "time": 1767225600, "changes": [{"field": "feed", "value": value}]}
                    ],
                }
            )
            signed = {"x-hub-signature-256": sig.meta_signature(payload, "meta-secret")}
            assert (await c.post("/webhooks/meta", content=payload, headers=signed)).status_code == 200

    run_app(settings(), body)
    labels = {
        s.labels["field"]
        for m in metrics.WEBHOOK_UNKNOWN_FIELDS.collect()
        for s in m.samples
        if s.labels.get("source") == "meta"
    }
    assert not any("forged_field" in label for label in labels), labels
    assert {"other", "feed.message_tags"} <= labels


# --- 10. no pseudonym key, no start (unless development is explicit) --------------------------------


def test_ingest_refuses_to_start_without_a_pseudonym_key() -> None:
    bare = settings(pseudonym_key="", allow_development_key=False)
    with pytest.raises(MissingPseudonymKey, match="ENGAGE_PSEUDONYM_KEY"):
        create_app(bare)

    async def producer() -> None:
        EventProducer(bare, source="replay")

    with pytest.raises(MissingPseudonymKey):
        asyncio.run(producer())
    create_app(settings(pseudonym_key="", allow_development_key=True))  # the local stack and tests
    create_app(settings(pseudonym_key="", allow_development_key=False, ingest_keep_raw_ids=True))


def test_engage_ingest_serve_exits_without_a_pseudonym_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from services.cli import app

    monkeypatch.setenv("ENGAGE_ALLOW_DEVELOPMENT_KEY", "false")
    monkeypatch.delenv("ENGAGE_PSEUDONYM_KEY", raising=False)
    result = CliRunner().invoke(app, ["ingest", "serve", "--port", str(free_port())])
    assert result.exit_code == 2 and "ENGAGE_PSEUDONYM_KEY" in result.output


# --- 11. personal data: brands from configuration, every id hashed, attributes allowlisted ---------


def test_is_brand_comes_from_configuration_and_every_actor_id_is_hashed() -> None:
    key = KEY.encode()
    lookalike = pseudonymise("someone", "instagram", b"another-key")
    batch = [
        event(event_id="claims-brand", actor_id="alice@example.com", is_brand=True),
        event(event_id="real-brand", actor_id="brand-ig", is_brand=False, event_type="reply"),
        event(event_id="lookalike", actor_id=lookalike),
        event(
            event_id="pii",
            text="mail me: kim.minji@example.co.kr or call 010-1234-5678",
            email="kim@example.com",
            username="kimminji",
            attributes={"utm_campaign": "spring", "x.message_tags": "Kim Minji (1234)"},
        ),
    ]

    async def body(c: httpx.AsyncClient, kafka: RecordingKafka) -> None:
        resp = await c.post("/v1/events", json=batch, headers=AUTH)
        assert resp.status_code == 202 and resp.json()["accepted"] == 4

    kafka = run_app(settings(), body)
    records = {r["event_id"]: r for r in decoded(kafka.on("raw"))}
    assert records["claims-brand"]["is_brand"] is False
    assert records["claims-brand"]["actor_id"] == pseudonymise("alice@example.com", "instagram", key)
    assert records["real-brand"]["is_brand"] is True
    assert records["real-brand"]["actor_id"] == pseudonymise("brand-ig", "instagram", key)
    assert records["lookalike"]["actor_id"] == pseudonymise(lookalike, "instagram", key)
    pii = records["pii"]
    assert pii["attributes"] == {"utm_campaign": "spring"}
    assert pii["text"] == "mail me: [email] or call [phone]"
    raw = b"".join(m["value"] for m in kafka.sent)
    for secret in (b"alice@example.com", b"kimminji", b"Kim Minji", b"010-1234-5678", b"kim.minji@"):
        assert secret not in raw


def test_text_redaction_is_a_setting() -> None:
    async def body(c: httpx.AsyncClient, kafka: RecordingKafka) -> None:
        assert (
            await c.post("/v1/events", json=[event(text="call 010-1234-5678")], headers=AUTH)
        ).status_code == 202

    kafka = run_app(settings(ingest_redact_text=False), body)
    assert decoded(kafka.on("raw"))[0]["text"] == "call 010-1234-5678"


# --- 12. a hung broker does not hang the request; in-flight requests are capped --------------------


class HungProducer:
    """A producer whose broker never acknowledges."""

    def __init__(self) -> None:
        self.calls = 0

    async def publish(self, candidates: list[Candidate]) -> Any:
        self.calls += 1
        await asyncio.Event().wait()

    async def __aexit__(self, *exc: object) -> None:
        return None


def test_a_hung_publish_answers_503_within_the_timeout_and_extra_requests_are_refused() -> None:
    s = settings(ingest_publish_timeout_seconds=0.5, ingest_max_inflight_requests=1)

    async def main() -> None:
        app = create_app(s)
        app.state.service._producer = HungProducer()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as c:
            started = time.monotonic()
            first = asyncio.create_task(c.post("/v1/events", json=[event()], headers=AUTH))
            await asyncio.sleep(0.1)
            busy = await c.post("/v1/events", json=[event()], headers=AUTH)
            assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
            hung = await asyncio.wait_for(first, timeout=10)
            assert hung.status_code == 503 and time.monotonic() - started < 5
            again = await asyncio.wait_for(c.post("/v1/events", json=[event()], headers=AUTH), timeout=10)
            assert again.status_code == 503  # the slot was given back

    asyncio.run(main())


# --- 13/14. escaped logs, bounded challenges, nosniff ----------------------------------------------


def test_untrusted_query_values_are_logged_escaped(caplog: pytest.LogCaptureFixture) -> None:
    topic = "https://www.youtube.com/xml/feeds/videos.xml?channel_id=UCbrand&x=1\n2026 CRITICAL forged line"

    async def body(c: httpx.AsyncClient, kafka: RecordingKafka) -> None:
        with caplog.at_level(logging.DEBUG, logger="services.ingest.api"):
            for t in (topic, "evil\r\nINFO forged"):
                await c.get(
                    "/webhooks/youtube",
                    params={"hub.mode": "subscribe", "hub.topic": t, "hub.challenge": "c"},
                )

    run_app(settings(), body)
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("services.ingest.api")]
    assert len(messages) == 2 and all("forged" in m for m in messages)
    assert not any("\n" in m or "\r" in m for m in messages)


def test_challenges_are_bounded_and_responses_are_nosniff() -> None:
    async def body(c: httpx.AsyncClient, kafka: RecordingKafka) -> None:
        meta = {"hub.mode": "subscribe", "hub.verify_token": "verify-me"}
        ok = await c.get("/webhooks/meta", params={**meta, "hub.challenge": "1158201444"})
        assert ok.status_code == 200 and ok.text == "1158201444"
        assert ok.headers["x-content-type-options"] == "nosniff"
        for bad in ("<script>alert(1)</script>", "a\r\nSet-Cookie: x=1", "c" * 60_000):
            resp = await c.get("/webhooks/meta", params={**meta, "hub.challenge": bad})
            assert resp.status_code == 400 and "<script>" not in resp.text
            yt = await c.get(
                "/webhooks/youtube",
                params={
                    "hub.mode": "subscribe",
                    "hub.topic": "https://www.youtube.com/xml/feeds/videos.xml?channel_id=UCbrand",
                    "hub.challenge": bad,
                },
            )
            assert yt.status_code == 400
        assert (await c.get("/healthz")).headers["x-content-type-options"] == "nosniff"

    run_app(settings(), body)


# --- 15. 503 bodies say nothing about the infrastructure --------------------------------------------


def test_503_bodies_are_generic_and_the_detail_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    s = settings(kafka_bootstrap=f"127.0.0.1:{port}", ingest_publish_timeout_seconds=10)

    async def main() -> None:
        transport = httpx.ASGITransport(app=create_app(s))
        async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as c:
            with caplog.at_level(logging.WARNING, logger="services.ingest.api"):
                down = await c.post("/v1/events", json=[event()], headers=AUTH)
            assert down.status_code == 503
            assert str(port) not in down.text and "127.0.0.1" not in down.text
            assert "retry" in down.json()["detail"]

    asyncio.run(main())
    assert any(str(port) in r.getMessage() for r in caplog.records)


# --- 11. the pure parts: redaction patterns, allowlists, chat escaping, attribute retention ----------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail kim.minji+cs@example.co.kr today", "mail [email] today"),
        ("call 010-1234-5678", "call [phone]"),
        ("전화 01012345678 주세요", "전화 [phone] 주세요"),
        ("ring +82 10 1234 5678 or +14155550123", "ring [phone] or [phone]"),
        ("US: (415) 555-0123", "US: [phone]"),
        # not personal: order numbers, prices, dates, times, versions, handles
        ("order 12345678 cost 45,000 won", "order 12345678 cost 45,000 won"),
        ("on 2026-11-01 at 10:30, v1.2.3", "on 2026-11-01 at 10:30, v1.2.3"),
        ("@brand hello", "@brand hello"),
    ],
)
def test_redaction_replaces_emails_and_phone_numbers_only(text: str, expected: str) -> None:
    from services.ingest.privacy import redact_text

    assert redact_text(text) == expected


def test_attribute_allowlist_is_per_platform_and_extensible() -> None:
    from services.ingest.privacy import allowed_attributes, filter_attributes

    attrs = {"fb.item": "comment", "ig.media_product_type": "FEED", "x.email": "a@b.c", "crm_tier": "gold"}
    assert filter_attributes(attrs, allowed_attributes("facebook")) == {"fb.item": "comment"}
    assert filter_attributes(attrs, allowed_attributes("instagram", ["crm_tier"])) == {
        "ig.media_product_type": "FEED",
        "crm_tier": "gold",
    }


def test_sample_texts_are_escaped_for_chat() -> None:
    from services.alerts.delivery import webhook_payload

    alert = {
        "status": "firing",
        "severity": "page",
        "summary": "complaints spike",
        "brand_id": "b",
        "kind": "complaints",
        "alert_id": "a1",
        "sample_texts": ["<!channel> refund now", "see <https://evil.example|your order> & pay"],
    }
    text = webhook_payload(alert)["attachments"][0]["text"]
    assert text == "&lt;!channel&gt; refund now\nsee &lt;https://evil.example|your order&gt; &amp; pay"


def test_attributes_share_the_text_retention(tmp_path: Any) -> None:
    from services.analytics import retention
    from services.common.clickhouse import connect
    from services.common.migrations import migrate

    assert any("attributes" in sql for sql in retention.statements(30))
    db = connect(f"chdb://{tmp_path / 'ch'}")
    try:
        migrate(db)
        _, rows = db.query_rows("SHOW CREATE TABLE events")
        ddl = str(rows[0][0])
    finally:
        db.close()
    line = next(x for x in ddl.splitlines() if "`attributes`" in x)
    assert "TTL toDateTime(loaded_at) + toIntervalDay(180)" in line


def test_user_ids_inside_event_ids_are_pseudonymised() -> None:
    key = KEY.encode()
    delivery = orjson.dumps(
        {
            "for_user_id": "brand-x",
            "favorite_events": [
                {
                    "timestamp_ms": 1767225600999,
                    "favorited_status": {"id_str": "9", "user": {"id_str": "brand-x"}},
                    "user": {"id_str": "x-fan-42"},
                }
            ],
            "follow_events": [
                {
                    "type": "follow",
                    "created_timestamp": "1767225601000",
                    "source": {"id_str": "x-fan-42"},
                    "target": {"id_str": "brand-x"},
                }
            ],
        }
    )

    async def body(c: httpx.AsyncClient, kafka: RecordingKafka) -> None:
        signed = {"x-twitter-webhooks-signature": sig.x_signature(delivery, "x-secret")}
        assert (await c.post("/webhooks/x", content=delivery, headers=signed)).json()["accepted"] == 2

    kafka = run_app(settings(), body)
    fan, brand = pseudonymise("x-fan-42", "x", key), pseudonymise("brand-x", "x", key)
    assert sorted(r["event_id"] for r in decoded(kafka.on("raw"))) == [
        f"x:fav:{fan}:9",
        f"x:follow:{fan}:{brand}:1767225601000",
    ]
    assert b"x-fan-42" not in b"".join(m["value"] for m in kafka.sent)


@pytest.mark.parametrize(
    ("event_id", "expected"),
    [
        ("fb:react:u-42:1001_9", "fb:react:H(u-42,facebook):1001_9"),
        ("x:fav:fan:1", "x:fav:H(fan,x):1"),
        ("x:unfollow:fan:brand:1767225602000", "x:unfollow:H(fan,x):H(brand,x):1767225602000"),
        ("fb:c-100", "fb:c-100"),
        ("x:900", "x:900"),
        ("api-123", "api-123"),
        ("x:fav:malformed", "x:fav:malformed"),
    ],
)
def test_event_id_user_segments(event_id: str, expected: str) -> None:
    from services.ingest.webhooks import pseudonymise_event_id

    assert pseudonymise_event_id(event_id, lambda user, platform: f"H({user},{platform})") == expected
