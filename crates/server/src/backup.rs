//! `docket backup` and `docket restore`: a consistent copy of what cannot be rebuilt (the log, the
//! key store, the token secret), taken while the server serves, and put back into an empty data
//! directory or stream.
//!
//! A backup is a directory:
//! - `log.sqlite`: the embedded log, copied through SQLite's online backup in one step, so it is
//!   the log of one moment; or `log.jsonl`: a JetStream log's commits up to its head when the
//!   backup began, as `docket export` writes them (every chain checked again on restore);
//! - `keys.sqlite`: every row of the key store (the people's and cases' keys, the erasures, the
//!   tenants' secrets, the record of views, the API keys), read in one snapshot after the log,
//!   so that every key a commit of the copy needs is in it (unless erased since: erased stays
//!   erased);
//! - `jwt-secret`: the secret tokens are signed with, when the data directory has one;
//! - `evidence/TENANT/SHA256`: every photo and document uploaded as evidence (each named by its
//!   content hash, so a file taken while uploads go on is whole or not there);
//! - `backup.json`: the manifest, written last: what the log held, when the backup began, and
//!   every file's size and SHA-256. A directory without it is not a backup.
//!
//! The read model is not copied: it is rebuilt from the log on restore.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use docket_commands::Vault;
use docket_eventlog::{EventLog, SqliteLog};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::config::{BackupArgs, DataDir, RestoreArgs};
use crate::{BoxError, open_log, open_vault};

/// The backup format this release writes and reads.
const FORMAT: u32 = 1;
const MANIFEST: &str = "backup.json";
const EMBEDDED_LOG: &str = "log.sqlite";
const ARCHIVED_LOG: &str = "log.jsonl";
const KEYS: &str = "keys.sqlite";
const SECRET: &str = "jwt-secret";
/// Evidence files sit in the backup under this directory, as in the data directory's store.
const EVIDENCE: &str = "evidence";

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    docket_backup: u32,
    /// The log backed up, as the read model names it (`sqlite`, `nats:STREAM`).
    log: String,
    /// When the backup began: every commit acknowledged before it is in the backup.
    began_at: jiff::Timestamp,
    finished_at: jiff::Timestamp,
    /// The position of the last commit in the backup.
    head: u64,
    /// Rows of the key store copied.
    key_rows: u64,
    files: BTreeMap<String, File>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct File {
    bytes: u64,
    sha256: String,
}

pub(crate) fn take(args: BackupArgs) -> Result<(), Box<dyn std::error::Error>> {
    crate::run_to_end(back_up(args))
}

pub(crate) fn restore(args: RestoreArgs) -> Result<(), Box<dyn std::error::Error>> {
    crate::run_to_end(put_back(args))
}

fn describe(file: &Path) -> Result<File, BoxError> {
    let mut input = std::fs::File::open(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut digest = sha2::Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = input.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        digest.update(&buffer[..n]);
    }
    Ok(File {
        bytes,
        sha256: hex::encode(digest.finalize()),
    })
}

/// Whether a directory is missing or empty.
fn vacant(dir: &Path) -> Result<bool, BoxError> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(format!("{}: {e}", dir.display()).into()),
    }
}

