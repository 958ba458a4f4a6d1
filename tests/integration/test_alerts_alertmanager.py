"""A simulated crisis through real Kafka, the workers and a real Alertmanager (Debian package).

Alertmanager is stopped while the crisis happens: the alert fires, waits in Kafka while delivery
retries, and arrives once Alertmanager is back — exactly one firing alert per brand and kind, which
resolves when the conversation returns to normal.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.common.kafka_local import free_port
from services.common.query import run_query
from services.ingest.cli_simulate import produce_events
from services.ingest.simulator import SimulationConfig, simulate
from services.stack import wait_drained
from tests.integration.pipeline import Pipeline

pytestmark = pytest.mark.integration

ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
CONFIG = """
route:
  receiver: blackhole
  group_by: [alertname, brand, kind]
receivers:
  - name: blackhole
"""


class Alertmanager:
    def __init__(self, root: Path) -> None:
        self.root, self.port = root, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (root / "alertmanager.yml").write_text(CONFIG)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert ALERTMANAGER
        log = open(self.root / "alertmanager.log", "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(
            [
                ALERTMANAGER,
                f"--config.file={self.root / 'alertmanager.yml'}",
                f"--storage.path={self.root / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("alertmanager did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(20)
            self.proc = None

    def alerts(self) -> list[dict[str, Any]]:
        resp = httpx.get(f"{self.url}/api/v2/alerts", timeout=5)
        resp.raise_for_status()
        return [a for a in resp.json() if a["labels"].get("alertname") == "EngageReputationSpike"]


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[Alertmanager]:
    if ALERTMANAGER is None:
        pytest.fail("prometheus-alertmanager is not installed (apt-get install prometheus-alertmanager)")
    am = Alertmanager(tmp_path)
    am.start()
    try:
        yield am
    finally:
        am.stop()


@pytest.fixture
def pipeline(kafka_bootstrap: str, tmp_path: Path, alertmanager: Alertmanager) -> Iterator[Pipeline]:
    p = Pipeline(kafka_bootstrap, tmp_path / "pipeline", "am")
    p.root.mkdir()
    p.alerts = p.alerts.model_copy(update={"alertmanager_url": alertmanager.url, "alert_resend_seconds": 2.0})
    p.start()
    try:
        yield p
    finally:
        p.stop_all()


def _wait(predicate: Any, timeout: float, what: str | Any) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(1.0)
    raise AssertionError(f"timed out waiting for {what() if callable(what) else what}")


def test_crisis_pages_once_per_brand_and_kind_even_through_an_alertmanager_outage(
    pipeline: Pipeline, alertmanager: Alertmanager
) -> None:
    sim = simulate(
        SimulationConfig(seed=6, duration_seconds=2 * 86400, crisis_count=1, offensive_post_probability=0.0)
    )
    (crisis,) = sim.ground_truth.crises
    start = datetime.fromisoformat(crisis.start.replace("Z", "+00:00"))
    end = datetime.fromisoformat(crisis.end.replace("Z", "+00:00"))

    def before(e: dict[str, Any], t: datetime) -> bool:
        return datetime.fromisoformat(e["occurred_at"].replace("Z", "+00:00")) < t

    quiet = [e for e in sim.events if before(e, start - timedelta(minutes=30))]
    during = [e for e in sim.events[len(quiet) :] if before(e, end + timedelta(minutes=10))]
    after = sim.events[len(quiet) + len(during) :]

    def drain() -> None:
        asyncio.run(wait_drained(pipeline.enrich, pipeline.alerts, timeout=600))

    asyncio.run(produce_events(pipeline.ingest, quiet))
    drain()
    assert alertmanager.alerts() == [], "nothing should page before the crisis"

    alertmanager.stop()
    asyncio.run(produce_events(pipeline.ingest, during))
    drain()

    def fired() -> list[list[Any]]:
        _, rows = run_query(
            pipeline.dsn,
            "SELECT brand_id, kind, countIf(status = 'resolved') FROM alerts FINAL"
            " GROUP BY brand_id, kind, alert_id HAVING countIf(status = 'firing') > 0 ORDER BY kind",
        )
        return rows

    rows = _wait(fired, 120, "the firing alert in ClickHouse")
    assert {r[0] for r in rows} == {crisis.brand_id}

    alertmanager.start()  # back up (with empty storage): the held alerts must arrive now
    # Alerts that also resolved during the outage arrive resolved: only the others stay active.
    still_firing = {(brand, kind) for brand, kind, resolved in rows if not resolved}
    assert (crisis.brand_id, "complaints") in still_firing
    seen: list[Counter[tuple[str, str]]] = []

    def active_as_expected() -> list[dict[str, Any]]:
        active = [a for a in alertmanager.alerts() if a["status"]["state"] == "active"]
        seen.append(Counter((a["labels"]["brand"], a["labels"]["kind"]) for a in active))
        return active if set(seen[-1]) == still_firing else []

    firing = _wait(active_as_expected, 90, lambda: f"alerts {still_firing} active (saw {seen[-3:]})")
    time.sleep(5)  # several resend rounds later: still exactly one alert per brand and kind
    firing = _wait(active_as_expected, 30, lambda: f"alerts still active after resends (saw {seen[-3:]})")
    assert all(n == 1 for counts in seen for n in counts.values()), seen
    for a in firing:
        assert a["labels"]["severity"] in ("warning", "critical")
        assert {"summary", "description", "runbook_url"} <= a["annotations"].keys()
        assert crisis.brand_id in a["annotations"]["summary"]

    asyncio.run(produce_events(pipeline.ingest, after))
    drain()
    _wait(
        lambda: not [a for a in alertmanager.alerts() if a["status"]["state"] == "active"],
        90,
        "the alerts to resolve in Alertmanager",
    )
    _, resolved = run_query(pipeline.dsn, "SELECT kind FROM alerts FINAL WHERE status = 'resolved'")
    assert {r[0] for r in resolved} == {r[1] for r in rows}
