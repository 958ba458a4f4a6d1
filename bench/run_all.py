"""``make bench``: every headline number of the pipeline in one run, on one broker, with fixed seed.

Measures, against a throwaway local Kafka (or ``--bootstrap``) and embedded chDB:

- ``ceiling_passthrough_eps``: raw aiokafka consume → produce of the raw events, no work;
- ``enrich_eps``: `engage enrich worker` with every feature, loader off (the work the peer and the
  ceiling do: consume → produce) on the same backlog; ``enrich_with_loader_eps`` / ``load_rows_per_s``:
  the same worker with its ClickHouse loader, as deployed on embedded chDB;
- ``peer_quixstreams_eps``: the same enrichment as a Quix Streams app on the same backlog;
- ``load_ceiling_rows_per_s``: column-oriented chDB inserts of the same enriched rows, no Kafka;
- ``loader_rows_per_s`` / ``loader_vs_load_ceiling``: `engage loader worker` alone over a backlog of
  those rows in the enriched topic, and its ratio to the raw insert rate measured in the same
  repetition (the median of the per-repetition ratios; bench/loader_worker.py);
- ``enrich2_speedup``: two enrich processes in one consumer group over 4 partitions against one, on
  the same backlog (the median of the per-repetition ratios; bench/scale_out.py);
- ``ingest_http_eps``: POST /v1/events, batches of 500;
- ``e2e_eps``: simulator → ingest API → enrich → ClickHouse, sustained;
- ``latency_p50_s``/``p95_s``/``p99_s`` at ``latency_rate_eps``: occurred_at → row visible in ClickHouse.

A warm-up pass (small backlog, discarded) precedes ``--repeat`` repetitions; each number is the median
over the repetitions. Results: ``bench/results/latest.json`` and ``bench/results/latest.md``.

    .venv/bin/python bench/run_all.py [--events 60000] [--repeat 3] [--only enrich,peer,...]
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import ingest_http, loader_worker, scale_out  # noqa: E402
from bench.ceiling import passthrough  # noqa: E402
from bench.common import SEED, broker, machine_facts, pipeline_settings, produce_backlog, simulated_events  # noqa: E402
from bench.e2e import run_e2e, run_latency  # noqa: E402
from bench.enrich_worker import Stalled, enrich_and_load  # noqa: E402
from bench.load_ceiling import load_ceiling  # noqa: E402

RESULTS = ROOT / "bench" / "results"
PARTS = ("ceiling", "enrich", "peer", "load_ceiling", "loader", "enrich2", "ingest_http", "e2e", "latency")
# Issue 21's targets: enrich with the loader off, sustained end to end, p99 at a fixed rate, loader share.
TARGET_ENRICH_EPS = 12_000
TARGET_E2E_EPS = 6_000
TARGET_P99_S = 2.0
TARGET_LATENCY_RATE = 5000
TARGET_LOADER_VS_CEILING = 0.5


def log(msg: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {msg}", flush=True)


def backlog_pass(
    bootstrap: str, events: list[dict[str, Any]], parts: set[str], profile: Path | None = None
) -> dict[str, dict[str, float]]:
    """One backlog in a fresh raw topic, consumed by the ceiling, the enrich worker and the peer in turn."""
    from bench.peer_quixstreams import run_peer

    out: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="engage-bench-") as tmp_name:
        tmp = Path(tmp_name)
        ingest, enrich = pipeline_settings(bootstrap, tmp, "bench")
        accepted = produce_backlog(ingest, enrich, events)
        if "ceiling" in parts:
            out["ceiling"] = asyncio.run(
                passthrough(enrich, enrich.topic_raw, accepted, f"{enrich.enrich_app_id}-ceiling")
            )
        if "enrich" in parts:
            out["enrich"] = enrich_and_load(enrich, accepted, tmp, profile)
        if "peer" in parts:
            out["peer"] = run_peer(enrich, accepted, tmp)
    return out


def retrying(report: dict[str, Any], label: str, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run once more if the worker stalled; every stall is kept in the report."""
    try:
        return run()
    except Stalled as exc:
        log(f"{label} stalled, running it again:\n{exc}")
        report.setdefault("stalled_runs", []).append(f"{label}: {str(exc)[:6000]}")
        return run()


def e2e_once(bootstrap: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="engage-bench-e2e-") as tmp:
        return run_e2e(bootstrap, events, Path(tmp))


def latency_once(bootstrap: str, pool: list[dict[str, Any]], rate: float, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="engage-bench-latency-") as tmp:
        return run_latency(bootstrap, pool, Path(tmp), rate, seconds)


