-- The per-day counters summed per month (`YYYY-MM`) and per year (`YYYY`): a statistics
-- request reads its whole years and months from these and only the days left over at either end
-- from daily_counts, so a range of years reads about as many rows as one year has slices. The
-- projector adds to all three in the same transaction; the audit recounts all three from the log.

CREATE TABLE monthly_counts (
    tenant    TEXT   NOT NULL,
    month     TEXT   NOT NULL,
    kind      TEXT   NOT NULL,
    community TEXT   NOT NULL,
    grid      TEXT   NOT NULL,
    category  TEXT   NOT NULL,
    unit      TEXT   NOT NULL,
    severity  TEXT   NOT NULL,
    metric    TEXT   NOT NULL,
    n         BIGINT NOT NULL,
    PRIMARY KEY (tenant, month, kind, community, grid, category, unit, severity, metric)
);
INSERT INTO monthly_counts (tenant, month, kind, community, grid, category, unit, severity, metric, n)
SELECT tenant, substr(day, 1, 7), kind, community, grid, category, unit, severity, metric, SUM(n)
FROM daily_counts
GROUP BY tenant, substr(day, 1, 7), kind, community, grid, category, unit, severity, metric;

CREATE TABLE yearly_counts (
    tenant    TEXT   NOT NULL,
    year      TEXT   NOT NULL,
    kind      TEXT   NOT NULL,
    community TEXT   NOT NULL,
    grid      TEXT   NOT NULL,
    category  TEXT   NOT NULL,
    unit      TEXT   NOT NULL,
    severity  TEXT   NOT NULL,
    metric    TEXT   NOT NULL,
    n         BIGINT NOT NULL,
    PRIMARY KEY (tenant, year, kind, community, grid, category, unit, severity, metric)
);
INSERT INTO yearly_counts (tenant, year, kind, community, grid, category, unit, severity, metric, n)
SELECT tenant, substr(day, 1, 4), kind, community, grid, category, unit, severity, metric, SUM(n)
FROM daily_counts
GROUP BY tenant, substr(day, 1, 4), kind, community, grid, category, unit, severity, metric;
