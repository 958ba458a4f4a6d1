"""Benchmark (not a test): events/s through the enrich worker with every feature, on real Kafka + chDB.

Simulated traffic (fixed seed) is produced to the raw topic first, as a backlog; then the real
enrich worker (`engage enrich worker`: language, sentiment, complaints, virality, conversion,
response time, fan loss, changelogs, snapshots, and the ClickHouse loader in the same process) is
started and timed until the enrich consumer group has committed every raw offset (``enrich_eps``)
and until every event is loaded in ClickHouse (``load_eps``). Each repetition uses fresh topics,
consumer group and chDB path; the median is reported.

    .venv/bin/python bench/enrich_worker.py [--bootstrap HOST:PORT] [--hours 24] [--repeat 3]

Results go to stdout and ``bench/results/enrich_worker.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import broker, machine, write_report  # noqa: E402
from services.common.kafka import consumer_lag, ensure_topics  # noqa: E402
from services.common.kafka_local import free_port  # noqa: E402
from services.common.settings import EnrichSettings, IngestSettings, to_env  # noqa: E402
from services.ingest.cli_simulate import produce_events  # noqa: E402
from services.ingest.simulator import SimulationConfig, simulate  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "enrich_worker.json"


def _settings(bootstrap: str, tmp: Path) -> tuple[IngestSettings, EnrichSettings]:
    ns = f"bench-enrich-{uuid.uuid4().hex[:6]}"
    common = {
        "kafka_bootstrap": bootstrap,
        "topic_raw": f"{ns}.raw",
        "topic_enriched": f"{ns}.enriched",
        "topic_alerts": f"{ns}.alerts",
        "topic_dlq": f"{ns}.dlq",
        "topic_post_virality": f"{ns}.posts",
        "topic_follower_funnel": f"{ns}.funnels",
        "topic_brand_backlog": f"{ns}.brands",
        "clickhouse_dsn": f"chdb://{tmp / 'clickhouse'}",
    }
    ingest = IngestSettings(**common, pseudonym_key="bench-key")
    enrich = EnrichSettings(
        **common,
        enrich_app_id=f"{ns}-enrich",
        enrich_web_port=free_port(),
        enrich_data_dir=tmp / "enrich",
        topic_loader_dlq=f"{ns}.loader.dlq",
    )
    return ingest, enrich


async def _wait_committed(settings: EnrichSettings, topics: list[str], timeout: float = 900) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lag = await consumer_lag(settings, settings.enrich_app_id, topics)
        if sum(lag.values()) == 0:
            return time.monotonic()
        await asyncio.sleep(0.25)
    raise RuntimeError(f"not drained in {timeout}s")


def run_once(bootstrap: str, events: list[dict[str, object]]) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="engage-bench-enrich-") as tmp_name:
        tmp = Path(tmp_name)
        ingest, enrich = _settings(bootstrap, tmp)
        asyncio.run(ensure_topics(enrich))
        accepted, _ = asyncio.run(produce_events(ingest, events))
        env = {**os.environ, **to_env(enrich), "ENGAGE_LOG_LEVEL": "warning"}
        log = open(tmp / "enrich.log", "wb")  # noqa: SIM115 - owned by the child
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "enrich", "worker"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{enrich.enrich_web_port}/readyz"
            while True:
                if proc.poll() is not None:
                    raise RuntimeError((tmp / "enrich.log").read_text()[-3000:])
                try:
                    if httpx.get(url, timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
            ready = time.monotonic()
            enriched = asyncio.run(_wait_committed(enrich, [enrich.topic_raw]))
            loaded = asyncio.run(_wait_committed(enrich, [enrich.topic_enriched, *enrich.feature_topics()]))
        finally:
            proc.terminate()
            proc.wait(60)
            log.close()
    return {
        "events": accepted,
        "startup_s": round(ready - started, 2),
        "enrich_s": round(enriched - ready, 2),
        "enrich_eps": round(accepted / (enriched - ready)),
        "load_eps": round(accepted / (loaded - ready)),
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
        "what": "backlog of simulated events through `engage enrich worker` (all features + loader)",
        "simulated_hours": args.hours,
        "events": len(events),
        "repeat": args.repeat,
        "enrich_eps": statistics.median(r["enrich_eps"] for r in runs),
        "load_eps": statistics.median(r["load_eps"] for r in runs),
        "runs": runs,
        "broker": "given" if args.bootstrap else "local KRaft (started by the benchmark)",
        **machine(),
    }
    write_report(RESULTS, report, f"enrich worker: {report['enrich_eps']:,} events/s enriched")


if __name__ == "__main__":
    main()
