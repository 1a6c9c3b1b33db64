//! Legal deadlines: a tenant's policy gives each step its limit in calendar or working days, and
//! a working-day calendar says which days count.
//!
//! A limit of N days started on day D (tenant-local) ends at the close of its last day: for
//! working days, the Nth working day after D; for calendar days, D + N, moved to the next working
//! day when it falls on a rest day (the rule for periods ending on a holiday). A deadline is the
//! instant that day closes, so a step is overdue from 00:00 of the following day, and closed on
//! time if closed before then.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};
use serde::{Deserialize, Deserializer};

/// The official schedules shipped with Docket.
pub const OFFICIAL_CALENDAR: &str = include_str!("../data/cn-holidays.toml");

/// A deadline policy or calendar file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {message}")]
pub struct PolicyError {
    pub what: String,
    pub message: String,
}

impl PolicyError {
    fn new(what: impl Into<String>, message: impl Into<String>) -> Self {
        PolicyError {
            what: what.into(),
            message: message.into(),
        }
    }
}

// ---- working-day calendar -------------------------------------------------------------------

/// Public holidays and make-up working days (调休), by year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkCalendar {
    years: BTreeMap<i16, Year>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Year {
    source: String,
    holidays: BTreeSet<Date>,
    make_up_workdays: BTreeSet<Date>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CalendarFile {
    #[serde(default)]
    year: Vec<YearFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct YearFile {
    year: i16,
    #[serde(default)]
    source: String,
    #[serde(default)]
    holidays: Vec<String>,
    #[serde(default)]
    make_up_workdays: Vec<String>,
}

fn parse_days(year: i16, list: &str, entries: &[String]) -> Result<BTreeSet<Date>, PolicyError> {
    let what = || format!("calendar year {year}, {list}");
    let date = |s: &str| {
        s.trim()
            .parse::<Date>()
            .map_err(|e| PolicyError::new(what(), format!("{s:?} is not a date: {e}")))
    };
    let mut days = BTreeSet::new();
    for entry in entries {
        let (first, last) = match entry.split_once("..") {
            Some((a, b)) => (date(a)?, date(b)?),
            None => (date(entry)?, date(entry)?),
        };
        if first > last {
            return Err(PolicyError::new(
                what(),
                format!("{entry:?} ends before it starts"),
            ));
        }
        let mut day = first;
        while day <= last {
            if day.year() != year {
                return Err(PolicyError::new(what(), format!("{day} is not in {year}")));
            }
            days.insert(day);
            day = day
                .tomorrow()
                .map_err(|e| PolicyError::new(what(), e.to_string()))?;
        }
    }
    Ok(days)
}

impl WorkCalendar {
    /// The official schedules shipped with Docket.
    pub fn official() -> WorkCalendar {
        WorkCalendar::from_toml(OFFICIAL_CALENDAR).expect("the shipped calendar is valid")
    }

    /// A calendar with no holidays: Monday to Friday are working days.
    pub fn weekdays_only() -> WorkCalendar {
        WorkCalendar {
            years: BTreeMap::new(),
        }
    }

    pub fn from_toml(text: &str) -> Result<WorkCalendar, PolicyError> {
        let file: CalendarFile =
            toml::from_str(text).map_err(|e| PolicyError::new("calendar", e.to_string()))?;
        let mut years = BTreeMap::new();
        for y in file.year {
            let holidays = parse_days(y.year, "holidays", &y.holidays)?;
            let make_up_workdays = parse_days(y.year, "make_up_workdays", &y.make_up_workdays)?;
            if let Some(day) = holidays.intersection(&make_up_workdays).next() {
                return Err(PolicyError::new(
                    format!("calendar year {}", y.year),
                    format!("{day} is listed both as a holiday and as a make-up working day"),
                ));
            }
            let year = Year {
                source: y.source,
                holidays,
                make_up_workdays,
            };
            if years.insert(y.year, year).is_some() {
                return Err(PolicyError::new(
                    "calendar",
                    format!("year {} is listed twice", y.year),
                ));
            }
        }
        Ok(WorkCalendar { years })
    }

    /// Whether people work on this day.
    pub fn is_working_day(&self, day: Date) -> bool {
        if let Some(year) = self.years.get(&day.year()) {
            if year.holidays.contains(&day) {
                return false;
            }
            if year.make_up_workdays.contains(&day) {
                return true;
            }
        }
        !matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday)
    }

    /// Whether the calendar lists the official schedule of this year.
    pub fn covers(&self, year: i16) -> bool {
        self.years.contains_key(&year)
    }

    /// The years listed, with the source each one names.
    pub fn years(&self) -> impl Iterator<Item = (i16, &str)> {
        self.years
            .iter()
            .map(|(y, year)| (*y, year.source.as_str()))
    }

    fn next_working_day(&self, mut day: Date) -> Date {
        loop {
            day = day.tomorrow().expect("dates stay far from the end of time");
            if self.is_working_day(day) {
                return day;
            }
        }
    }
}

// ---- limits ---------------------------------------------------------------------------------

/// How long a step may take: a number of calendar or working days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub days: u32,
    pub working: bool,
}

