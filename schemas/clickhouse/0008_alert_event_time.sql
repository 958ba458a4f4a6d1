-- Alerts in event time (alert.avsc version 2): the event time of each state change, the episode's
-- fire time, the wall-clock processing time, and what a person paged needs (post, description, posts).
--
-- Rows loaded before this migration get the best event time they have: window_end is where the
-- detector's window ended when it fired or resolved (event time), and fired_at was the wall clock.
ALTER TABLE alerts
    ADD COLUMN IF NOT EXISTS event_time Nullable(DateTime64(3, 'UTC')) DEFAULT window_end,
    ADD COLUMN IF NOT EXISTS fired_event_time Nullable(DateTime64(3, 'UTC')) DEFAULT window_end,
    ADD COLUMN IF NOT EXISTS processed_at Nullable(DateTime64(3, 'UTC')) DEFAULT fired_at,
    ADD COLUMN IF NOT EXISTS post_id Nullable(String),
    ADD COLUMN IF NOT EXISTS description String,
    ADD COLUMN IF NOT EXISTS top_post_ids Array(String);
