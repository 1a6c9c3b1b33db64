//! Personal data protected by design (PIPL): a key per person, kept apart from the log.
//!
//! The command service seals every person an event names ([`Vault::seal`]) before the commit is
//! written, so the log holds only `{"person", "sealed"}`: AES-256-GCM under the person's own key,
//! bound to tenant and person. The keys live in a vault: a key file (`keys.sqlite`) in the
//! embedded mode, tables in the read-model database on Postgres. Destroying a person's key
//! ([`Vault::erase`]) makes the details unreadable everywhere without touching the log or its hash
//! chains. The same person is recognised across cases by a keyed hash (HMAC-SHA-256 under a
//! per-tenant secret) of the resident ID number, never the number itself. Reads show people as
//! the viewer's [`Disclosure`] allows ([`Vault::render`]) and record every view in clear.

use std::path::Path;
use std::str::FromStr;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use docket_domain::person::{
    Disclosure, PersonId, PersonalDetails, SEALED_TEXT, SealedPerson, is_sealed_text, mask_text,
};
use hmac::{Hmac, Mac};
use jiff::Timestamp;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::Sha256;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Row, SqlitePool};
use uuid::Uuid;

/// What went wrong with the vault.
#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    #[error("the key store failed: {0}")]
    Store(#[from] sqlx::Error),
    #[error("no randomness for a key: {0}")]
    Random(String),
    #[error("sealed personal data of person {person} does not open: {reason}")]
    Corrupt { person: PersonId, reason: String },
    #[error("a sealed text of case {case} does not open: {reason}")]
    CorruptText { case: Uuid, reason: String },
    /// The key store could not finish what was asked in time; asking again completes it.
    #[error("the key store is busy: {0}")]
    Busy(String),
}

impl PrivacyError {
    /// Whether the key store could not be reached (down, restarting, failing over, busy) rather
    /// than found wanting: asking again later may succeed.
    pub fn is_unavailable(&self) -> bool {
        match self {
            PrivacyError::Busy(_) => true,
            PrivacyError::Store(e) => match e {
                sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed => true,
                // Connection exceptions (08…), and a server shutting down or starting (57P…).
                sqlx::Error::Database(db) => db
                    .code()
                    .is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
                _ => false,
            },
            _ => false,
        }
    }
}

/// The key store and the seal.
#[derive(Debug, Clone)]
pub struct Vault {
    store: Store,
    /// The tenants' secrets read so far: they never change once made.
    secrets: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, Vec<u8>>>>,
    /// Case keys used lately: a command seals its texts and its answer shows them under the same
    /// key, and a case being worked on is acted on again soon.
    case_keys: std::sync::Arc<std::sync::Mutex<RecentCaseKeys>>,
}

/// How long a case key read from the store is used without asking it again. An erasure made in
/// this process forgets every key at once; one made by another process (`docket erase-person`
/// while the server runs, another replica) reaches this one's reads within this time. A text
/// sealed meanwhile under the destroyed key reads as erased, as it would had it been sealed just
/// before the erasure.
pub const CASE_KEY_FRESHNESS: std::time::Duration = std::time::Duration::from_secs(1);

/// How many cases' keys are kept; the one used least recently goes first.
const RECENT_CASE_KEYS: usize = 4096;

/// A case key as the store gave it, and when.
type ReadKey<K> = (std::time::Instant, K);
/// A case's key, by tenant and case.
type CaseKey = (String, Uuid);
/// One generation of a case's key, by tenant, case and generation.
type GenerationKey = (String, Uuid, i64);
/// A key: 32 bytes.
type Key = [u8; 32];

/// Case keys as the store last gave them, each with when it was read.
#[derive(Debug)]
struct RecentCaseKeys {
    /// Each case's current generation and key (the latest, not destroyed).
    current: lru::LruCache<CaseKey, ReadKey<(i64, Key)>>,
    /// Any generation's key, `None` once destroyed.
    generations: lru::LruCache<GenerationKey, ReadKey<Option<Key>>>,
    /// How many times this process began or finished an erasure: a key read from the store
    /// before one is not kept after it.
    erasures: u64,
}

impl RecentCaseKeys {
    fn new() -> RecentCaseKeys {
        let capacity = std::num::NonZeroUsize::new(RECENT_CASE_KEYS).expect("not zero");
        RecentCaseKeys {
            current: lru::LruCache::new(capacity),
            generations: lru::LruCache::new(capacity),
            erasures: 0,
        }
    }

    fn current(&mut self, tenant: &str, case: Uuid) -> Option<(i64, [u8; 32])> {
        let key = (tenant.to_owned(), case);
        match self.current.get(&key) {
            Some((at, current)) if at.elapsed() < CASE_KEY_FRESHNESS => Some(*current),
            Some(_) => {
                self.current.pop(&key);
                None
            }
            None => None,
        }
    }

    fn generation(
        &mut self,
        tenant: &str,
        case: Uuid,
        generation: i64,
    ) -> Option<Option<[u8; 32]>> {
        let key = (tenant.to_owned(), case, generation);
        match self.generations.get(&key) {
            Some((at, k)) if at.elapsed() < CASE_KEY_FRESHNESS => Some(*k),
            Some(_) => {
                self.generations.pop(&key);
                None
            }
            None => None,
        }
    }

    fn keep_current(
        &mut self,
        read: u64,
        tenant: &str,
        case: Uuid,
        generation: i64,
        key: [u8; 32],
    ) {
        if read != self.erasures {
            return;
        }
        let at = std::time::Instant::now();
        self.current
            .put((tenant.to_owned(), case), (at, (generation, key)));
        self.generations
            .put((tenant.to_owned(), case, generation), (at, Some(key)));
    }