async fn back_up(args: BackupArgs) -> Result<(), BoxError> {
    let began_at = jiff::Timestamp::now();
    if !vacant(&args.to)? {
        return Err(format!(
            "{} is not empty: a backup goes into a new directory",
            args.to.display()
        )
        .into());
    }
    if !args.store.data.data_dir.is_dir() {
        return Err(format!(
            "no data directory at {}: is --data-dir right?",
            args.store.data.data_dir.display()
        )
        .into());
    }
    let dir = DataDir::create(&args.store.data.data_dir)?;
    if args.store.log == "sqlite" && !dir.log_path().exists() {
        return Err(format!(
            "no embedded log at {}: is --data-dir right (or --log, for JetStream)?",
            dir.log_path().display()
        )
        .into());
    }
    // Written beside its place and renamed when whole: a directory named as the backup is one.
    let partial = PathBuf::from(format!("{}.partial", args.to.display()));
    if partial.exists() {
        return Err(format!(
            "{} exists: an earlier backup was interrupted there; remove it and run again",
            partial.display()
        )
        .into());
    }
    // Readable by its owner only: it holds every person's key.
    std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
        .create(&partial)
        .map_err(|e| format!("{}: {e}", partial.display()))?;

    // The log first, then the keys: every key a commit of the copy needs was made before the
    // commit was written, so it is in the later copy of the keys.
    let (log_name, head) = if args.store.log == "sqlite" {
        let log = SqliteLog::open(dir.log_path())?;
        let head = log.back_up_to(partial.join(EMBEDDED_LOG)).await?;
        ("sqlite".to_owned(), head)
    } else {
        let (log, name) = open_log(&args.store, &dir).await?;
        let written = crate::archive::write(
            log.as_ref(),
            None,
            name.clone(),
            &partial.join(ARCHIVED_LOG),
        )
        .await?;
        (name, written.head)
    };
    if head == 0 {
        let _ = std::fs::remove_dir_all(&partial);
        return Err(format!(
            "the log {log_name} holds no commits: nothing to back up (are --data-dir, --log and \
             --nats-stream right?)"
        )
        .into());
    }
    eprintln!("docket: the log {log_name} is copied, through position {head}");
    let vault = open_vault(&args.store, &dir).await?;
    let copy = Vault::open(partial.join(KEYS)).await?;
    let key_rows = vault.copy_to(&copy).await?;
    copy.close().await;
    let mut journal = partial.join(KEYS).into_os_string();
    journal.push("-wal");
    if Path::new(&journal).exists() {
        return Err("the key store's copy was not closed whole (its journal remains)".into());
    }
    if dir.secret_path().exists() {
        std::fs::copy(dir.secret_path(), partial.join(SECRET))?;
    } else if std::env::var_os("DOCKET_JWT_SECRET").is_some() {
        eprintln!(
            "docket: the token secret comes from DOCKET_JWT_SECRET and is not in the backup: \
             keep it with the deployment's other secrets"
        );
    }
    let mut files = BTreeMap::new();
    for name in [EMBEDDED_LOG, ARCHIVED_LOG, KEYS, SECRET] {
        let path = partial.join(name);
        if path.exists() {
            files.insert(name.to_owned(), describe(&path)?);
        }
    }
    if std::env::var_os("DOCKET_EVIDENCE_S3_BUCKET").is_some() {
        eprintln!(
            "docket: the evidence is kept in a bucket (DOCKET_EVIDENCE_S3_BUCKET), which a backup \
             does not copy: the bucket's own versioning and replication keep it"
        );
    }
    let evidence = copy_evidence(&args.evidence.path(dir.path()), &partial)?;
    for name in &evidence {
        files.insert(name.clone(), describe(&partial.join(name))?);
    }
    let manifest = Manifest {
        docket_backup: FORMAT,
        log: log_name,
        began_at,
        finished_at: jiff::Timestamp::now(),
        head,
        key_rows,
        files,
    };
    std::fs::write(
        partial.join(MANIFEST),
        serde_json::to_vec_pretty(&manifest)?,
    )?;
    for name in manifest.files.keys().map(String::as_str).chain([MANIFEST]) {
        let path = partial.join(name);
        // Readable by the owner only, also once moved apart (the keys, say).
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        std::fs::File::open(&path)?.sync_all()?;
    }
    if partial.join(EVIDENCE).exists() {
        for entry in std::fs::read_dir(partial.join(EVIDENCE))? {
            std::fs::File::open(entry?.path())?.sync_all()?;
        }
        std::fs::File::open(partial.join(EVIDENCE))?.sync_all()?;
    }
    if args.to.exists() {
        std::fs::remove_dir(&args.to)?;
    }
    std::fs::rename(&partial, &args.to)?;
    // The rename is on disk too.
    if let Some(parent) = args.to.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::File::open(parent)?.sync_all()?;
    }
    println!(
        "docket: backed up {} through position {head}, {key_rows} rows of keys and {} evidence \
         files to {}",
        manifest.log,
        evidence.len(),
        args.to.display()
    );
    Ok(())
}

/// Whether `name` is an evidence file's place in a backup: `evidence/TENANT/SHA256`.
fn is_evidence_name(name: &str) -> bool {
    let mut parts = name.split('/');
    matches!(
        (parts.next(), parts.next(), parts.next(), parts.next()),
        (Some(EVIDENCE), Some(tenant), Some(hash), None)
            if tenant.parse::<docket_domain::TenantId>().is_ok()
                && hash.len() == 64
                && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    )
}

