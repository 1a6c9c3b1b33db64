//! What a batch writes into the read model, table by table: each table's insert and each row's
//! values in its columns' order, written once for both ways a batch is written. sqlx binds rows
//! into a multi-row `VALUES` list (Postgres, and SQLite's repairs); the SQLite read model's
//! writer binds them into a one-row statement it prepared once (`crate::writer`), and a stored
//! case's row into an update of the columns that changed, numbered as `CASE_COLUMNS` orders
//! them.

use std::fmt::Display;

use crate::directory::{EntryRow, PlannedDirectory};
use crate::rows::{
    CaseEventKey, CaseRow, CountKey, DispatchRow, HistoryRow, LinkRow, NumberKey, PersonRow,
    PlannedCase, QuarantinedCommit, ReplyRow,
};
use crate::store::SLICE;

/// A value of a row: what both of sqlx's drivers and rusqlite encode (on SQLite the same way by
/// both: text as text, integers and booleans as integers, `None` as NULL).
pub(crate) trait Value:
    for<'t> sqlx::Encode<'t, sqlx::Sqlite>
    + sqlx::Type<sqlx::Sqlite>
    + for<'t> sqlx::Encode<'t, sqlx::Postgres>
    + sqlx::Type<sqlx::Postgres>
    + rusqlite::ToSql
{
}

impl<T> Value for T where
    T: for<'t> sqlx::Encode<'t, sqlx::Sqlite>
        + sqlx::Type<sqlx::Sqlite>
        + for<'t> sqlx::Encode<'t, sqlx::Postgres>
        + sqlx::Type<sqlx::Postgres>
        + rusqlite::ToSql
{
}

/// Where a row's values go, in their columns' order.
pub(crate) trait Bind {
    fn bind<V: Value>(&mut self, value: V) -> &mut Self;
}

impl<Sep: Display> Bind for sqlx::query_builder::Separated<'_, sqlx::Sqlite, Sep> {
    fn bind<V: Value>(&mut self, value: V) -> &mut Self {
        self.push_bind(value)
    }
}

impl<Sep: Display> Bind for sqlx::query_builder::Separated<'_, sqlx::Postgres, Sep> {
    fn bind<V: Value>(&mut self, value: V) -> &mut Self {
        self.push_bind(value)
    }
}

/// A row of a table: binds its values in its columns' order.
pub(crate) trait Row {
    fn bind_to(&self, b: &mut impl Bind);
}

impl<R: Row> Row for &R {
    fn bind_to(&self, b: &mut impl Bind) {
        (**self).bind_to(b);
    }
}

/// An insert into one table: what comes before its rows (`INSERT INTO t (columns) `) and what
/// after (its conflict clause, if any).
pub(crate) struct Insert {
    pub(crate) head: String,
    pub(crate) tail: String,
}

impl Insert {
    fn new(head: impl Into<String>, tail: impl Into<String>) -> Insert {
        Insert {
            head: head.into(),
            tail: tail.into(),
        }
    }
}

/// The columns of `cases`, in the order a `PlannedCase` binds its values.
pub(crate) const CASE_COLUMNS: [&str; 32] = [
    "case_id",
    "tenant",
    "kind",
    "case_number",
    "status",
    "is_closed",
    "community",
    "grid",
    "title",
    "description",
    "category",
    "severity",
    "lead_unit",
    "assignee",
    "filed_by",
    "version",
    "position",
    "deadline",
    "filed_at",
    "updated_at",
    "closed_at",
    "outcome",
    "closed_on_time",
    "missed",
    "backlog",
    "state",
    "watch_at",
    "channel",
    "headcount",
    "collective",
    "key_person",
    "escalation_risk",
];

/// The columns of `cases` that stay as the case was filed: its id, tenant, kind, number, filer
/// and filing time.
const CASE_COLUMNS_AS_FILED: [&str; 6] = [
    "case_id",
    "tenant",
    "kind",
    "case_number",
    "filed_by",
    "filed_at",
];

/// The columns of a stored case that a later commit of it may change (what the upsert sets on
/// conflict), in `CASE_COLUMNS`' order.
pub(crate) static CASE_COLUMNS_UPDATED: std::sync::LazyLock<Vec<&'static str>> =
    std::sync::LazyLock::new(|| {
        CASE_COLUMNS
            .into_iter()
            .filter(|c| !CASE_COLUMNS_AS_FILED.contains(c))
            .collect()
    });

pub(crate) fn cases() -> Insert {
    let set: Vec<String> = CASE_COLUMNS_UPDATED
        .iter()
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    Insert::new(
        format!("INSERT INTO cases ({}) ", CASE_COLUMNS.join(", ")),
        format!(" ON CONFLICT (case_id) DO UPDATE SET {}", set.join(", ")),
    )
}

/// The number of `column` among the values a `PlannedCase` binds (from 1, as SQL numbers
/// parameters).
pub(crate) fn case_column_number(column: &str) -> usize {
    CASE_COLUMNS
        .iter()
        .position(|c| *c == column)
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("{column} is no column of cases"))
}

