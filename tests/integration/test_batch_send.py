"""Record-batch publishing (services.runtime.batch_send) on a real broker: same partitions as
per-message sends, order kept per partition, delivery offsets reported, errors surfaced."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from services.runtime.batch_send import OutputBatch

pytestmark = pytest.mark.integration

PADDING = b"." * 100  # 600 x ~130 bytes: several 4 KiB record batches per partition


async def _topics(bootstrap: str, *names: str, partitions: int = 4) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, partitions, 1) for n in names])
    finally:
        await admin.close()


async def _read(bootstrap: str, topic: str, count: int) -> list[tuple[int, int, bytes, bytes]]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    got: list[tuple[int, int, bytes, bytes]] = []
    try:
        while len(got) < count:
            batches = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), 30)
            for tp, records in batches.items():
                got.extend((tp.partition, r.offset, r.key, r.value) for r in records)
    finally:
        await consumer.stop()
    return got


def test_batches_land_where_per_message_sends_would(kafka_bootstrap: str) -> None:
    ns = uuid.uuid4().hex[:8]
    batched, single = f"{ns}.batched", f"{ns}.single"
    keys = [f"brand-{i % 37}".encode() for i in range(600)]

    async def run() -> tuple[list, list, dict[int, int]]:
        await _topics(kafka_bootstrap, batched, single)
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", max_batch_size=4096)
        await producer.start()
        delivered: dict[int, int] = {}
        try:
            out = OutputBatch(producer)
            out.on_delivered(
                batched, lambda p, last: delivered.__setitem__(p, max(last, delivered.get(p, -1)))
            )
            for i, key in enumerate(keys):
                out.add(batched, key, f"{i:08d}".encode() + PADDING)
            out.add(batched, b"pinned", b"pinned", partition=3)
            assert len(out) == len(keys) + 1
            futures = await out.send()
            assert len(out) == 0
            # 4 KiB batches: more than one record batch per partition.
            assert len(futures) > 4
            await asyncio.gather(*futures)
            await asyncio.gather(*[await producer.send(single, b"x", key=k) for k in keys])
        finally:
            await producer.stop()
        return (
            await _read(kafka_bootstrap, batched, len(keys) + 1),
            await _read(kafka_bootstrap, single, len(keys)),
            delivered,
        )

    got, reference, delivered = asyncio.run(run())
    partition_of = {key: p for p, _, key, _ in reference}
    by_partition: dict[int, list[tuple[int, bytes, bytes]]] = defaultdict(list)
    for partition, offset, key, value in got:
        by_partition[partition].append((offset, key, value))
        if key == b"pinned":
            assert partition == 3
        else:
            assert partition == partition_of[key], key
    for partition, rows in by_partition.items():
        rows.sort()
        sequence = [int(v[:8]) for _, k, v in rows if k != b"pinned"]
        assert sequence == sorted(sequence)  # the order they were added in
        assert delivered[partition] == rows[-1][0]  # the hook saw the last offset of the partition
    assert sorted(int(v[:8]) for _, _, k, v in got if k != b"pinned") == list(range(len(keys)))


def test_a_message_the_broker_refuses_fails_the_send(kafka_bootstrap: str) -> None:
    topic = f"{uuid.uuid4().hex[:8]}.big"

    async def run() -> None:
        await _topics(kafka_bootstrap, topic, partitions=1)
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        try:
            out = OutputBatch(producer)
            out.add(topic, b"k", b"x" * (2 * 1024 * 1024))  # over the broker's 1 MiB limit
            await asyncio.gather(*(await out.send()))
        finally:
            await producer.stop()

    with pytest.raises(KafkaError):
        asyncio.run(run())