    fn keep_generation(
        &mut self,
        read: u64,
        tenant: &str,
        case: Uuid,
        generation: i64,
        key: Option<[u8; 32]>,
    ) {
        if read != self.erasures {
            return;
        }
        self.generations.put(
            (tenant.to_owned(), case, generation),
            (std::time::Instant::now(), key),
        );
    }

    fn forget_all(&mut self) {
        self.erasures += 1;
        self.current.clear();
        self.generations.clear();
    }
}

#[derive(Debug, Clone)]
enum Store {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The same statement against either pool (both take `$n` parameters).
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            Store::Sqlite($pool) => $body,
            Store::Postgres($pool) => $body,
        }
    };
}

/// How a keyed fingerprint begins; fingerprints written before them are 64 bare hex digits.
pub const KEYED_FINGERPRINT: &str = "hmac-sha256:";

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS person_keys (
        tenant TEXT NOT NULL, person TEXT NOT NULL, key TEXT NOT NULL, created_at BIGINT NOT NULL,
        PRIMARY KEY (tenant, person))",
    "CREATE TABLE IF NOT EXISTS person_index (
        tenant TEXT NOT NULL, id_hash TEXT NOT NULL, person TEXT NOT NULL,
        PRIMARY KEY (tenant, id_hash))",
    "CREATE TABLE IF NOT EXISTS person_erasures (
        tenant TEXT NOT NULL, person TEXT NOT NULL, erased_at BIGINT NOT NULL,
        PRIMARY KEY (tenant, person))",
    "CREATE TABLE IF NOT EXISTS person_views (
        tenant TEXT NOT NULL, person TEXT NOT NULL, case_id TEXT, viewer TEXT NOT NULL,
        role TEXT NOT NULL, via TEXT NOT NULL, viewed_at BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS person_views_by_person ON person_views (tenant, person)",
    "CREATE TABLE IF NOT EXISTS person_secrets (
        tenant TEXT NOT NULL PRIMARY KEY, secret TEXT NOT NULL)",
    // A case's own key, for its free texts (descriptions, notes), and the people it names: a
    // person's erasure destroys the keys of the cases that name them.
    // Generations: once a person the case names is erased, its key is destroyed (the row stays,
    // its key null, so the texts sealed under it read as erased), and the case's later texts go
    // under a new generation.
    "CREATE TABLE IF NOT EXISTS case_keys (
        tenant TEXT NOT NULL, case_id TEXT NOT NULL, generation BIGINT NOT NULL, key TEXT,
        created_at BIGINT NOT NULL, PRIMARY KEY (tenant, case_id, generation))",
    "CREATE TABLE IF NOT EXISTS case_people (
        tenant TEXT NOT NULL, person TEXT NOT NULL, case_id TEXT NOT NULL,
        PRIMARY KEY (tenant, person, case_id))",
    // The keys residents' apps file with (Open311's `api_key`): kept as their SHA-256 only.
    "CREATE TABLE IF NOT EXISTS api_keys (
        id TEXT NOT NULL PRIMARY KEY, tenant TEXT NOT NULL, name TEXT NOT NULL,
        community TEXT NOT NULL, key_hash TEXT NOT NULL UNIQUE, created_at BIGINT NOT NULL,
        revoked_at BIGINT)",
];

/// A column's type in the vault's tables, for copying rows between vaults.
#[derive(Debug, Clone, Copy)]
enum Column {
    Text,
    Int,
}

/// Every table of [`SCHEMA`] with its columns, in order: what a backup copies.
const TABLES: &[(&str, &[(&str, Column)])] = {
    use Column::{Int, Text};
    &[
        (
            "person_keys",
            &[
                ("tenant", Text),
                ("person", Text),
                ("key", Text),
                ("created_at", Int),
            ],
        ),
        (
            "person_index",
            &[("tenant", Text), ("id_hash", Text), ("person", Text)],
        ),
        (
            "person_erasures",
            &[("tenant", Text), ("person", Text), ("erased_at", Int)],
        ),
        (
            "person_views",
            &[
                ("tenant", Text),
                ("person", Text),
                ("case_id", Text),
                ("viewer", Text),
                ("role", Text),
                ("via", Text),
                ("viewed_at", Int),
            ],
        ),
        ("person_secrets", &[("tenant", Text), ("secret", Text)]),
        (
            "case_keys",
            &[
                ("tenant", Text),
                ("case_id", Text),
                ("generation", Int),
                ("key", Text),
                ("created_at", Int),
            ],
        ),
        (
            "case_people",
            &[("tenant", Text), ("person", Text), ("case_id", Text)],
        ),
        (
            "api_keys",
            &[
                ("id", Text),
                ("tenant", Text),
                ("name", Text),
                ("community", Text),
                ("key_hash", Text),
                ("created_at", Int),
                ("revoked_at", Int),
            ],
        ),
    ]
};

/// One value of a vault row, as copied.
#[derive(Debug, Clone)]
enum Cell {
    Text(Option<String>),
    Int(Option<i64>),
}

fn cells<R: Row>(row: &R, columns: &[(&str, Column)]) -> Result<Vec<Cell>, sqlx::Error>
where
    usize: sqlx::ColumnIndex<R>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    columns
        .iter()
        .enumerate()
        .map(|(i, (_, column))| {
            Ok(match column {
                Column::Text => Cell::Text(row.try_get(i)?),
                Column::Int => Cell::Int(row.try_get(i)?),
            })
        })
        .collect()
}

