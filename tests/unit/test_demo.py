import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime

import pytest

from services.common.events import EVENT_TYPES, PLATFORMS, parse_event
from services.enrich.language import detect_language
from services.sim.demo import SPIKE_BRAND, demo_events


def test_demo_is_deterministic_and_unique() -> None:
    a, b = demo_events(n=1500, seed=3), demo_events(n=1500, seed=3)
    assert a == b
    assert len({e["event_id"] for e in a}) == 1500
    assert demo_events(n=1500, seed=4) != a


def test_demo_covers_types_platforms_languages_and_a_spike() -> None:
    events = demo_events(n=3000)
    assert set(Counter(e["event_type"] for e in events)) == set(EVENT_TYPES)
    assert {e["platform"] for e in events} == set(PLATFORMS) - {"other"}
    languages = Counter(detect_language(e.get("text"), e.get("lang")) for e in events)
    assert languages["ko"] > 300 and languages["en"] > 300
    by_minute = Counter((e["brand_id"], e["occurred_at"][:16]) for e in events)
    (brand, _), peak = by_minute.most_common(1)[0]
    assert brand == SPIKE_BRAND and peak >= 300
    # Every demo event is valid canonical input.
    now = datetime(2026, 11, 2, tzinfo=UTC)
    assert all(parse_event(e, received_at=now)["event_id"] == e["event_id"] for e in events)


# Without the development tools (the runtime wheel leaves services.sim out) the commands that need
# them exit 2 and say why, instead of a traceback; `services.sim` set to None blocks its import.
_WITHOUT_SIM = """
import sys
sys.modules["services.sim"] = None
sys.argv = ["engage", *sys.argv[1:]]
from services.cli import app
app()
"""


@pytest.mark.parametrize("args", [["simulate", "--seed", "3"], ["demo", "generate"], ["run"]])
def test_commands_needing_the_simulator_exit_2_when_it_is_not_installed(args: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_SIM, *args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stderr
    message = " ".join(done.stderr.split())  # rich wraps long lines
    assert "(services.sim) are development tools and are not installed here" in message
    assert "Traceback" not in done.stderr
