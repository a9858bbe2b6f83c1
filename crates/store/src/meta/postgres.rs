//! [`PgMeta`]: the metadata database on PostgreSQL, for several `esxlcm serve` replicas
//! sharing one database. Same semantics, errors and transactions as [`super::SqliteMeta`];
//! the schema mirrors SQLite's one migration for one ([`PG_MIGRATIONS`]).
//!
//! **Driver.** `tokio-postgres` (the maintained PostgreSQL driver of the Rust ecosystem,
//! also under the `postgres` and `deadpool-postgres` crates), pooled by
//! `deadpool-postgres`. The trait is synchronous and is called from plain threads, from
//! `spawn_blocking` and from async handlers on tokio worker threads; a sync wrapper that
//! `block_on`s on the caller's thread (as the `postgres` crate does) panics on a worker
//! thread. So `PgMeta` owns a small private runtime: each call is spawned onto it and the
//! caller waits on a std channel, which blocks the calling thread like any other store call
//! and works in every context.
//!
//! **Migrations** run at [`PgMeta::connect`], all pending ones in one transaction under a
//! transaction-scoped advisory lock: replicas starting together apply them once.
//!
//! **Leases** ([`MetaStore::try_lease`]) are session advisory locks, each on a connection of
//! its own outside the pool: dropping the [`Lease`] unlocks and closes it, and a killed
//! replica's connection closes with the process, which releases the lock server-side.
//!
//! Text columns that are sorted (`sources.name`, file paths, document keys) use the `"C"`
//! collation: byte order, like SQLite's, whatever the database's locale.
//!
//! **TLS**, as libpq's URL parameters say: `sslmode=require`, `verify-ca` or `verify-full`
//! connect over TLS (rustls) and always verify the server's certificate and name (so
//! `require` is as strict as `verify-full`) against the system's CA store, or only against
//! the PEM file `sslrootcert=PATH` names. Without `sslmode` (or with `disable`, `allow`,
//! `prefer`) the connection is plain TCP: for loopback or a trusted network.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use tokio_postgres::config::SslMode;
use tokio_postgres::{NoTls, Row};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::lease::{Held, lease_key};
use super::{
    CLAIMS_KEPT_SECONDS, CacheEntry, Document, DocumentChange, FileEntry, Lease, MetaStore, QuarantineRecord,
    RUN_DURATION_BOUNDS, RemotePayload, RunStats, SnapshotInfo, SyncRun, VERIFY_RUNS_KEPT, VerifyRun, ViewFile, now,
    to_i64, to_u64, tree_digest,
};
use crate::audit::{AuditEntry, AuditQuery, AuditRecord};
use crate::blob::BlobId;
use crate::error::StoreError;
use crate::source::{Source, SourceConfig};

/// Pooled connections per process: several readers at once (serving depots, the API, a
/// sync writing), small enough that many replicas stay under PostgreSQL's
/// `max_connections` (100 by default). Leases use connections of their own.
pub const POOL_SIZE: usize = 8;

/// Rows per statement when a snapshot's files or on-demand records are inserted (as
/// arrays, one round trip per batch).
const BATCH_ROWS: usize = 5000;

/// TCP keepalive of every connection, both ends (a lease's server side is set per session):
/// a dead peer is found after about IDLE + INTERVAL × RETRIES (a minute), and unacknowledged
/// data is given up on after [`DEAD_PEER_TIMEOUT`]. So a replica whose host dies releases
/// its leases within about a minute, and a replica cut off from the database finds out.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
const KEEPALIVE_RETRIES: u32 = 3;
const DEAD_PEER_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a call waits for a pooled connection or for a new one.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Schema migrations, applied in order; the row of `schema_version` is the number applied.
/// Migration `n` here makes the tables of SQLite's migration `n` ([`super::MIGRATIONS`]).
pub const PG_MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE sources (
    id BIGSERIAL PRIMARY KEY,
    name TEXT COLLATE "C" NOT NULL UNIQUE,
    config TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE snapshots (
    id BIGSERIAL PRIMARY KEY,
    source_id BIGINT NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    files BIGINT NOT NULL,
    bytes BIGINT NOT NULL,
    tree_digest TEXT NOT NULL
);
CREATE INDEX snapshots_source ON snapshots(source_id);
CREATE TABLE snapshot_files (
    snapshot_id BIGINT NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
    path TEXT COLLATE "C" NOT NULL,
    blob TEXT NOT NULL,
    size BIGINT NOT NULL,
    PRIMARY KEY (snapshot_id, path)
);
CREATE INDEX snapshot_files_blob ON snapshot_files(blob);
CREATE TABLE published (
    source_id BIGINT PRIMARY KEY REFERENCES sources(id) ON DELETE CASCADE,
    snapshot_id BIGINT NOT NULL REFERENCES snapshots(id)
);
CREATE INDEX published_snapshot ON published(snapshot_id);
CREATE TABLE http_cache (
    source_id BIGINT NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    etag TEXT,
    last_modified TEXT,
    blob TEXT,
    PRIMARY KEY (source_id, url)
);
CREATE TABLE quarantine (
    id BIGSERIAL PRIMARY KEY,
    source TEXT NOT NULL,
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    expected TEXT NOT NULL,
    actual TEXT NOT NULL,
    size BIGINT NOT NULL,
    file TEXT NOT NULL,
    reason TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE TABLE sync_runs (
    id BIGSERIAL PRIMARY KEY,
    source_id BIGINT NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    started_at BIGINT NOT NULL,
    finished_at BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    snapshot_id BIGINT,
    files_fetched BIGINT NOT NULL,
    bytes_fetched BIGINT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX sync_runs_source ON sync_runs(source_id, id);
"#,
    r"
CREATE TABLE store_info (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE imported_snapshots (
    origin TEXT NOT NULL,
    origin_snapshot BIGINT NOT NULL,
    snapshot_id BIGINT NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
    PRIMARY KEY (origin, origin_snapshot)
);
CREATE INDEX imported_snapshots_snapshot ON imported_snapshots(snapshot_id);
",
    r#"
CREATE TABLE remote_payloads (
    source_id BIGINT NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    path TEXT COLLATE "C" NOT NULL,
    blob TEXT NOT NULL,
    size BIGINT NOT NULL,
    name TEXT NOT NULL,
    url TEXT,
    PRIMARY KEY (source_id, path, blob)
);
"#,
    r#"
CREATE TABLE documents (
    kind TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    body TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (kind, id)
);
"#,
    r#"
CREATE TABLE audit (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    "user" TEXT,
    client TEXT,
    action TEXT NOT NULL,
    target TEXT,
    result TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX audit_at ON audit(at);
"#,
    r"
CREATE TABLE verify_runs (
    id BIGSERIAL PRIMARY KEY,
    started_at BIGINT NOT NULL,
    finished_at BIGINT NOT NULL,
    blobs_checked BIGINT NOT NULL,
    snapshots_checked BIGINT NOT NULL,
    problems BIGINT NOT NULL,
    first_problem TEXT
);
",
    r"
CREATE TABLE schedule_claims (
    key TEXT NOT NULL,
    due BIGINT NOT NULL,
    claimed_at BIGINT NOT NULL,
    PRIMARY KEY (key, due)
);
",
    r#"
CREATE TABLE views (
    name TEXT COLLATE "C" PRIMARY KEY,
    record TEXT NOT NULL,
    build BIGINT,
    built_at BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL
);
CREATE TABLE view_files (
    view TEXT COLLATE "C" NOT NULL REFERENCES views(name) ON DELETE CASCADE,
    build BIGINT NOT NULL,
    path TEXT COLLATE "C" NOT NULL,
    blob TEXT NOT NULL,
    size BIGINT NOT NULL,
    PRIMARY KEY (view, build, path)
);
CREATE INDEX view_files_blob ON view_files(blob);
"#,
];

/// The tables the migrations make (what [`MetaStore::integrity_check`] expects to find).
const TABLES: &[&str] = &[
    "sources",
    "snapshots",
    "snapshot_files",
    "published",
    "http_cache",
    "quarantine",
    "sync_runs",
    "store_info",
    "imported_snapshots",
    "remote_payloads",
    "documents",
    "audit",
    "verify_runs",
    "schedule_claims",
    "views",
    "view_files",
];

/// What went wrong talking to PostgreSQL (inside [`StoreError::Pg`]).
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// The driver's error with its causes (the server's message, detail and hint).
    #[error("{}", describe(.0))]
    Driver(#[from] tokio_postgres::Error),
    #[error("connection pool: {0}")]
    Pool(String),
    #[error("{0}")]
    Url(String),
    #[error("starting the database runtime: {0}")]
    Runtime(std::io::Error),
    #[error("the database call ended without an answer (its task panicked or the runtime stopped)")]
    TaskLost,
    #[error("{0}")]
    Data(String),
}

/// The driver's error and every cause below it (its own `Display` says only "db error").
fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = format!("{}: {} (SQLSTATE {})", db.severity(), db.message(), db.code().code());
        if let Some(detail) = db.detail() {
            s.push_str(&format!("; {detail}"));
        }
        if let Some(hint) = db.hint() {
            s.push_str(&format!("; hint: {hint}"));
        }
        return s;
    }
    let mut s = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        s.push_str(&format!(": {c}"));
        cause = c.source();
    }
    s
}

/// `url` with its password (in the user part or a `password=` parameter) replaced by
/// `***`: what errors and logs show.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                // Fails only for URLs that cannot have a password (no host): none here.
                let _ = parsed.set_password(Some("***"));
            }
            if parsed.query_pairs().any(|(k, _)| k == "password") {
                let pairs: Vec<(String, String)> = parsed
                    .query_pairs()
                    .map(|(k, v)| {
                        let v = if k == "password" { "***".to_owned() } else { v.into_owned() };
                        (k.into_owned(), v)
                    })
                    .collect();
                parsed.query_pairs_mut().clear().extend_pairs(pairs);
            }
            parsed.to_string()
        }
        // Unparseable: keep the scheme only, never a piece that could be the password.
        Err(_) => match url.split_once("://") {
            Some((scheme, _)) => format!("{scheme}://(unparseable URL)"),
            None => "(unparseable database URL)".to_owned(),
        },
    }
}

