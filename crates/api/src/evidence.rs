//! `POST /v1/evidence`: a photo or document uploaded before the action that records it (a
//! hazard's report, its rectification), kept under its content hash; the action then names it
//! by that hash (`Evidence`), which is what the case's history proves. `GET
//! /v1/evidence/{hash}` gives the file back.
//!
//! Files are kept per tenant in a directory (the data directory's `evidence/` by default):
//! written to a temporary file, synced, then renamed, so an upload that was answered is on disk.
//! The same photo uploaded twice is kept once. Only kinds of file the office takes as evidence are
//! accepted, and only when the bytes are what the media type says. A file is sent back as it is
//! read, never held whole in memory (files run to tens of MiB, and many may be asked at once).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::SystemTime;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use docket_domain::evidence::Evidence;
use futures_util::{Stream, StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};

use crate::extract::Caller;
use crate::{ApiError, AppState};

/// Uploads over this size are refused by default (a phone's photo is a few MiB).
pub const DEFAULT_MAX_BYTES: usize = 20 * 1024 * 1024;
/// No server takes more than this in one upload, whatever it is configured to.
pub const UPLOAD_LIMIT: usize = 100 * 1024 * 1024;

/// The kinds of file taken as evidence, each known by how its bytes begin.
const MEDIA_TYPES: &[(&str, &[u8])] = &[
    ("image/jpeg", b"\xFF\xD8\xFF"),
    ("image/png", b"\x89PNG\r\n\x1a\n"),
    ("image/webp", b"RIFF"),
    ("application/pdf", b"%PDF-"),
];

/// How many of a file's first bytes `sniff` needs to know it (a WebP's name is at 8 to 12).
const SNIFFED: usize = 12;

/// A media type as uploads are judged by it: without its parameters, in lower case.
pub fn media_type_essence(media_type: &str) -> String {
    media_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// The media type these bytes are, if they are a kind of file taken as evidence.
fn sniff(bytes: &[u8]) -> Option<&'static str> {
    MEDIA_TYPES
        .iter()
        .find(|(media_type, magic)| {
            bytes.starts_with(magic)
                && (*media_type != "image/webp" || bytes.get(8..12) == Some(b"WEBP"))
        })
        .map(|(media_type, _)| *media_type)
}

/// Where uploaded evidence is kept: a directory (one per tenant beneath it), or a bucket of an
/// S3-compatible object store (`TENANT/SHA256` keys), which every replica of a cluster shares.
#[derive(Debug, Clone)]
pub struct EvidenceStore {
    place: Place,
    max_bytes: usize,
}

#[derive(Debug, Clone)]
enum Place {
    Directory(PathBuf),
    Bucket(std::sync::Arc<Bucket>),
}

#[derive(Debug)]
struct Bucket {
    bucket: rusty_s3::Bucket,
    credentials: Option<rusty_s3::Credentials>,
    http: reqwest::Client,
}

/// What is asked of a bucket for a file.
enum ObjectAction {
    /// Store these bytes.
    Put(Bytes),
    Get,
    Head,
    Delete,
}

impl Bucket {
    /// Does `action` on `tenant`'s file `name` by a URL signed for `SIGNED_FOR`: answers the
    /// object's key and the store's answer, whatever its status.
    async fn send(
        &self,
        action: ObjectAction,
        tenant: &str,
        name: &str,
    ) -> Result<(String, reqwest::Response), EvidenceError> {
        use rusty_s3::S3Action;
        use rusty_s3::actions::{DeleteObject, GetObject, HeadObject, PutObject};
        let key = format!("{tenant}/{name}");
        let (bucket, credentials) = (&self.bucket, self.credentials.as_ref());
        let request = match action {
            ObjectAction::Put(bytes) => self
                .http
                .put(PutObject::new(bucket, credentials, &key).sign(SIGNED_FOR))
                .timeout(STORE_FOR)
                .body(bytes),
            ObjectAction::Get => self
                .http
                .get(GetObject::new(bucket, credentials, &key).sign(SIGNED_FOR)),
            ObjectAction::Head => self
                .http
                .head(HeadObject::new(bucket, credentials, &key).sign(SIGNED_FOR)),
            ObjectAction::Delete => self
                .http
                .delete(DeleteObject::new(bucket, credentials, &key).sign(SIGNED_FOR)),
        };
        let response = request
            .send()
            .await
            .map_err(|e| EvidenceError::Bucket(e.without_url().to_string()))?;
        Ok((key, response))
    }

