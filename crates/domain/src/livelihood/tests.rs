//! The livelihood request table, row by row: given these events, when this command, then these
//! events or this refusal.

use jiff::{SignedDuration, Timestamp};

use super::*;
use crate::CaseId;
use crate::deadlines::{ByUrgency, Limit, LivelihoodLimits};
use crate::testing::{self, POLICY, allowed_actions, ctx_at, decide};

/// Monday 3 March 2025, 10:00 in Shanghai.
fn now() -> Timestamp {
    "2025-03-03T02:00:00Z".parse().unwrap()
}

fn day(n: i64) -> Timestamp {
    now() + SignedDuration::from_hours(24 * n)
}

fn second() -> SignedDuration {
    SignedDuration::from_secs(1)
}

/// The handling limit the domain brief gives each urgency, written out apart from the policy.
fn handle_limit(urgency: Urgency) -> TimeLimit {
    match urgency {
        Urgency::Emergency => TimeLimit::hours(2),
        Urgency::Utility => TimeLimit::hours(24),
        Urgency::General => TimeLimit::Days(Limit::days(7)),
        Urgency::Complex => TimeLimit::Days(Limit::days(15)),
    }
}

/// The check-in limit the domain brief gives each urgency.
fn check_in_limit(urgency: Urgency) -> TimeLimit {
    match urgency {
        Urgency::Emergency => TimeLimit::Minutes(30),
        Urgency::Utility => TimeLimit::hours(2),
        Urgency::General | Urgency::Complex => TimeLimit::Days(Limit::working_days(1)),
    }
}

/// A general request dispatched now: each unit checks in by the close of Tuesday 4 March …
fn check_in_by() -> Timestamp {
    POLICY.due_within(now(), TimeLimit::Days(Limit::working_days(1)))
}

/// … and may return its dispatch until the close of Wednesday 5 March.
fn return_by() -> Timestamp {
    POLICY.due(now(), Limit::working_days(2))
}

/// Replied now, the resident rates until the close of Thursday 6 March.
fn rate_by() -> Timestamp {
    POLICY.due(now(), Limit::days(3))
}

fn market() -> UnitId {
    "qinghe-market".parse().unwrap()
}

fn property() -> UnitId {
    "qinghe-property".parse().unwrap()
}

fn safety() -> UnitId {
    "qinghe-safety".parse().unwrap()
}

fn requester() -> PersonalDetails {
    PersonalDetails {
        name: "王五".to_owned(),
        id_number: None,
        phone: Some("13800000000".to_owned()),
        address: Some("清河小区 5 号楼".to_owned()),
        email: None,
    }
}

fn receive(urgency: Urgency) -> Receive {
    Receive {
        community: "qinghe".parse().unwrap(),
        grid: Some("qinghe-03".parse().unwrap()),
        address: Some("清河市场东门".to_owned()),
        location: None,
        title: "市场门口积水".to_owned(),
        description: "雨后积水没过脚踝，行人无法通行".to_owned(),
        channel: Channel::Hotline,
        hotline_order: Some("12345-2025-0001".to_owned()),
        category: "environment".parse().unwrap(),
        urgency,
        requester: Some(requester()),
        media_url: None,
    }
}

/// What receiving `r` at `at` records: the reply due by the handling limit of its urgency.
fn received_from(r: Receive, at: Timestamp) -> LivelihoodEvent {
    LivelihoodEvent::Received {
        community: r.community,
        grid: r.grid,
        address: r.address,
        location: r.location,
        title: r.title,
        description: r.description,
        channel: r.channel,
        hotline_order: r.hotline_order,
        category: r.category,
        urgency: r.urgency,
        requester: r.requester.map(Personal::Clear),
        media_url: None,
        handle_by: POLICY.due_within(at, handle_limit(r.urgency)),
    }
}

fn received(urgency: Urgency) -> LivelihoodEvent {
    received_from(receive(urgency), now())
}

fn dispatch_cmd(lead: UnitId, co_handlers: Vec<UnitId>) -> LivelihoodCommand {
    LivelihoodCommand::Dispatch(Dispatch {
        lead,
        co_handlers,
        note: None,
    })
}

fn dispatched_at(
    urgency: Urgency,
    at: Timestamp,
    lead: UnitId,
    co_handlers: Vec<UnitId>,
) -> LivelihoodEvent {
    LivelihoodEvent::Dispatched {
        round: 1,
        lead,
        co_handlers,
        at,
        check_in_by: POLICY.due_within(at, check_in_limit(urgency)),
        return_by: POLICY.due(at, Limit::working_days(2)),
        note: None,
    }
}

/// A general request dispatched now to the market office, the property company co-handling.
fn dispatched() -> LivelihoodEvent {
    dispatched_at(Urgency::General, now(), market(), vec![property()])
}

fn check_in_cmd(unit: Option<UnitId>) -> LivelihoodCommand {
    LivelihoodCommand::CheckIn(CheckIn { unit, note: None })
}

/// A check-in now.
fn checked_in(unit: UnitId, late: bool) -> LivelihoodEvent {
    checked_in_at(now(), unit, late)
}

fn checked_in_at(at: Timestamp, unit: UnitId, late: bool) -> LivelihoodEvent {
    LivelihoodEvent::CheckedIn { unit, late, at }
}

fn return_cmd(unit: Option<UnitId>) -> LivelihoodCommand {
    LivelihoodCommand::ReturnDispatch(ReturnDispatch {
        unit,
        reason: "非本单位职责".to_owned(),
    })
}

/// A dispatch returned now.
fn returned(unit: UnitId) -> LivelihoodEvent {
    returned_at(now(), unit)
}

fn returned_at(at: Timestamp, unit: UnitId) -> LivelihoodEvent {
    LivelihoodEvent::DispatchReturned {
        unit,
        reason: "非本单位职责".to_owned(),
        at,
    }
}

fn redispatch_cmd(lead: UnitId, co_handlers: Vec<UnitId>) -> LivelihoodCommand {
    LivelihoodCommand::Redispatch(Redispatch {
        lead,
        co_handlers,
        reason: "改派安全办".to_owned(),
    })
}

/// A redispatch of a general request at `at`.
fn redispatched_at(at: Timestamp, lead: UnitId, co_handlers: Vec<UnitId>) -> LivelihoodEvent {
    LivelihoodEvent::Redispatched {
        lead,
        co_handlers,
        at,
        check_in_by: POLICY.due_within(at, check_in_limit(Urgency::General)),
        return_by: POLICY.due(at, Limit::working_days(2)),
        reason: "改派安全办".to_owned(),
    }
}

fn missed(unit: UnitId) -> LivelihoodEvent {
    LivelihoodEvent::CheckInMissed {
        unit,
        due: check_in_by(),
    }
}

fn reply_cmd(result: ReplyResult) -> LivelihoodCommand {
    LivelihoodCommand::Reply(Reply {
        result,
        text: "已疏通排水口".to_owned(),
    })
}

/// A reply now.
fn replied(result: ReplyResult) -> LivelihoodEvent {
    LivelihoodEvent::Replied {
        result,
        text: "已疏通排水口".to_owned(),
        at: now(),
        rate_by: rate_by(),
    }
}

fn rate_cmd(rating: Satisfaction) -> LivelihoodCommand {
    LivelihoodCommand::Rate(Rate { rating, note: None })
}

fn rated(rating: Satisfaction) -> LivelihoodEvent {
    LivelihoodEvent::Rated { rating, note: None }
}

fn close_unrated_cmd() -> LivelihoodCommand {
    LivelihoodCommand::CloseUnrated(CloseUnrated {
        note: Some("三日未评价".to_owned()),
    })
}

fn redo_cmd(lead: UnitId, co_handlers: Vec<UnitId>) -> LivelihoodCommand {
    LivelihoodCommand::Redo(Redo {
        lead,
        co_handlers,
        reason: "仍有积水".to_owned(),
    })
}

/// A redo of a request of `urgency` at `at`, into `round`.
fn redone_at(
    urgency: Urgency,
    at: Timestamp,
    round: u32,
    lead: UnitId,
    co_handlers: Vec<UnitId>,
) -> LivelihoodEvent {
    LivelihoodEvent::Redone {
        round,
        lead,
        co_handlers,
        at,
        check_in_by: POLICY.due_within(at, check_in_limit(urgency)),
        return_by: POLICY.due(at, Limit::working_days(2)),
        reason: "仍有积水".to_owned(),
        handle_by: POLICY.due_within(at, handle_limit(urgency)),
    }
}

/// Received and dispatched now, nobody checked in.
fn out() -> Vec<LivelihoodEvent> {
    vec![received(Urgency::General), dispatched()]
}

