//! `docket export` and `docket import`: a tenant's commits (or every tenant's) moved from one
//! log to another as a verifiable archive, which is how an office that outgrew one machine moves
//! to the cluster.
//!
//! The archive is JSON lines: a header (`{"docket_archive": 1, …}`), one line per commit in log
//! order (`{"position", "commit"}`, the commit as the log holds it, with its hashes), and a trailer
//! with the count and the SHA-256 of every line before it. An import reads the whole archive and
//! checks it before appending anything: the trailer (nothing cut off, nothing altered), and every
//! case's chain (versions 1, 2, 3 …, each linked to the one before, each hash matching its
//! content). A broken archive is refused, naming the commit. An interrupted import is resumed by
//! running it again: the log recognises the commits it already holds by their ids.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};

use docket_eventlog::{ChainHash, Commit, EventLog, LogError};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use uuid::Uuid;

use crate::config::{DataDir, ExportArgs, ImportArgs};
use crate::{BoxError, open_log};

/// The archive format this release writes and reads.
const FORMAT: u32 = 1;
/// How many commits are read from the log at a time.
const PAGE: usize = 1000;

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Header {
    docket_archive: u32,
    /// The tenant exported, or none for all.
    tenant: Option<String>,
    /// The log the commits came from.
    source: String,
    exported_at: jiff::Timestamp,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Line {
    /// Where the commit was in the source log.
    pub(crate) position: u64,
    pub(crate) commit: Commit,
}

#[derive(Debug, Serialize, Deserialize)]
struct Trailer {
    end: End,
}

#[derive(Debug, Serialize, Deserialize)]
struct End {
    commits: u64,
    /// SHA-256 of every line before the trailer, each with its newline.
    sha256: String,
}

pub(crate) fn export(args: ExportArgs) -> Result<(), Box<dyn std::error::Error>> {
    crate::run_to_end(write_archive(args))
}

pub(crate) fn import(args: ImportArgs) -> Result<(), Box<dyn std::error::Error>> {
    crate::run_to_end(read_archive(args))
}

async fn write_archive(args: ExportArgs) -> Result<(), BoxError> {
    let dir = DataDir::create(&args.store.data.data_dir)?;
    let (log, source) = open_log(&args.store, &dir).await?;
    let tenant = args
        .tenant
        .as_deref()
        .map(|t| t.parse::<docket_domain::TenantId>().map(|t| t.to_string()))
        .transpose()?;
    let written = write(log.as_ref(), tenant.clone(), source, &args.to).await?;
    eprintln!(
        "\rdocket: exported {} commits{} to {}",
        written.commits,
        tenant.map_or_else(String::new, |t| format!(" of tenant {t}")),
        args.to.display()
    );
    Ok(())
}

/// What an archive holds.
pub(crate) struct Written {
    pub(crate) commits: u64,
    /// The log's head when the export began: the archive holds every commit up to it.
    pub(crate) head: u64,
}

/// Writes the log's commits up to its present head (the tenant's, or all) as an archive at
/// `to`: written beside it and renamed at the end, so a file named as an archive is whole.
pub(crate) async fn write(
    log: &dyn EventLog,
    tenant: Option<String>,
    source: String,
    to: &std::path::Path,
) -> Result<Written, BoxError> {
    let partial = to.with_extension("partial");
    let file =
        std::fs::File::create(&partial).map_err(|e| format!("{}: {e}", partial.display()))?;
    let mut out = Writer {
        out: std::io::BufWriter::new(file),
        digest: sha2::Sha256::new(),
    };
    let header = Header {
        docket_archive: FORMAT,
        tenant: tenant.clone(),
        source,
        exported_at: jiff::Timestamp::now(),
    };
    out.line(&header)?;
    let head = log.head().await?;
    let (mut after, mut commits) = (0, 0u64);
    while after < head {
        let page = log.read_all(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.position;
        for r in page.into_iter().filter(|r| r.position <= head) {
            if tenant.as_ref().is_some_and(|t| *t != r.commit.body.tenant) {
                continue;
            }
            out.line(&Line {
                position: r.position,
                commit: r.commit,
            })?;
            commits += 1;
        }
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            eprint!("\rdocket: exported {commits} commits, through position {after} of {head}");
        }
    }
    let Writer { mut out, digest } = out;
    let trailer = Trailer {
        end: End {
            commits,
            sha256: hex::encode(digest.finalize()),
        },
    };
    let mut bytes = serde_json::to_vec(&trailer)?;
    bytes.push(b'\n');
    out.write_all(&bytes)?;
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    std::fs::rename(&partial, to)?;
    Ok(Written { commits, head })
}

/// The archive being written, and the hash of its lines so far.
struct Writer {
    out: std::io::BufWriter<std::fs::File>,
    digest: sha2::Sha256,
}

impl Writer {
    /// Writes `value` as one JSON line.
    fn line(&mut self, value: &impl Serialize) -> Result<(), BoxError> {
        let mut bytes = serde_json::to_vec(value)?;
        bytes.push(b'\n');
        self.digest.update(&bytes);
        self.out.write_all(&bytes)?;
        Ok(())
    }
}

/// Why an archive is refused, naming where.
fn broken(at: usize, reason: impl std::fmt::Display) -> BoxError {
    format!("the archive is refused at line {at}: {reason}; nothing was imported").into()
}

/// A commit as a refusal names it.
fn named(position: u64, c: &Commit) -> String {
    let b = &c.body;
    format!(
        "commit {} (case {}, version {}, position {position})",
        b.commit_id, b.case_id, b.version
    )
}

/// Every case's chain as its commits come, in log order: versions 1, 2, 3 …, each commit linked
/// to the one before, each hash its content's.
#[derive(Default)]
pub(crate) struct Chains {
    tips: HashMap<Uuid, (u64, ChainHash)>,
    /// Commits taken, and the position of the last.
    pub(crate) commits: u64,
    pub(crate) last_position: u64,
}

impl Chains {
    /// Takes the next commit of the log: why it breaks a chain, naming it, if it does.
    pub(crate) fn take(&mut self, position: u64, c: &Commit) -> Result<(), String> {
        let b = &c.body;
        let (version, prev) = self
            .tips
            .get(&b.case_id)
            .cloned()
            .unwrap_or((0, ChainHash::genesis()));
        if b.version != version + 1 {
            return Err(format!(
                "{}: version out of sequence after {version}",
                named(position, c)
            ));
        }
        if c.prev_hash != prev {
            return Err(format!(
                "{}: does not link to the previous commit",
                named(position, c)
            ));
        }
        if !c.hash_holds() {
            return Err(format!(
                "{}: its hash does not match its content",
                named(position, c)
            ));
        }
        self.tips.insert(b.case_id, (b.version, c.hash.clone()));
        self.commits += 1;
        self.last_position = position;
        Ok(())
    }
}

/// Reads and checks a whole archive: its commits in order, or why it is refused. The chains
/// first, so that an altered commit is named even when the trailer was made to match.
pub(crate) fn check(path: &std::path::Path) -> Result<(Header, Vec<Line>), BoxError> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut lines = BufReader::new(file).lines().enumerate();
    let mut digest = sha2::Sha256::new();
    let take = |digest: &mut sha2::Sha256, text: &str| {
        digest.update(text.as_bytes());
        digest.update(b"\n");
    };
    let Some((_, first)) = lines.next() else {
        return Err(broken(1, "it is empty"));
    };
    let first = first?;
    let header: Header =
        serde_json::from_str(&first).map_err(|e| broken(1, format!("no archive header ({e})")))?;
    if header.docket_archive != FORMAT {
        return Err(broken(
            1,
            format!(
                "format {} is not this release's ({FORMAT})",
                header.docket_archive
            ),
        ));
    }
    take(&mut digest, &first);
    let mut commits = Vec::new();
    let mut trailer = None;
    for (i, text) in lines {
        let at = i + 1;
        let text = text?;
        if trailer.is_some() {
            return Err(broken(at, "lines follow the trailer"));
        }
        if let Ok(t) = serde_json::from_str::<Trailer>(&text) {
            trailer = Some(t);
            continue;
        }
        let line: Line =
            serde_json::from_str(&text).map_err(|e| broken(at, format!("not a commit ({e})")))?;
        take(&mut digest, &text);
        commits.push((at, line));
    }
    // Every case's chain, in archive order: 1, 2, 3 …, each linked, each hash its content's.
    let mut chains = Chains::default();
    for (at, line) in &commits {
        let b = &line.commit.body;
        if header.tenant.as_ref().is_some_and(|t| *t != b.tenant) {
            return Err(broken(
                *at,
                format!(
                    "{} is of another tenant",
                    named(line.position, &line.commit)
                ),
            ));
        }
        chains
            .take(line.position, &line.commit)
            .map_err(|why| broken(*at, why))?;
    }
    let Some(Trailer { end }) = trailer else {
        return Err(broken(
            commits.len() + 2,
            "it has no trailer: it was cut short",
        ));
    };
    if end.commits != commits.len() as u64 {
        return Err(broken(
            commits.len() + 2,
            format!(
                "the trailer counts {} commits, the archive holds {}",
                end.commits,
                commits.len()
            ),
        ));
    }
    if end.sha256 != hex::encode(digest.finalize()) {
        return Err(broken(
            commits.len() + 2,
            "its lines do not hash to the trailer's SHA-256: it was altered",
        ));
    }
    Ok((header, commits.into_iter().map(|(_, l)| l).collect()))
}

