-- When the deadline watch next has something to record on a case: its current deadline, or a
-- limit of its kind's own (a livelihood request's unit that has not checked in). Cases projected
-- before this column existed are watched at their deadline, as they were.
ALTER TABLE cases ADD COLUMN watch_at BIGINT;
UPDATE cases SET watch_at = deadline WHERE NOT is_closed;
CREATE INDEX cases_to_watch ON cases (watch_at) WHERE NOT is_closed;

-- Each unit's dispatch on a livelihood request (一呼百应): when it was sent it, checked in or
-- returned it, whether late, how many parts it recorded, and the round's rating. The per-unit
-- figures and their drill-down read it; it is rewritten from the case's state at each commit.
CREATE TABLE case_dispatches (
    case_id       TEXT    NOT NULL,
    tenant        TEXT    NOT NULL,
    seq           BIGINT  NOT NULL,
    unit          TEXT    NOT NULL,
    lead          BOOLEAN NOT NULL,
    round         BIGINT  NOT NULL,
    dispatched_at BIGINT  NOT NULL,
    check_in_by   BIGINT  NOT NULL,
    checked_in_at BIGINT,
    late          BOOLEAN NOT NULL,
    missed        BOOLEAN NOT NULL,
    returned_at   BIGINT,
    replaced      BOOLEAN NOT NULL,
    parts         BIGINT  NOT NULL,
    rating        TEXT,
    PRIMARY KEY (case_id, seq)
);
CREATE INDEX case_dispatches_by_time ON case_dispatches (tenant, dispatched_at);

-- Each reply to a livelihood request, round by round, with when its round began (none: at
-- receipt, the case's filing): the hours to reply are read from it.
CREATE TABLE case_replies (
    case_id    TEXT   NOT NULL,
    tenant     TEXT   NOT NULL,
    seq        BIGINT NOT NULL,
    round      BIGINT NOT NULL,
    started_at BIGINT,
    replied_at BIGINT NOT NULL,
    PRIMARY KEY (case_id, seq)
);
CREATE INDEX case_replies_by_time ON case_replies (tenant, replied_at);
