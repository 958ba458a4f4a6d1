"""External tools the tests drive (promtool, amtool, Prometheus, Alertmanager)."""

from __future__ import annotations

import os
import shutil

import pytest


def require_binary(*names: str, package: str) -> str:
    """Path of the first of ``names`` on PATH; in CI (``CI=true``) a missing tool fails the test,
    elsewhere it skips it, since `.ci/run` installs the Debian ``package`` and a laptop may not."""
    for name in names:
        path = shutil.which(name)
        if path is not None:
            return path
    if os.environ.get("CI") == "true":
        pytest.fail(f"{names[0]} missing in CI (.ci/run installs the Debian package {package})")
    pytest.skip(f"{names[0]} not installed (apt-get install {package})")