/// Copies every evidence file of `store` into the backup at `to`; answers their names there.
fn copy_evidence(store: &Path, to: &Path) -> Result<Vec<String>, BoxError> {
    let mut names = Vec::new();
    if !store.is_dir() {
        return Ok(names);
    }
    for tenant in std::fs::read_dir(store)? {
        let tenant = tenant?;
        if !tenant.file_type()?.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(tenant.path())? {
            let file = file?;
            let name = format!(
                "{EVIDENCE}/{}/{}",
                tenant.file_name().to_string_lossy(),
                file.file_name().to_string_lossy()
            );
            // Uploads still being written are dot-files; anything else is not the store's.
            if !is_evidence_name(&name) {
                continue;
            }
            let target = to.join(&name);
            std::fs::create_dir_all(target.parent().expect("a tenant's directory"))?;
            std::fs::copy(file.path(), &target)?;
            // A file whose bytes are not its name's is damaged: left out, and said, so that one
            // bad photo does not make the whole backup one restore refuses.
            if describe(&target)?.sha256 != file.file_name().to_string_lossy() {
                std::fs::remove_file(&target)?;
                eprintln!(
                    "docket: {} is damaged (its content does not have its name's hash) and is not in the backup",
                    file.path().display()
                );
                continue;
            }
            names.push(name);
        }
    }
    Ok(names)
}

/// Puts the backup's evidence files into `store`, each written whole before it takes its name.
fn restore_evidence(manifest: &Manifest, from: &Path, store: &Path) -> Result<usize, BoxError> {
    let mut restored = 0;
    for name in manifest.files.keys().filter(|n| is_evidence_name(n)) {
        let relative = name
            .strip_prefix(&format!("{EVIDENCE}/"))
            .expect("an evidence name");
        let target = store.join(relative);
        if target.exists() {
            continue;
        }
        let dir = target.parent().expect("a tenant's directory");
        std::fs::create_dir_all(dir)?;
        let temporary = dir.join(format!(".restore-{}", uuid::Uuid::now_v7()));
        std::fs::copy(from.join(name), &temporary)?;
        std::fs::File::open(&temporary)?.sync_all()?;
        std::fs::rename(&temporary, &target)?;
        std::fs::File::open(dir)?.sync_all()?;
        restored += 1;
    }
    Ok(restored)
}

/// The backup's manifest, each of its files checked against it.
fn read_manifest(from: &Path) -> Result<Manifest, BoxError> {
    let text = std::fs::read(from.join(MANIFEST)).map_err(|e| {
        format!(
            "{} is not a whole backup (no {MANIFEST}: {e})",
            from.display()
        )
    })?;
    let manifest: Manifest = serde_json::from_slice(&text).map_err(|e| {
        format!(
            "{}: not a backup manifest: {e}",
            from.join(MANIFEST).display()
        )
    })?;
    if manifest.docket_backup != FORMAT {
        return Err(format!(
            "backup format {} is not this release's ({FORMAT})",
            manifest.docket_backup
        )
        .into());
    }
    // Names first: a manifest names files inside the backup, and nothing else is read.
    if let Some(name) = manifest.files.iter().find_map(|(n, f)| {
        let known = [EMBEDDED_LOG, ARCHIVED_LOG, KEYS, SECRET].contains(&n.as_str())
            || (is_evidence_name(n) && n.ends_with(&format!("/{}", f.sha256)));
        (!known).then_some(n)
    }) {
        return Err(format!(
            "the backup's manifest names {name:?}, which no backup holds; nothing was restored"
        )
        .into());
    }
    for (name, expected) in &manifest.files {
        let found = describe(&from.join(name))?;
        if found != *expected {
            return Err(format!(
                "{} does not match the backup's manifest (it was altered or damaged); nothing was restored",
                from.join(name).display()
            )
            .into());
        }
    }
    if !manifest.files.contains_key(KEYS) {
        return Err("the backup holds no key store; nothing was restored".into());
    }
    if manifest.files.contains_key(EMBEDDED_LOG) == manifest.files.contains_key(ARCHIVED_LOG) {
        return Err(format!(
            "the backup's manifest must list one log ({EMBEDDED_LOG} or {ARCHIVED_LOG}); nothing was restored"
        )
        .into());
    }
    Ok(manifest)
}

/// A copy of a backup's file in the data directory, removed when dropped: SQLite files are
/// opened from there, so the backup itself is only read.
struct Scratch(PathBuf);

