//! The hazard table, row by row: given these events, when this command, then these events or
//! this refusal.

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

use super::*;
use crate::CategoryId;
use crate::testing::{self, POLICY, Then, allowed_actions, authorize, ctx_at, decide};

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
        content_hash: format!("sha256:{}", "ab".repeat(32)),
        media_type: "image/jpeg".to_owned(),
        size: 52_113,
        blob: "blobs/2025/03/0001.jpg".to_owned(),
    }
}

fn report(severity: Severity) -> Report {
    Report {
        community: "qinghe".parse().unwrap(),
        grid: Some("qinghe-03".parse().unwrap()),
        address: Some("清河路 12 号".to_owned()),
        location: None,
        title: "楼道堆放杂物".to_owned(),
        description: "三楼楼道堆放纸箱，堵塞疏散通道".to_owned(),
        category: "fire".parse::<CategoryId>().unwrap(),
        severity,
        source: Source::NightPatrol,
        responsible_party: None,
        unit: None,
        media_url: None,
        evidence: Vec::new(),
    }
}

fn reported(severity: Severity) -> HazardEvent {
    let r = report(severity);
    HazardEvent::Reported {
        community: r.community,
        grid: r.grid,
        address: r.address,
        location: r.location,
        title: r.title,
        description: r.description,
        category: r.category,
        severity: r.severity,
        source: r.source,
        responsible_party: r.responsible_party,
        unit: r.unit,
        media_url: None,
        evidence: Vec::new(),
        verify_by: due(Limit::working_days(1)),
    }
}

fn verified(severity: Severity) -> HazardEvent {
    HazardEvent::Verified {
        severity,
        responsible_party: "清河路 12 号物业".to_owned(),
        note: None,
    }
}

fn ordered() -> HazardEvent {
    HazardEvent::RectificationOrdered {
        measures: "清理楼道".to_owned(),
        deadline: due(Limit::days(7)),
    }
}

fn rectification_reported() -> HazardEvent {
    HazardEvent::RectificationReported {
        evidence: vec![photo()],
        note: None,
        reinspect_by: due(Limit::days(3)),
    }
}

type Given = testing::Given<HazardTicket>;

fn given(events: impl IntoIterator<Item = HazardEvent>) -> Given {
    testing::given(now(), events)
}

fn not_in_state(state: &'static str, action: Action, allowed: &[&'static str]) -> Refusal {
    testing::not_in_state::<HazardTicket>(state, action, allowed)
}

