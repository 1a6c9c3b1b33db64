-- When the deadline watch next has something to record on a case: its current deadline, or a
-- limit of its kind's own (a livelihood request's unit that has not checked in). Cases projected
-- before this column existed are watched at their deadline, as they were.
ALTER TABLE cases ADD COLUMN watch_at BIGINT;
UPDATE cases SET watch_at = deadline WHERE NOT is_closed;
CREATE INDEX cases_to_watch ON cases (watch_at) WHERE NOT is_closed;