/// How an API key begins, so that one found in a log or a paste is recognised for what it is.
pub const API_KEY_PREFIX: &str = "dk311_";

/// An app's API key as the vault keeps it: never the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKey {
    pub id: Uuid,
    pub tenant: String,
    /// The app it was issued to.
    pub name: String,
    /// The community its reports go to when their place is in no grid of the tenant.
    pub community: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// The hash an API key is kept and found by. A key is 32 random bytes, so a plain SHA-256 is
/// enough: there is nothing to guess.
fn api_key_hash(key: &str) -> String {
    use sha2::Digest;
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// What a read shows in place of a text whose case key is destroyed (a person it names erased).
pub const ERASED_TEXT: &str = "[erased]";
/// What a read shows in place of a text that does not open (not sealed for this case).
pub const UNREADABLE_TEXT: &str = "[unreadable]";

/// One view of a person's details in clear: who saw whose, when, through what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct View {
    pub tenant: String,
    pub person: PersonId,
    pub case_id: Option<Uuid>,
    pub viewer: String,
    pub role: String,
    /// The read that showed them: `case`, `history`, `filing`, `person-file`.
    pub via: String,
    pub viewed_at: Timestamp,
}

fn random<const N: usize>() -> Result<[u8; N], PrivacyError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| PrivacyError::Random(e.to_string()))?;
    Ok(bytes)
}

/// AES-256-GCM under `key` with a random nonce, bound to `aad`: base64 (URL-safe, unpadded) of
/// the nonce and the ciphertext. The outer error is a failure to get randomness, the inner one
/// the cipher's.
fn encrypt(
    key: &[u8; 32],
    aad: &str,
    plaintext: &[u8],
) -> Result<Result<String, String>, PrivacyError> {
    let nonce = random::<12>()?;
    Ok(Aes256Gcm::new(&(*key).into())
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: aad.as_bytes(),
            },
        )
        .map(|ciphertext| {
            let mut sealed = nonce.to_vec();
            sealed.extend(ciphertext);
            URL_SAFE_NO_PAD.encode(sealed)
        })
        .map_err(|e| e.to_string()))
}

/// What `encrypt` sealed, opened and checked against `aad`.
fn decrypt(key: &[u8; 32], aad: &str, sealed: &str) -> Result<Vec<u8>, String> {
    let bytes = URL_SAFE_NO_PAD
        .decode(sealed)
        .ok()
        .filter(|b| b.len() > 12)
        .ok_or_else(|| "not base64 of a nonce and a ciphertext".to_owned())?;
    let (nonce, ciphertext) = bytes.split_at(12);
    Aes256Gcm::new(&(*key).into())
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|e| e.to_string())
}

fn micros(t: Timestamp) -> i64 {
    t.as_microsecond()
}

