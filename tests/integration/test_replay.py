"""`engage replay` on the real broker: Kafka and DLQ counts, headers, CSV, platform payloads, resume."""

from __future__ import annotations

import asyncio
import gzip
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from services.common.dlq import header_dict
from services.common.kafka import ensure_topics, topic_end_offsets
from services.common.settings import REPO_ROOT, IngestSettings, to_env
from services.ingest.replay import replay_files
from tests.factories import META_COMMENT_PAYLOAD
from tests.integration.helpers import (
    engage_command,
    eventually,
    namespaced,
    read_records,
    read_topic,
    run_engage,
    unique_name,
)

pytestmark = pytest.mark.integration

N_LINES = 100_000


def _settings(bootstrap: str, name: str) -> IngestSettings:
    """An isolated topic namespace per test, so counts are exact."""
    settings = namespaced(
        IngestSettings,
        bootstrap,
        unique_name(name),
        ingest_keep_raw_ids=True,  # assert on the ids as written in the files
        ingest_extra_attributes="src,x.region",  # the CSV's own columns, kept as attributes
    )
    asyncio.run(ensure_topics(settings))
    return settings


def _event(i: int) -> dict[str, Any]:
    return {
        "event_id": f"r-{i:06d}",
        "platform": ("facebook", "instagram", "x", "youtube")[i % 4],
        "event_type": ("comment", "like", "share", "reply")[i % 4],
        "brand_id": f"brand-{i % 7}",
        "actor_id": f"actor-{i % 997}",
        "text": f"comment number {i}" if i % 4 in (0, 3) else None,
        "occurred_at": 1_790_000_000_000 + i * 100,
    }


BAD_KINDS = [
    (b'{"event_id": "bad-json", "platform": ', "invalid_json"),
    (
        b'{"event_id": "bad-brand", "platform": "x", "event_type": "like", "actor_id": "a", '
        b'"occurred_at": 1}',
        "invalid_event: brand_id",
    ),
    (
        b'{"event_id": "bad-enum", "platform": "myspace", "event_type": "like", "brand_id": "b", '
        b'"actor_id": "a", "occurred_at": 1}',
        "invalid_event: platform",
    ),
]


def _count(settings: IngestSettings, topic: str) -> int:
    """Messages ever written to ``topic`` (no transactions, no compaction: end offsets are counts)."""
    return asyncio.run(topic_end_offsets(settings, topic))


def _messages(settings: IngestSettings, topic: str) -> list[Any]:
    return asyncio.run(read_topic(settings, topic))


def _raw_events(settings: IngestSettings) -> list[dict[str, Any]]:
    return asyncio.run(read_records(settings, settings.topic_raw, "social_event"))


def _env(settings: IngestSettings) -> dict[str, str]:
    return {**os.environ, **to_env(settings), "COLUMNS": "120"}


