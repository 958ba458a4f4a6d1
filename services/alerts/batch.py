"""The alerts worker's batches as functions over plain records, tested without Kafka.

:func:`handle_batch` runs one input batch (enriched events or post snapshots) through the
alert engine and says what to publish on the alerts topic; :func:`plan_delivery` turns a batch read
back from the alerts topic into what to deliver and how the table of firing alerts changes. The faust
agents in :mod:`services.alerts.app` do the reading, sending and acking around them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.alerts.engine import AlertEngine, Writer
from services.common.avro import codec
from services.common.keyed_state import Position

_ALERT = codec("alert")

#: Avro subject of each input topic -> the engine method that processes it.
INPUTS: dict[str, Callable[[AlertEngine], Callable[..., list[dict[str, Any]]]]] = {
    "enriched_event": lambda engine: engine.process_events,
    "post_virality": lambda engine: engine.process_posts,
}


@dataclass
class AlertOutputs:
    """One input batch's alerts, their messages for the alerts topic (key, value), the events dropped
    as later than the allowed lateness, and the fired alerts per (kind, severity)."""

    alerts: list[dict[str, Any]] = field(default_factory=list)
    messages: list[tuple[bytes, bytes]] = field(default_factory=list)
    late_events: int = 0
    fired: Counter[tuple[str, str]] = field(default_factory=Counter)


def handle_batch(
    engine: AlertEngine,
    subject: str,
    records: Sequence[dict[str, Any]],
    positions: Sequence[Position],
    write: Writer | None = None,
) -> AlertOutputs:
    """Process decoded records of ``subject`` read at ``positions``; state writes go to ``write``."""
    late = engine.late_events
    alerts = INPUTS[subject](engine)(records, positions, write=write)
    out = AlertOutputs(alerts=alerts, late_events=engine.late_events - late)
    for alert in alerts:
        out.messages.append((alert["brand_id"].encode(), _ALERT.encode(alert)))
        if alert["status"] == "firing":
            out.fired[(alert["kind"], alert["severity"])] += 1
    return out


@dataclass
class DeliveryPlan:
    """What a batch read from the alerts topic means: the alerts to deliver (one per alert id and
    status, the latest) and the changes to the table of firing alerts (key -> value, None deletes)."""

    deliver: list[dict[str, Any]]
    active_writes: list[tuple[str, str | None]]


def plan_delivery(alerts: Sequence[dict[str, Any]], active: Mapping[str, Any]) -> DeliveryPlan:
    """Firing alerts enter the active table (re-sent until they resolve); resolved ones leave it."""
    batch: dict[str, dict[str, Any]] = {}
    writes: list[tuple[str, str | None]] = []
    written: dict[str, str | None] = {}  # this batch's writes: an alert may fire and resolve in one batch
    for alert in alerts:
        batch[f"{alert['alert_id']}|{alert['status']}"] = alert
        key = alert["alert_id"]
        if alert["status"] == "firing":
            written[key] = _ALERT.encode(alert).hex()
            writes.append((key, written[key]))
        elif (written[key] if key in written else active.get(key)) is not None:
            written[key] = None
            writes.append((key, None))
    return DeliveryPlan(list(batch.values()), writes)


def firing_alerts(active: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The alerts of the active table (stored as the hex of their Avro encoding)."""
    return [_ALERT.decode(bytes.fromhex(v)) for v in list(active.values()) if v is not None]
