-- The read model in Postgres: the same tables as the SQLite one (see migrations/sqlite).

CREATE TABLE log_source (id BIGINT PRIMARY KEY CHECK (id = 1), log TEXT NOT NULL);
CREATE TABLE checkpoints (projection TEXT PRIMARY KEY, position BIGINT NOT NULL);
CREATE TABLE cases (
    case_id        TEXT    PRIMARY KEY,
    tenant         TEXT    NOT NULL,
    kind           TEXT    NOT NULL,
    case_number    TEXT    NOT NULL,
    status         TEXT    NOT NULL,
    is_closed      BOOLEAN NOT NULL,
    community      TEXT    NOT NULL,
    grid           TEXT,
    title          TEXT    NOT NULL,
    description    TEXT    NOT NULL,
    category       TEXT    NOT NULL,
    severity       TEXT,
    lead_unit      TEXT,
    assignee       TEXT,
    filed_by       TEXT    NOT NULL,
    version        BIGINT  NOT NULL,
    position       BIGINT  NOT NULL,
    deadline       BIGINT,
    filed_at       BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL,
    closed_at      BIGINT,
    outcome        TEXT,
    closed_on_time BOOLEAN,
    -- The folded case state as JSON: what the next commit of the case evolves.
    state          TEXT    NOT NULL,
    UNIQUE (tenant, case_number)
);
CREATE INDEX cases_by_tenant ON cases (tenant, case_id DESC);
CREATE INDEX cases_by_status ON cases (tenant, status, case_id DESC);
CREATE INDEX cases_by_grid ON cases (tenant, community, grid, case_id DESC);
CREATE INDEX cases_by_kind ON cases (tenant, kind, case_id DESC);
CREATE INDEX cases_by_assignee ON cases (tenant, assignee, case_id DESC);
CREATE INDEX cases_by_filer ON cases (tenant, filed_by, case_id DESC);
CREATE INDEX cases_open_by_deadline ON cases (tenant, is_closed, deadline);

-- The units working each case: its lead unit (主办) and assisting units (协办).
CREATE TABLE case_units (
    case_id TEXT NOT NULL,
    tenant  TEXT NOT NULL,
    unit    TEXT NOT NULL,
    part    TEXT NOT NULL,
    PRIMARY KEY (case_id, unit)
);
CREATE INDEX case_units_by_unit ON case_units (tenant, unit, case_id DESC);

CREATE TABLE case_history (
    case_id     TEXT   NOT NULL,
    version     BIGINT NOT NULL,
    tenant      TEXT   NOT NULL,
    position    BIGINT NOT NULL UNIQUE,
    commit_id   TEXT   NOT NULL,
    actor_id    TEXT   NOT NULL,
    actor_role  TEXT   NOT NULL,
    actor_unit  TEXT,
    command     TEXT   NOT NULL,
    recorded_at TEXT   NOT NULL,
    events      TEXT   NOT NULL,
    prev_hash   TEXT   NOT NULL,
    hash        TEXT   NOT NULL,
    PRIMARY KEY (case_id, version)
);
CREATE INDEX case_history_by_commit ON case_history (commit_id);

CREATE TABLE case_links (
    tenant   TEXT   NOT NULL,
    case_id  TEXT   NOT NULL,
    other_id TEXT   NOT NULL,
    relation TEXT   NOT NULL,
    position BIGINT NOT NULL,
    PRIMARY KEY (case_id, other_id, relation)
);

CREATE TABLE case_numbers (
    tenant TEXT   NOT NULL,
    kind   TEXT   NOT NULL,
    year   BIGINT NOT NULL,
    last   BIGINT NOT NULL,
    PRIMARY KEY (tenant, kind, year)
);

-- Per tenant-local day and slice, how many times something happened: opened, closed, closed on
-- time, resolved, extensions, supervisions, reviews, ... Missing slices are ''.
CREATE TABLE daily_counts (
    tenant    TEXT   NOT NULL,
    day       TEXT   NOT NULL,
    kind      TEXT   NOT NULL,
    community TEXT   NOT NULL,
    grid      TEXT   NOT NULL,
    category  TEXT   NOT NULL,
    unit      TEXT   NOT NULL,
    severity  TEXT   NOT NULL,
    metric    TEXT   NOT NULL,
    n         BIGINT NOT NULL,
    PRIMARY KEY (tenant, day, kind, community, grid, category, unit, severity, metric)
);
