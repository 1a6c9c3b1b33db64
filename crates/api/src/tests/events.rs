//! `GET /v1/events`: commits within reach, in log order; a client resuming with `Last-Event-ID`
//! misses nothing and sees nothing twice.

use axum::body::BodyDataStream;
use futures_util::StreamExt;

use super::*;

/// One server-sent event: its id and data.
#[derive(Debug, Clone)]
pub(super) struct Sent {
    pub(super) id: u64,
    pub(super) data: Value,
}

/// An open event stream, read event by event.
pub(super) struct Stream {
    body: BodyDataStream,
    buffer: String,
}

impl Stream {
    /// The next event, or `None` if none comes within `wait`.
    pub(super) async fn next(&mut self, wait: Duration) -> Option<Sent> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut data) = (None, String::new());
                for line in frame.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().parse().unwrap());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if let Some(id) = id {
                    return Some(Sent {
                        id,
                        data: serde_json::from_str(&data).unwrap(),
                    });
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.next()).await;
            match chunk {
                Ok(Some(bytes)) => self
                    .buffer
                    .push_str(std::str::from_utf8(&bytes.unwrap()).unwrap()),
                _ => return None,
            }
        }
    }

    async fn take(&mut self, n: usize) -> Vec<Sent> {
        let mut sent = Vec::new();
        for _ in 0..n {
            sent.push(
                self.next(Duration::from_secs(10))
                    .await
                    .expect("an event within 10 s"),
            );
        }
        sent
    }
}

impl App {
    pub(super) async fn events(
        &self,
        actor: &Actor,
        last_event_id: Option<&str>,
        query: &str,
    ) -> Stream {
        self.events_for(actor, Duration::from_secs(600), last_event_id, query)
            .await
    }

    /// A stream opened with a token valid for `ttl`.
    async fn events_for(
        &self,
        actor: &Actor,
        ttl: Duration,
        last_event_id: Option<&str>,
        query: &str,
    ) -> Stream {
        let mut req = Request::builder().uri(format!("/v1/events{query}")).header(
            "authorization",
            format!("Bearer {}", self.auth.mint(actor, ttl)),
        );
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id);
        }
        let response = self
            .router
            .clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Stream {
            body: response.into_body().into_data_stream(),
            buffer: String::new(),
        }
    }

    pub(super) async fn file_as(&self, actor: &Actor, body: Value) -> String {
        let r = self.send_as(actor, "POST", "/v1/cases", Some(body)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body["case_id"].as_str().unwrap().to_owned()
    }
}

fn actor_in(tenant: &str, role: Role, grid: Option<&str>) -> Actor {
    Actor {
        id: format!("{role}-{}", grid.unwrap_or("all")),
        tenant: tenant.parse().unwrap(),
        role,
        unit: None,
        grids: grid.map(|g| vec![g.parse().unwrap()]).unwrap_or_default(),
    }
}

fn hazard_in(grid: &str, title: &str) -> Value {
    json!({"kind": "hazard", "community": "qinghe", "grid": grid, "unit": "qinghe-safety",
           "title": title, "category": "fire", "severity": "general", "source": "night-patrol"})
}

