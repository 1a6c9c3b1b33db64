//! The permission matrix: every role, every action of every kind, on a case within and a case
//! outside the caller's reach, and for handlers and mediators, as the lead unit (主办), a
//! co-handling unit (协办) and an unrelated unit. Outside reach (an unrelated unit included) is
//! 404 whatever the action or body; within reach the answer is the domain's own verdict on that
//! case (the tables of DOMAIN.md, tested row by row in the domain crate), and a co-handling unit
//! is refused every action of the kind's table (403 `unit-not-permitted`) but takes its own.
//! Reads (detail, history, list) follow the same reach.

use std::collections::BTreeMap;

use docket_domain::deadlines::DeadlinePolicy;
use docket_domain::{CaseCommand, CaseKind, Context, Refusal};

use super::*;

const GRID: &str = "qinghe-03";
const UNIT: &str = "qinghe-safety";
/// The unit that co-handles every matrix case.
const CO_UNIT: &str = "qinghe-housing";

/// Where an actor stands to the matrix's cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    /// Within reach: the case's grid, the lead unit, the tenant.
    Inside,
    /// A handler or mediator of the co-handling unit.
    CoHandling,
    /// Outside reach: another grid, an unrelated unit, another tenant.
    Outside,
}

impl Standing {
    fn of(role: Role) -> &'static [Standing] {
        if role.acts_for_a_unit() {
            &[Standing::Inside, Standing::CoHandling, Standing::Outside]
        } else {
            &[Standing::Inside, Standing::Outside]
        }
    }
}
const NOW: &str = "2025-03-03T02:00:00Z";

/// An actor of `role` for whom the matrix's cases are within reach (`inside`) or not: another
/// grid or unit, or, for roles that reach the whole tenant, another tenant.
fn actor(role: Role, inside: bool) -> Actor {
    actor_standing(
        role,
        if inside {
            Standing::Inside
        } else {
            Standing::Outside
        },
    )
}

fn actor_standing(role: Role, standing: Standing) -> Actor {
    let inside = standing != Standing::Outside;
    let tenant_wide = matches!(role, Role::Supervisor | Role::PetitionOfficer);
    let unit = match standing {
        Standing::Inside => UNIT,
        Standing::CoHandling => CO_UNIT,
        Standing::Outside => "qinghe-far",
    };
    Actor {
        id: format!("{role}-{standing:?}"),
        tenant: if inside || !tenant_wide {
            "qinghe"
        } else {
            "elsewhere"
        }
        .parse()
        .unwrap(),
        role,
        unit: role.acts_for_a_unit().then(|| unit.parse().unwrap()),
        grids: if role == Role::GridWorker {
            vec![if inside { GRID } else { "qinghe-09" }.parse().unwrap()]
        } else {
            Vec::new()
        },
    }
}

