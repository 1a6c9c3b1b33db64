//! What the deadline watch records reaches the supervisors' worklist over HTTP.

use std::sync::Mutex;

use super::*;

#[derive(Debug)]
struct MovableClock(Mutex<jiff::Timestamp>);

impl docket_commands::Clock for MovableClock {
    fn now(&self) -> jiff::Timestamp {
        *self.0.lock().unwrap()
    }
}

#[tokio::test]
async fn overdue_cases_surface_on_the_supervisors_worklist_without_anyone_acting() {
    let start: jiff::Timestamp = "2025-03-03T02:00:00Z".parse().unwrap();
    let clock = Arc::new(MovableClock(Mutex::new(start)));
    let app = app_with_clock(clock.clone()).await;
    let hazard = app.file_hazard().await;
    let r = app
        .call(
            "POST",
            "/v1/cases",
            Some(Role::PetitionOfficer),
            &[],
            Some(
                r#"{"kind":"petition","community":"qinghe","grid":"qinghe-03","title":"供暖",
                "channel":"letter","petition_type":"appeal-request","category":"housing",
                "petitioners":[{"name":"丙"}]}"#,
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let petition = r.body["case_id"].as_str().unwrap().to_owned();
    let watch =
        docket_watch::DeadlineWatch::new(app.state.commands.clone(), app.state.read.clone());

    let worklist = |query: &'static str| {
        let app = &app;
        async move {
            let head = app.log.head().await.unwrap();
            let r = app
                .call(
                    "GET",
                    &format!("/v1/cases?{query}&min_position={head}"),
                    Some(Role::Supervisor),
                    &[],
                    None,
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            let mut ids: Vec<String> = r.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_str().unwrap().to_owned())
                .collect();
            ids.sort();
            ids
        }
    };
    assert_eq!(watch.sweep().await.unwrap().recorded, 0);
    assert!(worklist("worklist=missed-deadline").await.is_empty());

    *clock.0.lock().unwrap() = start + jiff::SignedDuration::from_hours(40 * 24);
    let head = app.log.head().await.unwrap();
    assert!(
        app.state
            .read
            .wait_until(head, Duration::from_secs(5))
            .await
    );
    assert_eq!(watch.sweep().await.unwrap().recorded, 2);
    let mut both = vec![hazard.clone(), petition.clone()];
    both.sort();
    assert_eq!(worklist("worklist=missed-deadline").await, both);
    assert_eq!(worklist("backlog=true").await, [petition.as_str()]);
    assert_eq!(worklist("backlog=false").await, [hazard.as_str()]);

    // The history says who recorded it: the watch, not a person.
    let r = app
        .call(
            "GET",
            &format!("/v1/cases/{petition}/history"),
            Some(Role::Supervisor),
            &[],
            None,
        )
        .await;
    let last = r.body["commits"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["actor"]["id"], "deadline-watch");
    assert_eq!(last["actor"]["role"], "system");
    assert_eq!(last["command"], "record-overdue");
    let r = app
        .call(
            "GET",
            &format!("/v1/cases/{petition}"),
            Some(Role::Supervisor),
            &[],
            None,
        )
        .await;
    assert_eq!(r.body["deadline"]["missed"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["case"]["backlog"], true, "{}", r.body);
}
