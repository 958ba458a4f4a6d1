"""Avro codec and schema registry: framing, defaults, error reporting, registry checks, evolution."""

from __future__ import annotations

import io
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastavro import schemaless_reader, schemaless_writer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.common.avro import AvroCodec, DecodeError, SchemaError, codec
from services.common.avro_compat import fingerprint, resolution_fingerprint
from services.common.avro_registry import SCHEMAS_DIR, SchemaRegistry, register_check
from tests.factories import (
    FACTORIES,
    make_alert,
    make_enriched_event,
    make_social_event,
    utc_ms,
)

REQUIRED_SOCIAL = {
    "event_id": "e-1",
    "platform": "x",
    "event_type": "post",
    "brand_id": "b-1",
    "actor_id": "a-1",
    "occurred_at": datetime(2024, 3, 1, 9, 30, tzinfo=UTC),
    "received_at": datetime(2024, 3, 1, 9, 30, 1, tzinfo=UTC),
}


# -- helpers ---------------------------------------------------------------------------------------


def copy_schemas(tmp_path: Path) -> Path:
    target = tmp_path / "schemas"
    shutil.copytree(SCHEMAS_DIR, target, ignore=shutil.ignore_patterns("clickhouse"))
    return target


def read_registry(schemas_dir: Path) -> list[dict[str, Any]]:
    return json.loads((schemas_dir / "registry.json").read_text())


def write_registry(schemas_dir: Path, rows: list[dict[str, Any]]) -> None:
    (schemas_dir / "registry.json").write_text(json.dumps(rows, indent=2))


def register_new_version(schemas_dir: Path, subject: str, schema: dict[str, Any]) -> int:
    """Do what schemas/README.md prescribes: move the current file to history/ and append an entry."""
    rows = read_registry(schemas_dir)
    current = max((r for r in rows if r["subject"] == subject), key=lambda r: r["version"])
    history_path = f"history/{subject}.v{current['version']}.avsc"
    (schemas_dir / "history").mkdir(exist_ok=True)
    (schemas_dir / current["path"]).rename(schemas_dir / history_path)
    current["path"] = history_path
    (schemas_dir / f"{subject}.avsc").write_text(json.dumps(schema, indent=2))
    new_id = max(r["id"] for r in rows) + 1
    rows.append(
        {
            "id": new_id,
            "subject": subject,
            "version": current["version"] + 1,
            "path": f"{subject}.avsc",
            "fingerprint": fingerprint(schema),
            "resolution_fingerprint": resolution_fingerprint(schema),
        }
    )
    write_registry(schemas_dir, rows)
    return new_id


def social_schema_with(extra_field: dict[str, Any]) -> dict[str, Any]:
    schema = json.loads((SCHEMAS_DIR / "social_event.avsc").read_text())
    schema["fields"].append(extra_field)
    return schema


# -- round trips and framing -----------------------------------------------------------------------


@pytest.mark.parametrize("subject", sorted(FACTORIES))
def test_round_trip_each_subject(subject: str) -> None:
    record = FACTORIES[subject]()
    c = codec(subject)
    data = c.encode(record)
    assert c.decode(data) == record


@pytest.mark.parametrize(
    ("subject", "schema_id"),
    [
        ("social_event", 1),
        ("enriched_event", 10),
        ("alert", 9),
        ("post_virality", 5),
        ("follower_funnel", 6),
        ("brand_backlog", 7),
    ],
)
def test_confluent_framing_uses_registered_id(subject: str, schema_id: int) -> None:
    data = codec(subject).encode(FACTORIES[subject]())
    assert codec(subject).schema_id == schema_id
    assert data[0] == 0
    assert int.from_bytes(data[1:5], "big") == schema_id


def test_codec_is_cached_per_subject() -> None:
    assert codec("social_event") is codec("social_event")
    assert codec("social_event") is not codec("alert")


def test_decoded_timestamps_are_utc_datetimes_and_int_millis_are_accepted() -> None:
    c = codec("social_event")
    millis = 1_714_564_800_123  # 2024-05-01T12:00:00.123Z
    decoded = c.decode(c.encode({**REQUIRED_SOCIAL, "occurred_at": millis}))
    assert decoded["occurred_at"] == datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=UTC)
    assert decoded["occurred_at"].tzinfo is not None
    assert decoded["occurred_at"].utcoffset().total_seconds() == 0


