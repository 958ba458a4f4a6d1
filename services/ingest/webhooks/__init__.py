"""Platform webhooks: signature checks (``signatures``) and pure payload → canonical event mappers.

Public contract (also used by file replay for platform-shaped JSONL lines)::

    detect_platform_payload(obj) -> "meta" | "x" | None
    map_platform_payload(kind, payload) -> MappedPayload(events, ignored, unknown_fields)
    PayloadError(ValueError)  # message names the field path

Mapped events are canonical JSON dicts (epoch-ms timestamps), not yet pseudonymised: the producer
does that, in one place, for every source.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from services.ingest.webhooks.meta import OBJECTS, map_meta
from services.ingest.webhooks.model import MappedPayload, PayloadError
from services.ingest.webhooks.x import MAPPED, map_x

__all__ = [
    "MappedPayload",
    "PayloadError",
    "detect_platform_payload",
    "map_platform_payload",
    "pseudonymise_event_id",
    "unknown_field_label",
]

# Fields the platforms document but the mappers do not use, as the mappers name them: the only values
# the unknown-fields metric may carry besides "other" (labels from payloads would be unbounded series).
DOCUMENTED_UNMAPPED_FIELDS: Mapping[str, frozenset[str]] = {
    "meta": frozenset(
        {
            "feed.message_tags",
            "feed.recipient_id",
            "feed.sender_id",
            "feed.sender_name",
            "feed.is_published",
            "feed.updated_time",
            "feed.edited_time",
            "feed.video_flag_reason",
            "comments.media_product_type",
        }
    ),
    "x": frozenset({"user_event", "for_user_id_str"}),
    "youtube": frozenset(),
}


# Event ids the mappers build from user ids, because the platform gives those events no id of its own:
# prefix -> (platform, positions of the user ids among the ':'-separated parts, number of parts).
_USER_ID_EVENT_IDS: Mapping[str, tuple[str, tuple[int, ...], int]] = {
    "fb:react:": ("facebook", (2,), 4),  # fb:react:<user>:<object>
    "x:fav:": ("x", (2,), 4),  # x:fav:<user>:<tweet>
    "x:follow:": ("x", (2, 3), 5),  # x:follow:<source>:<target>:<ms>
    "x:unfollow:": ("x", (2, 3), 5),
}


def pseudonymise_event_id(event_id: str, pseudonym: Callable[[str, str], str]) -> str:
    """``event_id`` with the user ids inside it replaced by ``pseudonym(user_id, platform)``.

    Ids of other shapes are returned unchanged. Deterministic, so a redelivery still gets the same id.
    """
    for prefix, (platform, positions, count) in _USER_ID_EVENT_IDS.items():
        if event_id.startswith(prefix):
            parts = event_id.split(":", count - 1)
            if len(parts) != count:
                return event_id
            for i in positions:
                parts[i] = pseudonym(parts[i], platform)
            return ":".join(parts)
    return event_id


def unknown_field_label(source: str, name: str) -> str:
    """The metric label for an unknown field: its name when documented, else ``other``."""
    return name if name in DOCUMENTED_UNMAPPED_FIELDS.get(source, frozenset()) else "other"


def detect_platform_payload(obj: Mapping[str, Any]) -> str | None:
    """``"meta"`` for ``{"object": "page"|"instagram", "entry": [...]}``, ``"x"`` for Account Activity."""
    if not isinstance(obj, Mapping):
        return None
    kind = obj.get("object")
    if isinstance(kind, str) and kind in OBJECTS and isinstance(obj.get("entry"), list):
        return "meta"
    if "for_user_id" in obj and any(k in obj for k in MAPPED):
        return "x"
    return None


def map_platform_payload(kind: str, payload: Mapping[str, Any]) -> MappedPayload:
    """Map one delivery of ``kind`` (``"meta"`` or ``"x"``); raises PayloadError when malformed."""
    if not isinstance(payload, Mapping):
        raise PayloadError("$", "expected a JSON object")
    if kind == "meta":
        return map_meta(payload)
    if kind == "x":
        return map_x(payload)
    raise ValueError(f"unknown platform payload kind {kind!r}; expected 'meta' or 'x'")
