//! `docket rebuild [cases]`: the case projection rebuilt from the whole log into fresh tables
//! while the current ones serve, then swapped in at once. Progress shows on a terminal; without
//! one, a line at the start and at the end. Interrupted, it resumes where it stopped.

use std::time::{Duration, Instant};

use docket_projections::{CASES, rebuild};
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::{DataDir, RebuildArgs, RepairArgs, StoreArgs};
use crate::{BoxError, open_log, open_read_model, read_model_target};

pub(crate) fn run(args: RebuildArgs) -> Result<(), Box<dyn std::error::Error>> {
    if args.projection != CASES {
        return Err(format!(
            "unknown projection {:?}; projections are: {CASES}",
            args.projection
        )
        .into());
    }
    crate::run_to_end(rebuild_cases(&args.store))
}

/// The case projection rebuilt from the whole log and swapped in.
pub(crate) async fn rebuild_cases(store: &StoreArgs) -> Result<(), BoxError> {
    let dir = DataDir::create(&store.data.data_dir)?;
    let (log, log_name) = open_log(store, &dir).await?;
    let target = read_model_target(store, &dir);
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template(
            "rebuilding {msg} [{bar:30}] {pos}/{len} commits, {per_sec}, {eta} left",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    bar.set_message(CASES);
    bar.enable_steady_tick(Duration::from_millis(200));
    eprintln!("docket: rebuilding {CASES} from the log {log_name}");
    let started = Instant::now();
    let policies = crate::policy::load(store.policy_dir.as_deref())?;
    let report = rebuild(log, &target, &log_name, &policies, &|at, head| {
        bar.set_length(head);
        bar.set_position(at);
    })
    .await?;
    bar.finish_and_clear();
    if report.resumed_from > 0 {
        eprintln!(
            "docket: resumed an interrupted rebuild at position {}",
            report.resumed_from
        );
    }
    println!(
        "docket: rebuilt {CASES} to position {} in {:.1} s and swapped it in",
        report.position,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `docket repair [CASE] [--list]`: the quarantined commits applied again.
pub(crate) fn repair(args: RepairArgs) -> Result<(), Box<dyn std::error::Error>> {
    crate::run_to_end(repair_quarantined(args))
}

async fn repair_quarantined(args: RepairArgs) -> Result<(), BoxError> {
    if let Some(case) = &args.case {
        // A case's id, or a directory's stream id, as the list shows it.
        if uuid::Uuid::try_parse(case).map(|u| u.hyphenated().to_string()) != Ok(case.clone()) {
            return Err(format!(
                "{:?} is not a case id (8-4-4-4-12 lowercase hex digits, as `docket repair --list` shows it)",
                docket_domain::shown(case)
            )
            .into());
        }
    }
    let dir = DataDir::create(&args.store.data.data_dir)?;
    let (log, log_name) = open_log(&args.store, &dir).await?;
    let read = open_read_model(&args.store, &dir, &log_name).await?;
    let held: Vec<_> = read
        .quarantined(None)
        .await?
        .into_iter()
        .filter(|q| args.case.as_ref().is_none_or(|c| *c == q.case_id))
        .collect();
    if held.is_empty() {
        println!(
            "docket: nothing is quarantined{}",
            args.case
                .as_ref()
                .map(|c| format!(" of case {c}"))
                .unwrap_or_default()
        );
        return Ok(());
    }
    if args.list {
        for q in &held {
            println!(
                "position {}\ttenant {}\tcase {} version {}\t{}",
                q.position, q.tenant, q.case_id, q.version, q.reason
            );
        }
        return Ok(());
    }
    let report = read.repair(log.as_ref(), args.case.as_deref()).await?;
    println!(
        "docket: {} case(s) tried: {} commit(s) applied, {} still quarantined",
        report.cases, report.applied, report.still_held
    );
    if report.still_held > 0 {
        for q in read.quarantined(None).await? {
            if args.case.as_ref().is_none_or(|c| *c == q.case_id) {
                eprintln!(
                    "docket: still held: position {} case {}: {}",
                    q.position, q.case_id, q.reason
                );
            }
        }
        return Err(format!(
            "{} commit(s) still cannot be projected by this release",
            report.still_held
        )
        .into());
    }
    Ok(())
}
