//! The audit: proves the figures from the log up. It walks the whole log checking every case's
//! hash chain and version sequence and the global order, then projects the log again into a
//! scratch model beside the live one (`read.audit.sqlite`, or schema `docket_audit`) up to the
//! position the live model has reached, and compares every row of every table, the per-day
//! counters the statistics are made of included. Each mismatch names what it concerns: the
//! position, case and commit of a broken chain; the table and row key of a figure the log does
//! not give.

use std::collections::HashMap;
use std::sync::Arc;

use docket_eventlog::{ChainHash, EventLog, LogError};
use serde::Serialize;
use uuid::Uuid;

use crate::rebuild::Target;
use crate::{ProjectionError, Projector, ReadModel};

/// Commits read from the log at a time.
const PAGE: usize = 1000;
/// At most this many findings of one check are listed (all are counted).
const MAX_LISTED: usize = 100;

/// The rows of one table, as text, in key order.
#[derive(Debug)]
pub(crate) struct TableRows {
    pub(crate) table: &'static str,
    pub(crate) columns: &'static [&'static str],
    pub(crate) key: &'static str,
    pub(crate) rows: Vec<Vec<Option<String>>>,
}

/// One thing the audit found wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// `unreadable`, `gap`, `chain` or `read-model`.
    pub check: &'static str,
    /// The tenant the finding concerns, when it concerns one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub case_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit_id: Option<Uuid>,
    pub detail: String,
}

/// What the audit checked and found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    /// The log's last position when the audit began.
    pub head: u64,
    /// Commits read and checked.
    pub commits: u64,
    /// Cases whose chains were checked.
    pub cases: u64,
    /// Tenants' directories whose chains were checked.
    pub directories: u64,
    /// The position the live read model was compared at (its checkpoint), if it was.
    pub compared_at: Option<u64>,
    /// Rows of the read model compared with the recount.
    pub rows_compared: u64,
    /// How many mismatches there are in all (at most 100 per check are listed).
    pub mismatches: u64,
    pub findings: Vec<Finding>,
    /// Per tenant, the commits and cases checked: what a tenant's supervisor is shown.
    pub by_tenant: std::collections::BTreeMap<String, TenantTotals>,
}

/// One tenant's part of the log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TenantTotals {
    pub commits: u64,
    pub cases: u64,
    /// Mismatches found in the tenant's cases, directory and rows, listed or not.
    pub mismatches: u64,
}

impl AuditReport {
    /// Whether everything held.
    pub fn holds(&self) -> bool {
        self.mismatches == 0
    }

    /// Mismatches that concern no tenant in particular (a gap in the global order).
    pub fn global_mismatches(&self) -> u64 {
        self.mismatches - self.by_tenant.values().map(|t| t.mismatches).sum::<u64>()
    }

    fn found(&mut self, finding: Finding) {
        self.mismatches += 1;
        if let Some(tenant) = &finding.tenant {
            self.by_tenant.entry(tenant.clone()).or_default().mismatches += 1;
        }
        let listed = self
            .findings
            .iter()
            .filter(|f| f.check == finding.check)
            .count();
        if listed < MAX_LISTED {
            self.findings.push(finding);
        }
    }
}

/// Where a case's chain stands as the walk goes.
struct ChainEnd {
    version: u64,
    hash: ChainHash,
    tenant: String,
    /// A tenant's directory's chain, not a case's.
    directory: bool,
}

/// Audits the log and the read model at `target`, telling `progress` (phase, done, of) as it
/// goes.
pub async fn audit(
    log: Arc<dyn EventLog>,
    target: &Target,
    log_name: &str,
    progress: &(dyn Fn(&str, u64, u64) + Send + Sync),
) -> Result<AuditReport, ProjectionError> {
    let mut report = AuditReport {
        head: log.head().await?,
        ..AuditReport::default()
    };
    walk_chains(log.as_ref(), &mut report, progress).await?;

    let live = target.open(log_name).await?;
    let (at, live_rows) = snapshot(&live).await?;
    live.close().await;
    report.compared_at = Some(at);
    target.drop_scratch("audit").await?;
    let recount = target.open_scratch("audit", log_name).await?;
    let projector = Projector::new(log.clone(), recount.clone());
    let recounted = projector.catch_up_to(at).await;
    let result = match recounted {
        Ok(reached) if reached == at => {
            progress("compare", 0, 1);
            let (_, recount_rows) = snapshot(&recount).await?;
            compare(&live_rows, &recount_rows, &mut report);
            progress("compare", 1, 1);
            Ok(())
        }
        Ok(reached) => {
            report.found(Finding {
                check: "read-model",
                tenant: None,
                position: Some(reached),
                case_id: None,
                commit_id: None,
                detail: format!(
                    "the read model is at position {at}, but the log ends at {reached}: it holds \
                     what the log does not"
                ),
            });
            Ok(())
        }
        Err(e) => {
            report.found(Finding {
                check: "read-model",
                tenant: None,
                position: None,
                case_id: None,
                commit_id: None,
                detail: format!("the log cannot be projected again to compare: {e}"),
            });
            Ok(())
        }
    };
    recount.close().await;
    target.drop_scratch("audit").await?;
    result.map(|()| report)
}