    /// Every object in the bucket, a page of listing at a time.
    async fn list(&self) -> Result<Vec<StoredFile>, EvidenceError> {
        use rusty_s3::S3Action;
        let failed = |e: &dyn std::fmt::Display| EvidenceError::Bucket(format!("listing: {e}"));
        let mut files = Vec::new();
        let mut continuation: Option<String> = None;
        loop {
            let mut action =
                rusty_s3::actions::ListObjectsV2::new(&self.bucket, self.credentials.as_ref());
            if let Some(token) = &continuation {
                action.with_continuation_token(token.as_str());
            }
            let response = self
                .http
                .get(action.sign(SIGNED_FOR))
                .send()
                .await
                .map_err(|e| failed(&e.without_url()))?;
            let status = response.status();
            let text = response
                .text()
                .await
                .map_err(|e| failed(&e.without_url()))?;
            if !status.is_success() {
                return Err(failed(&format!("answered {status}")));
            }
            let page =
                rusty_s3::actions::ListObjectsV2::parse_response(&text).map_err(|e| failed(&e))?;
            for object in page.contents {
                let Some((tenant, name)) = object.key.split_once('/') else {
                    continue;
                };
                // A time the store gives in no form known is taken as now: such a file is
                // never old enough to be removed.
                let modified = object
                    .last_modified
                    .as_deref()
                    .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                    .and_then(system_time)
                    .unwrap_or_else(SystemTime::now);
                files.push(StoredFile {
                    tenant: tenant.to_owned(),
                    name: name.to_owned(),
                    size: object.size.unwrap_or_default(),
                    modified,
                });
            }
            match page.next_continuation_token {
                Some(token) => continuation = Some(token),
                None => return Ok(files),
            }
        }
    }
}

/// `t` as a system time, when it is after 1970.
fn system_time(t: jiff::Timestamp) -> Option<SystemTime> {
    let ms = u64::try_from(t.as_millisecond()).ok()?;
    Some(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms))
}

/// A file the store keeps, as `EvidenceStore::list` finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    pub tenant: String,
    /// Its name among the tenant's files: its content hash's hex digits, or, in a directory, the
    /// temporary name of an upload that a crash cut short (`.HEX.ID`).
    pub name: String,
    pub size: u64,
    /// When it was written.
    pub modified: SystemTime,
}

impl StoredFile {
    /// The content hash's hex digits, when the file is kept under its hash.
    pub fn hex(&self) -> Option<&str> {
        is_content_hex(&self.name).then_some(self.name.as_str())
    }

    /// Whether this is the temporary of an upload (`.HEX.ID`), which no commit ever names.
    pub fn is_temporary(&self) -> bool {
        self.name
            .strip_prefix('.')
            .and_then(|rest| rest.split_once('.'))
            .is_some_and(|(hex, id)| is_content_hex(hex) && !id.is_empty())
    }
}

