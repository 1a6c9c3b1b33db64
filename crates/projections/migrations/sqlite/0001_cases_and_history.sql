-- The case list and detail, one row per case, as of the projector's checkpoint.
CREATE TABLE cases (
    case_id     TEXT    PRIMARY KEY,
    tenant      TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    case_number TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    is_closed   INTEGER NOT NULL,
    community   TEXT    NOT NULL,
    grid        TEXT,
    title       TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    position    INTEGER NOT NULL,
    deadline    TEXT,
    filed_at    TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL,
    closed_at   TEXT,
    -- The folded case state as JSON: what the next commit of the case evolves.
    state       TEXT    NOT NULL,
    UNIQUE (tenant, case_number)
);
CREATE INDEX cases_by_tenant ON cases (tenant, case_id DESC);
CREATE INDEX cases_by_status ON cases (tenant, status, case_id DESC);
CREATE INDEX cases_by_grid ON cases (tenant, community, grid, case_id DESC);

-- The audit trail: one row per commit, with its chain hashes.
CREATE TABLE case_history (
    case_id     TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    tenant      TEXT    NOT NULL,
    position    INTEGER NOT NULL UNIQUE,
    commit_id   TEXT    NOT NULL UNIQUE,
    actor_id    TEXT    NOT NULL,
    actor_role  TEXT    NOT NULL,
    actor_unit  TEXT,
    command     TEXT    NOT NULL,
    recorded_at TEXT    NOT NULL,
    events      TEXT    NOT NULL,
    prev_hash   TEXT    NOT NULL,
    hash        TEXT    NOT NULL,
    PRIMARY KEY (case_id, version)
);

-- Case numbers per tenant, kind and filing year, handed out in global log order: gap-free and the
-- same on every rebuild.
CREATE TABLE case_numbers (
    tenant TEXT    NOT NULL,
    kind   TEXT    NOT NULL,
    year   INTEGER NOT NULL,
    last   INTEGER NOT NULL,
    PRIMARY KEY (tenant, kind, year)
);

-- How far each projection has applied the log; advanced in the same transaction as its rows.
CREATE TABLE checkpoints (
    projection TEXT    PRIMARY KEY,
    position   INTEGER NOT NULL
);