def median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(float(r[key]) for r in runs)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    parts = set(args.only.split(",")) if args.only else set(PARTS)
    unknown = parts - set(PARTS)
    if unknown:
        raise SystemExit(f"unknown parts {sorted(unknown)}; choose from {', '.join(PARTS)}")
    facts = machine_facts()
    events = simulated_events(args.events)
    report: dict[str, Any] = {
        "benchmark": "engage pipeline (make bench)",
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seed": SEED,
        "events": len(events),
        "repeat": args.repeat,
        "machine": facts,
    }
    runs: dict[str, list[dict[str, Any]]] = {p: [] for p in PARTS}
    started = time.monotonic()
    with broker(args.bootstrap) as bootstrap:
        report["broker"] = (
            "given" if args.bootstrap else f"local KRaft {facts['kafka']} (started by the benchmark)"
        )
        backlog_parts = parts & {"ceiling", "enrich", "peer"}
        if backlog_parts:
            log(f"warm-up pass ({args.warmup_events} events): {', '.join(sorted(backlog_parts))}")
            warm = events[: args.warmup_events]
            retrying(report, "warm-up", lambda: backlog_pass(bootstrap, warm, backlog_parts))
            for i in range(args.repeat):
                profile = args.profile if i == 0 else None
                result = retrying(
                    report,
                    f"backlog run {i + 1}",
                    lambda p=profile: backlog_pass(bootstrap, events, backlog_parts, p),  # type: ignore[misc]
                )
                for part, r in result.items():
                    runs[part].append(r)
                log(f"backlog run {i + 1}/{args.repeat}: {result}")
        if "load_ceiling" in parts:
            for i in range(args.repeat):
                runs["load_ceiling"].append(load_ceiling(events))
                log(f"load ceiling run {i + 1}: {runs['load_ceiling'][-1]}")
        if "loader" in parts:
            loader_events = simulated_events(args.loader_events) if args.loader_events else events
            for i in range(args.repeat):
                runs["loader"].append(
                    retrying(
                        report,
                        f"loader run {i + 1}",
                        lambda: loader_worker.measure_once(bootstrap, loader_events),
                    )
                )
                log(f"loader run {i + 1}: {runs['loader'][-1]}")
        if "enrich2" in parts:
            for i in range(args.repeat):
                runs["enrich2"].append(
                    retrying(
                        report, f"enrich2 run {i + 1}", lambda: scale_out.measure_once(bootstrap, events)
                    )
                )
                log(f"enrich2 run {i + 1}: {runs['enrich2'][-1]}")
        if "ingest_http" in parts:
            for i in range(args.repeat):
                runs["ingest_http"].append(ingest_http.measure(bootstrap, args.ingest_seconds))
                r = runs["ingest_http"][-1]
                log(f"ingest http run {i + 1}: {r['events_per_s']} events/s")
        if "e2e" in parts:
            e2e_events = simulated_events(args.e2e_events)
            for i in range(args.repeat):
                runs["e2e"].append(
                    retrying(report, f"e2e run {i + 1}", lambda: e2e_once(bootstrap, e2e_events))
                )
                log(f"e2e run {i + 1}: {runs['e2e'][-1]}")
        if "latency" in parts:
            run_latency_part(bootstrap, args, runs, report)
    report["wall_seconds"] = round(time.monotonic() - started)
    summarise(report, runs)
    report["runs"] = {p: r for p, r in runs.items() if r}
    return report


def run_latency_part(
    bootstrap: str, args: argparse.Namespace, runs: dict[str, list[dict[str, Any]]], report: dict[str, Any]
) -> None:
    """Latency at the requested rate; if the pipeline cannot sustain it, again at a rate it can."""
    rate = float(args.latency_rate)
    pool = simulated_events(int(rate * (args.latency_seconds + 5)) + 1000, seed=SEED + 1)
    attempts: list[dict[str, Any]] = []
    for i in range(args.repeat):
        attempts.append(
            retrying(report, "latency", lambda: latency_once(bootstrap, pool, rate, args.latency_seconds))
        )
        log(f"latency run {i + 1} at {rate:.0f}/s: {attempts[-1]}")
        if not attempts[-1]["sustained"]:
            break
    report["latency_requested_rate_eps"] = rate
    if all(a["sustained"] for a in attempts):
        runs["latency"] = attempts
        return
    report["latency_at_requested_rate"] = attempts[-1]
    # What the pipeline sustains is bounded by its measured throughput (enrich worker, end to end);
    # without those, by the rate rows became visible while the run fell behind.
    measured = [median(runs[p], k) for p, k in (("enrich", "enrich_eps"), ("e2e", "eps")) if runs[p]]
    capacity = min(measured) if measured else attempts[-1]["visible_eps"]
    lower = max(100.0, round(0.7 * capacity, -2))
    log(f"{rate:.0f}/s not sustained; measuring latency at {lower:.0f}/s")
    for i in range(args.repeat):
        runs["latency"].append(
            retrying(report, "latency", lambda: latency_once(bootstrap, pool, lower, args.latency_seconds))
        )
        log(f"latency run {i + 1} at {lower:.0f}/s: {runs['latency'][-1]}")


