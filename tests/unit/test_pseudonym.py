"""Actor-id pseudonymisation: format, stability, key separation, and the producer's rules."""

from __future__ import annotations

import hashlib
import hmac
import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.settings import IngestSettings
from services.ingest import pseudonym
from services.ingest.producer import Candidate, dead_letter_value, pseudonym_key, pseudonymise_actor
from services.ingest.pseudonym import DEVELOPMENT_KEY, is_pseudonym, pseudonymise, resolve_key

KEY = b"k" * 32


def test_format_is_u_and_32_hex_of_hmac_sha256() -> None:
    value = pseudonymise("12345", "x", KEY)
    assert value == "u_" + hmac.new(KEY, b"x:12345", hashlib.sha256).hexdigest()[:32]
    assert is_pseudonym(value)


def test_same_actor_same_id_but_platform_and_key_separate() -> None:
    assert pseudonymise("42", "facebook", KEY) == pseudonymise("42", "facebook", KEY)
    assert pseudonymise("42", "facebook", KEY) != pseudonymise("42", "instagram", KEY)
    assert pseudonymise("42", "facebook", KEY) != pseudonymise("42", "facebook", b"other")


@pytest.mark.parametrize(
    "value",
    ["", "u_", "u_" + "a" * 31, "u_" + "a" * 33, "u_" + "A" * 32, "x_" + "a" * 32, "12345", "u_" + "g" * 32],
)
def test_is_pseudonym_rejects_other_shapes(value: str) -> None:
    assert not is_pseudonym(value)


@settings(max_examples=200, derandomize=True)
@given(st.text(max_size=40), st.sampled_from(["facebook", "instagram", "x", "youtube", "other"]))
def test_pseudonyms_are_recognised_and_never_equal_the_raw_id(actor: str, platform: str) -> None:
    value = pseudonymise(actor, platform, KEY)
    assert is_pseudonym(value) and value != actor


def test_empty_key_is_refused_unless_the_development_key_is_allowed(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(pseudonym.MissingPseudonymKey, match="ENGAGE_ALLOW_DEVELOPMENT_KEY"):
        resolve_key("")
    with pytest.raises(pseudonym.MissingPseudonymKey):
        pseudonym_key(IngestSettings(pseudonym_key="", allow_development_key=False))
    monkeypatch.setattr(pseudonym, "_warned", False)
    with caplog.at_level(logging.WARNING, logger="services.ingest.pseudonym"):
        assert resolve_key("", allow_development=True) == DEVELOPMENT_KEY
        assert resolve_key("", allow_development=True) == DEVELOPMENT_KEY
        assert resolve_key("secret") == b"secret"
    assert len(caplog.records) == 1 and "ENGAGE_PSEUDONYM_KEY" in caplog.records[0].message


# --- the producer's choke point (no Kafka: the hook runs before anything is sent) ------------------


def test_producer_pseudonymises_every_actor_id_brands_and_lookalikes_included() -> None:
    key = pseudonym_key(IngestSettings(pseudonym_key="secret"))
    fan = {"actor_id": "fan-1", "platform": "x", "is_brand": False}
    pseudonymise_actor(fan, key)
    assert fan["actor_id"] == pseudonymise("fan-1", "x", b"secret")
    lookalike = {"actor_id": "u_" + "0" * 32, "platform": "x", "is_brand": False}  # chosen by a client
    pseudonymise_actor(lookalike, key)
    assert lookalike["actor_id"] == pseudonymise("u_" + "0" * 32, "x", b"secret")
    brand = {"actor_id": "brand-page", "platform": "facebook", "is_brand": True}
    pseudonymise_actor(brand, key)
    assert brand["actor_id"] == pseudonymise("brand-page", "facebook", b"secret")


def test_keep_raw_ids_disables_pseudonymisation() -> None:
    key = pseudonym_key(IngestSettings(pseudonym_key="secret", ingest_keep_raw_ids=True))
    fan = {"actor_id": "fan-1", "platform": "x", "is_brand": False}
    pseudonymise_actor(fan, key)
    assert key is None and fan["actor_id"] == "fan-1"


def test_dead_letters_carry_pseudonymised_actor_ids() -> None:
    key = b"secret"
    bad = {"event_id": "e", "platform": "x", "actor_id": "fan-1"}  # invalid: no brand_id
    value = dead_letter_value(Candidate(obj=bad, raw=b'{"raw": true}'), key)
    assert b"fan-1" not in value and pseudonymise("fan-1", "x", key).encode() in value
    unparseable = Candidate(obj=None, raw=b"{not json", error="invalid JSON")
    assert dead_letter_value(unparseable, key) == b"{not json"
    assert dead_letter_value(Candidate(obj=bad, raw=b"raw"), None) == b"raw"
