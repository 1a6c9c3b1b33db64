-- What the deadline watch finds: how many deadlines a case has missed, and whether a petition is
-- backlog (积案); the supervisors' worklist filters on both.
ALTER TABLE cases ADD COLUMN missed BIGINT NOT NULL DEFAULT 0;
ALTER TABLE cases ADD COLUMN backlog BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX cases_missed_open ON cases (tenant, is_closed, missed, case_id DESC);

-- The cases behind each per-day counter: a figure drills down to exactly the cases its events
-- happened in. Indexes for the figures over filing and closing days.
CREATE TABLE case_events (
    tenant  TEXT   NOT NULL,
    case_id TEXT   NOT NULL,
    day     TEXT   NOT NULL,
    metric  TEXT   NOT NULL,
    n       BIGINT NOT NULL,
    PRIMARY KEY (case_id, day, metric)
);
CREATE INDEX case_events_by_metric ON case_events (tenant, metric, day);
CREATE INDEX cases_by_filed ON cases (tenant, filed_at);
CREATE INDEX cases_by_closed ON cases (tenant, closed_at);

-- Person files (一人一档): every case that names a person (a dispute's party, a petitioner), by
-- the person's pseudonymous id (the same id for the same resident ID number; the number itself is
-- never stored). Older models lack these rows, so everything is projected again from the log.
CREATE TABLE case_persons (
    tenant   TEXT    NOT NULL,
    person   TEXT    NOT NULL,
    case_id  TEXT    NOT NULL,
    kind     TEXT    NOT NULL,
    -- applicant | respondent (a dispute's sides) | petitioner
    part     TEXT    NOT NULL,
    filed_at BIGINT  NOT NULL,
    position BIGINT  NOT NULL,
    PRIMARY KEY (case_id, person)
);
CREATE INDEX case_persons_by_person ON case_persons (tenant, person, kind, filed_at);

DELETE FROM cases;
DELETE FROM case_units;
DELETE FROM case_history;
DELETE FROM case_links;
DELETE FROM case_numbers;
DELETE FROM daily_counts;
DELETE FROM checkpoints;
