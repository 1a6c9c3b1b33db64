//! The tenant's directory on the log: one stream of commits per tenant (kind `directory`),
//! hash-chained and verified like a case's. The admin keeps it; every filing and action is
//! checked against it; a data directory made before it existed is seeded from the names its
//! cases use.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use docket_domain::TenantId;
use docket_domain::directory::{self, Directory, DirectoryCommand, DirectoryEvent};
use docket_eventlog::{
    Actor as LogActor, Appended, ChainHash, CommandInfo, CommitBody, EventRecord, LogError,
    Recorded,
};
use jiff::Timestamp;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{Actor, CommandError, CommandService, MAX_ATTEMPTS};

pub use docket_domain::directory::STREAM_KIND as DIRECTORY_KIND;

/// The namespace of the directory streams' ids (UUIDv5 of the tenant).
const STREAM_NAMESPACE: Uuid = Uuid::from_u128(0x9b2e_41d7_5c83_4f6a_b1e0_7d24_c8a3_5f19);
/// The namespace of the seeding commit's id (UUIDv5 of the tenant): one seeding per tenant.
const SEED_NAMESPACE: Uuid = Uuid::from_u128(0x2c7a_9e15_0b4d_4e83_a6f2_d91c_37b8_e054);
/// The namespace of admins' idempotency keys on the directory.
const KEY_NAMESPACE: Uuid = Uuid::from_u128(0x51d8_03ab_e6f7_4c29_8d1e_a4b0_9c62_f7d3);

/// Who the seeding commit names as its actor.
pub const SEED_ACTOR: &str = "directory-seed";

/// The id of the stream a tenant's directory is kept in.
pub fn directory_stream(tenant: &TenantId) -> Uuid {
    Uuid::new_v5(&STREAM_NAMESPACE, tenant.as_str().as_bytes())
}

/// A tenant's directory as far as the log holds it: its commits' count and last hash, and what
/// they made of it.
#[derive(Debug, Clone)]
pub struct KeptDirectory {
    pub version: u64,
    pub last_hash: ChainHash,
    pub directory: Arc<Directory>,
}

impl Default for KeptDirectory {
    fn default() -> Self {
        Self {
            version: 0,
            last_hash: ChainHash::genesis(),
            directory: Arc::default(),
        }
    }
}

/// How long a directory read from the log serves before the log is asked again: a change the
/// admin makes through another replica is seen here within this long (one through this one, at
/// once). Asking every command would cost JetStream a round trip to the stream leader each.
const FRESH_FOR: Duration = Duration::from_secs(1);

/// The directories read so far, by tenant, with when the log was last asked: each read asks it
/// only for what came after.
#[derive(Debug, Default)]
pub(crate) struct DirectoryCache {
    tenants: Mutex<HashMap<TenantId, (KeptDirectory, Instant)>>,
}

impl DirectoryCache {
    /// The directory held, and whether it was read from the log within `FRESH_FOR`.
    fn get(&self, tenant: &TenantId) -> (KeptDirectory, bool) {
        self.tenants
            .lock()
            .expect("the directory cache is never poisoned")
            .get(tenant)
            .map_or_else(
                || (KeptDirectory::default(), false),
                |(kept, read_at)| (kept.clone(), read_at.elapsed() < FRESH_FOR),
            )
    }

    /// Holds `kept` as the log had it just now, unless a later version is held already.
    fn put(&self, tenant: &TenantId, kept: &KeptDirectory) {
        let mut tenants = self
            .tenants
            .lock()
            .expect("the directory cache is never poisoned");
        match tenants.get_mut(tenant) {
            Some((held, read_at)) if held.version >= kept.version => {
                if held.version == kept.version {
                    *read_at = Instant::now();
                }
            }
            _ => {
                tenants.insert(tenant.clone(), (kept.clone(), Instant::now()));
            }
        }
    }
}

/// What a change to the directory recorded.
#[derive(Debug, Clone)]
pub struct DirectoryOutcome {
    pub commit_id: Uuid,
    /// The directory's version after the commit.
    pub version: u64,
    /// The commit's global log position.
    pub position: u64,
    pub recorded_at: Timestamp,
    pub events: Vec<EventRecord>,
    pub directory: Arc<Directory>,
    /// True when this is the outcome of an earlier request with the same idempotency key.
    pub replayed: bool,
}

fn corrupt(tenant: &TenantId, reason: impl std::fmt::Display) -> CommandError {
    CommandError::Corrupt {
        case_id: directory_stream(tenant),
        reason: format!("the directory of {tenant}: {reason}"),
    }
}

fn decode(tenant: &TenantId, recorded: &Recorded) -> Result<Vec<DirectoryEvent>, CommandError> {
    recorded
        .commit
        .body
        .events
        .iter()
        .map(|r| DirectoryEvent::from_record(&r.event_type, r.schema_version, &r.data))
        .collect::<Result<_, _>>()
        .map_err(|e| corrupt(tenant, e))
}

