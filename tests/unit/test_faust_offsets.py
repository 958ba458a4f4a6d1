"""The consumer offset fixes, on faust's own bookkeeping code with fake consumer state (no Kafka)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any, NamedTuple

from faust.transport.consumer import Consumer
from faust.types import TP
from intervaltree import IntervalTree

from services.runtime import offsets as faust_offsets

faust_offsets.install()

RAW = TP("raw", 0)
CHANGELOG = TP("app-table-changelog", 0)


class _Topics:
    def acks_enabled_for(self, topic: str) -> bool:
        return not topic.endswith("-changelog")


class _App:
    consumer_generation_id = 1
    topics = _Topics()

    class monitor:
        @staticmethod
        def track_tp_end_offset(tp: TP, offset: int) -> None:
            pass


class _Scheduler:
    @staticmethod
    def iterate(records: dict[TP, list[int]]) -> Any:
        return ((tp, r) for tp, rs in records.items() for r in rs)


class Record(NamedTuple):
    offset: int


class FakeConsumer:
    """The attributes faust's ``getmany`` reads, around fetched ``records`` (offsets per partition)."""

    def __init__(
        self,
        records: dict[TP, list[int]],
        active: set[TP],
        seek_after: int | None = None,
        committed: dict[TP, int] | None = None,
    ) -> None:
        self.app = _App()
        self.scheduler = _Scheduler()
        self.flow_active = True
        self.should_stop = False
        self._buffered_partitions: set[TP] = set()
        self._committed_offset: dict[TP, int | None] = dict(committed or {})
        self._read_offset: dict[TP, int | None] = {}
        self._records = {tp: [Record(o) for o in offsets] for tp, offsets in records.items()}
        self._active = active
        self._seek_after = seek_after
        self.delivered = 0
        self.seeks: dict[TP, int] = {}

    async def _wait_next_records(self, timeout: float) -> tuple[dict[TP, list[Record]], set[TP]]:
        if self._seek_after == 0:
            faust_offsets._bump(self)  # a seek ran while this batch was being fetched
        return self._records, self._active

    def highwater(self, tp: TP) -> int:
        return 1000

    def _to_message(self, tp: TP, record: Record) -> int:
        self.delivered += 1
        if self.delivered == self._seek_after:
            # A seek (recovery resuming the streams) runs while this message is being delivered.
            faust_offsets._bump(self)
        return record.offset

    async def earliest_offsets(self, *tps: TP) -> dict[TP, int]:
        return dict.fromkeys(tps, 3)  # retention removed offsets 0-2

    async def seek(self, tp: TP, offset: int) -> None:
        self.seeks[tp] = offset
        self._read_offset[tp] = offset


def _drain(consumer: FakeConsumer) -> list[tuple[TP, int]]:
    async def run() -> list[tuple[TP, int]]:
        return [item async for item in faust_offsets.getmany(consumer, timeout=1.0)]

    return asyncio.run(run())


def test_a_batch_without_a_seek_is_delivered_whole() -> None:
    c = FakeConsumer({RAW: [5, 6, 7]}, active={RAW})
    assert _drain(c) == [(RAW, 5), (RAW, 6), (RAW, 7)]
    assert c.seeks == {}


def test_records_fetched_across_a_seek_are_not_delivered_and_are_fetched_again() -> None:
    c = FakeConsumer({RAW: [740, 741, 742]}, active={RAW}, seek_after=1, committed={RAW: 700})
    # The first record was handed over before the seek; the rest would continue the old position.
    assert _drain(c) == [(RAW, 740)]
    # Back to the committed offset: only it is known to be no later than every unacked message.
    assert c.seeks == {RAW: 700}
    assert c._read_offset[RAW] == 699


def test_a_seek_during_the_fetch_drops_the_whole_batch() -> None:
    c = FakeConsumer({RAW: [740, 741]}, active={RAW}, seek_after=0, committed={RAW: 442})
    assert _drain(c) == []
    assert c.seeks == {RAW: 442}
    assert c._read_offset[RAW] == 441


def test_without_a_committed_offset_the_partition_is_read_again_from_its_beginning() -> None:
    c = FakeConsumer({RAW: [110, 111]}, active={RAW}, seek_after=0)
    assert _drain(c) == []
    assert c.seeks == {RAW: 3}