/// … and the lead checked in, on time; the co-handler has not.
fn in_progress() -> Vec<LivelihoodEvent> {
    let mut h = out();
    h.push(checked_in(market(), false));
    h
}

/// … and both checked in.
fn all_checked_in() -> Vec<LivelihoodEvent> {
    let mut h = in_progress();
    h.push(checked_in(property(), false));
    h
}

/// … and replied to with `result`.
fn replied_with(result: ReplyResult) -> Vec<LivelihoodEvent> {
    let mut h = all_checked_in();
    h.push(replied(result));
    h
}

/// … and rated.
fn closed_with(rating: Satisfaction) -> Vec<LivelihoodEvent> {
    let mut h = replied_with(ReplyResult::Resolved);
    h.push(rated(rating));
    h
}

fn replay(events: &[LivelihoodEvent]) -> LivelihoodRequest {
    testing::replay(events).expect("a request")
}

/// Decides `command` as a handler of `unit` (a context as the token gives it).
fn as_handler_of(
    unit: &UnitId,
    history: &[LivelihoodEvent],
    at: Timestamp,
    command: LivelihoodCommand,
) -> Result<Vec<LivelihoodEvent>, Refusal> {
    let request = replay(history);
    decide(
        Some(&request),
        &command,
        &ctx_at(Role::Handler, at).of_unit(Some(unit)),
    )
}

#[track_caller]
fn assert_invalid(verdict: Result<Vec<LivelihoodEvent>, Refusal>, field: &'static str) {
    testing::Then::<LivelihoodRequest>(verdict).then_invalid(field);
}

type Given = testing::Given<LivelihoodRequest>;

fn given(events: impl IntoIterator<Item = LivelihoodEvent>) -> Given {
    testing::given(now(), events)
}

fn not_in_state(state: &'static str, action: Action, allowed: &[&'static str]) -> Refusal {
    testing::not_in_state::<LivelihoodRequest>(state, action, allowed)
}

