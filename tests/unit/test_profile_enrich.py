"""``make profile-enrich`` (bench/profile_enrich.py): the py-spy command it runs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bench.profile_enrich import OUT, record_command, worker_command


def test_py_spy_starts_the_enrich_worker_and_writes_a_flame_graph() -> None:
    cmd = record_command("/venv/bin/py-spy", OUT, worker_command())
    assert OUT.name == "enrich_profile.svg" and OUT.parent.name == "results"
    assert cmd[:2] == ["/venv/bin/py-spy", "record"]
    split = cmd.index("--")
    options = cmd[2:split]
    assert dict(zip(options[::2], options[1::2], strict=True)) == {
        "--rate": "100",
        "--format": "flamegraph",
        "--output": str(OUT),
    }
    # The worker is py-spy's child: sampling a child needs no ptrace permission beyond a parent's.
    assert cmd[split + 1 :] == [sys.executable, "-m", "services.cli", "enrich", "worker"]


@pytest.mark.parametrize(
    ("name", "fmt"), [("p.svg", "flamegraph"), ("p.json", "speedscope"), ("p.txt", "raw")]
)
def test_the_profile_format_follows_the_file_suffix(name: str, fmt: str) -> None:
    cmd = record_command("py-spy", Path(name), ["w"], rate=250)
    assert cmd[cmd.index("--format") + 1] == fmt and cmd[cmd.index("--rate") + 1] == "250"


def test_an_unknown_suffix_or_rate_is_refused() -> None:
    with pytest.raises(ValueError, match=r"p.html: choose a profile ending in \.svg"):
        record_command("py-spy", Path("p.html"), ["w"])
    with pytest.raises(ValueError, match="positive"):
        record_command("py-spy", Path("p.svg"), ["w"], rate=0)