/// Whether `hex` is what a file is kept under: 64 lower-case hex digits of its SHA-256.
fn is_content_hex(hex: &str) -> bool {
    hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A kept file as it is read: its length, when the store says it, and its bytes in pieces.
pub struct KeptFile {
    pub len: Option<u64>,
    pub bytes: Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>,
}

impl std::fmt::Debug for KeptFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeptFile")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
impl KeptFile {
    /// Reads the rest into memory.
    pub(crate) async fn into_bytes(self) -> std::io::Result<Vec<u8>> {
        self.bytes
            .try_fold(Vec::new(), |mut all, piece| async move {
                all.extend_from_slice(&piece);
                Ok(all)
            })
            .await
    }
}

/// How long a signed request to the object store stays valid.
const SIGNED_FOR: std::time::Duration = std::time::Duration::from_secs(60);

/// Why evidence could not be kept or read.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    #[error("the evidence directory: {0}")]
    Directory(#[from] std::io::Error),
    #[error("the evidence bucket: {0}")]
    Bucket(String),
}

impl EvidenceStore {
    /// Keeps evidence under `dir`, one directory per tenant, refusing files over `max_bytes`.
    pub fn new(dir: impl Into<PathBuf>, max_bytes: usize) -> Self {
        Self {
            place: Place::Directory(dir.into()),
            max_bytes: max_bytes.min(UPLOAD_LIMIT),
        }
    }

    /// Keeps evidence in `bucket` of the S3-compatible store at `endpoint` (path-style
    /// addresses, as MinIO and most such stores take them), signing with `credentials`.
    pub fn bucket(
        endpoint: &str,
        bucket: &str,
        region: &str,
        credentials: Option<(String, String)>,
        max_bytes: usize,
    ) -> Result<Self, String> {
        let url = url::Url::parse(endpoint)
            .map_err(|e| format!("the evidence store's endpoint {endpoint:?}: {e}"))?;
        let bucket = rusty_s3::Bucket::new(
            url,
            rusty_s3::UrlStyle::Path,
            bucket.to_owned(),
            region.to_owned(),
        )
        .map_err(|e| format!("the evidence bucket {bucket:?} at {endpoint}: {e}"))?;
        // No total timeout: a download is sent on as the client takes it, which may be slower
        // than any bound; a store that stops answering is given up on instead.
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .read_timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| format!("an HTTP client for the evidence store: {e}"))?;
        Ok(Self {
            place: Place::Bucket(std::sync::Arc::new(Bucket {
                bucket,
                credentials: credentials
                    .map(|(key, secret)| rusty_s3::Credentials::new(key, secret)),
                http,
            })),
            max_bytes: max_bytes.min(UPLOAD_LIMIT),
        })
    }

    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Keeps `bytes` for `tenant`; answers their content hash, which names them. Once this
    /// answers, the file is on disk (synced) or stored by the object store.
    pub async fn keep(&self, tenant: &str, bytes: Bytes) -> Result<String, EvidenceError> {
        // Hashing tens of MiB is work for a blocking thread, not the server's.
        let (hex, bytes) = {
            let bytes = bytes.clone();
            tokio::task::spawn_blocking(move || (hex::encode(Sha256::digest(&bytes)), bytes))
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))?
        };
        match &self.place {
            Place::Directory(dir) => {
                let (dir, tenant, hex) = (dir.clone(), tenant.to_owned(), hex.clone());
                tokio::task::spawn_blocking(move || keep_file(&dir, &tenant, &hex, &bytes))
                    .await
                    .map_err(|e| std::io::Error::other(e.to_string()))??;
            }
            Place::Bucket(b) => {
                let (key, response) = b.send(ObjectAction::Put(bytes), tenant, &hex).await?;
                if !response.status().is_success() {
                    return Err(EvidenceError::Bucket(format!(
                        "storing {key} answered {}",
                        response.status()
                    )));
                }
            }
        }
        Ok(hex)
    }

    /// The file kept for `tenant` under `hex`, if there is one, to be read as it is sent.
    pub async fn open(&self, tenant: &str, hex: &str) -> Result<Option<KeptFile>, EvidenceError> {
        match &self.place {
            Place::Directory(dir) => {
                let file = match tokio::fs::File::open(dir.join(tenant).join(hex)).await {
                    Ok(file) => file,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(e.into()),
                };
                let len = file.metadata().await?.len();
                Ok(Some(KeptFile {
                    len: Some(len),
                    bytes: Box::pin(tokio_util::io::ReaderStream::with_capacity(
                        file, READ_PIECE,
                    )),
                }))
            }
            Place::Bucket(b) => {
                let (key, response) = b.send(ObjectAction::Get, tenant, hex).await?;
                match response.status() {
                    reqwest::StatusCode::NOT_FOUND => Ok(None),
                    status if status.is_success() => Ok(Some(KeptFile {
                        len: response.content_length(),
                        bytes: Box::pin(
                            response
                                .bytes_stream()
                                .map_err(|e| std::io::Error::other(e.without_url())),
                        ),
                    })),
                    status => Err(EvidenceError::Bucket(format!(
                        "reading {key} answered {status}"
                    ))),
                }
            }
        }
    }
}