/// How connections are made: plain, or TLS with a verifying rustls client.
#[derive(Clone)]
enum Tls {
    Off,
    Rustls(MakeRustlsConnect),
}

/// Takes libpq's `sslmode` and `sslrootcert` out of `url` (the driver knows only some
/// `sslmode` values and no `sslrootcert`): the URL left, and the TLS to use.
fn split_tls(url: &str) -> Result<(String, Tls), PgError> {
    let Ok(mut parsed) = url::Url::parse(url) else { return Ok((url.to_owned(), Tls::Off)) };
    let mut mode = None;
    let mut root = None;
    let kept: Vec<(String, String)> = parsed
        .query_pairs()
        .filter_map(|(k, v)| match k.as_ref() {
            "sslmode" => {
                mode = Some(v.into_owned());
                None
            }
            "sslrootcert" => {
                root = Some(PathBuf::from(v.as_ref()));
                None
            }
            _ => Some((k.into_owned(), v.into_owned())),
        })
        .collect();
    if kept.is_empty() {
        parsed.set_query(None);
    } else {
        parsed.query_pairs_mut().clear().extend_pairs(kept);
    }
    let tls = match mode.as_deref() {
        None | Some("disable" | "allow" | "prefer") => Tls::Off,
        Some("require" | "verify-ca" | "verify-full") => {
            Tls::Rustls(MakeRustlsConnect::new(client_tls(root.as_deref())?))
        }
        Some(other) => {
            return Err(PgError::Url(format!(
                "sslmode={other}: expected disable, prefer, require, verify-ca or verify-full"
            )));
        }
    };
    Ok((parsed.to_string(), tls))
}

/// A rustls client trusting the system's CA store, or only the certificates of `root`.
fn client_tls(root: Option<&std::path::Path>) -> Result<rustls::ClientConfig, PgError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    match root {
        Some(path) => {
            let certs: Vec<CertificateDer<'static>> =
                CertificateDer::pem_file_iter(path)
                    .and_then(Iterator::collect)
                    .map_err(|e| PgError::Url(format!("sslrootcert {}: {e}", path.display())))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(PgError::Url(format!("sslrootcert {}: no usable certificate in it", path.display())));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(PgError::Url(
                    "sslmode asks for TLS and the system has no CA certificates (install ca-certificates, or give \
                     sslrootcert=PATH)"
                        .into(),
                ));
            }
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| PgError::Url(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The private runtime; shut down without waiting when the last user drops it (dropping a
/// runtime the normal way panics on a tokio worker thread).
struct Rt(Option<tokio::runtime::Runtime>);

impl Rt {
    fn handle(&self) -> Option<&tokio::runtime::Handle> {
        self.0.as_ref().map(tokio::runtime::Runtime::handle)
    }
}

impl Drop for Rt {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// Runs `fut` on `rt` and waits for its answer on the calling thread (any thread: plain,
/// `spawn_blocking`, or a tokio worker of another runtime).
fn run_on<T, F>(rt: &Rt, target: &Arc<str>, fut: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: Future<Output = Result<T, StoreError>> + Send + 'static,
{
    let lost = || StoreError::Pg {
        target: target.to_string(),
        context: "calling the database".into(),
        source: PgError::TaskLost,
    };
    let handle = rt.handle().ok_or_else(lost)?;
    let (tx, rx) = mpsc::sync_channel(1);
    handle.spawn(async move {
        // The caller waits on the other end; if it is gone there is no one to tell.
        let _ = tx.send(fut.await);
    });
    rx.recv().map_err(|_| lost())?
}

/// What the async side of a call needs: the pool and the name to put in errors.
#[derive(Clone)]
struct Db {
    pool: Pool,
    target: Arc<str>,
}

impl Db {
    fn err(&self, context: impl Into<String>, source: PgError) -> StoreError {
        StoreError::Pg { target: self.target.to_string(), context: context.into(), source }
    }

    fn fail(&self, context: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> StoreError {
        let target = self.target.to_string();
        let context = context.into();
        move |e| StoreError::Pg { target, context, source: PgError::Driver(e) }
    }

    async fn client(&self, context: &str) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(|e| {
            let source = match e {
                deadpool_postgres::PoolError::Backend(e) => PgError::Driver(e),
                other => PgError::Pool(other.to_string()),
            };
            self.err(context, source)
        })
    }
}

/// The metadata database on PostgreSQL (see the module documentation).
pub struct PgMeta {
    db: Db,
    config: tokio_postgres::Config,
    tls: Tls,
    rt: Arc<Rt>,
}

impl std::fmt::Debug for PgMeta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgMeta").field("target", &self.db.target).finish_non_exhaustive()
    }
}

impl PgMeta {
    /// Connects to `postgres://USER[:PASS]@HOST:PORT/DB` (or `postgresql://…`, with libpq's
    /// URL parameters), applies pending migrations and returns the pooled handle. Errors
    /// name the URL without its password.
    pub fn connect(url: &str) -> Result<PgMeta, StoreError> {
        let target: Arc<str> = Arc::from(redact_url(url));
        let fail = |context: &str, source: PgError| StoreError::Pg {
            target: target.to_string(),
            context: context.to_owned(),
            source,
        };
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(fail(
                "reading the database URL",
                PgError::Url("expected postgres://USER[:PASS]@HOST:PORT/DB".into()),
            ));
        }
        let (url, tls) = split_tls(url).map_err(|e| fail("reading the database URL", e))?;
        // The driver's parse errors never quote the string; ours names the redacted URL.
        let mut config =
            tokio_postgres::Config::from_str(&url).map_err(|e| fail("reading the database URL", PgError::Driver(e)))?;
        config.ssl_mode(if matches!(tls, Tls::Off) { SslMode::Disable } else { SslMode::Require });
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("esxlcm");
        }
        // A database host that vanishes (power, network) is noticed in about a minute,
        // not after the kernel's two-hour keepalive default.
        if config.get_keepalives_idle() == Duration::from_secs(2 * 60 * 60) {
            config.keepalives_idle(KEEPALIVE_IDLE);
        }
        if config.get_keepalives_interval().is_none() {
            config.keepalives_interval(KEEPALIVE_INTERVAL);
        }
        if config.get_keepalives_retries().is_none() {
            config.keepalives_retries(KEEPALIVE_RETRIES);
        }
        if config.get_tcp_user_timeout().is_none() {
            config.tcp_user_timeout(DEAD_PEER_TIMEOUT);
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("esxlcm-postgres")
            .enable_all()
            .build()
            .map_err(|e| fail("starting", PgError::Runtime(e)))?;
        let manager_config = ManagerConfig { recycling_method: RecyclingMethod::Fast };
        let manager = match &tls {
            Tls::Off => Manager::from_config(config.clone(), NoTls, manager_config),
            Tls::Rustls(make) => Manager::from_config(config.clone(), make.clone(), manager_config),
        };
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| fail("making the connection pool", PgError::Pool(e.to_string())))?;
        let meta = PgMeta { db: Db { pool, target }, config, tls, rt: Arc::new(Rt(Some(rt))) };
        let db = meta.db.clone();
        meta.run(async move { migrate(&db).await })?;
        tracing::debug!(database = %meta.db.target, "PostgreSQL metadata database ready");
        Ok(meta)
    }

    /// The database URL without its password.
    pub fn target(&self) -> &str {
        &self.db.target
    }

    /// The number of migrations applied.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        let db = self.db.clone();
        self.run(async move {
            let ctx = "reading the schema version";
            let c = db.client(ctx).await?;
            c.query_one("SELECT version FROM schema_version", &[])
                .await
                .and_then(|r| r.try_get(0))
                .map_err(db.fail(ctx))
        })
    }

    fn run<T, F>(&self, fut: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        run_on(&self.rt, &self.db.target, fut)
    }

    /// A snapshot, its files and (for imports) its origin, in one transaction.
    fn insert_snapshot(
        &self,
        source_id: i64,
        files: &[FileEntry],
        created_at: i64,
        origin: Option<(&str, i64)>,
    ) -> Result<SnapshotInfo, StoreError> {
        let db = self.db.clone();
        let files = files.to_vec();
        let origin = origin.map(|(o, n)| (o.to_owned(), n));
        self.run(async move {
            let ctx = "recording a snapshot";
            let mut c = db.client(ctx).await?;
            let tx = c.transaction().await.map_err(db.fail(ctx))?;
            let bytes: u64 = files.iter().map(|f| f.size).sum();
            let digest = tree_digest(&files);
            let id: i64 = tx
                .query_one(
                    "INSERT INTO snapshots (source_id, created_at, files, bytes, tree_digest) VALUES ($1, $2, $3, $4, $5)
                     RETURNING id",
                    &[&source_id, &created_at, &to_i64(files.len() as u64), &to_i64(bytes), &digest],
                )
                .await
                .and_then(|r| r.try_get(0))
                .map_err(db.fail(ctx))?;
            for batch in files.chunks(BATCH_ROWS) {
                let paths: Vec<&str> = batch.iter().map(|f| f.path.as_str()).collect();
                let blobs: Vec<&str> = batch.iter().map(|f| f.blob.as_str()).collect();
                let sizes: Vec<i64> = batch.iter().map(|f| to_i64(f.size)).collect();
                tx.execute(
                    "INSERT INTO snapshot_files (snapshot_id, path, blob, size)
                     SELECT $1, p, b, s FROM UNNEST($2::text[], $3::text[], $4::bigint[]) AS t(p, b, s)",
                    &[&id, &paths, &blobs, &sizes],
                )
                .await
                .map_err(db.fail(format!("{ctx}: {} file(s) from {}", batch.len(), paths.first().unwrap_or(&""))))?;
            }
            if let Some((origin, origin_snapshot)) = &origin {
                tx.execute(
                    "INSERT INTO imported_snapshots (origin, origin_snapshot, snapshot_id) VALUES ($1, $2, $3)",
                    &[origin, origin_snapshot, &id],
                )
                .await
                .map_err(db.fail(format!("{ctx}: origin snapshot {origin_snapshot}")))?;
            }
            tx.commit().await.map_err(db.fail(ctx))?;
            Ok(SnapshotInfo { id, source_id, created_at, files: files.len() as u64, bytes, tree_digest: digest })
        })
    }
}

