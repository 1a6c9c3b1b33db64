//! The demo's plan: a tenant's year drawn as commands at moments, seeded, with the figures it
//! intends tallied from the plan itself (docs/figures.md). Pure: nothing here touches a store,
//! so `docket demo` and the statistics benchmark (`crates/server/benches/stats.rs`) draw the
//! same years.

use std::collections::HashMap;

use docket_domain::{CaseKind, Role};
use docket_projections::{MEDIAN, P90, percentile};
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

const HOUR: SignedDuration = SignedDuration::from_hours(1);
const DAY: SignedDuration = SignedDuration::from_hours(24);
const MINUTE: SignedDuration = SignedDuration::from_mins(1);

/// One command of the plan: at `at`, `who` does `action` with `body` to case `case` (its
/// filing when `action` is empty).
#[derive(Debug, Clone)]
pub(crate) struct Step {
    pub(crate) at: Timestamp,
    pub(crate) case: usize,
    pub(crate) who: Role,
    /// The unit a handler acts for, when not the tenant's safety office.
    pub(crate) unit: Option<String>,
    pub(crate) action: &'static str,
    pub(crate) body: Value,
    /// Another case of the plan the body names as `of` (a duplicate's original), by its index:
    /// its id is known once it is filed.
    pub(crate) refers: Option<usize>,
}

/// What the plan intends, in the figures' own terms (docs/figures.md).
#[derive(Debug, Default)]
pub(crate) struct Intended {
    counts: HashMap<&'static str, i64>,
    days_to_close: Vec<f64>,
    /// Per unit of the network, of its dispatches sent in the year: dispatched, checked in on
    /// time, late, returned.
    units: std::collections::BTreeMap<String, [i64; 4]>,
    minutes_to_check_in: Vec<f64>,
    hours_to_reply: Vec<f64>,
    /// Petitions filed in the year, per channel.
    channels: std::collections::BTreeMap<&'static str, i64>,
}

impl Intended {
    fn add(&mut self, figure: &'static str, n: i64) {
        *self.counts.entry(figure).or_default() += n;
    }
}

pub(crate) struct Plan {
    pub(crate) kinds: Vec<CaseKind>,
    pub(crate) steps: Vec<Step>,
    pub(crate) intended: Intended,
}

impl Plan {
    /// Plans `who` doing `action` with `body` to case `case` at `at`.
    fn step(&mut self, case: usize, at: Timestamp, who: Role, action: &'static str, body: Value) {
        self.steps.push(Step {
            at,
            case,
            who,
            unit: None,
            action,
            body,
            refers: None,
        });
    }

    /// Plans a handler of `unit` doing `action` with `body` to case `case` at `at`.
    fn step_for(
        &mut self,
        case: usize,
        at: Timestamp,
        unit: &str,
        action: &'static str,
        body: Value,
    ) {
        self.steps.push(Step {
            at,
            case,
            who: Role::Handler,
            unit: Some(unit.to_owned()),
            action,
            body,
            refers: None,
        });
    }
}

