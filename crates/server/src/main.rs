//! `docket`: serve the API on the embedded log and read model, or mint a development token.

mod archive;
mod backup;
mod config;
mod demo;
mod listen;
mod policy;
mod rebuild;
mod secret;
mod sweep;
mod upgrade;
mod verify;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use docket_api::{AppState, Authenticator, router};
use docket_commands::{Actor, CommandService, SystemClock, Vault};
use docket_domain::Role;
use docket_eventlog::{EventLog, JetStreamConfig, JetStreamLog, SqliteLog};
use docket_projections::{Projector, ReadModel, Target};
use tokio::sync::watch;

use crate::config::{
    ApiKeyArgs, ApiKeyCommand, BackupArgs, DataDir, DemoArgs, EraseArgs, ExportArgs,
    ExportChainArgs, ImportArgs, LogFormat, RebuildArgs, RepairArgs, RestoreArgs, ServeArgs,
    StoreArgs, SweepEvidenceArgs, TokenArgs, TokenCheckArgs, VerifyArgs,
};

/// mimalloc rather than glibc's malloc: under load, glibc's allocation and freeing across the
/// runtime's threads took about a fifth of the server's CPU (see docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "docket",
    version,
    about = "Case and grievance handling for sub-district offices"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
#[allow(
    clippy::large_enum_variant,
    reason = "parsed once at start; the arguments of the one command given are all it holds"
)]
enum Command {
    /// Serve the HTTP API and the console (embedded: SQLite log and read model in the data
    /// directory).
    Serve(ServeArgs),
    /// Print a bearer token for the data directory's secret.
    Token(TokenArgs),
    /// Rebuild a projection from the whole log into fresh tables while the current ones keep
    /// serving, then swap them in at once. Safe to interrupt and run again: it resumes.
    Rebuild(RebuildArgs),
    /// Apply again the commits the projector quarantined (it could not read them: an event of a
    /// newer release, a stored state an upgrade changed), after an upgrade that reads them: the
    /// cases project and take commands again. `--list` shows what is held and why.
    Repair(RepairArgs),
    /// Erase a person's personal data by destroying their key: the log keeps its commits and
    /// hash chains, the person's name, ID number, phone and address become unreadable everywhere.
    ErasePerson(EraseArgs),
    /// Remove the evidence files that no commit names, written more than `--grace-days` before
    /// the log's last commit (an upload whose action was never recorded): they hold photos no
    /// case accounts for. `--dry-run` lists them. It may run while the server serves.
    SweepEvidence(SweepEvidenceArgs),
    /// Issue, list and revoke the API keys residents' apps file through Open311 with.
    ApiKey(ApiKeyArgs),
    /// Verify the log and the read model: every case's hash chain and version sequence, the
    /// global order, and every row of the read model (the figures supervisors see included)
    /// against a recount from the log. Exits non-zero and names each mismatch if any.
    Verify(VerifyArgs),
    /// Print a case's commits as the log holds them, one JSON object a line in version order,
    /// for an auditor to check the hash chain with any RFC 8785 implementation (docs/audit.md).
    ExportChain(ExportChainArgs),
    /// Write a tenant's commits (or every tenant's) as a verifiable archive: JSON lines, each
    /// commit with its hashes, and a trailer with their count and SHA-256. With `import`, this is
    /// how an office moves from the embedded log to JetStream.
    Export(ExportArgs),
    /// Append an archive's commits to this log, after checking the whole archive (its trailer,
    /// every case's chain): a broken archive is refused, naming the commit, and nothing is
    /// appended. Running it again after an interruption resumes.
    Import(ImportArgs),
    /// Take a consistent copy of the log, the key store and the token secret while the server
    /// goes on serving: every commit acknowledged before it began is in it. The keys are in
    /// every backup (without them personal data is lost): keep the backup where only the
    /// office's administrators can read it (docs/operations.md).
    Backup(BackupArgs),
    /// Restore a backup into an empty data directory (and an empty stream with `--log
    /// nats://…`), then rebuild the read model; `docket verify` checks the result.
    Restore(RestoreArgs),
    /// Fill an empty data directory with a tenant's year of cases, driven through the command
    /// service, and write the figures it intends to `demo-counts.json`.
    Demo(DemoArgs),
    /// Print the HTTP API's OpenAPI document (what `/openapi.json` serves), to generate a client
    /// from or to keep as `docs/openapi.json`.
    Openapi,
}

