//! The read model's SQL, written once for both dialects: the statements use `$n` parameters and
//! types both accept, and the macro instantiates them for SQLite and for Postgres.

use docket_domain::Reach;
use docket_domain::deadlines::Policies;
use docket_eventlog::Recorded;
use uuid::Uuid;

use crate::queries::{
    CaseFilter, CaseLink, CaseSummary, DirectoryEntry, HistoryActor, HistoryEntry, NamesInUse,
    Page, PersonCase, RepeatOf, StreamedCommit,
};
use crate::rows::{self, from_micros};
use crate::writes;
use crate::{CASES, ProjectionError};

fn decode_err(e: impl std::error::Error + Send + Sync + 'static) -> ProjectionError {
    ProjectionError::Database(sqlx::Error::Decode(Box::new(e)))
}

fn uuid(s: &str) -> Result<Uuid, ProjectionError> {
    Uuid::parse_str(s).map_err(decode_err)
}

/// What a stats query reads, and so which columns its slice and a unit's reach name.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Over {
    /// `cases`: a unit reaches the cases it leads.
    Cases,
    /// The per-day counters: under the lead unit when the event happened.
    Counters,
    /// The dispatches joined to their cases (`d`): a unit reaches its own dispatches.
    Dispatches,
}

/// Every table of the read model with its columns and key order, for digests and copies.
pub(crate) const TABLES: &[(&str, &[&str], &str)] = &[
    ("cases", &crate::writes::CASE_COLUMNS, "case_id"),
    (
        "case_units",
        &["case_id", "tenant", "unit", "part"],
        "case_id, unit",
    ),
    (
        "case_dispatches",
        &[
            "case_id",
            "tenant",
            "seq",
            "unit",
            "lead",
            "round",
            "dispatched_at",
            "check_in_by",
            "checked_in_at",
            "late",
            "missed",
            "returned_at",
            "replaced",
            "parts",
            "rating",
        ],
        "case_id, seq",
    ),
    (
        "case_replies",
        &[
            "case_id",
            "tenant",
            "seq",
            "round",
            "started_at",
            "replied_at",
        ],
        "case_id, seq",
    ),
    (
        "case_history",
        &[
            "case_id",
            "version",
            "tenant",
            "position",
            "commit_id",
            "actor_id",
            "actor_role",
            "actor_unit",
            "command",
            "recorded_at",
            "events",
            "prev_hash",
            "hash",
        ],
        "case_id, version",
    ),
    (
        "case_links",
        &["tenant", "case_id", "other_id", "relation", "position"],
        "case_id, other_id, relation",
    ),
    (
        "case_persons",
        &[
            "tenant",
            "person",
            "case_id",
            "kind",
            "part",
            "filed_at",
            "position",
            "prior_filed_at",
        ],
        "case_id, person",
    ),
    (
        "case_events",
        &[
            "tenant",
            "case_id",
            "day",
            "kind",
            "community",
            "grid",
            "category",
            "unit",
            "severity",
            "channel",
            "metric",
            "n",
        ],
        "case_id, day, metric, kind, community, grid, category, unit, severity, channel",
    ),
    (
        "case_numbers",
        &["tenant", "kind", "year", "last"],
        "tenant, kind, year",
    ),
    (
        "daily_counts",
        &[
            "tenant",
            "day",
            "kind",
            "community",
            "grid",
            "category",
            "unit",
            "severity",
            "channel",
            "metric",
            "n",
        ],
        "tenant, day, kind, community, grid, category, unit, severity, channel, metric",
    ),
    (
        "monthly_counts",
        &[
            "tenant",
            "month",
            "kind",
            "community",
            "grid",
            "category",
            "unit",
            "severity",
            "channel",
            "metric",
            "n",
        ],
        "tenant, month, kind, community, grid, category, unit, severity, channel, metric",
    ),
    (
        "yearly_counts",
        &[
            "tenant",
            "year",
            "kind",
            "community",
            "grid",
            "category",
            "unit",
            "severity",
            "channel",
            "metric",
            "n",
        ],
        "tenant, year, kind, community, grid, category, unit, severity, channel, metric",
    ),
    (
        "directories",
        &["tenant", "version", "position", "state"],
        "tenant",
    ),
    (
        "directory_entries",
        &[
            "tenant",
            "entry",
            "case_kind",
            "id",
            "name",
            "community",
            "unit_kind",
            "in_network",
            "mediation_room",
            "intake_unit",
            "retired",
        ],
        "tenant, entry, case_kind, id",
    ),
    (
        "quarantine",
        &[
            "position",
            "tenant",
            "case_id",
            "version",
            "reason",
            "case_number",
        ],
        "position",
    ),
    ("checkpoints", &["projection", "position"], "projection"),
];

/// The columns of a counted event's slice, in the order of `rows::Slice`: the dimensions
/// figures are sliced by, as the case was when the event happened (empty text for none).
pub(crate) const SLICE: &str = "kind, community, grid, category, unit, severity, channel";

/// How far back a petition looks for the one it repeats: twelve months, as 365 days.
pub(crate) const REPEAT_WINDOW_MICROS: i64 = 365 * 24 * 3600 * 1_000_000;

/// SQL: case `earlier` was filed before case `this` (ties broken by id) and within the year
/// before it.
pub(crate) fn earlier_within_a_year(earlier: &str, this: &str) -> String {
    format!(
        "({earlier}.filed_at < {this}.filed_at
          OR ({earlier}.filed_at = {this}.filed_at AND {earlier}.case_id < {this}.case_id))
         AND {earlier}.filed_at >= {this}.filed_at - {REPEAT_WINDOW_MICROS}"
    )
}

/// SQL: whether the case aliased `case` is a livelihood request that went to two or more units
/// (一呼百应), in any round.
pub(crate) fn coordinated_sql(case: &str) -> String {
    format!(
        "({case}.kind = 'livelihood' AND (SELECT COUNT(DISTINCT d.unit) FROM case_dispatches d
            WHERE d.case_id = {case}.case_id) >= 2)"
    )
}

/// SQL: whether the case aliased `case` is a repeat petition (重复信访): a petition by a person
/// who petitioned within the year before, or marked a duplicate of a petition of that year.
pub(crate) fn repeat_sql(case: &str) -> String {
    format!(
        "({case}.kind = 'petition' AND (EXISTS (
            SELECT 1 FROM case_persons rp_me
            JOIN case_persons rp_e ON rp_e.tenant = rp_me.tenant AND rp_e.person = rp_me.person
                AND rp_e.kind = 'petition' AND rp_e.case_id <> rp_me.case_id
            WHERE rp_me.case_id = {case}.case_id AND {by_person})
          OR {by_matter}))",
        by_person = earlier_within_a_year("rp_e", "rp_me"),
        by_matter = duplicate_of_a_petition_within_a_year_sql(case),
    )
}

/// SQL: whether the case aliased `case` is marked a duplicate of a petition filed within the year
/// before it (the second way a petition repeats).
pub(crate) fn duplicate_of_a_petition_within_a_year_sql(case: &str) -> String {
    format!(
        "EXISTS (
            SELECT 1 FROM case_links rl JOIN cases rl_e ON rl_e.case_id = rl.other_id
            WHERE rl.case_id = {case}.case_id AND rl.relation = 'duplicate-of'
                AND rl_e.kind = 'petition' AND {earlier})",
        earlier = earlier_within_a_year("rl_e", case),
    )
}

/// SQL: the nearest rank of the `percent`-th percentile among `n` values, as
/// `stats::nearest_rank` works it out (integer division; `n` is at least 1 here).
fn nearest_rank_sql(n: &str, percent: u64) -> String {
    format!("(({percent} * {n} + 99) / 100)")
}

/// What is counted of the cases closed in a range, per group, after the count itself and in the
/// order of `stats::ClosureCounts`: (column, what is summed). Both ways of ranking use these.
const CLOSURE_SUMS: [(&str, &str); 7] = [
    ("on_time", "CASE WHEN closed_on_time THEN 1 ELSE 0 END"),
    (
        "resolved",
        "CASE WHEN outcome = 'resolved' THEN 1 ELSE 0 END",
    ),
    ("disputes", "CASE WHEN kind = 'dispute' THEN 1 ELSE 0 END"),
    (
        "disputes_resolved",
        "CASE WHEN kind = 'dispute' AND outcome = 'resolved' THEN 1 ELSE 0 END",
    ),
    (
        "hazards_resolved",
        "CASE WHEN kind = 'hazard' AND outcome = 'resolved' THEN 1 ELSE 0 END",
    ),
    // Disputes mediated: accepted and ended by a performed agreement or a failure referred on
    // (status `closed`), not declined, withdrawn or a duplicate.
    (
        "disputes_mediated",
        "CASE WHEN kind = 'dispute' AND status = 'closed' THEN 1 ELSE 0 END",
    ),
    (
        "duplicates",
        "CASE WHEN outcome = 'duplicate' THEN 1 ELSE 0 END",
    ),
];

