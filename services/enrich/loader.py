"""Enriched records → ClickHouse columns. Pure: the agent owns batching, retries and commits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

EVENT_COLUMNS = (
    "event_id",
    "platform",
    "event_type",
    "brand_id",
    "account_id",
    "post_id",
    "actor_id",
    "parent_id",
    "is_brand",
    "text",
    "lang",
    "language",
    "campaign_id",
    "actor_followers",
    "occurred_at",
    "received_at",
    "enriched_at",
    "attributes",
    "pipeline_version",
)

ALERT_COLUMNS = (
    "alert_id",
    "brand_id",
    "platform",
    "kind",
    "severity",
    "status",
    "window_start",
    "window_end",
    "fired_at",
    "observed",
    "expected",
    "score",
    "summary",
    "sample_event_ids",
    "sample_texts",
)


def to_columns(records: Sequence[dict[str, Any]], columns: Sequence[str]) -> list[list[Any]]:
    """Transpose records into one list per column (clickhouse-connect's column-oriented insert)."""
    return [[r.get(c) for r in records] for c in columns]
