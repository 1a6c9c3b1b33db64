//! The SQLite read model's writer: the projector's batches, applied on a connection of the
//! writer's own with statements prepared once and kept, the whole batch in one call to a
//! blocking thread. Through sqlx each batch was one multi-statement text whose rows differed
//! every time, so it was parsed and prepared anew (5% of the server's CPU under load), and its
//! reads were a hand-off each to sqlx's connection thread (docs/performance.md). The rows are
//! the same as sqlx writes (`crate::writes` binds them for both); repairs and Postgres stay on
//! sqlx (`crate::store`). A stored case's row is updated in the columns that changed only
//! (`write_cases`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use docket_domain::deadlines::Policies;
use docket_eventlog::Recorded;
use rusqlite::types::{FromSql, ToSqlOutput, Value as SqlValue};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use crate::directory::{self, PlannedDirectory, StoredDirectory};
use crate::rows::{self, BatchPlan, Held, NumberKey, PlannedCase, StoredCase};
use crate::writes::{self, Bind, Insert, Row, Value};
use crate::{CASES, ProjectionError};

/// How many statements the writer keeps prepared: every one a batch can run, with room for the
/// updates of stored cases, one for each set of columns that changed together.
const PREPARED: usize = 128;

/// The connection the projector's batches are written on, opened with the first batch (a model
/// only read never opens it) and closed with the model.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    path: Arc<Path>,
    connection: Arc<Mutex<Option<Connection>>>,
}

impl Writer {
    /// The writer of the read model at `path`, which sqlx has opened (in WAL mode) and
    /// migrated.
    pub(crate) fn new(path: &Path) -> Writer {
        Writer {
            path: path.into(),
            connection: Arc::default(),
        }
    }

    /// Applies `batch` as `store`'s `apply_batch` does, on a blocking thread: in one
    /// transaction that moves the checkpoint from `from` to the batch's last position (or
    /// `Superseded`, applying nothing), showing `planned` the plan before writing it. Returns
    /// the position reached, and how many commits the batch quarantined. Dropped before it
    /// ends, the batch is still written or not as a whole: `settle` waits for it.
    pub(crate) async fn apply_batch(
        &self,
        from: u64,
        batch: Vec<Recorded>,
        policies: Arc<Policies>,
        planned: impl Fn(&BatchPlan) + Send + 'static,
    ) -> Result<(u64, usize), ProjectionError> {
        let writer = self.clone();
        // The batch's span (its positions, on the projector's thread) goes with it.
        let span = tracing::Span::current();
        let written = tokio::task::spawn_blocking(move || {
            let _in_batch = span.enter();
            let mut connection = writer.connection.lock().unwrap_or_else(|p| p.into_inner());
            let connection = match &mut *connection {
                Some(connection) => connection,
                None => connection.insert(open(&writer.path)?),
            };
            apply_batch(connection, from, &batch, &policies, &planned)
        })
        .await;
        match written {
            Ok(written) => written,
            // A bug, as on the projector's own thread: not retried as if the database failed.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(ProjectionError::Io(format!(
                "the read model's writer was stopped: {e}"
            ))),
        }
    }

    /// Waits until no batch is being written: one whose caller gave up on it (a failure beside
    /// it) ends, written or not, before the projector reads its checkpoint again.
    pub(crate) async fn settle(&self) {
        let connection = self.connection.clone();
        let settled = tokio::task::spawn_blocking(move || {
            drop(connection.lock().unwrap_or_else(|p| p.into_inner()));
        });
        let _ = settled.await;
    }

    /// Closes the connection, after the batch in hand; a later batch opens it again.
    pub(crate) async fn close(&self) {
        self.settle().await;
        let connection = self
            .connection
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(connection) = connection
            && let Err((_, e)) = connection.close()
        {
            tracing::warn!(error = %e, "the read model's writer did not close cleanly");
        }
    }
}

/// Opens a connection to the read model at `path` with the settings of sqlx's connections.
fn open(path: &Path) -> Result<Connection, ProjectionError> {
    let connection = Connection::open(path)?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    connection.pragma_update(None, "temp_store", "MEMORY")?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    connection.busy_timeout(Duration::from_secs(5))?;
    connection.set_prepared_statement_cache_capacity(PREPARED);
    Ok(connection)
}