fn not_for_role(
    state: &'static str,
    action: Action,
    role: Role,
    allowed: &[&'static str],
) -> Refusal {
    testing::not_for_role::<HazardTicket>(state, action, role, allowed)
}

// ---- (none) → report → reported ----

#[test]
fn a_grid_worker_reports_a_hazard() {
    given([])
        .when(
            Role::GridWorker,
            HazardCommand::Report(report(Severity::General)),
        )
        .then([reported(Severity::General)]);
}

#[test]
fn handlers_and_supervisors_report_too_but_not_mediators() {
    for role in [Role::Handler, Role::Supervisor] {
        given([])
            .when(role, HazardCommand::Report(report(Severity::Major)))
            .then([reported(Severity::Major)]);
    }
    for role in [Role::Mediator, Role::PetitionOfficer, Role::Admin] {
        given([])
            .when(role, HazardCommand::Report(report(Severity::General)))
            .then_refused(not_for_role("not filed", Action::Report, role, &[]));
    }
}

#[test]
fn a_service_account_files_what_residents_report_and_nothing_else() {
    let mut r = report(Severity::General);
    r.source = Source::ResidentReport;
    let mut filed = reported(Severity::General);
    if let HazardEvent::Reported { source, .. } = &mut filed {
        *source = Source::ResidentReport;
    }
    given([])
        .when(Role::ServiceAccount, HazardCommand::Report(r))
        .then([filed]);
    given([])
        .when(
            Role::ServiceAccount,
            HazardCommand::Report(report(Severity::General)),
        )
        .then_invalid("source");
    given([reported(Severity::General)])
        .when(
            Role::ServiceAccount,
            HazardCommand::Verify(Verify {
                severity: Severity::General,
                responsible_party: "业主".to_owned(),
                note: None,
            }),
        )
        .then_refused(not_for_role(
            "reported",
            Action::Verify,
            Role::ServiceAccount,
            &[],
        ));
}

#[test]
fn a_report_needs_a_title() {
    let mut r = report(Severity::General);
    r.title = "   ".to_owned();
    given([])
        .when(Role::GridWorker, HazardCommand::Report(r))
        .then_invalid("title");
}

#[test]
fn a_ticket_is_reported_once() {
    given([reported(Severity::General)])
        .when(
            Role::GridWorker,
            HazardCommand::Report(report(Severity::General)),
        )
        .then_refused(not_in_state(
            "reported",
            Action::Report,
            &["verify", "dismiss", "fix-on-spot"],
        ));
}

// ---- reported → verify → verified ----

#[test]
fn a_handler_verifies_a_reported_hazard_confirming_its_severity() {
    given([reported(Severity::General)])
        .when(
            Role::Handler,
            HazardCommand::Verify(Verify {
                severity: Severity::Major,
                responsible_party: "清河路 12 号物业".to_owned(),
                note: None,
            }),
        )
        .then([verified(Severity::Major)]);
}

#[test]
fn a_grid_worker_cannot_verify() {
    given([reported(Severity::General)])
        .when(
            Role::GridWorker,
            HazardCommand::Verify(Verify {
                severity: Severity::General,
                responsible_party: "物业".to_owned(),
                note: None,
            }),
        )
        .then_refused(not_for_role(
            "reported",
            Action::Verify,
            Role::GridWorker,
            &["fix-on-spot"],
        ));
}

// ---- reported → dismiss → dismissed ----

#[test]
fn a_supervisor_dismisses_what_is_not_a_hazard() {
    given([reported(Severity::General)])
        .when(
            Role::Supervisor,
            HazardCommand::Dismiss(Dismiss {
                reason: DismissReason::NotAHazard,
                duplicate_of: None,
                note: Some("已自行清理".to_owned()),
            }),
        )
        .then([HazardEvent::Dismissed {
            reason: DismissReason::NotAHazard,
            duplicate_of: None,
            note: Some("已自行清理".to_owned()),
        }]);
}

#[test]
fn a_duplicate_names_the_case_it_duplicates() {
    given([reported(Severity::General)])
        .when(
            Role::Handler,
            HazardCommand::Dismiss(Dismiss {
                reason: DismissReason::Duplicate,
                duplicate_of: None,
                note: None,
            }),
        )
        .then_invalid("duplicate_of");
}

#[test]
fn a_verified_hazard_is_no_longer_dismissed() {
    given([reported(Severity::General), verified(Severity::General)])
        .when(
            Role::Handler,
            HazardCommand::Dismiss(Dismiss {
                reason: DismissReason::NotAHazard,
                duplicate_of: None,
                note: None,
            }),
        )
        .then_refused(not_in_state(
            "verified",
            Action::Dismiss,
            &["fix-on-spot", "order-rectification"],
        ));
}

// ---- reported, verified → fix-on-spot → rectified (general only, with evidence) ----

#[test]
fn a_general_hazard_is_fixed_on_the_spot_from_reported_or_verified() {
    let fix = || {
        HazardCommand::FixOnSpot(FixOnSpot {
            evidence: vec![photo()],
            note: None,
        })
    };
    let fixed = HazardEvent::FixedOnSpot {
        evidence: vec![photo()],
        note: None,
        reinspect_by: due(Limit::days(3)),
    };
    given([reported(Severity::General)])
        .when(Role::GridWorker, fix())
        .then([fixed.clone()]);
    given([reported(Severity::General), verified(Severity::General)])
        .when(Role::Handler, fix())
        .then([fixed]);
}

#[test]
fn a_major_hazard_is_never_fixed_on_the_spot() {
    given([reported(Severity::General), verified(Severity::Major)])
        .when(
            Role::Handler,
            HazardCommand::FixOnSpot(FixOnSpot {
                evidence: vec![photo()],
                note: None,
            }),
        )
        .then_refused(Refusal::NotAllowedInState {
            kind: "hazard",
            state: "verified",
            action: "fix-on-spot".to_owned(),
            allowed: vec!["order-rectification"],
            reason: Some(
                "only a general hazard can be fixed on the spot; a major one needs a rectification order",
            ),
        });
}

#[test]
fn fixing_on_the_spot_needs_evidence() {
    given([reported(Severity::General)])
        .when(
            Role::GridWorker,
            HazardCommand::FixOnSpot(FixOnSpot {
                evidence: vec![],
                note: None,
            }),
        )
        .then_invalid("evidence");
    let mut bad = photo();
    bad.content_hash = "md5:abc".to_owned();
    given([reported(Severity::General)])
        .when(
            Role::GridWorker,
            HazardCommand::FixOnSpot(FixOnSpot {
                evidence: vec![bad],
                note: None,
            }),
        )
        .then_invalid("evidence.content_hash");
}

#[test]
fn a_supervisor_does_not_fix_on_the_spot() {
    given([reported(Severity::General)])
        .when(
            Role::Supervisor,
            HazardCommand::FixOnSpot(FixOnSpot {
                evidence: vec![photo()],
                note: None,
            }),
        )
        .then_refused(not_for_role(
            "reported",
            Action::FixOnSpot,
            Role::Supervisor,
            &["verify", "dismiss"],
        ));
}

// ---- verified → order-rectification → rectifying ----

#[test]
fn rectification_is_due_in_7_days_for_a_general_hazard_and_30_for_a_major_one() {
    for (severity, days) in [(Severity::General, 7), (Severity::Major, 30)] {
        given([reported(Severity::General), verified(severity)])
            .when(
                Role::Handler,
                HazardCommand::OrderRectification(OrderRectification {
                    measures: "清理楼道".to_owned(),
                    deadline: None,
                }),
            )
            .then([HazardEvent::RectificationOrdered {
                measures: "清理楼道".to_owned(),
                deadline: due(Limit::days(days)),
            }]);
    }
}

#[test]
fn an_order_may_set_its_own_deadline_but_not_in_the_past() {
    let order = |deadline| {
        HazardCommand::OrderRectification(OrderRectification {
            measures: "停业整改".to_owned(),
            deadline: Some(deadline),
        })
    };
    given([reported(Severity::Major), verified(Severity::Major)])
        .when(Role::Supervisor, order(day(10)))
        .then([HazardEvent::RectificationOrdered {
            measures: "停业整改".to_owned(),
            deadline: day(10),
        }]);
    given([reported(Severity::Major), verified(Severity::Major)])
        .when(Role::Supervisor, order(day(-1)))
        .then_invalid("deadline");
}

#[test]
fn a_deadline_set_by_hand_lies_within_the_policys_limit_for_the_severity() {
    let order = |deadline| {
        HazardCommand::OrderRectification(OrderRectification {
            measures: "清理".to_owned(),
            deadline: Some(deadline),
        })
    };
    // A general hazard has 7 days: the close of the 7th day is the latest, the 8th is past it.
    let limit = due(Limit::days(7));
    given([reported(Severity::General), verified(Severity::General)])
        .when(Role::Handler, order(limit))
        .then([HazardEvent::RectificationOrdered {
            measures: "清理".to_owned(),
            deadline: limit,
        }]);
    let Then(refused) = given([reported(Severity::General), verified(Severity::General)])
        .when(Role::Handler, order(day(8)));
    match refused {
        Err(Refusal::InvalidField { field, reason }) => {
            assert_eq!(field, "deadline");
            assert!(
                reason.contains("7 days") && reason.contains("extension"),
                "{reason}"
            );
        }
        other => panic!("expected the deadline refused, got {other:?}"),
    }
    // A major one has 30, and so does its failed reinspection.
    given([reported(Severity::Major), verified(Severity::Major)])
        .when(Role::Handler, order(day(20)))
        .then([HazardEvent::RectificationOrdered {
            measures: "清理".to_owned(),
            deadline: day(20),
        }]);
    given([
        reported(Severity::Major),
        verified(Severity::Major),
        ordered(),
        rectification_reported(),
    ])
    .when(
        Role::Handler,
        HazardCommand::FailReinspection(FailReinspection {
            reason: "未整改到位".to_owned(),
            deadline: Some(day(31)),
        }),
    )
    .then_invalid("deadline");
}

#[test]
fn a_reported_hazard_is_verified_before_it_is_ordered() {
    given([reported(Severity::Major)])
        .when(
            Role::Handler,
            HazardCommand::OrderRectification(OrderRectification {
                measures: "x".to_owned(),
                deadline: None,
            }),
        )
        .then_refused(not_in_state(
            "reported",
            Action::OrderRectification,
            &["verify", "dismiss"],
        ));
}

// ---- rectifying → report-rectified → rectified ----

#[test]
fn a_grid_worker_reports_rectification_with_evidence() {
    given([
        reported(Severity::General),
        verified(Severity::General),
        ordered(),
    ])
    .when(
        Role::GridWorker,
        HazardCommand::ReportRectified(ReportRectified {
            evidence: vec![photo()],
            note: None,
        }),
    )
    .then([rectification_reported()]);
}

#[test]
fn a_supervisor_does_not_report_rectification() {
    given([
        reported(Severity::General),
        verified(Severity::General),
        ordered(),
    ])
    .when(
        Role::Supervisor,
        HazardCommand::ReportRectified(ReportRectified {
            evidence: vec![photo()],
            note: None,
        }),
    )
    .then_refused(not_for_role(
        "rectifying",
        Action::ReportRectified,
        Role::Supervisor,
        &[],
    ));
}

// ---- rectified → pass-reinspection → closed; rectified → fail-reinspection → rectifying ----

#[test]
fn a_passed_reinspection_strikes_the_hazard_off() {
    let history = [
        reported(Severity::General),
        verified(Severity::General),
        ordered(),
        rectification_reported(),
    ];
    given(history.clone())
        .when(
            Role::Handler,
            HazardCommand::PassReinspection(PassReinspection {
                evidence: vec![],
                note: None,
            }),
        )
        .then([HazardEvent::ReinspectionPassed {
            evidence: vec![],
            note: None,
        }]);
    let closed = history
        .iter()
        .chain([&HazardEvent::ReinspectionPassed {
            evidence: vec![],
            note: None,
        }])
        .try_fold(None, |t, e| evolve(t, e).map(Some))
        .unwrap()
        .unwrap();
    assert_eq!(closed.status, Status::Closed);
    assert_eq!(closed.deadline, None);
    for role in Role::ALL {
        assert!(allowed_actions(Some(&closed), role, now()).is_empty());
    }
}

#[test]
fn a_failed_reinspection_sends_the_hazard_back_with_a_new_deadline() {
    given([
        reported(Severity::General),
        verified(Severity::General),
        ordered(),
        rectification_reported(),
    ])
    .when(
        Role::Supervisor,
        HazardCommand::FailReinspection(FailReinspection {
            reason: "仍有杂物".to_owned(),
            deadline: None,
        }),
    )
    .then([HazardEvent::ReinspectionFailed {
        reason: "仍有杂物".to_owned(),
        deadline: due(Limit::days(7)),
    }]);
}

#[test]
fn a_grid_worker_does_not_reinspect() {
    given([
        reported(Severity::General),
        verified(Severity::General),
        ordered(),
        rectification_reported(),
    ])
    .when(
        Role::GridWorker,
        HazardCommand::PassReinspection(PassReinspection {
            evidence: vec![],
            note: None,
        }),
    )
    .then_refused(not_for_role(
        "rectified",
        Action::PassReinspection,
        Role::GridWorker,
        &[],
    ));
}

// ---- the whole table, written out independently of TABLE ----

/// What each state allows, per role, as the domain brief's table reads (general severity).
fn expected_allowed(status: Option<Status>, role: Role) -> Vec<&'static str> {
    use Role::*;
    let rows: &[(&str, &[Role])] = match status {
        None => &[("report", &[GridWorker, Handler, Supervisor, ServiceAccount])],
        Some(Status::Reported) => &[
            ("verify", &[Handler, Supervisor]),
            ("dismiss", &[Handler, Supervisor]),
            ("fix-on-spot", &[GridWorker, Handler]),
        ],
        Some(Status::Verified) => &[
            ("fix-on-spot", &[GridWorker, Handler]),
            ("order-rectification", &[Handler, Supervisor]),
        ],
        Some(Status::Rectifying) => &[("report-rectified", &[GridWorker, Handler])],
        Some(Status::Rectified) => &[
            ("pass-reinspection", &[Handler, Supervisor]),
            ("fail-reinspection", &[Handler, Supervisor]),
        ],
        Some(Status::Closed) | Some(Status::Dismissed) => &[],
    };
    rows.iter()
        .filter(|(_, who)| who.contains(&role))
        .map(|(a, _)| *a)
        .collect()
}

