"""The Prometheus alerting rules: well-formed, documented, and unit-tested with promtool.

Every alerting rule in ``deploy/helm/engage/files/prometheus-rules.yml`` needs a promtool test case
that expects it to fire and one that expects it to stay quiet (``deploy/prometheus/tests/*.yml``), a
severity, and a ``runbook_url`` pointing at a section of ``docs/runbook.md``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.common.settings import REPO_ROOT
from tests.tools import require_binary

RULES = REPO_ROOT / "deploy" / "helm" / "engage" / "files" / "prometheus-rules.yml"
TESTS_DIR = REPO_ROOT / "deploy" / "prometheus" / "tests"
RUNBOOK = REPO_ROOT / "docs" / "runbook.md"
SEVERITIES = {"critical", "warning", "info"}


def alerting_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def promtool_test_files() -> list[Path]:
    return sorted(TESTS_DIR.glob("*.yml"))


def expectations() -> tuple[dict[str, int], dict[str, int]]:
    """Per alert name: how many promtool cases expect it to fire, and how many expect silence."""
    firing: dict[str, int] = defaultdict(int)
    quiet: dict[str, int] = defaultdict(int)
    for path in promtool_test_files():
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                (firing if case.get("exp_alerts") else quiet)[case["alertname"]] += 1
    return firing, quiet


def runbook_anchors() -> set[str]:
    """GitHub-style anchors of the runbook's headings."""
    anchors = set()
    for line in RUNBOOK.read_text().splitlines():
        if m := re.match(r"#+\s+(.*)", line):
            anchors.add(re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-"))
    return anchors


def test_rules_cover_what_the_platform_team_needs() -> None:
    names = {rule["alert"] for rule in alerting_rules()}
    assert names >= {
        "EngageTargetDown",
        "EngageNoEventsReceived",
        "EngageConsumerLagHigh",
        "EngageConsumerLagGrowing",
        "EngageDeadLetterRateHigh",
        "EngageLoaderInsertFailures",
        "EngageAlertDeliveryFailing",
    }
    assert len(names) == len(alerting_rules()), "alert names must be unique"


def test_every_alert_has_a_severity_a_summary_and_a_runbook_section() -> None:
    anchors = runbook_anchors()
    for rule in alerting_rules():
        name = rule["alert"]
        assert rule["labels"]["severity"] in SEVERITIES, name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name
        url = rule["annotations"]["runbook_url"]
        assert url.startswith("docs/runbook.md#"), name
        assert url.split("#", 1)[1] in anchors, f"{name}: no runbook section for {url}"


def test_test_files_load_the_chart_rules() -> None:
    assert promtool_test_files(), f"no promtool tests in {TESTS_DIR}"
    for path in promtool_test_files():
        rule_files = yaml.safe_load(path.read_text())["rule_files"]
        assert [(path.parent / f).resolve() for f in rule_files] == [RULES.resolve()], path


def test_every_alerting_rule_has_firing_and_quiet_test_cases() -> None:
    firing, quiet = expectations()
    names = {rule["alert"] for rule in alerting_rules()}
    assert not names - firing.keys(), f"no case expects these to fire: {sorted(names - firing.keys())}"
    assert not names - quiet.keys(), f"no case expects these to stay quiet: {sorted(names - quiet.keys())}"
    assert not (firing.keys() | quiet.keys()) - names, "promtool cases for alerts that do not exist"


@pytest.fixture
def promtool() -> str:
    return require_binary("promtool", package="prometheus")


def test_promtool_check_rules(promtool: str) -> None:
    out = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(alerting_rules())} rules found" in out.stdout


def test_promtool_unit_tests_pass(promtool: str) -> None:
    out = subprocess.run(
        [promtool, "test", "rules", *map(str, promtool_test_files())],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "FAILED" not in out.stdout + out.stderr


def test_promtool_unit_tests_catch_a_broken_rule(promtool: str, tmp_path: Path) -> None:
    """The tests are not vacuous: with every ``for`` raised to 2h, each firing case of such a rule fails."""
    rules_dir = tmp_path / "helm" / "engage" / "files"
    tests_dir = tmp_path / "prometheus" / "tests"
    rules_dir.mkdir(parents=True)
    tests_dir.mkdir(parents=True)
    broken = re.sub(r"for: \d+m", "for: 2h", RULES.read_text())
    (rules_dir / RULES.name).write_text(broken)
    for path in promtool_test_files():
        shutil.copy(path, tests_dir / path.name)
    out = subprocess.run(
        [promtool, "test", "rules", *map(str, sorted(tests_dir.glob("*.yml")))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode != 0
    for rule in alerting_rules():
        if "for" in rule:
            assert f"alertname: {rule['alert']}," in out.stdout + out.stderr, rule["alert"]