/// Applies the pending migrations in one transaction, under an advisory lock held to its end.
async fn migrate(db: &Db) -> Result<(), StoreError> {
    let ctx = "applying schema migrations";
    let mut c = db.client("connecting").await?;
    let tx = c.transaction().await.map_err(db.fail(ctx))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&lease_key("esxlcm:schema-migrations")])
        .await
        .map_err(db.fail("waiting for the migration lock"))?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
        .await
        .map_err(db.fail(ctx))?;
    let found: Option<i64> =
        match tx.query_opt("SELECT version FROM schema_version", &[]).await.map_err(db.fail(ctx))? {
            Some(row) => Some(row.try_get(0).map_err(db.fail(ctx))?),
            None => None,
        };
    let version = match found {
        Some(v) => v,
        None => {
            tx.execute("INSERT INTO schema_version (version) VALUES (0)", &[]).await.map_err(db.fail(ctx))?;
            0
        }
    };
    let supported = i64::try_from(PG_MIGRATIONS.len()).unwrap_or(i64::MAX);
    if version > supported {
        return Err(StoreError::SchemaTooNew { path: PathBuf::from(db.target.to_string()), found: version, supported });
    }
    for (i, sql) in PG_MIGRATIONS.iter().enumerate().skip(usize::try_from(version).unwrap_or(0)) {
        tx.batch_execute(sql).await.map_err(db.fail(format!("applying schema migration {}", i + 1)))?;
        let applied = i64::try_from(i + 1).unwrap_or(i64::MAX);
        tx.execute("UPDATE schema_version SET version = $1", &[&applied])
            .await
            .map_err(db.fail("recording the schema version"))?;
        tracing::info!(database = %db.target, migration = applied, "applied schema migration");
    }
    tx.commit().await.map_err(db.fail(ctx))
}

fn row_to_source(id: i64, config: &str) -> Result<Source, StoreError> {
    super::row_to_source(id, config)
}

fn snapshot_from_row(r: &Row) -> Result<SnapshotInfo, tokio_postgres::Error> {
    Ok(SnapshotInfo {
        id: r.try_get(0)?,
        source_id: r.try_get(1)?,
        created_at: r.try_get(2)?,
        files: to_u64(r.try_get(3)?),
        bytes: to_u64(r.try_get(4)?),
        tree_digest: r.try_get(5)?,
    })
}

fn blob_col(db: &Db, text: &str, context: &str) -> Result<BlobId, StoreError> {
    BlobId::parse(text).ok_or_else(|| db.err(context, PgError::Data(format!("'{text}' is not a sha-256"))))
}

fn collect<T>(
    rows: &[Row],
    f: impl Fn(&Row) -> Result<T, tokio_postgres::Error>,
) -> Result<Vec<T>, tokio_postgres::Error> {
    rows.iter().map(f).collect()
}

/// A lease's own connection, holding `pg_advisory_lock(key)` while it is open.
struct PgLease {
    client: Option<tokio_postgres::Client>,
    key: i64,
    rt: Arc<Rt>,
    target: Arc<str>,
}

impl Held for PgLease {
    fn is_held(&self) -> bool {
        self.client.as_ref().is_some_and(|c| !c.is_closed())
    }
}

impl Drop for PgLease {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else { return };
        let key = self.key;
        // Unlock and wait for the answer, so the lease is free when drop returns; closing
        // the connection (dropping the client) releases it anyway if the unlock fails.
        let released = run_on(&self.rt, &self.target, async move {
            let r = client.execute("SELECT pg_advisory_unlock($1)", &[&key]).await;
            drop(client);
            Ok(r)
        });
        match released {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %describe(&e), "releasing a lease failed; closing its connection releases it")
            }
            Err(e) => tracing::warn!(error = %e, "releasing a lease failed; closing its connection releases it"),
        }
    }
}

/// Drives a lease's connection until it closes (dropping the client) or fails.
async fn watch_lease_connection<F>(connection: F)
where
    F: Future<Output = Result<(), tokio_postgres::Error>>,
{
    if let Err(e) = connection.await {
        tracing::warn!(error = %describe(&e), "a lease's database connection failed; the lease is lost");
    }
}

/// `application_name` of a lease's connection: who holds what, in `pg_stat_activity`.
fn lease_application_name(name: &str) -> String {
    let mut s = format!("esxlcm lease {name}");
    // PostgreSQL keeps 63 bytes; cut on a character boundary.
    while s.len() > 63 {
        s.pop();
    }
    s
}

impl MetaStore for PgMeta {
    fn add_source(&self, config: &SourceConfig) -> Result<Source, StoreError> {
        config.validate()?;
        let json = super::config_json(config)?;
        let config = config.clone();
        let db = self.db.clone();
        self.run(async move {
            let ctx = format!("adding source '{}'", config.name);
            let c = db.client(&ctx).await?;
            let row = c
                .query_opt(
                    "INSERT INTO sources (name, config, created_at) VALUES ($1, $2, $3)
                     ON CONFLICT (name) DO NOTHING RETURNING id",
                    &[&config.name, &json, &now()],
                )
                .await
                .map_err(db.fail(&ctx))?;
            match row {
                Some(r) => Ok(Source { id: r.try_get(0).map_err(db.fail(&ctx))?, config }),
                None => Err(StoreError::SourceExists(config.name.clone())),
            }
        })
    }

    fn update_source(&self, source: &Source) -> Result<(), StoreError> {
        source.config.validate()?;
        let json = super::config_json(&source.config)?;
        let (id, name) = (source.id, source.config.name.clone());
        let db = self.db.clone();
        self.run(async move {
            let ctx = format!("updating source '{name}'");
            let c = db.client(&ctx).await?;
            c.execute("UPDATE sources SET config = $2 WHERE id = $1", &[&id, &json]).await.map_err(db.fail(ctx))?;
            Ok(())
        })
    }

