//! One surface over every kind of case. Each kind is a module whose state implements [`Kind`];
//! the one list below registers it, and everything here reaches it through that list or through
//! its hooks, so a new kind is a new module plus one registration line.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::common::{self, CommonCommand, CommonEvent, Handling, Outcome};
use crate::context::ActingFor;
use crate::dispute::Dispute;
use crate::hazard::HazardTicket;
use crate::kind::{Action as _, CaseReference, Kind};
use crate::livelihood::LivelihoodRequest;
use crate::person::{Disclosure, Personal};
use crate::petition::Petition;
use crate::record;
use crate::risk_event::RiskEvent;
use crate::table::{self, AnyKind};
use crate::{
    CaseId, CommunityId, Context, GridId, InvalidInput, Named, Refusal, ReplayError, Role, UnitId,
    UnknownEvent,
};

/// Registers the kinds of case: for each, its variant (its name in CamelCase) and its state
/// type, which implements [`Kind`]. From this one list come `CaseKind`, `Detail`, `CaseCommand`,
/// `CaseEvent` and every dispatch over them.
macro_rules! kinds {
    ($($variant:ident($state:ty),)+) => {
        /// The kinds of case Docket handles.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum CaseKind {
            $($variant,)+
        }

        impl CaseKind {
            pub const ALL: [CaseKind; [$(CaseKind::$variant),+].len()] = [$(CaseKind::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(CaseKind::$variant => <$state as Kind>::NAME,)+
                }
            }

            /// The prefix of the human case number.
            pub fn number_prefix(self) -> &'static str {
                match self {
                    $(CaseKind::$variant => <$state as Kind>::NUMBER_PREFIX,)+
                }
            }

            /// The kind's categories as Docket ships them (slug, name).
            pub fn shipped_categories(self) -> &'static [(&'static str, &'static str)] {
                match self {
                    $(CaseKind::$variant => <$state as Kind>::CATEGORIES,)+
                }
            }

            /// The name of a case's state before it is filed.
            fn not_filed(self) -> &'static str {
                match self {
                    $(CaseKind::$variant => <$state as Kind>::NOT_FILED,)+
                }
            }

            /// The roles the kind's table lets take `action` in some state.
            pub fn roles_for(self, action: &str) -> Vec<Role> {
                match self {
                    $(CaseKind::$variant => table::roles_for::<$state>(action),)+
                }
            }

            /// Whether each co-handling unit's people take the table's `action` for their own
            /// unit (a check-in), not only the lead unit's.
            pub fn taken_by_each_unit(self, action: &str) -> bool {
                match self {
                    $(CaseKind::$variant => <$state as Kind>::Action::ALL
                        .iter()
                        .any(|a| a.as_str() == action && <$state as Kind>::each_units_own(*a)),)+
                }
            }

            /// The action that files a case of this kind: its table's row from no state.
            pub fn filing_action(self) -> &'static str {
                match self {
                    $(CaseKind::$variant => filing_action::<$state>(),)+
                }
            }

            /// Every action of this kind's own table.
            pub fn actions(self) -> Vec<&'static str> {
                match self {
                    $(CaseKind::$variant => actions::<$state>(),)+
                }
            }

            /// Every state a case of this kind can be in (its `status`).
            pub fn statuses(self) -> Vec<&'static str> {
                match self {
                    $(CaseKind::$variant => statuses::<$state>(),)+
                }
            }

            /// Whether `role` may file a case of this kind.
            pub fn filing_allowed(self, role: Role, now: Timestamp) -> bool {
                match self {
                    $(CaseKind::$variant => {
                        table::allowed_actions::<$state>(None, role, ActingFor::Tenant, now)
                            .contains(&self.filing_action())
                    })+
                }
            }

            fn parse_command(self, action: &str, body: Value) -> Result<CaseCommand, InvalidInput> {
                match self {
                    $(CaseKind::$variant => {
                        InvalidInput::parse_action(action, body).map(CaseCommand::$variant)
                    })+
                }
            }

            fn read_event(
                self,
                event_type: &str,
                schema_version: u32,
                name: &str,
                data: &Value,
            ) -> Result<CaseEvent, UnknownEvent> {
                match self {
                    $(CaseKind::$variant => {
                        record::read(event_type, schema_version, name, data).map(CaseEvent::$variant)
                    })+
                }
            }
        }

        /// What is particular to the kind of a case: its own table's state and fields.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "kind", rename_all = "snake_case")]
        pub enum Detail {
            $($variant($state),)+
        }

        impl Detail {
            pub fn kind(&self) -> CaseKind {
                match self {
                    $(Detail::$variant(_) => CaseKind::$variant,)+
                }
            }

            /// The kind's part through its hooks.
            pub fn hooks(&self) -> &dyn AnyKind {
                match self {
                    $(Detail::$variant(d) => d,)+
                }
            }

            fn hooks_mut(&mut self) -> &mut dyn AnyKind {
                match self {
                    $(Detail::$variant(d) => d,)+
                }
            }

            /// A kind's command decided by its table.
            fn decide(
                &self,
                command: &CaseCommand,
                ctx: &Context<'_>,
                acting_for: ActingFor,
            ) -> Result<Vec<CaseEvent>, Refusal> {
                match (self, command) {
                    $((Detail::$variant(d), CaseCommand::$variant(c)) => {
                        lift(table::decide::<$state>(Some(d), c, ctx, acting_for))
                    })+
                    (detail, _) => Err(Refusal::NotAllowedInState {
                        kind: detail.kind().as_str(),
                        state: detail.status(),
                        action: command.action().to_owned(),
                        allowed: Vec::new(),
                        reason: Some("the command is for another kind of case"),
                    }),
                }
            }

            /// Applies one of the kind's own events.
            fn evolve(self, event: &CaseEvent) -> Result<Detail, ReplayError> {
                match (self, event) {
                    $((Detail::$variant(d), CaseEvent::$variant(e)) => {
                        <$state as Kind>::evolve(Some(d), e).map(Detail::$variant)
                    })+
                    (detail, _) => Err(ReplayError::new(
                        detail.kind().as_str(),
                        "an event of another kind of case",
                    )),
                }
            }

            /// What the kind records, besides the deadline missed, when the case is found open
            /// past `deadline`.
            fn overdue_events(&self, deadline: Timestamp) -> Vec<CaseEvent> {
                match self {
                    $(Detail::$variant(d) => d
                        .overdue_events(deadline)
                        .into_iter()
                        .map(CaseEvent::$variant)
                        .collect(),)+
                }
            }

            /// What the kind's own limits make the deadline watch record at `now`.
            fn watched_events(&self, now: Timestamp) -> Vec<CaseEvent> {
                match self {
                    $(Detail::$variant(d) => d
                        .watched_events(now)
                        .into_iter()
                        .map(CaseEvent::$variant)
                        .collect(),)+
                }
            }

            /// The lead and co-handling units, when the kind keeps them itself.
            fn units(&self) -> Option<(Option<UnitId>, Vec<UnitId>)> {
                match self {
                    $(Detail::$variant(d) => d.units().map(|(lead, co)| (lead.cloned(), co)),)+
                }
            }
        }

        /// A command to some case, of some kind, or one every case takes.
        #[derive(Debug, Clone, PartialEq, Serialize)]
        #[serde(untagged)]
        pub enum CaseCommand {
            $($variant(<$state as Kind>::Command),)+
            /// An action every case has; `kind` is the kind of the case it is for.
            Common {
                #[serde(skip)]
                kind: CaseKind,
                #[serde(flatten)]
                command: CommonCommand,
            },
        }

        impl CaseCommand {
            pub fn kind(&self) -> CaseKind {
                match self {
                    $(CaseCommand::$variant(_) => CaseKind::$variant,)+
                    CaseCommand::Common { kind, .. } => *kind,
                }
            }

            pub fn action(&self) -> &'static str {
                match self {
                    $(CaseCommand::$variant(c) => <$state as Kind>::action(c).as_str(),)+
                    CaseCommand::Common { command, .. } => command.action().as_str(),
                }
            }

            /// A filing decided by its kind's table.
            fn decide_filing(
                &self,
                ctx: &Context<'_>,
            ) -> Result<Vec<CaseEvent>, Refusal> {
                match self {
                    $(CaseCommand::$variant(c) => {
                        lift(table::decide::<$state>(None, c, ctx, ActingFor::Tenant))
                    })+
                    CaseCommand::Common { command, kind } => Err(Refusal::NotAllowedInState {
                        kind: kind.as_str(),
                        state: kind.not_filed(),
                        action: command.action().as_str().to_owned(),
                        allowed: vec![kind.filing_action()],
                        reason: None,
                    }),
                }
            }

            /// What the command names from the tenant's directory, field by field.
            pub fn named(&self) -> Vec<(&'static str, Named<'_>)> {
                match self {
                    $(CaseCommand::$variant(c) => <$state as Kind>::named(c),)+
                    CaseCommand::Common { command, .. } => command.named(),
                }
            }

            fn kind_names_case(&self) -> Option<(CaseId, &'static str, CaseReference)> {
                match self {
                    $(CaseCommand::$variant(c) => <$state as Kind>::names_case(c),)+
                    CaseCommand::Common { .. } => None,
                }
            }

            /// A filing by a handler or mediator that routes the case nowhere is routed to their
            /// own unit: a handler's hazard report to his unit, a mediator's dispute to his room.
            pub fn route_to_own_unit(&mut self, role: Role, unit: Option<&UnitId>) {
                let Some(unit) = unit else { return };
                match self {
                    $(CaseCommand::$variant(c) => <$state as Kind>::route_to_own_unit(c, role, unit),)+
                    CaseCommand::Common { .. } => {}
                }
            }
        }

        /// An event of some case. On the log it is a type name (`hazard.reported`,
        /// `case.note_added`), a schema version and a JSON object.
        #[derive(Debug, Clone, PartialEq)]
        pub enum CaseEvent {
            $($variant(<$state as Kind>::Event),)+
            /// An event every kind of case has; recorded as `case.<name>`.
            Common(CommonEvent),
        }

        impl CaseEvent {
            /// The people the event names (parties, petitioners), to seal before the commit is
            /// written.
            pub fn persons_mut(&mut self) -> Vec<&mut Personal> {
                match self {
                    $(CaseEvent::$variant(e) => <$state as Kind>::persons_mut(e),)+
                    CaseEvent::Common(_) => Vec::new(),
                }
            }

            /// The people the event names.
            pub fn persons(&self) -> Vec<&Personal> {
                match self {
                    $(CaseEvent::$variant(e) => <$state as Kind>::persons(e),)+
                    CaseEvent::Common(_) => Vec::new(),
                }
            }

            /// The type name, schema version and data as they go on the log.
            pub fn to_record(&self) -> (String, u32, Value) {
                match self {
                    $(CaseEvent::$variant(e) => record::to_record(<$state as Kind>::NAME, e),)+
                    CaseEvent::Common(e) => record::to_record(COMMON_PREFIX, e),
                }
            }

            /// The unit a kind's event makes the lead unit, if any.
            fn assigned_unit(&self) -> Option<&UnitId> {
                match self {
                    $(CaseEvent::$variant(e) => <$state as Kind>::assigned_unit(e),)+
                    CaseEvent::Common(_) => None,
                }
            }

            /// The case a kind's event closes this one as a duplicate of, if any.
            fn duplicate_of(&self) -> Option<CaseId> {
                match self {
                    $(CaseEvent::$variant(e) => <$state as Kind>::duplicate_of(e),)+
                    CaseEvent::Common(_) => None,
                }
            }

            /// Another case a kind's event links this one to, if any.
            pub fn linked_case(&self) -> Option<CaseId> {
                match self {
                    $(CaseEvent::$variant(e) => <$state as Kind>::linked_case(e),)+
                    CaseEvent::Common(_) => None,
                }
            }

            /// The case filed by a kind's first event.
            fn filed(&self) -> Result<Detail, ReplayError> {
                match self {
                    $(CaseEvent::$variant(e) => <$state as Kind>::evolve(None, e).map(Detail::$variant),)+
                    CaseEvent::Common(_) => {
                        Err(ReplayError::new("case", "event before the case was filed"))
                    }
                }
            }
        }

        /// Visits every registered kind, so that tests cover each one.
        #[cfg(test)]
        pub(crate) fn for_every_kind(visitor: &mut impl crate::testing::EveryKind) {
            $(visitor.visit::<$state>();)+
        }

        $(impl From<<$state as Kind>::Event> for CaseEvent {
            fn from(event: <$state as Kind>::Event) -> Self {
                CaseEvent::$variant(event)
            }
        })+
    };
}

