//! The dispute table, row by row: given these events, when this command, then these events or
//! this refusal.

use jiff::civil::date;
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

use super::*;
use crate::CategoryId;
use crate::deadlines::Limit;
use crate::kind::Kind;
use crate::testing::{self, POLICY, allowed_actions, authorize, ctx_at, decide};

/// Monday 29 September 2025, 10:00 in Shanghai: the eve of the National Day holiday.
fn now() -> Timestamp {
    "2025-09-29T02:00:00Z".parse().unwrap()
}

fn day(n: i64) -> Timestamp {
    now() + SignedDuration::from_hours(24 * n)
}

/// The deadline of a limit started now, under the default policy.
fn due(limit: Limit) -> Timestamp {
    POLICY.due(now(), limit)
}

fn photo() -> Evidence {
    Evidence {
        content_hash: format!("sha256:{}", "cd".repeat(32)),
        media_type: "image/jpeg".to_owned(),
        size: 48_210,
        blob: "blobs/2025/09/0007.jpg".to_owned(),
    }
}

fn party(side: Side, name: &str) -> Party {
    Party {
        side,
        name: name.to_owned(),
        id_number: None,
        phone: None,
        address: None,
    }
}

fn register() -> Register {
    Register {
        community: "qinghe".parse().unwrap(),
        grid: Some("qinghe-03".parse().unwrap()),
        address: Some("清河路 12 号 3 单元".to_owned()),
        location: None,
        title: "楼上漏水纠纷".to_owned(),
        description: "502 室漏水至 402 室，双方就维修费用发生争执".to_owned(),
        dispute_type: "neighbour".parse::<CategoryId>().unwrap(),
        source: Source::WalkIn,
        parties: vec![
            Party {
                side: Side::Applicant,
                name: "张某".to_owned(),
                id_number: Some("11010519491231002X".to_owned()),
                phone: Some("138-0000-0000".to_owned()),
                address: Some("清河路 12 号 402 室".to_owned()),
            },
            party(Side::Respondent, "李某"),
        ],
        room: None,
    }
}

fn registered() -> DisputeEvent {
    let r = register();
    DisputeEvent::Registered {
        community: r.community,
        grid: r.grid,
        address: r.address,
        location: r.location,
        title: r.title,
        description: r.description,
        dispute_type: r.dispute_type,
        source: r.source,
        parties: r.parties.iter().map(Party::recorded).collect(),
        room: r.room,
        accept_by: due(Limit::days(3)),
    }
}

fn room() -> UnitId {
    "qinghe-mediation".parse().unwrap()
}

fn accept() -> DisputeCommand {
    DisputeCommand::Accept(Accept {
        mediator: "王调解".to_owned(),
        room: room(),
        note: None,
    })
}

fn accepted() -> DisputeEvent {
    DisputeEvent::Accepted {
        mediator: "王调解".to_owned(),
        room: room(),
        note: None,
        mediate_by: due(Limit::days(30)),
    }
}

fn performance_date() -> Date {
    date(2025, 10, 20)
}

fn record_agreement(form: AgreementForm) -> DisputeCommand {
    DisputeCommand::RecordAgreement(RecordAgreement {
        form,
        terms: "李某赔偿维修费 1200 元".to_owned(),
        performance_date: performance_date(),
        evidence: vec![],
    })
}

fn agreed() -> DisputeEvent {
    DisputeEvent::AgreementRecorded {
        form: AgreementForm::Written,
        terms: "李某赔偿维修费 1200 元".to_owned(),
        performance_date: performance_date(),
        evidence: vec![],
        perform_by: POLICY.end_of_day(performance_date()),
        judicial_confirmation_by: due(Limit::days(30)),
    }
}

fn record_failure(routes: Vec<Route>) -> DisputeCommand {
    DisputeCommand::RecordFailure(RecordFailure {
        reason: "双方分歧过大".to_owned(),
        routes_told: routes,
    })
}

fn failed() -> DisputeEvent {
    DisputeEvent::FailureRecorded {
        reason: "双方分歧过大".to_owned(),
        routes_told: vec![Route::Litigation, Route::SharedCourt],
    }
}

fn judicial(status: JudicialConfirmation) -> DisputeCommand {
    DisputeCommand::RecordJudicialConfirmation(RecordJudicialConfirmation {
        status,
        court: Some("清河人民法庭".to_owned()),
        note: None,
    })
}

fn judicial_recorded(status: JudicialConfirmation) -> DisputeEvent {
    DisputeEvent::JudicialConfirmationRecorded {
        status,
        court: Some("清河人民法庭".to_owned()),
        note: None,
    }
}

fn performed() -> DisputeEvent {
    DisputeEvent::PerformanceConfirmed {
        note: None,
        evidence: vec![],
    }
}

fn referred() -> DisputeEvent {
    DisputeEvent::Referred {
        to: Route::SharedCourt,
        note: None,
    }
}

fn replay(events: &[DisputeEvent]) -> Option<Dispute> {
    testing::replay(events)
}

fn state(events: &[DisputeEvent]) -> Dispute {
    replay(events).expect("some events")
}

type Given = testing::Given<Dispute>;

fn given(events: impl IntoIterator<Item = DisputeEvent>) -> Given {
    testing::given(now(), events)
}

fn not_in_state(state: &'static str, action: Action, allowed: &[&'static str]) -> Refusal {
    testing::not_in_state::<Dispute>(state, action, allowed)
}