fn apply_batch(
    connection: &mut Connection,
    from: u64,
    batch: &[Recorded],
    policies: &Policies,
    planned: &dyn Fn(&BatchPlan),
) -> Result<(u64, usize), ProjectionError> {
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let last = batch.last().map_or(from, |r| r.position);
    let moved = tx
        .prepare_cached(
            "UPDATE checkpoints SET position = ?2 WHERE projection = ?1 AND position = ?3",
        )?
        .execute(params![CASES, last as i64, from as i64])?;
    if moved != 1 {
        return Err(ProjectionError::Superseded { at: from });
    }
    let held = load_held(&tx, batch)?;
    let mut quarantined = Vec::new();
    // Directories' commits go to their own tables; the rest are cases'.
    let cases: Cow<'_, [Recorded]> = if batch.iter().any(directory::is_directory) {
        let stored = load_directories(&tx, batch)?;
        let (directories, aside) = directory::plan(batch, stored, &held);
        write_directories(&tx, &directories)?;
        quarantined.extend(aside);
        batch
            .iter()
            .filter(|r| !directory::is_directory(r))
            .cloned()
            .collect()
    } else {
        batch.into()
    };
    let (stored, before) = load_cases(&tx, &cases)?;
    let mut numbers = HashMap::new();
    for key in rows::number_keys(&cases, policies) {
        let last = last_number(&tx, &key)?;
        numbers.insert(key, last);
    }
    let mut plan = rows::plan_batch(&cases, stored, numbers, &held, policies);
    quarantined.append(&mut plan.quarantined);
    planned(&plan);
    write_plan(&tx, &plan, &before)?;
    insert_rows(&tx, &writes::quarantine(), &quarantined)?;
    tx.commit()?;
    Ok((last, quarantined.len()))
}

/// The quarantined commits' streams among those `batch` continues: each one's first
/// quarantined position.
fn load_held(tx: &Transaction<'_>, batch: &[Recorded]) -> Result<Held, ProjectionError> {
    let mut first = tx.prepare_cached("SELECT MIN(position) FROM quarantine WHERE case_id = ?1")?;
    let mut held = Held::default();
    for id in rows::continued_case_ids(batch) {
        if let Some(position) = first.query_row([&id], |r| r.get::<_, Option<i64>>(0))? {
            held.first.insert(id, position);
        }
    }
    Ok(held)
}

/// The stored directories of the tenants whose directories a batch continues.
fn load_directories(
    tx: &Transaction<'_>,
    batch: &[Recorded],
) -> Result<Vec<StoredDirectory>, ProjectionError> {
    let mut select =
        tx.prepare_cached("SELECT version, state FROM directories WHERE tenant = ?1")?;
    let mut stored = Vec::new();
    for tenant in directory::tenants_of(batch) {
        let found = select
            .query_row([tenant], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        if let Some((version, state)) = found {
            stored.push(StoredDirectory {
                tenant: tenant.to_owned(),
                version,
                state,
            });
        }
    }
    Ok(stored)
}

/// Stores each directory a batch changed, and lists its entries anew.
fn write_directories(
    tx: &Transaction<'_>,
    directories: &[PlannedDirectory],
) -> Result<(), ProjectionError> {
    insert_rows(tx, &writes::directories(), directories)?;
    let mut delete = tx.prepare_cached("DELETE FROM directory_entries WHERE tenant = ?1")?;
    for d in directories {
        delete.execute([&d.tenant])?;
        let entries: Vec<_> = d.entries.iter().map(|e| (&d.tenant, e)).collect();
        insert_rows(tx, &writes::directory_entries(), &entries)?;
    }
    Ok(())
}

/// The stored rows of the cases a batch names: those it continues, and any it would file again
/// (a filing of a case the model holds is quarantined, never written over it); and for each,
/// the values of the columns a later commit may change (`Before`).
fn load_cases(
    tx: &Transaction<'_>,
    batch: &[Recorded],
) -> Result<(Vec<StoredCase>, Before), ProjectionError> {
    let ids = rows::case_ids(batch);
    // Each column once: the version, closing time and state the plan needs are among the
    // updatable columns, whose values the update compares.
    let mut select = tx.prepare_cached(&format!(
        "SELECT case_id, case_number, filed_at, filed_by, {} FROM cases WHERE case_id = ?1",
        writes::CASE_COLUMNS_UPDATED.join(", ")
    ))?;
    let mut stored = Vec::with_capacity(ids.len());
    let mut before = Before::default();
    for id in ids {
        let found = select
            .query_row([&id], |r| {
                let values = (0..writes::CASE_COLUMNS_UPDATED.len())
                    .map(|i| r.get::<_, SqlValue>(4 + i))
                    .collect::<Result<Vec<_>, _>>()?;
                let case = StoredCase {
                    case_id: r.get(0)?,
                    number: r.get(1)?,
                    filed_at: r.get(2)?,
                    filed_by: r.get(3)?,
                    version: updatable(&values, "version")?,
                    closed_at: updatable(&values, "closed_at")?,
                    state: updatable(&values, "state")?,
                };
                Ok((case, values))
            })
            .optional()?;
        if let Some((case, values)) = found {
            before.0.insert(case.case_id.clone(), values);
            stored.push(case);
        }
    }
    Ok((stored, before))
}

/// The value of the updatable `column` among a stored case's `values`.
fn updatable<T: FromSql>(values: &[SqlValue], column: &str) -> rusqlite::Result<T> {
    let at = writes::CASE_COLUMNS_UPDATED
        .iter()
        .position(|c| *c == column)
        .unwrap_or_else(|| panic!("{column} is no updatable column of cases"));
    T::column_result((&values[at]).into()).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(at, values[at].data_type(), e.into())
    })
}

