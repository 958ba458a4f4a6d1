"""`make deploy-check` (deploy/deploy-check.sh) passes on the chart and fails on a broken render."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from services.common.settings import REPO_ROOT
from tests.unit.helm_render import CHART, HELM, KUBECONFORM, require_tools

SCRIPT = REPO_ROOT / "deploy" / "deploy-check.sh"


def run_check(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    require_tools(HELM, KUBECONFORM)
    full_env = {**os.environ, "TMPDIR": str(tmp_path), **env}
    return subprocess.run(
        ["bash", str(SCRIPT)], capture_output=True, text=True, env=full_env, timeout=300, cwd=REPO_ROOT
    )


def copy_chart(tmp_path: Path) -> Path:
    chart = tmp_path / "engage"
    shutil.copytree(CHART, chart)
    return chart


def test_deploy_check_passes_on_the_chart(tmp_path: Path) -> None:
    skip = [
        step
        for step, tool in (
            ("yamllint", REPO_ROOT / ".venv" / "bin" / "yamllint"),
            ("hadolint", REPO_ROOT / ".tools" / "bin" / "hadolint"),
        )
        if not tool.exists()
    ]
    if shutil.which("promtool") is None:
        skip.append("promtool")
    proc = run_check(tmp_path, SKIP=" ".join(skip))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Both renders were validated resource by resource, none skipped for want of a schema.
    summaries = [line for line in proc.stdout.splitlines() if line.startswith("Summary:")]
    assert len(summaries) == 2
    for line in summaries:
        assert "Invalid: 0, Errors: 0, Skipped: 0" in line
        assert int(line.split()[1]) >= 30
    assert proc.stdout.rstrip().endswith("deploy-check: OK")


def test_misspelt_field_in_a_template_fails(tmp_path: Path) -> None:
    chart = copy_chart(tmp_path)
    tpl = chart / "templates" / "_deployment.tpl"
    text = tpl.read_text()
    assert "readinessProbe:" in text
    tpl.write_text(text.replace("readinessProbe:", "readinesProbe:"))
    proc = run_check(tmp_path, CHART=str(chart), SKIP="yamllint hadolint promtool")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    for service in ("ingest", "enrich", "loader", "alerts"):
        assert f"Deployment engage-{service} is invalid" in proc.stdout
    assert "additional properties 'readinesProbe' not allowed" in proc.stdout
    assert "kubeconform found invalid manifests" in proc.stderr
    assert "deploy-check: OK" not in proc.stdout


def test_value_of_the_wrong_type_fails(tmp_path: Path) -> None:
    proc = run_check(
        tmp_path,
        HELM_EXTRA_ARGS="--set-string ingest.autoscaling.maxReplicas=ten",
        SKIP="yamllint hadolint promtool",
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "HorizontalPodAutoscaler engage-ingest is invalid" in proc.stdout
    assert "at '/spec/maxReplicas': got string, want integer" in proc.stdout


def test_wrong_type_in_a_custom_resource_fails(tmp_path: Path) -> None:
    """CRD schemas are strict too: KEDA trigger metadata must be strings."""
    chart = copy_chart(tmp_path)
    tpl = chart / "templates" / "keda.yaml"
    text = tpl.read_text()
    assert "lagThreshold: {{ $v.keda.lagThreshold | quote }}" in text
    tpl.write_text(text.replace("{{ $v.keda.lagThreshold | quote }}", "{{ $v.keda.lagThreshold }}"))
    proc = run_check(tmp_path, CHART=str(chart), SKIP="yamllint hadolint promtool")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "ScaledObject engage-enrich is invalid" in proc.stdout
    assert "/spec/triggers/0/metadata/lagThreshold" in proc.stdout


def test_kind_without_a_stored_schema_fails(tmp_path: Path) -> None:
    """No schema is fetched from the network and none is skipped: an unknown kind is an error."""
    chart = copy_chart(tmp_path)
    (chart / "templates" / "extra.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: extra\nstringData:\n  a: b\n"
    )
    proc = run_check(tmp_path, CHART=str(chart), VALUES_FILES="", SKIP="yamllint hadolint promtool")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Secret extra failed validation: could not find schema for Secret" in proc.stdout


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (Debian: prometheus)")
def test_broken_alerting_rule_fails(tmp_path: Path) -> None:
    chart = copy_chart(tmp_path)
    rules = chart / "files" / "prometheus-rules.yml"
    rules.write_text(rules.read_text().replace("expr:", "expr: sum(", 1))
    proc = run_check(tmp_path, CHART=str(chart), VALUES_FILES="", SKIP="yamllint hadolint")
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "promtool check rules" in proc.stdout
    assert "deploy-check: OK" not in proc.stdout
