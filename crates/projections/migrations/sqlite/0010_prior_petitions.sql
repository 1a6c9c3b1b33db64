-- Beside each petitioner, when the same person's petition before this one (by filing time, then
-- case id) was filed: a petition repeats (重复信访) when that is within the year before it. The
-- projector keeps it as petitions arrive; here it is worked out for those already projected.
ALTER TABLE case_persons ADD COLUMN prior_filed_at BIGINT;
UPDATE case_persons SET prior_filed_at = ranked.prior
FROM (SELECT case_id, person,
        LAG(filed_at) OVER (PARTITION BY tenant, person ORDER BY filed_at, case_id) AS prior
    FROM case_persons WHERE kind = 'petition') ranked
WHERE case_persons.case_id = ranked.case_id AND case_persons.person = ranked.person
    AND ranked.prior IS NOT NULL;