def _run(settings: IngestSettings, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return run_engage("replay", *args, env=_env(settings), timeout=timeout)


def test_100k_lines_with_1_percent_bad(kafka_bootstrap: str, tmp_path: Path) -> None:
    settings = _settings(kafka_bootstrap, "replay100k")
    lines: list[bytes] = []
    bad: dict[int, str] = {}  # line number → expected reason
    for lineno in range(1, N_LINES + 1):
        if lineno % 100 == 0:
            raw, reason = BAD_KINDS[(lineno // 100) % 3]
            lines.append(raw)
            bad[lineno] = reason
        else:
            lines.append(orjson.dumps(_event(lineno)))
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")

    started = time.monotonic()
    out = _run(settings, str(path), timeout=120)
    took = time.monotonic() - started
    assert out.returncode == 0, out.stderr
    print(f"replayed {N_LINES:,} lines in {took:.1f} s (including interpreter start)\n{out.stdout}")

    assert _count(settings, settings.topic_raw) == 99_000
    assert _count(settings, settings.topic_dlq) == 1_000
    dead = _messages(settings, settings.topic_dlq)
    headers = [header_dict(m.headers) for m in dead]
    assert sorted(int(h["__dlq.line"]) for h in headers) == sorted(bad)
    assert {h["__dlq.reason"] for h in headers} == {"invalid_event"}
    assert {h["__dlq.file"] for h in headers} == {str(path)}
    assert {h["__dlq.stage"] for h in headers} == {"ingest.replay"}
    for m, h in zip(dead, headers, strict=True):
        line = int(h["__dlq.line"])
        assert m.value == lines[line - 1]  # the original line, byte for byte
        field = bad[line].rpartition(" ")[2]
        assert (field if bad[line] != "invalid_json" else "invalid JSON") in h["__dlq.detail"]

    text = out.stdout
    assert re.search(r"lines read\s*│\s*100,000", text), text
    assert re.search(rf"accepted \(to {re.escape(settings.topic_raw)}\)\s*│\s*99,000", text), text
    assert re.search(rf"rejected \(to {re.escape(settings.topic_dlq)}\)\s*│\s*1,000", text), text
    for reason in ("invalid_json", "invalid_event: brand_id", "invalid_event: platform"):
        expected = sum(1 for r in bad.values() if r == reason)
        assert re.search(rf"{re.escape(reason)}\s*│\s*{expected}\b", text), (reason, text)


def test_csv_file_with_bad_values(kafka_bootstrap: str, tmp_path: Path) -> None:
    settings = _settings(kafka_bootstrap, "replaycsv")
    path = tmp_path / "events.csv"
    path.write_text(
        "event_id,platform,event_type,brand_id,actor_id,is_brand,actor_followers,text,occurred_at,"
        "attributes,region\n"
        'c1,instagram,comment,b1,a1,false,42,"two\nlines",2026-11-01T00:00:00Z,"{""src"": ""crm""}",kr\n'
        "c2,x,like,b1,a2,maybe,,,1790000000000,,\n"
        "c3,x,follow,b1,a3,1,notanumber,,1790000000000,,\n"
        "c4,youtube,post,b1,b1,TRUE,,launch,1790000000000,,us\n"
        "c5,x,like,,a5,0,,,1790000000000,,\n",
        encoding="utf-8",
    )
    summary = asyncio.run(replay_files(settings, [path]))
    assert (summary.lines, summary.accepted, summary.rejected) == (7, 2, 3)
    assert summary.rejected_by_reason == {"csv_value": 2, "invalid_event: brand_id": 1}

    raw = {r["event_id"]: r for r in _raw_events(settings)}
    assert set(raw) == {"c1", "c4"}
    assert raw["c1"]["text"] == "two\nlines" and raw["c1"]["actor_followers"] == 42
    assert raw["c1"]["attributes"] == {"src": "crm", "x.region": "kr"}
    assert raw["c4"]["is_brand"] is True and raw["c4"]["actor_followers"] is None
    dead = [header_dict(m.headers) for m in _messages(settings, settings.topic_dlq)]
    by_line = {int(h["__dlq.line"]): h["__dlq.detail"] for h in dead}
    assert set(by_line) == {4, 5, 7}  # c1 spans lines 2-3
    assert "column 'is_brand'" in by_line[4] and "column 'actor_followers'" in by_line[5]
    assert "brand_id" in by_line[7]


def test_platform_shaped_jsonl(kafka_bootstrap: str, tmp_path: Path) -> None:
    settings = _settings(kafka_bootstrap, "replayhooks")
    meta = META_COMMENT_PAYLOAD
    malformed = {"object": "page", "entry": [{"time": 1700000000, "changes": []}]}
    path = tmp_path / "hooks.ndjson.gz"
    path.write_bytes(
        gzip.compress(b"\n".join([orjson.dumps(_event(1)), orjson.dumps(meta), orjson.dumps(malformed)]))
    )
    summary = asyncio.run(replay_files(settings, [path]))
    assert (summary.accepted, dict(summary.rejected_by_reason)) == (2, {"payload_error": 1})
    events = {r["event_id"]: r for r in _raw_events(settings)}
    assert set(events) == {"r-000001", "fb:C1"}
    assert (events["fb:C1"]["brand_id"], events["fb:C1"]["text"]) == ("PAGE1", "hello")
    [dead] = _messages(settings, settings.topic_dlq)
    h = header_dict(dead.headers)
    assert (h["__dlq.line"], h["__dlq.file"]) == ("3", str(path))
    assert "entry[0].id" in h["__dlq.detail"]


def test_interrupt_then_resume_sends_every_line_exactly_once(kafka_bootstrap: str, tmp_path: Path) -> None:
    settings = _settings(kafka_bootstrap, "replayresume")
    n = 3000
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(_event(i)) for i in range(1, n + 1)) + b"\n")

    proc = subprocess.Popen(
        engage_command("replay", str(path), "--rate", "1500", "--batch-size", "100"),
        cwd=REPO_ROOT,
        env=_env(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def producing() -> bool:
            assert proc.poll() is None, f"replay exited before producing 300 events: {proc.stderr}"
            return _count(settings, settings.topic_raw) >= 300

        eventually(producing, timeout=30, what="replay to produce 300 events", interval=0.1)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 1, stderr
    match = re.search(r"resume with --from-line (\d+)", stdout)
    assert match, stdout
    resume = int(match.group(1))
    assert 300 < resume < n  # it was stopped midway, and everything before the resume line is in Kafka
    assert _count(settings, settings.topic_raw) == resume - 1

    out = _run(settings, str(path), "--from-line", str(resume))
    assert out.returncode == 0, out.stderr
    assert re.search(rf"skipped \(before --from-line\)\s*│\s*{resume - 1:,}\b", out.stdout), out.stdout
    ids = [r["event_id"] for r in _raw_events(settings)]
    assert sorted(ids) == [f"r-{i:06d}" for i in range(1, n + 1)]


def test_usage_errors_exit_2(kafka_bootstrap: str, tmp_path: Path) -> None:
    settings = _settings(kafka_bootstrap, "replayusage")
    path = tmp_path / "events.jsonl"
    path.write_bytes(orjson.dumps(_event(1)) + b"\n")
    (tmp_path / "dump.txt").write_bytes(b"{}\n")
    for args, message in [
        ((str(path), "--rate", "10", "--speedup", "2"), "mutually exclusive"),
        ((str(tmp_path / "dump.txt"),), "--format"),
    ]:
        out = _run(settings, *args)
        assert out.returncode == 2 and message in out.stderr, (args, out.stderr)
    assert _count(settings, settings.topic_raw) == 0
