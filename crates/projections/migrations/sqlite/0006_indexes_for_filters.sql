-- Indexes for the filters supervisors and worklists use most, in list order.
CREATE INDEX cases_by_severity ON cases (tenant, severity, case_id DESC);
CREATE INDEX cases_by_category ON cases (tenant, kind, category, case_id DESC);
