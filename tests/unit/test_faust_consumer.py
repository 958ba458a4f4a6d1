"""The eager hand-off of fetched messages: same outcome as mode's ``wait_first``, fewer tasks."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from mode import Service
from mode.services import WaitResults
from mode.utils.locks import Event

from services.common.faust_consumer import eager_wait_first

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")  # a coroutine left un-awaited fails


class FakeConsumer(Service):
    """A mode service with the consumer's ``suspend_flow`` event (what faust's fetcher races)."""

    def __init__(self) -> None:
        super().__init__()
        self.suspend_flow = Event()
        self.fallback_calls: list[tuple[Any, ...]] = []

    async def fallback(self, *coros: Any) -> WaitResults:
        self.fallback_calls.append(coros)
        return await Service.wait_first(self, *coros)

    async def hand_off(self, delivery: Any) -> WaitResults:
        return await eager_wait_first(self, (delivery, self.suspend_flow.wait()), self.fallback)


async def deliver(log: list[str], gate: asyncio.Future[None] | None = None) -> str:
    log.append("start")
    try:
        if gate is not None:
            await gate
    except asyncio.CancelledError:
        log.append("cancelled")
        raise
    log.append("done")
    return "delivered"


def test_a_delivery_that_does_not_block_runs_inline() -> None:
    async def run() -> tuple[WaitResults, FakeConsumer, list[str]]:
        consumer, log = FakeConsumer(), []
        return await consumer.hand_off(deliver(log)), consumer, log

    result, consumer, log = asyncio.run(run())
    assert result.results == ["delivered"] and not result.stopped
    assert log == ["start", "done"]
    assert consumer.fallback_calls == []  # no tasks, no asyncio.wait


def test_a_blocked_delivery_is_finished_by_the_original_race() -> None:
    async def run() -> tuple[WaitResults, FakeConsumer, list[str]]:
        consumer, log = FakeConsumer(), []
        gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(0.05, gate.set_result, None)
        return await consumer.hand_off(deliver(log, gate)), consumer, log

    result, consumer, log = asyncio.run(run())
    assert result.results == ["delivered"]
    assert log == ["start", "done"]  # started once, resumed where it blocked
    assert len(consumer.fallback_calls) == 1


def test_a_blocked_delivery_is_abandoned_when_the_flow_is_suspended() -> None:
    async def run() -> tuple[WaitResults, list[str], asyncio.Future[None]]:
        consumer, log = FakeConsumer(), []
        gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(0.05, consumer.suspend_flow.set)
        return await consumer.hand_off(deliver(log, gate)), log, gate

    result, log, gate = asyncio.run(run())
    assert result.results == [True]  # the suspend_flow wait won, as in faust's own race
    assert log == ["start", "cancelled"]
    assert gate.cancelled()


def test_when_the_flow_is_already_suspended_nothing_runs_inline() -> None:
    async def run() -> tuple[FakeConsumer, list[str]]:
        consumer, log = FakeConsumer(), []
        consumer.suspend_flow.set()
        gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await consumer.hand_off(deliver(log, gate))
        return consumer, log

    consumer, log = asyncio.run(run())
    assert len(consumer.fallback_calls) == 1
    assert "done" not in log


@pytest.mark.parametrize("blocks", [False, True])
def test_errors_of_the_delivery_propagate(blocks: bool) -> None:
    async def failing(gate: asyncio.Future[None] | None) -> None:
        if gate is not None:
            await gate
        raise ValueError("cannot deliver")

    async def run() -> None:
        consumer = FakeConsumer()
        gate = None
        if blocks:
            gate = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_later(0.02, gate.set_result, None)
        await consumer.hand_off(failing(gate))

    with pytest.raises(ValueError, match="cannot deliver"):
        asyncio.run(run())
