"""faust's aiokafka consumer with a cheaper hand-off of each fetched message to the agents.

For every message, faust's fetcher runs ``wait_first(callback(message), suspend_flow.wait())``:
four tasks and an ``asyncio.wait``, so that a delivery blocked on a full stream buffer can be
abandoned when a rebalance suspends the flow. That is about a fifth of a worker's main-thread CPU.
Almost every delivery completes without ever blocking, so here the delivery coroutine is first
run eagerly; only when it does block (back-pressure) is it finished under faust's original race
with ``suspend_flow``, unchanged. When the flow is suspended or the service is stopping, faust's
path is taken from the start.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any

import faust
from faust.transport.drivers.aiokafka import Consumer
from mode.services import WaitResults


class _Resumed:
    """Awaitable that finishes a coroutine which already ran up to its first suspension."""

    def __init__(self, coro: Coroutine[Any, Any, Any], blocked_on: Any) -> None:
        self.coro, self.blocked_on = coro, blocked_on

    def __await__(self) -> Generator[Any, Any, Any]:
        # A hand-written ``yield from``: hand the awaited future to the task, relay its outcome back.
        pending = self.blocked_on
        while True:
            try:
                sent = yield pending
            except GeneratorExit:
                self.coro.close()
                raise
            except BaseException as exc:
                try:
                    pending = self.coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    pending = self.coro.send(sent)
                except StopIteration as stop:
                    return stop.value


async def eager_wait_first(
    service: Any, coros: tuple[Any, ...], fallback: Callable[..., Awaitable[WaitResults]]
) -> WaitResults:
    """``service.wait_first(delivery, suspended)`` that runs ``delivery`` inline until it blocks.

    ``fallback`` is mode's ``wait_first``; it gets every other call, and the blocked deliveries.
    """
    if (
        len(coros) == 2
        and isinstance(coros[0], Coroutine)
        and isinstance(coros[1], Coroutine)
        and not service.suspend_flow.is_set()
        and not service._stopped.is_set()
        and not service._crashed.is_set()
    ):
        delivery, suspended = coros
        try:
            blocked_on = delivery.send(None)
        except StopIteration as stop:
            suspended.close()
            return WaitResults([delivery], [stop.value], False)
        except BaseException:
            suspended.close()
            raise
        return await fallback(_Resumed(delivery, blocked_on), suspended)
    return await fallback(*coros)


class EagerDeliveryConsumer(Consumer):
    async def wait_first(self, *coros: Any, timeout: Any = None) -> WaitResults:
        if timeout is not None:
            return await super().wait_first(*coros, timeout=timeout)
        return await eager_wait_first(self, coros, super().wait_first)


def use_eager_delivery(app: faust.App) -> None:
    """Make ``app`` create :class:`EagerDeliveryConsumer` (call before the worker starts)."""
    app.transport.Consumer = EagerDeliveryConsumer  # type: ignore[misc]
