//! The actions every case has, on all three kinds, through the case-level `decide` (so the
//! recorded "deadline missed" and "closed" events are checked too). Commands are written as the
//! HTTP bodies are, in JSON.

use std::sync::LazyLock;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::*;
use crate::deadlines::DeadlinePolicy;
use crate::{CaseCommand, CaseEvent, CaseKind, CaseState, Context, Refusal, Role, UnitId};

static POLICY: LazyLock<DeadlinePolicy> = LazyLock::new(DeadlinePolicy::default);

/// A tenant-local wall time such as "2025-03-03 10:00".
fn at(s: &str) -> Timestamp {
    format!("{}:00+08:00[Asia/Shanghai]", s.replace(' ', "T"))
        .parse::<jiff::ZonedDateTime>()
        .expect("a wall time")
        .timestamp()
}

fn photo() -> Value {
    json!({"content_hash": format!("sha256:{}", "ab".repeat(32)), "media_type": "image/jpeg",
           "size": 1000, "blob": "blobs/1.jpg"})
}

/// One case, driven command by command.
struct Case {
    id: CaseId,
    kind: CaseKind,
    state: Option<CaseState>,
    now: Timestamp,
    /// The unit the people of units act for, when not the lead unit.
    as_unit: Option<UnitId>,
}

impl Case {
    fn new(kind: CaseKind, now: &str) -> Case {
        Case {
            id: CaseId::default(),
            kind,
            state: None,
            now: at(now),
            as_unit: None,
        }
    }

    /// The context of a person of `role`; a handler or mediator is of the case's lead unit,
    /// unless the test names another.
    fn ctx(&self, role: Role) -> Context<'_> {
        let lead = self
            .state
            .as_ref()
            .and_then(|s| s.handling.lead_unit.as_ref());
        let unit = self.as_unit.as_ref().or(lead);
        Context::new(role, self.now, self.id, &POLICY).of_unit(unit)
    }

    /// The lead unit, as a person of `role` acting on the case names it.
    fn unit(&self, role: Role) -> Option<&UnitId> {
        self.ctx(role).unit
    }

    fn at(mut self, now: &str) -> Self {
        self.now = at(now);
        self
    }

    /// Decides; on success applies the events and returns them.
    fn try_act(
        &mut self,
        role: Role,
        action: &str,
        body: Value,
    ) -> Result<Vec<CaseEvent>, Refusal> {
        let command =
            CaseCommand::parse_action(self.kind, action, body).expect("a well-formed command");
        let events = command.decide(self.state.as_ref(), &self.ctx(role))?;
        for e in &events {
            self.state = Some(CaseState::evolve(self.state.take(), e).expect("replays"));
        }
        Ok(events)
    }

    #[track_caller]
    fn act(&mut self, role: Role, action: &str, body: Value) -> Vec<CaseEvent> {
        match self.try_act(role, action, body) {
            Ok(events) => events,
            Err(refusal) => panic!("{action} refused: {refusal}"),
        }
    }

    /// Asserts a refusal and that nothing changed.
    #[track_caller]
    fn refused(&mut self, role: Role, action: &str, body: Value) -> Refusal {
        let before = self.state.clone();
        let refusal = self
            .try_act(role, action, body)
            .expect_err("the action is refused");
        assert_eq!(self.state, before, "a refusal changes nothing");
        refusal
    }

    fn state(&self) -> &CaseState {
        self.state.as_ref().expect("filed")
    }

    fn h(&self) -> &Handling {
        &self.state().handling
    }
}

fn common(events: &[CaseEvent]) -> Vec<&CommonEvent> {
    events
        .iter()
        .filter_map(|e| match e {
            CaseEvent::Common(c) => Some(c),
            _ => None,
        })
        .collect()
}

#[track_caller]
fn invalid_field(refusal: &Refusal) -> &'static str {
    match refusal {
        Refusal::InvalidField { field, .. } => field,
        other => panic!("expected an invalid field, got {other:?}"),
    }
}

#[track_caller]
fn not_allowed_reason(refusal: &Refusal) -> &'static str {
    match refusal {
        Refusal::NotAllowedInState { reason, .. } => reason.unwrap_or(""),
        other => panic!("expected not allowed in state, got {other:?}"),
    }
}

#[track_caller]
fn role_refused(refusal: &Refusal) {
    assert!(
        matches!(refusal, Refusal::RoleNotPermitted { .. }),
        "{refusal:?}"
    );
}

// ---- cases of each kind, at a known step -------------------------------------------------------

fn hazard(now: &str) -> Case {
    let mut case = Case::new(CaseKind::Hazard, now);
    case.act(
        Role::GridWorker,
        "report",
        json!({"community": "qinghe", "grid": "qinghe-03", "title": "楼道堆物", "category": "fire",
               "severity": "general", "source": "night-patrol", "unit": "qinghe-safety"}),
    );
    case
}

fn rectifying_hazard(now: &str) -> Case {
    let mut case = hazard(now);
    case.act(
        Role::Handler,
        "verify",
        json!({"severity": "general", "responsible_party": "物业"}),
    );
    case.act(
        Role::Handler,
        "order-rectification",
        json!({"measures": "清理"}),
    );
    case
}

fn closed_hazard(now: &str) -> Case {
    let mut case = hazard(now);
    case.act(
        Role::GridWorker,
        "fix-on-spot",
        json!({"evidence": [photo()]}),
    );
    case.act(Role::Handler, "pass-reinspection", json!({}));
    case
}

fn petition(now: &str) -> Case {
    let mut case = Case::new(CaseKind::Petition, now);
    case.act(
        Role::PetitionOfficer,
        "register",
        json!({"community": "qinghe", "title": "小区加装电梯", "channel": "letter",
               "petition_type": "appeal-request", "category": "housing",
               "petitioners": [{"name": "张三", "phone": "13800138000"}]}),
    );
    case
}

fn handling_petition(now: &str) -> Case {
    let mut case = petition(now);
    case.act(
        Role::PetitionOfficer,
        "accept",
        json!({"unit": "qinghe-housing"}),
    );
    case
}

fn dispute(now: &str) -> Case {
    let mut case = Case::new(CaseKind::Dispute, now);
    case.act(
        Role::GridWorker,
        "register",
        json!({"community": "qinghe", "title": "楼上漏水", "dispute_type": "neighbour",
               "source": "grid-worker", "room": "qinghe-mediation",
               "parties": [{"side": "applicant", "name": "李四"}, {"side": "respondent", "name": "王五"}]}),
    );
    case
}

fn mediating_dispute(now: &str) -> Case {
    let mut case = dispute(now);
    case.act(
        Role::Mediator,
        "accept",
        json!({"mediator": "赵调解", "room": "qinghe-mediation"}),
    );
    case
}

fn risk_event(now: &str) -> Case {
    let mut case = Case::new(CaseKind::RiskEvent, now);
    case.act(
        Role::GridWorker,
        "identify",
        json!({"community": "qinghe", "title": "欠薪聚集苗头", "source": "grid-patrol",
               "category": "wage-arrears", "people": [{"name": "丁"}], "unit": "qinghe-labour"}),
    );
    case
}

/// A risk event escalated to the district: ended.
fn escalated_risk_event(now: &str) -> Case {
    let mut case = risk_event(now);
    case.act(
        Role::Supervisor,
        "assess",
        json!({"level": "major", "reason": "人数多"}),
    );
    case.act(
        Role::Supervisor,
        "escalate",
        json!({"reason": "超出街道处置能力"}),
    );
    case
}

