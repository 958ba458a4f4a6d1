"""Output batches: keys go to the partition the producer's partitioner gives them, batch after batch."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka.partitioner import DefaultPartitioner

from services.runtime import batch_send
from services.runtime.batch_send import OutputBatch


class _Batch:
    def __init__(self) -> None:
        self.records: list[tuple[bytes | None, bytes | None]] = []

    def append(self, *, key: bytes | None, value: bytes | None, timestamp: Any, headers: Any) -> int:
        self.records.append((key, value))
        return len(self.records)


class _Producer:
    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self.sent: list[tuple[str, int, list[tuple[bytes | None, bytes | None]]]] = []

    async def partitions_for(self, topic: str) -> set[int]:
        return set(range(self.partitions))

    def create_batch(self) -> _Batch:
        return _Batch()

    async def send_batch(self, batch: _Batch, topic: str, *, partition: int) -> asyncio.Future[Any]:
        self.sent.append((topic, partition, batch.records))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        return future


def _send(producer: _Producer, keys: list[bytes | None], topic: str = "t") -> dict[bytes | None, set[int]]:
    async def run() -> None:
        out = OutputBatch(producer)
        for key in keys:
            out.add(topic, key, b"v")
        await out.send()

    producer.sent.clear()
    asyncio.run(run())
    where: dict[bytes | None, set[int]] = {}
    for _, partition, records in producer.sent:
        for key, _ in records:
            where.setdefault(key, set()).add(partition)
    return where


def test_keys_land_on_the_murmur2_partition_in_every_batch(monkeypatch: Any) -> None:
    producer = _Producer(6)
    keys = [f"brand-{i}".encode() for i in range(40)]
    expected = {k: {DefaultPartitioner()(k, list(range(6)), list(range(6)))} for k in keys}
    assert _send(producer, keys) == expected
    calls: list[bytes | None] = []
    original = DefaultPartitioner()

    class Counting:
        def __call__(self, key: bytes | None, *args: Any) -> int:
            calls.append(key)
            return original(key, *args)  # type: ignore[no-any-return]

    monkeypatch.setattr(batch_send, "DefaultPartitioner", Counting)
    assert _send(producer, keys) == expected
    assert calls == []  # the second batch used the cached partitions
    # a topic with another partition count is partitioned afresh
    wider = _Producer(7)
    assert _send(wider, keys[:5]) == {k: {original(k, list(range(7)), list(range(7)))} for k in keys[:5]}
    assert len(calls) == 5


def test_the_cache_is_bounded() -> None:
    producer = _Producer(3)
    maps = batch_send._key_partitions(producer, "t", 3)
    maps.update({str(i).encode(): 0 for i in range(batch_send._MAX_CACHED_KEYS + 1)})
    assert batch_send._key_partitions(producer, "t", 3) == {}


def test_keyless_messages_share_one_partition_per_send() -> None:
    producer = _Producer(4)
    where = _send(producer, [None] * 10)
    assert len(where[None]) == 1