impl Vault {
    /// The key file of the embedded mode (created if missing; synchronous writes, so a key is on
    /// disk before the commit that needs it is written).
    pub async fn open(path: impl AsRef<Path>) -> Result<Vault, PrivacyError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            // A deleted key's bytes are overwritten with zeros, not left in a free page.
            .pragma("secure_delete", "ON");
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        Self::init(Store::Sqlite(pool)).await
    }

    /// A vault held in memory: for tests, gone with the process.
    pub async fn in_memory() -> Result<Vault, PrivacyError> {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect("sqlite::memory:")
            .await?;
        Self::init(Store::Sqlite(pool)).await
    }

    /// Tables in a Postgres database (the read model's), beside but apart from the read model:
    /// a rebuild never touches them.
    pub async fn connect(url: &str) -> Result<Vault, PrivacyError> {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .connect(url)
            .await?;
        Self::init(Store::Postgres(pool)).await
    }

    async fn init(store: Store) -> Result<Vault, PrivacyError> {
        for statement in SCHEMA {
            on_pool!(&store, pool => sqlx::query(*statement).execute(pool).await.map(|r| r.rows_affected()))?;
        }
        Ok(Vault {
            store,
            secrets: std::sync::Arc::default(),
            case_keys: std::sync::Arc::new(std::sync::Mutex::new(RecentCaseKeys::new())),
        })
    }

    /// The tenant's secret for hashing ID numbers and requests, made on first use.
    async fn tenant_secret(&self, tenant: &str) -> Result<Vec<u8>, PrivacyError> {
        if let Some(secret) = self.secrets.lock().expect("secrets").get(tenant) {
            return Ok(secret.clone());
        }
        let fresh = hex::encode(random::<32>()?);
        on_pool!(&self.store, pool => sqlx::query(
            "INSERT INTO person_secrets (tenant, secret) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(tenant).bind(&fresh).execute(pool).await.map(|r| r.rows_affected()))?;
        let secret: String = on_pool!(&self.store, pool => sqlx::query(
            "SELECT secret FROM person_secrets WHERE tenant = $1")
            .bind(tenant).fetch_one(pool).await?.try_get(0))?;
        let secret = hex::decode(secret).unwrap_or_default();
        self.secrets
            .lock()
            .expect("secrets")
            .insert(tenant.to_owned(), secret.clone());
        Ok(secret)
    }

    /// A request's fingerprint, by which a retry with the same idempotency key is told from
    /// another request reusing it: keyed with the tenant's secret (under a key of its own,
    /// derived from it), so that the log, which keeps fingerprints for ever, holds nothing a
    /// guess at a request's personal data could be confirmed against.
    pub async fn fingerprint(&self, tenant: &str, request: &[u8]) -> Result<String, PrivacyError> {
        let secret = self.tenant_secret(tenant).await?;
        let mut derive =
            <Hmac<Sha256> as Mac>::new_from_slice(&secret).expect("HMAC takes any key length");
        derive.update(b"docket request fingerprint");
        let key = derive.finalize().into_bytes();
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("HMAC takes any key length");
        mac.update(request);
        Ok(format!(
            "{KEYED_FINGERPRINT}{}",
            hex::encode(mac.finalize().into_bytes())
        ))
    }

    /// The keyed hash that recognises a person by resident ID number.
    async fn id_hash(&self, tenant: &str, id_number: &str) -> Result<String, PrivacyError> {
        let secret = self.tenant_secret(tenant).await?;
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&secret).expect("HMAC takes any key length");
        mac.update(id_number.trim().to_uppercase().as_bytes());
        Ok(hex::encode(mac.finalize().into_bytes()))
    }

    async fn key(&self, tenant: &str, person: PersonId) -> Result<Option<[u8; 32]>, PrivacyError> {
        let key: Option<String> = on_pool!(&self.store, pool => sqlx::query(
            "SELECT key FROM person_keys WHERE tenant = $1 AND person = $2")
            .bind(tenant).bind(person.to_string()).fetch_optional(pool).await?
            .map(|r| r.try_get(0)).transpose())?;
        Ok(key.and_then(|k| hex::decode(k).ok()?.try_into().ok()))
    }

    async fn insert_key(
        &self,
        tenant: &str,
        person: PersonId,
        key: &[u8; 32],
    ) -> Result<(), PrivacyError> {
        on_pool!(&self.store, pool => sqlx::query(
            "INSERT INTO person_keys (tenant, person, key, created_at) VALUES ($1, $2, $3, $4)")
            .bind(tenant).bind(person.to_string()).bind(hex::encode(key))
            .bind(micros(Timestamp::now())).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// The person these details are, with their key: the one already known by this ID number, or
    /// a new person (always new without an ID number).
    async fn enrol(
        &self,
        tenant: &str,
        id_number: Option<&str>,
    ) -> Result<(PersonId, [u8; 32]), PrivacyError> {
        let Some(id_number) = id_number.filter(|n| !n.trim().is_empty()) else {
            let (person, key) = (PersonId::new(), random::<32>()?);
            self.insert_key(tenant, person, &key).await?;
            return Ok((person, key));
        };
        let hash = self.id_hash(tenant, id_number).await?;
        for _ in 0..3 {
            let known: Option<String> = on_pool!(&self.store, pool => sqlx::query(
                "SELECT person FROM person_index WHERE tenant = $1 AND id_hash = $2")
                .bind(tenant).bind(&hash).fetch_optional(pool).await?
                .map(|r| r.try_get(0)).transpose())?;
            if let Some(known) = known.and_then(|p| PersonId::from_str(&p).ok()) {
                if let Some(key) = self.key(tenant, known).await? {
                    return Ok((known, key));
                }
                // Erased meanwhile: the index row goes with it; enrol afresh.
                self.forget_index(tenant, known).await?;
                continue;
            }
            // Key first, then the index entry: a key without an entry is harmless.
            let (person, key) = (PersonId::new(), random::<32>()?);
            self.insert_key(tenant, person, &key).await?;
            let inserted = on_pool!(&self.store, pool => sqlx::query(
                "INSERT INTO person_index (tenant, id_hash, person) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING")
                .bind(tenant).bind(&hash).bind(person.to_string()).execute(pool).await?
                .rows_affected());
            if inserted == 1 {
                return Ok((person, key));
            }
            // Another replica enrolled the same person first: use theirs.
            self.drop_key(tenant, person).await?;
        }
        Err(PrivacyError::Corrupt {
            person: PersonId::new(),
            reason: "the person index kept changing while enrolling".to_owned(),
        })
    }

    async fn drop_key(&self, tenant: &str, person: PersonId) -> Result<u64, PrivacyError> {
        Ok(on_pool!(&self.store, pool => sqlx::query(
            "DELETE FROM person_keys WHERE tenant = $1 AND person = $2")
            .bind(tenant).bind(person.to_string()).execute(pool).await?.rows_affected()))
    }

    async fn forget_index(&self, tenant: &str, person: PersonId) -> Result<(), PrivacyError> {
        on_pool!(&self.store, pool => sqlx::query(
            "DELETE FROM person_index WHERE tenant = $1 AND person = $2")
            .bind(tenant).bind(person.to_string()).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Seals a person's details under their own key (enrolling them if new).
    pub async fn seal(
        &self,
        tenant: &str,
        details: &PersonalDetails,
    ) -> Result<SealedPerson, PrivacyError> {
        let (person, key) = self.enrol(tenant, details.id_number.as_deref()).await?;
        let plaintext = serde_json::to_vec(details).expect("details serialize");
        let aad = format!("{tenant}/{person}");
        let sealed = encrypt(&key, &aad, &plaintext)?
            .map_err(|reason| PrivacyError::Corrupt { person, reason })?;
        Ok(SealedPerson {
            person,
            sealed: format!("v1.{sealed}"),
        })
    }

    /// The details of a sealed person, or `None` once their key is destroyed.
    pub async fn unseal(
        &self,
        tenant: &str,
        sealed: &SealedPerson,
    ) -> Result<Option<PersonalDetails>, PrivacyError> {
        let person = sealed.person;
        let Some(key) = self.key(tenant, person).await? else {
            return Ok(None);
        };
        let corrupt = |reason: String| PrivacyError::Corrupt { person, reason };
        let bytes = sealed
            .sealed
            .strip_prefix("v1.")
            .ok_or_else(|| corrupt("not a v1 seal".to_owned()))?;
        let aad = format!("{tenant}/{person}");
        let plaintext = decrypt(&key, &aad, bytes).map_err(corrupt)?;
        serde_json::from_slice(&plaintext)
            .map(Some)
            .map_err(|e| corrupt(e.to_string()))
    }

    /// The person known by this resident ID number, if any.
    pub async fn find(
        &self,
        tenant: &str,
        id_number: &str,
    ) -> Result<Option<PersonId>, PrivacyError> {
        let hash = self.id_hash(tenant, id_number).await?;
        let known: Option<String> = on_pool!(&self.store, pool => sqlx::query(
            "SELECT person FROM person_index WHERE tenant = $1 AND id_hash = $2")
            .bind(tenant).bind(&hash).fetch_optional(pool).await?
            .map(|r| r.try_get(0)).transpose())?;
        Ok(known.and_then(|p| PersonId::from_str(&p).ok()))
    }

    /// The case's key of `generation`: `None` if it was destroyed (or never made).
    async fn case_key(
        &self,
        tenant: &str,
        case: Uuid,
        generation: i64,
    ) -> Result<Option<[u8; 32]>, PrivacyError> {
        let read = {
            let mut recent = self.recent_case_keys();
            if let Some(key) = recent.generation(tenant, case, generation) {
                return Ok(key);
            }
            recent.erasures
        };
        let key: Option<Option<String>> = on_pool!(&self.store, pool => sqlx::query(
            "SELECT key FROM case_keys WHERE tenant = $1 AND case_id = $2 AND generation = $3")
            .bind(tenant).bind(case.to_string()).bind(generation).fetch_optional(pool).await?
            .map(|r| r.try_get(0)).transpose())?;
        let key = key
            .flatten()
            .and_then(|k| hex::decode(k).ok()?.try_into().ok());
        self.recent_case_keys()
            .keep_generation(read, tenant, case, generation, key);
        Ok(key)
    }

    fn recent_case_keys(&self) -> std::sync::MutexGuard<'_, RecentCaseKeys> {
        self.case_keys.lock().expect("recent case keys")
    }

    /// The key the case's texts are sealed under now, and its generation: the latest, or a new
    /// one when there is none yet or the latest was destroyed.
    async fn current_case_key(
        &self,
        tenant: &str,
        case: Uuid,
    ) -> Result<(i64, [u8; 32]), PrivacyError> {
        let read = {
            let mut recent = self.recent_case_keys();
            if let Some(current) = recent.current(tenant, case) {
                return Ok(current);
            }
            recent.erasures
        };
        for _ in 0..3 {
            let latest: Option<(i64, Option<String>)> = on_pool!(&self.store, pool => sqlx::query(
                "SELECT generation, key FROM case_keys WHERE tenant = $1 AND case_id = $2
                 ORDER BY generation DESC LIMIT 1")
                .bind(tenant).bind(case.to_string()).fetch_optional(pool).await?
                .map(|r| Ok::<_, sqlx::Error>((r.try_get(0)?, r.try_get(1)?))).transpose())?;
            let next = match latest {
                Some((generation, Some(key))) => {
                    if let Some(key) = hex::decode(key).ok().and_then(|k| k.try_into().ok()) {
                        self.recent_case_keys()
                            .keep_current(read, tenant, case, generation, key);
                        return Ok((generation, key));
                    }
                    generation + 1
                }
                Some((generation, None)) => generation + 1,
                None => 1,
            };
            // Another command may make the same generation first: then it is theirs we use,
            // read on the next turn.
            let key = random::<32>()?;
            let made: Option<i64> = on_pool!(&self.store, pool => sqlx::query_scalar(
                "INSERT INTO case_keys (tenant, case_id, generation, key, created_at)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING generation")
                .bind(tenant).bind(case.to_string()).bind(next)
                .bind(hex::encode(key)).bind(micros(Timestamp::now()))
                .fetch_optional(pool).await)?;
            if made == Some(next) {
                self.recent_case_keys()
                    .keep_current(read, tenant, case, next, key);
                return Ok((next, key));
            }
        }
        Err(PrivacyError::CorruptText {
            case,
            reason: "its key kept changing while sealing".to_owned(),
        })
    }

    /// Seals a free text of a case under the case's current key: `SEALED_TEXT`, the case's id,
    /// the key's generation, and the text encrypted and authenticated, bound to tenant and case.
    pub async fn seal_text(
        &self,
        tenant: &str,
        case: Uuid,
        text: &str,
    ) -> Result<String, PrivacyError> {
        let (generation, key) = self.current_case_key(tenant, case).await?;
        let aad = format!("{tenant}/{case}/text");
        let sealed = encrypt(&key, &aad, text.as_bytes())?
            .map_err(|reason| PrivacyError::CorruptText { case, reason })?;
        Ok(format!("{SEALED_TEXT}{case}.{generation}.{sealed}"))
    }

    /// A sealed text of `case`, or `None` once the key it was sealed under is destroyed. A text
    /// sealed for another case does not open here.
    pub async fn unseal_text(
        &self,
        tenant: &str,
        case: Uuid,
        sealed: &str,
    ) -> Result<Option<String>, PrivacyError> {
        let corrupt = |reason: &str| PrivacyError::CorruptText {
            case,
            reason: reason.to_owned(),
        };
        let mut parts = sealed
            .strip_prefix(SEALED_TEXT)
            .ok_or_else(|| corrupt("not a t1 seal"))?
            .splitn(3, '.');
        let (Some(of), Some(generation), Some(bytes)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(corrupt("not a t1 seal"));
        };
        if Uuid::parse_str(of).ok() != Some(case) {
            return Err(corrupt("sealed for another case"));
        }
        let generation: i64 = generation
            .parse()
            .map_err(|_| corrupt("no key generation"))?;
        let Some(key) = self.case_key(tenant, case, generation).await? else {
            return Ok(None);
        };
        let aad = format!("{tenant}/{case}/text");
        let plaintext = decrypt(&key, &aad, bytes).map_err(|reason| corrupt(&reason))?;
        String::from_utf8(plaintext)
            .map(Some)
            .map_err(|e| corrupt(&e.to_string()))
    }

    /// Records that `case` names these people: erasing any of them destroys the case's key.
    pub async fn link_people(
        &self,
        tenant: &str,
        case: Uuid,
        people: &[PersonId],
    ) -> Result<(), PrivacyError> {
        for person in people {
            on_pool!(&self.store, pool => sqlx::query(
                "INSERT INTO case_people (tenant, person, case_id) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING")
                .bind(tenant).bind(person.to_string()).bind(case.to_string())
                .execute(pool).await.map(|r| r.rows_affected()))?;
        }
        Ok(())
    }

    /// Replaces every sealed text of `case` in `value` with what `disclosure` shows: the text,
    /// masked (`mask_text`), or null; `ERASED_TEXT` once the case's key is destroyed, and
    /// `UNREADABLE_TEXT` for one that does not open (sealed for another case).
    pub async fn render_texts(
        &self,
        tenant: &str,
        case: Uuid,
        value: &mut Value,
        disclosure: Disclosure,
    ) -> Result<(), PrivacyError> {
        let mut found = Vec::new();
        collect_sealed_texts(value, &mut found);
        for slot in found {
            let Value::String(sealed) = &*slot else {
                continue;
            };
            *slot = match disclosure {
                Disclosure::Withheld => Value::Null,
                Disclosure::Clear | Disclosure::Masked => {
                    match self.unseal_text(tenant, case, sealed).await {
                        Ok(Some(text)) if disclosure == Disclosure::Clear => json!(text),
                        Ok(Some(text)) => json!(mask_text(&text)),
                        Ok(None) => json!(ERASED_TEXT),
                        Err(PrivacyError::CorruptText { reason, .. }) => {
                            tracing::warn!(%case, %reason, "a sealed text does not open");
                            json!(UNREADABLE_TEXT)
                        }
                        Err(e) => return Err(e),
                    }
                }
            };
        }
        Ok(())
    }

    /// Destroys a person's key (and the hash that recognised them): their details become
    /// unreadable everywhere, and so do the free texts of every case that names them. Returns
    /// false when there was no key to destroy.
    pub async fn erase(&self, tenant: &str, person: PersonId) -> Result<bool, PrivacyError> {
        // Forgotten before and after: no read in between, nor one that began before, keeps a key
        // this destroys.
        self.recent_case_keys().forget_all();
        let dropped = self.drop_key(tenant, person).await?;
        self.forget_index(tenant, person).await?;
        let cases: Vec<String> = on_pool!(&self.store, pool => sqlx::query_scalar(
            "SELECT case_id FROM case_people WHERE tenant = $1 AND person = $2")
            .bind(tenant).bind(person.to_string()).fetch_all(pool).await)?;
        for case in &cases {
            // Deleted, not overwritten, so that the zeroing of deleted rows takes the bytes; the
            // latest generation stays as a row without a key.
            let latest: Option<i64> = on_pool!(&self.store, pool => sqlx::query_scalar(
                "SELECT MAX(generation) FROM case_keys WHERE tenant = $1 AND case_id = $2")
                .bind(tenant).bind(case).fetch_one(pool).await)?;
            let Some(latest) = latest else { continue };
            on_pool!(&self.store, pool => sqlx::query(
                "DELETE FROM case_keys WHERE tenant = $1 AND case_id = $2")
                .bind(tenant).bind(case).execute(pool).await.map(|r| r.rows_affected()))?;
            on_pool!(&self.store, pool => sqlx::query(
                "INSERT INTO case_keys (tenant, case_id, generation, key, created_at)
                 VALUES ($1, $2, $3, NULL, $4)")
                .bind(tenant).bind(case).bind(latest).bind(micros(Timestamp::now()))
                .execute(pool).await.map(|r| r.rows_affected()))?;
        }
        on_pool!(&self.store, pool => sqlx::query(
            "INSERT INTO person_erasures (tenant, person, erased_at) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING")
            .bind(tenant).bind(person.to_string()).bind(micros(Timestamp::now()))
            .execute(pool).await.map(|r| r.rows_affected()))?;
        self.recent_case_keys().forget_all();
        self.scrub().await?;
        Ok(dropped > 0)
    }

    /// Leaves no copy of deleted keys in the store's files. SQLite zeroes deleted rows
    /// (`secure_delete`); the write-ahead log, which still holds the pages as they were, is
    /// checkpointed into the database and truncated. Postgres rewrites the two tables, so that
    /// the dead rows' bytes are gone from the table files (its write-ahead log archive and
    /// backups are the operator's, as the README says).
    async fn scrub(&self) -> Result<(), PrivacyError> {
        match &self.store {
            Store::Sqlite(pool) => {
                // A reader in the middle of a transaction holds the checkpoint back (it answers
                // busy rather than failing): asked again until it goes through.
                for attempt in 0.. {
                    let busy: i64 = sqlx::query_scalar("PRAGMA wal_checkpoint(TRUNCATE)")
                        .fetch_one(pool)
                        .await?;
                    if busy == 0 {
                        break;
                    }
                    if attempt == 100 {
                        return Err(PrivacyError::Busy(
                            "its write-ahead log stayed in use: the key is destroyed, but its \
                             old copy is not yet overwritten; erase again"
                                .to_owned(),
                        ));
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            }
            Store::Postgres(pool) => {
                for table in ["person_keys", "person_index", "case_keys"] {
                    sqlx::query(sqlx::AssertSqlSafe(format!("VACUUM FULL {table}")))
                        .execute(pool)
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// Issues an API key to an app of `tenant`: returns what is kept, and the key, which is
    /// shown this once and kept nowhere.
    pub async fn create_api_key(
        &self,
        tenant: &str,
        name: &str,
        community: &str,
    ) -> Result<(ApiKey, String), PrivacyError> {
        let key = format!(
            "{API_KEY_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(random::<32>()?)
        );
        let issued = ApiKey {
            id: Uuid::now_v7(),
            tenant: tenant.to_owned(),
            name: name.to_owned(),
            community: community.to_owned(),
            // Kept to the microsecond, as the store keeps it.
            created_at: Timestamp::from_microsecond(micros(Timestamp::now())).unwrap_or_default(),
            revoked_at: None,
        };
        on_pool!(&self.store, pool => sqlx::query(
            "INSERT INTO api_keys (id, tenant, name, community, key_hash, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(issued.id.to_string()).bind(tenant).bind(name).bind(community)
            .bind(api_key_hash(&key)).bind(micros(issued.created_at))
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok((issued, key))
    }

    /// The API key an app presented, revoked or not; `None` for a key never issued.
    pub async fn api_key(&self, key: &str) -> Result<Option<ApiKey>, PrivacyError> {
        let rows = on_pool!(&self.store, pool => api_key_rows(sqlx::query(
            "SELECT id, tenant, name, community, created_at, revoked_at FROM api_keys
             WHERE key_hash = $1")
            .bind(api_key_hash(key.trim())).fetch_all(pool).await?))?;
        Ok(rows.into_iter().next())
    }

    /// The tenant's API keys, revoked ones too, oldest first.
    pub async fn api_keys(&self, tenant: &str) -> Result<Vec<ApiKey>, PrivacyError> {
        on_pool!(&self.store, pool => api_key_rows(sqlx::query(
            "SELECT id, tenant, name, community, created_at, revoked_at FROM api_keys
             WHERE tenant = $1 ORDER BY created_at, id")
            .bind(tenant).fetch_all(pool).await?))
    }

    /// Revokes one of the tenant's API keys: false when it has no such key, or it was revoked
    /// already.
    pub async fn revoke_api_key(&self, tenant: &str, id: Uuid) -> Result<bool, PrivacyError> {
        Ok(on_pool!(&self.store, pool => sqlx::query(
            "UPDATE api_keys SET revoked_at = $3
             WHERE tenant = $1 AND id = $2 AND revoked_at IS NULL")
            .bind(tenant).bind(id.to_string()).bind(micros(Timestamp::now()))
            .execute(pool).await?.rows_affected())
            == 1)
    }

    /// Closes the vault's connections (a key file is then whole on disk, its journal folded in).
    pub async fn close(&self) {
        on_pool!(&self.store, pool => pool.close().await);
    }

    /// Whether the vault holds nothing: no key, no secret, no API key (a restore goes only into
    /// an empty one).
    pub async fn is_empty(&self) -> Result<bool, PrivacyError> {
        let mut rows = 0i64;
        for (table, _) in TABLES {
            let statement = format!("SELECT COUNT(*) FROM {table}");
            let count: i64 = on_pool!(&self.store, pool => sqlx::query(sqlx::AssertSqlSafe(statement.clone()))
                .fetch_one(pool).await?.try_get(0))?;
            rows += count;
        }
        Ok(rows == 0)
    }

    /// Copies every row of this vault into `target` (an empty vault, of either kind): the keys,
    /// the erasures, the tenants' secrets, the record of views and the API keys, read in one
    /// snapshot while this vault goes on serving, and written in one transaction, so that a copy
    /// that fails leaves the target as it was. Rows are streamed from one to the other, never all
    /// held at once (the record of views only grows). Returns how many rows were copied.
    pub async fn copy_to(&self, target: &Vault) -> Result<u64, PrivacyError> {
        use futures_util::TryStreamExt;
        // One snapshot: SQLite's read transaction sees one state of its file; Postgres's
        // default (read committed) would see each statement's own.
        let begin = match &self.store {
            Store::Sqlite(_) => "BEGIN",
            Store::Postgres(_) => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        };
        let mut copied = 0u64;
        on_pool!(&self.store, source => on_pool!(&target.store, destination => {
            let mut read = source.begin_with(begin).await?;
            let mut write = destination.begin().await?;
            for (table, columns) in TABLES {
                let names = columns.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ");
                let params = (1..=columns.len())
                    .map(|i| format!("${i}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                // Table and column names are the constants above; values are bound.
                let select = format!("SELECT {names} FROM {table}");
                let insert = format!("INSERT INTO {table} ({names}) VALUES ({params})");
                let mut rows = sqlx::query(sqlx::AssertSqlSafe(select)).fetch(&mut *read);
                while let Some(row) = rows.try_next().await? {
                    let mut query = sqlx::query(sqlx::AssertSqlSafe(insert.clone()));
                    for cell in cells(&row, columns)? {
                        query = match cell {
                            Cell::Text(v) => query.bind(v),
                            Cell::Int(v) => query.bind(v),
                        };
                    }
                    query.execute(&mut *write).await?;
                    copied += 1;
                }
            }
            write.commit().await?;
            read.commit().await
        }))?;
        Ok(copied)
    }

    /// Records views of personal data in clear.
    pub async fn record_views(&self, views: &[View]) -> Result<(), PrivacyError> {
        for v in views {
            on_pool!(&self.store, pool => sqlx::query(
                "INSERT INTO person_views (tenant, person, case_id, viewer, role, via, viewed_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)")
                .bind(&v.tenant).bind(v.person.to_string())
                .bind(v.case_id.map(|c| c.to_string())).bind(&v.viewer).bind(&v.role)
                .bind(&v.via).bind(micros(v.viewed_at)).execute(pool).await.map(|r| r.rows_affected()))?;
        }
        Ok(())
    }

    /// Every recorded view of a person's details, oldest first.
    pub async fn views(&self, tenant: &str, person: PersonId) -> Result<Vec<View>, PrivacyError> {
        let rows: Vec<(Option<String>, String, String, String, i64)> = on_pool!(&self.store, pool => {
            let rows = sqlx::query(
                "SELECT case_id, viewer, role, via, viewed_at FROM person_views
                 WHERE tenant = $1 AND person = $2 ORDER BY viewed_at")
                .bind(tenant).bind(person.to_string()).fetch_all(pool).await?;
            rows.iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?, r.try_get(4)?)))
                .collect::<Result<_, sqlx::Error>>()?
        });
        Ok(rows
            .into_iter()
            .map(|(case_id, viewer, role, via, at)| View {
                tenant: tenant.to_owned(),
                person,
                case_id: case_id.and_then(|c| c.parse().ok()),
                viewer,
                role,
                via,
                viewed_at: Timestamp::from_microsecond(at).unwrap_or_default(),
            })
            .collect())
    }

    /// Replaces every sealed person in `value` (any object that is exactly `{"person",
    /// "sealed"}`) with what `disclosure` shows: the details in clear, masked, or nothing
    /// (`{"withheld": true}`); an erased person shows `{"person", "erased": true}`. Returns the
    /// people shown in clear, for the view record.
    pub async fn render(
        &self,
        tenant: &str,
        value: &mut Value,
        disclosure: Disclosure,
    ) -> Result<Vec<PersonId>, PrivacyError> {
        let mut found = Vec::new();
        collect_sealed(value, &mut found);
        let mut shown = Vec::new();
        for slot in found {
            let sealed: SealedPerson = match serde_json::from_value(slot.clone()) {
                Ok(s) => s,
                Err(_) => continue,
            };
            *slot = match disclosure {
                Disclosure::Withheld => json!({"withheld": true}),
                Disclosure::Clear | Disclosure::Masked => match self.unseal(tenant, &sealed).await?
                {
                    None => json!({"person": sealed.person, "erased": true}),
                    Some(details) => {
                        let (details, masked) = if disclosure == Disclosure::Clear {
                            shown.push(sealed.person);
                            (details, false)
                        } else {
                            (details.masked(), true)
                        };
                        let mut out = serde_json::to_value(details).expect("details serialize");
                        out["person"] = json!(sealed.person);
                        if masked {
                            out["masked"] = json!(true);
                        }
                        out
                    }
                },
            };
        }
        shown.sort();
        shown.dedup();
        Ok(shown)
    }
}

fn api_key_rows<R: Row>(rows: Vec<R>) -> Result<Vec<ApiKey>, PrivacyError>
where
    usize: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let at = |micros: i64| Timestamp::from_microsecond(micros).unwrap_or_default();
    rows.iter()
        .map(|r| {
            let id: String = r.try_get(0)?;
            Ok(ApiKey {
                id: id
                    .parse()
                    .map_err(|e: uuid::Error| PrivacyError::Store(sqlx::Error::Decode(e.into())))?,
                tenant: r.try_get(1)?,
                name: r.try_get(2)?,
                community: r.try_get(3)?,
                created_at: at(r.try_get(4)?),
                revoked_at: r.try_get::<Option<i64>, _>(5)?.map(at),
            })
        })
        .collect()
}

/// The strings in `value` that are sealed texts.
fn collect_sealed_texts<'a>(value: &'a mut Value, found: &mut Vec<&'a mut Value>) {
    match value {
        Value::String(text) if is_sealed_text(text) => found.push(value),
        Value::Object(map) => map
            .values_mut()
            .for_each(|v| collect_sealed_texts(v, found)),
        Value::Array(items) => items
            .iter_mut()
            .for_each(|v| collect_sealed_texts(v, found)),
        _ => {}
    }
}

/// The objects in `value` that are exactly a sealed person.
fn collect_sealed<'a>(value: &'a mut Value, found: &mut Vec<&'a mut Value>) {
    let is_sealed = |v: &Value| {
        v.as_object().is_some_and(|o| {
            o.len() == 2
                && o.get("person").is_some_and(Value::is_string)
                && o.get("sealed").is_some_and(Value::is_string)
        })
    };
    if is_sealed(value) {
        found.push(value);
        return;
    }
    match value {
        Value::Object(map) => map.values_mut().for_each(|v| collect_sealed(v, found)),
        Value::Array(items) => items.iter_mut().for_each(|v| collect_sealed(v, found)),
        _ => {}
    }
}

#[cfg(test)]
mod tests;
