from datetime import UTC, datetime

from services.common.avro import codec
from services.enrich.processor import PIPELINE_VERSION, enrich_records, invalid_reason
from services.loader.tables import EVENT_COLUMNS, to_columns
from tests.factories import make_social_event

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)


def test_enrich_adds_language_and_keeps_the_input() -> None:
    raw = [
        make_social_event(text="환불해 주세요"),
        make_social_event(text="Where is my order?", event_id="e2"),
    ]
    before = [dict(r) for r in raw]
    out = enrich_records(raw, now=NOW)
    assert raw == before  # inputs untouched
    assert [r["language"] for r in out] == ["ko", "en"]
    assert all(r["enriched_at"] == NOW and r["pipeline_version"] == PIPELINE_VERSION for r in out)
    for r in out:  # every enriched record is valid for the enriched schema
        assert codec("enriched_event").decode(codec("enriched_event").encode(r))["language"] == r["language"]


def test_columns_follow_the_table_order() -> None:
    out = enrich_records([make_social_event(event_id="a"), make_social_event(event_id="b")], now=NOW)
    columns = to_columns(out, EVENT_COLUMNS)
    assert len(columns) == len(EVENT_COLUMNS)
    assert columns[EVENT_COLUMNS.index("event_id")] == ["a", "b"]
    assert columns[EVENT_COLUMNS.index("enriched_at")] == [NOW, NOW]


def test_invalid_reason_names_the_field_of_a_decodable_but_invalid_event() -> None:
    record = codec("social_event").decode(codec("social_event").encode(make_social_event(text="hello")))
    assert invalid_reason(record, max_text_chars=100) is None
    too_long = invalid_reason({**record, "text": "x" * 101}, max_text_chars=100)
    assert too_long is not None and "'text'" in too_long and "longer than 100" in too_long
    no_id = invalid_reason({**record, "event_id": " "}, max_text_chars=100)
    assert no_id is not None and "'event_id'" in no_id
