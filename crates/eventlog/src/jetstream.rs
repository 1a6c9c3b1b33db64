//! The scaled-out log: NATS JetStream. One message per commit on the literal subject
//! `<root>.<tenant>.<kind>.<case id>` (the root is the stream's name in lower case: `docket` for
//! the default stream `DOCKET`, so that deployments on one NATS server keep apart), appended with `Nats-Expected-Last-Subject-Sequence` (0 for a
//! new case) and `Nats-Msg-Id` = commit id; the stream sequence is the global position.

use std::collections::VecDeque;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::ErrorCode;
use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::consumer::pull::{Ordered, OrderedConfig};
use async_nats::jetstream::context::{GetStreamErrorKind, PublishError, PublishErrorKind};
use async_nats::jetstream::message::StreamMessage;
use async_nats::jetstream::publish::PublishAck;
use async_nats::jetstream::stream::{
    Config as StreamConfig, RawMessageError, RawMessageErrorKind, StorageType, Stream,
};
use async_nats::jetstream::{self, Context};
use async_trait::async_trait;
use futures_util::StreamExt;
use uuid::Uuid;

use crate::{Appended, ChainHash, Commit, EventLog, LogError, Recorded};

/// NATS addresses as they may be shown: any password replaced by `***`.
fn redacted(urls: &str) -> String {
    urls.split(',')
        .map(|u| match (u.find("://"), u.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                let userinfo = &u[scheme + 3..at];
                let user = userinfo.split(':').next().unwrap_or_default();
                format!("{}{user}:***{}", &u[..scheme + 3], &u[at..])
            }
            _ => u.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Where commits go and how the stream is kept.
#[derive(Debug, Clone)]
pub struct JetStreamConfig {
    /// The stream's name.
    pub stream: String,
    /// 1 on one machine, 3 in a cluster.
    pub replicas: usize,
    /// How long JetStream remembers commit ids: a retried filing is recognised within it. Actions
    /// are recognised at any age, from the case's own commits.
    pub duplicate_window: Duration,
    /// The subjects' first token; none: the stream's name in lower case. A stream made before
    /// subjects followed its name keeps `docket` here.
    pub subject_root: Option<String>,
    /// How long an append goes on sending its commit, and a read of a case asking for it, while
    /// no stream leader answers (one lost, the next being elected: 4 to 9 s on nats-server).
    /// Past it they are unavailable; whether such an append landed is known once the case is
    /// read again.
    pub patience: Duration,
}

impl Default for JetStreamConfig {
    fn default() -> Self {
        Self {
            stream: "DOCKET".to_owned(),
            replicas: 1,
            duplicate_window: Duration::from_secs(10 * 60),
            subject_root: None,
            patience: Duration::from_secs(15),
        }
    }
}

impl JetStreamConfig {
    /// The first token of every subject of the stream: as configured, or its name in lower
    /// case.
    pub fn subject_root(&self) -> String {
        self.subject_root
            .clone()
            .unwrap_or_else(|| self.stream.to_lowercase())
    }

    fn subjects(&self) -> String {
        format!("{}.>", self.subject_root())
    }
}
/// How long a sending waits for its acknowledgement before the commit is sent again (the earlier
/// sending's answer still counts if it comes). Under load an acknowledgement takes tens of
/// milliseconds; one that takes a second most likely went to a leader that is gone.
const ACK_WAIT: Duration = Duration::from_secs(1);

/// How long a request to the stream's leader (a get, the stream's state) is waited for: they
/// take milliseconds, and one that takes a second most likely was sent while no leader was there
/// to answer.
const REQUEST_WAIT: Duration = Duration::from_secs(1);

/// How long the creation of the tail's consumer is waited for. In a cluster the meta leader places
/// it, through a round of its own consensus: slower than a get, and still well under this.
const CONSUMER_WAIT: Duration = Duration::from_secs(3);

/// How long a reader waits for a consumer it just asked for before it reads by gets: one takes
/// milliseconds when the cluster is whole.
const CONSUMER_FIRST_WAIT: Duration = Duration::from_millis(250);

/// After a consumer was not made (refused, or unanswered), the pause before the next is asked for.
const MAKING_PAUSE: Duration = Duration::from_secs(1);

/// The pause of a reader without a consumer whose gets found nothing new.
const GETS_PAUSE: Duration = Duration::from_millis(50);

/// The pause before a commit is sent again when no server took it (no stream leader yet).
const NO_LEADER_PAUSE: Duration = Duration::from_millis(100);

/// The first pause before a commit is sent again when the leader had another write to its case
/// in flight (it lets go of the subject just after acknowledging that write); it doubles, up to
/// `NO_LEADER_PAUSE`, while the case stays busy.
const CASE_BUSY_PAUSE: Duration = Duration::from_millis(5);

/// How long the tail consumer may hand over nothing while the stream holds commits past it
/// before it is taken for one that did not survive a server restart, and made anew.
const STALE_TAIL: Duration = Duration::from_secs(1);

/// Cases whose commits are kept in memory; beyond this, the one used least recently is forgotten.
const CACHED_CASES: NonZeroUsize = NonZeroUsize::new(50_000).expect("not zero");

/// A case's last commit: what the next append follows.
#[derive(Debug, Clone)]
struct Tip {
    version: u64,
    position: u64,
    hash: ChainHash,
}

impl Tip {
    fn of(commits: &[Recorded]) -> Self {
        commits.last().map_or_else(
            || Tip {
                version: 0,
                position: 0,
                hash: ChainHash::genesis(),
            },
            |r| Tip {
                version: r.commit.body.version,
                position: r.position,
                hash: r.commit.hash.clone(),
            },
        )
    }
}

/// The JetStream backend.
#[derive(Debug)]
pub struct JetStreamLog {
    js: Context,
    stream: Stream,
    /// The subjects' first token (`JetStreamConfig::subject_root`).
    root: String,
    /// `JetStreamConfig::patience`.
    patience: Duration,
    cases: Mutex<lru::LruCache<Uuid, Vec<Recorded>>>,
    following: tokio::sync::Mutex<Following>,
}

/// How a reader follows the log: through a consumer (the tail), or, while none can be made, by
/// gets from the stream's leader.
///
/// In a cluster that lost a node, the meta leader may place a new consumer on the lost node
/// (one of the stream's peers), and its creation is then never answered; one made while the
/// stream's leader is being elected is answered only seconds later. A consumer is therefore made
/// in the background, and the log is read by gets until it is there: a reader goes on as soon as
/// the stream has a leader.
#[derive(Debug, Default)]
struct Following {
    tail: Option<Tail>,
    making: Option<Making>,
    /// After a consumer was not made, the next is not asked for before this.
    not_before: Option<tokio::time::Instant>,
}

/// A tail consumer being made, reading from `start` on. Dropped, the making is given up.
struct Making {
    start: u64,
    made: tokio::task::JoinHandle<Result<Ordered, LogError>>,
}

impl Drop for Making {
    fn drop(&mut self) {
        self.made.abort();
    }
}

impl std::fmt::Debug for Making {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Making")
            .field("start", &self.start)
            .finish()
    }
}

struct Tail {
    /// The position of the next commit this tail yields (the buffer's front, if any).
    next: u64,
    buffer: VecDeque<Recorded>,
    /// Messages the consumer had yet to deliver after the last one it did.
    pending: u64,
    /// When the consumer last handed a message over (or was made).
    last_received: tokio::time::Instant,
    /// The position of the last message the consumer handed over (or the one before where it
    /// was asked to start).
    last_delivered: u64,
    /// Messages up to this position were read by gets while the consumer was being made: the
    /// consumer's copies of them are passed over.
    read_already: u64,
    messages: Ordered,
}

impl std::fmt::Debug for Tail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tail")
            .field("next", &self.next)
            .field("buffered", &self.buffer.len())
            .finish()
    }
}

fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> LogError {
    LogError::Unavailable(Box::new(e))
}

/// A request to the cluster that went unanswered for `wait`.
fn unanswered_within(what: &str, wait: Duration) -> LogError {
    unavailable(std::io::Error::other(format!(
        "no answer to {what} within {} ms: is the stream's (or the cluster's) leader being elected?",
        wait.as_millis()
    )))
}

/// A subject token must be non-empty and free of what NATS gives meaning to.
fn token(what: &str, value: &str, commit_id: Uuid) -> Result<(), LogError> {
    let bad = value.is_empty()
        || value
            .chars()
            .any(|c| c == '.' || c == '*' || c == '>' || c.is_whitespace());
    if bad {
        return Err(LogError::Rejected {
            commit_id,
            reason: format!("{what} {value:?} cannot be a subject token"),
        });
    }
    Ok(())
}

impl Tail {
    /// A consumer's messages from `start` on, of which those before `next` were read already.
    fn new(start: u64, next: u64, messages: Ordered) -> Self {
        Tail {
            next,
            buffer: VecDeque::new(),
            pending: 0,
            last_received: tokio::time::Instant::now(),
            last_delivered: start - 1,
            read_already: next - 1,
            messages,
        }
    }

    /// A message the consumer handed over, as the commit it carries (none if it was read
    /// already); notes how many more the server holds for the consumer.
    ///
    /// A message at or before the last one handed over means the consumer went back: the client
    /// remakes an ordered consumer that lost its server from the stream's very beginning when it
    /// had handed nothing over yet (async-nats 0.51 `recreate_consumer_stream`, sequence 0), not
    /// from where it was asked to start. The tail is then given up (the error), and the next
    /// read makes a consumer from the right position; nothing is handed over twice.
    fn received(
        &mut self,
        message: &async_nats::jetstream::Message,
    ) -> Result<Option<Recorded>, LogError> {
        let info = message.info().map_err(LogError::Unavailable)?;
        if info.stream_sequence <= self.last_delivered {
            return Err(unavailable(std::io::Error::other(format!(
                "the tail consumer went back to position {} after {}; a new one is made",
                info.stream_sequence, self.last_delivered
            ))));
        }
        self.last_delivered = info.stream_sequence;
        self.pending = info.pending;
        self.last_received = tokio::time::Instant::now();
        if info.stream_sequence <= self.read_already {
            return Ok(None);
        }
        decode(info.stream_sequence, &message.payload).map(Some)
    }

    /// A message waited for onto `out`, then whatever else has been received meanwhile, up to
    /// `limit`.
    fn received_with_the_rest(
        &mut self,
        message: &async_nats::jetstream::Message,
        out: &mut Vec<Recorded>,
        limit: usize,
    ) -> Result<(), LogError> {
        out.extend(self.received(message)?);
        drain_delivered(self, out, limit)
    }

    /// What the consumer has handed over already, up to `limit`, without a wait or a round
    /// trip: the buffer, then every message received meanwhile. Under load a page holds every
    /// commit that arrived while the last one was applied.
    fn delivered(&mut self, limit: usize) -> Result<Vec<Recorded>, LogError> {
        let mut out = Vec::with_capacity(limit.min(1024));
        while out.len() < limit {
            let Some(r) = self.buffer.pop_front() else {
                break;
            };
            out.push(r);
        }
        drain_delivered(self, &mut out, limit)?;
        Ok(out)
    }

    /// Notes where the next read starts, `page` having been handed to a reader of what follows
    /// `after`.
    fn handed_over(&mut self, page: &[Recorded], after: u64) {
        self.next = match (self.buffer.front(), page.last()) {
            (Some(front), _) => front.position,
            (None, Some(last)) => last.position + 1,
            (None, None) => after + 1,
        };
    }
}

/// Moves the messages the consumer has received already (no waiting) onto `out`, up to `limit`.
fn drain_delivered(tail: &mut Tail, out: &mut Vec<Recorded>, limit: usize) -> Result<(), LogError> {
    use futures_util::FutureExt as _;
    while out.len() < limit {
        match tail.messages.next().now_or_never() {
            Some(Some(Ok(message))) => {
                out.extend(tail.received(&message)?);
            }
            Some(Some(Err(e))) => return Err(unavailable(e)),
            Some(None) | None => return Ok(()),
        }
    }
    Ok(())
}