fn ticket_in(status: Status) -> HazardTicket {
    let mut t = evolve(None, &reported(Severity::General)).unwrap();
    t.status = status;
    t
}

#[test]
fn allowed_actions_match_the_table_for_every_state_and_role() {
    let states = [
        None,
        Some(Status::Reported),
        Some(Status::Verified),
        Some(Status::Rectifying),
        Some(Status::Rectified),
        Some(Status::Closed),
        Some(Status::Dismissed),
    ];
    for status in states {
        let ticket = status.map(ticket_in);
        for role in Role::ALL {
            assert_eq!(
                allowed_actions(ticket.as_ref(), role, now()),
                expected_allowed(status, role),
                "{status:?} / {role}"
            );
            for action in Action::ALL {
                let verdict = authorize(ticket.as_ref(), action, role, now());
                let allowed_to_anyone = Role::ALL
                    .iter()
                    .any(|r| expected_allowed(status, *r).contains(&action.as_str()));
                match verdict {
                    Ok(_) => assert!(expected_allowed(status, role).contains(&action.as_str())),
                    Err(Refusal::NotAllowedInState { .. }) => assert!(!allowed_to_anyone),
                    Err(Refusal::RoleNotPermitted { .. }) => {
                        assert!(allowed_to_anyone);
                        assert!(!expected_allowed(status, role).contains(&action.as_str()));
                    }
                    Err(other) => panic!("unexpected {other:?}"),
                }
            }
        }
    }
}