    fn sources(&self) -> Result<Vec<Source>, StoreError> {
        let db = self.db.clone();
        self.run(async move {
            let ctx = "listing sources";
            let c = db.client(ctx).await?;
            let rows = c.query("SELECT id, config FROM sources ORDER BY name", &[]).await.map_err(db.fail(ctx))?;
            let rows: Vec<(i64, String)> =
                collect(&rows, |r| Ok((r.try_get(0)?, r.try_get(1)?))).map_err(db.fail(ctx))?;
            rows.iter().map(|(id, c)| row_to_source(*id, c)).collect()
        })
    }

    fn source(&self, name: &str) -> Result<Source, StoreError> {
        let db = self.db.clone();
        let name = name.to_owned();
        self.run(async move {
            let ctx = format!("looking up source '{name}'");
            let c = db.client(&ctx).await?;
            // Hot paths (every host request looks up its source, the published snapshot and a
            // file) use statements prepared once per pooled connection: one round trip, not two.
            let stmt =
                c.prepare_cached("SELECT id, config FROM sources WHERE name = $1").await.map_err(db.fail(&ctx))?;
            let row = c.query_opt(&stmt, &[&name]).await.map_err(db.fail(&ctx))?;
            match row {
                Some(r) => {
                    let (id, config): (i64, String) =
                        (r.try_get(0).map_err(db.fail(&ctx))?, r.try_get(1).map_err(db.fail(&ctx))?);
                    row_to_source(id, &config)
                }
                None => Err(StoreError::UnknownSource(name)),
            }
        })
    }

    fn remove_source(&self, name: &str) -> Result<(), StoreError> {
        let source = self.source(name)?;
        let db = self.db.clone();
        let name = name.to_owned();
        self.run(async move {
            let ctx = format!("removing source '{name}'");
            let mut c = db.client(&ctx).await?;
            let tx = c.transaction().await.map_err(db.fail(&ctx))?;
            tx.execute("DELETE FROM published WHERE source_id = $1", &[&source.id]).await.map_err(db.fail(&ctx))?;
            tx.execute("DELETE FROM sources WHERE id = $1", &[&source.id]).await.map_err(db.fail(&ctx))?;
            tx.commit().await.map_err(db.fail(ctx))
        })
    }

    fn cache_get(&self, source_id: i64, url: &str) -> Result<Option<CacheEntry>, StoreError> {
        let db = self.db.clone();
        let url = url.to_owned();
        self.run(async move {
            let ctx = "reading the HTTP cache";
            let c = db.client(ctx).await?;
            let row = c
                .query_opt(
                    "SELECT etag, last_modified, blob FROM http_cache WHERE source_id = $1 AND url = $2",
                    &[&source_id, &url],
                )
                .await
                .map_err(db.fail(ctx))?;
            let Some(r) = row else { return Ok(None) };
            let (etag, last_modified, blob): (Option<String>, Option<String>, Option<String>) = (
                r.try_get(0).map_err(db.fail(ctx))?,
                r.try_get(1).map_err(db.fail(ctx))?,
                r.try_get(2).map_err(db.fail(ctx))?,
            );
            Ok(Some(CacheEntry { etag, last_modified, blob: blob.as_deref().and_then(BlobId::parse) }))
        })
    }

    fn cache_put(&self, source_id: i64, url: &str, entry: &CacheEntry) -> Result<(), StoreError> {
        let db = self.db.clone();
        let url = url.to_owned();
        let entry = entry.clone();
        self.run(async move {
            let ctx = "writing the HTTP cache";
            let c = db.client(ctx).await?;
            c.execute(
                "INSERT INTO http_cache (source_id, url, etag, last_modified, blob) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (source_id, url) DO UPDATE
                 SET etag = EXCLUDED.etag, last_modified = EXCLUDED.last_modified, blob = EXCLUDED.blob",
                &[&source_id, &url, &entry.etag, &entry.last_modified, &entry.blob.as_ref().map(BlobId::as_str)],
            )
            .await
            .map_err(db.fail(ctx))?;
            Ok(())
        })
    }

    fn create_snapshot(&self, source_id: i64, files: &[FileEntry]) -> Result<SnapshotInfo, StoreError> {
        self.insert_snapshot(source_id, files, now(), None)
    }

    fn snapshots(&self, source_id: i64) -> Result<Vec<SnapshotInfo>, StoreError> {
        let db = self.db.clone();
        self.run(async move {
            let ctx = "listing snapshots";
            let c = db.client(ctx).await?;
            let rows = c
                .query(
                    "SELECT id, source_id, created_at, files, bytes, tree_digest FROM snapshots
                     WHERE source_id = $1 ORDER BY id",
                    &[&source_id],
                )
                .await
                .map_err(db.fail(ctx))?;
            collect(&rows, snapshot_from_row).map_err(db.fail(ctx))
        })
    }

    fn all_snapshots(&self) -> Result<Vec<SnapshotInfo>, StoreError> {
        let db = self.db.clone();
        self.run(async move {
            let ctx = "listing snapshots";
            let c = db.client(ctx).await?;
            let rows = c
                .query("SELECT id, source_id, created_at, files, bytes, tree_digest FROM snapshots ORDER BY id", &[])
                .await
                .map_err(db.fail(ctx))?;
            collect(&rows, snapshot_from_row).map_err(db.fail(ctx))
        })
    }

