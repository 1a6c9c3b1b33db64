//! The disclosure matrix: every role, through every read that shows people (case detail, history,
//! the event stream, lists and their repeat flag and filter, person files, earlier petitions on
//! the detail), on every kind of case that names a person, with the person in each part a case
//! gives (petitioner, reporter of an accusation, party to a dispute, person involved in a risk,
//! requester). The expected column is written out here from the rules of who sees whom (DOMAIN.md),
//! not taken from the code; each read must show exactly that, or less where the read says so.

use std::collections::BTreeMap;

use super::*;

const GRID: &str = "qinghe-03";
/// The unit every matrix case is led by.
const UNIT: &str = "qinghe-safety";
/// The unit the accusation accuses: it never handles it.
const ACCUSED: &str = "qinghe-fire";
const NAME: &str = "张三";
const MASKED_NAME: &str = "张*";
const ID_NUMBER: &str = "11010519800101026X";
const PHONE: &str = "13912345678";
/// Each case's description: free text, sealed with the case, shown as its people are.
const DESCRIPTION: &str = "来访人反映情况属实";

/// What a read shows of the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Shown {
    Clear,
    Masked,
    Withheld,
    /// The case is outside the caller's reach: not found, not listed, not streamed.
    Unreached,
}

/// The cases of the matrix, one per kind and part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Case {
    /// An ordinary petition (申诉求决): the person is its petitioner.
    Appeal,
    /// A report or accusation (检举控告) of `ACCUSED`: the person reports.
    Accusation,
    /// A dispute: the person is the applicant (and 王五 the respondent).
    Dispute,
    /// A stability risk: the person is involved.
    Risk,
    /// A livelihood request: the person asks.
    Request,
}

const CASES: [Case; 5] = [
    Case::Appeal,
    Case::Accusation,
    Case::Dispute,
    Case::Risk,
    Case::Request,
];

/// The callers: each role, handlers of the leading unit and of the accused one.
fn callers() -> Vec<(&'static str, Actor)> {
    let actor = |role: Role, unit: Option<&str>| Actor {
        id: format!("{role}-{}", unit.unwrap_or("none")),
        tenant: "qinghe".parse().unwrap(),
        role,
        unit: unit.map(|u| u.parse().unwrap()),
        grids: if role == Role::GridWorker {
            vec![GRID.parse().unwrap()]
        } else {
            Vec::new()
        },
    };
    vec![
        ("grid worker", actor(Role::GridWorker, None)),
        ("mediator", actor(Role::Mediator, Some(UNIT))),
        ("handler", actor(Role::Handler, Some(UNIT))),
        (
            "handler of the accused unit",
            actor(Role::Handler, Some(ACCUSED)),
        ),
        ("petition officer", actor(Role::PetitionOfficer, None)),
        ("supervisor", actor(Role::Supervisor, None)),
        ("admin", actor(Role::Admin, None)),
    ]
}

/// The rules, case by case: who sees the person in clear, masked, not at all, and who does not
/// reach the case.
fn expected(caller: &str, case: Case) -> Shown {
    use Shown::*;
    match (caller, case) {
        // An admin keeps the directory and reaches no case; the accused unit leads none of them.
        ("admin" | "handler of the accused unit", _) => Unreached,
        // Petitioners, and the people of a risk or a request: the roles that work with them.
        (
            "petition officer" | "supervisor" | "handler",
            Case::Appeal | Case::Risk | Case::Request,
        ) => Clear,
        ("grid worker" | "mediator", Case::Appeal | Case::Risk | Case::Request) => Masked,
        // A reporter: petition officers and supervisors; a handler of another unit than the
        // accused, masked; nobody else at all.
        ("petition officer" | "supervisor", Case::Accusation) => Clear,
        ("handler", Case::Accusation) => Masked,
        ("grid worker" | "mediator", Case::Accusation) => Withheld,
        // Parties to a dispute: mediators and supervisors.
        ("mediator" | "supervisor", Case::Dispute) => Clear,
        ("grid worker" | "handler" | "petition officer", Case::Dispute) => Masked,
        (other, _) => panic!("no rule written for {other}"),
    }
}

/// What a response shows of the person: in clear if any of the name, ID number or phone appears;
/// masked if only the masked name does; withheld if a withheld person stands in its place.
fn shown_in(value: &Value) -> Option<Shown> {
    let text = value.to_string();
    assert!(!text.contains("\"sealed\""), "a sealed form leaked: {text}");
    if text.contains(NAME) || text.contains(ID_NUMBER) || text.contains(PHONE) {
        Some(Shown::Clear)
    } else if text.contains(MASKED_NAME) {
        assert!(!text.contains("\"withheld\""), "{text}");
        Some(Shown::Masked)
    } else if text.contains("\"withheld\":true") {
        Some(Shown::Withheld)
    } else {
        None
    }
}

