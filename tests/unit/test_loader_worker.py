"""The loader's HTTP endpoints: readiness from its inserts and assignment, metrics, /query on one port
or its own; its pipelined batches (decoding the next batch while the previous one inserts, inserting
it only after the previous one is committed) and its timestamps, decoded as epoch millis."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from services.common.avro import codec
from services.common.clickhouse import Database
from services.common.dlq import header_dict
from services.common.settings import LoaderSettings
from services.loader import consumer as load_consumer
from services.loader.consumer import Loader
from services.loader.tables import TARGETS
from services.loader.worker import query_app, web_app
from tests.factories import make_enriched_event, make_follower_funnel

TOKEN = "loader-test-token"


async def _call(http: web.Application, method: str, path: str, **kw: Any) -> tuple[int, str]:
    async with TestClient(TestServer(http)) as client:
        resp = await client.request(method, path, **kw)
        return resp.status, await resp.text()


def _loader(db: Database, **settings: Any) -> Loader:
    return Loader(LoaderSettings(query_tokens=TOKEN, loader_unready_after_failures=2, **settings), db)


def test_readyz_needs_partitions_and_answers_503_with_the_failing_inserts(db: Database) -> None:
    loader = _loader(db)
    http = web_app(loader, db, with_query=False)
    status, body = asyncio.run(_call(http, "GET", "/readyz"))
    assert status == 503 and '"ready": false' in body  # no consumer yet: no partitions assigned
    loader._record(RuntimeError("READONLY"))
    loader._record(RuntimeError("READONLY"))
    status, body = asyncio.run(_call(web_app(loader, db, with_query=False), "GET", "/readyz"))
    assert status == 503 and "2 ClickHouse inserts in a row failed" in body and "READONLY" in body
    assert asyncio.run(_call(web_app(loader, db, with_query=False), "GET", "/healthz"))[0] == 200


def test_metrics_carry_the_loader_s_series(db: Database) -> None:
    status, body = asyncio.run(_call(web_app(_loader(db), db, with_query=False), "GET", "/metrics"))
    assert status == 200 and "engage_loader_rows_total" in body


def test_query_is_served_on_the_web_port_or_on_its_own(db: Database) -> None:
    auth = {"headers": {"Authorization": f"Bearer {TOKEN}"}}

    def post(http: web.Application, sql: str, **kw: Any) -> tuple[int, str]:
        return asyncio.run(_call(http, "POST", "/query", json={"sql": sql}, **kw))

    status, body = post(web_app(_loader(db), db, with_query=True), "SELECT 1 AS one", **auth)
    assert status == 200 and '"one"' in body
    assert post(web_app(_loader(db), db, with_query=True), "SELECT 1")[0] == 401
    assert post(web_app(_loader(db), db, with_query=False), "SELECT 1", **auth)[0] in (404, 405)
    assert post(query_app(_loader(db).settings, db), "SELECT 1", **auth)[0] == 200
    assert asyncio.run(_call(query_app(_loader(db).settings, db), "GET", "/metrics"))[0] == 404


class _DeadLetters:
    """Stands in for OutputBatch: collects the dead letters instead of producing them."""

    sent: ClassVar[list[tuple[str, dict[str, str]]]] = []

    def __init__(self, producer: Any) -> None:
        self.messages: list[tuple[str, dict[str, str]]] = []

    def add(self, topic: str, key: bytes | None, value: bytes | None, *, headers: Any = ()) -> None:
        self.messages.append((topic, header_dict(list(headers))))

    def __len__(self) -> int:
        return len(self.messages)

    async def send(self) -> list[Any]:
        _DeadLetters.sent.extend(self.messages)
        return []


class _Consumer:
    """Hands out the given batches one per poll, records commits, and stops the loader when done."""

    def __init__(self, loader: Loader, batches: list[list[ConsumerRecord[bytes, bytes]]], log: list[Any]):
        self.loader, self.batches, self.log = loader, list(batches), log

    async def getmany(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[Any, Any]:
        if not self.batches:
            self.loader.request_stop()
            await asyncio.sleep(0.01)
            return {}
        batch = self.batches.pop(0)
        self.log.append(("polled", batch[0].offset))
        return {TopicPartition(batch[0].topic, 0): batch}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.log.append(("committed", dict(offsets)))


class _Engine:
    """Stands in for the database: each insert records its start and end (from the insert thread) and
    the first one waits until the loader has decoded the next batch, or ``patience`` seconds."""

    def __init__(self, log: list[Any], next_decoded: threading.Event, patience: float = 5.0) -> None:
        self.log, self.next_decoded, self.patience = log, next_decoded, patience
        self.tokens: list[str] = []

    def insert_columns(
        self, table: str, data: Sequence[Sequence[Any]], columns: Sequence[str], settings: dict[str, Any]
    ) -> None:
        first = not self.tokens
        self.tokens.append(settings["insert_deduplication_token"])
        rows = len(data[0])
        self.log.append(("insert started", rows))
        if first:
            self.next_decoded.wait(self.patience)
        self.log.append(("insert done", rows))


def _enriched_messages(topic: str, offsets: range, bad: set[int] = frozenset()) -> list[Any]:  # type: ignore[assignment]
    enc = codec("enriched_event")
    return [
        ConsumerRecord(
            topic,
            0,
            o,
            0,
            0,
            b"k",
            b"\x07garbage" if o in bad else enc.encode(make_enriched_event(event_id=f"e{o}")),
            None,
            0,
            0,
            [],
        )
        for o in offsets
    ]


def _token(topic: str, offsets: Sequence[int]) -> str:
    h = hashlib.sha256()
    for o in offsets:
        h.update(f"{topic}/0/{o};".encode())
    return h.hexdigest()


@pytest.fixture
def dead_letters(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, str]]]:
    monkeypatch.setattr(load_consumer, "OutputBatch", _DeadLetters)
    _DeadLetters.sent = []
    return _DeadLetters.sent


def test_the_next_batch_is_decoded_while_one_inserts_and_inserted_only_after_its_commit(
    dead_letters: list[tuple[str, dict[str, str]]],
) -> None:
    """Batch 2 is polled and decoded while batch 1's insert runs in its thread; batch 2's insert starts
    only after batch 1's offsets are committed; each insert carries its batch's deduplication token;
    the undecodable message of batch 2 goes to the DLQ with its reason and its offset is committed."""
    log: list[Any] = []
    next_decoded = threading.Event()
    engine = _Engine(log, next_decoded)
    settings = LoaderSettings(loader_batch_size=4, loader_batch_seconds=0.05)
    loader = Loader(settings, engine)  # type: ignore[arg-type]
    topic = settings.topic_enriched
    batches = [_enriched_messages(topic, range(0, 4)), _enriched_messages(topic, range(4, 8), bad={6})]
    loader._consumer = _Consumer(loader, batches, log)  # type: ignore[assignment]
    prepare = loader._prepare

    async def prepare_and_tell(records: list[Any]) -> Any:
        batch = await prepare(records)
        log.append(("decoded", records[0].offset))
        if records[0].offset == 4:
            next_decoded.set()
        return batch

    loader._prepare = prepare_and_tell  # type: ignore[method-assign]

    async def run() -> None:
        await loader.run()
        await loader.flush()

    asyncio.run(run())
    committed_1 = ("committed", {TopicPartition(topic, 0): 4})
    committed_2 = ("committed", {TopicPartition(topic, 0): 8})
    assert sorted(map(str, log)) == sorted(
        map(
            str,
            [
                ("polled", 0),
                ("decoded", 0),
                ("insert started", 4),
                ("polled", 4),
                ("decoded", 4),
                ("insert done", 4),
                committed_1,
                ("insert started", 3),
                ("insert done", 3),
                committed_2,
            ],
        )
    )
    at = log.index
    # Batch 2 polled and decoded while batch 1 inserts (its insert waits until then, at most 5 s).
    assert at(("insert started", 4)) < at(("insert done", 4)) and at(("decoded", 4)) < at(("insert done", 4))
    assert at(("decoded", 0)) < at(("insert started", 4))
    # Batch 2 inserts only once batch 1 is committed, and is committed after its insert.
    assert at(("insert done", 4)) < at(committed_1) < at(("insert started", 3)) < at(("insert done", 3))
    assert at(("insert done", 3)) < at(committed_2) == len(log) - 1
    assert engine.tokens == [_token(topic, [0, 1, 2, 3]), _token(topic, [4, 5, 7])]
    assert [(t, h["__dlq.reason"], h["__dlq.offset"]) for t, h in dead_letters] == [
        (settings.topic_dlq, "bad_magic", "6")
    ]


def test_a_failure_of_the_batch_being_inserted_surfaces_from_the_loader(
    dead_letters: list[tuple[str, dict[str, str]]],
) -> None:
    """An insert or commit that raises in the background is raised by run() (not lost), and nothing
    after it is committed."""
    log: list[Any] = []
    settings = LoaderSettings(loader_batch_size=2, loader_batch_seconds=0.05)

    loader = Loader(settings, _Engine(log, threading.Event()))  # type: ignore[arg-type]
    topic = settings.topic_enriched
    loader._consumer = _Consumer(loader, [_enriched_messages(topic, range(0, 2))], log)  # type: ignore[assignment]

    async def boom(rows: Any) -> None:
        raise RuntimeError("the insert thread broke")

    loader._insert = boom  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="the insert thread broke"):
        asyncio.run(loader.run())
    assert not [e for e in log if e[0] == "committed"]


def test_timestamps_decoded_as_millis_load_to_the_same_instants(db: Database) -> None:
    """The loader decodes timestamp-millis as ints; ClickHouse holds the instants the records carried,
    nullable ones included."""
    loader = Loader(LoaderSettings(), db)
    when = datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=UTC)
    event = make_enriched_event(event_id="t1", occurred_at=when)
    funnel = make_follower_funnel(actor_id="ps-t", lead_at=None, converted_at=when, updated_at=when)
    for subject, record in (("enriched_event", event), ("follower_funnel", funnel)):
        message = ConsumerRecord("t", 0, 0, 0, 0, b"k", codec(subject).encode(record), None, 0, 0, [])
        asyncio.run(loader._load(TARGETS[subject], [message]))
    [[occurred]] = db.query_rows("SELECT toUnixTimestamp64Milli(occurred_at) FROM events")[1]
    assert occurred == 1_714_564_800_123
    [[lead, converted]] = db.query_rows(
        "SELECT lead_at, toUnixTimestamp64Milli(converted_at) FROM follower_funnel"
    )[1]
    assert lead is None and converted == 1_714_564_800_123