/// A request received and dispatched to qinghe-market (lead) and qinghe-property.
fn livelihood(now: &str) -> Case {
    let mut case = Case::new(CaseKind::Livelihood, now);
    case.act(
        Role::PetitionOfficer,
        "receive",
        json!({"community": "qinghe", "title": "市场门口积水", "channel": "walk-in",
               "category": "environment", "urgency": "general"}),
    );
    case.act(
        Role::PetitionOfficer,
        "dispatch",
        json!({"lead": "qinghe-market", "co_handlers": ["qinghe-property"]}),
    );
    case
}

/// A request replied to and rated: closed.
fn rated_livelihood(now: &str, rating: &str) -> Case {
    let mut case = livelihood(now);
    case.act(Role::Handler, "check-in", json!({}));
    case.as_unit = Some("qinghe-property".parse().unwrap());
    case.act(Role::Handler, "check-in", json!({}));
    case.as_unit = None;
    case.act(
        Role::Handler,
        "reply",
        json!({"result": "resolved", "text": "已疏通"}),
    );
    case.act(Role::PetitionOfficer, "rate", json!({"rating": rating}));
    case
}

fn every_kind(now: &str) -> [Case; 5] {
    [
        hazard(now),
        dispute(now),
        petition(now),
        risk_event(now),
        livelihood(now),
    ]
}

// ---- notes, evidence, assignment ---------------------------------------------------------------

#[test]
fn add_note_records_the_text_on_any_open_case_and_refuses_blank_or_closed() {
    for mut case in every_kind("2025-03-03 10:00") {
        let events = case.act(Role::GridWorker, "add-note", json!({"text": "现场已拍照"}));
        assert_eq!(
            common(&events),
            [&CommonEvent::NoteAdded {
                text: "现场已拍照".into()
            }]
        );
        assert_eq!(case.h().notes, ["现场已拍照"]);
        let refusal = case.refused(Role::GridWorker, "add-note", json!({"text": "  "}));
        assert_eq!(invalid_field(&refusal), "text");
        role_refused(&case.refused(Role::Admin, "add-note", json!({"text": "x"})));
    }
    let mut closed = closed_hazard("2025-03-03 10:00");
    let refusal = closed.refused(Role::Handler, "add-note", json!({"text": "x"}));
    assert_eq!(not_allowed_reason(&refusal), "the case is closed");
}

#[test]
fn attach_evidence_needs_at_least_one_valid_item() {
    let mut case = petition("2025-03-03 10:00");
    case.act(
        Role::PetitionOfficer,
        "attach-evidence",
        json!({"evidence": [photo()]}),
    );
    assert_eq!(case.h().evidence.len(), 1);
    let refusal = case.refused(
        Role::PetitionOfficer,
        "attach-evidence",
        json!({"evidence": []}),
    );
    assert_eq!(invalid_field(&refusal), "evidence");
}

#[test]
fn reassign_sets_the_lead_unit_and_only_routers_may() {
    let mut case = hazard("2025-03-03 10:00");
    case.act(
        Role::Supervisor,
        "reassign",
        json!({"unit": "qinghe-safety", "assignee": "钱工", "reason": "属安全办"}),
    );
    assert_eq!(
        case.h().lead_unit.as_ref().map(|u| u.as_str()),
        Some("qinghe-safety")
    );
    assert_eq!(case.h().assignee.as_deref(), Some("钱工"));
    role_refused(&case.refused(
        Role::Handler,
        "reassign",
        json!({"unit": "qinghe-other", "reason": "x"}),
    ));
    let refusal = case.refused(
        Role::Supervisor,
        "reassign",
        json!({"unit": "qinghe-safety", "assignee": "钱工", "reason": "again"}),
    );
    assert_eq!(invalid_field(&refusal), "unit");
}

#[test]
fn the_unit_accepting_a_petition_or_dispute_leads_it() {
    let case = handling_petition("2025-03-03 10:00");
    assert_eq!(
        case.h().lead_unit.as_ref().map(|u| u.as_str()),
        Some("qinghe-housing")
    );
    let case = mediating_dispute("2025-03-03 10:00");
    assert_eq!(
        case.h().lead_unit.as_ref().map(|u| u.as_str()),
        Some("qinghe-mediation")
    );
}

#[test]
fn co_handling_units_are_added_and_removed() {
    let mut case = handling_petition("2025-03-03 10:00");
    // Nothing to remove yet: the row is closed, with its reason.
    let refusal = case.refused(
        Role::PetitionOfficer,
        "remove-co-handler",
        json!({"unit": "qinghe-labour"}),
    );
    assert_eq!(
        not_allowed_reason(&refusal),
        "the case has no co-handling units"
    );
    case.act(
        Role::PetitionOfficer,
        "add-co-handler",
        json!({"unit": "qinghe-labour"}),
    );
    case.act(
        Role::Supervisor,
        "add-co-handler",
        json!({"unit": "qinghe-police"}),
    );
    assert_eq!(case.h().co_handlers.len(), 2);
    let again = case.refused(
        Role::PetitionOfficer,
        "add-co-handler",
        json!({"unit": "qinghe-labour"}),
    );
    assert_eq!(invalid_field(&again), "unit");
    let lead = case.refused(
        Role::PetitionOfficer,
        "add-co-handler",
        json!({"unit": "qinghe-housing"}),
    );
    assert_eq!(invalid_field(&lead), "unit");
    role_refused(&case.refused(Role::Handler, "add-co-handler", json!({"unit": "qinghe-x"})));
    case.act(
        Role::PetitionOfficer,
        "remove-co-handler",
        json!({"unit": "qinghe-labour"}),
    );
    assert_eq!(
        case.h()
            .co_handlers
            .iter()
            .map(|u| u.as_str())
            .collect::<Vec<_>>(),
        ["qinghe-police"]
    );
    let absent = case.refused(
        Role::PetitionOfficer,
        "remove-co-handler",
        json!({"unit": "qinghe-labour"}),
    );
    assert_eq!(invalid_field(&absent), "unit");
}

// ---- supervision (督办) ---------------------------------------------------------------------------

#[test]
fn a_supervisor_raises_a_notice_and_the_assignee_answers_it() {
    let mut case = handling_petition("2025-03-03 10:00");
    let refusal = case.refused(
        Role::Handler,
        "answer-supervision",
        json!({"notice": 1, "answer": "x"}),
    );
    assert_eq!(
        not_allowed_reason(&refusal),
        "no supervision notice is waiting for an answer"
    );
    role_refused(&case.refused(Role::Handler, "supervise", json!({"notice": "尽快办理"})));

    let events = case.act(Role::Supervisor, "supervise", json!({"notice": "尽快办理"}));
    // By default the answer is due in 5 working days: Monday 3 March -> close of Monday 10 March.
    assert_eq!(
        common(&events),
        [&CommonEvent::SupervisionNoticed {
            number: 1,
            notice: "尽快办理".into(),
            due: at("2025-03-11 00:00"),
            unit: None
        }]
    );
    let events = case.act(
        Role::Supervisor,
        "supervise",
        json!({"notice": "再催", "due_on": "2025-03-05"}),
    );
    assert_eq!(
        common(&events),
        [&CommonEvent::SupervisionNoticed {
            number: 2,
            notice: "再催".into(),
            due: at("2025-03-06 00:00"),
            unit: None
        }]
    );
    let past = case.refused(
        Role::Supervisor,
        "supervise",
        json!({"notice": "x", "due_on": "2025-03-02"}),
    );
    assert_eq!(invalid_field(&past), "due_on");

    case.act(
        Role::Handler,
        "answer-supervision",
        json!({"notice": 1, "answer": "已约谈物业"}),
    );
    assert_eq!(
        case.h().supervisions[0].answer.as_deref(),
        Some("已约谈物业")
    );
    let twice = case.refused(
        Role::Handler,
        "answer-supervision",
        json!({"notice": 1, "answer": "again"}),
    );
    assert_eq!(invalid_field(&twice), "notice");
    let unknown = case.refused(
        Role::Handler,
        "answer-supervision",
        json!({"notice": 9, "answer": "x"}),
    );
    assert_eq!(invalid_field(&unknown), "notice");
    role_refused(&case.refused(
        Role::GridWorker,
        "answer-supervision",
        json!({"notice": 2, "answer": "x"}),
    ));
}

