"""Faust tables as plain mappings for the pure feature code, and changelog writes awaited per batch.

The pure engines (``services.enrich.features``, ``services.alerts.signals``) read and write plain
mappings and report each changed key with the raw partition it belongs to. Here those writes go to the
table's local store and to its changelog *on that partition*, sent (as record batches, see
:mod:`services.common.batch_send`) and awaited with the batch's other outputs — rather than faust's
fire-and-forget table buffer — so a batch is acked (and its offsets
committed) only once the state it produced is durable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

from faust.types import TP

from services.common.batch_send import OutputBatch


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
    """Collects a batch's state writes; :meth:`queue` adds them to the batch's outputs.

    Values are serialized exactly as the table's own changelog sends would be (faust restores them),
    and each delivered record batch advances the table's persisted changelog offset, as faust's
    ``_on_changelog_sent`` does for a single message.
    """

    def __init__(self, tables: dict[str, Any]) -> None:
        self.tables = tables
        self._writes: list[tuple[Any, str, int, Any]] = []
        self._lock = asyncio.Lock()

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

    async def send(self, out: OutputBatch) -> list[Any]:
        """Queue the writes and send everything in ``out``; returns the delivery futures."""
        self.queue(out)
        return await self.publish(out)

    async def publish(self, out: OutputBatch) -> list[Any]:
        """Send ``out`` (holding queued writes) after the batches queued before it were handed over.

        Several agents may write the same key; handing a batch to the producer can wait (a partition
        takes one record batch at a time), so without this the changelog could receive an agent's
        older value after another's newer one, and a restore would bring back the older.
        """
        async with self._lock:
            return await out.send()


def _persisted_offset_hook(table: Any, topic: str) -> Callable[[int, int], None]:
    def persisted(partition: int, offset: int) -> None:
        table.data.set_persisted_offset(TP(topic, partition), offset)

    return persisted
