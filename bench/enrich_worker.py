"""Benchmark (not a test): events/s through the enrich worker with every feature, on real Kafka + chDB.

Simulated traffic (fixed seed) is produced to the raw topic first, as a backlog; then the real
enrich worker (`engage enrich worker`: language, sentiment, complaints, virality, conversion,
response time, fan loss, changelogs, snapshots, and the ClickHouse loader in the same process) is
started and timed until the enrich consumer group has committed every raw offset (``enrich_eps``)
and until every event is loaded in ClickHouse (``load_eps``). Each repetition uses fresh topics,
consumer group and chDB path; the median is reported. ``bench/run_all.py`` (``make bench``) reuses
these functions for the full report.

    .venv/bin/python bench/enrich_worker.py [--bootstrap HOST:PORT] [--hours 24] [--repeat 3]

Results go to stdout and ``bench/results/enrich_worker.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    Worker,
    broker,
    loader_settings,
    machine,
    pipeline_settings,
    worker_processes,
    write_report,
)
from services.common.kafka import consumer_lag, ensure_topics  # noqa: E402
from services.common.settings import EnrichSettings, to_env  # noqa: E402
from services.sim.cli import produce_events  # noqa: E402
from services.sim.simulator import SimulationConfig, simulate  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "enrich_worker.json"


class Stalled(RuntimeError):
    """A consumer group made no progress for a long time (the run is retried, and the stall reported)."""


async def wait_committed(
    settings: EnrichSettings,
    group: str,
    topics: list[str],
    timeout: float = 300,
    interval: float = 0.25,
    stall_s: float = 60,
) -> float:
    """Poll until ``group`` has committed every offset of ``topics``; returns the monotonic time then.

    Raises :class:`Stalled` when the lag has not moved for ``stall_s`` seconds.
    """
    deadline = time.monotonic() + timeout
    lag: dict[str, int] = {}
    last, moved = -1, time.monotonic()
    while time.monotonic() < deadline:
        lag = await consumer_lag(settings, group, topics)
        total = sum(lag.values())
        if total == 0:
            return time.monotonic()
        if total != last:
            last, moved = total, time.monotonic()
        elif time.monotonic() - moved > stall_s:
            raise Stalled(f"{group} made no progress on {topics} for {stall_s:.0f}s; lag {lag}")
        await asyncio.sleep(interval)
    raise RuntimeError(f"{group} did not drain {topics} in {timeout}s; lag {lag}")


def query_headers(settings: EnrichSettings) -> dict[str, str]:
    """The bearer token of the loader's /query (the first of its ENGAGE_QUERY_TOKENS)."""
    tokens = loader_settings(settings).query_tokens
    return {"Authorization": f"Bearer {tokens.split(',')[0].strip()}"}


def query(settings: EnrichSettings, sql: str, timeout: float = 60) -> list[list[Any]]:
    """Rows of a read-only query, through the running loader's /query endpoint (it owns the chDB)."""
    url = loader_settings(settings).query_url()
    resp = httpx.post(url, json={"sql": sql}, headers=query_headers(settings), timeout=timeout)
    body = resp.json()
    if resp.status_code != 200:
        raise RuntimeError(f"query failed: {body.get('error', resp.text)}")
    return [list(r) for r in body["rows"]]


