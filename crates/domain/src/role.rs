use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Who acts: the roles of DOMAIN's user table.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 网格员: files cases from the street, adds evidence.
    GridWorker,
    /// 调解员: accepts and mediates disputes.
    Mediator,
    /// 信访干部: registers petitions, decides acceptance, reviews.
    PetitionOfficer,
    /// 承办人: acts on cases assigned to the unit.
    Handler,
    /// 督查 / 分管领导: sees the whole tenant, supervises, approves.
    Supervisor,
    /// 管理员: tenant set-up.
    Admin,
    /// A system that files for residents (an Open311 app, a hotline bridge): files hazards
    /// residents report and livelihood requests from their apps, and passes on their rating.
    /// It sees no one's personal data.
    ServiceAccount,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::GridWorker,
        Role::Mediator,
        Role::PetitionOfficer,
        Role::Handler,
        Role::Supervisor,
        Role::Admin,
        Role::ServiceAccount,
    ];

    /// Whether people of this role act for a unit (a handler's 责任单位, a mediator's room),
    /// and so only by the part their unit has in a case.
    pub fn acts_for_a_unit(self) -> bool {
        match self {
            Role::Handler | Role::Mediator => true,
            Role::GridWorker
            | Role::PetitionOfficer
            | Role::Supervisor
            | Role::Admin
            | Role::ServiceAccount => false,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::GridWorker => "grid_worker",
            Role::Mediator => "mediator",
            Role::PetitionOfficer => "petition_officer",
            Role::Handler => "handler",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
            Role::ServiceAccount => "service_account",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The role named is not one of Docket's roles.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown role {0:?}; roles are grid_worker, mediator, petition_officer, handler, supervisor, admin, service_account"
)]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}
