-- Enriched social events, one row per event_id.
-- ReplacingMergeTree on a sorting key that ends in event_id makes redelivered events (at-least-once
-- Kafka, replays) collapse to one row; count with FINAL or uniqExact(event_id) for exact numbers.
CREATE TABLE IF NOT EXISTS events
(
    event_id         String,
    platform         LowCardinality(String),
    event_type       LowCardinality(String),
    brand_id         LowCardinality(String),
    account_id       Nullable(String),
    post_id          Nullable(String),
    actor_id         String,
    parent_id        Nullable(String),
    is_brand         Bool,
    text             Nullable(String),
    lang             LowCardinality(Nullable(String)),
    language         LowCardinality(String),
    campaign_id      Nullable(String),
    actor_followers  Nullable(UInt64),
    occurred_at      DateTime64(3, 'UTC'),
    received_at      DateTime64(3, 'UTC'),
    enriched_at      DateTime64(3, 'UTC'),
    loaded_at        DateTime64(3, 'UTC') DEFAULT now64(3),
    attributes       Map(String, String),
    pipeline_version LowCardinality(String)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (brand_id, platform, toStartOfHour(occurred_at), event_id)
SETTINGS non_replicated_deduplication_window = 1000;
