"""Render the Helm chart with the pinned helm in .tools/bin (``make deploy-tools``) for the chart tests."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.common.settings import REPO_ROOT

CHART = REPO_ROOT / "deploy" / "helm" / "engage"
PRODUCTION_VALUES = CHART / "values-production.yaml"
TOOLS = REPO_ROOT / ".tools" / "bin"
HELM = TOOLS / "helm"
KUBECONFORM = TOOLS / "kubeconform"
KUBE_VERSION = "1.34.3"


def require_tools(*tools: Path) -> None:
    missing = [t.name for t in tools if not t.exists()]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed: run `make deploy-tools`")


def helm_template(*args: str, chart: Path = CHART, check: bool = True) -> subprocess.CompletedProcess[str]:
    require_tools(HELM)
    cmd = [str(HELM), "template", "engage", str(chart), "--kube-version", KUBE_VERSION, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"helm template failed: {proc.stderr}")
    return proc


def render(*args: str) -> list[dict[str, Any]]:
    """The chart's manifests (documents) for the given extra ``helm template`` arguments."""
    out = helm_template(*args).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def values(path: Path = CHART / "values.yaml") -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text())
    assert isinstance(loaded, dict)
    return loaded