fn decode(position: u64, payload: &[u8]) -> Result<Recorded, LogError> {
    let commit = serde_json::from_slice(payload).map_err(|e| LogError::Corrupt {
        position,
        reason: e.to_string(),
    })?;
    Ok(Recorded { position, commit })
}

/// Why the stream did not judge a commit sent to it: it is sent again, same `Nats-Msg-Id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unjudged {
    /// No acknowledgement in time: the leader it went to may be gone, and took the answer with
    /// it. Sent again at once.
    Unanswered,
    /// No server took it, or one said the stream has no leader now, or cannot judge yet, or is
    /// overloaded: a leader is being elected. Sent again after `NO_LEADER_PAUSE`.
    NoLeader,
    /// "Wrong last sequence" without a number (10164): the leader had another write to the
    /// case's subject in flight and refused without comparing. That write may be a concurrent
    /// one, which the next sending is refused for with the number (10071, a conflict), or the
    /// caller's own last one, acknowledged a moment before the leader let go of the subject,
    /// which the next sending follows. Sent again after a short pause that grows.
    CaseBusy,
    /// An earlier sending of this very commit is still in flight (10158): its answer is awaited.
    SendingInFlight,
}

/// The JetStream error code the server answered a publish with, if it answered with one.
fn publish_error_code(e: &PublishError) -> Option<ErrorCode> {
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<async_nats::jetstream::Error>())
        .map(async_nats::jetstream::Error::error_code)
}

fn unjudged(e: &PublishError) -> Option<Unjudged> {
    match (e.kind(), publish_error_code(e)) {
        (PublishErrorKind::TimedOut, _) => Some(Unjudged::Unanswered),
        (PublishErrorKind::StreamNotFound, _) => Some(Unjudged::NoLeader),
        (_, Some(ErrorCode::STREAM_WRONG_LAST_SEQUENCE_CONSTANT)) => Some(Unjudged::CaseBusy),
        (_, Some(ErrorCode::STREAM_DUPLICATE_MESSAGE_CONFLICT)) => Some(Unjudged::SendingInFlight),
        (
            _,
            Some(
                ErrorCode::STREAM_EXPECTED_LAST_SEQ_PER_SUBJECT_NOT_READY
                | ErrorCode::STREAM_TOO_MANY_REQUESTS,
            ),
        ) => Some(Unjudged::NoLeader),
        (_, Some(code)) if no_leader_now(code) => Some(Unjudged::NoLeader),
        _ => None,
    }
}

/// Whether a get of a stored commit went unanswered the way it does while the stream has no
/// leader: timed out, no server taking it, or a server saying the cluster has no leader now.
fn get_unanswered(e: &RawMessageError) -> bool {
    use async_nats::jetstream::context::{RequestError, RequestErrorKind};
    match e.kind() {
        RawMessageErrorKind::JetStream(js) => no_leader_now(js.error_code()),
        RawMessageErrorKind::Other => std::error::Error::source(e)
            .and_then(|s| s.downcast_ref::<RequestError>())
            .is_some_and(|r| {
                matches!(
                    r.kind(),
                    RequestErrorKind::TimedOut | RequestErrorKind::NoResponders
                )
            }),
        _ => false,
    }
}

/// The error codes of a JetStream cluster that has no leader for the stream at the moment.
fn no_leader_now(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::CLUSTER_NOT_AVAILABLE
            | ErrorCode::CLUSTER_NOT_LEADER
            | ErrorCode::CLUSTER_NOT_ACTIVE
    )
}

/// Whether the server refused the publish because the subject has moved on: "wrong last
/// sequence: N" (10071), the only answer of that kind that compares.
fn is_conflict(e: &PublishError) -> bool {
    e.kind() == PublishErrorKind::WrongLastSequence
        || publish_error_code(e) == Some(ErrorCode::STREAM_WRONG_LAST_SEQUENCE)
}

