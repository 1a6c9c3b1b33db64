//! The risk event table, row by row: given these events, when this command, then these events
//! or this refusal.

use jiff::{SignedDuration, Timestamp};

use super::*;
use crate::testing::{self, POLICY, allowed_actions, authorize, ctx_at, decide};

/// Monday 3 March 2025, 10:00 in Shanghai.
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

/// The review interval the domain brief gives each level, written out apart from the policy.
fn review_days(level: Level) -> Limit {
    match level {
        Level::Major => Limit::days(7),
        Level::Large => Limit::days(15),
        Level::General => Limit::days(30),
    }
}

fn unit() -> UnitId {
    "qinghe-labour".parse().unwrap()
}

fn photo() -> Evidence {
    Evidence {
        content_hash: format!("sha256:{}", "ef".repeat(32)),
        media_type: "image/jpeg".to_owned(),
        size: 41_002,
        blob: "blobs/2025/03/payroll-0001.jpg".to_owned(),
    }
}

fn person(name: &str) -> PersonalDetails {
    PersonalDetails {
        name: name.to_owned(),
        id_number: Some("110105198001011238".to_owned()),
        phone: Some("138-0000-0000".to_owned()),
        address: None,
        email: None,
    }
}

fn identify() -> Identify {
    Identify {
        community: "qinghe".parse().unwrap(),
        grid: Some("qinghe-03".parse().unwrap()),
        address: Some("清河路 8 号工地".to_owned()),
        title: "欠薪聚集苗头".to_owned(),
        description: "40 名工人讨要工资，拟到街道聚集".to_owned(),
        source: Source::GridPatrol,
        category: "wage-arrears".parse().unwrap(),
        people: vec![person("丁一"), person("丁二")],
        headcount: Some(40),
        unit: None,
    }
}

/// What an identification records: the people in clear (sealed later), assessment due at the
/// close of the next working day.
fn identified_from(i: Identify, headcount: u32) -> RiskEventEvent {
    RiskEventEvent::Identified {
        community: i.community,
        grid: i.grid,
        address: i.address,
        title: i.title,
        description: i.description,
        source: i.source,
        category: i.category,
        people: i.people.into_iter().map(Personal::Clear).collect(),
        headcount,
        unit: i.unit,
        assess_by: due(Limit::working_days(1)),
    }
}

fn identified() -> RiskEventEvent {
    identified_from(identify(), 40)
}

fn assess_cmd(level: Level) -> RiskCommand {
    RiskCommand::Assess(Assess {
        level,
        reason: "涉及 40 人，情绪激动".to_owned(),
    })
}

fn assessed(level: Level) -> RiskEventEvent {
    RiskEventEvent::Assessed {
        level,
        reason: "涉及 40 人，情绪激动".to_owned(),
    }
}

fn control() -> Control {
    Control {
        measures: "每日联系，督促企业筹款".to_owned(),
        unit: unit(),
        responsible_person: "王科长".to_owned(),
        leader: "李书记".to_owned(),
    }
}

fn controlled(level: Level) -> RiskEventEvent {
    RiskEventEvent::Controlled {
        measures: "每日联系，督促企业筹款".to_owned(),
        unit: unit(),
        responsible_person: "王科长".to_owned(),
        leader: "李书记".to_owned(),
        review_by: due(review_days(level)),
    }
}

fn review_cmd(level: Option<Level>) -> RiskCommand {
    RiskCommand::Review(Review {
        situation: "企业已筹得部分款项".to_owned(),
        trend: Trend::Eased,
        level,
    })
}

/// The `number`th review, taken at `at`, leaving the risk at `level`.
fn reviewed(number: u32, level: Level, at: Timestamp) -> RiskEventEvent {
    RiskEventEvent::Reviewed {
        number,
        situation: "企业已筹得部分款项".to_owned(),
        trend: Trend::Eased,
        level,
        review_by: POLICY.due(at, review_days(level)),
    }
}

fn strike_off_cmd(evidence: Vec<Evidence>) -> RiskCommand {
    RiskCommand::StrikeOff(StrikeOff {
        basis: "工资已全部发放".to_owned(),
        evidence,
    })
}

fn struck_off() -> RiskEventEvent {
    RiskEventEvent::StruckOff {
        basis: "工资已全部发放".to_owned(),
        evidence: vec![photo()],
    }
}

