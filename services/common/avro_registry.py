"""The checked-in schema registry: ``schemas/registry.json`` and the ``.avsc`` files it names.

There is no registry server; the repository *is* the registry (``schemas/README.md`` has the evolution
rules). :meth:`SchemaRegistry.check` enforces them with ``avro_compat``.

``python -m services.common.avro_registry`` runs :func:`register_check` (exit status 1 on problems).
"""

from __future__ import annotations

import functools
import itertools
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from fastavro import parse_schema

from services.common import resources
from services.common.avro_compat import compatibility_problems, fingerprint, resolution_fingerprint

__all__ = ["REGISTRY_FILE", "SCHEMAS_DIR", "RegistryEntry", "SchemaRegistry", "register_check"]

REGISTRY_FILE = "registry.json"

SCHEMAS_DIR: Path = resources.schemas_dir()
"""The schemas shipped in the package when this module loaded (``ENGAGE_SCHEMAS_DIR`` overrides it)."""


@dataclass(frozen=True)
class RegistryEntry:
    """One row of ``schemas/registry.json``."""

    id: int
    subject: str
    version: int
    path: str
    fingerprint: str
    resolution_fingerprint: str | None = None


def _entry_json(entry: RegistryEntry, raw: Any) -> str:
    return json.dumps(
        {
            "id": entry.id,
            "subject": entry.subject,
            "version": entry.version,
            "path": entry.path,
            "fingerprint": fingerprint(raw),
            "resolution_fingerprint": resolution_fingerprint(raw),
        }
    )


class SchemaRegistry:
    """The schemas under ``schemas/``, indexed by id and subject. Immutable once loaded."""

    def __init__(
        self,
        schemas_dir: Path,
        entries: list[RegistryEntry],
        raw: dict[int, Any],
        parsed: dict[int, dict[str, Any]],
        problems: list[str],
    ) -> None:
        self.schemas_dir = schemas_dir
        self.entries = entries
        self._raw = raw
        self._parsed = parsed
        self._problems = problems
        self._by_id = {e.id: e for e in entries if e.id in parsed}
        self._latest: dict[str, RegistryEntry] = {}
        for entry in self._by_id.values():
            current = self._latest.get(entry.subject)
            if current is None or entry.version > current.version:
                self._latest[entry.subject] = entry

    @classmethod
    def load(cls, schemas_dir: Path | None = None) -> SchemaRegistry:
        """Load (once per directory) the registry; problems are kept for :meth:`check`, not raised."""
        return _load_registry(Path(schemas_dir or resources.schemas_dir()).resolve())

    @property
    def subjects(self) -> list[str]:
        return sorted(self._latest)

    def latest(self, subject: str) -> tuple[int, dict[str, Any]]:
        """(schema id, parsed schema) of the newest version of ``subject``; what writers use."""
        entry = self._latest.get(subject)
        if entry is None:
            raise KeyError(
                f"unknown subject {subject!r} in {self.schemas_dir} (known: {self.subjects}; "
                f"problems: {self._problems or 'none'})"
            )
        return entry.id, self._parsed[entry.id]

    def by_id(self, schema_id: int) -> tuple[str, dict[str, Any]]:
        """(subject, parsed schema) for a schema id read off the wire. Raises KeyError."""
        entry = self._by_id.get(schema_id)
        if entry is None:
            raise KeyError(f"unknown schema id {schema_id}")
        return entry.subject, self._parsed[entry.id]

    def check(self) -> list[str]:
        """Everything wrong with the registry; ``[]`` when it is consistent with the files.

        Catches: schema files edited without registering a new version (fingerprint mismatch), files
        missing or not registered, duplicate ids or versions, a layout other than ``<subject>.avsc`` for
        the latest and ``history/<subject>.v<N>.avsc`` for older versions, and consecutive versions that
        are not FULL compatible.
        """
        problems = list(self._problems)
        for entry in self.entries:
            raw = self._raw.get(entry.id)
            if raw is None:
                continue
            where = f"{entry.subject} v{entry.version} (id {entry.id}, {entry.path})"
            if (
                fingerprint(raw) != entry.fingerprint
                or resolution_fingerprint(raw) != entry.resolution_fingerprint
            ):
                problems.append(
                    f"{where}: file does not match its registered fingerprint; a changed schema needs a new "
                    f"version and id (see schemas/README.md). Fingerprints of the file as it is: "
                    f"{_entry_json(entry, raw)}"
                )
            latest = self._latest.get(entry.subject)
            expected_path = (
                f"{entry.subject}.avsc"
                if latest is entry
                else f"history/{entry.subject}.v{entry.version}.avsc"
            )
            if entry.path != expected_path:
                problems.append(f"{where}: expected at {expected_path}")
        for subject in self.subjects:
            versions = sorted(
                (e for e in self._by_id.values() if e.subject == subject), key=lambda e: e.version
            )
            for old, new in itertools.pairwise(versions):
                if new.id <= old.id:
                    problems.append(f"{subject}: v{new.version} has id {new.id}, not above v{old.version}'s")
                for p in compatibility_problems(self._raw[old.id], self._raw[new.id]):
                    problems.append(f"{subject} v{old.version} -> v{new.version} not FULL compatible: {p}")
        registered = {(self.schemas_dir / e.path).resolve() for e in self.entries}
        on_disk = [*self.schemas_dir.glob("*.avsc"), *self.schemas_dir.glob("history/*.avsc")]
        for path in sorted(p.resolve() for p in on_disk):
            if path not in registered:
                problems.append(f"{path.relative_to(self.schemas_dir)}: schema file not in {REGISTRY_FILE}")
        return problems


