//! Queries over the case read model. Every query is scoped to one tenant.

use docket_domain::Reach;
use docket_eventlog::EventRecord;
use jiff::Timestamp;
use serde::Serialize;
use uuid::Uuid;

use crate::{ProjectionError, ReadModel};

/// Filters of the case list; `None` means any. Every filter narrows the list. An empty grid,
/// severity or lead unit means cases without one.
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    pub kind: Option<String>,
    pub status: Option<String>,
    pub community: Option<String>,
    pub grid: Option<String>,
    pub category: Option<String>,
    pub severity: Option<String>,
    /// Cases this unit leads or assists on.
    pub unit: Option<String>,
    /// Cases this unit leads; empty for cases no unit leads yet.
    pub lead_unit: Option<String>,
    pub assignee: Option<String>,
    /// Cases this user filed or is assigned to.
    pub mine: Option<String>,
    pub closed: Option<bool>,
    /// Open cases whose deadline is at or before this instant (overdue as of it).
    pub overdue_at: Option<Timestamp>,
    /// Open cases due before this instant.
    pub due_before: Option<Timestamp>,
    pub filed_from: Option<Timestamp>,
    pub filed_to: Option<Timestamp>,
    /// A substring of the title or description.
    pub text: Option<String>,
    /// The instant `overdue` is judged at in the results.
    pub now: Option<Timestamp>,
    /// Only cases within this reach; `None` for the whole tenant (the API always sets it).
    pub reach: Option<Reach>,
    /// Only repeat petitions (重复信访), or only cases that are not.
    pub repeat: Option<bool>,
    /// Only livelihood requests that went to two or more units, or only cases that did not.
    pub coordinated: Option<bool>,
    /// Only backlog petitions (积案), or only cases that are not.
    pub backlog: Option<bool>,
    /// Only cases that missed a deadline, or only those that missed none.
    pub missed: Option<bool>,
    /// Cases closed at or after this instant.
    pub closed_from: Option<Timestamp>,
    /// Cases closed before this instant.
    pub closed_to: Option<Timestamp>,
    pub closed_on_time: Option<bool>,
    /// `resolved`, `not_resolved` or `duplicate`.
    pub outcome: Option<String>,
    /// Livelihood requests replied to at or after this instant.
    pub replied_from: Option<Timestamp>,
    /// Livelihood requests replied to before this instant.
    pub replied_to: Option<Timestamp>,
    /// How a petition or livelihood request came in; empty for cases without a channel.
    pub channel: Option<String>,
    /// Only collective visits (集体访), or only petitions that are not.
    pub collective: Option<bool>,
    /// Only petitions of key persons (重点人员), or only others.
    pub key_person: Option<bool>,
    /// Only petitions flagged with a risk of escalation (越级, 赴京), or only others.
    pub escalation_risk: Option<bool>,
    /// Cases in which this counted event happened between two tenant-local days (inclusive):
    /// (metric, first day, last day), as `daily_counts` counts them. The slice filters (kind,
    /// community, grid, category, severity, lead unit, channel) and the reach then narrow the
    /// events, as they were when counted, rather than the case as it is now.
    pub event: Option<(String, String, String)>,
}

/// A commit as the event stream shows it, with the case's current state (for reach and for how
/// its people are shown).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamedCommit {
    pub position: u64,
    pub case_id: Uuid,
    pub number: String,
    pub kind: String,
    pub version: u64,
    pub commit_id: Uuid,
    pub recorded_at: String,
    pub actor: HistoryActor,
    pub command: String,
    pub events: Vec<EventRecord>,
    #[serde(skip)]
    pub case: docket_domain::CaseState,
}

/// One line of the case list.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CaseSummary {
    pub id: Uuid,
    pub number: String,
    pub kind: String,
    pub status: String,
    pub closed: bool,
    pub overdue: bool,
    pub community: String,
    pub grid: Option<String>,
    pub title: String,
    pub category: String,
    pub severity: Option<String>,
    pub lead_unit: Option<String>,
    pub assignee: Option<String>,
    pub version: u64,
    pub position: u64,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub deadline: Option<Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    pub filed_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub closed_at: Option<Timestamp>,
    pub outcome: Option<String>,
    pub closed_on_time: Option<bool>,
    /// A petition repeating one filed within the year before it, by the same person or on the
    /// same matter.
    pub repeat: bool,
    /// How many deadlines the case has missed.
    pub missed: u32,
    /// A backlog petition (积案).
    pub backlog: bool,
    /// How many people a petition came with (a visit's whole batch); none for other kinds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headcount: Option<u32>,
    /// In a list of the cases behind a counter (`event=`): how many of the counted events
    /// happened in the case.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<u32>,
}

/// One case of a person file (一人一档).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PersonCase {
    pub id: Uuid,
    pub number: String,
    pub kind: String,
    pub status: String,
    pub closed: bool,
    pub title: String,
    /// The person's part in the case: `applicant`, `respondent` or `petitioner`.
    pub part: String,
    pub filed_at: Timestamp,
    pub closed_at: Option<Timestamp>,
    pub outcome: Option<String>,
    pub repeat: bool,
}

