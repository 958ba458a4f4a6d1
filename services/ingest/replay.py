"""File replay: JSONL or CSV (optionally .gz) of canonical or platform-shaped events into Kafka.

Reading is pure and line-exact: every input record carries its physical line numbers, so invalid
records reach the DLQ with ``__dlq.line``/``__dlq.file`` and an interrupted replay can say exactly
where to resume (every line before it has been acknowledged by Kafka). Pacing (``--rate``,
``--speedup``) is a pure scheduler over an injected clock; the async shell only sleeps and flushes.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import gzip
import io
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

import orjson

from services.common.events import KNOWN_FIELDS, EventValidationError, parse_timestamp
from services.common.settings import IngestSettings
from services.ingest.producer import Candidate, EventProducer
from services.ingest.webhooks import PayloadError, detect_platform_payload, map_platform_payload

FORMATS = ("jsonl", "csv")
_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv"}

# Rejection reasons in the summary for problems found before validation (the DLQ reason stays
# ``invalid_event``; ``__dlq.detail`` carries the message).
INVALID_JSON = "invalid_json"
PAYLOAD_ERROR = "payload_error"
CSV_VALUE = "csv_value"


class InputFormatError(ValueError):
    """A whole file cannot be read (unknown format, unusable CSV header): a usage error, not a DLQ case."""


@dataclass
class FileCandidate(Candidate):
    """A candidate from a file; ``reason`` says why it was rejected before validation, if it was."""

    reason: str | None = None


@dataclass(slots=True)
class Record:
    """One input record (a JSONL line or a CSV row, which may span lines) and the events it holds."""

    line: int
    end: int
    candidates: list[FileCandidate]
    ignored: int = 0  # platform items deliberately not mapped (e.g. Messenger entries)


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


# --- Reading (pure) ---------------------------------------------------------------------------------


def detect_format(path: Path, override: str | None = None) -> str:
    """``jsonl`` or ``csv`` from the suffix (``.gz`` looked through), unless ``override`` says."""
    if override is not None:
        if override not in FORMATS:
            raise InputFormatError(f"unknown format {override!r}; expected one of {', '.join(FORMATS)}")
        return override
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    fmt = _SUFFIXES.get(suffixes[-1]) if suffixes else None
    if fmt is None:
        raise InputFormatError(
            f"{path}: cannot tell the format from the name; use .jsonl/.ndjson/.json or .csv "
            "(optionally .gz), or --format"
        )
    return fmt


def open_binary(path: Path) -> IO[bytes]:
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def count_lines(path: Path) -> int:
    """Physical lines (a last line without newline counts), by chunks: cheap enough for a progress total."""
    n, last = 0, b"\n"
    with open_binary(path) as fh:
        while chunk := fh.read(1 << 20):
            n += chunk.count(b"\n")
            last = chunk[-1:]
    return n + (last != b"\n")


def read_csv_header(path: Path) -> list[str] | None:
    """The checked header of a CSV file (None when empty): a bad file is refused before anything is sent."""
    try:
        with open_binary(path) as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as text:
            header = next(csv.reader(text), None)
        return None if header is None else check_csv_header(header)
    except (InputFormatError, UnicodeDecodeError, csv.Error, OSError) as exc:
        raise InputFormatError(f"{path}: {exc}") from None


def read_records(path: Path, fmt: str, from_line: int = 1) -> Iterator[Record]:
    """Records of one file, starting with the first record that begins at or after ``from_line``."""
    source = str(path)
    if fmt == "csv":
        with open_binary(path) as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as text:
            yield from csv_records(text, source, from_line)
    else:
        with open_binary(path) as fh:
            yield from jsonl_records(fh, source, from_line)


def jsonl_records(lines: Iterable[bytes], source: str, from_line: int = 1) -> Iterator[Record]:
    """One record per non-blank line: a canonical event, or a platform payload expanded to its events."""
    for lineno, line in enumerate(lines, start=1):
        if lineno < from_line:
            continue
        raw = line.rstrip(b"\r\n")
        if not raw.strip():
            continue
        yield jsonl_record(raw, lineno, source)


def jsonl_record(raw: bytes, line: int, source: str) -> Record:
    """A canonical event line, or a platform webhook payload expanded via the webhook mappers."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return Record(line, line, [_rejected(raw, line, source, INVALID_JSON, f"invalid JSON: {exc}")])
    kind = detect_platform_payload(obj) if isinstance(obj, dict) and "event_id" not in obj else None
    if kind is None:
        return Record(line, line, [FileCandidate(obj=obj, raw=raw, line=line, source_file=source)])
    try:
        mapped = map_platform_payload(kind, obj)
    except PayloadError as exc:
        return Record(line, line, [_rejected(raw, line, source, PAYLOAD_ERROR, f"{kind} payload: {exc}")])
    # Each mapped event is dead-lettered as itself (canonical JSON), so a fixed copy can be replayed.
    events = [
        FileCandidate(obj=event, raw=orjson.dumps(event), line=line, source_file=source)
        for event in mapped.events
    ]
    return Record(line, line, events, ignored=mapped.ignored)


class CsvValueError(ValueError):
    def __init__(self, column: str, message: str) -> None:
        self.column = column
        super().__init__(f"column '{column}': {message}")


def check_csv_header(header: Sequence[str]) -> list[str]:
    """Column names, stripped; duplicates, blanks and header-less files are refused up front."""
    names = [h.strip() for h in header]
    if not names or not any(n in KNOWN_FIELDS for n in names):
        raise InputFormatError(
            "the first line must be a header naming canonical fields (event_id, platform, ...); "
            f"got {','.join(names)[:200]!r}"
        )
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes or "" in names:
        raise InputFormatError(f"CSV header has duplicate or empty column names: {dupes or ['']}")
    return names


