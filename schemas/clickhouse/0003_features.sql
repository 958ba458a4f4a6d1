-- Enrichment features: per-event columns on events, and the feature snapshot tables.
-- Snapshot tables are ReplacingMergeTree(version): enrich publishes a row per key whenever a batch
-- changed it, version = events applied to that key, so the highest version is the current value and
-- a snapshot redelivered after a crash (same version, same content) collapses. Query with FINAL.
ALTER TABLE events
    ADD COLUMN IF NOT EXISTS sentiment_label LowCardinality(String) DEFAULT 'neutral',
    ADD COLUMN IF NOT EXISTS sentiment_score Float32 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS is_complaint Bool DEFAULT false,
    ADD COLUMN IF NOT EXISTS cascade_depth Nullable(UInt16),
    ADD COLUMN IF NOT EXISTS response_seconds Nullable(Float64),
    ADD COLUMN IF NOT EXISTS touches_before_conversion Nullable(UInt32),
    ADD COLUMN IF NOT EXISTS seconds_to_convert Nullable(Float64),
    ADD COLUMN IF NOT EXISTS first_touch_post_id Nullable(String),
    ADD COLUMN IF NOT EXISTS last_touch_post_id Nullable(String),
    ADD COLUMN IF NOT EXISTS first_touch_campaign_id Nullable(String),
    ADD COLUMN IF NOT EXISTS last_touch_campaign_id Nullable(String),
    ADD COLUMN IF NOT EXISTS attributed_post_id Nullable(String),
    ADD COLUMN IF NOT EXISTS seconds_since_post Nullable(Float64);

CREATE TABLE IF NOT EXISTS post_virality
(
    post_id                String,
    brand_id               LowCardinality(String),
    platform               LowCardinality(String),
    posted_at              Nullable(DateTime64(3, 'UTC')),
    campaign_id            Nullable(String),
    likes                  UInt64,
    comments               UInt64,
    negative_comments      UInt64,
    complaints             UInt64,
    clicks                 UInt64,
    shares                 UInt64,
    cascade_size           UInt64,
    cascade_depth          UInt16,
    cascade_breadth        UInt64,
    unresolved_shares      UInt64,
    unique_reach           UInt64,
    unique_sharers         UInt64,
    share_velocity_5m      UInt64,
    peak_share_velocity_5m UInt64,
    viral_coefficient      Float64,
    is_viral               Bool,
    unfollows_attributed   UInt64,
    updated_at             DateTime64(3, 'UTC'),
    version                UInt64,
    loaded_at              DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (brand_id, post_id)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS follower_funnel
(
    brand_id                  LowCardinality(String),
    actor_id                  String,
    platform                  LowCardinality(String),
    stage                     LowCardinality(String),
    stage_rank                UInt8,
    touches                   UInt32,
    first_touch_at            Nullable(DateTime64(3, 'UTC')),
    followed_at               Nullable(DateTime64(3, 'UTC')),
    engaged_at                Nullable(DateTime64(3, 'UTC')),
    clicked_at                Nullable(DateTime64(3, 'UTC')),
    lead_at                   Nullable(DateTime64(3, 'UTC')),
    converted_at              Nullable(DateTime64(3, 'UTC')),
    touches_before_conversion Nullable(UInt32),
    seconds_to_convert        Nullable(Float64),
    first_touch_post_id       Nullable(String),
    last_touch_post_id        Nullable(String),
    first_touch_campaign_id   Nullable(String),
    last_touch_campaign_id    Nullable(String),
    purchases                 UInt32,
    unfollows                 UInt32,
    updated_at                DateTime64(3, 'UTC'),
    version                   UInt64,
    loaded_at                 DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (brand_id, actor_id)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS brand_backlog
(
    brand_id              LowCardinality(String),
    open_items            Int64,
    unanswered_complaints Int64,
    answered_items        UInt64,
    answered_complaints   UInt64,
    mean_response_seconds Nullable(Float64),
    unfollows             UInt64,
    unfollows_attributed  UInt64,
    updated_at            DateTime64(3, 'UTC'),
    version               UInt64,
    loaded_at             DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(version)
ORDER BY brand_id
SETTINGS non_replicated_deduplication_window = 1000;
