"""Valid records for tests, shaped exactly as the Avro codec decodes them.

Every field is present and timestamps are tz-aware UTC truncated to milliseconds, so
``codec(subject).decode(codec(subject).encode(r)) == r`` holds for these records.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
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
            "pipeline_version": "2",
            "sentiment_label": "negative",
            "sentiment_score": -0.75,
            "is_complaint": True,
            "complaint_reasons": ["refund", "charged twice"],
            "cascade_depth": None,
            "response_seconds": None,
            "unanswered_complaints_change": 0,
            "touches_before_conversion": None,
            "seconds_to_convert": None,
            "first_touch_post_id": None,
            "last_touch_post_id": None,
            "first_touch_campaign_id": None,
            "last_touch_campaign_id": None,
            "attributed_post_id": None,
            "seconds_since_post": None,
        }
    )
    event.update(overrides)
    return event


def make_post_virality(**overrides: Any) -> dict[str, Any]:
    """A valid post snapshot (subject ``post_virality``)."""
    row: dict[str, Any] = {
        "post_id": "p-1",
        "brand_id": "brand-1",
        "platform": "instagram",
        "posted_at": utc_ms() - timedelta(hours=1),
        "campaign_id": "brand-1-launch",
        "likes": 120,
        "comments": 14,
        "negative_comments": 2,
        "complaints": 1,
        "clicks": 9,
        "shares": 6,
        "cascade_size": 30,
        "cascade_depth": 4,
        "cascade_breadth": 11,
        "unresolved_shares": 0,
        "unique_reach": 5400,
        "unique_sharers": 29,
        "share_velocity_5m": 3,
        "peak_share_velocity_5m": 12,
        "viral_coefficient": 0.8,
        "is_viral": True,
        "unfollows_attributed": 1,
        "updated_at": utc_ms(),
        "version": 181,
    }
    row.update(overrides)
    return row


def make_follower_funnel(**overrides: Any) -> dict[str, Any]:
    """A valid follower journey snapshot (subject ``follower_funnel``) of a converted actor."""
    now = utc_ms()
    row: dict[str, Any] = {
        "brand_id": "brand-1",
        "actor_id": "ps-abc",
        "platform": "x",
        "stage": "customer",
        "stage_rank": 5,
        "touches": 6,
        "first_touch_at": now - timedelta(hours=3),
        "followed_at": now - timedelta(hours=3),
        "engaged_at": now - timedelta(hours=2),
        "clicked_at": now - timedelta(hours=1),
        "lead_at": now - timedelta(minutes=30),
        "converted_at": now,
        "touches_before_conversion": 6,
        "seconds_to_convert": 10800.0,
        "first_touch_post_id": "p-1",
        "last_touch_post_id": "p-2",
        "first_touch_campaign_id": "brand-1-launch",
        "last_touch_campaign_id": "brand-1-launch",
        "purchases": 1,
        "unfollows": 0,
        "updated_at": now,
        "version": 7,
    }
    row.update(overrides)
    return row


def make_brand_backlog(**overrides: Any) -> dict[str, Any]:
    """A valid brand backlog snapshot (subject ``brand_backlog``)."""
    row: dict[str, Any] = {
        "brand_id": "brand-1",
        "open_items": 12,
        "unanswered_complaints": 4,
        "answered_items": 40,
        "answered_complaints": 15,
        "mean_response_seconds": 812.5,
        "unfollows": 3,
        "unfollows_attributed": 2,
        "updated_at": utc_ms(),
        "version": 90,
    }
    row.update(overrides)
    return row


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
        "event_time": window_end,
        "fired_event_time": window_end,
        "processed_at": fired_at,
        "post_id": None,
        "description": "instagram volume 240 vs 35.5 expected in 5 min.\nSample messages:\n- Love it",
        "top_post_ids": ["p-1"],
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


FACTORIES: dict[str, Callable[..., dict[str, Any]]] = {
    "social_event": make_social_event,
    "enriched_event": make_enriched_event,
    "alert": make_alert,
    "post_virality": make_post_virality,
    "follower_funnel": make_follower_funnel,
    "brand_backlog": make_brand_backlog,
}
"""A valid record per registered Avro subject."""
