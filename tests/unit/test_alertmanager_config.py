"""The Alertmanager routing example is valid and routes engage alerts by severity."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from services.common.settings import REPO_ROOT
from tests.tools import require_binary

CONFIG = REPO_ROOT / "deploy" / "alertmanager" / "alertmanager.yml"


@pytest.fixture
def amtool() -> str:
    return require_binary("amtool", package="prometheus-alertmanager")


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


def _pipeline_rules() -> list[tuple[str, str]]:
    rules = yaml.safe_load((REPO_ROOT / "deploy/helm/engage/files/prometheus-rules.yml").read_text())
    return [
        (rule["alert"], rule["labels"]["severity"])
        for group in rules["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


PLATFORM_RECEIVERS = {"critical": "platform-pager,platform-chat", "warning": "platform-chat"}


@pytest.mark.parametrize(("alertname", "severity"), _pipeline_rules())
def test_every_pipeline_alert_routes_to_the_platform_team(amtool: str, alertname: str, severity: str) -> None:
    """The Prometheus rules shipped with the chart page the platform team, not the brand teams."""
    labels = [f"alertname={alertname}", f"severity={severity}", "namespace=engage"]
    out = subprocess.run(
        [amtool, "config", "routes", "test", f"--config.file={CONFIG}", *labels],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip() == PLATFORM_RECEIVERS[severity]


def test_other_alerts_keep_the_default_receiver(amtool: str) -> None:
    labels = ["alertname=SomeoneElsesAlert", "severity=critical"]
    out = subprocess.run(
        [amtool, "config", "routes", "test", f"--config.file={CONFIG}", *labels],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.stdout.strip() == "social-team-chat", out.stdout + out.stderr