fn not_for_role(
    state: &'static str,
    action: Action,
    role: Role,
    allowed: &[&'static str],
) -> Refusal {
    testing::not_for_role::<Dispute>(state, action, role, allowed)
}

const MEDIATING_ACTIONS: &[&str] = &[
    "schedule-session",
    "record-session",
    "record-agreement",
    "record-failure",
    "withdraw",
];

const AGREED_ACTIONS: &[&str] = &["record-judicial-confirmation", "confirm-performance"];

// ---- (none) → register → registered ----

#[test]
fn a_grid_worker_registers_a_dispute_due_for_acceptance_in_3_days() {
    given([])
        .when(Role::GridWorker, DisputeCommand::Register(register()))
        .then([registered()]);
}

#[test]
fn mediators_and_supervisors_register_too_but_not_others() {
    for role in [Role::Mediator, Role::Supervisor] {
        given([])
            .when(role, DisputeCommand::Register(register()))
            .then([registered()]);
    }
    for role in [Role::Handler, Role::PetitionOfficer, Role::Admin] {
        given([])
            .when(role, DisputeCommand::Register(register()))
            .then_refused(not_for_role("not filed", Action::Register, role, &[]));
    }
}

#[test]
fn a_dispute_is_registered_once() {
    given([registered()])
        .when(Role::Mediator, DisputeCommand::Register(register()))
        .then_refused(not_in_state(
            "registered",
            Action::Register,
            &["accept", "decline"],
        ));
}

#[test]
fn a_registration_names_an_applicant_and_a_respondent() {
    for side in [Side::Applicant, Side::Respondent] {
        let mut r = register();
        r.parties.retain(|p| p.side != side);
        given([])
            .when(Role::GridWorker, DisputeCommand::Register(r))
            .then_invalid("parties");
    }
    let mut r = register();
    r.parties.clear();
    given([])
        .when(Role::GridWorker, DisputeCommand::Register(r))
        .then_invalid("parties");
}

#[test]
fn a_party_needs_a_name_and_valid_contact_details() {
    let with = |f: fn(&mut Party)| {
        let mut r = register();
        f(&mut r.parties[0]);
        DisputeCommand::Register(r)
    };
    for command in [
        with(|p| p.name = " ".to_owned()),
        with(|p| p.id_number = Some("12345".to_owned())),
        with(|p| p.id_number = Some("1101051949123100Y1".to_owned())),
        with(|p| p.phone = Some("call me".to_owned())),
        with(|p| p.phone = Some("12".to_owned())),
    ] {
        given([])
            .when(Role::GridWorker, command)
            .then_invalid("parties");
    }
}

#[test]
fn at_most_50_parties() {
    let mut r = register();
    r.parties
        .extend((0..49).map(|i| party(Side::Respondent, &format!("住户{i}"))));
    assert_eq!(r.parties.len(), 51);
    given([])
        .when(Role::GridWorker, DisputeCommand::Register(r))
        .then_invalid("parties");
}

#[test]
fn a_registration_needs_a_title() {
    let mut r = register();
    r.title = "   ".to_owned();
    given([])
        .when(Role::GridWorker, DisputeCommand::Register(r))
        .then_invalid("title");
}

#[test]
fn the_title_is_trimmed() {
    let mut r = register();
    r.title = "  楼上漏水纠纷 ".to_owned();
    given([])
        .when(Role::GridWorker, DisputeCommand::Register(r))
        .then([registered()]);
}

// ---- registered → accept → mediating ----

#[test]
fn a_mediator_accepts_into_a_room_with_30_days_to_mediate() {
    for role in [Role::Mediator, Role::Supervisor] {
        given([registered()])
            .when(role, accept())
            .then([accepted()]);
    }
}

#[test]
fn a_grid_worker_does_not_accept() {
    given([registered()])
        .when(Role::GridWorker, accept())
        .then_refused(not_for_role(
            "registered",
            Action::Accept,
            Role::GridWorker,
            &[],
        ));
}

#[test]
fn a_dispute_is_accepted_once() {
    given([registered(), accepted()])
        .when(Role::Mediator, accept())
        .then_refused(not_in_state("mediating", Action::Accept, MEDIATING_ACTIONS));
}

#[test]
fn acceptance_names_the_mediator() {
    given([registered()])
        .when(
            Role::Mediator,
            DisputeCommand::Accept(Accept {
                mediator: "".to_owned(),
                room: room(),
                note: None,
            }),
        )
        .then_invalid("mediator");
}

// ---- registered → decline → declined ----

#[test]
fn a_supervisor_declines_a_dispute_already_in_litigation() {
    given([registered()])
        .when(
            Role::Supervisor,
            DisputeCommand::Decline(Decline {
                reason: DeclineReason::InLitigation,
                note: Some("已向法院起诉".to_owned()),
            }),
        )
        .then([DisputeEvent::Declined {
            reason: DeclineReason::InLitigation,
            note: Some("已向法院起诉".to_owned()),
        }]);
}

#[test]
fn a_grid_worker_does_not_decline() {
    given([registered()])
        .when(
            Role::GridWorker,
            DisputeCommand::Decline(Decline {
                reason: DeclineReason::OutsideScope,
                note: None,
            }),
        )
        .then_refused(not_for_role(
            "registered",
            Action::Decline,
            Role::GridWorker,
            &[],
        ));
}

#[test]
fn an_accepted_dispute_is_no_longer_declined() {
    given([registered(), accepted()])
        .when(
            Role::Mediator,
            DisputeCommand::Decline(Decline {
                reason: DeclineReason::PartyRefuses,
                note: None,
            }),
        )
        .then_refused(not_in_state(
            "mediating",
            Action::Decline,
            MEDIATING_ACTIONS,
        ));
}

// ---- mediating → schedule-session, record-session → mediating ----

#[test]
fn a_mediator_schedules_a_session_in_the_future() {
    let schedule = |at| {
        DisputeCommand::ScheduleSession(ScheduleSession {
            at,
            place: Some("清河调解室".to_owned()),
        })
    };
    given([registered(), accepted()])
        .when(Role::Mediator, schedule(day(2)))
        .then([DisputeEvent::SessionScheduled {
            at: day(2),
            place: Some("清河调解室".to_owned()),
        }]);
    for past in [now(), day(-1)] {
        given([registered(), accepted()])
            .when(Role::Mediator, schedule(past))
            .then_invalid("at");
    }
    let d = state(&[
        registered(),
        accepted(),
        DisputeEvent::SessionScheduled {
            at: day(2),
            place: None,
        },
    ]);
    assert_eq!(d.status, Status::Mediating);
    assert_eq!(d.next_session, Some(day(2)));
}

#[test]
fn only_the_mediator_schedules_sessions() {
    given([registered(), accepted()])
        .when(
            Role::Supervisor,
            DisputeCommand::ScheduleSession(ScheduleSession {
                at: day(2),
                place: None,
            }),
        )
        .then_refused(not_for_role(
            "mediating",
            Action::ScheduleSession,
            Role::Supervisor,
            &[],
        ));
}

#[test]
fn sessions_are_scheduled_once_accepted() {
    given([registered()])
        .when(
            Role::Mediator,
            DisputeCommand::ScheduleSession(ScheduleSession {
                at: day(2),
                place: None,
            }),
        )
        .then_refused(not_in_state(
            "registered",
            Action::ScheduleSession,
            &["accept", "decline"],
        ));
}

#[test]
fn a_mediator_records_sessions_and_they_are_counted() {
    let session = DisputeEvent::SessionRecorded {
        summary: "双方到场，初步沟通".to_owned(),
        evidence: vec![photo()],
    };
    given([registered(), accepted()])
        .when(
            Role::Mediator,
            DisputeCommand::RecordSession(RecordSession {
                summary: "双方到场，初步沟通".to_owned(),
                evidence: vec![photo()],
            }),
        )
        .then([session.clone()]);
    let d = state(&[
        registered(),
        accepted(),
        DisputeEvent::SessionScheduled {
            at: day(2),
            place: None,
        },
        session.clone(),
        session,
    ]);
    assert_eq!(d.status, Status::Mediating);
    assert_eq!(d.sessions, 2);
    assert_eq!(d.next_session, None);
    assert_eq!(d.evidence, vec![photo(), photo()]);
    assert_eq!(d.deadline, Some(due(Limit::days(30))));
}

#[test]
fn a_session_needs_a_summary() {
    given([registered(), accepted()])
        .when(
            Role::Mediator,
            DisputeCommand::RecordSession(RecordSession {
                summary: " ".to_owned(),
                evidence: vec![],
            }),
        )
        .then_invalid("summary");
}

#[test]
fn a_grid_worker_does_not_record_sessions() {
    given([registered(), accepted()])
        .when(
            Role::GridWorker,
            DisputeCommand::RecordSession(RecordSession {
                summary: "x".to_owned(),
                evidence: vec![],
            }),
        )
        .then_refused(not_for_role(
            "mediating",
            Action::RecordSession,
            Role::GridWorker,
            &[],
        ));
}

#[test]
fn no_sessions_after_an_agreement() {
    given([registered(), accepted(), agreed()])
        .when(
            Role::Mediator,
            DisputeCommand::RecordSession(RecordSession {
                summary: "x".to_owned(),
                evidence: vec![],
            }),
        )
        .then_refused(not_in_state(
            "agreed",
            Action::RecordSession,
            AGREED_ACTIONS,
        ));
}

// ---- mediating → record-agreement → agreed ----

#[test]
fn an_agreement_leaves_performance_to_the_parties_by_its_date() {
    given([registered(), accepted()])
        .when(Role::Mediator, record_agreement(AgreementForm::Written))
        .then([agreed()]);
    let d = state(&[registered(), accepted(), agreed()]);
    assert_eq!(d.status, Status::Agreed);
    // The parties perform by the date; the office has no deadline of its own in this step.
    assert_eq!(d.deadline, None);
    assert_eq!(
        d.agreement,
        Some(Agreement {
            form: AgreementForm::Written,
            terms: "李某赔偿维修费 1200 元".to_owned(),
            performance_date: performance_date(),
        })
    );
    assert_eq!(d.judicial_confirmation_by, Some(due(Limit::days(30))));
}

#[test]
fn an_oral_agreement_may_be_performed_today() {
    let today = POLICY.local_day(now());
    given([registered(), accepted()])
        .when(
            Role::Mediator,
            DisputeCommand::RecordAgreement(RecordAgreement {
                form: AgreementForm::Oral,
                terms: "当场道歉".to_owned(),
                performance_date: today,
                evidence: vec![],
            }),
        )
        .then([DisputeEvent::AgreementRecorded {
            form: AgreementForm::Oral,
            terms: "当场道歉".to_owned(),
            performance_date: today,
            evidence: vec![],
            perform_by: POLICY.end_of_day(today),
            judicial_confirmation_by: due(Limit::days(30)),
        }]);
}

#[test]
fn a_performance_date_in_the_past_is_refused() {
    given([registered(), accepted()])
        .when(
            Role::Mediator,
            DisputeCommand::RecordAgreement(RecordAgreement {
                form: AgreementForm::Written,
                terms: "赔偿".to_owned(),
                performance_date: date(2025, 9, 28),
                evidence: vec![],
            }),
        )
        .then_invalid("performance_date");
}

#[test]
fn an_agreement_has_terms() {
    given([registered(), accepted()])
        .when(
            Role::Mediator,
            DisputeCommand::RecordAgreement(RecordAgreement {
                form: AgreementForm::Written,
                terms: "".to_owned(),
                performance_date: performance_date(),
                evidence: vec![],
            }),
        )
        .then_invalid("terms");
}

#[test]
fn a_supervisor_does_not_record_an_agreement() {
    given([registered(), accepted()])
        .when(Role::Supervisor, record_agreement(AgreementForm::Written))
        .then_refused(not_for_role(
            "mediating",
            Action::RecordAgreement,
            Role::Supervisor,
            &[],
        ));
}

#[test]
fn a_failed_mediation_records_no_agreement() {
    given([registered(), accepted(), failed()])
        .when(Role::Mediator, record_agreement(AgreementForm::Written))
        .then_refused(not_in_state("failed", Action::RecordAgreement, &["refer"]));
}

// ---- mediating → record-failure → failed ----

#[test]
fn a_failure_records_the_routes_told_and_stops_the_clock() {
    given([registered(), accepted()])
        .when(
            Role::Mediator,
            record_failure(vec![Route::Litigation, Route::SharedCourt]),
        )
        .then([failed()]);
    let d = state(&[registered(), accepted(), failed()]);
    assert_eq!(d.status, Status::Failed);
    assert_eq!(d.deadline, None);
    assert_eq!(d.failure_reason.as_deref(), Some("双方分歧过大"));
    assert_eq!(d.routes_told, vec![Route::Litigation, Route::SharedCourt]);
}

#[test]
fn a_failure_tells_the_parties_at_least_one_route() {
    given([registered(), accepted()])
        .when(Role::Mediator, record_failure(vec![]))
        .then_invalid("routes_told");
}

#[test]
fn a_handler_does_not_record_a_failure() {
    given([registered(), accepted()])
        .when(Role::Handler, record_failure(vec![Route::Arbitration]))
        .then_refused(not_for_role(
            "mediating",
            Action::RecordFailure,
            Role::Handler,
            &[],
        ));
}

#[test]
fn mediation_fails_only_once_begun() {
    given([registered()])
        .when(Role::Mediator, record_failure(vec![Route::Arbitration]))
        .then_refused(not_in_state(
            "registered",
            Action::RecordFailure,
            &["accept", "decline"],
        ));
}

// ---- mediating → withdraw → withdrawn ----

#[test]
fn a_party_withdraws_from_mediation() {
    given([registered(), accepted()])
        .when(
            Role::Mediator,
            DisputeCommand::Withdraw(Withdraw {
                party: "张某".to_owned(),
                reason: Some("已私下和解".to_owned()),
            }),
        )
        .then([DisputeEvent::Withdrawn {
            party: "张某".to_owned(),
            reason: Some("已私下和解".to_owned()),
        }]);
    let d = state(&[
        registered(),
        accepted(),
        DisputeEvent::Withdrawn {
            party: "张某".to_owned(),
            reason: None,
        },
    ]);
    assert_eq!(d.status, Status::Withdrawn);
    assert_eq!(d.withdrawn_by.as_deref(), Some("张某"));
    assert_eq!(d.deadline, None);
}

#[test]
fn a_withdrawal_names_the_party() {
    given([registered(), accepted()])
        .when(
            Role::Mediator,
            DisputeCommand::Withdraw(Withdraw {
                party: " ".to_owned(),
                reason: None,
            }),
        )
        .then_invalid("party");
}

#[test]
fn a_supervisor_does_not_record_a_withdrawal() {
    given([registered(), accepted()])
        .when(
            Role::Supervisor,
            DisputeCommand::Withdraw(Withdraw {
                party: "张某".to_owned(),
                reason: None,
            }),
        )
        .then_refused(not_for_role(
            "mediating",
            Action::Withdraw,
            Role::Supervisor,
            &[],
        ));
}

#[test]
fn no_withdrawal_after_an_agreement() {
    given([registered(), accepted(), agreed()])
        .when(
            Role::Mediator,
            DisputeCommand::Withdraw(Withdraw {
                party: "张某".to_owned(),
                reason: None,
            }),
        )
        .then_refused(not_in_state("agreed", Action::Withdraw, AGREED_ACTIONS));
}

// ---- agreed → record-judicial-confirmation → agreed ----

#[test]
fn judicial_confirmation_is_applied_for_then_decided() {
    let history = [registered(), accepted(), agreed()];
    given(history.clone())
        .when(Role::Mediator, judicial(JudicialConfirmation::Applied))
        .then([judicial_recorded(JudicialConfirmation::Applied)]);
    let applied = [
        history.as_slice(),
        &[judicial_recorded(JudicialConfirmation::Applied)],
    ]
    .concat();
    for decision in [
        JudicialConfirmation::Confirmed,
        JudicialConfirmation::Refused,
    ] {
        // The court may decide after the application window has closed.
        given(applied.clone())
            .when_at(day(45), Role::Mediator, judicial(decision))
            .then([judicial_recorded(decision)]);
    }
    let d = state(
        &[
            applied.as_slice(),
            &[judicial_recorded(JudicialConfirmation::Confirmed)],
        ]
        .concat(),
    );
    assert_eq!(d.status, Status::Agreed);
    assert_eq!(
        d.judicial_confirmation,
        Some(JudicialConfirmation::Confirmed)
    );
    assert_eq!(d.deadline, None);
}

#[test]
fn the_court_decides_only_on_an_application() {
    given([registered(), accepted(), agreed()])
        .when(Role::Mediator, judicial(JudicialConfirmation::Confirmed))
        .then_invalid("status");
}

#[test]
fn judicial_confirmation_is_applied_for_once() {
    given([
        registered(),
        accepted(),
        agreed(),
        judicial_recorded(JudicialConfirmation::Applied),
    ])
    .when(Role::Mediator, judicial(JudicialConfirmation::Applied))
    .then_invalid("status");
}

#[test]
fn applying_for_judicial_confirmation_after_the_window_is_refused() {
    // The window is 30 days from the agreement (29 September): it closes at the end of
    // 29 October, local. The row is closed then, so nothing more can be recorded.
    let window_closes: Timestamp = "2025-10-29T16:00:00Z".parse().unwrap();
    assert_eq!(due(Limit::days(30)), window_closes);
    let history = [registered(), accepted(), agreed()];
    given(history.clone())
        .when_at(
            window_closes - SignedDuration::from_secs(1),
            Role::Mediator,
            judicial(JudicialConfirmation::Applied),
        )
        .then([judicial_recorded(JudicialConfirmation::Applied)]);
    let later = day(40);
    given(history.clone())
        .when_at(later, Role::Mediator, judicial(JudicialConfirmation::Applied))
        .then_refused(Refusal::NotAllowedInState {
            kind: "dispute",
            state: "agreed",
            action: "record-judicial-confirmation".to_owned(),
            allowed: vec!["confirm-performance"],
            reason: Some(
                "judicial confirmation is decided already, or was not applied for within its window",
            ),
        });
    let d = state(&history);
    assert_eq!(
        allowed_actions(Some(&d), Role::Mediator, later),
        vec!["confirm-performance"]
    );
    // Should the row be open anyway, the rule itself names the field.
    assert_eq!(
        check_judicial_confirmation(Some(&d), JudicialConfirmation::Applied, later),
        Err(Refusal::invalid(
            "status",
            "the window to apply for judicial confirmation has passed"
        ))
    );
}

#[test]
fn a_decided_judicial_confirmation_is_final() {
    let d = state(&[
        registered(),
        accepted(),
        agreed(),
        judicial_recorded(JudicialConfirmation::Applied),
        judicial_recorded(JudicialConfirmation::Refused),
    ]);
    assert_eq!(
        allowed_actions(Some(&d), Role::Mediator, now()),
        vec!["confirm-performance"]
    );
    assert!(matches!(
        authorize(
            Some(&d),
            Action::RecordJudicialConfirmation,
            Role::Mediator,
            now()
        ),
        Err(Refusal::NotAllowedInState {
            reason: Some(_),
            ..
        })
    ));
}

#[test]
fn a_grid_worker_does_not_record_judicial_confirmation() {
    given([registered(), accepted(), agreed()])
        .when(Role::GridWorker, judicial(JudicialConfirmation::Applied))
        .then_refused(not_for_role(
            "agreed",
            Action::RecordJudicialConfirmation,
            Role::GridWorker,
            &["confirm-performance"],
        ));
}

#[test]
fn judicial_confirmation_needs_an_agreement() {
    given([registered(), accepted()])
        .when(Role::Mediator, judicial(JudicialConfirmation::Applied))
        .then_refused(not_in_state(
            "mediating",
            Action::RecordJudicialConfirmation,
            MEDIATING_ACTIONS,
        ));
}

// ---- agreed → confirm-performance → closed ----

#[test]
fn a_mediator_or_grid_worker_confirms_performance_and_the_dispute_is_resolved() {
    for role in [Role::Mediator, Role::GridWorker] {
        given([registered(), accepted(), agreed()])
            .when(
                role,
                DisputeCommand::ConfirmPerformance(ConfirmPerformance {
                    note: None,
                    evidence: vec![],
                }),
            )
            .then([performed()]);
    }
    let d = state(&[registered(), accepted(), agreed(), performed()]);
    assert_eq!(d.status, Status::Closed);
    assert_eq!(d.deadline, None);
    assert_eq!(Kind::outcome(&d), Some(Outcome::Resolved));
    for role in Role::ALL {
        assert!(allowed_actions(Some(&d), role, now()).is_empty());
    }
}

#[test]
fn a_supervisor_does_not_confirm_performance() {
    given([registered(), accepted(), agreed()])
        .when(
            Role::Supervisor,
            DisputeCommand::ConfirmPerformance(ConfirmPerformance {
                note: None,
                evidence: vec![],
            }),
        )
        .then_refused(not_for_role(
            "agreed",
            Action::ConfirmPerformance,
            Role::Supervisor,
            &[],
        ));
}

#[test]
fn a_failed_mediation_has_nothing_to_perform() {
    given([registered(), accepted(), failed()])
        .when(
            Role::Mediator,
            DisputeCommand::ConfirmPerformance(ConfirmPerformance {
                note: None,
                evidence: vec![],
            }),
        )
        .then_refused(not_in_state(
            "failed",
            Action::ConfirmPerformance,
            &["refer"],
        ));
}

// ---- failed → refer → closed ----

#[test]
fn a_failed_dispute_is_referred_and_closed_unresolved() {
    for role in [Role::Mediator, Role::Supervisor] {
        given([registered(), accepted(), failed()])
            .when(
                role,
                DisputeCommand::Refer(Refer {
                    to: Route::SharedCourt,
                    note: None,
                }),
            )
            .then([referred()]);
    }
    let d = state(&[registered(), accepted(), failed(), referred()]);
    assert_eq!(d.status, Status::Closed);
    assert_eq!(d.referred_to, Some(Route::SharedCourt));
    assert_eq!(d.deadline, None);
    assert_eq!(Kind::outcome(&d), Some(Outcome::NotResolved));
}

#[test]
fn a_grid_worker_does_not_refer() {
    given([registered(), accepted(), failed()])
        .when(
            Role::GridWorker,
            DisputeCommand::Refer(Refer {
                to: Route::Litigation,
                note: None,
            }),
        )
        .then_refused(not_for_role("failed", Action::Refer, Role::GridWorker, &[]));
}

#[test]
fn an_agreed_dispute_is_not_referred() {
    given([registered(), accepted(), agreed()])
        .when(
            Role::Mediator,
            DisputeCommand::Refer(Refer {
                to: Route::Litigation,
                note: None,
            }),
        )
        .then_refused(not_in_state("agreed", Action::Refer, AGREED_ACTIONS));
}

// ---- the whole table, written out independently of TABLE ----

/// What each state allows, per role, as the domain brief's table reads (within the judicial
/// confirmation window, nothing applied for yet).
fn expected_allowed(status: Option<Status>, role: Role) -> Vec<&'static str> {
    use Role::*;
    let rows: &[(&str, &[Role])] = match status {
        None => &[("register", &[GridWorker, Mediator, Supervisor])],
        Some(Status::Registered) => &[
            ("accept", &[Mediator, Supervisor]),
            ("decline", &[Mediator, Supervisor]),
        ],
        Some(Status::Mediating) => &[
            ("schedule-session", &[Mediator]),
            ("record-session", &[Mediator]),
            ("record-agreement", &[Mediator]),
            ("record-failure", &[Mediator]),
            ("withdraw", &[Mediator]),
        ],
        Some(Status::Agreed) => &[
            ("record-judicial-confirmation", &[Mediator]),
            ("confirm-performance", &[Mediator, GridWorker]),
        ],
        Some(Status::Failed) => &[("refer", &[Mediator, Supervisor])],
        Some(Status::Closed | Status::Declined | Status::Withdrawn | Status::Duplicate) => &[],
    };
    rows.iter()
        .filter(|(_, who)| who.contains(&role))
        .map(|(a, _)| *a)
        .collect()
}

