"""What the integration tests and the benchmarks share: waiting for a condition, names of their own,
a running pipeline, reading a topic, HTTP readiness and Prometheus metrics.

Every wait here is for a condition, with a deadline and a failure that shows the last value seen:
a fixed sleep is either too short on a loaded machine or too long everywhere else.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from prometheus_client.parser import text_string_to_metric_families

from services.common.avro import codec
from services.common.settings import REPO_ROOT, CommonSettings
from services.drain import NotProcessed, wait_processed
from services.local.kafka import free_port

if TYPE_CHECKING:  # the pipeline builds its settings with namespaced() below
    import pytest

    from tests.integration.pipeline import Pipeline

T = TypeVar("T")
S = TypeVar("S", bound=CommonSettings)

# --------------------------------------------------------------------------------------------------
# Waiting for a condition
# --------------------------------------------------------------------------------------------------


class _Poll:
    """One wait's bookkeeping: its deadline, the last value (or ignored error) seen, the failure."""

    def __init__(
        self, timeout: float, what: str | Callable[[], str], ignore: tuple[type[BaseException], ...]
    ) -> None:
        self.timeout, self.what, self.ignore = timeout, what, ignore
        self.deadline = time.monotonic() + timeout
        self.last: Any = None

    def call(self, check: Callable[[], T]) -> T | BaseException:
        try:
            return check()
        except self.ignore as exc:
            return exc

    async def acall(self, check: Callable[[], Awaitable[T]]) -> T | BaseException:
        try:
            return await check()
        except self.ignore as exc:
            return exc

    def done(self, value: object) -> bool:
        """True for a truthy value; after the deadline, an AssertionError with the last value."""
        self.last = value
        if value and not isinstance(value, BaseException):
            return True
        if time.monotonic() < self.deadline:
            return False
        what = self.what() if callable(self.what) else self.what
        raise AssertionError(f"timed out after {self.timeout:g}s waiting for {what} (last: {value!r})")


def eventually(
    check: Callable[[], T],
    *,
    timeout: float,
    what: str | Callable[[], str],
    interval: float = 0.2,
    ignore: tuple[type[BaseException], ...] = (),
) -> T:
    """Call ``check`` until it returns something truthy, and return that.

    After ``timeout`` seconds: an AssertionError naming ``what`` (text, or a function for text that
    is only known then) and the last value. Errors of the ``ignore`` types count as not yet; any other
    error ends the wait, which is how a check says that waiting longer is pointless (a process died).
    """
    poll = _Poll(timeout, what, ignore)
    while not poll.done(poll.call(check)):
        time.sleep(interval)
    return poll.last  # type: ignore[no-any-return]


async def eventually_async(
    check: Callable[[], Awaitable[T]],
    *,
    timeout: float,
    what: str | Callable[[], str],
    interval: float = 0.2,
    ignore: tuple[type[BaseException], ...] = (),
) -> T:
    """:func:`eventually` for a coroutine function, waiting without blocking the event loop."""
    poll = _Poll(timeout, what, ignore)
    while not poll.done(await poll.acall(check)):  # noqa: ASYNC110 - a polled condition, not an event
        await asyncio.sleep(interval)
    return poll.last  # type: ignore[no-any-return]


# --------------------------------------------------------------------------------------------------
# Names of a test's own
# --------------------------------------------------------------------------------------------------


def unique_name(prefix: str) -> str:
    """``prefix`` (letters and digits only) and a random suffix: topic, group and table names no other
    test (or an earlier run against the same broker) uses."""
    return f"{re.sub(r'[^a-z0-9]', '', prefix.lower())[:24]}{uuid.uuid4().hex[:6]}"


