//! The audit as a job: `POST /v1/audit/runs` starts one (administrators, or a tenant's
//! supervisors), `GET /v1/audit/runs/{id}` shows its progress and findings while it runs and
//! afterwards, `GET /v1/audit/runs` the runs the caller may see. One audit runs at a time, in the
//! background: it walks the whole log and projects it again beside the read model, so it takes
//! as long as a rebuild, in memory that does not grow with the log, on a log reader of its own.
//!
//! What a caller is shown: an administrator, everything, with each tenant's totals and progress in
//! positions; a tenant's supervisor, their own tenant's totals and findings, progress as a share,
//! and how many findings concern the log as a whole (a gap in the global order) or other tenants,
//! counted, not shown: nothing of the log's size.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use docket_commands::Actor;
use docket_domain::Role;
use docket_projections::{AuditReport, Progress, Target, audit};
use jiff::Timestamp;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::extract::Caller;
use crate::{ApiError, AppState};

/// Runs kept to be read after they end.
const KEPT_RUNS: usize = 16;

/// Where the audit projects its recount, and the runs started since the server did.
#[derive(Debug)]
pub(crate) struct AuditSetup {
    pub(crate) target: Target,
    pub(crate) log_name: String,
    pub(crate) runs: Mutex<VecDeque<Arc<Run>>>,
}

/// One audit, running or ended.
#[derive(Debug)]
pub(crate) struct Run {
    id: Uuid,
    /// The tenant of whoever started it: its supervisors may follow it.
    tenant: String,
    started_by: String,
    started_at: Timestamp,
    state: Mutex<RunState>,
}

#[derive(Debug, Default)]
struct RunState {
    phase: &'static str,
    done: u64,
    of: u64,
    /// What has been found so far; all of it once the run has finished.
    report: AuditReport,
    ended: Option<Ended>,
}

#[derive(Debug)]
struct Ended {
    at: Timestamp,
    /// Why the audit could not finish, if it could not.
    failure: Option<String>,
}

impl Run {
    fn running(&self) -> bool {
        self.state.lock().expect("run state").ended.is_none()
    }

    fn visible_to(&self, actor: &Actor) -> bool {
        actor.role == Role::Admin || self.tenant == actor.tenant.as_str()
    }

    fn progress(&self, p: Progress<'_>) {
        let mut state = self.state.lock().expect("run state");
        state.phase = p.phase;
        state.done = p.done;
        state.of = p.of;
        state.report.clone_from(p.report);
    }

    fn end(&self, result: Result<AuditReport, String>) {
        let mut state = self.state.lock().expect("run state");
        let failure = match result {
            Ok(report) => {
                state.report = report;
                state.phase = "finished";
                None
            }
            Err(e) => Some(e),
        };
        state.ended = Some(Ended {
            at: Timestamp::now(),
            failure,
        });
    }

    /// The run as `actor` is shown it.
    fn view(&self, actor: &Actor) -> Value {
        let state = self.state.lock().expect("run state");
        let status = match &state.ended {
            None => "running",
            Some(Ended { failure: None, .. }) => "finished",
            Some(Ended {
                failure: Some(_), ..
            }) => "failed",
        };
        let admin = actor.role == Role::Admin;
        let mut view = json!({
            "id": self.id,
            "status": status,
            "started_at": self.started_at.to_string(),
            "started_by": self.started_by,
            "phase": state.phase,
        });
        // How far along, as positions and counts for an administrator; as a share for a tenant's
        // supervisor, whom the log's size is not shown.
        if admin {
            view["done"] = json!(state.done);
            view["of"] = json!(state.of);
        }
        let share = match &state.ended {
            Some(_) => 100,
            None if state.of == 0 => 0,
            None => (state.done.min(state.of) * 100 / state.of).min(99),
        };
        view["percent"] = json!(share);
        if let Some(ended) = &state.ended {
            view["ended_at"] = json!(ended.at.to_string());
            if let Some(failure) = &ended.failure {
                view["failure"] = json!(if admin {
                    failure.as_str()
                } else {
                    "the audit could not finish; an administrator can see why"
                });
            }
        }
        let finished = matches!(state.ended, Some(Ended { failure: None, .. }));
        let report = &state.report;
        let shown = if admin {
            json!({
                "head": report.head,
                "commits": report.commits,
                "cases": report.cases,
                "directories": report.directories,
                "compared_at": report.compared_at,
                "rows_compared": report.rows_compared,
                "mismatches": report.mismatches,
                "findings": report.findings,
                "tenants": report.by_tenant,
            })
        } else {
            // Their tenant's findings, listed; the log's own (a gap in the global order, an
            // unreadable commit: they name positions) and other tenants', counted.
            let tenant = actor.tenant.as_str();
            let findings: Vec<_> = report
                .findings
                .iter()
                .filter(|f| f.tenant.as_deref() == Some(tenant))
                .collect();
            let in_the_log = report
                .findings
                .iter()
                .filter(|f| f.tenant.is_none())
                .count();
            let elsewhere = report.findings.len() - findings.len() - in_the_log;
            let totals = report.by_tenant.get(tenant).copied().unwrap_or_default();
            // Counted whether listed or not: the list stops at 100 findings of a check, all
            // tenants'.
            json!({
                "commits": totals.commits,
                "cases": totals.cases,
                "mismatches": totals.mismatches + report.global_mismatches(),
                "findings": findings,
                "findings_in_the_log": in_the_log,
                "findings_in_other_tenants": elsewhere,
            })
        };
        if let (Value::Object(view), Value::Object(shown)) = (&mut view, shown) {
            view.extend(shown);
        }
        // Whether everything held is an answer only once everything was checked.
        view["holds"] = if finished {
            json!(view["mismatches"] == json!(0))
        } else {
            Value::Null
        };
        view
    }
}

