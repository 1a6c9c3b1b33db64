//! Driving a demo plan through the command service, each command with the clock set to its
//! moment: what `docket demo` does, and the statistics benchmark (`benches/stats.rs`) too.

use std::collections::HashMap;
use std::sync::Mutex;

use docket_commands::{Actor, Clock, CommandRequest, CommandService};
use docket_domain::{CaseCommand, CaseId, Role, TenantId};
use jiff::Timestamp;

use super::plan::Plan;

/// The clock the demo moves to each command's moment.
#[derive(Debug)]
pub(crate) struct DemoClock(Mutex<Timestamp>);

impl DemoClock {
    pub(crate) fn new() -> Self {
        DemoClock(Mutex::new(Timestamp::now()))
    }

    fn set(&self, at: Timestamp) {
        *self.0.lock().expect("clock lock") = at;
    }
}

impl Clock for DemoClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().expect("clock lock")
    }
}

/// Who does what in the demo: one user per role, the handler in the tenant's safety unit (or
/// the unit a step names), the mediator in its mediation room, grid workers covering all its
/// grids.
fn actor(tenant: &TenantId, role: Role, unit: Option<&str>) -> Actor {
    Actor {
        id: match unit {
            Some(unit) => format!("demo-{role}-{unit}"),
            None => format!("demo-{role}"),
        },
        tenant: tenant.clone(),
        role,
        unit: match (role, unit) {
            (Role::Handler, Some(unit)) => Some(unit.parse().expect("a unit id")),
            (Role::Handler, None) => Some(format!("{tenant}-safety").parse().expect("a unit id")),
            (Role::Mediator, _) => Some(format!("{tenant}-mediation").parse().expect("a unit id")),
            _ => None,
        },
        grids: (1..=super::directory::GRIDS)
            .map(|n| {
                super::directory::grid(tenant.as_str(), n)
                    .parse()
                    .expect("a grid id")
            })
            .collect(),
    }
}

/// Hands every step of the plan to `commands` in order, with `clock` at the step's moment;
/// `done` is called after each. The first refusal stops it, naming the step.
pub(crate) async fn drive(
    commands: &CommandService,
    clock: &DemoClock,
    tenant: &TenantId,
    plan: &Plan,
    done: impl Fn(),
) -> Result<(), String> {
    // The demo directory, unless the tenant keeps one already.
    commands
        .seed_directory(
            tenant,
            super::directory::seeded(tenant.as_str()),
            "docket demo",
        )
        .await
        .map_err(|e| format!("the demo directory cannot be recorded: {e}"))?;
    let mut ids: HashMap<usize, CaseId> = HashMap::new();
    for step in &plan.steps {
        clock.set(step.at);
        let kind = plan.kinds[step.case];
        let mut body = step.body.clone();
        if let Some(other) = step.refers {
            body["of"] = serde_json::json!(ids[&other]);
        }
        let (case_id, command) = if step.action.is_empty() {
            (None, CaseCommand::parse_filing(body))
        } else {
            (
                Some(ids[&step.case]),
                CaseCommand::parse_action(kind, step.action, body),
            )
        };
        let command =
            command.map_err(|e| format!("the demo's own {} is invalid: {e:?}", step.action))?;
        let request = CommandRequest {
            case_id,
            command,
            idempotency_key: None,
            expected_version: None,
        };
        let outcome = commands
            .handle(&actor(tenant, step.who, step.unit.as_deref()), request)
            .await
            .map_err(|e| {
                let action = if step.action.is_empty() {
                    "filing"
                } else {
                    step.action
                };
                format!("{kind} {action} at {} refused: {e}", step.at)
            })?;
        ids.insert(step.case, outcome.case_id);
        done();
    }
    Ok(())
}