// ---- extensions ---------------------------------------------------------------------------------

#[test]
fn sixty_days_of_handling_extended_once_by_thirty() {
    // Accepted on Monday 3 March 2025: 60 days end on 2 May, in the Labour Day holiday, so the
    // handling deadline is the close of Tuesday 6 May.
    let mut case = handling_petition("2025-03-03 10:00");
    assert_eq!(case.state().deadline(), Some(at("2025-05-07 00:00")));
    assert_eq!(case.state().current_step(), Some("handle"));
    case.act(
        Role::Handler,
        "request-extension",
        json!({"days": 30, "reason": "需多部门会商"}),
    );
    let pending = case.refused(
        Role::Handler,
        "request-extension",
        json!({"days": 1, "reason": "x"}),
    );
    assert_eq!(
        not_allowed_reason(&pending),
        "an extension request is already waiting for approval"
    );
    role_refused(&case.refused(Role::Handler, "approve-extension", json!({})));
    let events = case.act(Role::Supervisor, "approve-extension", json!({}));
    assert_eq!(
        common(&events),
        [&CommonEvent::ExtensionApproved {
            days: 30,
            deadline: at("2025-06-06 00:00"),
            note: None
        }]
    );
    assert_eq!(case.state().deadline(), Some(at("2025-06-06 00:00")));
    // The legal ceiling is reached: not one day more.
    let beyond = case.refused(
        Role::Handler,
        "request-extension",
        json!({"days": 1, "reason": "再延"}),
    );
    assert_eq!(invalid_field(&beyond), "days");
}

#[test]
fn an_extension_beyond_the_ceiling_is_refused_and_approval_moves_only_what_was_approved() {
    let mut case = handling_petition("2025-03-03 10:00");
    let refusal = case.refused(
        Role::Handler,
        "request-extension",
        json!({"days": 31, "reason": "复杂"}),
    );
    assert_eq!(invalid_field(&refusal), "days");
    assert!(refusal.to_string().contains("at most 30"), "{refusal}");
    let zero = case.refused(
        Role::Handler,
        "request-extension",
        json!({"days": 0, "reason": "x"}),
    );
    assert_eq!(invalid_field(&zero), "days");
    let blank = case.refused(
        Role::Handler,
        "request-extension",
        json!({"days": 5, "reason": " "}),
    );
    assert_eq!(invalid_field(&blank), "reason");

    case.act(
        Role::Handler,
        "request-extension",
        json!({"days": 20, "reason": "复杂"}),
    );
    let more = case.refused(Role::Supervisor, "approve-extension", json!({"days": 25}));
    assert_eq!(invalid_field(&more), "days");
    case.act(Role::Supervisor, "approve-extension", json!({"days": 10}));
    assert_eq!(case.state().deadline(), Some(at("2025-05-17 00:00")));
    // 20 of the 30 days remain.
    let over = case.refused(
        Role::Handler,
        "request-extension",
        json!({"days": 21, "reason": "x"}),
    );
    assert_eq!(invalid_field(&over), "days");
    case.act(
        Role::Handler,
        "request-extension",
        json!({"days": 20, "reason": "x"}),
    );
    case.act(
        Role::Supervisor,
        "refuse-extension",
        json!({"reason": "不予延期"}),
    );
    assert_eq!(case.h().pending_extension, None);
    assert_eq!(case.state().deadline(), Some(at("2025-05-17 00:00")));
    let nothing = case.refused(Role::Supervisor, "approve-extension", json!({}));
    assert_eq!(
        not_allowed_reason(&nothing),
        "no extension request is waiting for approval"
    );
}

#[test]
fn only_the_step_the_law_lets_run_longer_can_be_extended() {
    let mut registered = petition("2025-03-03 10:00");
    // Routed to a unit before acceptance, so that its handler asks.
    registered.act(
        Role::PetitionOfficer,
        "reassign",
        json!({"unit": "qinghe-housing", "reason": "先行交办"}),
    );
    let refusal = registered.refused(
        Role::Handler,
        "request-extension",
        json!({"days": 5, "reason": "x"}),
    );
    assert_eq!(
        not_allowed_reason(&refusal),
        "only the handling of a petition can be extended"
    );

    let mut reported = hazard("2025-03-03 10:00");
    let refusal = reported.refused(
        Role::Handler,
        "request-extension",
        json!({"days": 5, "reason": "x"}),
    );
    assert_eq!(
        not_allowed_reason(&refusal),
        "only a rectification deadline can be extended"
    );
    let mut rectifying = rectifying_hazard("2025-03-03 10:00");
    rectifying.act(
        Role::Handler,
        "request-extension",
        json!({"days": 5, "reason": "等材料"}),
    );

    // Mediation is extendable once.
    let mut mediating = mediating_dispute("2025-03-03 10:00");
    mediating.act(
        Role::Mediator,
        "request-extension",
        json!({"days": 10, "reason": "双方需时间"}),
    );
    mediating.act(Role::Supervisor, "approve-extension", json!({}));
    let again = mediating.refused(
        Role::Mediator,
        "request-extension",
        json!({"days": 5, "reason": "x"}),
    );
    assert_eq!(invalid_field(&again), "days");
    assert!(again.to_string().contains("1 time"), "{again}");
}

// ---- links and duplicates -----------------------------------------------------------------------

#[test]
fn links_name_another_case_once() {
    let mut case = dispute("2025-03-03 10:00");
    let other = CaseId::default();
    case.act(Role::Mediator, "link", json!({"case": other}));
    assert_eq!(case.h().links, [other]);
    let twice = case.refused(Role::Mediator, "link", json!({"case": other}));
    assert_eq!(invalid_field(&twice), "case");
    let own = case.id;
    let itself = case.refused(Role::Mediator, "link", json!({"case": own}));
    assert_eq!(invalid_field(&itself), "case");
    role_refused(&case.refused(Role::Admin, "link", json!({"case": CaseId::default()})));
}

