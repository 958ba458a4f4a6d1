"""Two fixes to faust's consumer offset bookkeeping, so that a restarted worker neither skips nor stalls.

faust commits, per partition, the end of the run of consecutive acked offsets, and it treats a jump
in the offsets it reads as a *gap* (offsets compaction removed) that counts as acked. Around a
restart that goes wrong in two ways (faust-streaming issues #221 and #606):

- **Stale records after a seek.** Recovery seeks the stream partitions back to their committed
  offsets while the fetcher is already running. Records fetched before the seek are still handed to
  the streams afterwards, so the read offset jumps from the committed offset to a stale record's,
  and everything in between is marked as a gap: committed before it was processed. A crash then
  loses those messages (the fault tests caught events missing from ClickHouse after a SIGKILL).
- **Duplicate acks.** The gap's offsets are added to the acked list without removing the ones
  already there, so each offset appears twice and every commit round advances the committed offset
  by one: a worker that looks stuck with its lag barely moving.

:func:`install` patches ``faust.transport.consumer.Consumer``: records of a batch fetched before a
seek are not delivered, and their partitions are sought back so that they are fetched again
(at-least-once; the pipeline's per-key marks and insert tokens absorb a repeat);
and the acked list is deduplicated before each commit, which also no longer starts one offset past
the committed one.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from faust.transport.consumer import Consumer

log = logging.getLogger(__name__)

_EPOCH = "_engage_seek_epoch"


def _epoch(consumer: Any) -> int:
    return int(getattr(consumer, _EPOCH, 0))


def _bump(consumer: Any) -> None:
    setattr(consumer, _EPOCH, _epoch(consumer) + 1)


async def getmany(self: Any, timeout: float) -> AsyncIterator[tuple[Any, Any]]:
    """faust's ``Consumer.getmany``, but a batch whose fetch overlapped a seek is not delivered.

    The seek counter is read before the fetch: a seek that started or finished since then means the
    batch may hold records from before the seek (for some partitions or all), which must not be
    read as the continuation of the new position. Records of stream partitions faust does not
    fetch right now (paused) are not dropped silently either. In both cases the partition is sought
    back to its committed offset, so nothing fetched is lost: the consumer has already moved past
    those records.
    """
    epoch = _epoch(self)
    records, active_partitions = await self._wait_next_records(timeout)
    generation_id = self.app.consumer_generation_id
    if records is None or self.should_stop:
        return
    if not self.flow_active:
        log.debug("getmany called while flow not active: seek back to committed offsets")
        try:
            await self.perform_seek()
        except Exception as exc:
            log.warning("seek after inactive flow failed: %r", exc)
        return
    acks_enabled_for = self.app.topics.acks_enabled_for
    to_message = self._to_message
    undelivered: dict[Any, int] = {}
    for tp, record in self.scheduler.iterate(records):
        if not self.flow_active or self.app.consumer_generation_id != generation_id:
            break  # faust's own rule: a rebalance (or a stop) began; the new owner refetches
        deliverable = active_partitions is None or tp in active_partitions or tp in self._buffered_partitions
        if acks_enabled_for(tp.topic):
            if not deliverable or _epoch(self) != epoch:
                undelivered.setdefault(tp, record.offset)  # a partition's records come in order
                continue
        elif not deliverable:
            # Changelogs: recovery tracks their offsets itself (and stops reading them when done).
            continue
        self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
        yield tp, to_message(tp, record)
    for tp, offset in undelivered.items():
        # Back to the committed offset, not to the first record skipped here: records yielded before
        # this one may be dropped by the stream too (faust skips a message of a past generation or
        # one that arrives while flow control is off), and only the committed offset is known to be
        # no later than every message not yet acked. Without one yet, back to the beginning.
        committed = self._committed_offset.get(tp)
        if committed is None or committed < 0:
            committed = (await self.earliest_offsets(tp)).get(tp) or 0
        log.info(
            "%s: records from offset %d were not delivered; fetching again from %d", tp, offset, committed
        )
        await self.seek(tp, committed)
        if committed > 0:
            self._read_offset[tp] = committed - 1  # the last offset read, as after a seek to committed


def _perform_seek(original: Any) -> Any:
    async def perform_seek(self: Any) -> None:
        _bump(self)
        try:
            await original(self)
        finally:
            _bump(self)
        # faust's read offset is the last offset read, but the seek sets it to the committed one,
        # the next to read. Put it one back, so that a first record past it is a gap that starts
        # at the committed offset (compaction removed it) and the commit check below can tell.
        read, committed = self._read_offset, self._committed_offset
        for tp, offset in list(committed.items()):
            if offset and offset > 0 and read.get(tp) == offset:
                read[tp] = offset - 1

    perform_seek.__doc__ = original.__doc__
    return perform_seek


def _checked_new_offset(original: Any) -> Any:
    def _new_offset(self: Any, tp: Any) -> Any:
        acked = self._acked[tp]
        if len(acked) != len(set(acked)):
            acked[:] = sorted(set(acked))
        # The committed offset is the next one to process. faust lets the run start one past it
        # (``min(acked) - committed > 1``), which commits over an offset that was never acked.
        # (A committed offset of -1 or None means none yet: the first offset read then starts the run.)
        committed = self._committed_offset[tp]
        if (
            acked
            and committed is not None
            and committed >= 0
            and min(acked) > committed
            and not self._gap[tp].at(committed)
        ):
            return None
        return original(self, tp)

    return _new_offset


def install() -> None:
    """Patch faust's consumer (once per process)."""
    if getattr(Consumer, "_engage_offsets_fixed", False):
        return
    Consumer.getmany = getmany  # type: ignore[assignment,method-assign]
    Consumer.perform_seek = _perform_seek(Consumer.perform_seek)  # type: ignore[method-assign]
    Consumer._new_offset = _checked_new_offset(Consumer._new_offset)  # type: ignore[method-assign]
    Consumer._engage_offsets_fixed = True  # type: ignore[attr-defined]
