"""Record-batch publishing (services.runtime.batch_send) on a real broker: same partitions as
per-message sends, order kept per partition, delivery offsets reported, errors surfaced."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from services.runtime.batch_send import OutputBatch
from tests.integration.helpers import create_topics, read_topic, unique_name

pytestmark = pytest.mark.integration

PADDING = b"." * 100  # 600 x ~130 bytes: several 4 KiB record batches per partition


async def _read(bootstrap: str, topic: str) -> list[tuple[int, int, bytes, bytes]]:
    return [(m.partition, m.offset, m.key, m.value) for m in await read_topic(bootstrap, topic)]


def test_batches_land_where_per_message_sends_would(kafka_bootstrap: str) -> None:
    ns = unique_name("batchsend")
    batched, single = f"{ns}.batched", f"{ns}.single"
    keys = [f"brand-{i % 37}".encode() for i in range(600)]

    async def run() -> tuple[list, list, dict[int, int]]:
        await create_topics(kafka_bootstrap, {batched: 4, single: 4})
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
            await _read(kafka_bootstrap, batched),
            await _read(kafka_bootstrap, single),
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
    topic = f"{unique_name('batchsend')}.big"

    async def run() -> None:
        await create_topics(kafka_bootstrap, {topic: 1})
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