/// A line for whoever started the server. A closed stdout (the reader went away after the first
/// line) is no reason to stop serving, as `println!` would.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Token(args) => token(args),
        Command::Rebuild(args) => rebuild::run(args),
        Command::Repair(args) => rebuild::repair(args),
        Command::ErasePerson(args) => erase_person(args),
        Command::SweepEvidence(args) => sweep::run(args),
        Command::ApiKey(args) => api_key(args),
        Command::Verify(args) => verify::run(args),
        Command::ExportChain(args) => verify::export_chain(args),
        Command::Export(args) => archive::export(args),
        Command::Import(args) => archive::import(args),
        Command::Backup(args) => backup::take(args),
        Command::Restore(args) => backup::restore(args),
        Command::Demo(args) => demo::run(args),
        Command::Openapi => {
            print!("{}", docket_api::openapi::document_text());
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("docket: {e}");
            let mut source = e.source();
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::FAILURE
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Runs a command's work to its end on a runtime of its own: what every subcommand but `serve`
/// and `token` does.
fn run_to_end(
    work: impl std::future::Future<Output = Result<(), BoxError>>,
) -> Result<(), Box<dyn std::error::Error>> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(work)
        .map_err(|e| e as Box<dyn std::error::Error>)
}

/// How long printed and minted development tokens stay valid by default.
const DEMO_TOKEN_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

fn token(args: TokenArgs) -> Result<(), Box<dyn std::error::Error>> {
    let dir = DataDir::create(&args.data.data_dir)?;
    if args.tokens.jwks.is_some() {
        return Err(
            "tokens come from the identity provider (--jwks): docket token mints HS256 \
                    tokens for the data directory's secret only"
                .into(),
        );
    }
    let auth = Authenticator::hs256(&secret::load_or_create(&dir)?)
        .with_issuer(args.tokens.jwt_issuer.clone())
        .with_audience(args.tokens.jwt_audience.clone());
    let role: Role = args.role.parse()?;
    if role == Role::ServiceAccount {
        return Err("a service account acts through an Open311 API key: \
                    docket api-key create --name APP --community COMMUNITY"
            .into());
    }
    let actor = Actor {
        id: args.sub.unwrap_or_else(|| format!("demo-{}", args.role)),
        tenant: args.tenant.parse()?,
        role,
        unit: args.unit.as_deref().map(str::parse).transpose()?,
        grids: args
            .grids
            .iter()
            .map(|g| g.parse())
            .collect::<Result<_, _>>()?,
    };
    let ttl = Duration::from_secs(args.ttl_hours.saturating_mul(3600));
    println!("{}", auth.mint(&actor, ttl));
    Ok(())
}

/// The token check the arguments configure: an identity provider's JWKS (a file or a URL), or
/// the data directory's HS256 secret; with the required issuer and audience, if any.
async fn authenticator(args: &TokenCheckArgs, dir: &DataDir) -> Result<Authenticator, BoxError> {
    let auth = match args.jwks.as_deref() {
        Some(url) if url.starts_with("https://") || url.starts_with("http://") => {
            Authenticator::jwks_url(url).await?
        }
        Some(path) => {
            let json = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read the JWKS {path}: {e}"))?;
            Authenticator::jwks(&json).map_err(|e| format!("{path}: {e}"))?
        }
        None => Authenticator::hs256(&secret::load_or_create(dir)?),
    };
    Ok(auth
        .with_issuer(args.jwt_issuer.clone())
        .with_audience(args.jwt_audience.clone())
        .with_leeway(Duration::from_secs(args.jwt_leeway)))
}

