"""Message → record transforms of the enrich stage, as pure functions over plain dicts.

The faust agent in :mod:`services.enrich.app` only decodes, calls :func:`enrich_records` (stateless
features: language, sentiment, complaint) and the feature engine (stateful features), and publishes;
everything testable without Kafka lives here and in :mod:`services.enrich.features`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from services.common.events import EventValidationError, parse_event
from services.enrich.complaint_model import assess_batch
from services.enrich.language import detect_languages

PIPELINE_VERSION = "4"


def invalid_reason(record: dict[str, Any], max_text_chars: int) -> str | None:
    """Why a decoded raw event breaks the canonical event rules (None if it does not).

    Ingest validates before producing, but the raw topic is a contract other producers can write to:
    an event that decodes yet is invalid (empty ids, an over-long text) is dead-lettered by enrich
    with the same field-naming message ingest would give, instead of reaching features and analysts.
    """
    try:
        parse_event(record, received_at=record["received_at"], max_text_chars=max_text_chars)
    except EventValidationError as exc:
        return str(exc)
    return None


def enrich_records(records: Sequence[dict[str, Any]], now: datetime | None = None) -> list[dict[str, Any]]:
    """Add the stateless enrichment fields to a batch of decoded raw events (new dicts; inputs untouched).

    Language, sentiment and complaint flags are computed for the whole batch at once: the sentiment
    model is vectorised, so per-event calls would waste most of its speed.
    """
    enriched_at = now or datetime.now(UTC)
    texts = [r.get("text") for r in records]
    languages = detect_languages(texts, [r.get("lang") for r in records])
    with_text = [i for i, t in enumerate(texts) if t]
    labels = ["neutral"] * len(records)
    scores: list[float | None] = [None] * len(records)
    complaints = [False] * len(records)
    reasons: list[list[str]] = [[] for _ in records]
    if with_text:
        # one pass: the complaint model re-weighs the sentiment models' features of the same texts
        analysis, results = assess_batch(
            [texts[i] for i in with_text],
            [records[i]["event_type"] for i in with_text],
            [bool(records[i].get("is_brand")) for i in with_text],
            [languages[i] for i in with_text],
        )
        for i, p, c in zip(with_text, analysis.predictions, results, strict=True):
            labels[i], scores[i] = p.label, float(p.score)
            complaints[i], reasons[i] = c.flag, list(c.reasons)
    out: list[dict[str, Any]] = []
    for i, record in enumerate(records):
        row = dict(record)
        row["language"] = languages[i]
        row["sentiment_label"] = labels[i]
        row["sentiment_score"] = scores[i] or 0.0
        row["is_complaint"] = complaints[i]
        row["complaint_reasons"] = reasons[i]
        row["enriched_at"] = enriched_at
        row["pipeline_version"] = PIPELINE_VERSION
        out.append(row)
    return out