    fn snapshot_files(&self, snapshot_id: i64) -> Result<Vec<FileEntry>, StoreError> {
        let db = self.db.clone();
        self.run(async move {
            let ctx = format!("reading snapshot {snapshot_id}");
            let c = db.client(&ctx).await?;
            let rows = c
                .query(
                    "SELECT path, blob, size FROM snapshot_files WHERE snapshot_id = $1 ORDER BY path",
                    &[&snapshot_id],
                )
                .await
                .map_err(db.fail(&ctx))?;
            let rows: Vec<(String, String, i64)> =
                collect(&rows, |r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))).map_err(db.fail(&ctx))?;
            rows.into_iter()
                .map(|(path, blob, size)| Ok(FileEntry { path, blob: blob_col(&db, &blob, &ctx)?, size: to_u64(size) }))
                .collect()
        })
    }

    fn snapshot_file(&self, snapshot_id: i64, path: &str) -> Result<Option<FileEntry>, StoreError> {
        let db = self.db.clone();
        let path = path.to_owned();
        self.run(async move {
            let ctx = format!("reading {path} of snapshot {snapshot_id}");
            let c = db.client(&ctx).await?;
            let stmt = c
                .prepare_cached("SELECT blob, size FROM snapshot_files WHERE snapshot_id = $1 AND path = $2")
                .await
                .map_err(db.fail(&ctx))?;
            let row = c.query_opt(&stmt, &[&snapshot_id, &path]).await.map_err(db.fail(&ctx))?;
            let Some(r) = row else { return Ok(None) };
            let (blob, size): (String, i64) =
                (r.try_get(0).map_err(db.fail(&ctx))?, r.try_get(1).map_err(db.fail(&ctx))?);
            Ok(Some(FileEntry { blob: blob_col(&db, &blob, &ctx)?, path, size: to_u64(size) }))
        })
    }

    fn record_remote(&self, source_id: i64, payloads: &[RemotePayload]) -> Result<(), StoreError> {
        // One row per (path, blob), the last one given winning, as SQLite's INSERT OR
        // REPLACE leaves it (an upsert may not touch a row twice in one statement).
        let mut unique: BTreeMap<(String, String), RemotePayload> = BTreeMap::new();
        for p in payloads {
            unique.insert((p.path.clone(), p.blob.as_str().to_owned()), p.clone());
        }
        let payloads: Vec<RemotePayload> = unique.into_values().collect();
        let db = self.db.clone();
        self.run(async move {
            let ctx = "recording on-demand payloads";
            let mut c = db.client(ctx).await?;
            let tx = c.transaction().await.map_err(db.fail(ctx))?;
            for batch in payloads.chunks(BATCH_ROWS) {
                let paths: Vec<&str> = batch.iter().map(|p| p.path.as_str()).collect();
                let blobs: Vec<&str> = batch.iter().map(|p| p.blob.as_str()).collect();
                let sizes: Vec<i64> = batch.iter().map(|p| to_i64(p.size)).collect();
                let names: Vec<&str> = batch.iter().map(|p| p.name.as_str()).collect();
                let urls: Vec<Option<&str>> = batch.iter().map(|p| p.url.as_deref()).collect();
                tx.execute(
                    "INSERT INTO remote_payloads (source_id, path, blob, size, name, url)
                     SELECT $1, p, b, s, n, u FROM UNNEST($2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[])
                         AS t(p, b, s, n, u)
                     ON CONFLICT (source_id, path, blob) DO UPDATE
                     SET size = EXCLUDED.size, name = EXCLUDED.name, url = EXCLUDED.url",
                    &[&source_id, &paths, &blobs, &sizes, &names, &urls],
                )
                .await
                .map_err(db.fail(format!(
                    "{ctx}: {} record(s) from {}",
                    batch.len(),
                    paths.first().unwrap_or(&"")
                )))?;
            }
            tx.commit().await.map_err(db.fail(ctx))
        })
    }

    fn remote_payload(&self, source_id: i64, path: &str, blob: &BlobId) -> Result<Option<RemotePayload>, StoreError> {
        let db = self.db.clone();
        let (path, blob) = (path.to_owned(), blob.clone());
        self.run(async move {
            let ctx = format!("reading the on-demand record of {path}");
            let c = db.client(&ctx).await?;
            let row = c
                .query_opt(
                    "SELECT size, name, url FROM remote_payloads WHERE source_id = $1 AND path = $2 AND blob = $3",
                    &[&source_id, &path, &blob.as_str()],
                )
                .await
                .map_err(db.fail(&ctx))?;
            let Some(r) = row else { return Ok(None) };
            let (size, name, url): (i64, String, Option<String>) = (
                r.try_get(0).map_err(db.fail(&ctx))?,
                r.try_get(1).map_err(db.fail(&ctx))?,
                r.try_get(2).map_err(db.fail(&ctx))?,
            );
            Ok(Some(RemotePayload { path, blob, size: to_u64(size), name, url }))
        })
    }

    fn snapshot_remote(&self, snapshot_id: i64) -> Result<Vec<RemotePayload>, StoreError> {
        let db = self.db.clone();
        self.run(async move {
            let ctx = format!("reading the on-demand payloads of snapshot {snapshot_id}");
            let c = db.client(&ctx).await?;
            let rows = c
                .query(
                    "SELECT r.path, r.blob, r.size, r.name, r.url FROM snapshot_files f
                     JOIN snapshots s ON s.id = f.snapshot_id
                     JOIN remote_payloads r ON r.source_id = s.source_id AND r.path = f.path AND r.blob = f.blob
                     WHERE f.snapshot_id = $1 ORDER BY r.path",
                    &[&snapshot_id],
                )
                .await
                .map_err(db.fail(&ctx))?;
            let rows: Vec<(String, String, i64, String, Option<String>)> =
                collect(&rows, |r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?, r.try_get(4)?)))
                    .map_err(db.fail(&ctx))?;
            rows.into_iter()
                .map(|(path, blob, size, name, url)| {
                    Ok(RemotePayload { path, blob: blob_col(&db, &blob, &ctx)?, size: to_u64(size), name, url })
                })
                .collect()
        })
    }

    fn delete_snapshot(&self, snapshot_id: i64) -> Result<(), StoreError> {
        let db = self.db.clone();
        self.run(async move {
            let ctx = format!("deleting snapshot {snapshot_id}");
            let c = db.client(&ctx).await?;
            c.execute("DELETE FROM snapshots WHERE id = $1", &[&snapshot_id]).await.map_err(db.fail(ctx))?;
            Ok(())
        })
    }

    fn published(&self, source_id: i64) -> Result<Option<i64>, StoreError> {
        let db = self.db.clone();
        self.run(async move {
            let ctx = "reading the published snapshot";
            let c = db.client(ctx).await?;
            let stmt = c
                .prepare_cached("SELECT snapshot_id FROM published WHERE source_id = $1")
                .await
                .map_err(db.fail(ctx))?;
            c.query_opt(&stmt, &[&source_id])
                .await
                .and_then(|r| r.map(|r| r.try_get(0)).transpose())
                .map_err(db.fail(ctx))
        })
    }

    fn set_published(&self, source_id: i64, snapshot_id: i64) -> Result<(), StoreError> {
        let db = self.db.clone();
        self.run(async move {
            let ctx = format!("publishing snapshot {snapshot_id}");
            let c = db.client(&ctx).await?;
            // One statement: every replica reads the old pointer or the new one.
            c.execute(
                "INSERT INTO published (source_id, snapshot_id) VALUES ($1, $2)
                 ON CONFLICT (source_id) DO UPDATE SET snapshot_id = EXCLUDED.snapshot_id",
                &[&source_id, &snapshot_id],
            )
            .await
            .map_err(db.fail(ctx))?;
            Ok(())
        })
    }

    fn referenced_blobs(&self) -> Result<HashSet<BlobId>, StoreError> {
        let db = self.db.clone();
        self.run(async move {
            let ctx = "listing referenced blobs";
            let c = db.client(ctx).await?;
            let rows = c
                .query("SELECT blob FROM snapshot_files UNION SELECT blob FROM view_files", &[])
                .await
                .map_err(db.fail(ctx))?;
            let rows: Vec<String> = collect(&rows, |r| r.try_get(0)).map_err(db.fail(ctx))?;
            rows.iter().map(|b| blob_col(&db, b, ctx)).collect()
        })
    }

    fn record_quarantine(&self, q: &QuarantineRecord) -> Result<(), StoreError> {
        let db = self.db.clone();
        let q = q.clone();
        self.run(async move {
            let ctx = format!("recording quarantined {}", q.name);
            let c = db.client(&ctx).await?;
            c.execute(
                "INSERT INTO quarantine (source, name, path, expected, actual, size, file, reason, at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[&q.source, &q.name, &q.path, &q.expected, &q.actual, &to_i64(q.size), &q.file, &q.reason, &q.at],
            )
            .await
            .map_err(db.fail(ctx))?;
            Ok(())
        })
    }

    fn quarantined(&self) -> Result<Vec<QuarantineRecord>, StoreError> {
        let db = self.db.clone();
        self.run(async move {
            let ctx = "listing quarantine";
            let c = db.client(ctx).await?;
            let rows = c
                .query(
                    "SELECT source, name, path, expected, actual, size, file, reason, at FROM quarantine ORDER BY id",
                    &[],
                )
                .await
                .map_err(db.fail(ctx))?;
            collect(&rows, |r| {
                Ok(QuarantineRecord {
                    source: r.try_get(0)?,
                    name: r.try_get(1)?,
                    path: r.try_get(2)?,
                    expected: r.try_get(3)?,
                    actual: r.try_get(4)?,
                    size: to_u64(r.try_get(5)?),
                    file: r.try_get(6)?,
                    reason: r.try_get(7)?,
                    at: r.try_get(8)?,
                })
            })
            .map_err(db.fail(ctx))
        })
    }

    fn forget_quarantined_before(&self, at: i64) -> Result<Vec<String>, StoreError> {
        let db = self.db.clone();
        self.run(async move {
            let ctx = "forgetting old quarantine records";
            let c = db.client(ctx).await?;
            // One statement: the rows it deletes are the files it returns.
            let rows =
                c.query("DELETE FROM quarantine WHERE at < $1 RETURNING file", &[&at]).await.map_err(db.fail(ctx))?;
            collect(&rows, |r| r.try_get(0)).map_err(db.fail(ctx))
        })
    }

    fn record_run(&self, run: &SyncRun) -> Result<(), StoreError> {
        let db = self.db.clone();
        let run = run.clone();
        self.run(async move {
            let ctx = "recording a sync run";
            let c = db.client(ctx).await?;
            c.execute(
                "INSERT INTO sync_runs (source_id, started_at, finished_at, outcome, snapshot_id, files_fetched, bytes_fetched, message)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    &run.source_id,
                    &run.started_at,
                    &run.finished_at,
                    &run.outcome,
                    &run.snapshot_id,
                    &to_i64(run.files_fetched),
                    &to_i64(run.bytes_fetched),
                    &run.message,
                ],
            )
            .await
            .map_err(db.fail(ctx))?;
            Ok(())
        })
    }

    fn last_run(&self, source_id: i64) -> Result<Option<SyncRun>, StoreError> {
        let db = self.db.clone();
        self.run(async move {
            let ctx = "reading the last sync run";
            let c = db.client(ctx).await?;
            let row = c
                .query_opt(
                    "SELECT source_id, started_at, finished_at, outcome, snapshot_id, files_fetched, bytes_fetched, message
                     FROM sync_runs WHERE source_id = $1 ORDER BY id DESC LIMIT 1",
                    &[&source_id],
                )
                .await
                .map_err(db.fail(ctx))?;
            row.map(|r| {
                Ok(SyncRun {
                    source_id: r.try_get(0)?,
                    started_at: r.try_get(1)?,
                    finished_at: r.try_get(2)?,
                    outcome: r.try_get(3)?,
                    snapshot_id: r.try_get(4)?,
                    files_fetched: to_u64(r.try_get(5)?),
                    bytes_fetched: to_u64(r.try_get(6)?),
                    message: r.try_get(7)?,
                })
            })
            .transpose()
            .map_err(db.fail(ctx))
        })
    }

    fn run_stats(&self) -> Result<Vec<RunStats>, StoreError> {
        let buckets: Vec<String> = RUN_DURATION_BOUNDS
            .iter()
            .map(|b| format!("SUM(CASE WHEN r.finished_at - r.started_at <= {b} THEN 1 ELSE 0 END)::BIGINT"))
            .collect();
        let sql = format!(
            "SELECT s.name, r.outcome, COUNT(*)::BIGINT, SUM(GREATEST(r.finished_at - r.started_at, 0))::BIGINT, {}
             FROM sync_runs r JOIN sources s ON s.id = r.source_id
             GROUP BY s.name, r.outcome ORDER BY s.name, r.outcome",
            buckets.join(", ")
        );
        let db = self.db.clone();
        self.run(async move {
            let ctx = "summing sync runs";
            let c = db.client(ctx).await?;
            let rows = c.query(&sql, &[]).await.map_err(db.fail(ctx))?;
            collect(&rows, |r| {
                let mut at_most = Vec::with_capacity(RUN_DURATION_BOUNDS.len());
                for i in 0..RUN_DURATION_BOUNDS.len() {
                    at_most.push(to_u64(r.try_get(4 + i)?));
                }
                Ok(RunStats {
                    source: r.try_get(0)?,
                    outcome: r.try_get(1)?,
                    count: to_u64(r.try_get(2)?),
                    seconds: to_u64(r.try_get(3)?),
                    at_most,
                })
            })
            .map_err(db.fail(ctx))
        })
    }

    fn record_verify(&self, run: &VerifyRun) -> Result<(), StoreError> {
        let db = self.db.clone();
        let run = run.clone();
        self.run(async move {
            let ctx = "recording a verify run";
            let mut c = db.client(ctx).await?;
            let tx = c.transaction().await.map_err(db.fail(ctx))?;
            let newest: i64 = tx
                .query_one(
                    "INSERT INTO verify_runs (started_at, finished_at, blobs_checked, snapshots_checked, problems, first_problem)
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                    &[
                        &run.started_at,
                        &run.finished_at,
                        &to_i64(run.blobs_checked),
                        &to_i64(run.snapshots_checked),
                        &to_i64(run.problems),
                        &run.first_problem,
                    ],
                )
                .await
                .and_then(|r| r.try_get(0))
                .map_err(db.fail(ctx))?;
            tx.execute("DELETE FROM verify_runs WHERE id <= $1", &[&(newest - VERIFY_RUNS_KEPT)])
                .await
                .map_err(db.fail(ctx))?;
            tx.commit().await.map_err(db.fail(ctx))
        })
    }

    fn last_verify(&self) -> Result<Option<VerifyRun>, StoreError> {
        let db = self.db.clone();
        self.run(async move {
            let ctx = "reading the last verify run";
            let c = db.client(ctx).await?;
            let row = c
                .query_opt(
                    "SELECT started_at, finished_at, blobs_checked, snapshots_checked, problems, first_problem
                     FROM verify_runs ORDER BY id DESC LIMIT 1",
                    &[],
                )
                .await
                .map_err(db.fail(ctx))?;
            row.map(|r| {
                Ok(VerifyRun {
                    started_at: r.try_get(0)?,
                    finished_at: r.try_get(1)?,
                    blobs_checked: to_u64(r.try_get(2)?),
                    snapshots_checked: to_u64(r.try_get(3)?),
                    problems: to_u64(r.try_get(4)?),
                    first_problem: r.try_get(5)?,
                })
            })
            .transpose()
            .map_err(db.fail(ctx))
        })
    }

    /// PostgreSQL checks its pages and foreign keys itself; what is left to look at is
    /// the schema: the version, every table, every index valid (a failed concurrent index
    /// build leaves one invalid), and each snapshot's file count against its rows.
    fn integrity_check(&self) -> Result<Vec<String>, StoreError> {
        let db = self.db.clone();
        self.run(async move {
            let ctx = "integrity check";
            let c = db.client(ctx).await?;
            let mut out = Vec::new();
            let version: i64 = c
                .query_one("SELECT version FROM schema_version", &[])
                .await
                .and_then(|r| r.try_get(0))
                .map_err(db.fail(ctx))?;
            if version != i64::try_from(PG_MIGRATIONS.len()).unwrap_or(i64::MAX) {
                out.push(format!("schema version {version}, expected {}", PG_MIGRATIONS.len()));
            }
            let rows = c
                .query(
                    "SELECT c.relname::TEXT FROM pg_class c
                     WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
                       AND c.relkind IN ('r', 'p')",
                    &[],
                )
                .await
                .map_err(db.fail(ctx))?;
            let present: HashSet<String> =
                collect(&rows, |r| r.try_get(0)).map_err(db.fail(ctx))?.into_iter().collect();
            out.extend(TABLES.iter().filter(|t| !present.contains(**t)).map(|t| format!("table {t} is missing")));
            let rows = c
                .query(
                    "SELECT c.relname::TEXT FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                     WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
                       AND NOT (i.indisvalid AND i.indisready)",
                    &[],
                )
                .await
                .map_err(db.fail(ctx))?;
            let invalid: Vec<String> = collect(&rows, |r| r.try_get(0)).map_err(db.fail(ctx))?;
            out.extend(invalid.into_iter().map(|i| format!("index {i} is invalid (rebuild it with REINDEX)")));
            if present.contains("snapshots") && present.contains("snapshot_files") {
                let rows = c
                    .query(
                        "SELECT s.id, s.files, COUNT(f.path)::BIGINT FROM snapshots s
                         LEFT JOIN snapshot_files f ON f.snapshot_id = s.id
                         GROUP BY s.id, s.files HAVING s.files <> COUNT(f.path) ORDER BY s.id",
                        &[],
                    )
                    .await
                    .map_err(db.fail(ctx))?;
                let wrong: Vec<(i64, i64, i64)> =
                    collect(&rows, |r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))).map_err(db.fail(ctx))?;
                out.extend(
                    wrong
                        .into_iter()
                        .map(|(id, said, has)| format!("snapshot {id} records {said} files but has {has}")),
                );
            }
            Ok(out)
        })
    }

    fn documents(&self) -> Result<Vec<Document>, StoreError> {
        let db = self.db.clone();
        self.run(async move {
            let ctx = "reading the service state";
            let c = db.client(ctx).await?;
            let rows =
                c.query("SELECT kind, id, body FROM documents ORDER BY kind, id", &[]).await.map_err(db.fail(ctx))?;
            collect(&rows, |r| Ok(Document { kind: r.try_get(0)?, id: r.try_get(1)?, body: r.try_get(2)? }))
                .map_err(db.fail(ctx))
        })
    }

    fn documents_of(&self, kind: &str) -> Result<Vec<(String, String)>, StoreError> {
        let db = self.db.clone();
        let kind = kind.to_owned();
        self.run(async move {
            let ctx = format!("reading the service state ({kind})");
            let c = db.client(&ctx).await?;
            let rows = c
                .query("SELECT id, body FROM documents WHERE kind = $1 ORDER BY id", &[&kind])
                .await
                .map_err(db.fail(&ctx))?;
            collect(&rows, |r| Ok((r.try_get(0)?, r.try_get(1)?))).map_err(db.fail(&ctx))
        })
    }

    fn document(&self, kind: &str, id: &str) -> Result<Option<String>, StoreError> {
        let db = self.db.clone();
        let (kind, id) = (kind.to_owned(), id.to_owned());
        self.run(async move {
            let ctx = format!("reading the service state ({kind} {id})");
            let c = db.client(&ctx).await?;
            let row = c
                .query_opt("SELECT body FROM documents WHERE kind = $1 AND id = $2", &[&kind, &id])
                .await
                .map_err(db.fail(&ctx))?;
            row.map(|r| r.try_get(0)).transpose().map_err(db.fail(&ctx))
        })
    }

    fn write_documents(&self, changes: &[DocumentChange]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let db = self.db.clone();
        let changes = changes.to_vec();
        self.run(async move {
            let ctx = "writing the service state";
            let mut c = db.client(ctx).await?;
            let tx = c.transaction().await.map_err(db.fail(ctx))?;
            let at = now();
            for ch in &changes {
                match &ch.body {
                    Some(body) => {
                        tx.execute(
                            "INSERT INTO documents (kind, id, body, updated_at) VALUES ($1, $2, $3, $4)
                             ON CONFLICT (kind, id) DO UPDATE SET body = EXCLUDED.body, updated_at = EXCLUDED.updated_at",
                            &[&ch.kind, &ch.id, body, &at],
                        )
                        .await
                    }
                    None => tx.execute("DELETE FROM documents WHERE kind = $1 AND id = $2", &[&ch.kind, &ch.id]).await,
                }
                .map_err(db.fail(format!("{ctx}: {} {}", ch.kind, ch.id)))?;
            }
            tx.commit().await.map_err(db.fail(ctx))
        })
    }

    fn append_audit(&self, record: &AuditRecord, keep: i64) -> Result<(), StoreError> {
        let db = self.db.clone();
        let record = record.clone();
        self.run(async move {
            let ctx = "appending to the audit log";
            let mut c = db.client(ctx).await?;
            let tx = c.transaction().await.map_err(db.fail(ctx))?;
            let id: i64 = tx
                .query_one(
                    r#"INSERT INTO audit (at, "user", client, action, target, result, detail)
                       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id"#,
                    &[
                        &crate::audit::now_ms(),
                        &record.user,
                        &record.client,
                        &record.action,
                        &record.target,
                        &record.result,
                        &record.detail,
                    ],
                )
                .await
                .and_then(|r| r.try_get(0))
                .map_err(db.fail(ctx))?;
            tx.execute("DELETE FROM audit WHERE id <= $1", &[&(id - keep.max(1))]).await.map_err(db.fail(ctx))?;
            tx.commit().await.map_err(db.fail(ctx))
        })
    }

    fn audit(&self, q: AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        let db = self.db.clone();
        self.run(async move {
            let ctx = "reading the audit log";
            let c = db.client(ctx).await?;
            let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
            let rows = c
                .query(
                    r#"SELECT id, at, "user", client, action, target, result, detail FROM audit
                       WHERE at >= $1 ORDER BY id DESC LIMIT $2"#,
                    &[&q.since_ms.unwrap_or(i64::MIN), &limit],
                )
                .await
                .map_err(db.fail(ctx))?;
            let mut rows = collect(&rows, |r| {
                Ok(AuditEntry {
                    id: r.try_get(0)?,
                    time: crate::audit::rfc3339(r.try_get(1)?),
                    user: r.try_get(2)?,
                    client: r.try_get(3)?,
                    action: r.try_get(4)?,
                    target: r.try_get(5)?,
                    result: r.try_get(6)?,
                    detail: r.try_get(7)?,
                })
            })
            .map_err(db.fail(ctx))?;
            rows.reverse();
            Ok(rows)
        })
    }

    fn store_id(&self) -> Result<String, StoreError> {
        let db = self.db.clone();
        self.run(async move {
            let ctx = "reading the store id";
            let c = db.client(ctx).await?;
            let mut seed = [0u8; 16];
            getrandom::fill(&mut seed).map_err(|e| db.err(ctx, PgError::Data(format!("no randomness: {e}"))))?;
            // The first replica to ask makes it; every later call (any replica) reads it.
            c.execute(
                "INSERT INTO store_info (key, value) VALUES ('store_id', $1) ON CONFLICT (key) DO NOTHING",
                &[&hex::encode(seed)],
            )
            .await
            .map_err(db.fail(ctx))?;
            c.query_one("SELECT value FROM store_info WHERE key = 'store_id'", &[])
                .await
                .and_then(|r| r.try_get(0))
                .map_err(db.fail(ctx))
        })
    }

    fn imported_snapshot(&self, origin: &str, origin_snapshot: i64) -> Result<Option<i64>, StoreError> {
        let db = self.db.clone();
        let origin = origin.to_owned();
        self.run(async move {
            let ctx = "reading imported snapshots";
            let c = db.client(ctx).await?;
            c.query_opt(
                "SELECT snapshot_id FROM imported_snapshots WHERE origin = $1 AND origin_snapshot = $2",
                &[&origin, &origin_snapshot],
            )
            .await
            .and_then(|r| r.map(|r| r.try_get(0)).transpose())
            .map_err(db.fail(ctx))
        })
    }

    fn create_imported_snapshot(
        &self,
        source_id: i64,
        files: &[FileEntry],
        created_at: i64,
        origin: &str,
        origin_snapshot: i64,
    ) -> Result<SnapshotInfo, StoreError> {
        self.insert_snapshot(source_id, files, created_at, Some((origin, origin_snapshot)))
    }

    fn try_lease(&self, name: &str) -> Result<Option<Lease>, StoreError> {
        let db = self.db.clone();
        let mut config = self.config.clone();
        config.application_name(lease_application_name(name));
        let key = lease_key(name);
        let ctx = format!("taking lease {name}");
        let tls = self.tls.clone();
        let client = self.run(async move {
            // A connection of its own: the lock lives exactly as long as it does.
            let client = match tls {
                Tls::Off => {
                    let (client, connection) = config.connect(NoTls).await.map_err(db.fail(&ctx))?;
                    tokio::spawn(watch_lease_connection(connection));
                    client
                }
                Tls::Rustls(make) => {
                    let (client, connection) = config.connect(make).await.map_err(db.fail(&ctx))?;
                    tokio::spawn(watch_lease_connection(connection));
                    client
                }
            };
            // The server's side of the same: it drops the session (and its lock) when this
            // host stops answering, not hours later.
            let keepalive = format!(
                "SET tcp_keepalives_idle = {}; SET tcp_keepalives_interval = {}; SET tcp_keepalives_count = {}; \
                 SET tcp_user_timeout = {}",
                KEEPALIVE_IDLE.as_secs(),
                KEEPALIVE_INTERVAL.as_secs(),
                KEEPALIVE_RETRIES,
                DEAD_PEER_TIMEOUT.as_millis()
            );
            client.batch_execute(&keepalive).await.map_err(db.fail(&ctx))?;
            let got: bool = client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
                .await
                .and_then(|r| r.try_get(0))
                .map_err(db.fail(&ctx))?;
            Ok(got.then_some(client))
        })?;
        Ok(client.map(|client| {
            Lease::new(
                name,
                Box::new(PgLease {
                    client: Some(client),
                    key,
                    rt: Arc::clone(&self.rt),
                    target: Arc::clone(&self.db.target),
                }),
            )
        }))
    }

    fn claim_due(&self, key: &str, due: i64) -> Result<bool, StoreError> {
        let db = self.db.clone();
        let key = key.to_owned();
        self.run(async move {
            let ctx = format!("claiming the run of {key} due at {due}");
            let mut c = db.client(&ctx).await?;
            let tx = c.transaction().await.map_err(db.fail(&ctx))?;
            // The primary key decides between concurrent claimers: one inserts, the others
            // wait for its commit and then insert nothing.
            let inserted = tx
                .execute(
                    "INSERT INTO schedule_claims (key, due, claimed_at) SELECT $1::TEXT, $2::BIGINT, $3::BIGINT
                     WHERE NOT EXISTS (SELECT 1 FROM schedule_claims WHERE key = $1 AND due > $2::BIGINT + $4::BIGINT)
                     ON CONFLICT (key, due) DO NOTHING",
                    &[&key, &due, &now(), &CLAIMS_KEPT_SECONDS],
                )
                .await
                .map_err(db.fail(&ctx))?;
            if inserted == 1 {
                tx.execute(
                    "DELETE FROM schedule_claims WHERE key = $1 AND due < $2::BIGINT - $3::BIGINT",
                    &[&key, &due, &CLAIMS_KEPT_SECONDS],
                )
                .await
                .map_err(db.fail(&ctx))?;
            }
            tx.commit().await.map_err(db.fail(&ctx))?;
            Ok(inserted == 1)
        })
    }

    fn views(&self) -> Result<Vec<(String, String)>, StoreError> {
        let db = self.db.clone();
        self.run(async move {
            let ctx = "listing the views";
            let c = db.client(ctx).await?;
            let rows = c.query("SELECT name, record FROM views ORDER BY name", &[]).await.map_err(db.fail(ctx))?;
            collect(&rows, |r| Ok((r.try_get(0)?, r.try_get(1)?))).map_err(db.fail(ctx))
        })
    }

    fn view(&self, name: &str) -> Result<Option<String>, StoreError> {
        let db = self.db.clone();
        let name = name.to_owned();
        self.run(async move {
            let ctx = format!("reading view '{name}'");
            let c = db.client(&ctx).await?;
            c.query_opt("SELECT record FROM views WHERE name = $1", &[&name])
                .await
                .and_then(|r| r.map(|r| r.try_get(0)).transpose())
                .map_err(db.fail(ctx))
        })
    }

    fn put_view(&self, name: &str, record: &str, published: Option<(u64, i64)>) -> Result<(), StoreError> {
        let db = self.db.clone();
        let (name, record) = (name.to_owned(), record.to_owned());
        let (build, built_at) = published.map_or((None, 0), |(n, at)| (Some(to_i64(n)), at));
        self.run(async move {
            let ctx = format!("writing view '{name}'");
            let c = db.client(&ctx).await?;
            // One statement: every replica reads the old build pointer or the new one.
            c.execute(
                "INSERT INTO views (name, record, build, built_at, updated_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (name) DO UPDATE SET record = EXCLUDED.record, build = EXCLUDED.build,
                 built_at = EXCLUDED.built_at, updated_at = EXCLUDED.updated_at",
                &[&name, &record, &build, &built_at, &now()],
            )
            .await
            .map_err(db.fail(ctx))?;
            Ok(())
        })
    }

    fn remove_view(&self, name: &str) -> Result<(), StoreError> {
        let db = self.db.clone();
        let name = name.to_owned();
        self.run(async move {
            let ctx = format!("removing view '{name}'");
            let mut c = db.client(&ctx).await?;
            let tx = c.transaction().await.map_err(db.fail(&ctx))?;
            tx.execute("DELETE FROM view_files WHERE view = $1", &[&name]).await.map_err(db.fail(&ctx))?;
            tx.execute("DELETE FROM views WHERE name = $1", &[&name]).await.map_err(db.fail(&ctx))?;
            tx.commit().await.map_err(db.fail(&ctx))
        })
    }

    fn add_view_build(&self, name: &str, build: u64, files: &[FileEntry]) -> Result<(), StoreError> {
        let db = self.db.clone();
        let name = name.to_owned();
        let files = files.to_vec();
        let number = to_i64(build);
        self.run(async move {
            let ctx = format!("recording build {build} of view '{name}'");
            let mut c = db.client(&ctx).await?;
            let tx = c.transaction().await.map_err(db.fail(&ctx))?;
            tx.execute("DELETE FROM view_files WHERE view = $1 AND build = $2", &[&name, &number])
                .await
                .map_err(db.fail(&ctx))?;
            for batch in files.chunks(BATCH_ROWS) {
                let paths: Vec<&str> = batch.iter().map(|f| f.path.as_str()).collect();
                let blobs: Vec<&str> = batch.iter().map(|f| f.blob.as_str()).collect();
                let sizes: Vec<i64> = batch.iter().map(|f| to_i64(f.size)).collect();
                tx.execute(
                    "INSERT INTO view_files (view, build, path, blob, size)
                     SELECT $1, $2, p, b, s FROM UNNEST($3::text[], $4::text[], $5::bigint[]) AS t(p, b, s)",
                    &[&name, &number, &paths, &blobs, &sizes],
                )
                .await
                .map_err(db.fail(format!(
                    "{ctx}: {} file(s) from {}",
                    batch.len(),
                    paths.first().unwrap_or(&"")
                )))?;
            }
            tx.commit().await.map_err(db.fail(&ctx))
        })
    }

    fn prune_view_builds(&self, name: &str, keep: &[u64]) -> Result<(), StoreError> {
        let db = self.db.clone();
        let name = name.to_owned();
        let keep: Vec<i64> = keep.iter().map(|k| to_i64(*k)).collect();
        self.run(async move {
            let ctx = format!("removing old builds of view '{name}'");
            let c = db.client(&ctx).await?;
            c.execute("DELETE FROM view_files WHERE view = $1 AND NOT (build = ANY($2))", &[&name, &keep])
                .await
                .map_err(db.fail(ctx))?;
            Ok(())
        })
    }

    fn view_builds(&self, name: &str) -> Result<Vec<u64>, StoreError> {
        let db = self.db.clone();
        let name = name.to_owned();
        self.run(async move {
            let ctx = format!("listing the builds of view '{name}'");
            let c = db.client(&ctx).await?;
            let rows = c
                .query("SELECT DISTINCT build FROM view_files WHERE view = $1 ORDER BY build", &[&name])
                .await
                .map_err(db.fail(&ctx))?;
            let rows: Vec<i64> = collect(&rows, |r| r.try_get(0)).map_err(db.fail(&ctx))?;
            Ok(rows.into_iter().map(to_u64).collect())
        })
    }

    fn view_files(&self, name: &str, build: u64) -> Result<Vec<FileEntry>, StoreError> {
        let db = self.db.clone();
        let name = name.to_owned();
        let number = to_i64(build);
        self.run(async move {
            let ctx = format!("reading build {build} of view '{name}'");
            let c = db.client(&ctx).await?;
            let rows = c
                .query(
                    "SELECT path, blob, size FROM view_files WHERE view = $1 AND build = $2 ORDER BY path",
                    &[&name, &number],
                )
                .await
                .map_err(db.fail(&ctx))?;
            let rows: Vec<(String, String, i64)> =
                collect(&rows, |r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))).map_err(db.fail(&ctx))?;
            rows.into_iter()
                .map(|(path, blob, size)| Ok(FileEntry { path, blob: blob_col(&db, &blob, &ctx)?, size: to_u64(size) }))
                .collect()
        })
    }

    fn view_file(&self, name: &str, path: &str) -> Result<Option<ViewFile>, StoreError> {
        let db = self.db.clone();
        let (name, path) = (name.to_owned(), path.to_owned());
        self.run(async move {
            let ctx = format!("reading {path} of view '{name}'");
            let c = db.client(&ctx).await?;
            // One statement: the build pointer and the file are read from one snapshot.
            let stmt = c
                .prepare_cached(
                    "SELECT v.build, v.built_at, f.blob, f.size FROM views v
                     JOIN view_files f ON f.view = v.name AND f.build = v.build
                     WHERE v.name = $1 AND f.path = $2",
                )
                .await
                .map_err(db.fail(&ctx))?;
            let Some(r) = c.query_opt(&stmt, &[&name, &path]).await.map_err(db.fail(&ctx))? else { return Ok(None) };
            let row: (i64, i64, String, i64) =
                (|| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))().map_err(db.fail(&ctx))?;
            let (build, built_at, blob, size) = row;
            Ok(Some(ViewFile {
                build: to_u64(build),
                built_at,
                file: FileEntry { blob: blob_col(&db, &blob, &ctx)?, path, size: to_u64(size) },
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        assert_eq!(
            redact_url("postgres://esx:s3cret@db.example:5432/esxlcm"),
            "postgres://esx:***@db.example:5432/esxlcm"
        );
        assert_eq!(redact_url("postgresql://esx@db.example/esxlcm"), "postgresql://esx@db.example/esxlcm");
        let with_param = redact_url("postgres://db.example/esxlcm?user=esx&password=s3cret&sslmode=disable");
        assert!(!with_param.contains("s3cret") && with_param.contains("password=***"), "{with_param}");
        assert!(!redact_url("postgres://esx:s3cret@[::1/x").contains("s3cret"));
    }

    #[test]
    fn bad_urls_are_refused_without_their_password() {
        for url in ["mysql://esx:s3cret@h/db", "postgres://esx:s3cret@h:notaport/db"] {
            let e = PgMeta::connect(url).unwrap_err().to_string();
            assert!(!e.contains("s3cret"), "{e}");
            assert!(e.contains("database URL"), "{e}");
        }
    }

    #[test]
    fn libpq_tls_parameters_are_ours() {
        let (url, tls) = split_tls("postgres://u@h/db?sslmode=disable&application_name=x").unwrap();
        assert_eq!(url, "postgres://u@h/db?application_name=x");
        assert!(matches!(tls, Tls::Off));
        let (url, tls) = split_tls("postgres://u@h/db").unwrap();
        assert_eq!((url.as_str(), matches!(tls, Tls::Off)), ("postgres://u@h/db", true));
        let e = split_tls("postgres://u@h/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem").err().unwrap();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
        assert!(split_tls("postgres://u@h/db?sslmode=sometimes").is_err());
    }

    #[test]
    fn lease_names_fit_in_application_name() {
        let long = lease_application_name(&"é".repeat(100));
        assert!(long.len() <= 63 && long.starts_with("esxlcm lease "));
    }

    #[test]
    fn migrations_mirror_sqlite_one_for_one() {
        assert_eq!(PG_MIGRATIONS.len(), super::super::MIGRATIONS.len());
        for (i, (pg, lite)) in PG_MIGRATIONS.iter().zip(super::super::MIGRATIONS).enumerate() {
            let tables = |sql: &str| -> Vec<String> {
                sql.split("CREATE TABLE ")
                    .skip(1)
                    .filter_map(|t| t.split_whitespace().next())
                    .map(str::to_owned)
                    .collect()
            };
            assert_eq!(tables(pg), tables(lite), "migration {}", i + 1);
        }
        let all: usize = PG_MIGRATIONS.iter().map(|m| m.matches("CREATE TABLE ").count()).sum();
        assert_eq!(all, TABLES.len());
    }
}
