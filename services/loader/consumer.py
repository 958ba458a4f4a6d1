"""The ClickHouse loader's consumer: polls the loaded topics in batches and inserts them.

Like Snuba's consumers, it does one thing per batch: poll until the batch is full or old enough,
insert each topic's rows column-oriented into its table, then commit the offsets — only after every
insert succeeded. The batches are pipelined: while batch N inserts (in a worker thread, where chDB
and the HTTP client spend their time), batch N+1 is polled, decoded and turned into columns; the
insert of batch N+1 starts only once batch N's offsets are committed, so inserts and commits keep
their order and at most two batches are held. It needs no faust machinery (no state, no per-message
events or acks), so it polls with aiokafka directly, in its own consumer group (``loader_app_id``);
faust's per-message hand-off cost as much as the decoding and inserting together.
:mod:`services.loader.worker` runs it.

Failure handling:

* an insert is retried with capped exponential backoff and the same deduplication token (the hash
  of the batch's offsets), so a retried or redelivered batch is dropped by ClickHouse; after
  ``loader_max_retry_seconds`` the batch is parked in the loader DLQ and committed;
* an insert that ClickHouse (or the client) refuses because of the rows themselves — a value it
  cannot store, more partitions than one insert block may touch — is not retried: the batch is split
  in halves and each loaded on its own (bisection), so only the rows that fail alone are parked,
  with ClickHouse's reason, and everyone else's events are loaded;
* readiness: after ``loader_unready_after_failures`` failed inserts in a row (or whole batches
  refused) ``/readyz`` answers 503 with the last error, until an insert succeeds;
* undecodable messages go to the DLQ with the reason;
* a crash between insert and commit redelivers the batch; ReplacingMergeTree tables (queried with
  ``FINAL``) collapse the duplicates if the batch boundaries differ;
* before partitions are taken away (rebalance, shutdown) the pending batch is loaded and committed.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import struct
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, ConsumerStoppedError, KafkaError
from clickhouse_connect.driver.exceptions import DataError

from services.common import failpoints, metrics
from services.common.avro import AvroCodec, DecodeError, codec
from services.common.clickhouse import Database
from services.common.dlq import dlq_headers
from services.common.kafka import new_producer
from services.common.settings import LoaderSettings
from services.loader.tables import TARGETS, LoadTarget, to_columns
from services.runtime.batch_send import OutputBatch

log = logging.getLogger(__name__)


def loaded_topics(settings: LoaderSettings) -> dict[str, LoadTarget]:
    """Topic → target table of everything the loader writes."""
    return {
        settings.topic_enriched: TARGETS["enriched_event"],
        settings.topic_alerts: TARGETS["alert"],
        settings.topic_post_virality: TARGETS["post_virality"],
        settings.topic_follower_funnel: TARGETS["follower_funnel"],
        settings.topic_brand_backlog: TARGETS["brand_backlog"],
    }


class Loader:
    """Polls the loaded topics and writes them to ClickHouse; dead letters go out on a producer of its
    own. :meth:`start`, then :meth:`run` until :meth:`request_stop`, then :meth:`stop`."""

    def __init__(self, settings: LoaderSettings, db: Database) -> None:
        self.settings, self.db = settings, db
        self.targets = loaded_topics(settings)
        self.group = settings.loader_app_id
        self.producer: AIOKafkaProducer | None = None
        self.should_stop = False
        self._consumer: AIOKafkaConsumer | None = None
        self._pending: list[ConsumerRecord[bytes, bytes]] = []
        self._inserting: asyncio.Task[None] | None = None  # the previous batch: insert, then commit
        self._lock = asyncio.Lock()
        # Timestamps stay epoch millis: clickhouse-connect writes DateTime64(3) columns from them as they
        # are, where datetimes would be decoded only to be converted back.
        self._decoders: dict[str, AvroCodec] = {}
        self.failures_in_a_row = 0
        self.last_error = ""

    def problem(self) -> str | None:
        """Why the worker should not be ready (for /readyz), or None."""
        limit = self.settings.loader_unready_after_failures
        if limit > 0 and self.failures_in_a_row >= limit:
            return f"{self.failures_in_a_row} ClickHouse inserts in a row failed; last: {self.last_error}"
        return None

    def _record(self, error: BaseException | None) -> None:
        if error is None:
            self.failures_in_a_row = 0
        else:
            self.failures_in_a_row += 1
            self.last_error = _describe(error)

    async def start(self) -> None:
        producer = new_producer(**self.settings.kafka_client_options(), acks="all")
        await producer.start()
        self.producer = producer
        session_ms = int(self.settings.loader_session_timeout_seconds * 1000)
        consumer = AIOKafkaConsumer(
            **self.settings.kafka_client_options(),
            group_id=self.group,
            client_id=self.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self.settings.loader_batch_size,
            session_timeout_ms=session_ms,
            heartbeat_interval_ms=max(100, session_ms // 10),
            # A batch may retry its insert for loader_max_retry_seconds between two polls.
            max_poll_interval_ms=int((self.settings.loader_max_retry_seconds + 120) * 1000),
        )
        consumer.subscribe(list(self.targets), listener=_LoadBeforeRevoke(self))
        await consumer.start()
        self._consumer = consumer

    def request_stop(self) -> None:
        """Make :meth:`run` return after the current poll (at most a second)."""
        self.should_stop = True

    def ready(self) -> bool:
        """Partitions assigned (a replica beyond the partition count has none)."""
        consumer = self._consumer
        return consumer is not None and bool(consumer.assignment())

    async def stop(self) -> None:
        """Load and commit what was polled, then leave the group and close the producer."""
        self.should_stop = True
        await self.flush()
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()
        producer, self.producer = self.producer, None
        if producer is not None:
            await producer.stop()

    async def run(self) -> None:
        """Poll and load until :meth:`request_stop` (the last batch may still be inserting: :meth:`stop`
        waits for it)."""
        try:
            while not self.should_stop:
                await self._fill()
                await self._hand_over()
        except ConsumerStoppedError:
            if not self.should_stop:
                raise

    async def _hand_over(self) -> None:
        """Decode the pending batch into columns, wait until the previous batch is inserted and
        committed, then start inserting this one in the background."""
        async with self._lock:
            records, self._pending = self._pending, []
            if not records:
                if self._inserting is not None and self._inserting.done():
                    await self._settle()  # a failed insert or commit surfaces here
                return
            batch = await self._prepare(records)
            await self._settle()
            self._inserting = asyncio.create_task(self._insert_and_commit(batch), name="loader-insert")
            await asyncio.sleep(0)  # let it hand the insert to its thread before decoding goes on

    async def _settle(self) -> None:
        """Wait for the batch being inserted (and committed), raising what it raised."""
        task, self._inserting = self._inserting, None
        if task is not None:
            await task

    async def _fill(self) -> None:
        """Poll until the pending batch holds loader_batch_size messages or its first message waited
        loader_batch_seconds (returns after an idle second so that stopping is noticed)."""
        consumer = self._consumer
        if consumer is None:
            return
        loop = asyncio.get_running_loop()
        size = self.settings.loader_batch_size
        deadline: float | None = None
        while len(self._pending) < size and not self.should_stop:
            wait = 1.0 if deadline is None else deadline - loop.time()
            if wait <= 0:
                break
            got = await consumer.getmany(timeout_ms=int(wait * 1000), max_records=size - len(self._pending))
            for records in got.values():
                self._pending.extend(records)
            if deadline is None:
                if not self._pending:
                    return
                deadline = loop.time() + self.settings.loader_batch_seconds

    async def flush(self) -> None:
        """Finish the batch being inserted, then load the pending messages and commit their offsets."""
        async with self._lock:
            await self._settle()
            records, self._pending = self._pending, []
            if records:
                await self._insert_and_commit(await self._prepare(records))

    async def _prepare(self, records: list[ConsumerRecord[bytes, bytes]]) -> _Batch:
        """Decode a polled batch per topic and build its columns; undecodable messages go to the DLQ."""
        by_topic: dict[str, list[ConsumerRecord[bytes, bytes]]] = defaultdict(list)
        for r in records:
            by_topic[r.topic].append(r)
        offsets: dict[TopicPartition, int] = {}
        for r in records:
            offsets[TopicPartition(r.topic, r.partition)] = r.offset + 1
        parts = [await self._decode(self.targets[topic], batch) for topic, batch in by_topic.items()]
        return _Batch([p for p in parts if p is not None], offsets)

    async def _insert_and_commit(self, batch: _Batch) -> None:
        """Insert every topic's rows, then commit the batch's offsets."""
        for part in batch.parts:
            await self._insert(part)
        consumer = self._consumer
        if consumer is None:
            return
        try:
            await consumer.commit(batch.offsets)
        except (CommitFailedError, KafkaError) as exc:
            # Rebalanced meanwhile: the next owner loads these again, and deduplication absorbs it.
            log.warning("loader commit failed (%s); the batch will be redelivered", exc)

    async def _load(self, target: LoadTarget, batch: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        """Decode and insert one topic's messages (no commit)."""
        part = await self._decode(target, batch)
        if part is not None:
            await self._insert(part)

    async def _decode(
        self, target: LoadTarget, batch: Sequence[ConsumerRecord[bytes, bytes]]
    ) -> _TopicRows | None:
        started = time.perf_counter()
        decoder = self._decoders.get(target.subject)
        if decoder is None:
            decoder = self._decoders[target.subject] = codec(target.subject, timestamp_millis=True)
        # In a thread of its own: the event loop stays free to fetch, and to commit the batch being
        # inserted and start the next insert the moment that insert is done.
        rows, undecodable = await asyncio.to_thread(_decode_rows, decoder, target, batch)
        if undecodable:
            dead = OutputBatch(self.producer)
            for message, exc in undecodable:
                metrics.DLQ.labels("loader", exc.reason).inc()
                _dead_letter(dead, self.settings.topic_dlq, message, exc.reason, str(exc))
            await asyncio.gather(*(await dead.send()))
        if rows is not None:
            rows.decode_seconds = time.perf_counter() - started
        return rows

    async def _insert(self, rows: _TopicRows) -> None:
        started = time.perf_counter()
        target, loaded = rows.target, rows.loaded
        table = target.table

        async def attempt(part: Sequence[tuple[ConsumerRecord[bytes, bytes], dict[str, Any]]]) -> None:
            if part is loaded:  # the whole batch: its columns were built while the previous one inserted
                data, token = rows.columns, rows.token
            else:
                data = to_columns([r for _, r in part], target.columns)
                token = _dedup_token([m for m, _ in part])
            await _insert_with_retry(
                self.db,
                table,
                data,
                target.columns,
                token,
                self.settings.loader_max_retry_seconds,
                self._record,
            )

        parked = await insert_bisecting(loaded, attempt)
        if parked:
            out = OutputBatch(self.producer)
            for (message, _), why in parked:
                metrics.DLQ.labels("loader", why.reason).inc()
                _dead_letter(out, self.settings.topic_loader_dlq, message, why.reason, why.detail)
            await asyncio.gather(*(await out.send()))
            if len(parked) == len(loaded) and len(loaded) > 1:
                self._record(
                    RuntimeError(f"every row of a batch for {table} was refused: {parked[0][1].detail}")
                )
            log.warning(
                "%d of %d rows for %s parked in %s",
                len(parked),
                len(loaded),
                table,
                self.settings.topic_loader_dlq,
            )
        parked_ids = {id(message) for (message, _), _ in parked}
        records = [r for m, r in loaded if id(m) not in parked_ids]
        if not records:
            return
        metrics.LOADER_BATCH_ROWS.labels(table).observe(len(records))
        metrics.LOADER_ROWS.labels(table).inc(len(records))
        metrics.PROCESSING_SECONDS.labels(f"load_{table}").observe(
            rows.decode_seconds + time.perf_counter() - started
        )
        if table == "events":
            metrics.events_received("loader")
            now = time.time()
            by_labels: Counter[tuple[str, str]] = Counter()
            lateness = metrics.EVENT_TO_LOAD_SECONDS.labels("occurred")
            for r in records:
                lateness.observe(now - r["occurred_at"] / 1000)
                by_labels[(r["platform"], r["event_type"])] += 1
            for labels, n in by_labels.items():
                metrics.EVENTS_OUT.labels("loader", *labels).inc(n)

    async def partition_lag(self) -> dict[tuple[str, str, str], int]:
        """Per assigned partition: high watermark minus committed offset (for engage_consumer_lag)."""
        consumer = self._consumer
        if consumer is None:
            return {}
        tps = sorted(consumer.assignment())
        if not tps:
            return {}
        ends = await consumer.end_offsets(tps)
        lag: dict[tuple[str, str, str], int] = {}
        for tp in tps:
            committed = await consumer.committed(tp)
            if committed is None:
                committed = (await consumer.beginning_offsets([tp]))[tp]
            lag[(self.group, tp.topic, str(tp.partition))] = max(0, ends[tp] - committed)
        return lag


