-- Alerts as published on social.alerts; a resolve is a second row with status = 'resolved'.
CREATE TABLE IF NOT EXISTS alerts
(
    alert_id         String,
    brand_id         LowCardinality(String),
    platform         LowCardinality(Nullable(String)),
    kind             LowCardinality(String),
    severity         LowCardinality(String),
    status           LowCardinality(String),
    window_start     DateTime64(3, 'UTC'),
    window_end       DateTime64(3, 'UTC'),
    fired_at         DateTime64(3, 'UTC'),
    observed         Float64,
    expected         Float64,
    score            Float64,
    summary          String,
    sample_event_ids Array(String),
    sample_texts     Array(String),
    loaded_at        DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(fired_at)
ORDER BY (brand_id, alert_id, status)
SETTINGS non_replicated_deduplication_window = 1000;