@contextlib.contextmanager
def py_spy(pid: int, out: Path | None) -> Iterator[None]:
    """Sample ``pid`` with py-spy into a flame graph (``out``) while the block runs; no-op without it."""
    exe = shutil.which("py-spy") or os.environ.get("PY_SPY")
    if out is None or not exe:
        yield
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    fmt = "speedscope" if out.suffix == ".json" else "raw" if out.suffix == ".txt" else "flamegraph"
    cmd = [exe, "record", "--pid", str(pid), "--rate", "100", "--format", fmt, "--output", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def stack_dump(pid: int) -> str:
    """The Python stacks of ``pid`` (py-spy dump), for the report of a stalled run."""
    exe = shutil.which("py-spy") or os.environ.get("PY_SPY")
    if not exe:
        return "(no py-spy for a stack dump)"
    done = subprocess.run([exe, "dump", "--pid", str(pid)], capture_output=True, text=True, timeout=60)
    return done.stdout[-4000:] or done.stderr[-1000:]


@contextlib.contextmanager
def enrich_worker(
    settings: EnrichSettings, log_path: Path, loader: bool = True
) -> Iterator[tuple[subprocess.Popen[bytes], float]]:
    """Run `engage enrich worker` (and, with ``loader``, `engage loader worker` beside it, logging to
    ``<log_path stem>-loader.log``) until the block ends; yields (the enrich process, monotonic time both
    were ready)."""
    command = ["-m", "services.cli"]
    workers = [
        Worker(
            [*command, "enrich", "worker"],
            to_env(settings),
            settings.enrich_web_port,
            log_path,
            "enrich worker",
        )
    ]
    if loader:
        loaded = loader_settings(settings)
        loader_log = log_path.with_name(f"{log_path.stem}-loader.log")
        workers.append(
            Worker(
                [*command, "loader", "worker"],
                to_env(loaded),
                loaded.loader_web_port,
                loader_log,
                "loader worker",
            )
        )
    with worker_processes(workers) as procs:
        yield procs[0], time.monotonic()


def run_backlog(
    enrich: EnrichSettings, events: int, log_path: Path, profile: Path | None = None, loader: bool = True
) -> dict[str, float]:
    """Time the worker over a backlog of ``events`` already in the raw topic (fresh group and chDB).

    ``enrich_eps``: events / (ready → every raw offset committed). With ``loader``,
    ``load_rows_per_s``: rows in the ``events`` table (checked to be every event, once) / (ready →
    every loaded topic committed). Without it the worker only enriches — the work the peer and the
    ceiling do — into output topics of its own, so a later run with the loader is not disturbed.
    """
    if not loader:
        suffix = "noload"
        enrich = enrich.model_copy(
            update={
                "enrich_app_id": f"{enrich.enrich_app_id}-{suffix}",
                "enrich_data_dir": enrich.enrich_data_dir.with_name(
                    f"{enrich.enrich_data_dir.name}-{suffix}"
                ),
                **{
                    name: f"{getattr(enrich, name)}.{suffix}"
                    for name in (
                        "topic_enriched",
                        "topic_post_virality",
                        "topic_follower_funnel",
                        "topic_brand_backlog",
                    )
                },
            }
        )
    with enrich_worker(enrich, log_path, loader=loader) as (proc, ready), py_spy(proc.pid, profile):
        group = enrich.enrich_app_id
        try:
            enriched = asyncio.run(wait_committed(enrich, group, [enrich.topic_raw]))
            if not loader:
                return {
                    "events": events,
                    "enrich_s": round(enriched - ready, 2),
                    "enrich_eps": round(events / (enriched - ready)),
                }
            loaded = asyncio.run(
                wait_committed(
                    enrich,
                    loader_settings(enrich).loader_app_id,
                    [enrich.topic_enriched, *enrich.feature_topics()],
                )
            )
        except Stalled as exc:
            raise Stalled(
                f"{exc}\n{stack_dump(proc.pid)}\nworker log:\n{log_path.read_text()[-1500:]}"
            ) from None
        [[rows, distinct]] = query(enrich, "SELECT count(), uniqExact(event_id) FROM events")
    if int(distinct) != events:
        raise RuntimeError(f"{events} events produced but {distinct} distinct event_ids loaded")
    return {
        "events": events,
        "enrich_s": round(enriched - ready, 2),
        "enrich_eps": round(events / (enriched - ready)),
        "load_s": round(loaded - ready, 2),
        "load_rows": int(rows),
        "load_rows_per_s": round(int(rows) / (loaded - ready)),
    }


def run_once(bootstrap: str, events: list[dict[str, object]]) -> dict[str, float]:
    """One repetition on fresh topics: produce the backlog, then time the worker over it."""
    with tempfile.TemporaryDirectory(prefix="engage-bench-enrich-") as tmp_name:
        tmp = Path(tmp_name)
        ingest, enrich = pipeline_settings(bootstrap, tmp, "bench-enrich")
        asyncio.run(ensure_topics(enrich))
        accepted, _ = asyncio.run(produce_events(ingest, events))
        return enrich_and_load(enrich, accepted, tmp)


def enrich_and_load(
    enrich: EnrichSettings, events: int, tmp: Path, profile: Path | None = None
) -> dict[str, float]:
    """The worker twice over the same backlog: enriching only (``enrich_eps``), then with its loader
    (``enrich_with_loader_eps``, ``load_rows_per_s``)."""
    alone = run_backlog(enrich, events, tmp / "enrich-noload.log", profile, loader=False)
    loaded = run_backlog(enrich, events, tmp / "enrich.log")
    return {
        **loaded,
        "enrich_eps": alone["enrich_eps"],
        "enrich_s": alone["enrich_s"],
        "enrich_with_loader_eps": loaded["enrich_eps"],
        "enrich_with_loader_s": loaded["enrich_s"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bootstrap", help="A running broker; default: start a throwaway local one.")
    parser.add_argument("--hours", type=float, default=24.0, help="Simulated hours of traffic (seed 7).")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    events = simulate(SimulationConfig(seed=7, duration_seconds=args.hours * 3600)).events
    runs = []
    with broker(args.bootstrap) as bootstrap:
        for i in range(args.repeat):
            runs.append(run_once(bootstrap, events))
            print(f"run {i + 1}: {runs[-1]}", flush=True)
    report = {
        "benchmark": "enrich_worker",
        "what": "simulated backlog through `engage enrich worker`, enriching only and with its loader",
        "simulated_hours": args.hours,
        "events": len(events),
        "repeat": args.repeat,
        "enrich_eps": statistics.median(r["enrich_eps"] for r in runs),
        "enrich_with_loader_eps": statistics.median(r["enrich_with_loader_eps"] for r in runs),
        "load_eps": statistics.median(r["load_rows_per_s"] for r in runs),
        "runs": runs,
        "broker": "given" if args.bootstrap else "local KRaft (started by the benchmark)",
        **machine(),
    }
    write_report(RESULTS, report, f"enrich worker: {report['enrich_eps']:,} events/s enriched")


if __name__ == "__main__":
    main()
