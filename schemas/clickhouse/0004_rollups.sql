-- Rollups for analysts and dashboards, filled by materialized views on every insert into events.
--
-- Exact under duplicates. events is a ReplacingMergeTree: a redelivered or replayed event is a second
-- row until a merge (or FINAL) collapses it, and a materialized view sees every inserted row, so a
-- count() or sum() rollup would count replays twice and drift from events FINAL for good. Every
-- measure here is therefore idempotent: uniqExact sets of event_id (count = uniqExactMerge) or of
-- actor_id, min/max, and groupUniqArray of (event_id, value) where an exact mean or quantile is needed.
-- Adding the same event again adds nothing, so a rollup equals the same aggregate over events FINAL
-- whatever was loaded twice, and the backfills below may overlap the views without double counting.
-- The one assumption: a duplicate carries the same dimension values (platform, sentiment, features) as
-- the first copy. That holds for redeliveries and replays of unchanged events; after re-enriching
-- history with different results (a new sentiment model), rebuild the rollups (docs/analysts.md).
--
-- Read with GROUP BY and the -Merge functions (uniqExactMerge(events)), never FINAL.
-- Filters on a column that the SELECT re-aliases (assumeNotNull(post_id) AS post_id) sit in a subquery:
-- ClickHouse resolves WHERE names to SELECT aliases, so post_id IS NOT NULL would test the alias.
-- Time buckets are UTC; occurred_at (event time), so late events land in the bucket they belong to.

