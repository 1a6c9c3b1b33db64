//! What every case has beside its own table: co-handling units, supervision notices, extensions,
//! links, return visits, reopening, and how it closed.

use serde::{Deserialize, Serialize};

/// How a closed case ended, as supervisors count it (化解率 = resolved / closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Resolved,
    NotResolved,
    /// Closed as a duplicate of another case: counted with that case, not on its own.
    Duplicate,
}
