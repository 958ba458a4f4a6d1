"""Alerts in event time: late data, backfills and out-of-order delivery never change what one in-order
pass says; the paging policy (minimum volume, reputation not popularity, severity) and post alerts."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.alerts import signals
from services.alerts.engine import AlertEngine
from services.alerts.spike import SpikeConfig
from services.common.avro import codec
from services.common.keyed_state import Position
from services.sim.demo import demo_events
from services.sim.simulator import SimulationConfig, simulate
from tests.unit.alert_streams import Enrich, run

DAY = 86400.0
LATENESS = 3600.0
# What the alert says, without the wall-clock time it was processed at.
WALL_CLOCK = ("fired_at", "processed_at")


def _comparable(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in a.items() if k not in WALL_CLOCK} for a in alerts]


def _ts(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00"))


# --------------------------------------------------------------------------------------------------
# The late-data scenario of the issue: `make run` (the demo day), then a two-day simulation from the
# same start. Before, events older than a brand's current bucket were added to it and paged four
# critical alerts ("1044 complaints in 15 min vs 1.5 expected").
# --------------------------------------------------------------------------------------------------


def test_a_backfill_behind_the_demo_raises_no_alert_and_counts_its_late_events() -> None:
    demo = demo_events()
    sim = simulate(SimulationConfig(seed=6, duration_seconds=2 * DAY))
    assert sim.ground_truth.crises, "the scenario holds crises (on day one, behind the demo)"
    enrich = Enrich()
    engine = AlertEngine({}, SpikeConfig(), allowed_lateness_seconds=LATENESS)
    alerts = run(engine, enrich.batches(demo))
    alerts += run(engine, enrich.batches(sim.events))
    assert [a["summary"] for a in alerts] == []
    # Late: the simulation's events whose 5-min bucket was already final for their brand when they
    # arrived, i.e. at least an hour (and a bucket) behind the brand's last demo event.
    last_demo: dict[str, datetime] = {}
    for e in demo:
        last_demo[e["brand_id"]] = max(last_demo.get(e["brand_id"], _ts(e)), _ts(e))
    final = {b: int((t.timestamp() - LATENESS) // 300) - 1 for b, t in last_demo.items()}
    expected_late = sum(1 for e in sim.events if int(_ts(e).timestamp()) // 300 <= final[e["brand_id"]])
    assert expected_late > 0.45 * len(sim.events)  # about all of day one
    assert engine.late_events == expected_late


# --------------------------------------------------------------------------------------------------
# Backfill: one in-order pass vs the same pass plus a replay of an earlier, overlapping day.
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def three_days() -> list[dict[str, Any]]:
    config = SimulationConfig(
        seed=5, duration_seconds=3 * DAY, crisis_count=1, crisis_day=2, offensive_post_probability=0.0
    )
    return simulate(config).events


COUNT_KINDS = ("negative_mentions", "complaints", "unfollows")


@pytest.fixture(scope="module")
def counted_in_order(three_days: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The count signals' alerts of one in-order pass."""
    alerts = run(AlertEngine({}, SpikeConfig(), COUNT_KINDS), Enrich().events_only(three_days))
    assert [a for a in alerts if a["status"] == "firing"], "the crisis pages"
    return alerts


def test_replaying_an_earlier_day_changes_no_alert(three_days: list[dict[str, Any]]) -> None:
    """Every signal, with enrich's snapshots: one in-order pass, then a replay of day two (the crisis
    day) after day three. The pass plus the replay must say exactly what the pass said."""
    enrich = Enrich()
    engine = AlertEngine({}, SpikeConfig())
    in_order = run(engine, enrich.batches(three_days))
    firing = [a for a in in_order if a["status"] == "firing"]
    assert {a["kind"] for a in firing} >= {"complaints", "negative_mentions"}, "the crisis pages"
    assert {a["alert_id"] for a in firing} <= {a["alert_id"] for a in in_order if a["status"] == "resolved"}
    state = json.dumps(
        {k: v for k, v in engine.store.items() if k.split("|")[-1] in COUNT_KINDS}, sort_keys=True
    )
    late_before = engine.late_events

    day_two = [e for e in three_days if DAY <= (_ts(e) - _ts(three_days[0])).total_seconds() < 2 * DAY]
    # The backfill re-sends day two after day three: new offsets, the same events (and enrich's
    # snapshots of them, with day-two times).
    replay = run(engine, enrich.batches(day_two))
    assert [a["summary"] for a in replay] == []
    assert engine.late_events - late_before == len(day_two)
    # No count signal moved but for the exactly-once marks (which now point at the replay's offsets).
    after = json.dumps(
        {k: v for k, v in engine.store.items() if k.split("|")[-1] in COUNT_KINDS}, sort_keys=True
    )
    assert _without_marks(json.loads(after)) == _without_marks(json.loads(state))


