"""The Dockerfile stays in line with pyproject.toml, uv.lock and the Makefile (it cannot be built here).

hadolint (make deploy-check) lints it; these checks cover what hadolint cannot know about the project:
the base image's Python is the project's, dependencies come from the lock, the final stage has no build
tools and runs as a numeric non-root user, and the image holds everything the services read at run time.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from services.common.settings import REPO_ROOT

DOCKERFILE = (REPO_ROOT / "Dockerfile").read_text()
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
BUILD_TOOLS = ("gcc", "g++", "build-essential", "make ", "apt-get", "apk ", "pip install", "uv sync", "cargo")


def stages() -> dict[str, str]:
    """Stage name -> its instructions (without comments)."""
    out: dict[str, str] = {}
    name = ""
    for line in DOCKERFILE.splitlines():
        if line.lstrip().startswith("#"):
            continue
        m = re.match(r"FROM\s+\S+\s+AS\s+(\S+)", line, re.IGNORECASE)
        if m:
            name = m.group(1)
            out[name] = ""
        elif name:
            out[name] += line + "\n"
    return out


def test_base_image_is_pinned_to_the_project_python() -> None:
    m = re.search(r"^ARG PYTHON_IMAGE=python:(\d+)\.(\d+)\.(\d+)-slim-(\w+)$", DOCKERFILE, re.MULTILINE)
    assert m, "the base image must be pinned to an exact python:X.Y.Z-slim-<debian> tag"
    minor = f"{m.group(1)}.{m.group(2)}"
    assert PYPROJECT["project"]["requires-python"] == f">={minor}"
    assert PYPROJECT["tool"]["mypy"]["python_version"] == minor
    assert PYPROJECT["tool"]["ruff"]["target-version"] == f"py{m.group(1)}{m.group(2)}"
    froms = re.findall(r"^FROM\s+(\S+)", DOCKERFILE, re.MULTILINE)
    assert froms == ["${PYTHON_IMAGE}", "${PYTHON_IMAGE}"], "multi-stage, both on the pinned image"


def test_dependencies_come_from_the_lock_with_the_makefile_uv() -> None:
    makefile_uv = re.search(r"^UV_VERSION := (\S+)$", (REPO_ROOT / "Makefile").read_text(), re.MULTILINE)
    assert makefile_uv
    assert f"ARG UV_VERSION={makefile_uv.group(1)}" in DOCKERFILE
    build = stages()["build"]
    syncs = re.findall(r"uv sync ([^\n]+)", build)
    # --no-default-groups leaves out both the dev and the training groups (scikit-learn, scipy).
    assert syncs and all("--frozen" in s and "--no-default-groups" in s for s in syncs)
    assert "COPY pyproject.toml uv.lock" in build


def test_final_stage_is_slim_and_non_root() -> None:
    runtime = stages()["runtime"]
    for tool in BUILD_TOOLS:
        assert tool not in runtime, f"{tool.strip()} in the final stage"
    users = re.findall(r"^USER\s+(\S+)$", runtime, re.MULTILINE)
    assert users, "the final stage must set USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) > 0 and (not gid or gid.isdigit()), "numeric, non-root USER"
    assert re.search(r"^ENTRYPOINT \[\"engage\"\]$", runtime, re.MULTILINE)


def test_image_installs_the_built_wheel_with_its_package_data() -> None:
    wheel = PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]
    sources = [*wheel["packages"], *wheel["force-include"]]
    assert "schemas" in sources and "docs/runbook.md" in sources
    build, runtime = stages()["build"], stages()["runtime"]
    for path in sources:
        assert re.search(rf"^COPY {path} \./{path}$", build, re.MULTILINE), path
    ignore = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    for path in [*sources, "pyproject.toml", "uv.lock", "README.md"]:
        assert any(line.strip("!/") == path for line in ignore if line.startswith("!")), path
    # Installed, not in place: the project sync builds the wheel and the final stage takes only the venv.
    assert re.search(r"^RUN uv sync [^\n]*--no-editable", build, re.MULTILINE)
    assert re.findall(r"^COPY --from=build\S* (?:--\S+ )*(\S+) ", runtime, re.MULTILINE) == ["/app/.venv"]
    assert "ENGAGE_SCHEMAS_DIR" not in DOCKERFILE, "schemas come from the package, not a copied tree"
    assert "services/sim" in wheel["exclude"], "the development tools stay out of the image"
    # The chart's probes and ports: the image exposes the ports the settings default to.
    from services.common.settings import AlertsSettings, EnrichSettings, IngestSettings, LoaderSettings

    ports = {
        IngestSettings().ingest_port,
        EnrichSettings().enrich_web_port,
        LoaderSettings().loader_web_port,
        AlertsSettings().alerts_web_port,
    }
    exposed = re.search(r"^EXPOSE (.+)$", DOCKERFILE, re.MULTILINE)
    assert exposed and {int(p) for p in exposed.group(1).split()} == ports


@pytest.mark.skipif(
    not (REPO_ROOT / ".tools" / "bin" / "hadolint").exists() and shutil.which("hadolint") is None,
    reason="hadolint not installed: run `make deploy-tools`",
)
def test_hadolint_rejects_an_unpinned_image(tmp_path: Path) -> None:
    """The lint step is live: the real Dockerfile passes, a careless one fails."""
    hadolint = str(REPO_ROOT / ".tools" / "bin" / "hadolint")
    if not (REPO_ROOT / ".tools" / "bin" / "hadolint").exists():
        hadolint = shutil.which("hadolint") or "hadolint"
    ok = subprocess.run([hadolint, "--failure-threshold", "info", str(REPO_ROOT / "Dockerfile")])
    assert ok.returncode == 0
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install uv\nCMD engage\n")
    proc = subprocess.run([hadolint, "--failure-threshold", "info", str(bad)], capture_output=True, text=True)
    assert proc.returncode != 0
    assert "DL3007" in proc.stdout  # latest tag
    assert "DL3013" in proc.stdout  # unpinned pip install
