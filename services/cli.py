"""``engage``: the one command-line entry point for people (workers, replay, queries, local stack)."""

from __future__ import annotations

import asyncio
import importlib
import logging
import shutil
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console

from services.alerts.evaluate import eval_alerts_command
from services.analytics import cli_report
from services.common.output import OutputFormat, print_result
from services.ingest import cli_replay, cli_serve

app = typer.Typer(no_args_is_help=True, help="engage: listen to a brand's audience in real time.")
kafka_app = typer.Typer(no_args_is_help=True, help="The local single-node Kafka (KRaft) broker.")
enrich_app = typer.Typer(no_args_is_help=True, help="Enrichment worker (stateless and stateful features).")
loader_app = typer.Typer(no_args_is_help=True, help="ClickHouse loader worker (and analysts' /query).")
alerts_app = typer.Typer(no_args_is_help=True, help="Alerts worker (reputation-spike detection).")
demo_app = typer.Typer(no_args_is_help=True, help="The bundled demo scenario.")
ingest_app = typer.Typer(no_args_is_help=True, help="Ingest HTTP service (API + platform webhooks).")
app.add_typer(kafka_app, name="kafka")
app.add_typer(enrich_app, name="enrich")
app.add_typer(loader_app, name="loader")
app.add_typer(alerts_app, name="alerts")
app.add_typer(demo_app, name="demo")
app.add_typer(ingest_app, name="ingest")
cli_serve.register(ingest_app)  # `engage ingest serve`; FastAPI/uvicorn are imported inside the command
cli_replay.register(app)  # `engage replay FILE...`; Kafka and the readers are imported inside the command
cli_report.register(app)  # `engage report`, `engage retention`; matplotlib is imported inside the commands


# `engage eval-alerts`: options and help live with the evaluator (a light import: no detector state, no I/O)
app.command("eval-alerts")(eval_alerts_command)


console = Console()
err = Console(stderr=True)


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


# --- ClickHouse ---------------------------------------------------------------------------------


@app.command()
def migrate() -> None:
    """Apply pending ClickHouse migrations from schemas/clickhouse (safe to rerun)."""
    from services.common.clickhouse import ChdbPathBusy, connect
    from services.common.migrations import migrate as run_migrations
    from services.common.settings import CommonSettings

    settings = CommonSettings()
    try:
        db = connect(settings.clickhouse_dsn)
    except ChdbPathBusy as exc:
        raise _fail(f"{exc}. The owner (the loader) applies migrations itself on start.") from None
    try:
        ran = run_migrations(db)
    finally:
        db.close()
    console.print(f"applied {len(ran)} migration(s): {', '.join(m.path.name for m in ran) or 'none pending'}")


@app.command()
def query(
    sql: Annotated[str, typer.Argument(help="Read-only SQL.")],
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f")] = OutputFormat.table,
) -> None:
    """Run read-only SQL; in embedded mode it goes through the process that owns the chDB path."""
    from services.common.query import QueryError, run_query
    from services.common.settings import CommonSettings

    try:
        columns, rows = run_query(CommonSettings().clickhouse_dsn, sql)
    except QueryError as exc:
        raise _fail(str(exc)) from None
    width = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
    print_result(columns, rows, fmt, sys.stdout, sys.stderr, width)


@app.command("wait")
def wait_command(
    timeout: Annotated[float, typer.Option(min=1, help="Give up after this many seconds (exit 1).")] = 600.0,
) -> None:
    """Wait until everything sent so far is processed by every stage and loaded into ClickHouse."""
    from services.drain import wait_or_exit

    wait_or_exit(err, timeout)


# --- Kafka --------------------------------------------------------------------------------------


@kafka_app.command("up")
def kafka_up() -> None:
    """Start the local broker (var/kafka) and create the pipeline's topics."""
    from services.common.kafka import ensure_topics
    from services.common.settings import EnrichSettings
    from services.local.stack import local_kafka

    broker = local_kafka()
    if not broker.is_running():
        with console.status("starting Kafka (first run resolves the broker jars with Maven)..."):
            broker.start()
    created = asyncio.run(ensure_topics(EnrichSettings(kafka_bootstrap=broker.bootstrap)))
    console.print(f"Kafka up at [bold]{broker.bootstrap}[/]; topics created: {', '.join(created) or 'none'}")