/// The directory after `events`.
fn fold(
    tenant: &TenantId,
    mut directory: Directory,
    events: &[DirectoryEvent],
) -> Result<Directory, CommandError> {
    for event in events {
        directory = directory::evolve(directory, event).map_err(|e| corrupt(tenant, e))?;
    }
    Ok(directory)
}

fn record(event: &DirectoryEvent) -> EventRecord {
    let (event_type, schema_version, data) = event.to_record();
    EventRecord {
        event_type,
        schema_version,
        data,
    }
}

impl CommandService {
    /// The tenant's directory as the log holds it (as of at most a second ago; at once for the
    /// changes made through this service).
    pub async fn directory(&self, tenant: &TenantId) -> Result<KeptDirectory, CommandError> {
        self.read_directory(tenant, false).await
    }

    /// The tenant's directory from the cache while it is fresh (unless `now`), else as the log
    /// holds it now.
    pub(crate) async fn read_directory(
        &self,
        tenant: &TenantId,
        now: bool,
    ) -> Result<KeptDirectory, CommandError> {
        let (mut kept, fresh) = self.directories.get(tenant);
        if fresh && !now {
            return Ok(kept);
        }
        let newer = self
            .log
            .read_case_after(tenant.as_str(), directory_stream(tenant), kept.version)
            .await?;
        if newer.is_empty() {
            self.directories.put(tenant, &kept);
            return Ok(kept);
        }
        let mut directory = Arc::unwrap_or_clone(kept.directory);
        for recorded in &newer {
            directory = fold(tenant, directory, &decode(tenant, recorded)?)?;
            kept.version = recorded.commit.body.version;
            kept.last_hash = recorded.commit.hash.clone();
        }
        kept.directory = Arc::new(directory);
        self.directories.put(tenant, &kept);
        Ok(kept)
    }

    /// Keeps the directory: an admin's change, decided against the directory as it stands and
    /// appended to its stream. The first change to a tenant's directory records the shipped
    /// taxonomies with it. A retry with the same idempotency key returns the first outcome.
    #[tracing::instrument(skip_all, fields(tenant = %actor.tenant, action = command.action()), err(level = "debug"))]
    pub async fn keep_directory(
        &self,
        actor: &Actor,
        command: &DirectoryCommand,
        idempotency_key: Option<&str>,
    ) -> Result<DirectoryOutcome, CommandError> {
        let tenant = &actor.tenant;
        if let Some(quarantine) = &self.quarantine
            && let Some(position) = quarantine
                .quarantined_at(tenant, directory_stream(tenant))
                .await?
        {
            return Err(CommandError::DirectoryQuarantined { position });
        }
        // A directory names no one: its fingerprint needs no key, so that replicas with key
        // stores of their own recognise each other's retries.
        let request_hash = crate::Fingerprint::unkeyed(command);
        let commit_id = match idempotency_key {
            Some(key) => {
                let name = format!("{}\n{}\ndirectory\n{}", actor.tenant, actor.id, key);
                let id = Uuid::new_v5(&KEY_NAMESPACE, name.as_bytes());
                if let Some(earlier) = self.find_directory_commit(tenant, id).await? {
                    return self.replay_directory(tenant, earlier, &request_hash).await;
                }
                id
            }
            None => Uuid::now_v7(),
        };
        for _ in 0..MAX_ATTEMPTS {
            // Changes are decided on the directory as the log holds it now.
            let kept = self.read_directory(tenant, true).await?;
            let (base, mut events) = if kept.version == 0 {
                let shipped = directory::seed_from_use([], [], [], []);
                let base = fold(tenant, Directory::default(), std::slice::from_ref(&shipped))?;
                (base, vec![shipped])
            } else {
                ((*kept.directory).clone(), Vec::new())
            };
            events.extend(directory::decide(&base, command, actor.role)?);
            let actor = LogActor {
                id: actor.id.clone(),
                role: actor.role.to_string(),
                unit: actor.unit.as_ref().map(ToString::to_string),
            };
            let info = CommandInfo {
                name: command.action().to_owned(),
                request_hash: request_hash.keyed.clone(),
            };
            match self
                .append_directory(tenant, &kept, commit_id, events, actor, info)
                .await?
            {
                DirectoryAppend::Recorded(outcome) => return Ok(outcome),
                DirectoryAppend::Duplicate(position) => {
                    let earlier = self.log.read_position(position).await?.ok_or_else(|| {
                        corrupt(tenant, format!("no commit at position {position}"))
                    })?;
                    return self.replay_directory(tenant, earlier, &request_hash).await;
                }
                DirectoryAppend::Conflict => {
                    tracing::debug!("the directory moved on; deciding again");
                }
            }
        }
        Err(CommandError::Contention)
    }

