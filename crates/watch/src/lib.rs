//! The deadline watch. Overdue cases must surface without anyone looking: every so often the
//! watch asks the read model for open cases past their current deadline whose miss is not yet
//! recorded, and records, through the command service, what being overdue means for each
//! ([`docket_domain::CaseState::overdue_events`]): the deadline missed and, for a petition, that
//! it became backlog (积案). Those events put the case on the supervisors' worklist
//! (`worklist=missed-deadline`, `backlog=true`) and into the counts.
//!
//! Every replica may run a watch. Each miss is still recorded once: the commit id is derived from
//! the case and the deadline, so the log answers a second append of it with the first, and a
//! watch that loses the race for the case's next version decides again and finds the miss
//! recorded ([`CommandService::record_overdue`]).

use std::time::Duration;

use docket_commands::{CommandError, CommandService};
use docket_domain::{CaseId, TenantId};
use docket_projections::{ProjectionError, ReadModel};
use tokio::sync::watch;

/// How often the watch looks by default.
pub const DEFAULT_EVERY: Duration = Duration::from_secs(60);

/// Cases looked at per read-model query.
const PAGE: u32 = 500;

/// Why a sweep stopped short.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("the read model cannot be asked for overdue cases: {0}")]
    ReadModel(#[from] ProjectionError),
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sweep {
    /// Cases found overdue with something to record.
    pub found: usize,
    /// Commits this watch wrote (the rest another watch, or a late command, recorded first).
    pub recorded: usize,
    /// Cases whose recording failed; they are tried again on the next sweep.
    pub failed: usize,
}

/// Looks for overdue cases and records their misses.
#[derive(Debug, Clone)]
pub struct DeadlineWatch {
    commands: CommandService,
    read: ReadModel,
    every: Duration,
}

impl DeadlineWatch {
    pub fn new(commands: CommandService, read: ReadModel) -> Self {
        Self {
            commands,
            read,
            every: DEFAULT_EVERY,
        }
    }

    /// Looks every `every` instead of every minute.
    pub fn every(mut self, every: Duration) -> Self {
        self.every = every;
        self
    }

    /// One pass over every overdue case, as of the command service's clock.
    pub async fn sweep(&self) -> Result<Sweep, WatchError> {
        let now = self.commands.clock().now();
        let mut sweep = Sweep::default();
        let mut after = None;
        loop {
            let (due, last) = self.read.overdue_unrecorded(now, after, PAGE).await?;
            for (tenant, case_id) in due {
                sweep.found += 1;
                match self.record(&tenant, case_id).await {
                    Ok(true) => sweep.recorded += 1,
                    Ok(false) => {}
                    Err(e) => {
                        sweep.failed += 1;
                        tracing::warn!(%tenant, %case_id, error = %e, "cannot record an overdue case");
                    }
                }
            }
            match last {
                Some(last) => after = Some(last),
                None => {
                    metrics::counter!("docket_watch_sweeps_total").increment(1);
                    metrics::counter!("docket_watch_misses_recorded_total")
                        .increment(sweep.recorded as u64);
                    return Ok(sweep);
                }
            }
        }
    }

    async fn record(&self, tenant: &str, case_id: uuid::Uuid) -> Result<bool, CommandError> {
        let tenant: TenantId =
            tenant
                .parse()
                .map_err(|e: docket_domain::InvalidId| CommandError::Corrupt {
                    case_id,
                    reason: e.to_string(),
                })?;
        let id = CaseId::from_uuid(case_id).map_err(|e| CommandError::Corrupt {
            case_id,
            reason: e.to_string(),
        })?;
        let outcome = self.commands.record_overdue(&tenant, id).await?;
        if let Some(o) = &outcome {
            tracing::info!(%tenant, case_id = %o.case_id, position = o.position, "overdue recorded");
        }
        Ok(outcome.is_some())
    }

    /// Sweeps every interval until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut ticks = tokio::time::interval(self.every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = shutdown.changed() => return,
            }
            if *shutdown.borrow() {
                return;
            }
            match self.sweep().await {
                Ok(s) if s.found > 0 => {
                    tracing::info!(
                        found = s.found,
                        recorded = s.recorded,
                        failed = s.failed,
                        "deadline watch"
                    );
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "deadline watch skipped a sweep"),
            }
        }
    }
}
