"""Dead-letter records: the original bytes plus headers saying why, where from, and when.

Headers follow Kafka Connect's ``__dlq.*`` naming so existing DLQ tooling can read them.
"""

from __future__ import annotations

import time


def dlq_headers(
    *,
    reason: str,
    stage: str,
    detail: str = "",
    source_topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
    line: int | None = None,
    source_file: str | None = None,
) -> list[tuple[str, bytes]]:
    """Headers for one dead letter; ``reason`` is a short stable code, ``detail`` the human message."""
    headers: dict[str, str] = {
        "__dlq.reason": reason,
        "__dlq.stage": stage,
        "__dlq.detail": detail[:2000],
        "__dlq.ts_ms": str(int(time.time() * 1000)),
    }
    if source_topic is not None:
        headers["__dlq.topic"] = source_topic
    if partition is not None:
        headers["__dlq.partition"] = str(partition)
    if offset is not None:
        headers["__dlq.offset"] = str(offset)
    if line is not None:
        headers["__dlq.line"] = str(line)
    if source_file is not None:
        headers["__dlq.file"] = source_file
    return [(k, v.encode()) for k, v in headers.items()]


def header_dict(headers: list[tuple[str, bytes]] | tuple[tuple[str, bytes], ...] | None) -> dict[str, str]:
    """Decode Kafka headers into a str dict (for tests and `engage dlq`)."""
    return {k: v.decode(errors="replace") for k, v in (headers or [])}
