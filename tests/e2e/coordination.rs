//! The stability-risk desk and the coordinated response network (一呼百应), over HTTP against the
//! real binary: a risk from identification to strike-off or escalation, and one resident's
//! request answered by three units, one of which returns it and one of which checks in late.

use docket_tests::data_dir;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::call;
use crate::stories::{Office, actions, id};

fn photo() -> Value {
    json!([{"content_hash": format!("sha256:{}", "cd".repeat(32)), "media_type": "image/jpeg",
            "size": 20480, "blob": "blobs/2025/wages-paid.jpg"}])
}

fn timestamp(v: &Value) -> jiff::Timestamp {
    v.as_str()
        .unwrap_or_else(|| panic!("a timestamp: {v}"))
        .parse()
        .unwrap()
}

/// Days from now to an instant, as a fraction.
fn days_until(v: &Value) -> f64 {
    let d = timestamp(v).duration_since(jiff::Timestamp::now());
    d.as_secs_f64() / 86_400.0
}

/// The commits of a case's history.
async fn history(office: &Office, id: &str) -> Vec<Value> {
    let (status, history) = call(
        Method::GET,
        &format!("{}/v1/cases/{id}/history", office.server.url),
        &office.tokens["supervisor"],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{history}");
    history["commits"].as_array().unwrap().clone()
}

/// Every event of a case's history, with the actor of its commit.
async fn events(office: &Office, id: &str) -> Vec<(String, Value)> {
    history(office, id)
        .await
        .into_iter()
        .flat_map(|commit| {
            let actor = commit["actor"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            commit["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| (actor.clone(), e.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wage_arrears_risk_is_assessed_major_controlled_reviewed_twice_and_struck_off() {
    let office = Office::open();
    let filed = office
        .file(
            "grid_worker",
            json!({
                "kind": "risk_event", "community": "qinghe", "grid": "qinghe-02",
                "title": "装修公司拖欠 40 名工人工资", "description": "工人扬言集体上访",
                "source": "grid-patrol", "category": "wage-arrears", "headcount": 40,
                "people": [{"name": "孙立新", "phone": "13911112222"}]
            }),
        )
        .await;
    let risk = id(&filed);
    assert_eq!(filed["status"], "identified");
    let number = filed["number"].as_str().unwrap();
    assert!(
        number.starts_with("FX-") && number.ends_with("-000001"),
        "{number}"
    );
    let case = office.get("supervisor", &risk).await;
    assert_eq!(case["deadline"]["step"], "assess");
    assert!(actions(&case).contains(&"assess"), "{case}");

    office
        .act(
            "supervisor",
            &risk,
            "assess",
            json!({"level": "major", "reason": "人数多，有集体上访苗头"}),
        )
        .await;
    office
        .act(
            "supervisor",
            &risk,
            "control",
            json!({"measures": "每日联系工人代表，督促企业筹款", "unit": "qinghe-safety",
                   "responsible_person": "王科长", "leader": "李书记"}),
        )
        .await;
    // Under control, a major risk is reviewed within 7 days, by its responsible unit.
    let case = office.get("handler", &risk).await;
    assert_eq!(case["status"], "under-control");
    assert_eq!(case["lead_unit"], "qinghe-safety");
    assert_eq!(case["deadline"]["step"], "review");
    let due = days_until(&case["deadline"]["due"]);
    assert!(
        (6.0..=11.0).contains(&due),
        "a major risk's review: {due} days"
    );
    assert!(actions(&case).contains(&"review"), "{case}");

    // A petition arose from it: linked both ways.
    let petition = office
        .file(
            "petition_officer",
            json!({"kind": "petition", "community": "qinghe", "title": "讨薪",
                   "channel": "visit", "petition_type": "appeal-request",
                   "category": "labour-and-wages", "petitioners": [{"name": "孙立新"}]}),
        )
        .await;
    let petition = id(&petition);
    office
        .act(
            "petition_officer",
            &risk,
            "raise-case",
            json!({"case": petition}),
        )
        .await;
    let (status, refused) = office
        .try_act(
            "petition_officer",
            &risk,
            "raise-case",
            json!({"case": risk}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["field"], "case");

    // Two reviews: the responsible unit's, then the supervisor's, which lowers the level.
    office
        .act(
            "handler",
            &risk,
            "review",
            json!({"situation": "企业已筹得部分款项", "trend": "persists"}),
        )
        .await;
    office
        .act(
            "supervisor",
            &risk,
            "review",
            json!({"situation": "已发放大部分工资", "trend": "eased", "level": "large"}),
        )
        .await;
    let case = office.get("supervisor", &risk).await;
    assert_eq!(case["case"]["reviews"], 2);
    assert_eq!(case["case"]["level"], "large");
    let due = days_until(&case["deadline"]["due"]);
    assert!(
        (14.0..=19.0).contains(&due),
        "a large risk's review: {due} days"
    );
    assert!(
        case["links"].to_string().contains(&petition),
        "{}",
        case["links"]
    );
    let raised = office.get("supervisor", &petition).await;
    assert!(
        raised["links"].to_string().contains(&risk),
        "{}",
        raised["links"]
    );
    // The people involved: in clear to the supervisor, masked to the grid worker.
    assert_eq!(case["case"]["people"][0]["name"], "孙立新", "{case}");
    let seen = office.get("grid_worker", &risk).await;
    assert_eq!(seen["case"]["people"][0]["name"], "孙**", "{seen}");

    // Only a supervisor strikes it off (销号), on its basis and evidence.
    let (status, refused) = office
        .try_act(
            "handler",
            &risk,
            "strike-off",
            json!({"basis": "工资已结清", "evidence": photo()}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    office
        .act(
            "supervisor",
            &risk,
            "strike-off",
            json!({"basis": "工资已全部结清，工人签字确认", "evidence": photo()}),
        )
        .await;
    let case = office.get("supervisor", &risk).await;
    assert_eq!(case["status"], "struck-off");
    assert_eq!(case["closed"], true);
    assert_eq!(case["outcome"], "resolved");
    assert_eq!(case["closed_on_time"], true);
    assert_eq!(office.history_len(&risk).await, 7);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_risk_beyond_the_office_is_escalated_to_the_district() {
    let office = Office::open();
    let risk = id(&office
        .file(
            "petition_officer",
            json!({"kind": "risk_event", "community": "qinghe", "title": "理财平台爆雷",
                   "source": "petition", "category": "investment-finance", "headcount": 120,
                   "unit": "qinghe-safety"}),
        )
        .await);
    // Nothing is escalated before it is assessed.
    let (status, refused) = office
        .try_act(
            "supervisor",
            &risk,
            "escalate",
            json!({"reason": "涉及全区"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    office
        .act(
            "handler",
            &risk,
            "assess",
            json!({"level": "major", "reason": "涉及 120 名投资人"}),
        )
        .await;
    office
        .act(
            "supervisor",
            &risk,
            "escalate",
            json!({"reason": "平台注册地在外区，超出街道处置权限"}),
        )
        .await;
    let case = office.get("supervisor", &risk).await;
    assert_eq!(case["status"], "escalated");
    assert_eq!(case["outcome"], "not_resolved");
    assert_eq!(case["case"]["escalated_to"], "区");
    assert!(!actions(&case).contains(&"strike-off"), "{case}");
}

/// An office whose emergency requests must be checked in within a minute, watched every
/// second, with handlers of the market, the property company and the housing office.
fn network_office() -> Office {
    let dir = data_dir();
    let policy = dir.path().join("policy");
    std::fs::create_dir_all(&policy).unwrap();
    std::fs::write(
        policy.join("default.toml"),
        "[livelihood.check_in]\nemergency = \"1 minute\"\nutility = \"2 hours\"\n\
         general = \"1 working day\"\ncomplex = \"1 working day\"\n",
    )
    .unwrap();
    let policy = policy.to_str().unwrap().to_owned();
    let mut office = Office::open_with(dir, &["--policy-dir", &policy, "--watch-every", "1"]);
    for (name, unit) in [
        ("market handler", "qinghe-market"),
        ("property handler", "qinghe-property"),
        ("housing handler", "qinghe-housing"),
    ] {
        office.add_token(name, "handler", &["--unit", unit]);
    }
    office
}

/// The dispatch of `unit` still on the request.
fn dispatch<'a>(case: &'a Value, unit: &str) -> &'a Value {
    case["case"]["dispatches"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|d| d["unit"] == unit && d["returned"].is_null() && d["replaced"] == false)
        .unwrap_or_else(|| panic!("{unit} is on the request: {case}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn one_request_three_units_one_returned_one_late_redone_and_closed_satisfied() {
    let office = network_office();
    let filed = office
        .file(
            "petition_officer",
            json!({
                "kind": "livelihood", "community": "qinghe", "grid": "qinghe-03",
                "title": "菜市场后门燃气味重", "description": "居民反映市场后门长期有燃气味",
                "channel": "hotline", "hotline_order": "12345-20251106-0042",
                "category": "utilities", "urgency": "emergency",
                "requester": {"name": "周桂兰", "phone": "13700003333"}
            }),
        )
        .await;
    let request = id(&filed);
    assert!(
        filed["number"].as_str().unwrap().starts_with("MS-"),
        "{filed}"
    );
    // An emergency is answered within 2 hours of receipt.
    let case = office.get("petition_officer", &request).await;
    let hours = days_until(&case["deadline"]["due"]) * 24.0;
    assert!((1.9..=2.0).contains(&hours), "{hours} hours");

    // The market leads (首接负责); the property company and the safety office co-handle.
    office
        .act(
            "petition_officer",
            &request,
            "dispatch",
            json!({"lead": "qinghe-market",
                   "co_handlers": ["qinghe-property", "qinghe-safety"]}),
        )
        .await;
    let dispatched_at = jiff::Timestamp::now();
    // The property company returns it: not its premises.
    office
        .act(
            "property handler",
            &request,
            "return-dispatch",
            json!({"reason": "市场后门不属本物业管理范围"}),
        )
        .await;
    // The market checks in at once; a co-handler sees its own check-in among its actions.
    let seen = office.get("handler", &request).await;
    assert!(actions(&seen).contains(&"check-in"), "{seen}");
    assert!(!actions(&seen).contains(&"reply"), "{seen}");
    office
        .act("market handler", &request, "check-in", json!({}))
        .await;
    // The dispatcher re-routes the property company's part to the housing office.
    office
        .act(
            "petition_officer",
            &request,
            "redispatch",
            json!({"lead": "qinghe-market", "co_handlers": ["qinghe-safety", "qinghe-housing"],
                   "reason": "物业退回，改派房管办"}),
        )
        .await;
    office
        .act("housing handler", &request, "check-in", json!({}))
        .await;

    // The safety office lets its minute pass: the deadline watch records the miss, once.
    let waited = std::time::Duration::from_secs(62).saturating_sub(
        dispatched_at
            .duration_since(jiff::Timestamp::now())
            .unsigned_abs(),
    );
    tokio::time::sleep(waited).await;
    let mut missed = Vec::new();
    for _ in 0..100 {
        missed = events(&office, &request)
            .await
            .into_iter()
            .filter(|(_, e)| e["type"] == "livelihood.check_in_missed")
            .collect();
        if !missed.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(missed.len(), 1, "{missed:?}");
    assert_eq!(missed[0].0, "deadline-watch");
    assert_eq!(missed[0].1["data"]["unit"], "qinghe-safety");
    office.act("handler", &request, "check-in", json!({})).await;
    let case = office.get("supervisor", &request).await;
    assert_eq!(dispatch(&case, "qinghe-safety")["late"], true);
    assert_eq!(dispatch(&case, "qinghe-safety")["missed"], true);
    assert_eq!(dispatch(&case, "qinghe-market")["late"], false);
    assert_eq!(dispatch(&case, "qinghe-housing")["late"], false);
    let returned = case["case"]["dispatches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["unit"] == "qinghe-property")
        .unwrap();
    assert_eq!(returned["returned"], "市场后门不属本物业管理范围");

    // Every unit records its part; the lead replies to the resident.
    for (who, part) in [
        ("market handler", "关闭后门燃气总阀，联系燃气公司"),
        ("handler", "现场检测燃气浓度，督促整改"),
        ("housing handler", "排查周边居民楼管线"),
    ] {
        office
            .act(who, &request, "record-part", json!({"text": part}))
            .await;
    }
    let (status, refused) = office
        .try_act(
            "handler",
            &request,
            "reply",
            json!({"result": "resolved", "text": "已处理"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "only the lead replies: {refused}"
    );
    office
        .act(
            "market handler",
            &request,
            "reply",
            json!({"result": "resolved", "text": "燃气管道接口老化已更换，经检测无泄漏"}),
        )
        .await;
    // The resident is not satisfied; a supervisor orders it redone (重办).
    office
        .act(
            "petition_officer",
            &request,
            "rate",
            json!({"rating": "dissatisfied", "note": "仍有气味"}),
        )
        .await;
    let case = office.get("supervisor", &request).await;
    assert_eq!(case["status"], "closed");
    assert!(actions(&case).contains(&"redo"), "{case}");
    office
        .act(
            "supervisor",
            &request,
            "redo",
            json!({"lead": "qinghe-market", "co_handlers": ["qinghe-safety"],
                   "reason": "居民反映仍有燃气味"}),
        )
        .await;
    let case = office.get("supervisor", &request).await;
    assert_eq!(case["status"], "dispatched");
    assert_eq!(case["closed"], false);
    assert_eq!(case["case"]["round"], 2);
    assert_eq!(case["co_handlers"], json!(["qinghe-safety"]));

    // The second round closes satisfied.
    office
        .act("market handler", &request, "check-in", json!({}))
        .await;
    office.act("handler", &request, "check-in", json!({})).await;
    for who in ["market handler", "handler"] {
        office
            .act(
                who,
                &request,
                "record-part",
                json!({"text": "复查并彻底排除"}),
            )
            .await;
    }
    office
        .act(
            "market handler",
            &request,
            "reply",
            json!({"result": "resolved", "text": "更换整段管道，复测合格"}),
        )
        .await;
    office
        .act(
            "grid_worker",
            &request,
            "rate",
            json!({"rating": "satisfied"}),
        )
        .await;
    let case = office.get("supervisor", &request).await;
    assert_eq!(case["status"], "closed");
    assert_eq!(case["outcome"], "resolved");
    assert_eq!(case["case"]["rating"], "satisfied");
    assert_eq!(case["case"]["redone"], 1);
    // The requester: in clear to the petition officer, masked to the grid worker.
    assert_eq!(case["case"]["requester"]["name"], "周桂兰");
    let seen = office.get("grid_worker", &request).await;
    assert_eq!(seen["case"]["requester"]["name"], "周**");
    // Five parts, each under its unit; the watch recorded one miss in all.
    let all = events(&office, &request).await;
    let parts: Vec<&str> = all
        .iter()
        .filter(|(_, e)| e["type"] == "case.part_recorded")
        .map(|(_, e)| e["data"]["unit"].as_str().unwrap())
        .collect();
    assert_eq!(
        parts,
        [
            "qinghe-market",
            "qinghe-safety",
            "qinghe-housing",
            "qinghe-market",
            "qinghe-safety"
        ]
    );
    assert_eq!(
        all.iter()
            .filter(|(_, e)| e["type"] == "livelihood.check_in_missed")
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_to_the_network_names_the_field_and_records_nothing() {
    let mut office = Office::open();
    office.add_token("market handler", "handler", &["--unit", "qinghe-market"]);
    let request = id(&office
        .file(
            "petition_officer",
            json!({"kind": "livelihood", "community": "qinghe", "title": "路灯不亮",
                   "channel": "grid-meeting", "category": "public-facilities",
                   "urgency": "general"}),
        )
        .await);
    let commits = office.history_len(&request).await;
    let refused = |status: StatusCode, body: &Value, field: &str, says: &str| {
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["field"], field, "{body}");
        assert!(
            body["detail"].as_str().unwrap().contains(says),
            "{says}: {body}"
        );
    };
    for (body, field, says) in [
        (
            json!({"lead": "qinghe-nowhere", "co_handlers": ["qinghe-safety"]}),
            "lead",
            "unknown unit",
        ),
        (
            json!({"lead": "qinghe-market", "co_handlers": ["qinghe-urban"]}),
            "co_handlers",
            "not in the coordinated response network",
        ),
        (
            json!({"lead": "qinghe-market", "co_handlers": ["qinghe-safety", "qinghe-market"]}),
            "co_handlers",
            "is not also a co-handling unit",
        ),
    ] {
        let (status, body) = office
            .try_act("petition_officer", &request, "dispatch", body)
            .await;
        refused(status, &body, field, says);
    }
    assert_eq!(office.history_len(&request).await, commits);

    office
        .act(
            "petition_officer",
            &request,
            "dispatch",
            json!({"lead": "qinghe-market", "co_handlers": ["qinghe-safety"]}),
        )
        .await;
    office
        .act("market handler", &request, "check-in", json!({}))
        .await;
    let commits = office.history_len(&request).await;
    // A part for a unit not dispatched; a unit's part before it checked in.
    let (status, body) = office
        .try_act(
            "supervisor",
            &request,
            "record-part",
            json!({"unit": "qinghe-housing", "text": "代为登记"}),
        )
        .await;
    refused(status, &body, "unit", "has no part in this case");
    let (status, body) = office
        .try_act(
            "supervisor",
            &request,
            "record-part",
            json!({"unit": "qinghe-safety", "text": "代为登记"}),
        )
        .await;
    refused(
        status,
        &body,
        "unit",
        "checks in before it records its part",
    );
    // The lead replies once every unit on the request has checked in.
    let (status, body) = office
        .try_act(
            "market handler",
            &request,
            "reply",
            json!({"result": "partly-resolved", "text": "已报修"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(office.history_len(&request).await, commits);
    office.act("handler", &request, "check-in", json!({})).await;
    office
        .act(
            "market handler",
            &request,
            "reply",
            json!({"result": "partly-resolved", "text": "已报修"}),
        )
        .await;
    let commits_replied = office.history_len(&request).await;
    assert_eq!(commits_replied, commits + 2);
    // A rating out of range.
    let (status, body) = office
        .try_act(
            "petition_officer",
            &request,
            "rate",
            json!({"rating": "very-happy"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "rating", "{body}");
    assert_eq!(office.history_len(&request).await, commits_replied);
    let case = office.get("supervisor", &request).await;
    assert_eq!(case["status"], "replied");
}
