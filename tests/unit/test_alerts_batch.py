"""The alerts worker's batches without Kafka: what goes to the alerts topic, and what is delivered."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from services.alerts.batch import firing_alerts, handle_batch, plan_delivery
from services.alerts.engine import AlertEngine
from services.alerts.spike import SpikeConfig
from services.common.avro import codec
from services.common.keyed_state import Position
from services.sim.simulator import DEFAULT_BRANDS, SimulationConfig, simulate
from tests.factories import make_alert
from tests.unit.alert_streams import Batch, Enrich, run

DAY = 86400.0


@pytest.fixture(scope="module")
def crisis() -> list[Batch]:
    """One brand over two days with a crisis on day two (past the one-day warm-up: alerts fire)."""
    brand = tuple(b for b in DEFAULT_BRANDS if b.brand_id == "hanbit-mobile")
    config = SimulationConfig(seed=7, duration_seconds=2 * DAY, brands=brand, crisis_count=1, crisis_day=2)
    return Enrich().batches(simulate(config).events)


def _without_wall_clock(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in a.items() if k not in ("fired_at", "processed_at")} for a in alerts]


def _through_batches(engine: AlertEngine, batches: list[Batch]) -> list[Any]:
    outs = []
    for records, positions, posts, post_pos in batches:
        outs.append(handle_batch(engine, "enriched_event", records, positions))
        outs.append(handle_batch(engine, "post_virality", posts, post_pos))
    return outs


def test_a_batch_publishes_the_engine_s_alerts_keyed_by_brand(crisis: list[Batch]) -> None:
    expected = run(AlertEngine({}, SpikeConfig()), crisis)
    outs = _through_batches(AlertEngine({}, SpikeConfig()), crisis)
    alerts = [a for out in outs for a in out.alerts]
    assert _without_wall_clock(alerts) == _without_wall_clock(expected)
    assert any(a["status"] == "firing" for a in alerts)
    messages = [m for out in outs for m in out.messages]
    assert _without_wall_clock([codec("alert").decode(v) for _, v in messages]) == _without_wall_clock(alerts)
    assert [k for k, _ in messages] == [a["brand_id"].encode() for a in expected]
    fired = sum((out.fired for out in outs), Counter())
    assert fired == Counter((a["kind"], a["severity"]) for a in expected if a["status"] == "firing")


def test_events_past_the_allowed_lateness_are_counted_not_processed(crisis: list[Batch]) -> None:
    engine = AlertEngine({}, SpikeConfig(), allowed_lateness_seconds=3600)
    outs = _through_batches(engine, crisis)
    assert sum(out.late_events for out in outs) == engine.late_events
    first_records = crisis[0][0][:5]
    # The same old events again, at new offsets: three days behind the brand's latest event.
    positions = [Position(p.partition, 10**9 + i) for i, p in enumerate(crisis[0][1][:5])]
    late = handle_batch(engine, "enriched_event", first_records, positions)
    assert late.late_events == len(first_records) and late.alerts == [] and late.messages == []


def _alert(status: str, alert_id: str = "a1", **kw: Any) -> dict[str, Any]:
    return make_alert(alert_id=alert_id, status=status, **kw)


def test_delivery_keeps_one_alert_per_id_and_status_and_tracks_the_firing_ones() -> None:
    plan = plan_delivery([_alert("firing"), _alert("firing"), _alert("firing", "a2")], {})
    assert [(a["alert_id"], a["status"]) for a in plan.deliver] == [("a1", "firing"), ("a2", "firing")]
    active = dict(plan.active_writes)
    assert set(active) == {"a1", "a2"}
    assert [a["alert_id"] for a in firing_alerts(active)] == ["a1", "a2"]

    resolved = plan_delivery([_alert("resolved")], active)
    assert resolved.active_writes == [("a1", None)]
    assert plan_delivery([_alert("resolved", "never-fired")], active).active_writes == []


def test_an_alert_that_fires_and_resolves_in_one_batch_leaves_nothing_active() -> None:
    plan = plan_delivery([_alert("firing"), _alert("resolved")], {})
    assert [a["status"] for a in plan.deliver] == ["firing", "resolved"]
    active: dict[str, Any] = {}
    for key, value in plan.active_writes:
        active[key] = value
    assert firing_alerts(active) == []
