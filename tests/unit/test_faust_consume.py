"""Inline delivery of fetched messages (services/runtime/consume.py): the copied fetch loop is faust's
but for the delivery lines, and a delivery that has to wait still races faust's flow suspension. The
fetch wait does not sit out a second while a partition held back for pressure drains; a full stream
buffer is waited for once per block of free slots; the conductor's producer-buffer check is cheap."""

from __future__ import annotations

import ast
import asyncio
import inspect
import textwrap
from collections.abc import MutableMapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import faust.transport.consumer as faust_consumer
import pytest
from faust.types import TP
from mode import Service

from services.runtime import consume

FAUST_DELIVERY = [
    "await self.wait_first(",
    "    callback(message), self.suspend_flow.wait()",
    ")",
]


def _method_lines(source: str, cls: str, name: str) -> list[str]:
    """The source lines of ``cls.name`` in ``source`` (decorators and def line included)."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == cls:
            for item in node.body:
                if isinstance(item, ast.AsyncFunctionDef) and item.name == name:
                    assert item.end_lineno is not None
                    return source.splitlines()[item.lineno - 1 : item.end_lineno]
    raise AssertionError(f"{cls}.{name} not found")


def _split_delivery(lines: list[str], start: str, end: str | None) -> tuple[list[str], list[str], list[str]]:
    """(lines before, the delivery lines, lines after): from the line ``start`` through the line
    ``end`` (None: the delivery is ``FAUST_DELIVERY``'s three lines), stripped of indentation."""
    stripped = [line.strip() for line in lines]
    i = stripped.index(start)
    j = stripped.index(end, i) + 1 if end is not None else i + len(FAUST_DELIVERY)
    return lines[:i], lines[i:j], lines[j:]


def test_the_copied_fetch_loop_is_faust_s_but_for_the_delivery_lines() -> None:
    """A faust upgrade that changes ``Consumer._drain_messages`` fails here: re-copy it then."""
    theirs = _method_lines(Path(inspect.getfile(faust_consumer)).read_text(), "Consumer", "_drain_messages")
    ours = _method_lines(Path(inspect.getfile(consume)).read_text(), "_FetchLoop", "_drain_messages")
    ours = [line.replace("  # noqa: SIM102", "") for line in ours]
    ours = [line for line in ours if line.strip() not in ("# fmt: off", "# fmt: on")]
    assert ours[0] == theirs[0].replace("(self, fetcher", "(self: Any, fetcher")
    their_before, their_delivery, their_after = _split_delivery(theirs, FAUST_DELIVERY[0], None)
    our_before, our_delivery, our_after = _split_delivery(
        ours, "# engage: inline delivery", "# engage: end of inline delivery"
    )
    assert [line.strip() for line in their_delivery] == [line.strip() for line in FAUST_DELIVERY]
    assert our_before[1:] == their_before[1:]
    assert our_after == their_after
    # With the flow suspended, the copy runs faust's own lines (one level deeper, under the ``if``).
    delivery = textwrap.dedent("\n".join(our_delivery[1:-1])).splitlines()
    # First, with the flow running, wait for room in a full stream buffer (once per block of slots).
    assert delivery[:4] == [
        "if not self.suspend_flow.is_set():",
        "    full = room_for(self, tp)",
        "    if full is not None:",
        "        await full",
    ]
    delivery = delivery[4:]
    assert delivery[0] == "if self.suspend_flow.is_set():"
    assert [line.removeprefix("    ") for line in delivery[1:4]] == FAUST_DELIVERY
    assert delivery[4:] == [
        "else:",
        "    waiting = deliver(self, callback(message))",
        "    if waiting is not None:",
        "        await waiting",
    ]


def test_faust_apps_use_the_copied_loop(tmp_path: Path) -> None:
    from services.common.settings import EnrichSettings
    from services.runtime.app import faust_app

    faust_app(EnrichSettings(), "consume-probe", tmp_path, "127.0.0.1", 1)
    assert faust_consumer.Consumer._drain_messages is consume._drain_messages


class _Consumer(Service):
    """What ``deliver`` uses of faust's consumer: mode's ``wait_first`` and the flow suspension event."""

    def __init__(self) -> None:
        super().__init__()
        self.suspend_flow = asyncio.Event()


def test_a_delivery_that_need_not_wait_finishes_inline() -> None:
    async def run() -> list[str]:
        consumer, log = _Consumer(), []

        async def callback() -> None:  # as faust's conductor with room in the stream's buffer
            log.append("delivered")

        assert consume.deliver(consumer, callback()) is None
        log.append("after")
        return log

    assert asyncio.run(run()) == ["delivered", "after"]


def test_a_delivery_that_waits_is_finished_as_faust_would() -> None:
    async def run() -> list[Any]:
        consumer, log = _Consumer(), []
        room: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        async def callback() -> str:
            log.append("started")
            log.append(await room)  # e.g. a full stream buffer
            return "done"

        waiting = consume.deliver(consumer, callback())
        assert waiting is not None and log == ["started"]
        asyncio.get_running_loop().call_soon(room.set_result, "room")
        results = await waiting
        log.append(results.results)
        return log

    assert asyncio.run(run()) == ["started", "room", ["done"]]


def test_a_waiting_delivery_is_abandoned_when_the_flow_is_suspended() -> None:
    async def run() -> list[Any]:
        consumer, log = _Consumer(), []
        never: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def callback() -> None:
            try:
                await never
            except asyncio.CancelledError:
                log.append("cancelled")
                raise

        waiting = consume.deliver(consumer, callback())
        assert waiting is not None
        asyncio.get_running_loop().call_soon(consumer.suspend_flow.set)
        results = await waiting
        await asyncio.sleep(0)
        log.append(results.results)
        return log

    assert asyncio.run(run()) == ["cancelled", [True]]


def test_a_failing_delivery_raises_whether_it_waited_or_not() -> None:
    async def run() -> None:
        consumer = _Consumer()

        async def fails_at_once() -> None:
            raise ValueError("at once")

        with pytest.raises(ValueError, match="at once"):
            consume.deliver(consumer, fails_at_once())

        async def fails_later() -> None:
            await asyncio.sleep(0)
            raise ValueError("later")

        waiting = consume.deliver(consumer, fails_later())
        assert waiting is not None
        with pytest.raises(ValueError, match="later"):
            await waiting

    asyncio.run(run())


class _Fetching:
    """faust's own partition bookkeeping (active, paused, held back for pressure) over four partitions;
    ``fetches`` records the (partitions, timeout) each fetch would have asked faust's consumer for."""

    _get_active_partitions: Any = faust_consumer.Consumer._get_active_partitions
    _set_active_tps: Any = faust_consumer.Consumer._set_active_tps
    on_buffer_full: Any = faust_consumer.Consumer.on_buffer_full

    def __init__(self) -> None:
        self.tps = {TP("raw", p) for p in range(4)}
        self._active_partitions: set[TP] | None = None
        self._paused_partitions: set[TP] = set()
        self._buffered_partitions: set[TP] = set()
        self.flow_active = True
        self.app = SimpleNamespace(client_only=False, in_recovery=False)
        self.fetches: list[tuple[set[TP], float]] = []

    def assignment(self) -> set[TP]:
        return set(self.tps)


@pytest.fixture
def fetching(monkeypatch: pytest.MonkeyPatch) -> _Fetching:
    async def faust_fetch(self: _Fetching, timeout: float) -> tuple[dict[TP, list[Any]], set[TP]]:
        active = set(self._get_active_partitions())
        self.fetches.append((active, timeout))
        return {}, active

    monkeypatch.setattr(consume, "_faust_wait_next_records", faust_fetch)
    return _Fetching()


def test_faust_apps_wrap_the_fetch_wait(tmp_path: Path) -> None:
    from services.common.settings import EnrichSettings
    from services.runtime.app import faust_app

    app = faust_app(EnrichSettings(), "consume-probe", tmp_path, "127.0.0.1", 1)
    assert faust_consumer.Consumer._wait_next_records is consume._wait_next_records
    assert faust_consumer.Consumer.on_buffer_drop is consume._on_buffer_drop
    # What ``room_for`` reads of faust: the conductor's partition → channels index, and each
    # channel's flow-control queue with its low mark (an upgrade that renames them fails here).
    assert isinstance(cast(Any, app.topics)._tp_index, MutableMapping)
    queue = app.topic("probe").queue
    assert 0 < queue.pressure_drop_size < queue.maxsize and not queue.full()


def test_fetches_keep_faust_s_timeout_while_no_partition_is_held_back(fetching: _Fetching) -> None:
    asyncio.run(consume._wait_next_records(fetching, 1.0))
    assert fetching.fetches == [(fetching.tps, 1.0)]


def test_a_fetch_beside_a_held_back_partition_is_short(fetching: _Fetching) -> None:
    """The regression: faust fetched the other partitions for a second while the held-back one drained."""
    held = TP("raw", 0)
    fetching.on_buffer_full(held)
    asyncio.run(consume._wait_next_records(fetching, 1.0))
    assert fetching.fetches == [(fetching.tps - {held}, consume.HELD_BACK_FETCH_SECONDS)]
    assert consume.HELD_BACK_FETCH_SECONDS < 1.0


def test_with_every_partition_held_back_a_drained_buffer_ends_the_wait(
    fetching: _Fetching, monkeypatch: pytest.MonkeyPatch
) -> None:
    """faust slept a fixed second here; the wrapper fetches as soon as one buffer drains (the idle
    bound is raised to an hour, so only the drop can end the wait within the test's timeout)."""
    monkeypatch.setattr(consume, "IDLE_WAIT_SECONDS", 3600.0)
    for tp in fetching.tps:
        fetching.on_buffer_full(tp)
    drained = TP("raw", 2)

    async def run() -> None:
        waiting = asyncio.ensure_future(consume._wait_next_records(fetching, 1.0))
        await asyncio.sleep(0.01)
        assert not waiting.done() and fetching.fetches == []
        consume._on_buffer_drop(fetching, drained)
        await asyncio.wait_for(waiting, 30)

    asyncio.run(run())
    assert fetching.fetches == [({drained}, consume.HELD_BACK_FETCH_SECONDS)]


def test_with_nothing_drained_the_wait_ends_after_faust_s_second_without_a_fetch(
    fetching: _Fetching, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(consume, "IDLE_WAIT_SECONDS", 0.01)
    for tp in fetching.tps:
        fetching.on_buffer_full(tp)
    records, active = asyncio.run(consume._wait_next_records(fetching, 1.0))
    assert (records, active, fetching.fetches) == ({}, set(), [])


def test_with_the_flow_stopped_faust_s_wait_runs_unchanged(fetching: _Fetching) -> None:
    fetching.flow_active = False
    fetching.on_buffer_full(TP("raw", 0))
    asyncio.run(consume._wait_next_records(fetching, 1.0))
    assert fetching.fetches == [(fetching.tps - {TP("raw", 0)}, 1.0)]


class _Buffer:
    """A stream buffer as the conductor sees it: mode's flow-control queue, small."""

    def __init__(self, maxsize: int = 10) -> None:
        from mode.utils.queues import FlowControlEvent, FlowControlQueue

        flow = FlowControlEvent()
        flow.resume()
        self.queue: Any = FlowControlQueue(maxsize=maxsize, flow_control=flow)


class _Feeding(_Consumer):
    """The consumer with the conductor's index of which stream buffers each partition feeds."""

    def __init__(self, index: dict[TP, set[Any]]) -> None:
        super().__init__()
        self.app = SimpleNamespace(topics=SimpleNamespace(_tp_index=index))


def test_a_partition_whose_buffers_have_room_is_delivered_at_once() -> None:
    tp = TP("raw", 0)
    buffer = _Buffer()
    for n in range(9):
        buffer.queue.put_nowait(n)
    assert consume.room_for(_Feeding({tp: {buffer}}), tp) is None
    assert consume.room_for(_Feeding({}), tp) is None


def test_a_full_buffer_is_waited_for_until_it_drained_to_its_low_mark(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One wait for a block of free slots, not one per message (mode's low mark: 40 % of 20 = 8),
    ended by the queue's pressure-drop signal (the bound on the wait is raised to an hour)."""
    monkeypatch.setattr(consume, "DRAIN_WAIT_SECONDS", 3600.0)
    tp = TP("raw", 0)
    buffer = _Buffer(20)

    async def run() -> list[int]:
        consumer = _Feeding({tp: {buffer, _Buffer()}})
        # As faust's conductor fills it: the drop signal reaches the consumer's on_buffer_drop.
        signal = consume._drained(consumer).set
        for n in range(20):
            buffer.queue.put_nowait_enhanced(n, on_pressure_high=lambda: None, on_pressure_drop=signal)
        waiting = consume.room_for(consumer, tp)
        assert waiting is not None
        task = asyncio.ensure_future(cast(Any, waiting))
        sizes = []
        while not task.done():
            buffer.queue.get_nowait()  # the agent taking events
            sizes.append(buffer.queue.qsize())
            await asyncio.sleep(0)
        await task
        return sizes

    sizes = asyncio.run(run())
    assert buffer.queue.pressure_drop_size == 8
    # It waited while the buffer was above its low mark, and went on a few steps after it (mode's
    # wait_first runs the wait as tasks), not once the buffer was empty.
    assert sizes[0] == 19 and 0 < sizes[-1] <= 8, sizes


def test_the_wait_for_room_ends_when_the_flow_is_suspended() -> None:
    tp = TP("raw", 0)
    buffer = _Buffer()
    for n in range(10):
        buffer.queue.put_nowait(n)

    async def run() -> None:
        consumer = _Feeding({tp: {buffer}})
        waiting = consume.room_for(consumer, tp)
        assert waiting is not None
        asyncio.get_running_loop().call_later(0.02, consumer.suspend_flow.set)
        await asyncio.wait_for(cast(Any, waiting), 30)

    asyncio.run(run())
    assert buffer.queue.qsize() == 10


def test_the_producer_buffer_check_flushes_only_over_its_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    from faust.transport.producer import ProducerBuffer

    assert ProducerBuffer.wait_until_ebb is consume._wait_until_ebb
    flushed: list[int] = []

    async def faust_ebb(self: Any) -> None:
        flushed.append(self.pending.qsize())

    monkeypatch.setattr(consume, "_faust_wait_until_ebb", faust_ebb)

    async def run() -> None:
        buffer = SimpleNamespace(
            app=SimpleNamespace(conf=SimpleNamespace(producer_threaded=False)),
            queue=None,
            pending=asyncio.Queue(),
            max_messages=3,
        )
        for n in range(3):
            buffer.pending.put_nowait(n)
        await consume._wait_until_ebb(buffer)
        buffer.pending.put_nowait(3)
        await consume._wait_until_ebb(buffer)

    asyncio.run(run())
    assert flushed == [4]


def test_faust_producers_keep_watching_every_topic(tmp_path: Path) -> None:
    """The aiokafka producer faust makes for a worker keeps its metadata on every topic
    (services.common.kafka.keep_all_topics; the broker behaviour is in test_producer_metadata.py)."""
    from services.common.settings import EnrichSettings
    from services.runtime.app import faust_app

    app = faust_app(EnrichSettings(), "producer-probe", tmp_path, "127.0.0.1", 1)

    async def tracked_after_a_new_topic() -> set[str]:
        producer = cast(Any, app.producer)._new_producer()  # built, never started: no broker needed
        producer.client.add_topic("brand.new-changelog")
        return set(producer.client._topics)

    assert asyncio.run(tracked_after_a_new_topic()) == set()
