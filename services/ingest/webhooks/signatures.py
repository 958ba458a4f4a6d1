"""Request authentication for the ingest service: bearer tokens and the platforms' HMAC signatures.

Every comparison is constant-time (``hmac.compare_digest`` on bytes). A missing credential raises
:class:`SignatureMissing` (HTTP 401), a wrong one :class:`SignatureInvalid` (HTTP 403). An empty
secret never verifies anything: an HMAC keyed with "" is forgeable by anyone.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Iterable


class SignatureError(Exception):
    status_code = 403


class SignatureMissing(SignatureError):
    status_code = 401


class SignatureInvalid(SignatureError):
    status_code = 403


def _b(text: str) -> bytes:
    return text.encode("utf-8", "replace")


def _hmac(secret: str, body: bytes, algo: str) -> bytes:
    return hmac.new(_b(secret), body, algo).digest()


def _require_secret(secret: str, name: str) -> None:
    if not secret:
        raise SignatureInvalid(f"{name} is not configured on this server; refusing unverifiable requests")


def check_bearer(header: str | None, tokens: Iterable[str]) -> None:
    """``Authorization: Bearer <token>`` against the configured tokens (every token is compared)."""
    if not header or not header.strip():
        raise SignatureMissing("missing Authorization: Bearer <token>")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise SignatureMissing("Authorization must use the Bearer scheme")
    provided = _b(token.strip())
    ok = False
    for candidate in tokens:
        if candidate:  # never short-circuit: the time taken must not depend on which token matched
            ok |= hmac.compare_digest(provided, _b(candidate))
    if not ok:
        raise SignatureInvalid("invalid bearer token")


def parse_tokens(value: str) -> list[str]:
    return [t.strip() for t in value.split(",") if t.strip()]


def constant_time_equal(provided: str, expected: str) -> bool:
    return hmac.compare_digest(_b(provided), _b(expected))


def _split(header: str | None, name: str, prefixes: tuple[str, ...]) -> tuple[str, str]:
    if not header or not header.strip():
        raise SignatureMissing(f"missing {name} header")
    algo, sep, value = header.strip().partition("=")
    if not sep or algo.lower() not in prefixes or not value:
        raise SignatureInvalid(f"{name} must look like {prefixes[0]}=<digest>")
    return algo.lower(), value


def meta_signature(body: bytes, secret: str) -> str:
    return "sha256=" + _hmac(secret, body, "sha256").hex()


def verify_meta(body: bytes, header: str | None, secret: str) -> None:
    """Meta (Facebook Pages, Instagram): ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(raw body)>``."""
    _, value = _split(header, "X-Hub-Signature-256", ("sha256",))
    _require_secret(secret, "ENGAGE_META_APP_SECRET")
    if not hmac.compare_digest(_b(value.lower()), _b(meta_signature(body, secret)[7:])):
        raise SignatureInvalid("X-Hub-Signature-256 does not match the body")


def x_signature(body: bytes, secret: str) -> str:
    return "sha256=" + base64.b64encode(_hmac(secret, body, "sha256")).decode()


def verify_x(body: bytes, header: str | None, secret: str) -> None:
    """X Account Activity: ``x-twitter-webhooks-signature: sha256=<base64 HMAC-SHA256(raw body)>``."""
    _, value = _split(header, "x-twitter-webhooks-signature", ("sha256",))
    _require_secret(secret, "ENGAGE_X_CONSUMER_SECRET")
    if not hmac.compare_digest(_b(value), _b(x_signature(body, secret)[7:])):
        raise SignatureInvalid("x-twitter-webhooks-signature does not match the body")


def x_crc_response(crc_token: str, secret: str) -> dict[str, str]:
    """The CRC answer X expects: base64 HMAC-SHA256 of the token keyed with the consumer secret."""
    _require_secret(secret, "ENGAGE_X_CONSUMER_SECRET")
    return {"response_token": x_signature(_b(crc_token), secret)}


def websub_signature(body: bytes, secret: str, algo: str = "sha1") -> str:
    return f"{algo}=" + _hmac(secret, body, algo).hex()


def verify_websub(body: bytes, header: str | None, secret: str) -> None:
    """WebSub (YouTube): ``X-Hub-Signature: sha1=<hex>`` (the spec's default) or ``sha256=<hex>``.

    Without a configured hub secret nothing verifies: unsigned feeds would be accepted from anyone.
    """
    algo, value = _split(header, "X-Hub-Signature", ("sha1", "sha256"))
    _require_secret(secret, "ENGAGE_YOUTUBE_SECRET")
    expected = websub_signature(body, secret, algo).partition("=")[2]
    if not hmac.compare_digest(_b(value.lower()), _b(expected)):
        raise SignatureInvalid("X-Hub-Signature does not match the body")
