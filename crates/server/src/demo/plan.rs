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

/// One command of the plan: at `at`, `who` does `action` with `body` to case `case` (its
/// filing when `action` is empty).
#[derive(Debug, Clone)]
pub(crate) struct Step {
    pub(crate) at: Timestamp,
    pub(crate) case: usize,
    pub(crate) who: Role,
    pub(crate) action: &'static str,
    pub(crate) body: Value,
}

/// What the plan intends, in the figures' own terms (docs/figures.md).
#[derive(Debug, Default)]
pub(crate) struct Intended {
    counts: HashMap<&'static str, i64>,
    days_to_close: Vec<f64>,
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
            action,
            body,
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
                i.add("mediation_success_rate/denominator", 1);
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
                if satisfaction != "dissatisfied" {
                    plan.intended.add("satisfaction_rate", 1);
                }
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

    // Hazards found on patrol.
    for _ in 0..n(6000.0) {
        let case = plan.kinds.len();
        plan.kinds.push(CaseKind::Hazard);
        let t0 = filed_at(&mut rng);
        let major = rng.f64() < 0.15;
        let categories = ["fire", "gas", "e-bike-charging", "structure", "electrical"];
        let (community, grid) = place(&mut rng);
        plan.steps.push(Step {
            at: t0,
            case,
            who: Role::GridWorker,
            action: "",
            body: json!({"kind": "hazard", "community": community, "grid": grid, "unit": format!("{tenant}-safety"),
                "title": "巡查发现隐患", "category": categories[rng.usize(0..categories.len())],
                "severity": if major { "major" } else { "general" }, "source": "grid-worker"}),
        });
        plan.intended.add("opened", 1);
        plan.intended.add("hazards_found", 1);
        let path = rng.u8(0..100);
        let end = if path < 60 && !major {
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
            let mut at = verified + HOUR + DAY;
            if path.is_multiple_of(5) {
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
            at: t0,
            case,
            who: Role::Mediator,
            action: "",
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
            Some((t0 + DAY * 12 + HOUR, false, true))
        } else {
            None
        };
        finish(&mut plan, &mut rng, case, CaseKind::Dispute, t0, end);
    }

    // Petitions: letters, online, phone, and visits; some by people who petition again.
    let regulars: Vec<String> = (0..n(200.0).max(1))
        .map(|i| format!("110105198001{:02}{:03}X", 1 + i % 28, i % 1000))
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
        let regular = (rng.f64() < 0.3).then(|| rng.usize(0..regulars.len()));
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
            at: t0,
            case,
            who: Role::PetitionOfficer,
            action: "",
            body: json!({"kind": "petition", "community": community, "grid": grid, "title": "群众诉求",
                "channel": channel, "petition_type": "appeal-request",
                "category": categories[rng.usize(0..categories.len())],
                "petitioners": [petitioner]}),
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
    for name in [
        "hazards_found",
        "hazards_struck_off",
        "extensions",
        "supervisions",
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
    Value::Object(figures)
}
