-- The statistics find a range's repeat petitions set-wise: the petitioners filed in the range
-- joined with those of the year before, both read by filing time.
CREATE INDEX case_persons_by_filing ON case_persons (tenant, kind, filed_at);
