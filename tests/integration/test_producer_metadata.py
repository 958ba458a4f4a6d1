"""aiokafka's producer metadata on a real broker: a topic created after the producer started must not
make the producer forget the others (``services.common.kafka.keep_all_topics``).

A producer's client starts by asking the broker about every topic. The first send to a topic it does
not know yet makes aiokafka track just that topic, and each metadata refresh then replaces the known
partitions with the tracked topics' alone. A batch already queued for another topic then has no leader
and waits for a send that re-adds its topic, or for its expiry (faust's default: 20 minutes). A worker
whose agent waits for that batch before sending anything else stalls: seen as the alerts worker stuck
at its first alert, its commit waiting in ``producer.flush()``.
"""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.structs import TopicPartition

from services.common.kafka import keep_all_topics
from tests.integration.helpers import create_topics, unique_name

pytestmark = pytest.mark.integration


async def _queued_batch_after_a_new_topic(bootstrap: str, fixed: bool) -> tuple[bool, int | None]:
    """(delivered within 10 s, leader of the old topic's partition as the producer knows it)."""
    ns = unique_name("mdtopics")
    old, new = f"{ns}.old", f"{ns}.new"
    await create_topics(bootstrap, {old: 1})
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", request_timeout_ms=30_000)
    if fixed:
        keep_all_topics(producer.client)
    await producer.start()
    try:
        # A refresh with no topic tracked asks about every topic (faust's producer refreshes every
        # 10 s, services.runtime.app): the old topic is known without being tracked.
        await producer.client.force_metadata_update()
        assert not producer.client._topics
        await (await producer.send(old, b"first"))
        await create_topics(bootstrap, {new: 1})
        await (await producer.send(new, b"first"))  # unknown to the producer so far
        await producer.client.force_metadata_update()  # the periodic refresh, a few seconds later
        leader = producer.client.cluster.leader_for_partition(TopicPartition(old, 0))
        # A batch for the old topic queued before that refresh (send() checked its metadata then).
        fut = await producer._message_accumulator.add_message(TopicPartition(old, 0), None, b"x", timeout=5)
        try:
            await asyncio.wait_for(asyncio.shield(fut), timeout=10)
            return True, leader
        except TimeoutError:
            # A later send to the old topic tracks it again, and the stranded batch goes out with it.
            await asyncio.wait_for(await producer.send(old, b"again"), timeout=10)
            await asyncio.wait_for(fut, timeout=10)
            return False, leader
    finally:
        await asyncio.wait_for(producer.stop(), timeout=30)


def test_aiokafka_alone_forgets_the_other_topics_and_strands_their_batches(kafka_bootstrap: str) -> None:
    delivered, leader = asyncio.run(_queued_batch_after_a_new_topic(kafka_bootstrap, fixed=False))
    assert (delivered, leader) == (False, None)


def test_a_client_that_keeps_all_topics_delivers_the_queued_batch(kafka_bootstrap: str) -> None:
    delivered, leader = asyncio.run(_queued_batch_after_a_new_topic(kafka_bootstrap, fixed=True))
    assert (delivered, leader) == (True, 1)
