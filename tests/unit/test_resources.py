"""Package data: schemas, migrations and the runbook are read from inside the installed package."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from services.common import migrations, resources
from services.common.settings import REPO_ROOT, AlertsSettings

PACKAGE = REPO_ROOT / "services"


def test_schemas_and_migrations_come_from_the_package_and_match_the_top_level_schemas() -> None:
    packaged = resources.schemas_dir()
    assert packaged == PACKAGE / "_schemas"
    assert (packaged / "registry.json").read_bytes() == (REPO_ROOT / "schemas" / "registry.json").read_bytes()
    found = migrations.discover()
    assert [m.path.name for m in found] == sorted(
        p.name for p in (REPO_ROOT / "schemas" / "clickhouse").glob("*.sql")
    )
    assert all(m.path.parent == packaged / "clickhouse" for m in found)


def test_engage_schemas_dir_overrides_schemas_and_migrations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "schemas"
    shutil.copytree(REPO_ROOT / "schemas", copy)
    (copy / "clickhouse" / "0999_extra.sql").write_text("SELECT 1;\n")
    monkeypatch.setenv("ENGAGE_SCHEMAS_DIR", str(copy))
    assert resources.schemas_dir() == copy
    found = migrations.discover()
    assert found[-1].name == "extra" and found[-1].path.parent == copy / "clickhouse"


def test_the_default_runbook_link_is_the_packaged_runbook(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENGAGE_ALERT_RUNBOOK_URL", raising=False)
    url = AlertsSettings().runbook_url()
    assert url == (PACKAGE / "_docs" / "runbook.md").as_uri()
    assert resources.runbook_path().read_text() == (REPO_ROOT / "docs" / "runbook.md").read_text()