kinds! {
    Hazard(HazardTicket),
    Dispute(Dispute),
    Petition(Petition),
    RiskEvent(RiskEvent),
    Livelihood(LivelihoodRequest),
}

fn filing_action<K: Kind>() -> &'static str {
    K::table()
        .iter()
        .find(|row| row.from.contains(&None))
        .map(|row| row.action.as_str())
        .expect("every kind's table has a row that files a case")
}

fn actions<K: Kind>() -> Vec<&'static str> {
    K::Action::ALL.iter().map(|a| a.as_str()).collect()
}

fn statuses<K: Kind>() -> Vec<&'static str> {
    use crate::kind::Status as _;
    K::Status::ALL.iter().map(|s| s.as_str()).collect()
}

fn lift<E>(decided: Result<Vec<E>, Refusal>) -> Result<Vec<CaseEvent>, Refusal>
where
    CaseEvent: From<E>,
{
    decided.map(|events| events.into_iter().map(CaseEvent::from).collect())
}

impl CaseKind {
    /// What stands as the kind's severity, which figures are sliced by: a hazard's severity, a
    /// risk's level, a request's urgency; none for the others.
    pub fn severities(self) -> Vec<&'static str> {
        match self {
            CaseKind::Hazard => crate::hazard::Severity::ALL.map(|s| s.as_str()).to_vec(),
            CaseKind::RiskEvent => crate::risk_event::Level::ALL.map(|l| l.as_str()).to_vec(),
            CaseKind::Livelihood => crate::livelihood::Urgency::ALL.map(|u| u.as_str()).to_vec(),
            CaseKind::Dispute | CaseKind::Petition => Vec::new(),
        }
    }

    /// How a case of the kind may come in (its `channel`), which figures are sliced by: a
    /// petition's or a request's; none for the others.
    pub fn channels(self) -> Vec<&'static str> {
        match self {
            CaseKind::Petition => crate::petition::Channel::ALL.map(|c| c.as_str()).to_vec(),
            CaseKind::Livelihood => crate::livelihood::Channel::ALL.map(|c| c.as_str()).to_vec(),
            CaseKind::Hazard | CaseKind::Dispute | CaseKind::RiskEvent => Vec::new(),
        }
    }

    /// Whether any kind, or the common table, knows an action of this name.
    pub fn is_known_action(name: &str) -> bool {
        is_common_action(name) || CaseKind::ALL.iter().any(|k| k.actions().contains(&name))
    }
}

