"""``make profile-enrich``: a py-spy flame graph of the enrich worker under the benchmark load.

The simulated events (fixed seed) are produced to a fresh raw topic as a backlog, as ``make bench``
does; then `engage enrich worker` (every feature, loader off) is started *by* ``py-spy record`` (so
no ptrace permission beyond a parent's is needed), consumes the backlog, and is stopped with SIGTERM
once its group has committed every raw offset; py-spy writes the profile when the worker exits.
Start-up and shutdown are in the profile, but small next to the backlog.

    .venv/bin/python bench/profile_enrich.py [--events 60000] [--rate 100] [--out PATH]

``.svg`` gives a flame graph, ``.json`` a speedscope profile, ``.txt`` py-spy's raw collapsed stacks.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import broker, pipeline_settings, simulated_events, wait_ready  # noqa: E402
from bench.enrich_worker import wait_committed  # noqa: E402
from bench.scale_out import group_members  # noqa: E402
from services.common.kafka import ensure_topics  # noqa: E402
from services.common.settings import to_env  # noqa: E402
from services.sim.cli import produce_events  # noqa: E402

OUT = ROOT / "bench" / "results" / "enrich_profile.svg"
FORMATS = {".svg": "flamegraph", ".json": "speedscope", ".txt": "raw"}


def worker_command() -> list[str]:
    """The enrich worker, as `engage enrich worker` runs it."""
    return [sys.executable, "-m", "services.cli", "enrich", "worker"]


def record_command(py_spy: str, out: Path, worker: list[str], rate: int = 100) -> list[str]:
    """``py-spy record`` starting ``worker`` and sampling it ``rate`` times a second into ``out``
    (its suffix chooses the format)."""
    fmt = FORMATS.get(out.suffix)
    if fmt is None:
        raise ValueError(f"{out.name}: choose a profile ending in {', '.join(FORMATS)}")
    if rate <= 0:
        raise ValueError(f"sampling rate must be positive, got {rate}")
    return [py_spy, "record", "--rate", str(rate), "--format", fmt, "--output", str(out), "--", *worker]


def find_py_spy() -> str:
    """py-spy beside this interpreter (the bench dependency group), else on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if not found:
        raise SystemExit("py-spy not found: `make profile-enrich` installs it (the bench dependency group)")
    return found


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def profile(bootstrap: str, events: list[dict[str, Any]], out: Path, rate: int) -> dict[str, Any]:
    """Profile the enrich worker over a backlog of ``events``; returns what was measured meanwhile."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="engage-bench-profile-") as tmp_name:
        tmp = Path(tmp_name)
        ingest, enrich = pipeline_settings(bootstrap, tmp, "bench-profile")
        asyncio.run(ensure_topics(enrich))
        accepted, _ = asyncio.run(produce_events(ingest, events))
        [worker] = group_members(enrich, f"{enrich.enrich_app_id}-profiled", 1)
        env = {**os.environ, **to_env(worker), "ENGAGE_LOG_LEVEL": "warning"}
        log_path = tmp / "py-spy.log"
        with open(log_path, "wb") as log:
            recorder = subprocess.Popen(
                record_command(find_py_spy(), out, worker_command(), rate),
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            deadline = time.monotonic() + 180
            wait_ready(recorder, worker.enrich_web_port, log_path, "profiled worker", deadline)
            ready = time.monotonic()
            done = asyncio.run(wait_committed(enrich, worker.enrich_app_id, [enrich.topic_raw]))
            for child in _children(recorder.pid):  # the worker: py-spy writes the profile once it exits
                os.kill(child, signal.SIGTERM)
            recorder.wait(180)
        finally:
            if recorder.poll() is None:
                for child in _children(recorder.pid):
                    os.kill(child, signal.SIGKILL)
                recorder.send_signal(signal.SIGINT)
                recorder.wait(60)
        if not out.exists():
            raise RuntimeError(f"py-spy wrote no profile:\n{log_path.read_text()[-3000:]}")
    return {
        "events": accepted,
        "seconds": round(done - ready, 2),
        "eps_profiled": round(accepted / (done - ready)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bootstrap", help="A running broker; default: start a throwaway local one.")
    parser.add_argument("--events", type=int, default=60_000, help="Simulated events in the backlog.")
    parser.add_argument("--rate", type=int, default=100, help="Samples per second.")
    parser.add_argument("--out", type=Path, default=OUT, help="Profile path (.svg, .json or .txt).")
    args = parser.parse_args()
    events = simulated_events(args.events)
    with broker(args.bootstrap) as bootstrap:
        result = profile(bootstrap, events, args.out, args.rate)
    print(f"enrich worker under py-spy: {result} -> {args.out}")


if __name__ == "__main__":
    main()
