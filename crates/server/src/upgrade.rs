//! Upgrading a data directory made before tenants had directories: each tenant's directory gets
//! what its cases name and it lacks (communities, grids, lead and co-handling units, categories),
//! in one seeding commit, so that it keeps serving; its admin names them afterwards. A tenant
//! whose cases name only what its directory holds (every tenant since) gets nothing.

use std::time::{Duration, Instant};

use docket_commands::CommandService;
use docket_domain::directory::seed_from_use;
use docket_domain::{CaseKind, TenantId};
use docket_projections::{NamesInUse, ReadModel};

use crate::BoxError;

/// How often the wait for the read model says how far it is.
const REPORT_EVERY: Duration = Duration::from_secs(30);

/// Seeds the directory of every tenant with cases with what they name and it lacks, once the read
/// model has caught up with the log as it stood at start.
pub(crate) async fn seed_directories(
    commands: &CommandService,
    read: &ReadModel,
) -> Result<(), BoxError> {
    let head = commands.log().head().await?;
    let mut reported = Instant::now();
    while !read.wait_until(head, Duration::from_secs(5)).await {
        if reported.elapsed() >= REPORT_EVERY {
            tracing::info!(
                head,
                projected = read.projected(),
                "waiting for the read model before seeding directories"
            );
            reported = Instant::now();
        }
    }
    for tenant in read.tenants().await? {
        let Ok(tenant) = tenant.parse::<TenantId>() else {
            continue;
        };
        let names = read.names_in_use(tenant.as_str()).await?;
        let seeded = seed(commands, &tenant, &names).await?;
        if seeded {
            println!(
                "docket: seeded the directory of tenant {tenant} with what its {} cases name ({} communities, {} grids, {} units in use); its admin names them (/v1/directory)",
                names.cases,
                names.communities.len(),
                names.grids.len(),
                names.units.len()
            );
        }
    }
    Ok(())
}

/// Records the tenant's directory from `names`; whether it did (another replica may have).
async fn seed(
    commands: &CommandService,
    tenant: &TenantId,
    names: &NamesInUse,
) -> Result<bool, BoxError> {
    // The read model holds what the log held, which was checked as ids when recorded.
    let communities = names.communities.iter().filter_map(|c| c.parse().ok());
    let grids = names
        .grids
        .iter()
        .filter_map(|(g, c)| Some((g.parse().ok()?, c.parse().ok()?)));
    let units = names.units.iter().filter_map(|u| u.parse().ok());
    let categories = names
        .categories
        .iter()
        .filter_map(|(k, c)| Some((k.parse::<CaseKind>().ok()?, c.parse().ok()?)));
    let event = seed_from_use(communities, grids, units, categories);
    Ok(commands
        .seed_directory(
            tenant,
            event,
            "seeded from the names its cases used before the directory",
        )
        .await?
        .is_some())
}