def namespaced(cls: type[S], bootstrap: str, namespace: str, root: Path | None = None, **overrides: Any) -> S:
    """Settings of ``cls`` whose Kafka topics (``<namespace>.<name>``) and consumer groups
    (``<namespace>-<service>``) are the namespace's own; with ``root``, also free web ports, data
    directories and a chDB path under it. Every settings class gets the same names from the same
    namespace, so the services of one pipeline find each other."""
    values: dict[str, Any] = {"kafka_bootstrap": bootstrap}
    for name, field in cls.model_fields.items():
        if name.startswith("topic_") and field.annotation is str:
            values[name] = f"{namespace}.{name.removeprefix('topic_')}"
        elif name.endswith("_app_id"):
            values[name] = f"{namespace}-{name.removesuffix('_app_id')}"
        elif root is None:
            continue
        elif name.endswith("_web_port"):
            values[name] = free_port()
        elif name.endswith("_data_dir"):
            values[name] = root / name.removesuffix("_data_dir")
        elif name == "clickhouse_dsn":
            values[name] = f"chdb://{root / 'clickhouse'}"
    return cls(**{**values, **overrides})


# --------------------------------------------------------------------------------------------------
# A running pipeline
# --------------------------------------------------------------------------------------------------


@contextmanager
def running_pipeline(
    bootstrap: str,
    tmp: pytest.TempPathFactory,
    prefix: str,
    start: tuple[str, ...] | None = None,
    **updates: Mapping[str, Any],
) -> Iterator[Pipeline]:
    """A :class:`Pipeline` in a namespace of its own (``prefix`` and a random suffix, also the name of
    its directory under ``tmp``), its workers stopped when the block ends.

    ``updates``: settings changed before anything starts, by service (``alerts={...}``). ``start``:
    the workers to start (default: the pipeline's own default; ``()``: none, the test starts them).
    """
    from tests.integration.pipeline import Pipeline

    name = unique_name(prefix)
    pipeline = Pipeline(bootstrap, tmp.mktemp(name), name)
    for service, update in updates.items():
        setattr(pipeline, service, getattr(pipeline, service).model_copy(update=dict(update)))
    try:
        if start is None:
            pipeline.start()
        elif start:
            pipeline.start(start)
        yield pipeline
    finally:
        pipeline.stop_all()


def engage_command(*args: str) -> list[str]:
    """The ``engage`` CLI with ``args``, as this interpreter runs it."""
    return [sys.executable, "-m", "services.cli", *args]


def run_engage(
    *args: str, env: Mapping[str, str], timeout: float = 120, cwd: Path = REPO_ROOT
) -> subprocess.CompletedProcess[str]:
    """Run ``engage args`` to the end in a process of its own; its output as text."""
    return subprocess.run(
        engage_command(*args), cwd=cwd, env=dict(env), capture_output=True, text=True, timeout=timeout
    )


# --------------------------------------------------------------------------------------------------
# Reading a topic
# --------------------------------------------------------------------------------------------------


def _client_options(kafka: CommonSettings | str) -> dict[str, Any]:
    return {"bootstrap_servers": kafka} if isinstance(kafka, str) else kafka.kafka_client_options()


async def create_topics(kafka: CommonSettings | str, partitions: Mapping[str, int]) -> None:
    """Create the topics named in ``partitions`` (name: partition count), each with one replica."""
    admin = AIOKafkaAdminClient(**_client_options(kafka))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, n, 1) for name, n in partitions.items()])
    finally:
        await admin.close()


