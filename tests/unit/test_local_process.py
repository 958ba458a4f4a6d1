"""One answer to "is this pid running?" for the local stack and the local broker."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from services.local import process
from services.local.process import alive


def test_a_running_process_is_alive_and_a_reaped_one_is_not() -> None:
    assert alive(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not alive(child.pid)


def test_a_zombie_is_dead() -> None:
    """Exited but not reaped: the pid exists, yet nothing runs there."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while alive(child.pid):
        assert time.monotonic() < deadline, "the child never exited"
        time.sleep(0.05)
    os.kill(child.pid, 0)  # still there as a zombie: only its state says it is dead
    child.wait()


def test_a_process_of_another_user_is_alive(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(pid: int, sig: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(process.os, "kill", refuse)
    assert alive(os.getpid())


def test_a_vanished_pid_is_dead(monkeypatch: pytest.MonkeyPatch) -> None:
    def gone(pid: int, sig: int) -> None:
        raise ProcessLookupError(3, "No such process")

    monkeypatch.setattr(process.os, "kill", gone)
    assert not alive(os.getpid())
