"""The ceiling: raw aiokafka consume → produce of the raw events with no work in between.

What a good hand-written job on the bare client does at best on this broker: ``getmany`` batches,
each message re-sent unchanged to the same partition of an output topic, the batch's sends awaited
(acks=all, as the pipeline's producers use), then the offsets committed. Timed from partition
assignment until every backlog message was produced, acknowledged and committed.
"""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from services.common.settings import CommonSettings


async def passthrough(
    settings: CommonSettings, source: str, events: int, group: str, min_seconds: float = 3.0
) -> dict[str, float]:
    """Copy the ``events`` messages of ``source`` as often as needed to time at least ``min_seconds``.

    Each pass has its own consumer group and output topic; the rate is all copies over all passes.
    """
    copied = passes = 0
    elapsed = 0.0
    while elapsed < min_seconds:
        n, seconds = await _pass(
            settings, source, events, f"{group}-{passes}", f"{source}.passthrough{passes}"
        )
        copied, elapsed, passes = copied + n, elapsed + seconds, passes + 1
    return {"events": copied, "passes": passes, "seconds": round(elapsed, 2), "eps": round(copied / elapsed)}


async def _pass(
    settings: CommonSettings, source: str, events: int, group: str, out: str
) -> tuple[int, float]:
    admin = AIOKafkaAdminClient(**settings.kafka_client_options())
    await admin.start()
    try:
        partitions = len((await admin.describe_topics([source]))[0]["partitions"])
        await admin.create_topics([NewTopic(out, partitions, settings.topic_replication)])
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(
        source,
        **settings.kafka_client_options(),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 << 20,
    )
    producer = AIOKafkaProducer(
        **settings.kafka_client_options(), acks="all", linger_ms=5, max_batch_size=1 << 20
    )
    await producer.start()
    await consumer.start()
    try:
        while not consumer.assignment():  # noqa: ASYNC110 - the group join runs in the background
            await asyncio.sleep(0.01)
        started = time.monotonic()
        copied = 0
        while copied < events:
            batches = await consumer.getmany(timeout_ms=500, max_records=2000)
            futures = []
            offsets: dict[TopicPartition, int] = {}
            for tp, messages in batches.items():
                for m in messages:
                    futures.append(
                        await producer.send(
                            out, value=m.value, key=m.key, partition=m.partition, timestamp_ms=m.timestamp
                        )
                    )
                offsets[tp] = messages[-1].offset + 1
                copied += len(messages)
            await asyncio.gather(*futures)
            if offsets:
                await consumer.commit(offsets)
        elapsed = time.monotonic() - started
    finally:
        await consumer.stop()
        await producer.stop()
    return copied, elapsed
