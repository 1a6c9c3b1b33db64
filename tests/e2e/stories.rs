//! The stories of the mediation room, the petition office and the patrol, over HTTP against the
//! real binary: each case from filing to closure, with its deadlines, visits and reopening.

use docket_tests::{Server, data_dir};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::call;

/// A running server with a token per role.
pub(crate) struct Office {
    pub(crate) server: Server,
    _dir: tempfile::TempDir,
    pub(crate) tokens: std::collections::HashMap<&'static str, String>,
}

impl Office {
    pub(crate) fn open() -> Office {
        let dir = data_dir();
        let server = Server::start(dir.path());
        Office::with_tokens(server, dir)
    }

    /// A server started with these arguments (in `dir`), and the tokens of every role.
    pub(crate) fn open_with(dir: tempfile::TempDir, args: &[&str]) -> Office {
        let server = Server::start_with(dir.path(), args);
        Office::with_tokens(server, dir)
    }

    /// Adds a token, under `name`, for `role` with these further arguments.
    pub(crate) fn add_token(&mut self, name: &'static str, role: &str, args: &[&str]) {
        let token = self.server.token_with(role, args);
        self.tokens.insert(name, token);
    }

    fn with_tokens(server: Server, dir: tempfile::TempDir) -> Office {
        let tokens = [
            "grid_worker",
            "mediator",
            "petition_officer",
            "handler",
            "supervisor",
        ]
        .into_iter()
        .map(|role| (role, server.token(role)))
        .chain([
            // Handlers and mediators of other units, for cases routed there.
            (
                "urban handler",
                server.token_with("handler", &["--unit", "qinghe-urban"]),
            ),
            (
                "env handler",
                server.token_with("handler", &["--unit", "qinghe-env"]),
            ),
            (
                "court mediator",
                server.token_with("mediator", &["--unit", "qinghe-court"]),
            ),
        ])
        .collect();
        Office {
            server,
            _dir: dir,
            tokens,
        }
    }

