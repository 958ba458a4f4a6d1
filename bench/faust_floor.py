"""Benchmark (not a test): the faust floor — the enrich agent's shell with no work in it.

The same app factory, consumer patches, batch size, commit interval and batched output path as
`engage enrich worker`, but the agent only re-sends each raw message unchanged to an output topic and
awaits the acknowledgements, as the enrich agent does with its outputs: no decode, no features, no
tables. Timed like the enrich benchmark, from /readyz to the moment the group has committed every raw
offset. Whatever the enrich worker does, a faust agent on this machine cannot be faster than this
figure; the distance from it to ``ceiling_passthrough_eps`` (the same copy on the bare aiokafka client)
is what faust's per-message consume path costs.

    .venv/bin/python bench/faust_floor.py [--bootstrap HOST:PORT] [--events 60000] [--repeat 3]
    .venv/bin/python bench/faust_floor.py worker     # the worker itself (settings from the environment)

Results: stdout and ``bench/results/faust_floor.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

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
from services.common.settings import EnrichSettings, to_env  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "faust_floor.json"
SUFFIX = "floor"


def floor_settings(enrich: EnrichSettings) -> EnrichSettings:
    """``enrich`` with a consumer group, state directory and output topic of the floor's own."""
    return enrich.model_copy(
        update={
            "enrich_app_id": f"{enrich.enrich_app_id}-{SUFFIX}",
            "enrich_data_dir": enrich.enrich_data_dir.with_name(f"{enrich.enrich_data_dir.name}-{SUFFIX}"),
            "topic_enriched": f"{enrich.topic_enriched}.{SUFFIX}",
        }
    )


def run_floor_worker() -> None:
    """The floor's worker process: the enrich agent's consume → send → await → ack loop, no work."""
    from services.common.kafka import ensure_topics
    from services.enrich.app import enrich_faust_app
    from services.runtime.app import output_batch, run_worker
    from services.runtime.batches import take_events
    from services.runtime.web import add_health_views

    settings = EnrichSettings()
    asyncio.run(ensure_topics(settings))
    app = enrich_faust_app(settings)
    raw_topic = app.topic(settings.topic_raw, value_serializer="raw", key_serializer="raw")

    @app.agent(raw_topic, name="enrich")
    async def passthrough(stream):  # type: ignore[no-untyped-def]
        async for events in take_events(
            stream, settings.enrich_batch_size, within=settings.enrich_batch_seconds
        ):
            out = output_batch(app)
            for event in events:
                out.add(settings.topic_enriched, event.message.key, event.message.value)
            await asyncio.gather(*(await out.send()))

    add_health_views(app)
    run_worker(app, settings.log_level)


@contextlib.contextmanager
def floor_worker(settings: EnrichSettings, log_path: Path) -> Iterator[float]:
    """Run the floor worker until the block ends; yields the monotonic time it was ready."""
    worker = Worker(
        [str(Path(__file__).resolve()), "worker"],
        to_env(settings),
        settings.enrich_web_port,
        log_path,
        "faust floor worker",
    )
    with worker_processes([worker]):
        yield time.monotonic()


def run_backlog(enrich: EnrichSettings, events: int, log_path: Path) -> dict[str, float]:
    """Time the floor worker over the ``events`` already in ``enrich``'s raw topic (fresh group)."""
    from bench.enrich_worker import wait_committed

    settings = floor_settings(enrich)
    with floor_worker(settings, log_path) as ready:
        done = asyncio.run(wait_committed(settings, settings.enrich_app_id, [settings.topic_raw]))
    return {"events": events, "seconds": round(done - ready, 2), "eps": round(events / (done - ready))}


def run_once(bootstrap: str, events: list[dict[str, object]]) -> dict[str, float]:
    """One repetition on fresh topics: produce the backlog, then time the floor worker over it."""
    with tempfile.TemporaryDirectory(prefix="engage-bench-floor-") as tmp_name:
        tmp = Path(tmp_name)
        ingest, enrich = pipeline_settings(bootstrap, tmp, "bench-floor")
        accepted = produce_backlog(ingest, enrich, events)
        return run_backlog(enrich, accepted, tmp / "floor.log")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", nargs="?", choices=["bench", "worker"], default="bench")
    parser.add_argument("--bootstrap", help="A running broker; default: start a throwaway local one.")
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.mode == "worker":
        run_floor_worker()
        return
    events = simulated_events(args.events)
    with broker(args.bootstrap) as bootstrap:
        runs = []
        for i in range(args.repeat):
            runs.append(run_once(bootstrap, events))
            print(f"run {i + 1}: {runs[-1]}", flush=True)
    report = {
        "benchmark": "faust_floor",
        "what": "the enrich agent's shell (take_events, batched sends, awaited acks) with no work",
        "events": len(events),
        "repeat": args.repeat,
        "faust_floor_eps": statistics.median(r["eps"] for r in runs),
        "runs": runs,
        **machine_facts(),
    }
    write_report(RESULTS, report, f"faust floor: {report['faust_floor_eps']:,} events/s")


if __name__ == "__main__":
    main()
