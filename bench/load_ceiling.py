"""The loader's ceiling: column-oriented chDB inserts of the enriched rows, no Kafka in the way.

The enriched rows are built in memory from the simulated events exactly as the pipeline builds them
(ingest validation and pseudonyms, Avro round trip, stateless features, the feature engine, the
enriched Avro round trip); then only the load is timed: ``to_columns`` and ``insert_columns`` into
the ``events`` table in batches of ``loader_batch_size`` rows with a deduplication token each, as
the loader agent does. chDB allows one data path per process, so each run is its own process.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import tempfile
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.common.avro import codec
from services.common.events import parse_event
from services.common.keyed_state import Position
from services.common.settings import LoaderSettings
from services.enrich.features.engine import FeatureEngine, Stores
from services.enrich.processor import enrich_records
from services.ingest.producer import pseudonymise_actor
from services.ingest.pseudonym import resolve_key
from services.loader.tables import TARGETS, to_columns


def enriched_rows(events: list[dict[str, Any]], partitions: int = 4) -> list[dict[str, Any]]:
    """The rows the loader would insert for ``events`` (what a consumer of the enriched topic decodes)."""
    raw_codec, enriched_codec = codec("social_event"), codec("enriched_event")
    key = resolve_key("bench-key")
    now = datetime.now(UTC)
    decoded = []
    for e in events:
        record = parse_event(e, received_at=now)
        pseudonymise_actor(record, key)
        decoded.append(raw_codec.decode(raw_codec.encode(record)))
    enriched = enrich_records(decoded)
    positions = [Position(zlib.crc32(r["brand_id"].encode()) % partitions, i) for i, r in enumerate(decoded)]
    features = FeatureEngine(Stores()).process(enriched, positions)
    for record, extra in zip(enriched, features.event_features, strict=True):
        record.update(extra)
    return [enriched_codec.decode(enriched_codec.encode(r)) for r in enriched]


def _insert_all(events: list[dict[str, Any]], batch: int) -> dict[str, float]:
    from services.common.clickhouse import connect
    from services.common.migrations import migrate

    rows = enriched_rows(events)
    target = TARGETS["enriched_event"]
    with tempfile.TemporaryDirectory(prefix="engage-bench-load-") as tmp:
        db = connect(f"chdb://{Path(tmp) / 'clickhouse'}")
        try:
            migrate(db)
            started = time.perf_counter()
            for i in range(0, len(rows), batch):
                chunk = rows[i : i + batch]
                token = hashlib.sha256(f"bench/{i}".encode()).hexdigest()
                db.insert_columns(
                    target.table,
                    to_columns(chunk, target.columns),
                    target.columns,
                    {"insert_deduplication_token": token},
                )
            elapsed = time.perf_counter() - started
            loaded = int(db.command("SELECT count() FROM events"))
        finally:
            db.close()
    if loaded != len(rows):
        raise RuntimeError(f"inserted {len(rows)} rows but the table holds {loaded}")
    return {"rows": loaded, "seconds": round(elapsed, 3), "rows_per_s": round(loaded / elapsed)}


def _child(events: list[dict[str, Any]], batch: int, queue: Any) -> None:
    try:
        queue.put(("ok", _insert_all(events, batch)))
    except Exception as exc:  # reported to the parent
        queue.put(("error", repr(exc)))


def load_ceiling(events: list[dict[str, Any]], batch: int | None = None) -> dict[str, float]:
    """Rows/s of raw column-oriented inserts of the enriched ``events``, in a fresh process and chDB."""
    size = batch or LoaderSettings().loader_batch_size
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(events, size, queue))
    proc.start()
    status, result = queue.get(timeout=900)
    proc.join(60)
    if status != "ok":
        raise RuntimeError(f"load ceiling failed: {result}")
    return dict(result)
