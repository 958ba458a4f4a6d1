"""Webhook signatures, handshakes and payload mappers: pure code, no Kafka."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.common.events import parse_event
from services.ingest.webhooks import (
    MappedPayload,
    PayloadError,
    detect_platform_payload,
    map_platform_payload,
)
from services.ingest.webhooks import signatures as sig
from services.ingest.webhooks.youtube import map_websub

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
SECRET = "app-secret"
PAGE, IG, BRAND_X = "1001", "17841400000000001", "2244994945"


# --- signatures -----------------------------------------------------------------------------------


def test_meta_signature_valid_invalid_missing() -> None:
    body = b'{"object":"page","entry":[]}'
    good = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    sig.verify_meta(body, good, SECRET)
    sig.verify_meta(body, good.upper().replace("SHA256=", "sha256="), SECRET)  # hex case is irrelevant
    with pytest.raises(sig.SignatureInvalid):
        sig.verify_meta(body + b" ", good, SECRET)
    with pytest.raises(sig.SignatureInvalid):
        sig.verify_meta(body, good, "other-secret")
    with pytest.raises(sig.SignatureInvalid):
        sig.verify_meta(body, "sha1=" + good[7:], SECRET)
    for missing in (None, "", "  "):
        with pytest.raises(sig.SignatureMissing):
            sig.verify_meta(body, missing, SECRET)


def test_an_unconfigured_secret_verifies_nothing() -> None:
    body = b"{}"
    forged = "sha256=" + hmac.new(b"", body, hashlib.sha256).hexdigest()  # anyone can compute this
    with pytest.raises(sig.SignatureInvalid):
        sig.verify_meta(body, forged, "")
    with pytest.raises(sig.SignatureInvalid):
        sig.verify_x(body, sig.x_signature(body, ""), "")
    with pytest.raises(sig.SignatureInvalid):
        sig.x_crc_response("token", "")


def test_x_signature_is_base64_hmac_sha256() -> None:
    body = b'{"for_user_id":"1"}'
    expected = "sha256=" + base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    assert sig.x_signature(body, SECRET) == expected
    sig.verify_x(body, expected, SECRET)
    with pytest.raises(sig.SignatureInvalid):
        sig.verify_x(b'{"for_user_id":"2"}', expected, SECRET)
    with pytest.raises(sig.SignatureInvalid):
        sig.verify_x(body, "sha256=" + sig.meta_signature(body, SECRET)[7:], SECRET)  # hex is not base64
    with pytest.raises(sig.SignatureMissing):
        sig.verify_x(body, None, SECRET)


def test_x_crc_response_matches_the_documented_algorithm() -> None:
    digest = hmac.new(SECRET.encode(), b"crc-123", hashlib.sha256).digest()
    assert sig.x_crc_response("crc-123", SECRET) == {
        "response_token": "sha256=" + base64.b64encode(digest).decode()
    }


@pytest.mark.parametrize("algo", ["sha1", "sha256"])
def test_websub_signature_sha1_and_sha256(algo: str) -> None:
    body = b"<feed/>"
    good = f"{algo}=" + hmac.new(SECRET.encode(), body, algo).hexdigest()
    sig.verify_websub(body, good, SECRET)
    with pytest.raises(sig.SignatureInvalid):
        sig.verify_websub(body + b"x", good, SECRET)
    with pytest.raises(sig.SignatureMissing):
        sig.verify_websub(body, None, SECRET)
    with pytest.raises(sig.SignatureInvalid):
        sig.verify_websub(body, "md5=" + good.partition("=")[2], SECRET)


def test_websub_without_a_hub_secret_verifies_nothing() -> None:
    body = b"<feed/>"
    with pytest.raises(sig.SignatureMissing):
        sig.verify_websub(body, None, "")  # unsigned feeds are refused, not accepted
    with pytest.raises(sig.SignatureInvalid):
        sig.verify_websub(body, sig.websub_signature(body, ""), "")  # an empty key is forgeable


def test_bearer_tokens() -> None:
    tokens = sig.parse_tokens(" t1 , t2,,")
    assert tokens == ["t1", "t2"]
    sig.check_bearer("Bearer t2", tokens)
    sig.check_bearer("bearer t1", tokens)
    with pytest.raises(sig.SignatureInvalid):
        sig.check_bearer("Bearer t3", tokens)
    with pytest.raises(sig.SignatureInvalid):
        sig.check_bearer("Bearer t1", [])  # no tokens configured: nobody gets in
    with pytest.raises(sig.SignatureInvalid):
        sig.check_bearer("Bearer ťoken", tokens)  # non-ASCII must not crash compare_digest
    for missing in (None, "", "Basic dXNlcg==", "Bearer "):
        with pytest.raises(sig.SignatureMissing):
            sig.check_bearer(missing, tokens)


# --- Meta -----------------------------------------------------------------------------------------


def feed(value: dict[str, Any], page: str = PAGE) -> dict[str, Any]:
    return {
        "object": "page",
        "entry": [{"id": page, "time": 1767225600, "changes": [{"field": "feed", "value": value}]}],
    }


def canonical(event: dict[str, Any]) -> dict[str, Any]:
    """Every mapped event must be a valid canonical event."""
    return parse_event(event, received_at=NOW)


def test_meta_comment_reply_reaction_share_and_page_post() -> None:
    user = {"id": "u-42", "name": "Kim"}
    base = {"post_id": f"{PAGE}_9", "verb": "add", "created_time": 1767225700, "from": user}
    cases = [
        (
            {**base, "item": "comment", "comment_id": "9_1", "parent_id": f"{PAGE}_9", "message": "hi"},
            ("fb:9_1", "comment", f"fb:{PAGE}_9", "hi"),
        ),
        (
            {**base, "item": "comment", "comment_id": "9_2", "parent_id": "9_1", "message": "re"},
            ("fb:9_2", "reply", "fb:9_1", "re"),
        ),
        (
            {**base, "item": "reaction", "reaction_type": "love"},
            ("fb:react:u-42:" + f"{PAGE}_9", "like", f"fb:{PAGE}_9", None),
        ),
        (
            {**base, "item": "share", "share_id": "s1", "message": "look"},
            ("fb:share:s1", "share", None, "look"),
        ),
    ]
    for value, (event_id, event_type, parent, text) in cases:
        mapped = map_platform_payload("meta", feed(value))
        assert mapped.ignored == 0 and len(mapped.events) == 1
        record = canonical(mapped.events[0])
        assert (record["event_id"], record["event_type"], record["parent_id"], record["text"]) == (
            event_id,
            event_type,
            parent,
            text,
        )
        assert (
            record["platform"] == "facebook" and record["brand_id"] == PAGE and record["account_id"] == PAGE
        )
        assert record["actor_id"] == "u-42" and record["is_brand"] is False
        assert record["occurred_at"] == datetime.fromtimestamp(1767225700, UTC)
    reaction = map_platform_payload("meta", feed({**base, "item": "reaction", "reaction_type": "love"}))
    assert reaction.events[0]["attributes"]["fb.reaction_type"] == "love"
    post = map_platform_payload(
        "meta",
        feed(
            {
                "item": "status",
                "verb": "add",
                "post_id": f"{PAGE}_10",
                "message": "New menu!",
                "from": {"id": PAGE},
            }
        ),
    )
    record = canonical(post.events[0])
    assert (record["event_id"], record["event_type"], record["is_brand"]) == (f"fb:{PAGE}_10", "post", True)


def test_meta_edits_removals_and_other_fields_are_ignored_not_mapped() -> None:
    payload = {
        "object": "page",
        "entry": [
            {
                "id": PAGE,
                "time": 1767225600,
                "changes": [
                    {"field": "feed", "value": {"item": "comment", "verb": "remove", "comment_id": "1"}},
                    {"field": "feed", "value": {"item": "comment", "verb": "edited", "comment_id": "1"}},
                    {"field": "feed", "value": {"item": "event", "verb": "add"}},
                    {"field": "ratings", "value": {"rating": 5}},
                ],
            },
            {"id": PAGE, "time": 1767225600, "messaging": [{"message": {}}]},
        ],
    }
    assert map_platform_payload("meta", payload) == MappedPayload(events=[], ignored=5, unknown_fields=[])


def test_meta_unknown_value_fields_are_listed_but_not_stored() -> None:
    value = {
        "item": "comment",
        "verb": "add",
        "comment_id": "c",
        "post_id": "p",
        "from": {"id": "u"},
        "created_time": 1767225700,
        "sentiment_hint": "angry",
    }
    mapped = map_platform_payload("meta", feed(value))
    assert mapped.unknown_fields == ["feed.sentiment_hint"]
    assert not any("sentiment_hint" in k for k in canonical(mapped.events[0])["attributes"])


def test_instagram_comments_replies_and_mentions() -> None:
    payload = {
        "object": "instagram",
        "entry": [
            {
                "id": IG,
                "time": 1767225600,
                "changes": [
                    {
                        "field": "comments",
                        "value": {
                            "id": "c1",
                            "text": "so good",
                            "from": {"id": "ig-7", "username": "x"},
                            "media": {"id": "m1", "media_product_type": "FEED"},
                        },
                    },
                    {
                        "field": "comments",
                        "value": {
                            "id": "c2",
                            "text": "thanks!",
                            "from": {"id": IG},
                            "media": {"id": "m1"},
                            "parent_id": "c1",
                        },
                    },
                    {"field": "mentions", "value": {"media_id": "m9", "comment_id": "c9"}},
                ],
            }
        ],
    }
    assert detect_platform_payload(payload) == "meta"
    events = [canonical(e) for e in map_platform_payload("meta", payload).events]
    assert [(e["event_id"], e["event_type"], e["parent_id"], e["is_brand"]) for e in events] == [
        ("ig:c1", "comment", "ig:m1", False),
        ("ig:c2", "reply", "ig:c1", True),
        ("ig:mention:c9", "mention", "ig:c9", False),
    ]
    assert all(e["platform"] == "instagram" and e["brand_id"] == IG for e in events)
    assert events[0]["attributes"] == {"ig.media_product_type": "FEED"}
    assert events[2]["attributes"]["ig.actor_unknown"] == "true"


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        ({"object": "page"}, "entry: missing"),
        ({"object": "page", "entry": [{"time": 1}]}, "entry[0].id: missing"),
        (
            feed({"item": "comment", "verb": "add", "post_id": "p", "created_time": 1}),
            "entry[0].changes[0].value.comment_id: missing",
        ),
        (
            {
                "object": "page",
                "entry": [
                    {
                        "id": "1",
                        "changes": [
                            {"field": "feed", "value": {"item": "comment", "verb": "add", "comment_id": "c"}}
                        ],
                    }
                ],
            },
            "entry[0].time: missing",
        ),
        (
            {
                "object": "instagram",
                "entry": [{"id": "1", "time": 1, "changes": [{"field": "comments", "value": {"id": "c"}}]}],
            },
            "entry[0].changes[0].value.from: missing",
        ),
        ({"object": "myspace", "entry": []}, "object:"),
    ],
)
def test_meta_errors_name_the_field_path(payload: dict[str, Any], path: str) -> None:
    with pytest.raises(PayloadError) as info:
        map_platform_payload("meta", payload)
    assert str(info.value).startswith(path)


# --- X --------------------------------------------------------------------------------------------


def tweet(tid: str, user: str, **extra: Any) -> dict[str, Any]:
    return {
        "id_str": tid,
        "text": f"tweet {tid}",
        "timestamp_ms": "1767225600123",
        "lang": "en",
        "user": {"id_str": user, "followers_count": 12},
        **extra,
    }


def test_x_tweets_favorites_and_follows() -> None:
    payload = {
        "for_user_id": BRAND_X,
        "tweet_create_events": [
            tweet("1", BRAND_X),
            tweet("2", "fan"),
            tweet("3", "fan", in_reply_to_status_id_str="1"),
            tweet("4", "fan", is_quote_status=True, quoted_status_id_str="1"),
            tweet("5", "fan", retweeted_status=tweet("1", BRAND_X)),
        ],
        "favorite_events": [
            {
                "timestamp_ms": 1767225600999,
                "favorited_status": tweet("1", BRAND_X),
                "user": {"id_str": "fan"},
            }
        ],
        "follow_events": [
            {
                "type": "follow",
                "created_timestamp": "1767225601000",
                "source": {"id_str": "fan"},
                "target": {"id_str": BRAND_X},
            },
            {
                "type": "unfollow",
                "created_timestamp": "1767225602000",
                "source": {"id_str": "fan"},
                "target": {"id_str": BRAND_X},
            },
        ],
        "direct_message_events": [{}, {}],
        "brand_new_top_level_key": 1,
    }
    assert detect_platform_payload(payload) == "x"
    mapped = map_platform_payload("x", payload)
    assert mapped.ignored == 2 and mapped.unknown_fields == ["brand_new_top_level_key"]
    events = [canonical(e) for e in mapped.events]
    assert [(e["event_id"], e["event_type"], e["parent_id"], e["is_brand"]) for e in events] == [
        ("x:1", "post", None, True),
        ("x:2", "mention", None, False),
        ("x:3", "reply", "x:1", False),
        ("x:4", "share", "x:1", False),
        ("x:5", "share", "x:1", False),
        ("x:fav:fan:1", "like", "x:1", False),
        (f"x:follow:fan:{BRAND_X}:1767225601000", "follow", None, False),
        (f"x:unfollow:fan:{BRAND_X}:1767225602000", "unfollow", None, False),
    ]
    assert all(e["brand_id"] == BRAND_X and e["platform"] == "x" for e in events)
    assert events[3]["text"] == "tweet 4" and events[4]["text"] is None  # a quote has text, a retweet not
    assert events[1]["actor_followers"] == 12 and events[1]["lang"] == "en"
    assert events[0]["occurred_at"] == datetime(2026, 1, 1, 0, 0, 0, 123000, tzinfo=UTC)


def test_x_created_at_and_extended_text() -> None:
    t = {
        "id_str": "9",
        "created_at": "Wed Oct 10 20:19:24 +0000 2018",
        "text": "short…",
        "extended_tweet": {"full_text": "the whole long text"},
        "user": {"id": 77},
    }
    record = canonical(map_platform_payload("x", {"for_user_id": 1, "tweet_create_events": [t]}).events[0])
    assert record["occurred_at"] == datetime(2018, 10, 10, 20, 19, 24, tzinfo=UTC)
    assert record["text"] == "the whole long text" and record["actor_id"] == "77"


def test_x_errors_name_the_field_path() -> None:
    with pytest.raises(PayloadError, match=r"^tweet_create_events\[0\]\.user: missing"):
        map_platform_payload("x", {"for_user_id": "1", "tweet_create_events": [{"id_str": "5"}]})
    with pytest.raises(PayloadError, match=r"^for_user_id: missing"):
        map_platform_payload("x", {"tweet_create_events": []})
    with pytest.raises(PayloadError, match=r"^favorite_events\[0\]\.favorited_status: missing"):
        map_platform_payload("x", {"for_user_id": "1", "favorite_events": [{"user": {"id_str": "2"}}]})


def test_detect_platform_payload() -> None:
    assert detect_platform_payload({"object": "page", "entry": []}) == "meta"
    assert detect_platform_payload({"for_user_id": "1", "follow_events": []}) == "x"
    assert detect_platform_payload({"for_user_id": "1"}) is None
    assert detect_platform_payload({"object": ["page"], "entry": []}) is None
    assert detect_platform_payload({"event_id": "e", "platform": "x"}) is None  # canonical, not platform
    assert detect_platform_payload([1, 2]) is None  # type: ignore[arg-type]


# --- YouTube --------------------------------------------------------------------------------------

ATOM = b"""<?xml version='1.0' encoding='UTF-8'?>
<feed xmlns:yt="http://www.youtube.com/xml/schemas/2015" xmlns="http://www.w3.org/2005/Atom">
  <link rel="hub" href="https://pubsubhubbub.appspot.com"/>
  <title>YouTube video feed</title>
  <updated>2026-01-01T10:00:00.552394234+00:00</updated>
  <entry>
    <id>yt:video:VID123</id>
    <yt:videoId>VID123</yt:videoId>
    <yt:channelId>UCchannel</yt:channelId>
    <title>Our new recipe</title>
    <link rel="alternate" href="http://www.youtube.com/watch?v=VID123"/>
    <author><name>Cafe</name><uri>http://www.youtube.com/channel/UCchannel</uri></author>
    <published>2026-01-01T09:59:00+00:00</published>
    <updated>2026-01-01T10:00:00.552394234+00:00</updated>
  </entry>
