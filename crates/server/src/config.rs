//! Command-line and environment configuration: every flag also reads a `DOCKET_` variable.

use std::path::{Path, PathBuf};

use clap::Args;

#[derive(Debug, Args)]
pub(crate) struct DataArgs {
    /// Where the embedded log, read model and token secret live.
    #[arg(long, env = "DOCKET_DATA_DIR", default_value = "./data")]
    pub(crate) data_dir: PathBuf,
}

/// Where the log and the read model are: shared by `serve` and `rebuild`.
#[derive(Debug, Args)]
pub(crate) struct StoreArgs {
    #[command(flatten)]
    pub(crate) data: DataArgs,
    /// The event log: `sqlite` (embedded, in the data directory) or `nats://HOST:PORT[,…]` (JetStream).
    #[arg(long, env = "DOCKET_LOG", default_value = "sqlite")]
    pub(crate) log: String,
    /// The read model: `sqlite` (embedded, in the data directory) or `postgres://USER@HOST/DB`,
    /// which several replicas may share (one projects at a time).
    #[arg(long, env = "DOCKET_READ_MODEL", default_value = "sqlite")]
    pub(crate) read_model: String,
    /// JetStream stream name.
    #[arg(long, env = "DOCKET_NATS_STREAM", default_value = "DOCKET")]
    pub(crate) nats_stream: String,
    /// The first token of the stream's subjects; by default the stream's name in lower case
    /// (a stream made by an earlier version under another name keeps `docket`).
    #[arg(long, env = "DOCKET_NATS_SUBJECTS")]
    pub(crate) nats_subjects: Option<String>,
    /// JetStream stream replicas: 1 on one machine, 3 in a cluster.
    #[arg(long, env = "DOCKET_NATS_REPLICAS", default_value_t = 1)]
    pub(crate) nats_replicas: usize,
    /// Seconds JetStream remembers commit ids (retried filings are recognised within it).
    #[arg(long, env = "DOCKET_NATS_DUPLICATE_WINDOW", default_value_t = 600)]
    pub(crate) nats_duplicate_window: u64,
    /// Seconds a command goes on sending its commit, and a read of a case asking, while the
    /// stream has no leader (a node lost and the next leader being elected, 4 to 9 s); past it
    /// the command answers 503.
    #[arg(long, env = "DOCKET_NATS_PATIENCE", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub(crate) nats_patience: u64,
    /// Tenants' policies: `default.toml` for every tenant and `<tenant>.toml` for one (see
    /// deploy/policy/default.toml): deadlines, and the time zone local days and case-number
    /// years are counted in (every command on one data directory must be given the same).
    /// Without it, the domain's defaults (Asia/Shanghai) and the shipped calendar.
    #[arg(long, env = "DOCKET_POLICY_DIR")]
    pub(crate) policy_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// Address to listen on (port 0 picks a free port; the address is printed).
    #[arg(long, env = "DOCKET_LISTEN", default_value = "127.0.0.1:8080")]
    pub(crate) listen: String,
    /// Address the gRPC interface listens on (port 0 picks a free port; the address is printed),
    /// or `off`.
    #[arg(long, env = "DOCKET_GRPC_LISTEN", default_value = "127.0.0.1:50051")]
    pub(crate) grpc_listen: String,
    /// gRPC connections open at once, at most (each carries many calls): one past them is
    /// closed as it comes, and one that sends nothing within `--header-read-timeout` is closed
    /// then. Counted apart from `--max-connections`; keep both together under the
    /// open-files limit (`ulimit -n`).
    #[arg(long, env = "DOCKET_GRPC_MAX_CONNECTIONS", default_value_t = 128)]
    pub(crate) grpc_max_connections: usize,
    /// Tenant of the demo tokens printed at start (embedded mode).
    #[arg(long, env = "DOCKET_DEMO_TENANT", default_value = "demo")]
    pub(crate) tenant: String,
    /// Seconds a client has to send a request's header; an idle connection is closed after as
    /// long.
    #[arg(long, env = "DOCKET_HEADER_READ_TIMEOUT", default_value_t = 10)]
    pub(crate) header_read_timeout: u64,
    /// Seconds a request may take to be answered (then 503; an event stream, once answered, goes
    /// on).
    #[arg(long, env = "DOCKET_REQUEST_TIMEOUT", default_value_t = 30)]
    pub(crate) request_timeout: u64,
    /// Connections open at once, at most: keep it under the open-files limit (`ulimit -n`). At
    /// the limit a new connection takes the place of the oldest that has sent no request yet.
    #[arg(long, env = "DOCKET_MAX_CONNECTIONS", default_value_t = 512)]
    pub(crate) max_connections: usize,
    /// Seconds requests in hand may take to finish on shutdown; then the rest (event streams)
    /// are closed.
    #[arg(long, env = "DOCKET_SHUTDOWN_GRACE", default_value_t = 3)]
    pub(crate) shutdown_grace: u64,
    /// Print demo tokens at start even when not serving the embedded stores on a loopback
    /// address (never with --jwks: the identity provider issues the tokens).
    #[arg(long, env = "DOCKET_DEMO_TOKENS")]
    pub(crate) demo_tokens: bool,
    #[command(flatten)]
    pub(crate) evidence: EvidenceStoreArgs,
    /// The largest evidence file taken, in bytes (at most 100 MiB).
    #[arg(long, env = "DOCKET_EVIDENCE_MAX_BYTES", default_value_t = docket_api::evidence::DEFAULT_MAX_BYTES)]
    pub(crate) evidence_max_bytes: usize,
    #[command(flatten)]
    pub(crate) console: ConsoleArgs,
    #[command(flatten)]
    pub(crate) tokens: TokenCheckArgs,
    /// Commits the projector applies per transaction.
    #[arg(long, env = "DOCKET_PROJECTION_BATCH", default_value_t = docket_projections::DEFAULT_BATCH)]
    pub(crate) projection_batch: usize,
    /// Seconds between the deadline watch's sweeps for overdue cases (0: no watch on this
    /// replica). Every replica may watch: each miss is recorded once.
    #[arg(long, env = "DOCKET_WATCH_EVERY", default_value_t = 60)]
    pub(crate) watch_every: u64,
    /// Requests per second one token may make, sustained (then 429 with Retry-After).
    #[arg(long, env = "DOCKET_RATE_LIMIT", default_value_t = docket_api::DEFAULT_RATE.0)]
    pub(crate) rate_limit: u32,
    /// Requests one token may make at once above its rate.
    #[arg(long, env = "DOCKET_RATE_BURST", default_value_t = docket_api::DEFAULT_RATE.1)]
    pub(crate) rate_burst: u32,
    /// Commits the read model may be behind the log while `/readyz` still answers 200.
    #[arg(long, env = "DOCKET_READY_MAX_LAG", default_value_t = docket_api::DEFAULT_READY_MAX_LAG)]
    pub(crate) ready_max_lag: u64,
    /// How logs are written to stderr: `text` for a terminal, `json` (one object a line) for a
    /// log collector.
    #[arg(long, env = "DOCKET_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub(crate) log_format: LogFormat,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct RebuildArgs {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// The projection to rebuild; `cases` (the only one: list, detail, history, worklists,
    /// counters) by default.
    #[arg(default_value = "cases")]
    pub(crate) projection: String,
}

