//! `docket verify`: the audit from the command line. Walks the log checking every chain, then
//! projects it again beside the read model and compares every row. Progress shows on a terminal;
//! the report goes to standard output, one line per finding (or JSON with `--json`); the exit
//! status says whether everything held.

use std::time::Duration;

use docket_projections::audit;
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::{DataDir, ExportChainArgs, VerifyArgs};
use crate::{BoxError, open_log, read_model_target};

pub(crate) fn run(args: VerifyArgs) -> Result<(), Box<dyn std::error::Error>> {
    crate::run_to_end(verify(args))
}

/// `docket export-chain`: a case's commits, one JSON line each, as stored.
pub(crate) fn export_chain(args: ExportChainArgs) -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime
        .block_on(async {
            let dir = DataDir::create(&args.store.data.data_dir)?;
            let (log, _) = open_log(&args.store, &dir).await?;
            let commits = log.read_case(&args.tenant, args.case).await?;
            if commits.is_empty() {
                return Err(format!("no case {} in tenant {:?}", args.case, args.tenant).into());
            }
            let mut out = std::io::stdout().lock();
            for r in &commits {
                serde_json::to_writer(&mut out, &r.commit)?;
                std::io::Write::write_all(&mut out, b"\n")?;
            }
            Ok::<(), BoxError>(())
        })
        .map_err(|e| e as Box<dyn std::error::Error>)
}

async fn verify(args: VerifyArgs) -> Result<(), BoxError> {
    let dir = DataDir::create(&args.store.data.data_dir)?;
    let (log, log_name) = open_log(&args.store, &dir).await?;
    let target = read_model_target(&args.store, &dir);
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("verifying {msg} [{bar:30}] {pos}/{len}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let policies = crate::policy::load(args.store.policy_dir.as_deref())?;
    let report = audit(log, &target, &log_name, &policies, &|p| {
        bar.set_message(p.phase);
        bar.set_length(p.of);
        bar.set_position(p.done);
    })
    .await?;
    bar.finish_and_clear();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "docket: checked {} commits of {} cases and {} directories (log head {}); read model \
             compared at position {}: {} rows",
            report.commits,
            report.cases,
            report.directories,
            report.head,
            report
                .compared_at
                .map_or_else(|| "-".to_owned(), |p| p.to_string()),
            report.rows_compared
        );
        for f in &report.findings {
            let mut at = Vec::new();
            if let Some(p) = f.position {
                at.push(format!("position {p}"));
            }
            if let Some(c) = f.case_id {
                at.push(format!("case {c}"));
            }
            if let Some(c) = f.commit_id {
                at.push(format!("commit {c}"));
            }
            println!("{}: {} [{}]", f.check, f.detail, at.join(", "));
        }
    }
    if report.holds() {
        eprintln!("docket: verified: no mismatch");
        Ok(())
    } else {
        Err(format!(
            "{} mismatch(es) found{}",
            report.mismatches,
            if report.mismatches as usize > report.findings.len() {
                " (the first 100 of each kind are listed)"
            } else {
                ""
            }
        )
        .into())
    }
}