async fn snapshot(read: &ReadModel) -> Result<(u64, Vec<TableRows>), ProjectionError> {
    match read.db() {
        crate::Db::Sqlite(pool) => crate::store::sqlite::snapshot(pool).await,
        crate::Db::Postgres(pool) => crate::store::postgres::snapshot(pool).await,
    }
}

async fn walk_chains(
    log: &dyn EventLog,
    report: &mut AuditReport,
    progress: &(dyn Fn(&str, u64, u64) + Send + Sync),
) -> Result<(), ProjectionError> {
    let mut chains: HashMap<Uuid, ChainEnd> = HashMap::new();
    let mut commit_ids: HashMap<Uuid, u64> = HashMap::new();
    let mut after = 0;
    let mut expected = 1;
    loop {
        let page = match log.read_all(after, PAGE).await {
            Ok(page) => page,
            Err(LogError::Corrupt { position, reason }) => {
                report.found(Finding {
                    check: "unreadable",
                    tenant: None,
                    position: Some(position),
                    case_id: None,
                    commit_id: None,
                    detail: format!("the stored commit cannot be read: {reason}"),
                });
                // Read on after it: the commits before it in the page are read again.
                if position > after {
                    let before = log.read_all(after, (position - after - 1) as usize).await;
                    if let Ok(before) = before {
                        for r in &before {
                            check_commit(r, &mut chains, &mut commit_ids, &mut expected, report);
                        }
                    }
                }
                expected = position + 1;
                after = position;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let Some(last) = page.last() else {
            break;
        };
        after = last.position;
        for r in &page {
            check_commit(r, &mut chains, &mut commit_ids, &mut expected, report);
        }
        progress("chains", after, report.head.max(after));
    }
    if report.head > 0 && expected <= report.head {
        report.found(Finding {
            check: "gap",
            tenant: None,
            position: Some(expected),
            case_id: None,
            commit_id: None,
            detail: format!(
                "the log's head is {} but its commits end at {}",
                report.head,
                expected - 1
            ),
        });
    }
    report.directories = chains.values().filter(|c| c.directory).count() as u64;
    report.cases = chains.len() as u64 - report.directories;
    Ok(())
}

fn check_commit(
    r: &docket_eventlog::Recorded,
    chains: &mut HashMap<Uuid, ChainEnd>,
    commit_ids: &mut HashMap<Uuid, u64>,
    expected: &mut u64,
    report: &mut AuditReport,
) {
    let b = &r.commit.body;
    report.commits += 1;
    let tenant = report.by_tenant.entry(b.tenant.clone()).or_default();
    tenant.commits += 1;
    if b.version == 1 && !crate::directory::is_directory(r) {
        tenant.cases += 1;
    }
    if r.position != *expected {
        report.found(Finding {
            check: "gap",
            tenant: None,
            position: Some(*expected),
            case_id: None,
            commit_id: None,
            detail: format!(
                "positions {} to {} are missing from the global order",
                *expected,
                r.position - 1
            ),
        });
    }
    *expected = r.position + 1;
    let finding = |detail: String| Finding {
        check: "chain",
        tenant: Some(b.tenant.clone()),
        position: Some(r.position),
        case_id: Some(b.case_id),
        commit_id: Some(b.commit_id),
        detail,
    };
    if !r.commit.hash_holds() {
        report.found(finding(
            "the commit's hash does not match its content: it was altered".to_owned(),
        ));
    }
    if let Some(first) = commit_ids.insert(b.commit_id, r.position)
        && b.version == 1
    {
        // JetStream takes a filing retried after its duplicate window as a second case with
        // the same commit id: explained, not a break (the projection takes it the same way).
        tracing::debug!(
            first,
            again = r.position,
            "a filing's commit id recorded twice"
        );
    }
    match chains.get_mut(&b.case_id) {
        None => {
            if b.version != 1 {
                report.found(finding(format!(
                    "version {} is the case's first commit in the log: earlier ones are missing",
                    b.version
                )));
            }
            if r.commit.prev_hash != ChainHash::genesis() && b.version == 1 {
                report.found(finding(
                    "the case's first commit does not start the chain".to_owned(),
                ));
            }
        }
        Some(end) => {
            if b.version != end.version + 1 {
                report.found(finding(format!(
                    "version {} follows version {}",
                    b.version, end.version
                )));
            }
            if r.commit.prev_hash != end.hash {
                report.found(finding(
                    "the commit does not link to the case's previous commit".to_owned(),
                ));
            }
            if b.tenant != end.tenant {
                report.found(finding(format!(
                    "the commit names tenant {}, the case is {}'s",
                    b.tenant, end.tenant
                )));
            }
        }
    }
    chains.insert(
        b.case_id,
        ChainEnd {
            version: b.version,
            hash: r.commit.hash.clone(),
            tenant: b.tenant.clone(),
            directory: crate::directory::is_directory(r),
        },
    );
}

/// Compares the live model's rows with the recount's, table by table, by key.
fn compare(live: &[TableRows], recount: &[TableRows], report: &mut AuditReport) {
    for (mine, theirs) in live.iter().zip(recount) {
        debug_assert_eq!(mine.table, theirs.table);
        let key_columns: Vec<usize> = mine
            .key
            .split(", ")
            .filter_map(|k| mine.columns.iter().position(|c| c == &k))
            .collect();
        let key_of = |row: &Vec<Option<String>>| -> Vec<Option<String>> {
            key_columns.iter().map(|i| row[*i].clone()).collect()
        };
        let describe = |key: &[Option<String>]| -> String {
            key_columns
                .iter()
                .zip(key)
                .map(|(i, v)| format!("{}={}", mine.columns[*i], v.as_deref().unwrap_or("null")))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let case_of = |key: &[Option<String>]| -> Option<Uuid> {
            key_columns
                .iter()
                .zip(key)
                .find(|(i, _)| mine.columns[**i] == "case_id")
                .and_then(|(_, v)| v.as_deref()?.parse().ok())
        };
        let tenant_column = mine.columns.iter().position(|c| *c == "tenant");
        let tenant_of = |row: &Vec<Option<String>>| tenant_column.and_then(|i| row[i].clone());
        let mut expected: HashMap<Vec<Option<String>>, &Vec<Option<String>>> =
            theirs.rows.iter().map(|r| (key_of(r), r)).collect();
        for row in &mine.rows {
            report.rows_compared += 1;
            let key = key_of(row);
            let detail = match expected.remove(&key) {
                Some(from_log) if from_log == row => continue,
                Some(from_log) => {
                    let differing: Vec<String> = mine
                        .columns
                        .iter()
                        .zip(row.iter().zip(from_log.iter()))
                        .filter(|(_, (a, b))| a != b)
                        .map(|(c, (a, b))| {
                            format!(
                                "{c}: {} where the log gives {}",
                                shorten(a.as_deref()),
                                shorten(b.as_deref())
                            )
                        })
                        .collect();
                    format!(
                        "{} row {}: {}",
                        mine.table,
                        describe(&key),
                        differing.join("; ")
                    )
                }
                None => format!(
                    "{} row {} is not given by the log",
                    mine.table,
                    describe(&key)
                ),
            };
            report.found(Finding {
                check: "read-model",
                tenant: tenant_of(row),
                position: None,
                case_id: case_of(&key),
                commit_id: None,
                detail,
            });
        }
        let mut missing: Vec<_> = expected.into_iter().collect();
        missing.sort();
        for (key, row) in missing {
            report.found(Finding {
                check: "read-model",
                tenant: tenant_of(row),
                position: None,
                case_id: case_of(&key),
                commit_id: None,
                detail: format!(
                    "{} row {} that the log gives is missing",
                    mine.table,
                    describe(&key)
                ),
            });
        }
    }
}

fn shorten(value: Option<&str>) -> String {
    match value {
        None => "null".to_owned(),
        Some(v) if v.chars().count() > 80 => {
            format!("{:?}…", v.chars().take(80).collect::<String>())
        }
        Some(v) => format!("{v:?}"),
    }
}
