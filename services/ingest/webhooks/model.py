"""What every platform mapper returns and raises, plus defensive accessors for untrusted payloads.

Mappers read JSON that arrived from the internet (signed, but shaped by the platform's whims), so
every access goes through these helpers: a wrong shape becomes a :class:`PayloadError` naming the
field path, never a ``KeyError``/``TypeError`` that would surface as a 500.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


class PayloadError(ValueError):
    """The payload is malformed; the message names the field path, e.g. ``entry[0].changes[1].value.x``."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        super().__init__(f"{path}: {message}")


@dataclass
class MappedPayload:
    """Canonical event dicts (not yet pseudonymised), items deliberately skipped, unknown field names."""

    events: list[dict[str, Any]] = field(default_factory=list)
    ignored: int = 0
    unknown_fields: list[str] = field(default_factory=list)

    def note_unknown(self, name: str) -> None:
        if name not in self.unknown_fields:
            self.unknown_fields.append(name)


def obj(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise PayloadError(path, "missing" if value is None else "expected an object")
    return value


def seq(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise PayloadError(path, "missing" if value is None else "expected an array")
    return value


def ident(value: Any, path: str) -> str:
    """A platform id: a non-empty string, or an integer (older APIs send numbers)."""
    if isinstance(value, bool) or value is None:
        raise PayloadError(path, "missing" if value is None else "expected an id")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip() and len(value) <= 200:
        return value
    raise PayloadError(path, "expected a non-empty id string")


def opt_ident(value: Any, path: str) -> str | None:
    return None if value is None or value == "" else ident(value, path)


def opt_text(value: Any, path: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise PayloadError(path, "expected a string")


def epoch_ms(value: Any, path: str) -> int:
    """Seconds or milliseconds since the epoch (number or digit string), or ISO-8601 → epoch ms."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or value is None:
        raise PayloadError(path, "missing" if value is None else "expected a timestamp")
    if isinstance(value, int | float):
        if value != value or not 0 <= value < 1e14:  # NaN or absurd
            raise PayloadError(path, "timestamp out of range")
        # Platforms mix seconds and milliseconds; 1e11 s is year 5138, so anything above is ms.
        return int(value if value >= 1e11 else value * 1000)
    if isinstance(value, str):
        return iso_ms(value, path)
    raise PayloadError(path, "expected a timestamp")


def iso_ms(value: str, path: str) -> int:
    text = value.strip().replace("Z", "+00:00")
    # Python 3.11 accepts at most 6 fractional digits; YouTube sends 9.
    if "." in text:
        head, _, rest = text.partition(".")
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = head + "." + rest[: min(digits, 6)] + rest[digits:] if digits else head + rest
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        raise PayloadError(path, f"not an ISO-8601 timestamp: {value[:40]!r}") from None
    ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts
    try:
        return int(ts.timestamp() * 1000)
    except (OverflowError, OSError, ValueError):
        raise PayloadError(path, "timestamp out of range") from None
