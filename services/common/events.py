"""Canonical event JSON → the ``social_event`` Avro record, with errors that name the field.

Accepted at the edge (HTTP API, file replay): timestamps as ISO-8601 strings or epoch
milliseconds; ``received_at`` is stamped by ingest when absent; attribute values become strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

PLATFORMS = ("facebook", "instagram", "x", "youtube", "other")
EVENT_TYPES = (
    "post",
    "comment",
    "reply",
    "like",
    "share",
    "follow",
    "unfollow",
    "mention",
    "click",
    "lead",
    "purchase",
    "message",
)
_OPTIONAL_STRINGS = ("account_id", "post_id", "parent_id", "text", "lang", "campaign_id")
_REQUIRED_STRINGS = ("event_id", "brand_id", "actor_id")
KNOWN_FIELDS = frozenset(
    (
        *_OPTIONAL_STRINGS,
        *_REQUIRED_STRINGS,
        "platform",
        "event_type",
        "is_brand",
        "actor_followers",
        "occurred_at",
        "received_at",
        "attributes",
    )
)


@dataclass(frozen=True)
class EventLimits:
    """Bounds applied at the edge (ingest), where input is untrusted. Each has a setting."""

    min_occurred_at: datetime = datetime(2000, 1, 1, tzinfo=UTC)
    max_future: timedelta = timedelta(days=1)
    max_attributes: int = 64
    max_key_chars: int = 128
    max_value_chars: int = 1000
    max_id_chars: int = 256
    max_depth: int = 32


class EventValidationError(ValueError):
    """One event is invalid; ``field`` names the offending field for API callers and DLQ headers."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"field '{field}': {message}")


