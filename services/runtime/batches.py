"""Batches of faust events: taking them from a stream, decoding them, dead-lettering the bad ones.

faust acks a batch taken with :func:`take_events` only after the agent's loop body finished with it, so
everything sent for the batch (outputs, dead letters) is awaited before its offsets can be committed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, cast

import faust
from faust import Stream
from faust.types import EventT, TopicT

from services.common import metrics
from services.common.avro import AvroCodec, DecodeError
from services.common.dlq import dlq_headers


async def dead_letter(topic: TopicT, event: EventT, stage: str, reason: str, detail: str) -> Any:
    """Send the event's original bytes to ``topic`` with DLQ headers; returns the delivery future."""
    msg = event.message
    metrics.DLQ.labels(stage, reason).inc()
    return await topic.send(
        key=msg.key,
        value=msg.value,
        headers=dlq_headers(
            reason=reason,
            stage=stage,
            detail=detail,
            source_topic=msg.topic,
            partition=msg.partition,
            offset=msg.offset,
        ),
        force=True,
    )


def take_events(stream: faust.StreamT, max_: int, within: float) -> AsyncIterator[Sequence[EventT]]:
    """Batches of events, acked by faust only after the consumer's loop body finished with them."""
    return cast(Stream, stream).take_events(max_, within=within)


async def decode_batch(
    events: Sequence[EventT], decoder: AvroCodec, dlq_topic: TopicT, stage: str
) -> tuple[list[tuple[EventT, dict[str, Any]]], list[Any]]:
    """Decode a batch; undecodable messages go to the DLQ with the reason. Returns the decoded
    (event, record) pairs and the DLQ delivery futures, to be awaited with the batch's outputs."""
    decoded: list[tuple[EventT, dict[str, Any]]] = []
    pending: list[Any] = []
    for event in events:
        try:
            decoded.append((event, decoder.decode(event.message.value or b"")))
        except DecodeError as exc:
            pending.append(await dead_letter(dlq_topic, event, stage, exc.reason, str(exc)))
    return decoded, pending
