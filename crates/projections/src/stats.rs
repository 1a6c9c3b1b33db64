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
    /// How a petition or a livelihood request came in (来信, 来访, 网上, 来电; the hotline…).
    Channel,
}

impl Dimension {
    pub const ALL: [Dimension; 7] = [
        Dimension::Kind,
        Dimension::Community,
        Dimension::Grid,
        Dimension::Category,
        Dimension::Unit,
        Dimension::Severity,
        Dimension::Channel,
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
            Dimension::Channel => "channel",
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
            Dimension::Channel => "COALESCE(channel, '')",
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
                format!(
                    "{s:?}: dimensions are kind, community, grid, category, unit, severity and \
                     channel"
                )
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
    /// Risk events identified in the range, and of those, now: under control, struck off,
    /// escalated.
    pub opened_risks: i64,
    pub risks_under_control: i64,
    pub risks_struck_off: i64,
    pub risks_escalated: i64,
    /// Livelihood requests received in the range, and of those, the ones that went to two or
    /// more units (一呼百应).
    pub opened_requests: i64,
    pub requests_coordinated: i64,
    /// Of the petitions filed in the range: collective visits (集体访) and the people who came
    /// in them, key persons' (重点人员), those at risk of escalation (越级, 赴京).
    pub collective_visits: i64,
    pub collective_visitors: i64,
    pub key_person_petitions: i64,
    pub escalation_risk_petitions: i64,
    /// Risk events under control now, whatever their filing: with their next review due by
    /// the range's end, and past it now.
    pub risk_reviews_due: i64,
    pub risk_reviews_overdue: i64,
    /// Cases closed in the range.
    pub closed: i64,
    pub closed_on_time: i64,
    pub closed_resolved: i64,
    pub closed_disputes: i64,
    pub closed_disputes_resolved: i64,
    pub closed_hazards_resolved: i64,
    /// Disputes closed in the range that were mediated (accepted, and ended by a performed
    /// agreement or a failure referred on).
    pub closed_disputes_mediated: i64,
    /// Cases closed in the range as duplicates of another.
    pub closed_duplicates: i64,
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
        let (from, to) = range(self.policies(), q)?;
        let mut groups: BTreeMap<String, GroupCounts> = BTreeMap::new();
        // Four sources, asked at once on separate connections.
        let (cohort, closures, counters, reviews) = match self.db() {
            crate::Db::Sqlite(pool) => tokio::try_join!(
                crate::store::sqlite::stats_cohort(pool, q, from, to),
                crate::store::sqlite::stats_closures(pool, q, from, to),
                crate::store::sqlite::stats_counters(pool, q),
                crate::store::sqlite::risk_reviews(pool, q, to),
            )?,
            crate::Db::Postgres(pool) => tokio::try_join!(
                crate::store::postgres::stats_cohort(pool, q, from, to),
                crate::store::postgres::stats_closures(pool, q, from, to),
                crate::store::postgres::stats_counters(pool, q),
                crate::store::postgres::risk_reviews(pool, q, to),
            )?,
        };
        for (g, due, overdue) in reviews {
            let group = groups.entry(g).or_default();
            group.risk_reviews_due = due;
            group.risk_reviews_overdue = overdue;
        }
        for (g, counts) in cohort {
            let group = groups.entry(g).or_default();
            [
                group.opened,
                group.opened_closed,
                group.opened_overdue,
                group.opened_petitions,
                group.opened_repeats,
                group.opened_hazards,
                group.opened_risks,
                group.risks_under_control,
                group.risks_struck_off,
                group.risks_escalated,
                group.opened_requests,
                group.requests_coordinated,
                group.collective_visits,
                group.collective_visitors,
                group.key_person_petitions,
                group.escalation_risk_petitions,
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
                group.closed_disputes_mediated,
                group.closed_duplicates,
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

/// One unit's dispatch on a livelihood request, as the network's figures read it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DispatchRecord {
    /// The group of its case (empty when not grouped).
    #[serde(skip)]
    pub group: String,
    pub case_id: uuid::Uuid,
    pub number: String,
    pub unit: String,
    pub lead: bool,
    pub round: i64,
    pub dispatched_at: Timestamp,
    pub check_in_by: Timestamp,
    pub checked_in_at: Option<Timestamp>,
    /// Checked in after its limit, or found not checked in by it.
    pub late: bool,
    /// The deadline watch (or a later command) recorded the check-in missed.
    pub missed: bool,
    pub returned_at: Option<Timestamp>,
    /// Left out by a redispatch or a redo.
    pub replaced: bool,
    pub parts: i64,
    pub rating: Option<String>,
}

impl DispatchRecord {
    /// Checked in within its limit.
    pub fn on_time(&self) -> bool {
        self.checked_in_at.is_some() && !self.late
    }

    pub fn returned(&self) -> bool {
        self.returned_at.is_some()
    }

    /// Minutes from dispatch to check-in, once checked in.
    pub fn response_minutes(&self) -> Option<f64> {
        self.checked_in_at
            .map(|at| at.duration_since(self.dispatched_at).as_secs_f64() / 60.0)
    }

    pub fn dissatisfied(&self) -> bool {
        self.rating.as_deref() == Some("dissatisfied")
    }
}

/// The coordinated response network's counts over a set of dispatches: the hotline systems'
/// response rate is `checked_in_on_time / dispatched`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct NetworkCounts {
    pub dispatched: i64,
    pub returned: i64,
    pub checked_in_on_time: i64,
    pub late: i64,
    pub parts: i64,
    pub dissatisfied: i64,
    pub median_minutes_to_check_in: Option<f64>,
    pub p90_minutes_to_check_in: Option<f64>,
}

impl NetworkCounts {
    pub fn of<'a>(dispatches: impl IntoIterator<Item = &'a DispatchRecord>) -> NetworkCounts {
        let mut n = NetworkCounts::default();
        let mut minutes = Vec::new();
        for d in dispatches {
            n.dispatched += 1;
            n.returned += i64::from(d.returned());
            n.checked_in_on_time += i64::from(d.on_time());
            n.late += i64::from(d.late);
            n.parts += d.parts;
            n.dissatisfied += i64::from(d.dissatisfied());
            minutes.extend(d.response_minutes());
        }
        minutes.sort_by(f64::total_cmp);
        n.median_minutes_to_check_in = percentile(&minutes, MEDIAN);
        n.p90_minutes_to_check_in = percentile(&minutes, P90);
        n
    }

    /// Dispatches checked in within their limit / dispatches.
    pub fn response_rate(&self) -> Option<f64> {
        (self.dispatched > 0).then(|| self.checked_in_on_time as f64 / self.dispatched as f64)
    }
}

/// One row of the per-unit table: the unit's dispatches in the range.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UnitRow {
    pub unit: String,
    #[serde(flatten)]
    pub counts: NetworkCounts,
}

