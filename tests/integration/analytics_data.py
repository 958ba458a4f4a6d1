"""Data the analyst-layer tests share: one simulated day, enriched once, and alerts to load next to it."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any

from services.common.avro import codec
from services.sim.simulator import Simulation, SimulationConfig, simulate
from tests.populate import Populated, prepare

SEED = 7
DAY = 86_400.0


@functools.cache
def simulated_day() -> tuple[Simulation, Populated]:
    """The simulator's day (seed 7) and the rows the pipeline would load for it; treat as read-only."""
    sim = simulate(SimulationConfig(seed=SEED, duration_seconds=DAY))
    return sim, prepare(sim.events)


def alert_rows(sim: Simulation, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Alerts as the alerts worker would publish them (the simulation alone loads none): one over the
    injected crisis with sample events, redelivered once and resolved; one still firing elsewhere."""
    crisis = sim.ground_truth.crises[0]
    start = datetime.fromisoformat(crisis.start.replace("Z", "+00:00"))
    samples = [e for e in events if e["attributes"].get("sim_crisis") == crisis.crisis_id][:3]
    firing = {
        "alert_id": "alert-crisis",
        "brand_id": crisis.brand_id,
        "platform": None,
        "kind": "negative_spike",
        "severity": "critical",
        "status": "firing",
        "window_start": start,
        "window_end": start + timedelta(minutes=10),
        # Processed a month later (a backfill): the wall clock says nothing about when it happened.
        "fired_at": start + timedelta(days=30, seconds=2),
        "processed_at": start + timedelta(days=30, seconds=2),
        "event_time": start + timedelta(minutes=10),
        "fired_event_time": start + timedelta(minutes=10),
        "observed": 41.0,
        "expected": 3.5,
        "score": 9.1,
        "summary": f"negative messages about {crisis.topic}",
        # one sample that was never loaded, and fewer texts than ids (texts may have expired)
        "sample_event_ids": [*(e["event_id"] for e in samples), "evt-not-loaded"],
        "sample_texts": [e["text"] or "" for e in samples[:2]],
    }
    resolved = {
        **firing,
        "status": "resolved",
        "fired_at": start + timedelta(days=30, seconds=9),
        "processed_at": start + timedelta(days=30, seconds=9),
        "event_time": start + timedelta(minutes=50),
    }
    other_brand = next(b for b in ("cafe-lumi", "hanbit-mobile") if b != crisis.brand_id)
    other = {
        **firing,
        "alert_id": "alert-volume",
        "brand_id": other_brand,
        "platform": "instagram",
        "kind": "volume_spike",
        "severity": "warning",
        "window_start": start + timedelta(hours=5),
        "window_end": start + timedelta(hours=5, minutes=1),
        "fired_at": start + timedelta(days=30, hours=5, minutes=1, seconds=1),
        "processed_at": start + timedelta(days=30, hours=5, minutes=1, seconds=1),
        "event_time": start + timedelta(hours=5, minutes=1),
        "fired_event_time": start + timedelta(hours=5, minutes=1),
        "sample_event_ids": [],
        "sample_texts": [],
    }
    c = codec("alert")
    return [c.decode(c.encode(a)) for a in (firing, firing, resolved, other)]
