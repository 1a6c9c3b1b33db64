//! `GET /v1/audit/verify`: the audit over HTTP, for supervisors (their tenant's findings) and
//! administrators (all). One audit runs at a time; it walks the whole log and projects it again
//! beside the read model, so it takes as long as a rebuild.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use docket_domain::Role;
use docket_projections::{Target, audit};
use serde_json::json;

use crate::extract::Caller;
use crate::{ApiError, AppState};

/// Where the audit projects its recount, and the lock that keeps it to one at a time.
#[derive(Debug)]
pub(crate) struct AuditSetup {
    pub(crate) target: Target,
    pub(crate) log_name: String,
    pub(crate) running: tokio::sync::Mutex<()>,
}

pub(crate) async fn verify(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Response, ApiError> {
    if !matches!(actor.role, Role::Supervisor | Role::Admin) {
        return Err(ApiError::RoleNotPermitted(format!(
            "the audit is for supervisors and administrators, not {}",
            actor.role
        )));
    }
    let Some(setup) = &state.audit else {
        return Err(ApiError::Unavailable(
            "this server is not set up to audit (no read-model location)".to_owned(),
        ));
    };
    let Ok(_running) = setup.running.try_lock() else {
        return Err(ApiError::NotYet {
            code: "audit-running",
            detail: "an audit is running; ask again when it has finished".to_owned(),
        });
    };
    let report = audit(
        state.commands.log().clone(),
        &setup.target,
        &setup.log_name,
        &|_, _, _| {},
    )
    .await?;
    if actor.role == Role::Admin {
        return Ok(Json(json!({
            "holds": report.holds(),
            "head": report.head,
            "commits": report.commits,
            "cases": report.cases,
            "directories": report.directories,
            "compared_at": report.compared_at,
            "rows_compared": report.rows_compared,
            "mismatches": report.mismatches,
            "findings": report.findings,
            "tenants": report.by_tenant,
        }))
        .into_response());
    }
    // A supervisor sees their own tenant's totals and findings, and those of the log as a whole
    // (a gap in the global order); how many findings concern other tenants is counted, not
    // shown, and nothing of their size is.
    let tenant = actor.tenant.as_str();
    let mine = |t: &Option<String>| t.as_deref().is_none_or(|t| t == tenant);
    let findings: Vec<_> = report.findings.iter().filter(|f| mine(&f.tenant)).collect();
    let elsewhere = report.findings.len() - findings.len();
    let totals = report.by_tenant.get(tenant).copied().unwrap_or_default();
    // Counted whether listed or not: the list stops at 100 findings of a check, all tenants'.
    let mismatches = totals.mismatches + report.global_mismatches();
    Ok(Json(json!({
        "holds": mismatches == 0,
        "commits": totals.commits,
        "cases": totals.cases,
        "mismatches": mismatches,
        "findings": findings,
        "findings_in_other_tenants": elsewhere,
    }))
    .into_response())
}