/// A dispute brought to `status` by its events (or the duplicate hook).
fn dispute_in(status: Status) -> Dispute {
    let declined = DisputeEvent::Declined {
        reason: DeclineReason::OutsideScope,
        note: None,
    };
    let withdrawn = DisputeEvent::Withdrawn {
        party: "张某".to_owned(),
        reason: None,
    };
    let history: Vec<DisputeEvent> = match status {
        Status::Registered | Status::Duplicate => vec![registered()],
        Status::Mediating => vec![registered(), accepted()],
        Status::Agreed => vec![registered(), accepted(), agreed()],
        Status::Failed => vec![registered(), accepted(), failed()],
        Status::Closed => vec![registered(), accepted(), agreed(), performed()],
        Status::Declined => vec![registered(), declined],
        Status::Withdrawn => vec![registered(), accepted(), withdrawn],
    };
    let mut d = state(&history);
    if status == Status::Duplicate {
        Kind::marked_duplicate(&mut d);
    }
    assert_eq!(d.status, status);
    d
}

#[test]
fn allowed_actions_match_the_table_for_every_state_role_and_action() {
    let states = std::iter::once(None).chain(Status::ALL.map(Some));
    for status in states {
        let dispute = status.map(dispute_in);
        for role in Role::ALL {
            let expected = expected_allowed(status, role);
            assert_eq!(
                allowed_actions(dispute.as_ref(), role, now()),
                expected,
                "{status:?} / {role}"
            );
            for action in Action::ALL {
                let verdict = authorize(dispute.as_ref(), action, role, now());
                let allowed_to_anyone = Role::ALL
                    .iter()
                    .any(|r| expected_allowed(status, *r).contains(&action.as_str()));
                match verdict {
                    Ok(row) => {
                        assert!(expected.contains(&action.as_str()));
                        assert_eq!(row.action, action);
                    }
                    Err(Refusal::NotAllowedInState { allowed, .. }) => {
                        assert!(!allowed_to_anyone, "{status:?} / {role} / {action:?}");
                        let mut all: Vec<_> = Role::ALL
                            .iter()
                            .flat_map(|r| expected_allowed(status, *r))
                            .collect();
                        all.sort_unstable();
                        all.dedup();
                        let mut allowed = allowed;
                        allowed.sort_unstable();
                        assert_eq!(allowed, all);
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

#[test]
fn end_states_are_the_brief_s() {
    for status in Status::ALL {
        let end = matches!(
            status,
            Status::Closed | Status::Declined | Status::Withdrawn | Status::Duplicate
        );
        assert_eq!(status.is_end(), end, "{status:?}");
        if end {
            let d = dispute_in(status);
            assert!(Kind::outcome(&d).is_some());
        }
    }
}

#[test]
fn refusals_name_the_state_and_the_allowed_actions() {
    let d = dispute_in(Status::Registered);
    let refusal = authorize(Some(&d), Action::RecordSession, Role::Mediator, now()).unwrap_err();
    assert_eq!(
        refusal.to_string(),
        "dispute is registered: record-session is not allowed; allowed here: accept, decline"
    );
    let refusal = authorize(Some(&d), Action::Accept, Role::GridWorker, now()).unwrap_err();
    assert_eq!(
        refusal.to_string(),
        "dispute is registered: a grid_worker may not accept; allowed for a grid_worker: none"
    );
}

// ---- hooks ----

#[test]
fn outcomes_of_each_end_and_none_while_open() {
    for status in [
        Status::Registered,
        Status::Mediating,
        Status::Agreed,
        Status::Failed,
    ] {
        assert_eq!(Kind::outcome(&dispute_in(status)), None, "{status:?}");
    }
    assert_eq!(
        Kind::outcome(&dispute_in(Status::Closed)),
        Some(Outcome::Resolved)
    );
    assert_eq!(
        Kind::outcome(&state(&[registered(), accepted(), failed(), referred()])),
        Some(Outcome::NotResolved)
    );
    assert_eq!(
        Kind::outcome(&dispute_in(Status::Declined)),
        Some(Outcome::NotResolved)
    );
    assert_eq!(
        Kind::outcome(&dispute_in(Status::Withdrawn)),
        Some(Outcome::NotResolved)
    );
    assert_eq!(
        Kind::outcome(&dispute_in(Status::Duplicate)),
        Some(Outcome::Duplicate)
    );
}

#[test]
fn only_mediation_is_extendable() {
    for status in Status::ALL {
        let verdict = Kind::extendable(&dispute_in(status));
        if status == Status::Mediating {
            assert_eq!(verdict, Ok(()));
        } else {
            assert_eq!(verdict, Err("only mediation can be extended"), "{status:?}");
        }
    }
}

#[test]
fn an_extension_moves_the_mediation_deadline_the_table_then_keeps() {
    let mut d = dispute_in(Status::Mediating);
    let extended = POLICY.extended(d.deadline.unwrap(), 30);
    d.deadline = Some(extended);
    let d = evolve(
        Some(d),
        &DisputeEvent::SessionRecorded {
            summary: "第二次调解".to_owned(),
            evidence: vec![],
        },
    )
    .unwrap();
    assert_eq!(d.deadline, Some(extended));
    assert_eq!(Kind::current_step(&d), Some("mediate"));
}

#[test]
fn a_closed_dispute_reopens_into_mediation_with_a_fresh_deadline() {
    for status in Status::ALL {
        let verdict = Kind::reopenable(&dispute_in(status));
        assert_eq!(verdict.is_ok(), status == Status::Closed, "{status:?}");
    }
    assert_eq!(
        Kind::reopenable(&dispute_in(Status::Withdrawn)),
        Err("only a closed dispute can be reopened")
    );

    let visit = day(60);
    let deadline = Dispute::reopen_deadline(&POLICY, visit);
    assert_eq!(deadline, POLICY.due(visit, Limit::days(30)));

    let mut d = state(&[registered(), accepted(), failed(), referred()]);
    Kind::reopened(&mut d, deadline);
    assert_eq!(d.status, Status::Mediating);
    assert_eq!(d.deadline, Some(deadline));
    assert_eq!(d.referred_to, None);
    assert_eq!(d.failure_reason, None);
    assert!(d.routes_told.is_empty());
    assert_eq!(d.mediator.as_deref(), Some("王调解"));
    assert_eq!(Kind::outcome(&d), None);
    assert_eq!(Kind::current_step(&d), Some("mediate"));
    assert_eq!(
        allowed_actions(Some(&d), Role::Mediator, visit),
        MEDIATING_ACTIONS
    );

    // Mediated to an agreement this time, and performed: now resolved.
    let d = [agreed(), performed()]
        .iter()
        .try_fold(d, |d, e| evolve(Some(d), e))
        .unwrap();
    assert_eq!(Kind::outcome(&d), Some(Outcome::Resolved));
}

#[test]
fn a_duplicate_ends_without_a_deadline() {
    let mut d = dispute_in(Status::Mediating);
    assert!(d.deadline.is_some());
    Kind::marked_duplicate(&mut d);
    assert_eq!(d.status, Status::Duplicate);
    assert_eq!(d.deadline, None);
    assert_eq!(Kind::current_step(&d), None);
    for role in Role::ALL {
        assert!(allowed_actions(Some(&d), role, now()).is_empty());
    }
}

#[test]
fn acceptance_assigns_the_room() {
    assert_eq!(Dispute::assigned_unit(&accepted()), Some(&room()));
    for event in [registered(), agreed(), failed(), referred(), performed()] {
        assert_eq!(Dispute::assigned_unit(&event), None);
    }
    assert_eq!(dispute_in(Status::Mediating).room, Some(room()));
}

#[test]
fn the_current_step_follows_the_status() {
    let step = |s| Kind::current_step(&dispute_in(s));
    assert_eq!(step(Status::Registered), Some("accept"));
    assert_eq!(step(Status::Mediating), Some("mediate"));
    for s in [
        Status::Agreed,
        Status::Failed,
        Status::Closed,
        Status::Declined,
        Status::Withdrawn,
        Status::Duplicate,
    ] {
        assert_eq!(step(s), None, "{s:?}");
    }
    let mut d = dispute_in(Status::Mediating);
    d.deadline = None;
    assert_eq!(Kind::current_step(&d), None);
}

#[test]
fn deadlines_per_step() {
    let d = dispute_in(Status::Registered);
    assert_eq!(d.deadline, Some(due(Limit::days(3))));
    let d = dispute_in(Status::Mediating);
    assert_eq!(d.deadline, Some(due(Limit::days(30))));
    for s in [
        Status::Agreed,
        Status::Failed,
        Status::Closed,
        Status::Declined,
        Status::Withdrawn,
        Status::Duplicate,
    ] {
        assert_eq!(dispute_in(s).deadline, None, "{s:?}");
    }
}

#[test]
fn acceptance_is_due_after_national_day_when_the_third_day_is_a_holiday() {
    // Registered on Monday 29 September 2025 at 10:00 in Shanghai. Three calendar days end on
    // 2 October, inside the National Day holiday (1-8 October), so the limit moves to the next
    // working day, Thursday 9 October, and closes at its end, local.
    let registration: Timestamp = "2025-09-29T10:00:00+08:00[Asia/Shanghai]"
        .parse::<jiff::ZonedDateTime>()
        .unwrap()
        .timestamp();
    assert_eq!(registration, now());
    let Ok(events) = decide(
        None::<&Dispute>,
        &DisputeCommand::Register(register()),
        &ctx_at(Role::GridWorker, registration),
    ) else {
        panic!("a registration is accepted");
    };
    let DisputeEvent::Registered { accept_by, .. } = &events[0] else {
        panic!("registered");
    };
    assert_eq!(accept_by.to_string(), "2025-10-09T16:00:00Z");
}

#[test]
fn mediation_started_that_day_is_due_at_the_end_of_29_october() {
    assert_eq!(due(Limit::days(30)).to_string(), "2025-10-29T16:00:00Z");
}

// ---- serde shapes ----

#[test]
fn commands_parse_from_their_json() {
    let cmd: DisputeCommand = serde_json::from_value(serde_json::json!({
        "action": "accept",
        "input": {"mediator": "王调解", "room": "qinghe-mediation"}
    }))
    .unwrap();
    assert_eq!(cmd, accept());
    assert_eq!(cmd.action(), Action::Accept);

    let cmd: DisputeCommand = serde_json::from_value(serde_json::json!({
        "action": "register",
        "input": {
            "community": "qinghe",
            "title": "物业费纠纷",
            "dispute_type": "property-management",
            "source": "police-referral",
            "parties": [
                {"side": "applicant", "name": "张某", "phone": "13800000000"},
                {"side": "respondent", "name": "某物业公司"}
            ]
        }
    }))
    .unwrap();
    let DisputeCommand::Register(r) = &cmd else {
        panic!("a registration");
    };
    assert_eq!(
        r.dispute_type,
        "property-management".parse::<CategoryId>().unwrap()
    );
    assert_eq!(r.source, Source::PoliceReferral);
    assert_eq!(r.description, "");
    assert_eq!(r.parties[1].side, Side::Respondent);
    assert!(decide(None::<&Dispute>, &cmd, &ctx_at(Role::GridWorker, now())).is_ok());

    let cmd: DisputeCommand = serde_json::from_value(serde_json::json!({
        "action": "record-failure",
        "input": {"reason": "分歧大", "routes_told": ["shared-court", "arbitration"]}
    }))
    .unwrap();
    assert_eq!(
        cmd,
        DisputeCommand::RecordFailure(RecordFailure {
            reason: "分歧大".to_owned(),
            routes_told: vec![Route::SharedCourt, Route::Arbitration],
        })
    );

    let cmd: DisputeCommand = serde_json::from_value(serde_json::json!({
        "action": "record-agreement",
        "input": {"form": "written", "terms": "赔偿", "performance_date": "2025-10-20"}
    }))
    .unwrap();
    assert_eq!(cmd.action(), Action::RecordAgreement);

    let cmd: DisputeCommand = serde_json::from_value(serde_json::json!({
        "action": "record-judicial-confirmation",
        "input": {"status": "applied"}
    }))
    .unwrap();
    assert_eq!(cmd.action(), Action::RecordJudicialConfirmation);
}

#[test]
fn unknown_fields_bad_ids_and_unknown_actions_do_not_parse() {
    for bad in [
        serde_json::json!({"action": "accept", "input": {"mediator": "王", "room": "r", "x": 1}}),
        serde_json::json!({"action": "accept", "input": {"mediator": "王", "room": "Room 1"}}),
        serde_json::json!({"action": "mediate", "input": {}}),
        serde_json::json!({"action": "register", "input": {
            "community": "qinghe", "title": "t", "dispute_type": "neighbour", "source": "walk-in",
            "parties": [{"side": "applicant", "name": "张", "age": 40}]
        }}),
    ] {
        assert!(
            serde_json::from_value::<DisputeCommand>(bad.clone()).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn events_and_state_round_trip_through_json() {
    let value = serde_json::to_value(accepted()).unwrap();
    assert_eq!(value["type"], "accepted");
    assert_eq!(value["data"]["room"], "qinghe-mediation");
    let value = serde_json::to_value(judicial_recorded(JudicialConfirmation::Applied)).unwrap();
    assert_eq!(value["type"], "judicial_confirmation_recorded");
    assert_eq!(value["data"]["status"], "applied");
    for event in [registered(), accepted(), agreed(), failed(), referred()] {
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(serde_json::from_value::<DisputeEvent>(json).unwrap(), event);
    }
    let d = dispute_in(Status::Agreed);
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["status"], "agreed");
    assert_eq!(json["dispute_type"], "neighbour");
    assert_eq!(serde_json::from_value::<Dispute>(json).unwrap(), d);
}

#[test]
fn replay_refuses_what_cannot_be_replayed() {
    assert!(evolve(None, &accepted()).is_err());
    assert!(evolve(Some(dispute_in(Status::Registered)), &registered()).is_err());
}

// ---- property: any sequence of commands stays inside the table, and replays ----

fn any_command() -> impl Strategy<Value = DisputeCommand> {
    let route = proptest::sample::select(vec![
        Route::Litigation,
        Route::Arbitration,
        Route::Administrative,
        Route::SharedCourt,
    ]);
    let judicial_status = proptest::sample::select(vec![
        JudicialConfirmation::Applied,
        JudicialConfirmation::Confirmed,
        JudicialConfirmation::Refused,
    ]);
    prop_oneof![
        3 => Just(DisputeCommand::Register(register())),
        6 => Just(accept()),
        1 => Just(DisputeCommand::Decline(Decline {
            reason: DeclineReason::PartyRefuses,
            note: None,
        })),
        3 => prop_oneof![Just(day(3)), Just(day(400))].prop_map(|at| {
            DisputeCommand::ScheduleSession(ScheduleSession { at, place: None })
        }),
        3 => Just(DisputeCommand::RecordSession(RecordSession {
            summary: "调解".to_owned(),
            evidence: vec![],
        })),
        3 => prop_oneof![Just(AgreementForm::Written), Just(AgreementForm::Oral)]
            .prop_map(record_agreement),
        3 => proptest::collection::vec(route.clone(), 0..3).prop_map(record_failure),
        1 => Just(DisputeCommand::Withdraw(Withdraw {
            party: "李某".to_owned(),
            reason: None,
        })),
        6 => judicial_status.prop_map(judicial),
        3 => Just(DisputeCommand::ConfirmPerformance(ConfirmPerformance {
            note: None,
            evidence: vec![],
        })),
        3 => route.prop_map(|to| DisputeCommand::Refer(Refer { to, note: None })),
    ]
}

/// Mostly the mediator, who may take every action of the table, so that sequences reach its
/// later rows; any role otherwise.
fn any_role() -> impl Strategy<Value = Role> {
    prop_oneof![
        3 => Just(Role::Mediator),
        2 => proptest::sample::select(Role::ALL.to_vec()),
    ]
}

/// Mostly no time between steps; sometimes up to 12 days, past the judicial confirmation
/// window after a few.
fn any_pause() -> impl Strategy<Value = i64> {
    prop_oneof![3 => Just(0), 1 => 0..(24 * 12_i64)]
}

/// A canonical command for an action, varied by `pick`.
fn command_for(action: Action, pick: usize) -> DisputeCommand {
    let routes = [
        Route::Litigation,
        Route::Arbitration,
        Route::Administrative,
        Route::SharedCourt,
    ];
    let statuses = [
        JudicialConfirmation::Applied,
        JudicialConfirmation::Confirmed,
        JudicialConfirmation::Refused,
    ];
    match action {
        Action::Register => DisputeCommand::Register(register()),
        Action::Accept => accept(),
        Action::Decline => DisputeCommand::Decline(Decline {
            reason: DeclineReason::OutsideScope,
            note: None,
        }),
        Action::ScheduleSession => DisputeCommand::ScheduleSession(ScheduleSession {
            at: day(400),
            place: None,
        }),
        Action::RecordSession => DisputeCommand::RecordSession(RecordSession {
            summary: "调解".to_owned(),
            evidence: vec![photo()],
        }),
        Action::RecordAgreement => record_agreement(if pick.is_multiple_of(2) {
            AgreementForm::Written
        } else {
            AgreementForm::Oral
        }),
        Action::RecordFailure => record_failure(routes[..pick % 3].to_vec()),
        Action::Withdraw => DisputeCommand::Withdraw(Withdraw {
            party: "张某".to_owned(),
            reason: None,
        }),
        Action::RecordJudicialConfirmation => judicial(statuses[pick % 3]),
        Action::ConfirmPerformance => DisputeCommand::ConfirmPerformance(ConfirmPerformance {
            note: None,
            evidence: vec![],
        }),
        Action::Refer => DisputeCommand::Refer(Refer {
            to: routes[pick % 4],
            note: None,
        }),
    }
}

/// A step: any command at all, or (`Some(pick)`) one of the actions the role may take now, so
/// that sequences reach the later rows of the table as well as knock on closed doors.
fn any_step() -> impl Strategy<Value = (Role, DisputeCommand, Option<usize>, i64)> {
    (
        any_role(),
        any_command(),
        proptest::option::weighted(0.6, 0..12_usize),
        any_pause(),
    )
}

/// The moves the brief's table allows, as (from, action, to).
fn table_allows(from: Option<Status>, action: Action, to: Status) -> bool {
    use Status::*;
    matches!(
        (from, action, to),
        (None, Action::Register, Registered)
            | (Some(Registered), Action::Accept, Mediating)
            | (Some(Registered), Action::Decline, Declined)
            | (
                Some(Mediating),
                Action::ScheduleSession | Action::RecordSession,
                Mediating
            )
            | (Some(Mediating), Action::RecordAgreement, Agreed)
            | (Some(Mediating), Action::RecordFailure, Failed)
            | (Some(Mediating), Action::Withdraw, Withdrawn)
            | (Some(Agreed), Action::RecordJudicialConfirmation, Agreed)
            | (Some(Agreed), Action::ConfirmPerformance, Closed)
            | (Some(Failed), Action::Refer, Closed)
    )
}

proptest! {
    #[test]
    fn any_sequence_of_commands_moves_only_as_the_table_allows(
        steps in proptest::collection::vec(any_step(), 0..40)
    ) {
        let mut dispute: Option<Dispute> = None;
        let mut history = Vec::new();
        let mut at = now();
        for (role, command, open, hours) in steps {
            at += SignedDuration::from_hours(hours);
            let before = dispute.as_ref().map(|d| d.status);
            let allowed = allowed_actions(dispute.as_ref(), role, at);
            let command = match open {
                Some(pick) if !allowed.is_empty() => {
                    // Leaning to the table's first row out of a state, which moves on.
                    let name = allowed[(pick % (allowed.len() + 2)).saturating_sub(2)];
                    let action = Action::ALL.into_iter().find(|a| a.as_str() == name).unwrap();
                    command_for(action, pick)
                }
                Some(_) | None => command,
            };
            match decide(dispute.as_ref(), &command, &ctx_at(role, at)) {
                Ok(events) => {
                    prop_assert!(allowed.contains(&command.action().as_str()));
                    for e in &events {
                        dispute = Some(evolve(dispute.take(), e).unwrap());
                    }
                    let d = dispute.as_ref().unwrap();
                    prop_assert!(table_allows(before, command.action(), d.status),
                        "{before:?} --{}--> {:?}", command.action().as_str(), d.status);
                    prop_assert_eq!(d.deadline.is_some(), Kind::current_step(d).is_some());
                    prop_assert_eq!(d.status.is_end(), Kind::outcome(d).is_some());
                    history.extend(events);
                }
                Err(Refusal::InvalidField { .. }) => {
                    prop_assert!(allowed.contains(&command.action().as_str()));
                }
                Err(
                    Refusal::NotAllowedInState { .. }
                    | Refusal::RoleNotPermitted { .. }
                    | Refusal::UnitNotPermitted { .. },
                ) => {
                    prop_assert!(!allowed.contains(&command.action().as_str()));
                }
            }
        }
        let replayed = history.iter().try_fold(None, |d, e| evolve(d, e).map(Some)).unwrap();
        prop_assert_eq!(replayed, dispute);
    }
}