async fn read_archive(args: ImportArgs) -> Result<(), BoxError> {
    let (header, commits) = check(&args.from)?;
    let cases = commits
        .iter()
        .map(|l| l.commit.body.case_id)
        .collect::<std::collections::HashSet<_>>()
        .len();
    eprintln!(
        "docket: the archive holds {} commits of {cases} streams{}, exported from {} at {}; every chain holds",
        commits.len(),
        header
            .tenant
            .as_ref()
            .map_or_else(String::new, |t| format!(" of tenant {t}")),
        header.source,
        header.exported_at
    );
    let dir = DataDir::create(&args.store.data.data_dir)?;
    let (log, target) = open_log(&args.store, &dir).await?;
    let commits: Vec<Commit> = commits.into_iter().map(|l| l.commit).collect();
    let (appended, already) = append(log.as_ref(), &target, &commits).await?;
    eprintln!("\rdocket: imported {appended} commits into {target} ({already} were there already)");
    Ok(())
}

/// Appends commits in order to `log` (named `target`): how many were appended, and how many
/// the log held already (by their ids), so that running it again resumes.
pub(crate) async fn append(
    log: &dyn EventLog,
    target: &str,
    commits: &[Commit],
) -> Result<(u64, u64), BoxError> {
    let (mut appended, mut already) = (0u64, 0u64);
    for (i, commit) in commits.iter().enumerate() {
        let b = &commit.body;
        match log.append(commit).await {
            Ok(a) if a.duplicate => already += 1,
            Ok(_) => appended += 1,
            Err(LogError::Conflict { .. }) => {
                return Err(format!(
                    "{target} already holds another version {} of case {}: import into a log \
                     without this tenant's cases ({appended} commits were appended before it; \
                     running the import again resumes)",
                    b.version, b.case_id
                )
                .into());
            }
            Err(e) => {
                return Err(format!(
                    "commit {} (case {}, version {}) was not appended: {e} ({appended} commits \
                     were appended before it; running the import again resumes)",
                    b.commit_id, b.case_id, b.version
                )
                .into());
            }
        }
        if i % 500 == 0 && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            eprint!("\rdocket: appended {} of {}", i + 1, commits.len());
        }
    }
    Ok((appended, already))
}