@dataclass
class _TopicRows:
    """One topic's decoded messages of a batch, with the columns and deduplication token to insert them."""

    target: LoadTarget
    loaded: list[tuple[ConsumerRecord[bytes, bytes], dict[str, Any]]]
    columns: list[list[Any]]
    token: str
    decode_seconds: float


def _decode_rows(
    decoder: AvroCodec, target: LoadTarget, batch: Sequence[ConsumerRecord[bytes, bytes]]
) -> tuple[_TopicRows | None, list[tuple[ConsumerRecord[bytes, bytes], DecodeError]]]:
    """Decode ``batch`` and build its columns and deduplication token; also the undecodable messages."""
    loaded: list[tuple[ConsumerRecord[bytes, bytes], dict[str, Any]]] = []
    undecodable: list[tuple[ConsumerRecord[bytes, bytes], DecodeError]] = []
    for message in batch:
        try:
            loaded.append((message, decoder.decode(message.value)))
        except DecodeError as exc:
            undecodable.append((message, exc))
    if not loaded:
        return None, undecodable
    columns = to_columns([r for _, r in loaded], target.columns)
    return _TopicRows(target, loaded, columns, _dedup_token([m for m, _ in loaded]), 0.0), undecodable


@dataclass
class _Batch:
    """A polled batch, decoded: its topics' rows and the offsets to commit once they are inserted."""

    parts: list[_TopicRows]
    offsets: dict[TopicPartition, int]


