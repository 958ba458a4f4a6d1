"""Where every asyncio task is waiting, down to the innermost await.

``Task.print_stack`` shows only a task's outermost coroutine frame, which for a stalled worker says
"the agent is parked" and nothing about on what. Following ``cr_await`` (and generators'
``gi_yieldfrom``/``ag_await``) down to the awaited future names the actual wait: a send future, an
event, a queue. Running async generators are listed separately, because the object an ``async for``
awaits does not link back to its generator.
"""

from __future__ import annotations

import asyncio
import gc
import types
from collections.abc import Iterator
from typing import Any

_MAX_DEPTH = 64


def _frame_of(obj: Any) -> types.FrameType | None:
    for attr in ("cr_frame", "ag_frame", "gi_frame"):
        frame = getattr(obj, attr, None)
        if frame is not None:
            return frame  # type: ignore[no-any-return]
    return None


def _awaited_by(obj: Any) -> Any:
    for attr in ("cr_await", "ag_await", "gi_yieldfrom"):
        inner = getattr(obj, attr, None)
        if inner is not None:
            return inner
    return None


def await_chain(obj: Any) -> Iterator[str]:
    """One line per link from ``obj`` (a coroutine or generator) to what it finally waits on."""
    for _ in range(_MAX_DEPTH):
        if obj is None:
            return
        frame = _frame_of(obj)
        if frame is not None:
            code = frame.f_code
            yield f"{code.co_filename}:{frame.f_lineno} in {code.co_name}"
        elif isinstance(obj, asyncio.Future):
            yield f"waits on {obj!r}"
            return
        else:
            yield f"waits on {type(obj).__name__}"
        obj = _awaited_by(obj)


def format_tasks() -> str:
    """Every task of the running loop and every suspended async generator, with its await chain."""
    lines: list[str] = []
    for task in sorted(asyncio.all_tasks(), key=lambda t: t.get_name()):
        lines.append(f"task {task.get_name()} ({'done' if task.done() else 'pending'}):")
        lines.extend(f"    {link}" for link in await_chain(task.get_coro()))
        # A coroutine awaiting a future holds only the future's iterator; the task knows the future.
        waiter = getattr(task, "_fut_waiter", None)
        if waiter is not None:
            lines.append(f"    task waits on {waiter!r}")
    generators = [o for o in gc.get_objects() if isinstance(o, types.AsyncGeneratorType)]
    for gen in generators:
        if gen.ag_frame is None:
            continue
        lines.append(f"async generator {gen.__qualname__}:")
        lines.extend(f"    {link}" for link in await_chain(gen))
    return "\n".join(lines)


def format_consumer(app: Any) -> str:
    """Per assigned partition: faust's committed and read offsets, acked offsets waiting for a
    contiguous commit, and whether the fetcher asks for it; plus aiokafka's fetch position. A
    partition whose position ran ahead of an offset that was never acked stops committing."""
    consumer = getattr(app, "_consumer", None)
    if consumer is None:
        return "consumer: not started"
    lines = ["consumer partitions:"]
    try:
        kafka = consumer._thread._ensure_consumer()
        assignment = kafka._subscription.subscription.assignment
    except Exception as exc:  # not assigned yet, or another driver
        return f"consumer: no assignment ({exc!r})"
    active = consumer._active_partitions or set()
    unacked: dict[Any, list[int]] = {}
    for message in list(consumer._unacked_messages):
        unacked.setdefault(message.tp, []).append(message.offset)
    for tp in sorted(assignment.tps):
        state = assignment.state_value(tp)
        faust_tp = (tp.topic, tp.partition)  # faust's TP and aiokafka's are equal as tuples
        acked = sorted(consumer._acked.get(faust_tp, []))
        pending = sorted(unacked.get(faust_tp, []))
        lines.append(
            f"  {tp.topic}[{tp.partition}] position={state._position} paused={state.paused}"
            f" committed={consumer._committed_offset.get(faust_tp)}"
            f" read={consumer._read_offset.get(faust_tp)}"
            f" fetching={faust_tp in active} buffered={faust_tp in consumer._buffered_partitions}"
            f" acked={len(acked)}{acked[:3]}..{acked[-1:]} unacked={len(pending)}{pending[:5]}"
        )
    lines.append(f"  flow active={app.flow_control.is_active()} generation={app.consumer_generation_id}")
    return "\n".join(lines)


def format_producer(app: Any) -> str:
    """aiokafka's producer as its sender sees it: the nodes with a produce request in flight, the
    muted partitions, per queued partition its leader and batches, the batches sent and not yet
    answered, each connection's unanswered requests and whether a metadata update is pending. A
    worker whose sends never complete is waiting on one of these."""
    producer = getattr(getattr(app, "producer", None), "_producer", None)
    if producer is None:
        return "producer: not started"
    sender = producer._sender
    accumulator = producer._message_accumulator
    client = producer.client
    lines = [
        f"producer: in flight to nodes {sorted(sender._in_flight)},"
        f" muted {sorted(f'{tp.topic}[{tp.partition}]' for tp in sender._muted_partitions)},"
        f" sender task {'done' if sender.sender_task is None or sender.sender_task.done() else 'running'}"
    ]
    for tp, batches in list(accumulator._batches.items()):
        records = [batch.record_count for batch in batches]
        leader = client.cluster.leader_for_partition(tp)
        lines.append(f"  queued {tp.topic}[{tp.partition}] leader={leader} records per batch={records}")
    sent = sorted(f"{b.tp.topic}[{b.tp.partition}]" for b in list(accumulator._pending_batches))
    lines.append(f"  sent, unanswered: {len(sent)} {sent[:8]}")
    for (node, group), conn in list(client._conns.items()):
        lines.append(
            f"  connection to node {node} ({getattr(group, 'name', group)}):"
            f" {len(conn._requests)} request(s) awaiting a response"
        )
    lines.append(
        f"  metadata update pending={client._md_update_fut is not None},"
        f" tracked topics={len(client._topics) or 'all'}"
    )
    return "\n".join(lines)
