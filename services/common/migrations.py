"""Versioned ClickHouse DDL from ``schemas/clickhouse/NNNN_name.sql``, applied in order, once.

The files ship as package data (``services.common.resources``; ``ENGAGE_SCHEMAS_DIR`` overrides).

Applied versions and their checksums are recorded in ``engage_migrations``; rerunning is a no-op, and
editing a migration that already ran is refused (add a new one instead), as Flyway and Snuba do.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from services.common.clickhouse import Database
from services.common.resources import migrations_dir

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

TRACKING_DDL = """
CREATE TABLE IF NOT EXISTS engage_migrations
(
    version    UInt32,
    name       String,
    checksum   String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY version
"""


class MigrationError(RuntimeError):
    """A migration is malformed, failed, or was edited after it ran."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    def statements(self) -> list[str]:
        """Statements end with ``;`` at the end of a line; ``--`` comment lines are dropped."""
        body = "\n".join(line for line in self.sql.splitlines() if not line.lstrip().startswith("--"))
        return [s.strip() for s in re.split(r";\s*(?:\n|$)", body) if s.strip()]


def discover(directory: Path | None = None) -> list[Migration]:
    directory = directory or migrations_dir()
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        m = _NAME.match(path.name)
        if not m:
            raise MigrationError(f"{path.name}: migration files are named NNNN_snake_name.sql")
        found.append(Migration(int(m.group(1)), m.group(2), path))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration versions in {directory}")
    return found


def applied(db: Database) -> dict[int, str]:
    db.command(TRACKING_DDL)
    _, rows = db.query_rows(
        "SELECT version, argMax(checksum, applied_at) FROM engage_migrations GROUP BY version"
    )
    return {int(v): str(c) for v, c in rows}


def migrate(db: Database, directory: Path | None = None) -> list[Migration]:
    """Apply pending migrations; return the ones applied by this call."""
    done = applied(db)
    ran: list[Migration] = []
    for migration in discover(directory):
        if migration.version in done:
            if done[migration.version] != migration.checksum:
                raise MigrationError(
                    f"migration {migration.path.name} changed after it was applied; "
                    "add a new migration instead"
                )
            continue
        for statement in migration.statements():
            try:
                db.command(statement)
            except Exception as exc:
                raise MigrationError(f"{migration.path.name} failed: {exc}") from exc
        db.insert_columns(
            "engage_migrations",
            [[migration.version], [migration.name], [migration.checksum]],
            ["version", "name", "checksum"],
        )
        log.info("applied migration %s", migration.path.name)
        ran.append(migration)
    return ran