impl Limit {
    pub const fn days(days: u32) -> Limit {
        Limit {
            days,
            working: false,
        }
    }

    pub const fn working_days(days: u32) -> Limit {
        Limit {
            days,
            working: true,
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = if self.working { "working day" } else { "day" };
        let plural = if self.days == 1 { "" } else { "s" };
        write!(f, "{} {unit}{plural}", self.days)
    }
}

impl FromStr for Limit {
    type Err = String;

    /// `"15 days"`, `"1 working day"`, `"3 working days"`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("{s:?} is not a limit such as \"15 days\" or \"1 working day\"");
        let mut words = s.split_whitespace();
        let days: u32 = words.next().and_then(|n| n.parse().ok()).ok_or_else(bad)?;
        let working = match (words.next(), words.next(), words.next()) {
            (Some("day" | "days"), None, None) => false,
            (Some("working"), Some("day" | "days"), None) => true,
            _ => return Err(bad()),
        };
        if days == 0 || days > 3650 {
            return Err(format!("{s:?}: a limit is between 1 and 3650 days"));
        }
        Ok(Limit { days, working })
    }
}

impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// How long a step may take on the clock (an emergency's 2 hours, a check-in's 30 minutes) or,
/// as a [`Limit`], in days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeLimit {
    /// Minutes from the moment the step starts, whatever the day.
    Minutes(u32),
    Days(Limit),
}

impl TimeLimit {
    pub const fn hours(hours: u32) -> TimeLimit {
        TimeLimit::Minutes(hours * 60)
    }
}

impl fmt::Display for TimeLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            TimeLimit::Minutes(m) if m % 60 == 0 => {
                let h = m / 60;
                write!(f, "{h} hour{}", if h == 1 { "" } else { "s" })
            }
            TimeLimit::Minutes(m) => write!(f, "{m} minute{}", if m == 1 { "" } else { "s" }),
            TimeLimit::Days(limit) => limit.fmt(f),
        }
    }
}

impl FromStr for TimeLimit {
    type Err = String;

    /// `"30 minutes"`, `"2 hours"`, or a limit in days: `"7 days"`, `"1 working day"`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut words = s.split_whitespace();
        let per = match (words.next(), words.next(), words.next()) {
            (Some(_), Some("minute" | "minutes"), None) => 1,
            (Some(_), Some("hour" | "hours"), None) => 60,
            _ => {
                return s.parse().map(TimeLimit::Days).map_err(|_| {
                    format!("{s:?} is not a limit such as \"30 minutes\", \"2 hours\", \"7 days\" or \"1 working day\"")
                });
            }
        };
        let n: u32 = s
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("{s:?}: the count is a whole number"))?;
        let minutes = n.saturating_mul(per);
        if minutes == 0 || minutes > 60 * 24 * 90 {
            return Err(format!(
                "{s:?}: a limit on the clock is between 1 minute and 90 days"
            ));
        }
        Ok(TimeLimit::Minutes(minutes))
    }
}

impl<'de> Deserialize<'de> for TimeLimit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Each step's limit. Defaults are the domain's: the law for petitions and disputes, common
/// practice for hazards.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HazardLimits {
    pub verify: Limit,
    pub rectify_general: Limit,
    pub rectify_major: Limit,
    pub reinspect: Limit,
}