/// The refusal of a guarded row whose guard does not hold.
fn guarded(
    state: &'static str,
    action: Action,
    allowed: &[&'static str],
    reason: &'static str,
) -> Refusal {
    Refusal::NotAllowedInState {
        kind: "livelihood",
        state,
        action: action.as_str().to_owned(),
        allowed: allowed.to_vec(),
        reason: Some(reason),
    }
}

fn not_for_role(
    state: &'static str,
    action: Action,
    role: Role,
    allowed: &[&'static str],
) -> Refusal {
    testing::not_for_role::<LivelihoodRequest>(state, action, role, allowed)
}

// ---- (none) → receive → received ----

#[test]
fn a_petition_officer_receives_a_request_due_by_the_handling_limit_of_its_urgency() {
    for urgency in [
        Urgency::Emergency,
        Urgency::Utility,
        Urgency::General,
        Urgency::Complex,
    ] {
        given([])
            .when(
                Role::PetitionOfficer,
                LivelihoodCommand::Receive(receive(urgency)),
            )
            .then([received(urgency)]);
    }
    // 2 hours, 24 hours, 7 days (Monday 10 March), 15 days (Tuesday 18 March), local.
    let handle_by = |urgency| match received(urgency) {
        LivelihoodEvent::Received { handle_by, .. } => handle_by.to_string(),
        _ => unreachable!(),
    };
    assert_eq!(handle_by(Urgency::Emergency), "2025-03-03T04:00:00Z");
    assert_eq!(handle_by(Urgency::Utility), "2025-03-04T02:00:00Z");
    assert_eq!(handle_by(Urgency::General), "2025-03-10T16:00:00Z");
    assert_eq!(handle_by(Urgency::Complex), "2025-03-18T16:00:00Z");
}

#[test]
fn grid_workers_and_supervisors_receive_too_but_not_handlers_mediators_or_admins() {
    for role in [Role::GridWorker, Role::Supervisor] {
        given([])
            .when(role, LivelihoodCommand::Receive(receive(Urgency::General)))
            .then([received(Urgency::General)]);
    }
    for role in [Role::Handler, Role::Mediator, Role::Admin] {
        given([])
            .when(role, LivelihoodCommand::Receive(receive(Urgency::General)))
            .then_refused(not_for_role("not filed", Action::Receive, role, &[]));
    }
}

#[test]
fn a_request_is_received_once() {
    given([received(Urgency::General)])
        .when(
            Role::PetitionOfficer,
            LivelihoodCommand::Receive(receive(Urgency::General)),
        )
        .then_refused(not_in_state("received", Action::Receive, &["dispatch"]));
}

#[test]
fn a_hotline_request_gives_its_order_number_trimmed() {
    let mut r = receive(Urgency::General);
    r.hotline_order = None;
    given([])
        .when(Role::PetitionOfficer, LivelihoodCommand::Receive(r.clone()))
        .then_invalid("hotline_order");
    r.hotline_order = Some("   ".to_owned());
    given([])
        .when(Role::PetitionOfficer, LivelihoodCommand::Receive(r.clone()))
        .then_invalid("hotline_order");
    r.hotline_order = Some("1".repeat(65));
    given([])
        .when(Role::PetitionOfficer, LivelihoodCommand::Receive(r.clone()))
        .then_invalid("hotline_order");
    r.hotline_order = Some(" 12345-2025-0001 ".to_owned());
    given([])
        .when(Role::PetitionOfficer, LivelihoodCommand::Receive(r))
        .then([received(Urgency::General)]);
}

#[test]
fn other_channels_need_no_order_number() {
    for channel in [
        Channel::GridWorker,
        Channel::WalkIn,
        Channel::GridMeeting,
        Channel::ResidentApp,
    ] {
        let mut r = receive(Urgency::General);
        r.channel = channel;
        r.hotline_order = None;
        given([])
            .when(Role::GridWorker, LivelihoodCommand::Receive(r.clone()))
            .then([received_from(r, now())]);
    }
}

#[test]
fn a_request_needs_a_title_a_valid_requester_and_location() {
    let with = |f: fn(&mut Receive)| {
        let mut r = receive(Urgency::General);
        f(&mut r);
        LivelihoodCommand::Receive(r)
    };
    for (bad, field) in [
        (with(|r| r.title = " ".to_owned()), "title"),
        (with(|r| r.title = "积".repeat(201)), "title"),
        (with(|r| r.address = Some("路".repeat(501))), "address"),
        (
            with(|r| r.requester.as_mut().unwrap().phone = Some("call me".to_owned())),
            "requester",
        ),
        (
            with(|r| r.requester.as_mut().unwrap().id_number = Some("123".to_owned())),
            "requester",
        ),
        (
            with(|r| r.requester.as_mut().unwrap().name = "  ".to_owned()),
            "requester",
        ),
        (
            with(|r| {
                r.location = Some(Location {
                    latitude: 91.0,
                    longitude: 116.3,
                });
            }),
            "location.latitude",
        ),
    ] {
        given([])
            .when(Role::PetitionOfficer, bad)
            .then_invalid(field);
    }
}

#[test]
fn the_requester_is_recorded_in_clear_with_a_trimmed_name_and_the_title_trimmed() {
    let mut r = receive(Urgency::General);
    r.title = " 市场门口积水  ".to_owned();
    r.requester.as_mut().unwrap().name = " 王五 ".to_owned();
    given([])
        .when(Role::PetitionOfficer, LivelihoodCommand::Receive(r))
        .then([received(Urgency::General)]);
    assert_eq!(
        LivelihoodRequest::persons(&received(Urgency::General)),
        vec![&Personal::Clear(requester())]
    );
}

#[test]
fn a_received_request_waits_for_dispatch_with_its_handling_deadline() {
    let r = replay(&[received(Urgency::Utility)]);
    assert_eq!(r.status, Status::Received);
    assert_eq!(r.round, 0);
    assert!(r.dispatches.is_empty());
    assert_eq!(r.hotline_order.as_deref(), Some("12345-2025-0001"));
    assert_eq!(r.severity(), Some("utility"));
    assert_eq!(
        r.deadline,
        Some(POLICY.due_within(now(), TimeLimit::hours(24)))
    );
    assert_eq!(r.current_step(), Some("handle"));
    assert_eq!(r.units(), Some((None, vec![])));
    assert_eq!(r.outcome(), None);
}

#[test]
fn an_emergency_is_due_2_hours_after_receipt_even_on_a_saturday_or_a_holiday() {
    // Saturday 8 March 2025, and Saturday 4 October 2025 in the National Day holiday, both
    // 10:00 in Shanghai.
    for (at, due) in [
        ("2025-03-08T02:00:00Z", "2025-03-08T04:00:00Z"),
        ("2025-10-04T02:00:00Z", "2025-10-04T04:00:00Z"),
    ] {
        let at: Timestamp = at.parse().unwrap();
        given([])
            .when_at(
                at,
                Role::PetitionOfficer,
                LivelihoodCommand::Receive(receive(Urgency::Emergency)),
            )
            .then([received_from(receive(Urgency::Emergency), at)]);
        let events = decide(
            None::<&LivelihoodRequest>,
            &LivelihoodCommand::Receive(receive(Urgency::Emergency)),
            &ctx_at(Role::PetitionOfficer, at),
        )
        .unwrap();
        let [LivelihoodEvent::Received { handle_by, .. }] = events.as_slice() else {
            panic!("one Received event, got {events:?}");
        };
        assert_eq!(handle_by.to_string(), due);
        assert_eq!(*handle_by, at + SignedDuration::from_hours(2));
        // Its units check in within 30 minutes, rest day or not.
        let request = replay(&events);
        let dispatched = decide(
            Some(&request),
            &dispatch_cmd(market(), vec![]),
            &ctx_at(Role::PetitionOfficer, at),
        )
        .unwrap();
        let [LivelihoodEvent::Dispatched { check_in_by, .. }] = dispatched.as_slice() else {
            panic!("one Dispatched event, got {dispatched:?}");
        };
        assert_eq!(*check_in_by, at + SignedDuration::from_mins(30));
    }
}

#[test]
fn a_general_request_in_working_days_skips_the_weekend_and_national_day() {
    let policy = DeadlinePolicy {
        livelihood: LivelihoodLimits {
            handle: ByUrgency {
                emergency: TimeLimit::hours(2),
                utility: TimeLimit::hours(24),
                general: TimeLimit::Days(Limit::working_days(7)),
                complex: TimeLimit::Days(Limit::days(15)),
            },
            ..Default::default()
        },
        ..DeadlinePolicy::default()
    };
    // Friday 26 September 2025, 10:00 in Shanghai. Its working days: Sunday 28 September (made
    // up) 1, Monday 29 2, Tuesday 30 3, then 1-8 October off, Thursday 9 4, Friday 10 5,
    // Saturday 11 (made up) 6, and Monday 13 October 7.
    let at: Timestamp = "2025-09-26T02:00:00Z".parse().unwrap();
    let ctx = Context::new(Role::PetitionOfficer, at, CaseId::default(), &policy);
    let events = decide(
        None::<&LivelihoodRequest>,
        &LivelihoodCommand::Receive(receive(Urgency::General)),
        &ctx,
    )
    .unwrap();
    let [LivelihoodEvent::Received { handle_by, .. }] = events.as_slice() else {
        panic!("one Received event, got {events:?}");
    };
    // A deadline is the instant its last day closes: 00:00 of the day after, local.
    let last_day = |deadline: Timestamp| policy.local_day(deadline - SignedDuration::from_nanos(1));
    assert_eq!(last_day(*handle_by), jiff::civil::date(2025, 10, 13));
    assert_eq!(
        *handle_by,
        policy.end_of_day(jiff::civil::date(2025, 10, 13))
    );
    assert_eq!(
        policy.local_day(*handle_by),
        jiff::civil::date(2025, 10, 14)
    );
    assert_eq!(handle_by.to_string(), "2025-10-13T16:00:00Z");
    // The default policy counts 7 calendar days: Friday 3 October is a holiday, so Thursday 9.
    let default = decide(
        None::<&LivelihoodRequest>,
        &LivelihoodCommand::Receive(receive(Urgency::General)),
        &ctx_at(Role::PetitionOfficer, at),
    )
    .unwrap();
    let [LivelihoodEvent::Received { handle_by, .. }] = default.as_slice() else {
        panic!("one Received event, got {default:?}");
    };
    assert_eq!(last_day(*handle_by), jiff::civil::date(2025, 10, 9));
    // Dispatched then, the units check in on the made-up Sunday and may return until Monday.
    let request = replay(&events);
    let dispatched = decide(
        Some(&request),
        &dispatch_cmd(market(), vec![property()]),
        &ctx,
    )
    .unwrap();
    let [
        LivelihoodEvent::Dispatched {
            check_in_by,
            return_by,
            ..
        },
    ] = dispatched.as_slice()
    else {
        panic!("one Dispatched event, got {dispatched:?}");
    };
    assert_eq!(last_day(*check_in_by), jiff::civil::date(2025, 9, 28));
    assert_eq!(last_day(*return_by), jiff::civil::date(2025, 9, 29));
}

// ---- received → dispatch → dispatched ----

#[test]
fn a_petition_officer_dispatches_to_a_lead_and_co_handlers_who_check_in_by_the_urgency() {
    for urgency in [
        Urgency::Emergency,
        Urgency::Utility,
        Urgency::General,
        Urgency::Complex,
    ] {
        given([received(urgency)])
            .when(
                Role::PetitionOfficer,
                dispatch_cmd(market(), vec![property()]),
            )
            .then([dispatched_at(urgency, now(), market(), vec![property()])]);
    }
    // 30 minutes, 2 hours, or the close of the next working day; returns for 2 working days.
    let limits = |urgency| match dispatched_at(urgency, now(), market(), vec![]) {
        LivelihoodEvent::Dispatched {
            check_in_by,
            return_by,
            ..
        } => (check_in_by.to_string(), return_by.to_string()),
        _ => unreachable!(),
    };
    assert_eq!(limits(Urgency::Emergency).0, "2025-03-03T02:30:00Z");
    assert_eq!(limits(Urgency::Utility).0, "2025-03-03T04:00:00Z");
    assert_eq!(limits(Urgency::General).0, "2025-03-04T16:00:00Z");
    assert_eq!(limits(Urgency::Complex).0, "2025-03-04T16:00:00Z");
    assert_eq!(limits(Urgency::General).1, "2025-03-05T16:00:00Z");
}

#[test]
fn a_dispatched_request_has_its_units_waiting_to_check_in() {
    let r = replay(&out());
    assert_eq!(r.status, Status::Dispatched);
    assert_eq!(r.round, 1);
    assert_eq!(r.units(), Some((Some(&market()), vec![property()])));
    assert_eq!(r.lead().map(|d| &d.unit), Some(&market()));
    let waiting: Vec<_> = r.waiting_for_check_in().map(|d| d.unit.clone()).collect();
    assert_eq!(waiting, vec![market(), property()]);
    for d in &r.dispatches {
        assert_eq!(d.round, 1);
        assert_eq!(d.check_in_by, check_in_by());
        assert_eq!(d.return_by, return_by());
        assert!(!d.checked_in && !d.late && !d.missed && !d.replaced);
        assert_eq!(d.returned, None);
    }
    assert_eq!(r.current_step(), Some("handle"));
    assert_eq!(r.deadline, Some(POLICY.due(now(), Limit::days(7))));
}

#[test]
fn a_supervisor_dispatches_too_with_a_note() {
    given([received(Urgency::General)])
        .when(
            Role::Supervisor,
            LivelihoodCommand::Dispatch(Dispatch {
                lead: market(),
                co_handlers: vec![],
                note: Some("请市场办牵头".to_owned()),
            }),
        )
        .then([LivelihoodEvent::Dispatched {
            round: 1,
            lead: market(),
            co_handlers: vec![],
            at: now(),
            check_in_by: check_in_by(),
            return_by: return_by(),
            note: Some("请市场办牵头".to_owned()),
        }]);
}

#[test]
fn handlers_and_grid_workers_do_not_dispatch() {
    for role in [Role::Handler, Role::GridWorker, Role::Mediator] {
        given([received(Urgency::General)])
            .when(role, dispatch_cmd(market(), vec![property()]))
            .then_refused(not_for_role("received", Action::Dispatch, role, &[]));
    }
}

#[test]
fn a_request_is_dispatched_once_then_redispatched() {
    given(out())
        .when(
            Role::PetitionOfficer,
            dispatch_cmd(market(), vec![property()]),
        )
        .then_refused(not_in_state(
            "dispatched",
            Action::Dispatch,
            &["check-in", "return-dispatch", "redispatch"],
        ));
}

#[test]
fn the_lead_is_not_also_a_co_handler_and_no_co_handler_is_listed_twice() {
    for bad in [
        dispatch_cmd(market(), vec![property(), market()]),
        dispatch_cmd(market(), vec![property(), safety(), property()]),
    ] {
        given([received(Urgency::General)])
            .when(Role::PetitionOfficer, bad)
            .then_invalid("co_handlers");
    }
}

#[test]
fn a_request_goes_to_at_most_30_units() {
    let units = |n: usize| -> Vec<UnitId> {
        (0..n)
            .map(|i| format!("unit-{i}").parse().unwrap())
            .collect()
    };
    given([received(Urgency::General)])
        .when(Role::PetitionOfficer, dispatch_cmd(market(), units(30)))
        .then_invalid("co_handlers");
    assert!(
        decide(
            Some(&replay(&[received(Urgency::General)])),
            &dispatch_cmd(market(), units(29)),
            &ctx_at(Role::PetitionOfficer, now()),
        )
        .is_ok()
    );
}

#[test]
fn a_dispatch_note_is_at_most_10000_characters() {
    given([received(Urgency::General)])
        .when(
            Role::PetitionOfficer,
            LivelihoodCommand::Dispatch(Dispatch {
                lead: market(),
                co_handlers: vec![],
                note: Some("x".repeat(10_001)),
            }),
        )
        .then_invalid("note");
}

// ---- dispatched, in-progress → check-in → in-progress ----

#[test]
fn a_handler_checks_in_his_own_unit() {
    for named in [None, Some(market())] {
        assert_eq!(
            as_handler_of(&market(), &out(), now(), check_in_cmd(named)),
            Ok(vec![checked_in(market(), false)])
        );
    }
    let r = replay(&in_progress());
    assert_eq!(r.status, Status::InProgress);
    assert!(r.lead().is_some_and(|d| d.checked_in && !d.late));
    // A co-handling unit checks in for itself too.
    assert_eq!(
        as_handler_of(&property(), &in_progress(), now(), check_in_cmd(None)),
        Ok(vec![checked_in(property(), false)])
    );
}

#[test]
fn a_handler_does_not_check_in_another_unit() {
    assert_invalid(
        as_handler_of(&market(), &out(), now(), check_in_cmd(Some(property()))),
        "unit",
    );
}

#[test]
fn a_unit_not_dispatched_does_not_check_in() {
    assert_invalid(
        as_handler_of(&safety(), &out(), now(), check_in_cmd(None)),
        "unit",
    );
    given(out())
        .when(Role::Handler, check_in_cmd(Some(safety())))
        .then_invalid("unit");
    // Acting for no unit and naming none.
    given(out())
        .when(Role::Handler, check_in_cmd(None))
        .then_invalid("unit");
    // A unit returned is no longer dispatched.
    let mut history = out();
    history.push(returned(property()));
    given(history)
        .when(Role::Handler, check_in_cmd(Some(property())))
        .then_invalid("unit");
}

#[test]
fn a_unit_checks_in_once_and_late_after_its_limit() {
    given(out())
        .when_at(check_in_by(), Role::Handler, check_in_cmd(Some(market())))
        .then([checked_in_at(check_in_by(), market(), false)]);
    given(out())
        .when_at(
            check_in_by() + second(),
            Role::Handler,
            check_in_cmd(Some(market())),
        )
        .then([checked_in_at(check_in_by() + second(), market(), true)]);
    // Once in, not again, while the co-handler still may.
    given(in_progress())
        .when(Role::Handler, check_in_cmd(Some(market())))
        .then_invalid("unit");
    assert_invalid(
        as_handler_of(&market(), &in_progress(), now(), check_in_cmd(None)),
        "unit",
    );
    // Late is kept on the unit's dispatch.
    let mut history = out();
    history.push(checked_in(market(), true));
    let r = replay(&history);
    assert!(r.lead().is_some_and(|d| d.checked_in && d.late));
}

#[test]
fn a_unit_found_missed_checks_in_late() {
    let mut history = out();
    history.push(missed(property()));
    given(history.clone())
        .when_at(day(2), Role::Handler, check_in_cmd(Some(property())))
        .then([checked_in_at(day(2), property(), true)]);
    history.push(checked_in(property(), true));
    let r = replay(&history);
    let d = r.active().find(|d| d.unit == property()).unwrap();
    assert!(d.checked_in && d.late && d.missed);
}

#[test]
fn once_every_unit_has_checked_in_there_is_nothing_to_check_in() {
    given(all_checked_in())
        .when(Role::Handler, check_in_cmd(Some(property())))
        .then_refused(guarded(
            "in-progress",
            Action::CheckIn,
            &["redispatch", "reply"],
            "every unit dispatched has checked in",
        ));
}

#[test]
fn only_handlers_check_in() {
    for (role, allowed) in [
        (Role::PetitionOfficer, &["redispatch"][..]),
        (Role::Supervisor, &["redispatch"][..]),
        (Role::GridWorker, &[][..]),
    ] {
        given(out())
            .when(role, check_in_cmd(Some(market())))
            .then_refused(not_for_role("dispatched", Action::CheckIn, role, allowed));
    }
}

#[test]
fn nothing_is_checked_in_before_dispatch_or_after_the_reply() {
    given([received(Urgency::General)])
        .when(Role::Handler, check_in_cmd(Some(market())))
        .then_refused(not_in_state("received", Action::CheckIn, &["dispatch"]));
    given(replied_with(ReplyResult::Resolved))
        .when(Role::Handler, check_in_cmd(Some(market())))
        .then_refused(not_in_state("replied", Action::CheckIn, &["rate"]));
}

#[test]
fn a_check_in_note_is_at_most_10000_characters() {
    given(out())
        .when(
            Role::Handler,
            LivelihoodCommand::CheckIn(CheckIn {
                unit: Some(market()),
                note: Some("x".repeat(10_001)),
            }),
        )
        .then_invalid("note");
}

// ---- dispatched, in-progress → return-dispatch → (unchanged) ----

#[test]
fn a_unit_returns_a_mis_routed_dispatch_within_2_working_days() {
    given(out())
        .when_at(return_by(), Role::Handler, return_cmd(Some(property())))
        .then([returned_at(return_by(), property())]);
    assert_eq!(
        as_handler_of(&property(), &out(), now(), return_cmd(None)),
        Ok(vec![returned(property())])
    );
    // Returned, it is off the request; the request stays where it was.
    let mut history = out();
    history.push(returned(property()));
    let r = replay(&history);
    assert_eq!(r.status, Status::Dispatched);
    assert_eq!(r.active().count(), 1);
    assert_eq!(r.units(), Some((Some(&market()), vec![])));
    let d = r.dispatches.iter().find(|d| d.unit == property()).unwrap();
    assert_eq!(d.returned.as_deref(), Some("非本单位职责"));
    assert!(!d.is_active());
    // Even once the request is in progress.
    given(in_progress())
        .when(Role::Handler, return_cmd(Some(property())))
        .then([returned(property())]);
    let mut history = in_progress();
    history.push(returned(property()));
    assert_eq!(replay(&history).status, Status::InProgress);
}

#[test]
fn the_lead_returned_leaves_the_request_without_a_lead() {
    let mut history = out();
    history.push(returned(market()));
    let r = replay(&history);
    assert_eq!(r.lead(), None);
    assert_eq!(r.units(), Some((None, vec![property()])));
    let active: Vec<_> = r.active().map(|d| d.unit.clone()).collect();
    assert_eq!(active, vec![property()]);
}

#[test]
fn after_its_2_working_days_a_unit_handles_its_part_and_does_not_return_it() {
    // The safety office is added on Thursday 6 March and may return until Monday 10 March; the
    // property company, dispatched on Monday 3 March, could until Wednesday 5 March.
    let mut history = out();
    history.push(redispatched_at(
        day(3),
        market(),
        vec![property(), safety()],
    ));
    given(history.clone())
        .when_at(day(3), Role::Handler, return_cmd(Some(property())))
        .then_invalid("unit");
    assert_invalid(
        as_handler_of(&property(), &history, day(3), return_cmd(None)),
        "unit",
    );
    given(history)
        .when_at(day(3), Role::Handler, return_cmd(Some(safety())))
        .then([returned_at(day(3), safety())]);
}

#[test]
fn once_no_dispatch_is_within_its_time_none_is_returned() {
    given(out())
        .when_at(
            return_by() + second(),
            Role::Handler,
            return_cmd(Some(property())),
        )
        .then_refused(guarded(
            "dispatched",
            Action::ReturnDispatch,
            &["check-in", "redispatch"],
            "no unit that has not checked in is within its time to return the dispatch",
        ));
}

#[test]
fn a_return_gives_its_reason_and_names_a_unit_on_the_request() {
    given(out())
        .when(
            Role::Handler,
            LivelihoodCommand::ReturnDispatch(ReturnDispatch {
                unit: Some(property()),
                reason: " ".to_owned(),
            }),
        )
        .then_invalid("reason");
    given(out())
        .when(Role::Handler, return_cmd(Some(safety())))
        .then_invalid("unit");
    given(out())
        .when(Role::Handler, return_cmd(None))
        .then_invalid("unit");
    assert_invalid(
        as_handler_of(&market(), &out(), now(), return_cmd(Some(property()))),
        "unit",
    );
    // Returned once, not again.
    let mut history = out();
    history.push(returned(property()));
    given(history)
        .when(Role::Handler, return_cmd(Some(property())))
        .then_invalid("unit");
}

#[test]
fn only_handlers_return_a_dispatch() {
    for (role, allowed) in [
        (Role::PetitionOfficer, &["redispatch"][..]),
        (Role::Supervisor, &["redispatch"][..]),
        (Role::GridWorker, &[][..]),
    ] {
        given(out())
            .when(role, return_cmd(Some(property())))
            .then_refused(not_for_role(
                "dispatched",
                Action::ReturnDispatch,
                role,
                allowed,
            ));
    }
}

#[test]
fn nothing_is_returned_before_dispatch_or_after_the_reply() {
    given([received(Urgency::General)])
        .when(Role::Handler, return_cmd(Some(market())))
        .then_refused(not_in_state(
            "received",
            Action::ReturnDispatch,
            &["dispatch"],
        ));
    given(replied_with(ReplyResult::Resolved))
        .when(Role::Handler, return_cmd(Some(market())))
        .then_refused(not_in_state("replied", Action::ReturnDispatch, &["rate"]));
}

// ---- dispatched, in-progress → redispatch → dispatched ----

#[test]
fn a_redispatch_keeps_a_kept_units_check_in_and_replaces_the_units_left_out() {
    given(in_progress())
        .when_at(
            day(1),
            Role::PetitionOfficer,
            redispatch_cmd(market(), vec![safety()]),
        )
        .then([redispatched_at(day(1), market(), vec![safety()])]);
    let mut history = in_progress();
    history.push(redispatched_at(day(1), market(), vec![safety()]));
    let r = replay(&history);
    assert_eq!(r.status, Status::Dispatched);
    assert_eq!(r.units(), Some((Some(&market()), vec![safety()])));
    let of = |unit: UnitId| r.dispatches.iter().find(|d| d.unit == unit).unwrap();
    // Kept: still checked in, with its own limits.
    let kept = of(market());
    assert!(kept.lead && kept.checked_in && kept.is_active());
    assert_eq!(kept.check_in_by, check_in_by());
    // Left out: replaced, off the request.
    let left = of(property());
    assert!(left.replaced && !left.is_active());
    // New: waiting, with limits from the redispatch of Tuesday 4 March: check in by the close
    // of Wednesday 5, return until the close of Thursday 6.
    let new = of(safety());
    assert!(!new.lead && !new.checked_in && new.is_active());
    assert_eq!(new.round, 1);
    assert_eq!(new.check_in_by.to_string(), "2025-03-05T16:00:00Z");
    assert_eq!(new.return_by.to_string(), "2025-03-06T16:00:00Z");
    assert_eq!(r.dispatches.len(), 3);
}

#[test]
fn a_redispatch_may_change_the_lead() {
    let mut history = all_checked_in();
    history.push(redispatched_at(now(), safety(), vec![market()]));
    let r = replay(&history);
    assert_eq!(r.units(), Some((Some(&safety()), vec![market()])));
    let market_now = r.active().find(|d| d.unit == market()).unwrap();
    assert!(!market_now.lead && market_now.checked_in);
    assert!(
        r.lead()
            .is_some_and(|d| d.unit == safety() && !d.checked_in)
    );
    given(all_checked_in())
        .when(Role::Supervisor, redispatch_cmd(safety(), vec![market()]))
        .then([redispatched_at(now(), safety(), vec![market()])]);
}

#[test]
fn a_redispatch_changes_the_units_or_the_lead() {
    // The same units with the same lead: nothing to redispatch.
    given(in_progress())
        .when(
            Role::PetitionOfficer,
            redispatch_cmd(market(), vec![property()]),
        )
        .then_invalid("co_handlers");
    // The lead handed to a unit on the request, or a unit dropped: a redispatch.
    given(in_progress())
        .when(
            Role::PetitionOfficer,
            redispatch_cmd(property(), vec![market()]),
        )
        .then([redispatched_at(now(), property(), vec![market()])]);
    given(in_progress())
        .when(Role::PetitionOfficer, redispatch_cmd(market(), vec![]))
        .then([redispatched_at(now(), market(), vec![])]);
    // The lead returned it: a co-handler already on it may be made the lead.
    let mut lead_gone = in_progress();
    lead_gone.push(returned(property()));
    lead_gone.push(redispatched_at(now(), market(), vec![safety()]));
    lead_gone.push(returned(market()));
    given(lead_gone)
        .when(Role::PetitionOfficer, redispatch_cmd(safety(), vec![]))
        .then([redispatched_at(now(), safety(), vec![])]);
    // A unit that returned its dispatch is no longer on the request: it may be sent again.
    let mut history = out();
    history.push(returned(property()));
    given(history.clone())
        .when(
            Role::PetitionOfficer,
            redispatch_cmd(market(), vec![property()]),
        )
        .then([redispatched_at(now(), market(), vec![property()])]);
    history.push(redispatched_at(now(), market(), vec![property()]));
    let r = replay(&history);
    assert_eq!(r.units(), Some((Some(&market()), vec![property()])));
    assert_eq!(
        r.dispatches.iter().filter(|d| d.unit == property()).count(),
        2
    );
}

#[test]
fn a_redispatch_lists_its_units_once_and_gives_its_reason() {
    given(in_progress())
        .when(
            Role::PetitionOfficer,
            redispatch_cmd(safety(), vec![market(), safety()]),
        )
        .then_invalid("co_handlers");
    given(in_progress())
        .when(
            Role::PetitionOfficer,
            redispatch_cmd(market(), vec![safety(), safety()]),
        )
        .then_invalid("co_handlers");
    given(in_progress())
        .when(
            Role::PetitionOfficer,
            LivelihoodCommand::Redispatch(Redispatch {
                lead: market(),
                co_handlers: vec![safety()],
                reason: String::new(),
            }),
        )
        .then_invalid("reason");
}

#[test]
fn handlers_and_grid_workers_do_not_redispatch() {
    given(in_progress())
        .when(Role::Handler, redispatch_cmd(market(), vec![safety()]))
        .then_refused(not_for_role(
            "in-progress",
            Action::Redispatch,
            Role::Handler,
            &["check-in", "return-dispatch"],
        ));
    given(out())
        .when(Role::GridWorker, redispatch_cmd(market(), vec![safety()]))
        .then_refused(not_for_role(
            "dispatched",
            Action::Redispatch,
            Role::GridWorker,
            &[],
        ));
}

#[test]
fn nothing_is_redispatched_before_dispatch_or_after_the_reply() {
    given([received(Urgency::General)])
        .when(
            Role::PetitionOfficer,
            redispatch_cmd(market(), vec![safety()]),
        )
        .then_refused(not_in_state("received", Action::Redispatch, &["dispatch"]));
    given(replied_with(ReplyResult::Resolved))
        .when(Role::Supervisor, redispatch_cmd(safety(), vec![]))
        .then_refused(not_in_state("replied", Action::Redispatch, &["rate"]));
}

// ---- in-progress → reply → replied ----

#[test]
fn the_lead_replies_once_checked_in_and_the_resident_has_3_days_to_rate() {
    given(all_checked_in())
        .when(Role::Handler, reply_cmd(ReplyResult::Resolved))
        .then([replied(ReplyResult::Resolved)]);
    assert_eq!(
        as_handler_of(
            &market(),
            &all_checked_in(),
            now(),
            reply_cmd(ReplyResult::PartlyResolved)
        ),
        Ok(vec![replied(ReplyResult::PartlyResolved)])
    );
    assert_eq!(rate_by().to_string(), "2025-03-06T16:00:00Z");
    let r = replay(&replied_with(ReplyResult::Resolved));
    assert_eq!(r.status, Status::Replied);
    assert_eq!(r.result, Some(ReplyResult::Resolved));
    assert_eq!(r.reply.as_deref(), Some("已疏通排水口"));
    assert_eq!(r.rate_by, Some(rate_by()));
    assert_eq!(r.deadline, None);
    assert_eq!(r.current_step(), None);
    assert_eq!(r.outcome(), None);
}

#[test]
fn the_lead_unit_checks_in_before_it_replies() {
    let not_yet = |history: Vec<LivelihoodEvent>| {
        given(history)
            .when(Role::Handler, reply_cmd(ReplyResult::Resolved))
            .then_refused(guarded(
                "in-progress",
                Action::Reply,
                &["check-in", "return-dispatch", "redispatch"],
                "the lead replies once it and every unit on the request have checked in",
            ));
    };
    // Only the co-handler is in.
    let mut co_only = out();
    co_only.push(checked_in(property(), false));
    not_yet(co_only);
    // The lead checked in, then returned the dispatch: no lead is left to reply.
    let mut lead_gone = in_progress();
    lead_gone.push(returned(market()));
    not_yet(lead_gone);
}

#[test]
fn a_lead_kept_by_a_redispatch_replies_even_if_the_new_unit_returns_it() {
    let mut history = all_checked_in();
    history.push(redispatched_at(now(), market(), vec![property(), safety()]));
    history.push(returned(safety()));
    assert_eq!(replay(&history).status, Status::Dispatched);
    given(history)
        .when(Role::Handler, reply_cmd(ReplyResult::Resolved))
        .then([replied(ReplyResult::Resolved)]);
}

#[test]
fn a_reply_tells_the_resident_something() {
    given(all_checked_in())
        .when(
            Role::Handler,
            LivelihoodCommand::Reply(Reply {
                result: ReplyResult::Resolved,
                text: "\n ".to_owned(),
            }),
        )
        .then_invalid("text");
}

#[test]
fn petition_officers_and_supervisors_do_not_reply() {
    for role in [Role::PetitionOfficer, Role::Supervisor] {
        given(all_checked_in())
            .when(role, reply_cmd(ReplyResult::Resolved))
            .then_refused(not_for_role(
                "in-progress",
                Action::Reply,
                role,
                &["redispatch"],
            ));
    }
}

#[test]
fn a_request_whose_lead_has_not_checked_in_is_not_replied_to() {
    given(out())
        .when(Role::Handler, reply_cmd(ReplyResult::Resolved))
        .then_refused(guarded(
            "dispatched",
            Action::Reply,
            &["check-in", "return-dispatch", "redispatch"],
            "the lead replies once it and every unit on the request have checked in",
        ));
    given(replied_with(ReplyResult::Resolved))
        .when(Role::Handler, reply_cmd(ReplyResult::Resolved))
        .then_refused(not_in_state("replied", Action::Reply, &["rate"]));
}

// ---- replied → rate → closed ----

#[test]
fn a_grid_worker_or_petition_officer_records_the_residents_rating() {
    for role in [Role::GridWorker, Role::PetitionOfficer] {
        given(replied_with(ReplyResult::Resolved))
            .when(role, rate_cmd(Satisfaction::BasicallySatisfied))
            .then([rated(Satisfaction::BasicallySatisfied)]);
    }
    given(replied_with(ReplyResult::Resolved))
        .when(
            Role::GridWorker,
            LivelihoodCommand::Rate(Rate {
                rating: Satisfaction::Dissatisfied,
                note: Some("仍有积水".to_owned()),
            }),
        )
        .then([LivelihoodEvent::Rated {
            rating: Satisfaction::Dissatisfied,
            note: Some("仍有积水".to_owned()),
        }]);
}

#[test]
fn a_closed_request_is_resolved_only_when_the_reply_said_so() {
    for (result, rating, outcome) in [
        (
            ReplyResult::Resolved,
            Satisfaction::Satisfied,
            Outcome::Resolved,
        ),
        (
            ReplyResult::Resolved,
            Satisfaction::Dissatisfied,
            Outcome::Resolved,
        ),
        (
            ReplyResult::PartlyResolved,
            Satisfaction::Satisfied,
            Outcome::NotResolved,
        ),
        (
            ReplyResult::NotResolved,
            Satisfaction::BasicallySatisfied,
            Outcome::NotResolved,
        ),
    ] {
        let mut history = replied_with(result);
        history.push(rated(rating));
        let r = replay(&history);
        assert_eq!(r.status, Status::Closed);
        assert!(r.status.is_end());
        assert_eq!(r.rating, Some(rating));
        assert_eq!(r.outcome(), Some(outcome), "{result:?} {rating:?}");
        assert_eq!(r.current_step(), None);
    }
}

#[test]
fn a_service_account_receives_from_apps_and_the_hotline_and_passes_on_the_rating() {
    let mut app = receive(Urgency::General);
    app.channel = Channel::ResidentApp;
    app.hotline_order = None;
    given([])
        .when(
            Role::ServiceAccount,
            LivelihoodCommand::Receive(app.clone()),
        )
        .then([received_from(app, now())]);
    given([])
        .when(
            Role::ServiceAccount,
            LivelihoodCommand::Receive(receive(Urgency::General)),
        )
        .then([received(Urgency::General)]);
    let mut walk_in = receive(Urgency::General);
    walk_in.channel = Channel::WalkIn;
    walk_in.hotline_order = None;
    given([])
        .when(Role::ServiceAccount, LivelihoodCommand::Receive(walk_in))
        .then_invalid("channel");
    given(replied_with(ReplyResult::Resolved))
        .when(Role::ServiceAccount, rate_cmd(Satisfaction::Satisfied))
        .then([rated(Satisfaction::Satisfied)]);
    given([received(Urgency::General)])
        .when(
            Role::ServiceAccount,
            dispatch_cmd("qinghe-market".parse().unwrap(), vec![]),
        )
        .then_refused(not_for_role(
            "received",
            Action::Dispatch,
            Role::ServiceAccount,
            &[],
        ));
}

#[test]
fn supervisors_and_handlers_do_not_rate() {
    for role in [Role::Supervisor, Role::Handler] {
        given(replied_with(ReplyResult::Resolved))
            .when(role, rate_cmd(Satisfaction::Satisfied))
            .then_refused(not_for_role("replied", Action::Rate, role, &[]));
    }
}

#[test]
fn only_a_replied_request_is_rated_and_once() {
    given(in_progress())
        .when(Role::GridWorker, rate_cmd(Satisfaction::Satisfied))
        .then_refused(not_in_state(
            "in-progress",
            Action::Rate,
            &["check-in", "return-dispatch", "redispatch"],
        ));
    given(closed_with(Satisfaction::Satisfied))
        .when(Role::GridWorker, rate_cmd(Satisfaction::Dissatisfied))
        .then_refused(not_in_state("closed", Action::Rate, &[]));
}

#[test]
fn a_rating_note_is_at_most_10000_characters() {
    given(replied_with(ReplyResult::Resolved))
        .when(
            Role::GridWorker,
            LivelihoodCommand::Rate(Rate {
                rating: Satisfaction::Satisfied,
                note: Some("x".repeat(10_001)),
            }),
        )
        .then_invalid("note");
}

// ---- replied → close-unrated → closed (once the rating limit has passed) ----

#[test]
fn an_unrated_reply_is_closed_once_its_rating_limit_has_passed() {
    for (role, at) in [
        (Role::PetitionOfficer, rate_by()),
        (Role::Supervisor, day(10)),
    ] {
        given(replied_with(ReplyResult::Resolved))
            .when_at(at, role, close_unrated_cmd())
            .then([LivelihoodEvent::ClosedUnrated {
                note: Some("三日未评价".to_owned()),
            }]);
    }
    let mut history = replied_with(ReplyResult::Resolved);
    history.push(LivelihoodEvent::ClosedUnrated { note: None });
    let r = replay(&history);
    assert_eq!(r.status, Status::Closed);
    assert_eq!(r.rating, None);
    assert_eq!(r.outcome(), Some(Outcome::Resolved));
}

#[test]
fn the_resident_has_until_the_rating_limit_to_rate() {
    given(replied_with(ReplyResult::Resolved))
        .when_at(
            rate_by() - second(),
            Role::PetitionOfficer,
            close_unrated_cmd(),
        )
        .then_refused(guarded(
            "replied",
            Action::CloseUnrated,
            &["rate"],
            "the resident has until the rating limit after the reply to rate it",
        ));
}

#[test]
fn grid_workers_and_handlers_do_not_close_unrated() {
    for (role, allowed) in [(Role::GridWorker, &["rate"][..]), (Role::Handler, &[][..])] {
        given(replied_with(ReplyResult::Resolved))
            .when_at(rate_by(), role, close_unrated_cmd())
            .then_refused(not_for_role("replied", Action::CloseUnrated, role, allowed));
    }
}

#[test]
fn only_a_replied_request_is_closed_unrated() {
    given(in_progress())
        .when_at(day(30), Role::Supervisor, close_unrated_cmd())
        .then_refused(not_in_state(
            "in-progress",
            Action::CloseUnrated,
            &["check-in", "redispatch"],
        ));
    given(closed_with(Satisfaction::Satisfied))
        .when_at(day(30), Role::Supervisor, close_unrated_cmd())
        .then_refused(not_in_state("closed", Action::CloseUnrated, &[]));
    given(replied_with(ReplyResult::Resolved))
        .when_at(
            rate_by(),
            Role::Supervisor,
            LivelihoodCommand::CloseUnrated(CloseUnrated {
                note: Some("x".repeat(10_001)),
            }),
        )
        .then_invalid("note");
}

// ---- closed → redo → dispatched (after a dissatisfied rating) ----

#[test]
fn a_supervisor_orders_a_dissatisfied_request_redone_with_a_new_deadline() {
    given(closed_with(Satisfaction::Dissatisfied))
        .when_at(
            day(5),
            Role::Supervisor,
            redo_cmd(property(), vec![market()]),
        )
        .then([redone_at(
            Urgency::General,
            day(5),
            2,
            property(),
            vec![market()],
        )]);
    // Saturday 8 March: check in by Monday 10, return until Tuesday 11, reply by Monday 17
    // (7 days end on Saturday 15, a rest day).
    let LivelihoodEvent::Redone {
        check_in_by,
        return_by,
        handle_by,
        ..
    } = redone_at(Urgency::General, day(5), 2, property(), vec![])
    else {
        unreachable!()
    };
    assert_eq!(check_in_by.to_string(), "2025-03-10T16:00:00Z");
    assert_eq!(return_by.to_string(), "2025-03-11T16:00:00Z");
    assert_eq!(handle_by.to_string(), "2025-03-17T16:00:00Z");
}

#[test]
fn a_redo_replaces_every_dispatch_and_counts_the_round() {
    let mut history = closed_with(Satisfaction::Dissatisfied);
    history.push(redone_at(
        Urgency::General,
        day(5),
        2,
        market(),
        vec![property()],
    ));
    let r = replay(&history);
    assert_eq!(r.status, Status::Dispatched);
    assert_eq!(r.round, 2);
    assert_eq!(r.redone, 1);
    assert_eq!(r.result, None);
    assert_eq!(r.reply, None);
    assert_eq!(r.rate_by, None);
    assert_eq!(r.rating, None);
    assert_eq!(
        r.deadline,
        Some(POLICY.due_within(day(5), TimeLimit::Days(Limit::days(7))))
    );
    assert_eq!(r.current_step(), Some("handle"));
    assert_eq!(r.outcome(), None);
    // The same units again, afresh: the first round's dispatches are all replaced.
    assert_eq!(r.dispatches.len(), 4);
    for d in &r.dispatches[..2] {
        assert!(d.replaced && d.checked_in && d.round == 1);
    }
    for d in &r.dispatches[2..] {
        assert!(d.is_active() && !d.checked_in && d.round == 2);
    }
    assert_eq!(r.units(), Some((Some(&market()), vec![property()])));
    // Once more: round 3.
    let again = day(20);
    history.extend([
        checked_in(market(), false),
        replied(ReplyResult::NotResolved),
        rated(Satisfaction::Dissatisfied),
    ]);
    given(history.clone())
        .when_at(again, Role::Supervisor, redo_cmd(safety(), vec![]))
        .then([redone_at(Urgency::General, again, 3, safety(), vec![])]);
    history.push(redone_at(Urgency::General, again, 3, safety(), vec![]));
    let r = replay(&history);
    assert_eq!((r.round, r.redone), (3, 2));
    assert_eq!(r.units(), Some((Some(&safety()), vec![])));
}

#[test]
fn a_redone_emergency_is_due_again_in_2_hours() {
    let mut history = vec![
        received(Urgency::Emergency),
        dispatched_at(Urgency::Emergency, now(), market(), vec![]),
        checked_in(market(), false),
        replied(ReplyResult::Resolved),
        rated(Satisfaction::Dissatisfied),
    ];
    given(history.clone())
        .when_at(day(1), Role::Supervisor, redo_cmd(market(), vec![]))
        .then([redone_at(Urgency::Emergency, day(1), 2, market(), vec![])]);
    history.push(redone_at(Urgency::Emergency, day(1), 2, market(), vec![]));
    let r = replay(&history);
    assert_eq!(r.deadline, Some(day(1) + SignedDuration::from_hours(2)));
    assert_eq!(
        r.lead().map(|d| d.check_in_by),
        Some(day(1) + SignedDuration::from_mins(30))
    );
}

#[test]
fn a_request_is_redone_only_after_a_dissatisfied_rating() {
    let reason = "a request is redone after a dissatisfied rating";
    for rating in [Satisfaction::Satisfied, Satisfaction::BasicallySatisfied] {
        given(closed_with(rating))
            .when(Role::Supervisor, redo_cmd(market(), vec![]))
            .then_refused(guarded("closed", Action::Redo, &[], reason));
    }
    let mut unrated = replied_with(ReplyResult::NotResolved);
    unrated.push(LivelihoodEvent::ClosedUnrated { note: None });
    given(unrated)
        .when(Role::Supervisor, redo_cmd(market(), vec![]))
        .then_refused(guarded("closed", Action::Redo, &[], reason));
}

#[test]
fn only_a_supervisor_orders_a_redo() {
    for role in [Role::PetitionOfficer, Role::GridWorker, Role::Handler] {
        given(closed_with(Satisfaction::Dissatisfied))
            .when(role, redo_cmd(market(), vec![]))
            .then_refused(not_for_role("closed", Action::Redo, role, &[]));
    }
}

#[test]
fn only_a_closed_request_is_redone() {
    given(replied_with(ReplyResult::Resolved))
        .when(Role::Supervisor, redo_cmd(market(), vec![]))
        .then_refused(not_in_state("replied", Action::Redo, &["rate"]));
}

#[test]
fn a_redo_gives_its_reason_and_lists_its_units_once() {
    given(closed_with(Satisfaction::Dissatisfied))
        .when(
            Role::Supervisor,
            LivelihoodCommand::Redo(Redo {
                lead: market(),
                co_handlers: vec![],
                reason: "  ".to_owned(),
            }),
        )
        .then_invalid("reason");
    for bad in [
        redo_cmd(market(), vec![market()]),
        redo_cmd(market(), vec![property(), property()]),
    ] {
        given(closed_with(Satisfaction::Dissatisfied))
            .when(Role::Supervisor, bad)
            .then_invalid("co_handlers");
    }
}

// ---- the deadline watch: check-ins missed ----

#[test]
fn the_watch_finds_each_unit_past_its_check_in_limit_once() {
    let r = replay(&out());
    assert_eq!(r.watched_events(check_in_by()), vec![]);
    assert_eq!(
        r.watched_events(check_in_by() + second()),
        vec![missed(market()), missed(property())]
    );
    // A unit checked in is not missed, late or not.
    let mut history = out();
    history.push(checked_in(market(), true));
    assert_eq!(
        replay(&history).watched_events(day(3)),
        vec![missed(property())]
    );
    // Recorded once: not again.
    history.push(missed(property()));
    assert_eq!(replay(&history).watched_events(day(3)), vec![]);
    // A unit returned is not waited for.
    let mut history = out();
    history.push(returned(property()));
    assert_eq!(
        replay(&history).watched_events(day(3)),
        vec![missed(market())]
    );
}

#[test]
fn a_missed_check_in_marks_the_dispatch_late() {
    let mut history = out();
    history.push(missed(property()));
    let r = replay(&history);
    let d = r.active().find(|d| d.unit == property()).unwrap();
    assert!(d.missed && d.late && !d.checked_in);
    assert_eq!(r.status, Status::Dispatched);
}

#[test]
fn nothing_is_watched_once_the_request_is_replied_to_or_before_it_is_out() {
    // Replied while the co-handler never checked in.
    let mut history = in_progress();
    history.push(replied(ReplyResult::Resolved));
    let r = replay(&history);
    assert_eq!(r.watched_events(day(30)), vec![]);
    assert_eq!(r.next_watch(), None);
    let r = replay(&[received(Urgency::General)]);
    assert_eq!(r.watched_events(day(30)), vec![]);
    assert_eq!(r.next_watch(), None);
}

#[test]
fn the_next_watch_is_the_earliest_check_in_limit_not_yet_met() {
    assert_eq!(replay(&out()).next_watch(), Some(check_in_by()));
    // The market office in; the property company due Tuesday; the safety office, added on
    // Tuesday, due Wednesday.
    let later = POLICY.due_within(day(1), TimeLimit::Days(Limit::working_days(1)));
    let mut history = in_progress();
    history.push(redispatched_at(
        day(1),
        market(),
        vec![property(), safety()],
    ));
    assert_eq!(replay(&history).next_watch(), Some(check_in_by()));
    history.push(missed(property()));
    assert_eq!(replay(&history).next_watch(), Some(later));
    history.push(checked_in(safety(), false));
    assert_eq!(replay(&history).next_watch(), None);
}

// ---- the hooks every case calls ----

#[test]
fn a_unit_records_its_part_once_it_has_checked_in() {
    let r = replay(&in_progress());
    assert_eq!(r.part_recordable(&market()), Ok(()));
    assert_eq!(
        r.part_recordable(&property()),
        Err("unit \"qinghe-property\" checks in before it records its part".to_owned())
    );
    assert_eq!(
        r.part_recordable(&safety()),
        Err("unit \"qinghe-safety\" is not dispatched on this request".to_owned())
    );
    let r = replay(&replied_with(ReplyResult::Resolved));
    assert_eq!(
        r.part_recordable(&market()),
        Err("parts are recorded while the request is out to units; it is replied".to_owned())
    );
}

#[test]
fn the_units_are_the_lead_and_co_handlers_still_on_the_request() {
    let mut history = out();
    history.push(redispatched_at(
        day(1),
        market(),
        vec![property(), safety()],
    ));
    assert_eq!(
        replay(&history).units(),
        Some((Some(&market()), vec![property(), safety()]))
    );
    history.push(returned(property()));
    assert_eq!(
        replay(&history).units(),
        Some((Some(&market()), vec![safety()]))
    );
    // Units follow the dispatches, not single events.
    assert_eq!(LivelihoodRequest::assigned_unit(&dispatched()), None);
    assert!(LivelihoodRequest::each_units_own(Action::CheckIn));
    assert!(LivelihoodRequest::each_units_own(Action::ReturnDispatch));
    assert!(!LivelihoodRequest::each_units_own(Action::Reply));
}

#[test]
fn only_the_handling_limit_of_a_request_out_to_units_is_extended() {
    assert_eq!(replay(&out()).extendable(), Ok(()));
    assert_eq!(replay(&in_progress()).extendable(), Ok(()));
    for history in [
        vec![received(Urgency::General)],
        replied_with(ReplyResult::Resolved),
        closed_with(Satisfaction::Satisfied),
    ] {
        assert!(replay(&history).extendable().is_err());
    }
}

#[test]
fn a_request_marked_duplicate_is_closed_as_a_duplicate() {
    let mut r = replay(&in_progress());
    r.marked_duplicate();
    assert_eq!(r.status, Status::Closed);
    assert_eq!(r.deadline, None);
    assert_eq!(r.outcome(), Some(Outcome::Duplicate));
    for role in Role::ALL {
        assert!(allowed_actions(Some(&r), role, now()).is_empty(), "{role}");
    }
}

#[test]
fn evolve_refuses_what_cannot_be_replayed() {
    assert!(evolve(None, &dispatched()).is_err());
    let r = evolve(None, &received(Urgency::General)).unwrap();
    assert!(evolve(Some(r.clone()), &received(Urgency::General)).is_err());
    // An event for a unit never dispatched.
    let r = evolve(Some(r), &dispatched()).unwrap();
    assert!(evolve(Some(r), &checked_in(safety(), false)).is_err());
}

// ---- the whole table, written out independently of TABLE ----

/// Checks what each role may do, given this history at `at`: the rows open, with who takes them,
/// in table order.
#[track_caller]
fn expect_allowed(history: &[LivelihoodEvent], at: Timestamp, rows: &[(&str, &[Role])]) {
    let request = (!history.is_empty()).then(|| replay(history));
    for role in Role::ALL {
        let expected: Vec<&str> = rows
            .iter()
            .filter(|(_, who)| who.contains(&role))
            .map(|(a, _)| *a)
            .collect();
        assert_eq!(
            allowed_actions(request.as_ref(), role, at),
            expected,
            "{role} at {at}"
        );
    }
}

#[test]
fn allowed_actions_follow_the_table_and_its_guards() {
    use Role::*;
    let officers: &[Role] = &[PetitionOfficer, Supervisor];
    expect_allowed(
        &[],
        now(),
        &[(
            "receive",
            &[GridWorker, PetitionOfficer, Supervisor, ServiceAccount],
        )],
    );
    expect_allowed(
        &[received(Urgency::General)],
        now(),
        &[("dispatch", officers)],
    );
    expect_allowed(
        &out(),
        now(),
        &[
            ("check-in", &[Handler]),
            ("return-dispatch", &[Handler]),
            ("redispatch", officers),
        ],
    );
    expect_allowed(
        &out(),
        return_by() + second(),
        &[("check-in", &[Handler]), ("redispatch", officers)],
    );
    // The lead in, the co-handler not yet: no reply.
    expect_allowed(
        &in_progress(),
        now(),
        &[
            ("check-in", &[Handler]),
            ("return-dispatch", &[Handler]),
            ("redispatch", officers),
        ],
    );
    expect_allowed(
        &all_checked_in(),
        now(),
        &[("redispatch", officers), ("reply", &[Handler])],
    );
    expect_allowed(
        &all_checked_in(),
        day(10),
        &[("redispatch", officers), ("reply", &[Handler])],
    );
    expect_allowed(
        &replied_with(ReplyResult::Resolved),
        now(),
        &[("rate", &[GridWorker, PetitionOfficer, ServiceAccount])],
    );
    expect_allowed(
        &replied_with(ReplyResult::Resolved),
        rate_by(),
        &[
            ("rate", &[GridWorker, PetitionOfficer, ServiceAccount]),
            ("close-unrated", officers),
        ],
    );
    expect_allowed(
        &closed_with(Satisfaction::Dissatisfied),
        now(),
        &[("redo", &[Supervisor])],
    );
    expect_allowed(&closed_with(Satisfaction::Satisfied), now(), &[]);
}

#[test]
fn a_rating_is_kept_on_the_dispatches_of_its_round_still_on_the_request() {
    let mut history = out();
    history.push(returned(property()));
    history.push(redispatched_at(now(), market(), vec![safety()]));
    history.push(checked_in(market(), false));
    history.push(checked_in(safety(), false));
    history.push(replied(ReplyResult::Resolved));
    history.push(rated(Satisfaction::Dissatisfied));
    let r = replay(&history);
    let rated: Vec<(&str, Option<Satisfaction>)> = r
        .dispatches
        .iter()
        .map(|d| (d.unit.as_str(), d.rating))
        .collect();
    assert_eq!(
        rated,
        [
            ("qinghe-market", Some(Satisfaction::Dissatisfied)),
            ("qinghe-property", None),
            ("qinghe-safety", Some(Satisfaction::Dissatisfied)),
        ]
    );
}

#[test]
fn a_unit_is_offered_its_own_check_in_and_return_only_while_it_may_take_them() {
    use crate::CaseState;
    let state = |events: Vec<LivelihoodEvent>| {
        CaseState::replay(
            &events
                .into_iter()
                .map(crate::CaseEvent::from)
                .collect::<Vec<_>>(),
        )
        .unwrap()
        .unwrap()
    };
    let offered = |s: &CaseState, unit: &UnitId, at: Timestamp| {
        s.allowed_actions(Role::Handler, Some(unit), at)
    };
    let s = state(in_progress());
    // The market has checked in: it may not check in again, nor return the dispatch, nor reply
    // before the property company has checked in; the property company may check in.
    let market_may = offered(&s, &market(), now());
    assert!(!market_may.contains(&"check-in"), "{market_may:?}");
    assert!(!market_may.contains(&"return-dispatch"), "{market_may:?}");
    assert!(!market_may.contains(&"reply"), "{market_may:?}");
    assert!(offered(&s, &property(), now()).contains(&"check-in"));
    let all_in = state(all_checked_in());
    assert!(offered(&all_in, &market(), now()).contains(&"reply"));
    // After its two working days, no unit is offered the return.
    assert!(offered(&s, &property(), now()).contains(&"return-dispatch"));
    assert!(!offered(&s, &property(), day(10)).contains(&"return-dispatch"));
    // A unit not on the request is offered none of them.
    assert!(offered(&s, &safety(), now()).is_empty());
}

/// Figures slice by a request's channel under the name the API reads and writes.
#[test]
fn channels_are_named_as_in_json() {
    for channel in Channel::ALL {
        assert_eq!(
            serde_json::json!(channel),
            serde_json::json!(channel.as_str())
        );
    }
}
