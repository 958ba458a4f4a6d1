"""Replay pacing (``--rate``, ``--speedup``): pure schedulers over an injected clock.

A pacer says when the next event is due; the replay loop only sleeps until then.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from services.common.events import EventValidationError, parse_timestamp


class Pacer(Protocol):
    uses_timestamps: bool

    def due(self, now: float, occurred_ms: int | None = None) -> float:
        """The clock time at which the next event should be sent (<= ``now`` means at once)."""
        ...


class RatePacer:
    """``--rate N``: a token bucket as virtual scheduling (GCRA).

    Event k is due at start + k/N on an absolute schedule, so flush latency never accumulates as
    drift; after a stall, at most ``burst`` events are sent at once to catch up, the rest of the debt
    is forgiven rather than flooding the broker.
    """

    uses_timestamps = False

    def __init__(self, rate: float, burst: float | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.interval = 1.0 / rate
        self.tolerance = (burst if burst is not None else max(1.0, rate)) * self.interval
        self._tat: float | None = None  # theoretical arrival time of the next event

    def due(self, now: float, occurred_ms: int | None = None) -> float:
        tat = now if self._tat is None else self._tat
        t = max(tat, now - self.tolerance)
        self._tat = t + self.interval
        return t


class SpeedupPacer:
    """``--speedup X``: keep the original gaps between ``occurred_at`` values, divided by X.

    The first event goes at once and anchors the schedule; events older than one already seen (out of
    order) or without a usable timestamp are sent without waiting.
    """

    uses_timestamps = True

    def __init__(self, speedup: float) -> None:
        if speedup <= 0:
            raise ValueError("speedup must be positive")
        self.speedup = speedup
        self._anchor: tuple[float, int] | None = None
        self._latest = 0

    def due(self, now: float, occurred_ms: int | None = None) -> float:
        if occurred_ms is None:
            return now
        if self._anchor is None:
            self._anchor, self._latest = (now, occurred_ms), occurred_ms
            return now
        if occurred_ms < self._latest:
            return now
        self._latest = occurred_ms
        start, origin = self._anchor
        return start + (occurred_ms - origin) / 1000.0 / self.speedup


def occurred_ms(obj: Any) -> int | None:
    """Epoch ms of a candidate's ``occurred_at``, or None when it has none worth pacing by."""
    if not isinstance(obj, Mapping) or "occurred_at" not in obj:
        return None
    try:
        return int(parse_timestamp(obj["occurred_at"], "occurred_at").timestamp() * 1000)
    except (EventValidationError, OverflowError, OSError, ValueError):
        return None
