//! The tenants' directories in the read model: each tenant's directory as its stream of commits
//! makes it (the whole state, to fold the next commit onto) and one row per entry, so that lists
//! and details show names beside ids. Worked out without a database; the dialects write it.

use std::collections::HashMap;

use docket_domain::directory::{self, Directory, DirectoryEvent, STREAM_KIND};
use docket_eventlog::Recorded;

use crate::rows::{Held, QuarantinedCommit};

/// Whether a commit is a directory's, not a case's.
/// The tenants whose directories `batch` continues, sorted, once each.
pub(crate) fn tenants_of(batch: &[Recorded]) -> Vec<&str> {
    let mut tenants: Vec<&str> = batch
        .iter()
        .filter(|r| is_directory(r))
        .map(|r| r.commit.body.tenant.as_str())
        .collect();
    tenants.sort_unstable();
    tenants.dedup();
    tenants
}

pub(crate) fn is_directory(recorded: &Recorded) -> bool {
    recorded.commit.body.case_kind == STREAM_KIND
}

/// A tenant's directory as stored: its version and state.
#[derive(Debug)]
pub(crate) struct StoredDirectory {
    pub(crate) tenant: String,
    pub(crate) version: i64,
    pub(crate) state: String,
}

/// One entry of a directory, as the read model lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EntryRow {
    /// `community`, `grid`, `unit` or `category`.
    pub(crate) entry: &'static str,
    /// A category's kind of case; empty for the others.
    pub(crate) case_kind: &'static str,
    pub(crate) id: String,
    pub(crate) name: String,
    /// A grid's community.
    pub(crate) community: Option<String>,
    pub(crate) unit_kind: Option<&'static str>,
    pub(crate) in_network: Option<bool>,
    pub(crate) mediation_room: Option<String>,
    pub(crate) intake_unit: Option<String>,
    pub(crate) retired: bool,
}

/// A tenant's directory after a batch: what to store.
#[derive(Debug)]
pub(crate) struct PlannedDirectory {
    pub(crate) tenant: String,
    pub(crate) version: i64,
    pub(crate) position: i64,
    pub(crate) state: String,
    pub(crate) entries: Vec<EntryRow>,
}

/// Folds the batch's directory commits onto the stored directories, tenant by tenant. A commit
/// that cannot be applied is quarantined with every later commit of that directory.
pub(crate) fn plan(
    batch: &[Recorded],
    stored: Vec<StoredDirectory>,
    held: &Held,
) -> (Vec<PlannedDirectory>, Vec<QuarantinedCommit>) {
    let mut working: HashMap<String, (i64, Result<Directory, String>)> = HashMap::new();
    for s in stored {
        let state = serde_json::from_str(&s.state)
            .map_err(|e| format!("the stored directory of {}: {e}", s.tenant));
        working.insert(s.tenant, (s.version, state));
    }
    let mut quarantined = held.first.clone();
    let mut held_aside = Vec::new();
    let mut order: Vec<String> = Vec::new();
    let mut positions: HashMap<String, i64> = HashMap::new();
    for recorded in batch.iter().filter(|r| is_directory(r)) {
        let body = &recorded.commit.body;
        let stream = body.case_id.to_string();
        if quarantined.contains_key(&stream) {
            held_aside.push(QuarantinedCommit::following(recorded));
            continue;
        }
        let (version, state) = working
            .entry(body.tenant.clone())
            .or_insert_with(|| (0, Ok(Directory::default())));
        let folded: Result<Directory, String> = 'commit: {
            if body.version as i64 != *version + 1 {
                break 'commit Err(format!(
                    "directory of {} at version {} follows version {version}",
                    body.tenant, body.version
                ));
            }
            let mut folded = match state {
                Ok(state) => state.clone(),
                Err(reason) => break 'commit Err(reason.clone()),
            };
            for record in &body.events {
                let event = DirectoryEvent::from_record(
                    &record.event_type,
                    record.schema_version,
                    &record.data,
                )
                .map_err(|e| e.to_string());
                folded = match event
                    .and_then(|e| directory::evolve(folded, &e).map_err(|e| e.to_string()))
                {
                    Ok(folded) => folded,
                    Err(reason) => break 'commit Err(reason),
                };
            }
            Ok(folded)
        };
        match folded {
            Ok(folded) => {
                *state = Ok(folded);
                *version = body.version as i64;
                positions.insert(body.tenant.clone(), recorded.position as i64);
                if !order.contains(&body.tenant) {
                    order.push(body.tenant.clone());
                }
            }
            Err(reason) => {
                quarantined.insert(stream, recorded.position as i64);
                held_aside.push(QuarantinedCommit::of(recorded, reason, None));
            }
        }
    }
    let planned = order
        .into_iter()
        .map(|tenant| {
            let (version, state) = &working[&tenant];
            let state = state.as_ref().expect("a directory applied to is readable");
            PlannedDirectory {
                version: *version,
                position: positions[&tenant],
                state: serde_json::to_string(state).expect("a directory serializes"),
                entries: entries(state),
                tenant,
            }
        })
        .collect();
    (planned, held_aside)
}

/// Every entry of a directory, retired ones too.
pub(crate) fn entries(d: &Directory) -> Vec<EntryRow> {
    let row = |entry, id: String, name: &str, retired| EntryRow {
        entry,
        case_kind: "",
        id,
        name: name.to_owned(),
        community: None,
        unit_kind: None,
        in_network: None,
        mediation_room: None,
        intake_unit: None,
        retired,
    };
    let communities = d.communities().map(|c| EntryRow {
        mediation_room: c.mediation_room.as_ref().map(ToString::to_string),
        intake_unit: c.intake_unit.as_ref().map(ToString::to_string),
        ..row("community", c.id.to_string(), &c.name, c.retired)
    });
    let grids = d.grids().map(|g| EntryRow {
        community: Some(g.community.to_string()),
        ..row("grid", g.id.to_string(), &g.name, g.retired)
    });
    let units = d.units().map(|u| EntryRow {
        unit_kind: Some(u.unit_kind.as_str()),
        in_network: Some(u.in_network),
        ..row("unit", u.id.to_string(), &u.name, u.retired)
    });
    let categories = d.all_categories().map(|c| EntryRow {
        case_kind: c.kind.as_str(),
        ..row("category", c.id.to_string(), &c.name, c.retired)
    });
    communities
        .chain(grids)
        .chain(units)
        .chain(categories)
        .collect()
}
