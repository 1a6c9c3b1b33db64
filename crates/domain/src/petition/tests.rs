//! The petition table, row by row: given these events, when this command, then these events or
//! this refusal.

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::CategoryId;
use crate::deadlines::Limit;
use crate::kind::Kind;
use crate::testing::{self, POLICY, allowed_actions, authorize, ctx_at, decide};

fn now() -> Timestamp {
    "2025-03-03T02:00:00Z".parse().unwrap()
}

fn day(n: i64) -> Timestamp {
    now() + SignedDuration::from_hours(24 * n)
}

/// The deadline of a limit started now, under the default policy.
fn due(limit: Limit) -> Timestamp {
    POLICY.due(now(), limit)
}

fn ctx(role: Role) -> Context<'static> {
    ctx_at(role, now())
}

fn photo() -> Evidence {
    Evidence {
        content_hash: format!("sha256:{}", "cd".repeat(32)),
        media_type: "application/pdf".to_owned(),
        size: 80_211,
        blob: "blobs/2025/03/opinion-0001.pdf".to_owned(),
    }
}

fn petitioner(name: &str) -> Petitioner {
    Petitioner {
        name: name.to_owned(),
        id_number: Some("110105198001011238".to_owned()),
        phone: Some("138-0000-0000".to_owned()),
        address: Some("清河小区 3 号楼".to_owned()),
    }
}

fn register(channel: Channel) -> Register {
    Register {
        community: "qinghe".parse().unwrap(),
        grid: Some("qinghe-03".parse().unwrap()),
        address: None,
        title: "小区供暖不达标".to_owned(),
        description: "3 号楼室温长期低于 16 度".to_owned(),
        channel,
        petition_type: PetitionType::AppealRequest,
        category: "housing".parse::<CategoryId>().unwrap(),
        petitioners: vec![petitioner("张三")],
        headcount: 1,
        key_person: false,
        leader_owned: None,
        backlog: false,
        escalation_risk: None,
        accused_unit: None,
    }
}

fn registered_from(r: Register, accept_by: Timestamp) -> PetitionEvent {
    PetitionEvent::Registered {
        community: r.community,
        grid: r.grid,
        address: r.address,
        title: r.title,
        description: r.description,
        channel: r.channel,
        petition_type: r.petition_type,
        category: r.category,
        petitioners: r.petitioners.iter().map(Petitioner::recorded).collect(),
        headcount: r.headcount,
        key_person: r.key_person,
        leader_owned: r.leader_owned,
        backlog: r.backlog,
        escalation_risk: r.escalation_risk,
        accused_unit: r.accused_unit,
        accept_by,
    }
}

fn registered() -> PetitionEvent {
    registered_from(register(Channel::Letter), due(Limit::days(15)))
}

fn unit() -> UnitId {
    "qinghe-housing".parse().unwrap()
}

fn accepted() -> PetitionEvent {
    PetitionEvent::Accepted {
        unit: unit(),
        note: None,
        handle_by: due(Limit::days(60)),
    }
}

fn replied() -> PetitionEvent {
    PetitionEvent::Replied {
        outcome: ReplyOutcome::Support,
        opinion: "责成物业于两周内检修供暖管线".to_owned(),
        evidence: vec![photo()],
        review_request_by: due(Limit::days(30)),
    }
}

fn review_requested() -> PetitionEvent {
    PetitionEvent::ReviewRequested {
        reason: "检修后仍不达标".to_owned(),
        reviewing_body: Some("区住建委".to_owned()),
        decide_by: due(Limit::days(30)),
    }
}

fn review_decided() -> PetitionEvent {
    PetitionEvent::ReviewDecided {
        decision: ReviewDecision::Upheld,
        opinion: "维持原处理意见".to_owned(),
        re_review_request_by: due(Limit::days(30)),
    }
}

fn re_review_requested() -> PetitionEvent {
    PetitionEvent::ReReviewRequested {
        reason: "不服复查意见".to_owned(),
        decide_by: due(Limit::days(30)),
    }
}

fn reply_cmd() -> PetitionCommand {
    PetitionCommand::Reply(Reply {
        outcome: ReplyOutcome::Support,
        opinion: "责成物业于两周内检修供暖管线".to_owned(),
        evidence: vec![photo()],
    })
}

fn request_review_cmd() -> PetitionCommand {
    PetitionCommand::RequestReview(RequestReview {
        reason: "检修后仍不达标".to_owned(),
        reviewing_body: Some("区住建委".to_owned()),
    })
}

fn close_without_review_cmd() -> PetitionCommand {
    PetitionCommand::CloseWithoutReview(CloseWithoutReview { note: None })
}

fn decide_review_cmd() -> PetitionCommand {
    PetitionCommand::DecideReview(DecideReview {
        decision: ReviewDecision::Upheld,
        opinion: "维持原处理意见".to_owned(),
    })
}

fn request_re_review_cmd() -> PetitionCommand {
    PetitionCommand::RequestReReview(RequestReReview {
        reason: "不服复查意见".to_owned(),
    })
}

fn decide_re_review_cmd() -> PetitionCommand {
    PetitionCommand::DecideReReview(DecideReReview {
        decision: ReviewDecision::Changed,
        opinion: "变更为予以支持".to_owned(),
    })
}

fn replay(events: &[PetitionEvent]) -> Option<Petition> {
    testing::replay(events)
}

type Given = testing::Given<Petition>;

fn given(events: impl IntoIterator<Item = PetitionEvent>) -> Given {
    testing::given(now(), events)
}

fn not_in_state(state: &'static str, action: Action, allowed: &[&'static str]) -> Refusal {
    testing::not_in_state::<Petition>(state, action, allowed)
}

