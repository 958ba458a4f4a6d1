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

from faust.serializers import codecs
from faust.types import TP, ModelT

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

    Values are serialized exactly as the table's own changelog sends would be (faust restores them):
    plain keys and values directly by the changelog topic's codecs (faust's schema and serializer
    registry cost more than the JSON itself), models and bytes through the topic. Each delivered record
    batch advances the table's persisted changelog offset, as faust's ``_on_changelog_sent`` does for
    a single message.
    """

    def __init__(self, tables: dict[str, Any]) -> None:
        self.tables = tables
        self._writes: list[tuple[Any, str, int, Any]] = []
        self._serializers: dict[str, _ChangelogSerializer] = {}

    def write(self, table: str, key: str, partition: int, value: Any) -> None:
        t = self.tables[table]
        t.data[key] = value
        self._writes.append((t, key, partition, value))

    def queue(self, out: OutputBatch) -> None:
        writes, self._writes = self._writes, []
        used: set[str] = set()
        for t, key, partition, value in writes:
            serializer = self._serializers.get(t.name)
            if serializer is None:
                serializer = self._serializers[t.name] = _ChangelogSerializer(t)
            used.add(t.name)
            out.add(serializer.name, serializer.key(key), serializer.value(value), partition=partition)
        for table in used:
            serializer = self._serializers[table]
            out.on_delivered(serializer.name, serializer.persisted)

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


class _ChangelogSerializer:
    """A table changelog topic's key and value serialization: what ``topic.prepare_key`` and
    ``prepare_value`` return, with the topic's codecs called directly for plain data."""

    def __init__(self, table: Any) -> None:
        self.topic = topic = table.changelog_topic
        self.name: str = topic.get_topic_name()
        self.persisted = _persisted_offset_hook(table, self.name)
        schema = topic.schema
        # as faust picks them: the schema's serializer, else the app's (Schema.dumps_*, Registry._serializer)
        registry = topic.app.serializers
        self._key_codec = _codec(schema.key_serializer or registry.key_serializer)
        self._value_codec = _codec(schema.value_serializer or registry.value_serializer)
        self._direct_key = schema.key_type is None
        self._direct_value = schema.value_type is None

    def key(self, key: Any) -> bytes | None:
        if self._key_codec is None or not self._direct_key or not isinstance(key, str):
            return self.topic.prepare_key(key, None)[0]  # type: ignore[no-any-return]
        return self._key_codec.dumps(key)

    def value(self, value: Any) -> bytes | None:
        if (
            self._value_codec is None
            or not self._direct_value
            or value is None
            or isinstance(value, bytes | ModelT)
        ):
            return self.topic.prepare_value(value, None)[0]  # type: ignore[no-any-return]
        return self._value_codec.dumps(value)


def _codec(serializer: Any) -> Any:
    """The codec object for a serializer setting (None when faust would pass values through)."""
    if not serializer:
        return None
    return codecs.get_codec(serializer) if isinstance(serializer, str) else serializer


def _persisted_offset_hook(table: Any, topic: str) -> Callable[[int, int], None]:
    def persisted(partition: int, offset: int) -> None:
        table.data.set_persisted_offset(TP(topic, partition), offset)

    return persisted
