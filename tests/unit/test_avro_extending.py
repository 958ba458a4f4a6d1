"""The extending encoder: an enriched event written as the raw body it came in plus its own fields,
byte for byte what a full encode of the enriched record writes."""

from __future__ import annotations

import io
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastavro import schemaless_writer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.common.avro import HEADER_SIZE, ExtendingEncoder, SchemaError, codec, extending_encoder
from tests.factories import make_enriched_event, make_social_event

RAW = codec("social_event")
ENRICHED = codec("enriched_event")
ENCODER = extending_encoder("enriched_event", "social_event")
RAW_FIELDS = [f["name"] for f in RAW.schema["fields"]]
EXTENSION_FIELDS = [f["name"] for f in ENRICHED.schema["fields"]][len(RAW_FIELDS) :]


def _full(record: dict[str, Any]) -> bytes:
    """The reference: fastavro's schemaless encode of the whole enriched record, framed."""
    buf = io.BytesIO()
    schemaless_writer(buf, ENRICHED.schema, record)  # type: ignore[arg-type]
    return ENRICHED._header + buf.getvalue()


def _through_the_pipeline(raw: dict[str, Any], extension: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    """As enrich sees it: the raw message decoded, its body kept, the enrichment added to the record."""
    message = RAW.encode(raw)
    body = ENCODER.base_body(message)
    assert body is not None and body == message[HEADER_SIZE:]
    record = RAW.decode(message)
    record.update(extension)
    return record, body


def _extension_of(enriched: dict[str, Any]) -> dict[str, Any]:
    return {name: enriched[name] for name in EXTENSION_FIELDS}


texts = st.text(max_size=60)  # any unicode (surrogates excluded: they cannot be UTF-8)
optional_texts = st.none() | texts
timestamps = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))
longs = st.integers(min_value=-(2**63), max_value=2**63 - 1)
ints = st.integers(min_value=-(2**31), max_value=2**31 - 1)
doubles = st.floats(allow_nan=False) | st.sampled_from([0.0, -0.0, math.inf, -math.inf, 5e-324])

raw_records = st.fixed_dictionaries(
    {
        "event_id": texts,
        "platform": st.sampled_from(["facebook", "instagram", "x", "youtube", "other"]),
        "event_type": st.sampled_from(["post", "comment", "reply", "like", "follow", "purchase", "lead"]),
        "brand_id": texts,
        "account_id": optional_texts,
        "post_id": optional_texts,
        "actor_id": texts,
        "parent_id": optional_texts,
        "is_brand": st.booleans(),
        "text": optional_texts,
        "lang": optional_texts,
        "campaign_id": optional_texts,
        "actor_followers": st.none() | longs,
        "occurred_at": timestamps,
        "received_at": timestamps,
        "attributes": st.dictionaries(texts, texts, max_size=6),
    }
)
extensions = st.fixed_dictionaries(
    {
        "language": texts,
        "enriched_at": timestamps,
        "pipeline_version": texts,
        "sentiment_label": texts,
        "sentiment_score": doubles,
        "is_complaint": st.booleans(),
        "complaint_reasons": st.lists(texts, max_size=5),
        "cascade_depth": st.none() | ints,
        "response_seconds": st.none() | doubles,
        "unanswered_complaints_change": ints,
        "touches_before_conversion": st.none() | ints,
        "seconds_to_convert": st.none() | doubles,
        "first_touch_post_id": optional_texts,
        "last_touch_post_id": optional_texts,
        "first_touch_campaign_id": optional_texts,
        "last_touch_campaign_id": optional_texts,
        "attributed_post_id": optional_texts,
        "seconds_since_post": st.none() | doubles,
    }
)


def test_the_extension_is_every_enriched_field_after_the_raw_ones() -> None:
    assert [f["name"] for f in ENRICHED.schema["fields"]][: len(RAW_FIELDS)] == RAW_FIELDS
    assert [f["name"] for f in ENCODER._extension["fields"]] == EXTENSION_FIELDS
    assert "language" in EXTENSION_FIELDS and "seconds_since_post" in EXTENSION_FIELDS


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=raw_records, extension=extensions)
def test_reusing_the_raw_body_writes_the_bytes_of_a_full_encode(
    raw: dict[str, Any], extension: dict[str, Any]
) -> None:
    record, body = _through_the_pipeline(raw, extension)
    value = ENCODER.encode(record, body)
    assert value == _full(record) == ENRICHED.encode(record)
    assert ENRICHED.decode(value) == record