#[test]
fn marking_a_duplicate_closes_the_case_and_links_it() {
    for mut case in every_kind("2025-03-03 10:00") {
        let original = CaseId::default();
        role_refused(&case.refused(Role::GridWorker, "mark-duplicate", json!({"of": original})));
        let own = case.id;
        let itself = case.refused(Role::Supervisor, "mark-duplicate", json!({"of": own}));
        assert_eq!(invalid_field(&itself), "of");
        let events = case.act(Role::Supervisor, "mark-duplicate", json!({"of": original}));
        assert_eq!(
            common(&events),
            [
                &CommonEvent::MarkedDuplicate {
                    of: original,
                    note: None
                },
                &CommonEvent::Closed {
                    outcome: Outcome::Duplicate,
                    on_time: true
                },
            ]
        );
        assert!(case.state().is_closed());
        assert_eq!(case.h().links, [original]);
        assert_eq!(case.state().outcome(), Some(Outcome::Duplicate));
        // A duplicate is not visited or acted on.
        let visit = case.refused(
            Role::Supervisor,
            "return-visit",
            json!({"satisfaction": "satisfied"}),
        );
        assert_eq!(
            not_allowed_reason(&visit),
            "a duplicate is visited through the case it duplicates"
        );
        assert!(
            case.state()
                .allowed_actions(Role::Supervisor, None, case.now)
                .is_empty()
        );
    }
}

// ---- return visits and reopening -----------------------------------------------------------------

#[test]
fn a_return_visit_comes_after_closure_and_a_dissatisfied_one_allows_reopening() {
    let mut case = hazard("2025-03-03 10:00");
    let open = case.refused(
        Role::Supervisor,
        "return-visit",
        json!({"satisfaction": "satisfied"}),
    );
    assert_eq!(not_allowed_reason(&open), "the case is still open");

    let mut case = closed_hazard("2025-03-03 10:00");
    let not_yet = case.refused(Role::Supervisor, "reopen", json!({"reason": "x"}));
    assert_eq!(
        not_allowed_reason(&not_yet),
        "a case is reopened after a dissatisfied return visit"
    );
    case.act(
        Role::GridWorker,
        "return-visit",
        json!({"satisfaction": "satisfied"}),
    );
    let satisfied = case.refused(Role::Supervisor, "reopen", json!({"reason": "x"}));
    assert_eq!(
        not_allowed_reason(&satisfied),
        "a case is reopened after a dissatisfied return visit"
    );
    case.act(
        Role::GridWorker,
        "return-visit",
        json!({"satisfaction": "dissatisfied", "note": "又堆上了"}),
    );
    role_refused(&case.refused(Role::GridWorker, "reopen", json!({"reason": "居民不满意"})));
    let events = case.act(Role::Supervisor, "reopen", json!({"reason": "居民不满意"}));
    // Back to reported, to be verified again within 1 working day.
    assert_eq!(
        common(&events),
        [&CommonEvent::Reopened {
            reason: "居民不满意".into(),
            deadline: at("2025-03-05 00:00")
        }]
    );
    assert_eq!(case.state().status(), "reported");
    assert_eq!(case.h().closure, None);
    assert_eq!(case.h().reopened, 1);
    // It closes again, and says so again.
    case.act(
        Role::GridWorker,
        "fix-on-spot",
        json!({"evidence": [photo()]}),
    );
    let events = case.act(Role::Handler, "pass-reinspection", json!({}));
    assert_eq!(
        common(&events),
        [&CommonEvent::Closed {
            outcome: Outcome::Resolved,
            on_time: true
        }]
    );
}

#[test]
fn a_satisfaction_score_outside_the_three_is_bad_input() {
    let err = CaseCommand::parse_action(
        CaseKind::Hazard,
        "return-visit",
        json!({"satisfaction": "thrilled"}),
    )
    .unwrap_err();
    assert!(err.message.contains("thrilled"), "{err:?}");
    let err =
        CaseCommand::parse_action(CaseKind::Hazard, "return-visit", json!({"satisfaction": 5}))
            .unwrap_err();
    assert!(
        err.message.contains("satisfaction") || err.message.contains("variant"),
        "{err:?}"
    );
    let err =
        CaseCommand::parse_action(CaseKind::Petition, "request-extension", json!({"days": 10}))
            .unwrap_err();
    assert_eq!(err.field.as_deref(), Some("reason"));
}

#[test]
fn a_concluded_petition_is_not_reopened() {
    let mut case = handling_petition("2025-03-03 10:00");
    case.act(
        Role::Handler,
        "reply",
        json!({"outcome": "not-support", "opinion": "不符合政策"}),
    );
    case.act(
        Role::PetitionOfficer,
        "request-review",
        json!({"reason": "不服"}),
    );
    case.act(
        Role::Supervisor,
        "decide-review",
        json!({"decision": "upheld", "opinion": "维持"}),
    );
    case.act(
        Role::PetitionOfficer,
        "request-re-review",
        json!({"reason": "仍不服"}),
    );
    let events = case.act(
        Role::Supervisor,
        "decide-re-review",
        json!({"decision": "upheld", "opinion": "维持"}),
    );
    assert_eq!(
        common(&events).last(),
        Some(&&CommonEvent::Closed {
            outcome: Outcome::NotResolved,
            on_time: true
        })
    );
    case.act(
        Role::PetitionOfficer,
        "return-visit",
        json!({"satisfaction": "dissatisfied"}),
    );
    let refusal = case.refused(Role::Supervisor, "reopen", json!({"reason": "x"}));
    assert_eq!(
        not_allowed_reason(&refusal),
        "a concluded petition (终结) is not accepted again"
    );
}

// ---- deadlines: overdue, missed, closed on time ------------------------------------------------------

#[test]
fn overdue_and_on_time_turn_at_local_midnight_of_the_last_day() {
    // A general hazard ordered on Monday 3 March 2025 is due in 7 days: the close of Monday
    // 10 March, Shanghai time, which is 16:00 UTC.
    let case = rectifying_hazard("2025-03-03 10:00");
    let deadline = case.state().deadline().unwrap();
    assert_eq!(deadline, at("2025-03-11 00:00"));
    assert_eq!(deadline.to_string(), "2025-03-10T16:00:00Z");
    assert!(!case.state().is_overdue(at("2025-03-10 23:59")));
    assert!(case.state().is_overdue(at("2025-03-11 00:00")));

    // Reported rectified at 23:59 on the last day: on time, and closed on time.
    let mut in_time = rectifying_hazard("2025-03-03 10:00").at("2025-03-10 23:59");
    let events = in_time.act(
        Role::GridWorker,
        "report-rectified",
        json!({"evidence": [photo()]}),
    );
    assert!(common(&events).is_empty(), "{events:?}");
    in_time.act(Role::Handler, "pass-reinspection", json!({}));
    assert_eq!(in_time.state().closed_on_time(), Some(true));

    // A minute later the step is late: recorded once, and the case closes late.
    let mut late = rectifying_hazard("2025-03-03 10:00").at("2025-03-11 00:00");
    let events = late.act(
        Role::GridWorker,
        "add-note",
        json!({"text": "still working"}),
    );
    assert_eq!(
        common(&events)[0],
        &CommonEvent::DeadlineMissed { deadline }
    );
    let events = late.act(
        Role::GridWorker,
        "report-rectified",
        json!({"evidence": [photo()]}),
    );
    assert!(
        !common(&events)
            .iter()
            .any(|e| matches!(e, CommonEvent::DeadlineMissed { .. }))
    );
    let events = late.act(Role::Handler, "pass-reinspection", json!({}));
    assert_eq!(
        common(&events),
        [&CommonEvent::Closed {
            outcome: Outcome::Resolved,
            on_time: false
        }]
    );
    assert_eq!(late.state().closed_on_time(), Some(false));
    assert!(
        !late.state().is_overdue(at("2026-01-01 00:00")),
        "a closed case is never overdue"
    );
}