/// What a response shows of the case's description: the text, masked (its first character and
/// an ellipsis), or nothing.
fn text_in(value: &Value) -> Option<Shown> {
    let text = value.to_string();
    let masked = format!("\"{}…\"", DESCRIPTION.chars().next().unwrap());
    if text.contains(DESCRIPTION) {
        Some(Shown::Clear)
    } else if text.contains(&masked) {
        Some(Shown::Masked)
    } else {
        None
    }
}

impl App {
    /// The five cases, each led by `UNIT` in `GRID`, naming the same person.
    async fn disclosure_cases(&self) -> BTreeMap<Case, String> {
        let callers: BTreeMap<_, _> = callers().into_iter().collect();
        let (officer, supervisor) = (&callers["petition officer"], &callers["supervisor"]);
        let person = json!({"name": NAME, "id_number": ID_NUMBER, "phone": PHONE});
        let petition = |petition_type: &str, title: &str| {
            let mut body = json!({
                "kind": "petition", "community": "qinghe", "grid": GRID, "title": title,
                "channel": "letter", "petition_type": petition_type, "category": "housing",
                "description": DESCRIPTION, "petitioners": [person.clone()]
            });
            if petition_type == "report-accusation" {
                body["accused_unit"] = json!(ACCUSED);
            }
            body
        };
        let mut cases = BTreeMap::new();
        let appeal = self
            .file_as(officer, petition("appeal-request", "供暖不足"))
            .await;
        self.acted(officer, &appeal, "accept", json!({"unit": UNIT}))
            .await;
        cases.insert(Case::Appeal, appeal);
        let accusation = self
            .file_as(officer, petition("report-accusation", "反映执法问题"))
            .await;
        self.acted(officer, &accusation, "accept", json!({"unit": UNIT}))
            .await;
        cases.insert(Case::Accusation, accusation);
        let dispute = json!({
            "kind": "dispute", "community": "qinghe", "grid": GRID, "room": UNIT,
            "title": "邻里噪音", "dispute_type": "neighbour", "source": "walk-in",
            "description": DESCRIPTION, "parties": [{"side": "applicant", "name": NAME, "id_number": ID_NUMBER, "phone": PHONE},
                        {"side": "respondent", "name": "王五"}]
        });
        cases.insert(Case::Dispute, self.file_as(supervisor, dispute).await);
        let risk = json!({
            "kind": "risk_event", "community": "qinghe", "grid": GRID, "unit": UNIT,
            "title": "欠薪聚集苗头", "source": "grid-patrol", "category": "wage-arrears",
            "description": DESCRIPTION, "people": [person.clone()]
        });
        cases.insert(Case::Risk, self.file_as(supervisor, risk).await);
        let request = json!({
            "kind": "livelihood", "community": "qinghe", "grid": GRID, "title": "工资咨询",
            "channel": "walk-in", "category": "other", "urgency": "general",
            "description": DESCRIPTION, "requester": person
        });
        let request = self.file_as(officer, request).await;
        self.acted(officer, &request, "dispatch", json!({"lead": UNIT}))
            .await;
        cases.insert(Case::Request, request);
        cases
    }
}

