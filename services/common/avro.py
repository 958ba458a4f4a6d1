"""Avro wire codec for every Kafka topic, and the checked-in schema registry it reads.

Wire format (Confluent framing, so standard tooling can read our topics)::

    0x00 | schema id (4 bytes, big-endian) | Avro binary body

The ids come from ``schemas/registry.json`` (see ``schemas/README.md`` for the evolution rules); there is
no registry server, the repository *is* the registry. A reader looks up the writer schema by the id in
the frame and resolves the body to its own (latest) schema, so data written with any registered version
stays readable (every change must be FULL compatible, which :meth:`SchemaRegistry.check` enforces).

Behaviour worth knowing:

* ``timestamp-millis`` fields: ``encode`` accepts ``datetime`` (naive ones are taken as UTC) or int epoch
  milliseconds; ``decode`` always returns tz-aware UTC ``datetime`` objects. Sub-millisecond precision is
  truncated on the wire.
* Fields with a schema default may be omitted on ``encode``; the writer fills in the default.
  Keys that are not in the schema are ignored.
* ``encode`` does not validate up front (validation costs several times the encode itself): fastavro's
  writer rejects wrong types, and only then is :meth:`AvroCodec.validate` run for a message naming the
  field. The writer is lenient in a few numeric cases (a float for a ``long`` is truncated, ``bool``
  and ``int`` are interchangeable); call ``validate`` first where that matters.
* ``decode`` raises :class:`DecodeError` for every malformed input (never anything else), with a
  machine-friendly ``reason`` suitable as a dead-letter label.

``python -m services.common.avro`` runs :func:`register_check` (exit status 1 on problems).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import io
import itertools
import json
import reprlib
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.schema import to_parsing_canonical_form
from fastavro.validation import ValidationError
from fastavro.validation import validate as _fastavro_validate

from services.common import resources

__all__ = [
    "HEADER_SIZE",
    "MAGIC_BYTE",
    "SCHEMAS_DIR",
    "AvroCodec",
    "DecodeError",
    "SchemaError",
    "SchemaRegistry",
    "codec",
    "fingerprint",
    "register_check",
    "resolution_fingerprint",
]

MAGIC_BYTE = 0
HEADER_SIZE = 5
REGISTRY_FILE = "registry.json"


SCHEMAS_DIR: Path = resources.schemas_dir()
"""The schemas shipped in the package when this module loaded (``ENGAGE_SCHEMAS_DIR`` overrides it)."""


class SchemaError(ValueError):
    """A record does not match its schema. ``field`` names the first offending field (None if unknown)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class DecodeError(ValueError):
    """Bytes that cannot be decoded. ``reason`` is one of ``REASONS``, for metrics and dead-letter labels."""

    REASONS = ("empty", "bad_magic", "unknown_schema_id", "wrong_subject", "truncated", "corrupt")

    def __init__(self, reason: str, detail: str = "", schema_id: int | None = None) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.schema_id = schema_id


# --------------------------------------------------------------------------------------------------
# Fingerprints
# --------------------------------------------------------------------------------------------------


def fingerprint(schema: Any) -> str:
    """Hex SHA-256 of the schema's Parsing Canonical Form: the Avro-standard identity of a schema.

    It ignores docs, defaults, aliases and logical types, so it says whether the *bytes* could differ.
    """
    parsed = parse_schema(schema)
    return hashlib.sha256(to_parsing_canonical_form(parsed).encode()).hexdigest()


