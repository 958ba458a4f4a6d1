"""Publish a processing batch's outputs as Kafka record batches, one per topic partition.

A faust ``Topic.send`` per output message costs tens of microseconds of bookkeeping (a future per
message, on-produce signals, aiokafka's per-message accumulator path); for the enrich worker, which
writes an enriched event, snapshots and changelog entries for every raw event, that was the largest
share of its CPU. Here a batch's messages are grouped by partition — with the producer's own
partitioner (murmur2 of the key, as Kafka's Java clients), so keys land where a per-message send
would put them — and handed to aiokafka as pre-built record batches (on faust's own producer in the
faust workers, see :func:`services.runtime.app.output_batch`). The caller awaits the returned futures
before it acks the input, exactly as with per-message sends.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.partitioner import DefaultPartitioner

Headers = Sequence[tuple[str, bytes]]

# Partition of each key, per producer and (topic, partition count): keys repeat from batch to batch
# (events are keyed by brand, snapshots by post and actor) and murmur2 runs in Python. Bounded: a
# topic's map is dropped when it grows past ``_MAX_CACHED_KEYS``.
_MAX_CACHED_KEYS = 1 << 16
_KEY_PARTITIONS: weakref.WeakKeyDictionary[Any, dict[tuple[str, int], dict[bytes | None, int]]] = (
    weakref.WeakKeyDictionary()
)


def _key_partitions(producer: Any, topic: str, partitions: int) -> dict[bytes | None, int]:
    """The cached key → partition map of ``topic`` with ``partitions`` partitions on ``producer``."""
    maps = _KEY_PARTITIONS.get(producer)
    if maps is None:
        maps = _KEY_PARTITIONS[producer] = {}
    cached = maps.get((topic, partitions))
    if cached is None or len(cached) > _MAX_CACHED_KEYS:
        cached = maps[(topic, partitions)] = {}
    return cached


class OutputBatch:
    """Messages collected during one batch; :meth:`send` publishes them and returns delivery futures.

    Each future resolves to the ``RecordMetadata`` of one record batch. ``on_delivered(topic, hook)``
    calls ``hook(partition, last_offset)`` for each delivered batch of ``topic`` (faust tables use this
    to remember how far their changelog is persisted).
    """

    def __init__(self, producer: Any) -> None:
        # ``producer``: a started aiokafka producer (None: not started, :meth:`send` refuses).
        self._producer = producer
        self._partitioner = DefaultPartitioner()
        self._messages: dict[str, list[tuple[int | None, bytes | None, bytes | None, Headers]]] = defaultdict(
            list
        )
        self._hooks: dict[str, Callable[[int, int], None]] = {}

    def on_delivered(self, topic: str, hook: Callable[[int, int], None]) -> None:
        self._hooks[topic] = hook

    def __len__(self) -> int:
        return sum(len(m) for m in self._messages.values())

    def add(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        *,
        partition: int | None = None,
        headers: Headers = (),
    ) -> None:
        """Queue one message; ``partition=None`` partitions by key, as a plain send would."""
        self._messages[topic].append((partition, key, value, headers))

    async def send(self) -> list[asyncio.Future[Any]]:
        """Hand every queued message to the producer (in order per partition); returns the futures."""
        messages, self._messages = self._messages, defaultdict(list)
        producer = self._producer
        if producer is None:
            raise RuntimeError("the producer is not started")
        futures: list[asyncio.Future[Any]] = []
        for topic, items in messages.items():
            partitions = sorted(await producer.partitions_for(topic))
            by_partition: dict[int, list[tuple[bytes | None, bytes | None, Headers]]] = defaultdict(list)
            partition_of = _key_partitions(producer, topic, len(partitions))
            keyless: int | None = None  # messages without a key share one random partition per send
            for partition, key, value, headers in items:
                if partition is None:
                    if key is None:
                        if keyless is None:
                            keyless = self._partitioner(None, partitions, partitions)
                        partition = keyless
                    else:
                        partition = partition_of.get(key)
                        if partition is None:
                            partition = partition_of[key] = self._partitioner(key, partitions, partitions)
                by_partition[partition].append((key, value, headers))
            for partition, records in by_partition.items():
                futures.extend(
                    await _send_partition(producer, topic, partition, records, self._hooks.get(topic))
                )
        return futures


async def _send_partition(
    producer: Any,
    topic: str,
    partition: int,
    records: list[tuple[bytes | None, bytes | None, Headers]],
    hook: Callable[[int, int], None] | None,
) -> list[asyncio.Future[Any]]:
    futures: list[asyncio.Future[Any]] = []

    async def submit(batch: Any, count: int) -> None:
        future = await producer.send_batch(batch, topic, partition=partition)
        if hook is not None:

            def delivered(f: asyncio.Future[Any]) -> None:
                if not f.cancelled() and f.exception() is None:
                    hook(partition, f.result().offset + count - 1)

            future.add_done_callback(delivered)
        futures.append(future)

    batch = producer.create_batch()
    count = 0
    for key, value, headers in records:
        if batch.append(key=key, value=value, timestamp=None, headers=list(headers)) is None:
            if count == 0:  # an empty batch takes any single record, so this cannot loop
                raise MessageSizeTooLargeError(f"a message for {topic} does not fit a record batch")
            await submit(batch, count)
            batch, count = producer.create_batch(), 0
            if batch.append(key=key, value=value, timestamp=None, headers=list(headers)) is None:
                raise MessageSizeTooLargeError(f"a message for {topic} does not fit a record batch")
        count += 1
    if count:
        await submit(batch, count)
    return futures