#[test]
fn acceptance_within_fifteen_days_across_national_day_and_a_make_up_day() {
    // Registered on Saturday 20 September 2025: 15 days end on 5 October, inside the National
    // Day holiday (1-8 October), so acceptance is due at the close of Thursday 9 October.
    let case = petition("2025-09-20 09:00");
    assert_eq!(case.state().deadline(), Some(at("2025-10-10 00:00")));
    assert!(!case.state().is_overdue(at("2025-10-09 23:59")));
    assert!(case.state().is_overdue(at("2025-10-10 00:00")));
    // Registered on Friday 26 September: 15 days end on Saturday 11 October, a make-up
    // working day (调休), so that day stands.
    let case = petition("2025-09-26 16:00");
    assert_eq!(case.state().deadline(), Some(at("2025-10-12 00:00")));
    // Accepted at 23:59 on the last day: on time; at midnight: the deadline is recorded missed.
    let mut in_time = petition("2025-09-26 16:00").at("2025-10-11 23:59");
    let events = in_time.act(
        Role::PetitionOfficer,
        "accept",
        json!({"unit": "qinghe-housing"}),
    );
    assert!(common(&events).is_empty(), "{events:?}");
    let mut late = petition("2025-09-26 16:00").at("2025-10-12 00:00");
    let events = late.act(
        Role::PetitionOfficer,
        "accept",
        json!({"unit": "qinghe-housing"}),
    );
    assert_eq!(
        common(&events),
        [&CommonEvent::DeadlineMissed {
            deadline: at("2025-10-12 00:00")
        }]
    );
}

#[test]
fn being_overdue_records_the_miss_once_and_makes_a_petition_backlog_once() {
    use crate::petition::PetitionEvent;
    let case = petition("2025-09-26 16:00");
    let deadline = at("2025-10-12 00:00");
    let state = case.state();
    assert!(state.overdue_events(at("2025-10-11 23:59")).is_empty());
    let overdue = state.overdue_events(deadline);
    assert_eq!(
        overdue,
        [
            CaseEvent::Common(CommonEvent::DeadlineMissed { deadline }),
            CaseEvent::Petition(PetitionEvent::BecameBacklog { deadline }),
        ]
    );
    let after = overdue
        .iter()
        .try_fold(state.clone(), |s, e| CaseState::evolve(Some(s), e))
        .unwrap();
    assert!(
        after.overdue_events(at("2025-12-01 00:00")).is_empty(),
        "once only"
    );

    // A command taken late records both first, in the same commit.
    let mut late = petition("2025-09-26 16:00").at("2025-10-12 00:00");
    let events = late.act(
        Role::PetitionOfficer,
        "accept",
        json!({"unit": "qinghe-housing"}),
    );
    assert_eq!(events[..2], overdue[..]);
    // Backlog stays; the next step's deadline, missed, is recorded on its own.
    let next = late.state().deadline().unwrap();
    assert_eq!(
        late.state().overdue_events(next),
        [CaseEvent::Common(CommonEvent::DeadlineMissed {
            deadline: next
        })]
    );

    // A hazard is never backlog; a closed case is never overdue.
    let hazard = rectifying_hazard("2025-03-03 10:00");
    let deadline = hazard.state().deadline().unwrap();
    assert_eq!(
        hazard.state().overdue_events(deadline),
        [CaseEvent::Common(CommonEvent::DeadlineMissed { deadline })]
    );
    let mut closed = rectifying_hazard("2025-03-03 10:00");
    closed.act(
        Role::GridWorker,
        "report-rectified",
        json!({"evidence": [photo()]}),
    );
    closed.act(Role::Handler, "pass-reinspection", json!({}));
    assert!(
        closed
            .state()
            .overdue_events(at("2026-01-01 00:00"))
            .is_empty()
    );
}

#[test]
fn every_common_action_is_listed_for_exactly_the_roles_and_phases_of_its_row() {
    use Role::{Admin, GridWorker, Handler, Mediator, PetitionOfficer, Supervisor};
    let workers: &[Role] = &[GridWorker, Mediator, PetitionOfficer, Handler, Supervisor];
    for kind in CaseKind::ALL {
        let routers: &[Role] = match kind {
            CaseKind::Hazard | CaseKind::RiskEvent => &[Supervisor],
            CaseKind::Dispute => &[Mediator, Supervisor],
            CaseKind::Petition => &[PetitionOfficer, Supervisor],
            // Units follow the dispatches: redispatch and redo.
            CaseKind::Livelihood => &[],
        };
        let expected: &[(&str, Phase, &[Role])] = &[
            ("add-note", Phase::Open, workers),
            ("attach-evidence", Phase::Open, workers),
            ("reassign", Phase::Open, routers),
            ("relocate", Phase::Open, routers),
            ("add-co-handler", Phase::Open, routers),
            ("supervise", Phase::Open, &[Supervisor]),
            ("link", Phase::Open, workers),
            (
                "mark-duplicate",
                Phase::Open,
                &[Mediator, PetitionOfficer, Handler, Supervisor],
            ),
            (
                "return-visit",
                Phase::Closed,
                &[GridWorker, Mediator, PetitionOfficer, Supervisor],
            ),
        ];
        let (open, mut closed) = match kind {
            CaseKind::Hazard => (
                hazard("2025-03-03 10:00"),
                closed_hazard("2025-03-03 10:00"),
            ),
            CaseKind::Dispute => (dispute("2025-03-03 10:00"), dispute("2025-03-03 10:00")),
            CaseKind::Petition => (petition("2025-03-03 10:00"), petition("2025-03-03 10:00")),
            CaseKind::RiskEvent => (
                risk_event("2025-03-03 10:00"),
                escalated_risk_event("2025-03-03 10:00"),
            ),
            CaseKind::Livelihood => (
                livelihood("2025-03-03 10:00"),
                rated_livelihood("2025-03-03 10:00", "satisfied"),
            ),
        };
        match kind {
            CaseKind::Hazard | CaseKind::RiskEvent | CaseKind::Livelihood => {}
            CaseKind::Dispute => {
                closed.act(Mediator, "decline", json!({"reason": "in-litigation"}));
            }
            CaseKind::Petition => {
                closed.act(
                    PetitionOfficer,
                    "not-accept",
                    json!({"reason": "诉讼中", "route": "litigation"}),
                );
            }
        }
        for role in [
            GridWorker,
            Mediator,
            PetitionOfficer,
            Handler,
            Supervisor,
            Admin,
        ] {
            for (case, phase) in [(&open, Phase::Open), (&closed, Phase::Closed)] {
                let allowed = case
                    .state()
                    .allowed_actions(role, case.unit(role), case.now);
                for (action, row_phase, who) in expected {
                    assert_eq!(
                        allowed.contains(action),
                        *row_phase == phase
                            && who.contains(&role)
                            // A handler or mediator acts on a case their unit leads.
                            && (!role.acts_for_a_unit() || case.unit(role).is_some()),
                        "{kind}: {action} for {role} when {phase:?}"
                    );
                }
                // Rows whose check does not hold here are not listed.
                for action in [
                    "remove-co-handler",
                    "answer-supervision",
                    "approve-extension",
                    "refuse-extension",
                    "reopen",
                ] {
                    assert!(!allowed.contains(&action), "{kind}: {action} for {role}");
                }
            }
        }
    }
}

