"""Failpoints: off by default, armed by ENGAGE_FAILPOINTS, fail exactly the next N hits."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from services.common import failpoints


@pytest.fixture(autouse=True)
def disarmed() -> Iterator[None]:
    failpoints.configure(None)
    yield
    failpoints.configure(None)


def test_parse() -> None:
    assert failpoints.parse("a=3, b.c=1*crash;d=0*error") == {
        "a": (3, "error"),
        "b.c": (1, "crash"),
        "d": (0, "error"),
    }
    assert failpoints.parse("") == {}
    for bad in ("a", "a=x", "=3", "a=3*explode", "a=-1"):
        with pytest.raises(ValueError, match="bad failpoint"):
            failpoints.parse(bad)


def test_disarmed_hits_pass() -> None:
    for _ in range(3):
        failpoints.hit("loader.insert.before")
    assert failpoints.remaining("loader.insert.before") == 0


def test_armed_failpoint_fails_the_next_n_hits_only() -> None:
    failpoints.configure("loader.insert.before=2")
    for _ in range(2):
        with pytest.raises(failpoints.FailpointError, match=r"loader\.insert\.before"):
            failpoints.hit("loader.insert.before")
    failpoints.hit("loader.insert.before")
    failpoints.hit("loader.insert.after")  # another name is not affected
    assert failpoints.remaining("loader.insert.before") == 0


def test_environment_arms_and_crash_ends_the_process() -> None:
    code = (
        "from services.common import failpoints\n"
        "try:\n    failpoints.hit('y')\nexcept failpoints.FailpointError:\n    print('error', flush=True)\n"
        "failpoints.hit('y')\n"
        "failpoints.hit('x')\n"
        "print('not reached')\n"
    )
    env = {"ENGAGE_FAILPOINTS": "y=1,x=1*crash", "PATH": ""}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == failpoints.CRASH_EXIT_CODE
    assert out.stdout == "error\n"  # y failed once, then passed; the first hit of x ended the process
