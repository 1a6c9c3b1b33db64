//! The tenant's directory over HTTP: only the admin keeps it; every filing, action and token is
//! held to it; lists and details show its names; renaming changes what they show, not the
//! history.

use super::*;

impl App {
    async fn keep(&self, role: Role, action: &str, body: Value) -> Reply {
        self.call(
            "POST",
            &format!("/v1/directory/actions/{action}"),
            Some(role),
            &[],
            Some(&body.to_string()),
        )
        .await
    }
}

fn hazard(change: impl FnOnce(&mut Value)) -> String {
    let mut body: Value = serde_json::from_str(HAZARD).unwrap();
    change(&mut body);
    body.to_string()
}

#[tokio::test]
async fn only_the_admin_keeps_the_directory_and_everyone_reads_it() {
    let app = app().await;
    let add = json!({"id": "qinghe-market-01", "name": "清河菜市场", "unit_kind": "market",
                     "in_network": true});
    // A service account has no token (it acts through Open311).
    for role in Role::ALL
        .into_iter()
        .filter(|r| !matches!(r, Role::Admin | Role::ServiceAccount))
    {
        // Whatever the action or body: 403 before anything else.
        for (action, body) in [
            ("add-unit", add.clone()),
            ("paint-unit", json!({})),
            ("add-unit", json!({"colour": "red"})),
        ] {
            let r = app.keep(role, action, body).await;
            assert_problem(&r, StatusCode::FORBIDDEN, "role-not-permitted");
        }
    }
    let before = app.log.head().await.unwrap();
    let r = app.keep(Role::Admin, "add-unit", add.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["position"], before + 1);
    // The same id again is refused, naming the field.
    let again = app.keep(Role::Admin, "add-unit", add).await;
    assert_problem(&again, StatusCode::UNPROCESSABLE_ENTITY, "invalid-input");
    assert_eq!(again.body["field"], "id");
    let unknown = app.keep(Role::Admin, "paint-unit", json!({})).await;
    assert_problem(&unknown, StatusCode::NOT_FOUND, "unknown-action");

    let position = r.body["position"].as_u64().unwrap();
    for role in Role::ALL.into_iter().filter(|r| *r != Role::ServiceAccount) {
        let listed = app
            .call(
                "GET",
                &format!("/v1/directory?min_position={position}"),
                Some(role),
                &[],
                None,
            )
            .await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
        let market = listed.body["units"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["id"] == "qinghe-market-01")
            .cloned()
            .unwrap_or_else(|| panic!("{}", listed.body));
        assert_eq!(market["name"], "清河菜市场");
        assert_eq!(market["unit_kind"], "market");
        assert_eq!(market["in_network"], true);
        assert!(
            listed.body["categories"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["kind"] == "hazard" && c["id"] == "e-bike-charging"),
            "the shipped taxonomies are in it"
        );
    }
}

