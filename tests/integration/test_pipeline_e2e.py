"""End to end on a real broker and chDB: demo events → ingest → enrich → loader → ClickHouse, alerts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from services.common.dlq import header_dict
from services.common.events import EVENT_TYPES
from services.common.query import run_query
from services.ingest.replay import replay_files
from services.sim.demo import demo_events
from services.summary import summarize
from tests.integration.helpers import drain_pipeline, read_topic, run_engage, running_pipeline
from tests.integration.pipeline import Pipeline

pytestmark = pytest.mark.integration

N = 3000
BAD_LINES = [
    b'{"event_id": "broken", ',  # not JSON
    # no brand_id
    b'{"event_id": "b2", "platform": "x", "event_type": "like", "actor_id": "a", "occurred_at": 1}',
    b'{"event_id": "b3", "platform": "myspace", "event_type": "like", "brand_id": "b", "actor_id": "a",'
    b' "occurred_at": 1}',
]


@pytest.fixture(scope="module")
def pipeline(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    with running_pipeline(kafka_bootstrap, tmp_path_factory, "e2e") as p:
        yield p


@pytest.fixture(scope="module")
def demo_file(pipeline: Pipeline) -> tuple[Path, list[dict[str, object]]]:
    events = demo_events(n=N, seed=11)
    path = pipeline.root / "demo.jsonl"
    lines = [orjson.dumps(e) for e in events]
    # Bad lines in the middle of the file, at known line numbers (2, 1002, 2002).
    for i, bad in enumerate(BAD_LINES):
        lines.insert(1 + i * 1000, bad)
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path, events


@pytest.fixture(scope="module")
def loaded(pipeline: Pipeline, demo_file: tuple[Path, list[dict[str, object]]]) -> list[dict[str, object]]:
    path, events = demo_file
    result = asyncio.run(replay_files(pipeline.ingest, [path], batch_size=500))
    assert (result.accepted, result.rejected) == (N, len(BAD_LINES))
    asyncio.run(_produce_poison(pipeline))
    drain_pipeline(pipeline, 240)
    return events


POISON = [b"", b"not avro at all", b"\x00\x00\x00\x00\x01\xff"]


async def _produce_poison(pipeline: Pipeline) -> None:
    """Bytes that bypass ingest validation: the enrich agent must dead-letter them and keep going."""
    producer = AIOKafkaProducer(bootstrap_servers=pipeline.bootstrap, acks="all")
    await producer.start()
    try:
        for value in POISON:
            await producer.send_and_wait(pipeline.ingest.topic_raw, value=value, key=b"poison")
    finally:
        await producer.stop()


def _dead_letter_headers(pipeline: Pipeline) -> list[dict[str, str]]:
    return [
        header_dict(m.headers) for m in asyncio.run(read_topic(pipeline.ingest, pipeline.ingest.topic_dlq))
    ]


def test_every_event_lands_exactly_once_with_a_language(
    pipeline: Pipeline, loaded: list[dict[str, object]]
) -> None:
    summary = summarize(pipeline.dsn, [str(e["event_id"]) for e in loaded])
    assert summary.loaded == N
    assert summary.rows == N and summary.duplicates == 0
    assert summary.with_language == N
    languages = {lang for _, lang, _ in summary.by_platform_language}
    assert {"ko", "en"} <= languages
    _, rows = run_query(pipeline.dsn, "SELECT groupUniqArray(event_type) FROM events")
    assert set(rows[0][0]) == set(EVENT_TYPES)


def test_languages_match_the_feature_function(pipeline: Pipeline, loaded: list[dict[str, object]]) -> None:
    from services.enrich.language import detect_language

    expected = {str(e["event_id"]): detect_language(e.get("text"), e.get("lang")) for e in loaded}  # type: ignore[arg-type]
    _, rows = run_query(pipeline.dsn, "SELECT event_id, language FROM events FINAL")
    assert dict((r[0], r[1]) for r in rows) == expected


def test_complaint_flags_and_reasons_reach_clickhouse(
    pipeline: Pipeline, loaded: list[dict[str, object]]
) -> None:
    """events.is_complaint / complaint_reasons are what the complaint model says for each event."""
    from services.enrich.complaint_model import assess_batch
    from services.enrich.language import detect_languages

    with_text = [e for e in loaded if e.get("text")]
    texts = [str(e["text"]) for e in with_text]
    languages = detect_languages(list(texts), [e.get("lang") for e in with_text])  # type: ignore[misc]
    _, results = assess_batch(
        texts,
        [str(e["event_type"]) for e in with_text],
        [bool(e.get("is_brand")) for e in with_text],
        languages,
    )
    expected = {
        str(e["event_id"]): (r.flag, list(r.reasons)) for e, r in zip(with_text, results, strict=True)
    }
    _, rows = run_query(
        pipeline.dsn, "SELECT event_id, is_complaint, complaint_reasons, text FROM events FINAL"
    )
    got = {r[0]: (bool(r[1]), list(r[2])) for r in rows if r[3]}
    assert got == expected
    flagged = [v for v in got.values() if v[0]]
    assert flagged and all(1 <= len(reasons) <= 3 for _, reasons in flagged)
    assert all(reasons == [] for flag, reasons in got.values() if not flag)


def test_invalid_lines_are_dead_lettered_with_reason_and_line(
    pipeline: Pipeline, loaded: list[dict[str, object]]
) -> None:
    headers = [h for h in _dead_letter_headers(pipeline) if h["__dlq.stage"] == "ingest.replay"]
    assert sorted(int(h["__dlq.line"]) for h in headers) == [2, 1002, 2002]
    assert {h["__dlq.reason"] for h in headers} == {"invalid_event"}
    details = " ".join(h["__dlq.detail"] for h in headers)
    assert "invalid JSON" in details and "brand_id" in details and "platform" in details


def test_poison_messages_are_dead_lettered_by_enrich_and_the_stream_goes_on(
    pipeline: Pipeline, loaded: list[dict[str, object]]
) -> None:
    enrich = [h for h in _dead_letter_headers(pipeline) if h["__dlq.stage"] == "enrich"]
    assert sorted(h["__dlq.reason"] for h in enrich) == ["bad_magic", "corrupt", "empty"]
    assert all(h["__dlq.topic"] == pipeline.ingest.topic_raw and h["__dlq.offset"].isdigit() for h in enrich)


def test_engage_query_works_while_the_loader_owns_chdb(
    pipeline: Pipeline, loaded: list[dict[str, object]]
) -> None:
    out = run_engage("query", "SELECT uniqExact(event_id) AS n FROM events", "-f", "json", env=pipeline.env())
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [{"n": N}]


def test_replaying_the_same_file_does_not_duplicate_rows(
    pipeline: Pipeline, demo_file: tuple[Path, list[dict[str, object]]], loaded: list[dict[str, object]]
) -> None:
    path, events = demo_file
    _, alerts_before = run_query(pipeline.dsn, "SELECT count() FROM alerts FINAL")
    asyncio.run(replay_files(pipeline.ingest, [path]))
    drain_pipeline(pipeline, 240)
    summary = summarize(pipeline.dsn, [str(e["event_id"]) for e in events])
    assert (summary.loaded, summary.rows, summary.duplicates) == (N, N, 0)
    _, alerts_after = run_query(pipeline.dsn, "SELECT count() FROM alerts FINAL")
    assert alerts_after == alerts_before  # same events, same deterministic alert ids
