//! Reach: which of a tenant's cases a person may see and act on.
//!
//! A role's reach is its tenant plus, for grid workers, their grids, and for handlers and
//! mediators, their unit (the cases it leads or co-handles). Supervisors and petition officers
//! reach the whole tenant. Tenant isolation itself is the log's: a case is only ever read within
//! the caller's tenant. A case outside reach is treated as if it did not exist.

use crate::{CaseState, GridId, Role, UnitId};

/// The cases of a tenant a person reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// Every case of the tenant: supervisors and petition officers.
    Tenant,
    /// Cases in these grids: grid workers.
    Grids(Vec<GridId>),
    /// Cases this unit leads or co-handles: handlers and mediators.
    Unit(UnitId),
    /// No case: administrators (tenant set-up only), or a handler or mediator, or a grid
    /// worker, whose token names no unit or grid.
    Nothing,
}

impl Reach {
    /// The reach of a role, with the unit and grids its token names.
    pub fn of(role: Role, unit: Option<&UnitId>, grids: &[GridId]) -> Reach {
        match role {
            // A service account follows the requests it may have filed, as a resident's app
            // shows them: reads show it no one's personal data.
            Role::Supervisor | Role::PetitionOfficer | Role::ServiceAccount => Reach::Tenant,
            Role::GridWorker if !grids.is_empty() => Reach::Grids(grids.to_vec()),
            Role::Handler | Role::Mediator => {
                unit.map_or(Reach::Nothing, |u| Reach::Unit(u.clone()))
            }
            Role::GridWorker | Role::Admin => Reach::Nothing,
        }
    }

    /// Whether the case is within this reach.
    pub fn covers(&self, case: &CaseState) -> bool {
        match self {
            Reach::Tenant => true,
            Reach::Grids(grids) => case.grid().is_some_and(|g| grids.contains(g)),
            Reach::Unit(unit) => {
                case.handling.lead_unit.as_ref() == Some(unit)
                    || case.handling.co_handlers.contains(unit)
            }
            Reach::Nothing => false,
        }
    }

    /// Why a case just filed falls outside this reach, in the filer's words.
    pub fn why_not(&self) -> String {
        match self {
            Reach::Tenant => "the case is within the tenant".to_owned(),
            Reach::Grids(grids) => format!(
                "a grid worker files cases in her own grids ({}): name one as grid",
                grids
                    .iter()
                    .map(GridId::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Reach::Unit(unit) => {
                format!("a case filed by a handler or mediator is routed to his own unit ({unit})")
            }
            Reach::Nothing => {
                "this token reaches no case: it names no grid or unit, or its role files none"
                    .to_owned()
            }
        }
    }
}
