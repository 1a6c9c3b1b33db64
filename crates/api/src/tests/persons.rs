//! Person files (一人一档): found by ID number without storing it, every case of the person, repeat
//! petitions flagged; opened only by the roles that see petitioners in clear, and every opening
//! recorded for supervisors to read.

use super::*;

const ID_NUMBER: &str = "11010519800101026X";

fn person(role: Role, tenant: &str) -> Actor {
    Actor {
        id: format!("{role}-1"),
        tenant: tenant.parse().unwrap(),
        role,
        unit: matches!(role, Role::Handler | Role::Mediator)
            .then(|| "qinghe-safety".parse().unwrap()),
        grids: if role == Role::GridWorker {
            vec!["qinghe-03".parse().unwrap()]
        } else {
            Vec::new()
        },
    }
}

fn officer() -> Actor {
    person(Role::PetitionOfficer, "qinghe")
}

fn supervisor() -> Actor {
    person(Role::Supervisor, "qinghe")
}

impl App {
    async fn petition_by(&self, name: &str, id_number: &str, title: &str) -> String {
        let body = json!({
            "kind": "petition", "community": "qinghe", "grid": "qinghe-03", "title": title,
            "channel": "visit", "petition_type": "appeal-request", "category": "housing",
            "petitioners": [{"name": name, "id_number": id_number, "phone": "13912345678"}]
        });
        let r = self
            .send_as(&officer(), "POST", "/v1/cases", Some(body))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body["case_id"].as_str().unwrap().to_owned()
    }

    async fn find_person(&self, actor: &Actor, body: Value) -> Reply {
        let path = format!("/v1/persons/find?min_position={}", self.written());
        self.send_as(actor, "POST", &path, Some(body)).await
    }
}

