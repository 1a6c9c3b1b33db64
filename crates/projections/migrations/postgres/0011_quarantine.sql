-- Commits the projector could not apply (an event or a stored state this build cannot read, a
-- version out of order): each is kept here with its position and why, and so is every later
-- commit of the same case (or directory), while the rest of the log goes on projecting. A case
-- with a row here refuses commands until `docket repair` applies its commits. A filing keeps
-- the case number it drew, so that a repaired case has the number it would have had.
CREATE TABLE quarantine (
    position    BIGINT PRIMARY KEY,
    tenant      TEXT   NOT NULL,
    case_id     TEXT   NOT NULL,
    version     BIGINT NOT NULL,
    reason      TEXT   NOT NULL,
    case_number TEXT
);
CREATE INDEX quarantine_by_case ON quarantine (case_id, position);
CREATE INDEX quarantine_by_tenant ON quarantine (tenant, position);
