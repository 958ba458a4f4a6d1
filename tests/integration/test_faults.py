"""Fault tolerance: crashes, a broker restart, insert failures and poison messages lose and duplicate nothing.

Each scenario runs a simulated stream with ground truth (seed 7: two simulated hours; for the alerts
worker's crash, one brand over two days with a crisis on day two, so alerts fire and resolve) through
real Kafka, the enrich, loader and alerts workers (subprocesses) and chDB, injects its fault mid-stream, and
then checks that every produced event_id is in ClickHouse exactly once (``FINAL`` and ``uniqExact``),
that the features equal ground truth, and that events produced after the fault were processed too.

Faults: SIGKILL of the enrich, loader and alerts workers, a stop and restart of the Kafka broker
(a broker of its own, on the same port and data directory), ClickHouse insert failures injected with
failpoints (``services/common/failpoints.py``) before and after the write and a crash between the
insert and the offset commit, and undecodable, oversize and invalid messages.

The workers run with a short Kafka session timeout (faust's ``BROKER_SESSION_TIMEOUT``, the loader's
``ENGAGE_LOADER_SESSION_TIMEOUT_SECONDS``), so that the partitions of a killed worker move within seconds.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import subprocess
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError

from services.alerts.engine import AlertEngine
from services.alerts.spike import SpikeConfig
from services.common import failpoints
from services.common.avro import DecodeError, codec
from services.common.dlq import header_dict
from services.common.events import parse_event
from services.common.kafka import committed_offsets, ensure_topics
from services.common.keyed_state import Position
from services.local.kafka import LocalKafka, free_port
from services.sim.cli import produce_events
from services.sim.simulator import DEFAULT_BRANDS, Simulation, SimulationConfig, simulate
from tests.integration.groundtruth_checks import (
    assert_equals_ground_truth,
    loaded_events,
    q,
)
from tests.integration.helpers import drain_pipeline, eventually_async, read_topic, scrape
from tests.integration.ingest_server import serve
from tests.integration.pipeline import Pipeline

pytestmark = [pytest.mark.integration, pytest.mark.faults]

SEED = 7
DURATION = 2 * 3600.0
DRAIN_TIMEOUT = 180.0


@pytest.fixture(scope="module")
def sim() -> Simulation:
    return simulate(SimulationConfig(seed=SEED, duration_seconds=DURATION))


PipelineFactory = Callable[..., Pipeline]


@pytest.fixture(autouse=True)
def quick_failover(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers started here notice a dead consumer-group member within seconds: faust's default session
    timeout (60 s) would make every crash scenario wait a minute before the partitions move."""
    monkeypatch.setenv("BROKER_SESSION_TIMEOUT", "8")
    monkeypatch.setenv("BROKER_HEARTBEAT_INTERVAL", "1")
    monkeypatch.setenv("ENGAGE_LOADER_SESSION_TIMEOUT_SECONDS", "8")


def drain(p: Pipeline) -> None:
    drain_pipeline(p, DRAIN_TIMEOUT)


async def _wait_loaded(p: Pipeline, at_least: int, timeout: float = 120.0) -> int:
    async def loaded() -> int:
        n = await asyncio.to_thread(loaded_events, p)
        return n if n >= at_least else 0

    return await eventually_async(loaded, timeout=timeout, what=f"{at_least} events loaded")


