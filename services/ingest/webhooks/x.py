"""X Account Activity API deliveries → canonical events (brand_id = ``for_user_id``).

Tweets: retweet → share, reply → reply, quote → share (with the quote's text), an original tweet →
post when the subscribed user wrote it, else mention. ``favorite_events`` → like, ``follow_events`` →
follow/unfollow. Event ids come from X's ids (``x:<tweet>``, ``x:fav:<user>:<tweet>``,
``x:follow:<source>:<target>:<ms>``), so redeliveries collapse downstream. Other activity arrays
(DMs, deletes, blocks...) are counted as ignored; unknown top-level keys are listed in
``unknown_fields``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from services.ingest.webhooks.model import (
    MappedPayload,
    PayloadError,
    epoch_ms,
    ident,
    obj,
    opt_ident,
    opt_text,
    seq,
)

MAPPED = ("tweet_create_events", "favorite_events", "follow_events")
_KNOWN_TOP = frozenset({"for_user_id", "user_has_blocked", "users", "apps", "source", *MAPPED})


def map_x(payload: Mapping[str, Any]) -> MappedPayload:
    brand = ident(payload.get("for_user_id"), "for_user_id")
    out = MappedPayload()
    for key, value in payload.items():
        if key in _KNOWN_TOP:
            continue
        if isinstance(key, str) and key.endswith("_events"):
            out.ignored += len(value) if isinstance(value, list) else 1
        else:
            out.note_unknown(str(key)[:64])
    for i, raw in enumerate(_items(payload, "tweet_create_events")):
        out.events.append(_tweet(obj(raw, f"tweet_create_events[{i}]"), f"tweet_create_events[{i}]", brand))
    for i, raw in enumerate(_items(payload, "favorite_events")):
        out.events.append(_favorite(obj(raw, f"favorite_events[{i}]"), f"favorite_events[{i}]", brand))
    for i, raw in enumerate(_items(payload, "follow_events")):
        event = _follow(obj(raw, f"follow_events[{i}]"), f"follow_events[{i}]", brand)
        if event is None:
            out.ignored += 1
        else:
            out.events.append(event)
    return out


def _items(payload: Mapping[str, Any], key: str) -> list[Any]:
    return [] if payload.get(key) is None else seq(payload[key], key)


def _user(value: Any, path: str) -> tuple[str, int | None]:
    user = obj(value, path)
    uid = ident(user.get("id_str") if user.get("id_str") is not None else user.get("id"), f"{path}.id_str")
    followers = user.get("followers_count")
    ok = isinstance(followers, int) and not isinstance(followers, bool) and followers >= 0
    return uid, followers if ok else None


def _tweet_id(tweet: Mapping[str, Any], path: str) -> str:
    return ident(
        tweet.get("id_str") if tweet.get("id_str") is not None else tweet.get("id"), f"{path}.id_str"
    )


def _when(item: Mapping[str, Any], path: str, *keys: str) -> int:
    for key in keys:
        if item.get(key) is not None:
            return epoch_ms(item[key], f"{path}.{key}")
    created = item.get("created_at")
    if isinstance(created, str):
        try:  # X's classic format: "Wed Oct 10 20:19:24 +0000 2018"
            return int(datetime.strptime(created, "%a %b %d %H:%M:%S %z %Y").timestamp() * 1000)
        except ValueError:
            return epoch_ms(created, f"{path}.created_at")
    raise PayloadError(f"{path}.{keys[0] if keys else 'created_at'}", "missing")


def _text(tweet: Mapping[str, Any], path: str) -> str | None:
    extended = tweet.get("extended_tweet")
    if isinstance(extended, Mapping) and isinstance(extended.get("full_text"), str):
        return str(extended["full_text"])
    if tweet.get("full_text") is not None:
        return opt_text(tweet.get("full_text"), f"{path}.full_text")
    return opt_text(tweet.get("text"), f"{path}.text")


def _tweet(tweet: Mapping[str, Any], path: str, brand: str) -> dict[str, Any]:
    tweet_id = _tweet_id(tweet, path)
    actor, followers = _user(tweet.get("user"), f"{path}.user")
    retweeted = tweet.get("retweeted_status")
    reply_to = opt_ident(tweet.get("in_reply_to_status_id_str"), f"{path}.in_reply_to_status_id_str")
    if reply_to is None:
        reply_to = opt_ident(tweet.get("in_reply_to_status_id"), f"{path}.in_reply_to_status_id")
    text = _text(tweet, path)
    post_id: str | None = tweet_id
    parent: str | None = None
    if retweeted is not None:
        original = _tweet_id(obj(retweeted, f"{path}.retweeted_status"), f"{path}.retweeted_status")
        event_type, post_id, parent, text = "share", original, f"x:{original}", None
    elif reply_to is not None:
        event_type, post_id, parent = "reply", reply_to, f"x:{reply_to}"
    elif tweet.get("is_quote_status") is True:
        quoted = opt_ident(tweet.get("quoted_status_id_str"), f"{path}.quoted_status_id_str")
        if quoted is None and tweet.get("quoted_status") is not None:
            quoted = _tweet_id(obj(tweet["quoted_status"], f"{path}.quoted_status"), f"{path}.quoted_status")
        event_type = "share"
        if quoted is not None:
            post_id, parent = quoted, f"x:{quoted}"
    else:
        event_type = "post" if actor == brand else "mention"
    lang = tweet.get("lang")
    return {
        "event_id": f"x:{tweet_id}",
        "platform": "x",
        "event_type": event_type,
        "brand_id": brand,
        "account_id": brand,
        "post_id": post_id,
        "actor_id": actor,
        "parent_id": parent,
        "is_brand": actor == brand,
        "text": text,
        "lang": lang if isinstance(lang, str) and 0 < len(lang) <= 16 and lang != "und" else None,
        "actor_followers": followers,
        "occurred_at": _when(tweet, path, "timestamp_ms"),
        "attributes": {"x.tweet_id": tweet_id},
    }


def _favorite(fav: Mapping[str, Any], path: str, brand: str) -> dict[str, Any]:
    actor, followers = _user(fav.get("user"), f"{path}.user")
    status = obj(fav.get("favorited_status"), f"{path}.favorited_status")
    tweet_id = _tweet_id(status, f"{path}.favorited_status")
    return {
        "event_id": f"x:fav:{actor}:{tweet_id}",
        "platform": "x",
        "event_type": "like",
        "brand_id": brand,
        "account_id": brand,
        "post_id": tweet_id,
        "actor_id": actor,
        "parent_id": f"x:{tweet_id}",
        "is_brand": actor == brand,
        "actor_followers": followers,
        "occurred_at": _when(fav, path, "timestamp_ms"),
    }


def _follow(follow: Mapping[str, Any], path: str, brand: str) -> dict[str, Any] | None:
    kind = follow.get("type")
    if kind not in ("follow", "unfollow"):
        return None
    source, followers = _user(follow.get("source"), f"{path}.source")
    target, _ = _user(follow.get("target"), f"{path}.target")
    when = _when(follow, path, "created_timestamp")
    return {
        "event_id": f"x:{kind}:{source}:{target}:{when}",
        "platform": "x",
        "event_type": kind,
        "brand_id": brand,
        "account_id": brand,
        "actor_id": source,
        "is_brand": source == brand,
        "actor_followers": followers,
        "occurred_at": when,
    }