fn is_common_action(name: &str) -> bool {
    common::Action::ALL.iter().any(|a| a.as_str() == name)
}

impl fmt::Display for CaseKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CaseKind {
    type Err = InvalidInput;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CaseKind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| InvalidInput {
                field: Some("kind".to_owned()),
                message: format!(
                    "unknown kind {:?}; kinds are {}",
                    crate::ids::shown(s),
                    CaseKind::ALL
                        .iter()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
    }
}

impl CaseCommand {
    /// Parses the body of a filing: an object with `kind` and that kind's filing fields.
    pub fn parse_filing(body: Value) -> Result<CaseCommand, InvalidInput> {
        let Value::Object(mut fields) = body else {
            return Err(InvalidInput {
                field: None,
                message: "the body must be a JSON object".to_owned(),
            });
        };
        let kind = match fields.remove("kind") {
            Some(Value::String(kind)) => kind.parse::<CaseKind>()?,
            Some(_) | None => {
                return Err(InvalidInput {
                    field: Some("kind".to_owned()),
                    message: "kind is required and must be a string".to_owned(),
                });
            }
        };
        Self::parse_action(kind, kind.filing_action(), Value::Object(fields))
    }

    /// Parses an action on a case of a known kind. An empty body (`null`) is an empty object.
    pub fn parse_action(
        kind: CaseKind,
        action: &str,
        body: Value,
    ) -> Result<CaseCommand, InvalidInput> {
        if is_common_action(action) {
            return InvalidInput::parse_action(action, body)
                .map(|command| CaseCommand::Common { kind, command });
        }
        kind.parse_command(action, body)
    }

