"""Batches of enriched events and feature snapshots → signal state → alert records. Pure.

State lives in mappings handed in (faust tables in the worker, dicts in tests) with the same per-key
exactly-once marks as the enrich features (:mod:`services.common.keyed_state`): each input topic
updates its own keys (counts from ``social.events.enriched``, the backlog level from
``social.features.brands``, viral negative posts from ``social.features.posts``), so the offsets a key
remembers always come from one topic. Alerts a key emitted are remembered with the offset that caused
them, so a batch redelivered after a crash re-publishes them instead of losing them (their ids are
deterministic, so sinks see the same alert again and deduplicate it).
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping, Sequence
from datetime import UTC, datetime
from typing import Any

from services.alerts import signals
from services.alerts.spike import SpikeConfig, Transition
from services.common.keyed_state import Position, Scope, State, is_fresh, mark

Writer = Callable[[str, str, int, State], None]
Fire = Callable[[signals.Fired], None]
Apply = Callable[[State, Fire], None]
KEEP_EMITTED = 8


class AlertEngine:
    def __init__(
        self,
        signal_store: MutableMapping[str, Any],
        config: SpikeConfig | None = None,
        kinds: Sequence[str] = signals.DEFAULT_KINDS,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = signal_store
        self.config = config or SpikeConfig()
        self.kinds = tuple(kinds)
        self.now = now

    def _run(
        self,
        items: Sequence[
            tuple[list[tuple[str, Callable[[State, Callable[[signals.Fired], None]], None]]], Position]
        ],
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
                    alerts.extend(a for off, a in state.get("emitted", []) if off == pos.offset)
        publish = write or self._store_write
        scope.flush(lambda k, p, v: publish("signals", k, p, v))
        return alerts

    def _store_write(self, table: str, key: str, partition: int, value: State) -> None:
        self.store[key] = value

    def process_events(
        self, records: Sequence[dict[str, Any]], positions: Sequence[Position], write: Writer | None = None
    ) -> list[dict[str, Any]]:
        """Count signals from enriched events; closing buckets may fire or resolve alerts."""
        items = []
        for r, pos in zip(records, positions, strict=True):
            bucket = signals.bucket_of(r["occurred_at"], self.config)
            counts = signals.counts_for(r)
            updates = [
                (f"{r['brand_id']}|{kind}", self._count(bucket, counts.get(kind, 0), r))
                for kind in self.kinds
                if kind in signals.COUNT_KINDS
            ]
            items.append((updates, pos))
        return self._run(items, write)

    def _count(self, bucket: int, n: int, record: dict[str, Any]) -> Apply:
        def apply(state: State, fire: Fire) -> None:
            signals.advance(state, bucket, self.config, fire)
            if n:
                state["value"] += n
                signals.add_sample(state, record)

        return apply

    def process_backlog(
        self, rows: Sequence[dict[str, Any]], positions: Sequence[Position], write: Writer | None = None
    ) -> list[dict[str, Any]]:
        """The unanswered-complaints level per brand, from ``brand_backlog`` snapshots."""
        if "unanswered_complaints" not in self.kinds:
            return []
        items = []
        for row, pos in zip(rows, positions, strict=True):
            apply = self._level(
                signals.bucket_of(row["updated_at"], self.config), int(row["unanswered_complaints"])
            )
            items.append(([(f"{row['brand_id']}|unanswered_complaints", apply)], pos))
        return self._run(items, write)

    def process_posts(
        self, rows: Sequence[dict[str, Any]], positions: Sequence[Position], write: Writer | None = None
    ) -> list[dict[str, Any]]:
        """Fire once per post whose cascade went viral while its comments are mostly negative."""
        if "viral_negative_post" not in self.kinds:
            return []
        items = []
        for row, pos in zip(rows, positions, strict=True):
            apply = self._viral(row)
            items.append(([(f"{row['brand_id']}|post|{row['post_id']}", apply)], pos))
        return self._run(items, write)

    def _level(self, bucket: int, level: int) -> Apply:
        def apply(state: State, fire: Fire) -> None:
            if state["bucket"] is None:
                state["base"] = level  # growth is measured from the first level seen
            signals.advance(state, bucket, self.config, fire)
            state["value"] = level

        return apply

    @staticmethod
    def _viral(r: dict[str, Any]) -> Apply:
        def apply(state: State, fire: Fire) -> None:
            if state.get("fired") or not signals.viral_negative(r):
                return
            state["fired"] = True
            updated = r["updated_at"]
            t = Transition(
                "fire",
                updated,
                float(r["negative_comments"]),
                float(r["comments"]) * (1 - signals.VIRAL_NEGATIVE_SHARE),
                float(r["cascade_size"]),
                "critical",
                300,
            )
            fire(signals.Fired(r["brand_id"], "viral_negative_post", t, updated, [[r["post_id"], ""]]))

        return apply


def _json_safe(alert: dict[str, Any]) -> dict[str, Any]:
    """Timestamps as epoch milliseconds (what Avro timestamp-millis takes) so the state stays JSON."""
    return {k: int(v.timestamp() * 1000) if isinstance(v, datetime) else v for k, v in alert.items()}


def _factory(key: str) -> Callable[[], State]:
    brand, kind = key.split("|", 1)
    return lambda: signals.new_signal(brand, kind)
