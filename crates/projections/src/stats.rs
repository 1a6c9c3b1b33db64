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
    /// Days from filing to closing of each case closed in the range, ascending.
    pub days_to_close: Vec<f64>,
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
        let (cohort, closures, counters) = match self.db() {
            crate::Db::Sqlite(pool) => (
                crate::store::sqlite::stats_cohort(pool, q, from, to).await?,
                crate::store::sqlite::stats_closures(pool, q, from, to).await?,
                crate::store::sqlite::stats_counters(pool, q).await?,
            ),
            crate::Db::Postgres(pool) => (
                crate::store::postgres::stats_cohort(pool, q, from, to).await?,
                crate::store::postgres::stats_closures(pool, q, from, to).await?,
                crate::store::postgres::stats_counters(pool, q).await?,
            ),
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
        for c in closures {
            let group = groups.entry(c.group).or_default();
            group.closed += 1;
            group.closed_on_time += i64::from(c.on_time);
            let resolved = c.outcome.as_deref() == Some("resolved");
            group.closed_resolved += i64::from(resolved);
            if c.kind == "dispute" {
                group.closed_disputes += 1;
                group.closed_disputes_resolved += i64::from(resolved);
            }
            if c.kind == "hazard" {
                group.closed_hazards_resolved += i64::from(resolved);
            }
            group.days_to_close.push(c.days);
        }
        for (g, metric, n) in counters {
            *groups
                .entry(g)
                .or_default()
                .counters
                .entry(metric)
                .or_default() += n;
        }
        for group in groups.values_mut() {
            group.days_to_close.sort_by(f64::total_cmp);
        }
        Ok(groups)
    }
}

/// One case closed in the range.
#[derive(Debug)]
pub(crate) struct Closure {
    pub(crate) group: String,
    pub(crate) kind: String,
    pub(crate) on_time: bool,
    pub(crate) outcome: Option<String>,
    pub(crate) days: f64,
}

/// The `p`-th percentile (0 to 1) of ascending values, by the nearest-rank method.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len() as f64).ceil().max(1.0) as usize;
    Some(sorted[rank.min(sorted.len()) - 1])
}
