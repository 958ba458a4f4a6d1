"""Alert delivery: Alertmanager API v2 and a Slack-compatible webhook, with retries that never give up.

Alertmanager treats an alert as firing until its ``endsAt``; an alert that is not re-sent resolves by
itself after that. So a firing alert is posted with ``endsAt`` a few resend intervals ahead and
re-posted every ``resend_seconds`` while it is active (as Prometheus does), and a resolve is posted
with ``endsAt`` = now. Alertmanager deduplicates by label set, which is (alertname, brand, kind,
severity, alert_id[, post]) — the same for every re-send of one alert episode.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from services.common import metrics

log = logging.getLogger(__name__)

ALERTNAME = "EngageReputationSpike"


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def alertmanager_payload(
    alert: dict[str, Any], now: datetime, resend_seconds: float, runbook_url: str
) -> dict[str, Any]:
    """One alert of ``POST /api/v2/alerts``.

    The labels identify one alert episode: ``alert_id`` is in them, so two episodes of one brand and kind
    (or an escalation from warning to critical) are two Alertmanager alerts, and post alerts carry their
    ``post``. Routing groups by brand and kind, so they still notify together. ``startsAt`` is when the
    alert fired in event time: a page from a backfilled period shows when it happened."""
    firing = alert["status"] == "firing"
    ends = now + timedelta(seconds=4 * resend_seconds) if firing else now
    labels = {
        "alertname": ALERTNAME,
        "brand": alert["brand_id"],
        "kind": alert["kind"],
        "severity": alert["severity"],
        "alert_id": alert["alert_id"],
    }
    if alert.get("post_id"):
        labels["post"] = alert["post_id"]
    started = alert.get("fired_event_time") or alert["window_end"]
    return {
        "labels": labels,
        "annotations": {
            "summary": alert["summary"],
            "description": alert.get("description") or alert["summary"],
            "runbook_url": f"{runbook_url}#{alert['kind']}",
            "window": f"{_iso(alert['window_start'])} – {_iso(alert['window_end'])} (event time)",
            "sample_event_ids": ",".join(alert.get("sample_event_ids", [])),
            "top_post_ids": ",".join(alert.get("top_post_ids", [])),
        },
        "startsAt": _iso(min(started, now)),
        "endsAt": _iso(max(ends, min(started, now) + timedelta(seconds=1))),
    }


def chat_escape(text: str) -> str:
    """Slack's control characters escaped, so a customer's text cannot ping ``<!channel>``, hide a link
    behind ``<https://…|label>`` or mention users: it is shown as written."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def webhook_payload(alert: dict[str, Any]) -> dict[str, Any]:
    """Slack-compatible message (``text`` plus one attachment); sample texts are customers' words and
    are escaped."""
    icon = ":rotating_light:" if alert["status"] == "firing" else ":white_check_mark:"
    return {
        "text": f"{icon} [{alert['severity']}] {alert['summary']}",
        "attachments": [
            {
                "color": "danger" if alert["status"] == "firing" else "good",
                "fields": [
                    {"title": "brand", "value": alert["brand_id"], "short": True},
                    {"title": "kind", "value": alert["kind"], "short": True},
                    {"title": "status", "value": alert["status"], "short": True},
                    {"title": "alert_id", "value": alert["alert_id"], "short": True},
                    *(
                        [{"title": "post", "value": alert["post_id"], "short": True}]
                        if alert.get("post_id")
                        else []
                    ),
                ],
                "text": chat_escape(alert.get("description") or "")
                or "\n".join(chat_escape(t) for t in alert.get("sample_texts", [])[:3]),
            }
        ],
    }


class Deliverer:
    """Posts alerts to every configured sink; :meth:`deliver` returns only once all accepted them."""

    def __init__(
        self,
        alertmanager_url: str,
        webhook_url: str,
        resend_seconds: float,
        runbook_url: str,
        max_backoff_seconds: float = 30.0,
    ) -> None:
        self.alertmanager_url = alertmanager_url.rstrip("/")
        self.webhook_url = webhook_url
        self.resend_seconds = resend_seconds
        self.runbook_url = runbook_url
        self.max_backoff = max_backoff_seconds
        self.client = httpx.AsyncClient(timeout=10.0)
        # Export the failure counters of the configured sinks at 0 (a first failure then shows in rate()).
        for sink, url in (("alertmanager", alertmanager_url), ("webhook", webhook_url)):
            if url:
                metrics.ALERT_DELIVERY_FAILURES.labels(sink)

    async def deliver(self, alerts: list[dict[str, Any]], webhook: bool = True) -> None:
        if not alerts:
            return
        if self.alertmanager_url:
            now = datetime.now(UTC)
            body = [alertmanager_payload(a, now, self.resend_seconds, self.runbook_url) for a in alerts]
            await self._post_until_accepted("alertmanager", f"{self.alertmanager_url}/api/v2/alerts", body)
            for a in alerts:
                metrics.ALERTS_DELIVERED.labels(a["kind"], a["severity"], "alertmanager").inc()
        if self.webhook_url and webhook:
            for a in alerts:
                await self._post_until_accepted("webhook", self.webhook_url, webhook_payload(a))
                metrics.ALERTS_DELIVERED.labels(a["kind"], a["severity"], "webhook").inc()

    async def _post_until_accepted(self, sink: str, url: str, body: Any) -> None:
        """Retry with capped exponential backoff for as long as it takes: a fired alert is never dropped."""
        delay = 0.5
        while True:
            try:
                resp = await self.client.post(url, json=body)
                if resp.status_code < 300:
                    return
                problem = f"HTTP {resp.status_code}: {resp.text[:200]}"
                if 400 <= resp.status_code < 500 and resp.status_code != 429:
                    # A payload the sink refuses will not get better by retrying; keep trying anyway
                    # (and say so loudly) so the alert waits in Kafka until someone fixes the sink.
                    log.error("%s refused an alert (%s); retrying", sink, problem)
            except httpx.HTTPError as exc:
                problem = str(exc) or type(exc).__name__
            metrics.ALERT_DELIVERY_FAILURES.labels(sink).inc()
            log.warning("delivery to %s failed (%s); retrying in %.1fs", sink, problem, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_backoff)

    async def close(self) -> None:
        await self.client.aclose()
