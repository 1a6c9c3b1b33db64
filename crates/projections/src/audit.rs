//! The audit: proves the figures from the log up. It walks the whole log checking every case's
//! hash chain and version sequence and the global order, then projects the log again into a
//! scratch model beside the live one (`read.audit.sqlite`, or schema `docket_audit`) up to the
//! position the live model has reached, and compares every row of every table, the per-day
//! counters the statistics are made of included. Each mismatch names what it concerns: the
//! position, case and commit of a broken chain; the table and row key of a figure the log does
//! not give.
//!
//! Memory grows with the number of cases, not of commits or rows: the walk reads a page of
//! commits at a time and keeps one small entry per case (where its chain ends); the comparison
//! streams both models table by table in key order and merges them, holding one row of each at
//! a time. One audit runs at a time on a read model, across processes (`Target::lock_scratch`). The walk and
//! the recount read the log through a reader of their own, so the live projector never waits.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use docket_domain::deadlines::Policies;
use docket_eventlog::{ChainHash, EventLog, LogError};
use futures_util::{Stream, StreamExt};
use serde::Serialize;
use uuid::Uuid;

use crate::rebuild::Target;
use crate::{CASES, Db, ProjectionError, Projector};

/// Commits read from the log at a time.
const PAGE: usize = 1000;
/// At most this many findings of one check are listed (all are counted).
const MAX_LISTED: usize = 100;

/// Where an audit is, told to its caller as it goes.
#[derive(Debug, Clone, Copy)]
pub struct Progress<'a> {
    /// `chains`, `recount` or `compare`.
    pub phase: &'static str,
    pub done: u64,
    pub of: u64,
    /// What has been found so far.
    pub report: &'a AuditReport,
}

