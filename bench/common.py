"""What the benchmarks share: a throwaway local broker and machine facts for the reports."""

from __future__ import annotations

import contextlib
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