impl Row for PlannedCase {
    fn bind_to(&self, b: &mut impl Bind) {
        let c = self;
        let r = &c.row;
        b.bind(r.case_id.clone())
            .bind(r.tenant.clone())
            .bind(r.kind.as_str())
            .bind(c.number.clone())
            .bind(r.status)
            .bind(r.is_closed)
            .bind(r.community.clone())
            .bind(r.grid.clone())
            .bind(r.title.clone())
            .bind(r.description.clone())
            .bind(r.category.clone())
            .bind(r.severity)
            .bind(r.lead_unit.clone())
            .bind(r.assignee.clone())
            .bind(c.filed_by.clone())
            .bind(r.version)
            .bind(r.position)
            .bind(r.deadline)
            .bind(c.filed_at)
            .bind(r.updated_at)
            .bind(c.closed_at)
            .bind(r.outcome)
            .bind(r.closed_on_time)
            .bind(r.missed)
            .bind(r.backlog)
            .bind(r.state.clone())
            .bind(r.watch_at)
            .bind(r.channel)
            .bind(r.petition.headcount)
            .bind(r.petition.collective)
            .bind(r.petition.key_person)
            .bind(r.petition.escalation_risk);
    }
}

/// The per-case tables a batch writes anew for each case it moves: their rows are deleted
/// first.
pub(crate) const REWRITTEN_PER_CASE: [&str; 3] = ["case_units", "case_dispatches", "case_replies"];

pub(crate) fn case_units() -> Insert {
    Insert::new("INSERT INTO case_units (case_id, tenant, unit, part) ", "")
}

impl<'a> Row for (&'a CaseRow, &'a (String, &'static str)) {
    fn bind_to(&self, b: &mut impl Bind) {
        let (row, (unit, part)) = self;
        b.bind(row.case_id.clone())
            .bind(row.tenant.clone())
            .bind(unit.clone())
            .bind(*part);
    }
}

pub(crate) fn case_dispatches() -> Insert {
    Insert::new(
        "INSERT INTO case_dispatches (case_id, tenant, seq, unit, lead, round,
            dispatched_at, check_in_by, checked_in_at, late, missed, returned_at,
            replaced, parts, rating) ",
        "",
    )
}

impl<'a> Row for (&'a CaseRow, &'a DispatchRow) {
    fn bind_to(&self, b: &mut impl Bind) {
        let (row, d) = self;
        b.bind(row.case_id.clone())
            .bind(row.tenant.clone())
            .bind(d.seq)
            .bind(d.unit.clone())
            .bind(d.lead)
            .bind(d.round)
            .bind(d.dispatched_at)
            .bind(d.check_in_by)
            .bind(d.checked_in_at)
            .bind(d.late)
            .bind(d.missed)
            .bind(d.returned_at)
            .bind(d.replaced)
            .bind(d.parts)
            .bind(d.rating);
    }
}

pub(crate) fn case_replies() -> Insert {
    Insert::new(
        "INSERT INTO case_replies (case_id, tenant, seq, round, started_at, replied_at) ",
        "",
    )
}

impl<'a> Row for (&'a CaseRow, &'a ReplyRow) {
    fn bind_to(&self, b: &mut impl Bind) {
        let (row, r) = self;
        b.bind(row.case_id.clone())
            .bind(row.tenant.clone())
            .bind(r.seq)
            .bind(r.round)
            .bind(r.started_at)
            .bind(r.replied_at);
    }
}

pub(crate) fn case_history() -> Insert {
    Insert::new(
        "INSERT INTO case_history (case_id, version, tenant, position, commit_id,
            actor_id, actor_role, actor_unit, command, recorded_at, events, prev_hash,
            hash) ",
        "",
    )
}

impl Row for HistoryRow {
    fn bind_to(&self, b: &mut impl Bind) {
        let h = self;
        b.bind(h.case_id.clone())
            .bind(h.version)
            .bind(h.tenant.clone())
            .bind(h.position)
            .bind(h.commit_id.clone())
            .bind(h.actor_id.clone())
            .bind(h.actor_role.clone())
            .bind(h.actor_unit.clone())
            .bind(h.command.clone())
            .bind(h.recorded_at.clone())
            .bind(h.events.clone())
            .bind(h.prev_hash.clone())
            .bind(h.hash.clone());
    }
}

pub(crate) fn case_links() -> Insert {
    Insert::new(
        "INSERT INTO case_links (tenant, case_id, other_id, relation, position) ",
        " ON CONFLICT DO NOTHING",
    )
}

impl Row for LinkRow {
    fn bind_to(&self, b: &mut impl Bind) {
        let l = self;
        b.bind(l.tenant.clone())
            .bind(l.from.clone())
            .bind(l.to.clone())
            .bind(l.relation)
            .bind(l.position);
    }
}

pub(crate) fn case_persons() -> Insert {
    Insert::new(
        "INSERT INTO case_persons (tenant, person, case_id, kind, part, filed_at, position) ",
        " ON CONFLICT DO NOTHING",
    )
}