</feed>"""


def test_youtube_notification_is_a_brand_post() -> None:
    mapped = map_websub(ATOM)
    record = canonical(mapped.events[0])
    assert (record["event_id"], record["event_type"], record["brand_id"], record["actor_id"]) == (
        "yt:VID123",
        "post",
        "UCchannel",
        "UCchannel",
    )
    assert record["is_brand"] is True and record["text"] == "Our new recipe" and record["post_id"] == "VID123"
    assert record["occurred_at"] == datetime(2026, 1, 1, 9, 59, tzinfo=UTC)


def test_youtube_deleted_entries_are_ignored() -> None:
    body = (
        b'<feed xmlns:at="http://purl.org/atompub/tombstones/1.0" xmlns="http://www.w3.org/2005/Atom">'
        b'<at:deleted-entry ref="yt:video:V" when="2026-01-01T00:00:00+00:00"/></feed>'
    )
    assert map_websub(body) == MappedPayload(events=[], ignored=1)


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
        b"<feed>&lol2;</feed>",
        b'<!DOCTYPE feed SYSTEM "file:///etc/passwd"><feed/>',
        b"<feed><!entity x 'y'></feed>",
    ],
)
def test_youtube_refuses_dtds_and_entities(body: bytes) -> None:
    with pytest.raises(PayloadError, match="DOCTYPE/ENTITY"):
        map_websub(body)


def test_youtube_malformed_xml_and_missing_ids() -> None:
    with pytest.raises(PayloadError, match="malformed XML"):
        map_websub(b"<feed")
    with pytest.raises(PayloadError, match=r"feed.entry\[0\].yt:videoId: missing"):
        map_websub(ATOM.replace(b"<yt:videoId>VID123</yt:videoId>", b""))


# --- properties: untrusted payloads only ever raise PayloadError ----------------------------------
#
# Valid deliveries (so every mapping branch is reached) with up to four random mutations: a field
# deleted or replaced by arbitrary JSON anywhere in the tree. Plus fully arbitrary JSON.

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
USER = {"id": "u-42"}
META_EXAMPLES: list[dict[str, Any]] = [
    feed(
        {
            "item": "comment",
            "verb": "add",
            "comment_id": "9_1",
            "post_id": "1_9",
            "parent_id": "9_0",
            "created_time": 1767225700,
            "from": USER,
            "message": "hi",
        }
    ),
    feed({"item": "reaction", "verb": "add", "post_id": "1_9", "reaction_type": "like", "from": USER}),
    feed({"item": "share", "verb": "add", "share_id": "s", "post_id": "1_9", "from": USER, "message": "m"}),
    feed({"item": "status", "verb": "add", "post_id": "1_9", "from": {"id": PAGE}, "message": "m"}),
    {
        "object": "instagram",
        "entry": [
            {
                "id": IG,
                "time": 1767225600,
                "changes": [
                    {
                        "field": "comments",
                        "value": {
                            "id": "c1",
                            "text": "t",
                            "from": {"id": "i"},
                            "media": {"id": "m"},
                            "parent_id": "c0",
                        },
                    },
                    {"field": "mentions", "value": {"media_id": "m9", "comment_id": "c9"}},
                ],
            }
        ],
    },
]
X_EXAMPLES: list[dict[str, Any]] = [
    {
        "for_user_id": BRAND_X,
        "tweet_create_events": [
            tweet("1", BRAND_X, extended_tweet={"full_text": "long"}),
            tweet("3", "fan", in_reply_to_status_id_str="1"),
            tweet("4", "fan", is_quote_status=True, quoted_status=tweet("1", BRAND_X)),
            tweet(
                "5", "fan", retweeted_status=tweet("1", BRAND_X), created_at="Wed Oct 10 20:19:24 +0000 2018"
            ),
        ],
        "favorite_events": [
            {
                "timestamp_ms": 1767225600999,
                "favorited_status": tweet("1", BRAND_X),
                "user": {"id_str": "fan"},
            }
        ],
        "follow_events": [
            {
                "type": "follow",
                "created_timestamp": "1767225601000",
                "source": {"id_str": "fan"},
                "target": {"id_str": BRAND_X},
            }
        ],
    }
]


def _slots(value: Any) -> list[tuple[Any, Any]]:
    found: list[tuple[Any, Any]] = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, child in items:
        found.append((value, key))
        found.extend(_slots(child))
    return found


@st.composite
def mutated(draw: st.DrawFn, examples: list[dict[str, Any]]) -> dict[str, Any]:
    payload = orjson.loads(orjson.dumps(draw(st.sampled_from(examples))))  # deep copy
    for _ in range(draw(st.integers(0, 4))):
        slots = _slots(payload)
        if not slots:
            break
        container, key = draw(st.sampled_from(slots))
        if isinstance(container, dict) and draw(st.booleans()):
            del container[key]
        else:
            container[key] = draw(json_values)
    return payload


PROPERTY = settings(
    max_examples=400, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)


def _map_or_payload_error(kind: str, payload: Any) -> MappedPayload | None:
    try:
        mapped = map_platform_payload(kind, payload)
    except PayloadError:
        return None
    for event in mapped.events:  # whatever maps serialises, with string ids (the producer validates the rest)
        orjson.dumps(event)
        assert isinstance(event["event_id"], str) and isinstance(event["actor_id"], str)
    return mapped


@PROPERTY
@given(mutated(META_EXAMPLES))
def test_meta_mapper_only_raises_payload_error(payload: dict[str, Any]) -> None:
    _map_or_payload_error("meta", payload)


@PROPERTY
@given(mutated(X_EXAMPLES))
def test_x_mapper_only_raises_payload_error(payload: dict[str, Any]) -> None:
    _map_or_payload_error("x", payload)


@PROPERTY
@given(st.sampled_from(["meta", "x"]), json_values)
def test_mappers_on_arbitrary_json_only_raise_payload_error(kind: str, payload: Any) -> None:
    _map_or_payload_error(kind, payload)
    assert detect_platform_payload(payload) in (None, "meta", "x")


def test_the_mutation_strategy_reaches_both_outcomes() -> None:
    """Guard against a vacuous property: mutated payloads must map events as well as fail."""
    outcomes: set[str] = set()

    @settings(max_examples=200, derandomize=True, database=None)
    @given(mutated(META_EXAMPLES + X_EXAMPLES))
    def probe(payload: dict[str, Any]) -> None:
        kind = "x" if "for_user_id" in payload else "meta"
        mapped = _map_or_payload_error(kind, payload)
        outcomes.add("error" if mapped is None else "events" if mapped.events else "empty")

    probe()
    assert {"error", "events"} <= outcomes


@PROPERTY
@given(
    st.binary(max_size=200)
    | st.text(max_size=200).map(lambda t: f"<feed xmlns='http://www.w3.org/2005/Atom'>{t}</feed>".encode())
    | st.sampled_from([ATOM]).map(lambda b: b.replace(b"2026-01-01T09:59:00", b"2026-13-01T09:59:00"))
)
def test_websub_mapper_only_raises_payload_error(body: bytes) -> None:
    with contextlib.suppress(PayloadError):
        map_websub(body)
