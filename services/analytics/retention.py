"""Retention of raw text: the column TTLs that ``0005_text_retention.sql`` and ``0006_attributes_ttl.sql``
set (180 days), made adjustable.

A migration cannot take a setting (migrations are checksummed files), so the retention is changed by
idempotent ``ALTER … MODIFY COLUMN … TTL`` statements run on demand (``engage retention``); running
them again with the same value changes nothing, and ``engage migrate`` never resets them.
"""

from __future__ import annotations

from services.common.clickhouse import Database

# (table, column, type): raw texts that the TTL clears (numbers derived from them stay).
TEXT_COLUMNS = (
    ("events", "text", "Nullable(String)"),
    ("events", "attributes", "Map(String, String)"),
    ("alerts", "sample_texts", "Array(String)"),
    ("events", "complaint_reasons", "Array(String)"),  # fragments of the text (0007_complaint_reasons.sql)
)


def statements(days: int) -> list[str]:
    if days < 1:
        raise ValueError("text retention must be at least one day")
    return [
        f"ALTER TABLE {table} MODIFY COLUMN {column} {type_} "
        f"TTL toDateTime(loaded_at) + INTERVAL {int(days)} DAY"
        for table, column, type_ in TEXT_COLUMNS
    ]


def apply(db: Database, days: int) -> list[str]:
    """Set the text retention to ``days`` (texts loaded longer ago are cleared at the next merge)."""
    done = statements(days)
    for sql in done:
        db.command(sql)
    return done