fn not_for_role(
    state: &'static str,
    action: Action,
    role: Role,
    allowed: &[&'static str],
) -> Refusal {
    testing::not_for_role::<Petition>(state, action, role, allowed)
}

// ---- (none) → register → registered ----

#[test]
fn a_petition_officer_registers_a_letter_due_for_acceptance_in_15_days() {
    given([])
        .when(
            Role::PetitionOfficer,
            PetitionCommand::Register(register(Channel::Letter)),
        )
        .then([registered()]);
}

#[test]
fn a_grid_worker_registers_a_visit() {
    let mut r = register(Channel::Visit);
    r.headcount = 6;
    r.petitioners.push(petitioner("李四"));
    given([])
        .when(Role::GridWorker, PetitionCommand::Register(r.clone()))
        .then([registered_from(r, due(Limit::days(15)))]);
}

#[test]
fn a_grid_worker_registers_visits_only() {
    for channel in [Channel::Letter, Channel::Online, Channel::Phone] {
        let refused = given([]).when(
            Role::GridWorker,
            PetitionCommand::Register(register(channel)),
        );
        assert_eq!(
            refused.0,
            Err(Refusal::invalid(
                "channel",
                "a grid worker registers visits only"
            ))
        );
    }
    // The petition officer registers every channel.
    for channel in [
        Channel::Letter,
        Channel::Visit,
        Channel::Online,
        Channel::Phone,
    ] {
        assert!(
            decide(
                None::<&Petition>,
                &PetitionCommand::Register(register(channel)),
                &ctx(Role::PetitionOfficer)
            )
            .is_ok()
        );
    }
}

#[test]
fn handlers_supervisors_mediators_and_admins_do_not_register() {
    for role in [Role::Handler, Role::Supervisor, Role::Mediator, Role::Admin] {
        given([])
            .when(role, PetitionCommand::Register(register(Channel::Visit)))
            .then_refused(not_for_role("not registered", Action::Register, role, &[]));
    }
}

#[test]
fn a_petition_is_registered_once() {
    given([registered()])
        .when(
            Role::PetitionOfficer,
            PetitionCommand::Register(register(Channel::Letter)),
        )
        .then_refused(not_in_state(
            "registered",
            Action::Register,
            &["accept", "not-accept", "transfer"],
        ));
}

#[test]
fn a_visit_of_five_or_more_is_collective() {
    let at = |channel, headcount| {
        let mut r = register(channel);
        r.headcount = headcount;
        evolve(None, &registered_from(r, now())).unwrap().collective
    };
    assert!(at(Channel::Visit, 5));
    assert!(at(Channel::Visit, 300));
    assert!(!at(Channel::Visit, 4));
    assert!(!at(Channel::Letter, 5));
}

#[test]
fn registration_keeps_the_flags_and_the_accused_unit() {
    let mut r = register(Channel::Visit);
    r.petition_type = PetitionType::ReportAccusation;
    r.category = "officials-conduct".parse::<CategoryId>().unwrap();
    r.key_person = true;
    r.leader_owned = Some("王副主任".to_owned());
    r.backlog = true;
    r.escalation_risk = Some(EscalationRisk::ToBeijing);
    r.accused_unit = Some("qinghe-urban".parse().unwrap());
    let events = decide(
        None::<&Petition>,
        &PetitionCommand::Register(r.clone()),
        &ctx(Role::PetitionOfficer),
    )
    .unwrap();
    let p = evolve(None, &events[0]).unwrap();
    assert_eq!(p.status, Status::Registered);
    assert!(p.key_person && p.backlog);
    assert_eq!(p.leader_owned.as_deref(), Some("王副主任"));
    assert_eq!(p.escalation_risk, Some(EscalationRisk::ToBeijing));
    assert_eq!(p.accused_unit, r.accused_unit);
    assert_eq!(p.deadline, Some(due(Limit::days(15))));
    assert_eq!(Kind::current_step(&p), Some("accept"));
}

// ---- validation of a registration ----

#[test]
fn a_petition_names_at_least_one_petitioner() {
    let mut r = register(Channel::Letter);
    r.petitioners.clear();
    given([])
        .when(Role::PetitionOfficer, PetitionCommand::Register(r))
        .then_invalid("petitioners");
}

#[test]
fn at_most_200_petitioners_are_named() {
    let mut r = register(Channel::Visit);
    r.petitioners = (0..201).map(|i| petitioner(&format!("P{i}"))).collect();
    r.headcount = 201;
    given([])
        .when(Role::PetitionOfficer, PetitionCommand::Register(r))
        .then_invalid("petitioners");
}

#[test]
fn petitioners_are_checked_like_every_person() {
    let with = |f: fn(&mut Petitioner)| {
        let mut r = register(Channel::Letter);
        f(&mut r.petitioners[0]);
        PetitionCommand::Register(r)
    };
    for bad in [
        with(|p| p.id_number = Some("12345".to_owned())),
        with(|p| p.phone = Some("call me".to_owned())),
        with(|p| p.name = "  ".to_owned()),
    ] {
        given([])
            .when(Role::PetitionOfficer, bad)
            .then_invalid("petitioners");
    }
    // Only the name is required.
    let bare = with(|p| {
        p.id_number = None;
        p.phone = None;
        p.address = None;
    });
    assert!(decide(None::<&Petition>, &bare, &ctx(Role::PetitionOfficer)).is_ok());
}

#[test]
fn the_headcount_covers_the_petitioners_named_and_stays_below_10000() {
    let mut r = register(Channel::Visit);
    r.petitioners.push(petitioner("李四"));
    r.headcount = 1;
    given([])
        .when(Role::PetitionOfficer, PetitionCommand::Register(r.clone()))
        .then_invalid("headcount");
    r.headcount = 10_001;
    given([])
        .when(Role::PetitionOfficer, PetitionCommand::Register(r.clone()))
        .then_invalid("headcount");
    r.headcount = 10_000;
    assert!(
        decide(
            None::<&Petition>,
            &PetitionCommand::Register(r),
            &ctx(Role::PetitionOfficer)
        )
        .is_ok()
    );
}

#[test]
fn a_registration_needs_a_title() {
    let mut r = register(Channel::Letter);
    r.title = " ".to_owned();
    given([])
        .when(Role::PetitionOfficer, PetitionCommand::Register(r))
        .then_invalid("title");
}

#[test]
fn only_a_report_or_accusation_names_an_accused_unit() {
    let mut r = register(Channel::Letter);
    r.petition_type = PetitionType::Suggestion;
    r.accused_unit = Some("qinghe-urban".parse().unwrap());
    given([])
        .when(Role::PetitionOfficer, PetitionCommand::Register(r))
        .then_invalid("accused_unit");
}

#[test]
fn an_unknown_category_is_refused_by_name() {
    let directory = crate::directory::evolve(
        crate::directory::Directory::default(),
        &crate::directory::seed_from_use(["qinghe".parse().unwrap()], [], [], []),
    )
    .unwrap();
    let command = crate::CaseCommand::parse_filing(json!({
        "kind": "petition", "community": "qinghe", "title": "t", "channel": "letter",
        "petition_type": "suggestion", "category": "parking",
        "petitioners": [{ "name": "张三" }]
    }))
    .unwrap();
    let ctx = ctx_at(Role::PetitionOfficer, now()).with_directory(&directory);
    match command.decide(None, &ctx) {
        Err(Refusal::InvalidField { field, reason }) => {
            assert_eq!(field, "category");
            assert!(
                reason.contains("unknown petition category \"parking\""),
                "{reason}"
            );
            assert!(reason.contains("land-and-relocation"), "{reason}");
        }
        other => panic!("expected the category refused, got {other:?}"),
    }
}

// ---- serde shapes ----

#[test]
fn commands_parse_from_their_json() {
    let accept: PetitionCommand =
        serde_json::from_value(json!({"action": "accept", "input": {"unit": "qinghe-housing"}}))
            .unwrap();
    assert_eq!(
        accept,
        PetitionCommand::Accept(Accept {
            unit: unit(),
            note: None
        })
    );
    let register: PetitionCommand = serde_json::from_value(json!({
        "action": "register",
        "input": {
            "community": "qinghe", "title": "小区供暖不达标", "channel": "visit",
            "petition_type": "report-accusation", "category": "labour-and-wages",
            "petitioners": [{ "name": "张三", "phone": "13800000000" }],
            "escalation_risk": "cross-level", "accused_unit": "qinghe-labour"
        }
    }))
    .unwrap();
    let PetitionCommand::Register(r) = register else {
        panic!("a registration");
    };
    assert_eq!(r.headcount, 1);
    assert_eq!(r.description, "");
    assert!(!r.key_person && !r.backlog);
    assert_eq!(r.escalation_risk, Some(EscalationRisk::CrossLevel));
    assert_eq!(
        r.category,
        "labour-and-wages".parse::<CategoryId>().unwrap()
    );

    for (action, input) in [
        (
            "not-accept",
            json!({"reason": "已进入诉讼程序", "route": "administrative-review"}),
        ),
        ("transfer", json!({"authority": "区人社局"})),
        (
            "reply",
            json!({"outcome": "not-support", "opinion": "不予支持"}),
        ),
        ("confirm-satisfied", json!({})),
        ("request-review", json!({"reason": "不服"})),
        ("close-without-review", json!({})),
        (
            "decide-review",
            json!({"decision": "revoked", "opinion": "撤销"}),
        ),
        ("request-re-review", json!({"reason": "不服"})),
        ("close", json!({"note": "息访"})),
        (
            "decide-re-review",
            json!({"decision": "upheld", "opinion": "维持"}),
        ),
    ] {
        let cmd: PetitionCommand =
            serde_json::from_value(json!({"action": action, "input": input})).unwrap();
        assert_eq!(cmd.action().as_str(), action);
    }

    let extra = json!({"action": "accept", "input": {"unit": "qinghe-housing", "colour": "red"}});
    assert!(serde_json::from_value::<PetitionCommand>(extra).is_err());
    let bad_unit = json!({"action": "accept", "input": {"unit": "Qinghe Housing"}});
    assert!(serde_json::from_value::<PetitionCommand>(bad_unit).is_err());
}

#[test]
fn events_are_tagged_in_snake_case_and_round_trip() {
    let value = serde_json::to_value(re_review_requested()).unwrap();
    assert_eq!(value["type"], "re_review_requested");
    assert_eq!(value["data"]["reason"], "不服复查意见");
    for event in [
        registered(),
        accepted(),
        replied(),
        review_requested(),
        review_decided(),
        re_review_requested(),
        PetitionEvent::ClosedWithoutReview { note: None },
    ] {
        let value = serde_json::to_value(&event).unwrap();
        assert_eq!(
            serde_json::from_value::<PetitionEvent>(value).unwrap(),
            event
        );
    }
    let state = replay(&[registered(), accepted()]).unwrap();
    let value = serde_json::to_value(&state).unwrap();
    assert_eq!(value["status"], "handling");
    assert_eq!(serde_json::from_value::<Petition>(value).unwrap(), state);
}

// ---- registered → accept → handling ----

#[test]
fn a_petition_officer_accepts_and_the_unit_has_60_days() {
    given([registered()])
        .when(
            Role::PetitionOfficer,
            PetitionCommand::Accept(Accept {
                unit: unit(),
                note: None,
            }),
        )
        .then([accepted()]);
    let p = replay(&[registered(), accepted()]).unwrap();
    assert_eq!(p.status, Status::Handling);
    assert_eq!(p.handling_unit, Some(unit()));
    assert_eq!(p.deadline, Some(due(Limit::days(60))));
}

#[test]
fn a_handler_does_not_accept() {
    given([registered()])
        .when(
            Role::Handler,
            PetitionCommand::Accept(Accept {
                unit: unit(),
                note: None,
            }),
        )
        .then_refused(not_for_role(
            "registered",
            Action::Accept,
            Role::Handler,
            &[],
        ));
}

#[test]
fn an_accepted_petition_is_not_accepted_again() {
    given([registered(), accepted()])
        .when(
            Role::PetitionOfficer,
            PetitionCommand::Accept(Accept {
                unit: unit(),
                note: None,
            }),
        )
        .then_refused(not_in_state("handling", Action::Accept, &["reply"]));
}

// ---- registered → not-accept → not-accepted ----

#[test]
fn a_petition_officer_declines_and_names_the_route() {
    given([registered()])
        .when(
            Role::PetitionOfficer,
            PetitionCommand::NotAccept(NotAccept {
                reason: "属于劳动争议".to_owned(),
                route: Route::Arbitration,
            }),
        )
        .then([PetitionEvent::NotAccepted {
            reason: "属于劳动争议".to_owned(),
            route: Route::Arbitration,
        }]);
}

#[test]
fn declining_needs_a_reason_and_the_officer() {
    given([registered()])
        .when(
            Role::PetitionOfficer,
            PetitionCommand::NotAccept(NotAccept {
                reason: "".to_owned(),
                route: Route::Litigation,
            }),
        )
        .then_invalid("reason");
    given([registered()])
        .when(
            Role::Supervisor,
            PetitionCommand::NotAccept(NotAccept {
                reason: "属于劳动争议".to_owned(),
                route: Route::Litigation,
            }),
        )
        .then_refused(not_for_role(
            "registered",
            Action::NotAccept,
            Role::Supervisor,
            &[],
        ));
    given([registered(), accepted()])
        .when(
            Role::PetitionOfficer,
            PetitionCommand::NotAccept(NotAccept {
                reason: "属于劳动争议".to_owned(),
                route: Route::Litigation,
            }),
        )
        .then_refused(not_in_state("handling", Action::NotAccept, &["reply"]));
}

// ---- registered → transfer → transferred ----

#[test]
fn a_petition_officer_transfers_to_the_competent_authority() {
    given([registered()])
        .when(
            Role::PetitionOfficer,
            PetitionCommand::Transfer(Transfer {
                authority: "区人力资源和社会保障局".to_owned(),
                note: None,
            }),
        )
        .then([PetitionEvent::Transferred {
            authority: "区人力资源和社会保障局".to_owned(),
            note: None,
        }]);
    let p = replay(&[
        registered(),
        PetitionEvent::Transferred {
            authority: "区人社局".to_owned(),
            note: None,
        },
    ])
    .unwrap();
    assert_eq!(p.transferred_to.as_deref(), Some("区人社局"));
    assert_eq!(p.deadline, None);
}

#[test]
fn transferring_needs_an_authority_the_officer_and_a_registered_petition() {
    let transfer = |authority: &str| {
        PetitionCommand::Transfer(Transfer {
            authority: authority.to_owned(),
            note: None,
        })
    };
    given([registered()])
        .when(Role::PetitionOfficer, transfer(" "))
        .then_invalid("authority");
    given([registered()])
        .when(Role::GridWorker, transfer("区人社局"))
        .then_refused(not_for_role(
            "registered",
            Action::Transfer,
            Role::GridWorker,
            &[],
        ));
    given([registered(), accepted(), replied()])
        .when(Role::PetitionOfficer, transfer("区人社局"))
        .then_refused(not_in_state(
            "replied",
            Action::Transfer,
            &["confirm-satisfied", "request-review"],
        ));
}

// ---- handling → reply → replied ----

#[test]
fn the_handler_replies_and_the_petitioner_has_30_days_to_ask_for_review() {
    for role in [Role::Handler, Role::PetitionOfficer] {
        given([registered(), accepted()])
            .when(role, reply_cmd())
            .then([replied()]);
    }
    let p = replay(&[registered(), accepted(), replied()]).unwrap();
    assert_eq!(
        p.reply,
        Some(ReplyGiven {
            outcome: ReplyOutcome::Support,
            opinion: "责成物业于两周内检修供暖管线".to_owned(),
        })
    );
    assert_eq!(p.evidence, vec![photo()]);
    assert_eq!(p.review_request_by, Some(due(Limit::days(30))));
    // The 30 days are the petitioner's window, not a deadline of the office.
    assert_eq!(p.deadline, None);
}

#[test]
fn a_reply_needs_an_opinion() {
    given([registered(), accepted()])
        .when(
            Role::Handler,
            PetitionCommand::Reply(Reply {
                outcome: ReplyOutcome::Explain,
                opinion: "   ".to_owned(),
                evidence: vec![],
            }),
        )
        .then_invalid("opinion");
}

#[test]
fn a_supervisor_does_not_reply_nor_before_acceptance() {
    given([registered(), accepted()])
        .when(Role::Supervisor, reply_cmd())
        .then_refused(not_for_role(
            "handling",
            Action::Reply,
            Role::Supervisor,
            &[],
        ));
    given([registered()])
        .when(Role::Handler, reply_cmd())
        .then_refused(not_in_state(
            "registered",
            Action::Reply,
            &["accept", "not-accept", "transfer"],
        ));
}

// ---- replied → confirm-satisfied → closed ----

#[test]
fn a_satisfied_petitioner_closes_the_petition_as_resolved() {
    let confirm = || PetitionCommand::ConfirmSatisfied(ConfirmSatisfied { note: None });
    given([registered(), accepted(), replied()])
        .when(Role::PetitionOfficer, confirm())
        .then([PetitionEvent::ConfirmedSatisfied { note: None }]);
    given([registered(), accepted(), replied()])
        .when(Role::Handler, confirm())
        .then_refused(not_for_role(
            "replied",
            Action::ConfirmSatisfied,
            Role::Handler,
            &[],
        ));
    given([registered(), accepted()])
        .when(Role::PetitionOfficer, confirm())
        .then_refused(not_in_state(
            "handling",
            Action::ConfirmSatisfied,
            &["reply"],
        ));
    let closed = replay(&[
        registered(),
        accepted(),
        replied(),
        PetitionEvent::ConfirmedSatisfied { note: None },
    ])
    .unwrap();
    assert_eq!(closed.status, Status::Closed);
    assert_eq!(closed.deadline, None);
    assert_eq!(Kind::outcome(&closed), Some(Outcome::Resolved));
    for role in Role::ALL {
        assert!(allowed_actions(Some(&closed), role, now()).is_empty());
    }
}

// ---- replied → request-review → under-review (within 30 days) ----

#[test]
fn a_review_is_requested_within_the_30_days() {
    given([registered(), accepted(), replied()])
        .when(Role::PetitionOfficer, request_review_cmd())
        .then([review_requested()]);
    given([registered(), accepted(), replied()])
        .when(Role::Supervisor, request_review_cmd())
        .then_refused(not_for_role(
            "replied",
            Action::RequestReview,
            Role::Supervisor,
            &[],
        ));
    given([registered(), accepted()])
        .when(Role::PetitionOfficer, request_review_cmd())
        .then_refused(not_in_state("handling", Action::RequestReview, &["reply"]));
    given([registered(), accepted(), replied()])
        .when(
            Role::PetitionOfficer,
            PetitionCommand::RequestReview(RequestReview {
                reason: "".to_owned(),
                reviewing_body: None,
            }),
        )
        .then_invalid("reason");
}

#[test]
fn the_review_window_closes_at_review_request_by() {
    let by = due(Limit::days(30));
    let history = [registered(), accepted(), replied()];
    let minute = SignedDuration::from_mins(1);
    // One minute before: a review may be requested, the petition may not be closed without one.
    given(history.clone())
        .when_at(by - minute, Role::PetitionOfficer, request_review_cmd())
        .then([PetitionEvent::ReviewRequested {
            reason: "检修后仍不达标".to_owned(),
            reviewing_body: Some("区住建委".to_owned()),
            decide_by: POLICY.due(by - minute, Limit::days(30)),
        }]);
    given(history.clone())
        .when_at(by - minute, Role::Supervisor, close_without_review_cmd())
        .then_refused(Refusal::NotAllowedInState {
            kind: "petition",
            state: "replied",
            action: "close-without-review".to_owned(),
            allowed: vec!["confirm-satisfied", "request-review"],
            reason: Some("the 30 days for requesting a review have not passed"),
        });
    // At the deadline: too late for a review; closed without one.
    given(history.clone())
        .when_at(by, Role::PetitionOfficer, request_review_cmd())
        .then_refused(Refusal::NotAllowedInState {
            kind: "petition",
            state: "replied",
            action: "request-review".to_owned(),
            allowed: vec!["confirm-satisfied", "close-without-review"],
            reason: Some("a review must be requested within 30 days of the reply"),
        });
    for role in [Role::PetitionOfficer, Role::Supervisor] {
        given(history.clone())
            .when_at(by, role, close_without_review_cmd())
            .then([PetitionEvent::ClosedWithoutReview { note: None }]);
    }
}

// ---- replied → close-without-review → closed (30 days passed) ----

#[test]
fn closing_without_review_is_for_the_officer_or_supervisor_after_a_reply() {
    given([registered(), accepted(), replied()])
        .when_at(day(60), Role::Handler, close_without_review_cmd())
        .then_refused(not_for_role(
            "replied",
            Action::CloseWithoutReview,
            Role::Handler,
            &[],
        ));
    given([registered(), accepted()])
        .when_at(day(60), Role::Supervisor, close_without_review_cmd())
        .then_refused(not_in_state(
            "handling",
            Action::CloseWithoutReview,
            &["reply"],
        ));
    let closed = replay(&[
        registered(),
        accepted(),
        replied(),
        PetitionEvent::ClosedWithoutReview { note: None },
    ])
    .unwrap();
    assert_eq!(closed.status, Status::Closed);
    assert_eq!(Kind::outcome(&closed), Some(Outcome::Resolved));
}

// ---- under-review → decide-review → review-decided ----

#[test]
fn a_supervisor_decides_the_review() {
    let history = [registered(), accepted(), replied(), review_requested()];
    given(history.clone())
        .when(Role::Supervisor, decide_review_cmd())
        .then([review_decided()]);
    given(history.clone())
        .when(Role::PetitionOfficer, decide_review_cmd())
        .then_refused(not_for_role(
            "under-review",
            Action::DecideReview,
            Role::PetitionOfficer,
            &[],
        ));
    given([registered(), accepted(), replied()])
        .when(Role::Supervisor, decide_review_cmd())
        .then_refused(not_in_state(
            "replied",
            Action::DecideReview,
            &["confirm-satisfied", "request-review"],
        ));
    given(history.clone())
        .when(
            Role::Supervisor,
            PetitionCommand::DecideReview(DecideReview {
                decision: ReviewDecision::Upheld,
                opinion: "".to_owned(),
            }),
        )
        .then_invalid("opinion");
    let p = replay(&history).unwrap();
    assert_eq!(p.deadline, Some(due(Limit::days(30))));
    assert_eq!(Kind::current_step(&p), Some("decide-review"));
}

// ---- review-decided → request-re-review → under-re-review (within 30 days) ----

#[test]
fn a_re_review_is_requested_within_30_days_of_the_review() {
    let history = [
        registered(),
        accepted(),
        replied(),
        review_requested(),
        review_decided(),
    ];
    given(history.clone())
        .when(Role::PetitionOfficer, request_re_review_cmd())
        .then([re_review_requested()]);
    given(history.clone())
        .when(Role::Supervisor, request_re_review_cmd())
        .then_refused(not_for_role(
            "review-decided",
            Action::RequestReReview,
            Role::Supervisor,
            &["close"],
        ));
    given([registered(), accepted(), replied()])
        .when(Role::PetitionOfficer, request_re_review_cmd())
        .then_refused(not_in_state(
            "replied",
            Action::RequestReReview,
            &["confirm-satisfied", "request-review"],
        ));
    let by = due(Limit::days(30));
    given(history.clone())
        .when_at(
            by - SignedDuration::from_mins(1),
            Role::PetitionOfficer,
            request_re_review_cmd(),
        )
        .then([PetitionEvent::ReReviewRequested {
            reason: "不服复查意见".to_owned(),
            decide_by: POLICY.due(by - SignedDuration::from_mins(1), Limit::days(30)),
        }]);
    given(history)
        .when_at(by, Role::PetitionOfficer, request_re_review_cmd())
        .then_refused(Refusal::NotAllowedInState {
            kind: "petition",
            state: "review-decided",
            action: "request-re-review".to_owned(),
            allowed: vec!["close"],
            reason: Some("a re-review must be requested within 30 days of the review decision"),
        });
}

// ---- review-decided → close → closed ----

#[test]
fn a_decided_review_is_closed_by_the_officer_or_supervisor() {
    let history = [
        registered(),
        accepted(),
        replied(),
        review_requested(),
        review_decided(),
    ];
    let close = || {
        PetitionCommand::Close(Close {
            note: Some("息诉罢访".to_owned()),
        })
    };
    for role in [Role::PetitionOfficer, Role::Supervisor] {
        given(history.clone())
            .when(role, close())
            .then([PetitionEvent::Closed {
                note: Some("息诉罢访".to_owned()),
            }]);
    }
    given(history.clone())
        .when(Role::Handler, close())
        .then_refused(not_for_role(
            "review-decided",
            Action::Close,
            Role::Handler,
            &[],
        ));
    given([registered(), accepted(), replied(), review_requested()])
        .when(Role::Supervisor, close())
        .then_refused(not_in_state(
            "under-review",
            Action::Close,
            &["decide-review"],
        ));
    let p = replay(&history).unwrap();
    assert_eq!(p.review, Some(ReviewDecision::Upheld));
    assert_eq!(p.re_review_request_by, Some(due(Limit::days(30))));
}

// ---- under-re-review → decide-re-review → concluded ----

#[test]
fn the_re_review_decision_concludes_the_matter() {
    let history = [
        registered(),
        accepted(),
        replied(),
        review_requested(),
        review_decided(),
        re_review_requested(),
    ];
    given(history.clone())
        .when(Role::Supervisor, decide_re_review_cmd())
        .then([PetitionEvent::ReReviewDecided {
            decision: ReviewDecision::Changed,
            opinion: "变更为予以支持".to_owned(),
        }]);
    given(history.clone())
        .when(Role::PetitionOfficer, decide_re_review_cmd())
        .then_refused(not_for_role(
            "under-re-review",
            Action::DecideReReview,
            Role::PetitionOfficer,
            &[],
        ));
    given(history[..5].to_vec())
        .when(Role::Supervisor, decide_re_review_cmd())
        .then_refused(not_in_state(
            "review-decided",
            Action::DecideReReview,
            &["request-re-review", "close"],
        ));
    given(history.clone())
        .when(
            Role::Supervisor,
            PetitionCommand::DecideReReview(DecideReReview {
                decision: ReviewDecision::Upheld,
                opinion: " ".to_owned(),
            }),
        )
        .then_invalid("opinion");
    let mut events = history.to_vec();
    events.push(PetitionEvent::ReReviewDecided {
        decision: ReviewDecision::Changed,
        opinion: "变更为予以支持".to_owned(),
    });
    let p = replay(&events).unwrap();
    assert_eq!(p.status, Status::Concluded);
    assert_eq!(p.re_review, Some(ReviewDecision::Changed));
    assert_eq!(p.deadline, None);
    assert_eq!(Kind::outcome(&p), Some(Outcome::NotResolved));
    assert_eq!(
        Kind::reopenable(&p),
        Err("a concluded petition (终结) is not accepted again")
    );
}

// ---- the whole table, written out independently of TABLE ----

/// What each state allows, per role, as the domain brief's table reads. `late`: the 30 days for
/// requesting a review or re-review have passed.
fn expected_allowed(status: Option<Status>, role: Role, late: bool) -> Vec<&'static str> {
    use Role::*;
    let officer: &[Role] = &[PetitionOfficer];
    let rows: Vec<(&str, &[Role])> = match status {
        None => vec![("register", &[PetitionOfficer, GridWorker])],
        Some(Status::Registered) => vec![
            ("accept", officer),
            ("not-accept", officer),
            ("transfer", officer),
        ],
        Some(Status::Handling) => vec![("reply", &[Handler, PetitionOfficer])],
        Some(Status::Replied) if late => vec![
            ("confirm-satisfied", officer),
            ("close-without-review", &[PetitionOfficer, Supervisor]),
        ],
        Some(Status::Replied) => vec![("confirm-satisfied", officer), ("request-review", officer)],
        Some(Status::UnderReview) => vec![("decide-review", &[Supervisor])],
        Some(Status::ReviewDecided) if late => vec![("close", &[PetitionOfficer, Supervisor])],
        Some(Status::ReviewDecided) => vec![
            ("request-re-review", officer),
            ("close", &[PetitionOfficer, Supervisor]),
        ],
        Some(Status::UnderReReview) => vec![("decide-re-review", &[Supervisor])],
        Some(
            Status::Closed
            | Status::NotAccepted
            | Status::Transferred
            | Status::Concluded
            | Status::Duplicate,
        ) => vec![],
    };
    rows.iter()
        .filter(|(_, who)| who.contains(&role))
        .map(|(a, _)| *a)
        .collect()
}