EDGE_CASES: list[tuple[dict[str, Any], dict[str, Any]]] = [
    # every optional field null, empty map and array
    (
        make_social_event(
            account_id=None, post_id=None, text=None, lang=None, actor_followers=None, attributes={}
        ),
        {"complaint_reasons": [], "sentiment_score": 0.0},
    ),
    # unicode everywhere, multi-byte lengths in varints
    (
        make_social_event(
            event_id="é-🙂-" + "가" * 200,
            brand_id="브랜드",
            text="환불 요청합니다 😡 " * 40,
            attributes={"키": "값", "emoji 🙂": "ü" * 70, "": ""},
        ),
        {"language": "ko", "complaint_reasons": ["환불", "배송 🚚"], "first_touch_post_id": "게시물"},
    ),
    # extremes of the numeric types
    (
        make_social_event(
            actor_followers=2**63 - 1,
            occurred_at=datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
            received_at=datetime(1970, 1, 1, tzinfo=UTC),
        ),
        {
            "sentiment_score": -math.inf,
            "cascade_depth": -(2**31),
            "unanswered_complaints_change": 2**31 - 1,
            "seconds_since_post": 5e-324,
            "response_seconds": -0.0,
        },
    ),
    # a large map (several hundred entries, long block count varint) and many reasons
    (
        make_social_event(attributes={f"k{i}": "v" * (i % 7) for i in range(300)}),
        {"complaint_reasons": [f"r{i}" for i in range(130)]},
    ),
]


@pytest.mark.parametrize("raw, overrides", EDGE_CASES)
def test_edge_cases_write_the_bytes_of_a_full_encode(raw: dict[str, Any], overrides: dict[str, Any]) -> None:
    extension = {**_extension_of(make_enriched_event()), **overrides}
    record, body = _through_the_pipeline(raw, extension)
    assert ENCODER.encode(record, body) == _full(record)
    assert ENRICHED.decode(ENCODER.encode(record, body)) == record


def test_a_nan_score_is_written_as_a_full_encode_writes_it() -> None:
    record, body = _through_the_pipeline(make_social_event(), {**_extension_of(make_enriched_event())})
    record["sentiment_score"] = math.nan
    assert ENCODER.encode(record, body) == _full(record)


def test_enriched_at_may_be_given_as_epoch_millis_or_a_naive_datetime() -> None:
    at = datetime(2024, 5, 1, 12, 0, 0, 123000)
    for given_at in (at, at.replace(tzinfo=UTC), int(at.replace(tzinfo=UTC).timestamp() * 1000)):
        extension = {**_extension_of(make_enriched_event()), "enriched_at": given_at}
        record, body = _through_the_pipeline(make_social_event(), extension)
        assert ENCODER.encode(record, body) == _full(record)


def test_defaults_of_the_extension_are_filled_as_a_full_encode_fills_them() -> None:
    extension = {"language": "en", "enriched_at": datetime(2024, 1, 1, tzinfo=UTC)}
    record, body = _through_the_pipeline(make_social_event(), extension)
    assert ENCODER.encode(record, body) == ENRICHED.encode(record)


def test_without_a_body_the_record_is_encoded_in_full() -> None:
    record = make_enriched_event()
    assert ENCODER.encode(record, None) == ENRICHED.encode(record)


def test_a_body_written_with_another_schema_or_framing_is_not_reused() -> None:
    message = RAW.encode(make_social_event())
    assert ENCODER.base_body(message) == message[HEADER_SIZE:]
    other_id = message[:1] + (RAW.schema_id + 1).to_bytes(4, "big") + message[HEADER_SIZE:]
    assert ENCODER.base_body(other_id) is None
    assert ENCODER.base_body(b"\x01" + message[1:]) is None
    assert ENCODER.base_body(message[:3]) is None
    assert ENCODER.base_body(None) is None
    assert ENCODER.base_body(b"") is None


def test_a_bad_extension_field_is_named() -> None:
    record, body = _through_the_pipeline(make_social_event(), _extension_of(make_enriched_event()))
    record["sentiment_score"] = "very"
    with pytest.raises(SchemaError) as info:
        ENCODER.encode(record, body)
    assert info.value.field == "sentiment_score"


def test_a_subject_that_does_not_extend_the_base_is_refused() -> None:
    with pytest.raises(ValueError, match="does not begin with the fields of social_event"):
        ExtendingEncoder("alert", "social_event")
    assert ENCODER.base_schema_id == RAW.schema_id


def test_timestamps_before_and_after_the_epoch_survive_the_reuse() -> None:
    base = datetime(1950, 6, 1, tzinfo=UTC)
    raw = make_social_event(occurred_at=base, received_at=base + timedelta(days=365 * 200))
    record, body = _through_the_pipeline(raw, _extension_of(make_enriched_event()))
    assert ENRICHED.decode(ENCODER.encode(record, body))["received_at"] == raw["received_at"]
