"""A running pipeline for integration tests: enrich, loader and alerts workers as real subprocesses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from services.common.settings import (
    REPO_ROOT,
    AlertsSettings,
    EnrichSettings,
    IngestSettings,
    LoaderSettings,
    to_env,
)
from tests.integration.helpers import namespaced, wait_http_ready


@dataclass
class Pipeline:
    """Workers share one isolated namespace: topic names, consumer groups, ports, chDB path."""

    bootstrap: str
    root: Path
    name: str
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        at = (self.bootstrap, self.name, self.root)
        self.enrich = namespaced(EnrichSettings, *at)
        self.loader = namespaced(LoaderSettings, *at, loader_batch_seconds=0.2)
        self.alerts = namespaced(AlertsSettings, *at)
        self.ingest = namespaced(IngestSettings, *at, allow_development_key=True)  # no production key

    @property
    def dsn(self) -> str:
        return self.enrich.clickhouse_dsn

    def env(self) -> dict[str, str]:
        return {**os.environ, **to_env(self.enrich), **to_env(self.loader), **to_env(self.alerts)}

    def start(self, which: tuple[str, ...] = ("enrich", "loader", "alerts"), timeout: float = 120.0) -> None:
        for name in which:
            log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "services.cli", name, "worker"],
                cwd=REPO_ROOT,
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            log.close()
        for name in which:
            self.wait_ready(name, timeout)

    def url(self, name: str, path: str) -> str:
        port = {
            "enrich": self.enrich.enrich_web_port,
            "loader": self.loader.loader_web_port,
            "alerts": self.alerts.alerts_web_port,
        }[name]
        return f"http://127.0.0.1:{port}{path}"

    def wait_ready(self, name: str, timeout: float) -> None:
        wait_http_ready(
            self.url(name, "/readyz"),
            timeout=timeout,
            process=self.procs[name],
            log=lambda: self.log_tail(name),
            interval=0.5,
        )

    def log_tail(self, name: str, lines: int = 60) -> str:
        path = self.root / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 60.0) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)