async def fault_while_producing(
    p: Pipeline, events: list[dict[str, Any]], fault: Callable[[], Awaitable[None]], paced_seconds: float
) -> None:
    """Produce ``events`` with ``fault`` landing among them, whatever the machine's speed: the first tenth
    is confirmed in Kafka, then the fault starts, and only then is the rest produced, paced over
    ``paced_seconds`` (so the producer keeps sending while the fault goes on)."""
    head = max(1, len(events) // 10)
    head_confirmed, fault_started = asyncio.Event(), asyncio.Event()

    async def produce() -> tuple[int, int]:
        first = await produce_events(p.ingest, events[:head])
        head_confirmed.set()
        await fault_started.wait()  # the barrier: nothing more is sent before the fault begins
        rest = await produce_events(p.ingest, events[head:], rate=(len(events) - head) / paced_seconds)
        return first[0] + rest[0], first[1] + rest[1]

    producer = asyncio.create_task(produce())
    confirmed = asyncio.create_task(head_confirmed.wait())
    await asyncio.wait({producer, confirmed}, return_when=asyncio.FIRST_COMPLETED)
    if producer.done():  # it failed before the barrier
        confirmed.cancel()
        producer.result()
    fault_started.set()
    await fault()
    assert await producer == (len(events), 0)


def run_with_fault(
    p: Pipeline,
    events: list[dict[str, Any]],
    fault: Callable[[], Awaitable[None]],
    paced_seconds: float = 8.0,
) -> int:
    """Produce the first half at full speed; once a quarter is loaded, produce the third quarter with
    ``fault`` landing in it (:func:`fault_while_producing`), so the fault lands while producing and
    while the workers consume; produce the last quarter only after the fault is over. Returns the
    events loaded before the fault."""
    n = len(events)
    half, three_quarters = n // 2, 3 * n // 4

    async def scenario() -> int:
        assert await produce_events(p.ingest, events[:half]) == (half, 0)
        loaded = await _wait_loaded(p, n // 4)
        await fault_while_producing(p, events[half:three_quarters], fault, paced_seconds)
        # The pipeline keeps going: events produced after the fault are processed too.
        assert await produce_events(p.ingest, events[three_quarters:]) == (n - three_quarters, 0)
        return loaded

    loaded_at_fault = asyncio.run(scenario())
    assert 0 < loaded_at_fault < len(events), "the fault must land mid-stream"
    return loaded_at_fault


def late_events_total(p: Pipeline) -> float:
    """``engage_alerts_late_events_total`` of the running alerts worker."""
    return scrape(p.url("alerts", "/metrics"), "engage_alerts_late_events_total")


def failures_total(p: Pipeline) -> float:
    """``engage_loader_failures_total`` of the running loader, summed over tables."""
    return scrape(p.url("loader", "/metrics"), "engage_loader_failures_total")


# --------------------------------------------------------------------------------------------------
# 1, 2: SIGKILL of a worker
# --------------------------------------------------------------------------------------------------


def sigkill_and_restart(p: Pipeline, worker: str) -> Callable[[], Awaitable[None]]:
    """The fault: SIGKILL ``worker`` (no shutdown at all), then start it again a second later."""

    async def fault() -> None:
        p.stop(worker, sig=signal.SIGKILL)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(p.start, (worker,))

    return fault


def trace_events(p: Pipeline, event_ids: set[str]) -> str:
    """Where the given events are in the raw and enriched topics, and the groups' committed offsets:
    which stage lost an event that is missing from ClickHouse."""
    lines = []
    for topic, subject in ((p.enrich.topic_raw, "social_event"), (p.enrich.topic_enriched, "enriched_event")):
        dec = codec(subject)
        for m in asyncio.run(read_topic(p.enrich, topic)):
            try:
                r = dec.decode(m.value)
            except DecodeError:
                continue
            if r.get("event_id") in event_ids:
                lines.append(f"{topic} {r['event_id']} p{m.partition}@{m.offset}")

    for group in (p.enrich.enrich_app_id, p.loader.loader_app_id):
        offsets = asyncio.run(committed_offsets(p.enrich, group))
        lines.append(
            f"{group}: " + ", ".join(f"{tp.topic}[{tp.partition}]={o}" for tp, o in sorted(offsets.items()))
        )
    return "\n".join(lines)


def test_sigkill_enrich_mid_stream_loses_and_duplicates_nothing(
    make_pipeline: PipelineFactory, kafka_bootstrap: str, sim: Simulation
) -> None:
    p = make_pipeline(kafka_bootstrap)
    p.start()
    run_with_fault(p, sim.events, sigkill_and_restart(p, "enrich"))
    drain(p)
    try:
        assert_equals_ground_truth(p, sim)
    except AssertionError as exc:
        loaded = {r[0] for r in q(p, "SELECT DISTINCT event_id FROM events")}
        missing = {e["event_id"] for e in sim.events} - loaded
        raise AssertionError(f"{exc}\n{trace_events(p, missing)}") from exc


def test_sigkill_loader_mid_stream_loads_every_row_exactly_once(
    make_pipeline: PipelineFactory, kafka_bootstrap: str, sim: Simulation
) -> None:
    """The loader dies mid-stream with inserted but uncommitted batches likely in flight (no flush, no
    leaving the group, the chDB owner lock left behind): its successor takes the lock over, reloads from
    the committed offsets, and redelivered rows collapse — every table holds each key once, and the
    enrich worker kept running throughout."""
    p = make_pipeline(kafka_bootstrap)
    p.start()
    enrich_pid = p.procs["enrich"].pid
    loaded_at_fault = run_with_fault(p, sim.events, sigkill_and_restart(p, "loader"))
    assert loaded_at_fault < len(sim.events)
    drain(p)
    assert p.procs["enrich"].pid == enrich_pid and p.procs["enrich"].poll() is None
    assert_equals_ground_truth(p, sim)
    for table, key in (
        ("post_virality", "brand_id, post_id"),
        ("follower_funnel", "brand_id, actor_id"),
        ("brand_backlog", "brand_id"),
    ):
        [[rows, keys]] = q(p, f"SELECT count(), uniqExact({key}) FROM {table} FINAL")
        assert rows == keys > 0, table


def replay_alert_engine(p: Pipeline) -> tuple[dict[str, Any], set[tuple[str, str]]]:
    """The alert engine run in one pass over its input topics as they are: the signal state and the
    (alert_id, status) pairs an alerts worker that never crashed would have."""
    s = p.alerts
    config = SpikeConfig(bucket_seconds=s.alert_bucket_seconds, warmup_seconds=s.alert_warmup_seconds)
    store: dict[str, Any] = {}
    kinds = [k for k in s.alert_kinds.split(",") if k]
    engine = AlertEngine(store, config, kinds, allowed_lateness_seconds=s.alert_allowed_lateness_seconds)
    alerts: list[dict[str, Any]] = []
    for topic, subject, process in (
        (s.topic_enriched, "enriched_event", engine.process_events),
        (s.topic_post_virality, "post_virality", engine.process_posts),
    ):
        decoder = codec(subject)
        for m in asyncio.run(read_topic(s, topic)):
            alerts += process([decoder.decode(m.value)], [Position(m.partition, m.offset)])
    return without_wall_clock(json.loads(json.dumps(store))), {(a["alert_id"], a["status"]) for a in alerts}


def worker_signal_state(p: Pipeline) -> dict[str, Any]:
    """The alerts worker's signal table as its changelog holds it (latest value per key)."""
    latest: dict[str, Any] = {}
    for m in asyncio.run(read_topic(p.alerts, f"{p.alerts.alerts_app_id}-alert-signals-changelog")):
        latest[json.loads(m.key)] = json.loads(m.value) if m.value is not None else None
    return without_wall_clock({k: v for k, v in latest.items() if v is not None})


def without_wall_clock(state: dict[str, Any]) -> dict[str, Any]:
    """The state minus the wall-clock times of the alerts it remembers (when they were processed)."""
    for value in state.values():
        for _, alert in value.get("emitted", []):
            alert.pop("fired_at", None)
            alert.pop("processed_at", None)
    return state


def state_diff(actual: dict[str, Any], expected: dict[str, Any]) -> str:
    """The keys on which two signal states differ, field by field (pytest's own diff is truncated)."""
    lines = [
        f"missing: {sorted(expected.keys() - actual.keys())}",
        f"extra: {sorted(actual.keys() - expected.keys())}",
    ]
    for key in sorted(actual.keys() & expected.keys()):
        a, e = actual[key], expected[key]
        if a != e:
            fields = sorted(k for k in a.keys() | e.keys() if a.get(k) != e.get(k))
            lines.append(
                f"{key}: " + "; ".join(f"{f} worker={a.get(f)!r} replay={e.get(f)!r}" for f in fields)
            )
    return "\n".join(lines)


@pytest.fixture(scope="module")
def alerting_sim() -> Simulation:
    """One brand over two simulated days with a crisis on day two: past the detectors' one-day warm-up,
    so this stream fires (and resolves) alerts."""
    brand = tuple(b for b in DEFAULT_BRANDS if b.brand_id == "hanbit-mobile")
    return simulate(
        SimulationConfig(seed=SEED, duration_seconds=2 * 86400, brands=brand, crisis_count=1, crisis_day=2)
    )


def test_sigkill_alerts_mid_stream_keeps_its_signals_and_duplicates_no_alert(
    make_pipeline: PipelineFactory, kafka_bootstrap: str, alerting_sim: Simulation
) -> None:
    p = make_pipeline(kafka_bootstrap)
    p.start()
    (crisis,) = alerting_sim.ground_truth.crises
    lateness = timedelta(seconds=p.alerts.alert_allowed_lateness_seconds)
    judged = datetime.fromisoformat(crisis.end.replace("Z", "+00:00")) + lateness + timedelta(minutes=15)
    events = alerting_sim.events
    cut = next(
        i
        for i, e in enumerate(events)
        if datetime.fromisoformat(e["occurred_at"].replace("Z", "+00:00")) >= judged
    )
    # Through the crisis until its buckets are judged: the crisis alerts fire before the fault.
    assert asyncio.run(produce_events(p.ingest, events[:cut])) == (cut, 0)
    drain(p)
    fired_before = {r[0] for r in q(p, "SELECT alert_id FROM alerts FINAL WHERE status = 'firing'")}
    assert fired_before, "the crisis fired before the fault"

    asyncio.run(fault_while_producing(p, events[cut:], sigkill_and_restart(p, "alerts"), paced_seconds=9.0))
    drain(p)
    assert_equals_ground_truth(p, alerting_sim)
    # The restarted worker carried on from its changelog: every signal state (counts, buckets, detector,
    # exactly-once marks) is what one uninterrupted pass over the same input makes.
    expected_state, expected_alerts = replay_alert_engine(p)
    assert len(expected_state) >= 5
    actual_state = worker_signal_state(p)
    assert actual_state == expected_state, state_diff(actual_state, expected_state)
    # The alerts: exactly those of the uninterrupted pass, each (alert id, status) once in ClickHouse.
    statuses = Counter(status for _, status in expected_alerts)
    assert statuses["firing"] >= 2 and statuses["resolved"] >= 2, expected_alerts
    rows = q(p, "SELECT alert_id, status FROM alerts FINAL")
    assert len(rows) == len({(r[0], r[1]) for r in rows}) == len(expected_alerts)
    assert {(r[0], r[1]) for r in rows} == expected_alerts
    assert q(p, "SELECT uniqExact(alert_id) FROM alerts WHERE status = 'firing'") == [[statuses["firing"]]]
    _, kinds = zip(*q(p, "SELECT brand_id, kind FROM alerts FINAL WHERE status = 'resolved'"), strict=True)
    assert {"complaints", "negative_mentions"} <= set(kinds)

    # Then a backfill of day one behind it all (the late-data scenario): every event is late for its
    # brand's signals, counted in engage_alerts_late_events_total, and nothing pages.
    day_one = [e for e in events if e["occurred_at"] < "2026-11-02"]
    assert asyncio.run(produce_events(p.ingest, day_one)) == (len(day_one), 0)
    drain(p)
    assert late_events_total(p) == len(day_one)
    assert {(r[0], r[1]) for r in q(p, "SELECT alert_id, status FROM alerts FINAL")} == expected_alerts


# --------------------------------------------------------------------------------------------------
# 3: the broker stops and comes back
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    """A broker for this test alone (the session broker stays up for the others)."""
    broker = LocalKafka(tmp_path_factory.mktemp("fltkafka"), port=free_port(), controller_port=free_port())
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def test_broker_stop_and_restart_mid_stream_loses_and_duplicates_nothing(
    own_broker: LocalKafka, make_pipeline: PipelineFactory, sim: Simulation
) -> None:
    # (own_broker before make_pipeline: the workers are stopped before the broker is.)
    p = make_pipeline(own_broker.bootstrap)
    p.start()
    restarted: list[str] = []

    async def bounce_broker() -> None:
        port, log_dir = own_broker.port, own_broker.log_dir
        await asyncio.to_thread(own_broker.stop)
        await asyncio.sleep(3.0)
        await asyncio.to_thread(own_broker.start)
        assert (own_broker.port, own_broker.log_dir) == (port, log_dir)

    run_with_fault(p, sim.events, bounce_broker, paced_seconds=10.0)
    # A worker that gave up while the broker was away is restarted, as its supervisor would.
    for name, proc in list(p.procs.items()):
        if proc.poll() is not None:
            restarted.append(f"{name} (exit {proc.returncode})")
            p.procs.pop(name)
            p.start((name,))
    drain(p)
    assert_equals_ground_truth(p, sim)
    assert not restarted, f"workers died with the broker: {restarted}"


# --------------------------------------------------------------------------------------------------
# 4: ClickHouse insert failures
# --------------------------------------------------------------------------------------------------


def test_insert_failures_are_retried_and_absorbed_by_deduplication(
    make_pipeline: PipelineFactory, kafka_bootstrap: str, sim: Simulation, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = sim.events
    half = len(events) // 2
    p = make_pipeline(kafka_bootstrap)
    # Three inserts fail before writing, then three fail after writing (the retry must not duplicate).
    monkeypatch.setenv(failpoints.ENV_VAR, "loader.insert.before=3,loader.insert.after=3")
    p.start()
    assert asyncio.run(produce_events(p.ingest, events[:half])) == (half, 0)
    drain(p)
    assert failures_total(p) == 6
    first = {e["event_id"] for e in events[:half]}
    # The insert deduplication token absorbed the retries of written batches: no duplicate rows at all.
    assert q(p, "SELECT count(), uniqExact(event_id) FROM events") == [[half, half]]
    assert {r[0] for r in q(p, "SELECT event_id FROM events")} == first

    # A crash after an insert and before the offset commit: the batch is redelivered after the restart.
    p.stop("loader")
    monkeypatch.setenv(failpoints.ENV_VAR, "loader.insert.after=1*crash")
    p.start(("loader",))
    proc = p.procs["loader"]
    assert asyncio.run(produce_events(p.ingest, events[half:])) == (len(events) - half, 0)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the crash failpoint did not fire:\n{p.log_tail('loader')}")
    assert proc.returncode == failpoints.CRASH_EXIT_CODE
    p.procs.pop("loader")
    monkeypatch.delenv(failpoints.ENV_VAR)
    p.start(("loader",))
    drain(p)
    assert failures_total(p) == 0  # a fresh process: nothing failed since the restart
    assert_equals_ground_truth(p, sim)


# --------------------------------------------------------------------------------------------------
# 5: poison, oversize and invalid messages
# --------------------------------------------------------------------------------------------------


def _poison(sim: Simulation) -> dict[str, tuple[bytes | None, str]]:
    """Messages for the raw topic that no consumer can decode: name → (value, DLQ reason)."""
    raw = codec("social_event")
    valid = raw.encode(parse_event({**sim.events[0], "event_id": "poison-0"}, received_at=datetime.now(UTC)))
    rng = random.Random(SEED)
    enriched_id = codec("enriched_event").schema_id
    return {
        "random_bytes": (b"\x7f" + rng.randbytes(200), "bad_magic"),
        "framed_garbage": (valid[:5] + b"\xff" * 40, "corrupt"),
        "truncated": (valid[: len(valid) - 7], "truncated"),
        "bad_magic": (b"\x01" + valid[1:], "bad_magic"),
        "unknown_schema_id": (b"\x00" + (9999).to_bytes(4, "big") + valid[5:], "unknown_schema_id"),
        "wrong_subject": (b"\x00" + enriched_id.to_bytes(4, "big") + valid[5:], "wrong_subject"),
        "header_only": (valid[:3], "truncated"),
        "tombstone": (None, "empty"),
    }


def _decodable_but_invalid(sim: Simulation, max_text_chars: int) -> dict[str, tuple[bytes, str]]:
    """Raw events another producer could write: valid Avro, but breaking the canonical event rules."""
    raw = codec("social_event")
    base = parse_event({**sim.events[0], "event_id": "invalid-0"}, received_at=datetime.now(UTC))
    return {
        "invalid_long_text": (raw.encode({**base, "text": "x" * (max_text_chars + 1)}), "'text'"),
        "invalid_empty_brand": (raw.encode({**base, "event_id": "invalid-1", "brand_id": ""}), "'brand_id'"),
    }


def test_poison_oversize_and_invalid_messages_go_to_the_dlq_and_the_rest_is_loaded(
    make_pipeline: PipelineFactory, kafka_bootstrap: str, sim: Simulation
) -> None:
    events = sim.events
    half = len(events) // 2
    p = make_pipeline(kafka_bootstrap)
    p.ingest = p.ingest.model_copy(
        update={"ingest_max_batch": 20, "ingest_max_body_bytes": 200_000, "ingest_tokens": "flt-token"}
    )
    asyncio.run(ensure_topics(p.enrich))
    p.start()
    poison = _poison(sim)
    invalid = _decodable_but_invalid(sim, p.enrich.enrich_max_text_chars)
    for value, reason in poison.values():  # each one really is what the test says it is
        with pytest.raises(DecodeError) as info:
            codec("social_event").decode(value)
        assert info.value.reason == reason

    async def produce_poison() -> None:
        producer = AIOKafkaProducer(**p.ingest.kafka_client_options(), acks="all")
        await producer.start()
        try:
            for i, (name, (value, _)) in enumerate(poison.items()):
                await producer.send_and_wait(
                    p.ingest.topic_raw,
                    value=value,
                    key=name.encode(),
                    partition=i % p.ingest.topic_partitions,
                )
            for name, (value, _) in invalid.items():
                await producer.send_and_wait(p.ingest.topic_raw, value=value, key=name.encode())
            # Bigger than the topic accepts: refused by the broker, so it never reaches a consumer.
            with pytest.raises(MessageSizeTooLargeError):
                await producer.send_and_wait(p.ingest.topic_raw, value=b"\x00" * (2 << 20), key=b"huge")
        finally:
            await producer.stop()

    assert asyncio.run(produce_events(p.ingest, events[:half])) == (half, 0)
    asyncio.run(produce_poison())

    # Through the API: a too-long text is rejected to the DLQ with the rest accepted; oversize bodies
    # and batches are refused with 413 naming the limit.
    template = next(e for e in events if e["event_type"] == "like")
    extras = [
        {**template, "event_id": f"flt-extra-{i}", "post_id": "flt-post", "actor_id": f"flt-fan-{i}"}
        for i in range(3)
    ]
    auth = {"Authorization": "Bearer flt-token"}
    too_long = {
        **template,
        "event_id": "flt-too-long",
        "event_type": "comment",
        "text": "x" * (p.ingest.ingest_max_text_chars + 1),
    }
    with serve(p.ingest) as url, httpx.Client(base_url=url, timeout=30, headers=auth) as client:
        resp = client.post("/v1/events", json=[*extras, too_long])
        assert resp.status_code == 202, resp.text
        body = resp.json()
        assert (body["accepted"], body["rejected"]) == (3, 1)
        assert body["errors"][0]["field"] == "text" and "longer than" in body["errors"][0]["message"]
        big = client.post("/v1/events", json=[{**template, "text": "y" * 12_000} for _ in range(20)])
        assert big.status_code == 413 and "ingest_max_body_bytes=200000" in big.json()["detail"]
        many = client.post("/v1/events", json=[template] * 21)
        assert many.status_code == 413 and "ingest_max_batch=20" in many.json()["detail"]

    assert asyncio.run(produce_events(p.ingest, events[half:])) == (len(events) - half, 0)
    drain(p)
    assert_equals_ground_truth(p, sim, extra_event_ids=frozenset(e["event_id"] for e in extras))

    dead = asyncio.run(read_topic(p.ingest, p.ingest.topic_dlq))
    by_key = {m.key: (m.value, header_dict(m.headers)) for m in dead if m.key}
    for name, (value, reason) in poison.items():
        got_value, headers = by_key[name.encode()]
        assert (got_value, headers["__dlq.reason"], headers["__dlq.stage"]) == (value, reason, "enrich")
        assert headers["__dlq.topic"] == p.ingest.topic_raw and headers["__dlq.detail"]
    for name, (value, field_name) in invalid.items():  # decodable but invalid: enrich names the field
        got_value, headers = by_key[name.encode()]
        assert (got_value, headers["__dlq.reason"], headers["__dlq.stage"]) == (
            value,
            "invalid_event",
            "enrich",
        )
        assert field_name in headers["__dlq.detail"]
    rejected = [header_dict(m.headers) for m in dead if not m.key]
    assert [(h["__dlq.reason"], h["__dlq.stage"]) for h in rejected] == [("invalid_event", "ingest.api")]
    assert "longer than" in rejected[0]["__dlq.detail"]
    assert Counter(h["__dlq.reason"] for _, h in by_key.values()) == Counter(
        [r for _, r in poison.values()] + ["invalid_event"] * len(invalid)
    )
    assert len(dead) == len(poison) + len(invalid) + 1