    /// Adds to the tenant's directory, in its one seeding commit, what `seeded` holds that the
    /// directory does not (a seeding adds entries, never changes one): `None` when there is
    /// nothing to add, or when the tenant's seeding is recorded already (by another replica).
    pub async fn seed_directory(
        &self,
        tenant: &TenantId,
        seeded: DirectoryEvent,
        reason: &str,
    ) -> Result<Option<DirectoryOutcome>, CommandError> {
        let commit_id = Uuid::new_v5(&SEED_NAMESPACE, tenant.as_str().as_bytes());
        for _ in 0..MAX_ATTEMPTS {
            let kept = self.read_directory(tenant, true).await?;
            let after = fold(
                tenant,
                (*kept.directory).clone(),
                std::slice::from_ref(&seeded),
            )?;
            if after == *kept.directory {
                return Ok(None);
            }
            let info = CommandInfo {
                name: "seed".to_owned(),
                request_hash: hex::encode(Sha256::digest(reason.as_bytes())),
            };
            let actor = LogActor {
                id: SEED_ACTOR.to_owned(),
                role: "system".to_owned(),
                unit: None,
            };
            match self
                .append_directory(tenant, &kept, commit_id, vec![seeded.clone()], actor, info)
                .await?
            {
                DirectoryAppend::Recorded(outcome) => return Ok(Some(outcome)),
                DirectoryAppend::Duplicate(_) => return Ok(None),
                DirectoryAppend::Conflict => {
                    tracing::debug!("the directory moved on; seeding again");
                }
            }
        }
        Err(CommandError::Contention)
    }

    async fn append_directory(
        &self,
        tenant: &TenantId,
        kept: &KeptDirectory,
        commit_id: Uuid,
        events: Vec<DirectoryEvent>,
        actor: LogActor,
        command: CommandInfo,
    ) -> Result<DirectoryAppend, CommandError> {
        let directory = fold(tenant, (*kept.directory).clone(), &events)?;
        let now = self.clock.now();
        let commit = CommitBody {
            hash_scheme: docket_eventlog::HASH_SCHEME,
            commit_id,
            tenant: tenant.to_string(),
            case_id: directory_stream(tenant),
            case_kind: DIRECTORY_KIND.to_owned(),
            version: kept.version + 1,
            events: events.iter().map(record).collect(),
            actor,
            command,
            correlation_id: commit_id,
            causation_id: None,
            recorded_at: now,
        }
        .seal(kept.last_hash.clone());
        match self.append(&commit).await {
            Ok(Appended {
                position,
                duplicate: false,
            }) => {
                let directory = Arc::new(directory);
                self.directories.put(
                    tenant,
                    &KeptDirectory {
                        version: commit.body.version,
                        last_hash: commit.hash.clone(),
                        directory: directory.clone(),
                    },
                );
                Ok(DirectoryAppend::Recorded(DirectoryOutcome {
                    commit_id,
                    version: commit.body.version,
                    position,
                    recorded_at: now,
                    events: commit.body.events,
                    directory,
                    replayed: false,
                }))
            }
            Ok(Appended {
                position,
                duplicate: true,
            }) => Ok(DirectoryAppend::Duplicate(position)),
            Err(LogError::Conflict { .. }) => Ok(DirectoryAppend::Conflict),
            Err(e) => Err(e.into()),
        }
    }

    async fn find_directory_commit(
        &self,
        tenant: &TenantId,
        commit_id: Uuid,
    ) -> Result<Option<Recorded>, CommandError> {
        Ok(self
            .log
            .read_case(tenant.as_str(), directory_stream(tenant))
            .await?
            .into_iter()
            .find(|r| r.commit.body.commit_id == commit_id))
    }

    /// The outcome of an earlier change with the same idempotency key, if it was the same
    /// change.
    async fn replay_directory(
        &self,
        tenant: &TenantId,
        earlier: Recorded,
        request_hash: &crate::Fingerprint,
    ) -> Result<DirectoryOutcome, CommandError> {
        let body = &earlier.commit.body;
        if body.tenant != tenant.as_str()
            || body.case_id != directory_stream(tenant)
            || !crate::same_request(
                &body.command.request_hash,
                &request_hash.keyed,
                &request_hash.bare,
            )
        {
            return Err(CommandError::KeyReused);
        }
        let commits = self
            .log
            .read_case(tenant.as_str(), directory_stream(tenant))
            .await?;
        let mut directory = Directory::default();
        for recorded in commits
            .iter()
            .take_while(|r| r.position <= earlier.position)
        {
            directory = fold(tenant, directory, &decode(tenant, recorded)?)?;
        }
        Ok(DirectoryOutcome {
            commit_id: body.commit_id,
            version: body.version,
            position: earlier.position,
            recorded_at: body.recorded_at,
            events: body.events.clone(),
            directory: Arc::new(directory),
            replayed: true,
        })
    }
}

/// What the log made of a directory commit.
enum DirectoryAppend {
    Recorded(DirectoryOutcome),
    Duplicate(u64),
    Conflict,
}