const STATUSES: [Status; 11] = [
    Status::Registered,
    Status::Handling,
    Status::Replied,
    Status::UnderReview,
    Status::ReviewDecided,
    Status::UnderReReview,
    Status::Closed,
    Status::NotAccepted,
    Status::Transferred,
    Status::Concluded,
    Status::Duplicate,
];

/// A petition put in `status`, its request windows ending on day 30.
fn petition_in(status: Status) -> Petition {
    let mut p = evolve(None, &registered()).unwrap();
    p.status = status;
    p.review_request_by = Some(day(30));
    p.re_review_request_by = Some(day(30));
    p
}

#[test]
fn allowed_actions_match_the_table_for_every_state_role_and_time() {
    let states = std::iter::once(None).chain(STATUSES.map(Some));
    for status in states {
        let petition = status.map(petition_in);
        for (at, late) in [(now(), false), (day(30), true), (day(90), true)] {
            for role in Role::ALL {
                let expected = expected_allowed(status, role, late);
                assert_eq!(
                    allowed_actions(petition.as_ref(), role, at),
                    expected,
                    "{status:?} / {role} / late {late}"
                );
                for action in Action::ALL {
                    let verdict = authorize(petition.as_ref(), action, role, at);
                    let allowed_to_anyone = Role::ALL
                        .iter()
                        .any(|r| expected_allowed(status, *r, late).contains(&action.as_str()));
                    match verdict {
                        Ok(row) => {
                            assert!(expected.contains(&action.as_str()));
                            assert_eq!(row.action, action);
                        }
                        Err(Refusal::NotAllowedInState { allowed, .. }) => {
                            assert!(!allowed_to_anyone, "{status:?} {action:?} {role}");
                            let mut everyone: Vec<_> = Role::ALL
                                .iter()
                                .flat_map(|r| expected_allowed(status, *r, late))
                                .collect();
                            everyone.sort_unstable();
                            everyone.dedup();
                            let mut allowed = allowed;
                            allowed.sort_unstable();
                            assert_eq!(allowed, everyone);
                        }
                        Err(Refusal::RoleNotPermitted { allowed, .. }) => {
                            assert!(allowed_to_anyone);
                            assert!(!expected.contains(&action.as_str()));
                            assert_eq!(allowed, expected);
                        }
                        Err(other) => panic!("unexpected {other:?}"),
                    }
                }
            }
        }
    }
}