@kafka_app.command("down")
def kafka_down() -> None:
    """Stop the local broker (data is kept in var/kafka)."""
    from services.local.stack import local_kafka

    broker = local_kafka()
    was = broker.is_running()
    broker.stop()
    console.print("Kafka stopped" if was else "Kafka was not running")


# --- Workers ------------------------------------------------------------------------------------


@enrich_app.command("worker")
def enrich_worker() -> None:
    """Run the enrich worker: features on raw events, published for the loader and alerts."""
    from services.common.kafka import ensure_topics
    from services.common.settings import EnrichSettings
    from services.enrich.app import create_app
    from services.runtime.app import run_worker

    settings = EnrichSettings()
    asyncio.run(ensure_topics(settings))
    run_worker(create_app(settings), settings.log_level)


@loader_app.command("worker")
def loader_worker() -> None:
    """Run the ClickHouse loader; it owns an embedded chDB path (migrating it on start) and serves /query."""
    from services.common.clickhouse import ChdbPathBusy, connect
    from services.common.kafka import ensure_topics
    from services.common.migrations import migrate as run_migrations
    from services.common.settings import LoaderSettings
    from services.loader.worker import serve

    settings = LoaderSettings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s",
    )
    asyncio.run(ensure_topics(settings))
    try:
        db = connect(settings.clickhouse_dsn)
    except ChdbPathBusy as exc:
        raise _fail(str(exc)) from None
    try:
        if db.embedded:
            # The chDB owner lock makes this process the only one migrating the path. A server is
            # migrated by `engage migrate` (the chart's Job), not by every replica on start.
            run_migrations(db)
            db.advertise(settings.query_url())
        asyncio.run(serve(settings, db))
    finally:
        db.close()


@alerts_app.command("worker")
def alerts_worker() -> None:
    """Run the alerts worker."""

    from services.alerts.app import create_app
    from services.common.kafka import ensure_topics
    from services.common.settings import AlertsSettings
    from services.runtime.app import run_worker

    settings = AlertsSettings()
    asyncio.run(ensure_topics(settings))
    run_worker(create_app(settings), settings.log_level)


# --- Development tools (services.sim: simulator and demo; not in the runtime wheel) ----------------


def _sim_module(module: str) -> Any | None:
    try:
        return importlib.import_module(f"services.sim.{module}")
    except ModuleNotFoundError as exc:
        if exc.name not in ("services.sim", f"services.sim.{module}"):
            raise
        return None


def _sim(module: str) -> Any:
    """``services.sim.<module>``, or exit 2 saying why: the runtime wheel leaves the development tools out."""
    found = _sim_module(module)
    if found is None:
        raise _fail(
            "the simulator and demo (services.sim) are development tools and are not installed here;"
            " run this command from a checkout of the engage repository (make install)",
            code=2,
        )
    return found


_sim_cli = _sim_module("cli")
if _sim_cli is not None:
    _sim_cli.register(app)  # `engage simulate`; the simulator is imported inside the command
