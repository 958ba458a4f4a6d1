"""Settings shared by every service, read from ``ENGAGE_*`` environment variables.

Each service has one settings object (``IngestSettings``, ``EnrichSettings``, ``LoaderSettings``,
``AlertsSettings``) that extends :class:`CommonSettings`, so a deployment configures Kafka, topics and
ClickHouse in one place and the Helm chart can render a single ConfigMap from these fields.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]


def local_kafka_bootstrap(var_dir: Path, port: int) -> str:
    """The local broker's address: the one running from ``var_dir`` (its recorded port), else ``port``.

    A broker started by ``make up`` on another port is found from its ``kafka.json`` while it runs, so
    commands reach it whether or not they see the same ``ENGAGE_LOCAL_KAFKA_PORT``.
    """
    kafka_dir = var_dir / "kafka"
    try:
        pid = int((kafka_dir / "kafka.pid").read_text())
        recorded = int(json.loads((kafka_dir / "kafka.json").read_text())["port"])
        os.kill(pid, 0)
    except (OSError, ValueError, KeyError, TypeError):
        return f"127.0.0.1:{port}"
    return f"127.0.0.1:{recorded}"


class CommonSettings(BaseSettings):
    """Connection and topic settings every service needs."""

    model_config = SettingsConfigDict(env_prefix="ENGAGE_", extra="ignore")

    var_dir: Path = Field(
        Path("var"),
        description="Local state of the embedded defaults: broker data, chDB, worker state, logs, locks.",
    )
    local_kafka_port: int = Field(
        9092, description="Port of the local broker (`make up`/`make run`); the default Kafka address."
    )
    kafka_bootstrap: str = Field(
        "127.0.0.1:9092",
        description="Kafka bootstrap servers, comma separated; unset: the local broker (local_kafka_port).",
    )
    kafka_security_protocol: str = Field(
        "PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."
    )
    kafka_sasl_mechanism: str | None = Field(None, description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.")
    kafka_sasl_username: str | None = Field(None, description="SASL user name.")
    kafka_sasl_password: str | None = Field(None, description="SASL password (from a Secret).")
    kafka_ssl_cafile: str | None = Field(None, description="CA bundle for TLS to the brokers.")

    topic_raw: str = Field("social.events.raw", description="Canonical raw events from ingest.")
    topic_enriched: str = Field(
        "social.events.enriched", description="Events with features, for loader and alerts."
    )
    topic_alerts: str = Field("social.alerts", description="Fired and resolved alerts.")
    topic_dlq: str = Field(
        "social.events.dlq", description="Dead letters: undecodable or invalid events, with reason."
    )
    topic_post_virality: str = Field(
        "social.features.posts", description="Post engagement and cascade snapshots (compacted, by post)."
    )
    topic_follower_funnel: str = Field(
        "social.features.funnels", description="Follower journey snapshots (compacted, by brand and actor)."
    )
    topic_brand_backlog: str = Field(
        "social.features.brands", description="Brand response backlog and fan loss snapshots (compacted)."
    )
    topic_loader_dlq: str = Field(
        "social.loader.dlq", description="Rows ClickHouse refused (or kept failing on), for replay."
    )
    topic_partitions: int = Field(4, description="Partitions for topics the pipeline creates itself.")
    topic_replication: int = Field(
        1, description="Replication factor for topics the pipeline creates itself."
    )

    clickhouse_dsn: str = Field(
        "chdb://./var/clickhouse",
        description="chdb://PATH for the embedded engine, or http(s)://user:pass@host:8123/db for a server; "
        "unset: chdb://<var_dir>/clickhouse.",
    )

    query_max_execution_seconds: float = Field(
        60.0, description="Ad-hoc queries (/query, engage query) stop after this long (max_execution_time)."
    )
    query_max_result_rows: int = Field(
        500_000, description="Ad-hoc queries returning more rows fail (max_result_rows)."
    )
    query_max_memory_bytes: int = Field(
        1_000_000_000, description="Memory one ad-hoc query may use (max_memory_usage)."
    )

    log_level: str = Field("info", description="Log level for every service.")

    timezone: str | None = Field(
        None,
        description="IANA time zone for every time reports and summaries show (e.g. Asia/Seoul); "
        "unset: each brand's zone from the brands file, UTC for brands it does not list.",
    )
    brands_file: str | None = Field(
        None, description="TOML file of brand display names and time zones; unset: the bundled one."
    )

    @model_validator(mode="after")
    def _local_defaults(self) -> Self:
        """Unset addresses and paths follow ``var_dir`` and the local broker: one setting moves them all."""
        self.var_dir = self.var_dir.expanduser().resolve()
        if "kafka_bootstrap" not in self.model_fields_set:
            self.kafka_bootstrap = local_kafka_bootstrap(self.var_dir, self.local_kafka_port)
        if "clickhouse_dsn" not in self.model_fields_set:
            self.clickhouse_dsn = f"chdb://{self.var_dir / 'clickhouse'}"
        for name, default in self._var_subdirs().items():
            if name not in self.model_fields_set:
                setattr(self, name, self.var_dir / default)
        return self

    def _var_subdirs(self) -> dict[str, str]:
        """Path fields that live under ``var_dir`` unless set: field name -> subdirectory."""
        return {}

    def kafka_client_options(self) -> dict[str, object]:
        """Keyword arguments for aiokafka clients (producer, consumer, admin)."""
        opts: dict[str, object] = {
            "bootstrap_servers": self.kafka_bootstrap,
            "security_protocol": self.kafka_security_protocol,
        }
        if self.kafka_sasl_mechanism:
            opts["sasl_mechanism"] = self.kafka_sasl_mechanism
            opts["sasl_plain_username"] = self.kafka_sasl_username
            opts["sasl_plain_password"] = self.kafka_sasl_password
        if self.kafka_security_protocol.endswith("SSL"):
            from aiokafka.helpers import create_ssl_context

            opts["ssl_context"] = create_ssl_context(cafile=self.kafka_ssl_cafile)
        return opts

    def all_topics(self) -> list[str]:
        return [
            self.topic_raw,
            self.topic_enriched,
            self.topic_alerts,
            self.topic_dlq,
            *self.feature_topics(),
        ]

    def feature_topics(self) -> list[str]:
        return [self.topic_post_virality, self.topic_follower_funnel, self.topic_brand_backlog]


class IngestSettings(CommonSettings):
    """Ingest: validates events and produces them to the raw topic."""

    ingest_linger_ms: int = Field(5, description="Producer linger; small batches keep ingest latency low.")
    ingest_max_text_chars: int = Field(10_000, description="Longer texts are rejected to the DLQ.")
    ingest_host: str = Field("127.0.0.1", description="Bind address of `engage ingest serve`.")
    ingest_port: int = Field(8080, description="Port of `engage ingest serve`.")
    ingest_tokens: str = Field("", description="Comma-separated bearer tokens accepted by POST /v1/events.")
    ingest_max_body_bytes: int = Field(5 * 1024 * 1024, description="Larger request bodies get 413.")
    ingest_max_batch: int = Field(5000, description="Most events one POST /v1/events may carry.")
    meta_app_secret: str = Field("", description="Meta app secret: X-Hub-Signature-256 HMAC key.")
    meta_verify_token: str = Field("", description="Meta webhook subscription verify token.")
    x_consumer_secret: str = Field("", description="X consumer secret: CRC and webhook signature HMAC key.")
    youtube_secret: str = Field(
        "", description="WebSub hub secret for YouTube notifications; unset: YouTube requests are refused."
    )
    pseudonym_key: str = Field("", description="HMAC key that pseudonymises actor ids at ingest.")
    ingest_keep_raw_ids: bool = Field(False, description="Store raw platform user ids (off: pseudonymise).")
    allow_development_key: bool = Field(
        False,
        description="Development only: without ENGAGE_PSEUDONYM_KEY, pseudonymise with the public "
        "development key instead of refusing to start.",
    )
    brand_accounts: str = Field(
        "",
        description="The brands' own accounts as platform:account_id, comma separated (x:123,youtube:UC...): "
        "X deliveries and YouTube channels are accepted only for these; POST /v1/events marks an "
        "event is_brand only when its actor is one of them.",
    )
    ingest_min_occurred_at: str = Field(
        "2000-01-01T00:00:00Z", description="Events that occurred earlier are invalid (DLQ)."
    )
    ingest_max_future_seconds: float = Field(
        86400.0, description="Events that occur more than this after now are invalid (DLQ)."
    )
    ingest_max_attributes: int = Field(64, description="Most attributes one event may carry.")
    ingest_max_attribute_key_chars: int = Field(128, description="Longest attribute name.")
    ingest_max_attribute_value_chars: int = Field(1000, description="Longest attribute value.")
    ingest_max_record_bytes: int = Field(
        256 * 1024, description="Largest encoded event; larger ones are invalid (DLQ)."
    )
    ingest_max_json_depth: int = Field(
        32, description="Deepest JSON nesting accepted in an event or webhook body (400 beyond)."
    )
    ingest_extra_attributes: str = Field(
        "",
        description="Comma-separated attribute names kept besides the built-in allowlist "
        "(services/ingest/privacy.py); others are dropped before storage.",
    )
    ingest_redact_text: bool = Field(
        True, description="Replace e-mail addresses and phone numbers in event text before storage."
    )
    ingest_publish_timeout_seconds: float = Field(
        15.0, description="Longest wait for Kafka to acknowledge a request's events (503 beyond)."
    )
    ingest_max_inflight_requests: int = Field(
        64, description="Requests publishing at once; more get 503 with Retry-After."
    )


class EnrichSettings(CommonSettings):
    """Enrich worker: stateless and stateful features on raw events."""

    enrich_app_id: str = Field("engage-enrich", description="Faust app id = Kafka consumer group.")
    enrich_batch_size: int = Field(1000, description="Max events the enrich agent handles per batch.")
    enrich_batch_seconds: float = Field(0.2, description="Max wait to fill an enrich batch.")
    enrich_commit_interval_seconds: float = Field(
        0.5,
        gt=0,
        description="How often the enrich worker commits the offsets of acked batches (faust's default "
        "is 2.8 s); a shorter interval lets downstream see progress and a backlog drain sooner.",
    )
    enrich_max_text_chars: int = Field(
        10_000,
        description="Raw events with longer texts (or otherwise invalid) are dead-lettered; "
        "keep it >= ingest_max_text_chars.",
    )
    enrich_web_port: int = Field(6066, description="HTTP port: /metrics, /healthz, /readyz.")
    enrich_web_host: str = Field("127.0.0.1", description="Bind address of the worker's HTTP server.")
    enrich_data_dir: Path = Field(
        Path("var/enrich"), description="Faust table state directory; unset: <var_dir>/enrich."
    )
    fan_loss_window_seconds: float = Field(
        6 * 3600.0, description="An unfollow is attributed to the brand's latest post at most this old."
    )
    faust_store: str = Field(
        "memory://",
        description="Faust table store: memory:// (restored from changelogs on start) or rocksdb://.",
    )

    def _var_subdirs(self) -> dict[str, str]:
        return {"enrich_data_dir": "enrich"}


class LoaderSettings(CommonSettings):
    """ClickHouse loader: the enriched, alert and snapshot topics into tables (the one writer of a chDB
    path, so also the process that answers /query in embedded mode)."""

    loader_app_id: str = Field("engage-loader", description="Kafka consumer group (and client id).")
    loader_web_port: int = Field(
        6069,
        description="HTTP port: /metrics, /healthz, /readyz (and /query unless loader_query_port is set).",
    )
    loader_web_host: str = Field("127.0.0.1", description="Bind address of the loader's HTTP server.")
    loader_query_port: int = Field(
        0, description="Serve /query on this port of its own (0: on loader_web_port)."
    )
    loader_query_host: str = Field("127.0.0.1", description="Bind address of the /query port of its own.")
    query_tokens: str = Field(
        "", description="Comma-separated bearer tokens accepted by /query; empty: /query refuses every call."
    )
    loader_batch_size: int = Field(5000, description="Max rows per ClickHouse insert.")
    loader_batch_seconds: float = Field(0.5, description="Max wait to fill a loader batch.")
    loader_max_retry_seconds: float = Field(
        300.0, description="Insert retries (with backoff) before a batch is dead-lettered."
    )
    loader_unready_after_failures: int = Field(
        5, description="/readyz answers 503 after this many inserts in a row failed or were dead-lettered."
    )
    loader_session_timeout_seconds: float = Field(
        30.0,
        description="Kafka group session timeout: how soon the partitions of a loader that died move on.",
    )

    def query_url(self) -> str:
        """Where this loader serves /query (advertised beside an embedded chDB path)."""
        if self.loader_query_port:
            return f"http://{self.loader_query_host}:{self.loader_query_port}/query"
        return f"http://{self.loader_web_host}:{self.loader_web_port}/query"


class AlertsSettings(CommonSettings):
    """Alerts worker: per-brand signals and detectors."""

    alerts_app_id: str = Field("engage-alerts", description="Faust app id = Kafka consumer group.")
    alerts_web_port: int = Field(6067, description="HTTP port: /metrics and /healthz.")
    alerts_web_host: str = Field("127.0.0.1", description="Bind address of the worker's HTTP server.")
    alerts_data_dir: Path = Field(
        Path("var/alerts"), description="Faust table state directory; unset: <var_dir>/alerts."
    )
    alert_bucket_seconds: int = Field(300, description="Bucket of every alert signal (event time).")
    alert_warmup_seconds: float = Field(
        86400.0, description="No alerts for a brand's signal before it has this much history."
    )
    alert_kinds: str = Field(
        "negative_mentions,complaints,unfollows,viral_negative_post",
        description=(
            "Comma-separated signals that page ('mentions' adds volume, 'unanswered_complaints' the "
            "backlog's growth; services/alerts/signals.py)."
        ),
    )
    alertmanager_url: str = Field(
        "", description="Alertmanager base URL (API v2); empty: not delivered there."
    )
    alert_webhook_url: str = Field("", description="Slack-compatible webhook for alerts; empty: none.")
    alert_resend_seconds: float = Field(60.0, description="Re-post firing alerts to Alertmanager this often.")
    alert_runbook_url: str = Field(
        "",
        description=(
            "Absolute URL (http, https or file) of the runbook linked from alerts (kind appended as #anchor);"
            " point it at your hosted copy. Empty: the package's copy of docs/runbook.md as a file:// URL."
        ),
    )
    alert_allowed_lateness_seconds: float = Field(
        3600.0,
        ge=0,
        description=(
            "Event-time lateness accepted per brand: a bucket is judged once the brand's latest event time"
            " is this far past its end; older events are dropped and counted in"
            " engage_alerts_late_events_total. Also the least delay between a spike and its page."
        ),
    )

    @field_validator("alert_runbook_url")
    @classmethod
    def _absolute_runbook(cls, value: str) -> str:
        if value and urlsplit(value).scheme not in ("http", "https", "file"):
            raise ValueError(
                f"ENGAGE_ALERT_RUNBOOK_URL must be an absolute http(s) or file URL, not {value!r}"
            )
        return value

    def runbook_url(self) -> str:
        """The runbook's absolute URL (the setting, or the copy of docs/runbook.md in the package)."""
        from services.common.resources import runbook_path

        return self.alert_runbook_url or runbook_path().as_uri()

    def _var_subdirs(self) -> dict[str, str]:
        return {"alerts_data_dir": "alerts"}


def to_env(settings: BaseSettings) -> dict[str, str]:
    """The ``ENGAGE_*`` environment that reproduces ``settings`` in another process (or a ConfigMap)."""
    prefix = settings.model_config.get("env_prefix", "")
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        env[f"{prefix}{name}".upper()] = str(value).lower() if isinstance(value, bool) else str(value)
    return env