def test_timestamp_millis_codec_decodes_timestamps_as_int_millis_from_every_writer_version() -> None:
    """``codec(subject, timestamp_millis=True)`` (the loader's) gives the epoch millis the datetime
    codec would have turned into datetimes, for the latest writer and for an older one, and leaves
    every other field and the shared codec alone."""
    plain, millis = codec("enriched_event"), codec("enriched_event", timestamp_millis=True)
    assert millis is codec("enriched_event", timestamp_millis=True) and millis is not plain
    registry = SchemaRegistry.load()
    old_id, old_schema = 4, registry.by_id(4)[1]
    record = make_enriched_event(occurred_at=datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=UTC))
    buf = io.BytesIO()
    buf.write(bytes([0]) + old_id.to_bytes(4, "big"))
    schemaless_writer(buf, old_schema, record)
    for data in (plain.encode(record), buf.getvalue()):
        as_datetimes, as_millis = plain.decode(data), millis.decode(data)
        stamps = [k for k, v in as_datetimes.items() if isinstance(v, datetime)]
        assert {"occurred_at", "received_at", "enriched_at"} <= set(stamps)
        assert as_millis["occurred_at"] == 1_714_564_800_123
        for key, value in as_datetimes.items():
            if key in stamps:
                assert as_millis[key] == round(value.timestamp() * 1000) and type(as_millis[key]) is int
            else:
                assert as_millis[key] == value
    assert isinstance(plain.decode(plain.encode(record))["occurred_at"], datetime)  # unchanged


def test_naive_datetimes_are_taken_as_utc_and_truncated_to_millis() -> None:
    c = codec("social_event")
    naive = datetime(2024, 5, 1, 12, 0, 0, 123456)
    decoded = c.decode(c.encode({**REQUIRED_SOCIAL, "received_at": naive}))
    assert decoded["received_at"] == datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=UTC)


def test_keys_outside_the_schema_are_ignored() -> None:
    c = codec("social_event")
    decoded = c.decode(c.encode({**REQUIRED_SOCIAL, "not_in_schema": 1}))
    assert "not_in_schema" not in decoded


# -- defaults --------------------------------------------------------------------------------------


def test_omitted_optional_social_fields_get_schema_defaults() -> None:
    c = codec("social_event")
    decoded = c.decode(c.encode(REQUIRED_SOCIAL))
    assert decoded == {
        **REQUIRED_SOCIAL,
        "account_id": None,
        "post_id": None,
        "parent_id": None,
        "is_brand": False,
        "text": None,
        "lang": None,
        "campaign_id": None,
        "actor_followers": None,
        "attributes": {},
    }


def test_omitted_optional_enriched_and_alert_fields_get_schema_defaults() -> None:
    enriched = make_enriched_event()
    del enriched["pipeline_version"], enriched["attributes"], enriched["text"]
    decoded = codec("enriched_event").decode(codec("enriched_event").encode(enriched))
    assert (decoded["pipeline_version"], decoded["attributes"], decoded["text"]) == ("1", {}, None)

    alert = make_alert()
    del alert["sample_event_ids"], alert["sample_texts"], alert["platform"]
    decoded = codec("alert").decode(codec("alert").encode(alert))
    assert (decoded["sample_event_ids"], decoded["sample_texts"], decoded["platform"]) == ([], [], None)


def test_defaults_are_not_shared_between_decoded_records() -> None:
    c = codec("social_event")
    first = c.decode(c.encode(REQUIRED_SOCIAL))
    first["attributes"]["mutated"] = "yes"
    assert c.decode(c.encode(REQUIRED_SOCIAL))["attributes"] == {}


# -- SchemaError -----------------------------------------------------------------------------------


