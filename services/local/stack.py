"""The local stack: Kafka (KRaft), the enrich, loader and alerts workers, and the demo run behind
``make run``.

Everything lives under ``ENGAGE_VAR_DIR`` (default ``./var``): ``kafka`` (broker data), ``clickhouse``
and its ``clickhouse.owner`` lock (chDB, held by the loader), ``enrich`` and ``alerts`` (worker state),
``run`` (pid files), ``log`` (worker logs). Workers are separate processes, as on Kubernetes, so the
local run exercises the same consumer groups, commits and chDB ownership as production.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from services.common.query import ensure_local_token
from services.common.settings import REPO_ROOT, AlertsSettings, CommonSettings, EnrichSettings, LoaderSettings
from services.local.kafka import LocalKafka
from services.local.process import alive

log = logging.getLogger(__name__)


class StackError(RuntimeError):
    """A local component failed to start, stop, or drain."""


@dataclass(frozen=True)
class Worker:
    name: str
    args: tuple[str, ...]
    health_url: str


def var_dir() -> Path:
    return CommonSettings().var_dir


def local_kafka() -> LocalKafka:
    """The broker running from the var dir (whatever its port), else one to start on ``local_kafka_port``."""
    settings = CommonSettings()
    data_dir = settings.var_dir / "kafka"
    if (data_dir / "kafka.json").exists():
        running = LocalKafka.from_pid_dir(data_dir)
        if running.is_running():
            return running
    return LocalKafka(data_dir, port=settings.local_kafka_port)


def workers(enrich: EnrichSettings, loader: LoaderSettings, alerts: AlertsSettings) -> list[Worker]:
    """The local workers in start order (stopped in the reverse order)."""
    return [
        Worker(
            "enrich", ("enrich", "worker"), f"http://{enrich.enrich_web_host}:{enrich.enrich_web_port}/readyz"
        ),
        Worker(
            "loader", ("loader", "worker"), f"http://{loader.loader_web_host}:{loader.loader_web_port}/readyz"
        ),
        Worker(
            "alerts", ("alerts", "worker"), f"http://{alerts.alerts_web_host}:{alerts.alerts_web_port}/readyz"
        ),
    ]


def _pid_path(name: str) -> Path:
    return var_dir() / "run" / f"{name}.pid"


def worker_pid(name: str) -> int | None:
    try:
        pid = int(_pid_path(name).read_text())
    except (OSError, ValueError):
        return None
    return pid if alive(pid) else None


def clear_stale_pid(name: str) -> None:
    """Remove the pid file a worker that died without stopping left behind, saying so."""
    path = _pid_path(name)
    try:
        pid = int(path.read_text())
    except (OSError, ValueError):
        return
    if not alive(pid):
        path.unlink(missing_ok=True)
        log.warning("removed stale pid file %s (pid %d is not running)", path, pid)


def start_worker(worker: Worker, env: dict[str, str]) -> int:
    """Spawn ``engage <args>`` detached, logging to var/log/<name>.log; return its pid."""
    existing = worker_pid(worker.name)
    if existing:
        return existing
    clear_stale_pid(worker.name)
    (var_dir() / "run").mkdir(parents=True, exist_ok=True)
    (var_dir() / "log").mkdir(parents=True, exist_ok=True)
    log = open(var_dir() / "log" / f"{worker.name}.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli", *worker.args],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    _pid_path(worker.name).write_text(str(proc.pid))
    return proc.pid


def wait_healthy(worker: Worker, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = worker_pid(worker.name)
        if pid is None:
            raise StackError(f"{worker.name} worker exited; see {var_dir() / 'log' / (worker.name + '.log')}")
        try:
            if httpx.get(worker.health_url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise StackError(f"{worker.name} worker not ready after {timeout:.0f}s ({worker.health_url})")


def stop_worker(name: str, timeout: float = 30.0) -> bool:
    """SIGTERM (faust shuts down cleanly and commits), SIGKILL after ``timeout``; True if it was running."""
    pid = worker_pid(name)
    if pid is None:
        _pid_path(name).unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive(pid):
        time.sleep(0.2)
    if alive(pid):
        os.kill(pid, signal.SIGKILL)
    _reap(pid)
    _pid_path(name).unlink(missing_ok=True)
    return True


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def worker_env(settings: CommonSettings) -> dict[str, str]:
    """The local workers' environment: the broker, the var dir, and the /query token the local CLI sends
    (generated once in <var_dir>/run unless ENGAGE_QUERY_TOKENS is set)."""
    env = {"ENGAGE_KAFKA_BOOTSTRAP": settings.kafka_bootstrap, "ENGAGE_VAR_DIR": str(settings.var_dir)}
    if not os.environ.get("ENGAGE_QUERY_TOKENS", "").strip():
        env["ENGAGE_QUERY_TOKENS"] = ensure_local_token()
    return env