    pub fn is_filing(&self) -> bool {
        self.action() == self.kind().filing_action()
    }

    /// Another case this command names, with the field naming it: the command service checks
    /// it exists in the tenant (and, for a duplicate, is not itself a duplicate).
    pub fn names_case(&self) -> Option<(CaseId, &'static str, CaseReference)> {
        match self {
            CaseCommand::Common {
                command: CommonCommand::Link(l),
                ..
            } => Some((l.case, "case", CaseReference::Related)),
            CaseCommand::Common {
                command: CommonCommand::MarkDuplicate(m),
                ..
            } => Some((m.of, "of", CaseReference::Original)),
            _ => self.kind_names_case(),
        }
    }

    /// Decides the command against the case (`None`: not filed yet). Besides the events of the
    /// action itself, records that the current step's deadline was missed (once per deadline)
    /// and, when the case reaches an end state, how it closed.
    pub fn decide(
        &self,
        state: Option<&CaseState>,
        ctx: &Context<'_>,
    ) -> Result<Vec<CaseEvent>, Refusal> {
        let Some(before) = state else {
            let events = self.decide_filing(ctx)?;
            ctx.check_names(&self.named())?;
            return Ok(events);
        };
        let acting_for = before.acting_for(ctx);
        let mut events = match self {
            CaseCommand::Common { command, .. } => {
                common::decide(&before.common_view(), command, ctx, acting_for)
                    .map(|events| events.into_iter().map(CaseEvent::Common).collect())
            }
            _ => before.detail.decide(self, ctx, acting_for),
        }
        .map_err(|refusal| before.widen(refusal, ctx))?;
        ctx.check_names(&self.named())?;
        events.splice(0..0, before.overdue_events(ctx.now));
        let mut after = before.clone();
        for event in &events {
            after = CaseState::evolve(Some(after), event).map_err(|e| Refusal::InvalidField {
                field: "case",
                reason: e.to_string(),
            })?;
        }
        if !before.is_closed() && after.is_closed() {
            let outcome = after.outcome().unwrap_or(Outcome::NotResolved);
            events.push(CaseEvent::Common(CommonEvent::Closed {
                outcome,
                on_time: after.handling.missed_deadlines.is_empty(),
            }));
        }
        Ok(events)
    }
}

/// The type prefix of the events every case has.
const COMMON_PREFIX: &str = "case";

impl CaseEvent {
    pub fn from_record(
        event_type: &str,
        schema_version: u32,
        data: &Value,
    ) -> Result<Self, UnknownEvent> {
        let (prefix, name) = record::split(event_type, schema_version)?;
        if prefix == COMMON_PREFIX {
            return record::read(event_type, schema_version, name, data).map(CaseEvent::Common);
        }
        let kind: CaseKind = prefix
            .parse()
            .map_err(|e: InvalidInput| record::unknown(event_type, schema_version, &e.message))?;
        kind.read_event(event_type, schema_version, name, data)
    }
}

impl Detail {
    pub fn status(&self) -> &'static str {
        self.hooks().status_name()
    }
}

