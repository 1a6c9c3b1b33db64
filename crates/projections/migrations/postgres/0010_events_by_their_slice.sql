-- Figures drill down by the slice an event happened under, and petitions are sliced by channel.
--
-- Each case's counted events keep the slice they were counted under (kind, community, grid,
-- category, lead unit, severity and now channel), so that the list behind a counter is exactly
-- the cases whose events it counts, even after the case moved to another unit, grid or severity.
-- A case's channel (a petition's 来信 / 来访 / 网上 / 来电, a livelihood request's) is a slice of
-- its own; a petition's flags (a collective visit and its people, a key person, an escalation
-- risk) are columns the lists filter on. The slice of an event was never stored, so everything
-- is projected again from the log: the log is the record, the read model follows it.
ALTER TABLE cases ADD COLUMN channel TEXT;
ALTER TABLE cases ADD COLUMN headcount BIGINT;
ALTER TABLE cases ADD COLUMN collective BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE cases ADD COLUMN key_person BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE cases ADD COLUMN escalation_risk TEXT;

DROP TABLE case_events;
CREATE TABLE case_events (
    tenant    TEXT   NOT NULL,
    case_id   TEXT   NOT NULL,
    day       TEXT   NOT NULL,
    kind      TEXT   NOT NULL,
    community TEXT   NOT NULL,
    grid      TEXT   NOT NULL,
    category  TEXT   NOT NULL,
    unit      TEXT   NOT NULL,
    severity  TEXT   NOT NULL,
    channel   TEXT   NOT NULL,
    metric    TEXT   NOT NULL,
    n         BIGINT NOT NULL,
    PRIMARY KEY (case_id, day, metric, kind, community, grid, category, unit, severity, channel)
);
CREATE INDEX case_events_by_metric ON case_events (tenant, metric, day);
-- The counters of those who reach part of the tenant are summed from here, by day.
CREATE INDEX case_events_by_day ON case_events (tenant, day);

DROP TABLE daily_counts;
CREATE TABLE daily_counts (
    tenant    TEXT   NOT NULL,
    day       TEXT   NOT NULL,
    kind      TEXT   NOT NULL,
    community TEXT   NOT NULL,
    grid      TEXT   NOT NULL,
    category  TEXT   NOT NULL,
    unit      TEXT   NOT NULL,
    severity  TEXT   NOT NULL,
    channel   TEXT   NOT NULL,
    metric    TEXT   NOT NULL,
    n         BIGINT NOT NULL,
    PRIMARY KEY (tenant, day, kind, community, grid, category, unit, severity, channel, metric)
);

DROP TABLE monthly_counts;
CREATE TABLE monthly_counts (
    tenant    TEXT   NOT NULL,
    month     TEXT   NOT NULL,
    kind      TEXT   NOT NULL,
    community TEXT   NOT NULL,
    grid      TEXT   NOT NULL,
    category  TEXT   NOT NULL,
    unit      TEXT   NOT NULL,
    severity  TEXT   NOT NULL,
    channel   TEXT   NOT NULL,
    metric    TEXT   NOT NULL,
    n         BIGINT NOT NULL,
    PRIMARY KEY (tenant, month, kind, community, grid, category, unit, severity, channel, metric)
);

DROP TABLE yearly_counts;
CREATE TABLE yearly_counts (
    tenant    TEXT   NOT NULL,
    year      TEXT   NOT NULL,
    kind      TEXT   NOT NULL,
    community TEXT   NOT NULL,
    grid      TEXT   NOT NULL,
    category  TEXT   NOT NULL,
    unit      TEXT   NOT NULL,
    severity  TEXT   NOT NULL,
    channel   TEXT   NOT NULL,
    metric    TEXT   NOT NULL,
    n         BIGINT NOT NULL,
    PRIMARY KEY (tenant, year, kind, community, grid, category, unit, severity, channel, metric)
);

-- The statistics' cohort and closures read from their indexes alone (an index-only scan): with
-- the columns the risk desk's, the petitions' and the disputes' figures count.
DROP INDEX cases_by_filed;
CREATE INDEX cases_by_filed ON cases (tenant, filed_at)
    INCLUDE (kind, community, grid, category, lead_unit, severity, channel, status, is_closed,
        deadline, collective, headcount, key_person, escalation_risk, case_id);
DROP INDEX cases_by_closed;
CREATE INDEX cases_by_closed ON cases (tenant, closed_at)
    INCLUDE (filed_at, kind, community, grid, category, lead_unit, severity, channel, status,
        outcome, closed_on_time);

DELETE FROM cases;
DELETE FROM case_units;
DELETE FROM case_history;
DELETE FROM case_links;
DELETE FROM case_persons;
DELETE FROM case_numbers;
DELETE FROM case_dispatches;
DELETE FROM case_replies;
DELETE FROM directories;
DELETE FROM directory_entries;
DELETE FROM checkpoints;