impl Default for HazardLimits {
    fn default() -> Self {
        HazardLimits {
            verify: Limit::working_days(1),
            rectify_general: Limit::days(7),
            rectify_major: Limit::days(30),
            reinspect: Limit::days(3),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DisputeLimits {
    /// Accept or decline a registered dispute.
    pub accept: Limit,
    /// Mediate from acceptance (2002 rules art. 33: 一般在一个月内调结).
    pub mediate: Limit,
    /// Apply for judicial confirmation after the agreement (People's Mediation Law art. 33).
    pub judicial_confirmation: Limit,
}

impl Default for DisputeLimits {
    fn default() -> Self {
        DisputeLimits {
            accept: Limit::days(3),
            mediate: Limit::days(30),
            judicial_confirmation: Limit::days(30),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PetitionLimits {
    /// Decide acceptance from registration (arts. 22, 23).
    pub accept: Limit,
    /// Handle from acceptance (art. 34).
    pub handle: Limit,
    /// Request a review from the reply (art. 35).
    pub request_review: Limit,
    /// Decide a review from the request (art. 35).
    pub decide_review: Limit,
    /// Request a re-review from the review decision (art. 36).
    pub request_re_review: Limit,
    /// Decide a re-review from the request (art. 36).
    pub decide_re_review: Limit,
}

impl Default for PetitionLimits {
    fn default() -> Self {
        PetitionLimits {
            accept: Limit::days(15),
            handle: Limit::days(60),
            request_review: Limit::days(30),
            decide_review: Limit::days(30),
            request_re_review: Limit::days(30),
            decide_re_review: Limit::days(30),
        }
    }
}

impl PetitionLimits {
    /// The limits of the Regulations on Letters and Visits: a policy may shorten them, never
    /// lengthen them, and counts them in calendar days as the law does.
    fn check_legal(&self) -> Result<(), PolicyError> {
        let legal = PetitionLimits::default();
        let steps = [
            ("accept", self.accept, legal.accept, "arts. 22, 23"),
            ("handle", self.handle, legal.handle, "art. 34"),
            (
                "request_review",
                self.request_review,
                legal.request_review,
                "art. 35",
            ),
            (
                "decide_review",
                self.decide_review,
                legal.decide_review,
                "art. 35",
            ),
            (
                "request_re_review",
                self.request_re_review,
                legal.request_re_review,
                "art. 36",
            ),
            (
                "decide_re_review",
                self.decide_re_review,
                legal.decide_re_review,
                "art. 36",
            ),
        ];
        for (step, limit, law, article) in steps {
            if limit.working || limit.days > law.days {
                return Err(PolicyError::new(
                    format!("policy petition.{step}"),
                    format!(
                        "the law ({article}) allows at most {law}; a policy may set fewer days, not more or working days"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// A risk event's limits: assessed within a working day of identification, and reviewed while
/// under control as often as its level says.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RiskLimits {
    pub assess: Limit,
    /// Between reviews of a major (重大) risk.
    pub review_major: Limit,
    /// … of a large (较大) one.
    pub review_large: Limit,
    /// … of a general (一般) one.
    pub review_general: Limit,
}

impl Default for RiskLimits {
    fn default() -> Self {
        RiskLimits {
            assess: Limit::working_days(1),
            review_major: Limit::days(7),
            review_large: Limit::days(15),
            review_general: Limit::days(30),
        }
    }
}

/// A limit for each urgency of a livelihood request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByUrgency {
    pub emergency: TimeLimit,
    /// Water, power, gas, heat.
    pub utility: TimeLimit,
    pub general: TimeLimit,
    pub complex: TimeLimit,
}

/// A `[livelihood.handle]` or `[livelihood.check_in]` table as written: each urgency left out
/// keeps its default.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ByUrgencyFile {
    emergency: Option<TimeLimit>,
    utility: Option<TimeLimit>,
    general: Option<TimeLimit>,
    complex: Option<TimeLimit>,
}

impl ByUrgencyFile {
    fn over(self, defaults: ByUrgency) -> ByUrgency {
        ByUrgency {
            emergency: self.emergency.unwrap_or(defaults.emergency),
            utility: self.utility.unwrap_or(defaults.utility),
            general: self.general.unwrap_or(defaults.general),
            complex: self.complex.unwrap_or(defaults.complex),
        }
    }
}

/// A livelihood request's limits (Beijing's 12345 hotline rules as defaults): handling by
/// urgency from receipt, each dispatched unit's check-in (签收) by urgency from its dispatch, a
/// mis-routed dispatch returned within 2 working days, and a reply left unrated closed after 3
/// days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LivelihoodLimits {
    pub handle: ByUrgency,
    pub check_in: ByUrgency,
    pub return_dispatch: Limit,
    pub rate: Limit,
}

/// The `[livelihood]` table as written: every key optional.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct LivelihoodFile {
    handle: Option<ByUrgencyFile>,
    check_in: Option<ByUrgencyFile>,
    return_dispatch: Option<Limit>,
    rate: Option<Limit>,
}

impl<'de> Deserialize<'de> for LivelihoodLimits {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let file = LivelihoodFile::deserialize(d)?;
        let defaults = LivelihoodLimits::default();
        Ok(LivelihoodLimits {
            handle: file
                .handle
                .map_or(defaults.handle, |h| h.over(defaults.handle)),
            check_in: file
                .check_in
                .map_or(defaults.check_in, |c| c.over(defaults.check_in)),
            return_dispatch: file.return_dispatch.unwrap_or(defaults.return_dispatch),
            rate: file.rate.unwrap_or(defaults.rate),
        })
    }
}

impl Default for LivelihoodLimits {
    fn default() -> Self {
        LivelihoodLimits {
            handle: ByUrgency {
                emergency: TimeLimit::hours(2),
                utility: TimeLimit::hours(24),
                general: TimeLimit::Days(Limit::days(7)),
                complex: TimeLimit::Days(Limit::days(15)),
            },
            check_in: ByUrgency {
                emergency: TimeLimit::Minutes(30),
                utility: TimeLimit::hours(2),
                general: TimeLimit::Days(Limit::working_days(1)),
                complex: TimeLimit::Days(Limit::working_days(1)),
            },
            return_dispatch: Limit::working_days(2),
            rate: Limit::days(3),
        }
    }
}

/// How far a step's deadline may be extended, in calendar days over all approved extensions,
/// and how many extensions a step may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtensionRule {
    pub ceiling_days: u32,
    pub times: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExtensionRules {
    pub hazard: ExtensionRule,
    /// Mediation is extendable once by approval.
    pub dispute: ExtensionRule,
    /// At most 30 days with approval and the reason told (art. 34): a legal ceiling.
    pub petition: ExtensionRule,
    /// A livelihood request's handling limit.
    pub livelihood: ExtensionRule,
}

impl Default for ExtensionRules {
    fn default() -> Self {
        ExtensionRules {
            hazard: ExtensionRule {
                ceiling_days: 30,
                times: 2,
            },
            dispute: ExtensionRule {
                ceiling_days: 30,
                times: 1,
            },
            petition: ExtensionRule {
                ceiling_days: PETITION_EXTENSION_CEILING_DAYS,
                times: 3,
            },
            livelihood: ExtensionRule {
                ceiling_days: 15,
                times: 1,
            },
        }
    }
}

/// The legal ceiling of a petition's extension; no policy may raise it.
pub const PETITION_EXTENSION_CEILING_DAYS: u32 = 30;

/// Days the assignee has to answer a supervision notice when the supervisor names no due date.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SupervisionLimits {
    pub answer: Limit,
}

impl Default for SupervisionLimits {
    fn default() -> Self {
        SupervisionLimits {
            answer: Limit::working_days(5),
        }
    }
}

/// A tenant's deadline policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadlinePolicy {
    pub time_zone: TimeZone,
    pub time_zone_name: String,
    pub calendar: WorkCalendar,
    pub hazard: HazardLimits,
    pub dispute: DisputeLimits,
    pub petition: PetitionLimits,
    pub risk: RiskLimits,
    pub livelihood: LivelihoodLimits,
    pub supervision: SupervisionLimits,
    pub extensions: ExtensionRules,
}

/// The policy file as written: see `deploy/policy/default.toml`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default = "default_time_zone")]
    time_zone: String,
    /// A calendar file replacing the shipped official schedules.
    #[serde(default)]
    calendar: Option<String>,
    #[serde(default)]
    hazard: HazardLimits,
    #[serde(default)]
    dispute: DisputeLimits,
    #[serde(default)]
    petition: PetitionLimits,
    #[serde(default)]
    risk: RiskLimits,
    #[serde(default)]
    livelihood: LivelihoodLimits,
    #[serde(default)]
    supervision: SupervisionLimits,
    #[serde(default)]
    extensions: ExtensionRules,
}

fn default_time_zone() -> String {
    "Asia/Shanghai".to_owned()
}

impl Default for DeadlinePolicy {
    fn default() -> Self {
        DeadlinePolicy {
            time_zone: TimeZone::get("Asia/Shanghai").expect("the bundled tz database"),
            time_zone_name: default_time_zone(),
            calendar: WorkCalendar::official(),
            hazard: HazardLimits::default(),
            dispute: DisputeLimits::default(),
            petition: PetitionLimits::default(),
            risk: RiskLimits::default(),
            livelihood: LivelihoodLimits::default(),
            supervision: SupervisionLimits::default(),
            extensions: ExtensionRules::default(),
        }
    }
}

impl DeadlinePolicy {
    /// Reads a policy file. `read_calendar` is asked for the text of the calendar file the
    /// policy names, if it names one.
    pub fn from_toml(
        text: &str,
        read_calendar: impl FnOnce(&str) -> Result<String, String>,
    ) -> Result<DeadlinePolicy, PolicyError> {
        let file: PolicyFile =
            toml::from_str(text).map_err(|e| PolicyError::new("policy", e.to_string()))?;
        let time_zone = TimeZone::get(&file.time_zone)
            .map_err(|e| PolicyError::new("policy time_zone", e.to_string()))?;
        let calendar = match &file.calendar {
            Some(path) => {
                let text = read_calendar(path)
                    .map_err(|e| PolicyError::new(format!("calendar {path}"), e))?;
                WorkCalendar::from_toml(&text)?
            }
            None => WorkCalendar::official(),
        };
        file.petition.check_legal()?;
        if file.extensions.petition.ceiling_days > PETITION_EXTENSION_CEILING_DAYS {
            return Err(PolicyError::new(
                "policy extensions.petition.ceiling_days",
                format!(
                    "the law allows a petition at most {PETITION_EXTENSION_CEILING_DAYS} days of extension"
                ),
            ));
        }
        Ok(DeadlinePolicy {
            time_zone,
            time_zone_name: file.time_zone,
            calendar,
            hazard: file.hazard,
            dispute: file.dispute,
            petition: file.petition,
            risk: file.risk,
            livelihood: file.livelihood,
            supervision: file.supervision,
            extensions: file.extensions,
        })
    }

    /// The tenant-local day of an instant.
    pub fn local_day(&self, at: Timestamp) -> Date {
        at.to_zoned_datetime(self.time_zone.clone()).date()
    }

    /// The instant a tenant-local day begins (its first moment: 00:00, or later where a
    /// change of clocks skips midnight).
    pub fn start_of_day(&self, day: Date) -> Timestamp {
        day.to_zoned_datetime(self.time_zone.clone())
            .map(|z| z.timestamp())
            .unwrap_or(Timestamp::MAX)
    }

    /// The instant a tenant-local day closes (the next day's beginning).
    pub fn end_of_day(&self, day: Date) -> Timestamp {
        day.tomorrow()
            .map(|next| self.start_of_day(next))
            .unwrap_or(Timestamp::MAX)
    }

    /// The last day of a limit started at `from`.
    pub fn last_day(&self, from: Timestamp, limit: Limit) -> Date {
        let start = self.local_day(from);
        if limit.working {
            let mut day = start;
            for _ in 0..limit.days {
                day = self.calendar.next_working_day(day);
            }
            day
        } else {
            let last = start.saturating_add(Span::new().days(i64::from(limit.days)));
            if self.calendar.is_working_day(last) {
                last
            } else {
                self.calendar.next_working_day(last)
            }
        }
    }

    /// The deadline of a limit started at `from`: the close of its last day.
    pub fn due(&self, from: Timestamp, limit: Limit) -> Timestamp {
        self.end_of_day(self.last_day(from, limit))
    }

    /// The deadline of a limit on the clock or in days started at `from`.
    pub fn due_within(&self, from: Timestamp, limit: TimeLimit) -> Timestamp {
        match limit {
            TimeLimit::Minutes(m) => from
                .checked_add(jiff::SignedDuration::from_mins(i64::from(m)))
                .unwrap_or(Timestamp::MAX),
            TimeLimit::Days(limit) => self.due(from, limit),
        }
    }

    /// A deadline moved by `days` calendar days, exactly.
    pub fn extended(&self, deadline: Timestamp, days: u32) -> Timestamp {
        deadline
            .to_zoned_datetime(self.time_zone.clone())
            .checked_add(Span::new().days(i64::from(days)))
            .map(|z| z.timestamp())
            .unwrap_or(Timestamp::MAX)
    }
}

#[cfg(test)]
mod tests;

/// Each tenant's policy, and the one tenants without their own file follow.
#[derive(Debug, Clone, Default)]
pub struct Policies {
    default: std::sync::Arc<DeadlinePolicy>,
    tenants: std::collections::HashMap<crate::TenantId, std::sync::Arc<DeadlinePolicy>>,
}

impl Policies {
    pub fn new(default: DeadlinePolicy) -> Self {
        Policies {
            default: std::sync::Arc::new(default),
            tenants: Default::default(),
        }
    }

    /// Gives one tenant its own policy.
    pub fn with_tenant(mut self, tenant: crate::TenantId, policy: DeadlinePolicy) -> Self {
        self.tenants.insert(tenant, std::sync::Arc::new(policy));
        self
    }

    pub fn for_tenant(&self, tenant: &crate::TenantId) -> &DeadlinePolicy {
        self.tenants.get(tenant).unwrap_or(&self.default)
    }

    /// The policy of tenants without their own.
    pub fn default_policy(&self) -> &DeadlinePolicy {
        &self.default
    }
}
