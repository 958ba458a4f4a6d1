"""Batches of enriched events and post snapshots → signal state → alert records. Pure.

State lives in mappings handed in (faust tables in the worker, dicts in tests) with the same per-key
exactly-once marks as the enrich features (:mod:`services.common.keyed_state`): each input topic
updates its own keys (counts, the unanswered-complaints growth among them, from
``social.events.enriched``; viral negative posts from ``social.features.posts``), so the offsets a key
remembers always come from one topic. Alerts a key emitted are remembered with the offset that caused
them, so a batch redelivered after a crash re-publishes them instead of losing them (their ids are
deterministic, so sinks see the same alert again and deduplicate it).
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping, Sequence
from datetime import UTC, datetime
from typing import Any

from services.alerts import signals
from services.alerts.spike import SpikeConfig
from services.common.keyed_state import Position, Scope, State, is_fresh, mark

Writer = Callable[[str, str, int, State], None]
Fire = Callable[[signals.Fired], None]
Apply = Callable[[State, Fire], None]
KEEP_EMITTED = 8
CLOCK_KEY = "clock"
POSTS_CLOCK_KEY = "posts-clock"
DEFAULT_LATENESS_SECONDS = 3600.0
"""Allowed lateness when none is configured (``ENGAGE_ALERT_ALLOWED_LATENESS_SECONDS``)."""


class AlertEngine:
    """Signal state per (brand, kind) in ``signal_store``. ``late_events`` counts (cumulatively, once per
    event) the events dropped because their event-time bucket was already final, for the worker's
    ``engage_alerts_late_events_total``."""

    def __init__(
        self,
        signal_store: MutableMapping[str, Any],
        config: SpikeConfig | None = None,
        kinds: Sequence[str] = signals.DEFAULT_KINDS,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        allowed_lateness_seconds: float = DEFAULT_LATENESS_SECONDS,
    ) -> None:
        if allowed_lateness_seconds < 0:
            raise ValueError("allowed_lateness_seconds must be >= 0")
        self.store = signal_store
        self.config = config or SpikeConfig()
        self.kinds = tuple(kinds)
        self.now = now
        self.lateness = float(allowed_lateness_seconds)
        self.late_events = 0

    def _run(
        self,
        items: Sequence[tuple[list[tuple[str, Apply]], Position]],
        write: Writer | None,
    ) -> list[dict[str, Any]]:
        scope = Scope(self.store)
        alerts: list[dict[str, Any]] = []
        for updates, pos in items:
            for key, apply in updates:
                state = scope.get(key)
                if state is None:
                    state = scope.get_or_create(key, _factory(key))
                if is_fresh(state, pos):
                    emitted: list[dict[str, Any]] = []

                    def fire(f: signals.Fired, out: list[dict[str, Any]] = emitted) -> None:
                        out.append(signals.alert_record(f, self.now()))

                    apply(state, fire)
                    mark(state, pos)
                    if emitted:
                        kept = state.get("emitted", []) + [[pos.offset, _json_safe(a)] for a in emitted]
                        state["emitted"] = kept[-KEEP_EMITTED:]
                    alerts.extend(emitted)
                    scope.touch(key, pos)
                else:
                    # Redelivered: publish again what this event fired (the first copy may be lost).
                    alerts.extend(_from_json(a) for off, a in state.get("emitted", []) if off == pos.offset)
        publish = write or self._store_write
        scope.flush(lambda k, p, v: publish("signals", k, p, v))
        return alerts

    def _store_write(self, table: str, key: str, partition: int, value: State) -> None:
        self.store[key] = value

    def process_events(
        self, records: Sequence[dict[str, Any]], positions: Sequence[Position], write: Writer | None = None
    ) -> list[dict[str, Any]]:
        """Count each event in its own event-time bucket; buckets that became final may fire or resolve.

        The brand's clock goes first: an event whose bucket is already final is late (counted once in
        ``late_events``, added nowhere); one seen twice while its bucket is open counts once."""
        kinds = [k for k in self.kinds if k in signals.COUNT_KINDS]
        items = []
        for r, pos in zip(records, positions, strict=True):
            counts = signals.counts_for(r)
            conversation = counts.get("mentions", 0)
            verdict: list[str] = []
            updates = [(f"{r['brand_id']}|{CLOCK_KEY}", self._clock(r, verdict))]
            updates += [
                (f"{r['brand_id']}|{kind}", self._count(r, counts.get(kind, 0), conversation, verdict))
                for kind in kinds
            ]
            items.append((updates, pos))
        return self._run(items, write)

    def _clock(self, record: dict[str, Any], verdict: list[str]) -> Apply:
        def apply(state: State, fire: Fire) -> None:
            v = signals.event_clock(state, record, self.config, self.lateness)
            verdict.append(v)
            if v == "late":
                state["late"] = int(state.get("late", 0)) + 1
                self.late_events += 1

        return apply

    def _count(self, record: dict[str, Any], n: int, conversation: int, verdict: list[str]) -> Apply:
        """A signal's share of one event. When the clock's verdict is unknown (the clock already applied
        this offset before a crash), the signal's own final bucket still keeps late events out."""

        def apply(state: State, fire: Fire) -> None:
            if verdict and verdict[0] == "late":
                return
            duplicate = bool(verdict) and verdict[0] == "duplicate"
            signals.add_event(state, record, n, conversation, self.config, self.lateness, fire, duplicate)

        return apply

    def process_posts(
        self, rows: Sequence[dict[str, Any]], positions: Sequence[Position], write: Writer | None = None
    ) -> list[dict[str, Any]]:
        """Page a post whose cascade went viral while its comments are mostly negative; resolve it when it
        calms down. A snapshot older than the allowed lateness behind the latest snapshot of its brand in
        its topic partition (a backfill of a period the stream has passed) pages nothing, as the count
        signals drop the same events as late.

        The clock is per (brand, partition): that subsequence is in the order the brand's events were
        ingested (one enrich partition writes all of a brand's snapshots), whereas a partition as a whole
        interleaves brands as fast as the enrich worker happened to read its partitions, so a clock over
        it would call a slow brand's snapshots late on one run and not on another."""
        if "viral_negative_post" not in self.kinds:
            return []
        items = []
        for row, pos in zip(rows, positions, strict=True):
            late: list[bool] = []
            items.append(
                (
                    [
                        (
                            f"{row['brand_id']}|{POSTS_CLOCK_KEY}|{pos.partition}",
                            self._post_clock(row["updated_at"], late),
                        ),
                        (f"{row['brand_id']}|post|{row['post_id']}", self._viral(row, late)),
                    ],
                    pos,
                )
            )
        return self._run(items, write)

    def _post_clock(self, updated_at: datetime, late: list[bool]) -> Apply:
        """The brand's post-snapshot watermark in one partition: a running maximum, so a redelivery
        cannot move it."""

        def apply(state: State, fire: Fire) -> None:
            at = int(updated_at.timestamp() * 1000)
            watermark = int(state.get("watermark") or at)
            late.append(at < watermark - self.lateness * 1000)
            state["watermark"] = max(watermark, at)

        return apply

    @staticmethod
    def _viral(row: dict[str, Any], late: list[bool]) -> Apply:
        def apply(state: State, fire: Fire) -> None:
            if not any(late):
                signals.viral_post_update(state, row, fire)

        return apply


def _json_safe(alert: dict[str, Any]) -> dict[str, Any]:
    """Timestamps as epoch milliseconds (what Avro timestamp-millis takes) so the state stays JSON."""
    return {k: int(v.timestamp() * 1000) if isinstance(v, datetime) else v for k, v in alert.items()}


_TIME_FIELDS = ("window_start", "window_end", "fired_at", "event_time", "fired_event_time", "processed_at")


def _from_json(alert: dict[str, Any]) -> dict[str, Any]:
    """An alert re-published from state: the same record as the first time (timestamps as datetimes)."""
    return {
        k: datetime.fromtimestamp(v / 1000, tz=UTC) if k in _TIME_FIELDS and isinstance(v, int) else v
        for k, v in alert.items()
    }


def _factory(key: str) -> Callable[[], State]:
    brand, kind = key.split("|", 1)
    if kind == CLOCK_KEY or kind.startswith((f"{POSTS_CLOCK_KEY}|", "post|")):
        return lambda: {"brand": brand}
    return lambda: signals.new_signal(brand, kind)