def _strip_docs(schema: Any) -> Any:
    """Copy of a raw schema without ``doc`` attributes (defaults are kept verbatim)."""
    if isinstance(schema, list):
        return [_strip_docs(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: v for k, v in schema.items() if k != "doc"}
    if isinstance(out.get("type"), dict | list):
        out["type"] = _strip_docs(out["type"])
    if "fields" in out:
        out["fields"] = [
            {**{k: v for k, v in f.items() if k != "doc"}, "type": _strip_docs(f["type"])}
            for f in out["fields"]
        ]
    for key in ("items", "values"):
        if key in out:
            out[key] = _strip_docs(out[key])
    return out


def resolution_fingerprint(schema: Any) -> str:
    """Hex SHA-256 of the schema minus its docs.

    Unlike :func:`fingerprint` it covers defaults, aliases and logical types, which change how readers
    resolve data, so editing one of those without registering a new version is caught too. Doc edits
    are free.
    """
    text = json.dumps(_strip_docs(schema), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


# --------------------------------------------------------------------------------------------------
# Compatibility (used by SchemaRegistry.check to enforce FULL compatibility between versions)
# --------------------------------------------------------------------------------------------------

_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_NAMED = frozenset({"record", "error", "enum", "fixed"})
# (writer type, reader type) pairs Avro resolves by promotion.
_PROMOTIONS = frozenset(
    {
        ("int", "long"),
        ("int", "float"),
        ("int", "double"),
        ("long", "float"),
        ("long", "double"),
        ("float", "double"),
        ("string", "bytes"),
        ("bytes", "string"),
    }
)


def _fullname(name: str, namespace: str | None) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


def _expand(schema: Any, namespace: str | None, names: dict[str, dict[str, Any]]) -> Any:
    """Normalise a raw schema: named references replaced by their definitions, primitives as dicts."""
    if isinstance(schema, list):
        return [_expand(s, namespace, names) for s in schema]
    if isinstance(schema, str):
        if schema in _PRIMITIVES:
            return {"type": schema}
        return names[_fullname(schema, namespace)]
    kind = schema["type"]
    if isinstance(kind, dict | list) or (
        isinstance(kind, str) and kind not in _PRIMITIVES | _NAMED | {"array", "map"}
    ):
        return _expand(kind, namespace, names)
    if kind in _NAMED:
        full = _fullname(schema["name"], schema.get("namespace", namespace))
        inner_ns = full.rpartition(".")[0] or None
        node: dict[str, Any] = {**schema, "fullname": full}
        node["aliases"] = {_fullname(a, inner_ns) for a in schema.get("aliases", [])}
        names[full] = node  # before recursing, so recursive types terminate
        if kind in ("record", "error"):
            node["fields"] = [{**f, "type": _expand(f["type"], inner_ns, names)} for f in schema["fields"]]
        return node
    if kind == "array":
        return {"type": "array", "items": _expand(schema["items"], namespace, names)}
    if kind == "map":
        return {"type": "map", "values": _expand(schema["values"], namespace, names)}
    return {"type": kind, "logicalType": schema.get("logicalType")}


def _describe_type(node: Any) -> str:
    if isinstance(node, list):
        return "[" + ", ".join(_describe_type(b) for b in node) + "]"
    return str(node.get("fullname") or node.get("logicalType") or node["type"])


def _read_problems(reader: Any, writer: Any, where: str, seen: set[tuple[int, int]]) -> list[str]:
    """Why data written with ``writer`` cannot be read with ``reader`` (Avro resolution rules)."""
    if isinstance(writer, list):
        return [p for branch in writer for p in _read_problems(reader, branch, where, seen)]
    if isinstance(reader, list):
        for branch in reader:
            if not _read_problems(branch, writer, where, seen):
                return []
        return [f"{where}: reader union {_describe_type(reader)} has no branch for {_describe_type(writer)}"]
    rt, wt = reader["type"], writer["type"]
    if rt != wt:
        if (wt, rt) in _PROMOTIONS:
            return []
        return [f"{where}: type changed from {_describe_type(writer)} to {_describe_type(reader)}"]
    if rt in _PRIMITIVES:
        if reader.get("logicalType") != writer.get("logicalType"):
            return [
                f"{where}: logical type changed from {writer.get('logicalType')} "
                f"to {reader.get('logicalType')}"
            ]
        return []
    if rt == "array":
        return _read_problems(reader["items"], writer["items"], f"{where}[]", seen)
    if rt == "map":
        return _read_problems(reader["values"], writer["values"], f"{where}{{}}", seen)
    if writer["fullname"] != reader["fullname"] and writer["fullname"] not in reader["aliases"]:
        return [f"{where}: {rt} renamed from {writer['fullname']} to {reader['fullname']} without an alias"]
    key = (id(reader), id(writer))
    if key in seen:
        return []
    seen.add(key)
    if rt == "enum":
        missing = [s for s in writer["symbols"] if s not in reader["symbols"]]
        if missing and "default" not in reader:
            return [
                f"{where}: symbols {missing} unknown to the reader "
                f"and enum {reader['fullname']} has no default"
            ]
        return []
    if rt == "fixed":
        return [] if reader["size"] == writer["size"] else [f"{where}: fixed size changed"]
    problems: list[str] = []
    by_name = {f["name"]: f for f in writer["fields"]}
    for field in reader["fields"]:
        candidates = [field["name"], *field.get("aliases", [])]
        found = next((by_name[n] for n in candidates if n in by_name), None)
        path = f"{where}.{field['name']}" if where else field["name"]
        if found is not None:
            problems += _read_problems(field["type"], found["type"], path, seen)
        elif "default" not in field:
            problems.append(f"{path}: field is absent on one side and has no default")
    return problems


def compatibility_problems(old: Any, new: Any) -> list[str]:
    """Problems that make two raw schemas not FULL compatible (each must read the other's data)."""
    new_x, old_x = _expand(new, None, {}), _expand(old, None, {})
    backward = [f"new cannot read old: {p}" for p in _read_problems(new_x, old_x, "", set())]
    forward = [f"old cannot read new: {p}" for p in _read_problems(old_x, new_x, "", set())]
    return backward + forward


# --------------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegistryEntry:
    """One row of ``schemas/registry.json``."""

    id: int
    subject: str
    version: int
    path: str
    fingerprint: str
    resolution_fingerprint: str | None = None


def _entry_json(entry: RegistryEntry, raw: Any) -> str:
    return json.dumps(
        {
            "id": entry.id,
            "subject": entry.subject,
            "version": entry.version,
            "path": entry.path,
            "fingerprint": fingerprint(raw),
            "resolution_fingerprint": resolution_fingerprint(raw),
        }
    )


class SchemaRegistry:
    """The schemas under ``schemas/``, indexed by id and subject. Immutable once loaded."""

    def __init__(
        self,
        schemas_dir: Path,
        entries: list[RegistryEntry],
        raw: dict[int, Any],
        parsed: dict[int, dict[str, Any]],
        problems: list[str],
    ) -> None:
        self.schemas_dir = schemas_dir
        self.entries = entries
        self._raw = raw
        self._parsed = parsed
        self._problems = problems
        self._by_id = {e.id: e for e in entries if e.id in parsed}
        self._latest: dict[str, RegistryEntry] = {}
        for entry in self._by_id.values():
            current = self._latest.get(entry.subject)
            if current is None or entry.version > current.version:
                self._latest[entry.subject] = entry

    @classmethod
    def load(cls, schemas_dir: Path | None = None) -> SchemaRegistry:
        """Load (once per directory) the registry; problems are kept for :meth:`check`, not raised."""
        return _load_registry(Path(schemas_dir or resources.schemas_dir()).resolve())

    @property
    def subjects(self) -> list[str]:
        return sorted(self._latest)

    def latest(self, subject: str) -> tuple[int, dict[str, Any]]:
        """(schema id, parsed schema) of the newest version of ``subject``; what writers use."""
        entry = self._latest.get(subject)
        if entry is None:
            raise KeyError(
                f"unknown subject {subject!r} in {self.schemas_dir} (known: {self.subjects}; "
                f"problems: {self._problems or 'none'})"
            )
        return entry.id, self._parsed[entry.id]

    def by_id(self, schema_id: int) -> tuple[str, dict[str, Any]]:
        """(subject, parsed schema) for a schema id read off the wire. Raises KeyError."""
        entry = self._by_id.get(schema_id)
        if entry is None:
            raise KeyError(f"unknown schema id {schema_id}")
        return entry.subject, self._parsed[entry.id]

    def check(self) -> list[str]:
        """Everything wrong with the registry; ``[]`` when it is consistent with the files.

        Catches: schema files edited without registering a new version (fingerprint mismatch), files
        missing or not registered, duplicate ids or versions, a layout other than ``<subject>.avsc`` for
        the latest and ``history/<subject>.v<N>.avsc`` for older versions, and consecutive versions that
        are not FULL compatible.
        """
        problems = list(self._problems)
        for entry in self.entries:
            raw = self._raw.get(entry.id)
            if raw is None:
                continue
            where = f"{entry.subject} v{entry.version} (id {entry.id}, {entry.path})"
            if (
                fingerprint(raw) != entry.fingerprint
                or resolution_fingerprint(raw) != entry.resolution_fingerprint
            ):
                problems.append(
                    f"{where}: file does not match its registered fingerprint; a changed schema needs a new "
                    f"version and id (see schemas/README.md). Fingerprints of the file as it is: "
                    f"{_entry_json(entry, raw)}"
                )
            latest = self._latest.get(entry.subject)
            expected_path = (
                f"{entry.subject}.avsc"
                if latest is entry
                else f"history/{entry.subject}.v{entry.version}.avsc"
            )
            if entry.path != expected_path:
                problems.append(f"{where}: expected at {expected_path}")
        for subject in self.subjects:
            versions = sorted(
                (e for e in self._by_id.values() if e.subject == subject), key=lambda e: e.version
            )
            for old, new in itertools.pairwise(versions):
                if new.id <= old.id:
                    problems.append(f"{subject}: v{new.version} has id {new.id}, not above v{old.version}'s")
                for p in compatibility_problems(self._raw[old.id], self._raw[new.id]):
                    problems.append(f"{subject} v{old.version} -> v{new.version} not FULL compatible: {p}")
        registered = {(self.schemas_dir / e.path).resolve() for e in self.entries}
        on_disk = [*self.schemas_dir.glob("*.avsc"), *self.schemas_dir.glob("history/*.avsc")]
        for path in sorted(p.resolve() for p in on_disk):
            if path not in registered:
                problems.append(f"{path.relative_to(self.schemas_dir)}: schema file not in {REGISTRY_FILE}")
        return problems


@functools.cache
def _load_registry(schemas_dir: Path) -> SchemaRegistry:
    problems: list[str] = []
    entries: list[RegistryEntry] = []
    raw: dict[int, Any] = {}
    parsed: dict[int, dict[str, Any]] = {}
    try:
        rows = json.loads((schemas_dir / REGISTRY_FILE).read_text())
        if not isinstance(rows, list):
            raise ValueError("top level must be a list")
    except (OSError, ValueError) as exc:
        return SchemaRegistry(schemas_dir, [], {}, {}, [f"{REGISTRY_FILE}: cannot load ({exc})"])
    seen_ids: set[int] = set()
    seen_versions: set[tuple[str, int]] = set()
    for n, row in enumerate(rows):
        try:
            entry = RegistryEntry(**row)
            if not isinstance(entry.id, int) or not isinstance(entry.version, int):
                raise TypeError("id and version must be integers")
        except TypeError as exc:
            problems.append(f"{REGISTRY_FILE}[{n}]: bad entry {row!r} ({exc})")
            continue
        entries.append(entry)
        if entry.id in seen_ids:
            problems.append(f"{REGISTRY_FILE}[{n}]: duplicate id {entry.id}")
            continue
        seen_ids.add(entry.id)
        if (entry.subject, entry.version) in seen_versions:
            problems.append(f"{REGISTRY_FILE}[{n}]: duplicate version {entry.subject} v{entry.version}")
            continue
        seen_versions.add((entry.subject, entry.version))
        path = schemas_dir / entry.path
        try:
            schema = json.loads(path.read_text())
            parsed[entry.id] = cast(dict[str, Any], parse_schema(schema))
            raw[entry.id] = schema
        except FileNotFoundError:
            problems.append(f"{entry.path}: missing file (registered as {entry.subject} v{entry.version})")
        except Exception as exc:  # invalid JSON or not a valid Avro schema
            problems.append(f"{entry.path}: not a valid Avro schema ({exc})")
    return SchemaRegistry(schemas_dir, entries, raw, parsed, problems)


# --------------------------------------------------------------------------------------------------
# Codec
# --------------------------------------------------------------------------------------------------


def _describe_schema(schema: Any) -> str:
    if isinstance(schema, list):
        return " or ".join(_describe_schema(s) for s in schema)
    if isinstance(schema, dict):
        kind = schema.get("type")
        if schema.get("logicalType") == "timestamp-millis":
            return "timestamp-millis (datetime or int epoch millis)"
        if kind == "enum":
            return "one of " + ", ".join(schema["symbols"])
        if kind == "array":
            return f"array of {_describe_schema(schema['items'])}"
        if kind == "map":
            return f"map of {_describe_schema(schema['values'])}"
        return str(schema.get("name") or kind)
    return str(schema)


def _describe_value(value: Any) -> str:
    return "None" if value is None else f"{type(value).__name__} {reprlib.repr(value)}"


class AvroCodec:
    """Encodes and decodes one subject's records in Confluent framing. Thread-safe; build once, reuse."""

    def __init__(self, subject: str, registry: SchemaRegistry | None = None) -> None:
        self.subject = subject
        self.registry = registry or SchemaRegistry.load()
        self.schema_id, self.schema = self.registry.latest(subject)
        self._header = bytes([MAGIC_BYTE]) + self.schema_id.to_bytes(4, "big")
        self._record_prefix = self.schema["name"] + "."
        self._field_types = {f["name"]: f["type"] for f in self.schema["fields"]}
        # Mutable defaults fastavro hands out by reference when it fills a field the writer lacked.
        self._mutable_defaults = [
            (f["name"], f["default"])
            for f in self.schema["fields"]
            if isinstance(f.get("default"), dict | list)
        ]
        # schema id -> (writer schema, reader schema or None when no resolution is needed)
        self._readers: dict[int, tuple[dict[str, Any], dict[str, Any] | None]] = {
            self.schema_id: (self.schema, None)
        }

    def __repr__(self) -> str:
        return f"AvroCodec({self.subject!r}, schema_id={self.schema_id})"

    def encode(self, record: Mapping[str, Any]) -> bytes:
        """Frame and serialise ``record`` with the latest schema; raises SchemaError naming the field."""
        buf = io.BytesIO()
        buf.write(self._header)
        try:
            schemaless_writer(buf, self.schema, record)  # type: ignore[arg-type]
        except Exception as exc:
            self.validate(record)  # raises with a precise message if it can find the problem
            raise SchemaError(f"{self.subject}: record cannot be encoded: {exc}") from exc
        return buf.getvalue()

    def decode(self, data: bytes | bytearray | memoryview | None) -> dict[str, Any]:
        """Decode framed bytes into a dict shaped by this codec's (latest) schema; raises DecodeError.

        ``None`` (a Kafka tombstone) counts as empty.
        """
        if not data:
            raise DecodeError("empty", "no bytes")
        if data[0] != MAGIC_BYTE:
            raise DecodeError("bad_magic", f"first byte is {data[0]:#04x}, expected 0x00")
        if len(data) < HEADER_SIZE:
            raise DecodeError("truncated", f"{len(data)} bytes, shorter than the 5-byte header")
        schema_id = int.from_bytes(data[1:HEADER_SIZE], "big")
        schemas = self._readers.get(schema_id)
        if schemas is None:
            schemas = self._resolve_writer(schema_id)
        buf = io.BytesIO(data)
        buf.seek(HEADER_SIZE)
        try:
            record = schemaless_reader(buf, schemas[0], schemas[1])  # type: ignore[arg-type]
        except EOFError as exc:
            raise DecodeError("truncated", f"body ends early ({exc})", schema_id) from exc
        except Exception as exc:  # garbage can fail in many ways (bad utf-8, overflow, bad index...)
            raise DecodeError("corrupt", f"{type(exc).__name__}: {exc}", schema_id) from exc
        if buf.tell() != len(data):
            raise DecodeError(
                "corrupt", f"{len(data) - buf.tell()} trailing bytes after the record", schema_id
            )
        result = cast(dict[str, Any], record)
        if schemas[1] is not None:
            for name, default in self._mutable_defaults:
                if result.get(name) is default:  # else every record would share (and could edit) it
                    result[name] = copy.deepcopy(default)
        return result

    def _resolve_writer(self, schema_id: int) -> tuple[dict[str, Any], dict[str, Any] | None]:
        try:
            subject, writer = self.registry.by_id(schema_id)
        except KeyError:
            raise DecodeError(
                "unknown_schema_id", f"schema id {schema_id} is not registered", schema_id
            ) from None
        if subject != self.subject:
            raise DecodeError(
                "wrong_subject", f"schema id {schema_id} is {subject}, not {self.subject}", schema_id
            )
        schemas = (writer, self.schema)
        self._readers[schema_id] = schemas
        return schemas

    def validate(self, record: Any) -> None:
        """Check ``record`` against the latest schema; raises SchemaError naming the field."""
        if not isinstance(record, Mapping):
            raise SchemaError(f"{self.subject}: expected a mapping, got {type(record).__name__}")
        try:
            _fastavro_validate(record, self.schema, raise_errors=True)
        except ValidationError as exc:
            raise self._schema_error(record, exc) from None

    def _schema_error(self, record: Mapping[str, Any], exc: ValidationError) -> SchemaError:
        by_field: dict[str, list[Any]] = {}
        for err in exc.errors:
            name = str(err.field or "")
            name = name.removeprefix(self._record_prefix)
            by_field.setdefault(name, []).append(err)
        parts = []
        for name, errors in by_field.items():
            expected = " or ".join(_describe_schema(e.schema) for e in errors)
            datum = errors[0].datum
            declared = self._field_types.get(name)
            container = declared.get("type") if isinstance(declared, dict) else None
            if container in ("map", "array") and errors[0].schema is not declared:
                what = "map value" if container == "map" else "array item"
                parts.append(f"field {name!r}: {what} expected {expected}, got {_describe_value(datum)}")
            elif datum is None and name.split(".")[0] not in record:
                parts.append(f"field {name!r}: required field is missing (expected {expected})")
            else:
                parts.append(f"field {name!r}: expected {expected}, got {_describe_value(datum)}")
        first = next(iter(by_field), None)
        return SchemaError(f"{self.subject}: " + "; ".join(parts), first)


@functools.cache
def codec(subject: str) -> AvroCodec:
    """Shared codec for ``subject`` over the default registry (parse schemas once per process)."""
    return AvroCodec(subject)


def register_check(schemas_dir: Path | None = None) -> int:
    """Print the registry's problems; 0 when clean, 1 otherwise (for CI and ``python -m``)."""
    registry = SchemaRegistry.load(schemas_dir)
    problems = registry.check()
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        ids = ", ".join(f"{s}={registry.latest(s)[0]}" for s in registry.subjects)
        print(f"schema registry OK ({registry.schemas_dir}): {ids}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(register_check(Path(sys.argv[1]) if len(sys.argv) > 1 else None))
