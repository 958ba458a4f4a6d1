-- Why an event was flagged as a complaint (EnrichedEvent v3, field complaint_reasons): up to three cue
-- phrases, words or word pairs of the message, or 'negative tone', strongest first; empty for events
-- that are not complaints and for rows loaded before this column existed (the default), so old rows
-- read as "no reasons recorded". The terms are short fragments of the message text, so the column
-- follows the text's retention (reset to [] 180 days after loading, like events.text).
ALTER TABLE events
    ADD COLUMN IF NOT EXISTS complaint_reasons Array(String) DEFAULT [] AFTER is_complaint;

ALTER TABLE events MODIFY COLUMN complaint_reasons Array(String) DEFAULT [] TTL toDateTime(loaded_at) + INTERVAL 180 DAY;
