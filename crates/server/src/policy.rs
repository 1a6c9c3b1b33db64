//! Deadline policies from a directory: `default.toml` for every tenant, `<tenant>.toml` for one.
//! A calendar file a policy names is read relative to the policy directory.

use std::path::Path;

use docket_domain::TenantId;
use docket_domain::deadlines::{DeadlinePolicy, Policies};
use jiff::Timestamp;

/// Reads the policies in `dir`; without a directory, every tenant gets the defaults.
pub(crate) fn load(dir: Option<&Path>) -> Result<Policies, String> {
    let Some(dir) = dir else {
        return Ok(Policies::new(DeadlinePolicy::default()));
    };
    let read = |name: &Path| -> Result<DeadlinePolicy, String> {
        let path = dir.join(name);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read policy {}: {e}", path.display()))?;
        DeadlinePolicy::from_toml(&text, |calendar| {
            std::fs::read_to_string(dir.join(calendar)).map_err(|e| e.to_string())
        })
        .map_err(|e| format!("policy {}: {e}", path.display()))
    };
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read policy directory {}: {e}", dir.display()))?;
    let default_file = Path::new("default.toml");
    let default = if dir.join(default_file).exists() {
        read(default_file)?
    } else {
        DeadlinePolicy::default()
    };
    warn_about_uncovered_years("default", &default);
    let mut policies = Policies::new(default);
    let mut names: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    names.sort();
    for name in names {
        let name = Path::new(&name);
        let (Some(stem), Some("toml")) = (
            name.file_stem().and_then(|s| s.to_str()),
            name.extension().and_then(|s| s.to_str()),
        ) else {
            continue;
        };
        if stem == "default" {
            continue;
        }
        let Ok(tenant) = stem.parse::<TenantId>() else {
            // Calendars and other files live here too.
            continue;
        };
        let Ok(text) = std::fs::read_to_string(dir.join(name)) else {
            continue;
        };
        if !looks_like_policy(&text) {
            continue;
        }
        let policy = read(name)?;
        warn_about_uncovered_years(stem, &policy);
        tracing::info!(tenant = stem, "deadline policy loaded");
        policies = policies.with_tenant(tenant, policy);
    }
    Ok(policies)
}

/// A calendar file lists `[[year]]`; a policy does not.
fn looks_like_policy(text: &str) -> bool {
    !text.lines().any(|l| l.trim() == "[[year]]")
}

/// Working days in a year the calendar does not list are counted Monday to Friday: say so.
fn warn_about_uncovered_years(tenant: &str, policy: &DeadlinePolicy) {
    let this_year = policy.local_day(Timestamp::now()).year();
    for year in [this_year, this_year + 1] {
        if !policy.calendar.covers(year) {
            tracing::warn!(
                tenant,
                year,
                "the working-day calendar does not list the official holidays of {year}; \
                 deadlines in working days count Monday to Friday there until the calendar is updated"
            );
        }
    }
}
