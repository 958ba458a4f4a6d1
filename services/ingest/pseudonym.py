"""Actor-id pseudonymisation at ingest: raw platform user ids never reach Kafka or ClickHouse.

``u_`` + 32 hex chars (128 bits) of HMAC-SHA256(key, ``"<platform>:<actor_id>"``): the same actor on
the same platform always gets the same id (unique-actor counts, reply threads keep working), while
without the key the id cannot be reversed or recomputed from a guessed user id. The platform is part
of the message because ids are only unique within a platform.

Production must set ``ENGAGE_PSEUDONYM_KEY`` (the Helm chart requires it). Without it a fixed,
public development key is used and a warning is logged once: ids stay stable in development but
offer no protection.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re

log = logging.getLogger(__name__)

PREFIX = "u_"
DEVELOPMENT_KEY = b"engage-development-pseudonym-key: set ENGAGE_PSEUDONYM_KEY in production"
_PATTERN = re.compile(r"u_[0-9a-f]{32}")
_warned = False


def pseudonymise(actor_id: str, platform: str, key: bytes) -> str:
    digest = hmac.new(key, f"{platform}:{actor_id}".encode(), hashlib.sha256).hexdigest()
    return PREFIX + digest[:32]


def is_pseudonym(value: str) -> bool:
    """True for ids already in pseudonym form, so re-ingesting exported data does not hash twice."""
    return isinstance(value, str) and _PATTERN.fullmatch(value) is not None


def resolve_key(configured: str) -> bytes:
    """The configured key as bytes, or the development key (with a one-time warning) when unset."""
    global _warned
    if configured:
        return configured.encode()
    if not _warned:
        _warned = True
        log.warning(
            "ENGAGE_PSEUDONYM_KEY is not set: actor ids are pseudonymised with the public development "
            "key, which protects nothing. Set it in production."
        )
    return DEVELOPMENT_KEY
