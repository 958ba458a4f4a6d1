"""faust and mode stay in one place: services/runtime/ and the faust workers' app.py files."""

from __future__ import annotations

import ast
from pathlib import Path

SERVICES = Path(__file__).resolve().parents[2] / "services"
FRAMEWORKS = {"faust", "mode"}


def framework_imports(source: str) -> list[str]:
    """The faust/mode modules a module's source imports (anywhere, functions included)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [name for name in names if name.split(".")[0] in FRAMEWORKS]
    return found


def allowed(path: Path) -> bool:
    relative = path.relative_to(SERVICES)
    return relative.parts[0] == "runtime" or (len(relative.parts) == 2 and relative.name == "app.py")


def test_nothing_outside_the_runtime_and_the_workers_apps_imports_faust_or_mode() -> None:
    offenders = {
        str(path.relative_to(SERVICES)): imports
        for path in sorted(SERVICES.rglob("*.py"))
        if not allowed(path) and (imports := framework_imports(path.read_text()))
    }
    assert offenders == {}


def test_the_scan_sees_every_form_of_import() -> None:
    source = "import faust\nfrom mode import Service\nfrom faust.web import View\nimport modelx\n"
    assert framework_imports(source) == ["faust", "mode", "faust.web"]
    assert framework_imports("def f():\n    import mode.utils\n") == ["mode.utils"]
    assert framework_imports("from . import mode\nimport json\n") == []


def test_the_runtime_and_the_faust_workers_do_use_faust() -> None:
    """The allowance is not wider than needed: the places it names are the ones that import faust."""
    users = {str(p.relative_to(SERVICES)) for p in SERVICES.rglob("*.py") if framework_imports(p.read_text())}
    assert {"enrich/app.py", "alerts/app.py", "runtime/app.py"} <= users
    assert all(allowed(SERVICES / u) for u in users)
