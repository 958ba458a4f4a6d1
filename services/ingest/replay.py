"""File replay: JSONL or CSV (optionally .gz) of canonical or platform-shaped events into Kafka.

The files are read by ``readers`` (pure, line-exact) and paced by ``pacing`` (pure, over an injected
clock); this module is the async loop between them and the producer: it batches, waits, flushes, and
keeps the line every earlier line has been acknowledged through, so an interrupted replay can say
exactly where to resume.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from services.common.settings import IngestSettings
from services.ingest.pacing import Pacer, occurred_ms
from services.ingest.producer import Candidate, EventProducer
from services.ingest.readers import detect_format, read_records


@dataclass
class ResumePoint:
    """Where to restart: every line of ``paths[index]`` before ``line``, and of earlier files, is in Kafka."""

    index: int
    path: Path
    line: int


@dataclass
class ReplaySummary:
    lines: int = 0  # physical lines read (from --from-line on)
    skipped: int = 0  # lines before --from-line
    accepted: int = 0
    rejected_by_reason: Counter[str] = field(default_factory=Counter)
    ignored: int = 0  # platform items deliberately not mapped (e.g. messaging entries)
    elapsed: float = 0.0
    interrupted: bool = False
    error: str | None = None  # why the replay stopped early, when it was not the user
    resume: ResumePoint | None = None  # None once every file was fully acknowledged

    @property
    def rejected(self) -> int:
        return sum(self.rejected_by_reason.values())

    @property
    def rate(self) -> float:
        return (self.accepted + self.rejected) / self.elapsed if self.elapsed > 0 else 0.0


async def replay_files(
    settings: IngestSettings,
    paths: list[Path],
    batch_size: int = 2000,
    from_line: int = 1,
    *,
    fmt: str | None = None,
    pacer: Pacer | None = None,
    progress: Callable[[int], None] | None = None,
    stop: asyncio.Event | None = None,
    summary: ReplaySummary | None = None,
) -> ReplaySummary:
    """Replay ``paths`` in order (``from_line`` applies to the first); returns after Kafka acked all.

    ``progress`` gets the number of lines handled so far (skipped + acknowledged). Setting ``stop``
    ends the replay once the batch in flight is acknowledged; ``summary`` (filled in place) then holds
    the resume point, also when the caller cancels the task instead.
    """
    summary = summary if summary is not None else ReplaySummary()
    formats = [detect_format(p, fmt) for p in paths]
    started = time.monotonic()
    try:
        async with EventProducer(settings, source="replay") as producer:
            shell = _Replay(producer, summary, batch_size, pacer, progress, stop)
            for index, (path, file_fmt) in enumerate(zip(paths, formats, strict=True)):
                if not await shell.file(index, path, file_fmt, from_line if index == 0 else 1):
                    summary.interrupted = True
                    return summary
            summary.resume = None
    finally:
        summary.elapsed = time.monotonic() - started
    return summary


class _Replay:
    """The loop over records: batching, pacing waits, and the acknowledged-through line."""

    def __init__(
        self,
        producer: EventProducer,
        summary: ReplaySummary,
        batch_size: int,
        pacer: Pacer | None,
        progress: Callable[[int], None] | None,
        stop: asyncio.Event | None,
    ) -> None:
        self.producer, self.summary, self.batch_size = producer, summary, batch_size
        self.pacer, self.progress, self.stop = pacer, progress, stop or asyncio.Event()
        self.clock = asyncio.get_running_loop().time
        self.done_before = 0  # physical lines of the files already finished, for progress
        self.batch: list[Candidate] = []

    async def file(self, index: int, path: Path, fmt: str, first: int) -> bool:
        """Replay one file from line ``first``; False when stopped before its end."""
        summary, pacer, stop = self.summary, self.pacer, self.stop
        summary.resume = ResumePoint(index, path, first)
        if stop.is_set():
            return False
        summary.skipped += first - 1
        lines_before = summary.lines
        last_end = first - 1
        for record in read_records(path, fmt, first):
            summary.ignored += record.ignored
            for cand in record.candidates:
                if pacer is not None:
                    due = pacer.due(self.clock(), occurred_ms(cand.obj) if pacer.uses_timestamps else None)
                    if due > self.clock():
                        if self.batch:  # send what is due before waiting; resume stays at a record start
                            await self.flush(index, path, last_end)
                        await _sleep_until(due, self.clock, stop)
                self.batch.append(cand)
            last_end = record.end
            summary.lines = lines_before + last_end - (first - 1)
            if len(self.batch) >= self.batch_size or stop.is_set():
                await self.flush(index, path, last_end)
                if stop.is_set():
                    return False
        await self.flush(index, path, last_end)
        self.done_before += last_end
        return True

    async def flush(self, index: int, path: Path, acked_through: int) -> None:
        batch, self.batch = self.batch, []
        if batch:
            result = await self.producer.publish(batch)
            self.summary.accepted += result.accepted
            for rejection in result.rejected:
                reason = getattr(batch[rejection.index], "reason", None)
                self.summary.rejected_by_reason[reason or f"invalid_event: {rejection.field}"] += 1
        self.summary.resume = ResumePoint(index, path, acked_through + 1)
        if self.progress:
            self.progress(self.done_before + acked_through)


async def _sleep_until(due: float, clock: Callable[[], float], stop: asyncio.Event) -> None:
    delay = due - clock()
    if delay > 0 and not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)