/// SQL: the closure sums as items of a select list, `SUM(…) {over} AS column` each (`over`: a
/// window clause, or nothing for a plain aggregate).
fn closure_sums_sql(over: &str) -> String {
    CLOSURE_SUMS
        .iter()
        .map(|(column, summed)| format!("SUM({summed}) {over} AS {column}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// SQL: the duration from filing to closing at the nearest rank of the `percent`-th percentile,
/// as an ordered-set aggregate (Postgres). `percentile_disc(f)` takes rank ceil(f * n), which in
/// floating point is one too high where `percent * n / 100` is whole (0.9 * 70 is
/// 63.00000000000001). A fraction 10^-10 below `percent / 100` gives the exact rank for every n
/// below 10^7: a whole `percent * n / 100` is only nudged below itself, and a fractional one
/// lies at least 0.01 above the whole number under it, which the nudge (n * 10^-10, under 0.001)
/// and the rounding of the product (under 10^-8) never span. (At 10^8 they can: the test.)
fn percentile_disc_sql(percent: u64) -> String {
    format!(
        "percentile_disc({percent} / 100.0 - 0.0000000001) \
         WITHIN GROUP (ORDER BY closed_at - filed_at)"
    )
}

macro_rules! dialect {
    ($db:ty, $pool:ty) => {
        use sqlx::{QueryBuilder, Row, Transaction};

        use super::*;

        type Db = $db;

        /// The position a projection has applied up to.
        pub(crate) async fn checkpoint(
            pool: &$pool,
            projection: &str,
        ) -> Result<u64, ProjectionError> {
            let at: Option<i64> =
                sqlx::query_scalar("SELECT position FROM checkpoints WHERE projection = $1")
                    .bind(projection)
                    .fetch_optional(pool)
                    .await?;
            Ok(at.map_or(0, |p| p as u64))
        }

        /// Records which log the model is built from (first time) and returns the one recorded.
        pub(crate) async fn log_source(pool: &$pool, log: &str) -> Result<String, ProjectionError> {
            sqlx::query("INSERT INTO log_source (id, log) VALUES (1, $1) ON CONFLICT (id) DO NOTHING")
                .bind(log)
                .execute(pool)
                .await?;
            sqlx::query("INSERT INTO checkpoints (projection, position) VALUES ($1, 0) ON CONFLICT (projection) DO NOTHING")
                .bind(CASES)
                .execute(pool)
                .await?;
            Ok(sqlx::query_scalar("SELECT log FROM log_source WHERE id = 1")
                .fetch_one(pool)
                .await?)
        }

        /// Applies a batch in one transaction that also moves the checkpoint from `from` to the
        /// batch's last position. If the checkpoint is no longer `from` (another projector got
        /// there first), nothing is applied: `Superseded`. The batch is worked out in memory and
        /// written set-wise: one statement per table, not per commit. `planned` is shown the plan
        /// before it is written. Returns the position reached, and how many commits the batch
        /// quarantined.
        pub(crate) async fn apply_batch(
            pool: &$pool,
            from: u64,
            batch: &[Recorded],
            policies: &Policies,
            planned: &(dyn Fn(&rows::BatchPlan) + Sync),
        ) -> Result<(u64, usize), ProjectionError> {
            let mut tx = pool.begin().await?;
            let last = batch.last().map_or(from, |r| r.position);
            let moved = sqlx::query(
                "UPDATE checkpoints SET position = $2 WHERE projection = $1 AND position = $3",
            )
            .bind(CASES)
            .bind(last as i64)
            .bind(from as i64)
            .execute(&mut *tx)
            .await?;
            if moved.rows_affected() != 1 {
                tx.rollback().await?;
                return Err(ProjectionError::Superseded { at: from });
            }
            let held = load_held(&mut tx, batch).await?;
            let quarantined = plan_and_write(&mut tx, batch, &held, policies, planned).await?;
            tx.commit().await?;
            Ok((last, quarantined.len()))
        }

        /// Works out and writes what `batch` changes, quarantining what cannot be applied
        /// (returned), showing `planned` the plan before writing it.
        async fn plan_and_write(
            tx: &mut Transaction<'_, Db>,
            batch: &[Recorded],
            held: &rows::Held,
            policies: &Policies,
            planned: &(dyn Fn(&rows::BatchPlan) + Sync),
        ) -> Result<Vec<rows::QuarantinedCommit>, ProjectionError> {
            let mut quarantined = Vec::new();
            // Directories' commits go to their own tables; the rest are cases'.
            let cases: std::borrow::Cow<'_, [Recorded]> =
                if batch.iter().any(crate::directory::is_directory) {
                    let directories = load_directories(tx, batch).await?;
                    let (planned, aside) = crate::directory::plan(batch, directories, held);
                    write_directories(tx, &planned).await?;
                    quarantined.extend(aside);
                    batch
                        .iter()
                        .filter(|r| !crate::directory::is_directory(r))
                        .cloned()
                        .collect()
                } else {
                    batch.into()
                };
            let stored = load_cases(tx, &cases).await?;
            let mut numbers = std::collections::HashMap::new();
            for key in rows::number_keys(&cases, policies) {
                let last = last_number(tx, &key).await?;
                numbers.insert(key, last);
            }
            let mut plan = rows::plan_batch(&cases, stored, numbers, held, policies);
            quarantined.append(&mut plan.quarantined);
            planned(&plan);
            write_plan(tx, &plan).await?;
            write_quarantined(tx, &quarantined).await?;
            Ok(quarantined)
        }

        /// The quarantined commits' streams among those `batch` continues: each one's first
        /// quarantined position.
        async fn load_held(
            tx: &mut Transaction<'_, Db>,
            batch: &[Recorded],
        ) -> Result<rows::Held, ProjectionError> {
            let ids = rows::continued_case_ids(batch);
            let mut held = rows::Held::default();
            for chunk in ids.chunks(500) {
                let mut q = QueryBuilder::<Db>::new(
                    "SELECT case_id, MIN(position) AS first FROM quarantine WHERE case_id IN (",
                );
                let mut list = q.separated(", ");
                for id in chunk {
                    list.push_bind(id.clone());
                }
                q.push(") GROUP BY case_id");
                for r in q.build().fetch_all(&mut **tx).await? {
                    held.first.insert(r.try_get("case_id")?, r.try_get("first")?);
                }
            }
            Ok(held)
        }

        async fn write_quarantined(
            tx: &mut Transaction<'_, Db>,
            quarantined: &[rows::QuarantinedCommit],
        ) -> Result<(), ProjectionError> {
            insert_rows(tx, &writes::quarantine(), quarantined, 500).await
        }

        /// Inserts `rows` with `insert`, `chunk` rows a statement.
        async fn insert_rows(
            tx: &mut Transaction<'_, Db>,
            insert: &writes::Insert,
            rows: &[impl writes::Row],
            chunk: usize,
        ) -> Result<(), ProjectionError> {
            let mut statements = Writes::default();
            statements.rows(tx, insert, rows, chunk).await?;
            statements.run(tx).await
        }

        /// Applies the quarantined commits of one case (or directory) again, in one transaction
        /// that holds the projector off: those that apply now leave the quarantine, with the
        /// case's rows as if they had never been held; the rest stay, with today's reason.
        /// Returns (commits applied, commits still held).
        pub(crate) async fn repair_stream(
            pool: &$pool,
            log: &dyn docket_eventlog::EventLog,
            case_id: &str,
            policies: &Policies,
        ) -> Result<(u64, u64), ProjectionError> {
            let mut tx = pool.begin().await?;
            // The projector writes only after moving the checkpoint: taking its row first
            // keeps it from quarantining behind this repair's back.
            sqlx::query("UPDATE checkpoints SET position = position WHERE projection = $1")
                .bind(CASES)
                .execute(&mut *tx)
                .await?;
            let rows = sqlx::query(
                "SELECT position, case_number FROM quarantine WHERE case_id = $1 ORDER BY position",
            )
            .bind(case_id)
            .fetch_all(&mut *tx)
            .await?;
            let mut held = rows::Held::default();
            let mut commits = Vec::with_capacity(rows.len());
            for r in rows {
                let position: i64 = r.try_get("position")?;
                if let Some(number) = r.try_get::<Option<String>, _>("case_number")? {
                    held.numbers.insert(case_id.to_owned(), number);
                }
                let recorded = log.read_position(position as u64).await?.ok_or_else(|| {
                    ProjectionError::Unprojectable {
                        position: position as u64,
                        reason: "the log holds no commit at this position".to_owned(),
                    }
                })?;
                commits.push(recorded);
            }
            sqlx::query("DELETE FROM quarantine WHERE case_id = $1")
                .bind(case_id)
                .execute(&mut *tx)
                .await?;
            let still = plan_and_write(&mut tx, &commits, &held, policies, &|_| {}).await?;
            tx.commit().await?;
            let still = still.len() as u64;
            Ok((commits.len() as u64 - still, still))
        }

        /// The stored states of these cases of `tenant` (those it holds).
        pub(crate) async fn case_states(
            pool: &$pool,
            tenant: &str,
            ids: &[Uuid],
        ) -> Result<Vec<(Uuid, String)>, ProjectionError> {
            let mut states = Vec::with_capacity(ids.len());
            for chunk in ids.chunks(500) {
                let mut q = QueryBuilder::<Db>::new("SELECT case_id, state FROM cases WHERE tenant = ");
                q.push_bind(tenant.to_owned()).push(" AND case_id IN (");
                let mut list = q.separated(", ");
                for id in chunk {
                    list.push_bind(id.to_string());
                }
                q.push(")");
                for r in q.build().fetch_all(pool).await? {
                    states.push((uuid(r.try_get::<&str, _>("case_id")?)?, r.try_get("state")?));
                }
            }
            Ok(states)
        }

        /// The quarantined commits, of one tenant or all, in log order.
        pub(crate) async fn quarantined(
            pool: &$pool,
            tenant: Option<&str>,
        ) -> Result<Vec<rows::QuarantinedCommit>, ProjectionError> {
            let rows = sqlx::query(
                "SELECT position, tenant, case_id, version, reason, case_number FROM quarantine
                 WHERE $1 IS NULL OR tenant = $1 ORDER BY position",
            )
            .bind(tenant)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(rows::QuarantinedCommit {
                        position: r.try_get("position")?,
                        tenant: r.try_get("tenant")?,
                        case_id: r.try_get("case_id")?,
                        version: r.try_get("version")?,
                        reason: r.try_get("reason")?,
                        number: r.try_get("case_number")?,
                    })
                })
                .collect()
        }

        /// How many commits the quarantine holds, of how many cases.
        pub(crate) async fn quarantine_counts(pool: &$pool) -> Result<(i64, i64), ProjectionError> {
            let row = sqlx::query(
                "SELECT COUNT(*) AS commits, COUNT(DISTINCT case_id) AS cases FROM quarantine",
            )
            .fetch_one(pool)
            .await?;
            Ok((row.try_get("commits")?, row.try_get("cases")?))
        }

        /// The first quarantined position of a case of `tenant`, if it is held.
        pub(crate) async fn quarantined_at(
            pool: &$pool,
            tenant: &str,
            case_id: &str,
        ) -> Result<Option<i64>, ProjectionError> {
            Ok(sqlx::query_scalar(
                "SELECT MIN(position) FROM quarantine WHERE case_id = $1 AND tenant = $2",
            )
            .bind(case_id)
            .bind(tenant)
            .fetch_one(pool)
            .await?)
        }

        /// The stored directories of the tenants whose directories a batch continues.
        async fn load_directories(
            tx: &mut Transaction<'_, Db>,
            batch: &[Recorded],
        ) -> Result<Vec<crate::directory::StoredDirectory>, ProjectionError> {
            let mut stored = Vec::new();
            for tenant in crate::directory::tenants_of(batch) {
                let row = sqlx::query("SELECT version, state FROM directories WHERE tenant = $1")
                    .bind(tenant)
                    .fetch_optional(&mut **tx)
                    .await?;
                if let Some(row) = row {
                    stored.push(crate::directory::StoredDirectory {
                        tenant: tenant.to_owned(),
                        version: row.try_get("version")?,
                        state: row.try_get("state")?,
                    });
                }
            }
            Ok(stored)
        }

        /// Stores each directory a batch changed, and lists its entries anew.
        async fn write_directories(
            tx: &mut Transaction<'_, Db>,
            planned: &[crate::directory::PlannedDirectory],
        ) -> Result<(), ProjectionError> {
            for d in planned {
                insert_rows(tx, &writes::directories(), std::slice::from_ref(d), 1).await?;
                sqlx::query("DELETE FROM directory_entries WHERE tenant = $1")
                    .bind(d.tenant.clone())
                    .execute(&mut **tx)
                    .await?;
                let entries: Vec<_> = d.entries.iter().map(|e| (&d.tenant, e)).collect();
                insert_rows(tx, &writes::directory_entries(), &entries, 500).await?;
            }
            Ok(())
        }

        /// The stored rows of the cases a batch names: those it continues, and any it would file
        /// again (a filing of a case the model holds is quarantined, never written over it).
        async fn load_cases(
            tx: &mut Transaction<'_, Db>,
            batch: &[Recorded],
        ) -> Result<Vec<rows::StoredCase>, ProjectionError> {
            let ids = rows::case_ids(batch);
            let mut stored = Vec::with_capacity(ids.len());
            for chunk in ids.chunks(500) {
                let mut q = QueryBuilder::<Db>::new(
                    "SELECT case_id, version, case_number, filed_at, filed_by, closed_at, state FROM cases
                     WHERE case_id IN (",
                );
                let mut list = q.separated(", ");
                for id in chunk {
                    list.push_bind(id.clone());
                }
                q.push(")");
                for r in q.build().fetch_all(&mut **tx).await? {
                    stored.push(rows::StoredCase {
                        case_id: r.try_get("case_id")?,
                        version: r.try_get("version")?,
                        number: r.try_get("case_number")?,
                        filed_at: r.try_get("filed_at")?,
                        filed_by: r.try_get("filed_by")?,
                        closed_at: r.try_get("closed_at")?,
                        state: r.try_get("state")?,
                    });
                }
            }
            Ok(stored)
        }

        async fn last_number(
            tx: &mut Transaction<'_, Db>,
            key: &rows::NumberKey,
        ) -> Result<i64, ProjectionError> {
            let last: Option<i64> = sqlx::query_scalar(
                "SELECT last FROM case_numbers WHERE tenant = $1 AND kind = $2 AND year = $3",
            )
            .bind(key.tenant.clone())
            .bind(key.kind)
            .bind(key.year)
            .fetch_optional(&mut **tx)
            .await?;
            Ok(last.unwrap_or(0))
        }

        /// Narrows a query over cases (aliased `case`) to those within `reach`.
        fn push_reach(q: &mut QueryBuilder<Db>, tenant: &str, reach: &Reach, case: &str) {
            match reach {
                Reach::Tenant => {}
                Reach::Grids(grids) => {
                    q.push(format_args!(" AND {case}.grid IN ("));
                    let mut list = q.separated(", ");
                    for grid in grids {
                        list.push_bind(grid.as_str().to_owned());
                    }
                    q.push(")");
                }
                Reach::Unit(unit) => {
                    q.push(format_args!(
                        " AND {case}.case_id IN (SELECT case_id FROM case_units WHERE tenant = "
                    ))
                    .push_bind(tenant.to_owned())
                    .push(" AND unit = ")
                    .push_bind(unit.as_str().to_owned())
                    .push(")");
                }
                Reach::Nothing => {
                    q.push(" AND 1 = 0");
                }
            }
        }

        /// Narrows `case_events` to the events counted where `reach` reaches: in its grids, or
        /// under its unit's lead.
        fn push_event_reach(q: &mut QueryBuilder<Db>, reach: &Reach) {
            match reach {
                Reach::Tenant => {}
                Reach::Grids(grids) => {
                    q.push(" AND grid IN (");
                    let mut list = q.separated(", ");
                    for grid in grids {
                        list.push_bind(grid.as_str().to_owned());
                    }
                    q.push(")");
                }
                Reach::Unit(unit) => {
                    q.push(" AND unit = ").push_bind(unit.as_str().to_owned());
                }
                Reach::Nothing => {
                    q.push(" AND 1 = 0");
                }
            }
        }

        /// The statements of a batch's write. On SQLite they are run together, in one call to the
        /// connection's thread (one hand-off for the batch rather than one per statement, each
        /// of which waited for a busy core twice); Postgres takes one statement per query, so
        /// each is run before the next is begun.
        #[derive(Default)]
        struct Writes {
            statements: Option<QueryBuilder<Db>>,
        }

        impl Writes {
            /// Begins the next statement with `sql`, running the one before it first where
            /// statements run one at a time.
            async fn next(
                &mut self,
                tx: &mut Transaction<'_, Db>,
                sql: impl Into<String>,
            ) -> Result<&mut QueryBuilder<Db>, ProjectionError> {
                if !ONE_CALL_PER_BATCH {
                    self.run(tx).await?;
                }
                let sql: String = sql.into();
                match &mut self.statements {
                    Some(q) => {
                        q.push(";\n").push(sql);
                    }
                    None => self.statements = Some(QueryBuilder::new(sql)),
                }
                Ok(self.statements.as_mut().expect("begun above"))
            }

            /// Begins the statements inserting `rows` with `insert`, `chunk` rows a statement.
            async fn rows(
                &mut self,
                tx: &mut Transaction<'_, Db>,
                insert: &writes::Insert,
                rows: &[impl writes::Row],
                chunk: usize,
            ) -> Result<(), ProjectionError> {
                for chunk in rows.chunks(chunk) {
                    let q = self.next(tx, insert.head.clone()).await?;
                    q.push_values(chunk, |mut b, row| row.bind_to(&mut b));
                    q.push(&insert.tail);
                }
                Ok(())
            }

            /// Runs what has been begun.
            async fn run(&mut self, tx: &mut Transaction<'_, Db>) -> Result<(), ProjectionError> {
                if let Some(mut q) = self.statements.take() {
                    // Batched, every text differs: kept out of the statement cache.
                    q.build()
                        .persistent(!ONE_CALL_PER_BATCH)
                        .execute(&mut **tx)
                        .await?;
                }
                Ok(())
            }
        }

        /// Deletes a per-case table's rows of these cases, which the plan writes anew.
        async fn delete_rows_of(
            tx: &mut Transaction<'_, Db>,
            writes: &mut Writes,
            table: &'static str,
            cases: &[&String],
        ) -> Result<(), ProjectionError> {
            for chunk in cases.chunks(500) {
                let q = writes.next(tx, format!("DELETE FROM {table} WHERE case_id IN (")).await?;
                let mut list = q.separated(", ");
                for id in chunk {
                    list.push_bind((*id).clone());
                }
                q.push(")");
            }
            Ok(())
        }

        async fn write_plan(
            tx: &mut Transaction<'_, Db>,
            plan: &rows::BatchPlan,
        ) -> Result<(), ProjectionError> {
            let mut statements = Writes::default();
            statements.rows(tx, &writes::cases(), &plan.cases, 500).await?;
            let touched: Vec<&String> = plan.cases.iter().map(|c| &c.row.case_id).collect();
            let [units_table, dispatches_table, replies_table] = writes::REWRITTEN_PER_CASE;
            delete_rows_of(tx, &mut statements, units_table, &touched).await?;
            let units = plan.units();
            statements.rows(tx, &writes::case_units(), &units, 1000).await?;
            delete_rows_of(tx, &mut statements, dispatches_table, &touched).await?;
            let dispatches = plan.dispatches();
            statements
                .rows(tx, &writes::case_dispatches(), &dispatches, 500)
                .await?;
            delete_rows_of(tx, &mut statements, replies_table, &touched).await?;
            let replies = plan.replies();
            statements.rows(tx, &writes::case_replies(), &replies, 500).await?;
            statements.rows(tx, &writes::case_history(), &plan.history, 500).await?;
            statements.rows(tx, &writes::case_links(), &plan.links, 1000).await?;
            statements.rows(tx, &writes::case_persons(), &plan.persons, 1000).await?;
            // Each petition of a person newly named keeps when that person's petition before
            // it was filed (the statistics' repeats read it from the index): worked out again
            // over all the person's petitions, since a late-projected one can fall between two.
            let [before_tenant, before_persons, after_persons] = writes::PRIOR_PETITIONS;
            for tenant in plan.petitioners().chunk_by(|a, b| a.0 == b.0) {
                for chunk in tenant.chunks(500) {
                    let q = statements.next(tx, before_tenant).await?;
                    q.push_bind(chunk[0].0.to_owned()).push(before_persons);
                    let mut list = q.separated(", ");
                    for (_, person) in chunk {
                        list.push_bind((*person).to_owned());
                    }
                    q.push(after_persons);
                }
            }
            statements
                .rows(tx, &writes::case_events(), &plan.case_events, 1000)
                .await?;
            for ((table, period), counts) in writes::COUNTS.into_iter().zip([
                &plan.counts,
                &plan.monthly_counts,
                &plan.yearly_counts,
            ]) {
                statements
                    .rows(tx, &writes::counts(table, period), counts, 1000)
                    .await?;
            }
            statements.rows(tx, &writes::case_numbers(), &plan.numbers, 1).await?;
            statements.run(tx).await
        }

        /// Cases of `tenant` matching `filter`, newest first; `after` is the previous page's cursor.
        pub(crate) async fn list_cases(
            pool: &$pool,
            tenant: &str,
            filter: &CaseFilter,
            after: Option<Uuid>,
            limit: u32,
        ) -> Result<Page<CaseSummary>, ProjectionError> {
            // With a counted event, the slice narrows the events (as they were counted), not
            // the case as it is now: the list behind a counter is exactly its cases.
            let slice = [
                ("kind", "kind", &filter.kind),
                ("community", "community", &filter.community),
                ("grid", "grid", &filter.grid),
                ("category", "category", &filter.category),
                ("severity", "severity", &filter.severity),
                ("lead_unit", "unit", &filter.lead_unit),
                ("channel", "channel", &filter.channel),
            ];
            // The counted events the list is of: of this metric, in these days, under this
            // slice, where the caller reaches (as the figures count them).
            let counted_events = |q: &mut QueryBuilder<Db>, (metric, from, to): &(String, String, String)| {
                q.push(" FROM case_events WHERE tenant = ")
                    .push_bind(tenant.to_owned())
                    .push(" AND metric = ")
                    .push_bind(metric.clone())
                    .push(" AND day >= ")
                    .push_bind(from.clone())
                    .push(" AND day <= ")
                    .push_bind(to.clone());
                for (_, column, value) in slice {
                    if let Some(v) = value {
                        q.push(format_args!(" AND {column} = ")).push_bind(v.clone());
                    }
                }
                if let Some(reach) = &filter.reach {
                    push_event_reach(q, reach);
                }
            };
            let mut q = QueryBuilder::<Db>::new(
                "SELECT case_id, case_number, kind, status, is_closed, community, grid, title,
                        category, severity, lead_unit, assignee, version, position, deadline,
                        filed_at, updated_at, closed_at, outcome, closed_on_time, missed, backlog,
                        headcount, ",
            );
            q.push(crate::store::repeat_sql("cases"));
            q.push(" AS is_repeat");
            if let Some(event) = &filter.event {
                // How many of the counted events happened in each case: a counter's number is
                // the sum of its list's.
                q.push(", (SELECT CAST(SUM(n) AS BIGINT)");
                counted_events(&mut q, event);
                q.push(" AND case_events.case_id = cases.case_id) AS events");
            }
            q.push(" FROM cases WHERE tenant = ");
            q.push_bind(tenant.to_owned());
            let equals = [("status", &filter.status), ("assignee", &filter.assignee)];
            let on_cases = slice
                .iter()
                .filter(|_| filter.event.is_none())
                .map(|(column, _, value)| (*column, *value));
            for (column, value) in equals.into_iter().chain(on_cases) {
                match value.as_deref() {
                    None => {}
                    Some("") if matches!(column, "grid" | "severity" | "lead_unit" | "channel") => {
                        q.push(format_args!(" AND {column} IS NULL"));
                    }
                    Some(v) => {
                        q.push(format_args!(" AND {column} = ")).push_bind(v.to_owned());
                    }
                }
            }
            if let Some(unit) = &filter.unit {
                q.push(" AND case_id IN (SELECT case_id FROM case_units WHERE tenant = ")
                    .push_bind(tenant.to_owned())
                    .push(" AND unit = ")
                    .push_bind(unit.clone())
                    .push(")");
            }
            if let Some(reach) = &filter.reach {
                push_reach(&mut q, tenant, reach, "cases");
            }
            if let Some(actor) = &filter.mine {
                q.push(" AND (filed_by = ")
                    .push_bind(actor.clone())
                    .push(" OR assignee = ")
                    .push_bind(actor.clone())
                    .push(")");
            }
            if let Some(closed) = filter.closed {
                q.push(" AND is_closed = ").push_bind(closed);
            }
            if let Some(from) = filter.closed_from {
                q.push(" AND closed_at >= ").push_bind(rows::micros(from));
            }
            if let Some(to) = filter.closed_to {
                q.push(" AND closed_at < ").push_bind(rows::micros(to));
            }
            if let Some(on_time) = filter.closed_on_time {
                q.push(" AND closed_on_time = ").push_bind(on_time);
            }
            if let Some(outcome) = &filter.outcome {
                q.push(" AND outcome = ").push_bind(outcome.clone());
            }
            if let Some(event) = &filter.event {
                q.push(" AND case_id IN (SELECT case_id");
                counted_events(&mut q, event);
                q.push(")");
            }
            if let Some(backlog) = filter.backlog {
                q.push(" AND backlog = ").push_bind(backlog);
            }
            if filter.replied_from.is_some() || filter.replied_to.is_some() {
                q.push(" AND case_id IN (SELECT case_id FROM case_replies WHERE tenant = ")
                    .push_bind(tenant.to_owned());
                if let Some(from) = filter.replied_from {
                    q.push(" AND replied_at >= ").push_bind(rows::micros(from));
                }
                if let Some(to) = filter.replied_to {
                    q.push(" AND replied_at < ").push_bind(rows::micros(to));
                }
                q.push(")");
            }
            if let Some(collective) = filter.collective {
                q.push(" AND collective = ").push_bind(collective);
            }
            if let Some(key_person) = filter.key_person {
                q.push(" AND key_person = ").push_bind(key_person);
            }
            if let Some(risk) = filter.escalation_risk {
                q.push(if risk {
                    " AND escalation_risk IS NOT NULL"
                } else {
                    " AND escalation_risk IS NULL"
                });
            }
            if let Some(missed) = filter.missed {
                q.push(if missed { " AND missed > 0" } else { " AND missed = 0" });
            }
            if let Some(coordinated) = filter.coordinated {
                q.push(if coordinated { " AND " } else { " AND NOT " })
                    .push(crate::store::coordinated_sql("cases"));
            }
            if let Some(repeat) = filter.repeat {
                q.push(if repeat { " AND " } else { " AND NOT " })
                    .push(crate::store::repeat_sql("cases"));
            }
            if let Some(now) = filter.overdue_at {
                q.push(" AND is_closed = ")
                    .push_bind(false)
                    .push(" AND deadline <= ")
                    .push_bind(rows::micros(now));
            }
            if let Some(before) = filter.due_before {
                q.push(" AND is_closed = ")
                    .push_bind(false)
                    .push(" AND deadline < ")
                    .push_bind(rows::micros(before));
            }
            // Case ids are UUIDv7, minted when the case is filed: bounding them too (an hour
            // wide of the filing times) lets the list walk its own index.
            if let Some(from) = filter.filed_from {
                q.push(" AND filed_at >= ").push_bind(rows::micros(from));
                q.push(" AND case_id >= ").push_bind(rows::uuid_floor(from, -1));
            }
            if let Some(to) = filter.filed_to {
                q.push(" AND filed_at < ").push_bind(rows::micros(to));
                q.push(" AND case_id < ").push_bind(rows::uuid_floor(to, 1));
            }
            if let Some(text) = &filter.text {
                // A substring match works for Chinese, which has no spaces between words.
                let pattern = format!(
                    "%{}%",
                    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
                );
                q.push(" AND (title || ' ' || description) LIKE ")
                    .push_bind(pattern)
                    .push(" ESCAPE '\\'");
            }
            if let Some(cursor) = after {
                q.push(" AND case_id < ").push_bind(cursor.to_string());
            }
            q.push(" ORDER BY case_id DESC LIMIT ").push_bind(i64::from(limit) + 1);
            let rows = q.build().fetch_all(pool).await?;
            let mut items = rows
                .iter()
                .map(|r| {
                    let time = |col: &str| -> Result<Option<jiff::Timestamp>, ProjectionError> {
                        Ok(r.try_get::<Option<i64>, _>(col)?.map(from_micros))
                    };
                    let deadline = time("deadline")?;
                    let closed: bool = r.try_get("is_closed")?;
                    Ok(CaseSummary {
                        id: uuid(r.try_get::<&str, _>("case_id")?)?,
                        number: r.try_get("case_number")?,
                        kind: r.try_get("kind")?,
                        status: r.try_get("status")?,
                        closed,
                        overdue: !closed
                            && deadline.is_some_and(|d| filter.now.is_some_and(|now| now >= d)),
                        community: r.try_get("community")?,
                        grid: r.try_get("grid")?,
                        title: r.try_get("title")?,
                        category: r.try_get("category")?,
                        severity: r.try_get("severity")?,
                        lead_unit: r.try_get("lead_unit")?,
                        assignee: r.try_get("assignee")?,
                        version: r.try_get::<i64, _>("version")? as u64,
                        position: r.try_get::<i64, _>("position")? as u64,
                        deadline,
                        filed_at: from_micros(r.try_get("filed_at")?),
                        updated_at: from_micros(r.try_get("updated_at")?),
                        closed_at: time("closed_at")?,
                        outcome: r.try_get("outcome")?,
                        closed_on_time: r.try_get("closed_on_time")?,
                        repeat: r.try_get("is_repeat")?,
                        missed: r.try_get::<i64, _>("missed")? as u32,
                        backlog: r.try_get("backlog")?,
                        headcount: r
                            .try_get::<Option<i64>, _>("headcount")?
                            .map(|n| n as u32),
                        events: match filter.event {
                            Some(_) => r.try_get::<Option<i64>, _>("events")?.map(|n| n as u32),
                            None => None,
                        },
                    })
                })
                .collect::<Result<Vec<_>, ProjectionError>>()?;
            let next_cursor = if items.len() > limit as usize {
                items.truncate(limit as usize);
                items.last().map(|c| c.id)
            } else {
                None
            };
            Ok(Page { items, next_cursor })
        }

        pub(crate) async fn case_number(
            pool: &$pool,
            tenant: &str,
            case_id: Uuid,
        ) -> Result<Option<String>, ProjectionError> {
            Ok(sqlx::query_scalar(
                "SELECT case_number FROM cases WHERE tenant = $1 AND case_id = $2",
            )
            .bind(tenant)
            .bind(case_id.to_string())
            .fetch_optional(pool)
            .await?)
        }

        /// The case the projection gave this number, if any.
        pub(crate) async fn case_by_number(
            pool: &$pool,
            tenant: &str,
            number: &str,
        ) -> Result<Option<Uuid>, ProjectionError> {
            let id: Option<String> = sqlx::query_scalar(
                "SELECT case_id FROM cases WHERE tenant = $1 AND case_number = $2",
            )
            .bind(tenant)
            .bind(number)
            .fetch_optional(pool)
            .await?;
            Ok(id.and_then(|id| id.parse().ok()))
        }

        pub(crate) async fn directory(
            pool: &$pool,
            tenant: &str,
        ) -> Result<Vec<DirectoryEntry>, ProjectionError> {
            let rows = sqlx::query(
                "SELECT entry, case_kind, id, name, community, unit_kind, in_network,
                        mediation_room, intake_unit, retired
                 FROM directory_entries WHERE tenant = $1 ORDER BY entry, case_kind, id",
            )
            .bind(tenant)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    let kind: String = r.try_get("case_kind")?;
                    Ok(DirectoryEntry {
                        entry: r.try_get("entry")?,
                        kind: (!kind.is_empty()).then_some(kind),
                        id: r.try_get("id")?,
                        name: r.try_get("name")?,
                        community: r.try_get("community")?,
                        unit_kind: r.try_get("unit_kind")?,
                        in_network: r.try_get("in_network")?,
                        mediation_room: r.try_get("mediation_room")?,
                        intake_unit: r.try_get("intake_unit")?,
                        retired: r.try_get("retired")?,
                    })
                })
                .collect()
        }

        pub(crate) async fn tenants(pool: &$pool) -> Result<Vec<String>, ProjectionError> {
            Ok(sqlx::query_scalar("SELECT DISTINCT tenant FROM cases ORDER BY tenant")
            .fetch_all(pool)
            .await?)
        }

        pub(crate) async fn names_in_use(
            pool: &$pool,
            tenant: &str,
        ) -> Result<NamesInUse, ProjectionError> {
            let communities = sqlx::query_scalar(
                "SELECT DISTINCT community FROM cases WHERE tenant = $1 ORDER BY community",
            )
            .bind(tenant)
            .fetch_all(pool)
            .await?;
            let grids = sqlx::query_as(
                "SELECT DISTINCT grid, community FROM cases
                 WHERE tenant = $1 AND grid IS NOT NULL ORDER BY grid, community",
            )
            .bind(tenant)
            .fetch_all(pool)
            .await?;
            let units = sqlx::query_scalar(
                "SELECT DISTINCT unit FROM case_units WHERE tenant = $1 ORDER BY unit",
            )
            .bind(tenant)
            .fetch_all(pool)
            .await?;
            let categories = sqlx::query_as(
                "SELECT DISTINCT kind, category FROM cases WHERE tenant = $1
                 ORDER BY kind, category",
            )
            .bind(tenant)
            .fetch_all(pool)
            .await?;
            let cases: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM cases WHERE tenant = $1")
                .bind(tenant)
                .fetch_one(pool)
                .await?;
            Ok(NamesInUse {
                communities,
                grids,
                units,
                categories,
                cases: cases as u64,
            })
        }

        pub(crate) async fn links(
            pool: &$pool,
            tenant: &str,
            case_id: Uuid,
        ) -> Result<Vec<CaseLink>, ProjectionError> {
            let rows = sqlx::query(
                "SELECT other_id, relation FROM case_links WHERE tenant = $1 AND case_id = $2
                 ORDER BY position, other_id",
            )
            .bind(tenant)
            .bind(case_id.to_string())
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(CaseLink {
                        case: uuid(r.try_get::<&str, _>("other_id")?)?,
                        relation: r.try_get("relation")?,
                    })
                })
                .collect()
        }

        pub(crate) async fn history(
            pool: &$pool,
            tenant: &str,
            case_id: Uuid,
        ) -> Result<Vec<HistoryEntry>, ProjectionError> {
            let rows = sqlx::query(
                "SELECT version, position, commit_id, recorded_at, actor_id, actor_role, actor_unit,
                        command, events, prev_hash, hash
                 FROM case_history WHERE tenant = $1 AND case_id = $2 ORDER BY version",
            )
            .bind(tenant)
            .bind(case_id.to_string())
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    let events: String = r.try_get("events")?;
                    Ok(HistoryEntry {
                        version: r.try_get::<i64, _>("version")? as u64,
                        position: r.try_get::<i64, _>("position")? as u64,
                        commit_id: uuid(r.try_get::<&str, _>("commit_id")?)?,
                        recorded_at: r.try_get("recorded_at")?,
                        actor: HistoryActor {
                            id: r.try_get("actor_id")?,
                            role: r.try_get("actor_role")?,
                            unit: r.try_get("actor_unit")?,
                        },
                        command: r.try_get("command")?,
                        events: serde_json::from_str(&events).map_err(decode_err)?,
                        prev_hash: r.try_get("prev_hash")?,
                        hash: r.try_get("hash")?,
                    })
                })
                .collect()
        }

        /// Every case that names `person`, newest first, at most `limit`.
        pub(crate) async fn person_cases(
            pool: &$pool,
            tenant: &str,
            person: Uuid,
            limit: u32,
        ) -> Result<Vec<PersonCase>, ProjectionError> {
            let sql = format!(
                "SELECT c.case_id, c.case_number, c.kind, c.status, c.is_closed, c.title,
                        c.filed_at, c.closed_at, c.outcome, p.part, {} AS is_repeat
                 FROM case_persons p JOIN cases c ON c.case_id = p.case_id
                 WHERE p.tenant = $1 AND p.person = $2
                 ORDER BY p.filed_at DESC, p.case_id DESC LIMIT $3",
                crate::store::repeat_sql("c")
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(tenant)
                .bind(person.to_string())
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(PersonCase {
                        id: uuid(r.try_get::<&str, _>("case_id")?)?,
                        number: r.try_get("case_number")?,
                        kind: r.try_get("kind")?,
                        status: r.try_get("status")?,
                        closed: r.try_get("is_closed")?,
                        title: r.try_get("title")?,
                        part: r.try_get("part")?,
                        filed_at: from_micros(r.try_get("filed_at")?),
                        closed_at: r.try_get::<Option<i64>, _>("closed_at")?.map(from_micros),
                        outcome: r.try_get("outcome")?,
                        repeat: r.try_get("is_repeat")?,
                    })
                })
                .collect()
        }

        /// The earlier petitions a petition repeats: by one of its petitioners, or on the same
        /// matter (the petition is marked a duplicate of it), filed within the year before it.
        pub(crate) async fn repeat_of(
            pool: &$pool,
            tenant: &str,
            case_id: Uuid,
        ) -> Result<Vec<RepeatOf>, ProjectionError> {
            let sql = format!(
                "SELECT e.case_id AS case_id, e.case_number AS case_number,
                        e.filed_at AS filed_at, 'person' AS why
                 FROM cases c
                 JOIN case_persons me ON me.case_id = c.case_id
                 JOIN case_persons ep ON ep.tenant = me.tenant AND ep.person = me.person
                     AND ep.kind = 'petition' AND ep.case_id <> me.case_id
                 JOIN cases e ON e.case_id = ep.case_id
                 WHERE c.tenant = $1 AND c.case_id = $2 AND c.kind = 'petition'
                     AND {earlier}
                 UNION
                 SELECT e.case_id AS case_id, e.case_number AS case_number,
                        e.filed_at AS filed_at, 'matter' AS why
                 FROM cases c
                 JOIN case_links l ON l.case_id = c.case_id AND l.relation = 'duplicate-of'
                 JOIN cases e ON e.case_id = l.other_id AND e.kind = 'petition'
                 WHERE c.tenant = $1 AND c.case_id = $2 AND c.kind = 'petition'
                     AND {earlier}
                 ORDER BY filed_at, case_id",
                earlier = crate::store::earlier_within_a_year("e", "c"),
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(tenant)
                .bind(case_id.to_string())
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(RepeatOf {
                        case: uuid(r.try_get::<&str, _>("case_id")?)?,
                        number: r.try_get("case_number")?,
                        filed_at: from_micros(r.try_get("filed_at")?),
                        by: r.try_get("why")?,
                    })
                })
                .collect()
        }

        /// The tenant's commits after position `after` up to `upto`, of cases within `reach` (as
        /// the cases are now), in log order, at most `limit`.
        pub(crate) async fn commits_after(
            pool: &$pool,
            tenant: &str,
            reach: &Reach,
            after: u64,
            upto: u64,
            limit: u32,
        ) -> Result<Vec<StreamedCommit>, ProjectionError> {
            let mut q = QueryBuilder::<Db>::new(
                "SELECT h.position, h.case_id, h.version, h.commit_id, h.recorded_at, h.actor_id,
                        h.actor_role, h.actor_unit, h.command, h.events, c.case_number, c.kind,
                        c.state
                 FROM case_history h JOIN cases c ON c.case_id = h.case_id
                 WHERE h.tenant = ",
            );
            q.push_bind(tenant.to_owned())
                .push(" AND h.position > ")
                .push_bind(after as i64)
                .push(" AND h.position <= ")
                .push_bind(upto as i64);
            push_reach(&mut q, tenant, reach, "c");
            q.push(" ORDER BY h.position LIMIT ").push_bind(i64::from(limit));
            let rows = q.build().fetch_all(pool).await?;
            rows.iter()
                .map(|r| {
                    let events: String = r.try_get("events")?;
                    let state: String = r.try_get("state")?;
                    Ok(StreamedCommit {
                        position: r.try_get::<i64, _>("position")? as u64,
                        case_id: uuid(r.try_get::<&str, _>("case_id")?)?,
                        number: r.try_get("case_number")?,
                        kind: r.try_get("kind")?,
                        version: r.try_get::<i64, _>("version")? as u64,
                        commit_id: uuid(r.try_get::<&str, _>("commit_id")?)?,
                        recorded_at: r.try_get("recorded_at")?,
                        actor: HistoryActor {
                            id: r.try_get("actor_id")?,
                            role: r.try_get("actor_role")?,
                            unit: r.try_get("actor_unit")?,
                        },
                        command: r.try_get("command")?,
                        events: serde_json::from_str(&events).map_err(decode_err)?,
                        case: serde_json::from_str(&state).map_err(decode_err)?,
                    })
                })
                .collect()
        }

        /// Open cases of every tenant with a limit passed at or before `now` (the current
        /// deadline, or a kind's own such as a unit's check-in), after
        /// `after` in case id order, at most `limit`: (tenant, case id, state JSON).
        pub(crate) async fn overdue(
            pool: &$pool,
            now: i64,
            after: &str,
            limit: u32,
        ) -> Result<Vec<(String, Uuid, String)>, ProjectionError> {
            let rows = sqlx::query(
                "SELECT tenant, case_id, state FROM cases
                 WHERE NOT is_closed AND watch_at <= $1 AND case_id > $2
                   AND case_id NOT IN (SELECT case_id FROM quarantine)
                 ORDER BY case_id LIMIT $3",
            )
            .bind(now)
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok((
                        r.try_get("tenant")?,
                        uuid(r.try_get::<&str, _>("case_id")?)?,
                        r.try_get("state")?,
                    ))
                })
                .collect()
        }

        /// A SHA-256 over every row of every table, in key order: two models with the same
        /// digest hold the same rows.
        pub(crate) async fn digest(pool: &$pool) -> Result<String, ProjectionError> {
            use sha2::Digest;
            let mut hash = sha2::Sha256::new();
            for (table, columns, order) in crate::store::TABLES {
                let select = columns
                    .iter()
                    .map(|c| format!("CAST({c} AS TEXT)"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let sql = format!("SELECT {select} FROM {table} ORDER BY {order}");
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await?;
                hash.update(table.as_bytes());
                for row in &rows {
                    for i in 0..columns.len() {
                        let value: Option<String> = row.try_get(i)?;
                        match value {
                            Some(v) => {
                                hash.update([1]);
                                hash.update((v.len() as u64).to_le_bytes());
                                hash.update(v.as_bytes());
                            }
                            None => hash.update([0]),
                        }
                    }
                }
            }
            Ok(hex::encode(hash.finalize()))
        }

        /// The audit's comparison: the live model's tables, read in one snapshot, against the
        /// recount's, which is first brought to the snapshot's checkpoint; table by table, each
        /// streamed in key order.
        pub(crate) async fn compare(
            live: &$pool,
            recount: &$pool,
            projector: &crate::Projector,
            report: &mut crate::audit::AuditReport,
            progress: crate::audit::Reporter<'_>,
        ) -> Result<(), ProjectionError> {
            let mut tx = live.begin().await?;
            // SQLite's read transaction is a snapshot from its first read; Postgres' must ask.
            if let Some(snapshot) = SNAPSHOT_ISOLATION {
                sqlx::query(snapshot).execute(&mut *tx).await?;
            }
            let at: Option<i64> =
                sqlx::query_scalar("SELECT position FROM checkpoints WHERE projection = $1")
                    .bind(CASES)
                    .fetch_optional(&mut *tx)
                    .await?;
            if !crate::audit::recount_to(projector, at.unwrap_or(0) as u64, report).await? {
                return Ok(());
            }
            let tables: Vec<_> = crate::store::TABLES
                .iter()
                .filter(|(table, _, _)| *table != "checkpoints")
                .collect();
            for (done, (name, columns, key)) in tables.iter().enumerate() {
                let table = crate::audit::Table { name, columns, key };
                let sql = table.rows_sql(KEY_COLLATION);
                let as_text = |row: Result<<Db as sqlx::Database>::Row, sqlx::Error>| {
                    let row = row?;
                    (0..columns.len())
                        .map(|i| row.try_get::<Option<String>, _>(i))
                        .collect::<Result<Vec<_>, _>>()
                };
                let mine = futures_util::StreamExt::map(
                    sqlx::query(sqlx::AssertSqlSafe(sql.clone())).fetch(&mut *tx),
                    as_text,
                );
                let theirs = futures_util::StreamExt::map(
                    sqlx::query(sqlx::AssertSqlSafe(sql)).fetch(recount),
                    as_text,
                );
                crate::audit::compare_table(&table, mine, theirs, report).await?;
                progress(crate::audit::Progress {
                    phase: "compare",
                    done: done as u64 + 1,
                    of: tables.len() as u64,
                    report,
                });
            }
            tx.commit().await?;
            Ok(())
        }

        /// Narrows a stats query over `cases`, `daily_counts` or the dispatches (joined to their
        /// cases) to the slice and reach.
        fn push_stats_filters(
            q: &mut QueryBuilder<Db>,
            stats: &crate::stats::StatsQuery,
            over: crate::store::Over,
        ) {
            for (dimension, value) in &stats.slice {
                let column = match over {
                    crate::store::Over::Counters => dimension.count_column(),
                    crate::store::Over::Cases | crate::store::Over::Dispatches => {
                        dimension.case_column()
                    }
                };
                q.push(format_args!(" AND {column} = ")).push_bind(value.clone());
            }
            match &stats.reach {
                Reach::Tenant => {}
                Reach::Grids(grids) => {
                    q.push(" AND grid IN (");
                    let mut list = q.separated(", ");
                    for grid in grids {
                        list.push_bind(grid.as_str().to_owned());
                    }
                    q.push(")");
                }
                Reach::Unit(unit) => {
                    let column = match over {
                        crate::store::Over::Cases => "lead_unit",
                        crate::store::Over::Counters => "unit",
                        // A unit reaches its own dispatches.
                        crate::store::Over::Dispatches => "d.unit",
                    };
                    q.push(format_args!(" AND {column} = "))
                        .push_bind(unit.as_str().to_owned());
                }
                Reach::Nothing => {
                    q.push(" AND 1 = 0");
                }
            }
        }

        /// Per group: opened, of those closed, overdue, petitions, repeats, hazards; risk events,
        /// of those under control, struck off, escalated; livelihood requests, of those sent to
        /// two or more units.
        pub(crate) async fn stats_cohort(
            pool: &$pool,
            stats: &crate::stats::StatsQuery,
            from: jiff::Timestamp,
            to: jiff::Timestamp,
        ) -> Result<Vec<(String, [i64; crate::stats::COHORT])>, ProjectionError> {
            let group = stats.by.map_or("''", |d| d.case_column());
            // The repeats among the petitions filed in the range, found set-wise rather than case
            // by case, by the rule of `repeat_sql` (which the drill-down lists use): a petition
            // repeats when the same person's petition before it (by filing time, then case id)
            // was filed within the year before it. The projector keeps that earlier filing time
            // beside each petitioner (`prior_filed_at`), so the range's petitions are read from
            // one index, however long the range. A petition marked a duplicate is looked up case
            // by case, as the lists do (one probe of `case_links` per petition).
            let (from, to) = (rows::micros(from), rows::micros(to));
            let mut q = QueryBuilder::<Db>::new(
                "WITH repeats_by_person AS (SELECT case_id FROM case_persons
                    WHERE kind = 'petition' AND tenant = ",
            );
            q.push_bind(stats.tenant.clone())
                .push(" AND filed_at >= ")
                .push_bind(from)
                .push(" AND filed_at < ")
                .push_bind(to)
                .push(format_args!(
                    " AND prior_filed_at >= filed_at - {})
                    SELECT {group} AS g, COUNT(*) AS opened,
                    SUM(CASE WHEN is_closed THEN 1 ELSE 0 END) AS closed,
                    SUM(CASE WHEN NOT is_closed AND deadline <= ",
                    crate::store::REPEAT_WINDOW_MICROS
                ));
            q.push_bind(rows::micros(stats.now));
            q.push(format_args!(
                " THEN 1 ELSE 0 END) AS overdue,
                    SUM(CASE WHEN kind = 'petition' THEN 1 ELSE 0 END) AS petitions,
                    SUM(CASE WHEN kind = 'petition'
                        AND (case_id IN (SELECT case_id FROM repeats_by_person) OR {})
                        THEN 1 ELSE 0 END) AS repeats,
                    SUM(CASE WHEN kind = 'hazard' THEN 1 ELSE 0 END) AS hazards,
                    SUM(CASE WHEN kind = 'risk_event' THEN 1 ELSE 0 END) AS risks,
                    SUM(CASE WHEN kind = 'risk_event' AND status = 'under-control'
                        THEN 1 ELSE 0 END) AS risks_under_control,
                    SUM(CASE WHEN kind = 'risk_event' AND status = 'struck-off'
                        THEN 1 ELSE 0 END) AS risks_struck_off,
                    SUM(CASE WHEN kind = 'risk_event' AND status = 'escalated'
                        THEN 1 ELSE 0 END) AS risks_escalated,
                    SUM(CASE WHEN kind = 'livelihood' THEN 1 ELSE 0 END) AS requests,
                    SUM(CASE WHEN kind <> 'livelihood' THEN 0 WHEN {coordinated} THEN 1 ELSE 0 END)
                        AS requests_coordinated,
                    SUM(CASE WHEN collective THEN 1 ELSE 0 END) AS collective_visits,
                    CAST(SUM(CASE WHEN collective THEN headcount ELSE 0 END) AS BIGINT)
                        AS collective_visitors,
                    SUM(CASE WHEN key_person THEN 1 ELSE 0 END) AS key_person_petitions,
                    SUM(CASE WHEN escalation_risk IS NULL THEN 0 ELSE 1 END)
                        AS escalation_risk_petitions
                 FROM cases WHERE tenant = ",
                crate::store::duplicate_of_a_petition_within_a_year_sql("cases"),
                coordinated = crate::store::coordinated_sql("cases"),
            ));
            q.push_bind(stats.tenant.clone())
                .push(" AND filed_at >= ")
                .push_bind(from)
                .push(" AND filed_at < ")
                .push_bind(to);
            push_stats_filters(&mut q, stats, crate::store::Over::Cases);
            q.push(" GROUP BY g");
            let rows = q.build().fetch_all(pool).await?;
            rows.iter()
                .map(|r| {
                    let n = |c: &str| -> Result<i64, sqlx::Error> {
                        Ok(r.try_get::<Option<i64>, _>(c)?.unwrap_or(0))
                    };
                    Ok((
                        r.try_get("g")?,
                        [
                            n("opened")?,
                            n("closed")?,
                            n("overdue")?,
                            n("petitions")?,
                            n("repeats")?,
                            n("hazards")?,
                            n("risks")?,
                            n("risks_under_control")?,
                            n("risks_struck_off")?,
                            n("risks_escalated")?,
                            n("requests")?,
                            n("requests_coordinated")?,
                            n("collective_visits")?,
                            n("collective_visitors")?,
                            n("key_person_petitions")?,
                            n("escalation_risk_petitions")?,
                        ],
                    ))
                })
                .collect()
        }

        /// Per group, the risk events under control now, whatever their filing: those whose next
        /// review is due before `to`, and those past it at `now`.
        pub(crate) async fn risk_reviews(
            pool: &$pool,
            stats: &crate::stats::StatsQuery,
            to: jiff::Timestamp,
        ) -> Result<Vec<(String, i64, i64)>, ProjectionError> {
            let group = stats.by.map_or("''", |d| d.case_column());
            let mut q = QueryBuilder::<Db>::new(format!(
                "SELECT {group} AS g,
                    SUM(CASE WHEN deadline < {to} THEN 1 ELSE 0 END) AS due,
                    SUM(CASE WHEN deadline <= {now} THEN 1 ELSE 0 END) AS overdue
                 FROM cases WHERE NOT is_closed AND kind = 'risk_event'
                    AND status = 'under-control' AND tenant = ",
                to = rows::micros(to),
                now = rows::micros(stats.now),
            ));
            q.push_bind(stats.tenant.clone());
            push_stats_filters(&mut q, stats, crate::store::Over::Cases);
            q.push(" GROUP BY g");
            let rows = q.build().fetch_all(pool).await?;
            rows.iter()
                .map(|r| {
                    let n = |c: &str| -> Result<i64, sqlx::Error> {
                        Ok(r.try_get::<Option<i64>, _>(c)?.unwrap_or(0))
                    };
                    Ok((r.try_get("g")?, n("due")?, n("overdue")?))
                })
                .collect()
        }

        /// The dispatches of livelihood requests sent in the range (`dispatched_at`), within the
        /// slice and reach (a unit reaches its own dispatches), optionally of one unit, each with
        /// its case's number and group.
        pub(crate) async fn dispatches(
            pool: &$pool,
            stats: &crate::stats::StatsQuery,
            from: jiff::Timestamp,
            to: jiff::Timestamp,
            unit: Option<&str>,
        ) -> Result<Vec<crate::stats::DispatchRecord>, ProjectionError> {
            let group = stats.by.map_or("''", |d| d.case_column());
            let mut q = QueryBuilder::<Db>::new(format!(
                "SELECT {group} AS g, d.case_id AS case_id, case_number, d.unit AS unit,
                    d.lead AS lead, d.round AS round, d.dispatched_at AS dispatched_at,
                    d.check_in_by AS check_in_by, d.checked_in_at AS checked_in_at,
                    d.late AS late, d.missed AS missed, d.returned_at AS returned_at,
                    d.replaced AS replaced, d.parts AS parts, d.rating AS rating
                 FROM case_dispatches d JOIN cases ON cases.case_id = d.case_id
                 WHERE d.tenant = "
            ));
            q.push_bind(stats.tenant.clone())
                .push(" AND d.dispatched_at >= ")
                .push_bind(rows::micros(from))
                .push(" AND d.dispatched_at < ")
                .push_bind(rows::micros(to));
            push_stats_filters(&mut q, stats, crate::store::Over::Dispatches);
            if let Some(unit) = unit {
                q.push(" AND d.unit = ").push_bind(unit.to_owned());
            }
            q.push(" ORDER BY d.dispatched_at, d.case_id, d.seq");
            let rows = q.build().fetch_all(pool).await?;
            let time = |r: &<Db as sqlx::Database>::Row, c: &str| -> Result<Option<jiff::Timestamp>, sqlx::Error> {
                Ok(r.try_get::<Option<i64>, _>(c)?.map(from_micros))
            };
            rows.iter()
                .map(|r| {
                    Ok(crate::stats::DispatchRecord {
                        group: r.try_get("g")?,
                        case_id: uuid(r.try_get::<&str, _>("case_id")?)?,
                        number: r.try_get("case_number")?,
                        unit: r.try_get("unit")?,
                        lead: r.try_get("lead")?,
                        round: r.try_get("round")?,
                        dispatched_at: from_micros(r.try_get("dispatched_at")?),
                        check_in_by: from_micros(r.try_get("check_in_by")?),
                        checked_in_at: time(r, "checked_in_at")?,
                        late: r.try_get("late")?,
                        missed: r.try_get("missed")?,
                        returned_at: time(r, "returned_at")?,
                        replaced: r.try_get("replaced")?,
                        parts: r.try_get("parts")?,
                        rating: r.try_get("rating")?,
                    })
                })
                .collect()
        }

        /// The replies to livelihood requests in the range, within the slice and reach: per
        /// reply, its group and the microseconds from the start of its round (receipt, or the
        /// redo) to it.
        pub(crate) async fn reply_times(
            pool: &$pool,
            stats: &crate::stats::StatsQuery,
            from: jiff::Timestamp,
            to: jiff::Timestamp,
        ) -> Result<Vec<(String, i64)>, ProjectionError> {
            let group = stats.by.map_or("''", |d| d.case_column());
            let mut q = QueryBuilder::<Db>::new(format!(
                "SELECT {group} AS g, r.replied_at - COALESCE(r.started_at, filed_at) AS took
                 FROM case_replies r JOIN cases ON cases.case_id = r.case_id
                 WHERE r.tenant = "
            ));
            q.push_bind(stats.tenant.clone())
                .push(" AND r.replied_at >= ")
                .push_bind(rows::micros(from))
                .push(" AND r.replied_at < ")
                .push_bind(rows::micros(to));
            push_stats_filters(&mut q, stats, crate::store::Over::Cases);
            let rows = q.build().fetch_all(pool).await?;
            rows.iter()
                .map(|r| Ok((r.try_get("g")?, r.try_get("took")?)))
                .collect()
        }

        /// A group's closure counts from a row holding the `CLOSURE_SUMS` columns.
        fn closure_counts(
            r: &<Db as sqlx::Database>::Row,
            group: &str,
            closed: i64,
        ) -> Result<crate::stats::ClosureCounts, sqlx::Error> {
            let mut counts = [closed; crate::stats::CLOSURES];
            for (n, (column, _)) in counts[1..].iter_mut().zip(CLOSURE_SUMS) {
                *n = r.try_get::<Option<i64>, _>(column)?.unwrap_or(0);
            }
            Ok(crate::stats::ClosureCounts {
                group: group.to_owned(),
                counts,
            })
        }

        /// Of the cases closed in the range: the counts per group, and the durations at the
        /// reported percentiles, ranked in the database so that no case crosses the wire.
        pub(crate) async fn stats_closures(
            pool: &$pool,
            stats: &crate::stats::StatsQuery,
            from: jiff::Timestamp,
            to: jiff::Timestamp,
        ) -> Result<crate::stats::Closures, ProjectionError> {
            if PERCENTILE_DISC {
                return stats_closures_aggregated(pool, stats, from, to).await;
            }
            let group = stats.by.map_or("''", |d| d.case_column());
            // One pass over the cases closed in the range: each group's counts as window sums
            // over the group, and its closures ranked by days to close; only the rows at the
            // nearest ranks of the median and the 90th percentile come back (ties in duration
            // are the same value whichever of them is picked).
            let median = nearest_rank_sql("n", crate::stats::MEDIAN);
            let p90 = nearest_rank_sql("n", crate::stats::P90);
            let columns = CLOSURE_SUMS.map(|(column, _)| column).join(", ");
            let sums = closure_sums_sql("OVER w");
            let mut q = QueryBuilder::<Db>::new(format!(
                "SELECT g, n, d, {columns}, r = {median} AS at_median, r = {p90} AS at_p90
                 FROM (SELECT {group} AS g, closed_at - filed_at AS d,
                    ROW_NUMBER() OVER (PARTITION BY {group} ORDER BY closed_at - filed_at) AS r,
                    COUNT(*) OVER w AS n, {sums}
                 FROM cases WHERE tenant = "
            ));
            q.push_bind(stats.tenant.clone())
                .push(" AND closed_at >= ")
                .push_bind(rows::micros(from))
                .push(" AND closed_at < ")
                .push_bind(rows::micros(to));
            push_stats_filters(&mut q, stats, crate::store::Over::Cases);
            q.push(format_args!(
                " WINDOW w AS (PARTITION BY {group})) ranked
                 WHERE r = {median} OR r = {p90} ORDER BY g, r"
            ));
            let rows = q.build().fetch_all(pool).await?;
            let (mut counts, mut percentiles) = (Vec::new(), Vec::new());
            for r in &rows {
                let (g, n, micros): (String, i64, i64) =
                    (r.try_get("g")?, r.try_get("n")?, r.try_get("d")?);
                // A group answers one or two rows (the two ranks coincide in small groups),
                // each carrying the group's counts.
                if counts.last().is_none_or(|c: &crate::stats::ClosureCounts| c.group != g) {
                    counts.push(closure_counts(r, &g, n)?);
                }
                for (percent, at) in [(crate::stats::MEDIAN, "at_median"), (crate::stats::P90, "at_p90")]
                {
                    if r.try_get::<bool, _>(at)? {
                        percentiles.push((g.clone(), percent, micros));
                    }
                }
            }
            Ok(crate::stats::Closures { counts, percentiles })
        }

        /// `stats_closures` as one plain aggregate per group, the percentiles picked by
        /// ordered-set aggregates (`percentile_disc_sql`).
        #[allow(dead_code)] // SQLite has no ordered-set aggregates.
        async fn stats_closures_aggregated(
            pool: &$pool,
            stats: &crate::stats::StatsQuery,
            from: jiff::Timestamp,
            to: jiff::Timestamp,
        ) -> Result<crate::stats::Closures, ProjectionError> {
            let group = stats.by.map_or("''", |d| d.case_column());
            let mut q = QueryBuilder::<Db>::new(format!(
                "SELECT {group} AS g, COUNT(*) AS n, {}, {} AS at_median, {} AS at_p90
                 FROM cases WHERE tenant = ",
                closure_sums_sql(""),
                percentile_disc_sql(crate::stats::MEDIAN),
                percentile_disc_sql(crate::stats::P90),
            ));
            q.push_bind(stats.tenant.clone())
                .push(" AND closed_at >= ")
                .push_bind(rows::micros(from))
                .push(" AND closed_at < ")
                .push_bind(rows::micros(to));
            push_stats_filters(&mut q, stats, crate::store::Over::Cases);
            q.push(" GROUP BY g ORDER BY g");
            let rows = q.build().fetch_all(pool).await?;
            let (mut counts, mut percentiles) = (Vec::new(), Vec::new());
            for r in &rows {
                let g: String = r.try_get("g")?;
                counts.push(closure_counts(r, &g, r.try_get("n")?)?);
                for (percent, at) in [(crate::stats::MEDIAN, "at_median"), (crate::stats::P90, "at_p90")]
                {
                    percentiles.push((g.clone(), percent, r.try_get::<i64, _>(at)?));
                }
            }
            Ok(crate::stats::Closures { counts, percentiles })
        }

        /// The counters summed over the range: (group, metric, n). Whole years are read from
        /// `yearly_counts` and whole months from `monthly_counts`, so a long range reads about
        /// as many rows as a year's worth of slices instead of every day's.
        pub(crate) async fn stats_counters(
            pool: &$pool,
            stats: &crate::stats::StatsQuery,
        ) -> Result<Vec<(String, String, i64)>, ProjectionError> {
            let group = stats.by.map_or("''", |d| d.count_column());
            if stats.reach != Reach::Tenant {
                return stats_counters_in_reach(pool, stats).await;
            }
            let spans = crate::stats::Spans::of(stats.from, stats.to);
            let mut q = QueryBuilder::<Db>::new(
                "SELECT g, metric, CAST(SUM(n) AS BIGINT) AS n FROM (",
            );
            let mut first = true;
            for (table, period, ranges) in [
                ("yearly_counts", "year", &spans.years),
                ("monthly_counts", "month", &spans.months),
                ("daily_counts", "day", &spans.days),
            ] {
                for (from, to) in ranges {
                    if !first {
                        q.push(" UNION ALL ");
                    }
                    first = false;
                    q.push(format_args!(
                        "SELECT {group} AS g, metric, n FROM {table} WHERE tenant = "
                    ));
                    q.push_bind(stats.tenant.clone())
                        .push(format_args!(" AND {period} >= "))
                        .push_bind(from.clone())
                        .push(format_args!(" AND {period} <= "))
                        .push_bind(to.clone());
                    push_stats_filters(&mut q, stats, crate::store::Over::Counters);
                }
            }
            if first {
                return Ok(Vec::new());
            }
            q.push(") counted GROUP BY g, metric");
            let rows = q.build().fetch_all(pool).await?;
            rows.iter()
                .map(|r| Ok((r.try_get("g")?, r.try_get("metric")?, r.try_get("n")?)))
                .collect()
        }

        /// `stats_counters` for a caller who reaches part of the tenant: the events counted in
        /// their reach (their grids, their unit's lead) in the cases they still reach now, from
        /// the cases behind the counters, so that every count is exactly its list's cases'
        /// events, whatever moved since.
        async fn stats_counters_in_reach(
            pool: &$pool,
            stats: &crate::stats::StatsQuery,
        ) -> Result<Vec<(String, String, i64)>, ProjectionError> {
            let group = stats.by.map_or("''", |d| d.count_column());
            let mut q = QueryBuilder::<Db>::new(format!(
                "SELECT {group} AS g, metric, CAST(SUM(n) AS BIGINT) AS n FROM case_events
                 WHERE tenant = "
            ));
            q.push_bind(stats.tenant.clone())
                .push(" AND day >= ")
                .push_bind(stats.from.to_string())
                .push(" AND day <= ")
                .push_bind(stats.to.to_string());
            push_stats_filters(&mut q, stats, crate::store::Over::Counters);
            q.push(" AND case_id IN (SELECT case_id FROM cases WHERE tenant = ")
                .push_bind(stats.tenant.clone());
            push_reach(&mut q, &stats.tenant, &stats.reach, "cases");
            q.push(") GROUP BY g, metric");
            let rows = q.build().fetch_all(pool).await?;
            rows.iter()
                .map(|r| Ok((r.try_get("g")?, r.try_get("metric")?, r.try_get("n")?)))
                .collect()
        }

        /// Refreshes the planner's statistics of every table (after a bulk load).
        pub(crate) async fn analyze(pool: &$pool) -> Result<(), ProjectionError> {
            for (table, _, _) in crate::store::TABLES {
                sqlx::query(sqlx::AssertSqlSafe(format!("{ANALYZE} {table}")))
                    .execute(pool)
                    .await?;
            }
            Ok(())
        }

        /// Per-day counts of one tenant between two local days (inclusive), by metric.
        pub(crate) async fn daily_counts(
            pool: &$pool,
            tenant: &str,
            from_day: &str,
            to_day: &str,
        ) -> Result<Vec<(String, String, i64)>, ProjectionError> {
            let rows = sqlx::query(
                "SELECT day, metric, CAST(SUM(n) AS BIGINT) AS n FROM daily_counts
                 WHERE tenant = $1 AND day >= $2 AND day <= $3
                 GROUP BY day, metric ORDER BY day, metric",
            )
            .bind(tenant)
            .bind(from_day)
            .bind(to_day)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| Ok((r.try_get("day")?, r.try_get("metric")?, r.try_get::<i64, _>("n")?)))
                .collect()
        }
    };
}

pub(crate) mod sqlite {
    const SNAPSHOT_ISOLATION: Option<&str> = None;
    /// Text ordered byte by byte.
    const KEY_COLLATION: &str = "BINARY";
    const PERCENTILE_DISC: bool = false;
    const ANALYZE: &str = "ANALYZE";
    /// A batch's statements go to the connection's thread together.
    const ONE_CALL_PER_BATCH: bool = true;
    dialect!(sqlx::Sqlite, sqlx::SqlitePool);

    /// Where the case projection stands, read together: its checkpoint, and every number
    /// counter as of it (a counter of a kind this release does not know is left out: no
    /// filing draws on it).
    pub(crate) async fn numbering_start(
        pool: &sqlx::SqlitePool,
    ) -> Result<(u64, std::collections::HashMap<rows::NumberKey, i64>), ProjectionError> {
        let mut tx = pool.begin().await?;
        let at: Option<i64> =
            sqlx::query_scalar("SELECT position FROM checkpoints WHERE projection = $1")
                .bind(CASES)
                .fetch_optional(&mut *tx)
                .await?;
        let mut numbers = std::collections::HashMap::new();
        for r in sqlx::query("SELECT tenant, kind, year, last FROM case_numbers")
            .fetch_all(&mut *tx)
            .await?
        {
            let kind: String = r.try_get("kind")?;
            if let Ok(kind) = kind.parse::<docket_domain::CaseKind>() {
                let key = rows::NumberKey {
                    tenant: r.try_get("tenant")?,
                    kind: kind.as_str(),
                    year: r.try_get("year")?,
                };
                numbers.insert(key, r.try_get("last")?);
            }
        }
        tx.commit().await?;
        Ok((at.map_or(0, |p| p as u64), numbers))
    }
}

pub(crate) mod postgres {
    const SNAPSHOT_ISOLATION: Option<&str> =
        Some("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
    /// Text ordered byte by byte, whatever the database's locale.
    const KEY_COLLATION: &str = "\"C\"";
    /// Postgres ranks with an ordered-set aggregate: one sort per group inside a plain
    /// aggregate, where SQLite needs a window pass.
    const PERCENTILE_DISC: bool = true;
    /// Vacuumed as well: a freshly written table's pages are marked all-visible, so that the
    /// statistics' index-only scans need not visit its rows (autovacuum would, later).
    const ANALYZE: &str = "VACUUM (ANALYZE)";
    /// The extended protocol takes one statement per query.
    const ONE_CALL_PER_BATCH: bool = false;
    dialect!(sqlx::Postgres, sqlx::PgPool);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn postgres_picks_the_nearest_rank_for_every_count() {
        let db = docket_testkit::PgDatabase::fresh();
        let pool = sqlx::PgPool::connect(db.url()).await.unwrap();
        for percent in [crate::stats::MEDIAN, crate::stats::P90, 95, 99, 33] {
            // Closures of 1, 2, ..., n microseconds: the value at rank r is r.
            let sql = format!(
                "SELECT {} FROM (SELECT g AS closed_at, 0 AS filed_at
                    FROM generate_series(1, $1::bigint) g) cases",
                percentile_disc_sql(percent)
            );
            for n in 1..=400u64 {
                let picked: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(n as i64)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                assert_eq!(
                    picked as u64,
                    crate::stats::nearest_rank(n, percent),
                    "{percent}th percentile of {n}"
                );
            }
            // Counts too large to sort here: the rank the aggregate takes, ceil(f * n), as
            // the database works it out.
            for n in [999_990u64, 1_000_000, 9_999_990, 9_999_999] {
                let rank: f64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT ceil(({percent} / 100.0 - 0.0000000001)::float8 * $1::float8)"
                )))
                .bind(n as f64)
                .fetch_one(&pool)
                .await
                .unwrap();
                assert_eq!(
                    rank as u64,
                    crate::stats::nearest_rank(n, percent),
                    "{percent} {n}"
                );
            }
        }
    }
}
