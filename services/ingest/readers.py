"""Replay's input files, read purely and line-exactly: JSONL or CSV, optionally gzipped.

Every record carries its physical line numbers, so an invalid one reaches the DLQ with
``__dlq.line``/``__dlq.file`` and the replay loop (``replay``) knows the line to resume from. JSONL lines
hold canonical events or platform webhook payloads (expanded by the webhook mappers); CSV rows hold
canonical fields, other columns becoming attributes.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from services.common.events import KNOWN_FIELDS
from services.ingest.producer import Candidate
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