impl JetStreamLog {
    /// Connects to `urls` (comma-separated) and opens the log.
    pub async fn connect(urls: &str, config: JetStreamConfig) -> Result<Self, LogError> {
        let servers = urls
            .split(',')
            .map(|u| u.trim().parse::<async_nats::ServerAddr>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| LogError::Setup(format!("NATS address {}: {e}", redacted(urls))))?;
        // A user and password in the address (`nats://docket:PASSWORD@host:4222`), as the
        // cluster's accounts require; the client does not take them from the address itself.
        let mut options = async_nats::ConnectOptions::new();
        if let Some(server) = servers.iter().find(|s| s.username().is_some()) {
            options = options.user_and_password(
                server.username().unwrap_or_default().to_owned(),
                server.password().unwrap_or_default().to_owned(),
            );
        }
        let client = options
            .name("docket")
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(5))
            .connect(servers)
            .await
            .map_err(unavailable)?;
        Self::open(client, config).await
    }

    /// Opens the log on a connected client, creating the stream if there is none, and refusing
    /// to run on a stream whose settings differ from the configuration.
    pub async fn open(
        client: async_nats::Client,
        config: JetStreamConfig,
    ) -> Result<Self, LogError> {
        let js = jetstream::new(client);
        let stream = match js.get_stream(&config.stream).await {
            Ok(stream) => {
                check_stream(stream.cached_info().config.clone(), &config)?;
                stream
            }
            Err(e) if matches!(e.kind(), GetStreamErrorKind::JetStream(ref j) if j.error_code() == ErrorCode::STREAM_NOT_FOUND) => {
                create_stream(&js, &config).await?
            }
            Err(e) => return Err(unavailable(e)),
        };
        Ok(Self {
            js,
            stream,
            root: config.subject_root(),
            patience: config.patience,
            cases: Mutex::new(lru::LruCache::new(CACHED_CASES)),
            following: tokio::sync::Mutex::default(),
        })
    }

    fn case_subject(&self, tenant: &str, kind: &str, case_id: Uuid) -> String {
        format!("{}.{tenant}.{kind}.{case_id}", self.root)
    }

    fn cached(&self, case_id: Uuid) -> Option<Vec<Recorded>> {
        self.cases
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&case_id)
            .cloned()
    }

    /// The cached commits of `tenant`'s case after `version` (copying only those), if the case
    /// is cached as theirs.
    fn cached_after(&self, tenant: &str, case_id: Uuid, version: u64) -> Option<Vec<Recorded>> {
        let mut cases = self.cases.lock().unwrap_or_else(|p| p.into_inner());
        let commits = cases
            .get(&case_id)
            .filter(|c| c.first().is_some_and(|r| r.commit.body.tenant == tenant))?;
        let from = commits.partition_point(|r| r.commit.body.version <= version);
        Some(commits[from..].to_vec())
    }

    fn remember(&self, case_id: Uuid, commits: Vec<Recorded>) {
        let mut cases = self.cases.lock().unwrap_or_else(|p| p.into_inner());
        let newer_known = cases
            .peek(&case_id)
            .is_some_and(|known| Tip::of(known).position > Tip::of(&commits).position);
        if !newer_known {
            cases.put(case_id, commits);
        }
    }

    fn tip(&self, case_id: Uuid) -> Option<Tip> {
        self.cases
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&case_id)
            .map(|commits| Tip::of(commits))
    }

    /// Adds a just-appended commit to the cached case, if the cache is where it was appended.
    fn extend(&self, case_id: Uuid, after_version: u64, appended: Recorded) {
        let mut cases = self.cases.lock().unwrap_or_else(|p| p.into_inner());
        match cases.get_mut(&case_id) {
            Some(commits) if Tip::of(commits).version == after_version => commits.push(appended),
            Some(_) => {
                cases.pop(&case_id);
            }
            None if after_version == 0 => {
                drop(cases);
                self.remember(case_id, vec![appended]);
            }
            None => {}
        }
    }

    fn forget(&self, case_id: Uuid) {
        self.cases
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop(&case_id);
    }

    /// The case's commits, its gets asked again until `patience` while no leader answers.
    async fn read_case_until(
        &self,
        tenant: &str,
        case_id: Uuid,
        patience: tokio::time::Instant,
    ) -> Result<Vec<Recorded>, LogError> {
        if token("tenant", tenant, case_id).is_err() {
            return Ok(Vec::new());
        }
        let mut commits = match self.cached(case_id) {
            Some(commits)
                if commits
                    .first()
                    .is_some_and(|r| r.commit.body.tenant == tenant) =>
            {
                commits
            }
            Some(_) => return Ok(Vec::new()),
            None => Vec::new(),
        };
        let filter = match commits.first() {
            Some(first) => self.case_subject(tenant, &first.commit.body.case_kind, case_id),
            None => format!("{}.{tenant}.*.{case_id}", self.root),
        };
        let from = commits.last().map_or(1, |r| r.position + 1);
        let newer = self.fetch_from(&filter, from, patience).await?;
        if !newer.is_empty() || !commits.is_empty() {
            commits.extend(newer);
            self.remember(case_id, commits.clone());
        }
        Ok(commits)
    }

    /// The commit at `position`, from the leader: the position usually comes from a duplicate
    /// answer just now, which a lagging replica may not hold yet.
    async fn read_position_until(
        &self,
        position: u64,
        patience: tokio::time::Instant,
    ) -> Result<Option<Recorded>, LogError> {
        match patient_get(patience, || self.stream.get_raw_message(position)).await? {
            Some(message) => decode(message.sequence, &message.payload).map(Some),
            None => Ok(None),
        }
    }

    /// Sends the commit until the stream judges it: stores it, or refuses it (a conflict, or
    /// something no sending again would change). While it cannot judge it (`Unjudged`) the
    /// commit is sent again, same `Nats-Msg-Id`, until `patience`, and every sending's answer is
    /// awaited, so a late acknowledgement of an earlier one still counts; past `patience` the
    /// answers are awaited for `ACK_WAIT` more. The stream stores the commit once however often
    /// it is sent: a later sending meets its duplicate id or the moved-on subject. Returns the
    /// judgement and how many times the commit was sent.
    async fn send_until_judged(
        &self,
        subject: &str,
        headers: impl Fn() -> HeaderMap,
        payload: bytes::Bytes,
        patience: tokio::time::Instant,
    ) -> (Result<PublishAck, PublishError>, u32) {
        use tokio::time::Instant;
        let mut answers = futures_util::stream::FuturesUnordered::new();
        let mut sendings = 0;
        let mut due = Instant::now();
        let mut busy_pause = CASE_BUSY_PAUSE;
        let mut last: Option<PublishError> = None;
        loop {
            let now = Instant::now();
            if due <= now && now < patience {
                sendings += 1;
                due = now + ACK_WAIT;
                let sent = self
                    .js
                    .publish_with_headers(subject.to_owned(), headers(), payload.clone())
                    .await;
                match sent {
                    Ok(ack) => answers.push(ack.into_future()),
                    Err(e) => answers.push(Box::pin(std::future::ready(Err(e)))),
                }
            }
            let give_up = patience + ACK_WAIT;
            if Instant::now() >= give_up || (answers.is_empty() && Instant::now() >= patience) {
                let e = last.unwrap_or_else(|| PublishError::new(PublishErrorKind::TimedOut));
                return (Err(e), sendings);
            }
            let wake = if Instant::now() < patience {
                due
            } else {
                give_up
            };
            tokio::select! {
                Some(answer) = answers.next() => {
                    let e = match answer {
                        Ok(ack) => return (Ok(ack), sendings),
                        Err(e) => e,
                    };
                    let Some(why) = unjudged(&e) else {
                        return (Err(e), sendings);
                    };
                    tracing::debug!(error = %e, ?why, "the stream did not judge the commit; sending it again");
                    let now = Instant::now();
                    due = match why {
                        Unjudged::Unanswered => now,
                        Unjudged::NoLeader => due.min(now + NO_LEADER_PAUSE),
                        Unjudged::CaseBusy => {
                            let at = now + busy_pause;
                            busy_pause = (busy_pause * 2).min(NO_LEADER_PAUSE);
                            due.min(at)
                        }
                        Unjudged::SendingInFlight => due,
                    };
                    last = Some(e);
                }
                () = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    /// Judges a conflict the server reported. The commit in the way may be this very one,
    /// appended by an earlier attempt whose answer was lost: the duplicate window may have
    /// forgotten its id, and a single server checks the subject's sequence before the id (a
    /// cluster checks the id first). In a cluster that commit may become visible a moment after the
    /// conflict is reported: while nothing at this version can be seen yet, look again briefly.
    async fn settle_conflict(
        &self,
        tenant: &str,
        case_id: Uuid,
        version: u64,
        commit_id: Uuid,
        patience: tokio::time::Instant,
    ) -> Result<Appended, LogError> {
        for _ in 0..20 {
            let now = self.read_case_until(tenant, case_id, patience).await?;
            if let Some(earlier) = self.earlier_append(&now, commit_id) {
                return Ok(earlier);
            }
            if Tip::of(&now).version >= version {
                break;
            }
            self.forget(case_id);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(LogError::Conflict {
            case_id,
            expected: version - 1,
        })
    }

    /// The answer for a commit id the case already holds.
    fn earlier_append(&self, commits: &[Recorded], commit_id: Uuid) -> Option<Appended> {
        commits
            .iter()
            .find(|r| r.commit.body.commit_id == commit_id)
            .map(|r| Appended {
                position: r.position,
                duplicate: true,
            })
    }

    /// The first commit of `filter` at or after stream sequence `from`, if any. Gets are
    /// answered by the stream leader, not by any replica (as direct gets are): a replica may lag,
    /// and a case read to judge a conflict or to show a client its own write must be the case as
    /// it stands.
    ///
    /// A get no leader answers (one lost, the next being elected) is asked again until
    /// `patience`.
    async fn next_from(
        &self,
        filter: &str,
        from: u64,
        patience: tokio::time::Instant,
    ) -> Result<Option<Recorded>, LogError> {
        let got = patient_get(patience, || {
            self.stream
                .raw_message_builder()
                .next_by_subject(filter)
                .sequence(from)
                .send()
        })
        .await?;
        got.map(|message| decode(message.sequence, &message.payload))
            .transpose()
    }

    /// Commits of `filter` from stream sequence `from` on, one get each (`next_from`).
    async fn fetch_from(
        &self,
        filter: &str,
        from: u64,
        patience: tokio::time::Instant,
    ) -> Result<Vec<Recorded>, LogError> {
        let mut found = Vec::new();
        let mut next = from;
        while let Some(recorded) = self.next_from(filter, next, patience).await? {
            next = recorded.position + 1;
            found.push(recorded);
        }
        Ok(found)
    }

    /// The filter of every commit of the log, `<root>.>` (the stream's subjects).
    fn every_subject(&self) -> String {
        format!("{}.>", self.root)
    }

    /// Takes the tail out of `following` if it is at `next`, or one whose consumer was made
    /// meanwhile; none while a consumer is still being made, or a pause after one was not
    /// (the caller reads by gets). Waits no later than `deadline`.
    async fn tail_at(
        &self,
        following: &mut Following,
        next: u64,
        deadline: tokio::time::Instant,
    ) -> Option<Tail> {
        if let Some(tail) = following.tail.take().filter(|t| t.next == next) {
            return Some(tail);
        }
        let now = tokio::time::Instant::now();
        // One just asked for is waited for a moment: it takes milliseconds when all is well.
        let wait = match &following.making {
            Some(making) if making.start <= next => Duration::ZERO,
            _ if following.not_before.is_some_and(|t| now < t) => return None,
            _ => {
                self.start_making(following, next);
                CONSUMER_FIRST_WAIT.min(deadline.saturating_duration_since(now))
            }
        };
        let making = following.making.as_mut()?;
        let joined = tokio::time::timeout(wait, &mut making.made).await.ok()?;
        let start = making.start;
        following.making = None;
        match joined.map_err(unavailable).and_then(|made| made) {
            Ok(messages) => {
                following.not_before = None;
                Some(Tail::new(start, next, messages))
            }
            Err(e) => {
                tracing::warn!(error = %e, "the log's reader has no consumer; it reads by gets meanwhile");
                following.not_before = Some(tokio::time::Instant::now() + MAKING_PAUSE);
                None
            }
        }
    }

    /// Makes a tail consumer from `start` on in the background, in place of any being made.
    fn start_making(&self, following: &mut Following, start: u64) {
        let made = tokio::spawn(tail_consumer(
            self.stream.clone(),
            self.every_subject(),
            start,
        ));
        // Any earlier making is given up as it is dropped.
        following.making = Some(Making { start, made });
    }

    /// Up to `limit` commits after `after`, one get each from the stream's leader (`next_from`),
    /// for as long as `until` allows (at least one get is asked, waited for `REQUEST_WAIT`). A
    /// page cut short by an error ends before it; the next call meets the error.
    async fn read_by_gets(
        &self,
        after: u64,
        limit: usize,
        until: tokio::time::Instant,
    ) -> Result<Vec<Recorded>, LogError> {
        let filter = self.every_subject();
        let mut out = Vec::new();
        let mut next = after + 1;
        while out.len() < limit {
            match self.next_from(&filter, next, until).await {
                Ok(Some(recorded)) => {
                    next = recorded.position + 1;
                    out.push(recorded);
                }
                Ok(None) => break,
                Err(e) if out.is_empty() => return Err(e),
                Err(_) => break,
            }
            if tokio::time::Instant::now() >= until {
                break;
            }
        }
        Ok(out)
    }

    /// `read_next` while no consumer is there: what gets find, or, when they find nothing, a
    /// pause (the reader asks again, and the consumer may be made by then).
    async fn read_next_by_gets(
        &self,
        after: u64,
        limit: usize,
        deadline: tokio::time::Instant,
    ) -> Result<Vec<Recorded>, LogError> {
        let page = self.read_by_gets(after, limit, deadline).await?;
        if page.is_empty() {
            tokio::time::sleep_until(deadline.min(tokio::time::Instant::now() + GETS_PAUSE)).await;
        }
        Ok(page)
    }
}

/// An ordered consumer of every commit from `start` on, and its messages.
///
/// Bounded: a creation the meta leader placed on a lost node, or sent while it was being
/// elected, is never answered.
async fn tail_consumer(
    stream: Stream,
    filter_subject: String,
    start: u64,
) -> Result<Ordered, LogError> {
    let consumer = tokio::time::timeout(
        CONSUMER_WAIT,
        stream.create_consumer(OrderedConfig {
            filter_subject,
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: start,
            },
            ..OrderedConfig::default()
        }),
    )
    .await
    .map_err(|_| unanswered_within("the tail consumer's creation", CONSUMER_WAIT))?
    .map_err(unavailable)?;
    consumer.messages().await.map_err(unavailable)
}

/// A get from the stream's leader (none when there is no such message), asked again while
/// no leader answers it (one lost, the next being elected) until `patience`: a get sent
/// while there was none is never answered.
async fn patient_get<F, Fut>(
    patience: tokio::time::Instant,
    mut send: F,
) -> Result<Option<StreamMessage>, LogError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<StreamMessage, RawMessageError>>,
{
    loop {
        let unanswered = match tokio::time::timeout(REQUEST_WAIT, send()).await {
            Ok(Ok(message)) => return Ok(Some(message)),
            Ok(Err(e)) if e.kind() == RawMessageErrorKind::NoMessageFound => return Ok(None),
            Ok(Err(e)) if get_unanswered(&e) => unavailable(e),
            Ok(Err(e)) => return Err(unavailable(e)),
            Err(_) => unanswered_within("a get from the stream's leader", REQUEST_WAIT),
        };
        if tokio::time::Instant::now() >= patience {
            return Err(unanswered);
        }
        tracing::debug!(error = %unanswered, "no stream leader answered a get; asking again");
        tokio::time::sleep(NO_LEADER_PAUSE).await;
    }
}

/// Creates the stream, waiting (up to half a minute) for a cluster that is still forming to have
/// enough peers to place it.
async fn create_stream(js: &Context, config: &JetStreamConfig) -> Result<Stream, LogError> {
    let mut attempts = 0;
    loop {
        match js.create_stream(wanted_stream(config)).await {
            Ok(stream) => return Ok(stream),
            Err(e) if attempts < 60 => {
                attempts += 1;
                tracing::warn!(error = %e, stream = %config.stream, "cannot create the stream yet; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => {
                return Err(LogError::Setup(format!(
                    "cannot create stream {}: {e}",
                    config.stream
                )));
            }
        }
    }
}

fn wanted_stream(config: &JetStreamConfig) -> StreamConfig {
    StreamConfig {
        name: config.stream.clone(),
        subjects: vec![config.subjects()],
        storage: StorageType::File,
        num_replicas: config.replicas,
        duplicate_window: config.duplicate_window,
        deny_delete: true,
        deny_purge: true,
        allow_direct: true,
        ..StreamConfig::default()
    }
}

fn check_stream(found: StreamConfig, config: &JetStreamConfig) -> Result<(), LogError> {
    let wanted = wanted_stream(config);
    let mut differences = Vec::new();
    let mut differs = |what: &str, found: String, wanted: String| {
        if found != wanted {
            differences.push(format!("{what} is {found}, Docket needs {wanted}"));
        }
    };
    differs(
        "subjects",
        format!("{:?}", found.subjects),
        format!("{:?}", wanted.subjects),
    );
    differs(
        "storage",
        format!("{:?}", found.storage),
        format!("{:?}", wanted.storage),
    );
    differs(
        "replicas",
        found.num_replicas.to_string(),
        wanted.num_replicas.to_string(),
    );
    differs(
        "duplicate window",
        format!("{:?}", found.duplicate_window),
        format!("{:?}", wanted.duplicate_window),
    );
    differs(
        "deny_delete",
        found.deny_delete.to_string(),
        "true".to_owned(),
    );
    differs(
        "deny_purge",
        found.deny_purge.to_string(),
        "true".to_owned(),
    );
    differs(
        "allow_direct",
        found.allow_direct.to_string(),
        "true".to_owned(),
    );
    if differences.is_empty() {
        Ok(())
    } else {
        Err(LogError::Setup(format!(
            "stream {} exists with other settings; change it deliberately (nats stream edit) or \
             the configuration: {}",
            config.stream,
            differences.join("; ")
        )))
    }
}

#[async_trait]
impl EventLog for JetStreamLog {
    #[tracing::instrument(skip_all, fields(case_id = %commit.body.case_id, version = commit.body.version), err(level = "debug"))]
    async fn append(&self, commit: &Commit) -> Result<Appended, LogError> {
        let b = &commit.body;
        let rejected = |reason: &str| LogError::Rejected {
            commit_id: b.commit_id,
            reason: reason.to_owned(),
        };
        token("tenant", &b.tenant, b.commit_id)?;
        token("case kind", &b.case_kind, b.commit_id)?;
        if b.version == 0 {
            return Err(rejected("versions start at 1"));
        }
        if !commit.hash_holds() {
            return Err(rejected("its hash does not match its content"));
        }
        let subject = self.case_subject(&b.tenant, &b.case_kind, b.case_id);
        // Every request of this append, to the stream's leader or to whichever is elected next,
        // is asked again until this moment (then one more acknowledgement is awaited).
        let patience = tokio::time::Instant::now() + self.patience;

        // The case's last commit as this process last saw it; a stale view is caught by the
        // server's check.
        let mut tip = match self.tip(b.case_id) {
            Some(tip) => tip,
            None if b.version == 1 => Tip::of(&[]),
            None => Tip::of(&self.read_case_until(&b.tenant, b.case_id, patience).await?),
        };
        if tip.version + 1 != b.version {
            // Behind, or already past this version: look again before judging.
            self.forget(b.case_id);
            let known = self.read_case_until(&b.tenant, b.case_id, patience).await?;
            if let Some(earlier) = self.earlier_append(&known, b.commit_id) {
                return Ok(earlier);
            }
            tip = Tip::of(&known);
            if tip.version + 1 != b.version {
                return Err(LogError::Conflict {
                    case_id: b.case_id,
                    expected: b.version - 1,
                });
            }
        }
        if tip.hash != commit.prev_hash {
            return Err(rejected("it does not link to the case's last commit"));
        }
        let expected_sequence = tip.position;

        let headers = || {
            let mut headers = HeaderMap::new();
            headers.insert(
                "Nats-Expected-Last-Subject-Sequence",
                expected_sequence.to_string().as_str(),
            );
            headers.insert("Nats-Msg-Id", b.commit_id.to_string().as_str());
            headers.insert("Docket-Case-Version", b.version.to_string().as_str());
            let types: Vec<&str> = b.events.iter().map(|e| e.event_type.as_str()).collect();
            headers.insert("Docket-Event-Types", types.join(",").as_str());
            headers
        };
        let payload = bytes::Bytes::from(serde_json::to_vec(commit).map_err(unavailable)?);

        let (acked, sendings) = self
            .send_until_judged(&subject, headers, payload, patience)
            .await;
        match acked {
            Ok(ack) => {
                // Sent more than once, a duplicate may be this very commit, stored by an earlier
                // sending whose answer was lost: no replay of an earlier request.
                let stored_now = !ack.duplicate
                    || (sendings > 1
                        && self
                            .read_position_until(ack.sequence, patience)
                            .await?
                            .is_some_and(|r| r.commit.hash == commit.hash));
                if stored_now {
                    self.extend(
                        b.case_id,
                        tip.version,
                        Recorded {
                            position: ack.sequence,
                            commit: commit.clone(),
                        },
                    );
                } else if sendings > 1 {
                    self.forget(b.case_id);
                }
                Ok(Appended {
                    position: ack.sequence,
                    duplicate: !stored_now,
                })
            }
            Err(e) if is_conflict(&e) => {
                self.forget(b.case_id);
                self.settle_conflict(&b.tenant, b.case_id, b.version, b.commit_id, patience)
                    .await
            }
            Err(e) => {
                // Whether it landed is unknown: the next load reads the case afresh.
                self.forget(b.case_id);
                Err(unavailable(e))
            }
        }
    }

    async fn read_case(&self, tenant: &str, case_id: Uuid) -> Result<Vec<Recorded>, LogError> {
        let patience = tokio::time::Instant::now() + self.patience;
        self.read_case_until(tenant, case_id, patience).await
    }

    async fn read_case_for_update(
        &self,
        tenant: &str,
        case_id: Uuid,
    ) -> Result<Vec<Recorded>, LogError> {
        match self.cached(case_id) {
            Some(commits)
                if commits
                    .first()
                    .is_some_and(|r| r.commit.body.tenant == tenant) =>
            {
                Ok(commits)
            }
            Some(_) | None => self.read_case(tenant, case_id).await,
        }
    }

    async fn read_case_for_update_after(
        &self,
        tenant: &str,
        case_id: Uuid,
        version: u64,
    ) -> Result<Vec<Recorded>, LogError> {
        if let Some(newer) = self.cached_after(tenant, case_id, version) {
            return Ok(newer);
        }
        let mut commits = self.read_case(tenant, case_id).await?;
        commits.retain(|r| r.commit.body.version > version);
        Ok(commits)
    }

    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<Recorded>, LogError> {
        let mut following = self.following.lock().await;
        let patience = tokio::time::Instant::now() + self.patience;
        // The tail is taken out while in use and put back only when the call completes: after an
        // error, or a caller dropping this future half-way, messages the consumer already handed
        // over would otherwise be skipped by the next call.
        let Some(mut tail) = self.tail_at(&mut following, after + 1, patience).await else {
            return self.read_by_gets(after, limit, patience).await;
        };
        let mut out = tail.delivered(limit)?;
        if out.is_empty() && tail.pending == 0 && self.head().await? <= after {
            following.tail = Some(tail);
            return Ok(out);
        }
        while out.len() < limit && (out.is_empty() || tail.pending > 0) {
            let message = match tokio::time::timeout(STALE_TAIL, tail.messages.next()).await {
                Ok(Some(Ok(m))) => m,
                Ok(Some(Err(e))) => return Err(unavailable(e)),
                // The head is past `after`, yet the consumer hands over nothing: it did not
                // survive a server restart. Gets read this page (an empty one means the log
                // holds nothing past `after`), and a new consumer is made for the next.
                Ok(None) | Err(_) if out.is_empty() => {
                    tracing::debug!(after, "the tail consumer is stale: making a new one");
                    self.start_making(&mut following, after + 1);
                    return self.read_by_gets(after, limit, patience).await;
                }
                Ok(None) | Err(_) => break,
            };
            tail.received_with_the_rest(&message, &mut out, limit)?;
        }
        tail.handed_over(&out, after);
        following.tail = Some(tail);
        Ok(out)
    }

    async fn read_next(
        &self,
        after: u64,
        limit: usize,
        wait: Duration,
    ) -> Result<Vec<Recorded>, LogError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut following = self.following.lock().await;
        let deadline = tokio::time::Instant::now() + wait;
        let Some(mut tail) = self.tail_at(&mut following, after + 1, deadline).await else {
            return self.read_next_by_gets(after, limit, deadline).await;
        };
        let mut out = tail.delivered(limit)?;
        // Nothing delivered yet: wait for the consumer, without asking the server for its head.
        // (`read_all` asks when nothing is delivered, to tell an empty log from a commit on its
        // way, and `wait_for` asks first thing; under a steady stream of commits a follower would
        // ask every few milliseconds, and each stream info request takes the stream's locks the
        // appends need.) The head is asked only once the consumer has handed over nothing for
        // STALE_TAIL, across calls: one that did not survive a server restart is made anew, and
        // gets read meanwhile.
        while out.is_empty() {
            let now = tokio::time::Instant::now();
            if now >= deadline {
                break;
            }
            let slice = (deadline - now).min(STALE_TAIL);
            match tokio::time::timeout(slice, tail.messages.next()).await {
                Ok(Some(Ok(message))) => {
                    tail.received_with_the_rest(&message, &mut out, limit)?;
                }
                Ok(Some(Err(e))) => return Err(unavailable(e)),
                Ok(None) => {
                    tracing::debug!(after, "the tail consumer ended: making a new one");
                    self.start_making(&mut following, after + 1);
                    return self.read_next_by_gets(after, limit, deadline).await;
                }
                Err(_)
                    if tail.last_received.elapsed() >= STALE_TAIL && self.head().await? > after =>
                {
                    tracing::debug!(after, "the tail consumer is stale: making a new one");
                    self.start_making(&mut following, after + 1);
                    return self.read_next_by_gets(after, limit, deadline).await;
                }
                Err(_) => {}
            }
        }
        // The server said more were pending when it handed the last one over (catching up on a
        // long log): they join the page, up to `limit`, as `read_all` takes them.
        while !out.is_empty() && out.len() < limit && tail.pending > 0 {
            match tokio::time::timeout(STALE_TAIL, tail.messages.next()).await {
                Ok(Some(Ok(message))) => {
                    tail.received_with_the_rest(&message, &mut out, limit)?;
                }
                // What is in hand is handed over; the next call meets the trouble, if it lasts.
                Ok(Some(Err(_)) | None) | Err(_) => break,
            }
        }
        tail.handed_over(&out, after);
        following.tail = Some(tail);
        Ok(out)
    }

    async fn read_position(&self, position: u64) -> Result<Option<Recorded>, LogError> {
        let patience = tokio::time::Instant::now() + self.patience;
        self.read_position_until(position, patience).await
    }

    async fn head(&self) -> Result<u64, LogError> {
        let mut stream = self.stream.clone();
        let info = tokio::time::timeout(REQUEST_WAIT, stream.info())
            .await
            .map_err(|_| unanswered_within("a stream info request", REQUEST_WAIT))?
            .map_err(unavailable)?;
        Ok(info.state.last_sequence)
    }

    fn own_reader(&self) -> Option<Arc<dyn EventLog>> {
        Some(Arc::new(Self {
            js: self.js.clone(),
            stream: self.stream.clone(),
            root: self.root.clone(),
            patience: self.patience,
            cases: Mutex::new(lru::LruCache::new(CACHED_CASES)),
            following: tokio::sync::Mutex::default(),
        }))
    }

    async fn wait_for(&self, after: u64, timeout: Duration) -> Result<u64, LogError> {
        let head = self.head().await?;
        if head > after {
            return Ok(head);
        }
        let mut following = self.following.lock().await;
        let deadline = tokio::time::Instant::now() + timeout;
        let Some(mut tail) = self.tail_at(&mut following, after + 1, deadline).await else {
            // No consumer yet: a get asks for the next commit until the deadline.
            loop {
                let now = tokio::time::Instant::now();
                if let Some(next) = self.read_by_gets(after, 1, now).await?.first() {
                    return Ok(next.position);
                }
                if now >= deadline {
                    return Ok(after);
                }
                tokio::time::sleep_until(deadline.min(now + GETS_PAUSE)).await;
            }
        };
        if let Some(last) = tail.buffer.back() {
            let position = last.position;
            following.tail = Some(tail);
            return Ok(position);
        }
        // Waited for in slices: between them the head is looked at, and a consumer that missed
        // a commit (it did not survive a server restart) is dropped for the next read to remake.
        let seen = loop {
            let now = tokio::time::Instant::now();
            let slice = deadline.saturating_duration_since(now).min(STALE_TAIL);
            match tokio::time::timeout(slice, tail.messages.next()).await {
                Err(_) if tokio::time::Instant::now() < deadline => {
                    let head = self.head().await?;
                    if head > after {
                        tracing::debug!(after, "the tail consumer is stale: dropped");
                        return Ok(head);
                    }
                }
                Ok(Some(Ok(message))) => {
                    if let Some(recorded) = tail.received(&message)? {
                        let position = recorded.position;
                        tail.buffer.push_back(recorded);
                        break position;
                    }
                }
                Ok(Some(Err(e))) => return Err(unavailable(e)),
                Ok(None) | Err(_) => break after,
            }
        };
        following.tail = Some(tail);
        Ok(seen)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{JetStreamConfig, JetStreamLog, Making, redacted, tail_consumer};
    use crate::contract::commit;
    use crate::{ChainHash, EventLog};

    /// A consumer whose creation was answered only after the reader had read on by gets
    /// (slow, as during an election) starts before where the reader is: what it hands over
    /// again is passed over, and the reader reads on from where it was, once each.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_consumer_made_late_passes_over_what_gets_read_meanwhile() {
        let server = docket_testkit::NatsServer::start();
        let log = JetStreamLog::connect(&server.url(), JetStreamConfig::default())
            .await
            .unwrap();
        let case = uuid::Uuid::now_v7();
        let mut prev = ChainHash::genesis();
        let mut append = async |version: u64| {
            let c = commit("t1", case, version, prev.clone());
            log.append(&c).await.unwrap();
            prev = c.hash.clone();
        };
        for version in 1..=3 {
            append(version).await;
        }
        // A consumer from position 1 whose creation is held back.
        let (answer, answered) = tokio::sync::oneshot::channel::<()>();
        let (stream, subjects) = (log.stream.clone(), log.every_subject());
        log.following.lock().await.making = Some(Making {
            start: 1,
            made: tokio::spawn(async move {
                answered.await.ok();
                tail_consumer(stream, subjects, 1).await
            }),
        });
        let read = log.read_all(0, 10).await.unwrap();
        assert_eq!(
            read.iter().map(|r| r.position).collect::<Vec<_>>(),
            [1, 2, 3]
        );

        append(4).await;
        answer.send(()).unwrap();
        let began = std::time::Instant::now();
        while !log
            .following
            .lock()
            .await
            .making
            .as_ref()
            .unwrap()
            .made
            .is_finished()
        {
            assert!(
                began.elapsed() < Duration::from_secs(10),
                "no consumer made"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let page = log.read_next(3, 10, Duration::from_secs(2)).await.unwrap();
        assert_eq!(page.iter().map(|r| r.position).collect::<Vec<_>>(), [4]);
        let following = log.following.lock().await;
        let tail = following
            .tail
            .as_ref()
            .expect("read through the consumer made late");
        assert_eq!((tail.read_already, tail.last_delivered), (3, 4));
    }

    #[test]
    fn a_password_in_an_address_is_never_shown() {
        assert_eq!(
            redacted("nats://docket:s3cret@nats-0:4222,nats://nats-1:4222"),
            "nats://docket:***@nats-0:4222,nats://nats-1:4222"
        );
        assert_eq!(redacted("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
    }
}