impl EvidenceStore {
    /// Every file the store keeps, of every tenant.
    pub async fn list(&self) -> Result<Vec<StoredFile>, EvidenceError> {
        match &self.place {
            Place::Directory(dir) => {
                let dir = dir.clone();
                tokio::task::spawn_blocking(move || list_directory(&dir))
                    .await
                    .map_err(|e| std::io::Error::other(e.to_string()))?
                    .map_err(EvidenceError::from)
            }
            Place::Bucket(b) => b.list().await,
        }
    }

    /// When `file` was last written, as the store says now; none when it is gone. A bucket's
    /// time in a form not known is taken as now.
    pub async fn written(&self, file: &StoredFile) -> Result<Option<SystemTime>, EvidenceError> {
        match &self.place {
            Place::Directory(dir) => {
                match tokio::fs::metadata(dir.join(&file.tenant).join(&file.name)).await {
                    Ok(metadata) => Ok(Some(metadata.modified()?)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(e.into()),
                }
            }
            Place::Bucket(b) => {
                let (key, response) = b.send(ObjectAction::Head, &file.tenant, &file.name).await?;
                match response.status() {
                    reqwest::StatusCode::NOT_FOUND => Ok(None),
                    status if status.is_success() => Ok(Some(
                        response
                            .headers()
                            .get(reqwest::header::LAST_MODIFIED)
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| {
                                jiff::fmt::rfc2822::DateTimeParser::new()
                                    .parse_timestamp(v)
                                    .ok()
                            })
                            .and_then(system_time)
                            .unwrap_or_else(SystemTime::now),
                    )),
                    status => Err(EvidenceError::Bucket(format!(
                        "asking after {key} answered {status}"
                    ))),
                }
            }
        }
    }

    /// Removes `file` from the store; one already gone is no error.
    pub async fn remove(&self, file: &StoredFile) -> Result<(), EvidenceError> {
        match &self.place {
            Place::Directory(dir) => {
                match tokio::fs::remove_file(dir.join(&file.tenant).join(&file.name)).await {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(e.into()),
                }
            }
            Place::Bucket(b) => {
                let (key, response) = b
                    .send(ObjectAction::Delete, &file.tenant, &file.name)
                    .await?;
                let status = response.status();
                if status.is_success() || status == reqwest::StatusCode::NOT_FOUND {
                    Ok(())
                } else {
                    Err(EvidenceError::Bucket(format!(
                        "removing {key} answered {status}"
                    )))
                }
            }
        }
    }
}

/// The files under `dir`, one directory per tenant; none when nothing was ever uploaded.
fn list_directory(dir: &Path) -> std::io::Result<Vec<StoredFile>> {
    let tenants = match std::fs::read_dir(dir) {
        Ok(tenants) => tenants,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(std::io::Error::new(
                e.kind(),
                format!("{}: {e}", dir.display()),
            ));
        }
    };
    let mut files = Vec::new();
    for tenant in tenants {
        let tenant = tenant?;
        if !tenant.file_type()?.is_dir() {
            continue;
        }
        let Ok(tenant_name) = tenant.file_name().into_string() else {
            continue;
        };
        for file in std::fs::read_dir(tenant.path())? {
            let file = file?;
            // An upload's temporary renamed, or a file removed, since the directory was read.
            let metadata = match file.metadata() {
                Ok(metadata) => metadata,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if !metadata.is_file() {
                continue;
            }
            let Ok(name) = file.file_name().into_string() else {
                continue;
            };
            files.push(StoredFile {
                tenant: tenant_name.clone(),
                name,
                size: metadata.len(),
                modified: metadata.modified()?,
            });
        }
    }
    Ok(files)
}

/// How long storing a file in a bucket may take in all (the file is in hand, up to 100 MiB).
const STORE_FOR: std::time::Duration = std::time::Duration::from_secs(120);

