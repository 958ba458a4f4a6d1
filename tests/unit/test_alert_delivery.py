"""What reaches Alertmanager and the webhook: one alert per episode (and per post), event-time start,
a plain-words description and an absolute runbook link."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from services.alerts.delivery import alertmanager_payload, webhook_payload
from services.common.settings import AlertsSettings

NOW = datetime(2026, 12, 4, 9, tzinfo=UTC)
HAPPENED = datetime(2026, 11, 2, 17, 40, tzinfo=UTC)  # a backfilled crisis: a month ago in event time


def _alert(**over: Any) -> dict[str, Any]:
    return {
        "alert_id": "a1",
        "brand_id": "hanbit-mobile",
        "platform": None,
        "kind": "complaints",
        "severity": "critical",
        "status": "firing",
        "window_start": HAPPENED - timedelta(minutes=15),
        "window_end": HAPPENED,
        "fired_at": NOW,
        "processed_at": NOW,
        "event_time": HAPPENED,
        "fired_event_time": HAPPENED,
        "observed": 73.0,
        "expected": 2.3,
        "score": 40.0,
        "summary": "hanbit-mobile: complaints spiking — 73 complaints in 15 min vs 2.3 expected (x31.7)",
        "description": "hanbit-mobile: complaints spiking.\nSample messages:\n- no signal since noon",
        "sample_event_ids": ["e1"],
        "sample_texts": ["no signal since noon"],
        "post_id": None,
        "top_post_ids": ["p9"],
        **over,
    }


def test_labels_identify_the_episode_and_the_post() -> None:
    url = "https://runbooks.example.org/engage/runbook.md"
    brand = alertmanager_payload(_alert(), NOW, 60.0, url)
    assert brand["labels"] == {
        "alertname": "EngageReputationSpike",
        "brand": "hanbit-mobile",
        "kind": "complaints",
        "severity": "critical",
        "alert_id": "a1",
    }
    post = alertmanager_payload(
        _alert(alert_id="a2", kind="viral_negative_post", post_id="ig-123"), NOW, 60.0, url
    )
    assert post["labels"]["post"] == "ig-123"
    # Two episodes of one brand and kind are two Alertmanager alerts (it merges identical label sets).
    assert alertmanager_payload(_alert(alert_id="a3"), NOW, 60.0, url)["labels"] != brand["labels"]
    assert brand["annotations"]["runbook_url"] == f"{url}#complaints"
    assert brand["annotations"]["description"].endswith("- no signal since noon")
    assert brand["annotations"]["top_post_ids"] == "p9"


def test_starts_at_is_when_it_happened_and_a_resolve_ends_now() -> None:
    firing = alertmanager_payload(_alert(), NOW, 60.0, "https://r.example/rb")
    assert firing["startsAt"] == "2026-11-02T17:40:00Z"
    assert firing["endsAt"] == "2026-12-04T09:04:00Z"  # re-sent every minute until it resolves
    resolved = alertmanager_payload(
        _alert(status="resolved", event_time=HAPPENED + timedelta(hours=4)), NOW, 60.0, "https://r.example/rb"
    )
    assert (resolved["startsAt"], resolved["endsAt"]) == ("2026-11-02T17:40:00Z", "2026-12-04T09:00:00Z")


def test_the_webhook_carries_the_description_and_the_post() -> None:
    body = webhook_payload(_alert(kind="viral_negative_post", post_id="ig-123"))
    attachment = body["attachments"][0]
    assert attachment["text"].startswith("hanbit-mobile: complaints spiking.")
    assert {"title": "post", "value": "ig-123", "short": True} in attachment["fields"]


def test_the_runbook_url_is_absolute() -> None:
    with pytest.raises(ValidationError, match="ENGAGE_ALERT_RUNBOOK_URL must be an absolute"):
        AlertsSettings(alert_runbook_url="docs/runbook.md")
    assert (
        AlertsSettings(alert_runbook_url="https://wiki.example/rb").runbook_url() == "https://wiki.example/rb"
    )
    local = AlertsSettings().runbook_url()
    assert local.startswith("file:///") and local.endswith("_docs/runbook.md")
    with pytest.raises(ValidationError):
        AlertsSettings(alert_allowed_lateness_seconds=-1)
