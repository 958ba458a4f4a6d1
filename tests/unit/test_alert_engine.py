"""The alerts engine on simulated traffic, without Kafka: crises fire once per brand and kind and
resolve; a quiet simulated week fires nothing; a crash replay re-publishes instead of losing alerts."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

import pytest

from services.alerts.engine import AlertEngine
from services.alerts.signals import COUNT_KINDS
from services.alerts.spike import SpikeConfig
from services.common.avro import codec
from services.sim.simulator import DEFAULT_BRANDS, SimulationConfig, simulate
from tests.unit.alert_streams import Batch, Enrich, run

DAY = 86400.0


def _without_wall_clock(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in a.items() if k not in ("fired_at", "processed_at")} for a in alerts]


def _records(config: SimulationConfig) -> list[dict[str, Any]]:
    return simulate(config).events


def _batches(events: list[dict[str, Any]]) -> list[Batch]:
    return Enrich().batches(events)


@pytest.fixture(scope="module")
def crisis() -> tuple[SimulationConfig, list[Batch]]:
    config = SimulationConfig(
        seed=5, duration_seconds=3 * DAY, crisis_count=1, crisis_day=2, offensive_post_probability=0.0
    )
    return config, _batches(_records(config))


def test_a_crisis_fires_once_per_brand_and_kind_then_resolves(
    crisis: tuple[SimulationConfig, list[Batch]],
) -> None:
    config, items = crisis
    truth = simulate(config).ground_truth.crises
    assert len(truth) == 1
    alerts = run(AlertEngine({}, SpikeConfig()), items)
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
    alerts = run(AlertEngine({}, SpikeConfig()), _batches(_records(config)))
    assert alerts == []


def test_replay_after_a_crash_republishes_the_same_alerts(
    crisis: tuple[SimulationConfig, list[Batch]],
) -> None:
    _, items = crisis
    expected = run(AlertEngine({}, SpikeConfig()), items)
    fired_at = {a["alert_id"] for a in expected if a["status"] == "firing"}
    # Process everything, but pretend the worker died before the last 40% were committed and before
    # any alert of that stretch was published; the restarted worker re-reads that stretch.
    store: dict[str, Any] = {}
    engine = AlertEngine(store, SpikeConfig())
    cut = int(len(items) * 0.6)
    first = run(engine, items[:cut])
    run(engine, items[cut:])  # published nothing (lost with the worker)
    again = run(AlertEngine(store, SpikeConfig()), items[cut:])
    got = {(a["alert_id"], a["status"]) for a in first + again}
    assert got == {(a["alert_id"], a["status"]) for a in expected}
    assert fired_at
    for a in again:
        codec("alert").encode(a)


def test_the_backlog_growth_pages_the_crisis_whatever_the_enrich_batches() -> None:
    """The backlog's growth counts each complaint and answer in its own event-time bucket, so how enrich
    batched the events cannot move growth between buckets (a snapshot per batch did: it carried the
    batch's change at its latest event, and a fast replay paged a brand without a crisis)."""
    brand = tuple(b for b in DEFAULT_BRANDS if b.brand_id == "hanbit-mobile")
    config = SimulationConfig(seed=5, duration_seconds=2 * DAY, brands=brand, crisis_count=1, crisis_day=2)
    events = _records(config)
    kinds = ("complaints", "unanswered_complaints")
    alerts = [
        _without_wall_clock(run(AlertEngine({}, SpikeConfig(), kinds), Enrich().batches(events, size)))
        for size in (1000, 97, 5000)
    ]
    assert alerts[0] == alerts[1] == alerts[2]
    fired = {(a["brand_id"], a["kind"]) for a in alerts[0] if a["status"] == "firing"}
    assert ("hanbit-mobile", "unanswered_complaints") in fired
