"""The simulator: deterministic, valid canonical events, and ground truth that the events really imply."""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from services.cli import app
from services.common.events import EVENT_TYPES, parse_event
from services.enrich.language import detect_language
from services.sim.simulator import TOUCH_TYPES, Simulation, SimulationConfig, simulate

ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
Event = dict[str, Any]


@pytest.fixture(scope="module")
def six_hours() -> Simulation:
    return simulate(SimulationConfig(seed=21, duration_seconds=6 * 3600))


@pytest.fixture(scope="module")
def day() -> Simulation:
    return simulate(SimulationConfig(seed=7, duration_seconds=86_400))


@pytest.fixture(scope="module")
def turbulent() -> Simulation:
    """Half a day with several crises and many offensive posts, to measure their effects."""
    return simulate(
        SimulationConfig(seed=5, duration_seconds=12 * 3600, crisis_count=3, offensive_post_probability=0.15)
    )


def ts(event: Event) -> datetime:
    return datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00"))


def test_same_seed_same_output_other_seed_other_output() -> None:
    config = SimulationConfig(seed=3, duration_seconds=1800)
    a, b = simulate(config), simulate(config)
    assert a.events == b.events
    assert a.ground_truth.to_json() == b.ground_truth.to_json()
    other = simulate(SimulationConfig(seed=4, duration_seconds=1800))
    assert other.events != a.events
    assert other.ground_truth.to_json() != a.ground_truth.to_json()
    # Runs of other lengths get other ids, so they never collapse into each other downstream.
    longer = simulate(SimulationConfig(seed=3, duration_seconds=1801))
    assert not {e["event_id"] for e in longer.events} & {e["event_id"] for e in a.events}


def test_events_are_valid_sorted_unique_and_inside_the_window(six_hours: Simulation) -> None:
    events = six_hours.events
    now = datetime(2027, 1, 1, tzinfo=UTC)
    for e in events:
        record = parse_event(e, received_at=now)
        assert record["event_id"] == e["event_id"]
        assert not [k for k in record["attributes"] if k.startswith("x.")], "no unknown fields"
        assert ISO_MS.fullmatch(e["occurred_at"])
    assert [(e["occurred_at"], e["event_id"]) for e in events] == sorted(
        (e["occurred_at"], e["event_id"]) for e in events
    )
    assert len({e["event_id"] for e in events}) == len(events)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    assert all(0 <= (ts(e) - start).total_seconds() < 6 * 3600 for e in events)
    ids = {e["event_id"] for e in events}
    assert all(e["parent_id"] in ids for e in events if e["parent_id"])
    posts = {e["event_id"] for e in events if e["event_type"] == "post"}
    assert all(e["post_id"] in posts for e in events if e["post_id"])


def test_longer_run_has_every_type_platform_and_both_languages(six_hours: Simulation) -> None:
    events = six_hours.events
    assert set(Counter(e["event_type"] for e in events)) == set(EVENT_TYPES)
    assert {e["platform"] for e in events} == {"facebook", "instagram", "x", "youtube"}
    texts = [e for e in events if e["text"]]
    assert all(
        e["attributes"]["sim_sentiment"] in ("negative", "neutral", "positive")
        and e["attributes"]["sim_intent"] in ("complaint", "question", "praise", "chatter")
        for e in texts
    )
    languages = Counter(e["attributes"]["sim_lang"] for e in texts)
    assert languages["ko"] > 300 and languages["en"] > 300
    # The texts really are in the language the simulator says (Korean ones may carry Latin brand names).
    agree = sum(detect_language(e["text"], None) == e["attributes"]["sim_lang"] for e in texts)
    assert agree / len(texts) > 0.97
    declared = [e["lang"] for e in texts]
    assert 0.2 < sum(x is not None for x in declared) / len(declared) < 0.8
    assert all(x == e["attributes"]["sim_lang"] for x, e in zip(declared, texts, strict=True) if x)
    sentiments = Counter(e["attributes"]["sim_sentiment"] for e in texts if not e["is_brand"])
    assert min(sentiments.values()) > 0.1 * len(texts)
    clicks = [e for e in events if e["event_type"] == "click"]
    assert all(e["campaign_id"] and e["attributes"]["utm_campaign"] == e["campaign_id"] for e in clicks)