/// Fetches a JWKS URL's keys again every `every` until stopped; a failed fetch keeps the keys
/// in use and is logged.
async fn refresh_keys(auth: Authenticator, every: Duration, mut stopped: watch::Receiver<bool>) {
    let mut ticks = tokio::time::interval(every);
    ticks.tick().await;
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                if let Err(e) = auth.refresh().await {
                    tracing::warn!(error = %e, "JWKS refresh failed; the keys in use stay");
                }
            }
            _ = async { stopped.wait_for(|stop| *stop).await.map(|_| ()) } => return,
        }
    }
}

/// Opens the log the arguments name; returns it with its name for the read model.
async fn open_log(
    args: &StoreArgs,
    dir: &DataDir,
) -> Result<(Arc<dyn EventLog>, String), BoxError> {
    if args.log == "sqlite" {
        Ok((
            Arc::new(SqliteLog::open(dir.log_path())?),
            "sqlite".to_owned(),
        ))
    } else if args.log.starts_with("nats://") {
        let config = JetStreamConfig {
            stream: args.nats_stream.clone(),
            replicas: args.nats_replicas,
            duplicate_window: Duration::from_secs(args.nats_duplicate_window),
            subject_root: args.nats_subjects.clone(),
            patience: Duration::from_secs(args.nats_patience),
        };
        let log = JetStreamLog::connect(&args.log, config).await?;
        Ok((Arc::new(log), format!("nats:{}", args.nats_stream)))
    } else {
        // Only the scheme: an address may carry a password.
        Err(format!(
            "--log {:?}: use `sqlite` (embedded) or nats://HOST:PORT for JetStream",
            args.log.split("://").next().unwrap_or_default()
        )
        .into())
    }
}

/// Where the read model the arguments name lives.
fn read_model_target(args: &StoreArgs, dir: &DataDir) -> Target {
    if args.read_model == "sqlite" {
        Target::Sqlite(dir.read_model_path())
    } else {
        Target::Postgres(args.read_model.clone())
    }
}

/// The key store: tables in the read-model database on Postgres, the key file otherwise.
async fn open_vault(args: &StoreArgs, dir: &DataDir) -> Result<Vault, BoxError> {
    Ok(match read_model_target(args, dir) {
        Target::Postgres(url) => Vault::connect(&url).await?,
        Target::Sqlite(_) => Vault::open(dir.keys_path()).await?,
    })
}

fn erase_person(args: EraseArgs) -> Result<(), Box<dyn std::error::Error>> {
    let person: docket_domain::person::PersonId = args
        .person
        .parse()
        .map_err(|e| format!("{:?} is not a person id: {e}", args.person))?;
    let tenant: docket_domain::TenantId = args.tenant.parse()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let dir = DataDir::create(&args.store.data.data_dir)?;
        let vault = open_vault(&args.store, &dir).await?;
        if vault.erase(tenant.as_str(), person).await? {
            println!("erased person {person} of tenant {tenant}: their key is destroyed");
        } else {
            println!("person {person} of tenant {tenant} has no key: nothing to erase (already erased?)");
        }
        Ok::<(), BoxError>(())
    })
    .map_err(|e| e as Box<dyn std::error::Error>)
}

