"""Checks shared by the end-to-end and fault tests: ClickHouse holds the simulator's ground truth."""

from __future__ import annotations

from typing import Any

from services.common.query import run_query
from services.ingest.pseudonym import pseudonymise, resolve_key
from services.sim.simulator import GroundTruth, Simulation
from tests.integration.pipeline import Pipeline


def q(p: Pipeline, sql: str) -> list[list[Any]]:
    """Rows of a read-only query against the pipeline's ClickHouse."""
    _, rows = run_query(p.dsn, sql)
    return rows


def loaded_events(p: Pipeline) -> int:
    """Distinct event ids loaded so far (0 while the loader is not answering)."""
    try:
        return int(q(p, "SELECT uniqExact(event_id) FROM events")[0][0])
    except Exception:
        return 0


def assert_events_exactly_once(p: Pipeline, event_ids: set[str]) -> None:
    """Every id loaded exactly once, in the analysts' documented forms: ``FINAL``, and ``uniqExact``
    without it; and nothing else loaded."""
    n = len(event_ids)
    counts = {r[0]: int(r[1]) for r in q(p, "SELECT event_id, count() FROM events FINAL GROUP BY event_id")}
    missing = sorted(event_ids - counts.keys())
    repeated = sorted(i for i, c in counts.items() if c > 1)
    unexpected = sorted(counts.keys() - event_ids)
    assert not (missing or repeated or unexpected), (
        f"{len(missing)} missing {missing[:5]}, {len(repeated)} repeated {repeated[:5]}, "
        f"{len(unexpected)} unexpected {unexpected[:5]} (of {n})"
    )
    assert q(p, "SELECT count(), uniqExact(event_id) FROM events FINAL") == [[n, n]]
    assert q(p, "SELECT uniqExact(event_id) FROM events") == [[n]]
    assert {r[0] for r in q(p, "SELECT DISTINCT event_id FROM events")} == event_ids


def assert_equals_ground_truth(
    p: Pipeline, sim: Simulation, extra_event_ids: frozenset[str] = frozenset()
) -> None:
    """Events exactly once, and every feature (cascades, funnels, response times, backlog) equal to the
    simulator's ground truth. ``extra_event_ids``: events loaded besides the simulation's own."""
    truth: GroundTruth = sim.ground_truth
    key = resolve_key(p.ingest.pseudonym_key, p.ingest.allow_development_key)
    assert_events_exactly_once(p, {e["event_id"] for e in sim.events} | extra_event_ids)

    posts = {
        r[0]: tuple(r[1:])
        for r in q(
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
        for r in q(
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
    purchase_touches = q(
        p,
        "SELECT actor_id, touches_before_conversion FROM events FINAL"
        " WHERE event_type = 'purchase' AND touches_before_conversion IS NOT NULL",
    )
    assert {(r[0], r[1]) for r in purchase_touches} == {
        (a, v[0]) for (_, a), v in expected_conversions.items()
    }

    responses = {
        (r[0], r[1]): r[2]
        for r in q(
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
    answered = dict(q(p, "SELECT brand_id, answered_items FROM brand_backlog FINAL"))
    expected_answered: dict[str, int] = {}
    for r in truth.responses:
        expected_answered[r.brand_id] = expected_answered.get(r.brand_id, 0) + 1
    assert {b: answered.get(b) for b in expected_answered} == expected_answered
