"""Benchmark (not a test): events/s accepted by ``engage ingest serve`` over HTTP, Kafka-acknowledged.

Runs the real service in a subprocess (uvicorn, one worker) against a broker, and POSTs batches of
canonical events from concurrent clients for a fixed time. Each 202 means Kafka acknowledged the
batch, so the number is end-to-end ingest throughput, not just HTTP parsing.

    .venv/bin/python bench/ingest_http.py [--bootstrap HOST:PORT] [--seconds 15] [--clients 2]

Without ``--bootstrap`` a throwaway local broker is started on free ports. Results go to stdout and
``bench/results/ingest_http.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import broker, machine, stop_process, write_report  # noqa: E402
from services.common.kafka import ensure_topics  # noqa: E402
from services.common.settings import IngestSettings, to_env  # noqa: E402
from services.local.kafka import free_port  # noqa: E402

TOKEN = "bench-token"
RESULTS = ROOT / "bench" / "results" / "ingest_http.json"


@contextlib.contextmanager
def server(settings: IngestSettings, port: int) -> Iterator[str]:
    env = {**os.environ, **to_env(settings), "ENGAGE_LOG_LEVEL": "warning"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "ingest", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"ingest serve exited with {proc.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                    break
            time.sleep(0.3)
        else:
            raise RuntimeError("ingest serve not ready in 60 s")
        yield url
    finally:
        stop_process(proc, grace=30)


def batch_body(client: int, seq: int, size: int) -> bytes:
    events = [
        {
            "event_id": f"bench-{client}-{seq}-{i}",
            "platform": "instagram",
            "event_type": "comment",
            "brand_id": f"brand-{i % 20}",
            "actor_id": f"user-{(seq * size + i) % 50_000}",
            "post_id": f"post-{i % 100}",
            "text": "Love the new flavour, but delivery took a week 😕",
            "occurred_at": 1_767_225_600_000 + seq * size + i,
        }
        for i in range(size)
    ]
    return orjson.dumps(events)


async def client_loop(
    url: str, client: int, size: int, until: float, latencies: list[float], counts: dict[str, int]
) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        seq = 0
        while time.monotonic() < until:
            body = batch_body(client, seq, size)
            started = time.monotonic()
            resp = await http.post("/v1/events", content=body, headers=headers)
            latencies.append(time.monotonic() - started)
            if resp.status_code != 202:
                raise RuntimeError(f"unexpected {resp.status_code}: {resp.text[:300]}")
            result = resp.json()
            counts["accepted"] += result["accepted"]
            counts["rejected"] += result["rejected"]
            counts["requests"] += 1
            seq += 1


async def load(url: str, clients: int, size: int, seconds: float) -> dict[str, object]:
    latencies: list[float] = []
    counts = {"accepted": 0, "rejected": 0, "requests": 0}
    started = time.monotonic()
    until = started + seconds
    await asyncio.gather(*(client_loop(url, c, size, until, latencies, counts) for c in range(clients)))
    elapsed = time.monotonic() - started
    latencies.sort()
    return {
        **counts,
        "elapsed_s": round(elapsed, 2),
        "events_per_s": round(counts["accepted"] / elapsed),
        "request_latency_ms": {
            "p50": round(statistics.median(latencies) * 1000, 1),
            "p95": round(latencies[int(len(latencies) * 0.95) - 1] * 1000, 1),
            "max": round(latencies[-1] * 1000, 1),
        },
    }


def measure(bootstrap: str, seconds: float, clients: int = 2, batch: int = 500) -> dict[str, object]:
    """Run `engage ingest serve` on fresh topics, warm it up, then POST batches for ``seconds``."""
    ns = f"bench-ingest-{uuid.uuid4().hex[:6]}"
    settings = IngestSettings(
        kafka_bootstrap=bootstrap,
        topic_raw=f"{ns}.raw",
        topic_enriched=f"{ns}.enriched",
        topic_alerts=f"{ns}.alerts",
        topic_dlq=f"{ns}.dlq",
        ingest_tokens=TOKEN,
        pseudonym_key="bench-key",
    )
    asyncio.run(ensure_topics(settings))
    with server(settings, free_port()) as url:
        asyncio.run(load(url, 1, batch, 2.0))  # warm-up: producer connections, codec caches
        return asyncio.run(load(url, clients, batch, seconds))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bootstrap", help="A running broker; default: start a throwaway local one.")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()

    with broker(args.bootstrap) as bootstrap:
        result = measure(bootstrap, args.seconds, args.clients, args.batch)
    report = {
        "benchmark": "ingest_http",
        "what": "POST /v1/events JSON batches, 202 after Kafka acks (acks=all, idempotent), pseudonymised",
        "clients": args.clients,
        "batch": args.batch,
        "seconds": args.seconds,
        "broker": "given" if args.bootstrap else "local KRaft (started by the benchmark)",
        **machine(),
        **result,
    }
    write_report(RESULTS, report, f"{report['events_per_s']:,} events/s accepted")


if __name__ == "__main__":
    main()