fn api_key(args: ApiKeyArgs) -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        async fn vault(store: &StoreArgs) -> Result<Vault, BoxError> {
            let dir = DataDir::create(&store.data.data_dir)?;
            open_vault(store, &dir).await
        }
        match args.command {
            ApiKeyCommand::Create {
                store,
                tenant,
                name,
                community,
            } => {
                let tenant: docket_domain::TenantId = tenant.parse()?;
                let community: docket_domain::CommunityId = community
                    .parse()
                    .map_err(|e| format!("--community {community:?}: {e}"))?;
                if name.trim().is_empty() || name.chars().count() > 100 {
                    return Err("--name: the app's name, 1 to 100 characters".into());
                }
                let (issued, key) = vault(&store)
                    .await?
                    .create_api_key(tenant.as_str(), name.trim(), community.as_str())
                    .await?;
                eprintln!(
                    "docket: issued key {} to {:?} of tenant {}; its reports outside every grid go to community {}. \
                     The key is printed once, below, and kept only as its hash.",
                    issued.id, issued.name, issued.tenant, issued.community
                );
                println!("{key}");
            }
            ApiKeyCommand::List { store, tenant } => {
                let tenant: docket_domain::TenantId = tenant.parse()?;
                for k in vault(&store).await?.api_keys(tenant.as_str()).await? {
                    let state = k
                        .revoked_at
                        .map_or_else(|| "active".to_owned(), |at| format!("revoked {at}"));
                    println!(
                        "{}\t{}\tcommunity {}\tissued {}\t{state}",
                        k.id, k.name, k.community, k.created_at
                    );
                }
            }
            ApiKeyCommand::Revoke { store, tenant, id } => {
                let tenant: docket_domain::TenantId = tenant.parse()?;
                let id: uuid::Uuid = id.parse().map_err(|e| format!("{id:?} is not a key id: {e}"))?;
                if vault(&store).await?.revoke_api_key(tenant.as_str(), id).await? {
                    println!("revoked key {id} of tenant {tenant}");
                } else {
                    return Err(format!(
                        "tenant {tenant} has no active key {id} (see `docket api-key list`)"
                    )
                    .into());
                }
            }
        }
        Ok::<(), BoxError>(())
    })
    .map_err(|e| e as Box<dyn std::error::Error>)
}

/// The read model, counting days in the tenants' time zones as the policies set them.
async fn open_read_model(
    args: &StoreArgs,
    dir: &DataDir,
    log_name: &str,
) -> Result<ReadModel, BoxError> {
    let policies = policy::load(args.policy_dir.as_deref())?;
    Ok(read_model_target(args, dir)
        .open(log_name)
        .await?
        .with_policies(policies))
}

fn serve(args: ServeArgs) -> Result<(), Box<dyn std::error::Error>> {
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DOCKET_LOG_LEVEL")
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr);
    match args.log_format {
        LogFormat::Text => logs.init(),
        // One JSON object a line, for a log collector: time, level, target, the event's fields
        // and the spans it happened in.
        LogFormat::Json => logs.json().with_current_span(true).init(),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime
        .block_on(run(args))
        .map_err(|e| e as Box<dyn std::error::Error>)
}