fn escalate_cmd(to: Option<&str>) -> RiskCommand {
    RiskCommand::Escalate(Escalate {
        reason: "涉及跨区企业".to_owned(),
        to: to.map(str::to_owned),
    })
}

fn escalated(to: &str) -> RiskEventEvent {
    RiskEventEvent::Escalated {
        reason: "涉及跨区企业".to_owned(),
        to: to.to_owned(),
    }
}

fn raise_cmd(case: CaseId) -> RiskCommand {
    RiskCommand::RaiseCase(RaiseCase {
        case,
        note: Some("工人代表来访".to_owned()),
    })
}

fn case_raised(case: CaseId) -> RiskEventEvent {
    RiskEventEvent::CaseRaised {
        case,
        note: Some("工人代表来访".to_owned()),
    }
}

/// The history that puts a risk under control at `level`.
fn under_control(level: Level) -> Vec<RiskEventEvent> {
    vec![identified(), assessed(level), controlled(level)]
}

fn replay(events: &[RiskEventEvent]) -> RiskEvent {
    testing::replay(events).expect("a risk event")
}

type Given = testing::Given<RiskEvent>;

fn given(events: impl IntoIterator<Item = RiskEventEvent>) -> Given {
    testing::given(now(), events)
}

fn not_in_state(state: &'static str, action: Action, allowed: &[&'static str]) -> Refusal {
    testing::not_in_state::<RiskEvent>(state, action, allowed)
}