/// A case as its events have made it: its kind's part and the part every case has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseState {
    #[serde(flatten)]
    pub detail: Detail,
    pub handling: Handling,
}

impl CaseState {
    /// Folds one event into the state (`None`: before the first event).
    pub fn evolve(state: Option<CaseState>, event: &CaseEvent) -> Result<CaseState, ReplayError> {
        let Some(mut state) = state else {
            let mut filed = CaseState {
                detail: event.filed()?,
                handling: Handling::default(),
            };
            filed.handling.lead_unit = event.assigned_unit().cloned();
            return Ok(filed);
        };
        if let CaseEvent::Common(e) = event {
            common::evolve(state.detail.hooks_mut(), &mut state.handling, e)?;
            return Ok(state);
        }
        let before = state.deadline();
        let was_closed = state.is_closed();
        state.detail = state.detail.evolve(event)?;
        if let Some(unit) = event.assigned_unit() {
            let h = &mut state.handling;
            h.co_handlers.retain(|u| u != unit);
            h.lead_unit = Some(unit.clone());
            h.assignee = None;
        }
        if let Some((lead, co_handlers)) = state.detail.units() {
            let h = &mut state.handling;
            h.lead_unit = lead;
            h.co_handlers = co_handlers;
        }
        if let Some(case) = event.linked_case()
            && !state.handling.links.contains(&case)
        {
            state.handling.links.push(case);
        }
        // A kind's own action that takes a closed case back (a request redone) opens it again.
        if was_closed && !state.is_closed() {
            state.handling.closure = None;
        }
        // A kind's own closing as a duplicate is a duplicate like mark-duplicate's.
        if let Some(of) = event.duplicate_of() {
            let h = &mut state.handling;
            h.duplicate_of = Some(of);
            if !h.links.contains(&of) {
                h.links.push(of);
            }
        }
        // A new step starts its own extensions.
        if state.deadline() != before {
            let h = &mut state.handling;
            h.step_extended_days = 0;
            h.step_extensions = 0;
            h.pending_extension = None;
        }
        Ok(state)
    }

