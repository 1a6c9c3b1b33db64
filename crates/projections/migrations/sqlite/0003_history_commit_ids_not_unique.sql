-- JetStream recognises a retried filing's commit id only within its duplicate window: a filing
-- retried later becomes a second case whose commit carries the same id. The history takes it (the
-- position stays unique) rather than stall the projection on it.
CREATE TABLE case_history_next (
    case_id     TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    tenant      TEXT    NOT NULL,
    position    INTEGER NOT NULL UNIQUE,
    commit_id   TEXT    NOT NULL,
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
INSERT INTO case_history_next SELECT
    case_id, version, tenant, position, commit_id, actor_id, actor_role, actor_unit, command,
    recorded_at, events, prev_hash, hash
FROM case_history;
DROP TABLE case_history;
ALTER TABLE case_history_next RENAME TO case_history;
CREATE INDEX case_history_by_commit ON case_history (commit_id);
