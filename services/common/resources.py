"""Files the services read at run time, loaded as package data (``importlib.resources``).

Avro schemas and ClickHouse migrations live in the top-level ``schemas/`` and the on-call runbook in
``docs/``; the wheel carries them inside the package (``services/_schemas``, ``services/_docs``, hatch
``force-include``), and a checkout links the same names to the originals, so an installed engage and
a development tree read them the same way and nothing is read from beside the package.
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

SCHEMAS_DIR_ENV = "ENGAGE_SCHEMAS_DIR"


def package_path(*parts: str) -> Path:
    """A file or directory inside the installed ``services`` package, as a filesystem path."""
    found = files("services").joinpath(*parts)
    if not isinstance(found, Path):  # a zip import: the readers below need real files
        raise RuntimeError(f"services/{'/'.join(parts)} is not on the filesystem ({found!r})")
    return found


def schemas_dir() -> Path:
    """The Avro schemas and ``clickhouse/`` migrations: ``ENGAGE_SCHEMAS_DIR`` or the packaged copy."""
    override = os.environ.get(SCHEMAS_DIR_ENV)
    return Path(override) if override else package_path("_schemas")


def migrations_dir() -> Path:
    """Versioned ClickHouse DDL (``NNNN_name.sql``), beside the Avro schemas."""
    return schemas_dir() / "clickhouse"


def runbook_path() -> Path:
    """The on-call runbook shipped with the package (alerts link to it unless a hosted URL is set)."""
    return package_path("_docs", "runbook.md")