#[test]
fn refusals_name_the_state_and_the_allowed_actions() {
    let p = petition_in(Status::UnderReview);
    let refusal = authorize(Some(&p), Action::Reply, Role::Handler, now()).unwrap_err();
    assert_eq!(
        refusal.to_string(),
        "petition is under-review: reply is not allowed; allowed here: decide-review"
    );
    let refusal = authorize(Some(&p), Action::DecideReview, Role::Handler, now()).unwrap_err();
    assert_eq!(
        refusal.to_string(),
        "petition is under-review: a handler may not decide-review; allowed for a handler: none"
    );
}

// ---- hooks ----

#[test]
fn outcomes_of_every_end_state() {
    for status in STATUSES {
        let expected = match status {
            Status::Closed => Some(Outcome::Resolved),
            Status::NotAccepted | Status::Transferred | Status::Concluded => {
                Some(Outcome::NotResolved)
            }
            Status::Duplicate => Some(Outcome::Duplicate),
            _ => None,
        };
        assert_eq!(Kind::outcome(&petition_in(status)), expected, "{status:?}");
        assert_eq!(status.is_end(), expected.is_some(), "{status:?}");
    }
}

#[test]
fn only_handling_is_extendable() {
    for status in STATUSES {
        let verdict = Kind::extendable(&petition_in(status));
        if status == Status::Handling {
            assert_eq!(verdict, Ok(()));
        } else {
            assert_eq!(
                verdict,
                Err("only the handling of a petition can be extended"),
                "{status:?}"
            );
        }
    }
}

