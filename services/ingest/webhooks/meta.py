"""Meta webhooks (Facebook Page ``feed`` changes, Instagram ``comments``/``mentions``) → canonical events.

* brand_id and account_id are the entry id (the Page or Instagram account the app is subscribed to):
  there is no brand registry yet, so one subscribed account is one brand.
* Event ids are derived from the platform ids (``fb:<comment_id>``, ``fb:react:<user>:<object>``,
  ``ig:<comment_id>``...), so a redelivered webhook yields the same ids and collapses downstream.
* Only creations are mapped: ``verb`` ``remove``/``edited``/``hide``... and unsupported items or fields
  are counted in ``ignored``. Value keys the mapper does not know are listed in ``unknown_fields``
  (for the metric) but not stored: they may carry personal data (message tags name tagged users).
"""

from __future__ import annotations

from collections.abc import Mapping
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

OBJECTS = {"page": "facebook", "instagram": "instagram"}
_FB_KNOWN = frozenset(
    {
        "from",
        "item",
        "verb",
        "post_id",
        "comment_id",
        "parent_id",
        "created_time",
        "message",
        "reaction_type",
        "share_id",
        "link",
        "post",
        "is_hidden",
        "photo_id",
        "video_id",
        "published",
        "photo",
        "photos",
        "status_type",
    }
)
_IG_COMMENT_KNOWN = frozenset({"from", "media", "id", "parent_id", "text"})
_IG_MENTION_KNOWN = frozenset({"media_id", "comment_id"})


def map_meta(payload: Mapping[str, Any]) -> MappedPayload:
    kind = payload.get("object")
    if not isinstance(kind, str) or kind not in OBJECTS:
        raise PayloadError("object", f"expected 'page' or 'instagram', got {str(kind)[:40]!r}")
    platform = OBJECTS[kind]
    out = MappedPayload()
    for i, raw_entry in enumerate(seq(payload.get("entry"), "entry")):
        path = f"entry[{i}]"
        entry = obj(raw_entry, path)
        entry_id = ident(entry.get("id"), f"{path}.id")
        entry_time = entry.get("time")
        changes = entry.get("changes")
        if changes is None:  # e.g. Messenger/Instagram "messaging" entries: not listened to here
            out.ignored += len(entry["messaging"]) if isinstance(entry.get("messaging"), list) else 1
            continue
        for j, raw_change in enumerate(seq(changes, f"{path}.changes")):
            cpath = f"{path}.changes[{j}]"
            change = obj(raw_change, cpath)
            fld = change.get("field")
            value = obj(change.get("value"), f"{cpath}.value")
            vpath = f"{cpath}.value"
            if platform == "facebook" and fld == "feed":
                event = _feed(value, vpath, entry_id, entry_time, f"{path}.time", out)
            elif platform == "instagram" and fld == "comments":
                event = _ig_comment(value, vpath, entry_id, entry_time, f"{path}.time", out)
            elif platform == "instagram" and fld == "mentions":
                event = _ig_mention(value, vpath, entry_id, entry_time, f"{path}.time", out)
            else:
                event = None
            if event is None:
                out.ignored += 1
            else:
                out.events.append(event)
    return out


def _when(value: Mapping[str, Any], key: str, vpath: str, entry_time: Any, tpath: str) -> int:
    if value.get(key) is not None:
        return epoch_ms(value[key], f"{vpath}.{key}")
    return epoch_ms(entry_time, tpath)


def _unknown(
    value: Mapping[str, Any], known: frozenset[str], prefix: str, out: MappedPayload
) -> dict[str, str]:
    """Note the keys the mapper does not know; no attributes come from them."""
    for key in value:
        if key not in known:
            out.note_unknown(f"{prefix}.{str(key)[:64]}")
    return {}


