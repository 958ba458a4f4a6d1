"""Whether a local process (a worker, the broker) still runs, from its pid."""

from __future__ import annotations

import os
from pathlib import Path


def alive(pid: int) -> bool:
    """True while ``pid`` runs: it exists (a process of another user counts) and is not a zombie.

    A zombie has exited but was not reaped yet (its parent did not wait for it): it serves nothing and
    holds no lock, so it counts as dead. Without /proc (macOS) existence is all that can be told."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"