#[tokio::test]
async fn a_resumed_stream_misses_nothing_repeats_nothing_and_keeps_to_reach() {
    let app = app().await;
    let mine = actor_in("qinghe", Role::GridWorker, Some("qinghe-03"));
    let neighbour = actor_in("qinghe", Role::GridWorker, Some("qinghe-04"));
    let supervisor = actor_in("qinghe", Role::Supervisor, None);
    let a = app
        .file_as(&mine, hazard_in("qinghe-03", "楼道堆物 1"))
        .await;
    app.file_as(&neighbour, hazard_in("qinghe-04", "别的网格"))
        .await;
    let b = app
        .file_as(&mine, hazard_in("qinghe-03", "楼道堆物 2"))
        .await;

    // From the start of the log: the two filings in her grid, not her neighbour's.
    let mut stream = app.events(&mine, None, "?after=0").await;
    let first = stream.take(2).await;
    assert_eq!(first[0].data["case_id"], a.as_str());
    assert_eq!(first[1].data["case_id"], b.as_str());
    assert_eq!(first[0].data["command"], "report");
    drop(stream);

    // While she is away: an action on her case, a filing next door, a filing in her grid.
    let handler = Actor {
        unit: Some("qinghe-safety".parse().unwrap()),
        ..actor_in("qinghe", Role::Handler, None)
    };
    let r = app
        .send_as(
            &handler,
            "POST",
            &format!("/v1/cases/{a}/actions/verify"),
            Some(json!({"severity": "general", "responsible_party": "物业"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    app.file_as(&neighbour, hazard_in("qinghe-04", "别的网格 2"))
        .await;
    let c = app
        .file_as(&mine, hazard_in("qinghe-03", "楼道堆物 3"))
        .await;

    let last = first[1].id.to_string();
    let mut stream = app.events(&mine, Some(&last), "").await;
    let resumed = stream.take(2).await;
    assert_eq!(resumed[0].data["case_id"], a.as_str());
    assert_eq!(resumed[0].data["command"], "verify");
    assert_eq!(resumed[1].data["case_id"], c.as_str());
    assert!(
        stream.next(Duration::from_millis(500)).await.is_none(),
        "nothing else is within her reach"
    );

    // Exactly the log's commits of her grid, in order, each once.
    let seen: Vec<u64> = first.iter().chain(&resumed).map(|s| s.id).collect();
    let ours = [&a, &b, &c];
    let expected: Vec<u64> = app
        .log
        .read_all(0, 100)
        .await
        .unwrap()
        .iter()
        .filter(|r| ours.contains(&&r.commit.body.case_id.to_string()))
        .map(|r| r.position)
        .collect();
    assert_eq!(seen, expected);

    // A live stream gets new commits as they land.
    let d = app
        .file_as(&mine, hazard_in("qinghe-03", "楼道堆物 4"))
        .await;
    let live = stream.take(1).await;
    assert_eq!(live[0].data["case_id"], d.as_str());

    // The supervisor sees the whole tenant (every case's commits: the directory's seeding at
    // position 1 is not a case's); another tenant sees none of it.
    let mut all = app.events(&supervisor, None, "?after=0").await;
    let every = all.take(7).await;
    let ids: Vec<u64> = every.iter().map(|s| s.id).collect();
    assert_eq!(ids, (2..=8).collect::<Vec<u64>>());
    let elsewhere = actor_in("elsewhere", Role::Supervisor, None);
    let mut theirs = app.events(&elsewhere, None, "?after=0").await;
    assert!(theirs.next(Duration::from_millis(500)).await.is_none());
}

#[tokio::test]
async fn people_in_the_stream_are_never_in_clear() {
    let app = app().await;
    let officer = actor_in("qinghe", Role::PetitionOfficer, None);
    app.file_as(
        &officer,
        json!({"kind": "petition", "community": "qinghe", "grid": "qinghe-03", "title": "供暖",
               "channel": "letter", "petition_type": "appeal-request", "category": "housing",
               "petitioners": [{"name": "欧阳修", "phone": "13912345678"}]}),
    )
    .await;
    let mut stream = app.events(&officer, None, "?after=0").await;
    let sent = stream.take(1).await;
    let text = sent[0].data.to_string();
    assert!(
        !text.contains("欧阳修") && !text.contains("13912345678"),
        "{text}"
    );
    assert!(!text.contains("sealed"), "{text}");
    assert!(text.contains("欧**"), "{text}");
}

#[tokio::test]
async fn a_bad_resume_point_is_refused() {
    let app = app().await;
    let supervisor = actor_in("qinghe", Role::Supervisor, None);
    let token = app.auth.mint(&supervisor, Duration::from_secs(600));
    let auth = format!("Bearer {token}");
    let r = app
        .call_with(
            "/v1/events",
            &[("authorization", &auth), ("last-event-id", "yesterday")],
        )
        .await;
    assert_problem(&r, StatusCode::BAD_REQUEST, "invalid-last-event-id");
    let r = app
        .call_with("/v1/events?after=-1", &[("authorization", &auth)])
        .await;
    assert_problem(&r, StatusCode::BAD_REQUEST, "invalid-query");
    let r = app.call_with("/v1/events", &[]).await;
    assert_problem(&r, StatusCode::UNAUTHORIZED, "missing-token");
}

impl App {
    async fn call_with(&self, uri: &str, headers: &[(&str, &str)]) -> Reply {
        let mut req = Request::builder().uri(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.send(req.body(Body::empty()).unwrap()).await
    }
}

/// A stream outlives nothing: it ends when the token that opened it expires, and the client
/// reconnects with a new token and its last id.
#[tokio::test]
async fn a_stream_ends_when_its_token_expires() {
    let app = app().await;
    let supervisor = actor_in("qinghe", Role::Supervisor, None);
    let mut stream = app
        .events_for(&supervisor, Duration::from_secs(2), None, "")
        .await;
    app.file_as(&supervisor, hazard_in("qinghe-03", "楼道堆物"))
        .await;
    assert!(stream.next(Duration::from_secs(2)).await.is_some());
    // Token expiry has second precision: the stream ends within three seconds of opening.
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while stream.body.next().await.is_some() {}
    })
    .await;
    assert!(ended.is_ok(), "the stream outlived its token");
}