def summarise(report: dict[str, Any], runs: dict[str, list[dict[str, Any]]]) -> None:
    """The headline keys (medians) and which targets they meet."""
    keys: list[tuple[str, str, str, Callable[[float], float]]] = [
        ("ceiling_passthrough_eps", "ceiling", "eps", round),
        ("enrich_eps", "enrich", "enrich_eps", round),
        ("enrich_with_loader_eps", "enrich", "enrich_with_loader_eps", round),
        ("load_rows_per_s", "enrich", "load_rows_per_s", round),
        ("peer_quixstreams_eps", "peer", "eps", round),
        ("load_ceiling_rows_per_s", "load_ceiling", "rows_per_s", round),
        ("loader_rows_per_s", "loader", "loader_rows_per_s", round),
        ("loader_vs_load_ceiling", "loader", "loader_vs_load_ceiling", lambda x: round(x, 3)),
        ("enrich1_eps", "enrich2", "enrich1_eps", round),
        ("enrich2_eps", "enrich2", "enrich2_eps", round),
        ("enrich2_speedup", "enrich2", "enrich2_speedup", lambda x: round(x, 3)),
        ("ingest_http_eps", "ingest_http", "events_per_s", round),
        ("e2e_eps", "e2e", "eps", round),
        ("latency_p50_s", "latency", "p50_s", lambda x: round(x, 3)),
        ("latency_p95_s", "latency", "p95_s", lambda x: round(x, 3)),
        ("latency_p99_s", "latency", "p99_s", lambda x: round(x, 3)),
        ("latency_rate_eps", "latency", "rate_eps", round),
    ]
    for key, part, field, fmt in keys:
        report[key] = fmt(median(runs[part], field)) if runs[part] else None
    if runs["latency"]:
        report["latency_sustained"] = all(r["sustained"] for r in runs["latency"])
    r = report
    targets: dict[str, bool | None] = {
        f"enrich_eps >= {TARGET_ENRICH_EPS}": r["enrich_eps"] >= TARGET_ENRICH_EPS
        if r["enrich_eps"]
        else None,
        f"e2e_eps >= {TARGET_E2E_EPS}": r["e2e_eps"] >= TARGET_E2E_EPS if r["e2e_eps"] else None,
        f"latency_p99_s <= {TARGET_P99_S} at {TARGET_LATENCY_RATE}/s": (
            r["latency_p99_s"] <= TARGET_P99_S and r["latency_rate_eps"] >= TARGET_LATENCY_RATE
            if r["latency_p99_s"] is not None
            else None
        ),
        f"loader_vs_load_ceiling >= {TARGET_LOADER_VS_CEILING}": (
            r["loader_vs_load_ceiling"] >= TARGET_LOADER_VS_CEILING if r["loader_vs_load_ceiling"] else None
        ),
        "enrich_eps > peer_quixstreams_eps": (
            r["enrich_eps"] > r["peer_quixstreams_eps"]
            if r["enrich_eps"] and r["peer_quixstreams_eps"]
            else None
        ),
    }
    report["targets"] = targets


