//! Queries over the case read model. Every query is scoped to one tenant.

use docket_eventlog::EventRecord;
use serde::Serialize;
use sqlx::{QueryBuilder, Row, Sqlite};
use uuid::Uuid;

use crate::{ProjectionError, ReadModel};

/// Filters of the case list; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    pub kind: Option<String>,
    pub status: Option<String>,
    pub community: Option<String>,
    pub grid: Option<String>,
}

/// One line of the case list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseSummary {
    pub id: Uuid,
    pub number: String,
    pub kind: String,
    pub status: String,
    pub closed: bool,
    pub community: String,
    pub grid: Option<String>,
    pub title: String,
    pub version: u64,
    pub position: u64,
    pub deadline: Option<String>,
    pub filed_at: String,
    pub updated_at: String,
    pub closed_at: Option<String>,
}

/// A page of results, newest first, with the cursor of the next page if there is one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<Uuid>,
}

/// A link from one case to another, as either case's history recorded it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseLink {
    pub case: Uuid,
    /// `related`, `duplicate-of` or `duplicated-by`.
    pub relation: String,
}

/// One commit of a case's audit trail.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryEntry {
    pub version: u64,
    pub position: u64,
    pub commit_id: Uuid,
    pub recorded_at: String,
    pub actor: HistoryActor,
    pub command: String,
    pub events: Vec<EventRecord>,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryActor {
    pub id: String,
    pub role: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

fn uuid(s: &str) -> Result<Uuid, ProjectionError> {
    Uuid::parse_str(s).map_err(|e| ProjectionError::Database(sqlx::Error::Decode(Box::new(e))))
}

impl ReadModel {
    /// Cases of `tenant` matching `filter`, newest first; `after` is the previous page's cursor.
    pub async fn list_cases(
        &self,
        tenant: &str,
        filter: &CaseFilter,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Page<CaseSummary>, ProjectionError> {
        let mut q = QueryBuilder::<Sqlite>::new(
            "SELECT case_id, case_number, kind, status, is_closed, community, grid, title, version,
                    position, deadline, filed_at, updated_at, closed_at
             FROM cases WHERE tenant = ",
        );
        q.push_bind(tenant.to_owned());
        let equals = [
            ("kind", &filter.kind),
            ("status", &filter.status),
            ("community", &filter.community),
            ("grid", &filter.grid),
        ];
        for (column, value) in equals {
            if let Some(v) = value {
                q.push(format_args!(" AND {column} = "))
                    .push_bind(v.clone());
            }
        }
        if let Some(cursor) = after {
            q.push(" AND case_id < ").push_bind(cursor.to_string());
        }
        q.push(" ORDER BY case_id DESC LIMIT ")
            .push_bind(i64::from(limit) + 1);
        let rows = q.build().fetch_all(self.pool()).await?;
        let mut items = rows
            .iter()
            .map(|r| {
                Ok(CaseSummary {
                    id: uuid(r.try_get("case_id")?)?,
                    number: r.try_get("case_number")?,
                    kind: r.try_get("kind")?,
                    status: r.try_get("status")?,
                    closed: r.try_get("is_closed")?,
                    community: r.try_get("community")?,
                    grid: r.try_get("grid")?,
                    title: r.try_get("title")?,
                    version: r.try_get::<i64, _>("version")? as u64,
                    position: r.try_get::<i64, _>("position")? as u64,
                    deadline: r.try_get("deadline")?,
                    filed_at: r.try_get("filed_at")?,
                    updated_at: r.try_get("updated_at")?,
                    closed_at: r.try_get("closed_at")?,
                })
            })
            .collect::<Result<Vec<_>, ProjectionError>>()?;
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|c| c.id)
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    /// The case number the projection gave a case, if it has reached the case's filing.
    pub async fn case_number(
        &self,
        tenant: &str,
        case_id: Uuid,
    ) -> Result<Option<String>, ProjectionError> {
        Ok(
            sqlx::query_scalar("SELECT case_number FROM cases WHERE tenant = ?1 AND case_id = ?2")
                .bind(tenant)
                .bind(case_id.to_string())
                .fetch_optional(self.pool())
                .await?,
        )
    }

    /// A case's audit trail in version order; empty if the case is unknown in this tenant.
    /// The links of a case, both those its own history records and those of cases naming it.
    pub async fn links(
        &self,
        tenant: &str,
        case_id: Uuid,
    ) -> Result<Vec<CaseLink>, ProjectionError> {
        let rows = sqlx::query(
            "SELECT other_id, relation FROM case_links WHERE tenant = ?1 AND case_id = ?2
             ORDER BY position, other_id",
        )
        .bind(tenant)
        .bind(case_id.to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(CaseLink {
                    case: uuid(r.try_get("other_id")?)?,
                    relation: r.try_get("relation")?,
                })
            })
            .collect()
    }

    pub async fn history(
        &self,
        tenant: &str,
        case_id: Uuid,
    ) -> Result<Vec<HistoryEntry>, ProjectionError> {
        let rows = sqlx::query(
            "SELECT version, position, commit_id, recorded_at, actor_id, actor_role, actor_unit,
                    command, events, prev_hash, hash
             FROM case_history WHERE tenant = ?1 AND case_id = ?2 ORDER BY version",
        )
        .bind(tenant)
        .bind(case_id.to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let events: String = r.try_get("events")?;
                Ok(HistoryEntry {
                    version: r.try_get::<i64, _>("version")? as u64,
                    position: r.try_get::<i64, _>("position")? as u64,
                    commit_id: uuid(r.try_get("commit_id")?)?,
                    recorded_at: r.try_get("recorded_at")?,
                    actor: HistoryActor {
                        id: r.try_get("actor_id")?,
                        role: r.try_get("actor_role")?,
                        unit: r.try_get("actor_unit")?,
                    },
                    command: r.try_get("command")?,
                    events: serde_json::from_str(&events)
                        .map_err(|e| ProjectionError::Database(sqlx::Error::Decode(Box::new(e))))?,
                    prev_hash: r.try_get("prev_hash")?,
                    hash: r.try_get("hash")?,
                })
            })
            .collect()
    }
}
