"""Virality of one post: engagement counts, share cascades, share velocity, reach.

A cascade is the tree of shares under a post: a share whose ``parent_id`` is the post (or missing) is
depth 1, a share of a share is one deeper. Shares can arrive before their parent (late webhooks), so a
share with an unknown parent waits in ``pending`` and its subtree gets depths when the parent arrives.
State is a plain JSON-shaped dict (string keys), updated in place by :func:`apply`.

Definitions (the numbers analysts see in ``post_virality``):

- ``cascade_size``: every share of the post, any depth; ``shares``: depth-1 shares only.
- ``cascade_depth``: deepest generation; ``cascade_breadth``: most shares at one depth.
- ``unique_reach``: sum of followers of the distinct sharers (each sharer counted once, with the
  follower count of their first share). Exact rather than a sketch: cascades are thousands of shares
  at most, and analysts compare reach across posts, where sketch error would reorder close posts.
- ``viral_coefficient``: shares caused per share = shares at depth >= 2 / shares with a known depth,
  the cascade's empirical branching ratio (>= 1 means each share brings at least one more).
- ``share_velocity_5m``: shares in the latest 5-minute bucket (tumbling, event time);
  ``peak_share_velocity_5m``: the largest bucket so far.
- ``is_viral``: ``cascade_size >= VIRAL_MIN_CASCADE`` and (``cascade_depth >= VIRAL_MIN_DEPTH`` or
  ``peak_share_velocity_5m >= VIRAL_MIN_VELOCITY``): enough shares, spreading beyond the brand's
  own audience (depth) or fast (velocity). Broadcast-only posts with many direct shares but no
  reshares and no burst are popular, not viral.
"""

from __future__ import annotations

from typing import Any

from services.common.keyed_state import State

SHARE_BUCKET_MS = 300_000
KEEP_BUCKETS = 12  # an hour of buckets; the peak is kept separately
VIRAL_MIN_CASCADE = 25
VIRAL_MIN_DEPTH = 3
VIRAL_MIN_VELOCITY = 10
POST_EVENT_TYPES = frozenset(("post", "like", "comment", "share", "click"))


def new_state(brand_id: str, platform: str, post_id: str) -> State:
    return {
        "post_id": post_id,
        "brand": brand_id,
        "platform": platform,
        "posted_at": None,
        "campaign": None,
        "likes": 0,
        "comments": 0,
        "negative_comments": 0,
        "complaints": 0,
        "clicks": 0,
        "unfollows": 0,
        "sd": {},  # share event_id -> depth (0 while its parent is unknown)
        "pending": {},  # unknown parent id -> [child share ids]
        "hist": {},  # str(depth) -> shares at that depth
        "sharers": {},  # actor_id -> followers at their first share
        "reach": 0,
        "buckets": {},  # str(bucket start ms) -> shares
        "peak": 0,
        "last_share_at": None,
    }


def apply(state: State, record: dict[str, Any], t_ms: int) -> None:
    """Apply one event that concerns this post (the caller checked it was not applied before)."""
    kind = record["event_type"]
    if kind == "post":
        state["posted_at"] = t_ms
        state["campaign"] = record.get("campaign_id")
        state["platform"] = record["platform"]
    elif kind == "like":
        state["likes"] += 1
    elif kind == "comment":
        state["comments"] += 1
        state["negative_comments"] += record.get("sentiment_label") == "negative"
        state["complaints"] += bool(record.get("is_complaint"))
    elif kind == "click":
        state["clicks"] += 1
    elif kind == "share":
        add_share(
            state,
            record["event_id"],
            record.get("parent_id"),
            record["actor_id"],
            record.get("actor_followers") or 0,
            t_ms,
        )
    elif kind == "unfollow":
        state["unfollows"] += 1


def add_share(
    state: State, share_id: str, parent_id: str | None, actor_id: str, followers: int, t_ms: int
) -> None:
    sd: dict[str, int] = state["sd"]
    if share_id in sd:
        return
    sd[share_id] = 0
    if actor_id not in state["sharers"]:
        state["sharers"][actor_id] = followers
        state["reach"] += followers
    bucket = str(t_ms - t_ms % SHARE_BUCKET_MS)
    buckets: dict[str, int] = state["buckets"]
    buckets[bucket] = buckets.get(bucket, 0) + 1
    state["peak"] = max(state["peak"], buckets[bucket])
    if len(buckets) > KEEP_BUCKETS:
        for old in sorted(buckets, key=int)[: len(buckets) - KEEP_BUCKETS]:
            del buckets[old]
    if state["last_share_at"] is None or t_ms > state["last_share_at"]:
        state["last_share_at"] = t_ms
    if parent_id is None or parent_id == state["post_id"]:
        _resolve(state, share_id, 1)
    elif sd.get(parent_id, 0) > 0:
        _resolve(state, share_id, sd[parent_id] + 1)
    else:
        state["pending"].setdefault(parent_id, []).append(share_id)


def _resolve(state: State, share_id: str, depth: int) -> None:
    """Give ``share_id`` its depth, then every share that was waiting for it, breadth first."""
    stack = [(share_id, depth)]
    while stack:
        sid, d = stack.pop()
        state["sd"][sid] = d
        state["hist"][str(d)] = state["hist"].get(str(d), 0) + 1
        stack.extend((child, d + 1) for child in state["pending"].pop(sid, []))


def share_depth(state: State, share_id: str) -> int | None:
    depth = state["sd"].get(share_id)
    return depth or None


def snapshot(state: State, updated_at_ms: int) -> dict[str, Any]:
    """The ``post_virality`` row for this post as of now."""
    hist = {int(d): n for d, n in state["hist"].items()}
    resolved = sum(hist.values())
    size = len(state["sd"])
    depth = max(hist, default=0)
    reshares = sum(n for d, n in hist.items() if d >= 2)
    buckets = state["buckets"]
    current = buckets[max(buckets, key=int)] if buckets else 0
    return {
        "post_id": state["post_id"],
        "brand_id": state["brand"],
        "platform": state["platform"],
        "posted_at": state["posted_at"],
        "campaign_id": state["campaign"],
        "likes": state["likes"],
        "comments": state["comments"],
        "negative_comments": state["negative_comments"],
        "complaints": state["complaints"],
        "clicks": state["clicks"],
        "shares": hist.get(1, 0),
        "cascade_size": size,
        "cascade_depth": depth,
        "cascade_breadth": max(hist.values(), default=0),
        "unresolved_shares": size - resolved,
        "unique_reach": state["reach"],
        "unique_sharers": len(state["sharers"]),
        "share_velocity_5m": current,
        "peak_share_velocity_5m": state["peak"],
        "viral_coefficient": round(reshares / resolved, 6) if resolved else 0.0,
        "is_viral": is_viral(size, depth, state["peak"]),
        "unfollows_attributed": state["unfollows"],
        "updated_at": updated_at_ms,
        "version": int(state.get("_v", 0)),
    }


def is_viral(cascade_size: int, cascade_depth: int, peak_velocity: int) -> bool:
    return cascade_size >= VIRAL_MIN_CASCADE and (
        cascade_depth >= VIRAL_MIN_DEPTH or peak_velocity >= VIRAL_MIN_VELOCITY
    )
