"""Decoder fuzzing: random bytes, truncations and bit flips of valid messages of every consumed schema.

Every consumer decodes through :class:`AvroCodec` inside :func:`decode_batch` (the enrich and alerts
agents, the ClickHouse loader, the alert deliverer). Whatever the bytes, decoding either returns a
record that encodes again or raises :class:`DecodeError` with a reason in ``DecodeError.REASONS``, and
``decode_batch`` passes the good messages through in order while dead-lettering exactly the bad ones
with their original bytes and a reason header.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastavro import schemaless_writer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.common.avro import HEADER_SIZE, AvroCodec, DecodeError, codec
from services.common.avro_registry import SchemaRegistry
from services.common.dlq import header_dict
from services.runtime.batches import decode_batch
from tests.factories import FACTORIES, make_enriched_event

SUBJECTS = sorted(FACTORIES)
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_every_registered_subject_is_fuzzed() -> None:
    assert set(SchemaRegistry.load().subjects) == set(SUBJECTS)


def _valid(subject: str, text: str) -> bytes:
    overrides: dict[str, Any] = {}
    if subject in ("social_event", "enriched_event"):
        overrides["text"] = text
    elif subject == "alert":
        overrides["summary"] = text
    return codec(subject).encode(FACTORIES[subject](**overrides))


def _older_enriched_bytes() -> bytes:
    """An enriched event framed with the oldest registered enriched_event schema (reader resolves it)."""
    registry = SchemaRegistry.load()
    oldest = min((e for e in registry.entries if e.subject == "enriched_event"), key=lambda e: e.version)
    _, schema = registry.by_id(oldest.id)
    buf = io.BytesIO()
    buf.write(bytes([0]) + oldest.id.to_bytes(4, "big"))
    schemaless_writer(buf, schema, make_enriched_event())  # type: ignore[arg-type]
    return buf.getvalue()


@st.composite
def mutated(draw: st.DrawFn, subject: str) -> bytes:
    """A valid message of ``subject``, then truncated, bit-flipped, spliced or with a rewritten header."""
    if subject == "enriched_event" and draw(st.booleans()):
        data = bytearray(_older_enriched_bytes())
    else:
        data = bytearray(_valid(subject, draw(st.text(max_size=40))))
    how = draw(st.sampled_from(["truncate", "flip", "splice", "header", "append"]))
    if how == "truncate":
        del data[draw(st.integers(0, len(data) - 1)) :]
    elif how == "flip":
        flips = st.tuples(st.integers(0, len(data) - 1), st.integers(0, 7))
        for pos, bit in draw(st.lists(flips, max_size=6)):
            data[pos] ^= 1 << bit
    elif how == "splice":
        start = draw(st.integers(HEADER_SIZE, len(data)))
        end = draw(st.integers(start, len(data)))
        data[start:end] = draw(st.binary(max_size=16))
    elif how == "header":
        data[:HEADER_SIZE] = draw(st.binary(min_size=0, max_size=HEADER_SIZE))
    else:
        data += draw(st.binary(min_size=1, max_size=8))
    return bytes(data)


def _check_decode(decoder: AvroCodec, data: bytes) -> dict[str, Any] | None:
    """Decode; a success must be a record this codec can encode again. Returns None on DecodeError."""
    try:
        record = decoder.decode(data)
    except DecodeError as exc:
        assert exc.reason in DecodeError.REASONS, exc.reason
        return None
    assert isinstance(record, dict)
    assert decoder.decode(decoder.encode(record)) == record
    return record


@pytest.mark.parametrize("subject", SUBJECTS)
@FUZZ
@given(data=st.data())
def test_mutated_messages_decode_or_raise_decode_error(subject: str, data: st.DataObject) -> None:
    _check_decode(codec(subject), data.draw(mutated(subject)))


@pytest.mark.parametrize("subject", SUBJECTS)
@FUZZ
@given(raw=st.binary(max_size=300), framed=st.booleans())
def test_random_bytes_decode_or_raise_decode_error(subject: str, raw: bytes, framed: bool) -> None:
    decoder = codec(subject)
    # Behind this subject's own header the body reaches the Avro reader instead of stopping at the frame.
    _check_decode(decoder, (decoder._header + raw) if framed else raw)


@pytest.mark.parametrize("subject", SUBJECTS)
def test_every_truncation_of_a_valid_message_is_a_decode_error(subject: str) -> None:
    decoder = codec(subject)
    data = _valid(subject, "truncated mid-text ✓")
    for end in range(len(data)):
        with pytest.raises(DecodeError) as info:
            decoder.decode(data[:end])
        assert info.value.reason in ("empty", "truncated", "corrupt")


# --------------------------------------------------------------------------------------------------
# decode_batch: the path every agent, the loader and the deliverer share
# --------------------------------------------------------------------------------------------------


@dataclass
class _Message:
    value: bytes | None
    offset: int
    key: bytes | None = b"k"
    topic: str = "fuzz.in"
    partition: int = 0


@dataclass
class _Event:
    message: _Message


@dataclass
class _DeadLetters:
    """Stands in for the DLQ topic: records what ``dead_letter`` sends and returns done futures."""

    sent: list[dict[str, Any]] = field(default_factory=list)

    async def send(self, **kwargs: Any) -> asyncio.Future[None]:
        self.sent.append(kwargs)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


def _expected_ok(decoder: AvroCodec, value: bytes | None) -> bool:
    try:
        decoder.decode(value)
    except DecodeError:
        return False
    return True


@pytest.mark.parametrize("subject", SUBJECTS)
@FUZZ
@given(data=st.data())
def test_decode_batch_dead_letters_exactly_the_bad_messages_in_order(
    subject: str, data: st.DataObject
) -> None:
    decoder = codec(subject)
    kinds = data.draw(st.lists(st.sampled_from(["good", "mutated", "random", "none"]), max_size=12))
    values: list[bytes | None] = []
    for kind in kinds:
        if kind == "good":
            values.append(_valid(subject, data.draw(st.text(max_size=20))))
        elif kind == "mutated":
            values.append(data.draw(mutated(subject)))
        elif kind == "random":
            values.append(data.draw(st.binary(max_size=64)))
        else:
            values.append(None)  # a tombstone
    events = [_Event(_Message(v, offset)) for offset, v in enumerate(values)]
    dlq = _DeadLetters()

    async def run() -> tuple[list[tuple[Any, dict[str, Any]]], list[Any]]:
        decoded, pending = await decode_batch(events, decoder, dlq, f"fuzz.{subject}")  # type: ignore[arg-type]
        await asyncio.gather(*pending)
        return decoded, pending

    decoded, pending = asyncio.run(run())
    good = [e for e in events if _expected_ok(decoder, e.message.value)]
    bad = [e for e in events if e not in good]
    assert [e for e, _ in decoded] == good
    assert [r for _, r in decoded] == [decoder.decode(e.message.value) for e in good]
    assert len(pending) == len(bad) == len(dlq.sent)
    for event, sent in zip(bad, dlq.sent, strict=True):
        headers = header_dict(sent["headers"])
        assert sent["value"] == event.message.value and sent["key"] == event.message.key
        assert headers["__dlq.reason"] in DecodeError.REASONS
        assert headers["__dlq.stage"] == f"fuzz.{subject}"
        assert headers["__dlq.offset"] == str(event.message.offset)
        assert headers["__dlq.topic"] == "fuzz.in"
        assert headers["__dlq.detail"].startswith(headers["__dlq.reason"])
    if "good" in kinds:
        assert decoded, "valid messages must pass"
