-- Links between cases, in both directions: a case marked as a duplicate of another shows the
-- link on both, and so does a "related" link, though only one case's history records it.
CREATE TABLE case_links (
    tenant   TEXT NOT NULL,
    case_id  TEXT NOT NULL,
    other_id TEXT NOT NULL,
    -- related | duplicate-of | duplicated-by
    relation TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (case_id, other_id, relation)
);
