"""Benchmark (not a test): enrich scale-out — one enrich process against two in one consumer group.

The simulated events are produced once to a raw topic of ``topic_partitions`` (4) partitions; then
`engage enrich worker` (every feature, loader off) consumes that backlog, first as one process, then
as two processes of one consumer group (each with its own port and state directory), each time on a
fresh group. Throughput is timed from the moment every process answers /readyz to the moment the
group has committed every raw offset, over the lag left at that moment (the events a process handled
while the other was still starting are not counted for either configuration). ``enrich2_speedup``:
two processes' events/s over one's, per repetition; the report gives its median.

    .venv/bin/python bench/scale_out.py [--bootstrap HOST:PORT] [--events 60000] [--repeat 3]

Results: stdout and ``bench/results/loader/enrich_scale_out.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    Worker,
    broker,
    machine_facts,
    pipeline_settings,
    produce_backlog,
    simulated_events,
    worker_processes,
    write_report,
)
from bench.enrich_worker import Stalled, stack_dump, wait_committed  # noqa: E402
from services.common.kafka import consumer_lag  # noqa: E402
from services.common.settings import EnrichSettings, to_env  # noqa: E402
from services.local.kafka import free_port  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "loader" / "enrich_scale_out.json"


def group_members(enrich: EnrichSettings, group: str, processes: int) -> list[EnrichSettings]:
    """Settings of ``processes`` enrich workers in consumer group ``group``: one port and state
    directory each, output topics of their own (no loader reads them)."""
    outputs = ("topic_enriched", "topic_post_virality", "topic_follower_funnel", "topic_brand_backlog")
    return [
        enrich.model_copy(
            update={
                "enrich_app_id": group,
                "enrich_web_port": free_port(),
                "enrich_data_dir": enrich.enrich_data_dir.with_name(f"{group}-{i}"),
                **{name: f"{getattr(enrich, name)}.{group}" for name in outputs},
            }
        )
        for i in range(processes)
    ]


@contextlib.contextmanager
def enrich_group(members: list[EnrichSettings], log_dir: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Start every member's `engage enrich worker` and wait until each answers /readyz."""
    workers = [
        Worker(
            ["-m", "services.cli", "enrich", "worker"],
            to_env(member),
            member.enrich_web_port,
            log_dir / f"{member.enrich_app_id}-{i}.log",
            "enrich worker",
        )
        for i, member in enumerate(members)
    ]
    with worker_processes(workers) as procs:
        yield procs


def run_group(enrich: EnrichSettings, processes: int, log_dir: Path) -> dict[str, float]:
    """Events/s of ``processes`` enrich workers in one fresh group over the backlog in the raw topic."""
    group = f"{enrich.enrich_app_id}-x{processes}"
    members = group_members(enrich, group, processes)
    with enrich_group(members, log_dir) as procs:
        ready = time.monotonic()
        left = sum(asyncio.run(consumer_lag(enrich, group, [enrich.topic_raw])).values())
        try:
            done = asyncio.run(wait_committed(enrich, group, [enrich.topic_raw]))
        except Stalled as exc:
            dumps = "\n".join(stack_dump(p.pid) for p in procs)
            raise Stalled(f"{exc}\n{dumps}") from None
    return {
        "processes": processes,
        "events_after_ready": left,
        "seconds": round(done - ready, 2),
        "eps": round(left / (done - ready)),
    }


def measure(enrich: EnrichSettings, log_dir: Path) -> dict[str, Any]:
    """One process, then two, over the same backlog; the speed-up of two over one."""
    one = run_group(enrich, 1, log_dir)
    two = run_group(enrich, 2, log_dir)
    return {
        "enrich1_eps": one["eps"],
        "enrich2_eps": two["eps"],
        "enrich2_speedup": round(two["eps"] / one["eps"], 3),
        "one": one,
        "two": two,
    }


def measure_once(bootstrap: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    """One repetition on a fresh raw topic."""
    with tempfile.TemporaryDirectory(prefix="engage-bench-scale-") as tmp_name:
        tmp = Path(tmp_name)
        ingest, enrich = pipeline_settings(bootstrap, tmp, "bench-scale")
        accepted = produce_backlog(ingest, enrich, events)
        return {"events": accepted, "partitions": enrich.topic_partitions, **measure(enrich, tmp)}


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "enrich1_eps": round(statistics.median(r["enrich1_eps"] for r in runs)),
        "enrich2_eps": round(statistics.median(r["enrich2_eps"] for r in runs)),
        "enrich2_speedup": round(statistics.median(r["enrich2_speedup"] for r in runs), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bootstrap", help="A running broker; default: start a throwaway local one.")
    parser.add_argument("--events", type=int, default=60_000, help="Simulated events per repetition.")
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
        "benchmark": "enrich_scale_out",
        "what": "`engage enrich worker` (all features, loader off): one process vs two in one consumer "
        "group over 4 partitions, on the same backlog",
        "events": len(events),
        "repeat": args.repeat,
        **summary(runs),
        "runs": runs,
        "broker": "given" if args.bootstrap else "local KRaft (started by the benchmark)",
        "machine": machine_facts(),
    }
    write_report(args.out, report, f"two enrich processes: {report['enrich2_speedup']}x one")


if __name__ == "__main__":
    main()
