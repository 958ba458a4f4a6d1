"""Post alerts judge lateness per brand: how fast the enrich worker read one brand's partition compared
with another's must not change which posts page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.alerts.engine import AlertEngine
from services.alerts.spike import SpikeConfig
from services.common.keyed_state import Position

T0 = datetime(2026, 11, 2, 10, tzinfo=UTC)


def _snapshot(brand: str, post: str, minutes: float, comments: int, negative: int) -> dict[str, Any]:
    return {
        "post_id": post,
        "brand_id": brand,
        "platform": "facebook",
        "posted_at": T0,
        "comments": comments,
        "negative_comments": negative,
        "complaints": negative // 2,
        "cascade_size": 80,
        "cascade_depth": 3,
        "unique_reach": 5000,
        "is_viral": True,
        "updated_at": T0 + timedelta(minutes=minutes),
    }


def _story(brand: str, post: str, start: float) -> list[dict[str, Any]]:
    """A post that turns viral and negative, then is drowned by supportive comments 30 min later."""
    return [
        _snapshot(brand, post, start, 60, 45),
        _snapshot(brand, post, start + 30, 200, 50),
    ]


def _page(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    engine = AlertEngine({}, SpikeConfig(), ("viral_negative_post",), allowed_lateness_seconds=3600)
    alerts = engine.process_posts(rows, [Position(0, i) for i in range(len(rows))])  # one partition
    return sorted((a["post_id"], a["status"]) for a in alerts)


def test_a_brand_read_hours_behind_another_in_the_same_partition_still_pages() -> None:
    ahead = _story("fast-brand", "f-1", start=600)  # ten hours later in event time
    behind = _story("slow-brand", "s-1", start=0)
    expected = [("f-1", "firing"), ("f-1", "resolved"), ("s-1", "firing"), ("s-1", "resolved")]
    assert _page(ahead + behind) == expected
    assert _page(behind + ahead) == expected
    assert _page([ahead[0], behind[0], ahead[1], behind[1]]) == expected


def test_a_backfill_behind_the_brand_s_own_snapshots_still_pages_nothing() -> None:
    later = _snapshot("acme", "a-1", 600, 10, 1)  # a quiet post of the brand, ten hours on
    backfill = _story("acme", "a-2", start=0)  # then an earlier period of the same brand is replayed
    assert _page([later, *backfill]) == []