impl Scratch {
    fn copy(from: &Path, dir: &DataDir, name: &str) -> Result<Self, BoxError> {
        let path = dir.path().join(format!(".restore-{name}"));
        std::fs::copy(from, &path)?;
        Ok(Self(path))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut path = self.0.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

async fn put_back(args: RestoreArgs) -> Result<(), BoxError> {
    let manifest = read_manifest(&args.from)?;
    let dir = DataDir::create(&args.store.data.data_dir)?;
    let embedded = args.store.log == "sqlite";

    // Into empty places only: a restore never mixes with what is there.
    if embedded {
        if dir.log_path().exists() {
            let head = SqliteLog::open(dir.log_path())?.head().await?;
            if head > 0 {
                return Err(format!(
                    "{} holds {head} commits: restore into an empty data directory",
                    dir.log_path().display()
                )
                .into());
            }
        }
    } else {
        let (log, name) = open_log(&args.store, &dir).await?;
        let head = log.head().await?;
        if head > 0 {
            return Err(format!(
                "the log {name} holds {head} commits: restore into an empty stream"
            )
            .into());
        }
    }
    let vault = open_vault(&args.store, &dir).await?;
    if !vault.is_empty().await? {
        return Err(
            "the key store is not empty: restore into an empty data directory (and read-model database)"
                .into(),
        );
    }
    // The secret only if the manifest lists it (and so checked it).
    let secret = manifest
        .files
        .contains_key(SECRET)
        .then(|| args.from.join(SECRET));
    if let Some(secret) = &secret
        && dir.secret_path().exists()
        && std::fs::read(secret)? != std::fs::read(dir.secret_path())?
    {
        return Err(format!(
            "{} holds another token secret: restore into an empty data directory",
            dir.path().display()
        )
        .into());
    }

    // The log checked whole before anything is written: every chain, and its end where the
    // manifest says.
    let embedded_copy = if manifest.files.contains_key(EMBEDDED_LOG) {
        let scratch = Scratch::copy(&args.from.join(EMBEDDED_LOG), &dir, EMBEDDED_LOG)?;
        let chains = check_embedded(&scratch.0).await?;
        ends_where_manifest_says(&manifest, chains.last_position)?;
        eprintln!(
            "docket: the backup's log holds {} commits; every chain holds",
            chains.commits
        );
        Some((scratch, chains.commits))
    } else {
        None
    };
    let archived = if manifest.files.contains_key(ARCHIVED_LOG) {
        let held = crate::archive::check(&args.from.join(ARCHIVED_LOG))
            .map_err(|e| format!("in the backup: {e}; nothing was restored"))?;
        ends_where_manifest_says(&manifest, held.last_position)?;
        eprintln!(
            "docket: the backup's archive holds {} commits; every chain holds",
            held.commits
        );
        Some(held)
    } else {
        None
    };
    let left = |what: &str, e: BoxError| -> BoxError {
        format!(
            "{e}; the restore stopped after {what}: remove the data directory (and the stream, and \
             the key store's tables) and run it again"
        )
        .into()
    };

    // The keys first, in one transaction: a log without its keys would show its people as
    // unreadable.
    let keys = Scratch::copy(&args.from.join(KEYS), &dir, KEYS)?;
    let backed_up = Vault::open(&keys.0).await?;
    let key_rows = backed_up.copy_to(&vault).await?;
    backed_up.close().await;
    drop(keys);
    eprintln!("docket: restored {key_rows} rows of keys");

    let commits = match embedded_copy {
        // The same kind of log: the file itself, once checked.
        Some((scratch, _)) if embedded => {
            for suffix in ["", "-wal", "-shm"] {
                let mut path = dir.log_path().into_os_string();
                path.push(suffix);
                let _ = std::fs::remove_file(path);
            }
            std::fs::File::open(&scratch.0)?.sync_all()?;
            std::fs::rename(&scratch.0, dir.log_path())?;
            let head = SqliteLog::open(dir.log_path())?.head().await?;
            ends_where_manifest_says(&manifest, head).map_err(|e| left("the keys", e))?;
            head
        }
        Some((scratch, total)) => {
            let source = SqliteLog::open(&scratch.0)?;
            let (target, name) = open_log(&args.store, &dir).await?;
            let mut appending = crate::archive::Appending::new(target.as_ref(), &name, total);
            crate::archive::each_page(&source, u64::MAX, async |page| {
                let commits: Vec<_> = page.into_iter().map(|r| r.commit).collect();
                appending
                    .append(&commits)
                    .await
                    .map_err(|e| left("the keys and part of the log", e))
            })
            .await?;
            appending.end();
            appending.appended
        }
        None => {
            let (target, name) = open_log(&args.store, &dir).await?;
            match &archived {
                Some(held) => {
                    crate::archive::append_archive(
                        &args.from.join(ARCHIVED_LOG),
                        held,
                        target.as_ref(),
                        &name,
                    )
                    .await
                    .map_err(|e| left("the keys and part of the log", e))?
                    .0
                }
                None => 0,
            }
        }
    };
    if let Some(secret) = &secret {
        std::fs::copy(secret, dir.secret_path())?;
    }
    let evidence = restore_evidence(&manifest, &args.from, &args.evidence.path(dir.path()))
        .map_err(|e| left("the keys and the log", e))?;
    eprintln!("docket: restored {evidence} evidence files");
    eprintln!(
        "docket: restored {commits} commits (backed up from {} to {})",
        manifest.began_at, manifest.finished_at
    );
    crate::rebuild::rebuild_cases(&args.store).await?;
    println!(
        "docket: restored the backup of {} through position {}; `docket verify` checks every chain and row",
        manifest.log, manifest.head
    );
    Ok(())
}

/// Every chain of an embedded log (a copy of the backup's), read page by page.
async fn check_embedded(path: &Path) -> Result<crate::archive::Chains, BoxError> {
    let log = SqliteLog::open(path)?;
    let mut chains = crate::archive::Chains::default();
    crate::archive::each_page(&log, u64::MAX, async |page| {
        for r in &page {
            chains.take(r.position, &r.commit).map_err(|why| {
                format!("the backup's log is refused: {why}; nothing was restored")
            })?;
        }
        Ok(())
    })
    .await?;
    Ok(chains)
}

/// Whether a log's last position is the head the manifest recorded.
fn ends_where_manifest_says(manifest: &Manifest, last: u64) -> Result<(), BoxError> {
    if last != manifest.head {
        return Err(format!(
            "the backup's log ends at position {last}, its manifest at {}: it is not the log that \
             was backed up; nothing was restored",
            manifest.head
        )
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest_naming(dir: &Path, name: &str, sha256: &str) {
        let manifest = json_manifest(name, sha256);
        std::fs::write(dir.join(MANIFEST), manifest).unwrap();
    }

    fn json_manifest(name: &str, sha256: &str) -> String {
        serde_json::json!({
            "docket_backup": FORMAT, "log": "sqlite", "began_at": "2026-01-01T00:00:00Z",
            "finished_at": "2026-01-01T00:00:01Z", "head": 1, "key_rows": 0,
            "files": { name: { "bytes": 0, "sha256": sha256 } }
        })
        .to_string()
    }

    #[test]
    fn a_manifest_naming_files_outside_the_backup_reads_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let hash = "a".repeat(64);
        for name in [
            "/etc/passwd".to_owned(),
            "../jwt-secret".to_owned(),
            format!("evidence/demo/../../{hash}"),
            // An evidence file is named by its own hash.
            format!("evidence/demo/{}", "b".repeat(64)),
        ] {
            manifest_naming(dir.path(), &name, &hash);
            let err = read_manifest(dir.path()).unwrap_err().to_string();
            assert!(err.contains("which no backup holds"), "{name}: {err}");
        }
        assert!(is_evidence_name(&format!("evidence/demo/{hash}")));
    }

    #[test]
    fn a_damaged_photo_is_left_out_of_the_backup_not_the_whole_evidence() {
        let (store, to) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let whole = b"\xFF\xD8\xFFwhole";
        let whole_hash = hex::encode(sha2::Sha256::digest(whole));
        std::fs::create_dir_all(store.path().join("demo")).unwrap();
        std::fs::write(store.path().join("demo").join(&whole_hash), whole).unwrap();
        std::fs::write(store.path().join("demo").join("b".repeat(64)), b"bit rot").unwrap();
        // An upload still being written is not the store's yet.
        std::fs::write(store.path().join("demo").join(".partial"), b"half").unwrap();
        let names = copy_evidence(store.path(), to.path()).unwrap();
        assert_eq!(names, vec![format!("evidence/demo/{whole_hash}")]);
        assert_eq!(
            std::fs::read_dir(to.path().join("evidence/demo"))
                .unwrap()
                .count(),
            1
        );
    }
}
