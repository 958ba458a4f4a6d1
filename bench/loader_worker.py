"""Benchmark (not a test): the standalone loader worker against the raw chDB insert ceiling, same run.

Each repetition builds the enriched rows of the simulated events exactly as the pipeline does
(:func:`bench.load_ceiling.enriched_rows`), then

- ``load_ceiling_rows_per_s``: column-oriented chDB inserts of those rows in ``loader_batch_size``
  batches, no Kafka (:mod:`bench.load_ceiling`, a process of its own);
- ``loader_rows_per_s``: the rows Avro-encoded into a fresh enriched topic as a backlog, then
  `engage loader worker` started on a fresh consumer group and chDB path and timed from ready
  (/readyz: partitions assigned) until the group has committed every offset, polled every 20 ms on
  one open admin client (the lag helper of the other benchmarks opens fresh clients per poll and
  sees a commit a second or so late, a large share of a run of a few seconds); the table is checked
  to hold every event once. ``seconds_to_last_insert`` is until ``max(loaded_at)`` (ClickHouse's
  stamp of the last insert), for comparison;
- ``loader_vs_load_ceiling``: their ratio in this repetition.

The report gives the median of the per-repetition ratios, so a machine slowed by its neighbours
during one repetition slows both sides of that ratio.

    .venv/bin/python bench/loader_worker.py [--bootstrap HOST:PORT] [--events 40000] [--repeat 3]

Results: stdout and ``bench/results/loader/loader_worker.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    broker,
    loader_settings,
    machine_facts,
    pipeline_settings,
    simulated_events,
    stop_process,
    wait_ready,
    write_report,
)
from bench.enrich_worker import Stalled, query  # noqa: E402
from bench.load_ceiling import enriched_rows, load_ceiling  # noqa: E402
from services.common.avro import codec  # noqa: E402
from services.common.kafka import ensure_topics  # noqa: E402
from services.common.settings import EnrichSettings, LoaderSettings, to_env  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "loader" / "loader_worker.json"


async def produce_enriched(settings: EnrichSettings, rows: list[dict[str, Any]]) -> int:
    """Encode ``rows`` as enrich does and produce them to the enriched topic (keyed by brand)."""
    enc = codec("enriched_event")
    producer = AIOKafkaProducer(**settings.kafka_client_options(), acks="all", linger_ms=20)
    await producer.start()
    try:
        pending = []
        for row in rows:
            pending.append(
                await producer.send(settings.topic_enriched, enc.encode(row), key=row["brand_id"].encode())
            )
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return len(rows)


async def wait_all_committed(
    settings: EnrichSettings, group: str, topics: list[str], timeout: float = 300, interval: float = 0.02
) -> float:
    """Wall-clock time at which ``group`` had committed the end of every partition of ``topics`` (which
    nothing writes to meanwhile), polled every ``interval`` seconds on one admin client."""
    admin = AIOKafkaAdminClient(**settings.kafka_client_options())
    consumer = AIOKafkaConsumer(**settings.kafka_client_options(), enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in topics for p in range(settings.topic_partitions)]
        ends = {tp: end for tp, end in (await consumer.end_offsets(tps)).items() if end > 0}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                offsets = await admin.list_consumer_group_offsets(group)
            except KafkaError:  # the group's coordinator not known yet
                offsets = {}
            done = {tp: m.offset for tp, m in offsets.items() if m is not None}
            if all(done.get(tp, -1) >= end for tp, end in ends.items()):
                return time.time()
            await asyncio.sleep(interval)
        raise Stalled(f"{group} did not commit the end of {topics} in {timeout:.0f}s")
    finally:
        await consumer.stop()
        await admin.close()


@contextlib.contextmanager
def loader_worker(
    settings: LoaderSettings, log_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], float]]:
    """`engage loader worker` until the block ends; yields (the process, wall-clock time it was ready)."""
    level = {"ENGAGE_LOG_LEVEL": os.environ.get("BENCH_WORKER_LOG_LEVEL", "warning")}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "loader", "worker"],
            cwd=ROOT,
            env={**os.environ, **to_env(settings), **level},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 180
        wait_ready(proc, settings.loader_web_port, log_path, "loader worker", deadline)
        yield proc, time.time()
    finally:
        stop_process(proc)


def run_loader(bootstrap: str, rows: list[dict[str, Any]], tmp: Path) -> dict[str, float]:
    """Rows/s of the loader worker over a backlog of ``rows`` in a fresh enriched topic."""
    _, enrich = pipeline_settings(bootstrap, tmp, "bench-loader")
    asyncio.run(ensure_topics(enrich))
    asyncio.run(produce_enriched(enrich, rows))
    loader = loader_settings(enrich)
    with loader_worker(loader, tmp / "loader.log") as (_, ready):
        try:
            done = asyncio.run(
                wait_all_committed(
                    enrich, loader.loader_app_id, [enrich.topic_enriched, *enrich.feature_topics()]
                )
            )
        except Stalled as exc:
            raise Stalled(f"{exc}\nloader log:\n{(tmp / 'loader.log').read_text()[-1500:]}") from None
        [[count, distinct, last]] = query(
            enrich, "SELECT count(), uniqExact(event_id), toUnixTimestamp64Milli(max(loaded_at)) FROM events"
        )
    if int(distinct) != len(rows) or int(count) != len(rows):
        raise RuntimeError(f"{len(rows)} rows produced but {count} loaded ({distinct} distinct event_ids)")
    return {
        "rows": int(count),
        "seconds": round(done - ready, 3),
        "rows_per_s": round(int(count) / (done - ready)),
        "seconds_to_last_insert": round(int(last) / 1000 - ready, 3),
    }


def measure_once(bootstrap: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    """One repetition: the ceiling, then the loader worker, over the same enriched rows."""
    ceiling = load_ceiling(events)
    with tempfile.TemporaryDirectory(prefix="engage-bench-loader-") as tmp:
        loaded = run_loader(bootstrap, enriched_rows(events), Path(tmp))
    return {
        "rows": loaded["rows"],
        "load_ceiling_rows_per_s": ceiling["rows_per_s"],
        "loader_rows_per_s": loaded["rows_per_s"],
        "loader_seconds": loaded["seconds"],
        "loader_seconds_to_last_insert": loaded["seconds_to_last_insert"],
        "loader_vs_load_ceiling": round(loaded["rows_per_s"] / ceiling["rows_per_s"], 3),
    }


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the repetitions; the ratio is the median of the per-repetition ratios."""
    return {
        "loader_rows_per_s": round(statistics.median(r["loader_rows_per_s"] for r in runs)),
        "load_ceiling_rows_per_s": round(statistics.median(r["load_ceiling_rows_per_s"] for r in runs)),
        "loader_vs_load_ceiling": round(statistics.median(r["loader_vs_load_ceiling"] for r in runs), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bootstrap", help="A running broker; default: start a throwaway local one.")
    parser.add_argument("--events", type=int, default=40_000, help="Simulated events (rows) per repetition.")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    events = simulated_events(args.events)
    runs = []
    with broker(args.bootstrap) as bootstrap:
        for i in range(args.repeat):
            runs.append(measure_once(bootstrap, events))
            print(f"run {i + 1}: {runs[-1]}", flush=True)
    report = {
        "benchmark": "loader_worker",
        "what": "`engage loader worker` over an enriched backlog vs raw column-oriented chDB inserts of the "
        "same rows, in the same run",
        "events": len(events),
        "batch_rows": LoaderSettings().loader_batch_size,
        "repeat": args.repeat,
        **summary(runs),
        "runs": runs,
        "broker": "given" if args.bootstrap else "local KRaft (started by the benchmark)",
        "machine": machine_facts(),
    }
    write_report(
        args.out,
        report,
        f"loader worker: {report['loader_rows_per_s']:,} rows/s, "
        f"{report['loader_vs_load_ceiling']} of the raw chDB insert rate",
    )


if __name__ == "__main__":
    main()
