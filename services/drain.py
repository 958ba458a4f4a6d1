"""Wait until what was sent has been processed and loaded, from the consumer groups' lag at every stage.

Used by ``engage wait``, ``engage simulate --wait``, ``engage replay --wait`` and ``make run``. It reads only
committed offsets and end offsets, so it works the same against the local stack and a production cluster.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from services.common.kafka import consumer_lag
from services.common.settings import AlertsSettings, EnrichSettings, LoaderSettings
from services.loader.consumer import loaded_topics


class NotProcessed(RuntimeError):
    """A stage still had messages to process when the wait timed out."""


@dataclass(frozen=True)
class Stage:
    """One step of the pipeline, seen as a consumer group reading its input topics."""

    name: str
    group: str
    topics: tuple[str, ...]


def pipeline_stages(enrich: EnrichSettings, alerts: AlertsSettings, loader: LoaderSettings) -> list[Stage]:
    """The stages in flow order; a stage's input is complete once the one before it has committed (the
    loader comes last: it loads the alerts too)."""
    return [
        Stage("enrich", enrich.enrich_app_id, (enrich.topic_raw,)),
        Stage("alerts", alerts.alerts_app_id, (alerts.topic_enriched,)),
        Stage("loader", loader.loader_app_id, tuple(loaded_topics(loader))),
    ]


#: Called after every poll with each stage's messages still to process, in flow order.
ProgressCallback = Callable[[dict[str, int]], None]


async def wait_processed(
    enrich: EnrichSettings,
    alerts: AlertsSettings,
    loader: LoaderSettings,
    timeout: float = 300.0,
    on_progress: ProgressCallback | None = None,
    settle_checks: int = 2,
    poll_seconds: float = 0.5,
) -> None:
    """Wait until every stage has committed everything on its input topics, ``settle_checks`` polls in a row.

    Stages are polled in flow order: enrich commits a batch only after its outputs were acknowledged, so
    when enrich shows no lag the later stages' end offsets already include its outputs, and a loader with
    no lag has inserted them. Raises :class:`NotProcessed` naming the stages still behind after ``timeout``.
    """
    stages = pipeline_stages(enrich, alerts, loader)
    deadline = time.monotonic() + timeout
    clean = 0
    behind: dict[Stage, dict[str, int]] = {}
    while True:
        behind = {}
        for stage in stages:
            lag = await consumer_lag(enrich, stage.group, list(stage.topics))
            if any(lag.values()):
                behind[stage] = {topic: n for topic, n in lag.items() if n}
        if on_progress is not None:
            on_progress({stage.name: sum(behind.get(stage, {}).values()) for stage in stages})
        clean = clean + 1 if not behind else 0
        if clean >= settle_checks:
            return
        if time.monotonic() >= deadline:
            break
        await asyncio.sleep(poll_seconds)
    raise NotProcessed(
        f"not processed within {timeout:.0f}s; behind: "
        + "; ".join(
            f"{stage.name} (consumer group {stage.group}) has {sum(lag.values())} message(s) to go on "
            + ", ".join(f"{topic} {n}" for topic, n in sorted(lag.items()))
            for stage, lag in behind.items()
        )
        + ". Is that worker running?"
    )


def wait_with_progress(console: Console, timeout: float, settings: EnrichSettings | None = None) -> None:
    """:func:`wait_processed` with one progress bar per stage (messages processed since the wait began)."""
    enrich = settings or EnrichSettings()
    shared = enrich.model_dump()
    alerts = AlertsSettings(**{k: v for k, v in shared.items() if k in AlertsSettings.model_fields})
    loader = LoaderSettings(**{k: v for k, v in shared.items() if k in LoaderSettings.model_fields})
    columns = (TextColumn("{task.description:<8}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        tasks: dict[str, TaskID] = {}
        peak: dict[str, int] = {}

        def show(lags: dict[str, int]) -> None:
            for stage, lag in lags.items():
                peak[stage] = max(peak.get(stage, 0), lag)
                if stage not in tasks:
                    tasks[stage] = progress.add_task(stage, total=peak[stage] or 1)
                total = peak[stage] or 1
                progress.update(tasks[stage], total=total, completed=total - lag)

        asyncio.run(wait_processed(enrich, alerts, loader, timeout=timeout, on_progress=show))


def wait_or_exit(console: Console, timeout: float) -> None:
    """The CLI's ``--wait``: progress bars, then one line; exit 1 naming the stages still behind."""
    import typer

    began = time.monotonic()
    try:
        wait_with_progress(console, timeout)
    except NotProcessed as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(1) from None
    console.print(f"processed and loaded: every stage caught up in {time.monotonic() - began:.1f}s")
