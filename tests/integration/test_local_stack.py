"""The local stack as a user drives it: `engage up` on a non-default port, `simulate --wait`, `engage down`.

No ENGAGE_KAFKA_BOOTSTRAP anywhere: ENGAGE_LOCAL_KAFKA_PORT alone must bring every command to the local
broker, and ENGAGE_VAR_DIR must hold every piece of local state.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import orjson
import pytest

from services.local.kafka import free_port
from services.sim.simulator import SimulationConfig, simulate
from tests.integration.helpers import run_engage, task_dump

pytestmark = pytest.mark.integration


def _worker_dumps(state: Path) -> str:
    """The workers' SIGUSR1 dumps (tasks and the consumer's offsets, see docs/runbook.md), for a failure."""
    out = []
    for name in ("enrich", "loader", "alerts"):
        log = state / "log" / f"{name}.log"
        try:
            pid = int((state / "run" / f"{name}.pid").read_text())
        except (OSError, ValueError):
            out.append(f"\n--- no pid file for {name}: {sorted(p.name for p in (state / 'run').iterdir())}")
            continue
        lines = log.read_text(errors="replace").splitlines()
        out.append(f"\n--- {log} (last 100 lines) ---\n" + "\n".join(lines[-100:]))
        out.append(f"\n--- its dump after SIGUSR1 ---\n{task_dump(pid, log)}")
    return "".join(out)


def _stack_env(state: Path, kafka_port: int) -> dict[str, str]:
    """This environment without any ENGAGE_ setting, but for the local state directory and ports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENGAGE_")}
    return env | {
        "ENGAGE_VAR_DIR": str(state),
        "ENGAGE_LOCAL_KAFKA_PORT": str(kafka_port),
        "ENGAGE_ENRICH_WEB_PORT": str(free_port()),
        "ENGAGE_LOADER_WEB_PORT": str(free_port()),
        "ENGAGE_ALERTS_WEB_PORT": str(free_port()),
    }


def test_simulate_wait_on_a_non_default_local_port_loads_every_event(tmp_path: Path) -> None:
    state = tmp_path / "state"
    port = free_port(span=2)  # `engage up` puts the controller on port + 1
    env = _stack_env(state, port) | {"ENGAGE_PSEUDONYM_KEY": "local-stack-test-key"}

    engage = functools.partial(run_engage, env=env, cwd=tmp_path)  # not the repository: nothing in ./var

    try:
        up = engage("up", timeout=300)
        assert up.returncode == 0, up.stdout + up.stderr
        assert f"127.0.0.1:{port}" in up.stdout
        for name in ("enrich", "loader", "alerts"):
            assert f"{name} worker running" in up.stdout

        sim = engage(
            "simulate", "--seed", "5", "--duration", "1200", "--wait", "--wait-timeout", "240", timeout=400
        )
        assert sim.returncode == 0, sim.stdout + sim.stderr + _worker_dumps(state)
        assert "processed and loaded: every stage caught up" in sim.stderr

        expected = {e["event_id"] for e in simulate(SimulationConfig(seed=5, duration_seconds=1200)).events}
        assert len(expected) > 500
        # Right after --wait returns, without polling: every event is already in ClickHouse, once.
        query = engage(
            "query",
            "SELECT event_id, count() AS n FROM events FINAL GROUP BY event_id",
            "-f",
            "json",
            timeout=120,
        )
        assert query.returncode == 0, query.stderr
        rows = orjson.loads(query.stdout)
        assert {r["event_id"] for r in rows} == expected
        assert max(r["n"] for r in rows) == 1
    finally:
        down = engage("down", timeout=180)
    assert down.returncode == 0, down.stdout + down.stderr
    assert "loader worker stopped" in down.stdout
    assert not list((state / "run").glob("*.pid"))
    assert {p.name for p in state.iterdir()} >= {"kafka", "clickhouse", "enrich", "alerts", "log", "run"}
    assert not (state / "clickhouse.owner").exists()
    assert not (tmp_path / "var").exists()


def test_engage_run_pages_the_crisis_and_reports_every_brand(tmp_path: Path) -> None:
    """The main job: the scenario's crisis raises alerts, and a report works for every brand afterwards."""
    state = tmp_path / "state"
    env = _stack_env(state, free_port(span=2))

    engage = functools.partial(run_engage, env=env, cwd=tmp_path)

    run = engage("run", timeout=900)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    out = " ".join(run.stdout.split())  # rich wraps long lines
    crisis_brand = SimulationConfig().brands[1].name  # the scenario's crisis falls on hanbit-mobile
    assert "OK: produced 54,385, loaded 54,385 distinct event_ids, 0 duplicate rows" in out
    assert f"{crisis_brand} (" in out and "Alert: surge of complaints (critical)" in out
    assert "Alerts: none fired." in out  # a brand without a crisis is told so, not left out

    # With the stack stopped, the CLI opens the chDB path itself.
    alerts = engage(
        "query", "SELECT count() AS n FROM alerts WHERE status = 'firing'", "-f", "json", timeout=120
    )
    assert alerts.returncode == 0, alerts.stderr
    assert orjson.loads(alerts.stdout)[0]["n"] >= 1
    brands = engage(
        "query", "SELECT DISTINCT brand_id FROM events ORDER BY brand_id", "-f", "json", timeout=120
    )
    brand_ids = [r["brand_id"] for r in orjson.loads(brands.stdout)]
    assert brand_ids == ["cafe-lumi", "hanbit-mobile", "nordpeak-outdoor"]
    for brand in brand_ids:
        report = engage(
            "report", "--brand", brand, "--since", "7d", "--out", str(tmp_path / brand), timeout=300
        )
        assert report.returncode == 0, report.stdout + report.stderr
        assert (tmp_path / brand / "report.html").stat().st_size > 10_000
        assert (state / "reports" / brand / "report.html").exists()  # the run wrote one too
