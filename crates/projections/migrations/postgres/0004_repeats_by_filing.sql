-- The statistics find a range's repeat petitions set-wise: the petitions filed in the range and
-- the year before, read by filing time, each compared with the same person's one before it.
CREATE INDEX case_persons_by_filing ON case_persons (tenant, kind, filed_at);
