//! `docket sweep-evidence`: removes the evidence files no commit names. A photo is uploaded
//! before the action that names it; when that action is never recorded (refused, abandoned, a
//! phone that never came back online), the file stays in the store with no case to account for
//! it. The sweep reads the whole log for the content hashes its commits name, lists the store,
//! and removes each file no commit names that is older than the grace period (so an upload whose
//! action is on its way is kept). Just before removing, it reads the commits recorded meanwhile
//! and keeps what they name.

use std::collections::{HashMap, HashSet};
use std::io::IsTerminal as _;
use std::time::{Duration, SystemTime};

use docket_api::evidence::StoredFile;
use docket_eventlog::EventLog;
use serde_json::Value;

use crate::archive::each_page_after;
use crate::config::{DataDir, SweepEvidenceArgs};
use crate::{BoxError, open_log};

pub(crate) fn run(args: SweepEvidenceArgs) -> Result<(), Box<dyn std::error::Error>> {
    crate::run_to_end(sweep(args))
}

/// The content hashes (their hex digits) the commits name, per tenant.
#[derive(Debug, Default)]
struct Named {
    hashes: HashMap<String, HashSet<String>>,
    /// Commits read.
    commits: u64,
    /// The position of the last commit read.
    last: u64,
    /// When the last commit read was recorded.
    last_recorded: Option<jiff::Timestamp>,
}

impl Named {
    /// Reads every commit after position `after`, to the log's end.
    async fn read(&mut self, log: &dyn EventLog, after: u64) -> Result<(), BoxError> {
        let progress = std::io::stderr().is_terminal();
        each_page_after(log, after, u64::MAX, async |page| {
            for recorded in &page {
                let body = &recorded.commit.body;
                let hashes = self.hashes.entry(body.tenant.clone()).or_default();
                for event in &body.events {
                    hashes_named_in(&event.data, hashes);
                }
                self.last = recorded.position;
                self.last_recorded = Some(body.recorded_at);
            }
            self.commits += page.len() as u64;
            if progress {
                eprint!("\rdocket: read {} commits", self.commits);
            }
            Ok(())
        })
        .await?;
        if progress {
            eprintln!();
        }
        Ok(())
    }

    fn names(&self, file: &StoredFile) -> bool {
        file.hex().is_some_and(|hex| {
            self.hashes
                .get(&file.tenant)
                .is_some_and(|h| h.contains(hex))
        })
    }
}

