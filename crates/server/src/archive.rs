//! `docket export` and `docket import`: a tenant's commits (or every tenant's) moved from one
//! log to another as a verifiable archive, which is how an office that outgrew one machine moves
//! to the cluster.
//!
//! The archive is JSON lines: a header (`{"docket_archive": 1, …}`), one line per commit in log
//! order (`{"position", "commit"}`, the commit as the log holds it, with its hashes), and a trailer
//! with the count and the SHA-256 of every line before it. An import reads the whole archive and
//! checks it before appending anything: the trailer (nothing cut off, nothing altered), and every
//! case's chain (versions 1, 2, 3 …, each linked to the one before, each hash matching its
//! content). A broken archive is refused, naming the commit. Then it reads the archive again, a
//! page at a time, to append: neither pass holds more than a page of commits. An interrupted
//! import is resumed by running it again: the log recognises the commits it already holds by
//! their ids.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};

use docket_eventlog::{ChainHash, Commit, EventLog, LogError, Recorded};
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

/// Hands `log`'s commits to `each` a page at a time, in log order, from the first through
/// position `through` (`u64::MAX`: to the end). No page is empty.
pub(crate) async fn each_page(
    log: &dyn EventLog,
    through: u64,
    each: impl AsyncFnMut(Vec<Recorded>) -> Result<(), BoxError>,
) -> Result<(), BoxError> {
    each_page_after(log, 0, through, each).await
}

