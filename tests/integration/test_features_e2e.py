"""Simulated traffic (seed 7) through real Kafka, the enrich worker and chDB: features equal ground truth.

The second test SIGKILLs the enrich worker mid-stream (it also owns chDB) and restarts it: every
event_id is still loaded exactly once and the feature counters continue from where they were.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from services.common.query import run_query
from services.ingest.cli_simulate import produce_events
from services.ingest.pseudonym import pseudonymise, resolve_key
from services.ingest.simulator import GroundTruth, Simulation, SimulationConfig, simulate
from services.stack import wait_drained
from tests.integration.pipeline import Pipeline

pytestmark = pytest.mark.integration

SEED = 7
DURATION = 4 * 3600.0


@pytest.fixture(scope="module")
def sim() -> Simulation:
    return simulate(SimulationConfig(seed=SEED, duration_seconds=DURATION))


@pytest.fixture
def pipeline(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Pipeline]:
    name = f"feat{request.node.name[-12:].strip('_')}".replace("_", "")
    p = Pipeline(kafka_bootstrap, tmp_path_factory.mktemp(name), name)
    p.start()
    try:
        yield p
    finally:
        p.stop_all()


def _q(p: Pipeline, sql: str) -> list[list[Any]]:
    _, rows = run_query(p.dsn, sql)
    return rows


def _assert_equals_ground_truth(p: Pipeline, sim: Simulation) -> None:
    truth: GroundTruth = sim.ground_truth
    key = resolve_key(p.ingest.pseudonym_key)
    n = len(sim.events)
    # Every event_id exactly once, in the analysts' documented query form (FINAL).
    assert _q(p, "SELECT count(), uniqExact(event_id) FROM events FINAL") == [[n, n]]
    assert _q(p, "SELECT uniqExact(event_id) FROM events") == [[n]]

    posts = {
        r[0]: tuple(r[1:])
        for r in _q(
            p,
            "SELECT post_id, likes, comments, shares, cascade_size, cascade_depth, cascade_breadth,"
            " unique_reach FROM post_virality FINAL",
        )
    }
    expected_posts = {
        pid: (
            t.likes,
            t.comments,
            t.shares,
            t.cascade_size,
            t.cascade_depth,
            t.cascade_breadth,
            t.unique_reach,
        )
        for pid, t in truth.posts.items()
    }
    assert sum(t.cascade_size for t in truth.posts.values()) > 50, "too few shares to be a test"
    assert {pid: posts.get(pid) for pid in expected_posts} == expected_posts

    conversions = {
        (r[0], r[1]): tuple(r[2:])
        for r in _q(
            p,
            "SELECT brand_id, actor_id, touches_before_conversion, round(seconds_to_convert, 3),"
            " first_touch_post_id, last_touch_post_id, first_touch_campaign_id, last_touch_campaign_id"
            " FROM follower_funnel FINAL WHERE stage = 'customer'",
        )
    }
    expected_conversions = {
        (c.brand_id, pseudonymise(c.actor_id, c.platform, key)): (
            c.touches_before_conversion,
            round(c.seconds_to_convert, 3),
            c.first_touch_post_id,
            c.last_touch_post_id,
            c.first_touch_campaign_id,
            c.last_touch_campaign_id,
        )
        for c in truth.conversions
    }
    assert len(expected_conversions) >= 10
    assert conversions == expected_conversions
    # The purchase rows carry the same touches (the per-event view analysts filter on).
    purchase_touches = _q(
        p,
        "SELECT actor_id, touches_before_conversion FROM events FINAL"
        " WHERE event_type = 'purchase' AND touches_before_conversion IS NOT NULL",
    )
    assert {(r[0], r[1]) for r in purchase_touches} == {
        (a, v[0]) for (_, a), v in expected_conversions.items()
    }

    responses = {
        (r[0], r[1]): r[2]
        for r in _q(
            p,
            "SELECT parent_id, event_id, round(response_seconds, 3) FROM events FINAL"
            " WHERE response_seconds IS NOT NULL",
        )
    }
    expected_responses = {
        (r.comment_event_id, r.reply_event_id): round(r.response_seconds, 3) for r in truth.responses
    }
    assert len(expected_responses) >= 10
    assert responses == expected_responses
    answered = dict(_q(p, "SELECT brand_id, answered_items FROM brand_backlog FINAL"))
    expected_answered: dict[str, int] = {}
    for r in truth.responses:
        expected_answered[r.brand_id] = expected_answered.get(r.brand_id, 0) + 1
    assert {b: answered.get(b) for b in expected_answered} == expected_answered


def test_simulated_traffic_features_equal_ground_truth(pipeline: Pipeline, sim: Simulation) -> None:
    accepted, rejected = asyncio.run(produce_events(pipeline.ingest, sim.events))
    assert (accepted, rejected) == (len(sim.events), 0)
    asyncio.run(wait_drained(pipeline.enrich, pipeline.alerts, timeout=300))
    _assert_equals_ground_truth(pipeline, sim)


def _loaded(p: Pipeline) -> int:
    try:
        return int(_q(p, "SELECT uniqExact(event_id) FROM events")[0][0])
    except Exception:
        return 0


def test_sigkill_mid_stream_loses_and_duplicates_nothing(pipeline: Pipeline, sim: Simulation) -> None:
    events = sim.events
    half = len(events) // 2

    async def produce_all() -> None:
        await produce_events(pipeline.ingest, events[:half])
        # Keep producing while the worker is killed and restarted: a paced second half.
        await produce_events(pipeline.ingest, events[half:], rate=len(events) / 20)

    async def kill_mid_stream() -> int:
        producer = asyncio.create_task(produce_all())
        deadline = time.monotonic() + 120
        loaded = 0
        while time.monotonic() < deadline:
            loaded = await asyncio.to_thread(_loaded, pipeline)
            if loaded >= len(events) // 4:
                break
            await asyncio.sleep(0.2)
        pipeline.stop("enrich", sig=signal.SIGKILL)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(pipeline.start, ("enrich",))
        await producer
        return loaded

    loaded_at_kill = asyncio.run(kill_mid_stream())
    assert 0 < loaded_at_kill < len(events), "the kill must land mid-stream"
    asyncio.run(wait_drained(pipeline.enrich, pipeline.alerts, timeout=300))
    _assert_equals_ground_truth(pipeline, sim)
