//! The values lists and figures are narrowed by, checked against what they can be, once for
//! both: a value that names nothing is a 400 naming the parameter, never an empty list or a
//! figure of 0 that looks like a fact.

use docket_domain::{CaseKind, CategoryId, CommunityId, GridId, UnitId, shown};

use crate::ApiError;

fn refused(name: &str, value: &str, what: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest {
        code: "invalid-query",
        detail: format!("{name}: {:?} is not {what}", shown(value)),
    }
}

/// Names the values a refusal lists.
fn one_of(values: &[&str]) -> String {
    values.join(", ")
}

/// Checks `value` of parameter `name`, for cases of `kind` when the query names one. An empty
/// grid, lead unit, severity or channel means cases without one.
pub(crate) fn check(name: &str, value: &str, kind: Option<CaseKind>) -> Result<(), ApiError> {
    check_as(name, name, value, kind)
}

/// `check` of a parameter `name` that means what the list parameter `rule` means (the figures'
/// `unit` is the lists' `lead_unit`).
pub(crate) fn check_as(
    name: &str,
    rule: &str,
    value: &str,
    kind: Option<CaseKind>,
) -> Result<(), ApiError> {
    let kinds: Vec<CaseKind> = kind.map_or_else(|| CaseKind::ALL.to_vec(), |k| vec![k]);
    let of_kinds = |values: fn(CaseKind) -> Vec<&'static str>| -> Vec<&'static str> {
        let mut all: Vec<&'static str> = kinds.iter().flat_map(|k| values(*k)).collect();
        all.sort_unstable();
        all.dedup();
        all
    };
    let whose = kind.map_or("any kind", CaseKind::as_str);
    match rule {
        "kind" => value
            .parse::<CaseKind>()
            .map(|_| ())
            .map_err(|_| refused(name, value, format!("a kind of case ({})", kinds_named()))),
        "status" => {
            let all = of_kinds(CaseKind::statuses);
            if all.contains(&value) {
                Ok(())
            } else {
                Err(refused(
                    name,
                    value,
                    format!("a state of {whose}: {}", one_of(&all)),
                ))
            }
        }
        // Any kind's: with another kind's, a list is empty, not wrong (the figures' groups
        // combine them).
        "severity" | "channel" => {
            let mut all: Vec<&'static str> = CaseKind::ALL
                .iter()
                .flat_map(|k| {
                    if rule == "severity" {
                        k.severities()
                    } else {
                        k.channels()
                    }
                })
                .collect();
            all.sort_unstable();
            all.dedup();
            if value.is_empty() || all.contains(&value) {
                Ok(())
            } else {
                Err(refused(
                    name,
                    value,
                    format!("a {name} of any kind: {}, or empty for none", one_of(&all)),
                ))
            }
        }
        "outcome" => match value {
            "resolved" | "not_resolved" | "duplicate" => Ok(()),
            _ => Err(refused(
                name,
                value,
                "an outcome: resolved, not_resolved or duplicate",
            )),
        },
        "event" => {
            if docket_projections::METRICS.contains(&value) {
                Ok(())
            } else {
                Err(refused(
                    name,
                    value,
                    "a counted event (the figures' links name them; docs/figures.md)",
                ))
            }
        }
        "community" => id::<CommunityId>(name, value),
        "category" => id::<CategoryId>(name, value),
        "grid" if !value.is_empty() => id::<GridId>(name, value),
        "unit" => id::<UnitId>(name, value),
        "lead_unit" if !value.is_empty() => id::<UnitId>(name, value),
        _ => Ok(()),
    }
}

fn id<T: std::str::FromStr<Err = docket_domain::InvalidId>>(
    name: &str,
    value: &str,
) -> Result<(), ApiError> {
    value
        .parse::<T>()
        .map(|_| ())
        .map_err(|e| refused(name, value, format!("an id: {}", e.reason)))
}

fn kinds_named() -> String {
    CaseKind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks free text a query searches for: no control characters but line breaks and tabs,
/// which case text may hold.
pub(crate) fn check_text(name: &str, value: &str) -> Result<(), ApiError> {
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(ApiError::BadRequest {
            code: "invalid-query",
            detail: format!("{name}: must not contain control characters (NUL and the like)"),
        });
    }
    Ok(())
}
