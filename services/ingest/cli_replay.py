"""``engage replay FILE...``: files of events into Kafka with progress, pacing, a summary and resume.

Exit status: 0 when every line was processed (rejections are reported, not failures), 1 when
interrupted (the summary says which ``--from-line`` resumes without losing anything), 2 on usage errors.
Kafka and the readers are imported inside the command, so ``engage --help`` stays fast.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from services.ingest.replay import ReplaySummary

console = Console()
err = Console(stderr=True)


class InputFormat(StrEnum):
    jsonl = "jsonl"
    csv = "csv"


def register(app: typer.Typer) -> None:
    app.command()(replay)


def replay(
    files: Annotated[
        list[Path],
        typer.Argument(
            exists=True,
            dir_okay=False,
            help="JSONL (canonical events or platform webhook payloads) or CSV files, optionally .gz.",
        ),
    ],
    from_line: Annotated[
        int, typer.Option(min=1, help="Start the first FILE at this line (resume after an interruption).")
    ] = 1,
    rate: Annotated[float | None, typer.Option(min=0.001, help="Send at most N events per second.")] = None,
    speedup: Annotated[
        float | None,
        typer.Option(min=0.001, help="Replay by the original occurred_at gaps, X times faster."),
    ] = None,
    fmt: Annotated[
        InputFormat | None, typer.Option("--format", help="Override the format taken from the file name.")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Events per acknowledged batch.")] = 2000,
    wait: Annotated[
        bool, typer.Option("--wait", help="Then wait until every stage has processed and loaded them.")
    ] = False,
    wait_timeout: Annotated[float, typer.Option(min=1, help="Seconds --wait waits at most.")] = 600.0,
) -> None:
    """Replay events from files into Kafka; invalid lines go to the DLQ with the reason and line number."""
    import asyncio
    import signal

    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

    from services.common.settings import IngestSettings
    from services.ingest.pacing import Pacer, RatePacer, SpeedupPacer
    from services.ingest.readers import InputFormatError, count_lines, detect_format, read_csv_header
    from services.ingest.replay import ReplaySummary, replay_files

    if rate is not None and speedup is not None:
        err.print("[bold red]error:[/] --rate and --speedup are mutually exclusive; pick one")
        raise typer.Exit(2)
    override = fmt.value if fmt is not None else None
    try:
        for path in files:
            if detect_format(path, override) == "csv":
                read_csv_header(path)
        total = sum(count_lines(p) for p in files)
    except (InputFormatError, OSError) as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None
    pacer: Pacer | None = RatePacer(rate) if rate else SpeedupPacer(speedup) if speedup else None

    settings = IngestSettings()
    summary = ReplaySummary()
    try:
        with Progress(
            TextColumn("replay"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.completed:,.0f}/{task.total:,.0f} lines"),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            console=err,
        ) as progress:
            task = progress.add_task("replay", total=total, rate="")

            def advance(lines_done: int) -> None:
                elapsed = progress.tasks[0].elapsed or 0.0
                events = summary.accepted + summary.rejected
                rate_text = f"{events / elapsed:,.0f} ev/s" if elapsed > 0 else ""
                progress.update(task, completed=lines_done, rate=rate_text)

            async def main() -> None:
                loop = asyncio.get_running_loop()
                stop = asyncio.Event()
                me = asyncio.current_task()

                def on_signal() -> None:
                    if stop.is_set() and me is not None:
                        me.cancel()  # second Ctrl-C: abort the batch in flight
                    else:
                        stop.set()
                        err.print("stopping after the batch in flight (Ctrl-C again to abort)...")

                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.add_signal_handler(sig, on_signal)
                try:
                    await replay_files(
                        settings,
                        list(files),
                        batch_size=batch_size,
                        from_line=from_line,
                        fmt=override,
                        pacer=pacer,
                        progress=advance,
                        stop=stop,
                        summary=summary,
                    )
                except asyncio.CancelledError:
                    summary.interrupted = True
                except Exception as exc:  # e.g. Kafka unreachable, an undecodable file: say where to resume
                    summary.interrupted, summary.error = True, f"{type(exc).__name__}: {exc}"
                finally:
                    for sig in (signal.SIGINT, signal.SIGTERM):
                        loop.remove_signal_handler(sig)

            asyncio.run(main())
    except KeyboardInterrupt:  # before the loop took over the signal: nothing was sent by this run
        summary.interrupted = True
    console.print(summary_table(summary, settings.topic_raw, settings.topic_dlq))
    if summary.error:
        err.print(f"[bold red]error:[/] {summary.error}")
    if summary.interrupted:
        point = summary.resume
        line, rest = (point.line, files[point.index :]) if point else (from_line, files)
        status = "[bold red]failed[/]" if summary.error else "[bold yellow]interrupted[/]"
        console.print(f"{status}: every line before line {line} of {rest[0]} is in Kafka", soft_wrap=True)
        more = f" {' '.join(str(p) for p in rest)}" if len(rest) > 1 else ""
        console.print(f"resume with --from-line {line}{more}", soft_wrap=True)
        raise typer.Exit(1)
    if wait:
        from services.drain import wait_or_exit

        wait_or_exit(err, wait_timeout)


def summary_table(summary: ReplaySummary, topic_raw: str, topic_dlq: str) -> Table:
    """The end-of-run counts; rejections by reason, so a bad export is diagnosed without the DLQ."""
    table = Table("replay", "count", title="replay summary", show_header=False)
    table.add_row("lines read", f"{summary.lines:,}")
    table.add_row("skipped (before --from-line)", f"{summary.skipped:,}")
    table.add_row(f"accepted (to {topic_raw})", f"{summary.accepted:,}")
    table.add_row(f"rejected (to {topic_dlq})", f"{summary.rejected:,}")
    for reason, n in sorted(summary.rejected_by_reason.items(), key=lambda kv: (-kv[1], kv[0])):
        table.add_row(f"  {reason}", f"{n:,}")
    if summary.ignored:
        table.add_row("platform items ignored", f"{summary.ignored:,}")
    table.add_row("elapsed", f"{summary.elapsed:.1f} s")
    table.add_row("rate", f"{summary.rate:,.0f} events/s")
    return table
