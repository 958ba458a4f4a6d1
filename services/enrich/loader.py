"""Records → ClickHouse columns. Pure: the agent owns batching, retries and commits.

Each loaded topic maps one to one onto a table whose columns are the fields of the topic's Avro
schema (the migrations add a column with every schema field), so the column lists come from the
registry rather than being repeated here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from services.common.avro import SchemaRegistry


@dataclass(frozen=True)
class LoadTarget:
    """One topic → one table: the Avro subject its messages carry and the table's columns."""

    subject: str
    table: str
    columns: tuple[str, ...]


def schema_columns(subject: str, registry: SchemaRegistry | None = None) -> tuple[str, ...]:
    _, schema = (registry or SchemaRegistry.load()).latest(subject)
    return tuple(f["name"] for f in schema["fields"])


EVENT_COLUMNS = schema_columns("enriched_event")
ALERT_COLUMNS = schema_columns("alert")

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


def to_columns(records: Sequence[dict[str, Any]], columns: Sequence[str]) -> list[list[Any]]:
    """Transpose records into one list per column (clickhouse-connect's column-oriented insert)."""
    return [[r.get(c) for r in records] for c in columns]
