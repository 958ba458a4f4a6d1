"""Follower conversion per (brand, actor): funnel stage, touches before conversion, attribution.

The funnel is follower → engaged → clicked → lead → customer; an actor's stage is the furthest step
reached (an existing follower who only likes is "engaged"). A *touch* is a brand-directed action by
the actor — follow, like, comment, reply, share, mention, message, click, lead — on any platform;
unfollows and purchases are not touches. ``touches_before_conversion`` counts the touches strictly
before the actor's first purchase, in processing order (raw events are keyed by brand, so one brand's
events are processed in the order ingest accepted them). Attribution is first-touch and last-touch:
the earliest and latest touch that carried a post (``*_touch_post_id``) and, separately, a campaign
(``*_touch_campaign_id``). A lead gets the same numbers over the touches before it.
"""

from __future__ import annotations

from typing import Any

from services.common.keyed_state import State

STAGES = ("none", "follower", "engaged", "clicked", "lead", "customer")
TOUCH_TYPES = frozenset(
    ("follow", "like", "comment", "reply", "share", "mention", "message", "click", "lead")
)
FUNNEL_TYPES = TOUCH_TYPES | {"purchase", "unfollow"}
_STAGE_OF = {
    "follow": 1,
    "like": 2,
    "comment": 2,
    "reply": 2,
    "share": 2,
    "mention": 2,
    "message": 2,
    "click": 3,
    "lead": 4,
    "purchase": 5,
}
_STAGE_FIELD = {1: "followed_at", 2: "engaged_at", 3: "clicked_at", 4: "lead_at", 5: "converted_at"}
KEEP_LEADS = 5


def new_state(brand_id: str, actor_id: str, platform: str) -> State:
    return {
        "brand": brand_id,
        "actor": actor_id,
        "platform": platform,
        "stage": 0,
        "touches": 0,
        "first_touch_at": None,
        "first_post": None,
        "last_post": None,
        "first_campaign": None,
        "last_campaign": None,
        "followed_at": None,
        "engaged_at": None,
        "clicked_at": None,
        "lead_at": None,
        "converted_at": None,
        "purchases": 0,
        "unfollows": 0,
        "conversion": None,  # features of the first purchase, read back on replays
        "leads": {},  # lead event_id -> features (the latest KEEP_LEADS)
    }


def apply(state: State, record: dict[str, Any], t_ms: int) -> None:
    """Apply one non-brand event of this actor (the caller checked it was not applied before)."""
    kind = record["event_type"]
    if kind == "unfollow":
        state["unfollows"] += 1
        return
    if kind == "purchase":
        state["purchases"] += 1
        if state["conversion"] is None:
            state["conversion"] = {"event_id": record["event_id"], **_attribution(state, t_ms)}
    elif kind == "lead":
        leads: dict[str, Any] = state["leads"]
        leads[record["event_id"]] = _attribution(state, t_ms)
        if len(leads) > KEEP_LEADS:
            del leads[next(iter(leads))]
    if kind in TOUCH_TYPES and state["conversion"] is None:
        _touch(state, record, t_ms)
    stage = _STAGE_OF.get(kind, 0)
    field = _STAGE_FIELD.get(stage)
    if field is not None and state[field] is None:
        state[field] = t_ms
    state["stage"] = max(state["stage"], stage)


def _touch(state: State, record: dict[str, Any], t_ms: int) -> None:
    state["touches"] += 1
    if state["first_touch_at"] is None:
        state["first_touch_at"] = t_ms
    if post := record.get("post_id"):
        state["first_post"] = state["first_post"] or post
        state["last_post"] = post
    if campaign := record.get("campaign_id"):
        state["first_campaign"] = state["first_campaign"] or campaign
        state["last_campaign"] = campaign


def _attribution(state: State, t_ms: int) -> dict[str, Any]:
    first = state["first_touch_at"]
    return {
        "touches_before_conversion": state["touches"],
        "seconds_to_convert": (t_ms - first) / 1000 if first is not None else 0.0,
        "first_touch_post_id": state["first_post"],
        "last_touch_post_id": state["last_post"],
        "first_touch_campaign_id": state["first_campaign"],
        "last_touch_campaign_id": state["last_campaign"],
    }


def event_features(state: State, record: dict[str, Any]) -> dict[str, Any]:
    """Conversion fields for a lead or the converting purchase, as stored when it was applied."""
    kind, event_id = record["event_type"], record["event_id"]
    if kind == "purchase" and state["conversion"] and state["conversion"]["event_id"] == event_id:
        return {k: v for k, v in state["conversion"].items() if k != "event_id"}
    if kind == "lead" and event_id in state["leads"]:
        return dict(state["leads"][event_id])
    return {}


def snapshot(state: State, updated_at_ms: int) -> dict[str, Any]:
    """The ``follower_funnel`` row: current stage, stage times, and the conversion if there is one."""
    conv = state["conversion"] or {}
    current = _attribution(state, updated_at_ms)
    source = conv or current
    return {
        "brand_id": state["brand"],
        "actor_id": state["actor"],
        "platform": state["platform"],
        "stage": STAGES[state["stage"]],
        "stage_rank": state["stage"],
        "touches": state["touches"],
        "first_touch_at": state["first_touch_at"],
        "followed_at": state["followed_at"],
        "engaged_at": state["engaged_at"],
        "clicked_at": state["clicked_at"],
        "lead_at": state["lead_at"],
        "converted_at": state["converted_at"],
        "touches_before_conversion": conv.get("touches_before_conversion"),
        "seconds_to_convert": conv.get("seconds_to_convert"),
        "first_touch_post_id": source["first_touch_post_id"],
        "last_touch_post_id": source["last_touch_post_id"],
        "first_touch_campaign_id": source["first_touch_campaign_id"],
        "last_touch_campaign_id": source["last_touch_campaign_id"],
        "purchases": state["purchases"],
        "unfollows": state["unfollows"],
        "updated_at": updated_at_ms,
        "version": int(state.get("_v", 0)),
    }