def _without_marks(store: dict[str, Any]) -> dict[str, Any]:
    return {k: {f: v for f, v in s.items() if f not in ("_p", "_o", "_v")} for k, s in store.items()}


def test_a_replay_inside_the_allowed_lateness_counts_each_event_once(
    three_days: list[dict[str, Any]], counted_in_order: list[dict[str, Any]]
) -> None:
    """Events re-sent while their buckets are still open (the 40 minutes before the crisis ends) are not
    counted twice."""
    crisis_end = next(_ts(e) for e in reversed(three_days) if (e.get("attributes") or {}).get("sim_crisis"))
    upto = [e for e in three_days if _ts(e) < crisis_end]
    recent = [e for e in upto if _ts(e) >= crisis_end - timedelta(minutes=40)]
    tail = three_days[len(upto) :]
    engine = AlertEngine({}, SpikeConfig(), COUNT_KINDS)
    replayed = run(engine, Enrich().events_only(upto + recent + tail))
    assert engine.late_events == 0
    assert _comparable(replayed) == _comparable(counted_in_order)


def test_out_of_order_delivery_within_the_lateness_raises_the_in_order_alerts(
    three_days: list[dict[str, Any]], counted_in_order: list[dict[str, Any]]
) -> None:
    # Shuffle within half-hour chunks: every event arrives up to 30 minutes early or late.
    rng = random.Random(3)
    chunks: dict[int, list[dict[str, Any]]] = {}
    for e in three_days:
        chunks.setdefault(int(_ts(e).timestamp()) // 1800, []).append(e)
    shuffled = []
    for key in sorted(chunks):
        rng.shuffle(chunks[key])
        shuffled += chunks[key]
    engine = AlertEngine({}, SpikeConfig(), COUNT_KINDS)
    assert _comparable(run(engine, Enrich().events_only(shuffled))) == _comparable(counted_in_order)
    assert engine.late_events == 0


def test_an_event_past_the_lateness_is_counted_and_added_to_no_bucket() -> None:
    signal = signals.new_signal("acme", "complaints")
    config = SpikeConfig()
    t0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)

    def event(i: int, at: datetime) -> dict[str, Any]:
        return {"event_id": f"e{i}", "occurred_at": at, "text": "late parcel", "sentiment_score": -0.5}

    def fire(f: signals.Fired) -> None:
        raise AssertionError(f)

    assert signals.add_event(signal, event(1, t0), 1, 1, config, LATENESS, fire)
    assert signals.add_event(signal, event(2, t0 + timedelta(hours=2)), 1, 1, config, LATENESS, fire)
    final = signal["closed"]
    assert final == int((t0 + timedelta(hours=1)).timestamp()) // 300 - 1
    # 59 minutes behind the watermark: within the lateness, counted in its own (open) bucket.
    within = t0 + timedelta(hours=1, minutes=1)
    assert signals.add_event(signal, event(3, within), 1, 1, config, LATENESS, fire)
    assert signal["open"][str(int(within.timestamp()) // 300)][0] == 1
    # 90 minutes behind: its bucket is final; dropped, and no other bucket changes.
    before = {k: v[0] for k, v in signal["open"].items()}
    history = [h[:3] for h in signal["history"]]
    assert not signals.add_event(signal, event(4, t0 + timedelta(minutes=30)), 1, 1, config, LATENESS, fire)
    assert {k: v[0] for k, v in signal["open"].items()} == before
    assert [h[:3] for h in signal["history"]] == history
    # The brand's clock makes the same verdicts, and sees an event sent twice while its bucket is open.
    clock: dict[str, Any] = {}
    verdicts = [
        signals.event_clock(clock, event(i, at), config, LATENESS)
        for i, at in ((1, t0), (2, t0 + timedelta(hours=2)), (3, within), (4, t0 + timedelta(minutes=30)))
    ]
    assert verdicts == ["new", "new", "new", "late"]
    assert signals.event_clock(clock, event(3, within), config, LATENESS) == "duplicate"
    assert clock["closed"] == final
    assert signals.add_event(signal, event(3, within), 1, 1, config, LATENESS, fire, duplicate=True)
    assert signal["open"][str(int(within.timestamp()) // 300)][0] == 1


# --------------------------------------------------------------------------------------------------
# Paging policy
# --------------------------------------------------------------------------------------------------


def test_severity_follows_the_evidence() -> None:
    # The hygiene crisis of the issue (68 complaints vs 2.3 expected) is critical: it goes to the pager.
    assert signals.page_decision("complaints", 68, 2.3, 6.0) == (True, "critical")
    assert signals.page_decision("negative_mentions", 40, 4.0, 8.0) == (True, "critical")
    # Mild: well above expected, but only a dozen extra messages, or only twice the expectation.
    assert signals.page_decision("complaints", 15, 2.0, 1.0) == (True, "warning")
    assert signals.page_decision("complaints", 120, 60.0, 20.0) == (True, "warning")
    # Fan loss warns; it is not a reputation crisis by itself.
    assert signals.page_decision("unfollows", 300, 10.0, None) == (True, "warning")
    # Minimum volume: 1 → 8 complaints is unlikely, yet not worth a page.
    assert signals.page_decision("complaints", 8, 1.0, 0.5)[0] is False
    # More complaints only because there is more conversation (the volume explains them): no page.
    assert signals.page_decision("complaints", 60, 6.0, 50.0)[0] is False
    # A popular post: 24 negative comments where the conversation explains 16 — 8 beyond, not 10.
    assert signals.page_decision("negative_mentions", 24, 1.5, 16.0)[0] is False


def _brand_day(
    rng: random.Random,
    start: datetime,
    hours: float,
    per_5min: float,
    negative: float,
    seq: list[int],
    post: str = "older-post",
) -> list[dict[str, Any]]:
    """Comments on one brand's post: ``per_5min`` a bucket on average, ``negative`` of them complaints."""
    out = []
    t = start
    end = start + timedelta(hours=hours)
    while t < end:
        t += timedelta(seconds=rng.expovariate(per_5min / 300))
        seq[0] += 1
        bad = rng.random() < negative
        out.append(
            {
                "event_id": f"c{seq[0]}",
                "brand_id": "acme",
                "event_type": "comment",
                "is_brand": False,
                "post_id": post,
                "occurred_at": t,
                "text": "still broken, refund please" if bad else "love it",
                "sentiment_label": "negative" if bad else "positive",
                "sentiment_score": -0.8 if bad else 0.8,
                "is_complaint": bad,
            }
        )
    return out


def _launch(negative_during_launch: float) -> list[dict[str, Any]]:
    """Two quiet days (12 comments / 5 min, 8 % complaints), then a launch hour at 10x the volume."""
    rng, seq = random.Random(11), [0]
    t0 = datetime(2026, 11, 2, tzinfo=UTC)
    events = _brand_day(rng, t0, 46, 12, 0.08, seq)
    events += _brand_day(rng, t0 + timedelta(hours=46), 1, 120, negative_during_launch, seq, "launch-post")
    events += _brand_day(rng, t0 + timedelta(hours=47), 5, 12, 0.08, seq)
    return events


def _page(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    engine = AlertEngine({}, SpikeConfig(), ("negative_mentions", "complaints"))
    return engine.process_events(events, [Position(0, i) for i in range(len(events))])


def test_a_viral_launch_with_happy_comments_never_pages() -> None:
    assert _page(_launch(negative_during_launch=0.05)) == []


def test_the_same_launch_drowning_in_complaints_pages_critical_with_evidence() -> None:
    alerts = _page(_launch(negative_during_launch=0.6))
    firing = [a for a in alerts if a["status"] == "firing"]
    assert {a["kind"] for a in firing} == {"negative_mentions", "complaints"}
    assert Counter(a["alert_id"] for a in alerts if a["status"] == "resolved") == Counter(
        a["alert_id"] for a in firing
    )
    for a in firing:
        assert a["severity"] == "critical", a["summary"]
        assert a["top_post_ids"][0] == "launch-post"
        assert a["sample_texts"] and "refund" in a["sample_texts"][0]
        # Plain words: what, how many vs expected, over which event-time window, growth, examples.
        assert a["summary"].startswith("acme: ")
        for part in ("in 15 min to 2026-11-03", "expected", "(x"):
            assert part in a["summary"], a["summary"]
        assert "Share of the conversation" in a["description"]
        assert "Top posts involved: launch-post" in a["description"]
        assert "Sample messages:\n- still broken" in a["description"]
        assert a["event_time"] == a["window_end"] == a["fired_event_time"]
        assert a["window_end"] - a["window_start"] == timedelta(minutes=15)
        launch = datetime(2026, 11, 3, 22, tzinfo=UTC)
        assert launch < a["event_time"] <= launch + timedelta(hours=1)
        codec("alert").encode(a)


# --------------------------------------------------------------------------------------------------
# Post-level alerts
# --------------------------------------------------------------------------------------------------


def _post(at: datetime, comments: int, negative: int, cascade: int, post: str = "p-1") -> dict[str, Any]:
    return {
        "post_id": post,
        "brand_id": "acme",
        "platform": "instagram",
        "posted_at": datetime(2026, 11, 2, 9, tzinfo=UTC),
        "comments": comments,
        "negative_comments": negative,
        "complaints": negative // 2,
        "cascade_size": cascade,
        "cascade_depth": 3,
        "unique_reach": 5000,
        "is_viral": cascade >= 30,
        "updated_at": at,
    }


def test_a_viral_negative_post_pages_with_its_post_and_resolves_when_it_calms_down() -> None:
    t = datetime(2026, 11, 2, 10, tzinfo=UTC)
    rows = [
        _post(t, 20, 15, 10),  # not viral yet
        _post(t + timedelta(minutes=10), 60, 45, 80),  # viral, 75 % negative: page
        _post(t + timedelta(minutes=12), 70, 50, 90, post="p-2"),  # another post: its own alert
        _post(t + timedelta(minutes=20), 90, 60, 120),  # still going: nothing new
        _post(t + timedelta(minutes=5), 90, 60, 120),  # an older snapshot (replay): nothing
        _post(t + timedelta(minutes=40), 200, 62, 150),  # drowned by support: 31 % negative
    ]
    engine = AlertEngine({}, SpikeConfig(), ("viral_negative_post",))
    alerts = engine.process_posts(rows, [Position(i % 2, i) for i in range(len(rows))])
    assert [(a["post_id"], a["status"]) for a in alerts] == [
        ("p-1", "firing"),
        ("p-2", "firing"),
        ("p-1", "resolved"),
    ]
    fire, other, resolve = alerts
    assert fire["alert_id"] == resolve["alert_id"] != other["alert_id"]
    assert fire["severity"] == resolve["severity"] == "critical"  # 45 negative comments
    assert "instagram post p-1 reshared 80 times, 45 of 60 comments negative (75%)" in fire["summary"]
    assert "Cascade: 80 shares" in fire["description"]
    assert fire["window_start"] == datetime(2026, 11, 2, 9, tzinfo=UTC)  # when the post was published
    assert fire["event_time"] == t + timedelta(minutes=10)
    assert resolve["event_time"] == t + timedelta(minutes=40)
    assert resolve["fired_event_time"] == fire["event_time"]
    for a in alerts:
        codec("alert").encode(a)
