//! `GET /v1/stats`: every figure's list query returns exactly the cases it counts.

use std::sync::Mutex;

use super::*;

#[derive(Debug)]
struct MovableClock(Mutex<jiff::Timestamp>);

impl docket_commands::Clock for MovableClock {
    fn now(&self) -> jiff::Timestamp {
        *self.0.lock().unwrap()
    }
}

fn officer() -> Actor {
    Actor {
        id: "officer".to_owned(),
        tenant: "qinghe".parse().unwrap(),
        role: Role::PetitionOfficer,
        unit: None,
        grids: Vec::new(),
    }
}

fn supervisor() -> Actor {
    Actor {
        role: Role::Supervisor,
        id: "supervisor".to_owned(),
        ..officer()
    }
}

impl App {
    /// Every case a list query returns, following its cursor; or every dispatch a dispatch list
    /// returns (one page: it lists a range's dispatches whole).
    async fn all_listed(&self, actor: &Actor, url: &str) -> Vec<String> {
        if url.starts_with("/v1/stats/dispatches?") {
            let r = self.send_as(actor, "GET", url, None).await;
            assert_eq!(r.status, StatusCode::OK, "{url}: {}", r.body);
            let items = r.body["items"].as_array().unwrap();
            assert_eq!(r.body["count"], items.len(), "{}", r.body);
            return items
                .iter()
                .map(|d| format!("{} {} {}", d["case_id"], d["unit"], d["round"]))
                .collect();
        }
        let mut ids = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = match &cursor {
                Some(c) => format!("{url}&limit=200&cursor={c}"),
                None => format!("{url}&limit=200"),
            };
            let r = self.send_as(actor, "GET", &page, None).await;
            assert_eq!(r.status, StatusCode::OK, "{url}: {}", r.body);
            ids.extend(
                r.body["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["id"].as_str().unwrap().to_owned()),
            );
            match r.body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return ids,
            }
        }
    }

    async fn filed(&self, actor: &Actor, body: Value) -> String {
        let r = self.send_as(actor, "POST", "/v1/cases", Some(body)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body["case_id"].as_str().unwrap().to_owned()
    }

    pub(super) async fn acted(&self, actor: &Actor, id: &str, action: &str, body: Value) {
        let r = self
            .send_as(
                actor,
                "POST",
                &format!("/v1/cases/{id}/actions/{action}"),
                Some(body),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{action}: {}", r.body);
    }
}

fn hazard(grid: &str, severity: &str) -> Value {
    json!({"kind": "hazard", "community": "qinghe", "grid": grid, "unit": "qinghe-safety",
           "title": "楼道堆物", "category": "fire", "severity": severity, "source": "night-patrol"})
}

fn petition(grid: &str, id_number: &str) -> Value {
    json!({"kind": "petition", "community": "qinghe", "grid": grid, "title": "供暖",
           "channel": "letter", "petition_type": "appeal-request", "category": "housing",
           "petitioners": [{"name": "丙", "id_number": id_number}]})
}

/// What a figure's list adds up to: the cases (or dispatches) listed; for a counter, the events
/// each listed case says happened in it; for the people of collective visits, the batches'
/// headcounts.
async fn listed_count(app: &App, actor: &Actor, name: &str, url: &str) -> usize {
    let per_case = if name == "collective_visitors" {
        "headcount"
    } else if url.contains("&event=") {
        "events"
    } else {
        return app.all_listed(actor, url).await.len();
    };
    let r = app
        .send_as(actor, "GET", &format!("{url}&limit=200"), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{url}: {}", r.body);
    assert!(r.body["next_cursor"].is_null(), "{}", r.body);
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c[per_case].as_i64().unwrap())
        .sum::<i64>() as usize
}

/// Checks every figure of every group against its list: the count of listed cases.
async fn drill_down(app: &App, actor: &Actor, body: &Value) -> usize {
    let mut checked = 0;
    for group in body["groups"].as_array().unwrap() {
        for f in group["figures"].as_array().unwrap() {
            let name = f["name"].as_str().unwrap();
            let expected = match (&f["numerator"], &f["value"]) {
                (Value::Number(n), _) => n.as_i64().unwrap(),
                // Durations, not counts: their lists are the cases or dispatches measured,
                // none when there is nothing to measure.
                (_, _)
                    if name.contains("days_to_close")
                        || name.contains("minutes_to_check_in")
                        || name.contains("hours_to_reply") =>
                {
                    if let Some(url) = f["cases"].as_str() {
                        let listed = app.all_listed(actor, url).await;
                        assert_eq!(
                            listed.is_empty(),
                            f["value"].is_null(),
                            "{name} in {}: {url}",
                            group["group"]
                        );
                        checked += 1;
                    }
                    continue;
                }
                (_, Value::Number(v)) => v.as_f64().unwrap() as i64,
                _ => continue,
            };
            if let Some(url) = f["cases"].as_str() {
                let listed = listed_count(app, actor, name, url).await;
                assert_eq!(
                    listed as i64, expected,
                    "{name} in {}: {url}",
                    group["group"]
                );
                checked += 1;
            }
            if let Some(url) = f["denominator_cases"].as_str() {
                let listed = listed_count(app, actor, name, url).await;
                assert_eq!(
                    listed as i64,
                    f["denominator"].as_i64().unwrap(),
                    "{name} denominator in {}: {url}",
                    group["group"]
                );
                checked += 1;
            }
        }
    }
    checked
}

#[tokio::test]
async fn every_figure_drills_down_to_exactly_its_cases() {
    let at = |s: &str| -> jiff::Timestamp { s.parse().unwrap() };
    let clock = Arc::new(MovableClock(Mutex::new(at("2025-02-25T02:00:00Z"))));
    let mut app = app_with_clock(clock.clone()).await;
    // Drilling down into every figure of every group is many requests from one token.
    app.router = router(app.state.clone().with_rate_limit(100_000, 100_000));
    let set = |t: &str| *clock.0.lock().unwrap() = at(t);
    let supervisor = supervisor();
    let handler = Actor {
        id: "handler".to_owned(),
        role: Role::Handler,
        unit: Some("qinghe-safety".parse().unwrap()),
        ..officer()
    };
    let evidence = json!([{"content_hash": format!("sha256:{}", "ab".repeat(32)),
                           "media_type": "image/jpeg", "size": 1000, "blob": "blobs/1.jpg"}]);
    let before = app.filed(&supervisor, hazard("qinghe-03", "general")).await;
    set("2025-03-03T02:00:00Z");
    let dismissed = app.filed(&supervisor, hazard("qinghe-03", "general")).await;
    let open = app.filed(&supervisor, hazard("qinghe-04", "major")).await;
    let fixed = app.filed(&supervisor, hazard("qinghe-04", "general")).await;
    set("2025-03-04T02:00:00Z");
    app.acted(
        &supervisor,
        &dismissed,
        "dismiss",
        json!({"reason": "not-a-hazard"}),
    )
    .await;
    app.acted(
        &handler,
        &fixed,
        "fix-on-spot",
        json!({"evidence": evidence}),
    )
    .await;
    set("2025-03-05T02:00:00Z");
    app.acted(
        &handler,
        &before,
        "fix-on-spot",
        json!({"evidence": evidence}),
    )
    .await;
    app.acted(&supervisor, &before, "pass-reinspection", json!({}))
        .await;
    app.acted(&supervisor, &fixed, "pass-reinspection", json!({}))
        .await;
    app.acted(
        &supervisor,
        &fixed,
        "return-visit",
        json!({"satisfaction": "satisfied"}),
    )
    .await;
    set("2025-03-10T02:00:00Z");
    let first = app
        .filed(&officer(), petition("qinghe-03", "11010519800101026X"))
        .await;
    set("2025-03-12T02:00:00Z");
    app.filed(&officer(), petition("qinghe-03", "11010519800101026X"))
        .await;
    app.acted(
        &officer(),
        &first,
        "accept",
        json!({"unit": "qinghe-safety"}),
    )
    .await;
    // Two risk events: one under control, past its review by the end; one struck off.
    let risk = || {
        json!({"kind": "risk_event", "community": "qinghe", "grid": "qinghe-03",
               "title": "欠薪", "source": "grid-patrol", "category": "wage-arrears",
               "unit": "qinghe-safety"})
    };
    let control = json!({"measures": "稳控", "unit": "qinghe-safety",
                         "responsible_person": "王", "leader": "李书记"});
    let controlled = app.filed(&supervisor, risk()).await;
    let struck = app.filed(&supervisor, risk()).await;
    for (id, level) in [(&controlled, "major"), (&struck, "general")] {
        app.acted(
            &supervisor,
            id,
            "assess",
            json!({"level": level, "reason": "研判"}),
        )
        .await;
        app.acted(&supervisor, id, "control", control.clone()).await;
    }
    app.acted(
        &supervisor,
        &struck,
        "strike-off",
        json!({"basis": "已化解", "evidence": evidence}),
    )
    .await;
    // A request to three units: one returns it, one checks in on time, the lead late.
    let unit_handler = |unit: &str| Actor {
        id: format!("handler-{unit}"),
        role: Role::Handler,
        unit: Some(unit.parse().unwrap()),
        ..officer()
    };
    let request = app
        .filed(
            &officer(),
            json!({"kind": "livelihood", "community": "qinghe", "grid": "qinghe-03",
                   "title": "积水", "channel": "grid-meeting", "category": "environment",
                   "urgency": "general"}),
        )
        .await;
    app.acted(
        &officer(),
        &request,
        "dispatch",
        json!({"lead": "qinghe-housing", "co_handlers": ["qinghe-safety", "qinghe-fire"]}),
    )
    .await;
    app.acted(
        &unit_handler("qinghe-safety"),
        &request,
        "return-dispatch",
        json!({"reason": "非本单位职责"}),
    )
    .await;
    app.acted(
        &unit_handler("qinghe-fire"),
        &request,
        "check-in",
        json!({}),
    )
    .await;
    set("2025-03-17T02:00:00Z");
    let lead = unit_handler("qinghe-housing");
    app.acted(&lead, &request, "check-in", json!({})).await;
    app.acted(
        &lead,
        &request,
        "reply",
        json!({"result": "resolved", "text": "已疏通"}),
    )
    .await;
    app.acted(&officer(), &request, "rate", json!({"rating": "satisfied"}))
        .await;
    set("2025-04-02T02:00:00Z");
    app.filed(&supervisor, hazard("qinghe-03", "general")).await;
    set("2025-04-20T00:00:00Z");
    let head = app.log.head().await.unwrap();
    assert!(
        app.state
            .read
            .wait_until(head, Duration::from_secs(5))
            .await
    );
    let _ = open;

    let r = app
        .send_as(
            &supervisor,
            "GET",
            "/v1/stats?from=2025-03-01&to=2025-03-31",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let figure = |body: &Value, name: &str| -> Value {
        body["groups"][0]["figures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .unwrap_or_else(|| panic!("no {name}"))
            .clone()
    };
    assert_eq!(figure(&r.body, "opened")["value"], 8.0);
    assert_eq!(figure(&r.body, "closed")["value"], 5.0);
    assert_eq!(figure(&r.body, "hazards_found")["value"], 3.0);
    assert_eq!(figure(&r.body, "hazards_struck_off")["value"], 2.0);
    assert_eq!(figure(&r.body, "repeat_rate")["numerator"], 1);
    assert_eq!(figure(&r.body, "repeat_rate")["denominator"], 2);
    assert_eq!(figure(&r.body, "satisfaction_rate")["value"], 1.0);
    assert_eq!(figure(&r.body, "closure_rate")["numerator"], 4);
    for (name, value) in [
        ("risks_found", 2.0),
        ("risks_under_control", 1.0),
        ("risk_reviews_due", 1.0),
        ("risk_reviews_overdue", 1.0),
        ("risks_struck_off", 1.0),
        ("risks_escalated", 0.0),
        ("risks_assessed", 2.0),
        ("requests_received", 1.0),
        ("requests_coordinated", 1.0),
        ("units_dispatched", 3.0),
        ("check_ins_late", 1.0),
        ("check_ins_missed", 1.0),
        ("dispatches_returned", 1.0),
    ] {
        assert_eq!(figure(&r.body, name)["value"], value, "{name}");
    }
    for (name, numerator, denominator) in [
        ("strike_off_rate", 1, 2),
        // The fire office on time, of three: the housing office late, the safety office
        // returned it.
        ("response_rate", 1, 3),
        ("request_resolution_rate", 1, 1),
        ("request_satisfaction_rate", 1, 1),
    ] {
        let f = figure(&r.body, name);
        assert_eq!(
            (&f["numerator"], &f["denominator"]),
            (&json!(numerator), &json!(denominator)),
            "{name}: {f}"
        );
    }
    // Five days from dispatch to the lead's check-in; the fire office's at once.
    let p90 = figure(&r.body, "p90_minutes_to_check_in")["value"]
        .as_f64()
        .unwrap();
    assert_eq!(p90, 5.0 * 24.0 * 60.0);
    assert_eq!(figure(&r.body, "median_minutes_to_check_in")["value"], 0.0);
    let checked = drill_down(&app, &supervisor, &r.body).await;
    assert!(checked >= 35, "{checked}");
    // As of a log position, which every list carries, so that a list shows what was counted.
    let position = r.body["position"].as_u64().unwrap();
    assert_eq!(position, app.log.head().await.unwrap());
    let pinned = format!("min_position={position}");
    for f in r.body["groups"][0]["figures"].as_array().unwrap() {
        for link in [&f["cases"], &f["denominator_cases"]] {
            if let Some(url) = link.as_str() {
                assert!(url.contains(&pinned), "{url}");
            }
        }
    }
    let r = app
        .send_as(
            &supervisor,
            "GET",
            &format!("/v1/stats?from=2025-03-01&to=2025-03-31&min_position={position}"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // The per-unit table: the lead late, the fire office on time, the safety office returned;
    // each row lists exactly that unit's dispatches.
    let r = app
        .send_as(
            &supervisor,
            "GET",
            "/v1/stats/units?from=2025-03-01&to=2025-03-31",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let units = r.body["units"].as_array().unwrap();
    let row = |unit: &str| units.iter().find(|u| u["unit"] == unit).unwrap().clone();
    assert_eq!(
        units[0]["unit"], "qinghe-housing",
        "the late one first: {}",
        r.body
    );
    assert_eq!(row("qinghe-housing")["late"], 1);
    assert_eq!(row("qinghe-housing")["response_rate"], 0.0);
    assert_eq!(row("qinghe-fire")["checked_in_on_time"], 1);
    assert_eq!(row("qinghe-safety")["returned"], 1);
    assert_eq!(row("qinghe-safety")["response_rate"], 0.0);
    for u in units {
        let listed = app
            .all_listed(&supervisor, u["dispatches"].as_str().unwrap())
            .await;
        assert_eq!(
            listed.len() as i64,
            u["dispatched"].as_i64().unwrap(),
            "{u}"
        );
    }
    // A handler's table is its own unit's row.
    let r = app
        .send_as(
            &unit_handler("qinghe-fire"),
            "GET",
            "/v1/stats/units?from=2025-03-01&to=2025-03-31&format=csv",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let text = r.body.as_str().unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "a header and the fire office's row: {text}");
    assert!(lines[0].starts_with("unit,name,dispatched,returned,checked_in_on_time,late"));
    assert!(
        lines[1].starts_with("qinghe-fire,qinghe-fire,1,0,1,0,1,"),
        "{text}"
    );
    for bad in [
        "/v1/stats/units?from=2025-03-01&to=2025-03-31&sort=colour",
        "/v1/stats/units?from=2025-03-01&to=2025-03-31&late=true",
        "/v1/stats/dispatches?from=2025-03-01",
        "/v1/stats/dispatches?from=2025-03-01&to=2025-03-31&sort=late",
    ] {
        let r = app.send_as(&supervisor, "GET", bad, None).await;
        assert_problem(&r, StatusCode::BAD_REQUEST, "invalid-query");
    }

    // Grouped: each group's figures drill down within the group.
    for by in ["grid", "severity", "kind", "unit"] {
        let r = app
            .send_as(
                &supervisor,
                "GET",
                &format!("/v1/stats?from=2025-03-01&to=2025-03-31&by={by}"),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(
            r.body["groups"].as_array().unwrap().len() >= 2,
            "{}",
            r.body
        );
        drill_down(&app, &supervisor, &r.body).await;
    }
    // A slice, and a grid worker's own grids.
    let r = app
        .send_as(
            &supervisor,
            "GET",
            "/v1/stats?from=2025-03-01&to=2025-03-31&kind=hazard&grid=qinghe-04",
            None,
        )
        .await;
    assert_eq!(figure(&r.body, "opened")["value"], 2.0, "{}", r.body);
    drill_down(&app, &supervisor, &r.body).await;
    // In a slice of hazards, another kind's counters and the network's figures list nothing:
    // their lists are null, as the petitions' filing figures are.
    for name in [
        "reviews",
        "became_backlog",
        "judicial_confirmations",
        "risk_reviews",
        "requests_redone",
        "units_dispatched",
        "response_rate",
        "repeat_rate",
    ] {
        assert_eq!(figure(&r.body, name)["cases"], Value::Null, "{name}");
    }
    assert!(figure(&r.body, "hazards_rectified")["cases"].is_string());
    let grid_worker = Actor {
        id: "gw".to_owned(),
        role: Role::GridWorker,
        grids: vec!["qinghe-04".parse().unwrap()],
        ..officer()
    };
    let r = app
        .send_as(
            &grid_worker,
            "GET",
            "/v1/stats?from=2025-03-01&to=2025-03-31",
            None,
        )
        .await;
    assert_eq!(figure(&r.body, "opened")["value"], 2.0, "{}", r.body);
    drill_down(&app, &grid_worker, &r.body).await;
}

#[tokio::test]
async fn figures_come_as_csv_and_bad_ranges_are_refused() {
    let app = app().await;
    let supervisor = supervisor();
    app.filed(&supervisor, hazard("qinghe-03", "general")).await;
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
        .date();
    let url = format!(
        "/v1/stats?from={today}&to={today}&min_position={}",
        app.written()
    );
    let req = Request::builder()
        .uri(&url)
        .header(
            "authorization",
            format!(
                "Bearer {}",
                app.auth.mint(&supervisor, Duration::from_secs(60))
            ),
        )
        .header("accept", "text/csv")
        .body(Body::empty())
        .unwrap();
    let response = app.router.clone().oneshot(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "group,figure,value,numerator,denominator,cases,denominator_cases"
    );
    let opened = lines.find(|l| l.starts_with(",opened,")).unwrap();
    assert!(opened.starts_with(",opened,1,"), "{opened}");

    for (query, says) in [
        ("to=2025-03-31", "from is required"),
        ("from=2025-03-31&to=2025-03-01", "is after"),
        ("from=2025-03-01&to=2025-13-01", "not a date"),
        ("from=2025-03-01&to=2025-03-31&by=colour", "dimensions are"),
        (
            "from=2025-03-01&to=2025-03-31&by=grid&grid=qinghe-03",
            "grouped by grid",
        ),
        ("from=2000-01-01&to=2025-03-31", "at most"),
        ("from=9999-12-01&to=9999-12-31", "years 1 to 9998"),
        ("from=2025-03-01&to=2025-03-31&format=xml", "format"),
        // A slice that names nothing would count 0 and look like a fact.
        ("from=2025-03-01&to=2025-03-31&kind=bogus", "kind"),
        ("from=2025-03-01&to=2025-03-31&severity=bogus", "severity"),
        ("from=2025-03-01&to=2025-03-31&grid=..%2Fg1", "grid"),
        ("from=2025-03-01&to=2025-03-31&unit=Safety", "unit: "),
    ] {
        let r = app
            .send_as(&supervisor, "GET", &format!("/v1/stats?{query}"), None)
            .await;
        assert_problem(&r, StatusCode::BAD_REQUEST, "invalid-query");
        assert!(
            r.body["detail"].as_str().unwrap().contains(says),
            "{query}: {}",
            r.body
        );
    }
    let admin = Actor {
        role: Role::Admin,
        ..supervisor.clone()
    };
    let r = app
        .send_as(
            &admin,
            "GET",
            "/v1/stats?from=2025-03-01&to=2025-03-31",
            None,
        )
        .await;
    assert_problem(&r, StatusCode::FORBIDDEN, "role-not-permitted");
}

#[tokio::test]
async fn right_after_a_command_the_figures_at_its_position_count_it() {
    let app = app().await;
    let supervisor = supervisor();
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
        .date();
    let url = format!("/v1/stats?from={today}&to={today}");
    for n in 1..=3 {
        let r = app
            .send_as(
                &supervisor,
                "POST",
                "/v1/cases",
                Some(hazard("qinghe-03", "general")),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let position = r.body["position"].as_u64().unwrap();
        let r = app
            .send_as(
                &supervisor,
                "GET",
                &format!("{url}&min_position={position}"),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(
            r.body["position"].as_u64().unwrap() >= position,
            "{}",
            r.body
        );
        let opened = r.body["groups"][0]["figures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == "opened")
            .unwrap()["value"]
            .clone();
        // A count, as an integer.
        assert_eq!(opened, json!(n), "{}", r.body);
    }
    let r = app
        .send_as(&supervisor, "GET", &format!("{url}&min_position=x"), None)
        .await;
    assert_problem(&r, StatusCode::BAD_REQUEST, "invalid-query");
}

/// Cases move between units, severities, grids and communities (and a risk between levels)
/// between the events the counters count: every figure's list is exactly the cases behind its number, ungrouped and
/// grouped by every dimension, for the whole tenant and for those who reach part of it. A
/// counter counts an event under the case as it was when the event happened; so does its list.
#[tokio::test]
async fn every_list_is_its_number_when_cases_moved_between_events() {
    let at = |s: &str| -> jiff::Timestamp { s.parse().unwrap() };
    let clock = Arc::new(MovableClock(Mutex::new(at("2025-05-05T02:00:00Z"))));
    let mut app = app_with_clock(clock.clone()).await;
    app.router = router(app.state.clone().with_rate_limit(100_000, 100_000));
    let set = |t: &str| *clock.0.lock().unwrap() = at(t);
    let supervisor = supervisor();
    let officer = officer();
    let of_unit = |unit: &str| Actor {
        id: format!("handler-{unit}"),
        role: Role::Handler,
        unit: Some(unit.parse().unwrap()),
        ..officer.clone()
    };
    let (safety, housing, fire) = (
        of_unit("qinghe-safety"),
        of_unit("qinghe-housing"),
        of_unit("qinghe-fire"),
    );
    let evidence = json!([{"content_hash": format!("sha256:{}", "ab".repeat(32)),
                           "media_type": "image/jpeg", "size": 1000, "blob": "blobs/1.jpg"}]);

    // A hazard pressed (督办) while general and again once verified major; its extension asked
    // for by the safety office, refused once the housing office leads it; the first notice
    // answered on time by the safety office, the second late by the housing office.
    let hazard_a = app.filed(&supervisor, hazard("qinghe-03", "general")).await;
    app.acted(
        &supervisor,
        &hazard_a,
        "supervise",
        json!({"notice": "尽快核查", "due_on": "2025-05-07"}),
    )
    .await;
    // Left unverified past its working day by the safety office, then handed to the housing
    // office: the miss the late reassignment records first is the safety office's.
    let hazard_b = app.filed(&supervisor, hazard("qinghe-06", "general")).await;
    // Filed in the wrong grid: moved to the one it is in, before it is pressed again.
    app.acted(
        &supervisor,
        &hazard_a,
        "relocate",
        json!({"community": "qinghe", "grid": "qinghe-05", "reason": "登记网格有误"}),
    )
    .await;
    app.acted(
        &safety,
        &hazard_a,
        "verify",
        json!({"severity": "major", "responsible_party": "物业"}),
    )
    .await;
    app.acted(
        &safety,
        &hazard_a,
        "order-rectification",
        json!({"measures": "限期整改"}),
    )
    .await;
    app.acted(
        &supervisor,
        &hazard_a,
        "supervise",
        json!({"notice": "加快整改", "due_on": "2025-05-06"}),
    )
    .await;
    app.acted(
        &safety,
        &hazard_a,
        "answer-supervision",
        json!({"notice": 1, "answer": "已核查"}),
    )
    .await;
    app.acted(
        &safety,
        &hazard_a,
        "request-extension",
        json!({"days": 10, "reason": "材料采购"}),
    )
    .await;
    set("2025-05-06T02:00:00Z");
    app.acted(
        &supervisor,
        &hazard_a,
        "reassign",
        json!({"unit": "qinghe-housing", "reason": "属房管职责"}),
    )
    .await;
    app.acted(
        &supervisor,
        &hazard_a,
        "refuse-extension",
        json!({"reason": "按期完成"}),
    )
    .await;
    set("2025-05-09T02:00:00Z");
    app.acted(
        &supervisor,
        &hazard_b,
        "reassign",
        json!({"unit": "qinghe-housing", "reason": "属房管职责"}),
    )
    .await;
    app.acted(
        &housing,
        &hazard_a,
        "answer-supervision",
        json!({"notice": 2, "answer": "已整改"}),
    )
    .await;
    app.acted(
        &housing,
        &hazard_a,
        "report-rectified",
        json!({"evidence": evidence}),
    )
    .await;
    app.acted(&housing, &hazard_a, "pass-reinspection", json!({}))
        .await;
    app.acted(
        &supervisor,
        &hazard_a,
        "return-visit",
        json!({"satisfaction": "dissatisfied"}),
    )
    .await;
    app.acted(
        &supervisor,
        &hazard_a,
        "reopen",
        json!({"reason": "仍有堆物"}),
    )
    .await;

    // A collective visit of six, a key person at risk of going over the district's head:
    // accepted to the safety office, which asks for an extension, then moved to the housing
    // office, whose extension is approved.
    set("2025-05-12T02:00:00Z");
    let visit = app
        .filed(
            &officer,
            json!({"kind": "petition", "community": "qinghe", "grid": "qinghe-04",
                   "title": "拆迁补偿", "channel": "visit", "petition_type": "appeal-request",
                   "category": "housing", "headcount": 6, "key_person": true,
                   "escalation_risk": "cross-level",
                   "petitioners": [{"name": "丁", "id_number": "110105198001010040"}]}),
        )
        .await;
    app.acted(&officer, &visit, "accept", json!({"unit": "qinghe-safety"}))
        .await;
    app.acted(
        &safety,
        &visit,
        "request-extension",
        json!({"days": 30, "reason": "涉及多部门"}),
    )
    .await;
    app.acted(
        &officer,
        &visit,
        "reassign",
        json!({"unit": "qinghe-housing", "reason": "属房管职责"}),
    )
    .await;
    // The matter lies in the neighbouring community.
    app.acted(
        &officer,
        &visit,
        "relocate",
        json!({"community": "beiyuan", "grid": "beiyuan-01", "reason": "属北苑社区"}),
    )
    .await;
    app.acted(&supervisor, &visit, "approve-extension", json!({}))
        .await;

    // A risk assessed general under the safety office, controlled by the housing office,
    // reviewed up to major.
    let risk = app
        .filed(
            &supervisor,
            json!({"kind": "risk_event", "community": "qinghe", "grid": "qinghe-03",
                   "title": "欠薪", "source": "grid-patrol", "category": "wage-arrears",
                   "unit": "qinghe-safety"}),
        )
        .await;
    app.acted(
        &supervisor,
        &risk,
        "assess",
        json!({"level": "general", "reason": "研判"}),
    )
    .await;
    app.acted(
        &supervisor,
        &risk,
        "control",
        json!({"measures": "稳控", "unit": "qinghe-housing",
               "responsible_person": "王", "leader": "李书记"}),
    )
    .await;
    set("2025-05-13T02:00:00Z");
    app.acted(
        &supervisor,
        &risk,
        "review",
        json!({"situation": "人数增加", "trend": "grew", "level": "major"}),
    )
    .await;
    app.acted(
        &supervisor,
        &risk,
        "review",
        json!({"situation": "平稳", "trend": "persists"}),
    )
    .await;

    // A request sent to the housing office, then redispatched to the fire office, which
    // checks in and replies.
    let request = app
        .filed(
            &officer,
            json!({"kind": "livelihood", "community": "qinghe", "grid": "qinghe-04",
                   "title": "积水", "channel": "walk-in", "category": "environment",
                   "urgency": "general"}),
        )
        .await;
    app.acted(
        &officer,
        &request,
        "dispatch",
        json!({"lead": "qinghe-housing", "co_handlers": ["qinghe-safety"]}),
    )
    .await;
    app.acted(
        &officer,
        &request,
        "redispatch",
        json!({"lead": "qinghe-fire", "reason": "属消防职责"}),
    )
    .await;
    app.acted(&fire, &request, "check-in", json!({})).await;
    app.acted(
        &fire,
        &request,
        "reply",
        json!({"result": "resolved", "text": "已疏通"}),
    )
    .await;
    set("2025-06-02T02:00:00Z");
    let head = app.log.head().await.unwrap();
    assert!(
        app.state
            .read
            .wait_until(head, Duration::from_secs(5))
            .await
    );

    let stats = |actor: Actor, query: String| {
        let app = &app;
        async move {
            let r = app
                .send_as(
                    &actor,
                    "GET",
                    &format!("/v1/stats?from=2025-05-01&to=2025-05-31{query}"),
                    None,
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{query}: {}", r.body);
            r.body
        }
    };
    let figure = |body: &Value, group: &str, name: &str| -> Value {
        body["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| match g["group"].as_object() {
                Some(key) if !key.is_empty() => {
                    key.values().next().and_then(Value::as_str) == Some(group)
                }
                _ => group.is_empty(),
            })
            .unwrap_or_else(|| panic!("no group {group:?}"))["figures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .unwrap_or_else(|| panic!("no {name}"))
            .clone()
    };

    // The report's figures.
    let all = stats(supervisor.clone(), String::new()).await;
    for (name, value) in [
        ("supervisions", 2.0),
        ("supervisions_answered_on_time", 1.0),
        ("supervisions_answered_late", 1.0),
        ("extension_requests", 2.0),
        ("extensions", 1.0),
        ("extensions_refused", 1.0),
        ("return_visits", 1.0),
        ("return_visits_dissatisfied", 1.0),
        ("reopened", 1.0),
        ("petitions_received", 1.0),
        ("collective_visits", 1.0),
        ("collective_visitors", 6.0),
        ("key_person_petitions", 1.0),
        ("escalation_risk_petitions", 1.0),
        ("risks_assessed", 1.0),
        ("risk_reviews", 2.0),
    ] {
        assert_eq!(figure(&all, "", name)["value"], value, "{name}");
    }
    // The visitors drill down to the batch that brought them.
    let batch = app
        .send_as(
            &supervisor,
            "GET",
            figure(&all, "", "collective_visitors")["cases"]
                .as_str()
                .unwrap(),
            None,
        )
        .await;
    assert_eq!(batch.body["items"][0]["headcount"], 6, "{}", batch.body);

    // Each unit's and each severity's counts are of the events that happened under it, and
    // its lists hold the cases they happened in, wherever those cases are now.
    let by_unit = stats(supervisor.clone(), "&by=unit".to_owned()).await;
    for (unit, name, value) in [
        ("qinghe-safety", "supervisions", 2.0),
        ("qinghe-safety", "supervisions_answered_on_time", 1.0),
        ("qinghe-safety", "extension_requests", 2.0),
        ("qinghe-housing", "supervisions_answered_late", 1.0),
        ("qinghe-housing", "extensions_refused", 1.0),
        ("qinghe-housing", "extensions", 1.0),
        ("qinghe-housing", "risk_reviews", 2.0),
        ("qinghe-safety", "risks_assessed", 1.0),
        ("qinghe-safety", "deadlines_missed", 1.0),
        ("qinghe-housing", "deadlines_missed", 0.0),
    ] {
        let f = figure(&by_unit, unit, name);
        assert_eq!(f["value"], value, "{unit} {name}: {f}");
    }
    let listed = app
        .all_listed(
            &supervisor,
            figure(&by_unit, "qinghe-safety", "supervisions")["cases"]
                .as_str()
                .unwrap(),
        )
        .await;
    assert_eq!(listed, vec![hazard_a.clone()], "led by housing now");
    let by_grid = stats(supervisor.clone(), "&by=grid".to_owned()).await;
    assert_eq!(figure(&by_grid, "qinghe-03", "supervisions")["value"], 1.0);
    assert_eq!(figure(&by_grid, "qinghe-05", "supervisions")["value"], 1.0);
    let listed = app
        .all_listed(
            &supervisor,
            figure(&by_grid, "qinghe-03", "supervisions")["cases"]
                .as_str()
                .unwrap(),
        )
        .await;
    assert_eq!(listed, vec![hazard_a.clone()], "in qinghe-05 now");
    let by_community = stats(supervisor.clone(), "&by=community".to_owned()).await;
    assert_eq!(
        figure(&by_community, "qinghe", "extension_requests")["value"],
        2.0
    );
    assert_eq!(figure(&by_community, "beiyuan", "extensions")["value"], 1.0);
    assert_eq!(figure(&by_community, "qinghe", "extensions")["value"], 0.0);
    // Filed in qinghe, the visit counts where it is now among the petitions received.
    assert_eq!(
        figure(&by_community, "beiyuan", "petitions_received")["value"],
        1.0
    );
    // The hours to reply are measured in the requests as they are now: the fire office's.
    let hours = figure(&by_unit, "qinghe-fire", "median_hours_to_reply");
    assert!(hours["value"].is_number(), "{hours}");
    let listed = app
        .all_listed(&supervisor, hours["cases"].as_str().unwrap())
        .await;
    assert_eq!(listed, vec![request.clone()]);
    let by_severity = stats(supervisor.clone(), "&by=severity".to_owned()).await;
    assert_eq!(
        figure(&by_severity, "general", "supervisions")["value"],
        1.0
    );
    assert_eq!(figure(&by_severity, "major", "supervisions")["value"], 1.0);
    assert_eq!(
        figure(&by_severity, "general", "risks_assessed")["value"],
        1.0
    );
    assert_eq!(figure(&by_severity, "major", "risk_reviews")["value"], 2.0);
    let by_channel = stats(supervisor.clone(), "&by=channel".to_owned()).await;
    assert_eq!(
        figure(&by_channel, "visit", "petitions_received")["value"],
        1.0
    );
    assert_eq!(
        figure(&by_channel, "walk-in", "requests_received")["value"],
        1.0
    );
    // Among the cases without a channel there are no petitions or requests to list.
    for name in ["petitions_received", "requests_received", "reviews"] {
        assert_eq!(
            figure(&by_channel, "", name)["cases"],
            Value::Null,
            "{name}"
        );
    }

    // A channel is one kind's: in a slice of visits, hazards, risks and dispatches have no
    // list, as in a slice of petitions; a name that is no channel is refused.
    let visits = stats(supervisor.clone(), "&channel=visit".to_owned()).await;
    for name in [
        "hazards_found",
        "risks_found",
        "units_dispatched",
        "risk_reviews",
    ] {
        assert_eq!(figure(&visits, "", name)["cases"], Value::Null, "{name}");
    }
    assert_eq!(figure(&visits, "", "petitions_received")["value"], 1.0);
    assert_eq!(figure(&visits, "", "extensions")["value"], 1.0);
    for bad in ["&channel=pigeon", "&channel=letter&kind=hazard"] {
        let r = app
            .send_as(
                &supervisor,
                "GET",
                &format!("/v1/stats?from=2025-05-01&to=2025-05-31{bad}"),
                None,
            )
            .await;
        assert_problem(&r, StatusCode::BAD_REQUEST, "invalid-query");
    }

    // Every figure, every way.
    let mut checked = drill_down(&app, &supervisor, &all).await;
    for dimension in [
        "kind",
        "community",
        "grid",
        "category",
        "unit",
        "severity",
        "channel",
    ] {
        let grouped = stats(supervisor.clone(), format!("&by={dimension}")).await;
        checked += drill_down(&app, &supervisor, &grouped).await;
    }
    // Sliced to what a case left: the safety office's and the general severity's.
    for slice in [
        "&unit=qinghe-safety",
        "&severity=general&by=unit",
        "&channel=visit",
        "&channel=walk-in&by=unit",
    ] {
        let sliced = stats(supervisor.clone(), slice.to_owned()).await;
        checked += drill_down(&app, &supervisor, &sliced).await;
    }
    // Those who reach part of the tenant: a unit whose cases moved away, the unit they moved
    // to, a grid worker of one grid.
    let grid_worker = |grid: &str| Actor {
        id: format!("gw-{grid}"),
        role: Role::GridWorker,
        grids: vec![grid.parse().unwrap()],
        ..officer.clone()
    };
    for actor in [
        safety.clone(),
        housing.clone(),
        grid_worker("qinghe-03"),
        grid_worker("qinghe-05"),
        grid_worker("beiyuan-01"),
    ] {
        for query in [
            "",
            "&by=kind",
            "&by=community",
            "&by=grid",
            "&by=category",
            "&by=unit",
            "&by=severity",
            "&by=channel",
        ] {
            let body = stats(actor.clone(), query.to_owned()).await;
            checked += drill_down(&app, &actor, &body).await;
        }
    }
    // Every `*_from` and `*_to` day is a whole local day: a day's filings are the ones from
    // that day to that day; an instant bound stops before it.
    for (query, n) in [
        ("filed_from=2025-05-12&filed_to=2025-05-12", 2),
        (
            "filed_from=2025-05-12&filed_to=2025-05-12T00:00:00%2B08:00",
            0,
        ),
        ("filed_from=2025-05-05&filed_to=2025-05-13", 5),
        ("closed_from=2025-05-01&closed_to=2025-05-31", 0),
    ] {
        let listed = app
            .all_listed(&supervisor, &format!("/v1/cases?{query}"))
            .await;
        assert_eq!(listed.len(), n, "{query}");
    }
    // The safety office no longer reaches the hazard it was pressed on: neither counted nor
    // listed for it.
    let theirs = stats(safety.clone(), String::new()).await;
    assert_eq!(figure(&theirs, "", "supervisions")["value"], 0.0);
    // Nor the grid it left; the grid it moved to counts what happened there.
    let theirs = stats(grid_worker("qinghe-03"), String::new()).await;
    assert_eq!(figure(&theirs, "", "supervisions")["value"], 0.0);
    let theirs = stats(grid_worker("qinghe-05"), String::new()).await;
    assert_eq!(figure(&theirs, "", "supervisions")["value"], 1.0);
    assert!(checked > 500, "{checked}");
}
