use std::sync::Arc;
use std::time::Duration;

use docket_domain::common::CommonEvent;
use docket_domain::hazard::HazardEvent;
use docket_domain::{CaseEvent, CaseKind, CaseNumber, CaseState};
use docket_eventlog::{EventLog, Recorded};
use jiff::tz::{self, TimeZone};
use sqlx::{Sqlite, Transaction};
use tokio::sync::watch;

use crate::{ProjectionError, ReadModel};

/// The name of the case projection (list, detail, history, numbers) in the checkpoints table.
pub const CASES: &str = "cases";

const BATCH: usize = 500;
const IDLE_WAIT: Duration = Duration::from_secs(5);

/// Keeps the case read model in step with the log.
#[derive(Debug, Clone)]
pub struct Projector {
    log: Arc<dyn EventLog>,
    read: ReadModel,
}

impl Projector {
    pub fn new(log: Arc<dyn EventLog>, read: ReadModel) -> Self {
        Self { log, read }
    }

    /// Applies everything the log holds now; returns the position reached.
    pub async fn catch_up(&self) -> Result<u64, ProjectionError> {
        let mut at = self.read.checkpoint(CASES).await?;
        loop {
            let batch = self.log.read_all(at, BATCH).await?;
            if batch.is_empty() {
                return Ok(at);
            }
            at = self.apply_batch(&batch).await?;
        }
    }

