"""File replay: JSONL (optionally .gz) of canonical events into Kafka, bad lines to the DLQ."""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from services.common.settings import IngestSettings
from services.ingest.producer import Candidate, EventProducer


@dataclass
class ReplaySummary:
    lines: int = 0
    accepted: int = 0
    rejected: int = 0


def read_candidates(path: Path, from_line: int = 1) -> Iterator[Candidate]:
    """Yield one candidate per non-empty line; unparseable JSON becomes a candidate with an error."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if lineno < from_line:
                continue
            raw = raw.rstrip(b"\r\n")
            if not raw.strip():
                continue
            try:
                yield Candidate(obj=orjson.loads(raw), raw=raw, line=lineno)
            except orjson.JSONDecodeError as exc:
                yield Candidate(obj=None, raw=raw, error=f"invalid JSON: {exc}", line=lineno)


async def replay_files(
    settings: IngestSettings,
    paths: list[Path],
    batch_size: int = 2000,
    from_line: int = 1,
    progress: Callable[[int], None] | None = None,
) -> ReplaySummary:
    summary = ReplaySummary()
    async with EventProducer(settings, source="replay") as producer:
        for path in paths:
            batch: list[Candidate] = []
            for cand in read_candidates(path, from_line):
                batch.append(cand)
                if len(batch) >= batch_size:
                    await _flush(producer, batch, summary, progress)
                    batch = []
            if batch:
                await _flush(producer, batch, summary, progress)
    return summary


async def _flush(
    producer: EventProducer,
    batch: list[Candidate],
    summary: ReplaySummary,
    progress: Callable[[int], None] | None,
) -> None:
    result = await producer.publish(batch)
    summary.lines += len(batch)
    summary.accepted += result.accepted
    summary.rejected += len(result.rejected)
    if progress:
        progress(len(batch))
