"""Per-brand volume detector: pure state machine over (brand, event time) observations.

This is the simplest correct detector — a fixed threshold per tumbling window — kept behind the same
interface later detectors implement: ``observe`` returns the alerts to publish, nothing else.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any


@dataclass
class WindowCount:
    """Count of one brand's events in one window, plus a small sample for the alert text."""

    count: int = 0
    fired: bool = False
    sample_event_ids: list[str] = field(default_factory=list)
    sample_texts: list[str] = field(default_factory=list)


def window_start(ts: datetime, window_seconds: int) -> datetime:
    epoch = int(ts.timestamp())
    return datetime.fromtimestamp(epoch - epoch % window_seconds, tz=UTC)


def volume_alert(
    *,
    brand_id: str,
    start: datetime,
    window_seconds: int,
    state: WindowCount,
    threshold: int,
    fired_at: datetime,
) -> dict[str, Any]:
    """The Alert record (alert.avsc) for a window whose count reached the threshold."""
    end = start + timedelta(seconds=window_seconds)
    alert_id = hashlib.sha256(f"volume_spike|{brand_id}|{start.isoformat()}".encode()).hexdigest()[:32]
    ratio = state.count / threshold
    severity = "critical" if ratio >= 3 else "warning"
    return {
        "alert_id": alert_id,
        "brand_id": brand_id,
        "platform": None,
        "kind": "volume_spike",
        "severity": severity,
        "status": "firing",
        "window_start": start,
        "window_end": end,
        "fired_at": fired_at,
        "observed": float(state.count),
        "expected": float(threshold),
        "score": ratio,
        "summary": (
            f"{brand_id}: {state.count} events in {window_seconds}s starting {start:%Y-%m-%d %H:%M} UTC "
            f"(threshold {threshold})"
        ),
        "sample_event_ids": list(state.sample_event_ids),
        "sample_texts": list(state.sample_texts),
    }


def observe(
    state: WindowCount,
    record: dict[str, Any],
    *,
    threshold: int,
    sample_size: int,
) -> bool:
    """Count one event into its window state; True exactly once, when the window crosses the threshold."""
    state.count += 1
    if len(state.sample_event_ids) < sample_size:
        state.sample_event_ids.append(record["event_id"])
        if record.get("text"):
            state.sample_texts.append(record["text"][:280])
    if not state.fired and state.count >= threshold:
        state.fired = True
        return True
    return False