/// How much of a kept file is read at a time to be sent.
const READ_PIECE: usize = 64 * 1024;

/// Writes `store/tenant/hex` whole before it takes its name: a temporary file, synced, renamed,
/// and the directory synced (and the directories made for it, so the first file of a tenant
/// is found after a crash too). A file already there is the same file (its name is its hash):
/// it is replaced by this copy of itself, whole at every moment.
fn keep_file(store: &Path, tenant: &str, hex: &str, bytes: &[u8]) -> std::io::Result<()> {
    let dir = store.join(tenant);
    // A file kept already is written again all the same (the same bytes under the same name), so
    // that its time is this upload's: `docket sweep-evidence` then takes it for the fresh upload
    // it is, whose action is on its way, and a sweep that removed it a moment ago loses nothing.
    let path = dir.join(hex);
    if !dir.is_dir() {
        std::fs::create_dir_all(&dir)?;
        std::fs::File::open(store)?.sync_all()?;
        if let Some(parent) = store.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::File::open(parent)?.sync_all()?;
        }
    }
    let temporary = dir.join(format!(".{hex}.{}", uuid::Uuid::now_v7()));
    let written = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, &path)?;
        std::fs::File::open(&dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

/// `POST /v1/evidence`: keeps a photo or document for an action to name.
#[utoipa::path(
    post, path = "/v1/evidence", tag = "cases",
    request_body(content = Vec<u8>, description = "The file itself: a JPEG, PNG or WebP photo, or a PDF, with its media type as `Content-Type`.",
        content_type = "image/jpeg"),
    responses(
        (status = 201, description = "Kept: what an action names it by (an element of its `evidence`).", body = docket_domain::evidence::Evidence),
        (status = 413, description = "The file is over the server's limit (20 MiB by default)."),
        (status = 415, description = "Not a JPEG, PNG, WebP or PDF, or the bytes are not what `Content-Type` says."),
        (status = 503, description = "The evidence store cannot be written."),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn upload(
    State(state): State<AppState>,
    Caller(actor): Caller,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let store = state.evidence.as_ref().ok_or_else(no_store)?;
    let too_large = |size: &dyn std::fmt::Display| {
        ApiError::PayloadTooLarge(format!(
            "the file is {size} bytes; evidence may be at most {} bytes",
            store.max_bytes
        ))
    };
    // Refused before it is read when it says it is too large; read no further than the limit
    // when it does not say.
    let declared_size = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(size) = declared_size.filter(|s| *s > store.max_bytes as u64) {
        return Err(too_large(&size));
    }
    let declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(media_type_essence)
        .unwrap_or_default();
    let accepted = || {
        MEDIA_TYPES
            .iter()
            .map(|(t, _)| *t)
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !MEDIA_TYPES.iter().any(|(t, _)| *t == declared) {
        return Err(ApiError::UnsupportedMediaType(format!(
            "evidence is one of {}; Content-Type was {:?}",
            accepted(),
            docket_domain::shown(&declared)
        )));
    }
    let body: Bytes = axum::body::to_bytes(body, store.max_bytes)
        .await
        .map_err(|e| {
            let over = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if over {
                too_large(&format!("over {}", store.max_bytes))
            } else {
                ApiError::BadRequest {
                    code: "unreadable-body",
                    detail: format!("the file could not be read whole: {e}"),
                }
            }
        })?;
    if body.is_empty() {
        return Err(ApiError::BadRequest {
            code: "unreadable-body",
            detail: "the file is empty".to_owned(),
        });
    }
    match sniff(&body) {
        Some(found) if found == declared => {}
        found => {
            return Err(ApiError::UnsupportedMediaType(format!(
                "Content-Type says {declared} but the file is {}",
                found.unwrap_or("of no kind taken as evidence")
            )));
        }
    }
    let size = body.len() as u64;
    let hex = store.keep(actor.tenant.as_str(), body).await.map_err(|e| {
        tracing::error!(error = %e, "evidence cannot be kept");
        ApiError::Unavailable("the evidence store cannot be written".to_owned())
    })?;
    let evidence = Evidence {
        content_hash: format!("sha256:{hex}"),
        media_type: declared,
        size,
        blob: format!("/v1/evidence/sha256:{hex}"),
    };
    metrics::counter!("docket_evidence_uploaded_total").increment(1);
    Ok((StatusCode::CREATED, Json(evidence)).into_response())
}

/// `GET /v1/evidence/{hash}`: a file kept as evidence, by its content hash.
#[utoipa::path(
    get, path = "/v1/evidence/{hash}", tag = "cases",
    params(("hash" = String, Path, description = "The content hash, `sha256:` and 64 hex digits, as an action's evidence names it.")),
    responses(
        (status = 200, description = "The file.", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 400, description = "Not a content hash."),
        (status = 404, description = "No evidence of that hash in the caller's tenant."),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn file(
    State(state): State<AppState>,
    Caller(actor): Caller,
    UrlPath(hash): UrlPath<String>,
) -> Result<Response, ApiError> {
    let store = state.evidence.as_ref().ok_or_else(no_store)?;
    let hex = hash
        .strip_prefix("sha256:")
        .filter(|h| is_content_hex(h))
        .ok_or_else(|| ApiError::BadRequest {
            code: "invalid-content-hash",
            detail: format!(
                "{:?} is not a content hash: sha256: and 64 lower-case hex digits",
                docket_domain::shown(&hash)
            ),
        })?
        .to_owned();
    let unreadable = |e: &dyn std::fmt::Display| {
        tracing::error!(error = %e, "evidence cannot be read");
        ApiError::Unavailable("the evidence store cannot be read".to_owned())
    };
    let kept = store
        .open(actor.tenant.as_str(), &hex)
        .await
        .map_err(|e| unreadable(&e))?
        .ok_or(ApiError::EvidenceNotFound)?;
    // The media type is judged on the first bytes; they go first, then the rest as it is read.
    let mut bytes = kept.bytes;
    let mut head = Vec::with_capacity(SNIFFED);
    while head.len() < SNIFFED {
        match bytes.next().await {
            Some(Ok(piece)) => head.extend_from_slice(&piece),
            Some(Err(e)) => return Err(unreadable(&e)),
            None => break,
        }
    }
    let media_type = sniff(&head).unwrap_or("application/octet-stream");
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    if let Some(len) = kept.len {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    // The content never changes under its hash.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // A failure once the answer has begun can only break the connection off: it is logged.
    let rest = bytes.inspect_err(|e| {
        metrics::counter!("docket_evidence_read_failures_total").increment(1);
        tracing::error!(error = %e, "evidence could not be read to its end");
    });
    let body = futures_util::stream::once(std::future::ready(Ok(Bytes::from(head)))).chain(rest);
    Ok((headers, axum::body::Body::from_stream(body)).into_response())
}

fn no_store() -> ApiError {
    ApiError::Unavailable("this server keeps no evidence (no evidence store configured)".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_known_by_how_they_begin() {
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0rest"), Some("image/jpeg"));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest"), Some("image/png"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WAVEfmt "), None);
        assert_eq!(sniff(b"%PDF-1.7"), Some("application/pdf"));
        assert_eq!(sniff(b"<svg onload=alert(1)>"), None);
    }

    #[tokio::test]
    async fn the_same_file_is_kept_once_under_its_hash_and_per_tenant() {
        let dir = tempfile::tempdir().unwrap();
        let store = EvidenceStore::new(dir.path(), 1024);
        let photo = Bytes::from_static(b"\xFF\xD8\xFFphoto");
        let a = store.keep("t1", photo.clone()).await.unwrap();
        assert_eq!(store.keep("t1", photo.clone()).await.unwrap(), a);
        let kept = store.open("t1", &a).await.unwrap().expect("kept");
        assert_eq!(kept.len, Some(photo.len() as u64));
        assert_eq!(kept.into_bytes().await.unwrap(), &photo[..]);
        assert!(store.open("t2", &a).await.unwrap().is_none());
        let left: Vec<_> = std::fs::read_dir(dir.path().join("t1")).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file is left behind");
    }
}
