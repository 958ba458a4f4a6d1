"""Failpoints: named places in the code where a test can inject a failure (a test facility, off by default).

Like TiDB's and FoundationDB's failpoints, a failpoint is a call to :func:`hit` at a chosen spot; it does
nothing unless the process was started with the failpoint armed in ``ENGAGE_FAILPOINTS``::

    ENGAGE_FAILPOINTS="loader.insert.before=3,loader.insert.after=1*crash"

Each entry is ``name=COUNT`` or ``name=COUNT*ACTION``: the next ``COUNT`` hits of ``name`` perform
``ACTION``, later hits pass. Actions:

- ``error`` (the default): raise :class:`FailpointError`, as a failing dependency would;
- ``crash``: end the process at once with exit status :data:`CRASH_EXIT_CODE` (``os._exit``: no
  cleanup, no flush, no offset commit), as a SIGKILL or an OOM kill would.

Failpoints in the code base:

- ``loader.insert.before``: in the ClickHouse loader, before a batch is inserted
  (the insert fails, nothing is written);
- ``loader.insert.after``: after the batch was inserted, before the loader returns and the Kafka
  offsets are committed (the write happened but the worker believes it failed or dies: the retry or
  redelivery must be absorbed by the insert deduplication token and ``ReplacingMergeTree``).

The environment is read once, at the first hit; :func:`configure` replaces the set (for unit tests).
With ``ENGAGE_FAILPOINTS`` unset a hit costs one dictionary lookup.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass

log = logging.getLogger(__name__)

ENV_VAR = "ENGAGE_FAILPOINTS"
CRASH_EXIT_CODE = 86
ACTIONS = ("error", "crash")


class FailpointError(RuntimeError):
    """The failure a failpoint injected (``error`` action)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"failpoint {name} triggered")
        self.name = name


@dataclass
class _Armed:
    remaining: int
    action: str


_lock = threading.Lock()
_armed: dict[str, _Armed] | None = None


def parse(spec: str) -> dict[str, tuple[int, str]]:
    """``"a=3,b=1*crash"`` → ``{"a": (3, "error"), "b": (1, "crash")}``; raises ValueError when malformed."""
    out: dict[str, tuple[int, str]] = {}
    for entry in spec.replace(";", ",").split(","):
        entry = entry.strip()
        if not entry:
            continue
        name, sep, value = entry.partition("=")
        count, _, action = value.partition("*")
        action = action.strip() or "error"
        if not sep or not name.strip() or not count.strip().isdigit() or action not in ACTIONS:
            raise ValueError(f"bad failpoint {entry!r} in {ENV_VAR} (expected name=COUNT[*ACTION])")
        out[name.strip()] = (int(count), action)
    return out


def configure(spec: str | None) -> None:
    """Arm exactly the failpoints of ``spec`` (``ENGAGE_FAILPOINTS`` syntax); None or "" disarms all."""
    global _armed
    parsed = parse(spec or "")
    with _lock:
        _armed = {name: _Armed(count, action) for name, (count, action) in parsed.items()}
    if parsed:
        log.warning("failpoints armed: %s", spec)


def hit(name: str) -> None:
    """Pass, or perform the armed action of ``name`` (raise :class:`FailpointError` or end the process)."""
    if _armed is None:
        configure(os.environ.get(ENV_VAR))
    assert _armed is not None
    if not _armed:
        return
    with _lock:
        armed = _armed.get(name)
        if armed is None or armed.remaining <= 0:
            return
        armed.remaining -= 1
        action = armed.action
    log.warning("failpoint %s: %s", name, action)
    if action == "crash":
        os._exit(CRASH_EXIT_CODE)
    raise FailpointError(name)


def remaining(name: str) -> int:
    """How many more hits of ``name`` will fail (0 when not armed)."""
    if _armed is None:
        configure(os.environ.get(ENV_VAR))
    assert _armed is not None
    armed = _armed.get(name)
    return armed.remaining if armed is not None else 0