/// The stored values of the columns of `cases` that a later commit may change
/// (`writes::CASE_COLUMNS_UPDATED`, in that order), by case id.
#[derive(Default)]
struct Before(HashMap<String, Vec<SqlValue>>);

/// Writes the planned cases' rows: a new case's whole, and of a stored case only the columns
/// whose values changed. SQLite rewrites the entries of every index on a column an `UPDATE`
/// sets, changed or not, and `cases` has fifteen indexes: an upsert that set every column
/// rewrote most of them for each commit of a case.
fn write_cases(
    tx: &Transaction<'_>,
    cases: &[PlannedCase],
    before: &Before,
) -> Result<(), ProjectionError> {
    let mut new: Vec<&PlannedCase> = Vec::new();
    for case in cases {
        let Some(stored) = before.0.get(&case.row.case_id) else {
            new.push(case);
            continue;
        };
        let mut captured = Capture::default();
        case.bind_to(&mut captured);
        if let Some(e) = captured.failed {
            return Err(e.into());
        }
        let values = captured.values;
        if values.len() != writes::CASE_COLUMNS.len() {
            return Err(ProjectionError::Io(format!(
                "a case's row binds {} values, and cases has {} columns",
                values.len(),
                writes::CASE_COLUMNS.len()
            )));
        }
        let changed: Vec<(&str, usize)> = writes::CASE_COLUMNS_UPDATED
            .iter()
            .zip(stored)
            .map(|(column, was)| (*column, writes::case_column_number(column), was))
            .filter(|(_, number, was)| values.get(number - 1) != Some(*was))
            .map(|(column, number, _)| (column, number))
            .collect();
        if changed.is_empty() {
            continue;
        }
        let set: Vec<String> = changed
            .iter()
            .map(|(column, number)| format!("{column} = ?{number}"))
            .collect();
        let mut update = tx.prepare_cached(&format!(
            "UPDATE cases SET {} WHERE case_id = ?{}",
            set.join(", "),
            writes::case_column_number("case_id")
        ))?;
        let id = writes::case_column_number("case_id");
        update.raw_bind_parameter(id, &values[id - 1])?;
        for (_, number) in &changed {
            update.raw_bind_parameter(*number, &values[number - 1])?;
        }
        if update.raw_execute()? != 1 {
            return Err(ProjectionError::Io(format!(
                "case {} was loaded for this batch and is gone from the read model",
                case.row.case_id
            )));
        }
    }
    insert_rows(tx, &writes::cases(), &new)
}

fn last_number(tx: &Transaction<'_>, key: &NumberKey) -> Result<i64, ProjectionError> {
    let last: Option<i64> = tx
        .prepare_cached(
            "SELECT last FROM case_numbers WHERE tenant = ?1 AND kind = ?2 AND year = ?3",
        )?
        .query_row(params![key.tenant, key.kind, key.year], |r| r.get(0))
        .optional()?;
    Ok(last.unwrap_or(0))
}

