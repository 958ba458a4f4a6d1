"""The loaded tables: which topic goes to which table, and records → ClickHouse columns. Pure: the
consumer (:mod:`services.loader.consumer`) owns batching, retries and commits.

Each loaded topic maps one to one onto a table whose columns are the fields of the topic's Avro
schema (the migrations add a column with every schema field), so the column lists come from the
registry rather than being repeated here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from services.common.avro_registry import SchemaRegistry


@dataclass(frozen=True)
class LoadTarget:
    """One topic → one table: the Avro subject its messages carry and the table's columns."""

    subject: str
    table: str
    columns: tuple[str, ...]


def schema_columns(subject: str, registry: SchemaRegistry | None = None) -> tuple[str, ...]:
    _, schema = (registry or SchemaRegistry.load()).latest(subject)
    return tuple(f["name"] for f in schema["fields"])


def array_defaults(subject: str, registry: SchemaRegistry | None = None) -> dict[str, list[Any]]:
    """Array fields and their defaults: a ClickHouse Array column takes no NULL, so a record that
    lacks the field (written by code older than it) is loaded with the schema default instead."""
    _, schema = (registry or SchemaRegistry.load()).latest(subject)
    return {
        f["name"]: list(f.get("default", []))
        for f in schema["fields"]
        if isinstance(f["type"], dict) and f["type"].get("type") == "array"
    }


EVENT_COLUMNS = schema_columns("enriched_event")

TARGETS = {
    subject: LoadTarget(subject, table, schema_columns(subject))
    for subject, table in (
        ("enriched_event", "events"),
        ("alert", "alerts"),
        ("post_virality", "post_virality"),
        ("follower_funnel", "follower_funnel"),
        ("brand_backlog", "brand_backlog"),
    )
}


_ARRAY_DEFAULTS = {name: default for name, default in array_defaults("enriched_event").items()}


def to_columns(records: Sequence[dict[str, Any]], columns: Sequence[str]) -> list[list[Any]]:
    """Transpose records into one list per column (clickhouse-connect's column-oriented insert).

    A missing or null array field (``complaint_reasons`` of a record from before it existed) is
    loaded as its schema default, an empty array."""
    out = []
    for c in columns:
        if c in _ARRAY_DEFAULTS:
            default = _ARRAY_DEFAULTS[c]
            out.append([v if (v := r.get(c)) is not None else list(default) for r in records])
        else:
            out.append([r.get(c) for r in records])
    return out
