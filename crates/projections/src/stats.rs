//! The supervisors' figures (docs/figures.md) for a range of tenant-local days, optionally
//! narrowed to a slice and grouped by one dimension. Three sources, all in the read model and
//! all reproduced by the audit: the cohort of cases filed in the range (`cases.filed_at`), the
//! cases closed in the range (`cases.closed_at`), and the per-day counters of events
//! (`daily_counts`, whose cases are in `case_events`).

use std::collections::BTreeMap;

use docket_domain::Reach;
use jiff::Timestamp;
use jiff::civil::Date;

use crate::{ProjectionError, ReadModel};

/// A dimension figures are sliced and grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    Kind,
    Community,
    Grid,
    Category,
    Unit,
    Severity,
}

impl Dimension {
    pub const ALL: [Dimension; 6] = [
        Dimension::Kind,
        Dimension::Community,
        Dimension::Grid,
        Dimension::Category,
        Dimension::Unit,
        Dimension::Severity,
    ];

    /// The name in queries (`by=unit`, `unit=…`).
    pub fn name(self) -> &'static str {
        match self {
            Dimension::Kind => "kind",
            Dimension::Community => "community",
            Dimension::Grid => "grid",
            Dimension::Category => "category",
            Dimension::Unit => "unit",
            Dimension::Severity => "severity",
        }
    }

    /// The column of `cases` (empty text for none).
    pub(crate) fn case_column(self) -> &'static str {
        match self {
            Dimension::Kind => "kind",
            Dimension::Community => "community",
            Dimension::Grid => "COALESCE(grid, '')",
            Dimension::Category => "category",
            Dimension::Unit => "COALESCE(lead_unit, '')",
            Dimension::Severity => "COALESCE(severity, '')",
        }
    }

    /// The column of `daily_counts` (empty text for none).
    pub(crate) fn count_column(self) -> &'static str {
        self.name()
    }
}

impl std::str::FromStr for Dimension {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Dimension::ALL
            .into_iter()
            .find(|d| d.name() == s)
            .ok_or_else(|| {
                format!("{s:?}: dimensions are kind, community, grid, category, unit and severity")
            })
    }
}

/// What to count.
#[derive(Debug, Clone)]
pub struct StatsQuery {
    pub tenant: String,
    /// First and last tenant-local day, inclusive.
    pub from: Date,
    pub to: Date,
    /// The moment "still open" and "overdue" are judged at.
    pub now: Timestamp,
    /// Only cases within this reach (a unit reaches the cases it leads, here).
    pub reach: Reach,
    /// Only this slice: (dimension, value), each at most once.
    pub slice: Vec<(Dimension, String)>,
    /// One group per value of this dimension; one group in all without it.
    pub by: Option<Dimension>,
}

/// The raw counts of one group, from which the figures are made.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupCounts {
    /// Cases filed in the range.
    pub opened: i64,
    /// Of those, closed by now.
    pub opened_closed: i64,
    /// Of those, open and past their deadline now.
    pub opened_overdue: i64,
    pub opened_petitions: i64,
    pub opened_repeats: i64,
    pub opened_hazards: i64,
    /// Cases closed in the range.
    pub closed: i64,
    pub closed_on_time: i64,
    pub closed_resolved: i64,
    pub closed_disputes: i64,
    pub closed_disputes_resolved: i64,
    pub closed_hazards_resolved: i64,
    /// Days from filing to closing of the cases closed in the range: the median and the 90th
    /// percentile (nearest rank), none when nothing closed.
    pub median_days_to_close: Option<f64>,
    pub p90_days_to_close: Option<f64>,
    /// The per-day counters summed over the range, by metric.
    pub counters: BTreeMap<String, i64>,
}