#[test]
fn refusals_name_the_state_and_the_allowed_actions() {
    let t = ticket_in(Status::Rectifying);
    let refusal = authorize(Some(&t), Action::Verify, Role::Handler, now()).unwrap_err();
    assert_eq!(
        refusal.to_string(),
        "hazard is rectifying: verify is not allowed; allowed here: report-rectified"
    );
}

// ---- property: any sequence of commands stays inside the table, and replays ----

fn any_command() -> impl Strategy<Value = HazardCommand> {
    let severity = prop_oneof![Just(Severity::General), Just(Severity::Major)];
    prop_oneof![
        severity
            .clone()
            .prop_map(|s| HazardCommand::Report(report(s))),
        severity.prop_map(|s| HazardCommand::Verify(Verify {
            severity: s,
            responsible_party: "物业".to_owned(),
            note: None,
        })),
        Just(HazardCommand::Dismiss(Dismiss {
            reason: DismissReason::NotAHazard,
            duplicate_of: None,
            note: None,
        })),
        Just(HazardCommand::FixOnSpot(FixOnSpot {
            evidence: vec![photo()],
            note: None,
        })),
        Just(HazardCommand::OrderRectification(OrderRectification {
            measures: "整改".to_owned(),
            deadline: None,
        })),
        Just(HazardCommand::ReportRectified(ReportRectified {
            evidence: vec![photo()],
            note: None,
        })),
        Just(HazardCommand::PassReinspection(PassReinspection {
            evidence: vec![],
            note: None,
        })),
        Just(HazardCommand::FailReinspection(FailReinspection {
            reason: "未整改到位".to_owned(),
            deadline: None,
        })),
    ]
}

