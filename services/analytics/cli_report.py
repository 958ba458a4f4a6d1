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
                help="Window length before its end: 30m, 24h, 7d, or seconds. Rounded out to whole hours."
            ),
        ] = "24h",
        until: Annotated[
            str | None,
            typer.Option(
                help="End of the window, e.g. 2026-11-02 or 2026-11-02T09:00 (in the report's time zone "
                "unless an offset is given), for a past or backfilled period. Default: the end of the hour "
                "of the brand's latest event in the data (not the wall clock)."
            ),
        ] = None,
        out: Annotated[Path, typer.Option(help="Directory for report.html and the PNG charts.")] = Path(
            "var/report"
        ),
    ) -> None:
        """Write a self-contained HTML report with PNG charts for one brand (also while the pipeline runs)."""
        from rich.console import Console

        from services.analytics.report import ReportError, generate, parse_since, parse_until
        from services.common import brands
        from services.common.query import QueryError, run_query
        from services.common.settings import CommonSettings

        console, err = Console(), Console(stderr=True)
        settings = CommonSettings()
        try:
            span = parse_since(since)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--since") from None
        try:
            tz = brands.display_zone(brand, settings.timezone, settings.brands_file)
        except brands.BrandsFileError as exc:
            err.print(f"[bold red]error:[/] {exc}")
            raise typer.Exit(1) from None
        end = None
        if until:
            try:
                end = parse_until(until, tz)
            except ValueError as exc:
                raise typer.BadParameter(str(exc), param_hint="--until") from None
        dsn = settings.clickhouse_dsn
        try:
            report = generate(
                lambda sql, params: run_query(dsn, sql, params),
                brand,
                span,
                out,
                until=end,
                timezone=settings.timezone,
                brands_file=settings.brands_file,
            )
        except (QueryError, ReportError) as exc:
            hint = (
                f"\nno engage tables at {dsn}: run `make run` (or `engage migrate` and load data) first"
                if "UNKNOWN_TABLE" in str(exc)
                else ""
            )
            err.print(f"[bold red]error:[/] {exc}{hint}")
            raise typer.Exit(1) from None
        assert report.data is not None
        d = report.data
        w = d.window
        empty = [s.title for s in report.sections if s.empty and s.chart is None and not s.tables]
        nothing = (
            "; nothing at all in this window"
            if len(empty) == len(report.sections)
            else f"; nothing in this window for: {', '.join(empty)}"
            if empty
            else ""
        )
        console.print(
            f"report for [bold]{d.brand.label}[/], {d.local(w.since):%Y-%m-%d %H:%M} – "
            f"{d.local(w.until):%Y-%m-%d %H:%M} {d.zone} ({d.tz}): {report.html_path} and "
            f"{len(report.pngs)} charts{nothing}",
            soft_wrap=True,
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
