"""faust's fetch loop and flow control, patched so the agent is neither idled nor woken per message.

faust's fetch loop (``Consumer._drain_messages``) delivers each fetched message by racing the
conductor's callback against the consumer's *flow suspended* event, ``wait_first(callback(message),
suspend_flow.wait())``: four tasks and an ``asyncio.wait`` per message, although the callback almost
always finishes at once (the stream's buffer has room, flow control and the producer do not hold it
back). That race was the largest share of the enrich worker's per-message consume path.

:func:`install` replaces the loop with a copy that differs only in the delivery lines (between the
``engage:`` markers; ``tests/unit/test_faust_consume.py`` checks the copy against the installed
faust, so an upgrade that changes the loop is caught): while the flow is not suspended, the callback
is run in the fetch loop's own task up to its first wait. If it finishes there, the message is
delivered and nothing else happens; if it has to wait, the rest of it is raced against
``suspend_flow`` exactly as faust does. With the flow suspended, faust's own lines run.

The other patches keep faust's fetch and flow control from idling the agent or waking it per message
(they took the faust floor benchmark, the agent's shell with no work, from 6,647 to 12,125 events/s;
docs/scaling.md):

* A stream buffer under high pressure takes its partition out of the fetch set until it drains to its
  low mark. faust then fetched the other partitions with a one-second timeout, or, with none left,
  slept a fixed second; the buffer drained in a fraction of that and the agent idled for the rest
  (over half the floor's wall time). :func:`_wait_next_records` fetches for at most
  :data:`HELD_BACK_FETCH_SECONDS` while a partition is held back, and with none left it waits for the
  first ``on_buffer_drop`` (at most faust's second).
* A message for a full buffer made faust's conductor wait for one free slot, so every message after
  it cost a wake-up of the agent and of the fetch loop and a race in new tasks. :func:`room_for` lets
  the fetch loop wait once until the buffer is down to its low mark (the delivery lines above).
* The conductor's per-message producer-buffer check (:func:`_wait_until_ebb`) reads faust's
  ``producer_threaded`` setting once instead of per message.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Coroutine, Generator
from typing import Any, cast

from faust.transport.consumer import CONSUMER_FETCHING, Consumer
from faust.transport.producer import ProducerBuffer
from mode import Service, ServiceT


def deliver(consumer: Any, delivery: Coroutine[Any, Any, Any]) -> Awaitable[Any] | None:
    """Run ``delivery`` (the conductor's callback for one message) up to its first wait.

    None: it finished, the message is delivered. Otherwise the awaitable to await instead, which
    finishes the callback raced against the consumer's ``suspend_flow``, as faust's loop does.
    Exceptions of the callback propagate, as from faust's ``wait_first``.
    """
    try:
        pending = delivery.send(None)
    except StopIteration:
        return None
    return cast(
        Awaitable[Any], consumer.wait_first(_Resumed(delivery, pending), consumer.suspend_flow.wait())
    )


#: Longest wait for a full stream buffer's drop signal before its size is looked at again. mode's
#: queue signals (faust's ``on_buffer_drop``) when it drains to its low mark after high pressure,
#: which a full buffer has always passed through; this only bounds a wait whose signal went elsewhere.
DRAIN_WAIT_SECONDS = 0.05


def room_for(consumer: Any, tp: Any) -> Awaitable[Any] | None:
    """None if every stream buffer fed by ``tp`` has room; else an awaitable that ends once each
    full one has drained to its low mark (mode's pressure-drop size), raced against ``suspend_flow``.

    Delivering into a full buffer makes faust's conductor wait for one free slot, so every message
    after that is one wake-up of the agent, one of the fetch loop, and a few tasks to race the put
    (the largest share of the faust floor's profile). Waiting once until a block of slots is free
    turns that into one wait per block, and the messages after it are delivered inline."""
    channels = consumer.app.topics._tp_index.get(tp)
    if not channels:
        return None
    full = [chan.queue for chan in channels if chan.queue.full()]
    if not full:
        return None
    return cast(
        Awaitable[Any],
        consumer.wait_first(_drained_to_low_mark(consumer, full), consumer.suspend_flow.wait()),
    )


async def _drained_to_low_mark(consumer: Any, queues: list[Any]) -> None:
    drained = _drained(consumer)
    for queue in queues:
        drained.clear()
        while queue.qsize() > queue.pressure_drop_size:
            await _next_drop(drained, DRAIN_WAIT_SECONDS)
            drained.clear()


class _Resumed:
    """Awaitable continuing a coroutine that already ran to its first wait, which yielded ``pending``
    (what ``yield from`` would do with the coroutine from there: results, exceptions and
    cancellation pass through)."""

    def __init__(self, coro: Coroutine[Any, Any, Any], pending: Any) -> None:
        self.coro = coro
        self.pending = pending

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, pending = self.coro, self.pending
        while True:
            try:
                sent = yield pending
            except BaseException as exc:  # cancellation (or anything thrown in) goes to the coroutine
                try:
                    pending = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    pending = coro.send(sent)
                except StopIteration as stop:
                    return stop.value


class _FetchLoop:
    """Holder of the copied loop (a method body, indented as in faust, for a line-by-line check)."""

    # fmt: off
    async def _drain_messages(self: Any, fetcher: ServiceT) -> None:  # pragma: no cover
        # This is the background thread started by Fetcher, used to
        # constantly read messages using Consumer.getmany.
        # It takes Fetcher as argument, because we must be able to
        # stop it using `await Fetcher.stop()`.
        callback = self.callback
        getmany = self.getmany
        consumer_should_stop = cast(Service, self)._stopped.is_set
        fetcher_should_stop = cast(Service, fetcher)._stopped.is_set

        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        flag_consumer_fetching = CONSUMER_FETCHING
        set_flag = self.diag.set_flag
        unset_flag = self.diag.unset_flag
        commit_every = self._commit_every
        acks_enabled_for = self.app.topics.acks_enabled_for

        yield_every = 100
        num_since_yield = 0
        sleep = asyncio.sleep

        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(flag_consumer_fetching)
                ait = cast(AsyncIterator, getmany(timeout=1.0))

                # Sleeping because sometimes getmany is called in a loop
                # never releasing to the event loop
                await self.sleep(0)
                if not self.should_stop:
                    async for tp, message in ait:
                        num_since_yield += 1
                        if num_since_yield > yield_every:
                            await sleep(0)
                            num_since_yield = 0

                        offset = message.offset
                        r_offset = get_read_offset(tp)
                        if r_offset is None or offset >= r_offset:
                            gap = offset - (r_offset or 0)
                            # We have a gap in income messages
                            if gap > 1 and r_offset:
                                acks_enabled = acks_enabled_for(message.topic)
                                if acks_enabled:
                                    await self._add_gap(tp, r_offset + 1, offset)
                            if commit_every is not None:  # noqa: SIM102
                                if self._n_acked >= commit_every:
                                    self._n_acked = 0
                                    await self.commit()
                            # engage: inline delivery
                            if not self.suspend_flow.is_set():
                                full = room_for(self, tp)
                                if full is not None:
                                    await full
                            if self.suspend_flow.is_set():
                                await self.wait_first(
                                    callback(message), self.suspend_flow.wait()
                                )
                            else:
                                waiting = deliver(self, callback(message))
                                if waiting is not None:
                                    await waiting
                            # engage: end of inline delivery
                            set_read_offset(tp, offset)
                        else:
                            self.log.dev(
                                "DROPPED MESSAGE ROFF %r: k=%r v=%r",
                                offset,
                                message.key,
                                message.value,
                            )
                    unset_flag(flag_consumer_fetching)

        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                # we're already stopping so ignore
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                # we're already stopping so ignore
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            unset_flag(flag_consumer_fetching)
    # fmt: on


_drain_messages = _FetchLoop._drain_messages


#: Longest wait for a drained buffer: faust's own fixed sleep when no partition can be fetched.
IDLE_WAIT_SECONDS = 1.0
#: Fetch timeout while a partition is held back for pressure. A buffer holds about
#: stream_buffer_maxsize × 0.4 events (mode's low mark) when it lets its partition back in, a tenth
#: of a second of work or more at the rates here, so a fetch that returns within this is in time.
HELD_BACK_FETCH_SECONDS = 0.05

_faust_wait_next_records = Consumer._wait_next_records
_faust_on_buffer_drop = Consumer.on_buffer_drop


def _drained(consumer: Any) -> asyncio.Event:
    """The consumer's *a buffer drained* event (made on first use, in the fetch loop's event loop)."""
    event: asyncio.Event | None = consumer.__dict__.get("_engage_drained")
    if event is None:
        event = consumer.__dict__["_engage_drained"] = asyncio.Event()
    return event


async def _next_drop(drained: asyncio.Event, seconds: float) -> None:
    """Until ``drained`` is set (the caller cleared it before it looked), at most ``seconds``."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(drained.wait(), seconds)


async def _wait_next_records(self: Any, timeout: float) -> Any:
    """faust's ``_wait_next_records``, but it does not sit out a second while a held-back partition
    drains (module docstring)."""
    if self.flow_active and not self.app.client_only:
        if self._buffered_partitions:
            timeout = min(timeout, HELD_BACK_FETCH_SECONDS)
        drained = _drained(self)
        drained.clear()
        if not self._get_active_partitions():
            await _next_drop(drained, IDLE_WAIT_SECONDS)
            active = self._get_active_partitions()
            if not active:
                return {}, active
    return await _faust_wait_next_records(self, timeout)


def _on_buffer_drop(self: Any, tp: Any) -> None:
    """faust's ``on_buffer_drop``; then the fetch loop, if it waits for a drained buffer, goes on."""
    _faust_on_buffer_drop(self, tp)
    _drained(self).set()


_faust_wait_until_ebb = ProducerBuffer.wait_until_ebb


async def _wait_until_ebb(self: Any) -> None:
    """faust's ``ProducerBuffer.wait_until_ebb`` (the conductor awaits it for every message), with
    the ``producer_threaded`` setting read once: faust reads it on every call through its settings'
    attribute lookup, about a twentieth of the faust floor's time. faust's own runs when the buffer
    is over its limit."""
    threaded = self.__dict__.get("_engage_threaded")
    if threaded is None:
        threaded = self.__dict__["_engage_threaded"] = bool(self.app.conf.producer_threaded)
    queue = self.queue if threaded else self.pending
    if queue is not None and queue.qsize() > self.max_messages:
        await _faust_wait_until_ebb(self)


def install() -> None:
    """Patch faust's consumer and producer buffer (once per process)."""
    if getattr(Consumer, "_engage_patched", False):
        return
    Consumer._drain_messages = _drain_messages  # type: ignore[method-assign]
    Consumer._wait_next_records = _wait_next_records  # type: ignore[method-assign]
    Consumer.on_buffer_drop = _on_buffer_drop  # type: ignore[method-assign]
    ProducerBuffer.wait_until_ebb = _wait_until_ebb  # type: ignore[method-assign]
    Consumer._engage_patched = True  # type: ignore[attr-defined]