#[derive(Debug, Args)]
pub(crate) struct RepairArgs {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// The case to repair (its id); every quarantined case when left out.
    pub(crate) case: Option<String>,
    /// List the quarantined commits and why, and change nothing.
    #[arg(long)]
    pub(crate) list: bool,
}

#[derive(Debug, Args)]
pub(crate) struct SweepEvidenceArgs {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    #[command(flatten)]
    pub(crate) evidence: EvidenceStoreArgs,
    /// Keep a file no commit names if it was written less than this many days before the log's
    /// last commit: the action that names it may not be recorded yet (a phone uploads its
    /// photos first, then sends).
    #[arg(long, env = "DOCKET_EVIDENCE_GRACE_DAYS", default_value_t = 7)]
    pub(crate) grace_days: u64,
    /// List what would be removed, and remove nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
}

#[derive(Debug, Args)]
pub(crate) struct EraseArgs {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// The person to erase: the `person` id the case shows.
    pub(crate) person: String,
    /// The tenant the person was recorded in.
    #[arg(long, env = "DOCKET_TENANT", default_value = "demo")]
    pub(crate) tenant: String,
}

#[derive(Debug, Args)]
pub(crate) struct ApiKeyArgs {
    #[command(subcommand)]
    pub(crate) command: ApiKeyCommand,
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum ApiKeyCommand {
    /// Issue a key to an app: it files residents' reports through Open311 for the tenant as a
    /// service account. The key is printed once and kept only as its hash.
    Create {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long, env = "DOCKET_TENANT", default_value = "demo")]
        tenant: String,
        /// The app's name, as the tenant's admin knows it.
        #[arg(long)]
        name: String,
        /// The community its reports go to (to its intake unit) when their place is in no
        /// grid's area.
        #[arg(long)]
        community: String,
    },
    /// List the tenant's keys (never the keys themselves), revoked ones marked.
    List {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long, env = "DOCKET_TENANT", default_value = "demo")]
        tenant: String,
    },
    /// Revoke a key: the app's next request is refused (403).
    Revoke {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long, env = "DOCKET_TENANT", default_value = "demo")]
        tenant: String,
        /// The key's id, as `create` and `list` print it.
        id: String,
    },
}

