"""Message → record transforms of the enrich stage, as pure functions over plain dicts.

The faust agent in :mod:`services.enrich.app` only decodes, calls :func:`enrich_records`, and
publishes; everything testable without Kafka lives here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from services.enrich.language import detect_languages

PIPELINE_VERSION = "1"


def enrich_records(records: Sequence[dict[str, Any]], now: datetime | None = None) -> list[dict[str, Any]]:
    """Add the enrichment fields to a batch of decoded raw events (new dicts; inputs untouched)."""
    enriched_at = now or datetime.now(UTC)
    languages = detect_languages([r.get("text") for r in records], [r.get("lang") for r in records])
    out: list[dict[str, Any]] = []
    for record, language in zip(records, languages, strict=True):
        row = dict(record)
        row["language"] = language
        row["enriched_at"] = enriched_at
        row["pipeline_version"] = PIPELINE_VERSION
        out.append(row)
    return out
