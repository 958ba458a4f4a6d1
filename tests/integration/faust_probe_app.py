"""A minimal faust-streaming app that proves the local Kafka broker works with faust.

Run as a worker subprocess by ``tests/integration/test_kafka_local.py``::

    python tests/integration/faust_probe_app.py worker -l info

It reads words from ``PROBE_SOURCE``, repartitions them by word (``group_by``, so faust creates
and consumes a ``...-repartition`` topic), counts them in a changelog-backed :class:`faust.Table`
held in memory, and publishes every updated count to ``PROBE_OUTPUT`` as ``word -> count``.
Because the store is ``memory://``, a restarted worker can only continue the counts correctly by
restoring the table from its changelog topic.

Configuration (environment): ``PROBE_BROKER`` (host:port), ``PROBE_APP_ID``, ``PROBE_SOURCE``,
``PROBE_OUTPUT``, ``PROBE_DATADIR``, ``PROBE_PARTITIONS``.
"""

from __future__ import annotations

import os

import faust

PARTITIONS = int(os.environ.get("PROBE_PARTITIONS", "3"))

app = faust.App(
    os.environ.get("PROBE_APP_ID", "engage-faust-probe"),
    broker=f"kafka://{os.environ.get('PROBE_BROKER', '127.0.0.1:9092')}",
    store="memory://",
    datadir=os.environ.get("PROBE_DATADIR", "faust-probe-data"),
    web_enabled=False,
    topic_partitions=PARTITIONS,
    topic_replication_factor=1,
    broker_commit_interval=0.5,
    producer_acks=-1,
)

source = app.topic(
    os.environ.get("PROBE_SOURCE", "probe.words"),
    key_type=str,
    value_type=str,
    key_serializer="raw",
    value_serializer="raw",
    partitions=PARTITIONS,
)
output = app.topic(
    os.environ.get("PROBE_OUTPUT", "probe.counts"),
    key_type=str,
    value_type=str,
    key_serializer="raw",
    value_serializer="raw",
    partitions=1,
)
counts = app.Table("word-counts", default=int, key_type=str, value_type=int, partitions=PARTITIONS)


@app.agent(source)
async def count_words(words: faust.StreamT[str]) -> None:
    async for word in words.group_by(lambda w: w, name="word"):
        counts[word] += 1
        await output.send(key=word, value=str(counts[word]))


if __name__ == "__main__":
    app.main()
