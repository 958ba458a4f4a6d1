"""``engage simulate``: deterministic believable traffic to a JSONL file or straight into Kafka."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from services.common.settings import IngestSettings
    from services.sim.simulator import Simulation


def register(app: typer.Typer) -> None:
    @app.command("simulate")
    def simulate_command(
        seed: Annotated[int, typer.Option(help="Random seed; same seed and options, same bytes.")] = 7,
        duration: Annotated[float, typer.Option(help="Simulated time span in seconds.")] = 3600.0,
        start: Annotated[
            str, typer.Option(help="Simulated start, ISO-8601 (UTC when no offset).")
        ] = "2026-11-01T00:00:00Z",
        out: Annotated[
            Path | None, typer.Option(help="Write canonical JSONL here instead of producing to Kafka.")
        ] = None,
        ground_truth: Annotated[
            Path | None, typer.Option("--ground-truth", help="Write the ground-truth JSON here.")
        ] = None,
        rate: Annotated[
            float | None,
            typer.Option(help="Events per second when producing to Kafka (default: as fast as possible)."),
        ] = None,
        brands: Annotated[
            str | None, typer.Option(help="Comma-separated subset of the default brand ids.")
        ] = None,
        crises: Annotated[
            int | None,
            typer.Option(help="Reputation crises to inject (default: about 1.5 a day, at least one)."),
        ] = None,
        crisis_day: Annotated[
            int | None,
            typer.Option(
                help="Simulated day (1 = the first) every crisis falls in. The alert detectors learn for a"
                " day first, so a crisis on day 2 or later pages."
            ),
        ] = None,
        wait: Annotated[
            bool, typer.Option("--wait", help="Then wait until every stage has processed and loaded them.")
        ] = False,
        wait_timeout: Annotated[float, typer.Option(min=1, help="Seconds --wait waits at most.")] = 600.0,
    ) -> None:
        """Generate brand conversation with known truth (cascades, journeys, replies, crises)."""
        from datetime import datetime

        from rich.console import Console

        from services.common.settings import IngestSettings
        from services.sim.simulator import DEFAULT_BRANDS, SimulationConfig, simulate

        console = Console(stderr=out is None)
        try:
            begin = datetime.fromisoformat(start.replace("Z", "+00:00"))
        except ValueError:
            raise typer.BadParameter(f"not an ISO-8601 timestamp: {start!r}", param_hint="--start") from None
        chosen = DEFAULT_BRANDS
        if brands:
            wanted = [b.strip() for b in brands.split(",") if b.strip()]
            known = {b.brand_id: b for b in DEFAULT_BRANDS}
            if unknown := [b for b in wanted if b not in known]:
                raise typer.BadParameter(
                    f"unknown brand(s) {', '.join(unknown)}; known: {', '.join(known)}", param_hint="--brands"
                )
            chosen = tuple(known[b] for b in wanted)
        if duration <= 0:
            raise typer.BadParameter("must be positive", param_hint="--duration")
        if rate is not None and rate <= 0:
            raise typer.BadParameter("must be positive", param_hint="--rate")
        if crises is not None and crises < 0:
            raise typer.BadParameter("must be >= 0", param_hint="--crises")
        days = math.ceil(duration / 86400)
        if crisis_day is not None and not 1 <= crisis_day <= days:
            raise typer.BadParameter(f"must be a day of the run (1-{days})", param_hint="--crisis-day")
        cpu = time.process_time()
        sim = simulate(
            SimulationConfig(
                seed=seed,
                duration_seconds=duration,
                start=begin,
                brands=chosen,
                crisis_count=crises,
                crisis_day=crisis_day,
            )
        )
        cpu = time.process_time() - cpu
        if ground_truth is not None:
            ground_truth.parent.mkdir(parents=True, exist_ok=True)
            ground_truth.write_text(sim.ground_truth.to_json(), encoding="utf-8")
        if out is not None:
            write_events(out, sim.events)
            destination = str(out)
        else:
            from services.ingest.producer import pseudonym_key
            from services.ingest.pseudonym import MissingPseudonymKey

            settings = IngestSettings()
            try:
                pseudonym_key(settings)
            except MissingPseudonymKey as exc:
                console.print(f"[red]error:[/red] {exc}")
                raise typer.Exit(2) from None
            accepted, rejected = asyncio.run(produce_events(settings, sim.events, rate=rate))
            destination = f"{settings.topic_raw} ({accepted} accepted, {rejected} rejected)"
        console.print(summary_line(sim, destination, cpu))
        if wait and out is None:
            from services.drain import wait_or_exit

            wait_or_exit(console, wait_timeout)


def write_events(path: Path, events: list[dict[str, Any]]) -> None:
    """Canonical JSONL with sorted keys, so a rerun with the same seed writes identical bytes."""
    import orjson

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        for event in events:
            fh.write(orjson.dumps(event, option=orjson.OPT_SORT_KEYS) + b"\n")


async def produce_events(
    settings: IngestSettings,
    events: list[dict[str, Any]],
    rate: float | None = None,
    batch_size: int = 2000,
    sleep: Callable[[float], Any] = asyncio.sleep,
) -> tuple[int, int]:
    """Publish through the ingest producer (validation, pseudonyms, DLQ); pace at ``rate`` events/s.

    Paced runs send about ten batches a second; unpaced runs send large batches back to back.
    Returns (accepted, rejected).
    """
    from services.ingest.producer import EventProducer, candidates_from_objects

    size = batch_size if rate is None else max(1, min(batch_size, int(rate / 10)))
    accepted = rejected = sent = 0
    began = time.monotonic()
    async with EventProducer(settings, source="simulator") as producer:
        for i in range(0, len(events), size):
            if rate is not None:
                ahead = sent / rate - (time.monotonic() - began)
                if ahead > 0:
                    await sleep(ahead)
            batch = events[i : i + size]
            result = await producer.publish(candidates_from_objects(batch))
            accepted += result.accepted
            rejected += len(result.rejected)
            sent += len(batch)
    return accepted, rejected


def summary_line(sim: Simulation, destination: str, cpu_seconds: float) -> str:
    gt = sim.ground_truth
    types = ", ".join(f"{k} {v}" for k, v in sorted(gt.event_counts.items(), key=lambda kv: -kv[1]) if v)
    touches = gt.mean_touches_before_conversion
    mean = f" (mean touches {touches:.2f})" if touches is not None else ""
    return (
        f"{len(sim.events)} events to {destination} in {cpu_seconds:.2f}s CPU: {types}\n"
        f"posts {len(gt.posts)}, conversions {len(gt.conversions)}{mean}, "
        f"answered comments {len(gt.responses)}, crises {len(gt.crises)}"
    )
