"""Changelog writes of the enrich tables: serialized as faust's own changelog sends would be."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import faust
import pytest
from faust.types import TP

from services.runtime.batch_send import OutputBatch
from services.runtime.state import ChangelogWriter

VALUES: list[Any] = [
    {"brand": "b-1", "count": 3, "score": -0.25, "seen": [1, 2, 3], "nested": {"ok": True, "none": None}},
    {"text": "환불 요청 😡", "é": "ü", "big": 2**63 - 1, "small": 5e-324, "empty": {}, "list": []},
    [1, "two", None, 3.5, {"k": [True, False]}],
    "plain string",
    12345,
    None,
    b"raw bytes",
]


class Point(faust.Record, serializer="json"):
    x: int
    y: int


def _tables(tmp_path: Path) -> dict[str, Any]:
    app = faust.App("state-probe", broker="kafka://127.0.0.1:1", store="memory://", datadir=str(tmp_path))
    return {name: app.Table(f"features-{name}", default=None, partitions=4) for name in ("posts", "brands")}


@pytest.mark.parametrize("value", [*VALUES, Point(1, 2)])
def test_changelog_bytes_are_those_of_the_tables_own_changelog_send(tmp_path: Path, value: Any) -> None:
    tables = _tables(tmp_path)
    writer = ChangelogWriter(tables)
    keys = ["b-1|p-1", "브랜드|게시물", ""]
    for i, key in enumerate(keys):
        writer.write("posts", key, i % 4, value)
    out = OutputBatch(None)
    writer.queue(out)
    topic = tables["posts"].changelog_topic
    name = topic.get_topic_name()
    expected = [
        (i % 4, topic.prepare_key(key, None)[0], topic.prepare_value(value, None)[0], ())
        for i, key in enumerate(keys)
    ]
    assert out._messages[name] == expected
    assert tables["posts"].data["b-1|p-1"] == value  # the local store holds the value as written


def test_every_table_written_in_a_batch_advances_its_persisted_offset(tmp_path: Path) -> None:
    tables = _tables(tmp_path)
    persisted: list[tuple[str, Any, int]] = []
    for name, table in tables.items():
        table.data.set_persisted_offset = lambda tp, offset, n=name: persisted.append((n, tp, offset))
    writer = ChangelogWriter(tables)
    for batch in range(2):  # a new output batch each time, as the agent makes one per batch
        writer.write("posts", "k", 1, {"n": batch})
        writer.write("brands", "b", 2, {"n": batch})
        out = OutputBatch(None)
        writer.queue(out)
        names = {t.changelog_topic.get_topic_name() for t in tables.values()}
        assert set(out._hooks) == names == set(out._messages)
        for hook in out._hooks.values():
            hook(1, 41 + batch)
    names = {n: t.changelog_topic.get_topic_name() for n, t in tables.items()}
    assert sorted(persisted) == sorted((n, TP(names[n], 1), 41 + b) for b in range(2) for n in names)
    assert len(out) == 2