def json_too_deep(value: Any, limit: int) -> bool:
    """True when ``value`` nests containers deeper than ``limit`` (iterative: no recursion to exhaust)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def parse_timestamp(value: Any, field: str) -> datetime:
    """ISO-8601 (``Z`` or offset; naive means UTC) or epoch milliseconds → aware UTC datetime (ms)."""
    if isinstance(value, bool):
        raise EventValidationError(field, "expected an ISO-8601 string or epoch milliseconds")
    if isinstance(value, int | float):
        try:
            ts = datetime.fromtimestamp(value / 1000.0, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise EventValidationError(field, f"epoch milliseconds out of range: {value!r}") from None
    elif isinstance(value, str):
        try:
            ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
            ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
        except (OverflowError, ValueError):
            raise EventValidationError(field, f"not an ISO-8601 timestamp: {value[:40]!r}") from None
    elif isinstance(value, datetime):
        ts = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    else:
        raise EventValidationError(field, "expected an ISO-8601 string or epoch milliseconds")
    return ts.replace(microsecond=ts.microsecond - ts.microsecond % 1000)


def parse_event(
    obj: Any, *, received_at: datetime, max_text_chars: int = 10_000, limits: EventLimits | None = None
) -> dict[str, Any]:
    """Validate one canonical event and return the Avro-ready record; raise EventValidationError.

    ``limits`` bound event time, attributes and ids; ingest passes them, later stages (which read what
    ingest already checked) do not.
    """
    if not isinstance(obj, Mapping):
        raise EventValidationError("$", f"expected a JSON object, got {type(obj).__name__}")
    if limits is not None and json_too_deep(obj, limits.max_depth):
        raise EventValidationError("$", f"JSON nested deeper than {limits.max_depth} levels")
    out: dict[str, Any] = {}
    for name in _REQUIRED_STRINGS:
        value = obj.get(name)
        if not isinstance(value, str) or not value.strip():
            raise EventValidationError(name, "required non-empty string")
        if len(value) > 256:
            raise EventValidationError(name, "longer than 256 characters")
        out[name] = value
    platform = obj.get("platform")
    if platform not in PLATFORMS:
        raise EventValidationError("platform", f"must be one of {', '.join(PLATFORMS)}; got {platform!r}")
    out["platform"] = platform
    event_type = obj.get("event_type")
    if event_type not in EVENT_TYPES:
        raise EventValidationError(
            "event_type", f"must be one of {', '.join(EVENT_TYPES)}; got {event_type!r}"
        )
    out["event_type"] = event_type
    for name in _OPTIONAL_STRINGS:
        value = obj.get(name)
        if value is not None and not isinstance(value, str):
            raise EventValidationError(name, "expected a string or null")
        if limits is not None and value is not None and name != "text" and len(value) > limits.max_id_chars:
            raise EventValidationError(name, f"longer than {limits.max_id_chars} characters")
        out[name] = value
    if out["text"] is not None and len(out["text"]) > max_text_chars:
        raise EventValidationError("text", f"longer than {max_text_chars} characters")
    is_brand = obj.get("is_brand", False)
    if not isinstance(is_brand, bool):
        raise EventValidationError("is_brand", "expected true or false")
    out["is_brand"] = is_brand
    followers = obj.get("actor_followers")
    if followers is not None and (
        isinstance(followers, bool) or not isinstance(followers, int) or not 0 <= followers < 2**63
    ):
        raise EventValidationError("actor_followers", "expected a non-negative 64-bit integer or null")
    out["actor_followers"] = followers
    if "occurred_at" not in obj:
        raise EventValidationError("occurred_at", "required")
    out["occurred_at"] = parse_timestamp(obj["occurred_at"], "occurred_at")
    if limits is not None:
        _check_window("occurred_at", out["occurred_at"], received_at, limits)
    raw_received = obj.get("received_at")
    out["received_at"] = (
        parse_timestamp(raw_received, "received_at")
        if raw_received is not None
        else parse_timestamp(received_at, "received_at")
    )
    if limits is not None and raw_received is not None:
        _check_window("received_at", out["received_at"], received_at, limits)
    attributes = obj.get("attributes") or {}
    if not isinstance(attributes, Mapping):
        raise EventValidationError("attributes", "expected an object of string values")
    out["attributes"] = {str(k): v if isinstance(v, str) else str(v) for k, v in attributes.items()}
    unknown = [k for k in obj if k not in KNOWN_FIELDS]
    if unknown:
        # Unknown fields are kept, not dropped silently: they travel as attributes for later schemas.
        for k in unknown:
            out["attributes"].setdefault(f"x.{k}", str(obj[k]))
    if limits is not None:
        _check_attributes(out["attributes"], limits)
    return out


def _check_window(field: str, when: datetime, now: datetime, limits: EventLimits) -> None:
    latest = now + limits.max_future
    if not limits.min_occurred_at <= when <= latest:
        raise EventValidationError(
            field,
            f"{when.isoformat()} is outside the accepted window "
            f"{limits.min_occurred_at.isoformat()} .. {latest.isoformat()} (now + {limits.max_future})",
        )


def _check_attributes(attributes: Mapping[str, str], limits: EventLimits) -> None:
    if len(attributes) > limits.max_attributes:
        raise EventValidationError(
            "attributes", f"{len(attributes)} attributes, more than {limits.max_attributes}"
        )
    for key, value in attributes.items():
        if len(key) > limits.max_key_chars:
            raise EventValidationError(
                f"attributes.{key[:40]}", f"name longer than {limits.max_key_chars} characters"
            )
        if len(value) > limits.max_value_chars:
            raise EventValidationError(
                f"attributes.{key}", f"value longer than {limits.max_value_chars} characters"
            )


def to_json_dict(record: Mapping[str, Any]) -> dict[str, Any]:
    """Avro-ready record → JSON-able canonical dict (ISO timestamps), the inverse of parse_event."""
    out = dict(record)
    for name in ("occurred_at", "received_at"):
        if isinstance(out.get(name), datetime):
            out[name] = out[name].astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return out