async fn run(args: ServeArgs) -> Result<(), BoxError> {
    // Before anything records: what the projector does at start-up counts too.
    docket_api::metrics::recorder();
    let dir = DataDir::create(&args.store.data.data_dir)?;
    let auth = authenticator(&args.tokens, &dir).await?;
    let (log, log_name) = open_log(&args.store, &dir).await?;
    let read = open_read_model(&args.store, &dir, &log_name).await?;
    let policies = read.policies().clone();
    let vault = open_vault(&args.store, &dir).await?;
    let commands = CommandService::new(log.clone(), Arc::new(SystemClock))
        .with_policies(policies)
        .with_vault(vault)
        .with_quarantine(Arc::new(docket_api::HeldCases::new(read.clone())));

    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let address = listener.local_addr()?;
    let grpc_listener = match args.grpc_listen.as_str() {
        "off" => None,
        at => Some(
            tokio::net::TcpListener::bind(at)
                .await
                .map_err(|e| format!("cannot listen for gRPC on {at}: {e}"))?,
        ),
    };

    let (stop, stopped) = watch::channel(false);
    tokio::spawn(docket_api::metrics::keep_drained(stopped.clone()));
    // Filings wait for the projector: on a SQLite read model it runs on a thread and runtime of
    // its own, so that its wake-ups do not queue behind the requests' tasks. (A Postgres pool's
    // connections are bound to the runtime that opens them, which the requests share.)
    let projector = {
        let projector = Projector::new(log, read.clone()).with_batch(args.projection_batch);
        let stopped = stopped.clone();
        let (done, finished) = tokio::sync::oneshot::channel::<()>();
        if read.dialect() == "sqlite" {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            std::thread::Builder::new()
                .name("docket-projector".to_owned())
                .spawn(move || {
                    runtime.block_on(projector.run(stopped));
                    let _ = done.send(());
                })?;
        } else {
            tokio::spawn(async move {
                projector.run(stopped).await;
                let _ = done.send(());
            });
        }
        finished
    };
    // A data directory made before tenants had directories is upgraded once the read model has
    // caught up with the log; it serves meanwhile.
    tokio::spawn({
        let (commands, read) = (commands.clone(), read.clone());
        async move {
            if let Err(e) = upgrade::seed_directories(&commands, &read).await {
                tracing::error!(error = %e, "the tenants' directories could not be seeded");
            }
        }
    });

    // Month-long tokens on stdout suit one person trying Docket on their own machine: the
    // embedded stores on a loopback address. A deployment asks for them, or does without.
    let embedded = args.store.log == "sqlite" && args.store.read_model == "sqlite";
    // Both interfaces on loopback: the tokens work on either.
    let grpc_on_loopback = grpc_listener
        .as_ref()
        .is_none_or(|l| l.local_addr().is_ok_and(|a| a.ip().is_loopback()));
    let local_trial = embedded && address.ip().is_loopback() && grpc_on_loopback;
    let demo = if auth.can_mint() && (local_trial || args.demo_tokens) {
        demo_actors(&args.tenant)?
    } else {
        Vec::new()
    };
    if !demo.is_empty() {
        print_demo_tokens(&auth, &demo);
        let tenant: docket_domain::TenantId = args.tenant.parse()?;
        if commands.directory(&tenant).await?.version == 0 {
            say!(
                "docket: tenant {tenant}'s directory is empty: its admin sets up communities, grids and units first (POST /v1/directory/actions/...; see the README); until then tokens naming a unit or grid are refused"
            );
        }
    }
    if auth.fetches_keys() {
        tokio::spawn(refresh_keys(
            auth.clone(),
            Duration::from_secs(args.tokens.jwks_refresh),
            stopped.clone(),
        ));
    }
    say!(
        "docket: serving http://{address} (log {log_name}, read model {}, data in {})",
        read.dialect(),
        dir.path().display()
    );
    tracing::info!(%address, data_dir = %dir.path().display(), "serving");
    if let Some(grpc) = &grpc_listener {
        let grpc_address = grpc.local_addr()?;
        say!("docket: gRPC on http://{grpc_address} (docket.v1, health, reflection)");
        tracing::info!(address = %grpc_address, "serving gRPC");
    }

    if args.watch_every > 0 {
        tokio::spawn(
            docket_watch::DeadlineWatch::new(commands.clone(), read.clone())
                .every(Duration::from_secs(args.watch_every))
                .run(stopped.clone()),
        );
    }
    say!("docket: the console is at http://{address}/");
    let evidence = args.evidence.store(dir.path(), args.evidence_max_bytes)?;
    if let Some(bucket) = &args.evidence.evidence_s3_bucket {
        let endpoint = args
            .evidence
            .evidence_s3_endpoint
            .as_deref()
            .unwrap_or_default();
        say!("docket: evidence in bucket {bucket} at {endpoint}");
    }
    // The console offers demo roles to pick only on a machine trying Docket: `--demo-tokens` on
    // another address prints them for the operator, and does not hand them to whoever asks.
    let console = console_setup(&args, if local_trial { demo } else { Vec::new() })?;
    let app = router(
        AppState::new(commands, read.clone(), auth)
            .with_evidence(evidence)
            .with_console(console)
            .with_audit(read_model_target(&args.store, &dir), &log_name)
            .with_rate_limit(args.rate_limit, args.rate_burst)
            .with_ready_max_lag(args.ready_max_lag),
    );
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing requests and the batch in hand");
        let _ = stop.send(true);
    });
    // gRPC beside HTTP: each call is served by the same router, in process.
    let args_request_timeout = args.request_timeout.max(1);
    let grpc_grace = Duration::from_secs(args.shutdown_grace.max(1));
    let grpc_max_connections = args.grpc_max_connections.max(1);
    let grpc_first_bytes = Duration::from_secs(args.header_read_timeout.max(1));
    let grpc = grpc_listener.map(|listener| {
        let (app, stopped) = (app.clone(), stopped.clone());
        tokio::spawn(async move {
            let timeout = Duration::from_secs(args_request_timeout);
            let served = docket_grpc::serve(
                listener,
                app,
                stopped,
                timeout,
                grpc_max_connections,
                grpc_first_bytes,
            )
            .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "the gRPC interface stopped");
            }
        })
    });
    let limits = listen::Limits {
        header_read_timeout: Duration::from_secs(args.header_read_timeout.max(1)),
        request_timeout: Duration::from_secs(args.request_timeout.max(1)),
        max_connections: args.max_connections.max(1),
        grace: Duration::from_secs(args.shutdown_grace),
    };
    listen::serve(listener, app, limits, stopped).await?;
    if let Some(grpc) = grpc {
        // The gRPC calls in hand have had the same grace as HTTP's; a Watch whose client stopped
        // reading may never notice the stop, so what is left is closed.
        let abort = grpc.abort_handle();
        if tokio::time::timeout(grpc_grace, grpc).await.is_err() {
            tracing::warn!("gRPC calls still open after the grace period are closed");
            abort.abort();
        }
    }
    projector
        .await
        .map_err(|_| "the projector stopped without finishing (it panicked)")?;
    read.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// One demo actor per role of a person (a service account acts through an API key, never a