CREATE TABLE IF NOT EXISTS events_minute
(
    brand_id        LowCardinality(String),
    minute          DateTime('UTC'),
    platform        LowCardinality(String),
    event_type      LowCardinality(String),
    sentiment_label LowCardinality(String),
    language        LowCardinality(String),
    is_complaint    Bool,
    is_brand        Bool,
    events          AggregateFunction(uniqExact, String),
    actors          AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (brand_id, minute, platform, event_type, sentiment_label, language, is_complaint, is_brand);

CREATE MATERIALIZED VIEW IF NOT EXISTS events_minute_mv TO events_minute AS
SELECT
    brand_id,
    toStartOfMinute(occurred_at) AS minute,
    platform,
    event_type,
    sentiment_label,
    language,
    is_complaint,
    is_brand,
    uniqExactState(event_id) AS events,
    uniqExactState(actor_id) AS actors
FROM events
GROUP BY brand_id, minute, platform, event_type, sentiment_label, language, is_complaint, is_brand;

INSERT INTO events_minute
SELECT
    brand_id,
    toStartOfMinute(occurred_at) AS minute,
    platform,
    event_type,
    sentiment_label,
    language,
    is_complaint,
    is_brand,
    uniqExactState(event_id) AS events,
    uniqExactState(actor_id) AS actors
FROM events
GROUP BY brand_id, minute, platform, event_type, sentiment_label, language, is_complaint, is_brand;

-- Audience engagement with each post in 5-minute buckets (aligned like share_velocity_5m), brand's
-- own activity excluded. max_cascade_depth is the deepest share seen in the bucket.
CREATE TABLE IF NOT EXISTS post_engagement_5m
(
    brand_id          LowCardinality(String),
    post_id           String,
    bucket            DateTime('UTC'),
    platform          LowCardinality(String),
    event_type        LowCardinality(String),
    sentiment_label   LowCardinality(String),
    events            AggregateFunction(uniqExact, String),
    actors            AggregateFunction(uniqExact, String),
    max_cascade_depth SimpleAggregateFunction(max, UInt16)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(bucket)
ORDER BY (brand_id, post_id, bucket, platform, event_type, sentiment_label);

CREATE MATERIALIZED VIEW IF NOT EXISTS post_engagement_5m_mv TO post_engagement_5m AS
SELECT
    brand_id,
    assumeNotNull(post_id) AS post_id,
    toStartOfFiveMinutes(occurred_at) AS bucket,
    platform,
    event_type,
    sentiment_label,
    uniqExactState(event_id) AS events,
    uniqExactState(actor_id) AS actors,
    max(ifNull(cascade_depth, 0)) AS max_cascade_depth
FROM (
    SELECT * FROM events
    WHERE post_id IS NOT NULL AND NOT is_brand AND event_type IN ('like', 'comment', 'reply', 'share', 'click')
)
GROUP BY brand_id, post_id, bucket, platform, event_type, sentiment_label;

INSERT INTO post_engagement_5m
SELECT
    brand_id,
    assumeNotNull(post_id) AS post_id,
    toStartOfFiveMinutes(occurred_at) AS bucket,
    platform,
    event_type,
    sentiment_label,
    uniqExactState(event_id) AS events,
    uniqExactState(actor_id) AS actors,
    max(ifNull(cascade_depth, 0)) AS max_cascade_depth
FROM (
    SELECT * FROM events
    WHERE post_id IS NOT NULL AND NOT is_brand AND event_type IN ('like', 'comment', 'reply', 'share', 'click')
)
GROUP BY brand_id, post_id, bucket, platform, event_type, sentiment_label;

-- Brand response times, by the hour of the answering reply. le_seconds is the histogram bucket (the
-- smallest bound >= response_seconds; 4294967295 = over a day). responses keeps (reply id, seconds)
-- pairs so means and quantiles stay exact; brand replies are a small share of all events.
CREATE TABLE IF NOT EXISTS response_times_hourly
(
    brand_id   LowCardinality(String),
    hour       DateTime('UTC'),
    platform   LowCardinality(String),
    le_seconds UInt32,
    replies    AggregateFunction(uniqExact, String),
    responses  AggregateFunction(groupUniqArray, Tuple(String, Float64)),
    min_seconds SimpleAggregateFunction(min, Float64),
    max_seconds SimpleAggregateFunction(max, Float64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (brand_id, hour, platform, le_seconds);

CREATE MATERIALIZED VIEW IF NOT EXISTS response_times_hourly_mv TO response_times_hourly AS
SELECT
    brand_id,
    toStartOfHour(occurred_at) AS hour,
    platform,
    toUInt32(arrayFirst(
        b -> assumeNotNull(response_seconds) <= b,
        [60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 4294967295]
    )) AS le_seconds,
    uniqExactState(event_id) AS replies,
    groupUniqArrayState((event_id, assumeNotNull(response_seconds))) AS responses,
    min(assumeNotNull(response_seconds)) AS min_seconds,
    max(assumeNotNull(response_seconds)) AS max_seconds
FROM events
WHERE response_seconds IS NOT NULL
GROUP BY brand_id, hour, platform, le_seconds;

INSERT INTO response_times_hourly
SELECT
    brand_id,
    toStartOfHour(occurred_at) AS hour,
    platform,
    toUInt32(arrayFirst(
        b -> assumeNotNull(response_seconds) <= b,
        [60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 4294967295]
    )) AS le_seconds,
    uniqExactState(event_id) AS replies,
    groupUniqArrayState((event_id, assumeNotNull(response_seconds))) AS responses,
    min(assumeNotNull(response_seconds)) AS min_seconds,
    max(assumeNotNull(response_seconds)) AS max_seconds
FROM events
WHERE response_seconds IS NOT NULL
GROUP BY brand_id, hour, platform, le_seconds;

-- Fan loss: unfollows per hour by the brand post they are attributed to ('' = no post of the brand on
-- that platform within ENGAGE_FAN_LOSS_WINDOW_SECONDS before the unfollow).
CREATE TABLE IF NOT EXISTS fan_loss_hourly
(
    brand_id    LowCardinality(String),
    post_id     String,
    hour        DateTime('UTC'),
    platform    LowCardinality(String),
    unfollows   AggregateFunction(uniqExact, String),
    unfollowers AggregateFunction(uniqExact, String),
    min_seconds_since_post SimpleAggregateFunction(min, Nullable(Float64)),
    max_seconds_since_post SimpleAggregateFunction(max, Nullable(Float64))
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (brand_id, post_id, hour, platform);

CREATE MATERIALIZED VIEW IF NOT EXISTS fan_loss_hourly_mv TO fan_loss_hourly AS
SELECT
    brand_id,
    ifNull(attributed_post_id, '') AS post_id,
    toStartOfHour(occurred_at) AS hour,
    platform,
    uniqExactState(event_id) AS unfollows,
    uniqExactState(actor_id) AS unfollowers,
    min(seconds_since_post) AS min_seconds_since_post,
    max(seconds_since_post) AS max_seconds_since_post
FROM events
WHERE event_type = 'unfollow'
GROUP BY brand_id, post_id, hour, platform;

INSERT INTO fan_loss_hourly
SELECT
    brand_id,
    ifNull(attributed_post_id, '') AS post_id,
    toStartOfHour(occurred_at) AS hour,
    platform,
    uniqExactState(event_id) AS unfollows,
    uniqExactState(actor_id) AS unfollowers,
    min(seconds_since_post) AS min_seconds_since_post,
    max(seconds_since_post) AS max_seconds_since_post
FROM events
WHERE event_type = 'unfollow'
GROUP BY brand_id, post_id, hour, platform;

-- Campaign funnel: audience events carrying a campaign (comments on campaign posts, clicks with UTM,
-- leads and purchases after a campaign click) per hour; distinct actors per step merge exactly across
-- hours and platforms.
CREATE TABLE IF NOT EXISTS campaign_funnel_hourly
(
    brand_id    LowCardinality(String),
    campaign_id String,
    event_type  LowCardinality(String),
    hour        DateTime('UTC'),
    platform    LowCardinality(String),
    events      AggregateFunction(uniqExact, String),
    actors      AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (brand_id, campaign_id, event_type, hour, platform);

CREATE MATERIALIZED VIEW IF NOT EXISTS campaign_funnel_hourly_mv TO campaign_funnel_hourly AS
SELECT
    brand_id,
    assumeNotNull(campaign_id) AS campaign_id,
    event_type,
    toStartOfHour(occurred_at) AS hour,
    platform,
    uniqExactState(event_id) AS events,
    uniqExactState(actor_id) AS actors
FROM (SELECT * FROM events WHERE campaign_id IS NOT NULL AND NOT is_brand)
GROUP BY brand_id, campaign_id, event_type, hour, platform;

INSERT INTO campaign_funnel_hourly
SELECT
    brand_id,
    assumeNotNull(campaign_id) AS campaign_id,
    event_type,
    toStartOfHour(occurred_at) AS hour,
    platform,
    uniqExactState(event_id) AS events,
    uniqExactState(actor_id) AS actors
FROM (SELECT * FROM events WHERE campaign_id IS NOT NULL AND NOT is_brand)
GROUP BY brand_id, campaign_id, event_type, hour, platform;

-- Conversions: first purchases (the events that carry touches_before_conversion) with their touches
-- and first-/last-touch campaigns ('' = no campaign touch), per hour.
CREATE TABLE IF NOT EXISTS conversions_hourly
(
    brand_id                  LowCardinality(String),
    hour                      DateTime('UTC'),
    platform                  LowCardinality(String),
    first_touch_campaign_id   String,
    last_touch_campaign_id    String,
    touches_before_conversion UInt32,
    conversions               AggregateFunction(uniqExact, String),
    customers                 AggregateFunction(uniqExact, String),
    min_seconds_to_convert    SimpleAggregateFunction(min, Float64),
    max_seconds_to_convert    SimpleAggregateFunction(max, Float64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (brand_id, hour, platform, first_touch_campaign_id, last_touch_campaign_id, touches_before_conversion);

CREATE MATERIALIZED VIEW IF NOT EXISTS conversions_hourly_mv TO conversions_hourly AS
SELECT
    brand_id,
    toStartOfHour(occurred_at) AS hour,
    platform,
    ifNull(first_touch_campaign_id, '') AS first_touch_campaign_id,
    ifNull(last_touch_campaign_id, '') AS last_touch_campaign_id,
    assumeNotNull(touches_before_conversion) AS touches_before_conversion,
    uniqExactState(event_id) AS conversions,
    uniqExactState(actor_id) AS customers,
    min(ifNull(seconds_to_convert, 0)) AS min_seconds_to_convert,
    max(ifNull(seconds_to_convert, 0)) AS max_seconds_to_convert
FROM (SELECT * FROM events WHERE event_type = 'purchase' AND touches_before_conversion IS NOT NULL)
GROUP BY brand_id, hour, platform, first_touch_campaign_id, last_touch_campaign_id, touches_before_conversion;

INSERT INTO conversions_hourly
SELECT
    brand_id,
    toStartOfHour(occurred_at) AS hour,
    platform,
    ifNull(first_touch_campaign_id, '') AS first_touch_campaign_id,
    ifNull(last_touch_campaign_id, '') AS last_touch_campaign_id,
    assumeNotNull(touches_before_conversion) AS touches_before_conversion,
    uniqExactState(event_id) AS conversions,
    uniqExactState(actor_id) AS customers,
    min(ifNull(seconds_to_convert, 0)) AS min_seconds_to_convert,
    max(ifNull(seconds_to_convert, 0)) AS max_seconds_to_convert
FROM (SELECT * FROM events WHERE event_type = 'purchase' AND touches_before_conversion IS NOT NULL)
GROUP BY brand_id, hour, platform, first_touch_campaign_id, last_touch_campaign_id, touches_before_conversion;
