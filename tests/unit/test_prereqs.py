"""``deploy/local/prereqs.sh``: asks apt-get for exactly what is missing, or says the one command to run.

Each test runs the real script with a PATH holding only basic utilities and fakes: ``apt-get`` and ``sudo``
record their calls (and ``apt-get install`` lays down stand-ins for the packages' commands), ``id`` says
who we are.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "local" / "prereqs.sh"
BASICS = ("bash", "sed", "readlink", "head", "cat", "chmod", "env", "true")

# What each Debian package puts on PATH, as stand-ins good enough for the script's checks.
PACKAGE_COMMANDS: dict[str, dict[str, str]] = {
    "openjdk-17-jre-headless": {"java": "echo 'openjdk version \"17.0.15\" 2025-04-15' >&2"},
    "maven": {"mvn": "echo 'Apache Maven 3.8.7'"},
    "prometheus": {"promtool": "true", "prometheus": "true"},
    "prometheus-alertmanager": {"prometheus-alertmanager": "true"},
    "chromium": {"chromium": "true"},
    "fonts-noto-cjk": {"fc-list": "echo 'Noto Sans CJK KR'"},
}
RUN_PACKAGES = ["openjdk-17-jre-headless", "maven"]
TEST_PACKAGES = [*RUN_PACKAGES, "prometheus", "prometheus-alertmanager", "chromium", "fonts-noto-cjk"]


def _write(path: Path, body: str) -> None:
    path.write_text("#!/bin/bash\n" + body + "\n")
    path.chmod(0o755)


class Machine:
    """A fake machine: a bin directory that is the whole PATH, and a log of apt-get/sudo calls."""

    def __init__(self, root: Path, uid: int = 0, sudo: bool | None = None, apt: bool = True) -> None:
        self.bin = root / "bin"
        self.bin.mkdir()
        self.log = root / "calls.log"
        self.log.touch()
        for name in BASICS:
            found = shutil.which(name)
            assert found, name
            (self.bin / name).symlink_to(found)
        _write(self.bin / "id", f'[ "$1" = -u ] && echo {uid} || echo "uid={uid}"')
        _write(self.bin / "go", '[ "$1 $2" = "env GOVERSION" ] && echo go1.26.8')
        if apt:
            installs = "\n".join(
                f"    {pkg}) {' ; '.join(self._stub_cmd(c, b) for c, b in cmds.items())} ;;"
                for pkg, cmds in PACKAGE_COMMANDS.items()
            )
            _write(
                self.bin / "apt-get",
                f'echo "apt-get $*" >> {self.log}\n'
                'if [ "$1" = install ]; then for p in "$@"; do case $p in\n'
                f"{installs}\n"
                "  esac; done; fi",
            )
        if sudo is not None:
            ok = 'exec "$@"' if sudo else "exit 1"
            _write(self.bin / "sudo", f'echo "sudo $*" >> {self.log}\n[ "$1" = -n ] && shift\n{ok}')

    def _stub_cmd(self, name: str, body: str) -> str:
        path = self.bin / name
        return f"printf '%s\\n' '#!/bin/bash' {_shell_quote(body)} > {path} && chmod +x {path}"

    def provide(self, *packages: str) -> None:
        for pkg in packages:
            for name, body in PACKAGE_COMMANDS[pkg].items():
                _write(self.bin / name, body)

    def run(self, target: str) -> subprocess.CompletedProcess[str]:
        env = {"PATH": str(self.bin), "PYTHON": sys.executable, "HOME": os.environ.get("HOME", "/tmp")}
        return subprocess.run(
            [str(self.bin / "bash"), str(SCRIPT), target],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines()


def _shell_quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


@pytest.mark.parametrize(("target", "packages"), [("run", RUN_PACKAGES), ("test", TEST_PACKAGES)])
def test_root_installs_exactly_the_missing_packages(tmp_path: Path, target: str, packages: list[str]) -> None:
    machine = Machine(tmp_path, uid=0)
    proc = machine.run(target)
    assert proc.returncode == 0, proc.stderr
    assert machine.calls() == ["apt-get update -qq", f"apt-get install -y -qq {' '.join(packages)}"]
    assert f"installing missing Debian packages for make {target}: {' '.join(packages)}" in proc.stderr


def test_only_what_is_missing_is_requested(tmp_path: Path) -> None:
    machine = Machine(tmp_path, uid=0)
    machine.provide("openjdk-17-jre-headless", "prometheus", "fonts-noto-cjk")
    proc = machine.run("test")
    assert proc.returncode == 0, proc.stderr
    assert machine.calls()[-1] == "apt-get install -y -qq maven prometheus-alertmanager chromium"


def test_passwordless_sudo_is_used_when_not_root(tmp_path: Path) -> None:
    machine = Machine(tmp_path, uid=1000, sudo=True)
    proc = machine.run("run")
    assert proc.returncode == 0, proc.stderr
    calls = machine.calls()
    assert "sudo -n apt-get install -y -qq openjdk-17-jre-headless maven" in calls
    assert "apt-get install -y -qq openjdk-17-jre-headless maven" in calls


@pytest.mark.parametrize("sudo", [None, False], ids=["no-sudo", "sudo-needs-password"])
def test_without_root_or_sudo_one_line_names_the_command(tmp_path: Path, sudo: bool | None) -> None:
    machine = Machine(tmp_path, uid=1000, sudo=sudo)
    proc = machine.run("test")
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert lines == [
        "engage: missing for make test: "
        + " ".join(TEST_PACKAGES)
        + "; as root run: apt-get install -y "
        + " ".join(TEST_PACKAGES)
    ]
    assert not any(c.startswith("apt-get") for c in machine.calls())


def test_nothing_is_called_when_everything_is_present(tmp_path: Path) -> None:
    machine = Machine(tmp_path, uid=0, sudo=True)
    machine.provide(*TEST_PACKAGES)
    proc = machine.run("test")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    assert machine.calls() == []


def test_go_cannot_come_from_apt_and_is_named(tmp_path: Path) -> None:
    machine = Machine(tmp_path, uid=0)
    machine.provide(*TEST_PACKAGES)
    (machine.bin / "go").unlink()
    proc = machine.run("test")
    assert proc.returncode == 1
    assert "Go 1.24+" in proc.stderr
    assert machine.calls() == []
    assert machine.run("run").returncode == 0  # make run does not need Go


def test_java_older_than_17_counts_as_missing(tmp_path: Path) -> None:
    machine = Machine(tmp_path, uid=0)
    machine.provide("maven")
    _write(machine.bin / "java", "echo 'openjdk version \"11.0.2\"' >&2")
    proc = machine.run("run")
    assert proc.returncode == 0, proc.stderr
    assert machine.calls()[-1] == "apt-get install -y -qq openjdk-17-jre-headless"