class _LoadBeforeRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, loader: Loader) -> None:
        self.loader = loader

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self.loader.flush()

    async def on_partitions_assigned(self, assigned: Any) -> None:
        pass


def _dead_letter(
    out: OutputBatch, topic: str, message: ConsumerRecord[bytes, bytes], reason: str, detail: str
) -> None:
    out.add(
        topic,
        message.key,
        message.value,
        headers=dlq_headers(
            reason=reason,
            stage="loader",
            detail=detail,
            source_topic=message.topic,
            partition=message.partition,
            offset=message.offset,
        ),
    )


# ClickHouse error codes caused by the inserted values themselves: retrying the same rows cannot help.
ROW_ERROR_CODES = frozenset(
    {
        6,  # CANNOT_PARSE_TEXT
        26,  # CANNOT_PARSE_QUOTED_STRING
        27,  # CANNOT_PARSE_INPUT_ASSERTION_FAILED
        38,  # CANNOT_PARSE_DATE
        41,  # CANNOT_PARSE_DATETIME
        53,  # TYPE_MISMATCH
        69,  # ARGUMENT_OUT_OF_BOUND
        70,  # CANNOT_CONVERT_TYPE
        72,  # CANNOT_PARSE_NUMBER
        117,  # INCORRECT_DATA
        131,  # TOO_LARGE_STRING_SIZE
        190,  # SIZES_OF_ARRAYS_DONT_MATCH
        321,  # VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
        349,  # CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN
        395,  # FUNCTION_THROW_IF_VALUE_IS_NON_ZERO (a materialized view's check)
        407,  # DECIMAL_OVERFLOW
    }
)
TOO_MANY_PARTS = 252  # also "Too many partitions for single INSERT block": that one depends on the rows


