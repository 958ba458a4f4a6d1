"""Inline delivery of fetched messages (services/runtime/consume.py): the copied fetch loop is faust's
but for the delivery lines, and a delivery that has to wait still races faust's flow suspension."""

from __future__ import annotations

import ast
import asyncio
import inspect
import textwrap
from pathlib import Path
from typing import Any

import faust.transport.consumer as faust_consumer
import pytest
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
