-- Indexes for the filters supervisors and worklists use most, in list order.
CREATE INDEX cases_by_severity ON cases (tenant, severity, case_id DESC);
CREATE INDEX cases_by_category ON cases (tenant, kind, category, case_id DESC);

-- Text search over title and description by substring, which suits Chinese (no spaces between
-- words): trigram GIN index (pg_trgm, in Postgres' contrib). Patterns of three or more
-- characters use it; shorter ones scan.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX cases_text ON cases USING gin ((title || ' ' || description) gin_trgm_ops);
