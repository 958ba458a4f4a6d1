"""The local KRaft broker works with the clients the pipeline uses: aiokafka and faust-streaming."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.common.kafka import consumer_lag
from services.common.settings import CommonSettings
from services.local.kafka import KAFKA_VERSION, LocalKafka
from tests.integration.helpers import create_topics, eventually_async, unique_name

pytestmark = pytest.mark.integration

PROBE_APP = Path(__file__).with_name("faust_probe_app.py")


async def _produce(bootstrap: str, topic: str, messages: list[tuple[str, str]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        futures = [await producer.send(topic, key=k.encode(), value=v.encode()) for k, v in messages]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


# --------------------------------------------------------------------------- aiokafka


def test_broker_metadata(kafka_broker: LocalKafka) -> None:
    async def check() -> dict:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap)
        await admin.start()
        try:
            return await admin.describe_cluster()
        finally:
            await admin.close()

    cluster = asyncio.run(check())
    assert [b["node_id"] for b in cluster["brokers"]] == [1]
    assert kafka_broker.is_running()
    assert f"Kafka version: {KAFKA_VERSION}" in (kafka_broker.logs_dir / "server.log").read_text()


def test_aiokafka_idempotent_produce_and_group_commit(kafka_bootstrap: str) -> None:
    ns = unique_name("roundtrip")
    topic, group = f"{ns}.topic", f"{ns}-group"
    sent = [(f"key-{i % 7}", f"value-{i}") for i in range(100)]

    async def run() -> None:
        await create_topics(kafka_bootstrap, {topic: 3})
        await _produce(kafka_bootstrap, topic, sent)

        def group_member() -> AIOKafkaConsumer:
            return AIOKafkaConsumer(
                topic,
                bootstrap_servers=kafka_bootstrap,
                group_id=group,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
            )

        consumer = group_member()
        await consumer.start()
        received: list[tuple[str, str, int]] = []

        async def received_all() -> bool:
            for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                received.extend((r.key.decode(), r.value.decode(), tp.partition) for r in records)  # type: ignore[union-attr]
            return len(received) >= len(sent)

        try:
            await eventually_async(
                received_all, timeout=30, interval=0, what=lambda: f"{len(sent)} messages ({len(received)})"
            )
            await consumer.commit()
        finally:
            await consumer.stop()

        assert sorted((k, v) for k, v, _ in received) == sorted(sent)
        partitions_by_key: dict[str, set[int]] = {}
        for k, _, p in received:
            partitions_by_key.setdefault(k, set()).add(p)
        assert all(len(ps) == 1 for ps in partitions_by_key.values()), "a key landed on two partitions"
        assert len({p for _, _, p in received}) > 1, "keys should spread over the 3 partitions"

        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            committed = await admin.list_consumer_group_offsets(group)
        finally:
            await admin.close()
        assert sum(om.offset for tp, om in committed.items() if tp.topic == topic) == len(sent)

        # A new member of the same group resumes at the committed offsets: nothing left to read.
        again = group_member()
        await again.start()

        async def assigned() -> set[TopicPartition]:
            await again.getmany(timeout_ms=200)
            return set(again.assignment())

        try:
            assignment = await eventually_async(
                assigned, timeout=30, interval=0, what="the group's assignment"
            )
            assert len(assignment) == 3
            leftover = await again.getmany(timeout_ms=2000)
            assert sum(len(rs) for rs in leftover.values()) == 0
            ends = await again.end_offsets(list(assignment))
            for tp in assignment:
                assert await again.position(tp) == ends[tp]
        finally:
            await again.stop()

    asyncio.run(run())


# --------------------------------------------------------------------------- faust-streaming


class _Worker:
    """A faust worker running ``faust_probe_app.py`` in a subprocess."""

    def __init__(self, env: dict[str, str], log_path: Path, cwd: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, str(PROBE_APP), "worker", "-l", "info"],
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    async def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait for faust's "Worker ready" (assignment done, tables recovered, streams seeked)."""

        async def ready() -> bool:
            self.check_alive()
            return "Worker ready" in self.log_path.read_text(errors="replace")

        await eventually_async(ready, timeout=timeout, what=lambda: f"faust worker ready:\n{self.tail()}")

    def check_alive(self) -> None:
        code = self.proc.poll()
        if code is not None:
            pytest.fail(f"faust worker exited with {code}:\n{self.tail()}")

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()
        return self.proc.returncode