fn not_for_role(
    state: &'static str,
    action: Action,
    role: Role,
    allowed: &[&'static str],
) -> Refusal {
    testing::not_for_role::<RiskEvent>(state, action, role, allowed)
}

// ---- (none) → identify → identified ----

#[test]
fn a_grid_worker_identifies_a_risk_due_for_assessment_the_next_working_day() {
    given([])
        .when(Role::GridWorker, RiskCommand::Identify(identify()))
        .then([identified()]);
    // Monday 10:00 in Shanghai: assessed by the close of Tuesday, local.
    assert_eq!(
        due(Limit::working_days(1)).to_string(),
        "2025-03-04T16:00:00Z"
    );
}

#[test]
fn petition_officers_handlers_and_supervisors_identify_too_but_not_mediators_or_admins() {
    for role in [Role::PetitionOfficer, Role::Handler, Role::Supervisor] {
        given([])
            .when(role, RiskCommand::Identify(identify()))
            .then([identified()]);
    }
    for role in [Role::Mediator, Role::Admin] {
        given([])
            .when(role, RiskCommand::Identify(identify()))
            .then_refused(not_for_role("not filed", Action::Identify, role, &[]));
    }
}

#[test]
fn a_risk_is_identified_once() {
    given([identified()])
        .when(Role::GridWorker, RiskCommand::Identify(identify()))
        .then_refused(not_in_state(
            "identified",
            Action::Identify,
            &["assess", "raise-case"],
        ));
}

#[test]
fn an_identification_needs_a_title() {
    let mut i = identify();
    i.title = "  ".to_owned();
    given([])
        .when(Role::GridWorker, RiskCommand::Identify(i))
        .then_invalid("title");
}

#[test]
fn the_people_are_recorded_in_clear_with_trimmed_names_and_the_title_trimmed() {
    let mut i = identify();
    i.title = "  欠薪聚集苗头 ".to_owned();
    i.people = vec![
        PersonalDetails {
            name: " 丁一  ".to_owned(),
            id_number: None,
            phone: Some("13800000000".to_owned()),
            address: Some("清河小区 2 号楼".to_owned()),
            email: None,
        },
        person("丁二"),
    ];
    let events = decide(
        None::<&RiskEvent>,
        &RiskCommand::Identify(i),
        &ctx_at(Role::GridWorker, now()),
    )
    .unwrap();
    let [RiskEventEvent::Identified { title, people, .. }] = events.as_slice() else {
        panic!("one Identified event, got {events:?}");
    };
    assert_eq!(title, "欠薪聚集苗头");
    assert_eq!(
        people,
        &[
            Personal::Clear(PersonalDetails {
                name: "丁一".to_owned(),
                id_number: None,
                phone: Some("13800000000".to_owned()),
                address: Some("清河小区 2 号楼".to_owned()),
                email: None,
            }),
            Personal::Clear(person("丁二")),
        ]
    );
    assert_eq!(RiskEvent::persons(&events[0]).len(), 2);
}

#[test]
fn the_headcount_is_at_least_the_people_named_and_defaults_to_them() {
    // Fewer than the two named: refused.
    let mut i = identify();
    i.headcount = Some(1);
    given([])
        .when(Role::GridWorker, RiskCommand::Identify(i.clone()))
        .then_invalid("headcount");
    // Exactly the people named: taken.
    i.headcount = Some(2);
    given([])
        .when(Role::GridWorker, RiskCommand::Identify(i.clone()))
        .then([identified_from(i.clone(), 2)]);
    // None given: the people named.
    i.headcount = None;
    given([])
        .when(Role::GridWorker, RiskCommand::Identify(i.clone()))
        .then([identified_from(i, 2)]);
    // Nobody named: one at least, not none.
    let mut nobody = identify();
    nobody.people.clear();
    nobody.headcount = None;
    given([])
        .when(Role::GridWorker, RiskCommand::Identify(nobody.clone()))
        .then([identified_from(nobody.clone(), 1)]);
    nobody.headcount = Some(0);
    given([])
        .when(Role::GridWorker, RiskCommand::Identify(nobody))
        .then_invalid("headcount");
}

#[test]
fn each_person_named_is_checked_under_people() {
    let with = |f: fn(&mut PersonalDetails)| {
        let mut i = identify();
        f(&mut i.people[1]);
        RiskCommand::Identify(i)
    };
    for bad in [
        with(|p| p.phone = Some("call me".to_owned())),
        with(|p| p.phone = Some("1234".to_owned())),
        with(|p| p.id_number = Some("12345".to_owned())),
        with(|p| p.id_number = Some("1101051980010112Y3".to_owned())),
        with(|p| p.name = "   ".to_owned()),
    ] {
        given([]).when(Role::GridWorker, bad).then_invalid("people");
    }
}

#[test]
fn at_most_200_people_are_named() {
    let mut i = identify();
    i.people = (0..201).map(|n| person(&format!("P{n}"))).collect();
    i.headcount = Some(201);
    given([])
        .when(Role::GridWorker, RiskCommand::Identify(i.clone()))
        .then_invalid("people");
    i.people.pop();
    assert!(
        decide(
            None::<&RiskEvent>,
            &RiskCommand::Identify(i),
            &ctx_at(Role::GridWorker, now())
        )
        .is_ok()
    );
}

#[test]
fn an_identified_risk_waits_for_assessment_and_goes_to_the_unit_named() {
    let mut i = identify();
    i.unit = Some("qinghe-safety".parse().unwrap());
    let event = identified_from(i, 40);
    assert_eq!(
        RiskEvent::assigned_unit(&event),
        Some(&"qinghe-safety".parse().unwrap())
    );
    let r = replay(&[event]);
    assert_eq!(r.status, Status::Identified);
    assert_eq!(r.headcount, 40);
    assert_eq!(r.level, None);
    assert_eq!(r.reviews, 0);
    assert_eq!(r.deadline, Some(due(Limit::working_days(1))));
    assert_eq!(r.current_step(), Some("assess"));
    assert_eq!(r.outcome(), None);
}

#[test]
fn a_handlers_identification_without_a_unit_goes_to_his_own() {
    let own: UnitId = "qinghe-labour".parse().unwrap();
    let mut command = RiskCommand::Identify(identify());
    RiskEvent::route_to_own_unit(&mut command, Role::GridWorker, &own);
    assert_eq!(command, RiskCommand::Identify(identify()));
    RiskEvent::route_to_own_unit(&mut command, Role::Handler, &own);
    let RiskCommand::Identify(i) = &command else {
        unreachable!()
    };
    assert_eq!(i.unit, Some(own));
}

// ---- identified → assess → assessed ----

#[test]
fn a_handler_assesses_the_level_of_an_identified_risk() {
    for level in [Level::Major, Level::Large, Level::General] {
        given([identified()])
            .when(Role::Handler, assess_cmd(level))
            .then([assessed(level)]);
    }
    given([identified()])
        .when(Role::Supervisor, assess_cmd(Level::Large))
        .then([assessed(Level::Large)]);
}

#[test]
fn an_assessed_risk_has_its_level_and_no_deadline_until_it_is_controlled() {
    let r = replay(&[identified(), assessed(Level::Large)]);
    assert_eq!(r.status, Status::Assessed);
    assert_eq!(r.level, Some(Level::Large));
    assert_eq!(r.severity(), Some("large"));
    assert_eq!(r.deadline, None);
    assert_eq!(r.current_step(), None);
}

#[test]
fn grid_workers_petition_officers_and_mediators_do_not_assess() {
    for (role, allowed) in [
        (Role::GridWorker, &[][..]),
        (Role::PetitionOfficer, &["raise-case"][..]),
        (Role::Mediator, &["raise-case"][..]),
        (Role::Admin, &[][..]),
    ] {
        given([identified()])
            .when(role, assess_cmd(Level::Major))
            .then_refused(not_for_role("identified", Action::Assess, role, allowed));
    }
}

#[test]
fn a_risk_is_assessed_once() {
    given([identified(), assessed(Level::Major)])
        .when(Role::Handler, assess_cmd(Level::General))
        .then_refused(not_in_state(
            "assessed",
            Action::Assess,
            &["control", "escalate", "raise-case"],
        ));
}

#[test]
fn an_assessment_gives_its_reason() {
    given([identified()])
        .when(
            Role::Handler,
            RiskCommand::Assess(Assess {
                level: Level::Major,
                reason: " \n".to_owned(),
            }),
        )
        .then_invalid("reason");
}

// ---- assessed → control → under-control ----

#[test]
fn a_supervisor_controls_the_risk_and_the_first_review_follows_its_level() {
    for level in [Level::Major, Level::Large, Level::General] {
        given([identified(), assessed(level)])
            .when(Role::Supervisor, RiskCommand::Control(control()))
            .then([controlled(level)]);
    }
    // 7 days from Monday 3 March is Monday 10 March: closes at midnight, local.
    let RiskEventEvent::Controlled { review_by, .. } = controlled(Level::Major) else {
        unreachable!()
    };
    assert_eq!(review_by.to_string(), "2025-03-10T16:00:00Z");
}

#[test]
fn control_trims_who_carries_it_out_and_names_the_responsible_unit() {
    let mut c = control();
    c.responsible_person = " 王科长 ".to_owned();
    c.leader = "李书记\n".to_owned();
    given([identified(), assessed(Level::Major)])
        .when(Role::Supervisor, RiskCommand::Control(c))
        .then([controlled(Level::Major)]);
    assert_eq!(
        RiskEvent::assigned_unit(&controlled(Level::Major)),
        Some(&unit())
    );
    let r = replay(&under_control(Level::Major));
    assert_eq!(r.status, Status::UnderControl);
    assert_eq!(r.measures.as_deref(), Some("每日联系，督促企业筹款"));
    assert_eq!(r.responsible_person.as_deref(), Some("王科长"));
    assert_eq!(r.leader.as_deref(), Some("李书记"));
    assert_eq!(r.deadline, Some(due(Limit::days(7))));
    assert_eq!(r.current_step(), Some("review"));
}

#[test]
fn only_a_supervisor_controls() {
    for (role, allowed) in [
        (Role::Handler, &[][..]),
        (Role::GridWorker, &[][..]),
        (Role::PetitionOfficer, &["raise-case"][..]),
    ] {
        given([identified(), assessed(Level::Major)])
            .when(role, RiskCommand::Control(control()))
            .then_refused(not_for_role("assessed", Action::Control, role, allowed));
    }
}

#[test]
fn a_risk_is_assessed_before_it_is_controlled() {
    given([identified()])
        .when(Role::Supervisor, RiskCommand::Control(control()))
        .then_refused(not_in_state(
            "identified",
            Action::Control,
            &["assess", "raise-case"],
        ));
    given(under_control(Level::Major))
        .when(Role::Supervisor, RiskCommand::Control(control()))
        .then_refused(not_in_state(
            "under-control",
            Action::Control,
            &["review", "strike-off", "escalate", "raise-case"],
        ));
}

#[test]
fn control_names_measures_a_responsible_person_and_a_leader() {
    let with = |f: fn(&mut Control)| {
        let mut c = control();
        f(&mut c);
        RiskCommand::Control(c)
    };
    for (bad, field) in [
        (with(|c| c.measures = " ".to_owned()), "measures"),
        (
            with(|c| c.responsible_person = String::new()),
            "responsible_person",
        ),
        (with(|c| c.leader = "\t".to_owned()), "leader"),
        (with(|c| c.leader = "李".repeat(501)), "leader"),
    ] {
        given([identified(), assessed(Level::Major)])
            .when(Role::Supervisor, bad)
            .then_invalid(field);
    }
}

// ---- under-control → review → (unchanged) ----

#[test]
fn a_review_keeps_the_level_and_sets_the_next_review_by_it() {
    // Saturday 8 March: 7 days end on Saturday 15 March, moved to Monday 17 March.
    for level in [Level::Major, Level::Large, Level::General] {
        given(under_control(level))
            .when_at(day(5), Role::Handler, review_cmd(None))
            .then([reviewed(1, level, day(5))]);
    }
    let RiskEventEvent::Reviewed { review_by, .. } = reviewed(1, Level::Major, day(5)) else {
        unreachable!()
    };
    assert_eq!(review_by.to_string(), "2025-03-17T16:00:00Z");
}

#[test]
fn a_review_may_change_the_level_and_the_next_review_follows_the_new_one() {
    given(under_control(Level::Major))
        .when_at(day(6), Role::Supervisor, review_cmd(Some(Level::General)))
        .then([reviewed(1, Level::General, day(6))]);
    given(under_control(Level::General))
        .when_at(day(6), Role::Handler, review_cmd(Some(Level::Major)))
        .then([reviewed(1, Level::Major, day(6))]);
    // The changed level holds for the reviews after it.
    let mut history = under_control(Level::Major);
    history.push(reviewed(1, Level::Large, day(6)));
    let r = replay(&history);
    assert_eq!(r.level, Some(Level::Large));
    assert_eq!(r.severity(), Some("large"));
    assert_eq!(r.deadline, Some(POLICY.due(day(6), Limit::days(15))));
    given(history)
        .when_at(day(20), Role::Handler, review_cmd(None))
        .then([reviewed(2, Level::Large, day(20))]);
}

#[test]
fn reviews_are_numbered_in_turn_and_keep_the_risk_under_control() {
    let mut history = under_control(Level::Major);
    for n in 1..=3 {
        let at = day(i64::from(n) * 7);
        given(history.clone())
            .when_at(at, Role::Handler, review_cmd(None))
            .then([reviewed(n, Level::Major, at)]);
        history.push(reviewed(n, Level::Major, at));
        let r = replay(&history);
        assert_eq!(r.status, Status::UnderControl);
        assert_eq!(r.reviews, n);
        assert_eq!(r.last_trend, Some(Trend::Eased));
        assert_eq!(r.deadline, Some(POLICY.due(at, Limit::days(7))));
        assert_eq!(r.current_step(), Some("review"));
    }
}

#[test]
fn a_review_describes_the_situation() {
    given(under_control(Level::Major))
        .when(
            Role::Handler,
            RiskCommand::Review(Review {
                situation: String::new(),
                trend: Trend::Grew,
                level: None,
            }),
        )
        .then_invalid("situation");
}

#[test]
fn grid_workers_and_petition_officers_do_not_review() {
    for (role, allowed) in [
        (Role::GridWorker, &[][..]),
        (Role::PetitionOfficer, &["raise-case"][..]),
        (Role::Mediator, &["raise-case"][..]),
    ] {
        given(under_control(Level::Major))
            .when(role, review_cmd(None))
            .then_refused(not_for_role("under-control", Action::Review, role, allowed));
    }
}

#[test]
fn only_a_risk_under_control_is_reviewed() {
    given([identified(), assessed(Level::Major)])
        .when(Role::Handler, review_cmd(None))
        .then_refused(not_in_state(
            "assessed",
            Action::Review,
            &["control", "escalate", "raise-case"],
        ));
    let mut struck = under_control(Level::Major);
    struck.push(struck_off());
    given(struck)
        .when(Role::Handler, review_cmd(None))
        .then_refused(not_in_state("struck-off", Action::Review, &[]));
}

// ---- under-control → strike-off → struck-off ----

#[test]
fn a_supervisor_strikes_off_a_risk_with_evidence_and_it_is_resolved() {
    given(under_control(Level::Major))
        .when(Role::Supervisor, strike_off_cmd(vec![photo()]))
        .then([struck_off()]);
    let mut history = under_control(Level::Major);
    history.push(struck_off());
    let r = replay(&history);
    assert_eq!(r.status, Status::StruckOff);
    assert!(r.status.is_end());
    assert_eq!(r.deadline, None);
    assert_eq!(r.current_step(), None);
    assert_eq!(r.outcome(), Some(Outcome::Resolved));
    for role in Role::ALL {
        assert!(allowed_actions(Some(&r), role, now()).is_empty(), "{role}");
    }
}

#[test]
fn striking_off_needs_at_least_one_evidence_item_and_a_basis() {
    given(under_control(Level::Major))
        .when(Role::Supervisor, strike_off_cmd(vec![]))
        .then_invalid("evidence");
    let mut bad = photo();
    bad.content_hash = "sha256:XYZ".to_owned();
    given(under_control(Level::Major))
        .when(Role::Supervisor, strike_off_cmd(vec![bad]))
        .then_invalid("evidence.content_hash");
    given(under_control(Level::Major))
        .when(
            Role::Supervisor,
            RiskCommand::StrikeOff(StrikeOff {
                basis: "  ".to_owned(),
                evidence: vec![photo()],
            }),
        )
        .then_invalid("basis");
}

#[test]
fn only_a_supervisor_strikes_off() {
    for (role, allowed) in [
        (Role::Handler, &["review"][..]),
        (Role::PetitionOfficer, &["raise-case"][..]),
        (Role::GridWorker, &[][..]),
    ] {
        given(under_control(Level::Major))
            .when(role, strike_off_cmd(vec![photo()]))
            .then_refused(not_for_role(
                "under-control",
                Action::StrikeOff,
                role,
                allowed,
            ));
    }
}

#[test]
fn a_risk_is_controlled_before_it_is_struck_off() {
    given([identified(), assessed(Level::General)])
        .when(Role::Supervisor, strike_off_cmd(vec![photo()]))
        .then_refused(not_in_state(
            "assessed",
            Action::StrikeOff,
            &["control", "escalate", "raise-case"],
        ));
}

// ---- assessed, under-control → escalate → escalated ----

#[test]
fn a_supervisor_escalates_to_the_district_by_default_and_it_is_not_resolved() {
    given([identified(), assessed(Level::Major)])
        .when(Role::Supervisor, escalate_cmd(None))
        .then([escalated("区")]);
    given(under_control(Level::Major))
        .when(Role::Supervisor, escalate_cmd(Some("  ")))
        .then([escalated("区")]);
    given(under_control(Level::Major))
        .when(Role::Supervisor, escalate_cmd(Some(" 区信访办 ")))
        .then([escalated("区信访办")]);
    let mut history = under_control(Level::Major);
    history.push(escalated("区信访办"));
    let r = replay(&history);
    assert_eq!(r.status, Status::Escalated);
    assert_eq!(r.escalated_to.as_deref(), Some("区信访办"));
    assert_eq!(r.deadline, None);
    assert_eq!(r.current_step(), None);
    assert_eq!(r.outcome(), Some(Outcome::NotResolved));
    for role in Role::ALL {
        assert!(allowed_actions(Some(&r), role, now()).is_empty(), "{role}");
    }
}

#[test]
fn an_escalation_gives_its_reason() {
    given(under_control(Level::Major))
        .when(
            Role::Supervisor,
            RiskCommand::Escalate(Escalate {
                reason: String::new(),
                to: None,
            }),
        )
        .then_invalid("reason");
    given(under_control(Level::Major))
        .when(Role::Supervisor, escalate_cmd(Some(&"区".repeat(501))))
        .then_invalid("to");
}

#[test]
fn only_a_supervisor_escalates() {
    given([identified(), assessed(Level::Major)])
        .when(Role::Handler, escalate_cmd(None))
        .then_refused(not_for_role(
            "assessed",
            Action::Escalate,
            Role::Handler,
            &[],
        ));
    given(under_control(Level::Major))
        .when(Role::Handler, escalate_cmd(None))
        .then_refused(not_for_role(
            "under-control",
            Action::Escalate,
            Role::Handler,
            &["review"],
        ));
}

#[test]
fn an_identified_risk_is_assessed_before_it_is_escalated() {
    given([identified()])
        .when(Role::Supervisor, escalate_cmd(None))
        .then_refused(not_in_state(
            "identified",
            Action::Escalate,
            &["assess", "raise-case"],
        ));
    let mut history = under_control(Level::Major);
    history.push(escalated("区"));
    given(history)
        .when(Role::Supervisor, escalate_cmd(None))
        .then_refused(not_in_state("escalated", Action::Escalate, &[]));
}

// ---- identified, assessed, under-control → raise-case → (unchanged) ----

#[test]
fn a_case_arising_from_the_risk_is_linked_while_the_risk_is_open() {
    let case = CaseId::new();
    let histories = [
        vec![identified()],
        vec![identified(), assessed(Level::Large)],
        under_control(Level::Large),
    ];
    for history in histories {
        for role in [Role::PetitionOfficer, Role::Mediator, Role::Supervisor] {
            given(history.clone())
                .when(role, raise_cmd(case))
                .then([case_raised(case)]);
        }
        let status = replay(&history).status;
        let mut after = history.clone();
        after.push(case_raised(case));
        let r = replay(&after);
        assert_eq!(r.status, status);
        assert_eq!(r.raised, vec![case]);
    }
    assert_eq!(RiskEvent::linked_case(&case_raised(case)), Some(case));
    assert_eq!(
        RiskEvent::names_case(&raise_cmd(case)),
        Some((
            case,
            "case",
            CaseReference::ArisenFrom(&["petition", "dispute"])
        ))
    );
}

#[test]
fn a_risk_does_not_arise_from_itself() {
    let own = CaseId::new();
    let ctx = Context::new(Role::PetitionOfficer, now(), own, &POLICY);
    let risk = replay(&[identified()]);
    match decide(Some(&risk), &raise_cmd(own), &ctx) {
        Err(Refusal::InvalidField { field, reason }) => {
            assert_eq!(field, "case");
            assert_eq!(reason, "a risk event does not arise from itself");
        }
        other => panic!("expected the case refused, got {other:?}"),
    }
    // Any other case is linked.
    let other = CaseId::new();
    assert_eq!(
        decide(Some(&risk), &raise_cmd(other), &ctx),
        Ok(vec![case_raised(other)])
    );
}

#[test]
fn a_case_is_linked_once() {
    let first = CaseId::new();
    let second = CaseId::new();
    given([identified(), case_raised(first)])
        .when(Role::Supervisor, raise_cmd(first))
        .then_invalid("case");
    given([identified(), case_raised(first)])
        .when(Role::Supervisor, raise_cmd(second))
        .then([case_raised(second)]);
    let r = replay(&[identified(), case_raised(first), case_raised(second)]);
    assert_eq!(r.raised, vec![first, second]);
}

#[test]
fn a_note_on_a_raised_case_is_at_most_10000_characters() {
    given([identified()])
        .when(
            Role::Supervisor,
            RiskCommand::RaiseCase(RaiseCase {
                case: CaseId::new(),
                note: Some("x".repeat(10_001)),
            }),
        )
        .then_invalid("note");
}

#[test]
fn handlers_and_grid_workers_do_not_raise_cases() {
    given([identified()])
        .when(Role::Handler, raise_cmd(CaseId::new()))
        .then_refused(not_for_role(
            "identified",
            Action::RaiseCase,
            Role::Handler,
            &["assess"],
        ));
    given(under_control(Level::Major))
        .when(Role::GridWorker, raise_cmd(CaseId::new()))
        .then_refused(not_for_role(
            "under-control",
            Action::RaiseCase,
            Role::GridWorker,
            &[],
        ));
}

#[test]
fn no_case_is_raised_from_a_risk_that_has_ended() {
    let mut struck = under_control(Level::Major);
    struck.push(struck_off());
    given(struck)
        .when(Role::Supervisor, raise_cmd(CaseId::new()))
        .then_refused(not_in_state("struck-off", Action::RaiseCase, &[]));
    let mut up = under_control(Level::Major);
    up.push(escalated("区"));
    given(up)
        .when(Role::PetitionOfficer, raise_cmd(CaseId::new()))
        .then_refused(not_in_state("escalated", Action::RaiseCase, &[]));
    given([])
        .when(Role::PetitionOfficer, raise_cmd(CaseId::new()))
        .then_refused(not_in_state("not filed", Action::RaiseCase, &["identify"]));
}

// ---- the whole table, written out independently of TABLE ----

/// What each state allows, per role, as the domain brief's table reads, in table order.
fn expected_allowed(status: Option<Status>, role: Role) -> Vec<&'static str> {
    use Role::*;
    let raisers: &[Role] = &[PetitionOfficer, Mediator, Supervisor];
    let rows: Vec<(&str, &[Role])> = match status {
        None => vec![(
            "identify",
            &[GridWorker, PetitionOfficer, Handler, Supervisor],
        )],
        Some(Status::Identified) => {
            vec![("assess", &[Handler, Supervisor]), ("raise-case", raisers)]
        }
        Some(Status::Assessed) => vec![
            ("control", &[Supervisor]),
            ("escalate", &[Supervisor]),
            ("raise-case", raisers),
        ],
        Some(Status::UnderControl) => vec![
            ("review", &[Handler, Supervisor]),
            ("strike-off", &[Supervisor]),
            ("escalate", &[Supervisor]),
            ("raise-case", raisers),
        ],
        Some(Status::StruckOff | Status::Escalated | Status::Duplicate) => vec![],
    };
    rows.iter()
        .filter(|(_, who)| who.contains(&role))
        .map(|(a, _)| *a)
        .collect()
}

