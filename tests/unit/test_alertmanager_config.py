"""The Alertmanager routing example is valid and routes engage alerts by severity."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from services.common.settings import REPO_ROOT

CONFIG = REPO_ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
AMTOOL = shutil.which("amtool")


@pytest.fixture
def amtool() -> str:
    if AMTOOL is None:
        if os.environ.get("CI"):
            pytest.fail("amtool missing in CI (.ci/run installs prometheus-alertmanager)")
        pytest.skip("amtool not installed (apt-get install prometheus-alertmanager)")
    return AMTOOL


def test_config_is_valid(amtool: str) -> None:
    out = subprocess.run([amtool, "check-config", str(CONFIG)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize(
    ("severity", "receivers"),
    [
        ("critical", "oncall-pager,social-team-chat"),
        ("warning", "social-team-chat"),
        ("info", "social-insights"),
    ],
)
def test_routes_by_severity(amtool: str, severity: str, receivers: str) -> None:
    labels = ["alertname=EngageReputationSpike", "brand=cafe-lumi", "kind=complaints", f"severity={severity}"]
    out = subprocess.run(
        [amtool, "config", "routes", "test", f"--config.file={CONFIG}", *labels],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip() == receivers
