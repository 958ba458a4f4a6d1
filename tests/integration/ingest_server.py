"""The ingest API served for integration tests, as ``engage ingest serve`` runs it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from services.common.settings import IngestSettings
from services.ingest.api import create_app
from services.local.kafka import free_port
from tests.integration.helpers import eventually


@contextmanager
def serve(settings: IngestSettings) -> Iterator[str]:
    """Run the app under uvicorn in a thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()

    def started() -> bool:
        if not thread.is_alive():
            raise RuntimeError("uvicorn exited before it started")
        return bool(server.started)

    eventually(started, timeout=20, interval=0.02, what="uvicorn to start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)
