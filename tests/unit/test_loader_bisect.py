"""The loader splits a batch ClickHouse refuses and parks only the rows that fail alone (real chDB)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest
from aiokafka.structs import ConsumerRecord
from clickhouse_connect.driver.exceptions import DatabaseError

from services.common import failpoints
from services.common.avro import codec
from services.common.clickhouse import Database
from services.common.dlq import header_dict
from services.common.settings import LoaderSettings
from services.loader import consumer as load_consumer
from services.loader.consumer import InsertGaveUp, Loader, Parked, insert_bisecting, is_row_error
from services.loader.tables import TARGETS
from tests.factories import make_enriched_event


class _Batch:
    """Stands in for OutputBatch: collects the dead letters instead of producing them."""

    sent: ClassVar[list[tuple[str, bytes | None, dict[str, str]]]] = []

    def __init__(self, producer: Any) -> None:
        self.messages: list[tuple[str, bytes | None, dict[str, str]]] = []

    def add(self, topic: str, key: bytes | None, value: bytes | None, *, headers: Any = ()) -> None:
        self.messages.append((topic, value, header_dict(list(headers))))

    def __len__(self) -> int:
        return len(self.messages)

    async def send(self) -> list[Any]:
        _Batch.sent.extend(self.messages)
        return []


@pytest.fixture
def loader(db: Database, monkeypatch: pytest.MonkeyPatch) -> Loader:
    monkeypatch.setattr(load_consumer, "OutputBatch", _Batch)
    _Batch.sent = []
    failpoints.configure("")
    settings = LoaderSettings(loader_max_retry_seconds=1.0, loader_unready_after_failures=3)
    return Loader(settings, db)


def _messages(
    records: Sequence[dict[str, Any]], topic: str = "enriched"
) -> list[ConsumerRecord[bytes, bytes]]:
    enc = codec("enriched_event")
    return [
        ConsumerRecord(topic, 0, i, 0, 0, r["event_id"].encode(), enc.encode(r), None, 0, 0, [])
        for i, r in enumerate(records)
    ]


def _loaded_ids(db: Database) -> set[str]:
    return {r[0] for r in db.query_rows("SELECT event_id FROM events FINAL")[1]}


def test_a_batch_over_too_many_partitions_is_split_and_loaded_whole(loader: Loader, db: Database) -> None:
    """120 months of event time in one batch: ClickHouse refuses the block (max 100 partitions); the
    halves are loaded, nothing is parked, and the loader stays ready."""
    records = [
        make_enriched_event(event_id=f"m{i}", occurred_at=datetime(2010 + i // 12, 1 + i % 12, 3, tzinfo=UTC))
        for i in range(120)
    ]
    asyncio.run(loader._load(TARGETS["enriched_event"], _messages(records)))
    assert _loaded_ids(db) == {f"m{i}" for i in range(120)}
    assert _Batch.sent == []
    assert loader.problem() is None


def test_only_the_failing_rows_are_parked_with_clickhouse_s_reason(loader: Loader, db: Database) -> None:
    records = [make_enriched_event(event_id=f"ok{i}") for i in range(40)]
    records[7] = make_enriched_event(event_id="bad-7", actor_followers=-1)  # no UInt64 holds it
    records[31] = make_enriched_event(event_id="bad-31", actor_followers=-2)
    asyncio.run(loader._load(TARGETS["enriched_event"], _messages(records)))
    assert _loaded_ids(db) == {r["event_id"] for r in records} - {"bad-7", "bad-31"}
    parked = {h["__dlq.offset"]: h for _, _, h in _Batch.sent}
    assert set(parked) == {"7", "31"}
    assert {h["__dlq.reason"] for h in parked.values()} == {"clickhouse_row_rejected"}
    assert all("actor_followers" in h["__dlq.detail"] for h in parked.values())
    assert all(topic == loader.settings.topic_loader_dlq for topic, _, _ in _Batch.sent)
    assert loader.problem() is None  # bad rows are the data's fault, not the loader's


def test_failing_inserts_make_the_loader_unready_until_one_succeeds(loader: Loader, db: Database) -> None:
    """ClickHouse failing (not the rows): retried, then the whole batch parked as before; /readyz
    reports the problem from the third failure in a row on, and clears on the next success."""
    failpoints.configure("loader.insert.before=1000")
    try:
        asyncio.run(loader._load(TARGETS["enriched_event"], _messages([make_enriched_event(event_id="a")])))
    finally:
        failpoints.configure("")
    problem = loader.problem()
    assert problem is not None and "failpoint loader.insert.before" in problem
    assert [h["__dlq.reason"] for _, _, h in _Batch.sent] == ["clickhouse_insert_failed"]
    asyncio.run(loader._load(TARGETS["enriched_event"], _messages([make_enriched_event(event_id="b")])))
    assert loader.problem() is None and _loaded_ids(db) == {"b"}


def test_bisection_inserts_the_good_rows_and_returns_the_bad_ones() -> None:
    inserted: list[int] = []
    attempts = 0

    async def attempt(rows: Sequence[int]) -> None:
        nonlocal attempts
        attempts += 1
        if any(r < 0 for r in rows):
            raise ValueError(f"negative value in {list(rows)}")
        inserted.extend(rows)

    rows = list(range(64))
    rows[5], rows[50] = -5, -50
    parked = asyncio.run(insert_bisecting(rows, attempt))
    assert [r for r, _ in parked] == [-5, -50]
    assert all(p.reason == "clickhouse_row_rejected" and "negative" in p.detail for _, p in parked)
    assert sorted(inserted) == sorted(r for r in rows if r >= 0)
    assert attempts <= 2 * 2 * 6 + 1  # two bad rows: about two root-to-leaf paths, not 64 inserts


def test_a_failure_that_is_not_the_rows_is_not_bisected() -> None:
    calls: list[int] = []

    async def down(rows: Sequence[int]) -> None:
        calls.append(len(rows))
        raise InsertGaveUp("insert into events kept failing") from ConnectionError("refused")

    parked = asyncio.run(insert_bisecting(list(range(10)), down))
    assert calls == [10]
    assert [p for _, p in parked] == [Parked("clickhouse_insert_failed", "ConnectionError: refused")] * 10


@pytest.mark.parametrize(
    ("exc", "rows_caused_it"),
    [
        (DatabaseError("Too many partitions for single INSERT block (more than 100)", code=252), True),
        (DatabaseError("Too many parts (600). Merges are processing slower", code=252), False),
        (DatabaseError("Cannot modify setting in readonly mode", code=164), False),
        (DatabaseError("Cannot parse text", code=6), True),
        (ValueError("invalid literal for int()"), True),
        (failpoints.FailpointError("loader.insert.before"), False),
        (ConnectionError("refused"), False),
    ],
)
def test_row_errors_are_told_from_clickhouse_errors(exc: Exception, rows_caused_it: bool) -> None:
    assert is_row_error(exc) is rows_caused_it
