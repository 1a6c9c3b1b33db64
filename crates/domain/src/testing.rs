//! The given/when/then harness every kind's tests share, and the tests that hold for every kind:
//! each row of each table leads where it says, and any sequence of commands moves a case only as
//! its table allows.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::LazyLock;

use jiff::Timestamp;
use proptest::prop_assert;
use proptest::prop_assert_eq;
use serde_json::{Value, json};

use crate::context::ActingFor;
use crate::deadlines::DeadlinePolicy;
use crate::kind::{Action as _, Kind, Row, Status as _};
use crate::table;
use crate::{CaseId, Context, Refusal, Role};

pub(crate) static POLICY: LazyLock<DeadlinePolicy> = LazyLock::new(DeadlinePolicy::default);

/// A decision's context under the default policy: `role` acting for the tenant, or for the lead
/// unit.
pub(crate) fn ctx_at(role: Role, at: Timestamp) -> Context<'static> {
    Context::new(role, at, CaseId::default(), &POLICY)
}

/// Decides by the kind's table, for someone who may act on the case (the tenant's people, or the
/// lead unit's).
pub(crate) fn decide<K: Kind>(
    case: Option<&K>,
    command: &K::Command,
    ctx: &Context<'_>,
) -> Result<Vec<K::Event>, Refusal> {
    table::decide(case, command, ctx, ActingFor::Tenant)
}

pub(crate) fn allowed_actions<K: Kind>(
    case: Option<&K>,
    role: Role,
    now: Timestamp,
) -> Vec<&'static str> {
    table::allowed_actions(case, role, ActingFor::Tenant, now)
}

pub(crate) fn authorize<K: Kind>(
    case: Option<&K>,
    action: K::Action,
    role: Role,
    now: Timestamp,
) -> Result<&'static Row<K>, Refusal> {
    table::authorize(case, action, &ctx_at(role, now), ActingFor::Tenant)
}

/// Folds the kind's events.
#[track_caller]
pub(crate) fn replay<K: Kind>(events: &[K::Event]) -> Option<K> {
    events
        .iter()
        .try_fold(None, |case, e| K::evolve(case, e).map(Some))
        .expect("given events replay")
}

