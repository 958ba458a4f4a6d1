"""Avro wire codec for every Kafka topic, over the checked-in schema registry (``avro_registry``).

Wire format (Confluent framing, so standard tooling can read our topics)::

    0x00 | schema id (4 bytes, big-endian) | Avro binary body

The ids come from ``schemas/registry.json``. A reader looks up the writer schema by the id in the frame
and resolves the body to its own (latest) schema, so data written with any registered version stays
readable (every change must be FULL compatible, which ``SchemaRegistry.check`` enforces).

Behaviour worth knowing:

* ``timestamp-millis`` fields: ``encode`` accepts ``datetime`` (naive ones are taken as UTC) or int epoch
  milliseconds; ``decode`` returns tz-aware UTC ``datetime`` objects, or the int epoch milliseconds with
  ``codec(subject, timestamp_millis=True)`` (for a reader that converts them anyway, such as the loader:
  the datetimes cost about a third of the decode). Sub-millisecond precision is truncated on the wire.
* Fields with a schema default may be omitted on ``encode``; the writer fills in the default.
  Keys that are not in the schema are ignored.
* ``encode`` does not validate up front (validation costs several times the encode itself): fastavro's
  writer rejects wrong types, and only then is :meth:`AvroCodec.validate` run for a message naming the
  field. The writer is lenient in a few numeric cases (a float for a ``long`` is truncated, ``bool``
  and ``int`` are interchangeable); call ``validate`` first where that matters.
* ``decode`` raises :class:`DecodeError` for every malformed input (never anything else), with a
  machine-friendly ``reason`` suitable as a dead-letter label.
"""

from __future__ import annotations

import copy
import functools
import io
import reprlib
from collections.abc import Mapping
from typing import Any, cast

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.validation import ValidationError
from fastavro.validation import validate as _fastavro_validate

from services.common.avro_registry import SchemaRegistry

__all__ = [
    "HEADER_SIZE",
    "MAGIC_BYTE",
    "AvroCodec",
    "DecodeError",
    "ExtendingEncoder",
    "SchemaError",
    "codec",
    "extending_encoder",
]

MAGIC_BYTE = 0
HEADER_SIZE = 5


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

    def __init__(
        self, subject: str, registry: SchemaRegistry | None = None, *, timestamp_millis: bool = False
    ) -> None:
        self.subject = subject
        self.registry = registry or SchemaRegistry.load()
        self.schema_id, self.schema = self.registry.latest(subject)
        self.timestamp_millis = timestamp_millis
        reader = _plain_timestamps(self.schema) if timestamp_millis else self.schema
        self._reader = reader
        self._header = bytes([MAGIC_BYTE]) + self.schema_id.to_bytes(4, "big")
        self._record_prefix = self.schema["name"] + "."
        self._field_types = {f["name"]: f["type"] for f in self.schema["fields"]}
        # Mutable defaults fastavro hands out by reference when it fills a field the writer lacked.
        self._mutable_defaults = [
            (f["name"], f["default"]) for f in reader["fields"] if isinstance(f.get("default"), dict | list)
        ]
        # schema id -> (writer schema, reader schema or None when no resolution is needed)
        self._readers: dict[int, tuple[dict[str, Any], dict[str, Any] | None]] = {
            self.schema_id: (reader, None)
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
        schemas = (_plain_timestamps(writer) if self.timestamp_millis else writer, self._reader)
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


def _plain_timestamps(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of a parsed schema whose ``timestamp-millis`` longs decode as plain ints."""
    copied = copy.deepcopy(schema)
    seen: set[int] = set()
    todo: list[Any] = [copied]
    while todo:
        node = todo.pop()
        if isinstance(node, list):
            todo.extend(node)
        elif isinstance(node, dict) and id(node) not in seen:
            seen.add(id(node))
            if node.get("logicalType") == "timestamp-millis":
                del node["logicalType"]
            todo.extend(node.values())
    return copied


@functools.cache
def codec(subject: str, *, timestamp_millis: bool = False) -> AvroCodec:
    """Shared codec for ``subject`` over the default registry (parse schemas once per process).

    ``timestamp_millis``: decode ``timestamp-millis`` fields as int epoch milliseconds, not datetimes."""
    return AvroCodec(subject, timestamp_millis=timestamp_millis)


class ExtendingEncoder:
    """Encodes ``subject`` records (e.g. an enriched event) whose latest schema starts with every field of
    ``base``'s latest schema (the raw event), in order, followed by fields of its own.

    An Avro record is its fields' encodings one after the other, so when the base part of a record is
    the decoded body of a message written with the latest ``base`` schema, that body *is* the encoding
    of those fields: :meth:`encode` frames the body as it came and encodes only the extension fields
    after it, instead of the whole record again. The result is the bytes :meth:`AvroCodec.encode` would
    write for the record whenever the base body was written the way fastavro writes it (every producer
    here); a body another Avro writer encoded differently (maps or arrays split into several blocks) is
    kept as it was, an encoding of the same values. Records without a body, or with a body written with
    another ``base`` schema version, get the full encode.

    The caller guarantees the base fields of ``record`` are the values decoded from ``body``, unchanged.
    """

    def __init__(self, subject: str, base: str, registry: SchemaRegistry | None = None) -> None:
        self.codec = codec(subject) if registry is None else AvroCodec(subject, registry)
        self.base_schema_id, base_schema = self.codec.registry.latest(base)
        fields, base_fields = self.codec.schema["fields"], base_schema["fields"]
        if [(f["name"], f["type"]) for f in fields[: len(base_fields)]] != [
            (f["name"], f["type"]) for f in base_fields
        ]:
            raise ValueError(f"{subject} does not begin with the fields of {base}, in order")
        self._header = self.codec._header
        self._extension = parse_schema(
            {
                "type": "record",
                "name": f"{self.codec.schema['name']}Extension",
                "fields": fields[len(base_fields) :],
            },
            named_schemas=dict(self.codec.schema.get("__named_schemas", {})),
        )

    def __repr__(self) -> str:
        return f"ExtendingEncoder({self.codec.subject!r}, base_schema_id={self.base_schema_id})"

    def base_body(self, message: bytes | None) -> bytes | None:
        """The Avro body of a framed ``base`` message if it was written with the latest ``base`` schema
        (None otherwise: its body encodes another field list)."""
        if (
            message is None
            or len(message) < HEADER_SIZE
            or message[0] != MAGIC_BYTE
            or int.from_bytes(message[1:HEADER_SIZE], "big") != self.base_schema_id
        ):
            return None
        return bytes(message[HEADER_SIZE:])

    def encode(self, record: Mapping[str, Any], body: bytes | None) -> bytes:
        """Frame and serialise ``record``: its base fields as ``body`` (from :meth:`base_body`; None: a
        full encode), then its own fields. Raises SchemaError naming the field, as ``AvroCodec.encode``."""
        if body is None:
            return self.codec.encode(record)
        buf = io.BytesIO()
        buf.write(self._header)
        buf.write(body)
        try:
            schemaless_writer(buf, self._extension, record)  # type: ignore[arg-type]
        except Exception as exc:
            self.codec.validate(record)
            raise SchemaError(f"{self.codec.subject}: record cannot be encoded: {exc}") from exc
        return buf.getvalue()


@functools.cache
def extending_encoder(subject: str, base: str) -> ExtendingEncoder:
    """Shared :class:`ExtendingEncoder` over the default registry (parse schemas once per process)."""
    return ExtendingEncoder(subject, base)
