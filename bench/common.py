"""What the benchmarks share: a throwaway local broker and machine facts for the reports."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import tempfile
from collections.abc import Iterator
from pathlib import Path

from services.common.kafka_local import LocalKafka, free_port


@contextlib.contextmanager
def broker(bootstrap: str | None) -> Iterator[str]:
    """The given broker, or a local KRaft broker on free ports for the duration of the benchmark."""
    if bootstrap:
        yield bootstrap
        return
    with tempfile.TemporaryDirectory(prefix="engage-bench-kafka-") as tmp:
        kafka = LocalKafka(Path(tmp), port=free_port(), controller_port=free_port())
        kafka.start()
        try:
            yield kafka.bootstrap
        finally:
            kafka.stop()


def machine() -> dict[str, object]:
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "machine": platform.machine()}


def write_report(path: Path, report: dict[str, object], headline: str) -> None:
    """Write the benchmark's JSON result and print it with a one-line headline."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    print(f"\n{headline} ({path})")