fn setup(state: &AppState, actor: &Actor) -> Result<Arc<AuditSetup>, ApiError> {
    if !matches!(actor.role, Role::Supervisor | Role::Admin) {
        return Err(ApiError::RoleNotPermitted(format!(
            "the audit is for supervisors and administrators, not {}",
            actor.role
        )));
    }
    state.audit.clone().ok_or_else(|| {
        ApiError::Unavailable("this server is not set up to audit (no read-model location)".into())
    })
}

/// `POST /v1/audit/runs`: starts an audit in the background; 202 with the run and its
/// `Location`.
#[utoipa::path(
    post, path = "/v1/audit/runs", tag = "audit",
    responses(
        (status = 202, description = "Started.", body = crate::openapi::AuditRun, headers(("Location" = String, description = "The run's URL."))),
        (status = 409, description = "An audit is running."),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn start(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Response, ApiError> {
    let setup = setup(&state, &actor)?;
    let run = {
        let mut runs = setup.runs.lock().expect("audit runs");
        if let Some(running) = runs.iter().find(|r| r.running()) {
            return Err(ApiError::AuditRunning {
                run: running.visible_to(&actor).then_some(running.id),
            });
        }
        let run = Arc::new(Run {
            id: Uuid::now_v7(),
            tenant: actor.tenant.as_str().to_owned(),
            started_by: actor.id.clone(),
            started_at: Timestamp::now(),
            state: Mutex::new(RunState {
                phase: "chains",
                ..RunState::default()
            }),
        });
        runs.push_back(run.clone());
        while runs.len() > KEPT_RUNS {
            runs.pop_front();
        }
        run
    };
    tracing::info!(run = %run.id, by = %actor.id, "audit started");
    let log = state.commands.log().clone();
    let policies = state.read.policies().clone();
    let job = run.clone();
    let background = setup.clone();
    tokio::spawn(async move {
        let following = job.clone();
        let audit = tokio::spawn(async move {
            audit(
                log,
                &background.target,
                &background.log_name,
                &policies,
                &|p| following.progress(p),
            )
            .await
        });
        // Whatever becomes of the audit, the run ends: a panic fails it, not every run after.
        let result = match audit.await {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(e) => Err(format!("the audit stopped: {e}")),
        };
        match &result {
            Ok(report) => tracing::info!(
                run = %job.id,
                commits = report.commits,
                mismatches = report.mismatches,
                "audit finished"
            ),
            Err(e) => tracing::error!(run = %job.id, error = %e, "audit failed"),
        }
        job.end(result);
    });
    let location = format!("/v1/audit/runs/{}", run.id);
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(run.view(&actor)),
    )
        .into_response())
}

/// `GET /v1/audit/runs/{id}`: a run's progress and findings.
#[utoipa::path(
    get, path = "/v1/audit/runs/{id}", tag = "audit",
    params(("id" = Uuid, Path, description = "The run id.")),
    responses(
        (status = 200, description = "The run's progress and findings.", body = crate::openapi::AuditRun),
        (status = 404, description = "No such run for this caller."),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn show(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let setup = setup(&state, &actor)?;
    let id = Uuid::try_parse(&id).map_err(|_| ApiError::AuditRunNotFound)?;
    let runs = setup.runs.lock().expect("audit runs");
    let run = runs
        .iter()
        .find(|r| r.id == id && r.visible_to(&actor))
        .ok_or(ApiError::AuditRunNotFound)?;
    Ok(Json(run.view(&actor)))
}

/// `GET /v1/audit/runs`: the runs the caller may see, newest first, without their findings.
#[utoipa::path(
    get, path = "/v1/audit/runs", tag = "audit",
    responses((status = 200, description = "The runs the caller may see, newest first.", body = crate::openapi::AuditRuns)),
    security(("bearer" = [])),
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Json<Value>, ApiError> {
    let setup = setup(&state, &actor)?;
    let runs = setup.runs.lock().expect("audit runs");
    let items: Vec<Value> = runs
        .iter()
        .rev()
        .filter(|r| r.visible_to(&actor))
        .map(|r| {
            let mut view = r.view(&actor);
            if let Value::Object(v) = &mut view {
                v.remove("findings");
            }
            view
        })
        .collect();
    Ok(Json(json!({ "items": items })))
}

/// `GET /v1/quarantine`: the commits the projector could not apply and holds aside, with why,
/// in log order: a tenant's supervisors see their tenant's (without log positions, which count
/// other tenants' commits), administrators every tenant's. Each held case refuses commands until
/// an operator runs `docket repair`.
#[utoipa::path(
    get, path = "/v1/quarantine", tag = "audit",
    responses((status = 200, description = "The held commits, in log order.", body = crate::openapi::Quarantine)),
    security(("bearer" = [])),
)]
pub(crate) async fn quarantine(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Json<Value>, ApiError> {
    if !matches!(actor.role, Role::Supervisor | Role::Admin) {
        return Err(ApiError::RoleNotPermitted(format!(
            "the quarantine is for supervisors and administrators, not {}",
            actor.role
        )));
    }
    let admin = actor.role == Role::Admin;
    let held = state
        .read
        .quarantined((!admin).then_some(actor.tenant.as_str()))
        .await?;
    let items: Vec<Value> = held
        .into_iter()
        .map(|q| {
            let mut item = json!({
                "tenant": q.tenant,
                "case_id": q.case_id,
                "version": q.version,
                "reason": q.reason,
            });
            if admin {
                item["position"] = json!(q.position);
            }
            item
        })
        .collect();
    Ok(Json(json!({ "items": items })))
}