/// token), each with a reach to match `docket demo`'s directory: grid workers in two grids,
/// handlers and mediators in a unit each.
fn demo_actors(tenant: &str) -> Result<Vec<Actor>, BoxError> {
    let mut actors = Vec::new();
    for role in Role::ALL.into_iter().filter(|r| *r != Role::ServiceAccount) {
        let (unit, grids) = match role {
            Role::GridWorker => (None, vec![format!("{tenant}-01"), format!("{tenant}-02")]),
            Role::Handler => (Some(format!("{tenant}-safety")), vec![]),
            Role::Mediator => (Some(format!("{tenant}-mediation")), vec![]),
            _ => (None, vec![]),
        };
        actors.push(Actor {
            id: format!("demo-{role}"),
            tenant: tenant.parse()?,
            role,
            unit: unit.as_deref().map(str::parse).transpose()?,
            grids: grids.iter().map(|g| g.parse()).collect::<Result<_, _>>()?,
        });
    }
    Ok(actors)
}

fn print_demo_tokens(auth: &Authenticator, actors: &[Actor]) {
    if let Some(first) = actors.first() {
        say!(
            "Demo tokens for tenant {} (valid 30 days; `docket token --role ROLE` makes more):",
            first.tenant
        );
    }
    for actor in actors {
        say!(
            "  {:<17} {}",
            actor.role.as_str(),
            auth.mint(actor, DEMO_TOKEN_TTL)
        );
    }
}

/// How the console signs people in: demo roles where demo tokens are handed out, the identity
/// provider where one is configured.
fn console_setup(
    args: &ServeArgs,
    demo: Vec<Actor>,
) -> Result<docket_api::console::ConsoleSetup, BoxError> {
    let oidc = match (
        &args.console.oidc_client_id,
        &args.console.oidc_redirect_url,
    ) {
        (Some(client_id), Some(redirect_url)) => {
            let issuer = args.tokens.jwt_issuer.clone().ok_or(
                "--oidc-client-id needs --jwt-issuer: the console finds the provider by its issuer",
            )?;
            if args.tokens.jwks.is_none() {
                return Err("--oidc-client-id needs --jwks: the provider's tokens are checked against its keys".into());
            }
            url::Url::parse(redirect_url)
                .map_err(|e| format!("--oidc-redirect-url {redirect_url:?} is not a URL: {e}"))?;
            Some(docket_api::console::OidcClient::new(
                issuer,
                client_id.clone(),
                redirect_url.clone(),
                args.console.oidc_scope.clone(),
            ))
        }
        _ => None,
    };
    Ok(docket_api::console::ConsoleSetup { demo, oidc })
}