/// Told of an audit's progress: after each page of the walk and the recount, each table compared.
pub type Reporter<'a> = &'a (dyn Fn(Progress<'_>) + Send + Sync);

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

/// Where a case's chain stands as the walk goes: a few dozen bytes a case.
struct ChainEnd {
    version: u64,
    /// The last commit's hash, as bytes (`None` if it is not a hash at all).
    hash: Option<[u8; 32]>,
    /// The tenant's place in the report's `by_tenant` order of first sight.
    tenant: u32,
    /// A tenant's directory's chain, not a case's.
    directory: bool,
}

fn hash_bytes(hash: &ChainHash) -> Option<[u8; 32]> {
    let mut bytes = [0; 32];
    hex::decode_to_slice(hash.as_str(), &mut bytes).ok()?;
    Some(bytes)
}

/// Audits the log and the read model at `target`, recounting under the tenants' `policies` as
/// the live model counts, telling `progress` as it goes.
pub async fn audit(
    log: Arc<dyn EventLog>,
    target: &Target,
    log_name: &str,
    policies: &Policies,
    progress: Reporter<'_>,
) -> Result<AuditReport, ProjectionError> {
    let Some(_lock) = target.lock_scratch("audit").await? else {
        return Err(ProjectionError::AuditRunning);
    };
    let log = log.own_reader().unwrap_or(log);
    let mut report = AuditReport {
        head: log.head().await?,
        ..AuditReport::default()
    };
    walk_chains(log.as_ref(), &mut report, progress).await?;

    let live = target.open(log_name).await?;
    target.drop_scratch("audit").await?;
    let recount = target
        .open_scratch("audit", log_name)
        .await?
        .with_policies(policies.clone());
    let projector = Projector::new(log.clone(), recount.clone());
    let result = recount_and_compare(&live, &projector, &mut report, progress).await;
    live.close().await;
    recount.close().await;
    target.drop_scratch("audit").await?;
    result.map(|()| report)
}

/// Projects the log again up to where the live model is, then compares the two.
async fn recount_and_compare(
    live: &crate::ReadModel,
    projector: &Projector,
    report: &mut AuditReport,
    progress: Reporter<'_>,
) -> Result<(), ProjectionError> {
    // Most of the way first, outside the comparison's snapshot, so that the live model's read
    // transaction stays short; the comparison catches up the rest inside it.
    let most = live.checkpoint(CASES).await?;
    let recounted = projector
        .catch_up_to_reporting(most, &|at| {
            progress(Progress {
                phase: "recount",
                done: at,
                of: most,
                report,
            })
        })
        .await;
    if let Err(e) = recounted {
        report.found(cannot_recount(&e));
        return Ok(());
    }
    match (live.db(), projector.read().db()) {
        (Db::Sqlite(live), Db::Sqlite(recount)) => {
            crate::store::sqlite::compare(live, recount, projector, report, progress).await
        }
        (Db::Postgres(live), Db::Postgres(recount)) => {
            crate::store::postgres::compare(live, recount, projector, report, progress).await
        }
        _ => unreachable!("a scratch model is made where its live model is"),
    }
}

fn cannot_recount(e: &ProjectionError) -> Finding {
    Finding {
        check: "read-model",
        tenant: None,
        position: None,
        case_id: None,
        commit_id: None,
        detail: format!("the log cannot be projected again to compare: {e}"),
    }
}

/// Brings the recount to `at`, where the live model's snapshot is: whether it got there (if
/// not, what it found is in the report).
pub(crate) async fn recount_to(
    projector: &Projector,
    at: u64,
    report: &mut AuditReport,
) -> Result<bool, ProjectionError> {
    report.compared_at = Some(at);
    match projector.catch_up_to(at).await {
        Ok(reached) if reached == at => Ok(true),
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
            Ok(false)
        }
        Err(e) => {
            report.found(cannot_recount(&e));
            Ok(false)
        }
    }
}

/// What the walk keeps: where each chain ends, and the tenants by number.
#[derive(Default)]
struct Walk {
    chains: HashMap<Uuid, ChainEnd>,
    tenants: Vec<String>,
    tenant_numbers: HashMap<String, u32>,
    /// The position the next commit should have.
    expected: u64,
}

impl Walk {
    fn tenant_number(&mut self, tenant: &str) -> u32 {
        if let Some(n) = self.tenant_numbers.get(tenant) {
            return *n;
        }
        let n = u32::try_from(self.tenants.len()).expect("fewer than 2^32 tenants");
        self.tenants.push(tenant.to_owned());
        self.tenant_numbers.insert(tenant.to_owned(), n);
        n
    }
}

async fn walk_chains(
    log: &dyn EventLog,
    report: &mut AuditReport,
    progress: Reporter<'_>,
) -> Result<(), ProjectionError> {
    let mut walk = Walk {
        expected: 1,
        ..Walk::default()
    };
    let mut after = 0;
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
                            check_commit(r, &mut walk, report);
                        }
                    }
                }
                walk.expected = position + 1;
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
            check_commit(r, &mut walk, report);
        }
        progress(Progress {
            phase: "chains",
            done: after,
            of: report.head.max(after),
            report,
        });
    }
    let expected = walk.expected;
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
    report.directories = walk.chains.values().filter(|c| c.directory).count() as u64;
    report.cases = walk.chains.len() as u64 - report.directories;
    Ok(())
}

fn check_commit(r: &docket_eventlog::Recorded, walk: &mut Walk, report: &mut AuditReport) {
    let b = &r.commit.body;
    report.commits += 1;
    let totals = report.by_tenant.entry(b.tenant.clone()).or_default();
    totals.commits += 1;
    let directory = crate::directory::is_directory(r);
    if b.version == 1 && !directory {
        totals.cases += 1;
    }
    if r.position != walk.expected {
        report.found(Finding {
            check: "gap",
            tenant: None,
            position: Some(walk.expected),
            case_id: None,
            commit_id: None,
            detail: format!(
                "positions {} to {} are missing from the global order",
                walk.expected,
                r.position - 1
            ),
        });
    }
    walk.expected = r.position + 1;
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
    let tenant = walk.tenant_number(&b.tenant);
    match walk.chains.get(&b.case_id) {
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
            if end.hash.is_none() || hash_bytes(&r.commit.prev_hash) != end.hash {
                report.found(finding(
                    "the commit does not link to the case's previous commit".to_owned(),
                ));
            }
            if tenant != end.tenant {
                report.found(finding(format!(
                    "the commit names tenant {}, the case is {}'s",
                    b.tenant, walk.tenants[end.tenant as usize]
                )));
            }
        }
    }
    walk.chains.insert(
        b.case_id,
        ChainEnd {
            version: b.version,
            hash: hash_bytes(&r.commit.hash),
            tenant,
            directory,
        },
    );
}