def _cascades(events: list[Event]) -> dict[str, tuple[int, int, int, int, int]]:
    """post_id → (direct shares, size, depth, breadth, unique reach), from parent_id chains only."""
    posts = {e["event_id"] for e in events if e["event_type"] == "post"}
    depth: dict[str, int] = {}
    root: dict[str, str] = {}
    levels: dict[str, Counter[int]] = defaultdict(Counter)
    reach: dict[str, dict[str, int]] = defaultdict(dict)
    for e in events:
        if e["event_type"] != "share":
            continue
        parent = e["parent_id"]
        if parent in posts:
            depth[e["event_id"]], root[e["event_id"]] = 1, parent
        else:
            depth[e["event_id"]], root[e["event_id"]] = depth[parent] + 1, root[parent]
        post = root[e["event_id"]]
        assert post == e["post_id"]
        levels[post][depth[e["event_id"]]] += 1
        reach[post].setdefault(e["actor_id"], e["actor_followers"])
    return {
        p: (
            levels[p][1],
            sum(levels[p].values()),
            max(levels[p], default=0),
            max(levels[p].values(), default=0),
            sum(reach[p].values()),
        )
        for p in posts
    }


def _touches(events: list[Event]) -> dict[tuple[str, str], int]:
    """(brand, actor) → touches before that actor's first purchase from that brand."""
    seen: Counter[tuple[str, str]] = Counter()
    converted: dict[tuple[str, str], int] = {}
    for e in events:
        key = (e["brand_id"], e["actor_id"])
        if e["is_brand"] or key in converted:
            continue
        if e["event_type"] == "purchase":
            converted[key] = seen[key]
        elif e["event_type"] in TOUCH_TYPES:
            seen[key] += 1
    return converted


def test_ground_truth_matches_what_the_events_imply(six_hours: Simulation) -> None:
    events, gt = six_hours.events, six_hours.ground_truth
    assert gt.event_counts == {t: sum(e["event_type"] == t for e in events) for t in EVENT_TYPES}

    cascades = _cascades(events)
    assert set(cascades) == set(gt.posts)
    for post_id, truth in gt.posts.items():
        expected = (truth.shares, truth.cascade_size, truth.cascade_depth, truth.cascade_breadth)
        assert cascades[post_id][:4] == expected
        assert cascades[post_id][4] == truth.unique_reach
        assert truth.likes == sum(e["event_type"] == "like" and e["post_id"] == post_id for e in events)
    assert max(p.cascade_depth for p in gt.posts.values()) >= 3

    touches = _touches(events)
    assert {(c.brand_id, c.actor_id): c.touches_before_conversion for c in gt.conversions} == touches
    assert len(touches) > 30
    for c in gt.conversions:
        assert c.seconds_to_convert > 0 and c.first_touch_at < c.purchased_at
        assert c.last_touch_campaign_id is not None and c.last_touch_post_id is not None

    by_id = {e["event_id"]: e for e in events}
    replies = {}
    for e in events:
        if e["event_type"] == "reply" and e["is_brand"]:
            replies.setdefault(e["parent_id"], e)
    assert len(gt.responses) == len(replies) > 50
    for r in gt.responses:
        comment, reply = by_id[r.comment_event_id], by_id[r.reply_event_id]
        assert replies[r.comment_event_id] is reply
        assert comment["event_type"] == "comment" and reply["actor_id"] == f"{r.brand_id}@{r.platform}"
        assert r.response_seconds == (ts(reply) - ts(comment)).total_seconds()
    customer_comments = [e for e in events if e["event_type"] == "comment" and not e["is_brand"]]
    assert sum(gt.unanswered_comments.values()) == len(customer_comments) - len(replies) > 0
    # Brands answer within minutes to hours.
    median = statistics.median(r.response_seconds for r in gt.responses)
    assert 120 < median < 4 * 3600


