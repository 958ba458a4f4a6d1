"""Fill ClickHouse with exactly what the pipeline would load, without Kafka.

Canonical events go through the same steps as in the workers — validation (``parse_event``), the raw
Avro round trip, stateless enrichment, the feature engine with brand-keyed partitions and offsets in
order, the enriched/snapshot Avro round trip — and the decoded records are inserted with the
loader's column mapping. The analytics and report tests therefore query the same rows a running
pipeline produces, in seconds instead of minutes. Actor ids are kept raw (as with
``ENGAGE_INGEST_KEEP_RAW_IDS``) so results can be compared with the simulator's ground truth.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.common.avro import codec
from services.common.clickhouse import Database
from services.common.events import parse_event, parse_timestamp
from services.common.keyed_state import Position
from services.enrich.features.engine import DEFAULT_ATTRIBUTION_WINDOW_S, FeatureEngine, Stores
from services.enrich.processor import enrich_records
from services.loader.tables import TARGETS, to_columns

SNAPSHOT_SUBJECTS = {"posts": "post_virality", "funnels": "follower_funnel", "brands": "brand_backlog"}


@dataclass
class Populated:
    """Rows as loaded, per Avro subject (snapshot subjects hold every published snapshot, not just
    the latest per key: ``ReplacingMergeTree(version)`` keeps the latest, as in production)."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))

    @property
    def events(self) -> list[dict[str, Any]]:
        return self.rows["enriched_event"]


def partition_of(brand_id: str, partitions: int) -> int:
    """Raw events are keyed by brand: a stable brand → partition map (any stable map gives the same
    features, since all state of a brand lives on its partition)."""
    return zlib.crc32(brand_id.encode()) % partitions


def raw_records(events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Canonical JSON events → raw records as the enrich agent decodes them (``received_at`` defaults
    to ``occurred_at``, which is what a simulated event would get if ingested when it happened)."""
    raw_codec = codec("social_event")
    out = []
    for e in events:
        received = parse_timestamp(e.get("received_at") or e["occurred_at"], "received_at")
        out.append(raw_codec.decode(raw_codec.encode(parse_event(e, received_at=received))))
    return out


def prepare(
    events: Iterable[Mapping[str, Any]],
    *,
    partitions: int = 4,
    batch_size: int = 1000,
    attribution_window_s: float = DEFAULT_ATTRIBUTION_WINDOW_S,
    enriched_at: datetime | None = None,
) -> Populated:
    """Run the enrich stage over ``events`` (in the given order) and return the rows the loader would
    insert. Pure: no database."""
    records = raw_records(events)
    engine = FeatureEngine(Stores(), attribution_window_s=attribution_window_s)
    codecs = {subject: codec(subject) for subject in ("enriched_event", *SNAPSHOT_SUBJECTS.values())}
    offsets: dict[int, int] = defaultdict(int)
    out = Populated()

    def loaded(subject: str, record: Mapping[str, Any]) -> dict[str, Any]:
        c = codecs[subject]
        return c.decode(c.encode(record))

    for start in range(0, len(records), batch_size):
        batch = records[start : start + batch_size]
        positions = []
        for r in batch:
            p = partition_of(r["brand_id"], partitions)
            positions.append(Position(p, offsets[p]))
            offsets[p] += 1
        enriched = enrich_records(batch, now=enriched_at)
        result = engine.process(enriched, positions)
        for record, extra in zip(enriched, result.event_features, strict=True):
            out.rows["enriched_event"].append(loaded("enriched_event", {**record, **extra}))
        for kind, rows in (("posts", result.posts), ("funnels", result.funnels), ("brands", result.brands)):
            subject = SNAPSHOT_SUBJECTS[kind]
            out.rows[subject].extend(loaded(subject, row) for row in rows)
    return out


def insert_rows(
    db: Database,
    subject: str,
    rows: Sequence[Mapping[str, Any]],
    chunk: int = 20_000,
    settings: dict[str, Any] | None = None,
    only_columns: Sequence[str] | None = None,
) -> None:
    """Insert decoded records of ``subject`` the way the loader does (same table, same columns).

    ``only_columns`` loads just those of the loader's columns, as an older loader did into a table that
    later migrations extended.
    """
    target = TARGETS[subject]
    columns = [c for c in target.columns if only_columns is None or c in only_columns]
    for i in range(0, len(rows), chunk):
        part = [dict(r) for r in rows[i : i + chunk]]
        db.insert_columns(target.table, to_columns(part, columns), columns, settings=settings)


def load(db: Database, populated: Populated) -> None:
    for subject, rows in populated.rows.items():
        if rows:
            insert_rows(db, subject, rows)


def populate(db: Database, events: Iterable[Mapping[str, Any]], **options: Any) -> Populated:
    """Enrich ``events`` like the pipeline and load them into ``db`` (migrated); return what was loaded."""
    populated = prepare(events, **options)
    load(db, populated)
    return populated