def is_row_error(exc: BaseException) -> bool:
    """True when the rows caused the failure (split the batch), False when ClickHouse or the path to
    it did (retry the same batch)."""
    if isinstance(exc, DataError | ValueError | TypeError | OverflowError | struct.error):
        return True  # the client could not serialise a value
    code = getattr(exc, "code", None)
    if code == TOO_MANY_PARTS:
        return "partitions for single insert" in str(exc).lower()
    return code in ROW_ERROR_CODES


@dataclass(frozen=True)
class Parked:
    """Why rows went to the loader DLQ: the DLQ reason and ClickHouse's message."""

    reason: str
    detail: str


class InsertGaveUp(RuntimeError):
    """Inserts kept failing for reasons other than the rows, until loader_max_retry_seconds."""


T = TypeVar("T")


async def insert_bisecting(
    rows: Sequence[T], attempt: Callable[[Sequence[T]], Awaitable[None]]
) -> list[tuple[T, Parked]]:
    """Insert ``rows`` with ``attempt``; when the rows are refused, insert each half on its own, down
    to single rows. Returns the rows that could not be loaded, with why; the rest were inserted."""
    try:
        await attempt(rows)
        return []
    except InsertGaveUp as exc:
        return [(row, Parked("clickhouse_insert_failed", _describe(exc.__cause__ or exc))) for row in rows]
    except Exception as exc:
        if not is_row_error(exc):
            raise
        if len(rows) == 1:
            return [(rows[0], Parked("clickhouse_row_rejected", _describe(exc)))]
        mid = len(rows) // 2
        return await insert_bisecting(rows[:mid], attempt) + await insert_bisecting(rows[mid:], attempt)