def test_day_is_believable_and_touches_average_about_seven(day: Simulation) -> None:
    gt = day.ground_truth
    assert 10_000 < len(day.events) < 100_000
    touches = [c.touches_before_conversion for c in gt.conversions]
    assert len(touches) > 200
    assert 5 <= statistics.mean(touches) <= 9
    assert min(touches) >= 3 and max(touches) >= 12  # follow, click and lead at least; a long tail
    # Not everybody who follows converts.
    followers = {(e["brand_id"], e["actor_id"]) for e in day.events if e["event_type"] == "follow"}
    assert len(gt.conversions) < 0.5 * len(followers)
    # Virality and reach are heavy-tailed: a few posts and actors dominate.
    sizes = sorted(p.cascade_size for p in gt.posts.values())
    assert sizes[-1] >= 5 * max(1, statistics.median(sizes))
    reach = sorted({e["actor_id"]: e["actor_followers"] for e in day.events if not e["is_brand"]}.values())
    assert sum(reach[-len(reach) // 100 :]) > 0.25 * sum(reach)


def test_crisis_windows_hold_a_burst_of_negative_complaints(turbulent: Simulation) -> None:
    events, gt = turbulent.events, turbulent.ground_truth
    assert len(gt.crises) == 3
    span = 12 * 3600
    windows: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for crisis in gt.crises:
        windows[crisis.brand_id].append((crisis.start, crisis.end))
    for crisis in gt.crises:
        complaints = [
            e["occurred_at"]
            for e in events
            if e["brand_id"] == crisis.brand_id
            and e["attributes"].get("sim_intent") == "complaint"
            and e["attributes"]["sim_sentiment"] == "negative"
        ]
        inside = sum(crisis.start <= t < crisis.end for t in complaints)
        # "Outside" excludes every crisis window of this brand, so crises do not inflate the baseline.
        outside = sum(not any(s <= t < e for s, e in windows[crisis.brand_id]) for t in complaints)
        lengths = [
            (ts({"occurred_at": e}) - ts({"occurred_at": s})).total_seconds()
            for s, e in windows[crisis.brand_id]
        ]
        length = (ts({"occurred_at": crisis.end}) - ts({"occurred_at": crisis.start})).total_seconds()
        rate_inside = inside / length
        rate_outside = outside / (span - sum(lengths))
        assert inside >= crisis.crisis_events > 50
        assert rate_inside > 10 * rate_outside, crisis


def test_offensive_posts_drive_unfollows(turbulent: Simulation) -> None:
    events, gt = turbulent.events, turbulent.ground_truth
    offensive = [p for p in gt.posts.values() if p.offensive]
    assert offensive and all(p.induced_unfollows >= 0 for p in offensive)
    hour = 3600.0
    after = total = 0
    covered = 0.0
    for p in offensive:
        posted = ts({"occurred_at": p.posted_at})
        unfollows = [
            e
            for e in events
            if e["event_type"] == "unfollow" and e["brand_id"] == p.brand_id and e["platform"] == p.platform
        ]
        after += sum(0 <= (ts(e) - posted).total_seconds() < hour for e in unfollows)
        total += len(unfollows)
        covered += hour
    rate_after = after / covered
    rate_overall = total / (len(offensive) * 12 * hour)
    assert rate_after > 3 * rate_overall
    # Comments on offensive posts turn negative.
    negative = Counter(
        e["attributes"]["sim_sentiment"] == "negative"
        for e in events
        if e["event_type"] == "comment" and e["post_id"] in {p.post_id for p in offensive}
    )
    assert negative[True] > negative[False]


def test_cli_writes_identical_files_twice(tmp_path: Path) -> None:
    runner = CliRunner()
    outputs = []
    for name in ("a", "b"):
        out, truth = tmp_path / f"{name}.jsonl", tmp_path / f"{name}.json"
        args = [
            "simulate",
            "--seed",
            "7",
            "--duration",
            "60",
            "--out",
            str(out),
            "--ground-truth",
            str(truth),
        ]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert "events to" in result.output
        outputs.append((out.read_bytes(), truth.read_bytes()))
    assert outputs[0] == outputs[1]
    lines = outputs[0][0].splitlines()
    assert 200 <= len(lines) <= 5000
    expected = simulate(SimulationConfig(seed=7, duration_seconds=60))
    assert [orjson.loads(line) for line in lines] == expected.events
    assert outputs[0][1].decode() == expected.ground_truth.to_json()


def test_cli_rejects_unknown_brands_and_bad_start(tmp_path: Path) -> None:
    runner = CliRunner()
    out = str(tmp_path / "x.jsonl")
    bad_brand = runner.invoke(app, ["simulate", "--duration", "60", "--out", out, "--brands", "acme"])
    assert bad_brand.exit_code != 0 and "acme" in bad_brand.output
    bad_start = runner.invoke(app, ["simulate", "--duration", "60", "--out", out, "--start", "soon"])
    assert bad_start.exit_code != 0
    ok = runner.invoke(
        app,
        [
            "simulate",
            "--duration",
            "60",
            "--out",
            out,
            "--brands",
            "cafe-lumi",
            "--start",
            "2027-03-01T09:00:00",
        ],
    )
    assert ok.exit_code == 0, ok.output
    written = [orjson.loads(line) for line in Path(out).read_bytes().splitlines()]
    assert {e["brand_id"] for e in written} == {"cafe-lumi"}
    assert written[0]["occurred_at"].startswith("2027-03-01T09:00:")


def test_crises_can_be_placed_on_a_chosen_day() -> None:
    config = SimulationConfig(seed=6, duration_seconds=2 * 86400, crisis_count=2, crisis_day=2)
    crises = simulate(config).ground_truth.crises
    assert len(crises) == 2
    day_two = datetime(2026, 11, 2, tzinfo=UTC)
    for c in crises:
        start = datetime.fromisoformat(c.start.replace("Z", "+00:00"))
        end = datetime.fromisoformat(c.end.replace("Z", "+00:00"))
        assert day_two < start < end < datetime(2026, 11, 3, tzinfo=UTC), c
        assert c.crisis_events > 50
    # Without a day, the same seed puts its crises anywhere (here: on day one, inside the warm-up).
    anywhere = simulate(SimulationConfig(seed=6, duration_seconds=2 * 86400)).ground_truth.crises
    assert any(c.start < "2026-11-02" for c in anywhere)
    with pytest.raises(ValueError, match="crisis_day 3 is outside the run"):
        SimulationConfig(duration_seconds=2 * 86400, crisis_day=3)


def test_cli_places_crises(tmp_path: Path) -> None:
    runner = CliRunner()
    truth = tmp_path / "truth.json"
    args = ["simulate", "--seed", "6", "--duration", "172800", "--out", str(tmp_path / "e.jsonl")]
    result = runner.invoke(app, [*args, "--crises", "1", "--crisis-day", "2", "--ground-truth", str(truth)])
    assert result.exit_code == 0, result.output
    assert "crises 1" in result.output
    (crisis,) = orjson.loads(truth.read_bytes())["crises"]
    assert crisis["start"].startswith("2026-11-02")
    bad = runner.invoke(app, [*args, "--crisis-day", "3"])
    assert bad.exit_code != 0 and "--crisis-day" in bad.output
    assert runner.invoke(app, [*args, "--crises", "-1"]).exit_code != 0
