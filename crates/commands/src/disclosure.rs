//! What a read shows of the people a case names: one rule, applied by every read (case detail,
//! history, lists and the figures' drill-down, person files, the event stream), so that no
//! interface decides it again.
//!
//! The rule is the case kind's (DOMAIN.md: who sees parties, petitioners, reporters), for the
//! caller's role and unit; a read may show less, never more. What is derived from a person (that a
//! petition repeats an earlier one, and which) goes with the person: nothing of it where the
//! person is withheld, and the earlier cases by name only where the person is shown in clear.

use docket_domain::person::Disclosure;
use docket_domain::{CaseKind, CaseState};

use crate::Actor;

/// The reads that show a case's people, or what is derived from them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// The answer to a filing: the case as filed.
    Filing,
    /// The answer to an action: the case after it.
    Action,
    /// `GET /v1/cases/{id}`.
    Case,
    /// `GET /v1/cases/{id}/history`.
    History,
    /// `GET /v1/cases` and the cases behind a figure: the repeat flag only.
    List,
    /// A person file (一人一档): the details, and the cases listed.
    PersonFile,
    /// `GET /v1/events`: a stream records no views, so it never shows anyone in clear.
    Events,
}

impl Read {
    /// The name a view in clear is recorded under.
    pub fn name(self) -> &'static str {
        match self {
            Read::Filing => "filing",
            Read::Action => "action",
            Read::Case => "case",
            Read::History => "history",
            Read::List => "list",
            Read::PersonFile => "person-file",
            Read::Events => "events",
        }
    }
}

impl Actor {
    /// How this actor is shown the people of `case` through `read`.
    pub fn disclosure(&self, case: &CaseState, read: Read) -> Disclosure {
        let rule = case.disclosure(self.role, self.unit.as_ref());
        match (read, rule) {
            (Read::Events, Disclosure::Clear) => Disclosure::Masked,
            (_, rule) => rule,
        }
    }
}

impl Actor {
    /// How this actor is shown the free texts of `case` (descriptions, notes, a responsible
    /// party), which may name its people, through `read`: as its people are shown, but never
    /// in clear in lists and streams. A hazard names no people: its texts are its substance,
    /// in clear to whoever reaches it (masked in lists and streams).
    pub fn text_disclosure(&self, case: &CaseState, read: Read) -> Disclosure {
        let rule = if case.kind() == CaseKind::Hazard {
            Disclosure::Clear
        } else {
            case.disclosure(self.role, self.unit.as_ref())
        };
        match (read, rule) {
            (Read::List | Read::Events, Disclosure::Clear) => Disclosure::Masked,
            (_, rule) => rule,
        }
    }
}

/// Whether a read says anything derived from the people (whether the case repeats another).
pub fn shows_repeats(disclosure: Disclosure) -> bool {
    disclosure != Disclosure::Withheld
}

/// Whether a read names the earlier cases of the same person.
pub fn names_earlier_cases(disclosure: Disclosure) -> bool {
    disclosure == Disclosure::Clear
}