else:

    @app.command("simulate", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def simulate_unavailable() -> None:
        """Generate simulated traffic (needs the development tools in services.sim)."""
        _sim("cli")


@demo_app.command("generate")
def demo_generate(
    out: Annotated[Path, typer.Option(help="Output JSONL file.")] = Path("var/demo/demo_events.jsonl"),
    n: Annotated[int, typer.Option(help="Number of events.")] = 3000,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same events.")] = 7,
) -> None:
    """Write the deterministic demo scenario as JSONL."""
    demo_events = _sim("demo").demo_events

    write_jsonl(out, demo_events(n=n, seed=seed))
    console.print(f"wrote {n} events to {out}")


def write_jsonl(path: Path, events: list[dict[str, object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        for e in events:
            fh.write(orjson.dumps(e) + b"\n")


# --- Local stack --------------------------------------------------------------------------------


@app.command()
def up() -> None:
    """Start Kafka and the workers in the background (stop with `engage down`)."""
    from services.local.stack import local_kafka, start_worker, wait_healthy, worker_env, workers

    kafka_up()
    broker = local_kafka()
    enrich, loader, alerts = _local_settings(broker.bootstrap)
    for worker in workers(enrich, loader, alerts):
        pid = start_worker(worker, worker_env(enrich))
        wait_healthy(worker)
        console.print(f"{worker.name} worker running (pid {pid}), log var/log/{worker.name}.log")


def _local_settings(bootstrap: str) -> tuple[Any, Any, Any]:
    """The enrich, loader and alerts settings of the local stack on the broker at ``bootstrap``."""
    from services.common.settings import AlertsSettings, EnrichSettings, LoaderSettings

    return (
        EnrichSettings(kafka_bootstrap=bootstrap),
        LoaderSettings(kafka_bootstrap=bootstrap),
        AlertsSettings(kafka_bootstrap=bootstrap),
    )


@app.command()
def down() -> None:
    """Stop the workers, then Kafka."""
    from services.local.stack import stop_worker

    for name in ("alerts", "loader", "enrich"):
        if stop_worker(name):
            console.print(f"{name} worker stopped")
    kafka_down()


@app.command()
def run(
    days: Annotated[
        int, typer.Option(min=2, help="Days of simulated traffic: history first, a crisis on the last day.")
    ] = 2,
    seed: Annotated[int, typer.Option(help="Scenario seed; same seed and days, same events.")] = 6,
    keep: Annotated[bool, typer.Option(help="Leave the stack running afterwards.")] = False,
) -> None:
    """The main job: start everything, replay the scenario, wait until loaded, show what it means, stop."""
    from services.common.settings import IngestSettings
    from services.drain import NotProcessed, wait_with_progress
    from services.ingest.replay import replay_files
    from services.local.stack import (
        StackError,
        local_kafka,
        start_worker,
        stop_worker,
        var_dir,
        wait_healthy,
        worker_env,
        worker_pid,
        workers,
    )
    from services.summary import print_run_summary

    run_scenario = _sim("demo").run_scenario  # before anything starts: the demo is a development tool
    started = time.monotonic()
    broker = local_kafka()
    started_kafka = not broker.is_running()
    started_workers: list[str] = []
    ok = False
    try:
        kafka_up()
        bootstrap = broker.bootstrap
        enrich, loader, alerts = _local_settings(bootstrap)
        for worker in workers(enrich, loader, alerts):
            if worker_pid(worker.name) is None:
                started_workers.append(worker.name)
            start_worker(worker, worker_env(enrich))
        with console.status("waiting for workers to join their consumer groups..."):
            for worker in workers(enrich, loader, alerts):
                wait_healthy(worker)
        scenario = run_scenario(seed=seed, days=days)
        events = scenario.events
        crisis = ", ".join(f"{c.brand_id} from {c.start}" for c in scenario.ground_truth.crises)
        scenario_file = var_dir() / "demo" / f"scenario_{seed}_{days}d.jsonl"
        write_jsonl(scenario_file, events)
        console.print(
            f"scenario: {len(events):,} events over {days} days of event time for "
            f"{len({e['brand_id'] for e in events})} brands; crisis: {crisis} ({scenario_file})"
        )
        with console.status(f"replaying {len(events):,} events at full speed..."):
            # The local demo may pseudonymise with the public development key unless a key is set.
            ingest = IngestSettings(kafka_bootstrap=bootstrap, allow_development_key=True)
            result = asyncio.run(replay_files(ingest, [scenario_file]))
        console.print(f"ingest: {result.accepted:,} accepted, {result.rejected:,} rejected")
        console.print("waiting until every stage has processed and loaded them...")
        wait_with_progress(console, timeout=600.0, settings=enrich)
        summary = print_run_summary(
            console, enrich.clickhouse_dsn, [e["event_id"] for e in events], var_dir() / "reports"
        )
        ok = summary.loaded == summary.produced == result.accepted and summary.duplicates == 0
        console.print(
            ("[bold green]OK[/]" if ok else "[bold red]MISMATCH[/]")
            + f": produced {summary.produced:,}, loaded {summary.loaded:,} distinct event_ids, "
            f"{summary.duplicates} duplicate rows; {time.monotonic() - started:.1f}s"
        )
    except (StackError, NotProcessed) as exc:
        raise _fail(str(exc)) from None
    finally:
        if not keep:
            for name in reversed(started_workers):
                stop_worker(name)
            if started_kafka:
                broker.stop()
    if not ok:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