_TRUE = frozenset(("true", "1"))
_FALSE = frozenset(("false", "0"))


def csv_row_to_event(header: Sequence[str], cells: Sequence[str]) -> dict[str, Any]:
    """A CSV row → a canonical event dict. Empty cells are null (omitted); other columns become attributes.

    Only the CSV encoding is checked here (booleans, integers, the attributes JSON); validation of the
    event itself stays in ``parse_event`` so both file formats reject for the same reasons.
    """
    if len(cells) > len(header):
        raise CsvValueError("$", f"{len(cells)} cells but the header has {len(header)} columns")
    out: dict[str, Any] = {}
    for name, cell in zip(header, cells, strict=False):
        if cell == "":
            continue
        if name == "is_brand":
            low = cell.strip().lower()
            if low not in _TRUE and low not in _FALSE:
                raise CsvValueError(name, f"expected true/false/1/0, got {cell[:40]!r}")
            out[name] = low in _TRUE
        elif name == "actor_followers":
            try:
                out[name] = int(cell)
            except ValueError:
                raise CsvValueError(name, f"expected an integer, got {cell[:40]!r}") from None
        elif name == "attributes":
            try:
                attrs = orjson.loads(cell)
            except orjson.JSONDecodeError as exc:
                raise CsvValueError(name, f"invalid JSON object: {exc}") from None
            if not isinstance(attrs, dict):
                raise CsvValueError(name, "expected a JSON object")
            out[name] = attrs
        elif name in ("occurred_at", "received_at") and cell.isdigit():
            out[name] = int(cell)  # epoch milliseconds
        else:
            out[name] = cell
    return out


def csv_records(text: Iterable[str], source: str, from_line: int = 1) -> Iterator[Record]:
    """Rows after the header; a quoted value may span lines, and the row reports its first line."""
    consumed: list[str] = []  # the physical lines of the row being parsed: its raw bytes for the DLQ

    def tap() -> Iterator[str]:
        for chunk in text:
            consumed.append(chunk)
            yield chunk

    reader = csv.reader(tap())
    try:
        header = check_csv_header(next(reader))
    except StopIteration:
        return
    end = reader.line_num
    while True:
        consumed.clear()
        try:
            cells: list[str] | None = next(reader)
            problem = None
        except StopIteration:
            return
        except csv.Error as exc:  # e.g. a NUL byte: this row is lost, the reader goes on with the next
            cells, problem = None, f"malformed CSV: {exc}"
        start, end = end + 1, reader.line_num
        if start < from_line or (cells is not None and (not cells or cells == [""])):
            continue
        raw = "".join(consumed).rstrip("\r\n").encode()
        if cells is None:
            yield Record(start, end, [_rejected(raw, start, source, CSV_VALUE, f"line {start}: {problem}")])
            continue
        try:
            event = csv_row_to_event(header, cells)
        except CsvValueError as exc:
            cand = _rejected(raw, start, source, CSV_VALUE, f"line {start}: {exc}")
        else:
            cand = FileCandidate(obj=event, raw=raw, line=start, source_file=source)
        yield Record(start, end, [cand])


def _rejected(raw: bytes, line: int, source: str, reason: str, message: str) -> FileCandidate:
    return FileCandidate(obj=None, raw=raw, error=message, line=line, source_file=source, reason=reason)


# --- Pacing (pure) ----------------------------------------------------------------------------------


class Pacer(Protocol):
    uses_timestamps: bool

    def due(self, now: float, occurred_ms: int | None = None) -> float:
        """The clock time at which the next event should be sent (<= ``now`` means at once)."""
        ...


class RatePacer:
    """``--rate N``: a token bucket as virtual scheduling (GCRA).

    Event k is due at start + k/N on an absolute schedule, so flush latency never accumulates as
    drift; after a stall, at most ``burst`` events are sent at once to catch up, the rest of the debt
    is forgiven rather than flooding the broker.
    """

    uses_timestamps = False

    def __init__(self, rate: float, burst: float | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.interval = 1.0 / rate
        self.tolerance = (burst if burst is not None else max(1.0, rate)) * self.interval
        self._tat: float | None = None  # theoretical arrival time of the next event

    def due(self, now: float, occurred_ms: int | None = None) -> float:
        tat = now if self._tat is None else self._tat
        t = max(tat, now - self.tolerance)
        self._tat = t + self.interval
        return t


class SpeedupPacer:
    """``--speedup X``: keep the original gaps between ``occurred_at`` values, divided by X.

    The first event goes at once and anchors the schedule; events older than one already seen (out of
    order) or without a usable timestamp are sent without waiting.
    """

    uses_timestamps = True

    def __init__(self, speedup: float) -> None:
        if speedup <= 0:
            raise ValueError("speedup must be positive")
        self.speedup = speedup
        self._anchor: tuple[float, int] | None = None
        self._latest = 0

    def due(self, now: float, occurred_ms: int | None = None) -> float:
        if occurred_ms is None:
            return now
        if self._anchor is None:
            self._anchor, self._latest = (now, occurred_ms), occurred_ms
            return now
        if occurred_ms < self._latest:
            return now
        self._latest = occurred_ms
        start, origin = self._anchor
        return start + (occurred_ms - origin) / 1000.0 / self.speedup


def occurred_ms(obj: Any) -> int | None:
    """Epoch ms of a candidate's ``occurred_at``, or None when it has none worth pacing by."""
    if not isinstance(obj, Mapping) or "occurred_at" not in obj:
        return None
    try:
        return int(parse_timestamp(obj["occurred_at"], "occurred_at").timestamp() * 1000)
    except (EventValidationError, OverflowError, OSError, ValueError):
        return None


# --- The async shell --------------------------------------------------------------------------------


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