/// The per-unit table, one row per unit dispatched, in unit order.
pub fn by_unit(dispatches: &[DispatchRecord]) -> Vec<UnitRow> {
    let mut units: BTreeMap<&str, Vec<&DispatchRecord>> = BTreeMap::new();
    for d in dispatches {
        units.entry(&d.unit).or_default().push(d);
    }
    units
        .into_iter()
        .map(|(unit, ds)| UnitRow {
            unit: unit.to_owned(),
            counts: NetworkCounts::of(ds),
        })
        .collect()
}

/// Per group, the network's counts and the hours to reply of the replies in the range, each from
/// the start of its round (receipt, or the redo): median, 90th percentile.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetworkGroup {
    pub counts: NetworkCounts,
    pub replied: i64,
    pub median_hours_to_reply: Option<f64>,
    pub p90_hours_to_reply: Option<f64>,
}

impl ReadModel {
    /// The dispatches sent in the range, within the query's slice and reach (a unit reaches its
    /// own), optionally of one unit.
    pub async fn dispatches(
        &self,
        q: &StatsQuery,
        unit: Option<&str>,
    ) -> Result<Vec<DispatchRecord>, ProjectionError> {
        let (from, to) = range(self.policies(), q)?;
        match self.db() {
            crate::Db::Sqlite(pool) => {
                crate::store::sqlite::dispatches(pool, q, from, to, unit).await
            }
            crate::Db::Postgres(pool) => {
                crate::store::postgres::dispatches(pool, q, from, to, unit).await
            }
        }
    }