def _feed(
    value: Mapping[str, Any], vpath: str, page_id: str, entry_time: Any, tpath: str, out: MappedPayload
) -> dict[str, Any] | None:
    item = value.get("item")
    verb = value.get("verb")
    if verb != "add":
        return None
    sender = value.get("from")
    actor = ident(obj(sender, f"{vpath}.from").get("id"), f"{vpath}.from.id") if sender is not None else None
    post_id = opt_ident(value.get("post_id"), f"{vpath}.post_id")
    base: dict[str, Any] = {
        "platform": "facebook",
        "brand_id": page_id,
        "account_id": page_id,
        "post_id": post_id,
        "occurred_at": _when(value, "created_time", vpath, entry_time, tpath),
        "attributes": {"fb.item": str(item)[:64]},
    }
    if item == "comment":
        comment_id = ident(value.get("comment_id"), f"{vpath}.comment_id")
        parent = opt_ident(value.get("parent_id"), f"{vpath}.parent_id")
        is_reply = parent is not None and parent != post_id
        event_type = "reply" if is_reply else "comment"
        parent_event = f"fb:{parent}" if parent else (f"fb:{post_id}" if post_id else None)
        event_id = f"fb:{comment_id}"
        text = opt_text(value.get("message"), f"{vpath}.message")
    elif item in ("reaction", "like"):
        if actor is None:
            raise PayloadError(f"{vpath}.from", "missing")
        target = opt_ident(value.get("comment_id"), f"{vpath}.comment_id") or post_id
        if target is None:
            raise PayloadError(f"{vpath}.post_id", "missing")
        event_type, event_id, parent_event, text = "like", f"fb:react:{actor}:{target}", f"fb:{target}", None
        if isinstance(value.get("reaction_type"), str):
            base["attributes"]["fb.reaction_type"] = value["reaction_type"][:32]
    elif item == "share":
        share_id = opt_ident(value.get("share_id"), f"{vpath}.share_id") or post_id
        if share_id is None:
            raise PayloadError(f"{vpath}.share_id", "missing")
        event_type, event_id, parent_event = "share", f"fb:share:{share_id}", None
        text = opt_text(value.get("message"), f"{vpath}.message")
    elif item in ("status", "post", "photo", "video"):
        if post_id is None:
            raise PayloadError(f"{vpath}.post_id", "missing")
        event_type, event_id, parent_event = "post", f"fb:{post_id}", None
        text = opt_text(value.get("message"), f"{vpath}.message")
    else:
        return None
    actor = actor or page_id  # page posts may omit "from": the page itself acted
    base["attributes"].update(_unknown(value, _FB_KNOWN, "feed", out))
    return {
        **base,
        "event_id": event_id,
        "event_type": event_type,
        "actor_id": actor,
        "is_brand": actor == page_id,
        "parent_id": parent_event,
        "text": text,
    }


def _ig_comment(
    value: Mapping[str, Any], vpath: str, account: str, entry_time: Any, tpath: str, out: MappedPayload
) -> dict[str, Any]:
    comment_id = ident(value.get("id"), f"{vpath}.id")
    sender = obj(value.get("from"), f"{vpath}.from")
    actor = ident(sender.get("id"), f"{vpath}.from.id")
    media = value.get("media")
    media_id = opt_ident(obj(media, f"{vpath}.media").get("id"), f"{vpath}.media.id") if media else None
    parent = opt_ident(value.get("parent_id"), f"{vpath}.parent_id")
    attrs = _unknown(value, _IG_COMMENT_KNOWN, "comments", out)
    if isinstance(media, Mapping) and isinstance(media.get("media_product_type"), str):
        attrs["ig.media_product_type"] = media["media_product_type"][:32]
    return {
        "event_id": f"ig:{comment_id}",
        "platform": "instagram",
        "event_type": "reply" if parent else "comment",
        "brand_id": account,
        "account_id": account,
        "post_id": media_id,
        "actor_id": actor,
        "parent_id": f"ig:{parent}" if parent else (f"ig:{media_id}" if media_id else None),
        "is_brand": actor == account,
        "text": opt_text(value.get("text"), f"{vpath}.text"),
        "occurred_at": epoch_ms(entry_time, tpath),
        "attributes": attrs,
    }


def _ig_mention(
    value: Mapping[str, Any], vpath: str, account: str, entry_time: Any, tpath: str, out: MappedPayload
) -> dict[str, Any]:
    media_id = ident(value.get("media_id"), f"{vpath}.media_id")
    comment_id = opt_ident(value.get("comment_id"), f"{vpath}.comment_id")
    attrs = _unknown(value, _IG_MENTION_KNOWN, "mentions", out)
    # The mention webhook does not say who mentioned the account (that needs a Graph API call), so
    # the actor is recorded as unknown rather than guessed.
    attrs["ig.actor_unknown"] = "true"
    return {
        "event_id": f"ig:mention:{comment_id or media_id}",
        "platform": "instagram",
        "event_type": "mention",
        "brand_id": account,
        "account_id": account,
        "post_id": media_id,
        "actor_id": "unknown",
        "parent_id": f"ig:{comment_id}" if comment_id else None,
        "is_brand": False,
        "text": None,
        "occurred_at": epoch_ms(entry_time, tpath),
        "attributes": attrs,
    }