/// An earlier petition a petition repeats.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RepeatOf {
    pub case: Uuid,
    pub number: String,
    pub filed_at: Timestamp,
    /// `person`: one of its petitioners petitioned then; `matter`: it is marked a duplicate.
    pub by: String,
}

/// A page of results, newest first, with the cursor of the next page if there is one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<Uuid>,
}

/// A link from one case to another, as either case's history recorded it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseLink {
    pub case: Uuid,
    /// `related`, `duplicate-of` or `duplicated-by`.
    pub relation: String,
}

/// One commit of a case's audit trail.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryEntry {
    pub version: u64,
    pub position: u64,
    pub commit_id: Uuid,
    pub recorded_at: String,
    pub actor: HistoryActor,
    pub command: String,
    pub events: Vec<EventRecord>,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryActor {
    pub id: String,
    pub role: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

/// How many times something happened on one tenant-local day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DailyCount {
    pub day: String,
    pub metric: String,
    pub n: i64,
}

/// What a tenant's cases name: its directory's starting point when a data directory made before
/// directories existed is upgraded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamesInUse {
    pub communities: Vec<String>,
    /// (grid, community)
    pub grids: Vec<(String, String)>,
    /// Lead and co-handling units.
    pub units: Vec<String>,
    /// (kind, category)
    pub categories: Vec<(String, String)>,
    /// How many cases name them.
    pub cases: u64,
}

/// One entry of a tenant's directory as the read model lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DirectoryEntry {
    /// `community`, `grid`, `unit` or `category`.
    pub entry: String,
    /// A category's kind of case.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub id: String,
    pub name: String,
    /// A grid's community.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub community: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit_kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_network: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mediation_room: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intake_unit: Option<String>,
    pub retired: bool,
}

macro_rules! on_db {
    ($self:expr, $f:ident($($arg:expr),*)) => {
        match &$self.db {
            $crate::Db::Sqlite(pool) => $crate::store::sqlite::$f(pool, $($arg),*).await,
            $crate::Db::Postgres(pool) => $crate::store::postgres::$f(pool, $($arg),*).await,
        }
    };
}
pub(crate) use on_db;

/// What `ReadModel::repair` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RepairReport {
    /// Cases (and directories) tried.
    pub cases: u64,
    /// Commits that applied and left the quarantine.
    pub applied: u64,
    /// Commits that still cannot be applied.
    pub still_held: u64,
}

impl ReadModel {
    /// The commits kept aside because they cannot be projected, of one tenant or all, in log
    /// order.
    pub async fn quarantined(
        &self,
        tenant: Option<&str>,
    ) -> Result<Vec<crate::QuarantinedCommit>, ProjectionError> {
        on_db!(self, quarantined(tenant))
    }

    /// The cases' states as last projected (those of `tenant` the model holds and can read), for
    /// the rules a list applies per case.
    pub async fn case_states(
        &self,
        tenant: &str,
        ids: &[Uuid],
    ) -> Result<std::collections::HashMap<Uuid, docket_domain::CaseState>, ProjectionError> {
        let stored = on_db!(self, case_states(tenant, ids))?;
        Ok(stored
            .into_iter()
            .filter_map(|(id, state)| match serde_json::from_str(&state) {
                Ok(state) => Some((id, state)),
                Err(e) => {
                    tracing::warn!(case_id = %id, error = %e, "a stored case state does not read");
                    None
                }
            })
            .collect())
    }

    /// How many commits the quarantine holds, and of how many cases (or directories).
    pub async fn quarantine_counts(&self) -> Result<(u64, u64), ProjectionError> {
        let (commits, cases) = on_db!(self, quarantine_counts())?;
        Ok((commits as u64, cases as u64))
    }

    /// The position of a case's first quarantined commit, if the case is held.
    pub async fn quarantined_at(
        &self,
        tenant: &str,
        case_id: &str,
    ) -> Result<Option<u64>, ProjectionError> {
        Ok(on_db!(self, quarantined_at(tenant, case_id))?.map(|p| p as u64))
    }

    /// Applies the quarantined commits again (of one case, or of every held case), reading
    /// them from `log`: after an upgrade that reads them, the cases project and take commands
    /// again.
    pub async fn repair(
        &self,
        log: &dyn docket_eventlog::EventLog,
        case_id: Option<&str>,
    ) -> Result<RepairReport, ProjectionError> {
        // In the order they were first held, as the log had them: a filing held before it could
        // draw a number (its kind unknown then) draws one now, in that order.
        let mut streams: Vec<String> = Vec::new();
        for held in self.quarantined(None).await? {
            if case_id.is_none_or(|only| only == held.case_id) && !streams.contains(&held.case_id) {
                streams.push(held.case_id);
            }
        }
        let mut report = RepairReport::default();
        for stream in streams {
            let (applied, still) = on_db!(self, repair_stream(log, &stream, self.policies()))?;
            report.cases += 1;
            report.applied += applied;
            report.still_held += still;
            self.quarantine_moved();
        }
        Ok(report)
    }