#[test]
fn an_extension_is_asked_for_by_whoever_works_the_step_and_before_its_deadline() {
    let mut petition = handling_petition("2025-03-03 10:00");
    role_refused(&petition.refused(
        Role::Mediator,
        "request-extension",
        json!({"days": 5, "reason": "x"}),
    ));
    let mut dispute = mediating_dispute("2025-03-03 10:00");
    role_refused(&dispute.refused(
        Role::Handler,
        "request-extension",
        json!({"days": 5, "reason": "x"}),
    ));

    // Handling is due at the close of 6 May 2025; at that midnight it is too late to ask.
    let mut late = handling_petition("2025-03-03 10:00").at("2025-05-07 00:00");
    let refusal = late.refused(
        Role::Handler,
        "request-extension",
        json!({"days": 5, "reason": "x"}),
    );
    assert_eq!(
        not_allowed_reason(&refusal),
        "the deadline has passed; an extension is asked for before it"
    );
    // Asked in time, but not approved before the deadline: too late to approve.
    let mut asked = handling_petition("2025-03-03 10:00").at("2025-05-06 23:00");
    asked.act(
        Role::Handler,
        "request-extension",
        json!({"days": 5, "reason": "x"}),
    );
    let mut asked = asked.at("2025-05-07 00:00");
    let refusal = asked.refused(Role::Supervisor, "approve-extension", json!({}));
    assert_eq!(
        not_allowed_reason(&refusal),
        "the deadline has passed; an extension is approved before it"
    );
    asked.act(
        Role::Supervisor,
        "refuse-extension",
        json!({"reason": "已逾期"}),
    );
}

#[test]
fn a_notice_left_open_at_closure_can_still_be_answered() {
    let mut case = hazard("2025-03-03 10:00");
    case.act(
        Role::Supervisor,
        "supervise",
        json!({"notice": "今日内处置"}),
    );
    case.act(
        Role::GridWorker,
        "fix-on-spot",
        json!({"evidence": [photo()]}),
    );
    case.act(Role::Handler, "pass-reinspection", json!({}));
    assert!(case.state().is_closed());
    assert!(
        case.state()
            .allowed_actions(Role::Handler, case.unit(Role::Handler), case.now)
            .contains(&"answer-supervision")
    );
    case.act(
        Role::Handler,
        "answer-supervision",
        json!({"notice": 1, "answer": "已处置"}),
    );
    assert!(
        !case
            .state()
            .allowed_actions(Role::Handler, case.unit(Role::Handler), case.now)
            .contains(&"answer-supervision")
    );
}

#[test]
fn a_second_reopening_needs_a_new_dissatisfied_visit() {
    let mut case = closed_hazard("2025-03-03 10:00");
    case.act(
        Role::GridWorker,
        "return-visit",
        json!({"satisfaction": "dissatisfied"}),
    );
    case.act(Role::Supervisor, "reopen", json!({"reason": "不满意"}));
    case.act(
        Role::GridWorker,
        "fix-on-spot",
        json!({"evidence": [photo()]}),
    );
    case.act(Role::Handler, "pass-reinspection", json!({}));
    // The old visit was before this closure: it does not reopen the case again.
    let refusal = case.refused(Role::Supervisor, "reopen", json!({"reason": "again"}));
    assert_eq!(
        not_allowed_reason(&refusal),
        "a case is reopened after a dissatisfied return visit"
    );
    case.act(
        Role::GridWorker,
        "return-visit",
        json!({"satisfaction": "basically_satisfied"}),
    );
    case.refused(Role::Supervisor, "reopen", json!({"reason": "again"}));
    case.act(
        Role::GridWorker,
        "return-visit",
        json!({"satisfaction": "dissatisfied"}),
    );
    case.act(Role::Supervisor, "reopen", json!({"reason": "again"}));
    assert_eq!(case.h().reopened, 2);
}

#[test]
fn a_hazard_dismissed_as_a_duplicate_is_a_duplicate() {
    let mut case = hazard("2025-03-03 10:00");
    let original = CaseId::default();
    let events = case.act(
        Role::Handler,
        "dismiss",
        json!({"reason": "duplicate", "duplicate_of": original}),
    );
    assert_eq!(
        common(&events),
        [&CommonEvent::Closed {
            outcome: Outcome::Duplicate,
            on_time: true
        }]
    );
    assert_eq!(case.h().duplicate_of, Some(original));
    assert_eq!(case.h().links, [original]);
    case.refused(
        Role::Supervisor,
        "return-visit",
        json!({"satisfaction": "satisfied"}),
    );
}

#[test]
fn a_state_stored_before_a_field_was_added_still_reads() {
    let case = handling_petition("2025-03-03 10:00");
    let mut stored = serde_json::to_value(case.state()).unwrap();
    stored["handling"]
        .as_object_mut()
        .unwrap()
        .remove("visits_at_closure");
    let read: CaseState = serde_json::from_value(stored).unwrap();
    assert_eq!(&read, case.state());
}

#[test]
fn a_refusal_from_a_kinds_table_lists_the_common_actions_too() {
    let mut case = hazard("2025-03-03 10:00");
    let refusal = case.refused(Role::Handler, "pass-reinspection", json!({}));
    let Refusal::NotAllowedInState { allowed, .. } = refusal else {
        panic!("not allowed in state");
    };
    assert!(
        allowed.contains(&"verify") && allowed.contains(&"add-note"),
        "{allowed:?}"
    );
}

// ---- a property over all three kinds ---------------------------------------------------------------

mod property {
    use proptest::prelude::*;

    use super::*;

    fn filing(kind: CaseKind) -> Value {
        match kind {
            CaseKind::Hazard => json!({"kind": "hazard", "community": "qinghe", "title": "t",
                "category": "gas", "severity": "general", "source": "grid-worker"}),
            CaseKind::Dispute => json!({"kind": "dispute", "community": "qinghe", "title": "t",
                "dispute_type": "tenancy", "source": "walk-in",
                "parties": [{"side": "applicant", "name": "甲"}, {"side": "respondent", "name": "乙"}]}),
            CaseKind::Petition => json!({"kind": "petition", "community": "qinghe", "title": "t",
                "channel": "visit", "petition_type": "appeal-request", "category": "housing",
                "petitioners": [{"name": "甲"}]}),
            CaseKind::RiskEvent => json!({"kind": "risk_event", "community": "qinghe",
                "title": "t", "source": "hotline", "category": "property"}),
            CaseKind::Livelihood => json!({"kind": "livelihood", "community": "qinghe",
                "title": "t", "channel": "grid-meeting", "category": "noise",
                "urgency": "utility"}),
        }
    }

    fn filer(kind: CaseKind) -> Role {
        match kind {
            CaseKind::Hazard | CaseKind::Dispute | CaseKind::RiskEvent => Role::GridWorker,
            CaseKind::Petition | CaseKind::Livelihood => Role::PetitionOfficer,
        }
    }