fn any_role() -> impl Strategy<Value = Role> {
    proptest::sample::select(Role::ALL.to_vec())
}

/// The moves the brief's table allows, as (from, action, to).
fn table_allows(from: Option<Status>, action: Action, to: Status) -> bool {
    use Status::*;
    matches!(
        (from, action, to),
        (None, Action::Report, Reported)
            | (Some(Reported), Action::Verify, Verified)
            | (Some(Reported), Action::Dismiss, Dismissed)
            | (Some(Reported | Verified), Action::FixOnSpot, Rectified)
            | (Some(Verified), Action::OrderRectification, Rectifying)
            | (Some(Rectifying), Action::ReportRectified, Rectified)
            | (Some(Rectified), Action::PassReinspection, Closed)
            | (Some(Rectified), Action::FailReinspection, Rectifying)
    )
}

proptest! {
    #[test]
    fn any_sequence_of_commands_moves_only_as_the_table_allows(
        steps in proptest::collection::vec((any_role(), any_command()), 0..40)
    ) {
        let mut ticket: Option<HazardTicket> = None;
        let mut history = Vec::new();
        for (role, command) in steps {
            let before = ticket.as_ref().map(|t| t.status);
            match decide(ticket.as_ref(), &command, &ctx(role)) {
                Ok(events) => {
                    for e in &events {
                        ticket = Some(evolve(ticket.take(), e).unwrap());
                    }
                    let after = ticket.as_ref().unwrap().status;
                    prop_assert!(table_allows(before, command.action(), after),
                        "{before:?} --{}--> {after:?}", command.action().as_str());
                    if command.action() == Action::FixOnSpot {
                        prop_assert_eq!(ticket.as_ref().unwrap().severity, Severity::General);
                    }
                    history.extend(events);
                }
                Err(_) => prop_assert_eq!(ticket.as_ref().map(|t| t.status), before),
            }
        }
        let replayed = history.iter().try_fold(None, |t, e| evolve(t, e).map(Some)).unwrap();
        prop_assert_eq!(replayed, ticket);
    }
}

#[test]
fn verification_is_due_at_the_close_of_the_next_working_day_in_shanghai() {
    // Reported on Monday 3 March 2025 at 10:00 in Shanghai: verify by the end of Tuesday, local.
    let Ok(events) = decide(
        None::<&HazardTicket>,
        &HazardCommand::Report(report(Severity::General)),
        &ctx(Role::GridWorker),
    ) else {
        panic!("a report is accepted");
    };
    let HazardEvent::Reported { verify_by, .. } = &events[0] else {
        panic!("reported");
    };
    assert_eq!(verify_by.to_string(), "2025-03-04T16:00:00Z");
}