/// A body for each action that makes a valid input where the action has one; any other body is
/// judged the same way by the domain, so the matrix does not depend on these being complete.
fn body(action: &str, other_case: &str) -> Value {
    let evidence = json!([{"content_hash": format!("sha256:{}", "ab".repeat(32)),
                           "media_type": "image/jpeg", "size": 1024, "blob": "blobs/1.jpg"}]);
    match action {
        "verify" => json!({"severity": "general", "responsible_party": "物业"}),
        "dismiss" => json!({"reason": "not-a-hazard"}),
        "fix-on-spot" | "report-rectified" | "attach-evidence" => json!({"evidence": evidence}),
        "order-rectification" => json!({"measures": "清理楼道"}),
        "fail-reinspection" => json!({"reason": "仍有堆放"}),
        "accept" => json!({"mediator": "赵调解", "room": UNIT, "unit": UNIT}),
        "decline" => json!({"reason": "outside-scope"}),
        "not-accept" => json!({"reason": "已诉讼", "route": "litigation"}),
        "transfer" => json!({"authority": "区住建委"}),
        "reply" => json!({"outcome": "support", "opinion": "已处理"}),
        "record-failure" => json!({"reason": "r", "routes_told": ["litigation"]}),
        "refer" => json!({"to": "arbitration"}),
        "add-note" => json!({"text": "电话联系"}),
        "record-part" => json!({"text": "本单位已上门核实"}),
        "reassign" => json!({"unit": UNIT, "reason": "职责"}),
        // The address corrected, in the grid the case is in: it stays in everyone's reach.
        "relocate" => json!({"community": "qinghe", "grid": GRID, "address": "清河路1号",
                             "reason": "地址有误"}),
        "add-co-handler" | "remove-co-handler" => json!({"unit": "qinghe-fire"}),
        "supervise" => json!({"notice": "限期办理"}),
        "answer-supervision" => json!({"notice": 1, "answer": "已办"}),
        "request-extension" => json!({"days": 10, "reason": "需现场核实"}),
        "approve-extension" => json!({}),
        "refuse-extension" | "reopen" => json!({"reason": "r"}),
        "link" => json!({"case": other_case}),
        "mark-duplicate" => json!({"of": other_case}),
        "return-visit" => json!({"satisfaction": "satisfied"}),
        "assess" => json!({"level": "large", "reason": "涉及人数多"}),
        "control" => json!({"measures": "每日联系", "unit": UNIT, "responsible_person": "王",
                            "leader": "李书记"}),
        "review" => json!({"situation": "平稳", "trend": "persists"}),
        "strike-off" => json!({"basis": "已化解", "evidence": evidence}),
        "escalate" => json!({"reason": "跨区"}),
        "dispatch" => json!({"lead": UNIT, "co_handlers": [CO_UNIT]}),
        "redispatch" | "redo" => {
            json!({"lead": UNIT, "co_handlers": ["qinghe-fire"], "reason": "改派"})
        }
        "return-dispatch" => json!({"reason": "非本单位职责"}),
        "rate" => json!({"rating": "satisfied"}),
        _ => json!({}),
    }
}

fn filing(kind: CaseKind) -> Value {
    match kind {
        CaseKind::Hazard => json!({
            "kind": "hazard", "community": "qinghe", "grid": GRID, "unit": UNIT,
            "title": "楼道堆物", "category": "fire", "severity": "general", "source": "night-patrol"
        }),
        CaseKind::Dispute => json!({
            "kind": "dispute", "community": "qinghe", "grid": GRID, "room": UNIT,
            "title": "邻里噪音", "dispute_type": "neighbour", "source": "walk-in",
            "parties": [{"side": "applicant", "name": "甲"}, {"side": "respondent", "name": "乙"}]
        }),
        CaseKind::Petition => json!({
            "kind": "petition", "community": "qinghe", "grid": GRID, "title": "供暖不足",
            "channel": "letter", "petition_type": "appeal-request", "category": "housing",
            "petitioners": [{"name": "丙"}]
        }),
        CaseKind::RiskEvent => json!({
            "kind": "risk_event", "community": "qinghe", "grid": GRID, "unit": UNIT,
            "title": "欠薪聚集苗头", "source": "grid-patrol", "category": "wage-arrears",
            "people": [{"name": "丁"}]
        }),
        CaseKind::Livelihood => json!({
            "kind": "livelihood", "community": "qinghe", "grid": GRID, "title": "市场门口积水",
            "channel": "grid-meeting", "category": "environment", "urgency": "general"
        }),
    }
}

impl App {
    pub(super) async fn send_as(
        &self,
        actor: &Actor,
        method: &str,
        uri: &str,
        body: Option<Value>,
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(uri).header(
            "authorization",
            format!("Bearer {}", self.auth.mint(actor, Duration::from_secs(600))),
        );
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
        self.send(req.body(body).unwrap()).await
    }

