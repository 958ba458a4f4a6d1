"""The README's crisis walkthrough through real Kafka, the workers and a real Alertmanager (Debian package).

The simulation is the README's own command. Alertmanager (with the README's config) is stopped while the
crisis happens: the alerts fire, wait in Kafka while delivery retries, and arrive once Alertmanager is
back — each alert exactly once (Alertmanager sees each alert id as its own alert, so a duplicate episode
would show), the crisis paging critical to on-call — and they resolve when the conversation calms down.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from typer.testing import CliRunner

from services.cli import app
from services.common.query import run_query
from services.common.settings import REPO_ROOT
from services.local.kafka import free_port
from services.sim.cli import produce_events
from tests.integration.helpers import drain_pipeline, eventually, running_pipeline, scrape, wait_http_ready
from tests.integration.pipeline import Pipeline

pytestmark = pytest.mark.integration

ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
CONFIG = (REPO_ROOT / "deploy" / "local" / "alertmanager.yml").read_text()
README = (REPO_ROOT / "README.md").read_text()


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
        wait_http_ready(
            f"{self.url}/-/ready",
            timeout=30,
            process=self.proc,
            log=lambda: (self.root / "alertmanager.log").read_text(errors="replace")[-3000:],
        )

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
def pipeline(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory, alertmanager: Alertmanager
) -> Iterator[Pipeline]:
    alerts = {"alertmanager_url": alertmanager.url, "alert_resend_seconds": 2.0}
    with running_pipeline(kafka_bootstrap, tmp_path_factory, "am", alerts=alerts) as p:
        yield p


def walkthrough_simulation(tmp: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run the README walkthrough's ``engage simulate`` command, writing to files instead of Kafka."""
    section = README[README.index("### Crisis walkthrough") :]
    command = re.search(r"^\.venv/bin/engage (simulate .*)$", section, re.M)
    assert command, "the walkthrough's simulate command"
    args = shlex.split(command.group(1))
    assert "--crisis-day" in args
    events, truth = tmp / "events.jsonl", tmp / "truth.json"
    result = CliRunner().invoke(app, [*args, "--out", str(events), "--ground-truth", str(truth)])
    assert result.exit_code == 0, result.output
    return [orjson.loads(line) for line in events.read_bytes().splitlines()], orjson.loads(truth.read_bytes())


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _utc(value: Any) -> datetime:
    """A ClickHouse DateTime64 value (naive UTC, as a datetime or text) as an aware datetime."""
    ts = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return ts.replace(tzinfo=UTC)