#[test]
fn only_a_closed_petition_is_reopened_and_handled_again() {
    for status in STATUSES {
        let verdict = Kind::reopenable(&petition_in(status));
        match status {
            Status::Closed => assert_eq!(verdict, Ok(())),
            Status::Concluded => assert_eq!(
                verdict,
                Err("a concluded petition (终结) is not accepted again")
            ),
            _ => assert!(verdict.is_err(), "{status:?}"),
        }
    }
    let mut p = replay(&[
        registered(),
        accepted(),
        replied(),
        PetitionEvent::ConfirmedSatisfied { note: None },
    ])
    .unwrap();
    let deadline = Petition::reopen_deadline(&POLICY, day(40));
    assert_eq!(deadline, POLICY.due(day(40), Limit::days(60)));
    Kind::reopened(&mut p, deadline);
    assert_eq!(p.status, Status::Handling);
    assert_eq!(p.deadline, Some(deadline));
    assert_eq!(p.handling_unit, Some(unit()));
    assert_eq!(Kind::outcome(&p), None);
    assert_eq!(Kind::current_step(&p), Some("handle"));
    assert_eq!(allowed_actions(Some(&p), Role::Handler, day(40)), ["reply"]);
    // Handled again, it is replied to again, with a new window for a review.
    let events = decide(Some(&p), &reply_cmd(), &ctx_at(Role::Handler, day(41))).unwrap();
    let p = evolve(Some(p), &events[0]).unwrap();
    assert_eq!(
        p.review_request_by,
        Some(POLICY.due(day(41), Limit::days(30)))
    );
}

