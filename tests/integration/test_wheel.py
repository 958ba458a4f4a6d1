"""The built wheel, installed (not editable) in a fresh venv outside the repository, runs on its own.

``engage migrate`` and ``engage report`` read migrations, Avro schemas and the analyst queries as
package data, so they must work from a directory that has no ``schemas/`` or ``docs/`` beside it; the
development tools (services.sim) are not in the wheel, so ``engage simulate`` says so and exits 2.
Dependencies come from the lock through uv's cache (as ``make install`` does), the project from the
wheel alone.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.common.settings import REPO_ROOT

pytestmark = pytest.mark.integration

UV = REPO_ROOT / ".tools" / "bin" / "uv"
SECTIONS = ("Alerts and complaints", "Sentiment mix", "Engagement over time", "Top posts")


def _uv() -> str:
    found = str(UV) if UV.exists() else shutil.which("uv")
    if found is None:
        pytest.skip("uv not installed: run `make install`")
    return found


def _run(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 120) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args[:3]} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed() -> Iterator[tuple[Path, dict[str, str]]]:
    """(a working directory outside the repository, the environment whose PATH has the wheel's engage)."""
    uv = _uv()
    with tempfile.TemporaryDirectory(prefix="engage-wheel-") as tmp:
        root = Path(tmp)
        assert not root.resolve().is_relative_to(REPO_ROOT)
        # Only what a user's shell would have: no PYTHONPATH or virtualenv pointing into the checkout.
        base = {
            k: v
            for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "VIRTUAL_ENV") and "ENGAGE" not in k
        }
        build_env = {**base, "UV_PYTHON_DOWNLOADS": "never"}
        _run([uv, "build", "--wheel", "--quiet", "--out-dir", str(root / "dist")], REPO_ROOT, build_env)
        (wheel,) = (root / "dist").glob("engage-*.whl")
        venv = root / "venv"
        _run(
            [
                uv,
                "sync",
                "--project",
                str(REPO_ROOT),
                "--frozen",
                "--no-dev",
                "--no-install-project",
                "--quiet",
            ],
            root,
            {**build_env, "UV_PROJECT_ENVIRONMENT": str(venv), "UV_PYTHON": sys.executable},
        )
        _run(
            [
                uv,
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--python",
                str(venv / "bin" / "python"),
                str(wheel),
            ],
            root,
            build_env,
        )
        env = {**base, "PATH": f"{venv / 'bin'}{os.pathsep}{base.get('PATH', '')}", "HOME": str(root)}
        yield root, env


def test_the_wheel_carries_package_data_and_leaves_the_development_tools_out() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _run([_uv(), "build", "--wheel", "--quiet", "--out-dir", tmp], REPO_ROOT, dict(os.environ))
        (wheel,) = Path(tmp).glob("engage-*.whl")
        names = set(zipfile.ZipFile(wheel).namelist())
    assert "services/analytics/queries.sql" in names
    assert "services/_schemas/registry.json" in names and "services/_docs/runbook.md" in names
    migrations = sorted(n.rsplit("/", 1)[1] for n in names if n.startswith("services/_schemas/clickhouse/"))
    assert migrations == sorted(p.name for p in (REPO_ROOT / "schemas" / "clickhouse").glob("*.sql"))
    assert not any(n.startswith("services/sim/") for n in names)


def test_migrate_and_report_run_from_the_installed_wheel(installed: tuple[Path, dict[str, str]]) -> None:
    root, env = installed
    engage = shutil.which("engage", path=env["PATH"])
    assert engage and Path(engage).is_relative_to(root)
    site = _run(["python", "-c", "import services, sys; print(services.__file__)"], root, env).strip()
    assert Path(site).is_relative_to(root / "venv"), site  # the installed copy, not the checkout
    dsn = f"chdb://{root / 'ch'}"
    env = {**env, "ENGAGE_CLICKHOUSE_DSN": dsn, "ENGAGE_TIMEZONE": ""}

    out = _run(["engage", "migrate"], root, env)
    applied = re.search(r"applied (\d+) migration", out)
    assert applied and int(applied.group(1)) == len(
        list((REPO_ROOT / "schemas" / "clickhouse").glob("*.sql"))
    )
    tables = _run(
        ["engage", "query", "SELECT name FROM system.tables WHERE database = currentDatabase()", "-f", "csv"],
        root,
        env,
    )
    assert {"events", "alerts", "post_virality", "events_minute", "engage_migrations"} <= set(tables.split())

    # A few simulated hours, enriched and loaded as the pipeline would (by the checkout's test tools).
    brand = (
        _run(
            [sys.executable, "-c", _POPULATE, dsn],
            REPO_ROOT,
            {**os.environ, "ENGAGE_CLICKHOUSE_DSN": dsn},
        )
        .strip()
        .splitlines()[-1]
    )

    report_dir = root / "report"
    out = _run(["engage", "report", "--brand", brand, "--since", "24h", "--out", str(report_dir)], root, env)
    assert "report.html" in out
    html = (report_dir / "report.html").read_text(encoding="utf-8")
    for title in SECTIONS:
        assert f"<h2>{title}</h2>" in html, title
    assert len(re.findall(r"<img src='data:image/png;base64,", html)) >= 3
    assert len(list(report_dir.glob("*.png"))) >= 3


def test_the_simulator_is_not_installed_from_the_wheel(installed: tuple[Path, dict[str, str]]) -> None:
    root, env = installed
    done = subprocess.run(
        ["engage", "simulate"], cwd=root, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "not installed here" in " ".join(done.stderr.split())


_POPULATE = """
import sys
from collections import Counter
from services.common.clickhouse import connect
from services.sim.simulator import SimulationConfig, simulate
from tests.populate import populate

sim = simulate(SimulationConfig(seed=11, duration_seconds=6 * 3600))
db = connect(sys.argv[1])
try:
    populate(db, sim.events)
finally:
    db.close()
print(Counter(e["brand_id"] for e in sim.events).most_common(1)[0][0])
"""
