"""Dependency direction between packages, read from the source (AST), not from running anything.

Ingest is an edge: it depends on the shared model in ``services.common``, never the other way round.
The CLI entry module wires every command and the simulator (a development tool) drives ingest's
producer, so they alone may import it.
"""

from __future__ import annotations

import ast
from pathlib import Path

SERVICES = Path(__file__).resolve().parents[2] / "services"

# Paths relative to services/; a directory entry exempts everything under it.
MAY_IMPORT_INGEST = ("ingest/", "sim/", "cli.py")


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every module an ``import`` or ``from … import`` in ``path`` names, at any depth (lazy imports too)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            # ``from services import ingest`` names the package through the alias.
            found.extend((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)
    return found


def imports_of(module: str) -> list[str]:
    hits = []
    for path in sorted(SERVICES.rglob("*.py")):
        rel = path.relative_to(SERVICES).as_posix()
        if rel.startswith(MAY_IMPORT_INGEST):
            continue
        for line, name in imported_modules(path):
            if name == module or name.startswith(module + "."):
                hits.append(f"services/{rel}:{line} imports {name}")
    return hits


def test_the_scan_sees_imports_at_any_depth(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "import services.ingest.api\n"
        "def f():\n    from services import ingest\n"
        "def g():\n    from services.common.events import parse_event\n"
    )
    names = [name for _, name in imported_modules(source)]
    assert "services.ingest.api" in names
    assert "services.ingest" in names
    assert "services.common.events" in names


def test_nothing_outside_ingest_imports_ingest() -> None:
    assert (SERVICES / "ingest").is_dir()
    assert imports_of("services.ingest") == []


# The local stack launcher runs from a checkout (it starts workers with the repository as cwd).
MAY_USE_REPO_ROOT = ("common/settings.py", "stack.py", "local/", "sim/")


def test_runtime_code_reads_nothing_through_the_repository_root() -> None:
    """Resources come from the package (services.common.resources), not from beside it."""
    hits = []
    for path in sorted(SERVICES.rglob("*.py")):
        rel = path.relative_to(SERVICES).as_posix()
        if rel.startswith(MAY_USE_REPO_ROOT):
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            named = (
                node.id
                if isinstance(node, ast.Name)
                else node.attr
                if isinstance(node, ast.Attribute)
                else ""
            )
            if named == "REPO_ROOT" or (isinstance(node, ast.alias) and node.name == "REPO_ROOT"):
                hits.append(f"services/{rel}:{getattr(node, 'lineno', '?')}")
    assert hits == []