async def _insert_with_retry(
    db: Database,
    table: str,
    data: list[list[Any]],
    columns: Sequence[str],
    token: str,
    max_retry_seconds: float,
    record: Callable[[BaseException | None], None] = lambda _: None,
) -> None:
    """Insert one batch, retrying with capped exponential backoff; the token makes retries idempotent.

    A failure caused by the rows is raised at once (the caller splits the batch); other failures are
    retried until ``max_retry_seconds``, then :class:`InsertGaveUp`. ``record`` hears of each outcome
    that says something about ClickHouse's health (not the rows' refusals)."""
    delay, deadline = 0.2, time.monotonic() + max_retry_seconds
    while True:
        try:
            await asyncio.to_thread(_insert, db, table, data, columns, token)
            record(None)
            return
        except Exception as exc:
            if is_row_error(exc):
                raise  # the rows' fault, not ClickHouse's: not a loader failure (metric, readiness)
            metrics.LOADER_FAILURES.labels(table).inc()
            record(exc)
            if time.monotonic() + delay > deadline:
                log.error("giving up on insert into %s after retries: %s", table, exc)
                raise InsertGaveUp(f"insert into {table} kept failing") from exc
            log.warning("insert into %s failed (%s); retrying in %.1fs", table, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)


def _describe(exc: BaseException, limit: int = 1000) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _insert(db: Database, table: str, data: list[list[Any]], columns: Sequence[str], token: str) -> None:
    failpoints.hit("loader.insert.before")
    db.insert_columns(table, data, columns, {"insert_deduplication_token": token})
    failpoints.hit("loader.insert.after")  # written, but neither returned nor committed yet


def _dedup_token(batch: Sequence[ConsumerRecord[bytes, bytes]]) -> str:
    """Same Kafka messages → same token, so a retried or redelivered batch is dropped by ClickHouse."""
    h = hashlib.sha256()
    for m in batch:
        h.update(f"{m.topic}/{m.partition}/{m.offset};".encode())
    return h.hexdigest()