#[test]
fn a_petition_marked_duplicate_ends_as_a_duplicate() {
    let mut p = replay(&[registered(), accepted()]).unwrap();
    Kind::marked_duplicate(&mut p);
    assert_eq!(p.status, Status::Duplicate);
    assert_eq!(p.deadline, None);
    assert_eq!(Kind::outcome(&p), Some(Outcome::Duplicate));
    assert_eq!(Kind::current_step(&p), None);
    for role in Role::ALL {
        assert!(allowed_actions(Some(&p), role, now()).is_empty());
    }
}

#[test]
fn acceptance_assigns_the_handling_unit() {
    assert_eq!(Petition::assigned_unit(&accepted()), Some(&unit()));
    for event in [registered(), replied(), review_requested()] {
        assert_eq!(Petition::assigned_unit(&event), None);
    }
}

#[test]
fn each_open_step_is_named_by_its_deadline() {
    let history = [
        registered(),
        accepted(),
        replied(),
        review_requested(),
        review_decided(),
        re_review_requested(),
    ];
    // While the petitioner may ask for a review or re-review, the office has no deadline.
    let steps = [
        Some("accept"),
        Some("handle"),
        None,
        Some("decide-review"),
        None,
        Some("decide-re-review"),
    ];
    for (n, step) in steps.into_iter().enumerate() {
        let p = replay(&history[..=n]).unwrap();
        assert_eq!(Kind::current_step(&p), step, "after {n} events");
    }
    let mut p = replay(&history).unwrap();
    p.deadline = None;
    assert_eq!(Kind::current_step(&p), None);
}