    /// Files a case; asserts 201 and returns the response.
    pub(crate) async fn file(&self, role: &str, body: Value) -> Value {
        let (status, filed) = call(
            Method::POST,
            &format!("{}/v1/cases", self.server.url),
            &self.tokens[role],
            Some(body),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{filed}");
        filed
    }

    pub(crate) async fn try_act(
        &self,
        role: &str,
        id: &str,
        action: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        call(
            Method::POST,
            &format!("{}/v1/cases/{id}/actions/{action}", self.server.url),
            &self.tokens[role],
            Some(body),
        )
        .await
    }

    /// Takes an action; asserts 200 and returns the response.
    pub(crate) async fn act(&self, role: &str, id: &str, action: &str, body: Value) -> Value {
        let (status, out) = self.try_act(role, id, action, body).await;
        assert_eq!(status, StatusCode::OK, "{action}: {out}");
        out
    }

    pub(crate) async fn get(&self, role: &str, id: &str) -> Value {
        let (status, case) = call(
            Method::GET,
            &format!("{}/v1/cases/{id}", self.server.url),
            &self.tokens[role],
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{case}");
        case
    }

    pub(crate) async fn history_len(&self, id: &str) -> usize {
        let (status, history) = call(
            Method::GET,
            &format!("{}/v1/cases/{id}/history", self.server.url),
            &self.tokens["supervisor"],
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{history}");
        history["commits"].as_array().unwrap().len()
    }
}

pub(crate) fn id(filed: &Value) -> String {
    filed["case_id"].as_str().unwrap().to_owned()
}

/// A tenant-local date `days` from today, as a performance date is written.
fn local_date_in(days: i64) -> String {
    let zone = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
    let today = jiff::Timestamp::now().to_zoned_datetime(zone).date();
    today
        .checked_add(jiff::Span::new().days(days))
        .unwrap()
        .to_string()
}

pub(crate) fn actions(case: &Value) -> Vec<&str> {
    case["allowed_actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_neighbour_dispute_is_mediated_to_a_performed_agreement_and_visited() {
    let office = Office::open();
    let filed = office
        .file(
            "grid_worker",
            json!({
                "kind": "dispute", "community": "qinghe", "grid": "qinghe-02",
                "title": "楼上漏水殃及楼下", "description": "卫生间防水层破损，双方就维修费用争执",
                "dispute_type": "neighbour", "source": "grid-worker", "room": "qinghe-mediation",
                "parties": [
                    {"side": "applicant", "name": "李秀英", "phone": "13900001111"},
                    {"side": "respondent", "name": "王建国"}
                ]
            }),
        )
        .await;
    let case_id = id(&filed);
    assert_eq!(filed["status"], "registered");
    let number = filed["number"]
        .as_str()
        .expect("the filing carries its number");
    assert!(
        number.starts_with("DS-") && number.ends_with("-000001"),
        "{number}"
    );

    let case = office.get("mediator", &case_id).await;
    assert_eq!(case["deadline"]["step"], "accept");
    assert_eq!(case["deadline"]["overdue"], false);
    assert_eq!(case["case"]["dispute_type"], "neighbour");
    assert!(actions(&case).contains(&"accept"), "{case}");

    office
        .act(
            "mediator",
            &case_id,
            "accept",
            json!({"mediator": "赵调解", "room": "qinghe-mediation"}),
        )
        .await;
    let session_at = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_hours(48))
        .unwrap();
    office
        .act(
            "mediator",
            &case_id,
            "schedule-session",
            json!({"at": session_at, "place": "社区调解室"}),
        )
        .await;
    office
        .act(
            "mediator",
            &case_id,
            "record-session",
            json!({"summary": "双方同意共同承担维修费用"}),
        )
        .await;
    office
        .act(
            "mediator",
            &case_id,
            "record-agreement",
            json!({"form": "written", "terms": "王建国承担维修费六成，十日内修复",
                   "performance_date": local_date_in(10)}),
        )
        .await;
    let case = office.get("mediator", &case_id).await;
    assert_eq!(case["status"], "agreed");
    assert_eq!(case["lead_unit"], "qinghe-mediation");
    let closed = office
        .act(
            "grid_worker",
            &case_id,
            "confirm-performance",
            json!({"note": "已修复"}),
        )
        .await;
    assert_eq!(closed["status"], "closed");
    let visited = office
        .act(
            "grid_worker",
            &case_id,
            "return-visit",
            json!({"satisfaction": "satisfied"}),
        )
        .await;
    assert_eq!(visited["status"], "closed");

    let case = office.get("supervisor", &case_id).await;
    assert_eq!(case["closed"], true);
    assert_eq!(case["outcome"], "resolved");
    assert_eq!(case["closed_on_time"], true);
    assert_eq!(case["return_visits"][0]["satisfaction"], "satisfied");
    assert_eq!(case["number"], number);
    assert!(
        !actions(&case).contains(&"reopen"),
        "a satisfied visit does not reopen"
    );
    assert_eq!(
        office.history_len(&case_id).await,
        7,
        "one commit per action"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_labour_dispute_that_fails_is_referred_to_arbitration() {
    let office = Office::open();
    let case_id = id(&office
        .file(
            "mediator",
            json!({
                "kind": "dispute", "community": "qinghe", "title": "装修工人讨薪",
                "dispute_type": "labour", "source": "walk-in",
                "parties": [
                    {"side": "applicant", "name": "周师傅"},
                    {"side": "applicant", "name": "吴师傅"},
                    {"side": "respondent", "name": "某装饰公司"}
                ]
            }),
        )
        .await);
    office
        .act(
            "mediator",
            &case_id,
            "accept",
            json!({"mediator": "孙调解", "room": "qinghe-court"}),
        )
        .await;
    office
        .act(
            "court mediator",
            &case_id,
            "record-failure",
            json!({"reason": "公司拒绝支付", "routes_told": ["arbitration", "litigation"]}),
        )
        .await;
    let referred = office
        .act(
            "supervisor",
            &case_id,
            "refer",
            json!({"to": "arbitration"}),
        )
        .await;
    assert_eq!(referred["status"], "closed");
    let case = office.get("supervisor", &case_id).await;
    assert_eq!(case["outcome"], "not_resolved");
    assert_eq!(case["case"]["referred_to"], "arbitration");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_letter_petition_is_extended_once_and_reviewed_twice_to_its_conclusion() {
    let office = Office::open();
    let filed = office
        .file(
            "petition_officer",
            json!({
                "kind": "petition", "community": "qinghe", "title": "反映小区违建",
                "channel": "letter", "petition_type": "appeal-request", "category": "urban-management",
                "petitioners": [{"name": "陈光明", "phone": "13700002222"}]
            }),
        )
        .await;
    let case_id = id(&filed);
    assert!(
        filed["number"].as_str().unwrap().starts_with("XF-"),
        "{filed}"
    );
    let case = office.get("petition_officer", &case_id).await;
    assert_eq!(case["deadline"]["step"], "accept");

    office
        .act(
            "petition_officer",
            &case_id,
            "accept",
            json!({"unit": "qinghe-urban"}),
        )
        .await;
    let before = office.get("urban handler", &case_id).await;
    assert_eq!(before["deadline"]["step"], "handle");
    let due: jiff::Timestamp = before["deadline"]["due"].as_str().unwrap().parse().unwrap();

    // Beyond the 30-day ceiling: refused, nothing recorded.
    let (status, refused) = office
        .try_act(
            "urban handler",
            &case_id,
            "request-extension",
            json!({"days": 45, "reason": "涉及多部门"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(office.history_len(&case_id).await, 2);

    office
        .act(
            "urban handler",
            &case_id,
            "request-extension",
            json!({"days": 30, "reason": "涉及多部门"}),
        )
        .await;
    office
        .act("supervisor", &case_id, "approve-extension", json!({}))
        .await;
    let after = office.get("urban handler", &case_id).await;
    let extended: jiff::Timestamp = after["deadline"]["due"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        extended.duration_since(due),
        jiff::SignedDuration::from_hours(24 * 30)
    );
    assert_eq!(after["deadline"]["extensions"][0]["days"], 30);

    office
        .act(
            "urban handler",
            &case_id,
            "reply",
            json!({"outcome": "not-support", "opinion": "经核查不属违建"}),
        )
        .await;
    office
        .act(
            "petition_officer",
            &case_id,
            "request-review",
            json!({"reason": "不服处理意见"}),
        )
        .await;
    office
        .act(
            "supervisor",
            &case_id,
            "decide-review",
            json!({"decision": "upheld", "opinion": "维持原处理意见"}),
        )
        .await;
    office
        .act(
            "petition_officer",
            &case_id,
            "request-re-review",
            json!({"reason": "仍不服"}),
        )
        .await;
    let concluded = office
        .act(
            "supervisor",
            &case_id,
            "decide-re-review",
            json!({"decision": "upheld", "opinion": "复核维持，终结"}),
        )
        .await;
    assert_eq!(concluded["status"], "concluded");
    let case = office.get("supervisor", &case_id).await;
    assert_eq!(case["closed"], true);
    assert_eq!(case["outcome"], "not_resolved");
    assert_eq!(case["closed_on_time"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_visit_petition_not_accepted_is_told_its_route() {
    let office = Office::open();
    let filed = office
        .file(
            "grid_worker",
            json!({
                "kind": "petition", "community": "qinghe", "grid": "qinghe-05",
                "title": "集体反映拆迁补偿", "channel": "visit", "headcount": 6,
                "petition_type": "appeal-request", "category": "land-and-relocation",
                "petitioners": [{"name": "刘一"}, {"name": "刘二"}]
            }),
        )
        .await;
    let case_id = id(&filed);
    let case = office.get("petition_officer", &case_id).await;
    assert_eq!(case["case"]["collective"], true);
    let not_accepted = office
        .act(
            "petition_officer",
            &case_id,
            "not-accept",
            json!({"reason": "已进入诉讼程序", "route": "litigation"}),
        )
        .await;
    assert_eq!(not_accepted["status"], "not-accepted");
    let case = office.get("petition_officer", &case_id).await;
    assert_eq!(case["closed"], true);
    let told = serde_json::to_string(&case["case"]).unwrap();
    assert!(told.contains("litigation"), "{told}");

    // A grid worker registers visits only.
    let (status, refused) = call(
        Method::POST,
        &format!("{}/v1/cases", office.server.url),
        &office.tokens["grid_worker"],
        Some(json!({
            "kind": "petition", "community": "qinghe", "title": "来信", "channel": "letter",
            "petition_type": "suggestion", "category": "other", "petitioners": [{"name": "刘三"}]
        })),
    )
    .await;
    assert!(status.is_client_error(), "{status} {refused}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hazard_is_reopened_after_a_dissatisfied_return_visit() {
    let office = Office::open();
    let case_id = id(&office
        .file(
            "grid_worker",
            json!({
                "kind": "hazard", "community": "qinghe", "grid": "qinghe-01", "unit": "qinghe-safety",
                "title": "电动车楼道充电", "category": "e-bike-charging", "severity": "general", "source": "night-patrol"
            }),
        )
        .await);
    let photo = json!({"content_hash": format!("sha256:{}", "cd".repeat(32)),
                       "media_type": "image/jpeg", "size": 2048, "blob": "blobs/fix.jpg"});
    office
        .act(
            "grid_worker",
            &case_id,
            "fix-on-spot",
            json!({"evidence": [photo]}),
        )
        .await;
    office
        .act("handler", &case_id, "pass-reinspection", json!({}))
        .await;
    let (status, refused) = office
        .try_act(
            "supervisor",
            &case_id,
            "reopen",
            json!({"reason": "居民反映"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    office
        .act(
            "grid_worker",
            &case_id,
            "return-visit",
            json!({"satisfaction": "dissatisfied", "note": "又在充电"}),
        )
        .await;
    let case = office.get("supervisor", &case_id).await;
    assert!(actions(&case).contains(&"reopen"), "{case}");
    let reopened = office
        .act(
            "supervisor",
            &case_id,
            "reopen",
            json!({"reason": "回访不满意，隐患复现"}),
        )
        .await;
    assert_eq!(reopened["status"], "reported");
    let case = office.get("handler", &case_id).await;
    assert_eq!(case["closed"], false);
    assert_eq!(case["outcome"], Value::Null);
    assert_eq!(case["deadline"]["step"], "verify");
    assert!(actions(&case).contains(&"verify"), "{case}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_of_each_kind_names_the_field_and_records_nothing() {
    let office = Office::open();
    let cases = |office: &Office| {
        let url = format!("{}/v1/cases?limit=200", office.server.url);
        let token = office.tokens["supervisor"].clone();
        async move {
            let (_, list) = call(Method::GET, &url, &token, None).await;
            list["items"].as_array().unwrap().len()
        }
    };
    let filings = [
        (
            "mediator",
            json!({"kind": "dispute", "community": "qinghe", "title": "t", "dispute_type": "neighbour",
                   "source": "walk-in"}),
            "parties",
        ),
        (
            "mediator",
            json!({"kind": "dispute", "community": "qinghe", "title": "t", "dispute_type": "neighbour",
                   "source": "walk-in", "parties": [{"side": "applicant", "name": "甲"}]}),
            "parties",
        ),
        (
            "mediator",
            json!({"kind": "dispute", "community": "qinghe", "title": "t", "dispute_type": "neighbour",
                   "source": "walk-in", "parties": [{"side": "applicant", "name": "甲", "phone": "call me"},
                                                    {"side": "respondent", "name": "乙"}]}),
            "parties",
        ),
        (
            "petition_officer",
            json!({"kind": "petition", "community": "qinghe", "title": "t", "channel": "letter",
                   "petition_type": "suggestion", "category": "parking", "petitioners": [{"name": "甲"}]}),
            "category",
        ),
        (
            "grid_worker",
            json!({"kind": "hazard", "community": "qinghe", "title": "t", "category": "volcano",
                   "severity": "general", "source": "night-patrol"}),
            "category",
        ),
    ];
    for (role, body, field) in filings {
        let (status, problem) = call(
            Method::POST,
            &format!("{}/v1/cases", office.server.url),
            &office.tokens[role],
            Some(body),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(problem["field"], field, "{problem}");
    }
    assert_eq!(cases(&office).await, 0, "bad filings record nothing");

    let petition = id(&office
        .file(
            "petition_officer",
            json!({"kind": "petition", "community": "qinghe", "title": "t", "channel": "online",
                   "petition_type": "suggestion", "category": "environment", "petitioners": [{"name": "甲"}]}),
        )
        .await);
    office
        .act(
            "petition_officer",
            &petition,
            "accept",
            json!({"unit": "qinghe-env"}),
        )
        .await;
    let (status, problem) = office
        .try_act(
            "env handler",
            &petition,
            "request-extension",
            json!({"days": 10}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["field"], "reason", "{problem}");
    office
        .act(
            "env handler",
            &petition,
            "reply",
            json!({"outcome": "support", "opinion": "已处理"}),
        )
        .await;
    office
        .act(
            "petition_officer",
            &petition,
            "confirm-satisfied",
            json!({}),
        )
        .await;
    for score in [json!("thrilled"), json!(5)] {
        let (status, problem) = office
            .try_act(
                "petition_officer",
                &petition,
                "return-visit",
                json!({"satisfaction": score}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(problem["field"], "satisfaction", "{problem}");
    }
    assert_eq!(
        office.history_len(&petition).await,
        4,
        "bad actions record nothing"
    );
}
