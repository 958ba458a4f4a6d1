"""Metrics the services compute themselves: consumer lag, last-event time, build info, alert delivery."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from importlib import metadata
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from faust.types import TP
from prometheus_client import REGISTRY

from services.alerts.delivery import Deliverer
from services.common import metrics
from services.runtime.web import _partition_lag


class FakeConsumer:
    def __init__(
        self, assigned: set[TP], ends: dict[TP, int], committed: dict[TP, int], starts: dict[TP, int]
    ):
        self.assigned, self.ends, self._committed_offset, self.starts = assigned, ends, committed, starts
        self.asked_earliest: tuple[TP, ...] = ()

    def assignment(self) -> set[TP]:
        return self.assigned

    async def highwaters(self, *tps: TP) -> dict[TP, int]:
        return {tp: self.ends[tp] for tp in tps if tp in self.ends}

    async def earliest_offsets(self, *tps: TP) -> dict[TP, int]:
        self.asked_earliest = tps
        return {tp: self.starts[tp] for tp in tps}


def fake_app(consumer: FakeConsumer | None, rebalancing: bool = False) -> Any:
    return SimpleNamespace(
        _consumer=consumer,
        rebalancing=rebalancing,
        tables=SimpleNamespace(changelog_topics={"g-features-posts-changelog"}),
        conf=SimpleNamespace(id="g"),
    )


def test_lag_is_high_watermark_minus_committed_offset_per_source_partition() -> None:
    raw0, raw1, fresh, changelog = (
        TP("raw", 0),
        TP("raw", 1),
        TP("enriched", 0),
        TP("g-features-posts-changelog", 0),
    )
    consumer = FakeConsumer(
        assigned={raw0, raw1, fresh, changelog},
        ends={raw0: 120, raw1: 40, fresh: 30, changelog: 999},
        committed={raw0: 100, raw1: 40},  # nothing committed yet on `fresh`
        starts={fresh: 10},  # retention removed offsets 0-9
    )
    lag = asyncio.run(_partition_lag(fake_app(consumer)))
    assert lag == {("g", "raw", "0"): 20, ("g", "raw", "1"): 0, ("g", "enriched", "0"): 20}
    assert consumer.asked_earliest == (fresh,)


@pytest.mark.parametrize("app", [fake_app(None), fake_app(FakeConsumer(set(), {}, {}, {}), rebalancing=True)])
def test_lag_is_not_measured_before_start_or_while_rebalancing(app: Any) -> None:
    with pytest.raises(RuntimeError):
        asyncio.run(_partition_lag(app))


def test_events_received_sets_the_stage_clock() -> None:
    before = time.time()
    metrics.events_received("test-stage")
    value = REGISTRY.get_sample_value("engage_last_event_timestamp_seconds", {"stage": "test-stage"})
    assert value is not None and before <= value <= time.time()


def test_build_info_names_the_package_version() -> None:
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    assert (
        b'engage_build_info{python="' in body and f'version="{metadata.version("engage")}"'.encode() in body
    )


def test_alert_delivery_counts_failures_and_deliveries_by_sink_kind_and_severity() -> None:
    def sample(name: str, labels: dict[str, str]) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    answers = iter([503, 200, 200])
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(next(answers))

    now = datetime.now(UTC)
    alert = {
        "alert_id": "a1",
        "brand_id": "b",
        "kind": "complaints",
        "severity": "critical",
        "status": "firing",
        "summary": "s",
        "window_start": now,
        "window_end": now,
        "fired_at": now,
        "observed": 9.0,
        "expected": 1.0,
        "score": 5.0,
    }
    deliverer = Deliverer("http://am.test", "http://hook.test/x", 60.0, "docs/runbook.md")
    deliverer.client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    delivered = {"kind": "complaints", "severity": "critical"}
    before = {
        "failures": sample("engage_alert_delivery_failures_total", {"sink": "alertmanager"}),
        "am": sample("engage_alerts_delivered_total", {**delivered, "sink": "alertmanager"}),
        "hook": sample("engage_alerts_delivered_total", {**delivered, "sink": "webhook"}),
    }
    # Configured sinks export their failure counter before anything failed.
    assert REGISTRY.get_sample_value("engage_alert_delivery_failures_total", {"sink": "webhook"}) is not None

    async def run() -> None:
        await deliverer.deliver([alert])
        await deliverer.close()

    asyncio.run(run())
    assert seen == ["/api/v2/alerts", "/api/v2/alerts", "/x"]
    assert sample("engage_alert_delivery_failures_total", {"sink": "alertmanager"}) == before["failures"] + 1
    assert sample("engage_alerts_delivered_total", {**delivered, "sink": "alertmanager"}) == before["am"] + 1
    assert sample("engage_alerts_delivered_total", {**delivered, "sink": "webhook"}) == before["hook"] + 1