#[test]
fn evolve_refuses_what_cannot_be_replayed() {
    assert!(evolve(None, &accepted()).is_err());
    let p = evolve(None, &registered()).unwrap();
    assert!(evolve(Some(p), &registered()).is_err());
}

// ---- deadlines on the official calendar ----

#[test]
fn acceptance_ending_in_national_day_moves_to_the_next_working_day() {
    // Registered on Saturday 20 September 2025 at 09:00 in Shanghai: 15 days end on 5 October,
    // inside the 1-8 October holiday, so acceptance is due at the close of Thursday 9 October.
    let registered_at: Timestamp = "2025-09-20T09:00:00+08:00[Asia/Shanghai]"
        .parse::<jiff::ZonedDateTime>()
        .unwrap()
        .timestamp();
    let events = decide(
        None::<&Petition>,
        &PetitionCommand::Register(register(Channel::Letter)),
        &ctx_at(Role::PetitionOfficer, registered_at),
    )
    .unwrap();
    let PetitionEvent::Registered { accept_by, .. } = &events[0] else {
        panic!("registered");
    };
    assert_eq!(accept_by.to_string(), "2025-10-09T16:00:00Z");
}

// ---- property: any sequence of commands stays inside the table, and replays ----

fn any_command() -> impl Strategy<Value = PetitionCommand> {
    let channel = prop_oneof![
        Just(Channel::Letter),
        Just(Channel::Visit),
        Just(Channel::Online),
        Just(Channel::Phone),
    ];
    prop_oneof![
        channel.prop_map(|c| PetitionCommand::Register(register(c))),
        Just(PetitionCommand::Accept(Accept {
            unit: unit(),
            note: None,
        })),
        Just(PetitionCommand::NotAccept(NotAccept {
            reason: "属于诉讼事项".to_owned(),
            route: Route::Litigation,
        })),
        Just(PetitionCommand::Transfer(Transfer {
            authority: "区人社局".to_owned(),
            note: None,
        })),
        Just(reply_cmd()),
        Just(PetitionCommand::ConfirmSatisfied(ConfirmSatisfied {
            note: None
        })),
        Just(request_review_cmd()),
        Just(close_without_review_cmd()),
        Just(decide_review_cmd()),
        Just(request_re_review_cmd()),
        Just(PetitionCommand::Close(Close { note: None })),
        Just(decide_re_review_cmd()),
    ]
}