#[derive(Debug, Args)]
pub(crate) struct TokenArgs {
    #[command(flatten)]
    pub(crate) data: DataArgs,
    /// grid_worker, mediator, petition_officer, handler, supervisor or admin.
    #[arg(long)]
    pub(crate) role: String,
    /// The tenant (sub-district office) the token is for.
    #[arg(long, default_value = "demo")]
    pub(crate) tenant: String,
    /// The user id; by default demo-<role>.
    #[arg(long)]
    pub(crate) sub: Option<String>,
    /// The user's unit (handlers, mediators), such as `qinghe-housing`.
    #[arg(long)]
    pub(crate) unit: Option<String>,
    /// The grids of a grid worker, comma-separated, such as `qinghe-01,qinghe-02`.
    #[arg(long, value_delimiter = ',')]
    pub(crate) grids: Vec<String>,
    /// Hours until the token expires.
    #[arg(long, default_value_t = 720)]
    pub(crate) ttl_hours: u64,
    #[command(flatten)]
    pub(crate) tokens: TokenCheckArgs,
}

/// Where uploaded evidence is kept: a directory, or a bucket of an S3-compatible object store.
#[derive(Debug, Args)]
pub(crate) struct EvidenceStoreArgs {
    #[command(flatten)]
    pub(crate) dir: EvidenceDirArgs,
    /// Keep evidence in this bucket of an S3-compatible object store instead of a directory, so
    /// that every replica shares it (credentials from AWS_ACCESS_KEY_ID and
    /// AWS_SECRET_ACCESS_KEY).
    #[arg(
        long,
        env = "DOCKET_EVIDENCE_S3_BUCKET",
        requires = "evidence_s3_endpoint",
        conflicts_with = "evidence_dir"
    )]
    pub(crate) evidence_s3_bucket: Option<String>,
    /// The object store's address, such as `http://minio:9000` (buckets addressed by path).
    #[arg(
        long,
        env = "DOCKET_EVIDENCE_S3_ENDPOINT",
        requires = "evidence_s3_bucket"
    )]
    pub(crate) evidence_s3_endpoint: Option<String>,
    /// The object store's region, as its requests are signed for.
    #[arg(long, env = "DOCKET_EVIDENCE_S3_REGION", default_value = "us-east-1")]
    pub(crate) evidence_s3_region: String,
}

impl EvidenceStoreArgs {
    /// The store these name, taking files of at most `max_bytes`.
    pub(crate) fn store(
        &self,
        data_dir: &Path,
        max_bytes: usize,
    ) -> Result<docket_api::evidence::EvidenceStore, String> {
        let (Some(endpoint), Some(bucket)) = (&self.evidence_s3_endpoint, &self.evidence_s3_bucket)
        else {
            return Ok(docket_api::evidence::EvidenceStore::new(
                self.dir.path(data_dir),
                max_bytes,
            ));
        };
        let credentials = match (
            std::env::var("AWS_ACCESS_KEY_ID"),
            std::env::var("AWS_SECRET_ACCESS_KEY"),
        ) {
            (Ok(key), Ok(secret)) => Some((key, secret)),
            _ => None,
        };
        if credentials.is_none() {
            tracing::warn!(
                "no AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY: requests to the evidence bucket are not signed"
            );
        }
        docket_api::evidence::EvidenceStore::bucket(
            endpoint,
            bucket,
            &self.evidence_s3_region,
            credentials,
            max_bytes,
        )
    }
}

/// Where uploaded evidence is kept.
#[derive(Debug, Args)]
pub(crate) struct EvidenceDirArgs {
    /// Where uploaded evidence (photos, documents) is kept, per tenant [default: DATA_DIR/evidence].
    #[arg(long, env = "DOCKET_EVIDENCE_DIR")]
    pub(crate) evidence_dir: Option<PathBuf>,
}

impl EvidenceDirArgs {
    pub(crate) fn path(&self, data_dir: &Path) -> PathBuf {
        self.evidence_dir
            .clone()
            .unwrap_or_else(|| data_dir.join("evidence"))
    }
}

/// How the console in the browser signs officials in through the identity provider (OpenID
/// Connect, authorization code with PKCE, the console a public client). The provider's tokens
/// are checked as `--jwks` and `--jwt-issuer` say.
#[derive(Debug, Args)]
pub(crate) struct ConsoleArgs {
    /// The console's client id at the identity provider (needs --jwt-issuer and --jwks).
    #[arg(long, env = "DOCKET_OIDC_CLIENT_ID", requires = "oidc_redirect_url")]
    pub(crate) oidc_client_id: Option<String>,
    /// Where the provider sends the browser back: this server's `/` as the browser reaches it,
    /// such as `https://docket.example.gov.cn/`.
    #[arg(long, env = "DOCKET_OIDC_REDIRECT_URL", requires = "oidc_client_id")]
    pub(crate) oidc_redirect_url: Option<String>,
    /// The scopes the console asks for.
    #[arg(long, env = "DOCKET_OIDC_SCOPE", default_value = "openid")]
    pub(crate) oidc_scope: String,
}