def test_missing_required_field_is_named() -> None:
    record = make_social_event()
    del record["brand_id"]
    with pytest.raises(SchemaError, match=r"field 'brand_id': required field is missing") as info:
        codec("social_event").encode(record)
    assert info.value.field == "brand_id"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("brand_id", None, r"field 'brand_id': expected string, got None"),
        ("actor_id", 42, r"field 'actor_id': expected string, got int 42"),
        ("actor_followers", "many", r"field 'actor_followers': expected null or long, got str 'many'"),
        ("platform", "tiktok", r"field 'platform': expected one of facebook, .*other, got str 'tiktok'"),
        ("occurred_at", "yesterday", r"field 'occurred_at': expected timestamp-millis"),
        ("attributes", {"k": 1}, r"field 'attributes': map value expected string, got int 1"),
    ],
)
def test_wrong_type_is_named(field: str, value: Any, message: str) -> None:
    record = make_social_event(**{field: value})
    with pytest.raises(SchemaError, match=message) as info:
        codec("social_event").encode(record)
    assert info.value.field == field


def test_validate_names_the_field_without_encoding() -> None:
    c = codec("alert")
    c.validate(make_alert())  # valid: no exception
    with pytest.raises(SchemaError, match=r"field 'severity'") as info:
        c.validate(make_alert(severity="panic"))
    assert info.value.field == "severity"
    with pytest.raises(SchemaError, match="expected a mapping"):
        c.validate(["not", "a", "record"])


def test_unencodable_value_still_raises_schema_error() -> None:
    with pytest.raises(SchemaError, match="surrogates"):
        codec("social_event").encode(make_social_event(text="\ud800"))


# -- DecodeError -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (None, "empty"),
        (b"\x01\x00\x00\x00\x01rest", "bad_magic"),
        (b'{"event_id": 1}', "bad_magic"),
        (b"\x00\x00\x00\x00\x63" + b"\x02a", "unknown_schema_id"),
        (b"\x00\x00\x00", "truncated"),
    ],
)
def test_decode_error_reasons(data: bytes | None, reason: str) -> None:
    with pytest.raises(DecodeError) as info:
        codec("social_event").decode(data)
    assert info.value.reason == reason


