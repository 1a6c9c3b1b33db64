//! Request decoding and `decide`, from arbitrary bytes: a filing body, then actions, each decoded
//! as the API decodes it and decided by a role at a moment. Nothing may panic; every decision's
//! events must fold into the state; every state must survive a JSON round trip.
//!
//! Input: chunks separated by 0xFF. The first chunk is the filing's JSON body; each further chunk
//! is [role, action, hours] then the action's JSON body.
#![no_main]

use docket_domain::deadlines::DeadlinePolicy;
use docket_domain::{CaseCommand, CaseId, CaseState, Context, Role, Timestamp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut chunks = data.split(|b| *b == 0xFF);
    let policy = DeadlinePolicy::default();
    let Some(filing) = chunks.next() else { return };
    let Ok(body) = serde_json::from_slice(filing) else {
        return;
    };
    let Ok(command) = CaseCommand::parse_filing(body) else {
        return;
    };
    let kind = command.kind();
    let case_id = CaseId::default();
    let mut now = Timestamp::from_second(1_760_000_000).unwrap();
    let mut state: Option<CaseState> = None;
    let mut step = |command: CaseCommand,
                    role: Role,
                    now: Timestamp,
                    state: &mut Option<CaseState>| {
        // A handler or mediator acts for the case's lead unit.
        let lead = state.as_ref().and_then(|s| s.handling.lead_unit.clone());
        let ctx = Context::new(role, now, case_id, &policy).of_unit(lead.as_ref());
        if let Ok(events) = command.decide(state.as_ref(), &ctx) {
            assert!(!events.is_empty(), "an accepted command records something");
            for event in &events {
                let (event_type, version, data) = event.to_record();
                let decoded = docket_domain::CaseEvent::from_record(&event_type, version, &data)
                    .expect("a recorded event decodes");
                assert_eq!(&decoded, event, "an event survives its record");
                *state = Some(CaseState::evolve(state.take(), event).expect("decided events fold"));
            }
            let json = serde_json::to_value(state.as_ref().unwrap()).unwrap();
            let back: CaseState = serde_json::from_value(json).expect("a state round-trips");
            assert_eq!(Some(&back), state.as_ref());
        }
    };
    step(command, Role::Supervisor, now, &mut state);
    if state.is_none() {
        return;
    }
    for chunk in chunks {
        let [role, action, hours, body @ ..] = chunk else {
            continue;
        };
        let role = Role::ALL[usize::from(*role) % Role::ALL.len()];
        let mut actions = kind.actions();
        actions.extend(
            docket_domain::common::Action::ALL
                .iter()
                .map(|a| a.as_str()),
        );
        let action = actions[usize::from(*action) % actions.len()];
        now = now + jiff::SignedDuration::from_hours(i64::from(*hours));
        let Ok(body) = serde_json::from_slice(body) else {
            continue;
        };
        if let Ok(command) = CaseCommand::parse_action(kind, action, body) {
            step(command, role, now, &mut state);
        }
    }
});