#[tokio::test]
async fn a_filing_or_action_naming_what_the_directory_does_not_hold_records_nothing() {
    let app = app().await;
    let id = app.file_hazard().await;
    let r = app
        .keep(Role::Admin, "retire-grid", json!({"id": "qinghe-09"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let before = app.log.head().await.unwrap();
    for (body, field) in [
        (hazard(|b| b["community"] = json!("qinghee")), "community"),
        (hazard(|b| b["unit"] = json!("qinghe-safty")), "unit"),
        (hazard(|b| b["category"] = json!("parking")), "category"),
        (hazard(|b| b["grid"] = json!("qinghe-99")), "grid"),
    ] {
        let r = app
            .call(
                "POST",
                "/v1/cases",
                Some(Role::Supervisor),
                &[],
                Some(&body),
            )
            .await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-input");
        assert_eq!(r.body["field"], field, "{}", r.body);
    }
    let retired = hazard(|b| b["grid"] = json!("qinghe-09"));
    let r = app
        .call(
            "POST",
            "/v1/cases",
            Some(Role::Supervisor),
            &[],
            Some(&retired),
        )
        .await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-input");
    assert!(
        r.body["detail"].as_str().unwrap().contains("retired"),
        "{}",
        r.body
    );
    let r = app
        .act(
            &id,
            "reassign",
            Role::Supervisor,
            r#"{"unit": "qinghe-safty", "reason": "职责"}"#,
        )
        .await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-input");
    assert_eq!(r.body["field"], "unit");
    assert_eq!(
        app.log.head().await.unwrap(),
        before,
        "nothing was recorded"
    );
}

#[tokio::test]
async fn renaming_a_unit_changes_what_lists_show_not_the_history() {
    let app = app().await;
    let id = app.file_hazard().await;
    let history_uri = format!("/v1/cases/{id}/history");
    let before = app
        .call("GET", &history_uri, Some(Role::Supervisor), &[], None)
        .await
        .body;
    let r = app
        .keep(
            Role::Admin,
            "rename-unit",
            json!({"id": "qinghe-safety", "name": "清河街道安全生产办公室"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let position = r.body["position"].as_u64().unwrap();
    let listed = app
        .call(
            "GET",
            &format!("/v1/cases?min_position={position}"),
            Some(Role::Supervisor),
            &[],
            None,
        )
        .await;
    let item = &listed.body["items"][0];
    assert_eq!(item["lead_unit"], "qinghe-safety", "{item}");
    assert_eq!(
        item["names"]["lead_unit"], "清河街道安全生产办公室",
        "{item}"
    );
    assert_eq!(item["names"]["category"], "电动自行车充电", "{item}");
    let detail = app
        .call(
            "GET",
            &format!("/v1/cases/{id}"),
            Some(Role::Supervisor),
            &[],
            None,
        )
        .await;
    assert_eq!(
        detail.body["names"]["lead_unit"], "清河街道安全生产办公室",
        "{}",
        detail.body
    );
    let after = app
        .call("GET", &history_uri, Some(Role::Supervisor), &[], None)
        .await
        .body;
    assert_eq!(after, before, "the history is as it was");
}

#[tokio::test]
async fn a_token_naming_a_unit_or_grid_outside_the_directory_is_refused() {
    let app = app().await;
    let actor = |unit: Option<&str>, grids: &[&str]| Actor {
        id: "someone".to_owned(),
        tenant: "qinghe".parse().unwrap(),
        role: if unit.is_some() {
            Role::Handler
        } else {
            Role::GridWorker
        },
        unit: unit.map(|u| u.parse().unwrap()),
        grids: grids.iter().map(|g| g.parse().unwrap()).collect(),
    };
    let r = app
        .keep(Role::Admin, "retire-unit", json!({"id": "qinghe-far"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    for (who, says) in [
        (
            actor(Some("qinghe-safty"), &[]),
            "not in qinghe's directory",
        ),
        (actor(Some("qinghe-far"), &[]), "retired"),
        (actor(None, &["qinghe-03", "qinghe-33"]), "qinghe-33"),
    ] {
        let r = app.send_as(&who, "GET", "/v1/cases", None).await;
        assert_problem(&r, StatusCode::FORBIDDEN, "token-not-in-directory");
        assert!(
            r.body["detail"].as_str().unwrap().contains(says),
            "{}",
            r.body
        );
    }
    let fine = app
        .send_as(&actor(Some("qinghe-safety"), &[]), "GET", "/v1/cases", None)
        .await;
    assert_eq!(fine.status, StatusCode::OK, "{}", fine.body);
}

#[tokio::test]
async fn a_dispute_registered_without_a_room_reaches_its_communitys_room() {
    let app = app().await;
    // Seeded from its id, qinghe-mediation is a mediation room.
    let r = app
        .keep(
            Role::Admin,
            "set-community-units",
            json!({"id": "qinghe", "mediation_room": "qinghe-mediation"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let dispute = json!({"kind": "dispute", "community": "qinghe", "grid": "qinghe-03",
        "title": "楼上漏水", "dispute_type": "neighbour", "source": "grid-worker",
        "parties": [{"side": "applicant", "name": "甲"}, {"side": "respondent", "name": "乙"}]});
    let r = app
        .call(
            "POST",
            "/v1/cases",
            Some(Role::GridWorker),
            &[],
            Some(&dispute.to_string()),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["case_id"].as_str().unwrap();
    let mediator = Actor {
        id: "mediator-room".to_owned(),
        tenant: "qinghe".parse().unwrap(),
        role: Role::Mediator,
        unit: Some("qinghe-mediation".parse().unwrap()),
        grids: Vec::new(),
    };
    let seen = app
        .send_as(&mediator, "GET", &format!("/v1/cases/{id}"), None)
        .await;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.body);
    assert_eq!(seen.body["lead_unit"], "qinghe-mediation");
    let accepted = app
        .send_as(
            &mediator,
            "POST",
            &format!("/v1/cases/{id}/actions/accept"),
            Some(json!({"mediator": "赵调解", "room": "qinghe-mediation"})),
        )
        .await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
}

/// A directory commit this release cannot read quarantines the tenant's directory: changes to it
/// answer 409 `directory-quarantined` (the lists would not show them) until it is repaired.
#[tokio::test]
async fn a_quarantined_directory_takes_no_change() {
    let app = app().await;
    let tenant: docket_domain::TenantId = "qinghe".parse().unwrap();
    let position = app
        .append_from_a_newer_release(
            docket_commands::directory_stream(&tenant),
            docket_domain::directory::STREAM_KIND,
            ("directory.unit_painted", json!({"colour": "red"})),
        )
        .await;
    let add = json!({"id": "qinghe-market-01", "name": "清河菜市场", "unit_kind": "market",
                     "in_network": true});
    let r = app.keep(Role::Admin, "add-unit", add).await;
    assert_problem(&r, StatusCode::CONFLICT, "directory-quarantined");
    assert_eq!(
        app.log.head().await.unwrap(),
        position,
        "nothing was written"
    );
}
