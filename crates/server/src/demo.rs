//! `docket demo`: a tenant's year, shaped like a sub-district office's (about 850 disputes, 2,900
//! petitions of which 162 are visits, 6,000 hazards per `--scale 1`), driven through the command
//! service with the clock set to each command's moment. The plan is drawn first (seeded, so the
//! same arguments give the same year); the figures it intends are tallied from the plan, written
//! to `demo-counts.json` beside the data, and must equal what `GET /v1/stats` counts for the year.

mod directory;
mod drive;
mod plan;

use std::sync::Arc;
use std::time::Duration;

use docket_commands::CommandService;
use docket_projections::Projector;
use drive::{DemoClock, drive};
use indicatif::{ProgressBar, ProgressStyle};
use jiff::Timestamp;
use jiff::civil::Date;
use plan::{intended_channels, intended_figures, intended_units, local_date, plan};
use serde_json::json;

use crate::config::{DataDir, DemoArgs};
use crate::{BoxError, open_log, open_read_model, open_vault};

pub(crate) fn run(args: DemoArgs) -> Result<(), Box<dyn std::error::Error>> {
    crate::run_to_end(demo(args))
}

async fn demo(args: DemoArgs) -> Result<(), BoxError> {
    if !(args.scale > 0.0 && args.scale <= 1000.0) {
        return Err(format!("--scale {}: between 0 (exclusive) and 1000", args.scale).into());
    }
    let this_year = local_date(Timestamp::now()).year();
    let year = args.year.unwrap_or(this_year - 1);
    if year >= this_year || year < 2000 {
        return Err(format!(
            "--year {year}: a past year (2000 to {}), so that every deadline of it has passed",
            this_year - 1
        )
        .into());
    }
    let tenant: docket_domain::TenantId = args.tenant.parse()?;
    let dir = DataDir::create(&args.store.data.data_dir)?;
    let (log, log_name) = open_log(&args.store, &dir).await?;
    if log.head().await? > 0 && !args.append {
        return Err(format!(
            "the log in {} already holds commits: a demo year goes into an empty one (or pass \
             --append to add it anyway; the intended counts then cover only the demo's cases)",
            dir.path().display()
        )
        .into());
    }
    let vault = open_vault(&args.store, &dir).await?;
    let clock = Arc::new(DemoClock::new());
    let policies = crate::policy::load(args.store.policy_dir.as_deref())?;
    // The plan lays its year out in China Standard Time, and so do the figures it intends.
    let zone = &policies.for_tenant(&tenant).time_zone_name;
    if zone != "Asia/Shanghai" {
        return Err(format!(
            "docket demo lays its year out in Asia/Shanghai time, but the policy puts tenant \
             {tenant} in {zone}: run the demo without --policy-dir, or with a policy in Asia/Shanghai"
        )
        .into());
    }
    let commands = CommandService::new(log.clone(), clock.clone())
        .with_vault(vault)
        .with_policies(policies);

    let mut plan = plan(tenant.as_str(), year, args.scale, args.seed);
    let figures = intended_figures(&mut plan);
    eprintln!(
        "docket: a demo year {year} for tenant {tenant}: {} cases, {} commands",
        plan.kinds.len(),
        plan.steps.len()
    );
    let bar = ProgressBar::new(plan.steps.len() as u64).with_style(
        ProgressStyle::with_template(
            "{msg} [{bar:30}] {pos}/{len} commands, {per_sec}, {eta} left",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    bar.set_message("filing and working cases");
    bar.enable_steady_tick(Duration::from_millis(200));
    drive(&commands, &clock, &tenant, &plan, || bar.inc(1)).await?;
    bar.finish_and_clear();

    let counts = json!({
        "tenant": tenant.as_str(),
        "year": year,
        "scale": args.scale,
        "seed": args.seed,
        "from": Date::new(year, 1, 1)?.to_string(),
        "to": Date::new(year, 12, 31)?.to_string(),
        "cases": plan.kinds.len(),
        "commands": plan.steps.len(),
        "figures": figures,
        "units": intended_units(&plan),
        "channels": intended_channels(&plan),
    });
    let path = dir.path().join("demo-counts.json");
    std::fs::write(&path, serde_json::to_string_pretty(&counts)?)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;

    // Project it now, so the server starts with the year in place.
    let read = open_read_model(&args.store, &dir, &log_name).await?;
    let head = log.head().await?;
    let bar = ProgressBar::new(head).with_style(
        ProgressStyle::with_template("projecting [{bar:30}] {pos}/{len} commits")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    Projector::new(log, read.clone())
        .catch_up_reporting(&|at| bar.set_position(at))
        .await?;
    bar.finish_and_clear();
    read.close().await;
    println!(
        "docket: the demo year {year} is in {}: {} cases, {} commands; intended figures in {}",
        dir.path().display(),
        plan.kinds.len(),
        plan.steps.len(),
        path.display()
    );
    Ok(())
}
