//! `docket rebuild [cases]`: the case projection rebuilt from the whole log into fresh tables
//! while the current ones serve, then swapped in at once. Progress shows on a terminal; without
//! one, a line at the start and at the end. Interrupted, it resumes where it stopped.

use std::time::{Duration, Instant};

use docket_projections::{CASES, rebuild};
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::{DataDir, RebuildArgs};
use crate::{BoxError, open_log, read_model_target};

pub(crate) fn run(args: RebuildArgs) -> Result<(), Box<dyn std::error::Error>> {
    if args.projection != CASES {
        return Err(format!(
            "unknown projection {:?}; projections are: {CASES}",
            args.projection
        )
        .into());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime
        .block_on(rebuild_cases(args))
        .map_err(|e| e as Box<dyn std::error::Error>)
}

async fn rebuild_cases(args: RebuildArgs) -> Result<(), BoxError> {
    let dir = DataDir::create(&args.store.data.data_dir)?;
    let (log, log_name) = open_log(&args.store, &dir).await?;
    let target = read_model_target(&args.store, &dir);
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
    let report = rebuild(log, &target, &log_name, &|at, head| {
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
