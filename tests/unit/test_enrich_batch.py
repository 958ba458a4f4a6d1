"""One enrich batch without Kafka: what it publishes, what it rejects, where its state writes go."""

from __future__ import annotations

from typing import Any

from services.common.avro import codec
from services.enrich.batch import OutputTopics, RawEvent, handle_batch
from services.enrich.features.engine import FeatureEngine, Stores
from tests.factories import make_social_event

TOPICS = OutputTopics(enriched="enriched", posts="posts", funnels="funnels", brands="brands")


def _engine() -> FeatureEngine:
    return FeatureEngine(Stores(), attribution_window_s=6 * 3600.0)


def _events(*records: dict[str, Any], partition: int = 2) -> list[RawEvent]:
    return [RawEvent(r["brand_id"].encode(), partition, offset, r) for offset, r in enumerate(records)]


def test_every_valid_event_is_enriched_once_and_keyed_as_it_came() -> None:
    records = [make_social_event(post_id=f"p{i % 2}") for i in range(5)]
    out = handle_batch(_events(*records), _engine(), TOPICS, max_text_chars=10_000)
    assert out.rejected == []
    enriched = [(k, codec("enriched_event").decode(v)) for t, k, v in out.messages if t == "enriched"]
    assert [r["event_id"] for _, r in enriched] == [r["event_id"] for r in records]
    assert {k for k, _ in enriched} == {b"brand-1"}
    assert all(r["sentiment_label"] for _, r in enriched)
    assert out.seen == out.sent == {("instagram", "comment"): 5}
    # A snapshot per changed post and brand, keyed as the compacted topics expect.
    posts = {k for t, k, _ in out.messages if t == "posts"}
    assert posts == {b"brand-1|p0", b"brand-1|p1"}
    assert {k for t, k, _ in out.messages if t == "brands"} == {b"brand-1"}
    assert out.snapshots["posts"] == 2 and out.snapshots["brands"] == 1


def test_an_invalid_event_is_rejected_with_the_field_and_touches_no_state() -> None:
    good, bad = make_social_event(), make_social_event(brand_id="", post_id="p-bad")
    engine = _engine()
    out = handle_batch(_events(bad, good), engine, TOPICS, max_text_chars=10_000)
    ((index, reason, detail),) = out.rejected
    assert (index, reason) == (0, "invalid_event") and "'brand_id'" in detail
    assert [codec("enriched_event").decode(v)["event_id"] for t, _, v in out.messages if t == "enriched"] == [
        good["event_id"]
    ]
    assert not any("p-bad" in key for key in engine.stores.posts)
    too_long = handle_batch(_events(make_social_event(text="x" * 11)), _engine(), TOPICS, max_text_chars=10)
    assert [(i, r) for i, r, _ in too_long.rejected] == [(0, "invalid_event")]


def test_state_writes_go_to_the_partition_of_the_event_that_made_them() -> None:
    writes: list[tuple[str, str, int]] = []
    records = [make_social_event(post_id="p9")]
    handle_batch(
        _events(*records, partition=3),
        _engine(),
        TOPICS,
        max_text_chars=10_000,
        write=lambda table, key, partition, value: writes.append((table, key, partition)),
    )
    assert writes and {p for _, _, p in writes} == {3}
    assert {t for t, _, _ in writes} >= {"posts", "brands"}


def test_a_redelivered_batch_changes_no_state_twice() -> None:
    engine = _engine()
    batch = _events(*(make_social_event(post_id="p1") for _ in range(3)))
    first = handle_batch(batch, engine, TOPICS, max_text_chars=10_000)
    state = {k: dict(v) for k, v in engine.stores.posts.items()}
    again = handle_batch(batch, engine, TOPICS, max_text_chars=10_000)
    assert {k: dict(v) for k, v in engine.stores.posts.items()} == state
    assert len(again.messages) <= len(first.messages)


def test_reusing_the_raw_bodies_publishes_the_bytes_of_a_full_encode() -> None:
    """A simulated hour's enriched events, written with the raw bodies reused, are byte for byte the
    full encode of what they decode to, and carry the raw fields as they came."""
    from datetime import UTC, datetime

    from services.common.avro import extending_encoder
    from services.common.events import parse_event
    from services.sim.simulator import SimulationConfig, simulate

    received = datetime(2026, 12, 1, tzinfo=UTC)
    raw, enriched = codec("social_event"), codec("enriched_event")
    body = extending_encoder("enriched_event", "social_event").base_body
    simulated = simulate(SimulationConfig(seed=3, duration_seconds=3600)).events
    messages = [raw.encode(parse_event(r, received_at=received)) for r in simulated]
    assert len(messages) > 500
    events = [RawEvent(b"k", 0, offset, raw.decode(m), body(m)) for offset, m in enumerate(messages)]
    assert all(e.body is not None for e in events)
    out = handle_batch(events, _engine(), TOPICS, max_text_chars=10_000)
    values = [v for t, _, v in out.messages if t == "enriched"]
    assert len(values) == len(messages)
    for event, value in zip(events, values, strict=True):
        record = enriched.decode(value)
        assert enriched.encode(record) == value
        assert {k: record[k] for k in event.record} == event.record
