"""A running pipeline for integration tests: enrich and alerts workers as real subprocesses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from services.common.settings import REPO_ROOT, AlertsSettings, EnrichSettings, IngestSettings, to_env
from tests.integration.helpers import namespaced


@dataclass
class Pipeline:
    """Workers share one isolated namespace: topic names, consumer groups, ports, chDB path."""

    bootstrap: str
    root: Path
    name: str
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        at = (self.bootstrap, self.name, self.root)
        self.enrich = namespaced(EnrichSettings, *at, loader_batch_seconds=0.2)
        self.alerts = namespaced(AlertsSettings, *at)
        self.ingest = namespaced(IngestSettings, *at, allow_development_key=True)  # no production key

    @property
    def dsn(self) -> str:
        return self.enrich.clickhouse_dsn

    def env(self) -> dict[str, str]:
        return {**os.environ, **to_env(self.enrich), **to_env(self.alerts)}

    def start(self, which: tuple[str, ...] = ("enrich", "alerts"), timeout: float = 120.0) -> None:
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
        port = self.enrich.enrich_web_port if name == "enrich" else self.alerts.alerts_web_port
        return f"http://127.0.0.1:{port}{path}"

    def wait_ready(self, name: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.procs[name]
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.log_tail(name)}")
            try:
                if httpx.get(self.url(name, "/readyz"), timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"{name} not ready in {timeout}s:\n{self.log_tail(name)}")

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