def test_the_readme_crisis_walkthrough_pages_on_day_two_once_per_alert_and_resolves(
    pipeline: Pipeline, alertmanager: Alertmanager, tmp_path: Path
) -> None:
    events, truth = walkthrough_simulation(tmp_path)
    (crisis,) = truth["crises"]
    start, end = _at(crisis["start"]), _at(crisis["end"])
    assert start.date() > _at(events[0]["occurred_at"]).date(), "the crisis is on day two"
    lateness = timedelta(seconds=pipeline.alerts.alert_allowed_lateness_seconds)

    quiet = [e for e in events if _at(e["occurred_at"]) < start - timedelta(minutes=30)]
    # Through the crisis and a bit more than the allowed lateness: its buckets are judged.
    during = [
        e for e in events[len(quiet) :] if _at(e["occurred_at"]) < end + lateness + timedelta(minutes=15)
    ]
    after = events[len(quiet) + len(during) :]

    def drain() -> None:
        drain_pipeline(pipeline, 300)

    def alerts_in_clickhouse() -> list[list[Any]]:
        _, rows = run_query(
            pipeline.dsn,
            "SELECT alert_id, brand_id, kind, severity, countIf(status = 'firing'),"
            " countIf(status = 'resolved')"
            " FROM alerts FINAL GROUP BY alert_id, brand_id, kind, severity ORDER BY alert_id",
        )
        return rows

    asyncio.run(produce_events(pipeline.ingest, quiet))
    drain()
    before = [r for r in alerts_in_clickhouse() if r[2] != "viral_negative_post"]
    assert before == [], "no brand signal pages before the crisis (day one is the warm-up)"

    alertmanager.stop()
    asyncio.run(produce_events(pipeline.ingest, during))
    drain()

    def crisis_alerts() -> list[list[Any]]:
        rows = [r for r in alerts_in_clickhouse() if r[2] != "viral_negative_post"]
        return rows if {"complaints", "negative_mentions"} <= {r[2] for r in rows} else []

    rows = eventually(crisis_alerts, timeout=120, interval=1, what="the crisis alerts in ClickHouse")
    assert {r[1] for r in rows} == {crisis["brand_id"]}
    by_kind = {r[2]: r for r in rows}
    assert by_kind["complaints"][3] == "critical"
    _, times = run_query(
        pipeline.dsn,
        "SELECT kind, event_time, processed_at FROM alerts FINAL WHERE status = 'firing' AND brand_id = "
        f"'{crisis['brand_id']}' AND kind != 'viral_negative_post'",
    )
    for kind, fired, processed in times:
        # Event time inside the crisis; processed_at is the wall clock of this run.
        assert start <= _utc(fired) <= end + timedelta(minutes=30), kind
        assert abs(_utc(processed) - datetime.now(UTC)) < timedelta(hours=1), kind

    alertmanager.start()  # back up (with empty storage): the held alerts must arrive now
    _, all_rows = run_query(
        pipeline.dsn,
        "SELECT alert_id FROM alerts FINAL GROUP BY alert_id"
        " HAVING countIf(status = 'firing') > 0 AND countIf(status = 'resolved') = 0",
    )
    still_firing = {r[0] for r in all_rows}
    assert {r[0] for r in rows if not r[5]} <= still_firing
    seen: list[Counter[str]] = []

    def active_as_expected() -> list[dict[str, Any]]:
        active = [a for a in alertmanager.alerts() if a["status"]["state"] == "active"]
        seen.append(Counter(a["labels"]["alert_id"] for a in active))
        return active if set(seen[-1]) == still_firing else []

    def delivered() -> float:
        metrics = pipeline.url("alerts", "/metrics")
        return scrape(metrics, "engage_alerts_delivered_total", {"sink": "alertmanager"})

    eventually(
        active_as_expected,
        timeout=90,
        interval=1,
        what=lambda: f"alerts {still_firing} active (saw {seen[-3:]})",
    )
    # Two resend rounds later: still exactly one Alertmanager alert per alert id.
    resent_from = delivered()
    eventually(
        lambda: delivered() >= resent_from + 2 * len(still_firing),
        timeout=30,
        what=lambda: (
            f"two resend rounds of {len(still_firing)} alerts (delivered {delivered() - resent_from:g})"
        ),
    )
    firing = eventually(
        active_as_expected,
        timeout=30,
        interval=1,
        what=lambda: f"alerts still active after resends ({seen[-3:]})",
    )
    assert all(n == 1 for counts in seen for n in counts.values()), seen
    per_episode = Counter(
        (a["labels"]["brand"], a["labels"]["kind"], a["labels"]["severity"], a["labels"].get("post"))
        for a in firing
    )
    assert all(n == 1 for n in per_episode.values()), per_episode
    for a in firing:
        assert a["labels"]["severity"] in ("warning", "critical")
        assert {"summary", "description", "runbook_url"} <= a["annotations"].keys()
        assert re.match(r"^(https?|file)://", a["annotations"]["runbook_url"])
        if a["labels"]["kind"] == "viral_negative_post":
            assert a["labels"]["post"] and "Cascade:" in a["annotations"]["description"]
            continue
        assert a["labels"]["brand"] == crisis["brand_id"]
        assert crisis["brand_id"] in a["annotations"]["summary"]
        assert "expected" in a["annotations"]["summary"]
        assert "Sample messages:" in a["annotations"]["description"]
        assert _at(a["startsAt"]) >= start  # when it happened, not when it was delivered
        if a["labels"]["kind"] == "complaints":
            assert {r["name"] for r in a["receivers"]} == {"oncall-pager", "social-team-chat"}

    asyncio.run(produce_events(pipeline.ingest, after))
    drain()
    eventually(
        lambda: not [a for a in alertmanager.alerts() if a["status"]["state"] == "active"],
        timeout=90,
        interval=1,
        what=lambda: f"the alerts to resolve in Alertmanager (active: {alertmanager.alerts()})",
    )
    final = alerts_in_clickhouse()
    assert final and all(firing_rows == 1 and resolved == 1 for *_, firing_rows, resolved in final), final
