"""Faust tables as plain mappings for the pure feature code, and changelog writes awaited per batch.

The pure engines (``services.enrich.features``, ``services.alerts.signals``) read and write plain
mappings and report each changed key with the raw partition it belongs to. Here those writes go to the
table's local store and to its changelog *on that partition*, sent (as record batches, see
:mod:`services.runtime.batch_send`) and awaited with the batch's other outputs — rather than faust's
fire-and-forget table buffer — so a batch is acked (and its offsets
committed) only once the state it produced is durable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

from faust.types import TP

from services.runtime.batch_send import OutputBatch


class TableBacking(MutableMapping[str, Any]):
    """A faust table's local store as a plain mapping (bypasses the table's own changelog hooks)."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def __getitem__(self, key: str) -> Any:
        return self.table.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.table.data.get(key, default)

    def __setitem__(self, key: str, value: Any) -> None:
        self.table.data[key] = value

    def __delitem__(self, key: str) -> None:
        del self.table.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.table.data)

    def __len__(self) -> int:
        return len(self.table.data)


class ChangelogWriter:
    """Collects a batch's state writes; :meth:`queue` adds them to the batch's outputs (enrich, one
    agent), :meth:`send_each` sends them one by one (alerts, several agents on one table).

    Values are serialized exactly as the table's own changelog sends would be (faust restores them),
    and each delivered record batch advances the table's persisted changelog offset, as faust's
    ``_on_changelog_sent`` does for a single message.
    """

    def __init__(self, tables: dict[str, Any]) -> None:
        self.tables = tables
        self._writes: list[tuple[Any, str, int, Any]] = []

    def write(self, table: str, key: str, partition: int, value: Any) -> None:
        t = self.tables[table]
        t.data[key] = value
        self._writes.append((t, key, partition, value))

    def queue(self, out: OutputBatch) -> None:
        writes, self._writes = self._writes, []
        for t, key, partition, value in writes:
            topic = t.changelog_topic
            name = topic.get_topic_name()
            k, _ = topic.prepare_key(key, None)
            v, _ = topic.prepare_value(value, None)
            out.add(name, k, v, partition=partition)
            out.on_delivered(name, _persisted_offset_hook(t, name))

    async def send_each(self) -> list[Any]:
        """Publish the writes with one faust send each, in write order; returns the delivery futures.

        The alerts worker's path: its four agents (one writer each) share the tables, and faust's
        per-message sends keep the behaviour its fault tests were built on (the batched path is for
        the enrich agent).
        """
        writes, self._writes = self._writes, []
        # force=True: without it faust attaches a send made while an event is current to that event
        # and publishes it only when the event's offset is committed, but the agents wait for these
        # futures before acking the batch, so the commit (and the worker) would wait forever.
        return [
            await t.changelog_topic.send(
                key=key, value=value, partition=partition, callback=t._on_changelog_sent, force=True
            )
            for t, key, partition, value in writes
        ]


def _persisted_offset_hook(table: Any, topic: str) -> Callable[[int, int], None]:
    def persisted(partition: int, offset: int) -> None:
        table.data.set_persisted_offset(TP(topic, partition), offset)

    return persisted