    /// A body that is well formed for the action, and valid where the state allows it.
    fn body(kind: CaseKind, action: &str, step: usize, now: Timestamp, other: CaseId) -> Value {
        let local = POLICY.local_day(now);
        let units = ["qinghe-market", "qinghe-property", "qinghe-safety"];
        let unit = units[step % units.len()];
        let co = units[(step + 1) % units.len()];
        match (kind, action) {
            (CaseKind::Livelihood, "reply") => {
                return json!({"result": "partly-resolved", "text": "已答复"});
            }
            (CaseKind::RiskEvent, "review") => {
                return json!({"situation": "平稳", "trend": "eased"});
            }
            (CaseKind::RiskEvent, "escalate") => return json!({"reason": "上报"}),
            _ => {}
        }
        match action {
            "dispatch" => json!({"lead": unit, "co_handlers": [co]}),
            "redispatch" | "redo" => json!({"lead": co, "co_handlers": [unit], "reason": "改派"}),
            "check-in" => json!({}),
            "return-dispatch" => json!({"reason": "非本单位职责"}),
            "rate" => {
                json!({"rating": if step.is_multiple_of(2) { "dissatisfied" } else { "satisfied" }})
            }
            "close-unrated" => json!({}),
            "assess" => json!({"level": "large", "reason": "评估"}),
            "control" => json!({"measures": "稳控", "unit": unit, "responsible_person": "王",
                "leader": "李书记"}),
            "strike-off" => json!({"basis": "已化解", "evidence": [photo()]}),
            "raise-case" => json!({"case": other}),
            "record-part" => json!({"text": "已处理"}),
            "verify" => json!({"severity": "general", "responsible_party": "物业"}),
            "dismiss" => json!({"reason": "not-a-hazard"}),
            "fix-on-spot" | "report-rectified" | "attach-evidence" => {
                json!({"evidence": [photo()]})
            }
            "order-rectification" => json!({"measures": "整改"}),
            "fail-reinspection" => json!({"reason": "未改"}),
            "accept" => json!({"mediator": "调解员", "room": "room-1", "unit": "unit-a"}),
            "decline" => json!({"reason": "outside-scope"}),
            "schedule-session" => json!({"at": now + SignedDuration::from_hours(30)}),
            "record-session" => json!({"summary": "谈了"}),
            "record-agreement" => json!({"form": "oral", "terms": "赔偿",
                "performance_date": local.tomorrow().unwrap()}),
            "record-failure" => json!({"reason": "谈崩", "routes_told": ["litigation"]}),
            "withdraw" => json!({"party": "甲"}),
            "record-judicial-confirmation" => json!({"status": "applied"}),
            "refer" => json!({"to": "litigation"}),
            "not-accept" => json!({"reason": "诉讼中", "route": "litigation"}),
            "transfer" => json!({"authority": "区住建局"}),
            "reply" => json!({"outcome": "explain", "opinion": "已答复"}),
            "request-review" | "request-re-review" => json!({"reason": "不服"}),
            "decide-review" | "decide-re-review" => {
                json!({"decision": "upheld", "opinion": "维持"})
            }
            "add-note" => json!({"text": "记录"}),
            "reassign" => {
                json!({"unit": if step.is_multiple_of(2) { "unit-a" } else { "unit-b" }, "reason": "调整"})
            }
            "relocate" => {
                json!({"community": if step.is_multiple_of(2) { "qinghe" } else { "beiyuan" },
                       "grid": if step.is_multiple_of(3) { Value::Null } else { json!("grid-9") },
                       "reason": "登记错误"})
            }
            "add-co-handler" | "remove-co-handler" => json!({"unit": "unit-c"}),
            "supervise" => json!({"notice": "督办"}),
            "answer-supervision" => json!({"notice": 1, "answer": "已办"}),
            "request-extension" => json!({"days": 5, "reason": "需要时间"}),
            "refuse-extension" => json!({"reason": "不批"}),
            "link" => json!({"case": other}),
            "mark-duplicate" => json!({"of": other}),
            "return-visit" => {
                json!({"satisfaction": if step.is_multiple_of(3) { "satisfied" } else { "dissatisfied" }})
            }
            "reopen" => json!({"reason": "不满意"}),
            _ => json!({}),
        }
    }