    /// The network's figures per group: its dispatches in the range and its replies.
    pub async fn network(
        &self,
        q: &StatsQuery,
    ) -> Result<BTreeMap<String, NetworkGroup>, ProjectionError> {
        let (from, to) = range(self.policies(), q)?;
        let reply_times = async {
            match self.db() {
                crate::Db::Sqlite(pool) => {
                    crate::store::sqlite::reply_times(pool, q, from, to).await
                }
                crate::Db::Postgres(pool) => {
                    crate::store::postgres::reply_times(pool, q, from, to).await
                }
            }
        };
        let (dispatches, took) = tokio::try_join!(self.dispatches(q, None), reply_times)?;
        let mut groups: BTreeMap<String, NetworkGroup> = BTreeMap::new();
        let mut by_group: BTreeMap<&str, Vec<&DispatchRecord>> = BTreeMap::new();
        for d in &dispatches {
            by_group.entry(&d.group).or_default().push(d);
        }
        for (g, ds) in by_group {
            groups.entry(g.to_owned()).or_default().counts = NetworkCounts::of(ds);
        }
        let mut hours: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for (g, micros) in took {
            hours
                .entry(g)
                .or_default()
                .push(micros as f64 / 3_600_000_000.0);
        }
        for (g, mut h) in hours {
            h.sort_by(f64::total_cmp);
            let group = groups.entry(g).or_default();
            group.replied = h.len() as i64;
            group.median_hours_to_reply = percentile(&h, MEDIAN);
            group.p90_hours_to_reply = percentile(&h, P90);
        }
        Ok(groups)
    }
}

/// The instants a query's range of the tenant's local days starts and ends.
fn range(
    policies: &docket_domain::deadlines::Policies,
    q: &StatsQuery,
) -> Result<(Timestamp, Timestamp), ProjectionError> {
    let policy = crate::policy_of(policies, &q.tenant);
    Ok((policy.start_of_day(q.from), policy.end_of_day(q.to)))
}

/// A range of days cut into the counter tables that cover it with the fewest rows: whole years
/// from `yearly_counts`, whole months from `monthly_counts`, the days left over at either end
/// from `daily_counts`. Each bound is inclusive and written as that table keys it (`YYYY`,
/// `YYYY-MM`, `YYYY-MM-DD`); the pieces do not overlap and together are exactly the range.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Spans {
    pub(crate) years: Vec<(String, String)>,
    pub(crate) months: Vec<(String, String)>,
    pub(crate) days: Vec<(String, String)>,
}

impl Spans {
    pub(crate) fn of(from: Date, to: Date) -> Spans {
        let mut spans = Spans::default();
        if from > to {
            return spans;
        }
        let first_whole = if from.day_of_year() == 1 {
            from.year()
        } else {
            from.year() + 1
        };
        let last_whole = if to == to.last_of_year() {
            to.year()
        } else {
            to.year() - 1
        };
        if first_whole <= last_whole {
            spans
                .years
                .push((format!("{first_whole:04}"), format!("{last_whole:04}")));
            if from < jiff::civil::date(first_whole, 1, 1) {
                spans.by_months(from, jiff::civil::date(first_whole - 1, 12, 31));
            }
            if to > jiff::civil::date(last_whole, 12, 31) {
                spans.by_months(jiff::civil::date(last_whole + 1, 1, 1), to);
            }
        } else {
            spans.by_months(from, to);
        }
        spans
    }

    /// Whole months of `from..=to` as one span, the days either side of them as others.
    fn by_months(&mut self, from: Date, to: Date) {
        // (No month begins after December 9999 nor ends before January -9999: then none is whole.)
        let first_whole = if from.day() == 1 {
            Some(from)
        } else {
            from.last_of_month().tomorrow().ok()
        };
        let last_whole = if to == to.last_of_month() {
            Some(to)
        } else {
            to.first_of_month().yesterday().ok()
        };
        let (Some(first_whole), Some(last_whole)) = (first_whole, last_whole) else {
            self.days.push((from.to_string(), to.to_string()));
            return;
        };
        if first_whole > last_whole {
            self.days.push((from.to_string(), to.to_string()));
            return;
        }
        let month = |d: Date| format!("{:04}-{:02}", d.year(), d.month());
        self.months.push((month(first_whole), month(last_whole)));
        if from < first_whole {
            self.days.push((
                from.to_string(),
                first_whole.yesterday().expect("after from").to_string(),
            ));
        }
        if to > last_whole {
            self.days.push((
                last_whole.tomorrow().expect("before to").to_string(),
                to.to_string(),
            ));
        }
    }
}

const MICROS_PER_DAY: f64 = 86_400_000_000.0;

/// How many counts the cohort query gives per group.
pub(crate) const COHORT: usize = 16;

/// How many counts the closures query gives per group.
pub(crate) const CLOSURES: usize = 8;

/// The percentiles of days to close the figures report.
pub const MEDIAN: u64 = 50;
pub const P90: u64 = 90;

