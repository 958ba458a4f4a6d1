"""What ingest keeps about a person beyond the pseudonymised actor id: pure functions, no I/O.

* **Attributes** are free-form, so anything can hide in them (``x.email``, ``x.username``, the names and
  ids of users tagged in a message). Only names on an allowlist are stored: per platform, the ones the
  webhook mappers set; for every platform, campaign/UTM and commerce fields and the simulator's labels.
  Operators add their own with ``ENGAGE_INGEST_EXTRA_ATTRIBUTES``; everything else is dropped.
* **Text** keeps what people wrote, but e-mail addresses and phone numbers in it are replaced by
  ``[email]`` / ``[phone]`` (``ENGAGE_INGEST_REDACT_TEXT``, on by default). The patterns are
  conservative: a phone number needs a ``+`` country code, separators between digit groups or a Korean
  mobile prefix, so order numbers, prices and dates are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

COMMON_ATTRIBUTES = frozenset(
    {
        "source",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_content",
        "utm_term",
        "lead_type",
        "currency",
        "order_value",
        "reaction",
        # labels the simulator writes for evaluation (ground truth, not personal data)
        "sim_sentiment",
        "sim_intent",
        "sim_lang",
        "sim_post_kind",
        "sim_crisis",
    }
)
PLATFORM_ATTRIBUTES: Mapping[str, frozenset[str]] = {
    "facebook": frozenset({"fb.item", "fb.reaction_type"}),
    "instagram": frozenset({"ig.media_product_type", "ig.actor_unknown"}),
    "x": frozenset({"x.tweet_id"}),
    "youtube": frozenset({"yt.updated"}),
    "other": frozenset(),
}


def allowed_attributes(platform: str, extra: Iterable[str] = ()) -> frozenset[str]:
    return COMMON_ATTRIBUTES | PLATFORM_ATTRIBUTES.get(platform, frozenset()) | frozenset(extra)


def filter_attributes(attributes: Mapping[str, str], allowed: frozenset[str]) -> dict[str, str]:
    """The attributes whose names are allowed; the rest are dropped before anything is stored."""
    return {k: v for k, v in attributes.items() if k in allowed}


EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
PHONE = re.compile(
    r"(?<![\w+])(?:"
    r"\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,3}"  # +82 10-1234-5678, +14155550123
    r"|\(\d{2,4}\)[ .-]?\d{3,4}[ .-]\d{4}"  # (02) 123-4567, (415) 555-0123
    r"|\d{2,4}[ .-]\d{3,4}[ .-]\d{4}"  # 010-1234-5678, 415.555.0123
    r"|01[016789]\d{7,8}"  # 01012345678 (Korean mobile, no separators)
    r")(?![\w])"
)


def redact_text(text: str) -> str:
    """``text`` with e-mail addresses and phone numbers replaced by ``[email]`` / ``[phone]``."""
    if "@" in text:
        text = EMAIL.sub("[email]", text)
    if sum(c.isdigit() for c in text) >= 7:
        text = PHONE.sub("[phone]", text)
    return text
