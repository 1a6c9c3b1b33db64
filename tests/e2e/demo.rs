//! `docket demo`: a year driven through the command service; every figure the server counts for
//! it equals what the generator intended, and `docket verify` finds nothing wrong with it.

use docket_tests::{Server, data_dir, docket_bin};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::call;

#[tokio::test(flavor = "multi_thread")]
async fn a_demo_years_figures_are_the_ones_it_intended_and_it_verifies() {
    let dir = data_dir();
    let out = std::process::Command::new(docket_bin())
        .args(["demo", "--scale", "0.05", "--year", "2025", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let counts: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("demo-counts.json")).unwrap())
            .unwrap();
    assert!(counts["cases"].as_u64().unwrap() > 400, "{counts}");

    // A second run into the same directory is refused: the counts would not add up.
    let again = std::process::Command::new(docket_bin())
        .args(["demo", "--scale", "0.05", "--year", "2025", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds commits"));

    // Without the deadline watch: it would go on to record the misses of the cases left open,
    // which the year's counts are not about.
    // The demo seeded its own directory.
    let mut server = Server::start_bare(dir.path(), &["--watch-every", "0"]);
    let url = format!("{}/v1/stats?from=2025-01-01&to=2025-12-31", server.url);
    let (status, stats) = call(Method::GET, &url, &server.token("supervisor"), None).await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    let figures: Vec<Value> = stats["groups"][0]["figures"].as_array().unwrap().clone();
    let intended = counts["figures"].as_object().unwrap();
    assert!(intended.len() >= 25, "{intended:?}");
    for (name, want) in intended {
        let got = figures
            .iter()
            .find(|f| f["name"] == name.as_str())
            .unwrap_or_else(|| panic!("no figure {name}"));
        match want {
            Value::Object(rate) => {
                assert_eq!(got["numerator"], rate["numerator"], "{name}: {got}");
                assert_eq!(got["denominator"], rate["denominator"], "{name}: {got}");
            }
            Value::Number(n) => {
                let (want, got_v) = (n.as_f64().unwrap(), got["value"].as_f64().unwrap());
                assert!(
                    (want - got_v).abs() < 1e-9,
                    "{name}: intended {want}, counted {got}"
                );
            }
            other => panic!("{name}: {other}"),
        }
    }
    // Not all nothing: the year has closures, extensions, reviews, repeats and late steps.
    for name in [
        "closed",
        "extensions",
        "reviews",
        "deadlines_missed",
        "return_visits",
    ] {
        assert!(intended[name].as_f64().unwrap() > 0.0, "{name}: {counts}");
    }
    assert!(intended["repeat_rate"]["numerator"].as_i64().unwrap() > 0);
    // The risk desk and the network (一呼百应): the report's shape, late and returned dispatches.
    for name in [
        "risks_found",
        "risks_struck_off",
        "risks_escalated",
        "risks_under_control",
        "requests_received",
        "requests_coordinated",
        "check_ins_late",
        "dispatches_returned",
        "requests_redone",
        // What the petition and mediation reports ask for.
        "extension_requests",
        "extensions_refused",
        "supervisions_answered_on_time",
        "supervisions_answered_late",
        "return_visits_dissatisfied",
        "petitions_received",
        "collective_visits",
        "collective_visitors",
        "key_person_petitions",
        "escalation_risk_petitions",
        "closed_duplicates",
    ] {
        assert!(intended[name].as_f64().unwrap() > 0.0, "{name}: {counts}");
    }

    // Each count drills down to exactly its cases, and each network figure to its dispatches.
    let supervisor = server.token("supervisor");
    let get = |path: String| {
        let url = format!("{}{path}", server.url);
        let token = supervisor.clone();
        async move {
            let (status, body) = call(Method::GET, &url, &token, None).await;
            assert_eq!(status, StatusCode::OK, "{url}: {body}");
            body
        }
    };
    let figure = |name: &str| {
        figures
            .iter()
            .find(|f| f["name"] == name)
            .unwrap_or_else(|| panic!("no figure {name}"))
            .clone()
    };
    for name in [
        "risks_found",
        "risks_under_control",
        "risks_struck_off",
        "risks_escalated",
        "risk_reviews_due",
        "risk_reviews_overdue",
        "requests_received",
        "requests_coordinated",
        "petitions_received",
        "collective_visits",
        "key_person_petitions",
        "escalation_risk_petitions",
        "closed_duplicates",
    ] {
        let f = figure(name);
        let list = get(format!("{}&limit=200", f["cases"].as_str().unwrap())).await;
        assert_eq!(
            list["items"].as_array().unwrap().len() as f64,
            f["value"].as_f64().unwrap(),
            "{name}: {f}"
        );
    }
    // Counters drill down to the cases their events happened in, each saying how many; the
    // people of collective visits to their batches.
    let sum = |list: &Value, field: &str| -> f64 {
        assert!(list["next_cursor"].is_null(), "{list}");
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c[field].as_f64().unwrap())
            .sum()
    };
    for (name, field) in [
        ("extension_requests", "events"),
        ("extensions", "events"),
        ("extensions_refused", "events"),
        ("supervisions", "events"),
        ("supervisions_answered_on_time", "events"),
        ("supervisions_answered_late", "events"),
        ("return_visits_dissatisfied", "events"),
        ("collective_visitors", "headcount"),
    ] {
        let f = figure(name);
        let list = get(format!("{}&limit=200", f["cases"].as_str().unwrap())).await;
        assert_eq!(
            sum(&list, field),
            f["value"].as_f64().unwrap(),
            "{name}: {f}"
        );
    }
    for name in ["mediation_success_rate", "dispute_resolution_rate"] {
        let f = figure(name);
        let list = get(format!(
            "{}&limit=200",
            f["denominator_cases"].as_str().unwrap()
        ))
        .await;
        assert_eq!(
            list["items"].as_array().unwrap().len() as i64,
            f["denominator"].as_i64().unwrap(),
            "{name}: {f}"
        );
    }
    // Petitions by channel (来信, 来访, 网上, 来电), as planned.
    let by_channel = get("/v1/stats?from=2025-01-01&to=2025-12-31&by=channel".to_owned()).await;
    let channels = counts["channels"].as_object().unwrap();
    assert_eq!(channels.len(), 4, "{channels:?}");
    for (channel, want) in channels {
        let group = by_channel["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["group"]["channel"] == channel.as_str())
            .unwrap_or_else(|| panic!("no group {channel}"));
        let f = group["figures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == "petitions_received")
            .unwrap();
        assert_eq!(
            f["value"].as_f64(),
            want["petitions_received"].as_f64(),
            "{channel}: {f}"
        );
        let list = get(format!("{}&limit=200", f["cases"].as_str().unwrap())).await;
        assert_eq!(
            list["items"].as_array().unwrap().len() as f64,
            f["value"].as_f64().unwrap(),
            "{channel}"
        );
    }
    for (name, value) in [
        ("units_dispatched", "value"),
        ("check_ins_late", "value"),
        ("response_rate", "numerator"),
    ] {
        let f = figure(name);
        let list = get(f["cases"].as_str().unwrap().to_owned()).await;
        assert_eq!(list["count"].as_f64(), f[value].as_f64(), "{name}: {f}");
    }
    let f = figure("response_rate");
    let list = get(f["denominator_cases"].as_str().unwrap().to_owned()).await;
    assert_eq!(list["count"], f["denominator"], "{f}");

    // The per-unit table: each unit's counts as intended, each row drilling down to exactly
    // that unit's dispatches.
    let table = get("/v1/stats/units?from=2025-01-01&to=2025-12-31&sort=unit".to_owned()).await;
    let rows = table["units"].as_array().unwrap();
    let intended_units = counts["units"].as_object().unwrap();
    assert_eq!(rows.len(), intended_units.len(), "{table}");
    for row in rows {
        let unit = row["unit"].as_str().unwrap();
        let want = &intended_units[unit];
        for column in ["dispatched", "checked_in_on_time", "late", "returned"] {
            assert_eq!(row[column], want[column], "{unit} {column}: {row}");
        }
        let theirs = get(row["dispatches"].as_str().unwrap().to_owned()).await;
        assert_eq!(theirs["count"], row["dispatched"], "{unit}: {theirs}");
        assert!(
            theirs["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|d| d["unit"] == unit),
            "{theirs}"
        );
    }
    assert!(server.terminate());

    let out = std::process::Command::new(docket_bin())
        .arg("verify")
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every command of the plan, and the directory's seeding.
    assert!(
        stdout.contains(&format!(
            "checked {} commits",
            counts["commands"].as_u64().unwrap() + 1
        )),
        "{stdout}"
    );
}
