"""Prometheus metrics shared by the services; names follow ``engage_<what>_<unit>``.

Every service process (ingest API, enrich, loader and alerts workers) exposes all of them on ``/metrics``;
a stage only fills in the series it owns. The alerting rules in
``deploy/helm/engage/files/prometheus-rules.yml`` and the dashboard in
``deploy/grafana/engage-pipeline.json`` use only the names defined here (unit tests check it).
"""

from __future__ import annotations

import platform
import time
from importlib import metadata

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, Info, generate_latest

EVENTS_IN = Counter(
    "engage_events_in_total", "Events received by a stage.", ["stage", "platform", "event_type"]
)
EVENTS_OUT = Counter(
    "engage_events_out_total", "Events emitted by a stage.", ["stage", "platform", "event_type"]
)
DLQ = Counter("engage_dlq_total", "Messages sent to a dead-letter topic.", ["stage", "reason"])
PROCESSING_SECONDS = Histogram(
    "engage_processing_seconds",
    "Time to process one batch in a stage.",
    ["stage"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
EVENT_TO_LOAD_SECONDS = Histogram(
    "engage_event_to_load_seconds",
    "From occurred_at (or received_at) to the row being inserted into ClickHouse.",
    ["clock"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600, 86400),
)
LOADER_BATCH_ROWS = Histogram(
    "engage_loader_batch_rows",
    "Rows per ClickHouse insert.",
    ["table"],
    buckets=(1, 10, 50, 100, 500, 1000, 2000, 5000, 10000, 50000),
)
LOADER_FAILURES = Counter("engage_loader_failures_total", "Failed ClickHouse inserts (retried).", ["table"])
LOADER_ROWS = Counter("engage_loader_rows_total", "Rows inserted into ClickHouse.", ["table"])
FEATURE_SNAPSHOTS = Counter(
    "engage_feature_snapshots_total", "Feature snapshot rows published by enrich.", ["kind"]
)
CONSUMER_LAG = Gauge(
    "engage_consumer_lag",
    "Messages behind the end of a partition (high watermark minus committed offset), per assigned partition.",
    ["group", "topic", "partition"],
)
LAST_EVENT = Gauge(
    "engage_last_event_timestamp_seconds",
    "Unix time a stage last received an event; the process start time until the first one arrives.",
    ["stage"],
)
ALERTS_FIRED = Counter("engage_alerts_fired_total", "Alerts fired.", ["kind", "severity"])
ALERTS_DELIVERED = Counter("engage_alerts_delivered_total", "Alerts delivered.", ["kind", "severity", "sink"])
ALERT_DELIVERY_FAILURES = Counter(
    "engage_alert_delivery_failures_total", "Failed alert deliveries (retried until accepted).", ["sink"]
)
ALERTS_ACTIVE = Gauge("engage_alerts_active", "Alerts currently firing, as known to the deliverer.")
ALERTS_LATE_EVENTS = Counter(
    "engage_alerts_late_events_total",
    "Events whose event-time bucket was already final for their brand (past the allowed lateness):"
    " dropped from the alert signals, never added to another bucket.",
)
INGEST_REQUESTS = Counter(
    "engage_ingest_requests_total", "Ingest HTTP requests by endpoint and outcome.", ["endpoint", "outcome"]
)
WEBHOOK_IGNORED = Counter(
    "engage_webhook_ignored_total", "Webhook items not mapped (edits, removals, other kinds).", ["source"]
)
WEBHOOK_UNKNOWN_FIELDS = Counter(
    "engage_webhook_unknown_fields_total",
    "Platform fields the mappers do not know (not stored); field is a documented name or 'other'.",
    ["source", "field"],
)


BUILD_INFO = Info("engage_build", "Version of the running engage package and its Python.")


def _version() -> str:
    try:
        return metadata.version("engage")
    except metadata.PackageNotFoundError:
        return "unknown"


BUILD_INFO.info({"version": _version(), "python": platform.python_version()})


def events_received(stage: str) -> None:
    """Set the stage's last-event time to now: when it receives events, and once when it starts (so a
    stage that has received nothing since it started counts as silent since then)."""
    LAST_EVENT.labels(stage).set(time.time())


def render() -> tuple[bytes, str]:
    """Exposition body and content type for a /metrics handler."""
    return generate_latest(), CONTENT_TYPE_LATEST


LagKey = tuple[str, str, str]  # (group, topic, partition)


def publish_lag(current: dict[LagKey, int], reported: set[LagKey]) -> set[LagKey]:
    """Set ``engage_consumer_lag`` for the partitions this process is assigned now and drop the series
    of those it reported before and no longer has (they moved to another replica, which reports them).
    Returns what is reported now."""
    for labels, lag in current.items():
        CONSUMER_LAG.labels(*labels).set(lag)
    for labels in reported - current.keys():
        CONSUMER_LAG.remove(*labels)
    return set(current)
