"""Actor-id pseudonymisation at ingest: raw platform user ids never reach Kafka or ClickHouse.

``u_`` + 32 hex chars (128 bits) of HMAC-SHA256(key, ``"<platform>:<actor_id>"``): the same actor on
the same platform always gets the same id (unique-actor counts, reply threads keep working), while
without the key the id cannot be reversed or recomputed from a guessed user id. The platform is part
of the message because ids are only unique within a platform.

Every actor id is hashed, brand accounts and ids that already look like a pseudonym included: a
client cannot store a chosen value by shaping it like one.

Production must set ``ENGAGE_PSEUDONYM_KEY`` (the Helm chart requires it); without it ingest refuses
to start. Only with ``ENGAGE_ALLOW_DEVELOPMENT_KEY=true`` (the local stack, tests) does it fall back to
a fixed, public development key, with a warning logged once: ids stay stable but are not protected.
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
    """True for ids in pseudonym form (for checks and tests; ingest hashes such ids again)."""
    return isinstance(value, str) and _PATTERN.fullmatch(value) is not None


class MissingPseudonymKey(RuntimeError):
    """No ``ENGAGE_PSEUDONYM_KEY`` and the development key was not explicitly allowed."""


def resolve_key(configured: str, allow_development: bool = False) -> bytes:
    """The configured key as bytes; when unset, the development key only if explicitly allowed."""
    global _warned
    if configured:
        return configured.encode()
    if not allow_development:
        raise MissingPseudonymKey(
            "ENGAGE_PSEUDONYM_KEY is not set: refusing to store actor ids under the public development "
            "key. Set ENGAGE_PSEUDONYM_KEY (production), or ENGAGE_ALLOW_DEVELOPMENT_KEY=true on a "
            "development machine."
        )
    if not _warned:
        _warned = True
        log.warning(
            "ENGAGE_PSEUDONYM_KEY is not set: actor ids are pseudonymised with the public development "
            "key, which protects nothing. Set it in production."
        )
    return DEVELOPMENT_KEY