#[tokio::test]
async fn a_person_file_holds_every_case_of_the_person_and_flags_repeat_petitions() {
    let app = app().await;
    let first = app.petition_by("张三", ID_NUMBER, "物业费纠纷").await;
    let _someone_else = app
        .petition_by("李四", "110105194912310038", "噪音扰民")
        .await;
    // The same person, recognised by the ID number (case and spacing aside).
    let second = app
        .petition_by("张三", &ID_NUMBER.to_lowercase(), "物业费纠纷再次")
        .await;
    let dispute = json!({
        "kind": "dispute", "community": "qinghe", "grid": "qinghe-03", "room": "qinghe-safety",
        "title": "邻里纠纷", "dispute_type": "neighbour", "source": "walk-in",
        "parties": [{"side": "applicant", "name": "张三", "id_number": ID_NUMBER},
                    {"side": "respondent", "name": "王五"}]
    });
    let r = app
        .send_as(&supervisor(), "POST", "/v1/cases", Some(dispute))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let dispute_id = r.body["case_id"].as_str().unwrap().to_owned();

    let r = app
        .find_person(&officer(), json!({"id_number": format!(" {ID_NUMBER} ")}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let file = r.body;
    let cases: Vec<&str> = file["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(cases, [dispute_id.as_str(), &second, &first], "{file}");
    assert_eq!(file["petitions"], 2);
    assert_eq!(file["repeat_petitions"], 1);
    assert_eq!(file["cases"][0]["part"], "applicant");
    assert_eq!(file["cases"][1]["part"], "petitioner");
    assert_eq!(file["cases"][1]["repeat"], true);
    assert_eq!(file["cases"][2]["repeat"], false);
    assert_eq!(file["more"], false);
    // In clear, as the newest case that shows the officer the person in clear recorded them
    // (the second petition, its number typed in lower case): the dispute, newer, shows its
    // parties masked to a petition officer.
    assert_eq!(file["details"]["name"], "张三", "{file}");
    assert_eq!(file["details"]["id_number"], ID_NUMBER.to_lowercase());
    assert!(file["details"].get("masked").is_none(), "{file}");
    assert!(!file.to_string().contains("sealed"), "{file}");

    // The same file by its id.
    let person_id = file["person"].as_str().unwrap().to_owned();
    let r = app
        .send_as(
            &supervisor(),
            "GET",
            &format!("/v1/persons/{person_id}"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["cases"], file["cases"]);

    // The case says it repeats the first, and the list finds it by the flag.
    let r = app
        .send_as(&officer(), "GET", &format!("/v1/cases/{second}"), None)
        .await;
    assert_eq!(r.body["repeat"], true, "{}", r.body);
    assert_eq!(r.body["repeat_of"][0]["case"], first.as_str());
    assert_eq!(r.body["repeat_of"][0]["by"], "person");
    let r = app
        .send_as(&officer(), "GET", &format!("/v1/cases/{first}"), None)
        .await;
    assert_eq!(r.body["repeat"], false, "{}", r.body);
    let r = app
        .send_as(&officer(), "GET", "/v1/cases?repeat=true", None)
        .await;
    let listed: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [second.as_str()], "{}", r.body);
}

#[tokio::test]
async fn only_petition_officers_and_supervisors_open_person_files_and_only_supervisors_the_views() {
    let app = app().await;
    let case = app.petition_by("张三", ID_NUMBER, "物业费纠纷").await;
    let r = app
        .find_person(&officer(), json!({"id_number": ID_NUMBER}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let person_id = r.body["person"].as_str().unwrap().to_owned();
    let file = format!("/v1/persons/{person_id}");
    let views = format!("{file}/views");

    for role in [Role::GridWorker, Role::Handler, Role::Mediator, Role::Admin] {
        let actor = person(role, "qinghe");
        let r = app
            .find_person(&actor, json!({"id_number": ID_NUMBER}))
            .await;
        assert_problem(&r, StatusCode::FORBIDDEN, "role-not-permitted");
        assert!(!r.body.to_string().contains(&person_id), "{}", r.body);
        let r = app.send_as(&actor, "GET", &file, None).await;
        assert_problem(&r, StatusCode::FORBIDDEN, "role-not-permitted");
        let r = app.send_as(&actor, "GET", &views, None).await;
        assert_problem(&r, StatusCode::FORBIDDEN, "role-not-permitted");
    }
    let r = app.send_as(&officer(), "GET", &views, None).await;
    assert_problem(&r, StatusCode::FORBIDDEN, "role-not-permitted");

    // Another tenant's supervisor knows neither the ID number nor the person.
    let elsewhere = person(Role::Supervisor, "elsewhere");
    let r = app
        .find_person(&elsewhere, json!({"id_number": ID_NUMBER}))
        .await;
    assert_problem(&r, StatusCode::NOT_FOUND, "person-not-found");
    let r = app.send_as(&elsewhere, "GET", &file, None).await;
    assert_problem(&r, StatusCode::NOT_FOUND, "person-not-found");

    // The supervisor sees every clear view: the filing, the officer's lookup, the case read.
    let r = app
        .send_as(&officer(), "GET", &format!("/v1/cases/{case}"), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app.send_as(&supervisor(), "GET", &views, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let seen: Vec<(String, String)> = r.body["views"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["via"].as_str().unwrap().to_owned(),
                v["viewer"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let officer_id = officer().id;
    for via in ["filing", "person-file", "case"] {
        assert!(
            seen.contains(&(via.to_owned(), officer_id.clone())),
            "no {via} view by the officer in {seen:?}"
        );
    }
    // Reading the views is not itself a view of the person's details.
    assert!(!r.body.to_string().contains("张三"), "{}", r.body);
}

#[tokio::test]
async fn bad_lookups_are_refused_and_unknown_people_are_not_found() {
    let app = app().await;
    app.petition_by("张三", ID_NUMBER, "物业费纠纷").await;
    let r = app
        .find_person(&officer(), json!({"id_number": "12345"}))
        .await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-input");
    assert_eq!(r.body["field"], "id_number");
    // Multi-byte characters of the right byte length are not an ID number (and no panic).
    let r = app
        .find_person(&officer(), json!({"id_number": "中中中中中中"}))
        .await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-input");
    // The same at filing: once a panic, slicing the string inside a character.
    let body = json!({
        "kind": "petition", "community": "qinghe", "grid": "qinghe-03", "title": "t",
        "channel": "visit", "petition_type": "appeal-request", "category": "housing",
        "petitioners": [{"name": "张三", "id_number": "中中中中中中"}]
    });
    let r = app
        .send_as(&officer(), "POST", "/v1/cases", Some(body))
        .await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-input");
    let r = app.find_person(&officer(), json!({})).await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-input");
    let r = app
        .find_person(&officer(), json!({"id_number": ID_NUMBER, "name": "张三"}))
        .await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-input");
    let r = app
        .find_person(&officer(), json!({"id_number": "110105194912310038"}))
        .await;
    assert_problem(&r, StatusCode::NOT_FOUND, "person-not-found");
    let r = app
        .send_as(&officer(), "GET", "/v1/persons/not-a-uuid", None)
        .await;
    assert_problem(&r, StatusCode::BAD_REQUEST, "invalid-person-id");
    let r = app
        .send_as(
            &officer(),
            "GET",
            &format!("/v1/persons/{}", uuid::Uuid::now_v7()),
            None,
        )
        .await;
    assert_problem(&r, StatusCode::NOT_FOUND, "person-not-found");
}

#[tokio::test]
async fn an_erased_persons_file_keeps_the_cases_but_not_the_details() {
    let app = app().await;
    let case = app.petition_by("张三", ID_NUMBER, "物业费纠纷").await;
    let r = app
        .find_person(&officer(), json!({"id_number": ID_NUMBER}))
        .await;
    let person_id: docket_domain::person::PersonId =
        r.body["person"].as_str().unwrap().parse().unwrap();
    let vault = app.state.commands.vault().unwrap();
    assert!(vault.erase("qinghe", person_id).await.unwrap());

    // The ID number no longer leads to the person.
    let r = app
        .find_person(&officer(), json!({"id_number": ID_NUMBER}))
        .await;
    assert_problem(&r, StatusCode::NOT_FOUND, "person-not-found");
    let r = app
        .send_as(&officer(), "GET", &format!("/v1/persons/{person_id}"), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["cases"][0]["id"], case.as_str());
    assert_eq!(r.body["details"]["erased"], true, "{}", r.body);
    assert!(!r.body.to_string().contains("张三"), "{}", r.body);
    assert!(!r.body.to_string().contains(ID_NUMBER), "{}", r.body);
}

#[tokio::test]
async fn the_people_of_a_risk_and_the_requester_of_a_request_are_in_their_person_files() {
    let app = app().await;
    let petition = app.petition_by("张三", ID_NUMBER, "讨薪").await;
    let risk = json!({
        "kind": "risk_event", "community": "qinghe", "grid": "qinghe-03", "title": "欠薪聚集",
        "source": "petition", "category": "wage-arrears",
        "people": [{"name": "张三", "id_number": ID_NUMBER}, {"name": "赵六"}]
    });
    let r = app
        .send_as(&supervisor(), "POST", "/v1/cases", Some(risk))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let risk = r.body["case_id"].as_str().unwrap().to_owned();
    let request = json!({
        "kind": "livelihood", "community": "qinghe", "grid": "qinghe-03", "title": "工资咨询",
        "channel": "walk-in", "category": "other", "urgency": "general",
        "requester": {"name": "张三", "id_number": ID_NUMBER, "phone": "13912345678"}
    });
    let r = app
        .send_as(&officer(), "POST", "/v1/cases", Some(request))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let request = r.body["case_id"].as_str().unwrap().to_owned();

    let r = app
        .find_person(&officer(), json!({"id_number": ID_NUMBER}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let parts: Vec<(&str, &str)> = r.body["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap(), c["part"].as_str().unwrap()))
        .collect();
    assert_eq!(
        parts,
        [
            (request.as_str(), "requester"),
            (risk.as_str(), "involved"),
            (petition.as_str(), "petitioner"),
        ],
        "{}",
        r.body
    );
    // Only the petitions count as petitions.
    assert_eq!(r.body["petitions"], 1);
    // On the case: in clear to the officer, masked to a grid worker of the grid.
    let r = app
        .send_as(&officer(), "GET", &format!("/v1/cases/{risk}"), None)
        .await;
    assert_eq!(
        r.body["case"]["people"][0]["id_number"], ID_NUMBER,
        "{}",
        r.body
    );
    let grid_worker = person(Role::GridWorker, "qinghe");
    let r = app
        .send_as(&grid_worker, "GET", &format!("/v1/cases/{request}"), None)
        .await;
    assert_eq!(r.body["case"]["requester"]["name"], "张*", "{}", r.body);
    assert_ne!(r.body["case"]["requester"]["phone"], "13912345678");
}

/// A handler of another unit sees the reporter of an accusation masked, so the accusation does
/// not name the earlier petitions its reporter made (there the same handler may see them in
/// clear); earlier petitions outside a caller's reach are counted, not shown.
#[tokio::test]
async fn repeats_are_shown_only_where_the_person_is_and_within_reach() {
    let app = app().await;
    let unit_handler = |unit: &str| Actor {
        unit: Some(unit.parse().unwrap()),
        ..person(Role::Handler, "qinghe")
    };
    let (housing, safety) = (
        unit_handler("qinghe-housing"),
        unit_handler("qinghe-safety"),
    );
    let accept = |case: String, unit: &'static str| {
        let app = &app;
        async move {
            let r = app
                .send_as(
                    &officer(),
                    "POST",
                    &format!("/v1/cases/{case}/actions/accept"),
                    Some(json!({"unit": unit})),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        }
    };
    let first = app.petition_by("张三", ID_NUMBER, "物业费纠纷").await;
    accept(first.clone(), "qinghe-housing").await;
    let accusation = json!({
        "kind": "petition", "community": "qinghe", "grid": "qinghe-03", "title": "反映执法问题",
        "channel": "letter", "petition_type": "report-accusation", "category": "housing",
        "accused_unit": "qinghe-safety",
        "petitioners": [{"name": "张三", "id_number": ID_NUMBER, "phone": "13912345678"}]
    });
    let r = app
        .send_as(&officer(), "POST", "/v1/cases", Some(accusation))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let accused = r.body["case_id"].as_str().unwrap().to_owned();
    accept(accused.clone(), "qinghe-housing").await;

    let shown = |actor: &Actor, case: &str| {
        let (app, actor, case) = (&app, actor.clone(), case.to_owned());
        async move {
            let r = app
                .send_as(&actor, "GET", &format!("/v1/cases/{case}"), None)
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            r.body
        }
    };
    // The officer sees the reporter, and that the accusation repeats the first petition.
    let body = shown(&officer(), &accused).await;
    assert_eq!(body["repeat"], true, "{body}");
    assert_eq!(body["repeat_of"][0]["case"], first.as_str(), "{body}");
    // The housing unit handles both: the reporter masked here, so no pointer to the petition
    // where it sees 张三 in clear.
    let body = shown(&housing, &accused).await;
    assert!(!body.to_string().contains("张三"), "{body}");
    assert_eq!(body["repeat_of"], json!([]), "{body}");
    assert!(!body.to_string().contains(&first), "{body}");
    let body = shown(&housing, &first).await;
    assert_eq!(body["case"]["petitioners"][0]["name"], "张三", "{body}");

    // A later ordinary petition the safety unit handles: its handler sees 张三 in clear, but the
    // first petition is housing's: counted, not named.
    let second = app.petition_by("张三", ID_NUMBER, "物业费纠纷再次").await;
    accept(second.clone(), "qinghe-safety").await;
    let body = shown(&safety, &second).await;
    assert_eq!(body["repeat"], true, "{body}");
    assert!(!body.to_string().contains(&first), "{body}");
    assert!(!body.to_string().contains(&accused), "{body}");
    assert_eq!(body["repeat_of_outside_reach"], 2, "{body}");
    let body = shown(&supervisor(), &second).await;
    assert_eq!(body["repeat_of"].as_array().unwrap().len(), 2, "{body}");
    assert_eq!(body["repeat_of_outside_reach"], 0, "{body}");
}
