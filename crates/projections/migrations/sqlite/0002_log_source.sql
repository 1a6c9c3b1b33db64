-- Which log this read model was built from: positions mean nothing in another log.
CREATE TABLE log_source (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    log TEXT    NOT NULL
);
