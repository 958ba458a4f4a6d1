"""Two-way communication and fan loss, per brand.

*Threads*: a customer comment or direct message opens an item the brand should answer; the brand's
first reply to it (``is_brand`` reply whose ``parent_id`` is the item) closes it and carries
``response_seconds`` = reply time - item time. A reply can arrive before the item (late webhook):
the item is then created already answered and closes when it arrives. Items are keyed by
``brand|item_event_id`` and remember what opened and closed them, so a replayed event re-derives the
same transition.

*Brand backlog*: per brand, open items, unanswered complaints (open items flagged ``is_complaint``),
answered items and their summed response time. Each opening complaint and answering reply also
carries its own change to the unanswered complaints (``unanswered_complaints_change``, +1/-1): the
alerts service pages on the backlog's growth from those, bucketed by each event's own time, so how
events were batched into snapshots cannot move growth from one bucket to another.

*Fan loss*: an unfollow is attributed to the brand's most recent post on the same platform published
at most ``attribution_window_ms`` before it; the brand state keeps the latest posts per platform for
that lookup (by event time, so the answer does not depend on processing order).
"""

from __future__ import annotations

import bisect
from typing import Any

from services.common.keyed_state import State

OPENING_TYPES = frozenset(("comment", "message"))
KEEP_POSTS = 50


def new_item() -> State:
    return {"opened_at": None, "opened_by": None, "complaint": False, "closed_by": None, "closed_at": None}


def new_brand(brand_id: str) -> State:
    return {
        "brand": brand_id,
        "open": 0,
        "unanswered_complaints": 0,
        "answered": 0,
        "answered_complaints": 0,
        "response_seconds_sum": 0.0,
        "unfollows": 0,
        "unfollows_attributed": 0,
        "posts": {},  # platform -> [[posted_at_ms, post_id], ...] sorted, latest KEEP_POSTS
        "last_event_at": None,
    }


def opens_item(record: dict[str, Any]) -> bool:
    return record["event_type"] in OPENING_TYPES and not record.get("is_brand")


def closes_item(record: dict[str, Any]) -> bool:
    return record["event_type"] == "reply" and bool(record.get("is_brand")) and bool(record.get("parent_id"))


def open_item(item: State, record: dict[str, Any], t_ms: int) -> None:
    item["opened_at"] = t_ms
    item["opened_by"] = record["event_id"]
    item["complaint"] = bool(record.get("is_complaint"))


def close_item(item: State, record: dict[str, Any], t_ms: int) -> None:
    if item["closed_by"] is None:
        item["closed_by"] = record["event_id"]
        item["closed_at"] = t_ms


def response_seconds(item: State) -> float | None:
    if item["opened_at"] is None or item["closed_at"] is None:
        return None
    return (item["closed_at"] - item["opened_at"]) / 1000


def apply_open_to_brand(brand: State, item: State) -> None:
    """The brand-level effect of the event that opened ``item`` (already answered if a reply came first)."""
    if item["closed_by"] is not None and item["opened_at"] is not None and _answered_on_arrival(item):
        _count_answer(brand, item)
        return
    brand["open"] += 1
    brand["unanswered_complaints"] += item["complaint"]


def apply_close_to_brand(brand: State, item: State, reply_id: str) -> None:
    """The brand-level effect of reply ``reply_id`` (nothing unless it is the reply that closed the item)."""
    if item["closed_by"] != reply_id or item["opened_at"] is None:
        return  # a second reply, or the item is not known yet: counted when it arrives
    if _answered_on_arrival(item):
        return
    brand["open"] -= 1
    brand["unanswered_complaints"] -= item["complaint"]
    _count_answer(brand, item)


def backlog_change_on_open(item: State, event_id: str) -> int:
    """The opening event's ``unanswered_complaints_change``: +1 for a complaint not answered on arrival.

    Derived from the item's state, which remembers what opened and closed it, so a redelivered event
    carries the same change as the first delivery (as :func:`apply_open_to_brand` counted it once)."""
    if item["opened_by"] != event_id or not item["complaint"] or _answered_on_arrival(item):
        return 0
    return 1


def backlog_change_on_close(item: State, reply_id: str) -> int:
    """The reply's ``unanswered_complaints_change``: -1 when it answered an open complaint (the cases
    :func:`apply_close_to_brand` counts)."""
    if item["closed_by"] != reply_id or item["opened_at"] is None or _answered_on_arrival(item):
        return 0
    return -1 if item["complaint"] else 0


def _answered_on_arrival(item: State) -> bool:
    return bool(item.get("answered_on_arrival"))


def _count_answer(brand: State, item: State) -> None:
    brand["answered"] += 1
    brand["answered_complaints"] += item["complaint"]
    brand["response_seconds_sum"] += response_seconds(item) or 0.0


def add_post(brand: State, platform: str, post_id: str, t_ms: int) -> None:
    posts: list[list[Any]] = brand["posts"].setdefault(platform, [])
    if any(p[1] == post_id for p in posts):
        return
    bisect.insort(posts, [t_ms, post_id])
    del posts[:-KEEP_POSTS]


def attribute_unfollow(brand: State, platform: str, t_ms: int, window_ms: int) -> tuple[str, float] | None:
    """(post_id, seconds since it was posted) of the latest post at most ``window_ms`` before ``t_ms``."""
    posts = brand["posts"].get(platform, [])
    i = bisect.bisect_right(posts, [t_ms, "\uffff"])
    if i == 0:
        return None
    posted_at, post_id = posts[i - 1]
    if t_ms - posted_at > window_ms:
        return None
    return post_id, (t_ms - posted_at) / 1000


def snapshot(brand: State, updated_at_ms: int) -> dict[str, Any]:
    """The ``brand_backlog`` row: the two-way communication numbers of one brand."""
    answered = brand["answered"]
    return {
        "brand_id": brand["brand"],
        "open_items": brand["open"],
        "unanswered_complaints": brand["unanswered_complaints"],
        "answered_items": answered,
        "answered_complaints": brand["answered_complaints"],
        "mean_response_seconds": round(brand["response_seconds_sum"] / answered, 3) if answered else None,
        "unfollows": brand["unfollows"],
        "unfollows_attributed": brand["unfollows_attributed"],
        "updated_at": updated_at_ms,
        "version": int(brand.get("_v", 0)),
    }
