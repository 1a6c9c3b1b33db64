//! `docket sweep-evidence`: removes the evidence files no commit names. A photo is uploaded
//! before the action that names it; when that action is never recorded (refused, abandoned, a
//! phone that never came back online), the file stays in the store with no case to account for
//! it. The sweep reads the whole log for the content hashes its commits name, lists the store,
//! and removes each file no commit names that is older than the grace period (so an upload whose
//! action is on its way is kept). Just before removing, it reads the commits recorded meanwhile
//! and keeps what they name.

use std::collections::{HashMap, HashSet};
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
struct Named(HashMap<String, HashSet<String>>);

impl Named {
    /// Reads the commits after position `after` through `through`, with progress on stderr.
    async fn read(
        &mut self,
        log: &dyn EventLog,
        after: u64,
        through: u64,
    ) -> Result<u64, BoxError> {
        let mut commits = 0u64;
        each_page_after(log, after, through, async |page| {
            for recorded in &page {
                let body = &recorded.commit.body;
                let hashes = self.0.entry(body.tenant.clone()).or_default();
                for event in &body.events {
                    hashes_named_in(&event.data, hashes);
                }
            }
            commits += page.len() as u64;
            eprint!("\rdocket: read {commits} commits");
            Ok(())
        })
        .await?;
        if commits > 0 {
            eprintln!();
        }
        Ok(commits)
    }

    fn names(&self, file: &StoredFile) -> bool {
        file.hex()
            .is_some_and(|hex| self.0.get(&file.tenant).is_some_and(|h| h.contains(hex)))
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

async fn sweep(args: SweepEvidenceArgs) -> Result<(), BoxError> {
    let dir = DataDir::create(&args.store.data.data_dir)?;
    let store = args
        .evidence
        .store(dir.path(), docket_api::evidence::UPLOAD_LIMIT)?;
    let (log, _) = open_log(&args.store, &dir).await?;
    let grace = Duration::from_secs(args.grace_days.saturating_mul(24 * 3600));
    let uploaded_before = SystemTime::now()
        .checked_sub(grace)
        .unwrap_or(SystemTime::UNIX_EPOCH);

    let mut named = Named::default();
    let head = log.head().await?;
    let commits = named.read(log.as_ref(), 0, head).await?;
    let files = store.list().await?;
    // A log with nothing of a tenant that has files is another office's log, or none: taking it
    // at its word would remove every file.
    let strangers: HashSet<&str> = files
        .iter()
        .map(|f| f.tenant.as_str())
        .filter(|t| !named.0.contains_key(*t))
        .collect();
    if commits == 0 && !files.is_empty() {
        return Err(format!(
            "the log holds no commits but the store keeps {} files: is this the server's \
             --data-dir (and --log)? Nothing was removed",
            files.len()
        )
        .into());
    }
    for tenant in &strangers {
        eprintln!(
            "docket: tenant {tenant} has files in the store but no commit in this log: its \
             files are left as they are"
        );
    }
    let unnamed = |f: &&StoredFile| !named.names(f) && !strangers.contains(f.tenant.as_str());
    let recent = files
        .iter()
        .filter(unnamed)
        .filter(|f| f.modified >= uploaded_before)
        .count();
    let mut old: Vec<&StoredFile> = files
        .iter()
        .filter(unnamed)
        .filter(|f| f.modified < uploaded_before)
        .collect();
    // What was recorded while the store was listed.
    let now = log.head().await?;
    if now > head {
        named.read(log.as_ref(), head, now).await?;
        old.retain(|f| !named.names(f));
    }

    let verb = if args.dry_run {
        "would remove"
    } else {
        "removed"
    };
    let mut bytes = 0u64;
    for file in &old {
        if !args.dry_run {
            store.remove(file).await?;
        }
        bytes += file.size;
        let uploaded = jiff::Timestamp::try_from(file.modified)
            .map(|t| t.to_string())
            .unwrap_or_default();
        println!(
            "{verb} {}/{} ({} bytes, written {uploaded})",
            file.tenant, file.name, file.size
        );
    }
    eprintln!(
        "docket: {} files in the store: {} named by the log's {} commits, {} unnamed but written \
         within {} days, {} of tenants not in this log; {verb} {} ({bytes} bytes)",
        files.len(),
        files.iter().filter(|f| named.names(f)).count(),
        commits,
        recent,
        args.grace_days,
        files
            .iter()
            .filter(|f| strangers.contains(f.tenant.as_str()))
            .count(),
        old.len(),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
