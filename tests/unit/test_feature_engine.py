"""The stateful feature engine against the simulator's ground truth, without Kafka.

Events are fed the way the worker sees them: partitioned by brand, in offset order, in batches; the
crash cases re-feed a suffix of a partition after losing some (or none) of the state writes.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import datetime
from typing import Any

import pytest

from services.common.keyed_state import Position
from services.enrich.features.engine import BatchResult, FeatureEngine, Stores
from services.sim.simulator import GroundTruth, SimulationConfig, simulate

PARTITIONS = 3


def _records(seed: int, duration: float) -> tuple[list[dict[str, Any]], GroundTruth]:
    sim = simulate(SimulationConfig(seed=seed, duration_seconds=duration))
    records = []
    for e in sim.events:
        r = dict(e)
        r["occurred_at"] = datetime.fromisoformat(e["occurred_at"].replace("Z", "+00:00"))
        intent = (e.get("attributes") or {}).get("sim_intent")
        r["is_complaint"] = intent == "complaint" and not e["is_brand"]  # the model's flag, as labelled
        records.append(r)
    return records, sim.ground_truth


def _partitioned(records: list[dict[str, Any]]) -> list[tuple[dict[str, Any], Position]]:
    """Raw is keyed by brand: each brand on one partition, offsets in order of production."""
    brands = sorted({r["brand_id"] for r in records})
    part = {b: i % PARTITIONS for i, b in enumerate(brands)}
    offsets: dict[int, int] = defaultdict(int)
    out = []
    for r in records:
        p = part[r["brand_id"]]
        out.append((r, Position(p, offsets[p])))
        offsets[p] += 1
    return out


class Collector:
    """Keeps the latest snapshot per key (like ReplacingMergeTree(version) FINAL) and every event row."""

    def __init__(self) -> None:
        self.posts: dict[str, dict[str, Any]] = {}
        self.funnels: dict[tuple[str, str], dict[str, Any]] = {}
        self.brands: dict[str, dict[str, Any]] = {}
        self.events: dict[str, dict[str, Any]] = {}

    def add(self, batch: list[tuple[dict[str, Any], Position]], result: BatchResult) -> None:
        for (r, _), f in zip(batch, result.event_features, strict=True):
            self.events[r["event_id"]] = {**r, **f}
        for row in result.posts:
            self._keep(self.posts, row["post_id"], row)
        for row in result.funnels:
            self._keep(self.funnels, (row["brand_id"], row["actor_id"]), row)
        for row in result.brands:
            self._keep(self.brands, row["brand_id"], row)

    @staticmethod
    def _keep(table: dict[Any, dict[str, Any]], key: Any, row: dict[str, Any]) -> None:
        if key not in table or row["version"] >= table[key]["version"]:
            table[key] = row


def _run(
    items: list[tuple[dict[str, Any], Position]], engine: FeatureEngine, out: Collector, size: int
) -> None:
    for i in range(0, len(items), size):
        batch = items[i : i + size]
        out.add(batch, engine.process([r for r, _ in batch], [p for _, p in batch]))


@pytest.fixture(scope="module")
def day() -> tuple[list[dict[str, Any]], GroundTruth]:
    return _records(seed=7, duration=6 * 3600)


def _check_against_truth(out: Collector, truth: GroundTruth) -> None:
    assert truth.posts, "the simulation must have posts"
    for post_id, p in truth.posts.items():
        row = out.posts[post_id]
        assert (row["likes"], row["comments"]) == (p.likes, p.comments), post_id
        assert (row["shares"], row["cascade_size"]) == (p.shares, p.cascade_size), post_id
        assert (row["cascade_depth"], row["cascade_breadth"]) == (p.cascade_depth, p.cascade_breadth), post_id
        assert row["unique_reach"] == p.unique_reach, post_id
        assert row["unresolved_shares"] == 0
    assert truth.conversions, "the simulation must have conversions"
    for c in truth.conversions:
        f = out.funnels[(c.brand_id, c.actor_id)]
        assert f["stage"] == "customer"
        assert f["touches_before_conversion"] == c.touches_before_conversion, c
        assert f["seconds_to_convert"] == pytest.approx(c.seconds_to_convert)
        assert (f["first_touch_post_id"], f["last_touch_post_id"]) == (
            c.first_touch_post_id,
            c.last_touch_post_id,
        )
        assert (f["first_touch_campaign_id"], f["last_touch_campaign_id"]) == (
            c.first_touch_campaign_id,
            c.last_touch_campaign_id,
        )
    converted = {(f["brand_id"], f["actor_id"]) for f in out.funnels.values() if f["stage"] == "customer"}
    assert converted == {(c.brand_id, c.actor_id) for c in truth.conversions}
    assert truth.responses
    for resp in truth.responses:
        reply = out.events[resp.reply_event_id]
        assert reply["response_seconds"] == pytest.approx(resp.response_seconds), resp
    answered = {e["parent_id"] for e in out.events.values() if e.get("response_seconds") is not None}
    assert answered == {r.comment_event_id for r in truth.responses}
    # Each event's backlog change, summed, is the brand's backlog: the same change on redelivery.
    changes: dict[str, int] = defaultdict(int)
    for e in out.events.values():
        changes[e["brand_id"]] += e.get("unanswered_complaints_change", 0)
    assert {b: changes[b] for b in out.brands} == {
        b: r["unanswered_complaints"] for b, r in out.brands.items()
    }
    assert all(r["unanswered_complaints"] > 0 for r in out.brands.values())
    assert sum(e.get("unanswered_complaints_change") == -1 for e in out.events.values()) > 0


def test_features_equal_ground_truth(day: tuple[list[dict[str, Any]], GroundTruth]) -> None:
    records, truth = day
    out = Collector()
    engine = FeatureEngine(Stores())
    _run(_partitioned(records), engine, out, size=500)
    _check_against_truth(out, truth)
    purchases = [e for e in out.events.values() if e["event_type"] == "purchase"]
    assert purchases and all(e["touches_before_conversion"] is not None for e in purchases)
    shares = [e for e in out.events.values() if e["event_type"] == "share"]
    assert shares and all(e["cascade_depth"] >= 1 for e in shares)


def test_batch_size_does_not_change_results(day: tuple[list[dict[str, Any]], GroundTruth]) -> None:
    records, _ = day
    items = _partitioned(records)
    a, b = Collector(), Collector()
    _run(items, FeatureEngine(Stores()), a, size=1)
    _run(items, FeatureEngine(Stores()), b, size=997)
    strip = {"version", "updated_at"}
    assert {k: {f: v for f, v in r.items() if f not in strip} for k, r in a.posts.items()} == {
        k: {f: v for f, v in r.items() if f not in strip} for k, r in b.posts.items()
    }
    assert a.brands.keys() == b.brands.keys()
    for k in a.brands:
        assert a.brands[k]["unanswered_complaints"] == b.brands[k]["unanswered_complaints"]


class Changelog:
    """Live state plus what reached the changelog: a crash keeps a prefix of each partition's writes.

    The producer is idempotent and ordered per partition, so a worker killed with messages in flight
    loses a suffix of each changelog partition (never a message in the middle), at a different point
    per table and partition.
    """

    def __init__(self) -> None:
        self.stores = Stores()
        self.durable = Stores()
        self.log: dict[tuple[str, int], list[tuple[str, Any]]] = defaultdict(list)

    def write(self, table: str, key: str, partition: int, value: Any) -> None:
        getattr(self.stores, table)[key] = value
        self.log[(table, partition)].append((key, value))

    def commit(self) -> None:
        """Offsets committed: faust flushed the producer first, so everything written is durable."""
        for (table, _), writes in self.log.items():
            getattr(self.durable, table).update(writes)
        self.log.clear()

    def crash(self, rng: random.Random, keep: float) -> Stores:
        """The state a restarted worker restores: durable writes plus a prefix of the in-flight ones."""
        for (table, _), writes in self.log.items():
            cut = round(len(writes) * keep * rng.random()) if 0 < keep < 1 else int(len(writes) * keep)
            getattr(self.durable, table).update(writes[:cut])
        self.log.clear()
        return Stores(*(dict(getattr(self.durable, t)) for t in ("posts", "funnels", "threads", "brands")))


def _run_logged(
    items: list[tuple[dict[str, Any], Position]], engine: FeatureEngine, out: Collector, log: Changelog
) -> None:
    for i in range(0, len(items), 400):
        batch = items[i : i + 400]
        out.add(batch, engine.process([r for r, _ in batch], [p for _, p in batch], write=log.write))


@pytest.mark.parametrize("keep", [0.0, 0.5, 1.0])
def test_redelivery_after_crash_applies_each_event_once(
    day: tuple[list[dict[str, Any]], GroundTruth], keep: float
) -> None:
    """Crash mid-stream after processing (not committing) a stretch; the uncommitted tail is re-read."""
    records, truth = day
    items = _partitioned(records)
    log, out = Changelog(), Collector()
    committed = len(items) // 2
    _run_logged(items[:committed], FeatureEngine(log.stores), out, log)
    log.commit()
    # Processed but never committed; its outputs died with the worker (the state writes may not have).
    _run_logged(items[committed : committed + 1500], FeatureEngine(log.stores), Collector(), log)
    restored = log.crash(random.Random(11), keep)
    # Restart from the restored state; everything after the committed offsets is delivered again.
    _run(items[committed:], FeatureEngine(restored), out, size=300)
    _check_against_truth(out, truth)


def test_open_items_and_unanswered_complaints() -> None:
    t0 = datetime.fromisoformat("2026-11-01T00:00:00+00:00")

    def ev(i: int, kind: str, second: int, **kw: Any) -> dict[str, Any]:
        base = {
            "event_id": f"e{i}",
            "event_type": kind,
            "brand_id": "b",
            "platform": "x",
            "actor_id": kw.pop("actor", f"a{i}"),
            "is_brand": False,
            "post_id": "p1",
            "parent_id": None,
            "occurred_at": t0.replace(second=second),
        }
        return {**base, **kw}

    events = [
        ev(0, "post", 0, post_id="p1", is_brand=True, actor="brand"),
        ev(1, "comment", 1, is_complaint=True),
        ev(2, "comment", 2, is_complaint=False),
        ev(3, "reply", 5, is_brand=True, actor="brand", parent_id="e1"),
        ev(4, "reply", 7, is_brand=True, actor="brand", parent_id="e1"),  # a second answer: no effect
        ev(5, "reply", 9, is_brand=True, actor="brand", parent_id="e9"),  # answers an item not seen yet
        ev(9, "message", 8, is_complaint=True, post_id=None),  # ...which arrives late
        ev(6, "unfollow", 30, post_id=None),
    ]
    stores = Stores()
    result = FeatureEngine(stores).process(events, [Position(0, i) for i in range(len(events))])
    (brand,) = result.brands
    assert brand["open_items"] == 1  # e2 only
    assert brand["unanswered_complaints"] == 0
    assert brand["answered_items"] == 2 and brand["answered_complaints"] == 2
    assert brand["unfollows_attributed"] == 1
    by_id = {e["event_id"]: f for e, f in zip(events, result.event_features, strict=True)}
    assert by_id["e3"]["response_seconds"] == 4.0
    # The backlog in event time: +1 when complaint e1 arrives, -1 when e3 answers it; nothing for a
    # second answer, a non-complaint, or a complaint answered before it arrived (e5, then e9).
    change = {i: f.get("unanswered_complaints_change") for i, f in by_id.items()}
    assert {i: c for i, c in change.items() if c is not None} == {
        "e1": 1,
        "e2": 0,
        "e3": -1,
        "e4": 0,
        "e5": 0,
        "e9": 0,
    }
    assert "response_seconds" not in by_id["e4"]
    assert by_id["e6"]["attributed_post_id"] == "p1" and by_id["e6"]["seconds_since_post"] == 30.0
