"""``engage ingest serve``: the ingest HTTP service under uvicorn (heavy imports happen in the command)."""

from __future__ import annotations

from typing import Annotated

import typer


def register(ingest_app: typer.Typer) -> None:
    @ingest_app.command("serve")
    def serve(
        host: Annotated[
            str | None, typer.Option(help="Bind address (default: ENGAGE_INGEST_HOST, 127.0.0.1).")
        ] = None,
        port: Annotated[int | None, typer.Option(help="Port (default: ENGAGE_INGEST_PORT, 8080).")] = None,
    ) -> None:
        """Serve POST /v1/events and the platform webhooks; OpenAPI at /openapi.json."""
        import logging

        import uvicorn

        from services.common.settings import IngestSettings
        from services.ingest.api import create_app
        from services.ingest.pseudonym import MissingPseudonymKey

        settings = IngestSettings()
        logging.basicConfig(
            level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        try:
            app = create_app(settings)
        except MissingPseudonymKey as exc:
            typer.echo(f"engage ingest serve: {exc}", err=True)
            raise typer.Exit(2) from None
        uvicorn.run(
            app,
            host=host or settings.ingest_host,
            port=port or settings.ingest_port,
            log_level=settings.log_level.lower(),
            access_log=False,
        )