    /// Follows the log until `shutdown` turns true, finishing the batch in hand. Failures are
    /// logged and retried with backoff: the projector never skips a commit.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Duration::from_millis(100);
        loop {
            if *shutdown.borrow() {
                return;
            }
            match self.catch_up().await {
                Ok(at) => {
                    backoff = Duration::from_millis(100);
                    tokio::select! {
                        _ = self.log.wait_for(at, IDLE_WAIT) => {}
                        _ = shutdown.changed() => {}
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, retry_in = ?backoff, "projection stalled");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = shutdown.changed() => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
    }

    #[tracing::instrument(skip_all, fields(from = batch[0].position, count = batch.len()), err)]
    async fn apply_batch(&self, batch: &[Recorded]) -> Result<u64, ProjectionError> {
        let mut tx = self.read.pool().begin().await?;
        for recorded in batch {
            apply(&mut tx, recorded).await?;
        }
        let last = batch.last().map_or(0, |r| r.position);
        sqlx::query(
            "INSERT INTO checkpoints (projection, position) VALUES (?1, ?2)
             ON CONFLICT (projection) DO UPDATE SET position = excluded.position",
        )
        .bind(CASES)
        .bind(last as i64)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.read.projected.send_replace(last);
        Ok(last)
    }
}

/// Case numbers count filings by the tenant's local year (China Standard Time, UTC+8).
fn filing_year(recorded: &Recorded) -> i16 {
    let zone = TimeZone::fixed(tz::offset(8));
    recorded
        .commit
        .body
        .recorded_at
        .to_zoned_datetime(zone)
        .year()
}

async fn apply(
    tx: &mut Transaction<'_, Sqlite>,
    recorded: &Recorded,
) -> Result<(), ProjectionError> {
    let position = recorded.position;
    let body = &recorded.commit.body;
    let unprojectable = |reason: String| ProjectionError::Unprojectable { position, reason };
    let case_id = body.case_id.to_string();

    let before: Option<String> = sqlx::query_scalar("SELECT state FROM cases WHERE case_id = ?")
        .bind(&case_id)
        .fetch_optional(&mut **tx)
        .await?;
    let mut state: Option<CaseState> = before
        .map(|json| serde_json::from_str(&json))
        .transpose()
        .map_err(|e| unprojectable(format!("stored state: {e}")))?;
    let mut links = Vec::new();
    for record in &body.events {
        let event = CaseEvent::from_record(&record.event_type, record.schema_version, &record.data)
            .map_err(|e| unprojectable(e.to_string()))?;
        match &event {
            CaseEvent::Common(CommonEvent::Linked { case, .. }) => {
                links.push((body.case_id, case.as_uuid(), "related"));
                links.push((case.as_uuid(), body.case_id, "related"));
            }
            CaseEvent::Common(CommonEvent::MarkedDuplicate { of, .. })
            | CaseEvent::Hazard(HazardEvent::Dismissed {
                duplicate_of: Some(of),
                ..
            }) => {
                links.push((body.case_id, of.as_uuid(), "duplicate-of"));
                links.push((of.as_uuid(), body.case_id, "duplicated-by"));
            }
            _ => {}
        }
        state = Some(CaseState::evolve(state, &event).map_err(|e| unprojectable(e.to_string()))?);
    }
    for (from, to, relation) in links {
        sqlx::query(
            "INSERT INTO case_links (tenant, case_id, other_id, relation, position)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
        )
        .bind(&body.tenant)
        .bind(from.to_string())
        .bind(to.to_string())
        .bind(relation)
        .bind(position as i64)
        .execute(&mut **tx)
        .await?;
    }
    let state = state.ok_or_else(|| unprojectable("a commit without events".to_owned()))?;
    let state_json = serde_json::to_string(&state).expect("case state serializes");
    let at = body.recorded_at.to_string();
    let deadline = state.deadline().map(|d| d.to_string());

    if body.version == 1 {
        let kind: CaseKind = body
            .case_kind
            .parse()
            .map_err(|e: docket_domain::InvalidInput| unprojectable(e.message))?;
        let year = filing_year(recorded);
        let sequence: i64 = sqlx::query_scalar(
            "INSERT INTO case_numbers (tenant, kind, year, last) VALUES (?1, ?2, ?3, 1)
             ON CONFLICT (tenant, kind, year) DO UPDATE SET last = last + 1
             RETURNING last",
        )
        .bind(&body.tenant)
        .bind(kind.as_str())
        .bind(year)
        .fetch_one(&mut **tx)
        .await?;
        let number = CaseNumber::new(kind, year, sequence as u32).to_string();
        // The row the filing's update below fills in, as every later commit's does.
        sqlx::query(
            "INSERT INTO cases (case_id, tenant, kind, case_number, status, is_closed, community,
                title, version, position, filed_at, updated_at, state)
             VALUES (?1, ?2, ?3, ?4, '', 0, '', '', 0, 0, ?5, ?5, '')",
        )
        .bind(&case_id)
        .bind(&body.tenant)
        .bind(kind.as_str())
        .bind(number)
        .bind(&at)
        .execute(&mut **tx)
        .await?;
    }
    let updated = sqlx::query(
        "UPDATE cases SET status = ?2, is_closed = ?3, community = ?4, grid = ?5, title = ?6,
            version = ?7, position = ?8, deadline = ?9, updated_at = ?10,
            closed_at = CASE WHEN ?3 THEN COALESCE(closed_at, ?10) ELSE NULL END,
            state = ?11
         WHERE case_id = ?1 AND version = ?7 - 1",
    )
    .bind(&case_id)
    .bind(state.status())
    .bind(state.is_closed())
    .bind(state.community().as_str())
    .bind(state.grid().map(|g| g.as_str()))
    .bind(state.title())
    .bind(body.version as i64)
    .bind(position as i64)
    .bind(&deadline)
    .bind(&at)
    .bind(&state_json)
    .execute(&mut **tx)
    .await?;
    if updated.rows_affected() != 1 {
        return Err(unprojectable(format!(
            "case {case_id} version {} does not follow the projected version",
            body.version
        )));
    }

    let events = serde_json::to_string(&body.events).expect("events serialize");
    sqlx::query(
        "INSERT INTO case_history (case_id, version, tenant, position, commit_id, actor_id,
            actor_role, actor_unit, command, recorded_at, events, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )
    .bind(&case_id)
    .bind(body.version as i64)
    .bind(&body.tenant)
    .bind(position as i64)
    .bind(body.commit_id.to_string())
    .bind(&body.actor.id)
    .bind(&body.actor.role)
    .bind(&body.actor.unit)
    .bind(&body.command.name)
    .bind(&at)
    .bind(events)
    .bind(recorded.commit.prev_hash.as_str())
    .bind(recorded.commit.hash.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}