#[tokio::test]
async fn every_read_shows_a_person_as_the_one_disclosure_rule_says() {
    let app = app().await;
    let cases = app.disclosure_cases().await;
    let head = app.log.head().await.unwrap();
    assert!(
        app.state
            .read
            .wait_until(head, Duration::from_secs(5))
            .await
    );
    let case_of: BTreeMap<&str, Case> = cases.iter().map(|(c, id)| (id.as_str(), *c)).collect();

    for (caller, actor) in callers() {
        let expect = |case: Case| expected(caller, case);

        // The case, and its history.
        for (&case, id) in &cases {
            let want = expect(case);
            for (read, uri) in [
                ("detail", format!("/v1/cases/{id}")),
                ("history", format!("/v1/cases/{id}/history")),
            ] {
                let r = app.send_as(&actor, "GET", &uri, None).await;
                if want == Shown::Unreached {
                    assert_problem(&r, StatusCode::NOT_FOUND, "case-not-found");
                    continue;
                }
                assert_eq!(
                    r.status,
                    StatusCode::OK,
                    "{caller} {read} {case:?}: {}",
                    r.body
                );
                assert_eq!(
                    shown_in(&r.body),
                    Some(want),
                    "{caller} {read} {case:?}: {}",
                    r.body
                );
                // The description as the people: nothing of it where they are withheld.
                let text = match want {
                    Shown::Withheld => None,
                    other => Some(other),
                };
                assert_eq!(
                    text_in(&r.body),
                    text,
                    "{caller} {read} {case:?}: {}",
                    r.body
                );
            }
        }

        // Earlier petitions, on the accusation's detail: the person made the appeal first.
        let accusation = &cases[&Case::Accusation];
        let r = app
            .send_as(&actor, "GET", &format!("/v1/cases/{accusation}"), None)
            .await;
        match expect(Case::Accusation) {
            Shown::Unreached => {}
            Shown::Clear => {
                assert_eq!(r.body["repeat"], true, "{caller}: {}", r.body);
                assert_eq!(
                    r.body["repeat_of"][0]["case"],
                    cases[&Case::Appeal],
                    "{caller}: {}",
                    r.body
                );
            }
            Shown::Masked => {
                assert_eq!(r.body["repeat"], true, "{caller}: {}", r.body);
                assert_eq!(r.body["repeat_of"], json!([]), "{caller}: {}", r.body);
            }
            Shown::Withheld => {
                assert_eq!(r.body["repeat"], Value::Null, "{caller}: {}", r.body);
                assert_eq!(r.body["repeat_of"], json!([]), "{caller}: {}", r.body);
                assert!(
                    !r.body.to_string().contains(&cases[&Case::Appeal]),
                    "{caller}: {}",
                    r.body
                );
            }
        }

        // The list, its repeat flag, and the repeat filter (as the figures' drill-down uses it).
        let r = app.send_as(&actor, "GET", "/v1/cases", None).await;
        assert_eq!(r.status, StatusCode::OK, "{caller}: {}", r.body);
        let listed: BTreeMap<Case, Value> = r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|item| {
                let case = case_of.get(item["id"].as_str().unwrap())?;
                Some((*case, item.clone()))
            })
            .collect();
        for &case in &CASES {
            let want = expect(case);
            let Some(item) = listed.get(&case) else {
                assert_eq!(want, Shown::Unreached, "{caller} list {case:?}");
                continue;
            };
            assert_ne!(want, Shown::Unreached, "{caller} list {case:?}: {item}");
            assert_eq!(shown_in(item), None, "a list names nobody: {item}");
            assert_eq!(text_in(item), None, "a list holds no description: {item}");
            let repeat = match (case, want) {
                (Case::Accusation, Shown::Withheld) => Value::Null,
                (Case::Accusation, _) => json!(true),
                _ => json!(false),
            };
            assert_eq!(item["repeat"], repeat, "{caller} list {case:?}: {item}");
        }
        for filter in ["true", "false"] {
            let r = app
                .send_as(&actor, "GET", &format!("/v1/cases?repeat={filter}"), None)
                .await;
            let ids: Vec<&str> = r.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_str().unwrap())
                .collect();
            let shows = matches!(expect(Case::Accusation), Shown::Clear | Shown::Masked);
            assert_eq!(
                ids.contains(&accusation.as_str()),
                shows && filter == "true",
                "{caller} repeat={filter}: {}",
                r.body
            );
        }

        // Walked a case at a time, the repeat filter's pages end only at cases shown: a cursor
        // never points at a case left out.
        let mut cursor: Option<String> = None;
        let mut walked = Vec::new();
        loop {
            let uri = match &cursor {
                Some(c) => format!("/v1/cases?repeat=true&limit=1&cursor={c}"),
                None => "/v1/cases?repeat=true&limit=1".to_owned(),
            };
            let r = app.send_as(&actor, "GET", &uri, None).await;
            assert_eq!(r.status, StatusCode::OK, "{caller}: {}", r.body);
            let ids: Vec<String> = r.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_str().unwrap().to_owned())
                .collect();
            walked.extend(ids.clone());
            match r.body["next_cursor"].as_str() {
                Some(next) => {
                    assert_eq!(ids, [next.to_owned()], "{caller}: {}", r.body);
                    cursor = Some(next.to_owned());
                }
                None => break,
            }
        }
        let shows = matches!(expect(Case::Accusation), Shown::Clear | Shown::Masked);
        assert_eq!(
            walked.contains(accusation),
            shows,
            "{caller} walked {walked:?}"
        );

        // The event stream: never in clear; withheld where the case withholds the person.
        let mut stream = app.events(&actor, None, "?after=0").await;
        let mut streamed: BTreeMap<Case, Vec<Value>> = BTreeMap::new();
        while let Some(sent) = stream.next(Duration::from_millis(300)).await {
            if let Some(case) = sent.data["case_id"].as_str().and_then(|id| case_of.get(id)) {
                streamed.entry(*case).or_default().push(sent.data);
            }
        }
        for &case in &CASES {
            let want = match expect(case) {
                Shown::Clear => Shown::Masked,
                other => other,
            };
            let commits = streamed.remove(&case).unwrap_or_default();
            if want == Shown::Unreached {
                assert!(commits.is_empty(), "{caller} events {case:?}: {commits:?}");
                continue;
            }
            // The filing names the person: as the case shows it, at most masked.
            assert_eq!(
                shown_in(&commits[0]),
                Some(want),
                "{caller} events {case:?}: {}",
                commits[0]
            );
            let text = match want {
                Shown::Withheld => None,
                _ => Some(Shown::Masked),
            };
            assert_eq!(
                text_in(&commits[0]),
                text,
                "{caller} events {case:?}: {}",
                commits[0]
            );
            for commit in &commits {
                assert!(
                    shown_in(commit).is_none_or(|s| s >= want),
                    "{caller} events {case:?}: {commit}"
                );
            }
        }

        // The person file: for petition officers and supervisors, every case they reach that
        // shows the person, and the details from one that shows them in clear.
        let r = app
            .send_as(
                &actor,
                "POST",
                "/v1/persons/find",
                Some(json!({"id_number": ID_NUMBER})),
            )
            .await;
        if !matches!(actor.role, Role::PetitionOfficer | Role::Supervisor) {
            assert_problem(&r, StatusCode::FORBIDDEN, "role-not-permitted");
            continue;
        }
        assert_eq!(r.status, StatusCode::OK, "{caller}: {}", r.body);
        let mut filed: Vec<Case> = r.body["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| case_of[c["id"].as_str().unwrap()])
            .collect();
        filed.sort();
        let visible: Vec<Case> = CASES
            .into_iter()
            .filter(|c| !matches!(expect(*c), Shown::Unreached | Shown::Withheld))
            .collect();
        assert_eq!(filed, visible, "{caller}: {}", r.body);
        assert_eq!(
            shown_in(&r.body["details"]),
            Some(Shown::Clear),
            "{caller}: {}",
            r.body
        );
    }
}