/// `each_page`, from the commit after position `after`.
pub(crate) async fn each_page_after(
    log: &dyn EventLog,
    mut after: u64,
    through: u64,
    mut each: impl AsyncFnMut(Vec<Recorded>) -> Result<(), BoxError>,
) -> Result<(), BoxError> {
    while after < through {
        let mut page = log.read_all(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.position;
        page.retain(|r| r.position <= through);
        if !page.is_empty() {
            each(page).await?;
        }
    }
    Ok(())
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
    let mut commits = 0u64;
    each_page(log, head, async |page| {
        let last = page.last().map_or(0, |r| r.position);
        for r in page {
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
            eprint!("\rdocket: exported {commits} commits, through position {last} of {head}");
        }
        Ok(())
    })
    .await?;
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
    format!("the archive is refused at line {at}: {reason}").into()
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

/// An archive read a page of lines at a time, each line hashed, the trailer checked at the end.
/// An import reads it twice: first verifying each commit as it comes (its tenant, its case's
/// chain), before anything is appended; then to append, each page only if it hashes as it did
/// the first time. Either reading holds one page of commits and each case's last version and
/// hash, never the whole archive.
pub(crate) struct Reading {
    lines: std::iter::Enumerate<std::io::Lines<BufReader<std::fs::File>>>,
    /// Whether each commit's tenant and chain are checked (the first reading).
    verifying: bool,
    digest: sha2::Sha256,
    chains: Chains,
    header: Header,
    trailer: Option<Trailer>,
    commits: u64,
    last_position: u64,
    /// The SHA-256 of each page's lines, as read.
    pages: Vec<Vec<u8>>,
}

/// What a checked archive holds.
pub(crate) struct Held {
    pub(crate) header: Header,
    pub(crate) commits: u64,
    /// How many cases (and directories) the commits are of.
    pub(crate) streams: usize,
    /// The source position of the last commit, 0 if none.
    pub(crate) last_position: u64,
    sha256: String,
    /// The SHA-256 of each page's lines, so that a second reading appends only what was checked.
    pages: Vec<Vec<u8>>,
}

impl Reading {
    /// Opens the archive at `path` and reads its header; `verifying` each commit or not.
    pub(crate) fn open(path: &std::path::Path, verifying: bool) -> Result<Reading, BoxError> {
        let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut lines = BufReader::new(file).lines().enumerate();
        let Some((_, first)) = lines.next() else {
            return Err(broken(1, "it is empty"));
        };
        let first = first?;
        let header: Header = serde_json::from_str(&first)
            .map_err(|e| broken(1, format!("no archive header ({e})")))?;
        if header.docket_archive != FORMAT {
            return Err(broken(
                1,
                format!(
                    "format {} is not this release's ({FORMAT})",
                    header.docket_archive
                ),
            ));
        }
        let mut digest = sha2::Sha256::new();
        hash_line(&mut digest, &first);
        Ok(Reading {
            lines,
            verifying,
            digest,
            chains: Chains::default(),
            header,
            trailer: None,
            commits: 0,
            last_position: 0,
            pages: Vec::new(),
        })
    }

    /// The next commits, up to `limit` (each checked if verifying); none once the trailer is
    /// reached.
    pub(crate) fn page(&mut self, limit: usize) -> Result<Vec<Line>, BoxError> {
        let mut page = Vec::new();
        let mut page_digest = sha2::Sha256::new();
        while page.len() < limit && self.trailer.is_none() {
            let Some((i, text)) = self.lines.next() else {
                break;
            };
            let at = i + 1;
            let text = text?;
            if let Ok(trailer) = serde_json::from_str::<Trailer>(&text) {
                if let Some((i, _)) = self.lines.next() {
                    return Err(broken(i + 1, "lines follow the trailer"));
                }
                self.trailer = Some(trailer);
                break;
            }
            let line: Line = serde_json::from_str(&text)
                .map_err(|e| broken(at, format!("not a commit ({e})")))?;
            if self.verifying {
                self.verify(at, &line)?;
            }
            self.commits += 1;
            self.last_position = line.position;
            hash_line(&mut self.digest, &text);
            hash_line(&mut page_digest, &text);
            page.push(line);
        }
        if !page.is_empty() {
            self.pages.push(page_digest.finalize().to_vec());
        }
        Ok(page)
    }

    /// Whether the commit on line `at` is of the archive's tenant and continues its case's chain.
    fn verify(&mut self, at: usize, line: &Line) -> Result<(), BoxError> {
        if self
            .header
            .tenant
            .as_ref()
            .is_some_and(|t| *t != line.commit.body.tenant)
        {
            return Err(broken(
                at,
                format!(
                    "{} is of another tenant",
                    named(line.position, &line.commit)
                ),
            ));
        }
        self.chains
            .take(line.position, &line.commit)
            .map_err(|why| broken(at, why))
    }

    /// Once every commit is read: whether the trailer is there, counts them, and hashes every
    /// line before it.
    pub(crate) fn end(self) -> Result<Held, BoxError> {
        let commits = self.commits;
        let at = commits as usize + 2;
        let Some(Trailer { end }) = self.trailer else {
            return Err(broken(at, "it has no trailer: it was cut short"));
        };
        if end.commits != commits {
            return Err(broken(
                at,
                format!(
                    "the trailer counts {} commits, the archive holds {commits}",
                    end.commits
                ),
            ));
        }
        let sha256 = hex::encode(self.digest.finalize());
        if end.sha256 != sha256 {
            return Err(broken(
                at,
                "its lines do not hash to the trailer's SHA-256: it was altered",
            ));
        }
        Ok(Held {
            header: self.header,
            commits,
            streams: self.chains.tips.len(),
            last_position: self.last_position,
            sha256,
            pages: self.pages,
        })
    }
}

fn hash_line(digest: &mut sha2::Sha256, text: &str) {
    digest.update(text.as_bytes());
    digest.update(b"\n");
}

/// Reads and checks a whole archive, a page at a time: what it holds, or why it is refused.
/// Every commit's chain is checked as it is read, so an altered commit is named even when the
/// trailer was made to match.
pub(crate) fn check(path: &std::path::Path) -> Result<Held, BoxError> {
    let mut reading = Reading::open(path, true)?;
    let mut progress = Progress::default();
    let read = loop {
        let page = reading.page(PAGE);
        match page {
            Ok(page) if !page.is_empty() => progress.show(reading.commits, || {
                format!("checked {} commits", reading.commits)
            }),
            Ok(_) => break reading.end(),
            Err(e) => break Err(e),
        }
    };
    progress.end();
    read
}

/// A count shown on a terminal as long work goes on, one line rewritten; ended with a newline.
#[derive(Default)]
pub(crate) struct Progress {
    shown: bool,
    count: u64,
}

impl Progress {
    /// Shows `what` on a terminal each time `count` passes another thousand.
    pub(crate) fn show(&mut self, count: u64, what: impl FnOnce() -> String) {
        let passed = count / 1_000 > self.count / 1_000;
        self.count = count;
        if passed && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            eprint!("\rdocket: {}", what());
            self.shown = true;
        }
    }

    /// Ends the line the count was shown on, if any, so what follows starts a line of its own.
    pub(crate) fn end(&mut self) {
        if std::mem::take(&mut self.shown) {
            eprintln!();
        }
    }
}

/// Appends the commits of the archive at `path`, which `check` found to hold `held`, to `log`
/// (named `target`), a page at a time: how many were appended, and how many the log held
/// already. Each page is appended only if its lines are the ones checked: an archive changed
/// since stops there.
pub(crate) async fn append_archive(
    path: &std::path::Path,
    held: &Held,
    log: &dyn EventLog,
    target: &str,
) -> Result<(u64, u64), BoxError> {
    let mut appending = Appending::new(log, target, held.commits);
    let changed = |appended: u64, e: BoxError| -> BoxError {
        format!(
            "the archive changed after it was checked ({e}); {appended} commits were appended \
             before it"
        )
        .into()
    };
    // Each page is the one checked, so its commits need not be verified again (the log checks
    // each one's hash and link as it appends it).
    let mut reading = Reading::open(path, false).map_err(|e| changed(0, e))?;
    let appended = append_pages(&mut reading, held, &mut appending, changed).await;
    appending.end();
    appended?;
    let again = reading.end().map_err(|e| changed(appending.appended, e))?;
    if again.sha256 != held.sha256 {
        return Err(changed(
            appending.appended,
            "its lines hash to another SHA-256".into(),
        ));
    }
    Ok((appending.appended, appending.already))
}

/// Appends every page `reading` has left that hashes as the check found it.
async fn append_pages(
    reading: &mut Reading,
    held: &Held,
    appending: &mut Appending<'_>,
    changed: impl Fn(u64, BoxError) -> BoxError,
) -> Result<(), BoxError> {
    loop {
        let page = reading
            .page(PAGE)
            .map_err(|e| changed(appending.appended, e))?;
        if page.is_empty() {
            break;
        }
        let at = reading.pages.len() - 1;
        if held.pages.get(at) != reading.pages.last() {
            return Err(changed(
                appending.appended,
                format!(
                    "its lines from line {} on are not those checked",
                    at * PAGE + 2
                )
                .into(),
            ));
        }
        let commits: Vec<Commit> = page.into_iter().map(|l| l.commit).collect();
        appending.append(&commits).await?;
    }
    Ok(())
}

async fn read_archive(args: ImportArgs) -> Result<(), BoxError> {
    let held = check(&args.from).map_err(|e| format!("{e}; nothing was imported"))?;
    eprintln!(
        "docket: the archive holds {} commits of {} streams{}, exported from {} at {}; every chain holds",
        held.commits,
        held.streams,
        held.header
            .tenant
            .as_ref()
            .map_or_else(String::new, |t| format!(" of tenant {t}")),
        held.header.source,
        held.header.exported_at
    );
    let dir = DataDir::create(&args.store.data.data_dir)?;
    let (log, target) = open_log(&args.store, &dir).await?;
    let (appended, already) = append_archive(&args.from, &held, log.as_ref(), &target)
        .await
        .map_err(|e| format!("{e}; running the import again resumes"))?;
    eprintln!("docket: imported {appended} commits into {target} ({already} were there already)");
    Ok(())
}

/// Commits appended in order to a log, counting how many were appended and how many the log
/// held already (by their ids), so that running it again resumes; progress shown on a terminal.
pub(crate) struct Appending<'a> {
    log: &'a dyn EventLog,
    target: &'a str,
    total: u64,
    pub(crate) appended: u64,
    pub(crate) already: u64,
    progress: Progress,
}