/// Adds to `out` the hex digits of every `content_hash` in `value` (evidence sits in various
/// places of various events: a filing's, a rectification's, a unit's part).
fn hashes_named_in(value: &Value, out: &mut HashSet<String>) {
    match value {
        Value::Object(fields) => {
            if let Some(hex) = fields
                .get("content_hash")
                .and_then(Value::as_str)
                .and_then(|h| h.strip_prefix("sha256:"))
            {
                out.insert(hex.to_owned());
            }
            fields.values().for_each(|v| hashes_named_in(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| hashes_named_in(v, out)),
        _ => {}
    }
}

/// Refuses to go on when the log was read short of `head` (a read that came back empty early
/// would leave commits unread, and the files they name taken for unnamed).
fn read_to(named: &Named, head: u64) -> Result<(), BoxError> {
    if named.last < head {
        return Err(format!(
            "the log was read through position {} only, and its head is at {head}: nothing \
             more was removed; run it again",
            named.last
        )
        .into());
    }
    Ok(())
}

async fn sweep(args: SweepEvidenceArgs) -> Result<(), BoxError> {
    // Pointed at the wrong place, it makes no embedded log there and removes nothing.
    let data = &args.store.data.data_dir;
    if args.store.log == "sqlite" && !DataDir::log_path_in(data).is_file() {
        return Err(format!(
            "no embedded log in {}: give the server's --data-dir, or its --log",
            data.display()
        )
        .into());
    }
    let dir = DataDir::create(data)?;
    let store = args
        .evidence
        .store(dir.path(), docket_api::evidence::UPLOAD_LIMIT)?;
    let (log, _) = open_log(&args.store, &dir).await?;

    let mut named = Named::default();
    let head = log.head().await?;
    named.read(log.as_ref(), 0).await?;
    read_to(&named, head)?;
    let files = store.list().await?;
    let an_upload = |f: &&StoredFile| f.hex().is_some() || f.is_temporary();
    if named.commits == 0 && files.iter().any(|f| f.hex().is_some()) {
        return Err(format!(
            "the log holds no commits but the store keeps {} files: is this the server's \
             --data-dir (and --log)? Nothing was removed",
            files.len()
        )
        .into());
    }
    // A tenant none of whose files the log names (it has no commit of it, or it is another
    // office's log, or not the one the server writes) is left as it is.
    let mut tenants: HashMap<&str, (usize, usize)> = HashMap::new();
    for file in &files {
        let (stored, named_here) = tenants.entry(file.tenant.as_str()).or_default();
        *stored += 1;
        *named_here += usize::from(named.names(file));
    }
    let strangers: HashSet<&str> = tenants
        .iter()
        .filter(|(_, (_, named_here))| *named_here == 0)
        .map(|(tenant, _)| *tenant)
        .collect();
    for tenant in &strangers {
        eprintln!(
            "docket: the log names none of tenant {tenant}'s {} files: they are left as they are",
            tenants[tenant].0
        );
    }
    let grace = Duration::from_secs(args.grace_days.saturating_mul(24 * 3600));
    let written_before = cut_off(named.last_recorded, grace, SystemTime::now());
    let unnamed = |f: &&StoredFile| !named.names(f) && !strangers.contains(f.tenant.as_str());
    let recent = files
        .iter()
        .filter(an_upload)
        .filter(unnamed)
        .filter(|f| f.modified >= written_before)
        .count();
    let mut old: Vec<&StoredFile> = files
        .iter()
        .filter(an_upload)
        .filter(unnamed)
        .filter(|f| f.modified < written_before)
        .collect();
    // What was recorded while the store was listed.
    let head = log.head().await?;
    named.read(log.as_ref(), named.last).await?;
    read_to(&named, head)?;
    old.retain(|f| !named.names(f));

    let verb = if args.dry_run {
        "would remove"
    } else {
        "removed"
    };
    let (mut removed, mut bytes, mut failed, mut renewed) = (0usize, 0u64, 0usize, 0usize);
    for file in &old {
        // Uploaded again since it was listed (an action naming it is on its way), or gone.
        match store.written(file).await {
            Ok(Some(written)) if written < written_before => {}
            Ok(Some(_)) => {
                renewed += 1;
                continue;
            }
            Ok(None) => continue,
            Err(e) => {
                eprintln!("docket: {}/{}: {e}", file.tenant, file.name);
                failed += 1;
                continue;
            }
        }
        if !args.dry_run
            && let Err(e) = store.remove(file).await
        {
            eprintln!(
                "docket: {}/{} could not be removed: {e}",
                file.tenant, file.name
            );
            failed += 1;
            continue;
        }
        removed += 1;
        bytes += file.size;
        let written = jiff::Timestamp::try_from(file.modified)
            .map(|t| t.to_string())
            .unwrap_or_default();
        println!(
            "{verb} {}/{} ({} bytes, written {written})",
            file.tenant, file.name, file.size
        );
    }
    eprintln!(
        "docket: {} files in the store: {} named by the log's {} commits, {} unnamed but written \
         within {} days of the log's last commit (or uploaded again), {} of tenants left alone; \
         {verb} {removed} ({bytes} bytes)",
        files.len(),
        files.iter().filter(|f| named.names(f)).count(),
        named.commits,
        recent + renewed,
        args.grace_days,
        files
            .iter()
            .filter(|f| strangers.contains(f.tenant.as_str()))
            .count(),
    );
    if failed > 0 {
        return Err(format!("{failed} files could not be removed (above)").into());
    }
    Ok(())
}

/// Files written before this may go: the grace period before the log's last commit (or before
/// now, if that is sooner or the log has none). A file is judged only by a log that went on for
/// the grace period after it was written: an old log (a stale copy) says nothing of what came
/// after it.
fn cut_off(last_recorded: Option<jiff::Timestamp>, grace: Duration, now: SystemTime) -> SystemTime {
    let log_end = last_recorded
        .and_then(|t| SystemTime::try_from(t).ok())
        .map_or(now, |t| t.min(now));
    log_end.checked_sub(grace).unwrap_or(SystemTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grace_counts_back_from_the_logs_last_commit_not_from_now() {
        let day = Duration::from_secs(24 * 3600);
        let now = SystemTime::UNIX_EPOCH + 20_000 * day;
        let days_ago = |n: u32| jiff::Timestamp::try_from(now - n * day).unwrap();
        // A log that went on to a moment ago: seven days before now.
        assert_eq!(cut_off(Some(days_ago(0)), 7 * day, now), now - 7 * day);
        // A stale log, its last commit a month old: nothing written since it ends may go.
        assert_eq!(cut_off(Some(days_ago(30)), 7 * day, now), now - 37 * day);
        // A last commit stamped ahead of this machine's clock counts as now.
        let ahead = jiff::Timestamp::try_from(now + day).unwrap();
        assert_eq!(cut_off(Some(ahead), 7 * day, now), now - 7 * day);
        // No commit at all: from now.
        assert_eq!(cut_off(None, 7 * day, now), now - 7 * day);
        // A grace longer than the clock's age removes nothing.
        let ages = now.duration_since(SystemTime::UNIX_EPOCH).unwrap();
        assert!(cut_off(None, ages + day, now) <= SystemTime::UNIX_EPOCH);
    }

    #[test]
    fn evidence_is_found_wherever_an_event_names_it() {
        let hex = |c: char| c.to_string().repeat(64);
        let data = serde_json::json!({
            "evidence": [{"content_hash": format!("sha256:{}", hex('a')), "media_type": "image/jpeg",
                "size": 1, "blob": "x"}],
            "part": {"unit": "u", "evidence": [{"content_hash": format!("sha256:{}", hex('b'))}]},
            "note": "content_hash sha256:cccc is text, not evidence",
            "other": {"content_hash": 7},
        });
        let mut found = HashSet::new();
        hashes_named_in(&data, &mut found);
        assert_eq!(found, HashSet::from([hex('a'), hex('b')]));
    }
}
