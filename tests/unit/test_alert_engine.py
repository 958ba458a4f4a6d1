"""The alerts engine on simulated traffic, without Kafka: crises fire once per brand and kind and
resolve; a quiet simulated week fires nothing; a crash replay re-publishes instead of losing alerts."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

import pytest

from services.alerts.engine import AlertEngine
from services.alerts.signals import COUNT_KINDS
from services.alerts.spike import SpikeConfig
from services.common.avro import codec
from services.common.keyed_state import Position
from services.enrich.features.engine import FeatureEngine, Stores
from services.ingest.simulator import SimulationConfig, simulate

DAY = 86400.0


def _records(config: SimulationConfig) -> list[tuple[dict[str, Any], Position]]:
    """Enriched-like records (sentiment and complaint from the simulator's own labels), keyed by brand."""
    out = []
    offsets: dict[int, int] = defaultdict(int)
    brands: dict[str, int] = {}
    for e in simulate(config).events:
        attrs = e.get("attributes") or {}
        r = dict(e)
        r["occurred_at"] = datetime.fromisoformat(e["occurred_at"].replace("Z", "+00:00"))
        r["sentiment_label"] = attrs.get("sim_sentiment", "neutral")
        r["sentiment_score"] = {"negative": -0.8, "positive": 0.8}.get(r["sentiment_label"], 0.0)
        r["is_complaint"] = attrs.get("sim_intent") == "complaint" and not e["is_brand"]
        p = brands.setdefault(e["brand_id"], len(brands) % 2)
        out.append((r, Position(p, offsets[p])))
        offsets[p] += 1
    return out


Batch = tuple[
    list[dict[str, Any]],
    list[Position],
    list[dict[str, Any]],
    list[Position],
    list[dict[str, Any]],
    list[Position],
]


def _batches(items: list[tuple[dict[str, Any], Position]]) -> list[Batch]:
    """The three inputs of the alerts worker per batch: enriched events and enrich's brand and post
    snapshots (with their own topic offsets)."""
    features = FeatureEngine(Stores())
    offsets: dict[str, int] = defaultdict(int)
    out: list[Batch] = []

    def positioned(name: str, rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[Position]]:
        start = offsets[name]
        offsets[name] += len(rows)
        decoded = [_decoded(r, SNAPSHOT_SUBJECTS[name]) for r in rows]
        return decoded, [Position(0, start + k) for k in range(len(rows))]

    for i in range(0, len(items), 1000):
        batch = items[i : i + 1000]
        records, positions = [r for r, _ in batch], [p for _, p in batch]
        result = features.process(records, positions)
        out.append(
            (records, positions, *positioned("brands", result.brands), *positioned("posts", result.posts))
        )
    return out


def _run(engine: AlertEngine, batches: list[Batch]) -> list[dict[str, Any]]:
    alerts: list[dict[str, Any]] = []
    for records, positions, brands, brand_pos, posts, post_pos in batches:
        alerts += engine.process_events(records, positions)
        alerts += engine.process_backlog(brands, brand_pos)
        alerts += engine.process_posts(posts, post_pos)
    return alerts


SNAPSHOT_SUBJECTS = {"brands": "brand_backlog", "posts": "post_virality"}


def _decoded(row: dict[str, Any], subject: str) -> dict[str, Any]:
    """What the alerts worker decodes from the snapshot topic (timestamps as datetimes)."""
    c = codec(subject)
    return c.decode(c.encode(row))


@pytest.fixture(scope="module")
def crisis() -> tuple[SimulationConfig, list[Batch]]:
    config = SimulationConfig(
        seed=5, duration_seconds=3 * DAY, crisis_count=1, offensive_post_probability=0.0
    )
    return config, _batches(_records(config))


def test_a_crisis_fires_once_per_brand_and_kind_then_resolves(
    crisis: tuple[SimulationConfig, list[Batch]],
) -> None:
    config, items = crisis
    truth = simulate(config).ground_truth.crises
    assert len(truth) == 1
    alerts = _run(AlertEngine({}, SpikeConfig()), items)
    firing = [a for a in alerts if a["status"] == "firing"]
    assert firing, "the injected crisis must page someone"
    assert {a["brand_id"] for a in firing} == {truth[0].brand_id}
    per_kind = Counter((a["brand_id"], a["kind"]) for a in firing)
    assert all(n == 1 for n in per_kind.values()), per_kind
    assert {"complaints", "negative_mentions"} & {k for _, k in per_kind}
    start = datetime.fromisoformat(truth[0].start.replace("Z", "+00:00"))
    end = datetime.fromisoformat(truth[0].end.replace("Z", "+00:00"))
    for a in firing:
        assert start <= a["window_end"] <= end, a["summary"]
        assert len(a["sample_event_ids"]) == len(a["sample_texts"])
        if a["kind"] in COUNT_KINDS:  # count signals carry the posts that made the spike
            assert a["sample_texts"] and all(a["sample_texts"])
        assert a["observed"] > a["expected"]
        codec("alert").encode(a)  # valid for social.alerts
    resolved = {a["alert_id"] for a in alerts if a["status"] == "resolved"}
    assert {a["alert_id"] for a in firing} <= resolved


def test_a_quiet_week_raises_no_alert() -> None:
    config = SimulationConfig(
        seed=21, duration_seconds=7 * DAY, crisis_count=0, offensive_post_probability=0.0
    )
    alerts = _run(AlertEngine({}, SpikeConfig()), _batches(_records(config)))
    assert alerts == []


def test_replay_after_a_crash_republishes_the_same_alerts(
    crisis: tuple[SimulationConfig, list[Batch]],
) -> None:
    _, items = crisis
    expected = _run(AlertEngine({}, SpikeConfig()), items)
    fired_at = {a["alert_id"] for a in expected if a["status"] == "firing"}
    # Process everything, but pretend the worker died before the last 40% were committed and before
    # any alert of that stretch was published; the restarted worker re-reads that stretch.
    store: dict[str, Any] = {}
    engine = AlertEngine(store, SpikeConfig())
    cut = int(len(items) * 0.6)
    first = _run(engine, items[:cut])
    _run(engine, items[cut:])  # published nothing (lost with the worker)
    again = _run(AlertEngine(store, SpikeConfig()), items[cut:])
    got = {(a["alert_id"], a["status"]) for a in first + again}
    assert got == {(a["alert_id"], a["status"]) for a in expected}
    assert fired_at
    for a in again:
        codec("alert").encode(a)