impl<'a> Appending<'a> {
    /// Appending to `log` (named `target`) `total` commits in all.
    pub(crate) fn new(log: &'a dyn EventLog, target: &'a str, total: u64) -> Appending<'a> {
        Appending {
            log,
            target,
            total,
            appended: 0,
            already: 0,
            progress: Progress::default(),
        }
    }

    /// Ends the progress line, if one was shown.
    pub(crate) fn end(&mut self) {
        self.progress.end();
    }

    /// Appends the next `commits`, in order.
    pub(crate) async fn append(&mut self, commits: &[Commit]) -> Result<(), BoxError> {
        for commit in commits {
            let b = &commit.body;
            let appended = self.appended;
            match self.log.append(commit).await {
                Ok(a) if a.duplicate => self.already += 1,
                Ok(_) => self.appended += 1,
                Err(LogError::Conflict { .. }) => {
                    self.progress.end();
                    return Err(format!(
                        "{} already holds another version {} of case {}: import into a log \
                         without this tenant's cases ({appended} commits were appended before \
                         it)",
                        self.target, b.version, b.case_id
                    )
                    .into());
                }
                Err(e) => {
                    self.progress.end();
                    return Err(format!(
                        "commit {} (case {}, version {}) was not appended: {e} ({appended} \
                         commits were appended before it)",
                        b.commit_id, b.case_id, b.version
                    )
                    .into());
                }
            }
            let done = self.appended + self.already;
            let total = self.total;
            self.progress
                .show(done, || format!("appended {done} of {total}"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use docket_eventlog::SqliteLog;
    use docket_eventlog::contract::commit;

    use super::*;

    /// A log of `cases` cases with `versions` commits each, interleaved as offices write them.
    async fn log_of(path: &std::path::Path, cases: usize, versions: u64) -> SqliteLog {
        let log = SqliteLog::open(path).unwrap();
        let ids: Vec<Uuid> = (0..cases).map(|_| Uuid::now_v7()).collect();
        let mut prev = vec![ChainHash::genesis(); cases];
        for version in 1..=versions {
            for (i, id) in ids.iter().enumerate() {
                let c = commit("demo", *id, version, prev[i].clone());
                prev[i] = c.hash.clone();
                log.append(&c).await.unwrap();
            }
        }
        log
    }

    /// `log`'s commits exported as the archive `<name>.jsonl` in `dir`.
    async fn exported(log: &SqliteLog, dir: &std::path::Path, name: &str) -> std::path::PathBuf {
        let path = dir.join(format!("{name}.jsonl"));
        write(log, None, "sqlite".into(), &path).await.unwrap();
        path
    }

    /// The archive's lines, without their newlines.
    fn lines_of(path: &std::path::Path) -> Vec<String> {
        let text = std::fs::read_to_string(path).unwrap();
        text.lines().map(str::to_owned).collect()
    }

    /// Writes `lines` as the archive at `path`, each with its newline.
    fn rewrite(path: &std::path::Path, lines: &[String]) {
        std::fs::write(path, lines.join("\n") + "\n").unwrap();
    }

    /// Why appending the archive at `path`, checked as `held`, to `target` stopped.
    async fn stopped(path: &std::path::Path, held: &Held, target: &SqliteLog) -> String {
        append_archive(path, held, target, "target")
            .await
            .unwrap_err()
            .to_string()
    }

    #[tokio::test]
    async fn an_archive_of_several_pages_is_checked_then_appended_and_again_resumes() {
        let dir = tempfile::tempdir().unwrap();
        let source = log_of(&dir.path().join("source.sqlite"), 50, 51).await;
        let path = exported(&source, dir.path(), "all").await;
        let held = check(&path).unwrap();
        assert_eq!(
            (held.commits, held.streams, held.last_position),
            (2550, 50, 2550),
            "more than two pages of {PAGE}"
        );
        let target = SqliteLog::open(dir.path().join("target.sqlite")).unwrap();
        let done = append_archive(&path, &held, &target, "target")
            .await
            .unwrap();
        assert_eq!(done, (2550, 0));
        let commits = |log: SqliteLog| async move {
            let all = log.read_all(0, 3000).await.unwrap();
            all.into_iter().map(|r| r.commit).collect::<Vec<_>>()
        };
        assert_eq!(
            commits(target.clone()).await,
            commits(source).await,
            "every commit, in order"
        );
        let again = append_archive(&path, &held, &target, "target")
            .await
            .unwrap();
        assert_eq!(again, (0, 2550), "a second run finds every commit there");
    }

    #[tokio::test]
    async fn an_archive_changed_after_its_check_stops_the_import_saying_so() {
        let dir = tempfile::tempdir().unwrap();
        let source = log_of(&dir.path().join("source.sqlite"), 3, 4).await;
        let path = exported(&source, dir.path(), "all").await;
        let held = check(&path).unwrap();
        let checked = lines_of(&path);

        // Replaced by another office's archive, whole and valid in itself.
        let other = log_of(&dir.path().join("other.sqlite"), 3, 4).await;
        let replacement = exported(&other, dir.path(), "other").await;
        rewrite(&path, &lines_of(&replacement));
        let target = SqliteLog::open(dir.path().join("target.sqlite")).unwrap();
        let err = stopped(&path, &held, &target).await;
        assert!(
            err.contains("the archive changed after it was checked")
                && err.contains("0 commits were appended"),
            "{err}"
        );
        assert_eq!(
            target.head().await.unwrap(),
            0,
            "nothing unchecked is appended"
        );

        // Cut short after its check: stopped, naming how much was appended.
        rewrite(&path, &checked[..checked.len() - 1]);
        let target = SqliteLog::open(dir.path().join("target-2.sqlite")).unwrap();
        let err = stopped(&path, &held, &target).await;
        assert!(
            err.contains("cut short") && err.contains("12 commits were appended"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_trailer_on_a_page_boundary_and_an_archive_of_no_commits_are_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        for (cases, versions) in [(10, 100), (0, 0)] {
            let name = format!("{cases}x{versions}");
            let source = log_of(&dir.path().join(format!("{name}.sqlite")), cases, versions).await;
            let path = exported(&source, dir.path(), &name).await;
            let held = check(&path).unwrap();
            let n = (cases as u64) * versions;
            assert_eq!((held.commits, held.streams), (n, cases), "{name}");
            let target = SqliteLog::open(dir.path().join(format!("{name}-target.sqlite"))).unwrap();
            let done = append_archive(&path, &held, &target, "target")
                .await
                .unwrap();
            assert_eq!(done, (n, 0), "{name}");
            assert_eq!(target.head().await.unwrap(), n, "{name}");
        }
    }

    #[tokio::test]
    async fn a_broken_commit_past_the_first_page_is_refused_by_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let source = log_of(&dir.path().join("source.sqlite"), 20, 100).await;
        let path = exported(&source, dir.path(), "all").await;
        let mut lines = lines_of(&path);

        // Line 1,501 holds the 1,500th commit; changed, its hash no longer holds.
        let mut altered: serde_json::Value = serde_json::from_str(&lines[1500]).unwrap();
        altered["commit"]["actor"]["id"] = "someone-else".into();
        let mut changed = lines.clone();
        changed[1500] = altered.to_string();
        rewrite(&path, &changed);
        let err = check(&path).err().unwrap().to_string();
        assert!(
            err.contains("line 1501") && err.contains("hash does not match"),
            "{err}"
        );

        // A line after the trailer.
        lines.push(lines[1].clone());
        rewrite(&path, &lines);
        let err = check(&path).err().unwrap().to_string();
        assert!(
            err.contains("line 2003") && err.contains("lines follow the trailer"),
            "{err}"
        );
    }

    #[test]
    fn an_empty_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.jsonl");
        std::fs::write(&path, "").unwrap();
        let err = check(&path).err().unwrap().to_string();
        assert!(err.contains("line 1: it is empty"), "{err}");
    }
}