/// How tokens are checked.
#[derive(Debug, Args)]
pub(crate) struct TokenCheckArgs {
    /// Verify tokens of an identity provider against its JWKS (RS256 and ES256 keys, each with
    /// a kid) instead of the data directory's HS256 secret: a file, or an https URL the
    /// provider publishes it at (fetched at start, on a schedule, and when a token names a new
    /// key id).
    #[arg(long, env = "DOCKET_JWKS", value_name = "FILE|URL")]
    pub(crate) jwks: Option<String>,
    /// Seconds between fetches of a JWKS URL, so rotated keys arrive and retired ones leave.
    #[arg(long, env = "DOCKET_JWKS_REFRESH", default_value_t = 600,
          value_parser = clap::value_parser!(u64).range(10..))]
    pub(crate) jwks_refresh: u64,
    /// Require tokens to be issued by this `iss`.
    #[arg(long, env = "DOCKET_JWT_ISSUER")]
    pub(crate) jwt_issuer: Option<String>,
    /// Require tokens to be for this `aud` (a token may name several audiences).
    #[arg(long, env = "DOCKET_JWT_AUDIENCE")]
    pub(crate) jwt_audience: Option<String>,
    /// How many seconds a token's `exp` and `nbf` may be off this server's clock.
    #[arg(long, env = "DOCKET_JWT_LEEWAY", default_value_t = 60)]
    pub(crate) jwt_leeway: u64,
}

/// The data directory, created on first use.
#[derive(Debug, Clone)]
pub(crate) struct DataDir(PathBuf);

impl DataDir {
    pub(crate) fn create(path: &Path) -> Result<Self, String> {
        std::fs::create_dir_all(path)
            .map_err(|e| format!("cannot create data directory {}: {e}", path.display()))?;
        Ok(Self(path.to_path_buf()))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    pub(crate) fn log_path(&self) -> PathBuf {
        Self::log_path_in(&self.0)
    }

    /// Where the embedded log of the data directory at `path` is, whether or not there is one.
    pub(crate) fn log_path_in(path: &Path) -> PathBuf {
        path.join("log.sqlite")
    }

    pub(crate) fn read_model_path(&self) -> PathBuf {
        self.0.join("read.sqlite")
    }

    /// The embedded key file: one key per person, apart from the log.
    pub(crate) fn keys_path(&self) -> PathBuf {
        self.0.join("keys.sqlite")
    }

    pub(crate) fn secret_path(&self) -> PathBuf {
        self.0.join("jwt-secret")
    }
}

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// Print the report as JSON instead of lines.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ExportChainArgs {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// The case's id (a UUID, as `GET /v1/cases/{id}` names it).
    pub(crate) case: uuid::Uuid,
    /// The tenant the case belongs to.
    #[arg(long, default_value = "demo")]
    pub(crate) tenant: String,
}

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// The tenant whose commits to export (its cases and its directory); every tenant's when
    /// left out.
    #[arg(long)]
    pub(crate) tenant: Option<String>,
    /// The archive to write (JSON lines).
    #[arg(long)]
    pub(crate) to: std::path::PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// The archive `docket export` wrote.
    #[arg(long)]
    pub(crate) from: std::path::PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct BackupArgs {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// The directory to write the backup to (created; it must not exist or be empty).
    #[arg(long)]
    pub(crate) to: std::path::PathBuf,
    #[command(flatten)]
    pub(crate) evidence: EvidenceDirArgs,
}

#[derive(Debug, Args)]
pub(crate) struct RestoreArgs {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// The directory `docket backup` wrote.
    #[arg(long)]
    pub(crate) from: std::path::PathBuf,
    #[command(flatten)]
    pub(crate) evidence: EvidenceDirArgs,
}

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// How many years' worth of cases: 1 is about 850 disputes, 2,900 petitions (162 visits)
    /// and 6,000 hazards; fractions for a smaller year.
    #[arg(long, default_value_t = 1.0)]
    pub(crate) scale: f64,
    /// The year to fill (a past one; the last by default).
    #[arg(long)]
    pub(crate) year: Option<i16>,
    /// The tenant the year belongs to (the demo tokens' tenant by default).
    #[arg(long, env = "DOCKET_DEMO_TENANT", default_value = "demo")]
    pub(crate) tenant: String,
    /// The seed of the draw: the same seed and scale give the same year.
    #[arg(long, default_value_t = 2025)]
    pub(crate) seed: u64,
    /// Add the year to a log that already holds commits.
    #[arg(long)]
    pub(crate) append: bool,
}