/// The refusal of an action the state does not allow, without a guard's reason.
pub(crate) fn not_in_state<K: Kind>(
    state: &'static str,
    action: K::Action,
    allowed: &[&'static str],
) -> Refusal {
    Refusal::NotAllowedInState {
        kind: K::NAME,
        state,
        action: action.as_str().to_owned(),
        allowed: allowed.to_vec(),
        reason: None,
    }
}

/// The refusal of an action the state allows, but not to `role`.
pub(crate) fn not_for_role<K: Kind>(
    state: &'static str,
    action: K::Action,
    role: Role,
    allowed: &[&'static str],
) -> Refusal {
    Refusal::RoleNotPermitted {
        kind: K::NAME,
        state,
        action: action.as_str().to_owned(),
        role,
        allowed: allowed.to_vec(),
    }
}

/// Given these events (at this time), …
pub(crate) struct Given<K: Kind> {
    events: Vec<K::Event>,
    now: Timestamp,
}

pub(crate) fn given<K: Kind>(
    now: Timestamp,
    events: impl IntoIterator<Item = K::Event>,
) -> Given<K> {
    Given {
        events: events.into_iter().collect(),
        now,
    }
}

impl<K: Kind> Given<K> {
    /// … when `role` takes this command now, …
    pub(crate) fn when(self, role: Role, command: K::Command) -> Then<K> {
        let at = self.now;
        self.when_at(at, role, command)
    }

    /// … when `role` takes this command at `at`, …
    pub(crate) fn when_at(self, at: Timestamp, role: Role, command: K::Command) -> Then<K> {
        let case = replay::<K>(&self.events);
        Then(decide(case.as_ref(), &command, &ctx_at(role, at)))
    }
}

/// … then these events, or this refusal.
pub(crate) struct Then<K: Kind>(pub(crate) Result<Vec<K::Event>, Refusal>);

impl<K: Kind> Then<K> {
    #[track_caller]
    pub(crate) fn then(self, expected: impl IntoIterator<Item = K::Event>) {
        assert_eq!(self.0, Ok(expected.into_iter().collect()));
    }

    #[track_caller]
    pub(crate) fn then_refused(self, expected: Refusal) {
        assert_eq!(self.0, Err(expected));
    }

    #[track_caller]
    pub(crate) fn then_invalid(self, field: &'static str) {
        match self.0 {
            Err(Refusal::InvalidField { field: f, .. }) => assert_eq!(f, field),
            other => panic!("expected {field} to be refused, got {other:?}"),
        }
    }
}

/// Something done for each registered kind.
pub(crate) trait EveryKind {
    fn visit<K: Kind>(&mut self);
}

/// A valid body for each action of each kind's table, at `at`: the walk below takes every row
/// with these.
fn example(kind: &str, action: &str, at: Timestamp) -> Value {
    let photo = json!([{"content_hash": format!("sha256:{}", "ab".repeat(32)),
                        "media_type": "image/jpeg", "size": 1024, "blob": "blobs/1.jpg"}]);
    let later = POLICY.local_day(at) + jiff::Span::new().days(10);
    match (kind, action) {
        ("hazard", "report") => json!({
            "community": "qinghe", "grid": "qinghe-03", "unit": "qinghe-safety", "title": "楼道堆物",
            "category": "fire", "severity": "general", "source": "night-patrol"}),
        ("hazard", "verify") => json!({"severity": "general", "responsible_party": "物业"}),
        ("hazard", "dismiss") => json!({"reason": "not-a-hazard"}),
        ("hazard", "fix-on-spot" | "report-rectified") => json!({"evidence": photo}),
        ("hazard", "order-rectification") => json!({"measures": "清理楼道"}),
        ("hazard", "fail-reinspection") => json!({"reason": "仍有堆放"}),
        ("dispute", "register") => json!({
            "community": "qinghe", "room": "qinghe-mediation", "title": "邻里噪音",
            "dispute_type": "neighbour", "source": "walk-in",
            "parties": [{"side": "applicant", "name": "甲"}, {"side": "respondent", "name": "乙"}]}),
        ("dispute", "accept") => json!({"mediator": "赵调解", "room": "qinghe-mediation"}),
        ("dispute", "decline") => json!({"reason": "outside-scope"}),
        ("dispute", "schedule-session") => {
            json!({"at": at + jiff::SignedDuration::from_hours(24)})
        }
        ("dispute", "record-session") => json!({"summary": "双方陈述"}),
        ("dispute", "record-agreement") => {
            json!({"form": "written", "terms": "赔偿 500 元", "performance_date": later})
        }
        ("dispute", "record-failure") => {
            json!({"reason": "分歧大", "routes_told": ["litigation"]})
        }
        ("dispute", "withdraw") => json!({"party": "甲"}),
        ("dispute", "record-judicial-confirmation") => json!({"status": "applied"}),
        ("dispute", "refer") => json!({"to": "arbitration"}),
        ("petition", "register") => json!({
            "community": "qinghe", "title": "供暖不足", "channel": "letter",
            "petition_type": "appeal-request", "category": "housing", "petitioners": [{"name": "丙"}]}),
        ("petition", "accept") => json!({"unit": "qinghe-housing"}),
        ("petition", "not-accept") => json!({"reason": "已诉讼", "route": "litigation"}),
        ("petition", "transfer") => json!({"authority": "区住建委"}),
        ("petition", "reply") => json!({"outcome": "support", "opinion": "已处理"}),
        ("petition", "request-review" | "request-re-review") => json!({"reason": "不服"}),
        ("petition", "decide-review" | "decide-re-review") => {
            json!({"decision": "upheld", "opinion": "维持"})
        }
        ("risk_event", "identify") => json!({
            "community": "qinghe", "title": "欠薪聚集苗头", "source": "grid-patrol",
            "category": "wage-arrears", "people": [{"name": "丁", "phone": "13800000000"}]}),
        ("risk_event", "assess") => json!({"level": "major", "reason": "涉及 40 人"}),
        ("risk_event", "control") => json!({"measures": "每日联系", "unit": "qinghe-labour",
            "responsible_person": "王科长", "leader": "李书记"}),
        ("risk_event", "review") => json!({"situation": "情绪平稳", "trend": "eased"}),
        ("risk_event", "strike-off") => json!({"basis": "工资已发放", "evidence": photo}),
        ("risk_event", "escalate") => json!({"reason": "涉及跨区企业"}),
        ("risk_event", "raise-case") => json!({"case": CaseId::default()}),
        ("livelihood", "receive") => json!({
            "community": "qinghe", "title": "市场门口积水", "channel": "hotline",
            "hotline_order": "12345-2025-0001", "category": "environment", "urgency": "general"}),
        ("livelihood", "dispatch") => {
            json!({"lead": "qinghe-market", "co_handlers": ["qinghe-property"]})
        }
        ("livelihood", "check-in") => json!({"unit": "qinghe-market"}),
        ("livelihood", "return-dispatch") => {
            json!({"unit": "qinghe-property", "reason": "非物业职责"})
        }
        ("livelihood", "redispatch") => json!({"lead": "qinghe-market",
            "co_handlers": ["qinghe-safety"], "reason": "改派安全办"}),
        ("livelihood", "reply") => json!({"result": "resolved", "text": "已疏通排水"}),
        ("livelihood", "rate") => json!({"rating": "dissatisfied"}),
        ("livelihood", "redo") => json!({"lead": "qinghe-market",
            "co_handlers": ["qinghe-property"], "reason": "仍有积水"}),
        (_, _) => json!({}),
    }
}

/// Bodies for an action, tried in turn: a second one where the first cannot be taken twice
/// (the other unit's check-in).
fn examples(kind: &str, action: &str, at: Timestamp) -> Vec<Value> {
    match (kind, action) {
        ("livelihood", "check-in") => vec![
            example(kind, action, at),
            json!({"unit": "qinghe-property"}),
            json!({"unit": "qinghe-safety"}),
        ],
        ("livelihood", "return-dispatch") => vec![
            example(kind, action, at),
            json!({"unit": "qinghe-safety", "reason": "非本单位职责"}),
        ],
        _ => vec![example(kind, action, at)],
    }
}

fn parse_command<K: Kind>(action: K::Action, input: Value) -> K::Command {
    serde_json::from_value(json!({"action": action.as_str(), "input": input}))
        .unwrap_or_else(|e| panic!("{} {}: {e}", K::NAME, action.as_str()))
}

fn command<K: Kind>(action: K::Action, at: Timestamp) -> K::Command {
    parse_command::<K>(action, example(K::NAME, action.as_str(), at))
}

/// The times a command is tried at: now, and after every petitioner's window has passed.
fn tries(at: Timestamp) -> [Timestamp; 2] {
    [at, at + jiff::SignedDuration::from_hours(24 * 40)]
}

/// How many times the walk takes the rows from one state.
const WALKS_PER_STATE: usize = 16;

/// Walks a kind's table from filing, taking each row from each state it starts from, and checks
/// that every row was taken and led where it says.
struct EveryRowLeadsWhereItSays;

impl EveryKind for EveryRowLeadsWhereItSays {
    fn visit<K: Kind>(&mut self) {
        let start: Timestamp = "2025-03-03T02:00:00Z".parse().unwrap();
        let mut taken: HashSet<(usize, Option<&'static str>)> = HashSet::new();
        // Each state is walked from the first few times it is reached, by different paths: a
        // row may hold only in some of them (a request dispatched again with its lead already
        // checked in may be replied to).
        let mut seen: HashMap<Option<&'static str>, usize> = HashMap::new();
        let mut queue: VecDeque<(Option<K>, Timestamp)> = VecDeque::from([(None, start)]);
        while let Some((case, at)) = queue.pop_front() {
            let from = case.as_ref().map(|c| c.status().as_str());
            let visits = seen.entry(from).or_default();
            *visits += 1;
            if *visits > WALKS_PER_STATE {
                continue;
            }
            for (i, row) in K::table().iter().enumerate() {
                if !row.from.contains(&case.as_ref().map(K::status)) {
                    continue;
                }
                let attempts = tries(at).into_iter().flat_map(|now| {
                    examples(K::NAME, row.action.as_str(), now)
                        .into_iter()
                        .map(move |body| (now, body))
                });
                for (now, body) in attempts {
                    let command = parse_command::<K>(row.action, body);
                    let ctx = ctx_at(row.who[0], now);
                    let Ok(events) = decide(case.as_ref(), &command, &ctx) else {
                        continue;
                    };
                    assert!(
                        table::leads_where_the_row_says(row, case.as_ref(), &events),
                        "{}: {from:?} --{}--> not {:?}",
                        K::NAME,
                        row.action.as_str(),
                        row.to
                    );
                    let after = events
                        .iter()
                        .try_fold(case.clone(), |c, e| K::evolve(c, e).map(Some))
                        .unwrap()
                        .unwrap();
                    taken.insert((i, from));
                    queue.push_back((Some(after), now));
                    break;
                }
            }
        }
        for (i, row) in K::table().iter().enumerate() {
            for from in row.from {
                let from = from.map(|s| s.as_str());
                assert!(
                    taken.contains(&(i, from)),
                    "{}: the row {from:?} --{}--> was never taken",
                    K::NAME,
                    row.action.as_str()
                );
            }
        }
    }
}

#[test]
fn every_row_of_every_kind_leads_where_it_says() {
    crate::case::for_every_kind(&mut EveryRowLeadsWhereItSays);
}

/// Any sequence of commands, by any role at any time, moves a case only as its table allows:
/// what is decided was listed for the role and leads where its row says; what is refused by state
/// or role was not listed; the recorded events replay to the same case.
struct AnySequenceStaysInTheTable;

impl EveryKind for AnySequenceStaysInTheTable {
    fn visit<K: Kind>(&mut self) {
        let steps = proptest::collection::vec(
            (
                proptest::sample::select(K::Action::ALL.to_vec()),
                proptest::sample::select(Role::ALL.to_vec()),
                0i64..20,
            ),
            0..40,
        );
        let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
            cases: 300,
            ..proptest::test_runner::Config::default()
        });
        runner
            .run(&steps, |steps| {
                let mut at: Timestamp = "2025-03-03T02:00:00Z".parse().unwrap();
                let mut case: Option<K> = None;
                let mut history = Vec::new();
                for (action, role, days) in steps {
                    at += jiff::SignedDuration::from_hours(24 * days);
                    let listed =
                        allowed_actions(case.as_ref(), role, at).contains(&action.as_str());
                    match decide(case.as_ref(), &command::<K>(action, at), &ctx_at(role, at)) {
                        Ok(events) => {
                            prop_assert!(listed, "{} {} by {role}", K::NAME, action.as_str());
                            let row = authorize(case.as_ref(), action, role, at).unwrap();
                            prop_assert!(table::leads_where_the_row_says(
                                row,
                                case.as_ref(),
                                &events
                            ));
                            for e in &events {
                                case = Some(K::evolve(case.take(), e).unwrap());
                            }
                            history.extend(events);
                        }
                        Err(Refusal::InvalidField { .. }) => prop_assert!(listed),
                        Err(_) => prop_assert!(!listed),
                    }
                }
                prop_assert_eq!(replay::<K>(&history), case);
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{}: {e}", K::NAME));
    }
}

#[test]
fn any_sequence_of_any_kind_stays_in_its_table() {
    crate::case::for_every_kind(&mut AnySequenceStaysInTheTable);
}