/// A hazard names no people: its description, responsible party and notes are its substance,
/// sealed in the log like every free text but shown in clear to whoever reaches it, and masked
/// in the event stream; the log and the read model hold none of them in clear.
#[tokio::test]
async fn a_hazards_texts_are_sealed_at_rest_and_clear_to_whoever_reaches_it() {
    let app = app().await;
    let grid_worker = callers().remove(0).1;
    let id = app
        .file_as(
            &grid_worker,
            json!({"kind": "hazard", "community": "qinghe", "grid": GRID, "unit": UNIT,
                   "title": "楼道堆物", "category": "fire", "severity": "general",
                   "source": "night-patrol", "description": "三楼东侧堆放纸箱",
                   "responsible_party": "王记杂货店"}),
        )
        .await;
    app.acted(&grid_worker, &id, "add-note", json!({"text": "已拍照留存"}))
        .await;
    let head = app.log.head().await.unwrap();
    assert!(
        app.state
            .read
            .wait_until(head, Duration::from_secs(5))
            .await
    );
    let texts = ["三楼东侧堆放纸箱", "王记杂货店", "已拍照留存"];
    for (reader, uri) in [
        (&grid_worker, format!("/v1/cases/{id}")),
        (&grid_worker, format!("/v1/cases/{id}/history")),
    ] {
        let r = app.send_as(reader, "GET", &uri, None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        for text in texts {
            assert!(
                r.body.to_string().contains(text),
                "{text} at {uri}: {}",
                r.body
            );
        }
    }
    let commits = app
        .log
        .read_case("qinghe", id.parse().unwrap())
        .await
        .unwrap();
    let stored =
        serde_json::to_string(&commits.iter().map(|c| &c.commit).collect::<Vec<_>>()).unwrap();
    let history = app
        .state
        .read
        .history("qinghe", id.parse().unwrap())
        .await
        .unwrap();
    let projected = serde_json::to_string(&history).unwrap();
    for text in texts {
        assert!(!stored.contains(text), "{text} in clear in the log");
        assert!(
            !projected.contains(text),
            "{text} in clear in the read model"
        );
    }
    let mut stream = app.events(&grid_worker, None, "?after=0").await;
    let mut seen = Vec::new();
    while let Some(sent) = stream.next(Duration::from_millis(300)).await {
        seen.push(sent.data.to_string());
    }
    let seen = seen.join("\n");
    assert!(seen.contains("三…") && seen.contains("王…"), "{seen}");
    for text in texts {
        assert!(!seen.contains(text), "{text} in the stream: {seen}");
    }
}