    /// Cases of `tenant` matching `filter`, newest first; `after` is the previous page's cursor.
    pub async fn list_cases(
        &self,
        tenant: &str,
        filter: &CaseFilter,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Page<CaseSummary>, ProjectionError> {
        on_db!(self, list_cases(tenant, filter, after, limit))
    }

    /// The case number the projection gave a case, if it has reached the case's filing.
    pub async fn case_number(
        &self,
        tenant: &str,
        case_id: Uuid,
    ) -> Result<Option<String>, ProjectionError> {
        on_db!(self, case_number(tenant, case_id))
    }

    /// The case the projection gave this number, if it has.
    pub async fn case_by_number(
        &self,
        tenant: &str,
        number: &str,
    ) -> Result<Option<Uuid>, ProjectionError> {
        on_db!(self, case_by_number(tenant, number))
    }

    /// Every entry of the tenant's directory, retired ones too, by entry, kind and id; empty
    /// while the tenant has none.
    pub async fn directory(&self, tenant: &str) -> Result<Vec<DirectoryEntry>, ProjectionError> {
        on_db!(self, directory(tenant))
    }

    /// The tenants that have cases.
    pub async fn tenants(&self) -> Result<Vec<String>, ProjectionError> {
        on_db!(self, tenants())
    }

    /// Every community, grid, unit and category the tenant's cases name.
    pub async fn names_in_use(&self, tenant: &str) -> Result<NamesInUse, ProjectionError> {
        on_db!(self, names_in_use(tenant))
    }

    /// The links of a case, both those its own history records and those of cases naming it.
    pub async fn links(
        &self,
        tenant: &str,
        case_id: Uuid,
    ) -> Result<Vec<CaseLink>, ProjectionError> {
        on_db!(self, links(tenant, case_id))
    }

    /// A case's audit trail in version order; empty if the case is unknown in this tenant.
    pub async fn history(
        &self,
        tenant: &str,
        case_id: Uuid,
    ) -> Result<Vec<HistoryEntry>, ProjectionError> {
        on_db!(self, history(tenant, case_id))
    }

    /// Refreshes the query planner's statistics, as after a bulk load or rebuild.
    pub async fn analyze(&self) -> Result<(), ProjectionError> {
        on_db!(self, analyze())
    }

    /// Every case that names `person` (a person file), newest first, at most `limit`.
    pub async fn person_cases(
        &self,
        tenant: &str,
        person: Uuid,
        limit: u32,
    ) -> Result<Vec<PersonCase>, ProjectionError> {
        on_db!(self, person_cases(tenant, person, limit))
    }

    /// The earlier petitions within the year before it that the petition repeats; empty for a
    /// first petition and for other kinds.
    pub async fn repeat_of(
        &self,
        tenant: &str,
        case_id: Uuid,
    ) -> Result<Vec<RepeatOf>, ProjectionError> {
        on_db!(self, repeat_of(tenant, case_id))
    }

    /// The tenant's commits after `after` up to `upto`, of cases now within `reach`, in log
    /// order, at most `limit`: what the event stream sends.
    pub async fn commits_after(
        &self,
        tenant: &str,
        reach: &Reach,
        after: u64,
        upto: u64,
        limit: u32,
    ) -> Result<Vec<StreamedCommit>, ProjectionError> {
        on_db!(self, commits_after(tenant, reach, after, upto, limit))
    }

    /// The open cases of every tenant whose current deadline has passed at `now` and whose
    /// overdue events are not all recorded yet (as far as the model has seen): what the deadline
    /// watch looks at. Case ids after `after`, in order, at most `limit` looked at; returns the
    /// cases with something to record and the last case id looked at, if any.
    pub async fn overdue_unrecorded(
        &self,
        now: Timestamp,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<(Vec<(String, Uuid)>, Option<Uuid>), ProjectionError> {
        let after = after.map(|u| u.to_string()).unwrap_or_default();
        let rows = on_db!(self, overdue(crate::rows::micros(now), &after, limit))?;
        let last = rows.last().map(|r| r.1);
        let mut due = Vec::new();
        for (tenant, case_id, state) in rows {
            let state: docket_domain::CaseState =
                serde_json::from_str(&state).map_err(|e| ProjectionError::Unprojectable {
                    position: 0,
                    reason: format!("stored state of case {case_id}: {e}"),
                })?;
            if !state.overdue_events(now).is_empty() {
                due.push((tenant, case_id));
            }
        }
        Ok((due, last))
    }

    /// A digest of every row of the read model: equal digests, equal models.
    pub async fn digest(&self) -> Result<String, ProjectionError> {
        on_db!(self, digest())
    }

    /// The tenant's per-day counts between two local days (`YYYY-MM-DD`, inclusive).
    pub async fn daily_counts(
        &self,
        tenant: &str,
        from_day: &str,
        to_day: &str,
    ) -> Result<Vec<DailyCount>, ProjectionError> {
        let rows = on_db!(self, daily_counts(tenant, from_day, to_day))?;
        Ok(rows
            .into_iter()
            .map(|(day, metric, n)| DailyCount { day, metric, n })
            .collect())
    }
}