    /// A case of `kind` within the inside actors' reach: a petition is accepted to the unit.
    async fn matrix_case(&self, kind: CaseKind) -> String {
        let officer = actor(Role::PetitionOfficer, true);
        let filer = match kind {
            CaseKind::Petition | CaseKind::Livelihood => officer.clone(),
            _ => actor(Role::Supervisor, true),
        };
        let r = self
            .send_as(&filer, "POST", "/v1/cases", Some(filing(kind)))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let id = r.body["case_id"].as_str().unwrap().to_owned();
        if kind == CaseKind::Petition {
            let r = self
                .send_as(
                    &officer,
                    "POST",
                    &format!("/v1/cases/{id}/actions/accept"),
                    Some(json!({"unit": UNIT})),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        }
        // A co-handling unit, and a notice addressed to it (by a supervisor of its own, so that
        // the matrix's supervisor keeps within its rate). A request goes to its units by
        // dispatch, and the lead checks in.
        let mut supervisor = actor(Role::Supervisor, true);
        supervisor.id = "supervisor-setup".to_owned();
        let mut lead = actor(Role::Handler, true);
        lead.id = "handler-setup".to_owned();
        let mut dispatcher = actor(Role::PetitionOfficer, true);
        dispatcher.id = "dispatcher-setup".to_owned();
        let co_handlers = if kind == CaseKind::Livelihood {
            vec![
                (
                    &dispatcher,
                    "dispatch",
                    json!({"lead": UNIT, "co_handlers": [CO_UNIT]}),
                ),
                (&lead, "check-in", json!({})),
            ]
        } else {
            vec![(&supervisor, "add-co-handler", json!({"unit": CO_UNIT}))]
        };
        for (who, action, body) in co_handlers {
            let uri = format!("/v1/cases/{id}/actions/{action}");
            let r = self.send_as(who, "POST", &uri, Some(body)).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        }
        let notice = json!({"notice": "协办部分限期答复", "unit": CO_UNIT});
        let uri = format!("/v1/cases/{id}/actions/supervise");
        let r = self.send_as(&supervisor, "POST", &uri, Some(notice)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        id
    }

    /// What the domain says `actor` doing `action` with `body` to case `id` gives, as a status.
    async fn domain_verdict(
        &self,
        actor: &Actor,
        id: &str,
        action: &str,
        body: Value,
    ) -> StatusCode {
        let case_id: docket_domain::CaseId = id.parse().unwrap();
        let case = docket_commands::load_case(self.log.as_ref(), &actor.tenant, case_id)
            .await
            .unwrap();
        let state = case.state.expect("the case exists");
        let Ok(command) = CaseCommand::parse_action(state.kind(), action, body) else {
            return StatusCode::UNPROCESSABLE_ENTITY;
        };
        let policy = DeadlinePolicy::default();
        let ctx = Context::new(actor.role, NOW.parse().unwrap(), case_id, &policy)
            .of_unit(actor.unit.as_ref())
            .in_grids(&actor.grids);
        match command.decide(Some(&state), &ctx) {
            Ok(_) => StatusCode::OK,
            Err(Refusal::NotAllowedInState { .. }) => StatusCode::CONFLICT,
            Err(Refusal::RoleNotPermitted { .. } | Refusal::UnitNotPermitted { .. }) => {
                StatusCode::FORBIDDEN
            }
            Err(Refusal::InvalidField { .. }) => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }
}

#[tokio::test]
async fn every_role_and_action_within_and_outside_reach_gets_what_the_rules_say() {
    let mut app = app_with_clock(Arc::new(FixedClock(NOW.parse().unwrap()))).await;
    // The matrix sends thousands of requests from a few tokens, as fast as it can: what it tests
    // is reach and the rules, not the rate limit (a test of its own does).
    app.router = router(app.state.clone().with_rate_limit(100_000, 100_000));
    // How often each (role, within reach, status) occurred: the matrix must have exercised
    // acceptance, refusal by role and by state within reach, and 404 outside it.
    let mut seen: BTreeMap<(Role, bool, u16), usize> = BTreeMap::new();
    // What co-handling units' people were answered, by action.
    let mut co_handling: BTreeMap<(CaseKind, Role, &str), u16> = BTreeMap::new();
    // What a risk event raises: a petition.
    let raised = app.matrix_case(CaseKind::Petition).await;
    for kind in CaseKind::ALL {
        let other = app.matrix_case(kind).await;
        let mut case = app.matrix_case(kind).await;
        let mut actions = kind.actions();
        actions.retain(|a| *a != kind.filing_action());
        actions.extend(docket_domain::common::Action::ALL.map(|a| a.as_str()));
        // A service account has no token: it acts through Open311 (its rules are the domain's
        // tables, tested there, and tests/e2e/open311.rs).
        for role in Role::ALL.into_iter().filter(|r| *r != Role::ServiceAccount) {
            for &standing in Standing::of(role) {
                let inside = standing != Standing::Outside;
                let who = actor_standing(role, standing);
                let in_reach = inside && role != Role::Admin;
                for action in &actions {
                    let body = match *action {
                        "raise-case" => json!({"case": raised}),
                        _ => body(action, &other),
                    };
                    let expected = if in_reach {
                        app.domain_verdict(&who, &case, action, body.clone()).await
                    } else {
                        StatusCode::NOT_FOUND
                    };
                    let uri = format!("/v1/cases/{case}/actions/{action}");
                    let r = app.send_as(&who, "POST", &uri, Some(body)).await;
                    assert_eq!(
                        r.status, expected,
                        "{kind} {role} {action} ({standing:?}): {}",
                        r.body
                    );
                    if expected == StatusCode::NOT_FOUND {
                        assert_eq!(r.body["code"], "case-not-found", "{}", r.body);
                    }
                    if standing == Standing::CoHandling {
                        co_handling.insert((kind, role, action), r.status.as_u16());
                        // Every action of the kind's table the role has a row for is the lead
                        // unit's: refused by that rule, whatever the state (a body that makes
                        // no command of the kind is 422 before any rule).
                        if kind.actions().contains(action)
                            && kind.roles_for(action).contains(&role)
                            && !kind.taken_by_each_unit(action)
                            && r.status != StatusCode::UNPROCESSABLE_ENTITY
                        {
                            assert_problem(&r, StatusCode::FORBIDDEN, "unit-not-permitted");
                        }
                    }
                    *seen.entry((role, in_reach, r.status.as_u16())).or_default() += 1;
                    if r.status == StatusCode::OK {
                        case = app.matrix_case(kind).await; // start the next from a fresh case
                    }
                }
                // Reads follow the same reach: the case, its history, and the list.
                let detail = app
                    .send_as(&who, "GET", &format!("/v1/cases/{case}"), None)
                    .await;
                let history = app
                    .send_as(&who, "GET", &format!("/v1/cases/{case}/history"), None)
                    .await;
                let listed = app
                    .send_as(
                        &who,
                        "GET",
                        &format!("/v1/cases?kind={kind}&limit=200"),
                        None,
                    )
                    .await;
                let want = if in_reach {
                    StatusCode::OK
                } else {
                    StatusCode::NOT_FOUND
                };
                assert_eq!(detail.status, want, "{kind} {role} detail: {}", detail.body);
                assert_eq!(
                    history.status, want,
                    "{kind} {role} history: {}",
                    history.body
                );
                assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
                let ids: Vec<&str> = listed.body["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["id"].as_str().unwrap())
                    .collect();
                assert_eq!(
                    ids.contains(&case.as_str()),
                    in_reach,
                    "{kind} {role} list (within reach: {in_reach}): {ids:?}"
                );
            }
        }
    }
    for role in [
        Role::GridWorker,
        Role::Mediator,
        Role::PetitionOfficer,
        Role::Handler,
        Role::Supervisor,
    ] {
        let count = |status: u16| seen.get(&(role, true, status)).copied().unwrap_or(0);
        assert!(
            count(200) > 0,
            "{role} never succeeded within reach: {seen:?}"
        );
        assert!(count(403) > 0, "{role} was never refused by role: {seen:?}");
        assert!(count(404) == 0, "{role} lost a case within reach: {seen:?}");
    }
    // A co-handling unit's handler takes none of the kind's own actions but those each unit
    // takes for itself (a request's check-in), and adds notes and evidence, records its part
    // (a request's once the unit has checked in) and answers the notice addressed to it.
    for kind in CaseKind::ALL {
        for action in kind.actions() {
            let status = co_handling.get(&(kind, Role::Handler, action)).copied();
            if kind.taken_by_each_unit(action) {
                assert_ne!(status, Some(403), "{kind}: a co-handler's handler {action}");
            } else {
                assert!(
                    status.is_none_or(|s| s != 200),
                    "{kind}: a co-handler's handler took {action}"
                );
            }
        }
        if kind == CaseKind::Livelihood {
            assert_eq!(
                co_handling.get(&(kind, Role::Handler, "check-in")),
                Some(&200)
            );
        }
        for action in [
            "add-note",
            "attach-evidence",
            "record-part",
            "answer-supervision",
        ] {
            let expected = match (kind, action) {
                (CaseKind::Livelihood, "record-part") => 422,
                _ => 200,
            };
            assert_eq!(
                co_handling.get(&(kind, Role::Handler, action)),
                Some(&expected),
                "{kind}: a co-handler's handler {action}"
            );
        }
        for action in ["reassign", "request-extension", "link", "mark-duplicate"] {
            assert_ne!(
                co_handling.get(&(kind, Role::Handler, action)),
                Some(&200),
                "{kind}: a co-handler's handler took the lead's {action}"
            );
        }
    }
    // Refused by the rule, not only by the state: verifying a hazard it co-handles.
    let hazard = app.matrix_case(CaseKind::Hazard).await;
    let r = app
        .send_as(
            &actor_standing(Role::Handler, Standing::CoHandling),
            "POST",
            &format!("/v1/cases/{hazard}/actions/verify"),
            Some(body("verify", &hazard)),
        )
        .await;
    assert_problem(&r, StatusCode::FORBIDDEN, "unit-not-permitted");
    assert_eq!(r.body["acting_for"], "a co-handling unit", "{}", r.body);
    assert!(
        r.body["allowed_actions"]
            .as_array()
            .unwrap()
            .contains(&json!("record-part"))
    );
}

#[tokio::test]
async fn the_unit_a_report_accuses_never_handles_it() {
    let app = app_with_clock(Arc::new(FixedClock(NOW.parse().unwrap()))).await;
    let officer = actor(Role::PetitionOfficer, true);
    let mut accusation = filing(CaseKind::Petition);
    accusation["petition_type"] = json!("report-accusation");
    accusation["accused_unit"] = json!(UNIT);
    let r = app
        .send_as(&officer, "POST", "/v1/cases", Some(accusation))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["case_id"].as_str().unwrap().to_owned();
    let act = |action: &'static str, body: Value| {
        let (app, officer, id) = (&app, &officer, &id);
        async move {
            app.send_as(
                officer,
                "POST",
                &format!("/v1/cases/{id}/actions/{action}"),
                Some(body),
            )
            .await
        }
    };
    let before = app.log.head().await.unwrap();
    for (action, body) in [
        ("accept", json!({"unit": UNIT})),
        ("add-co-handler", json!({"unit": UNIT})),
    ] {
        let r = act(action, body).await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-input");
        assert_eq!(r.body["field"], "unit", "{}", r.body);
        assert!(
            r.body["detail"].as_str().unwrap().contains("accuses"),
            "{}",
            r.body
        );
    }
    assert_eq!(app.log.head().await.unwrap(), before, "nothing recorded");
    let r = act("accept", json!({"unit": CO_UNIT})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = act("reassign", json!({"unit": UNIT, "reason": "职责"})).await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-input");
    assert_eq!(r.body["field"], "unit", "{}", r.body);
}

#[tokio::test]
async fn a_filing_outside_the_filers_own_reach_is_refused_and_records_nothing() {
    let app = app_with_clock(Arc::new(FixedClock(NOW.parse().unwrap()))).await;
    let before = app.log.head().await.unwrap();
    let grid_worker = actor(Role::GridWorker, false); // her grid is qinghe-09
    let r = app
        .send_as(
            &grid_worker,
            "POST",
            "/v1/cases",
            Some(filing(CaseKind::Hazard)),
        )
        .await;
    assert_problem(&r, StatusCode::FORBIDDEN, "outside-reach");
    assert!(
        r.body["detail"].as_str().unwrap().contains("qinghe-09"),
        "{}",
        r.body
    );
    assert_eq!(app.log.head().await.unwrap(), before);

    // A handler's report without a unit goes to his own unit, a mediator's dispute to his room.
    let handler = actor(Role::Handler, true);
    let mut hazard = filing(CaseKind::Hazard);
    hazard.as_object_mut().unwrap().remove("unit");
    let r = app
        .send_as(&handler, "POST", "/v1/cases", Some(hazard))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["case_id"].as_str().unwrap();
    let r = app
        .send_as(&handler, "GET", &format!("/v1/cases/{id}"), None)
        .await;
    assert_eq!(r.body["lead_unit"], UNIT, "{}", r.body);
    let mediator = actor(Role::Mediator, true);
    let mut dispute = filing(CaseKind::Dispute);
    dispute.as_object_mut().unwrap().remove("room");
    let r = app
        .send_as(&mediator, "POST", "/v1/cases", Some(dispute))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["case_id"].as_str().unwrap();
    let r = app
        .send_as(&mediator, "GET", &format!("/v1/cases/{id}"), None)
        .await;
    assert_eq!(r.body["lead_unit"], UNIT, "{}", r.body);
}
