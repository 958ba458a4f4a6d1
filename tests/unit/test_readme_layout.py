"""README's code-layout table stays true to the tree: every path it names exists, every package has a row.

A row's first cell names paths from the repository root; a backticked name in its second cell is a
path relative to that row's directory, or to a directory named earlier in the same cell (``features/``:
``virality.py``). Backticked words that are not paths (``handle_batch``, ``/query``, ``make up``) are
skipped: a path has a file suffix or ends with ``/``.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CODE = re.compile(r"`([^`]+)`")
PATHLIKE = re.compile(r"^[\w.-]+(/[\w.-]+)*(/|\.\w+)$")


def layout_rows(readme: str) -> list[tuple[list[str], str]]:
    """(paths of the first cell, second cell) of every row of the table under ``| path | what |``."""
    lines = readme.splitlines()
    start = lines.index("| path | what |")
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        first, what = line.strip("|").split("|", 1)
        rows.append((CODE.findall(first), what))
    return rows


def missing_paths(readme: str, root: Path) -> list[str]:
    """Every path the table names that does not exist under ``root``, with the row that names it."""
    missing = []
    for firsts, what in layout_rows(readme):
        bases = [root / p for p in firsts]
        for base in bases:
            if not base.exists():
                missing.append(f"{base.relative_to(root)} (first cell)")
        dirs = [b if b.is_dir() else b.parent for b in bases]
        for name in CODE.findall(what):
            if not PATHLIKE.match(name) or name.startswith("/"):
                continue
            candidates = [root / name, *(d / name for d in dirs)]
            if not any(c.exists() for c in candidates):
                missing.append(f"{name} (row of {', '.join(firsts)})")
            elif name.endswith("/"):
                dirs.append(next(c for c in candidates if c.exists()))
    return missing


def test_every_path_in_the_layout_table_exists() -> None:
    assert missing_paths((ROOT / "README.md").read_text(encoding="utf-8"), ROOT) == []


def test_every_services_package_has_a_row() -> None:
    named = {p.rstrip("/") for firsts, _ in layout_rows((ROOT / "README.md").read_text()) for p in firsts}
    packages = {
        p.parent.relative_to(ROOT).as_posix()
        for p in (ROOT / "services").glob("*/__init__.py")
        if not p.parent.name.startswith("_")
    }
    assert packages and packages <= named, sorted(packages - named)


def test_the_check_catches_a_missing_path(tmp_path: Path) -> None:
    (tmp_path / "svc" / "features").mkdir(parents=True)
    (tmp_path / "svc" / "app.py").write_text("")
    (tmp_path / "svc" / "features" / "engine.py").write_text("")
    readme = (
        "| path | what |\n| --- | --- |\n"
        "| `svc/` | app (`app.py`, `handle_batch`, `/query`), `features/`: `engine.py`; gone: `old.py` |\n"
        "| `nowhere/` | `app.py` |\n"
        "\nafter the table: `ignored.py`\n"
    )
    assert missing_paths(readme, tmp_path) == [
        "old.py (row of svc/)",
        "nowhere (first cell)",
        "app.py (row of nowhere/)",
    ]