impl ReadModel {
    /// The counts behind the figures, per group (keyed by the group's value, `""` when not
    /// grouped), in key order.
    pub async fn stats(
        &self,
        q: &StatsQuery,
    ) -> Result<BTreeMap<String, GroupCounts>, ProjectionError> {
        let local = jiff::tz::TimeZone::fixed(jiff::tz::offset(8));
        let start = |d: Date| -> Result<Timestamp, ProjectionError> {
            d.to_zoned_datetime(local.clone())
                .map(|z| z.timestamp())
                .map_err(|e| ProjectionError::Io(e.to_string()))
        };
        let from = start(q.from)?;
        let to = start(
            q.to.tomorrow()
                .map_err(|e| ProjectionError::Io(e.to_string()))?,
        )?;
        let mut groups: BTreeMap<String, GroupCounts> = BTreeMap::new();
        // Three sources, asked at once on separate connections.
        let (cohort, closures, counters) = match self.db() {
            crate::Db::Sqlite(pool) => tokio::try_join!(
                crate::store::sqlite::stats_cohort(pool, q, from, to),
                crate::store::sqlite::stats_closures(pool, q, from, to),
                crate::store::sqlite::stats_counters(pool, q),
            )?,
            crate::Db::Postgres(pool) => tokio::try_join!(
                crate::store::postgres::stats_cohort(pool, q, from, to),
                crate::store::postgres::stats_closures(pool, q, from, to),
                crate::store::postgres::stats_counters(pool, q),
            )?,
        };
        for (g, counts) in cohort {
            let group = groups.entry(g).or_default();
            [
                group.opened,
                group.opened_closed,
                group.opened_overdue,
                group.opened_petitions,
                group.opened_repeats,
                group.opened_hazards,
            ] = counts;
        }
        for c in closures.counts {
            let group = groups.entry(c.group).or_default();
            [
                group.closed,
                group.closed_on_time,
                group.closed_resolved,
                group.closed_disputes,
                group.closed_disputes_resolved,
                group.closed_hazards_resolved,
            ] = c.counts;
        }
        for (g, percent, micros) in closures.percentiles {
            let days = Some(micros as f64 / MICROS_PER_DAY);
            let group = groups.entry(g).or_default();
            if percent == MEDIAN {
                group.median_days_to_close = days;
            } else if percent == P90 {
                group.p90_days_to_close = days;
            }
        }
        for (g, metric, n) in counters {
            *groups
                .entry(g)
                .or_default()
                .counters
                .entry(metric)
                .or_default() += n;
        }
        Ok(groups)
    }
}

const MICROS_PER_DAY: f64 = 86_400_000_000.0;

/// The percentiles of days to close the figures report.
pub const MEDIAN: u64 = 50;
pub const P90: u64 = 90;

/// Of the cases closed in the range, per group: closed, on time, resolved, disputes, disputes
/// resolved, hazards resolved.
#[derive(Debug)]
pub(crate) struct ClosureCounts {
    pub(crate) group: String,
    pub(crate) counts: [i64; 6],
}

/// What the database answers of the cases closed in the range: counts per group, and per group
/// and percentile (MEDIAN, P90) the microseconds from filing to closing at that rank.
#[derive(Debug, Default)]
pub(crate) struct Closures {
    pub(crate) counts: Vec<ClosureCounts>,
    pub(crate) percentiles: Vec<(String, u64, i64)>,
}

/// The 1-based rank of the `percent`-th percentile of `n` values by the nearest-rank method:
/// ceil(percent * n / 100), at least 1. Integer arithmetic, so that it is the rank the database
/// picks (`store::nearest_rank_sql`) for every n.
pub(crate) fn nearest_rank(n: u64, percent: u64) -> u64 {
    (percent * n).div_ceil(100).max(1)
}

/// The `percent`-th percentile of ascending values, by the nearest-rank method.
pub fn percentile(sorted: &[f64], percent: u64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = nearest_rank(sorted.len() as u64, percent) as usize;
    Some(sorted[rank.min(sorted.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_rank_is_exact_where_floating_point_is_not() {
        // 0.9 * 70 is 63.00000000000001 in floating point, whose ceiling would be 64.
        assert_eq!(nearest_rank(70, P90), 63);
        assert_eq!(nearest_rank(71, P90), 64);
        assert_eq!(nearest_rank(1, MEDIAN), 1);
        assert_eq!(nearest_rank(4, MEDIAN), 2);
        assert_eq!(nearest_rank(5, MEDIAN), 3);
        let days: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&days, MEDIAN), Some(5.0));
        assert_eq!(percentile(&days, P90), Some(9.0));
        assert_eq!(percentile(&[], MEDIAN), None);
    }
}
