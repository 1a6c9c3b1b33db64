//! Docket's domain: what a case is and how each kind of case moves to closure.
//!
//! Pure and synchronous. Every state machine is a table (state, action, who, next) from which both the
//! decision and `allowed_actions` are read, so the code cannot drift from the rules it implements.

mod case;
pub mod common;
mod context;
pub mod deadlines;
pub mod directory;
pub mod dispute;
pub mod evidence;
pub mod hazard;
mod ids;
pub mod kind;
pub mod livelihood;
mod number;
pub mod person;
pub mod petition;
mod reach;
mod record;
mod refusal;
pub mod risk_event;
mod role;
pub mod table;
#[cfg(test)]
mod testing;

pub use case::{CaseCommand, CaseEvent, CaseKind, CaseState, Detail};
pub use context::{ActingFor, Context, DirectoryLookup, Named};
pub use ids::{CaseId, CategoryId, CommunityId, GridId, InvalidId, TenantId, UnitId, shown};
pub use kind::{CaseReference, Kind};
pub use number::CaseNumber;
pub use reach::Reach;
pub use refusal::{InvalidInput, Refusal, ReplayError, UnknownEvent};
pub use role::Role;

/// Points in time are UTC instants; tenant-local days are derived where a rule needs them.
pub use jiff::Timestamp;
