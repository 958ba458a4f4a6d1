"""Keyed feature state with exactly-once updates under at-least-once delivery.

Raw events are keyed by ``brand_id``, so every event that can change a piece of feature state (a post,
a follower journey, a conversation thread, a brand) arrives on one raw partition, in offset order. Each
state value remembers the raw ``(partition, offset)`` of the last event applied to it (``_p``/``_o``).
After a crash the consumer re-reads everything after its last committed offset; an event whose offset
is not above the key's mark was already applied to that key and is skipped *for that key only*. Marks
are per key, so a crash between two changelog writes of one batch cannot double-apply or lose an
update: each key decides alone.

Event-level results (a share's depth, a reply's response time, touches before a purchase) are read
back from state instead of being recomputed, so a replayed event yields the same row as the first time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import orjson

State = dict[str, Any]


@dataclass(frozen=True)
class Position:
    """Where an event was read: the raw partition and offset (its identity for deduplication)."""

    partition: int
    offset: int


def is_fresh(state: State, pos: Position) -> bool:
    """True when ``pos`` was not yet applied to ``state`` (a different partition always counts as new)."""
    return state.get("_p") != pos.partition or int(state.get("_o", -1)) < pos.offset


def mark(state: State, pos: Position) -> None:
    state["_p"] = pos.partition
    state["_o"] = pos.offset
    state["_v"] = int(state.get("_v", 0)) + 1  # version: events applied, orders snapshots


@dataclass
class Scope:
    """One state table as seen by a batch: reads through to the backing mapping, buffers the writes.

    ``dirty`` maps each changed key to the partition of the event that changed it: the changelog
    partition the value must be written to, so it is restored with that raw partition.
    """

    backing: MutableMapping[str, Any]
    cache: dict[str, State] = field(default_factory=dict)
    dirty: dict[str, int] = field(default_factory=dict)

    def get(self, key: str) -> State | None:
        if key in self.cache:
            return self.cache[key]
        value = self.backing.get(key)
        if value is None:
            return None
        # A JSON round trip: never mutate the stored object (only flush() publishes changes), and the
        # live state has exactly the shape a restore from the JSON changelog gives (string keys).
        state: State = orjson.loads(orjson.dumps(value))
        self.cache[key] = state
        return state

    def get_or_create(self, key: str, factory: Callable[[], State]) -> State:
        state = self.get(key)
        if state is None:
            state = self.cache[key] = factory()
        return state

    def touch(self, key: str, pos: Position) -> None:
        self.dirty[key] = pos.partition

    def changed(self) -> Iterator[tuple[str, int, State]]:
        for key, partition in self.dirty.items():
            yield key, partition, self.cache[key]

    def flush(self, write: Callable[[str, int, State], None]) -> None:
        """Write every changed value once (one changelog message per key per batch, not per event)."""
        for key, partition, state in self.changed():
            write(key, partition, state)
        self.dirty.clear()
        self.cache.clear()