/// Of the cases closed in the range, per group: closed, on time, resolved, disputes, disputes
/// resolved, hazards resolved, disputes mediated, duplicates.
#[derive(Debug)]
pub(crate) struct ClosureCounts {
    pub(crate) group: String,
    pub(crate) counts: [i64; CLOSURES],
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
    use jiff::civil::date;

    fn pairs(spans: &[(String, String)]) -> Vec<(&str, &str)> {
        spans
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect()
    }

    #[test]
    fn a_range_is_read_as_whole_years_whole_months_and_days_left_over() {
        let s = Spans::of(date(2019, 3, 15), date(2024, 2, 10));
        assert_eq!(pairs(&s.years), [("2020", "2023")]);
        assert_eq!(
            pairs(&s.months),
            [("2019-04", "2019-12"), ("2024-01", "2024-01")]
        );
        assert_eq!(
            pairs(&s.days),
            [("2019-03-15", "2019-03-31"), ("2024-02-01", "2024-02-10")]
        );

        // Whole years only; a year and its months; a month and its days across a new year.
        let s = Spans::of(date(2016, 1, 1), date(2025, 12, 31));
        assert_eq!(
            (pairs(&s.years), s.months.len(), s.days.len()),
            (vec![("2016", "2025")], 0, 0)
        );
        let s = Spans::of(date(2024, 1, 1), date(2025, 2, 28));
        assert_eq!(pairs(&s.years), [("2024", "2024")]);
        assert_eq!(pairs(&s.months), [("2025-01", "2025-02")]);
        assert!(s.days.is_empty());
        let s = Spans::of(date(2024, 12, 20), date(2025, 2, 3));
        assert!(s.years.is_empty());
        assert_eq!(pairs(&s.months), [("2025-01", "2025-01")]);
        assert_eq!(
            pairs(&s.days),
            [("2024-12-20", "2024-12-31"), ("2025-02-01", "2025-02-03")]
        );

        // Within one month, and a single day, are days; February of a leap year is whole.
        let s = Spans::of(date(2025, 3, 2), date(2025, 3, 30));
        assert_eq!((s.years.len(), s.months.len()), (0, 0));
        assert_eq!(pairs(&s.days), [("2025-03-02", "2025-03-30")]);
        let s = Spans::of(date(2024, 2, 1), date(2024, 2, 29));
        assert_eq!(pairs(&s.months), [("2024-02", "2024-02")]);
        assert!(s.days.is_empty());
        assert_eq!(
            Spans::of(date(2025, 1, 2), date(2025, 1, 1)),
            Spans::default()
        );
        // At the calendar's end: days, not a panic.
        let s = Spans::of(date(9999, 12, 15), date(9999, 12, 30));
        assert_eq!(pairs(&s.days), [("9999-12-15", "9999-12-30")]);
        let s = Spans::of(date(9999, 11, 15), date(9999, 12, 31));
        assert_eq!(pairs(&s.years), []);
        assert_eq!(pairs(&s.months), [("9999-12", "9999-12")]);
        assert_eq!(pairs(&s.days), [("9999-11-15", "9999-11-30")]);
    }

    #[test]
    fn the_spans_of_any_range_cover_each_of_its_days_once() {
        let day_in = |d: Date, s: &Spans| -> usize {
            let (y, m, d) = (
                format!("{:04}", d.year()),
                format!("{:04}-{:02}", d.year(), d.month()),
                d.to_string(),
            );
            let within = |spans: &[(String, String)], k: &String| {
                spans.iter().filter(|(a, b)| a <= k && k <= b).count()
            };
            within(&s.years, &y) + within(&s.months, &m) + within(&s.days, &d)
        };
        let start = date(2023, 11, 25);
        for a in 0..40 {
            for len in [0, 1, 5, 27, 31, 45, 200, 400, 800] {
                let from = start.checked_add(jiff::Span::new().days(a * 9)).unwrap();
                let to = from.checked_add(jiff::Span::new().days(len)).unwrap();
                let spans = Spans::of(from, to);
                let mut d = from.checked_sub(jiff::Span::new().days(3)).unwrap();
                while d <= to.checked_add(jiff::Span::new().days(3)).unwrap() {
                    let expected = usize::from(from <= d && d <= to);
                    assert_eq!(
                        day_in(d, &spans),
                        expected,
                        "{d} in {from}..={to}: {spans:?}"
                    );
                    d = d.tomorrow().unwrap();
                }
            }
        }
    }

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