fn local(date: Date, seconds: i64) -> Timestamp {
    date.to_zoned_datetime(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
        .expect("a day of the year has a start")
        .timestamp()
        + SignedDuration::from_secs(seconds)
}

pub(crate) fn local_date(t: Timestamp) -> Date {
    t.to_zoned_datetime(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
        .date()
}

/// Draws the year.
pub(crate) fn plan(tenant: &str, year: i16, scale: f64, seed: u64) -> Plan {
    let mut rng = fastrand::Rng::with_seed(seed);
    let first = Date::new(year, 1, 1).expect("a valid year");
    let days = i64::from(first.days_in_year());
    let in_year = |t: Timestamp| local_date(t).year() == year;
    let n = |per_year: f64| (per_year * scale).round() as usize;
    // Where a case is: a grid of the demo directory, in its community.
    let place = |rng: &mut fastrand::Rng| {
        let n = rng.usize(1..=super::directory::GRIDS);
        (
            super::directory::community_of_grid(n),
            super::directory::grid(tenant, n),
        )
    };
    let mut plan = Plan {
        kinds: Vec::new(),
        steps: Vec::new(),
        intended: Intended::default(),
    };
    let evidence = json!([{"content_hash": format!("sha256:{}", "ab".repeat(32)),
                           "media_type": "image/jpeg", "size": 204_800, "blob": "blobs/demo.jpg"}]);
    // Filing moments: a random day, between 08:00 and 12:00, no two cases at the same second.
    let mut serial = 0i64;
    let mut filed_at = |rng: &mut fastrand::Rng| {
        serial += 1;
        local(
            first + SignedDuration::from_hours(24 * rng.i64(0..days)),
            8 * 3600 + (serial * 7919) % 14_400,
        )
    };
    // Closing a case: counted in the figures of the year if it closes within it.
    fn closed(
        i: &mut Intended,
        in_year: bool,
        filed: Timestamp,
        at: Timestamp,
        resolved: bool,
        on_time: bool,
        kind: CaseKind,
    ) {
        i.add("closure_rate", 1);
        if !in_year {
            return;
        }
        i.add("closed", 1);
        i.days_to_close.push((at - filed).as_secs_f64() / 86_400.0);
        if on_time {
            i.add("closed_on_time", 1);
        }
        if resolved {
            i.add("resolution_rate", 1);
        }
        match kind {
            CaseKind::Hazard if resolved => i.add("hazards_struck_off", 1),
            CaseKind::Dispute => {
                i.add("dispute_resolution_rate/denominator", 1);
                if resolved {
                    i.add("mediation_success_rate", 1);
                }
            }
            _ => {}
        }
    }
    let visit = |plan: &mut Plan, rng: &mut fastrand::Rng, case: usize, after: Timestamp| {
        if rng.f64() < 0.2 {
            let at = after + DAY * 3;
            let satisfaction = match rng.u8(0..10) {
                0 => "dissatisfied",
                1 => "basically_satisfied",
                _ => "satisfied",
            };
            if in_year(at) {
                plan.intended.add("return_visits", 1);
                plan.intended.add(
                    if satisfaction == "dissatisfied" {
                        "return_visits_dissatisfied"
                    } else {
                        "satisfaction_rate"
                    },
                    1,
                );
            }
            plan.step(
                case,
                at,
                Role::Supervisor,
                "return-visit",
                json!({"satisfaction": satisfaction}),
            );
        }
    };
    // How a case ended (closing time, resolved, on time), or that it is open still.
    let finish = |plan: &mut Plan,
                  rng: &mut fastrand::Rng,
                  case: usize,
                  kind: CaseKind,
                  filed: Timestamp,
                  end: Option<(Timestamp, bool, bool)>| {
        match end {
            Some((at, resolved, on_time)) => {
                closed(
                    &mut plan.intended,
                    in_year(at),
                    filed,
                    at,
                    resolved,
                    on_time,
                    kind,
                );
                if resolved {
                    visit(plan, rng, case, at);
                }
            }
            None => plan.intended.add("still_open", 1),
        }
    };

    // Hazards found on patrol; the first filed of those planned so far, which a later report
    // of the same hazard duplicates.
    let mut earliest_hazard: Option<(usize, Timestamp)> = None;
    for i in 0..n(6000.0) {
        let case = plan.kinds.len();
        plan.kinds.push(CaseKind::Hazard);
        let t0 = filed_at(&mut rng);
        let original = earliest_hazard.filter(|(_, at)| *at < t0);
        if original.is_none() {
            earliest_hazard = Some((case, t0));
        }
        let major = rng.f64() < 0.15;
        let categories = ["fire", "gas", "e-bike-charging", "structure", "electrical"];
        let (community, grid) = place(&mut rng);
        plan.steps.push(Step {
            unit: None,
            at: t0,
            case,
            who: Role::GridWorker,
            action: "",
            refers: None,
            body: json!({"kind": "hazard", "community": community, "grid": grid, "unit": format!("{tenant}-safety"),
                "title": "巡查发现隐患", "category": categories[rng.usize(0..categories.len())],
                "severity": if major { "major" } else { "general" }, "source": "grid-worker"}),
        });
        plan.intended.add("opened", 1);
        plan.intended.add("hazards_found", 1);
        let path = rng.u8(0..100);
        // One report in fifty is of a hazard already reported: marked a duplicate of the
        // ticket filed first.
        let end = if let Some((original, _)) = original.filter(|_| i % 50 == 49) {
            plan.steps.push(Step {
                at: t0 + HOUR,
                case,
                who: Role::Handler,
                unit: None,
                action: "mark-duplicate",
                body: json!({"note": "同一隐患重复上报"}),
                refers: Some(original),
            });
            plan.intended.add("closed_duplicates", 1);
            Some((t0 + HOUR, false, true))
        } else if path < 60 && !major {
            // Fixed on the spot.
            plan.step(
                case,
                t0 + HOUR,
                Role::Handler,
                "fix-on-spot",
                json!({"evidence": evidence}),
            );
            plan.step(
                case,
                t0 + DAY,
                Role::Handler,
                "pass-reinspection",
                json!({}),
            );
            if in_year(t0 + HOUR) {
                plan.intended.add("hazards_rectified", 1);
            }
            Some((t0 + DAY, true, true))
        } else if path < 90 {
            // Verified, ordered, rectified; some after an extension; some verified late.
            let late = path >= 85;
            let verified = if late { t0 + DAY * 30 } else { t0 + HOUR };
            if late && in_year(verified) {
                plan.intended.add("deadlines_missed", 1);
            }
            plan.step(
                case,
                verified,
                Role::Handler,
                "verify",
                json!({"severity": if major { "major" } else { "general" },
                       "responsible_party": "物业公司"}),
            );
            plan.step(
                case,
                verified + HOUR,
                Role::Handler,
                "order-rectification",
                json!({"measures": "限期整改"}),
            );
            // 督办: the supervisor presses some tickets; the safety office answers within
            // the notice's three days, or late.
            if path % 6 == 1 {
                let noticed = verified + HOUR * 2;
                plan.step(
                    case,
                    noticed,
                    Role::Supervisor,
                    "supervise",
                    json!({"notice": "请加快整改进度",
                           "due_on": (local_date(noticed) + DAY * 3).to_string()}),
                );
                let on_time = path % 12 == 1;
                let answered = noticed + if on_time { DAY } else { DAY * 6 };
                plan.step(
                    case,
                    answered,
                    Role::Handler,
                    "answer-supervision",
                    json!({"notice": 1, "answer": "已督促责任方整改"}),
                );
                if in_year(noticed) {
                    plan.intended.add("supervisions", 1);
                }
                if in_year(answered) {
                    plan.intended.add(
                        if on_time {
                            "supervisions_answered_on_time"
                        } else {
                            "supervisions_answered_late"
                        },
                        1,
                    );
                }
            }
            let mut at = verified + HOUR + DAY;
            if path % 7 == 3 && !path.is_multiple_of(5) {
                // Asked for and refused: the step keeps its deadline.
                plan.step(
                    case,
                    at,
                    Role::Handler,
                    "request-extension",
                    json!({"days": 10, "reason": "材料采购"}),
                );
                plan.step(
                    case,
                    at + HOUR,
                    Role::Supervisor,
                    "refuse-extension",
                    json!({"reason": "整改难度不大，按期完成"}),
                );
                if in_year(at) {
                    plan.intended.add("extension_requests", 1);
                }
                if in_year(at + HOUR) {
                    plan.intended.add("extensions_refused", 1);
                }
            }
            if path.is_multiple_of(5) {
                plan.step(
                    case,
                    at,
                    Role::Handler,
                    "request-extension",
                    json!({"days": 10, "reason": "材料采购"}),
                );
                if in_year(at) {
                    plan.intended.add("extension_requests", 1);
                }
                plan.step(
                    case,
                    at + HOUR,
                    Role::Supervisor,
                    "approve-extension",
                    json!({}),
                );
                if in_year(at + HOUR) {
                    plan.intended.add("extensions", 1);
                }
                at += DAY;
            }
            at += DAY;
            plan.step(
                case,
                at,
                Role::GridWorker,
                "report-rectified",
                json!({"evidence": evidence}),
            );
            if in_year(at) {
                plan.intended.add("hazards_rectified", 1);
            }
            plan.step(
                case,
                at + DAY,
                Role::Handler,
                "pass-reinspection",
                json!({}),
            );
            Some((at + DAY, true, !late))
        } else if path < 95 {
            plan.step(
                case,
                t0 + HOUR,
                Role::Handler,
                "dismiss",
                json!({"reason": "not-a-hazard"}),
            );
            Some((t0 + HOUR, false, true))
        } else {
            None
        };
        finish(&mut plan, &mut rng, case, CaseKind::Hazard, t0, end);
    }

    // Disputes brought to the mediation room.
    for _ in 0..n(850.0) {
        let case = plan.kinds.len();
        plan.kinds.push(CaseKind::Dispute);
        let t0 = filed_at(&mut rng);
        let types = [
            "neighbour",
            "property-management",
            "family",
            "tenancy",
            "labour",
        ];
        let (community, grid) = place(&mut rng);
        plan.steps.push(Step {
            unit: None,
            at: t0,
            case,
            who: Role::Mediator,
            action: "",
            refers: None,
            body: json!({"kind": "dispute", "community": community, "grid": grid, "room": format!("{tenant}-mediation"),
                "title": "邻里纠纷", "dispute_type": types[rng.usize(0..types.len())],
                "source": "walk-in",
                "parties": [{"side": "applicant", "name": "申请人"},
                            {"side": "respondent", "name": "被申请人"}]}),
        });
        plan.intended.add("opened", 1);
        let accept = json!({"mediator": "调解员", "room": format!("{tenant}-mediation")});
        let path = rng.u8(0..100);
        let end = if path < 75 {
            plan.step(case, t0 + HOUR, Role::Mediator, "accept", accept);
            let agreed = t0 + DAY * 10;
            plan.step(
                case,
                agreed,
                Role::Mediator,
                "record-agreement",
                json!({"form": "written", "terms": "双方达成一致",
                       "performance_date": local_date(agreed + DAY * 5).to_string()}),
            );
            if path.is_multiple_of(4) {
                plan.step(
                    case,
                    agreed + DAY,
                    Role::Mediator,
                    "record-judicial-confirmation",
                    json!({"status": "applied"}),
                );
                if in_year(agreed + DAY) {
                    plan.intended.add("judicial_confirmations", 1);
                }
            }
            plan.step(
                case,
                agreed + DAY * 6,
                Role::Mediator,
                "confirm-performance",
                json!({}),
            );
            if in_year(agreed + DAY * 6) {
                plan.intended.add("mediation_success_rate/denominator", 1);
            }
            Some((agreed + DAY * 6, true, true))
        } else if path < 85 {
            plan.step(
                case,
                t0 + HOUR,
                Role::Mediator,
                "decline",
                json!({"reason": "outside-scope"}),
            );
            Some((t0 + HOUR, false, true))
        } else if path < 95 {
            plan.step(case, t0 + HOUR, Role::Mediator, "accept", accept);
            plan.step(
                case,
                t0 + DAY * 12,
                Role::Mediator,
                "record-failure",
                json!({"reason": "分歧较大", "routes_told": ["litigation"]}),
            );
            plan.step(
                case,
                t0 + DAY * 12 + HOUR,
                Role::Mediator,
                "refer",
                json!({"to": "litigation"}),
            );
            if in_year(t0 + DAY * 12 + HOUR) {
                plan.intended.add("mediation_success_rate/denominator", 1);
            }
            Some((t0 + DAY * 12 + HOUR, false, true))
        } else {
            None
        };
        finish(&mut plan, &mut rng, case, CaseKind::Dispute, t0, end);
    }

    // Petitions: letters, online, phone, and visits; some by people who petition again.
    let regulars: Vec<String> = (0..n(200.0).max(1))
        .map(|i| {
            let digits = format!("110105198001{:02}{:03}", 1 + i % 28, i % 1000);
            let check = docket_domain::person::check_character(&digits).expect("17 digits");
            format!("{digits}{}", char::from(check))
        })
        .collect();
    let mut by_person: HashMap<usize, Vec<Timestamp>> = HashMap::new();
    let petitions = n(2900.0);
    let visits = n(162.0);
    for p in 0..petitions {
        let case = plan.kinds.len();
        plan.kinds.push(CaseKind::Petition);
        let t0 = filed_at(&mut rng);
        let channel = if p < visits {
            "visit"
        } else {
            ["letter", "online", "phone"][rng.usize(0..3)]
        };
        // Every fifth visit is collective (集体访): five people or more.
        let headcount = if channel == "visit" && p % 5 == 0 {
            5 + (p % 26) as i64
        } else {
            1
        };
        let regular = (rng.f64() < 0.3).then(|| rng.usize(0..regulars.len()));
        // The first tenth of the regulars are key persons (重点人员); a few petitions carry a
        // risk of going over the district's head (越级, 赴京).
        let key_person = regular.is_some_and(|r| r < regulars.len().div_ceil(10));
        let escalation_risk = match (p % 50, p % 200) {
            (_, 33) => Some("to-beijing"),
            (17, _) => Some("cross-level"),
            _ => None,
        };
        *plan.intended.channels.entry(channel).or_default() += 1;
        plan.intended.add("petitions_received", 1);
        if headcount >= 5 {
            plan.intended.add("collective_visits", 1);
            plan.intended.add("collective_visitors", headcount);
        }
        if key_person {
            plan.intended.add("key_person_petitions", 1);
        }
        if escalation_risk.is_some() {
            plan.intended.add("escalation_risk_petitions", 1);
        }
        let petitioner = match regular {
            Some(r) => {
                by_person.entry(r).or_default().push(t0);
                json!({"name": "老申", "id_number": regulars[r]})
            }
            None => json!({"name": "来信人"}),
        };
        let categories = [
            "housing",
            "labour-and-wages",
            "urban-management",
            "environment",
        ];
        let (community, grid) = place(&mut rng);
        plan.steps.push(Step {
            unit: None,
            at: t0,
            case,
            who: Role::PetitionOfficer,
            action: "",
            refers: None,
            body: json!({"kind": "petition", "community": community, "grid": grid, "title": "群众诉求",
                "channel": channel, "petition_type": "appeal-request",
                "category": categories[rng.usize(0..categories.len())],
                "petitioners": [petitioner], "headcount": headcount, "key_person": key_person,
                "escalation_risk": escalation_risk}),
        });
        plan.intended.add("opened", 1);
        plan.intended.add("repeat_rate/denominator", 1);
        let unit = ["housing", "safety", "urban"][rng.usize(0..3)];
        let path = rng.u8(0..100);
        let late = (70..75).contains(&path);
        let accepted = if late { t0 + DAY * 30 } else { t0 + DAY };
        if late && in_year(accepted) {
            plan.intended.add("deadlines_missed", 1);
            plan.intended.add("became_backlog", 1);
        }
        let end = if path < 80 {
            plan.step(
                case,
                accepted,
                Role::PetitionOfficer,
                "accept",
                json!({"unit": format!("{tenant}-{unit}")}),
            );
            let replied = accepted + DAY * 20;
            plan.step(
                case,
                replied,
                Role::PetitionOfficer,
                "reply",
                json!({"outcome": "support", "opinion": "已依法处理"}),
            );
            if path < 65 || late {
                plan.step(
                    case,
                    replied + DAY * 3,
                    Role::PetitionOfficer,
                    "confirm-satisfied",
                    json!({}),
                );
                Some((replied + DAY * 3, true, !late))
            } else {
                plan.step(
                    case,
                    replied + DAY * 5,
                    Role::PetitionOfficer,
                    "request-review",
                    json!({"reason": "对处理意见不服"}),
                );
                if in_year(replied + DAY * 5) {
                    plan.intended.add("reviews", 1);
                }
                plan.step(
                    case,
                    replied + DAY * 15,
                    Role::Supervisor,
                    "decide-review",
                    json!({"decision": "upheld", "opinion": "维持原处理意见"}),
                );
                plan.step(
                    case,
                    replied + DAY * 16,
                    Role::PetitionOfficer,
                    "close",
                    json!({}),
                );
                Some((replied + DAY * 16, true, true))
            }
        } else if path < 90 {
            plan.step(
                case,
                t0 + DAY,
                Role::PetitionOfficer,
                "not-accept",
                json!({"reason": "已进入诉讼程序", "route": "litigation"}),
            );
            Some((t0 + DAY, false, true))
        } else {
            None
        };
        finish(&mut plan, &mut rng, case, CaseKind::Petition, t0, end);
    }
    // Stability-risk events (涉稳): the report's 57 found and 53 struck off; of the rest, half
    // escalated to the district and half still under control at the year's end.
    let policy = docket_domain::deadlines::DeadlinePolicy::default();
    let risks = n(57.0);
    let struck = if risks >= 3 {
        ((risks as f64 * 53.0 / 57.0).round() as usize).min(risks - 2)
    } else {
        risks.saturating_sub(1)
    };
    let escalated = (risks - struck) / 2;
    let year_end = local(first, 0) + DAY * days as i32;
    for r in 0..risks {
        let level_limit = |days: i32| docket_domain::deadlines::Limit::days(days as u32);
        let case = plan.kinds.len();
        plan.kinds.push(CaseKind::RiskEvent);
        let t0 = filed_at(&mut rng);
        let (community, grid) = place(&mut rng);
        let categories = [
            "wage-arrears",
            "relocation-compensation",
            "property",
            "investment-finance",
            "group-visit",
            "public-safety",
        ];
        let sources = [
            "grid-patrol",
            "petition",
            "dispute",
            "hotline",
            "police-notice",
        ];
        plan.steps.push(Step {
            unit: None,
            at: t0,
            case,
            who: Role::GridWorker,
            action: "",
            refers: None,
            body: json!({"kind": "risk_event", "community": community, "grid": grid,
                "title": "涉稳风险线索", "category": categories[rng.usize(0..categories.len())],
                "source": sources[rng.usize(0..sources.len())],
                "people": [{"name": "涉事群众"}], "headcount": rng.u32(1..60)}),
        });
        plan.intended.add("opened", 1);
        plan.intended.add("risks_found", 1);
        plan.intended.add("strike_off_rate/denominator", 1);
        let (level, review_days) = match rng.u8(0..10) {
            0..=1 => ("major", 7),
            2..=4 => ("large", 15),
            _ => ("general", 30),
        };
        let assessed = t0 + 4 * HOUR;
        plan.step(
            case,
            assessed,
            Role::Supervisor,
            "assess",
            json!({"level": level, "reason": "研判"}),
        );
        if in_year(assessed) {
            plan.intended.add("risks_assessed", 1);
        }
        if r >= struck && r < struck + escalated {
            let at = assessed + DAY;
            plan.step(
                case,
                at,
                Role::Supervisor,
                "escalate",
                json!({"reason": "超出街道处置权限"}),
            );
            plan.intended.add("risks_escalated", 1);
            finish(
                &mut plan,
                &mut rng,
                case,
                CaseKind::RiskEvent,
                t0,
                Some((at, false, true)),
            );
            continue;
        }
        let controlled = assessed + DAY;
        plan.step(
            case,
            controlled,
            Role::Supervisor,
            "control",
            json!({"measures": "专人稳控，每日联系", "unit": format!("{tenant}-safety"),
                   "responsible_person": "王科长", "leader": "李书记"}),
        );
        if r >= struck {
            // Still under control: its next review is long overdue by now, and due within the
            // year unless the year ended first.
            plan.intended.add("risks_under_control", 1);
            plan.intended.add("risk_reviews_overdue", 1);
            if policy.due(controlled, level_limit(review_days)) < year_end {
                plan.intended.add("risk_reviews_due", 1);
            }
            finish(&mut plan, &mut rng, case, CaseKind::RiskEvent, t0, None);
            continue;
        }
        // Reviewed before each review falls due, then struck off.
        let mut at = controlled;
        for _ in 0..rng.u8(1..=3) {
            at += DAY * (review_days - 2);
            plan.step(
                case,
                at,
                Role::Handler,
                "review",
                json!({"situation": "情况平稳", "trend": "eased"}),
            );
            if in_year(at) {
                plan.intended.add("risk_reviews", 1);
            }
        }
        at += DAY;
        plan.step(
            case,
            at,
            Role::Supervisor,
            "strike-off",
            json!({"basis": "风险已化解", "evidence": evidence}),
        );
        plan.intended.add("risks_struck_off", 1);
        plan.intended.add("strike_off_rate", 1);
        finish(
            &mut plan,
            &mut rng,
            case,
            CaseKind::RiskEvent,
            t0,
            Some((at, true, true)),
        );
    }

    // Livelihood requests (民呼我为) answered by the network (一呼百应): a market or an office
    // leads, others co-handle; some units return a dispatch, some check in late; a dissatisfied
    // resident's request is redone once.
    let network: Vec<String> = (1..=22)
        .map(|m| format!("{tenant}-market-{m:02}"))
        .chain(
            [
                "safety",
                "urban",
                "housing",
                "labour",
                "police",
                "fire",
                "property-1",
                "property-2",
                "property-3",
                "water",
            ]
            .map(|u| format!("{tenant}-{u}")),
        )
        .collect();
    for _ in 0..n(800.0) {
        let case = plan.kinds.len();
        plan.kinds.push(CaseKind::Livelihood);
        let t0 = filed_at(&mut rng);
        let (community, grid) = place(&mut rng);
        let (urgency, pace) = match rng.u8(0..20) {
            0 => ("emergency", MINUTE),
            1..=3 => ("utility", 4 * MINUTE),
            4..=17 => ("general", 10 * MINUTE),
            _ => ("complex", 10 * MINUTE),
        };
        let urgency_of = |limits: &docket_domain::deadlines::ByUrgency| match urgency {
            "emergency" => limits.emergency,
            "utility" => limits.utility,
            "general" => limits.general,
            _ => limits.complex,
        };
        let channel = [
            "hotline",
            "grid-worker",
            "walk-in",
            "grid-meeting",
            "resident-app",
        ][rng.usize(0..5)];
        let categories = [
            "market-order",
            "property-service",
            "utilities",
            "environment",
            "traffic-parking",
            "public-facilities",
            "noise",
        ];
        let mut body = json!({"kind": "livelihood", "community": community, "grid": grid,
            "title": "群众诉求", "channel": channel, "urgency": urgency,
            "category": categories[rng.usize(0..categories.len())],
            "requester": {"name": "来电群众", "phone": "13800000000"}});
        if channel == "hotline" {
            body["hotline_order"] = json!(format!("12345-{year}-{case:06}"));
        }
        plan.steps.push(Step {
            unit: None,
            at: t0,
            case,
            who: Role::PetitionOfficer,
            action: "",
            refers: None,
            body,
        });
        plan.intended.add("opened", 1);
        plan.intended.add("requests_received", 1);
        // The units: a lead and up to three co-handlers, all different.
        let mut units: Vec<String> = Vec::new();
        let wanted = 1 + match rng.u8(0..10) {
            0..=4 => 0,
            5..=7 => 1,
            8 => 2,
            _ => 3,
        };
        while units.len() < wanted {
            let u = network[rng.usize(0..network.len())].clone();
            if !units.contains(&u) {
                units.push(u);
            }
        }
        if wanted > 1 {
            plan.intended.add("requests_coordinated", 1);
        }
        let mut start = t0;
        let mut handle_by = policy.due_within(t0, urgency_of(&policy.livelihood.handle));
        let mut on_time = true;
        let mut round = 1;
        let closing = loop {
            // Dispatched (or redone) shortly after the request came in.
            let dispatched = start + pace;
            let (action, who) = if round == 1 {
                ("dispatch", Role::PetitionOfficer)
            } else {
                ("redo", Role::Supervisor)
            };
            let mut dispatch_body = json!({"lead": units[0], "co_handlers": units[1..]});
            if round > 1 {
                dispatch_body["reason"] = json!("群众不满意，重办");
            }
            plan.step(case, dispatched, who, action, dispatch_body);
            if round > 1 && in_year(dispatched) {
                plan.intended.add("redone", 1);
            }
            let check_in_by =
                policy.due_within(dispatched, urgency_of(&policy.livelihood.check_in));
            // Each unit: a co-handler may return it at once; one may check in late; the rest
            // check in within their limit and record their parts.
            let mut times: Vec<Timestamp> = Vec::new();
            let mut answered: Vec<(String, Timestamp)> = Vec::new();
            for (i, unit) in units.iter().enumerate() {
                let tally = |plan: &mut Plan, k: usize| {
                    if in_year(dispatched) {
                        plan.intended.units.entry(unit.clone()).or_default()[k] += 1;
                    }
                };
                tally(&mut plan, 0);
                if round == 1 && i > 0 && rng.u8(0..10) == 0 {
                    let at = dispatched + pace / 2;
                    plan.step_for(
                        case,
                        at,
                        unit,
                        "return-dispatch",
                        json!({"reason": "不属本单位职责"}),
                    );
                    tally(&mut plan, 3);
                    if in_year(at) {
                        plan.intended.add("dispatches_returned", 1);
                    }
                    times.push(at);
                    continue;
                }
                let late = round == 1 && rng.u8(0..8) == 0;
                let at = if late {
                    check_in_by + pace * 2
                } else {
                    dispatched + pace * rng.i32(1..=2)
                };
                plan.step_for(case, at, unit, "check-in", json!({}));
                tally(&mut plan, if late { 2 } else { 1 });
                if in_year(dispatched) {
                    plan.intended
                        .minutes_to_check_in
                        .push((at - dispatched).as_secs_f64() / 60.0);
                }
                if late {
                    // Recorded by the late check-in itself, or by a command before it.
                    if in_year(at) {
                        plan.intended.add("check_ins_missed", 1);
                    }
                }
                times.push(at);
                answered.push((unit.clone(), at));
            }
            for (unit, checked_in) in &answered {
                let at = *checked_in + pace;
                plan.step_for(case, at, unit, "record-part", json!({"text": "已到场处置"}));
                times.push(at);
            }
            let replied = times.iter().copied().max().expect("a unit answers") + pace;
            times.push(replied);
            // From the start of the round: receipt, or the redo.
            if in_year(replied) {
                let started = if round == 1 { t0 } else { dispatched };
                plan.intended
                    .hours_to_reply
                    .push((replied - started).as_secs_f64() / 3600.0);
            }
            let result = match rng.u8(0..20) {
                0 => "not-resolved",
                1..=2 => "partly-resolved",
                _ => "resolved",
            };
            plan.step_for(
                case,
                replied,
                &units[0],
                "reply",
                json!({"result": result, "text": "已答复群众"}),
            );
            // The handling limit: the first command at or after it records the miss.
            if let Some(first_late) = times.iter().copied().filter(|t| *t >= handle_by).min() {
                on_time = false;
                if in_year(first_late) {
                    plan.intended.add("deadlines_missed", 1);
                }
            }
            if in_year(replied) {
                plan.intended.add("requests_replied", 1);
                if result == "resolved" {
                    plan.intended.add("requests_resolved", 1);
                }
            }
            let rated = replied + DAY;
            let rating = match rng.u8(0..100) {
                0..=69 => Some("satisfied"),
                70..=84 => Some("basically_satisfied"),
                85..=91 => Some("dissatisfied"),
                _ => None,
            };
            let closed_at = match rating {
                Some(rating) => {
                    plan.step(
                        case,
                        rated,
                        Role::PetitionOfficer,
                        "rate",
                        json!({"rating": rating}),
                    );
                    if in_year(rated) {
                        plan.intended.add("ratings", 1);
                        if rating != "dissatisfied" {
                            plan.intended.add("rated_satisfied", 1);
                        }
                    }
                    rated
                }
                None => {
                    let at = policy.due(replied, policy.livelihood.rate) + HOUR;
                    plan.step(case, at, Role::PetitionOfficer, "close-unrated", json!({}));
                    at
                }
            };
            if rating == Some("dissatisfied") && round == 1 {
                // Redone by the same units, from the day after.
                round += 1;
                start = closed_at + DAY;
                handle_by = policy.due_within(start + pace, urgency_of(&policy.livelihood.handle));
                continue;
            }
            break (closed_at, result == "resolved");
        };
        let (closed_at, resolved) = closing;
        closed(
            &mut plan.intended,
            in_year(closed_at),
            t0,
            closed_at,
            resolved,
            on_time,
            CaseKind::Livelihood,
        );
    }

    // A petition repeats one by the same person filed in the 365 days before it.
    for times in by_person.values_mut() {
        times.sort();
        for (i, t) in times.iter().enumerate() {
            if i > 0 && *t - times[i - 1] <= DAY * 365 {
                plan.intended.add("repeat_rate", 1);
            }
        }
    }
    plan.steps.sort_by_key(|s| (s.at, s.case));
    plan
}

/// Turns the tallies into figures as `GET /v1/stats` names them.
pub(crate) fn intended_figures(plan: &mut Plan) -> Value {
    let c = |name: &str| plan.intended.counts.get(name).copied().unwrap_or(0);
    let opened = c("opened");
    let still_open = c("still_open");
    let mut figures = serde_json::Map::new();
    let mut put = |name: &str, value: Value| {
        figures.insert(name.to_owned(), value);
    };
    put("opened", json!(opened));
    put("closed", json!(c("closed")));
    put("still_open", json!(still_open));
    // Every case left open is past its first deadline: the year is over.
    put("overdue", json!(still_open));
    put("closed_on_time", json!(c("closed_on_time")));
    put(
        "closure_rate",
        json!({"numerator": c("closure_rate"), "denominator": opened}),
    );
    put(
        "resolution_rate",
        json!({"numerator": c("resolution_rate"), "denominator": c("closed")}),
    );
    put(
        "on_time_rate",
        json!({"numerator": c("closed_on_time"), "denominator": c("closed")}),
    );
    put(
        "satisfaction_rate",
        json!({"numerator": c("satisfaction_rate"), "denominator": c("return_visits")}),
    );
    put(
        "repeat_rate",
        json!({"numerator": c("repeat_rate"), "denominator": c("repeat_rate/denominator")}),
    );
    put(
        "mediation_success_rate",
        json!({"numerator": c("mediation_success_rate"),
               "denominator": c("mediation_success_rate/denominator")}),
    );
    put(
        "dispute_resolution_rate",
        json!({"numerator": c("mediation_success_rate"),
               "denominator": c("dispute_resolution_rate/denominator")}),
    );
    for name in [
        "hazards_found",
        "hazards_struck_off",
        "closed_duplicates",
        "extension_requests",
        "extensions",
        "extensions_refused",
        "supervisions",
        "supervisions_answered_on_time",
        "supervisions_answered_late",
        "return_visits_dissatisfied",
        "petitions_received",
        "collective_visits",
        "collective_visitors",
        "key_person_petitions",
        "escalation_risk_petitions",
        "reviews",
        "re_reviews",
        "judicial_confirmations",
        "hazards_rectified",
        "return_visits",
        "deadlines_missed",
        "became_backlog",
        "reopened",
    ] {
        put(name, json!(c(name)));
    }
    let days = &mut plan.intended.days_to_close;
    days.sort_by(f64::total_cmp);
    put("median_days_to_close", json!(percentile(days, MEDIAN)));
    put("p90_days_to_close", json!(percentile(days, P90)));

    // Risk events and the network.
    for name in [
        "risks_found",
        "risks_under_control",
        "risk_reviews_due",
        "risk_reviews_overdue",
        "risks_struck_off",
        "risks_escalated",
        "risks_assessed",
        "risk_reviews",
        "requests_received",
        "requests_coordinated",
        "dispatches_returned",
        "check_ins_missed",
    ] {
        put(name, json!(c(name)));
    }
    put("requests_redone", json!(c("redone")));
    put(
        "strike_off_rate",
        json!({"numerator": c("strike_off_rate"), "denominator": c("strike_off_rate/denominator")}),
    );
    put(
        "request_resolution_rate",
        json!({"numerator": c("requests_resolved"), "denominator": c("requests_replied")}),
    );
    put(
        "request_satisfaction_rate",
        json!({"numerator": c("rated_satisfied"), "denominator": c("ratings")}),
    );
    let units = &plan.intended.units;
    let sum = |k: usize| units.values().map(|u| u[k]).sum::<i64>();
    put("units_dispatched", json!(sum(0)));
    put("check_ins_late", json!(sum(2)));
    put(
        "response_rate",
        json!({"numerator": sum(1), "denominator": sum(0)}),
    );
    let minutes = &mut plan.intended.minutes_to_check_in;
    minutes.sort_by(f64::total_cmp);
    put(
        "median_minutes_to_check_in",
        json!(percentile(minutes, MEDIAN)),
    );
    put("p90_minutes_to_check_in", json!(percentile(minutes, P90)));
    let hours = &mut plan.intended.hours_to_reply;
    hours.sort_by(f64::total_cmp);
    put("median_hours_to_reply", json!(percentile(hours, MEDIAN)));
    put("p90_hours_to_reply", json!(percentile(hours, P90)));
    Value::Object(figures)
}

/// The petitions the plan files per channel (来信, 来访, 网上, 来电), as `by=channel` groups
/// them.
pub(crate) fn intended_channels(plan: &Plan) -> Value {
    plan.intended
        .channels
        .iter()
        .map(|(channel, n)| ((*channel).to_owned(), json!({"petitions_received": n})))
        .collect::<serde_json::Map<String, Value>>()
        .into()
}

/// The per-unit table the plan intends: for each unit of the network dispatched in the year,
/// its dispatches, check-ins on time and late, and returns.
pub(crate) fn intended_units(plan: &Plan) -> Value {
    plan.intended
        .units
        .iter()
        .map(|(unit, [dispatched, on_time, late, returned])| {
            (
                unit.clone(),
                json!({"dispatched": dispatched, "checked_in_on_time": on_time,
                       "late": late, "returned": returned}),
            )
        })
        .collect::<serde_json::Map<String, Value>>()
        .into()
}
