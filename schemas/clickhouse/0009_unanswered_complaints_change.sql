-- What an event did to its brand's backlog of unanswered complaints (EnrichedEvent v4, field
-- unanswered_complaints_change): +1 for a customer complaint not answered yet, -1 for the brand reply
-- that answered an open complaint, 0 otherwise and for rows loaded before this column existed. Summed
-- per brand over event time it is the backlog at that time (sum over all rows: the backlog now).
ALTER TABLE events
    ADD COLUMN IF NOT EXISTS unanswered_complaints_change Int8 DEFAULT 0 AFTER response_seconds;