class _CountsReader:
    """Follows the probe's output topic from the beginning; keeps the latest count per word."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.tp = TopicPartition(topic, 0)
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self.latest: dict[str, int] = {}
        self.history: list[tuple[str, int]] = []

    async def __aenter__(self) -> _CountsReader:
        await self.consumer.start()
        self.consumer.assign([self.tp])
        await self.consumer.seek_to_beginning(self.tp)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()

    async def wait_for(self, expected: dict[str, int], worker: _Worker, timeout: float = 60.0) -> None:
        async def counted() -> bool:
            worker.check_alive()
            records = await self.consumer.getmany(self.tp, timeout_ms=500)
            for r in records.get(self.tp, []):
                word, n = r.key.decode(), int(r.value.decode())  # type: ignore[union-attr]
                self.latest[word] = n
                self.history.append((word, n))
            return self.latest == expected

        await eventually_async(
            counted,
            timeout=timeout,
            interval=0,
            what=lambda: f"counts {expected}, not {self.latest}\nhistory: {self.history}\n{worker.tail()}",
        )


async def _wait_group_caught_up(
    bootstrap: str, group: str, topics: list[str], worker: _Worker, timeout: float = 30.0
) -> None:
    """Wait until ``group`` has committed the end offset of every partition of ``topics``."""
    settings = CommonSettings(kafka_bootstrap=bootstrap)
    lag: dict[str, int] = {}

    async def caught_up() -> bool:
        worker.check_alive()
        lag.update(await consumer_lag(settings, group, topics))
        return not any(lag.values())

    await eventually_async(
        caught_up,
        timeout=timeout,
        interval=0.3,
        what=lambda: f"group {group} caught up ({lag}):\n{worker.tail()}",
    )


async def _list_topics(bootstrap: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return await admin.list_topics()
    finally:
        await admin.close()


async def _describe_group(bootstrap: str, group: str) -> tuple[list[str], dict]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        groups = [g[0] for g in await admin.list_consumer_groups()]
        [response] = await admin.describe_consumer_groups([group])
        [description] = response.to_object()["groups"]
        return groups, description
    finally:
        await admin.close()


@pytest.mark.timeout(240)
def test_faust_group_by_and_changelog_table_survive_worker_restart(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Acceptance: the Kafka version in use works with faust-streaming's consumer group and a
    changelog-backed table. The table lives in memory, so the second worker can only produce the
    right totals by restoring it from the changelog topic."""
    app_id = unique_name("probe")
    source, output = f"{app_id}.words", f"{app_id}.counts"
    env = {
        **os.environ,
        "PROBE_BROKER": kafka_bootstrap,
        "PROBE_APP_ID": app_id,
        "PROBE_SOURCE": source,
        "PROBE_OUTPUT": output,
        "PROBE_DATADIR": str(tmp_path / "faust-data"),
        "PROBE_PARTITIONS": "3",
    }
    words = ["alpha", "beta", "gamma", "delta", "epsilon"]
    # Message keys are unrelated to the word, so group_by really has to move records between partitions.
    phase1 = [(f"msg-{i}", words[i % len(words)]) for i in range(60)]
    phase2 = [(f"msg-{i}", words[(i * 3) % len(words)]) for i in range(60, 100)]
    after1 = dict(Counter(w for _, w in phase1))
    after2 = dict(Counter(w for _, w in phase1 + phase2))
    assert set(Counter(w for _, w in phase2)) == set(words)  # every count must be re-emitted by worker 2

    async def run() -> None:
        await create_topics(kafka_bootstrap, {source: 3, output: 1})

        async with _CountsReader(kafka_bootstrap, output) as reader:
            first = _Worker(env, tmp_path / "worker1.log", tmp_path)
            try:
                # Produce only once the worker is ready: faust 0.15.3 can fetch a backlog before it seeks
                # to the committed offsets during startup recovery, and so process part of it twice.
                await first.wait_ready()
                await _produce(kafka_bootstrap, source, phase1)
                await reader.wait_for(after1, first)
                topics = await _list_topics(kafka_bootstrap)
                # faust names it "<agent>-<source>-<group_by name>-repartition".
                repartition = [t for t in topics if t.endswith(f"-{source}-word-repartition")]
                changelog = [t for t in topics if t.startswith(app_id) and t.endswith("-changelog")]
                assert len(repartition) == 1, topics
                assert changelog == [f"{app_id}-word-counts-changelog"], topics
                # Offsets committed for everything processed, so the restart neither skips nor replays.
                await _wait_group_caught_up(kafka_bootstrap, app_id, [source, *repartition], first)
            finally:
                code = first.stop()
            assert code == 0, first.tail()

            second = _Worker(env, tmp_path / "worker2.log", tmp_path)
            try:
                await second.wait_ready()  # the table has been restored from the changelog by now
                assert "Restoring state from changelog topics" in second.log_path.read_text()
                await _produce(kafka_bootstrap, source, phase2)
                await reader.wait_for(after2, second)
                groups, description = await _describe_group(kafka_bootstrap, app_id)
                assert app_id in groups
                assert description["error_code"] == 0
                assert description["state"] == "Stable"
                assert description["protocol_type"] == "consumer"
                assert len(description["members"]) == 1
            finally:
                code = second.stop()
            assert code == 0, second.tail()

    asyncio.run(run())