    /// Drops the fields an action's input does not have (the canned `accept` serves two kinds).
    fn parse(kind: CaseKind, action: &str, body: Value) -> Option<CaseCommand> {
        if let Ok(command) = CaseCommand::parse_action(kind, action, body.clone()) {
            return Some(command);
        }
        let Value::Object(fields) = body else {
            return None;
        };
        fields.keys().find_map(|drop| {
            let mut fewer = fields.clone();
            fewer.remove(drop);
            CaseCommand::parse_action(kind, action, Value::Object(fewer)).ok()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        #[test]
        fn any_sequence_stays_in_the_tables_and_replays_to_the_same_case(
            kind in prop::sample::select(CaseKind::ALL.to_vec()),
            steps in prop::collection::vec((any::<u8>(), any::<u8>(), any::<bool>(), 0u8..60), 1..60),
        ) {
            let other = CaseId::default();
            let mut case = Case::new(kind, "2025-03-03 10:00");
            let filing = CaseCommand::parse_filing(filing(kind)).unwrap();
            let mut recorded = filing.decide(None, &case.ctx(filer(kind))).unwrap();
            case.state = CaseState::replay(&recorded).unwrap();
            let every: Vec<&'static str> = kind.actions().into_iter()
                .chain(Action::ALL.iter().map(|a| a.as_str()))
                .collect();
            for (step, (pick, role_pick, free, hours)) in steps.into_iter().enumerate() {
                case.now += SignedDuration::from_hours(i64::from(hours) * 12);
                let state = case.state().clone();
                let open = state.open_actions(case.now);
                let h = &state.handling;
                let units: Vec<Option<UnitId>> = std::iter::once(None)
                    .chain(h.lead_unit.iter().chain(&h.co_handlers).cloned().map(Some))
                    .collect();
                let (action, role, unit) = if free || open.is_empty() {
                    let unit = units[role_pick as usize % units.len()].clone();
                    (every[pick as usize % every.len()], Role::ALL[role_pick as usize % Role::ALL.len()], unit)
                } else {
                    let action = open[pick as usize % open.len()];
                    let (role, unit) = (0..Role::ALL.len())
                        .map(|i| Role::ALL[(i + role_pick as usize) % Role::ALL.len()])
                        .flat_map(|r| units.iter().map(move |u| (r, u.clone())))
                        .find(|(r, u)| state.allowed_actions(*r, u.as_ref(), case.now).contains(&action))
                        .expect("an open action has a role");
                    (action, role, unit)
                };
                case.as_unit = unit;
                let Some(command) = parse(kind, action, body(kind, action, step, case.now, other)) else {
                    continue;
                };
                let listed = state.allowed_actions(role, case.unit(role), case.now).contains(&action);
                match command.decide(Some(&state), &case.ctx(role)) {
                    Ok(events) => {
                        prop_assert!(listed, "{action} by {role} was taken but not listed in {}", state.status());
                        for e in &events {
                            case.state = Some(CaseState::evolve(case.state.take(), e).unwrap());
                        }
                        recorded.extend(events);
                    }
                    Err(Refusal::InvalidField { .. }) => {}
                    Err(refusal) => prop_assert!(!listed, "{action} by {role} was listed but refused: {refusal}"),
                }
                let now = case.state();
                prop_assert_eq!(now.handling.closure.is_some(), now.is_closed(), "a closed case records how");
                prop_assert_eq!(now.outcome().is_some(), now.is_closed());
            }
            let replayed = CaseState::replay(&recorded).unwrap();
            prop_assert_eq!(replayed.as_ref(), case.state.as_ref());
            let missed = &case.state().handling.missed_deadlines;
            let mut unique = missed.clone();
            unique.dedup();
            prop_assert_eq!(&unique, missed, "each deadline is recorded missed once");
        }
    }
}

// ---- the acting unit ----------------------------------------------------------------------------

/// A petition led by qinghe-housing, co-handled by qinghe-labour, with a notice to each.
fn co_handled_petition() -> Case {
    let mut case = handling_petition("2025-03-03 10:00");
    case.act(
        Role::PetitionOfficer,
        "add-co-handler",
        json!({"unit": "qinghe-labour"}),
    );
    case.act(
        Role::Supervisor,
        "supervise",
        json!({"notice": "主办限期办理"}),
    );
    case.act(
        Role::Supervisor,
        "supervise",
        json!({"notice": "协办部分限期答复", "unit": "qinghe-labour"}),
    );
    case
}

#[track_caller]
fn unit_refused(refusal: &Refusal) {
    assert!(
        matches!(refusal, Refusal::UnitNotPermitted { acting_for, .. } if *acting_for == "a co-handling unit"),
        "{refusal:?}"
    );
}

#[test]
fn a_co_handling_unit_records_its_part_but_takes_none_of_the_leads_actions() {
    let mut case = co_handled_petition();
    case.as_unit = Some("qinghe-labour".parse().unwrap());
    let allowed = case
        .state()
        .allowed_actions(Role::Handler, case.unit(Role::Handler), case.now);
    assert_eq!(
        allowed,
        [
            "add-note",
            "attach-evidence",
            "record-part",
            "answer-supervision"
        ]
    );
    for (action, body) in [
        ("reply", json!({"outcome": "support", "opinion": "已处理"})),
        ("request-extension", json!({"days": 5, "reason": "x"})),
        ("link", json!({"case": CaseId::default()})),
        ("mark-duplicate", json!({"of": CaseId::default()})),
    ] {
        unit_refused(&case.refused(Role::Handler, action, body));
    }
    let events = case.act(
        Role::Handler,
        "record-part",
        json!({"text": "已核实欠薪金额", "evidence": [photo()]}),
    );
    assert!(matches!(
        common(&events)[..],
        [CommonEvent::PartRecorded { unit, .. }] if unit.as_str() == "qinghe-labour"
    ));
    assert_eq!(case.h().parts.len(), 1);
    // It answers the notice addressed to it, not the lead's.
    let other = case.refused(
        Role::Handler,
        "answer-supervision",
        json!({"notice": 1, "answer": "x"}),
    );
    assert_eq!(invalid_field(&other), "notice");
    case.act(
        Role::Handler,
        "answer-supervision",
        json!({"notice": 2, "answer": "已答复"}),
    );
    let none_left = case.refused(
        Role::Handler,
        "answer-supervision",
        json!({"notice": 1, "answer": "x"}),
    );
    assert_eq!(
        not_allowed_reason(&none_left),
        "no supervision notice addressed to your unit is waiting for an answer"
    );
    // The lead unit answers its own, and replies.
    case.as_unit = None;
    case.act(
        Role::Handler,
        "answer-supervision",
        json!({"notice": 1, "answer": "已办理"}),
    );
    case.act(
        Role::Handler,
        "reply",
        json!({"outcome": "support", "opinion": "已处理"}),
    );
}

#[test]
fn a_unit_with_no_part_in_a_case_acts_on_it_not_at_all() {
    let mut case = co_handled_petition();
    case.as_unit = Some("qinghe-far".parse().unwrap());
    assert!(
        case.state()
            .allowed_actions(Role::Handler, case.unit(Role::Handler), case.now)
            .is_empty()
    );
    for (action, body) in [
        ("add-note", json!({"text": "x"})),
        ("record-part", json!({"text": "x"})),
        ("reply", json!({"outcome": "support", "opinion": "x"})),
    ] {
        let refusal = case.refused(Role::Handler, action, body);
        assert!(
            matches!(refusal, Refusal::UnitNotPermitted { acting_for, .. } if acting_for == "a unit with no part in the case"),
            "{action}: {refusal:?}"
        );
    }
}

#[test]
fn a_notice_is_addressed_to_the_lead_or_a_co_handling_unit() {
    let mut case = handling_petition("2025-03-03 10:00");
    let refusal = case.refused(
        Role::Supervisor,
        "supervise",
        json!({"notice": "x", "unit": "qinghe-far"}),
    );
    assert_eq!(invalid_field(&refusal), "unit");
    // Naming the lead unit is the default.
    let events = case.act(
        Role::Supervisor,
        "supervise",
        json!({"notice": "x", "unit": "qinghe-housing"}),
    );
    assert!(matches!(
        common(&events)[..],
        [CommonEvent::SupervisionNoticed { unit: None, .. }]
    ));
}

#[test]
fn a_case_filed_in_the_wrong_grid_is_moved_where_it_belongs_by_those_who_route_it() {
    let mut case = hazard("2025-03-03 10:00");
    let to = json!({"community": "beiyuan", "grid": "beiyuan-01", "reason": "登记错误"});
    role_refused(&case.refused(Role::GridWorker, "relocate", to.clone()));
    role_refused(&case.refused(Role::Handler, "relocate", to.clone()));
    let events = case.act(Role::Supervisor, "relocate", to.clone());
    assert!(matches!(
        common(&events)[..],
        [CommonEvent::Relocated {
            grid: Some(_),
            address: None,
            ..
        }]
    ));
    assert_eq!(case.state().community().as_str(), "beiyuan");
    assert_eq!(case.state().grid().map(|g| g.as_str()), Some("beiyuan-01"));
    // Where it is already: nothing to move.
    let refusal = case.refused(Role::Supervisor, "relocate", to);
    assert_eq!(invalid_field(&refusal), "community");
    assert!(
        case.refused(
            Role::Supervisor,
            "relocate",
            json!({"community": "qinghe", "reason": " "})
        )
        .to_string()
        .contains("reason")
    );
    // Out of a grid, with the address corrected; the rest of the case stays as it was.
    let before = case.state().clone();
    case.act(
        Role::Supervisor,
        "relocate",
        json!({"community": "qinghe", "address": "清河路1号", "reason": "地址有误"}),
    );
    assert_eq!(case.state().grid(), None);
    assert_eq!(case.state().status(), before.status());
    assert_eq!(case.state().deadline(), before.deadline());
    assert_eq!(case.h().lead_unit, before.handling.lead_unit);
}

#[test]
fn a_report_or_accusation_is_never_routed_to_the_unit_it_accuses() {
    let mut case = Case::new(CaseKind::Petition, "2025-03-03 10:00");
    case.act(
        Role::PetitionOfficer,
        "register",
        json!({"community": "qinghe", "title": "举报乱收费", "channel": "letter",
               "petition_type": "report-accusation", "category": "officials-conduct",
               "accused_unit": "qinghe-urban", "petitioners": [{"name": "赵六"}]}),
    );
    for (action, body) in [
        ("accept", json!({"unit": "qinghe-urban"})),
        ("reassign", json!({"unit": "qinghe-urban", "reason": "x"})),
        ("add-co-handler", json!({"unit": "qinghe-urban"})),
    ] {
        let refusal = case.refused(Role::PetitionOfficer, action, body);
        assert_eq!(invalid_field(&refusal), "unit", "{action}");
        assert!(refusal.to_string().contains("accuses"), "{refusal}");
    }
    case.act(
        Role::PetitionOfficer,
        "accept",
        json!({"unit": "qinghe-housing"}),
    );
}
