"""A real Prometheus scrapes a running pipeline: the named series exist and move.

The enrich and alerts workers run as subprocesses (``tests.integration.pipeline``), the ingest API
in-process under uvicorn; Prometheus (the Debian ``prometheus`` binary) scrapes the three every
second and also loads the chart's alerting rules, so the rules are evaluated against live series.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from services.common.settings import REPO_ROOT
from services.local.kafka import free_port
from services.sim.demo import demo_events
from tests.integration.helpers import eventually, running_pipeline, wait_http_ready
from tests.integration.ingest_server import serve
from tests.integration.pipeline import Pipeline
from tests.tools import require_binary

pytestmark = pytest.mark.integration

RULES = REPO_ROOT / "deploy" / "helm" / "engage" / "files" / "prometheus-rules.yml"
TOKEN = "scrape-token"
JOBS = ("engage-ingest", "engage-enrich", "engage-loader", "engage-alerts")


class Prometheus:
    """A Prometheus server on a free port with its own config and TSDB directory."""

    def __init__(self, binary: str, root: Path, targets: dict[str, str]) -> None:
        self.root = root
        self.port = free_port()
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(RULES)],
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": [target]}]}
                for job, target in targets.items()
            ],
        }
        (root / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log = root / "prometheus.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [
                    binary,
                    f"--config.file={root / 'prometheus.yml'}",
                    f"--storage.tsdb.path={root / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--storage.tsdb.retention.time=1h",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10)

    def wait_ready(self, timeout: float = 30.0) -> None:
        wait_http_ready(
            f"{self.client.base_url}/-/ready",
            timeout=timeout,
            process=self.proc,
            log=lambda: self.log.read_text(errors="replace")[-3000:],
        )

    def query(self, promql: str) -> list[dict[str, Any]]:
        resp = self.client.get("/api/v1/query", params={"query": promql})
        resp.raise_for_status()
        body = resp.json()
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def value(self, promql: str) -> float | None:
        """The value of a query expected to return at most one series (``sum(...)``)."""
        result = self.query(promql)
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else None

    def stop(self) -> None:
        self.client.close()
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture(scope="module")
def prometheus_binary() -> str:
    return require_binary("prometheus", package="prometheus")


@pytest.fixture(scope="module")
def stack(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory, prometheus_binary: str
) -> Iterator[tuple[Prometheus, Pipeline, str]]:
    with running_pipeline(kafka_bootstrap, tmp_path_factory, "scrape") as pipeline:
        ingest = pipeline.ingest.model_copy(update={"ingest_tokens": TOKEN, "ingest_max_batch": 1000})
        with serve(ingest) as ingest_url:
            (pipeline.root / "prom").mkdir()
            prom = Prometheus(
                prometheus_binary,
                pipeline.root / "prom",
                {
                    "engage-ingest": ingest_url.removeprefix("http://"),
                    "engage-enrich": f"127.0.0.1:{pipeline.enrich.enrich_web_port}",
                    "engage-loader": f"127.0.0.1:{pipeline.loader.loader_web_port}",
                    "engage-alerts": f"127.0.0.1:{pipeline.alerts.alerts_web_port}",
                },
            )
            try:
                prom.wait_ready()
                yield prom, pipeline, ingest_url
            finally:
                prom.stop()


def post_traffic(ingest_url: str, batch: int, n: int, invalid: int) -> None:
    """``n`` fresh demo events of the last hour and ``invalid`` events without a brand."""
    start = datetime.now(UTC) - timedelta(hours=1)
    events: list[dict[str, Any]] = demo_events(n=n, seed=100 + batch, start=start, spike=0)
    for i in range(invalid):
        events.append(
            {"event_id": f"bad-{batch}-{i}", "platform": "x", "event_type": "like", "actor_id": "a"}
        )
    resp = httpx.post(
        f"{ingest_url}/v1/events", json=events, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
    )
    assert resp.status_code == 202, resp.text
    assert (resp.json()["accepted"], resp.json()["rejected"]) == (n, invalid)


MOVING = {
    "ingest events in": 'sum(engage_events_in_total{job="engage-ingest", stage="ingest"})',
    "ingest events out": 'sum(engage_events_out_total{job="engage-ingest", stage="ingest"})',
    "ingest dead letters": 'sum(engage_dlq_total{job="engage-ingest", reason="invalid_event"})',
    "ingest requests": 'sum(engage_ingest_requests_total{job="engage-ingest", outcome="accepted"})',
    "enrich events in": 'sum(engage_events_in_total{job="engage-enrich", stage="enrich"})',
    "enrich events out": 'sum(engage_events_out_total{job="engage-enrich", stage="enrich"})',
    "events loaded": 'sum(engage_events_out_total{job="engage-loader", stage="loader"})',
    "rows loaded": 'sum(engage_loader_rows_total{job="engage-loader", table="events"})',
    "enrich batches": 'sum(engage_processing_seconds_count{job="engage-enrich", stage="enrich"})',
    "event-to-load observations": 'sum(engage_event_to_load_seconds_count{job="engage-loader"})',
    "loader batches": 'sum(engage_loader_batch_rows_count{job="engage-loader", table="events"})',
    "feature snapshots": 'sum(engage_feature_snapshots_total{job="engage-enrich"})',
    "alerts batches": 'sum(engage_processing_seconds_count{job="engage-alerts"})',
}


def test_series_exist_and_move(stack: tuple[Prometheus, Pipeline, str]) -> None:
    prom, pipeline, ingest_url = stack

    up = eventually(
        lambda: len(r := prom.query('up{job=~"engage-.*"} == 1')) == len(JOBS) and r,
        timeout=30,
        what="up == 1",
    )
    assert sorted(s["metric"]["job"] for s in up) == sorted(JOBS)
    info = prom.query("engage_build_info")
    assert sorted(s["metric"]["job"] for s in info) == sorted(JOBS)
    assert {s["metric"]["version"] for s in info} == {metadata.version("engage")}

    def values() -> dict[str, float]:
        return {k: prom.value(q) or 0.0 for k, q in MOVING.items()}

    # The ingest API runs in this process, whose counters other tests may have moved already.
    n = 200

    def traffic(
        batch: int, invalid: int, since: dict[str, float], must_move: Iterable[str], what: str
    ) -> dict[str, float]:
        """Post ``n`` events and ``invalid`` ones; once every counted series has reached its count and
        the ``must_move`` series moved, what every series moved by since ``since`` (which then holds the
        new values). Each job is scraped at its own moment, so one job's series may lag another's: the
        wait covers every series asserted on, and the assertions then catch any that went past."""
        post_traffic(ingest_url, batch, n, invalid=invalid)
        counts = {
            "ingest events in": n,
            "ingest events out": n,
            "ingest dead letters": invalid,
            "enrich events in": n,
            "enrich events out": n,
            "events loaded": n,
        }
        now = eventually(
            lambda: (
                all((v := values())[k] >= since[k] + c for k, c in counts.items())
                and all(v[k] > since[k] for k in must_move)
                and v
            ),
            timeout=60,
            what=what,
        )
        moved = {k: now[k] - since[k] for k in MOVING}
        assert {k: moved[k] for k in counts} == counts
        since.update(now)
        return moved

    # The ingest API runs in this process, whose counters other tests may have moved already.
    seen = values()
    traffic(1, 3, seen, ["alerts batches"], "the first traffic to be scraped")
    traffic(2, 2, seen, MOVING, "every counter to increase after more traffic")
    # Counters by platform and type: every platform the demo uses shows up at ingest and in the loader.
    by_platform = prom.query(
        'sum by (platform, event_type) (engage_events_out_total{job="engage-loader", stage="loader"})'
    )
    assert sum(float(s["value"][1]) for s in by_platform) == 2 * n
    assert len({s["metric"]["platform"] for s in by_platform}) > 1

    # Consumer lag: one series per assigned source partition, for the three consumer groups.
    def lag_of_all_groups() -> list[dict[str, Any]]:
        result = prom.query("engage_consumer_lag")
        return result if len({s["metric"]["group"] for s in result}) == 3 else []

    lag = eventually(
        lag_of_all_groups, timeout=30, what="engage_consumer_lag of the enrich, loader and alerts groups"
    )
    topics = {(s["metric"]["group"], s["metric"]["topic"]) for s in lag}
    enrich, loader, alerts = pipeline.enrich, pipeline.loader, pipeline.alerts
    assert (enrich.enrich_app_id, enrich.topic_raw) in topics
    assert (alerts.alerts_app_id, alerts.topic_enriched) in topics
    assert (loader.loader_app_id, loader.topic_enriched) in topics
    assert (loader.loader_app_id, loader.topic_alerts) in topics
    assert (enrich.enrich_app_id, enrich.topic_alerts) not in topics
    assert all(float(s["value"][1]) >= 0 for s in lag)
    assert {s["metric"]["partition"] for s in lag} >= {"0"}
    # Drained: the lag gauges fall to 0 once the workers committed everything.
    eventually(
        lambda: prom.value("sum(engage_consumer_lag)") == 0,
        timeout=40,
        what="consumer lag to fall to 0 after draining",
    )

    # Every stage saw events within the last minute.
    recent = prom.query("time() - engage_last_event_timestamp_seconds < 60")
    assert {s["metric"]["stage"] for s in recent} >= {"ingest", "enrich", "loader", "alerts"}

    # The chart's rules load and evaluate without errors against the live series.
    groups = prom.client.get("/api/v1/rules").json()["data"]["groups"]
    rules = [r for g in groups for r in g["rules"]]
    assert len(rules) == len([r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]])
    assert all(r["health"] == "ok" for r in rules), [(r["name"], r.get("lastError")) for r in rules]