/// The roles the brief's table names for an action, written out apart from TABLE.
fn usual_roles(action: Action) -> Vec<Role> {
    use Role::*;
    match action {
        Action::Register => vec![PetitionOfficer, GridWorker],
        Action::Reply => vec![Handler, PetitionOfficer],
        Action::CloseWithoutReview | Action::Close => vec![PetitionOfficer, Supervisor],
        Action::DecideReview | Action::DecideReReview => vec![Supervisor],
        Action::Accept
        | Action::NotAccept
        | Action::Transfer
        | Action::ConfirmSatisfied
        | Action::RequestReview
        | Action::RequestReReview => vec![PetitionOfficer],
    }
}

/// A command, mostly by a role the table names for it (so that sequences get deep into the
/// table), sometimes by anyone; and how many days pass before it, mostly none.
fn any_step() -> impl Strategy<Value = (Role, PetitionCommand, i64)> {
    any_command().prop_flat_map(|command| {
        let role = prop_oneof![
            3 => proptest::sample::select(usual_roles(command.action())),
            1 => proptest::sample::select(Role::ALL.to_vec()),
        ];
        let days = prop_oneof![4 => Just(0i64), 1 => 1..45i64];
        (role, Just(command), days)
    })
}

/// The moves the brief's table allows, as (from, action, to).
fn table_allows(from: Option<Status>, action: Action, to: Status) -> bool {
    use Status::*;
    matches!(
        (from, action, to),
        (None, Action::Register, Registered)
            | (Some(Registered), Action::Accept, Handling)
            | (Some(Registered), Action::NotAccept, NotAccepted)
            | (Some(Registered), Action::Transfer, Transferred)
            | (Some(Handling), Action::Reply, Replied)
            | (Some(Replied), Action::ConfirmSatisfied, Closed)
            | (Some(Replied), Action::RequestReview, UnderReview)
            | (Some(Replied), Action::CloseWithoutReview, Closed)
            | (Some(UnderReview), Action::DecideReview, ReviewDecided)
            | (Some(ReviewDecided), Action::RequestReReview, UnderReReview)
            | (Some(ReviewDecided), Action::Close, Closed)
            | (Some(UnderReReview), Action::DecideReReview, Concluded)
    )
}

proptest! {
    #[test]
    fn any_sequence_of_commands_moves_only_as_the_table_allows(
        steps in proptest::collection::vec(any_step(), 0..150)
    ) {
        let mut petition: Option<Petition> = None;
        let mut history = Vec::new();
        let mut at = now();
        for (role, command, days) in steps {
            at += SignedDuration::from_hours(24 * days);
            let before = petition.clone();
            let status = before.as_ref().map(|p| p.status);
            match decide(petition.as_ref(), &command, &ctx_at(role, at)) {
                Ok(events) => {
                    for e in &events {
                        petition = Some(evolve(petition.take(), e).unwrap());
                    }
                    let after = petition.as_ref().unwrap();
                    prop_assert!(table_allows(status, command.action(), after.status),
                        "{status:?} --{}--> {:?}", command.action().as_str(), after.status);
                    // The office has a deadline in every open step but the petitioner's windows.
                    let waiting = matches!(after.status, Replied | ReviewDecided);
                    prop_assert_eq!(after.status.is_end() || waiting, after.deadline.is_none());
                    prop_assert_eq!(Kind::current_step(after).is_some(), !after.status.is_end() && !waiting);
                    let b = before.as_ref();
                    match &command {
                        PetitionCommand::Register(r) if role == Role::GridWorker => {
                            prop_assert_eq!(r.channel, Channel::Visit);
                        }
                        PetitionCommand::RequestReview(_) => {
                            prop_assert!(at < b.unwrap().review_request_by.unwrap());
                        }
                        PetitionCommand::CloseWithoutReview(_) => {
                            prop_assert!(at >= b.unwrap().review_request_by.unwrap());
                        }
                        PetitionCommand::RequestReReview(_) => {
                            prop_assert!(at < b.unwrap().re_review_request_by.unwrap());
                        }
                        _ => {}
                    }
                    history.extend(events);
                }
                Err(_) => prop_assert_eq!(&petition, &before),
            }
        }
        let replayed = history.iter().try_fold(None, |p, e| evolve(p, e).map(Some)).unwrap();
        prop_assert_eq!(replayed, petition);
    }
}

/// Figures slice by a channel's name and lists filter on an escalation risk's: the names are the
/// ones the API reads and writes.
#[test]
fn channels_and_escalation_risks_are_named_as_in_json() {
    for channel in Channel::ALL {
        assert_eq!(json!(channel), json!(channel.as_str()));
    }
    for risk in [EscalationRisk::CrossLevel, EscalationRisk::ToBeijing] {
        assert_eq!(json!(risk), json!(risk.as_str()));
    }
}