const STATUSES: [Status; 6] = [
    Status::Identified,
    Status::Assessed,
    Status::UnderControl,
    Status::StruckOff,
    Status::Escalated,
    Status::Duplicate,
];

fn risk_in(status: Status) -> RiskEvent {
    let mut r = replay(&[identified()]);
    r.status = status;
    r
}

#[test]
fn allowed_actions_match_the_table_for_every_state_and_role() {
    for status in std::iter::once(None).chain(STATUSES.map(Some)) {
        let risk = status.map(risk_in);
        let mut everyone: Vec<_> = Role::ALL
            .iter()
            .flat_map(|r| expected_allowed(status, *r))
            .collect();
        everyone.sort_unstable();
        everyone.dedup();
        for role in Role::ALL {
            let expected = expected_allowed(status, role);
            assert_eq!(
                allowed_actions(risk.as_ref(), role, now()),
                expected,
                "{status:?} / {role}"
            );
            for action in Action::ALL {
                match authorize(risk.as_ref(), action, role, now()) {
                    Ok(row) => {
                        assert!(expected.contains(&action.as_str()));
                        assert_eq!(row.action, action);
                    }
                    Err(Refusal::NotAllowedInState {
                        allowed, reason, ..
                    }) => {
                        assert!(!everyone.contains(&action.as_str()));
                        let mut allowed = allowed;
                        allowed.sort_unstable();
                        assert_eq!(allowed, everyone);
                        assert_eq!(reason, None);
                    }
                    Err(Refusal::RoleNotPermitted { allowed, .. }) => {
                        assert!(everyone.contains(&action.as_str()));
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
fn refusals_name_the_state_and_the_allowed_actions() {
    let r = risk_in(Status::Assessed);
    let refusal = authorize(Some(&r), Action::Review, Role::Handler, now()).unwrap_err();
    assert_eq!(
        refusal.to_string(),
        "risk_event is assessed: review is not allowed; allowed here: control, escalate, raise-case"
    );
}

// ---- hooks ----

#[test]
fn each_state_names_its_step_deadline_and_outcome() {
    let history = [
        identified(),
        assessed(Level::Major),
        controlled(Level::Major),
        reviewed(1, Level::Major, day(7)),
        struck_off(),
    ];
    let expected = [
        (Some("assess"), Some(due(Limit::working_days(1))), None),
        (None, None, None),
        (Some("review"), Some(due(Limit::days(7))), None),
        (
            Some("review"),
            Some(POLICY.due(day(7), Limit::days(7))),
            None,
        ),
        (None, None, Some(Outcome::Resolved)),
    ];
    for (n, (step, deadline, outcome)) in expected.into_iter().enumerate() {
        let r = replay(&history[..=n]);
        assert_eq!(r.current_step(), step, "after {n} events");
        assert_eq!(Kind::deadline(&r), deadline, "after {n} events");
        assert_eq!(r.outcome(), outcome, "after {n} events");
    }
}

#[test]
fn a_risk_marked_duplicate_ends_as_a_duplicate() {
    let mut r = replay(&under_control(Level::General));
    r.marked_duplicate();
    assert_eq!(r.status, Status::Duplicate);
    assert_eq!(r.deadline, None);
    assert_eq!(r.current_step(), None);
    assert_eq!(r.outcome(), Some(Outcome::Duplicate));
}

#[test]
fn a_risks_deadlines_are_not_extended_and_a_risk_is_not_reopened() {
    let r = replay(&under_control(Level::Major));
    assert!(r.extendable().is_err());
    assert!(r.reopenable().is_err());
    assert_eq!(RiskEvent::extension_rule(&POLICY).times, 0);
}

#[test]
fn evolve_refuses_what_cannot_be_replayed() {
    assert!(evolve(None, &assessed(Level::Major)).is_err());
    let r = evolve(None, &identified()).unwrap();
    assert!(evolve(Some(r), &identified()).is_err());
}