async def read_topic(kafka: CommonSettings | str, topic: str, timeout: float = 60.0) -> list[ConsumerRecord]:
    """Every message of ``topic`` up to its end offsets now, in offset order per partition (partitions
    in order). ``kafka``: settings, or a bootstrap address."""
    consumer = AIOKafkaConsumer(
        topic, **_client_options(kafka), auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:

        async def assigned() -> set[TopicPartition]:  # once the topic's metadata is in
            return set(consumer.assignment())

        tps = sorted(
            await eventually_async(assigned, timeout=timeout, what=f"partitions of {topic}", interval=0.1),
            key=lambda tp: tp.partition,
        )
        ends = await consumer.end_offsets(tps)
        got: dict[TopicPartition, list[ConsumerRecord]] = {tp: [] for tp in tps}

        def behind() -> dict[int, int]:
            return {tp.partition: ends[tp] - _after(got[tp]) for tp in tps if _after(got[tp]) < ends[tp]}

        async def read_to_end() -> bool:
            for tp, messages in (await consumer.getmany(timeout_ms=500)).items():
                got[tp].extend(messages)
            return not behind()

        await eventually_async(
            read_to_end, timeout=timeout, what=lambda: f"{topic} read to its end (behind: {behind()})"
        )
        return [m for tp in tps for m in got[tp] if m.offset < ends[tp]]
    finally:
        await consumer.stop()


def _after(messages: list[ConsumerRecord]) -> int:
    """The offset after the last of ``messages`` (0 for none)."""
    return messages[-1].offset + 1 if messages else 0


async def read_records(kafka: CommonSettings | str, topic: str, subject: str) -> list[dict[str, Any]]:
    """Every message of ``topic`` (as :func:`read_topic`), decoded with the Avro codec of ``subject``."""
    decoder = codec(subject)
    return [decoder.decode(m.value) for m in await read_topic(kafka, topic)]


# --------------------------------------------------------------------------------------------------
# HTTP readiness and metrics
# --------------------------------------------------------------------------------------------------


def wait_http_ready(
    url: str,
    *,
    timeout: float,
    process: subprocess.Popen[Any] | None = None,
    log: Callable[[], str] = str,
    interval: float = 0.2,
) -> None:
    """Wait until GET ``url`` answers 200. With ``process``: fail at once if it exits, with ``log()``
    (its log's tail) in the message."""
    last: list[str] = ["no answer"]

    def ready() -> bool:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}:\n{log()}")
        try:
            response = httpx.get(url, timeout=2)
        except httpx.HTTPError as exc:
            last[0] = repr(exc)
            return False
        last[0] = f"{response.status_code} {response.text[:200]}"
        return response.status_code == 200

    eventually(ready, timeout=timeout, interval=interval, what=lambda: f"{url} ready ({last[0]})\n{log()}")


def metric_value(text: str, name: str, labels: Mapping[str, str] | None = None) -> float:
    """The sum of the samples named ``name`` in Prometheus text ``text`` whose labels include
    ``labels`` (0 when there are none). A counter's samples are named with ``_total``."""
    wanted = dict(labels or {})
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and wanted.items() <= sample.labels.items()
    )


def scrape(url: str, name: str, labels: Mapping[str, str] | None = None) -> float:
    """:func:`metric_value` of what ``url`` (a ``/metrics`` endpoint) serves now."""
    response = httpx.get(url, timeout=10)
    response.raise_for_status()
    return metric_value(response.text, name, labels)


# --------------------------------------------------------------------------------------------------
# A stuck worker's own account
# --------------------------------------------------------------------------------------------------

DUMP_MARKER = "--- asyncio await chains ---"


def task_dump(pid: int, log: Path, timeout: float = 15.0) -> str:
    """Send SIGUSR1 to a worker and return what it then wrote to ``log``: every task's await chain, its
    consumer's offsets and its producer's queues (docs/runbook.md), for the message of a test that found
    it stuck. Waits for the dump to reach its last part (the producer) rather than for a fixed time."""
    start = log.stat().st_size if log.exists() else 0
    try:
        os.kill(pid, signal.SIGUSR1)
    except OSError as exc:
        return f"(no dump from pid {pid}: {exc})"

    def dumped() -> str:
        text = log.read_bytes()[start:].decode(errors="replace")
        at = text.find(DUMP_MARKER)
        return text if at >= 0 and "\nproducer" in text[at:] else ""

    try:
        return eventually(dumped, timeout=timeout, what=f"the task dump of pid {pid} in {log}")
    except AssertionError as exc:
        return f"({exc})\n{log.read_bytes()[start:].decode(errors='replace')}"


def drain_pipeline(p: Pipeline, timeout: float) -> None:
    """Wait until every stage has processed everything sent so far; if a stage is still behind after
    ``timeout`` seconds, fail with each worker's log tail and its own dump of where it waits. Keep
    ``timeout`` below the test's own time limit, or the limit ends the test before the dumps are taken."""
    try:
        asyncio.run(wait_processed(p.enrich, p.alerts, p.loader, timeout=timeout))
    except NotProcessed as exc:
        dumps = "\n\n".join(
            f"--- {name}.log ---\n{p.log_tail(name, 100)}\n--- its dump ---\n"
            + (task_dump(proc.pid, p.root / f"{name}.log") if proc.poll() is None else "(exited)")
            for name, proc in p.procs.items()
        )
        raise AssertionError(f"{exc}\n{dumps}") from exc
