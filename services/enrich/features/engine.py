"""Stateful features for a batch of enriched records: the one place that routes events to state.

Pure: state lives in mappings handed in (faust tables in the worker, dicts in tests), and the result
is plain data — per-event fields for the enriched row, and snapshot rows of every post, follower
journey and brand the batch changed (one row per key per batch, so hot posts do not flood the
changelog or ClickHouse). Exactly-once per key under redelivery: see :mod:`services.common.keyed_state`.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.common.keyed_state import Position, Scope, State, is_fresh, mark
from services.enrich.features import conversation, conversion, virality

DEFAULT_ATTRIBUTION_WINDOW_S = 6 * 3600


@dataclass
class Stores:
    """The backing mappings of the four state tables (key → JSON-shaped dict)."""

    posts: MutableMapping[str, Any] = field(default_factory=dict)
    funnels: MutableMapping[str, Any] = field(default_factory=dict)
    threads: MutableMapping[str, Any] = field(default_factory=dict)
    brands: MutableMapping[str, Any] = field(default_factory=dict)


@dataclass
class BatchResult:
    event_features: list[dict[str, Any]]  # aligned with the input records
    posts: list[dict[str, Any]]
    funnels: list[dict[str, Any]]
    brands: list[dict[str, Any]]


Writer = Callable[[str, str, int, State], None]  # (table name, key, partition, value)


def _ms(value: datetime | int) -> int:
    return value if isinstance(value, int) else int(value.timestamp() * 1000)


class FeatureEngine:
    """Applies batches to the state tables; ``write`` publishes each changed value (changelog + store)."""

    def __init__(self, stores: Stores, attribution_window_s: float = DEFAULT_ATTRIBUTION_WINDOW_S) -> None:
        self.stores = stores
        self.window_ms = int(attribution_window_s * 1000)

    def process(
        self,
        records: Sequence[dict[str, Any]],
        positions: Sequence[Position],
        write: Writer | None = None,
    ) -> BatchResult:
        scopes = {
            "posts": Scope(self.stores.posts),
            "funnels": Scope(self.stores.funnels),
            "threads": Scope(self.stores.threads),
            "brands": Scope(self.stores.brands),
        }
        features = [self._apply(r, p, scopes) for r, p in zip(records, positions, strict=True)]
        result = BatchResult(
            event_features=features,
            posts=[virality.snapshot(s, s["_t"]) for _, _, s in scopes["posts"].changed()],
            funnels=[conversion.snapshot(s, s["_t"]) for _, _, s in scopes["funnels"].changed()],
            brands=[conversation.snapshot(s, s["_t"]) for _, _, s in scopes["brands"].changed()],
        )
        publish = write or self._store_write
        for name, scope in scopes.items():
            scope.flush(lambda k, p, v, n=name: publish(n, k, p, v))  # type: ignore[misc]
        return result

    def _store_write(self, table: str, key: str, partition: int, value: State) -> None:
        getattr(self.stores, table)[key] = value

    def _apply(self, r: dict[str, Any], pos: Position, scopes: dict[str, Scope]) -> dict[str, Any]:
        kind, brand_id = r["event_type"], r["brand_id"]
        t = _ms(r["occurred_at"])
        out: dict[str, Any] = {}

        def update(scope: Scope, key: str, state: State, apply: Callable[[], None]) -> None:
            if is_fresh(state, pos):
                apply()
                mark(state, pos)
                state["_t"] = max(t, state.get("_t") or t)
            # Touched even when replayed: the state survived the crash but the snapshot published
            # from it may not have, so a redelivered event publishes the key's snapshot again.
            scope.touch(key, pos)

        brand_needed = (
            kind in ("post", "unfollow") or conversation.opens_item(r) or conversation.closes_item(r)
        )
        brand = (
            scopes["brands"].get_or_create(brand_id, lambda: conversation.new_brand(brand_id))
            if brand_needed
            else None
        )

        # Virality, keyed by post.
        post_id = r.get("post_id") or (r["event_id"] if kind == "post" else None)
        if kind in virality.POST_EVENT_TYPES and post_id:
            key = f"{brand_id}|{post_id}"
            post = scopes["posts"].get_or_create(
                key, lambda: virality.new_state(brand_id, r["platform"], post_id)
            )
            update(scopes["posts"], key, post, lambda: virality.apply(post, r, t))
            if kind == "share":
                out["cascade_depth"] = virality.share_depth(post, r["event_id"])
        if kind == "post" and brand is not None and post_id:
            b = brand
            update(scopes["brands"], brand_id, b, lambda: conversation.add_post(b, r["platform"], post_id, t))

        # Fan loss: the unfollow counts against the brand's latest post on that platform.
        if kind == "unfollow" and brand is not None:
            hit = conversation.attribute_unfollow(brand, r["platform"], t, self.window_ms)
            b = brand

            def count_unfollow() -> None:
                b["unfollows"] += 1
                b["unfollows_attributed"] += hit is not None

            update(scopes["brands"], brand_id, b, count_unfollow)
            if hit is not None:
                out["attributed_post_id"], out["seconds_since_post"] = hit
                key = f"{brand_id}|{hit[0]}"
                post = scopes["posts"].get_or_create(
                    key, lambda: virality.new_state(brand_id, r["platform"], hit[0])
                )
                update(scopes["posts"], key, post, lambda: virality.apply(post, r, t))

        # Follower conversion, keyed by (brand, actor); the brand's own activity is not a journey.
        if kind in conversion.FUNNEL_TYPES and not r.get("is_brand"):
            key = f"{brand_id}|{r['actor_id']}"
            funnel = scopes["funnels"].get_or_create(
                key, lambda: conversion.new_state(brand_id, r["actor_id"], r["platform"])
            )
            update(scopes["funnels"], key, funnel, lambda: conversion.apply(funnel, r, t))
            out.update(conversion.event_features(funnel, r))

        # Two-way communication: items opened by customers, closed by the brand's reply.
        if conversation.opens_item(r) and brand is not None:
            key = f"{brand_id}|{r['event_id']}"
            item = scopes["threads"].get_or_create(key, conversation.new_item)

            def open_() -> None:
                if item["closed_by"] is not None and item["opened_at"] is None:
                    item["answered_on_arrival"] = True
                conversation.open_item(item, r, t)

            update(scopes["threads"], key, item, open_)
            b = brand
            update(scopes["brands"], brand_id, b, lambda: conversation.apply_open_to_brand(b, item))
            out["unanswered_complaints_change"] = conversation.backlog_change_on_open(item, r["event_id"])
        elif conversation.closes_item(r) and brand is not None:
            key = f"{brand_id}|{r['parent_id']}"
            item = scopes["threads"].get_or_create(key, conversation.new_item)
            update(scopes["threads"], key, item, lambda: conversation.close_item(item, r, t))
            b = brand
            update(
                scopes["brands"],
                brand_id,
                b,
                lambda: conversation.apply_close_to_brand(b, item, r["event_id"]),
            )
            if item["closed_by"] == r["event_id"]:
                out["response_seconds"] = conversation.response_seconds(item)
            out["unanswered_complaints_change"] = conversation.backlog_change_on_close(item, r["event_id"])
        return out