/// Writes what the plan changes, table by table, as `store`'s `write_plan` does.
fn write_plan(
    tx: &Transaction<'_>,
    plan: &BatchPlan,
    before: &Before,
) -> Result<(), ProjectionError> {
    write_cases(tx, &plan.cases, before)?;
    for table in writes::REWRITTEN_PER_CASE {
        let mut delete = tx.prepare_cached(&format!("DELETE FROM {table} WHERE case_id = ?1"))?;
        for c in &plan.cases {
            delete.execute([&c.row.case_id])?;
        }
    }
    insert_rows(tx, &writes::case_units(), &plan.units())?;
    insert_rows(tx, &writes::case_dispatches(), &plan.dispatches())?;
    insert_rows(tx, &writes::case_replies(), &plan.replies())?;
    insert_rows(tx, &writes::case_history(), &plan.history)?;
    insert_rows(tx, &writes::case_links(), &plan.links)?;
    insert_rows(tx, &writes::case_persons(), &plan.persons)?;
    let [before_tenant, before_persons, after_persons] = writes::PRIOR_PETITIONS;
    let mut prior = tx.prepare_cached(&format!(
        "{before_tenant}?1{before_persons}?2{after_persons}"
    ))?;
    for (tenant, person) in plan.petitioners() {
        prior.execute([tenant, person])?;
    }
    insert_rows(tx, &writes::case_events(), &plan.case_events)?;
    for ((table, period), counts) in
        writes::COUNTS
            .into_iter()
            .zip([&plan.counts, &plan.monthly_counts, &plan.yearly_counts])
    {
        insert_rows(tx, &writes::counts(table, period), counts)?;
    }
    insert_rows(tx, &writes::case_numbers(), &plan.numbers)
}

/// Inserts `rows` with `insert`, one row a run of the one-row statement, prepared once.
fn insert_rows(
    tx: &Transaction<'_>,
    insert: &Insert,
    rows: &[impl Row],
) -> Result<(), ProjectionError> {
    let Some(first) = rows.first() else {
        return Ok(());
    };
    let mut columns = Columns(0);
    first.bind_to(&mut columns);
    let placeholders = (1..=columns.0)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut statement = tx.prepare_cached(&format!(
        "{}VALUES ({placeholders}){}",
        insert.head, insert.tail
    ))?;
    for row in rows {
        let mut values = Binding {
            statement: &mut statement,
            bound: 0,
            failed: None,
        };
        row.bind_to(&mut values);
        if let Some(e) = values.failed {
            return Err(e.into());
        }
        statement.raw_execute()?;
    }
    Ok(())
}

/// A row's values as SQLite holds them, in their columns' order, and the first failure to give
/// one in a plain form.
#[derive(Default)]
struct Capture {
    values: Vec<SqlValue>,
    failed: Option<rusqlite::Error>,
}

impl Bind for Capture {
    fn bind<V: Value>(&mut self, value: V) -> &mut Self {
        let plain = match value.to_sql() {
            Ok(ToSqlOutput::Borrowed(v)) => SqlValue::try_from(v)
                .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e))),
            Ok(ToSqlOutput::Owned(v)) => Ok(v),
            Ok(_) => Err(rusqlite::Error::ToSqlConversionFailure(
                "a value with no plain form".into(),
            )),
            Err(e) => Err(e),
        };
        match plain {
            Ok(v) => self.values.push(v),
            Err(e) => {
                self.failed.get_or_insert(e);
            }
        }
        self
    }
}

/// Counts a row's values.
struct Columns(usize);

impl Bind for Columns {
    fn bind<V: Value>(&mut self, _: V) -> &mut Self {
        self.0 += 1;
        self
    }
}

/// Binds a row's values to a prepared statement, in order, keeping the first failure.
struct Binding<'s, 'c> {
    statement: &'s mut rusqlite::CachedStatement<'c>,
    bound: usize,
    failed: Option<rusqlite::Error>,
}

impl Bind for Binding<'_, '_> {
    fn bind<V: Value>(&mut self, value: V) -> &mut Self {
        self.bound += 1;
        if self.failed.is_none()
            && let Err(e) = self.statement.raw_bind_parameter(self.bound, value)
        {
            self.failed = Some(e);
        }
        self
    }
}
