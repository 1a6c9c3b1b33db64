-- The tenants' directories (communities, grids, units, categories), each projected from its own
-- stream of commits: the whole state, to fold the next commit onto, and one row per entry, so
-- that lists and details show names beside ids.
CREATE TABLE directories (
    tenant   TEXT PRIMARY KEY,
    version  BIGINT NOT NULL,
    position BIGINT NOT NULL,
    state    TEXT NOT NULL
);
CREATE TABLE directory_entries (
    tenant         TEXT NOT NULL,
    entry          TEXT NOT NULL,
    case_kind      TEXT NOT NULL,
    id             TEXT NOT NULL,
    name           TEXT NOT NULL,
    community      TEXT,
    unit_kind      TEXT,
    in_network     BOOLEAN,
    mediation_room TEXT,
    intake_unit    TEXT,
    retired        BOOLEAN NOT NULL,
    PRIMARY KEY (tenant, entry, case_kind, id)
);