def test_a_paused_stream_partition_is_fetched_again_but_changelogs_are_left_to_recovery() -> None:
    c = FakeConsumer({CHANGELOG: [1, 2], RAW: [10, 11]}, active={CHANGELOG})
    assert _drain(c) == [(CHANGELOG, 1), (CHANGELOG, 2)]
    assert c.seeks == {RAW: 3}
    c = FakeConsumer({CHANGELOG: [1, 2], RAW: [10]}, active={RAW})
    assert _drain(c) == [(RAW, 10)]
    assert c.seeks == {}


def test_changelog_records_fetched_across_a_seek_are_still_delivered() -> None:
    # Recovery seeks only the stream partitions: a changelog record dropped here would never return.
    c = FakeConsumer({CHANGELOG: [7, 8], RAW: [30, 31]}, active={CHANGELOG, RAW}, seek_after=1)
    assert _drain(c) == [(CHANGELOG, 7), (CHANGELOG, 8)]
    assert c.seeks == {RAW: 3}


def test_a_seek_counts_while_it_runs_and_after_it_and_leaves_the_last_read_offset() -> None:
    class Seeking:
        def __init__(self) -> None:
            self._read_offset: dict[TP, int | None] = {}
            self._committed_offset: dict[TP, int | None] = {}

        async def original(self) -> None:
            assert faust_offsets._epoch(self) == 1  # a fetch started now sees the seek as begun
            self._read_offset.update({RAW: 442, CHANGELOG: None})
            self._committed_offset.update({RAW: 442})

    s = Seeking()
    asyncio.run(faust_offsets._perform_seek(Seeking.original)(s))
    assert faust_offsets._epoch(s) == 2
    # 441 was the last offset read; a first record at 443 makes 442..443 a gap.
    assert s._read_offset == {RAW: 441, CHANGELOG: None}


class Acks:
    def __init__(self, acked: list[int], committed: int) -> None:
        self._acked: defaultdict[TP, list[int]] = defaultdict(list, {RAW: acked})
        self._acked_index: defaultdict[TP, set[int]] = defaultdict(set)
        self._gap: defaultdict[TP, IntervalTree] = defaultdict(IntervalTree)
        self._committed_offset: defaultdict[TP, int | None] = defaultdict(lambda: None, {RAW: committed})


def test_duplicate_acks_commit_the_whole_run_at_once() -> None:
    # Each offset acked twice (by a gap and by its message): faust alone would advance one per round.
    state = Acks([503, 504, 504, *(o for o in range(505, 1473) for _ in (0, 1))], committed=504)
    assert Consumer._new_offset(state, RAW) == 1473  # type: ignore[arg-type]


def test_a_missing_offset_holds_the_commit_back() -> None:
    state = Acks([505, 506, 508], committed=505)
    assert Consumer._new_offset(state, RAW) == 507  # type: ignore[arg-type]
    state._committed_offset[RAW] = 507
    # 507 was never acked: faust alone would commit 509 here, past it.
    assert Consumer._new_offset(state, RAW) is None  # type: ignore[arg-type]
    state._acked[RAW].append(507)
    assert Consumer._new_offset(state, RAW) == 509  # type: ignore[arg-type]


def test_a_compaction_gap_at_the_committed_offset_is_skipped() -> None:
    state = Acks([510, 511], committed=507)
    state._gap[RAW].addi(507, 510)  # offsets 507-509 do not exist (compacted away)
    assert Consumer._new_offset(state, RAW) == 512  # type: ignore[arg-type]


def test_without_a_committed_offset_the_first_offset_read_starts_the_run() -> None:
    # A new group: faust records the broker's "no offset" as -1 (or None).
    for committed, first in ((-1, 0), (None, 120)):
        state = Acks([first, first + 1, first + 2], committed=0)
        state._committed_offset[RAW] = committed
        assert Consumer._new_offset(state, RAW) == first + 3  # type: ignore[arg-type]


def test_the_patched_faust_is_the_pinned_one() -> None:
    # The fixes replace faust internals line for line; a faust upgrade must re-check them first.
    import faust

    assert faust.__version__ == "0.15.3", "re-check services/runtime/offsets.py against this faust"
