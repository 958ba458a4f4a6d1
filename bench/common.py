"""What the benchmarks share: a throwaway local broker, simulated events, settings and machine facts."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from services.common.settings import EnrichSettings, IngestSettings, LoaderSettings
from services.local.kafka import KAFKA_VERSION, LocalKafka, free_port

SEED = 7
ROOT = Path(__file__).resolve().parents[1]
EVENTS_PER_SIMULATED_HOUR = 1000  # the default simulation makes about 1,020 events an hour


@contextlib.contextmanager
def broker(bootstrap: str | None) -> Iterator[str]:
    """The given broker, or a local KRaft broker on free ports for the duration of the benchmark."""
    if bootstrap:
        yield bootstrap
        return
    with tempfile.TemporaryDirectory(prefix="engage-bench-kafka-") as tmp:
        kafka = LocalKafka(Path(tmp), port=free_port(), controller_port=free_port())
        kafka.start()
        try:
            yield kafka.bootstrap
        finally:
            kafka.stop()


def simulated_events(count: int, seed: int = SEED) -> list[dict[str, Any]]:
    """The first ``count`` events of the default simulation (fixed seed: the same events every run)."""
    from services.sim.simulator import SimulationConfig, simulate

    hours = count / EVENTS_PER_SIMULATED_HOUR + 1
    while True:
        events = simulate(SimulationConfig(seed=seed, duration_seconds=hours * 3600)).events
        if len(events) >= count:
            return events[:count]
        hours *= 1.5


def pipeline_settings(bootstrap: str, tmp: Path, prefix: str) -> tuple[IngestSettings, EnrichSettings]:
    """Ingest and enrich settings on fresh topics, consumer group and chDB path under ``tmp``."""
    ns = f"{prefix}-{uuid.uuid4().hex[:6]}"
    common: dict[str, Any] = {
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
    ingest = IngestSettings(**common, pseudonym_key="bench-key", ingest_tokens="bench-token")
    enrich = EnrichSettings(
        **common,
        enrich_app_id=f"{ns}-enrich",
        enrich_web_port=free_port(),
        enrich_data_dir=tmp / "enrich",
        topic_loader_dlq=f"{ns}.loader.dlq",
    )
    return ingest, enrich


_LOADER_PORTS: dict[str, int] = {}


def loader_settings(enrich: EnrichSettings) -> LoaderSettings:
    """The loader beside a bench enrich worker: the same topics and chDB path, a consumer group named
    after enrich's, and one free port per enrich app for as long as the bench runs."""
    shared = {k: v for k, v in enrich.model_dump().items() if k in LoaderSettings.model_fields}
    app_id = enrich.enrich_app_id.removesuffix("-enrich")
    port = _LOADER_PORTS.setdefault(enrich.enrich_app_id, free_port())
    return LoaderSettings(
        **shared, loader_app_id=f"{app_id}-loader", loader_web_port=port, query_tokens="bench-query-token"
    )


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine() -> dict[str, object]:
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "machine": platform.machine()}


def machine_facts() -> dict[str, object]:
    """Cores and the versions of everything measured, for the report."""
    load = os.getloadavg()
    return {
        **machine(),
        "kernel": platform.release(),
        "load_average_at_start": [round(x, 2) for x in load],
        "kafka": KAFKA_VERSION,
        **{
            dist.replace("-", "_"): _version(dist)
            for dist in ("chdb", "clickhouse-connect", "faust-streaming", "aiokafka", "quixstreams")
        },
        "confluent_kafka": _version("confluent-kafka"),
    }


def write_report(path: Path, report: dict[str, object], headline: str) -> None:
    """Write the benchmark's JSON result and print it with a one-line headline."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    print(f"\n{headline} ({path})")


def produce_backlog(ingest: IngestSettings, enrich: EnrichSettings, events: list[dict[str, Any]]) -> int:
    """Create the pipeline's topics and produce the simulator's events as a raw backlog; every event
    must be accepted, or the rates measured over it would be of fewer events than counted."""
    from services.common.kafka import ensure_topics
    from services.sim.cli import produce_events

    asyncio.run(ensure_topics(enrich))
    accepted, rejected = asyncio.run(produce_events(ingest, events))
    if rejected:
        raise RuntimeError(f"the simulator's events were rejected: {rejected}")
    return accepted


def wait_ready(proc: subprocess.Popen[bytes], port: int, log_path: Path, what: str, deadline: float) -> None:
    """Poll a worker's /readyz until it answers 200; fail with its log's tail if it exits or the
    monotonic ``deadline`` passes, so a worker that cannot start stops the benchmark with a reason."""
    url = f"http://127.0.0.1:{port}/readyz"
    while True:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready:\n{log_path.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.05)


def stop_process(proc: subprocess.Popen[bytes], grace: float = 60) -> None:
    """SIGTERM, wait ``grace`` seconds for a clean shutdown, then SIGKILL."""
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


@dataclass(frozen=True)
class Worker:
    """A worker process a benchmark starts: its Python arguments (after the interpreter), the settings
    it reads from its environment, the port of its /readyz, its log file and its name in errors."""

    args: Sequence[str]
    env: dict[str, str]
    port: int
    log_path: Path
    name: str


@contextlib.contextmanager
def worker_processes(
    workers: Sequence[Worker], ready_within: float = 180
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Start every worker (log level from ``BENCH_WORKER_LOG_LEVEL``, default warning), wait until each
    answers /readyz, and stop them all when the block ends; yields the processes, in order."""
    level = {"ENGAGE_LOG_LEVEL": os.environ.get("BENCH_WORKER_LOG_LEVEL", "warning")}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for worker in workers:
            with open(worker.log_path, "wb") as log:
                procs.append(
                    subprocess.Popen(
                        [sys.executable, *worker.args],
                        cwd=ROOT,
                        env={**os.environ, **worker.env, **level},
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
        deadline = time.monotonic() + ready_within
        for proc, worker in zip(procs, workers, strict=True):
            wait_ready(proc, worker.port, worker.log_path, worker.name, deadline)
        yield procs
    finally:
        for proc in procs:
            stop_process(proc)