@functools.cache
def _load_registry(schemas_dir: Path) -> SchemaRegistry:
    problems: list[str] = []
    entries: list[RegistryEntry] = []
    raw: dict[int, Any] = {}
    parsed: dict[int, dict[str, Any]] = {}
    try:
        rows = json.loads((schemas_dir / REGISTRY_FILE).read_text())
        if not isinstance(rows, list):
            raise ValueError("top level must be a list")
    except (OSError, ValueError) as exc:
        return SchemaRegistry(schemas_dir, [], {}, {}, [f"{REGISTRY_FILE}: cannot load ({exc})"])
    seen_ids: set[int] = set()
    seen_versions: set[tuple[str, int]] = set()
    for n, row in enumerate(rows):
        try:
            entry = RegistryEntry(**row)
            if not isinstance(entry.id, int) or not isinstance(entry.version, int):
                raise TypeError("id and version must be integers")
        except TypeError as exc:
            problems.append(f"{REGISTRY_FILE}[{n}]: bad entry {row!r} ({exc})")
            continue
        entries.append(entry)
        if entry.id in seen_ids:
            problems.append(f"{REGISTRY_FILE}[{n}]: duplicate id {entry.id}")
            continue
        seen_ids.add(entry.id)
        if (entry.subject, entry.version) in seen_versions:
            problems.append(f"{REGISTRY_FILE}[{n}]: duplicate version {entry.subject} v{entry.version}")
            continue
        seen_versions.add((entry.subject, entry.version))
        path = schemas_dir / entry.path
        try:
            schema = json.loads(path.read_text())
            parsed[entry.id] = cast(dict[str, Any], parse_schema(schema))
            raw[entry.id] = schema
        except FileNotFoundError:
            problems.append(f"{entry.path}: missing file (registered as {entry.subject} v{entry.version})")
        except Exception as exc:  # invalid JSON or not a valid Avro schema
            problems.append(f"{entry.path}: not a valid Avro schema ({exc})")
    return SchemaRegistry(schemas_dir, entries, raw, parsed, problems)


def register_check(schemas_dir: Path | None = None) -> int:
    """Print the registry's problems; 0 when clean, 1 otherwise (for CI and ``python -m``)."""
    registry = SchemaRegistry.load(schemas_dir)
    problems = registry.check()
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        ids = ", ".join(f"{s}={registry.latest(s)[0]}" for s in registry.subjects)
        print(f"schema registry OK ({registry.schemas_dir}): {ids}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(register_check(Path(sys.argv[1]) if len(sys.argv) > 1 else None))