    /// Folds a whole history.
    pub fn replay<'a>(
        events: impl IntoIterator<Item = &'a CaseEvent>,
    ) -> Result<Option<CaseState>, ReplayError> {
        events
            .into_iter()
            .try_fold(None, |state, e| Self::evolve(state, e).map(Some))
    }

    pub fn kind(&self) -> CaseKind {
        self.detail.kind()
    }

    pub fn status(&self) -> &'static str {
        self.detail.status()
    }

    fn hooks(&self) -> &dyn AnyKind {
        self.detail.hooks()
    }

    fn common_view(&self) -> common::Case<'_> {
        common::Case {
            kind: self.hooks(),
            handling: &self.handling,
        }
    }

    /// For whom the actor acts on this case: the tenant, or their unit by its part in it.
    pub fn acting_for(&self, ctx: &Context<'_>) -> ActingFor {
        ctx.acting_for(self.handling.lead_unit.as_ref(), &self.handling.co_handlers)
    }

    /// Whether the case has reached an end state.
    pub fn is_closed(&self) -> bool {
        self.hooks().is_end()
    }

    /// How the case ended, once it has.
    pub fn outcome(&self) -> Option<Outcome> {
        self.hooks().outcome()
    }

    /// The actions a person of `role` (and of `unit`, for handlers and mediators) may take now:
    /// its kind's table and the common one.
    pub fn allowed_actions(
        &self,
        role: Role,
        unit: Option<&UnitId>,
        now: Timestamp,
    ) -> Vec<&'static str> {
        let h = &self.handling;
        let acting_for = ActingFor::of(role, unit, h.lead_unit.as_ref(), &h.co_handlers);
        let mut actions = self.hooks().allowed_actions(role, acting_for, now);
        // What each unit takes for itself, only where its own part allows it.
        if let Some(unit) = unit.filter(|_| role.acts_for_a_unit()) {
            actions.retain(|action| self.hooks().unit_may(action, unit, now));
        }
        actions.extend(common::allowed_actions(
            &self.common_view(),
            role,
            unit,
            acting_for,
            now,
        ));
        actions
    }

    /// The actions anyone may take now, in table order: the kind's, then the common ones. A
    /// handler or mediator is anyone of the lead unit or a co-handling unit.
    pub fn open_actions(&self, now: Timestamp) -> Vec<&'static str> {
        let h = &self.handling;
        let units: Vec<Option<&UnitId>> = std::iter::once(None)
            .chain(h.lead_unit.iter().chain(&h.co_handlers).map(Some))
            .collect();
        let open: Vec<&'static str> = Role::ALL
            .iter()
            .flat_map(|role| {
                units
                    .iter()
                    .flat_map(|unit| self.allowed_actions(*role, *unit, now))
            })
            .collect();
        self.kind()
            .actions()
            .into_iter()
            .chain(common::Action::ALL.iter().map(|a| a.as_str()))
            .filter(|action| open.contains(action))
            .collect()
    }

    /// A refusal from a kind's table or the common one lists everything the case allows.
    fn widen(&self, refusal: Refusal, ctx: &Context<'_>) -> Refusal {
        match refusal {
            Refusal::NotAllowedInState {
                kind,
                state,
                action,
                reason,
                ..
            } => Refusal::NotAllowedInState {
                kind,
                state,
                action,
                allowed: self.open_actions(ctx.now),
                reason,
            },
            Refusal::RoleNotPermitted {
                kind,
                state,
                action,
                role,
                ..
            } => Refusal::RoleNotPermitted {
                kind,
                state,
                action,
                role,
                allowed: self.allowed_actions(role, ctx.unit, ctx.now),
            },
            Refusal::UnitNotPermitted {
                kind,
                state,
                action,
                role,
                acting_for,
                ..
            } => Refusal::UnitNotPermitted {
                kind,
                state,
                action,
                role,
                acting_for,
                allowed: self.allowed_actions(role, ctx.unit, ctx.now),
            },
            invalid @ Refusal::InvalidField { .. } => invalid,
        }
    }

    /// How much of the people in the case a viewer of `role` (and `unit`) is shown.
    pub fn disclosure(&self, role: Role, unit: Option<&UnitId>) -> Disclosure {
        if role == Role::ServiceAccount {
            return Disclosure::Withheld;
        }
        self.hooks().disclosure(role, unit)
    }

    pub fn community(&self) -> &CommunityId {
        self.hooks().community()
    }

    pub fn grid(&self) -> Option<&GridId> {
        self.hooks().grid()
    }

    pub fn title(&self) -> &str {
        self.hooks().title()
    }

    pub fn description(&self) -> &str {
        self.hooks().description()
    }

    /// The category in the kind's taxonomy, as its JSON name: a hazard's category, a dispute's
    /// type, a petition's matter.
    pub fn category(&self) -> String {
        self.hooks().category()
    }

    /// A hazard's severity (general or major); other kinds have none.
    pub fn severity(&self) -> Option<&'static str> {
        self.hooks().severity()
    }

    /// How a petition or a livelihood request came in; other kinds have no channel.
    pub fn channel(&self) -> Option<&'static str> {
        self.hooks().channel()
    }

    /// What being overdue at `now` records, once each: the misses of the kind's own limits (a
    /// unit's check-in), the current step's deadline missed, and what the kind adds (a petition
    /// still open past it becomes backlog, 积案). Empty for a
    /// closed case, one within its deadline, or one whose miss is recorded already. The
    /// deadline watch records these on its own; any command taken late records them first.
    pub fn overdue_events(&self, now: Timestamp) -> Vec<CaseEvent> {
        if self.is_closed() {
            return Vec::new();
        }
        let mut events = self.detail.watched_events(now);
        let Some(deadline) = self.deadline().filter(|d| now >= *d) else {
            return events;
        };
        if !self.handling.missed_deadlines.contains(&deadline) {
            events.push(CaseEvent::Common(CommonEvent::DeadlineMissed { deadline }));
        }
        events.extend(self.detail.overdue_events(deadline));
        events
    }

    /// When the deadline watch next has something to record on this case: the current step's
    /// deadline, unless its miss is recorded, or the kind's own earliest limit (a unit's
    /// check-in). None for a closed case.
    pub fn next_watch(&self) -> Option<Timestamp> {
        if self.is_closed() {
            return None;
        }
        let deadline = self.deadline().filter(|d| {
            !self.handling.missed_deadlines.contains(d)
                || !self.detail.overdue_events(*d).is_empty()
        });
        [deadline, self.hooks().next_watch()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Whether the case is a petition that is backlog (积案): flagged at registration, or open
    /// past a deadline since.
    pub fn is_backlog(&self) -> bool {
        self.hooks().is_backlog()
    }

    /// The deadline of the current step.
    pub fn deadline(&self) -> Option<Timestamp> {
        self.hooks().deadline()
    }

    /// The step the deadline is for.
    pub fn current_step(&self) -> Option<&'static str> {
        self.hooks().current_step()
    }

    /// Whether the case is open past its deadline at `now`.
    pub fn is_overdue(&self, now: Timestamp) -> bool {
        !self.is_closed() && self.deadline().is_some_and(|d| now >= d)
    }

    /// For a closed case, whether every step finished within its deadline.
    pub fn closed_on_time(&self) -> Option<bool> {
        self.handling.closure.map(|c| c.on_time)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::hazard::{self, HazardEvent};

    /// Every state a table names, and nothing else, is one of the kind's statuses: the list
    /// filters check `status=` against them.
    fn table_states<K: Kind>() -> (Vec<&'static str>, Vec<&'static str>) {
        use crate::kind::{Next, Status as _};
        let mut named: Vec<&'static str> = K::table()
            .iter()
            .flat_map(|row| {
                let to = match row.to {
                    Next::To(s) => Some(s),
                    Next::Unchanged => None,
                };
                row.from.iter().flatten().copied().chain(to)
            })
            .map(|s| s.as_str())
            .collect();
        named.sort_unstable();
        named.dedup();
        let mut all: Vec<&'static str> = K::Status::ALL.iter().map(|s| s.as_str()).collect();
        let listed = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), listed, "a status listed twice");
        (named, all)
    }

    #[test]
    fn every_state_of_every_table_is_a_status_of_its_kind() {
        for (named, all) in [
            table_states::<crate::hazard::HazardTicket>(),
            table_states::<crate::dispute::Dispute>(),
            table_states::<crate::petition::Petition>(),
            table_states::<crate::risk_event::RiskEvent>(),
            table_states::<crate::livelihood::LivelihoodRequest>(),
        ] {
            for state in &named {
                assert!(all.contains(state), "{state} is not in {all:?}");
            }
            // A state no row names is reached by a common action (a duplicate).
            for state in &all {
                assert!(named.contains(state) || *state == "duplicate", "{state}");
            }
        }
        assert!(CaseKind::Petition.statuses().contains(&"under-re-review"));
    }

    #[test]
    fn a_filing_body_names_its_kind_and_rejects_unknown_fields() {
        let body = json!({
            "kind": "hazard", "community": "qinghe", "title": "t",
            "category": "gas", "severity": "general", "source": "grid-worker"
        });
        let cmd = CaseCommand::parse_filing(body.clone()).unwrap();
        assert_eq!(cmd.kind(), CaseKind::Hazard);
        assert!(cmd.is_filing());

        let mut extra = body.clone();
        extra["colour"] = json!("red");
        let err = CaseCommand::parse_filing(extra).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("colour"));

        let mut missing = body.clone();
        missing.as_object_mut().unwrap().remove("title");
        let err = CaseCommand::parse_filing(missing).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("title"));

        let mut unknown_kind = body;
        unknown_kind["kind"] = json!("parking");
        let err = CaseCommand::parse_filing(unknown_kind).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("kind"));
    }

    #[test]
    fn a_kind_is_named_alike_on_the_log_in_urls_and_in_a_stored_state() {
        for kind in CaseKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), json!(kind.as_str()));
            assert_eq!(kind.as_str().parse::<CaseKind>(), Ok(kind));
        }
    }

    mod names {
        use super::*;
        use crate::deadlines::DeadlinePolicy;
        use crate::directory::{self, Directory};

        /// Qinghe with grid qinghe-03, its safety office as intake unit and its mediation room;
        /// a retired unit; and a second community.
        fn directory() -> Directory {
            let admin = Role::Admin;
            let mut d = directory::evolve(
                Directory::default(),
                &directory::seed_from_use(
                    ["qinghe".parse().unwrap(), "xisanqi".parse().unwrap()],
                    [
                        ("qinghe-03".parse().unwrap(), "qinghe".parse().unwrap()),
                        ("xisanqi-01".parse().unwrap(), "xisanqi".parse().unwrap()),
                    ],
                    [
                        "qinghe-safety".parse().unwrap(),
                        "qinghe-old".parse().unwrap(),
                    ],
                    [],
                ),
            )
            .unwrap();
            for (action, body) in [
                (
                    "add-unit",
                    json!({"id": "qinghe-mediation", "name": "清河调解室", "unit_kind": "mediation-room"}),
                ),
                (
                    "set-community-units",
                    json!({"id": "qinghe", "mediation_room": "qinghe-mediation", "intake_unit": "qinghe-safety"}),
                ),
                ("retire-unit", json!({"id": "qinghe-old"})),
            ] {
                let command = directory::DirectoryCommand::parse(action, body).unwrap();
                for event in directory::decide(&d, &command, admin).unwrap() {
                    d = directory::evolve(d, &event).unwrap();
                }
            }
            d
        }

        fn file(body: Value, role: Role) -> Result<CaseState, Refusal> {
            let policy = DeadlinePolicy::default();
            let directory = directory();
            let ctx = Context::new(
                role,
                "2025-03-03T02:00:00Z".parse().unwrap(),
                CaseId::default(),
                &policy,
            )
            .with_directory(&directory);
            let events = CaseCommand::parse_filing(body)
                .unwrap()
                .decide(None, &ctx)?;
            Ok(CaseState::replay(&events).unwrap().unwrap())
        }

        fn hazard() -> Value {
            json!({"kind": "hazard", "community": "qinghe", "grid": "qinghe-03", "title": "t",
                   "category": "gas", "severity": "general", "source": "grid-worker"})
        }

        #[track_caller]
        fn refused(body: Value, field: &str, says: &str) {
            match file(body, Role::GridWorker) {
                Err(Refusal::InvalidField { field: f, reason }) => {
                    assert_eq!(f, field, "{reason}");
                    assert!(reason.contains(says), "{reason}");
                }
                other => panic!("expected {field} refused, got {other:?}"),
            }
        }

        #[test]
        fn a_filing_names_only_what_the_directory_holds_in_service() {
            let with = |key: &str, value: &str| {
                let mut body = hazard();
                body[key] = json!(value);
                body
            };
            refused(
                with("community", "qinghee"),
                "community",
                "unknown community \"qinghee\"",
            );
            refused(with("grid", "qinghe-99"), "grid", "unknown grid");
            refused(
                with("grid", "xisanqi-01"),
                "grid",
                "is in community \"xisanqi\"",
            );
            refused(
                with("unit", "qinghe-safty"),
                "unit",
                "unknown unit \"qinghe-safty\"",
            );
            refused(with("unit", "qinghe-old"), "unit", "retired");
            refused(with("category", "parking"), "category", "gas");
            assert!(file(hazard(), Role::GridWorker).is_ok());
        }

        #[test]
        fn an_unrouted_filing_goes_to_its_communitys_default_units() {
            let hazard = file(hazard(), Role::GridWorker).unwrap();
            assert_eq!(hazard.handling.lead_unit.unwrap().as_str(), "qinghe-safety");
            let dispute = file(
                json!({"kind": "dispute", "community": "qinghe", "grid": "qinghe-03", "title": "t",
                       "dispute_type": "neighbour", "source": "grid-worker",
                       "parties": [{"side": "applicant", "name": "甲"}, {"side": "respondent", "name": "乙"}]}),
                Role::GridWorker,
            )
            .unwrap();
            assert_eq!(
                dispute.handling.lead_unit.unwrap().as_str(),
                "qinghe-mediation"
            );
        }
    }

    #[test]
    fn events_round_trip_through_their_log_records() {
        let event = CaseEvent::Hazard(HazardEvent::Verified {
            severity: hazard::Severity::Major,
            responsible_party: "物业".to_owned(),
            note: None,
        });
        let (event_type, version, data) = event.to_record();
        assert_eq!(event_type, "hazard.verified");
        assert_eq!(
            CaseEvent::from_record(&event_type, version, &data).unwrap(),
            event
        );
        assert!(CaseEvent::from_record("hazard.exploded", 1, &data).is_err());
        assert!(CaseEvent::from_record(&event_type, 99, &data).is_err());
    }

    mod decoding {
        use proptest::prelude::*;

        use super::*;
        use crate::deadlines::DeadlinePolicy;

        /// Any JSON value, nested a few levels.
        fn json_value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                any::<f64>().prop_map(|f| json!(f)),
                "\\PC{0,12}".prop_map(Value::from),
                prop::sample::select(vec![
                    "hazard",
                    "dispute",
                    "petition",
                    "qinghe",
                    "general",
                    "gas",
                    "visit",
                    "letter",
                    "applicant",
                    "2025-10-01",
                    "sha256:00",
                    "",
                ])
                .prop_map(Value::from),
            ];
            leaf.prop_recursive(3, 24, 6, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                    prop::collection::btree_map(
                        prop::sample::select(vec![
                            "kind",
                            "community",
                            "grid",
                            "title",
                            "category",
                            "severity",
                            "source",
                            "parties",
                            "petitioners",
                            "channel",
                            "petition_type",
                            "dispute_type",
                            "headcount",
                            "evidence",
                            "days",
                            "reason",
                            "unit",
                            "satisfaction",
                            "notice",
                            "due_on",
                            "case",
                            "of",
                            "x",
                        ]),
                        inner,
                        0..8,
                    )
                    .prop_map(|m| Value::Object(
                        m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
                    )),
                ]
            })
        }

        fn every_action() -> Vec<&'static str> {
            let mut all: Vec<&'static str> =
                CaseKind::ALL.iter().flat_map(|k| k.actions()).collect();
            all.extend(crate::common::Action::ALL.iter().map(|a| a.as_str()));
            all
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

            /// Whatever a client sends, decoding answers (a command or an error that says
            /// something) and deciding answers (events or a refusal that says something).
            #[test]
            fn any_body_decodes_or_is_refused_with_a_reason(
                body in json_value(),
                kind in prop::sample::select(CaseKind::ALL.to_vec()),
                action in prop::sample::select(every_action()),
                role in prop::sample::select(Role::ALL.to_vec()),
            ) {
                let policy = DeadlinePolicy::default();
                let ctx = Context::new(
                    role,
                    "2025-03-03T02:00:00Z".parse().unwrap(),
                    CaseId::default(),
                    &policy,
                );
                let mut filing = body.clone();
                if let Value::Object(fields) = &mut filing {
                    fields.insert("kind".to_owned(), json!(kind.as_str()));
                }
                for parsed in [
                    CaseCommand::parse_filing(filing),
                    CaseCommand::parse_action(kind, action, body),
                ] {
                    match parsed {
                        Err(e) => prop_assert!(!e.message.is_empty()),
                        Ok(command) => {
                            if let Err(refusal) = command.decide(None, &ctx) {
                                prop_assert!(!refusal.to_string().is_empty());
                            }
                        }
                    }
                }
            }
        }
    }
}