def test_truncated_body_and_trailing_bytes() -> None:
    c = codec("social_event")
    data = c.encode(make_social_event())
    for cut in (5, 6, len(data) // 2, len(data) - 1):
        with pytest.raises(DecodeError) as info:
            c.decode(data[:cut])
        assert info.value.reason == "truncated", cut
    with pytest.raises(DecodeError) as info:
        c.decode(data + b"\x00")
    assert info.value.reason == "corrupt"


def test_message_of_another_subject_is_rejected() -> None:
    data = codec("alert").encode(make_alert())
    with pytest.raises(DecodeError) as info:
        codec("social_event").decode(data)
    assert info.value.reason == "wrong_subject"
    assert info.value.schema_id == 9


def test_decode_accepts_bytearray_and_memoryview() -> None:
    c = codec("social_event")
    record = make_social_event()
    data = c.encode(record)
    assert c.decode(bytearray(data)) == record
    assert c.decode(memoryview(data)) == record


# -- registry --------------------------------------------------------------------------------------


def test_repo_registry_is_consistent() -> None:
    registry = SchemaRegistry.load()
    assert registry.check() == []
    assert registry.subjects == [
        "alert",
        "brand_backlog",
        "enriched_event",
        "follower_funnel",
        "post_virality",
        "social_event",
    ]
    assert register_check() == 0


def test_registry_lookup() -> None:
    registry = SchemaRegistry.load()
    schema_id, schema = registry.latest("enriched_event")
    assert schema_id == 10
    assert registry.by_id(2)[0] == "enriched_event"  # v1 stays readable
    assert registry.by_id(4)[0] == "enriched_event"  # and v2
    assert registry.by_id(8)[0] == "enriched_event"  # and v3
    assert schema["name"] == "io.engage.events.EnrichedEvent"
    subject, alert_schema = registry.by_id(3)
    assert subject == "alert"
    assert alert_schema["name"] == "io.engage.alerts.Alert"
    with pytest.raises(KeyError):
        registry.by_id(999)
    with pytest.raises(KeyError):
        registry.latest("nope")


def test_registry_is_cached_per_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert SchemaRegistry.load() is SchemaRegistry.load(SCHEMAS_DIR)
    copy = copy_schemas(tmp_path)
    assert SchemaRegistry.load(copy) is not SchemaRegistry.load()
    monkeypatch.setenv("ENGAGE_SCHEMAS_DIR", str(copy))
    assert SchemaRegistry.load() is SchemaRegistry.load(copy)


def test_enriched_event_repeats_every_social_event_field() -> None:
    registry = SchemaRegistry.load()
    social = json.loads((SCHEMAS_DIR / "social_event.avsc").read_text())["fields"]
    enriched = json.loads((SCHEMAS_DIR / "enriched_event.avsc").read_text())["fields"]
    assert enriched[: len(social)] == social
    assert [f["name"] for f in enriched[len(social) : len(social) + 3]] == [
        "language",
        "enriched_at",
        "pipeline_version",
    ]
    assert registry.latest("social_event")[0] == 1


def test_every_field_is_documented() -> None:
    for path in sorted(SCHEMAS_DIR.glob("*.avsc")):
        for field in json.loads(path.read_text())["fields"]:
            assert field.get("doc"), f"{path.name}: {field['name']} has no doc"


def test_added_field_without_new_version_is_detected(tmp_path: Path) -> None:
    schemas = copy_schemas(tmp_path)
    schema = social_schema_with({"name": "sneaky", "type": ["null", "string"], "default": None})
    (schemas / "social_event.avsc").write_text(json.dumps(schema))
    problems = SchemaRegistry.load(schemas).check()
    assert len(problems) == 1
    assert "social_event v1" in problems[0]
    assert "does not match its registered fingerprint" in problems[0]
    assert register_check(schemas) == 1


def test_changed_default_without_new_version_is_detected(tmp_path: Path) -> None:
    # The Parsing Canonical Form ignores defaults, so only the resolution fingerprint catches this.
    schemas = copy_schemas(tmp_path)
    schema = json.loads((schemas / "enriched_event.avsc").read_text())
    next(f for f in schema["fields"] if f["name"] == "pipeline_version")["default"] = "4"
    (schemas / "enriched_event.avsc").write_text(json.dumps(schema))
    entry = next(e for e in read_registry(schemas) if e["path"] == "enriched_event.avsc")
    assert fingerprint(schema) == entry["fingerprint"]
    problems = SchemaRegistry.load(schemas).check()
    assert len(problems) == 1
    assert "enriched_event v4" in problems[0]


def test_doc_only_edit_needs_no_new_version(tmp_path: Path) -> None:
    schemas = copy_schemas(tmp_path)
    schema = json.loads((schemas / "alert.avsc").read_text())
    schema["fields"][0]["doc"] = "Reworded."
    (schemas / "alert.avsc").write_text(json.dumps(schema))
    assert SchemaRegistry.load(schemas).check() == []


def test_registry_structure_problems_are_reported(tmp_path: Path) -> None:
    schemas = copy_schemas(tmp_path)
    rows = read_registry(schemas)
    rows[2]["id"] = 1  # duplicate id
    write_registry(schemas, rows)
    (schemas / "enriched_event.avsc").unlink()
    (schemas / "stray.avsc").write_text(json.dumps({"type": "record", "name": "S", "fields": []}))
    problems = SchemaRegistry.load(schemas).check()
    assert any("duplicate id 1" in p for p in problems)
    assert any("enriched_event.avsc: missing file" in p for p in problems)
    assert any("stray.avsc: schema file not in registry.json" in p for p in problems)


def test_missing_registry_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    registry = SchemaRegistry.load(tmp_path)
    assert any("registry.json" in p for p in registry.check())
    with pytest.raises(KeyError, match="unknown subject"):
        registry.latest("social_event")


# -- evolution -------------------------------------------------------------------------------------


NEXT_ID = 11  # the id the next registered schema gets (highest in schemas/registry.json + 1)


def test_v1_bytes_decode_with_v2_reader(tmp_path: Path) -> None:
    v1_bytes = codec("social_event").encode(make_social_event())
    v1_record = codec("social_event").decode(v1_bytes)

    schemas = copy_schemas(tmp_path)
    new_field = {"name": "sentiment_hint", "type": ["null", "string"], "default": None, "doc": "test"}
    new_id = register_new_version(schemas, "social_event", social_schema_with(new_field))
    assert new_id == NEXT_ID
    registry = SchemaRegistry.load(schemas)
    assert registry.check() == []
    assert (schemas / "history" / "social_event.v1.avsc").exists()

    v2 = AvroCodec("social_event", registry)
    assert v2.schema_id == NEXT_ID
    assert v2.decode(v1_bytes) == {**v1_record, "sentiment_hint": None}

    v2_bytes = v2.encode({**v1_record, "sentiment_hint": "positive"})
    assert v2_bytes[1:5] == NEXT_ID.to_bytes(4, "big")
    assert v2.decode(v2_bytes)["sentiment_hint"] == "positive"
    # A v1-only registry cannot know the new id: an old reader must be upgraded to see the new schema id.
    with pytest.raises(DecodeError) as info:
        codec("social_event").decode(v2_bytes)
    assert info.value.reason == "unknown_schema_id"


def test_reader_filled_mutable_defaults_are_fresh_per_record(tmp_path: Path) -> None:
    v1_bytes = codec("social_event").encode(make_social_event())
    schemas = copy_schemas(tmp_path)
    new_field = {"name": "tags", "type": {"type": "map", "values": "string"}, "default": {}, "doc": "t"}
    register_new_version(schemas, "social_event", social_schema_with(new_field))
    v2 = AvroCodec("social_event", SchemaRegistry.load(schemas))
    first = v2.decode(v1_bytes)
    first["tags"]["leak"] = "x"
    assert v2.decode(v1_bytes)["tags"] == {}


def test_v2_writer_read_by_a_reader_that_knows_v2_but_prefers_v1(tmp_path: Path) -> None:
    # FORWARD direction: an old reader schema resolving data written with the newer schema.
    schemas = copy_schemas(tmp_path)
    new_field = {"name": "sentiment_hint", "type": ["null", "string"], "default": None, "doc": "test"}
    new_id = register_new_version(schemas, "social_event", social_schema_with(new_field))
    registry = SchemaRegistry.load(schemas)
    v2_bytes = AvroCodec("social_event", registry).encode({**REQUIRED_SOCIAL, "sentiment_hint": "x"})
    _, v1_schema = registry.by_id(1)
    _, v2_schema = registry.by_id(new_id)
    buf = io.BytesIO(v2_bytes[5:])
    record = schemaless_reader(buf, v2_schema, v1_schema)
    assert isinstance(record, dict)
    assert "sentiment_hint" not in record
    assert record["brand_id"] == "b-1"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda s: s["fields"].append({"name": "required_new", "type": "string", "doc": "x"}),
            "new cannot read old: required_new: field is absent on one side and has no default",
        ),
        (
            lambda s: s["fields"].remove(next(f for f in s["fields"] if f["name"] == "brand_id")),
            "old cannot read new: brand_id: field is absent on one side and has no default",
        ),
        (
            lambda s: s["fields"][2]["type"]["symbols"].append("poll"),
            "symbols ['poll'] unknown to the reader and enum io.engage.events.EventType has no default",
        ),
        (
            lambda s: next(f for f in s["fields"] if f["name"] == "actor_id").update(type="long"),
            "actor_id: type changed from string to long",
        ),
        (
            lambda s: next(f for f in s["fields"] if f["name"] == "actor_id").update(name="actor"),
            "new cannot read old: actor: field is absent on one side and has no default",
        ),
        (
            # An alias lets the new reader find old data, but old readers do not know the new name.
            lambda s: next(f for f in s["fields"] if f["name"] == "actor_id").update(
                name="actor", aliases=["actor_id"]
            ),
            "old cannot read new: actor_id: field is absent on one side and has no default",
        ),
        (
            lambda s: next(f for f in s["fields"] if f["name"] == "actor_followers").update(
                type=["null", "long", "string"]
            ),
            "old cannot read new: actor_followers: reader union [null, long] has no branch for string",
        ),
        (
            # Avro promotion is only BACKWARD compatible: an old long reader cannot read a double.
            lambda s: next(f for f in s["fields"] if f["name"] == "actor_followers").update(
                type=["null", "double"]
            ),
            "old cannot read new: actor_followers: reader union [null, long] has no branch for double",
        ),
    ],
    ids=[
        "added-without-default",
        "removed-without-default",
        "enum-without-default",
        "type-change",
        "rename",
        "rename-required-with-alias",
        "union-gains-branch",
        "promotion",
    ],
)
def test_incompatible_new_version_is_reported(tmp_path: Path, mutate: Any, expected: str) -> None:
    schemas = copy_schemas(tmp_path)
    schema = json.loads((SCHEMAS_DIR / "social_event.avsc").read_text())
    mutate(schema)
    register_new_version(schemas, "social_event", schema)
    problems = SchemaRegistry.load(schemas).check()
    assert problems, "incompatible change not reported"
    assert all("not FULL compatible" in p for p in problems)
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize(
    "mutate",
    [
        lambda s: s["fields"][1]["type"]["symbols"].append("tiktok"),  # Platform has a default
        lambda s: s["fields"].remove(next(f for f in s["fields"] if f["name"] == "lang")),  # had a default
        lambda s: s["fields"].append({"name": "score", "type": ["null", "int"], "default": None}),
    ],
    ids=["enum-with-default", "removed-with-default", "added-with-default"],
)
def test_compatible_new_version_passes(tmp_path: Path, mutate: Any) -> None:
    schemas = copy_schemas(tmp_path)
    schema = json.loads((SCHEMAS_DIR / "social_event.avsc").read_text())
    mutate(schema)
    register_new_version(schemas, "social_event", schema)
    assert SchemaRegistry.load(schemas).check() == []


