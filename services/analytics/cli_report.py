"""``engage report`` (charts + HTML from the documented queries) and ``engage retention`` (raw-text TTL).

Heavy imports (matplotlib, ClickHouse) happen inside the commands so ``engage --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report_command(
        brand: Annotated[str, typer.Option(help="Brand id, e.g. cafe-lumi.")],
        since: Annotated[
            str,
            typer.Option(
                help="Window before the end of the hour of the brand's latest event in the data "
                "(not the wall clock): 30m, 24h, 7d, or seconds. Rounded out to whole hours."
            ),
        ] = "24h",
        out: Annotated[Path, typer.Option(help="Directory for report.html and the PNG charts.")] = Path(
            "var/report"
        ),
    ) -> None:
        """Write a self-contained HTML report with PNG charts for one brand (also while the pipeline runs)."""
        from rich.console import Console

        from services.analytics.report import ReportError, generate, parse_since
        from services.common.query import QueryError, run_query
        from services.common.settings import CommonSettings

        console, err = Console(), Console(stderr=True)
        try:
            span = parse_since(since)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--since") from None
        dsn = CommonSettings().clickhouse_dsn
        try:
            report = generate(lambda sql, params: run_query(dsn, sql, params), brand, span, out)
        except (QueryError, ReportError) as exc:
            err.print(f"[bold red]error:[/] {exc}")
            raise typer.Exit(1) from None
        assert report.data is not None
        w = report.data.window
        console.print(
            f"report for [bold]{brand}[/], {w.since:%Y-%m-%d %H:%M} – {w.until:%Y-%m-%d %H:%M} UTC: "
            f"{report.html_path} and {len(report.pngs)} charts"
        )

    @app.command("retention")
    def retention_command(
        text_days: Annotated[
            int,
            typer.Option(
                "--text-days",
                envvar="ENGAGE_TEXT_RETENTION_DAYS",
                min=1,
                help="Days raw texts (events.text, alerts.sample_texts) are kept after loading.",
            ),
        ] = 180,
        print_only: Annotated[
            bool, typer.Option("--print", help="Show the statements, run nothing.")
        ] = False,
    ) -> None:
        """Set how long raw message texts are kept (idempotent ALTER ... TTL; derived numbers stay)."""
        from rich.console import Console

        from services.analytics import retention
        from services.common.clickhouse import ChdbPathBusy, connect
        from services.common.settings import CommonSettings

        console, err = Console(), Console(stderr=True)
        if print_only:
            for sql in retention.statements(text_days):
                console.print(sql + ";", soft_wrap=True)
            return
        try:
            db = connect(CommonSettings().clickhouse_dsn)
        except ChdbPathBusy as exc:
            err.print(f"[bold red]error:[/] {exc}. Its query endpoint is read-only: stop the pipeline first.")
            raise typer.Exit(1) from None
        try:
            retention.apply(db, text_days)
        finally:
            db.close()
        console.print(f"raw texts are now kept {text_days} days after loading")