def markdown(report: dict[str, Any]) -> str:
    """The report as a markdown table (bench/results/latest.md)."""
    m = report["machine"]
    rows = [
        ("ceiling_passthrough_eps", "raw aiokafka consume → produce, no work (events/s)"),
        ("enrich_eps", "enrich worker, all features, loader off (events/s)"),
        ("enrich_with_loader_eps", "enrich worker, all features + ClickHouse loader (events/s)"),
        ("peer_quixstreams_eps", "same enrichment as a Quix Streams app (events/s)"),
        ("load_rows_per_s", "loader inside the worker (rows/s of `events`)"),
        ("load_ceiling_rows_per_s", "raw column-oriented chDB insert, same rows (rows/s)"),
        ("loader_rows_per_s", "`engage loader worker` alone over an enriched backlog (rows/s)"),
        ("loader_vs_load_ceiling", "loader worker / raw chDB insert, same repetition (median ratio)"),
        ("enrich1_eps", "one enrich process, 4 partitions, loader off (events/s)"),
        ("enrich2_eps", "two enrich processes, one consumer group (events/s)"),
        ("enrich2_speedup", "two enrich processes / one, same repetition (median ratio)"),
        ("ingest_http_eps", "POST /v1/events, batches of 500 (events/s)"),
        ("e2e_eps", "simulator → ingest API → enrich → ClickHouse, sustained (events/s)"),
        ("latency_rate_eps", "fixed produce rate of the latency run (events/s)"),
        ("latency_p50_s", "occurred_at → row visible, p50 (s)"),
        ("latency_p95_s", "occurred_at → row visible, p95 (s)"),
        ("latency_p99_s", "occurred_at → row visible, p99 (s)"),
    ]

    def fmt(v: Any) -> str:
        if v is None:
            return "not measured"
        return f"{v:,}" if isinstance(v, int) else str(v)

    lines = [
        "# engage benchmark (`make bench`)",
        "",
        f"Generated {report['generated_at']} on {m['cpus']} cores (load average at start "
        f"{', '.join(str(x) for x in m['load_average_at_start'])}); {report['broker']}; "
        f"seed {report['seed']}, {report['events']:,} events per backlog, median of {report['repeat']}.",
        "",
        "| metric | what | value |",
        "| --- | --- | ---: |",
        *(f"| `{key}` | {what} | {fmt(report.get(key))} |" for key, what in rows),
        "",
    ]
    if report.get("latency_at_requested_rate"):
        a = report["latency_at_requested_rate"]
        lines += [
            f"The pipeline did not sustain {report['latency_requested_rate_eps']:,.0f} events/s: sent "
            f"{a['achieved_send_eps']:,}/s, rows became visible at {a['visible_eps']:,}/s, p99 "
            f"{'at least ' if a['lower_bound'] else ''}{a['p99_s']} s. The latency above is at "
            f"{fmt(report['latency_rate_eps'])} events/s.",
            "",
        ]
    lines += ["| target | met |", "| --- | --- |"]
    lines += [
        f"| {name} | {'yes' if ok else 'no' if ok is not None else 'not measured'} |"
        for name, ok in report["targets"].items()
    ]
    versions = ", ".join(
        f"{k} {m[k]}"
        for k in (
            "python",
            "kafka",
            "chdb",
            "clickhouse_connect",
            "faust_streaming",
            "aiokafka",
            "quixstreams",
            "confluent_kafka",
        )
        if m.get(k)
    )
    lines += ["", f"Versions: {versions}.", "", "Raw runs: `bench/results/latest.json`.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bootstrap", help="A running broker; default: start a throwaway local one.")
    parser.add_argument(
        "--events",
        type=int,
        default=60_000,
        help="Events per backlog (ceiling/enrich/peer): enough that start-up and the last commit "
        "interval (2.8 s) are small next to the run.",
    )
    parser.add_argument("--warmup-events", type=int, default=2_000, help="Events of the discarded warm-up.")
    parser.add_argument("--repeat", type=int, default=3, help="Repetitions; the median is reported.")
    parser.add_argument("--e2e-events", type=int, default=20_000, help="Events per end-to-end run.")
    parser.add_argument("--loader-events", type=int, help="Rows per loader run (default: --events).")
    parser.add_argument("--ingest-seconds", type=float, default=10.0, help="Seconds per ingest HTTP run.")
    parser.add_argument("--latency-rate", type=float, default=TARGET_LATENCY_RATE, help="Events/s.")
    parser.add_argument("--latency-seconds", type=float, default=15.0, help="Seconds per latency run.")
    parser.add_argument("--only", help=f"Comma-separated subset of: {', '.join(PARTS)}.")
    parser.add_argument(
        "--profile", type=Path, help="py-spy output for the first enrich run (.svg/.txt/.json)."
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="Directory for latest.json / latest.md.")
    args = parser.parse_args()
    # Stopped from outside (timeout, CI): unwind, so the broker and workers started here are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    report = measure(args)
    args.out.mkdir(parents=True, exist_ok=True)
    import json

    (args.out / "latest.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "latest.md").write_text(markdown(report))
    print(markdown(report))
    print(f"({args.out / 'latest.json'}, {args.out / 'latest.md'})")


if __name__ == "__main__":
    main()