# -- properties ------------------------------------------------------------------------------------

optional_text = st.none() | st.text(max_size=40)
timestamps = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
).map(utc_ms)
EVENT_TYPES = ["post", "comment", "reply", "like", "share", "follow", "unfollow"]
EVENT_TYPES += ["mention", "click", "lead", "purchase", "message"]
social_events = st.fixed_dictionaries(
    {
        "event_id": st.text(min_size=1, max_size=40),
        "platform": st.sampled_from(["facebook", "instagram", "x", "youtube", "other"]),
        "event_type": st.sampled_from(EVENT_TYPES),
        "brand_id": st.text(max_size=20),
        "account_id": optional_text,
        "post_id": optional_text,
        "actor_id": st.text(max_size=20),
        "parent_id": optional_text,
        "is_brand": st.booleans(),
        "text": st.none() | st.text(max_size=300),
        "lang": optional_text,
        "campaign_id": optional_text,
        "actor_followers": st.none() | st.integers(min_value=-(2**63), max_value=2**63 - 1),
        "occurred_at": timestamps,
        "received_at": timestamps,
        "attributes": st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=5),
    }
)


@given(social_events)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_property_valid_social_events_round_trip_exactly(event: dict[str, Any]) -> None:
    c = codec("social_event")
    c.validate(event)
    assert c.decode(c.encode(event)) == event


def _assert_decodes_or_decode_error(data: bytes) -> None:
    try:
        result = codec("social_event").decode(data)
    except DecodeError as exc:
        assert exc.reason in DecodeError.REASONS
    else:
        assert isinstance(result, dict)


@given(st.binary(max_size=200))
@settings(max_examples=500)
def test_property_random_bytes_never_escape_as_other_exceptions(data: bytes) -> None:
    _assert_decodes_or_decode_error(data)


@given(st.binary(max_size=200))
@settings(max_examples=500)
def test_property_random_bodies_behind_a_valid_header(body: bytes) -> None:
    _assert_decodes_or_decode_error(b"\x00\x00\x00\x00\x01" + body)


@given(social_events, st.data())
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_property_corrupted_valid_messages(event: dict[str, Any], data: st.DataObject) -> None:
    encoded = bytearray(codec("social_event").encode(event))
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(5, len(encoded) - 1))
        encoded[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(encoded)))
    _assert_decodes_or_decode_error(bytes(encoded[:cut]))