/// One table of the read model, as the audit compares it: its rows as text, in key order.
pub(crate) struct Table<'a> {
    pub(crate) name: &'a str,
    pub(crate) columns: &'a [&'a str],
    /// The key's columns, in order, as `a, b`.
    pub(crate) key: &'a str,
}

impl Table<'_> {
    /// The query of the table's rows, every column as text, ordered by the key's text byte by
    /// byte (`collation` names that order in the dialect), nulls first: the order `Vec<Option<
    /// String>>` compares in, so that two streams of it merge.
    pub(crate) fn rows_sql(&self, collation: &str) -> String {
        let select = self
            .columns
            .iter()
            .map(|c| format!("CAST({c} AS TEXT)"))
            .collect::<Vec<_>>()
            .join(", ");
        let order = self
            .key
            .split(", ")
            .map(|k| format!("CAST({k} AS TEXT) COLLATE {collation} NULLS FIRST"))
            .collect::<Vec<_>>()
            .join(", ");
        format!("SELECT {select} FROM {} ORDER BY {order}", self.name)
    }
}

/// A row as text, one value per column.
pub(crate) type Row = Vec<Option<String>>;

/// Compares the live model's rows of one table with the recount's, merging the two streams by
/// key: a row in one and not the other, or a row whose values differ, is a finding.
pub(crate) async fn compare_table(
    table: &Table<'_>,
    mut live: impl Stream<Item = Result<Row, sqlx::Error>> + Unpin,
    mut recount: impl Stream<Item = Result<Row, sqlx::Error>> + Unpin,
    report: &mut AuditReport,
) -> Result<(), ProjectionError> {
    let key_columns: Vec<usize> = table
        .key
        .split(", ")
        .filter_map(|k| table.columns.iter().position(|c| c == &k))
        .collect();
    let key_of = |row: &Row| -> Row { key_columns.iter().map(|i| row[*i].clone()).collect() };
    let describe = |key: &Row| -> String {
        key_columns
            .iter()
            .zip(key)
            .map(|(i, v)| format!("{}={}", table.columns[*i], v.as_deref().unwrap_or("null")))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let case_of = |key: &Row| -> Option<Uuid> {
        key_columns
            .iter()
            .zip(key)
            .find(|(i, _)| table.columns[**i] == "case_id")
            .and_then(|(_, v)| v.as_deref()?.parse().ok())
    };
    let tenant_column = table.columns.iter().position(|c| *c == "tenant");
    let tenant_of = |row: &Row| tenant_column.and_then(|i| row[i].clone());
    let found = |report: &mut AuditReport, row: &Row, key: &Row, detail: String| {
        report.found(Finding {
            check: "read-model",
            tenant: tenant_of(row),
            position: None,
            case_id: case_of(key),
            commit_id: None,
            detail,
        });
    };
    let mut mine = live.next().await.transpose()?;
    let mut theirs = recount.next().await.transpose()?;
    loop {
        let order = match (&mine, &theirs) {
            (None, None) => return Ok(()),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(row), Some(from_log)) => key_of(row).cmp(&key_of(from_log)),
        };
        match order {
            Ordering::Less => {
                let row = mine.take().expect("a live row");
                report.rows_compared += 1;
                let key = key_of(&row);
                let detail = format!(
                    "{} row {} is not given by the log",
                    table.name,
                    describe(&key)
                );
                found(report, &row, &key, detail);
                mine = live.next().await.transpose()?;
            }
            Ordering::Greater => {
                let from_log = theirs.take().expect("a recounted row");
                let key = key_of(&from_log);
                let detail = format!(
                    "{} row {} that the log gives is missing",
                    table.name,
                    describe(&key)
                );
                found(report, &from_log, &key, detail);
                theirs = recount.next().await.transpose()?;
            }
            Ordering::Equal => {
                let row = mine.take().expect("a live row");
                let from_log = theirs.take().expect("a recounted row");
                report.rows_compared += 1;
                if row != from_log {
                    let key = key_of(&row);
                    let differing: Vec<String> = table
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
                    let detail = format!(
                        "{} row {}: {}",
                        table.name,
                        describe(&key),
                        differing.join("; ")
                    );
                    found(report, &row, &key, detail);
                }
                mine = live.next().await.transpose()?;
                theirs = recount.next().await.transpose()?;
            }
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
