from datetime import UTC, datetime

import pytest

from services.common.avro import codec
from services.common.events import EventValidationError, parse_event, to_json_dict

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def event(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "event_id": "e1",
        "platform": "instagram",
        "event_type": "comment",
        "brand_id": "cafe-lumi",
        "actor_id": "a1",
        "text": "배송이 늦어요",
        "occurred_at": "2026-11-01T09:30:00.123Z",
    }
    base.update(overrides)
    return base


def test_valid_event_is_avro_ready() -> None:
    record = parse_event(event(), received_at=NOW)
    assert record["occurred_at"] == datetime(2026, 11, 1, 9, 30, 0, 123000, tzinfo=UTC)
    assert record["received_at"] == NOW
    assert record["is_brand"] is False and record["attributes"] == {}
    decoded = codec("social_event").decode(codec("social_event").encode(record))
    assert decoded["event_id"] == "e1" and decoded["text"] == "배송이 늦어요"


def test_epoch_millis_and_offsets_normalise_to_utc() -> None:
    assert parse_event(event(occurred_at=1_700_000_000_000), received_at=NOW)["occurred_at"] == datetime(
        2023, 11, 14, 22, 13, 20, tzinfo=UTC
    )
    r = parse_event(event(occurred_at="2026-11-01T18:30:00+09:00"), received_at=NOW)
    assert r["occurred_at"] == datetime(2026, 11, 1, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"event_id": ""}, "event_id"),
        ({"brand_id": None}, "brand_id"),
        ({"platform": "myspace"}, "platform"),
        ({"event_type": "poke"}, "event_type"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"is_brand": "yes"}, "is_brand"),
        ({"actor_followers": -3}, "actor_followers"),
        ({"text": 42}, "text"),
        ({"attributes": [1, 2]}, "attributes"),
    ],
)
def test_errors_name_the_field(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(EventValidationError) as info:
        parse_event(event(**overrides), received_at=NOW)
    assert info.value.field == field
    assert field in str(info.value)


def test_missing_occurred_at_and_non_object() -> None:
    bad = event()
    del bad["occurred_at"]
    with pytest.raises(EventValidationError, match="occurred_at"):
        parse_event(bad, received_at=NOW)
    with pytest.raises(EventValidationError) as info:
        parse_event(["not", "an", "object"], received_at=NOW)
    assert info.value.field == "$"


def test_text_length_limit() -> None:
    with pytest.raises(EventValidationError, match="text"):
        parse_event(event(text="x" * 11), received_at=NOW, max_text_chars=10)


def test_unknown_fields_are_kept_as_attributes() -> None:
    record = parse_event(event(reaction="wow", attributes={"n": 3}), received_at=NOW)
    assert record["attributes"] == {"n": "3", "x.reaction": "wow"}


def test_json_round_trip() -> None:
    record = parse_event(event(), received_at=NOW)
    assert parse_event(to_json_dict(record), received_at=NOW) == record
