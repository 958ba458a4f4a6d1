"""Valid records for tests, shaped exactly as the Avro codec decodes them.

Every field is present and timestamps are tz-aware UTC truncated to milliseconds, so
``codec(subject).decode(codec(subject).encode(r)) == r`` holds for these records.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any


def utc_ms(value: datetime | None = None) -> datetime:
    """``value`` (default: now) as tz-aware UTC truncated to milliseconds, the wire precision."""
    value = value or datetime.now(UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def make_social_event(**overrides: Any) -> dict[str, Any]:
    """A valid canonical raw event (subject ``social_event``) with a fresh UUID event_id."""
    occurred_at = utc_ms()
    event: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "platform": "instagram",
        "event_type": "comment",
        "brand_id": "brand-1",
        "account_id": "acct-1",
        "post_id": "post-1",
        "actor_id": "actor-" + uuid.uuid4().hex[:12],
        "parent_id": None,
        "is_brand": False,
        "text": "Love the new release!",
        "lang": "en",
        "campaign_id": None,
        "actor_followers": 120,
        "occurred_at": occurred_at,
        "received_at": occurred_at + timedelta(milliseconds=250),
        "attributes": {},
    }
    event.update(overrides)
    return event


def make_enriched_event(**overrides: Any) -> dict[str, Any]:
    """A valid enriched event (subject ``enriched_event``): a social event plus enrich's fields."""
    event = make_social_event()
    event.update(
        {
            "language": "en",
            "enriched_at": event["received_at"] + timedelta(milliseconds=40),
            "pipeline_version": "1",
        }
    )
    event.update(overrides)
    return event


def make_alert(**overrides: Any) -> dict[str, Any]:
    """A valid firing alert (subject ``alert``)."""
    fired_at = utc_ms()
    window_end = fired_at.replace(second=0, microsecond=0)
    alert: dict[str, Any] = {
        "alert_id": str(uuid.uuid4()),
        "brand_id": "brand-1",
        "platform": "instagram",
        "kind": "volume_spike",
        "severity": "warning",
        "status": "firing",
        "window_start": window_end - timedelta(minutes=5),
        "window_end": window_end,
        "fired_at": fired_at,
        "observed": 240.0,
        "expected": 35.5,
        "score": 6.2,
        "summary": "instagram volume 240 vs 35.5 expected in 5 min",
        "sample_event_ids": ["e-1", "e-2"],
        "sample_texts": ["Love it", "When is it back in stock?"],
    }
    alert.update(overrides)
    return alert


# A Meta page-feed webhook delivery with one comment (fb:C1), as platform-shaped replay input.
META_COMMENT_PAYLOAD = {
    "object": "page",
    "entry": [
        {
            "id": "PAGE1",
            "time": 1700000000,
            "changes": [
                {
                    "field": "feed",
                    "value": {
                        "item": "comment",
                        "verb": "add",
                        "comment_id": "C1",
                        "post_id": "PAGE1_P1",
                        "parent_id": "PAGE1_P1",
                        "from": {"id": "U1", "name": "n"},
                        "message": "hello",
                        "created_time": 1700000000,
                    },
                }
            ],
        }
    ],
}