impl Row for PersonRow {
    fn bind_to(&self, b: &mut impl Bind) {
        let p = self;
        b.bind(p.tenant.clone())
            .bind(p.person.clone())
            .bind(p.case_id.clone())
            .bind(p.kind)
            .bind(p.part)
            .bind(p.filed_at)
            .bind(p.position);
    }
}

/// Each petition of the persons named keeps when that person's petition before it was filed:
/// the statement up to the tenant's value, then between it and the persons' list, and after
/// the list.
pub(crate) const PRIOR_PETITIONS: [&str; 3] = [
    "UPDATE case_persons SET prior_filed_at = ranked.prior
     FROM (SELECT case_id, person, LAG(filed_at)
            OVER (PARTITION BY person ORDER BY filed_at, case_id) AS prior
        FROM case_persons WHERE kind = 'petition' AND tenant = ",
    " AND person IN (",
    ")) ranked
     WHERE case_persons.case_id = ranked.case_id
        AND case_persons.person = ranked.person
        AND case_persons.prior_filed_at IS DISTINCT FROM ranked.prior",
];

pub(crate) fn case_events() -> Insert {
    Insert::new(
        format!("INSERT INTO case_events (tenant, case_id, day, {SLICE}, metric, n) "),
        format!(
            " ON CONFLICT (case_id, day, metric, {SLICE})
                DO UPDATE SET n = case_events.n + excluded.n"
        ),
    )
}

impl Row for (CaseEventKey, i64) {
    fn bind_to(&self, b: &mut impl Bind) {
        let ((case_id, key), n) = self;
        b.bind(key.tenant.clone())
            .bind(case_id.clone())
            .bind(key.day.clone());
        for value in &key.slice {
            b.bind(value.clone());
        }
        b.bind(key.metric).bind(*n);
    }
}

/// The counters of events per day, month and year: each table with its period's column.
pub(crate) const COUNTS: [(&str, &str); 3] = [
    ("daily_counts", "day"),
    ("monthly_counts", "month"),
    ("yearly_counts", "year"),
];

pub(crate) fn counts(table: &str, period: &str) -> Insert {
    Insert::new(
        format!("INSERT INTO {table} (tenant, {period}, {SLICE}, metric, n) "),
        format!(
            " ON CONFLICT (tenant, {period}, {SLICE}, metric)
                DO UPDATE SET n = {table}.n + excluded.n"
        ),
    )
}

impl Row for (CountKey, i64) {
    fn bind_to(&self, b: &mut impl Bind) {
        let (key, n) = self;
        b.bind(key.tenant.clone()).bind(key.day.clone());
        for value in &key.slice {
            b.bind(value.clone());
        }
        b.bind(key.metric).bind(*n);
    }
}

pub(crate) fn case_numbers() -> Insert {
    Insert::new(
        "INSERT INTO case_numbers (tenant, kind, year, last) ",
        " ON CONFLICT (tenant, kind, year) DO UPDATE SET last = excluded.last",
    )
}

impl Row for (NumberKey, i64) {
    fn bind_to(&self, b: &mut impl Bind) {
        let (key, last) = self;
        b.bind(key.tenant.clone())
            .bind(key.kind)
            .bind(key.year)
            .bind(*last);
    }
}

pub(crate) fn quarantine() -> Insert {
    Insert::new(
        "INSERT INTO quarantine (position, tenant, case_id, version, reason, case_number) ",
        " ON CONFLICT (position) DO UPDATE SET reason = excluded.reason,
            case_number = COALESCE(excluded.case_number, quarantine.case_number)",
    )
}

impl Row for QuarantinedCommit {
    fn bind_to(&self, b: &mut impl Bind) {
        let c = self;
        b.bind(c.position)
            .bind(c.tenant.clone())
            .bind(c.case_id.clone())
            .bind(c.version)
            .bind(c.reason.clone())
            .bind(c.number.clone());
    }
}

pub(crate) fn directories() -> Insert {
    Insert::new(
        "INSERT INTO directories (tenant, version, position, state) ",
        " ON CONFLICT (tenant) DO UPDATE SET version = excluded.version,
            position = excluded.position, state = excluded.state",
    )
}

impl Row for PlannedDirectory {
    fn bind_to(&self, b: &mut impl Bind) {
        let d = self;
        b.bind(d.tenant.clone())
            .bind(d.version)
            .bind(d.position)
            .bind(d.state.clone());
    }
}

pub(crate) fn directory_entries() -> Insert {
    Insert::new(
        "INSERT INTO directory_entries (tenant, entry, case_kind, id, name,
            community, unit_kind, in_network, mediation_room, intake_unit, retired) ",
        "",
    )
}

impl<'a> Row for (&'a String, &'a EntryRow) {
    fn bind_to(&self, b: &mut impl Bind) {
        let (tenant, e) = self;
        b.bind((*tenant).clone())
            .bind(e.entry)
            .bind(e.case_kind)
            .bind(e.id.clone())
            .bind(e.name.clone())
            .bind(e.community.clone())
            .bind(e.unit_kind)
            .bind(e.in_network)
            .bind(e.mediation_room.clone())
            .bind(e.intake_unit.clone())
            .bind(e.retired);
    }
}
