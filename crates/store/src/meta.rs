//! The metadata database: sources, snapshots (path → blob), the HTTP validators of
//! fetched documents, quarantined payloads and sync runs.
//!
//! [`MetaStore`] has two backends: [`SqliteMeta`] is the embedded default (WAL,
//! `synchronous=FULL`, foreign keys, schema versioned with `PRAGMA user_version` and
//! applied in order by [`MIGRATIONS`]); [`PgMeta`] ([`postgres`]) is PostgreSQL, shared by
//! several replicas, with the same semantics and a schema that mirrors SQLite's migration
//! for migration. Both hand out cluster-wide [`Lease`]s and claim scheduled runs once
//! ([`MetaStore::try_lease`], [`MetaStore::claim_due`]).
//!
//! **Why rusqlite, not sqlx.** The sync engine is synchronous (blocking reqwest, threads
//! for bounded parallel downloads, a streaming ZIP reader), so sqlx's async API would only
//! add `block_on` bridges; sqlx also compiles its macro and runtime stack, which on the
//! two shared build cores costs minutes, while rusqlite (`bundled`) is one C file and a
//! thin wrapper. [`MetaStore`]'s methods speak the store's types, not SQL, so the
//! PostgreSQL backend implements the same trait on its own driver (`tokio-postgres`, see
//! [`postgres`]). Only one SQLite crate is linked (`libsqlite3-sys` via rusqlite); do not
//! add sqlx-sqlite.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, params};

use crate::blob::BlobId;
use crate::error::StoreError;
use crate::source::{Source, SourceConfig};

mod lease;
pub mod postgres;

pub use lease::Lease;
pub use postgres::PgMeta;

/// One file of a snapshot's depot tree.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FileEntry {
    /// Depot-relative path (`vmw/metadata.zip`, `vib20/x/y.vib`).
    pub path: String,
    pub blob: BlobId,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    pub id: i64,
    pub source_id: i64,
    /// Seconds since the Unix epoch.
    pub created_at: i64,
    pub files: u64,
    pub bytes: u64,
    /// sha-256 over the sorted (path, blob, size) list: equal trees, equal digest.
    pub tree_digest: String,
}

/// HTTP validators and the blob a URL's last download produced.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CacheEntry {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub blob: Option<BlobId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantineRecord {
    pub source: String,
    /// The VIB's ID (or the file name when it has none).
    pub name: String,
    pub path: String,
    pub expected: String,
    pub actual: String,
    pub size: u64,
    /// The file under the store's `quarantine/` directory.
    pub file: String,
    pub reason: String,
    pub at: i64,
}

/// A payload a snapshot names but the store may not hold yet: an on-demand source's VIB,
/// fetched (and verified against `blob`, its declared sha-256) when first needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemotePayload {
    /// Depot-relative path, as in the snapshot.
    pub path: String,
    /// The declared sha-256: the blob it becomes.
    pub blob: BlobId,
    /// The declared size.
    pub size: u64,
    /// The VIB's ID.
    pub name: String,
    /// The metadata's absolute URL for it, if it gives one; otherwise the path is joined
    /// to the source's current URL (so a renewed download token applies).
    pub url: Option<String>,
}

/// Sync runs of one source with one outcome, summed for `/metrics`: how many, their total
/// duration, and how many took at most each bound of [`RUN_DURATION_BOUNDS`] (cumulative).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunStats {
    pub source: String,
    /// `published`, `unchanged`, `rejected`, `failed`.
    pub outcome: String,
    pub count: u64,
    pub seconds: u64,
    /// Runs that took at most `RUN_DURATION_BOUNDS[i]` seconds.
    pub at_most: Vec<u64>,
}

/// The duration bounds (seconds) of [`RunStats::at_most`]: a second to four hours.
pub const RUN_DURATION_BOUNDS: [i64; 8] = [1, 5, 30, 60, 300, 900, 3600, 14400];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRun {
    pub source_id: i64,
    pub started_at: i64,
    pub finished_at: i64,
    /// `published`, `unchanged`, `rejected`, `failed`.
    pub outcome: String,
    pub snapshot_id: Option<i64>,
    pub files_fetched: u64,
    pub bytes_fetched: u64,
    pub message: String,
}

/// One `verify` of the whole store, as recorded (the service's home page shows the last).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyRun {
    pub started_at: i64,
    pub finished_at: i64,
    pub blobs_checked: u64,
    pub snapshots_checked: u64,
    pub problems: u64,
    /// The first problem found, if any (the report has them all).
    pub first_problem: Option<String>,
}

/// Verify runs kept: the latest ones; older ones say nothing the newer do not.
const VERIFY_RUNS_KEPT: i64 = 100;

/// What the store needs from a metadata database.
pub trait MetaStore: Send + Sync {
    fn add_source(&self, config: &SourceConfig) -> Result<Source, StoreError>;
    fn update_source(&self, source: &Source) -> Result<(), StoreError>;
    fn sources(&self) -> Result<Vec<Source>, StoreError>;
    fn source(&self, name: &str) -> Result<Source, StoreError>;
    /// Removes the source, its snapshots and cache entries (blobs go at the next gc).
    fn remove_source(&self, name: &str) -> Result<(), StoreError>;

    fn cache_get(&self, source_id: i64, url: &str) -> Result<Option<CacheEntry>, StoreError>;
    fn cache_put(&self, source_id: i64, url: &str, entry: &CacheEntry) -> Result<(), StoreError>;

    /// Records a complete snapshot (unpublished) in one transaction.
    fn create_snapshot(&self, source_id: i64, files: &[FileEntry]) -> Result<SnapshotInfo, StoreError>;
    fn snapshots(&self, source_id: i64) -> Result<Vec<SnapshotInfo>, StoreError>;
    fn all_snapshots(&self) -> Result<Vec<SnapshotInfo>, StoreError>;
    fn snapshot_files(&self, snapshot_id: i64) -> Result<Vec<FileEntry>, StoreError>;
    /// One file of a snapshot.
    fn snapshot_file(&self, snapshot_id: i64, path: &str) -> Result<Option<FileEntry>, StoreError>;
    /// Records payloads of a source that are fetched on demand (one transaction; a
    /// record for the same path and blob is replaced).
    fn record_remote(&self, source_id: i64, payloads: &[RemotePayload]) -> Result<(), StoreError>;
    /// The on-demand record of a source's file, if the sync left it upstream.
    fn remote_payload(&self, source_id: i64, path: &str, blob: &BlobId) -> Result<Option<RemotePayload>, StoreError>;
    /// The files of a snapshot that were left upstream (fetched or not since).
    fn snapshot_remote(&self, snapshot_id: i64) -> Result<Vec<RemotePayload>, StoreError>;
    fn delete_snapshot(&self, snapshot_id: i64) -> Result<(), StoreError>;
    fn published(&self, source_id: i64) -> Result<Option<i64>, StoreError>;
    fn set_published(&self, source_id: i64, snapshot_id: i64) -> Result<(), StoreError>;
    /// Every blob some snapshot references.
    fn referenced_blobs(&self) -> Result<HashSet<BlobId>, StoreError>;

    fn record_quarantine(&self, record: &QuarantineRecord) -> Result<(), StoreError>;
    fn quarantined(&self) -> Result<Vec<QuarantineRecord>, StoreError>;
    /// Forget the quarantine records made before `at` (Unix seconds); returns their files.
    fn forget_quarantined_before(&self, at: i64) -> Result<Vec<String>, StoreError>;
    fn record_run(&self, run: &SyncRun) -> Result<(), StoreError>;
    fn last_run(&self, source_id: i64) -> Result<Option<SyncRun>, StoreError>;
    /// Every recorded sync run, summed by source and outcome.
    fn run_stats(&self) -> Result<Vec<RunStats>, StoreError>;
    fn record_verify(&self, run: &VerifyRun) -> Result<(), StoreError>;
    fn last_verify(&self) -> Result<Option<VerifyRun>, StoreError>;

    /// Problems the database finds in itself (empty when healthy).
    fn integrity_check(&self) -> Result<Vec<String>, StoreError>;

    /// Every stored document of the service's state, as `(kind, id, body)`.
    fn documents(&self) -> Result<Vec<Document>, StoreError>;
    /// The documents of one kind, as `(id, body)`.
    fn documents_of(&self, kind: &str) -> Result<Vec<(String, String)>, StoreError>;
    /// One document's body, if it exists.
    fn document(&self, kind: &str, id: &str) -> Result<Option<String>, StoreError>;
    /// Writes (`Some` body) and deletes (`None`) in one transaction: all or nothing.
    fn write_documents(&self, changes: &[DocumentChange]) -> Result<(), StoreError>;

    /// Appends one row to the audit log, keeping the newest `keep` rows.
    fn append_audit(&self, record: &crate::audit::AuditRecord, keep: i64) -> Result<(), StoreError>;
    /// Rows of the audit log ([`crate::audit::AuditQuery`]).
    fn audit(&self, q: crate::audit::AuditQuery) -> Result<Vec<crate::audit::AuditEntry>, StoreError>;

    /// This store's identity (made on first use): what imports name their origin by.
    fn store_id(&self) -> Result<String, StoreError>;
    /// The local snapshot an import made of `origin_snapshot` of store `origin`.
    fn imported_snapshot(&self, origin: &str, origin_snapshot: i64) -> Result<Option<i64>, StoreError>;
    /// Records an imported snapshot and where it came from, in one transaction: a re-run
    /// of the same import finds it and does not record it twice.
    fn create_imported_snapshot(
        &self,
        source_id: i64,
        files: &[FileEntry],
        created_at: i64,
        origin: &str,
        origin_snapshot: i64,
    ) -> Result<SnapshotInfo, StoreError>;

    /// Take the cluster-wide lease `name` (e.g. "sync:<source>") if no one holds it: `None` when
    /// another holder has it. Released when the returned guard drops, and when its holder dies
    /// (process killed, connection lost) — never left held by a dead replica.
    fn try_lease(&self, name: &str) -> Result<Option<Lease>, StoreError>;
    /// Claim the scheduled run `key` (e.g. "sync:<source>") due at `due` (unix seconds): true for
    /// exactly one caller per (key, due) however many replicas ask; false for the rest.
    /// Claims older than [`CLAIMS_KEPT_SECONDS`] before the newest claim of the key are
    /// pruned, and a claim that old is refused (false): it was due long ago.
    fn claim_due(&self, key: &str, due: i64) -> Result<bool, StoreError>;

    /// Named views kept as rows (the stores without trees, [`crate::view`]): every view's
    /// record (JSON), as `(name, record)` in name order.
    fn views(&self) -> Result<Vec<(String, String)>, StoreError>;
    /// One view's record (JSON).
    fn view(&self, name: &str) -> Result<Option<String>, StoreError>;
    /// Write a view's record and which build is served (`(number, built_at)`), in one
    /// statement: a reader sees the old build or the new one, never a mix.
    fn put_view(&self, name: &str, record: &str, published: Option<(u64, i64)>) -> Result<(), StoreError>;
    /// Remove a view with all its builds' files.
    fn remove_view(&self, name: &str) -> Result<(), StoreError>;
    /// Record the files of build `build` of a view (replacing any left by an interrupted
    /// build of that number), in one transaction; the view's record must exist.
    fn add_view_build(&self, name: &str, build: u64, files: &[FileEntry]) -> Result<(), StoreError>;
    /// Delete the files of the view's builds other than `keep`.
    fn prune_view_builds(&self, name: &str, keep: &[u64]) -> Result<(), StoreError>;
    /// Which builds of a view have files recorded, ascending.
    fn view_builds(&self, name: &str) -> Result<Vec<u64>, StoreError>;
    /// The files of one build of a view, by path.
    fn view_files(&self, name: &str, build: u64) -> Result<Vec<FileEntry>, StoreError>;
    /// The file at `path` of the build a view serves, read in one statement with the
    /// pointer to that build.
    fn view_file(&self, name: &str, path: &str) -> Result<Option<ViewFile>, StoreError>;
}

/// A file of the build a view serves ([`MetaStore::view_file`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewFile {
    pub build: u64,
    /// When the build was made (seconds since the epoch).
    pub built_at: i64,
    pub file: FileEntry,
}

/// How far back (seconds, before a key's newest claimed due time) claims are kept: longer
/// than the longest schedule period (a month), so a replica that is behind finds the claim
/// of the run it is about to start.
pub const CLAIMS_KEPT_SECONDS: i64 = 35 * 24 * 3600;

/// One stored object of the service's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub kind: String,
    pub id: String,
    /// JSON.
    pub body: String,
}

/// A document to write (`body: Some`) or delete (`None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentChange {
    pub kind: String,
    pub id: String,
    pub body: Option<String>,
}

/// Schema migrations, applied in order; `PRAGMA user_version` is the number applied.
pub const MIGRATIONS: &[&str] = &[
    r"
CREATE TABLE sources (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    config TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE snapshots (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source_id INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    files INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    tree_digest TEXT NOT NULL
);
CREATE TABLE snapshot_files (
    snapshot_id INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    blob TEXT NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (snapshot_id, path)
);
CREATE INDEX snapshot_files_blob ON snapshot_files(blob);
CREATE TABLE published (
    source_id INTEGER PRIMARY KEY REFERENCES sources(id) ON DELETE CASCADE,
    snapshot_id INTEGER NOT NULL REFERENCES snapshots(id)
);
CREATE TABLE http_cache (
    source_id INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    etag TEXT,
    last_modified TEXT,
    blob TEXT,
    PRIMARY KEY (source_id, url)
);
CREATE TABLE quarantine (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    expected TEXT NOT NULL,
    actual TEXT NOT NULL,
    size INTEGER NOT NULL,
    file TEXT NOT NULL,
    reason TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE TABLE sync_runs (
    id INTEGER PRIMARY KEY,
    source_id INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    started_at INTEGER NOT NULL,
    finished_at INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    snapshot_id INTEGER,
    files_fetched INTEGER NOT NULL,
    bytes_fetched INTEGER NOT NULL,
    message TEXT NOT NULL
);
",
    r"
CREATE TABLE store_info (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE imported_snapshots (
    origin TEXT NOT NULL,
    origin_snapshot INTEGER NOT NULL,
    snapshot_id INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
    PRIMARY KEY (origin, origin_snapshot)
);
",
    r"
CREATE TABLE remote_payloads (
    source_id INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    blob TEXT NOT NULL,
    size INTEGER NOT NULL,
    name TEXT NOT NULL,
    url TEXT,
    PRIMARY KEY (source_id, path, blob)
);
",
    // The service's own state (the API's inventory, drafts, commits, image library,
    // settings, tasks): one row per object, written in the same transaction as its
    // siblings of one change; `kind` is the collection, `id` the object's key in it.
    r"
CREATE TABLE documents (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (kind, id)
);
",
    // The audit log (crate::audit): one row per mutating API call and login, `at` in Unix
    // milliseconds; AUTOINCREMENT so ids only grow (pruning counts on it).
    r"
CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    user TEXT,
    client TEXT,
    action TEXT NOT NULL,
    target TEXT,
    result TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX audit_at ON audit(at);
",
    // 6: whole-store verify runs (when, what was checked, how many problems).
    r"
CREATE TABLE verify_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at INTEGER NOT NULL,
    finished_at INTEGER NOT NULL,
    blobs_checked INTEGER NOT NULL,
    snapshots_checked INTEGER NOT NULL,
    problems INTEGER NOT NULL,
    first_problem TEXT
);
",
    // 7: scheduled runs claimed (MetaStore::claim_due): one row per (key, due time).
    r"
CREATE TABLE schedule_claims (
    key TEXT NOT NULL,
    due INTEGER NOT NULL,
    claimed_at INTEGER NOT NULL,
    PRIMARY KEY (key, due)
);
",
    // 8: named views as rows (crate::view, the stores without trees): the record (JSON)
    // and the build served; each build's files (path -> blob), kept for the served build
    // and the one before it.
    r"
CREATE TABLE views (
    name TEXT PRIMARY KEY,
    record TEXT NOT NULL,
    build INTEGER,
    built_at INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL
);
CREATE TABLE view_files (
    view TEXT NOT NULL REFERENCES views(name) ON DELETE CASCADE,
    build INTEGER NOT NULL,
    path TEXT NOT NULL,
    blob TEXT NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (view, build, path)
);
CREATE INDEX view_files_blob ON view_files(blob);
",
];

pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// SQLite, two connections each behind a mutex: one writes (the store has one writer
/// process, a file lock guards it, and its statements are short), one only reads. In WAL
/// mode a reader never waits for a writer's commit and its `fsync`: serving a file or
/// listing sources stays fast while a sync or an API edit is being made durable.
#[derive(Debug)]
pub struct SqliteMeta {
    path: PathBuf,
    conn: Mutex<Connection>,
    reader: Mutex<Connection>,
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl SqliteMeta {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let ctx = || format!("opening {}", path.display());
        let mut conn = Connection::open(path).map_err(StoreError::db(ctx()))?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(StoreError::db(ctx()))?;
        // WAL: readers (serve, status) never block the sync; FULL: a committed snapshot
        // survives a power loss, not only a killed process.
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
            .map_err(StoreError::db(ctx()))?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(StoreError::db("reading the schema version"))?;
        let supported = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
        if version > supported {
            return Err(StoreError::SchemaTooNew { path: path.to_path_buf(), found: version, supported });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(usize::try_from(version).unwrap_or(0)) {
            let tx = conn.transaction().map_err(StoreError::db("starting a migration"))?;
            tx.execute_batch(sql).map_err(StoreError::db(format!("applying schema migration {}", i + 1)))?;
            tx.pragma_update(None, "user_version", i64::try_from(i + 1).unwrap_or(i64::MAX))
                .map_err(StoreError::db("recording the schema version"))?;
            tx.commit().map_err(StoreError::db(format!("committing schema migration {}", i + 1)))?;
        }
        // Opened after the migrations: it reads the schema they left.
        let reader = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(StoreError::db(ctx()))?;
        reader.busy_timeout(std::time::Duration::from_secs(10)).map_err(StoreError::db(ctx()))?;
        Ok(Self { path: path.to_path_buf(), conn: Mutex::new(conn), reader: Mutex::new(reader) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where [`MetaStore::try_lease`]'s lock files are: `leases/` beside the database file.
    pub fn leases_dir(&self) -> PathBuf {
        self.path.parent().unwrap_or_else(|| Path::new(".")).join("leases")
    }

    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.conn()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(StoreError::db("reading the schema version"))
    }

    /// A snapshot, its files and (for imports) its origin, in one transaction.
    fn insert_snapshot(
        &self,
        source_id: i64,
        files: &[FileEntry],
        created_at: i64,
        origin: Option<(&str, i64)>,
    ) -> Result<SnapshotInfo, StoreError> {
        let mut conn = self.conn();
        let ctx = "recording a snapshot";
        let tx = conn.transaction().map_err(StoreError::db(ctx))?;
        let bytes: u64 = files.iter().map(|f| f.size).sum();
        let digest = tree_digest(files);
        tx.execute(
            "INSERT INTO snapshots (source_id, created_at, files, bytes, tree_digest) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![source_id, created_at, to_i64(files.len() as u64), to_i64(bytes), digest],
        )
        .map_err(StoreError::db(ctx))?;
        let id = tx.last_insert_rowid();
        {
            let mut stmt = tx
                .prepare("INSERT INTO snapshot_files (snapshot_id, path, blob, size) VALUES (?1, ?2, ?3, ?4)")
                .map_err(StoreError::db(ctx))?;
            for f in files {
                stmt.execute(params![id, f.path, f.blob.as_str(), to_i64(f.size)])
                    .map_err(StoreError::db(format!("{ctx}: {}", f.path)))?;
            }
        }
        if let Some((origin, origin_snapshot)) = origin {
            tx.execute(
                "INSERT INTO imported_snapshots (origin, origin_snapshot, snapshot_id) VALUES (?1, ?2, ?3)",
                params![origin, origin_snapshot, id],
            )
            .map_err(StoreError::db(format!("{ctx}: origin snapshot {origin_snapshot}")))?;
        }
        tx.commit().map_err(StoreError::db(ctx))?;
        Ok(SnapshotInfo { id, source_id, created_at, files: files.len() as u64, bytes, tree_digest: digest })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (transactions roll back).
        self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The read-only connection: each statement sees what was committed when it began.
    fn reader(&self) -> MutexGuard<'_, Connection> {
        self.reader.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn row_to_source(id: i64, config: &str) -> Result<Source, StoreError> {
    let config: SourceConfig = serde_json::from_str(config)
        .map_err(|e| StoreError::InvalidSource(format!("stored configuration of source {id} is unreadable: {e}")))?;
    Ok(Source { id, config })
}

fn config_json(config: &SourceConfig) -> Result<String, StoreError> {
    serde_json::to_string(config).map_err(|e| StoreError::InvalidSource(e.to_string()))
}

fn snapshot_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SnapshotInfo> {
    Ok(SnapshotInfo {
        id: r.get(0)?,
        source_id: r.get(1)?,
        created_at: r.get(2)?,
        files: to_u64(r.get(3)?),
        bytes: to_u64(r.get(4)?),
        tree_digest: r.get(5)?,
    })
}

/// Digest of a file list, independent of its order.
pub fn tree_digest(files: &[FileEntry]) -> String {
    use sha2::{Digest, Sha256};
    let mut sorted: Vec<&FileEntry> = files.iter().collect();
    sorted.sort();
    let mut h = Sha256::new();
    for f in sorted {
        h.update(f.path.as_bytes());
        h.update([0]);
        h.update(f.blob.as_str().as_bytes());
        h.update([0]);
        h.update(f.size.to_string().as_bytes());
        h.update([b'\n']);
    }
    hex::encode(h.finalize())
}

fn blob_col(text: String, context: &str) -> Result<BlobId, StoreError> {
    BlobId::parse(&text).ok_or_else(|| StoreError::Db {
        context: format!("{context}: '{text}' is not a sha-256"),
        source: rusqlite::Error::InvalidQuery,
    })
}

impl MetaStore for SqliteMeta {
    fn add_source(&self, config: &SourceConfig) -> Result<Source, StoreError> {
        config.validate()?;
        let conn = self.conn();
        let exists: bool = conn
            .query_row("SELECT 1 FROM sources WHERE name = ?1", [&config.name], |_| Ok(true))
            .optional()
            .map_err(StoreError::db("looking up a source"))?
            .unwrap_or(false);
        if exists {
            return Err(StoreError::SourceExists(config.name.clone()));
        }
        conn.execute(
            "INSERT INTO sources (name, config, created_at) VALUES (?1, ?2, ?3)",
            params![config.name, config_json(config)?, now()],
        )
        .map_err(StoreError::db(format!("adding source '{}'", config.name)))?;
        Ok(Source { id: conn.last_insert_rowid(), config: config.clone() })
    }

    fn update_source(&self, source: &Source) -> Result<(), StoreError> {
        source.config.validate()?;
        self.conn()
            .execute("UPDATE sources SET config = ?2 WHERE id = ?1", params![source.id, config_json(&source.config)?])
            .map_err(StoreError::db(format!("updating source '{}'", source.config.name)))?;
        Ok(())
    }

    fn sources(&self) -> Result<Vec<Source>, StoreError> {
        let conn = self.reader();
        let mut stmt =
            conn.prepare("SELECT id, config FROM sources ORDER BY name").map_err(StoreError::db("listing sources"))?;
        let rows: Vec<(i64, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(Iterator::collect)
            .map_err(StoreError::db("listing sources"))?;
        rows.iter().map(|(id, c)| row_to_source(*id, c)).collect()
    }

    fn source(&self, name: &str) -> Result<Source, StoreError> {
        let row: Option<(i64, String)> = self
            .conn()
            .query_row("SELECT id, config FROM sources WHERE name = ?1", [name], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(StoreError::db(format!("looking up source '{name}'")))?;
        match row {
            Some((id, c)) => row_to_source(id, &c),
            None => Err(StoreError::UnknownSource(name.to_owned())),
        }
    }

    fn remove_source(&self, name: &str) -> Result<(), StoreError> {
        let source = self.source(name)?;
        let mut conn = self.conn();
        let ctx = format!("removing source '{name}'");
        let tx = conn.transaction().map_err(StoreError::db(ctx.clone()))?;
        tx.execute("DELETE FROM published WHERE source_id = ?1", [source.id]).map_err(StoreError::db(ctx.clone()))?;
        tx.execute("DELETE FROM sources WHERE id = ?1", [source.id]).map_err(StoreError::db(ctx.clone()))?;
        tx.commit().map_err(StoreError::db(ctx))
    }

    fn cache_get(&self, source_id: i64, url: &str) -> Result<Option<CacheEntry>, StoreError> {
        let row: Option<(Option<String>, Option<String>, Option<String>)> = self
            .conn()
            .query_row(
                "SELECT etag, last_modified, blob FROM http_cache WHERE source_id = ?1 AND url = ?2",
                params![source_id, url],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(StoreError::db("reading the HTTP cache"))?;
        Ok(row.map(|(etag, last_modified, blob)| CacheEntry {
            etag,
            last_modified,
            blob: blob.as_deref().and_then(BlobId::parse),
        }))
    }

    fn cache_put(&self, source_id: i64, url: &str, entry: &CacheEntry) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT OR REPLACE INTO http_cache (source_id, url, etag, last_modified, blob) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![source_id, url, entry.etag, entry.last_modified, entry.blob.as_ref().map(BlobId::as_str)],
            )
            .map_err(StoreError::db("writing the HTTP cache"))?;
        Ok(())
    }

    fn create_snapshot(&self, source_id: i64, files: &[FileEntry]) -> Result<SnapshotInfo, StoreError> {
        self.insert_snapshot(source_id, files, now(), None)
    }

    fn snapshots(&self, source_id: i64) -> Result<Vec<SnapshotInfo>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn
            .prepare(
                "SELECT id, source_id, created_at, files, bytes, tree_digest FROM snapshots WHERE source_id = ?1 ORDER BY id",
            )
            .map_err(StoreError::db("listing snapshots"))?;
        stmt.query_map([source_id], snapshot_from_row)
            .and_then(Iterator::collect)
            .map_err(StoreError::db("listing snapshots"))
    }

    fn all_snapshots(&self) -> Result<Vec<SnapshotInfo>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn
            .prepare("SELECT id, source_id, created_at, files, bytes, tree_digest FROM snapshots ORDER BY id")
            .map_err(StoreError::db("listing snapshots"))?;
        stmt.query_map([], snapshot_from_row).and_then(Iterator::collect).map_err(StoreError::db("listing snapshots"))
    }

    fn snapshot_files(&self, snapshot_id: i64) -> Result<Vec<FileEntry>, StoreError> {
        let conn = self.reader();
        let ctx = format!("reading snapshot {snapshot_id}");
        let mut stmt = conn
            .prepare("SELECT path, blob, size FROM snapshot_files WHERE snapshot_id = ?1 ORDER BY path")
            .map_err(StoreError::db(ctx.clone()))?;
        let rows: Vec<(String, String, i64)> = stmt
            .query_map([snapshot_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .and_then(Iterator::collect)
            .map_err(StoreError::db(ctx.clone()))?;
        rows.into_iter()
            .map(|(path, blob, size)| Ok(FileEntry { path, blob: blob_col(blob, &ctx)?, size: to_u64(size) }))
            .collect()
    }

    fn snapshot_file(&self, snapshot_id: i64, path: &str) -> Result<Option<FileEntry>, StoreError> {
        let ctx = format!("reading {path} of snapshot {snapshot_id}");
        let row: Option<(String, i64)> = self
            .conn()
            .query_row(
                "SELECT blob, size FROM snapshot_files WHERE snapshot_id = ?1 AND path = ?2",
                params![snapshot_id, path],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(StoreError::db(ctx.clone()))?;
        row.map(|(blob, size)| Ok(FileEntry { path: path.to_owned(), blob: blob_col(blob, &ctx)?, size: to_u64(size) }))
            .transpose()
    }

    fn record_remote(&self, source_id: i64, payloads: &[RemotePayload]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let ctx = "recording on-demand payloads";
        let tx = conn.transaction().map_err(StoreError::db(ctx))?;
        {
            let mut stmt = tx
                .prepare(
                    "INSERT OR REPLACE INTO remote_payloads (source_id, path, blob, size, name, url)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(StoreError::db(ctx))?;
            for p in payloads {
                stmt.execute(params![source_id, p.path, p.blob.as_str(), to_i64(p.size), p.name, p.url])
                    .map_err(StoreError::db(format!("{ctx}: {}", p.path)))?;
            }
        }
        tx.commit().map_err(StoreError::db(ctx))
    }

    fn remote_payload(&self, source_id: i64, path: &str, blob: &BlobId) -> Result<Option<RemotePayload>, StoreError> {
        let row: Option<(i64, String, Option<String>)> = self
            .conn()
            .query_row(
                "SELECT size, name, url FROM remote_payloads WHERE source_id = ?1 AND path = ?2 AND blob = ?3",
                params![source_id, path, blob.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(StoreError::db(format!("reading the on-demand record of {path}")))?;
        Ok(row.map(|(size, name, url)| RemotePayload {
            path: path.to_owned(),
            blob: blob.clone(),
            size: to_u64(size),
            name,
            url,
        }))
    }

    fn snapshot_remote(&self, snapshot_id: i64) -> Result<Vec<RemotePayload>, StoreError> {
        let conn = self.reader();
        let ctx = format!("reading the on-demand payloads of snapshot {snapshot_id}");
        let mut stmt = conn
            .prepare(
                "SELECT r.path, r.blob, r.size, r.name, r.url FROM snapshot_files f
                 JOIN snapshots s ON s.id = f.snapshot_id
                 JOIN remote_payloads r ON r.source_id = s.source_id AND r.path = f.path AND r.blob = f.blob
                 WHERE f.snapshot_id = ?1 ORDER BY r.path",
            )
            .map_err(StoreError::db(ctx.clone()))?;
        let rows: Vec<(String, String, i64, String, Option<String>)> = stmt
            .query_map([snapshot_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .and_then(Iterator::collect)
            .map_err(StoreError::db(ctx.clone()))?;
        rows.into_iter()
            .map(|(path, blob, size, name, url)| {
                Ok(RemotePayload { path, blob: blob_col(blob, &ctx)?, size: to_u64(size), name, url })
            })
            .collect()
    }

    fn delete_snapshot(&self, snapshot_id: i64) -> Result<(), StoreError> {
        self.conn()
            .execute("DELETE FROM snapshots WHERE id = ?1", [snapshot_id])
            .map_err(StoreError::db(format!("deleting snapshot {snapshot_id}")))?;
        Ok(())
    }

    fn published(&self, source_id: i64) -> Result<Option<i64>, StoreError> {
        self.reader()
            .query_row("SELECT snapshot_id FROM published WHERE source_id = ?1", [source_id], |r| r.get(0))
            .optional()
            .map_err(StoreError::db("reading the published snapshot"))
    }

    fn set_published(&self, source_id: i64, snapshot_id: i64) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT OR REPLACE INTO published (source_id, snapshot_id) VALUES (?1, ?2)",
                params![source_id, snapshot_id],
            )
            .map_err(StoreError::db(format!("publishing snapshot {snapshot_id}")))?;
        Ok(())
    }

    fn referenced_blobs(&self) -> Result<HashSet<BlobId>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT blob FROM snapshot_files UNION SELECT blob FROM view_files")
            .map_err(StoreError::db("listing referenced blobs"))?;
        let rows: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .and_then(Iterator::collect)
            .map_err(StoreError::db("listing referenced blobs"))?;
        rows.into_iter().map(|b| blob_col(b, "listing referenced blobs")).collect()
    }

    fn record_quarantine(&self, q: &QuarantineRecord) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT INTO quarantine (source, name, path, expected, actual, size, file, reason, at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![q.source, q.name, q.path, q.expected, q.actual, to_i64(q.size), q.file, q.reason, q.at],
            )
            .map_err(StoreError::db(format!("recording quarantined {}", q.name)))?;
        Ok(())
    }

    fn forget_quarantined_before(&self, at: i64) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn();
        let ctx = "forgetting old quarantine records";
        let tx = conn.transaction().map_err(StoreError::db(ctx))?;
        let files: Vec<String> = {
            let mut stmt = tx.prepare("SELECT file FROM quarantine WHERE at < ?1").map_err(StoreError::db(ctx))?;
            stmt.query_map([at], |r| r.get(0)).and_then(Iterator::collect).map_err(StoreError::db(ctx))?
        };
        tx.execute("DELETE FROM quarantine WHERE at < ?1", [at]).map_err(StoreError::db(ctx))?;
        tx.commit().map_err(StoreError::db(ctx))?;
        Ok(files)
    }

    fn quarantined(&self) -> Result<Vec<QuarantineRecord>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn
            .prepare("SELECT source, name, path, expected, actual, size, file, reason, at FROM quarantine ORDER BY id")
            .map_err(StoreError::db("listing quarantine"))?;
        stmt.query_map([], |r| {
            Ok(QuarantineRecord {
                source: r.get(0)?,
                name: r.get(1)?,
                path: r.get(2)?,
                expected: r.get(3)?,
                actual: r.get(4)?,
                size: to_u64(r.get(5)?),
                file: r.get(6)?,
                reason: r.get(7)?,
                at: r.get(8)?,
            })
        })
        .and_then(Iterator::collect)
        .map_err(StoreError::db("listing quarantine"))
    }

    fn record_run(&self, run: &SyncRun) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT INTO sync_runs (source_id, started_at, finished_at, outcome, snapshot_id, files_fetched, bytes_fetched, message)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    run.source_id,
                    run.started_at,
                    run.finished_at,
                    run.outcome,
                    run.snapshot_id,
                    to_i64(run.files_fetched),
                    to_i64(run.bytes_fetched),
                    run.message
                ],
            )
            .map_err(StoreError::db("recording a sync run"))?;
        Ok(())
    }

    fn run_stats(&self) -> Result<Vec<RunStats>, StoreError> {
        let buckets: Vec<String> = RUN_DURATION_BOUNDS
            .iter()
            .map(|b| format!("SUM(CASE WHEN r.finished_at - r.started_at <= {b} THEN 1 ELSE 0 END)"))
            .collect();
        let sql = format!(
            "SELECT s.name, r.outcome, COUNT(*), SUM(MAX(r.finished_at - r.started_at, 0)), {}
             FROM sync_runs r JOIN sources s ON s.id = r.source_id
             GROUP BY s.name, r.outcome ORDER BY s.name, r.outcome",
            buckets.join(", ")
        );
        let reader = self.reader();
        let mut stmt = reader.prepare(&sql).map_err(StoreError::db("summing sync runs"))?;
        stmt.query_map([], |r| {
            let mut at_most = Vec::with_capacity(RUN_DURATION_BOUNDS.len());
            for i in 0..RUN_DURATION_BOUNDS.len() {
                at_most.push(to_u64(r.get(4 + i)?));
            }
            Ok(RunStats {
                source: r.get(0)?,
                outcome: r.get(1)?,
                count: to_u64(r.get(2)?),
                seconds: to_u64(r.get(3)?),
                at_most,
            })
        })
        .and_then(Iterator::collect)
        .map_err(StoreError::db("summing sync runs"))
    }

    fn record_verify(&self, run: &VerifyRun) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let ctx = "recording a verify run";
        let tx = conn.transaction().map_err(StoreError::db(ctx))?;
        tx.execute(
            "INSERT INTO verify_runs (started_at, finished_at, blobs_checked, snapshots_checked, problems, first_problem)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                run.started_at,
                run.finished_at,
                to_i64(run.blobs_checked),
                to_i64(run.snapshots_checked),
                to_i64(run.problems),
                run.first_problem
            ],
        )
        .map_err(StoreError::db(ctx))?;
        let newest = tx.last_insert_rowid();
        tx.execute("DELETE FROM verify_runs WHERE id <= ?1", [newest - VERIFY_RUNS_KEPT])
            .map_err(StoreError::db(ctx))?;
        tx.commit().map_err(StoreError::db(ctx))
    }

    fn last_verify(&self) -> Result<Option<VerifyRun>, StoreError> {
        self.reader()
            .query_row(
                "SELECT started_at, finished_at, blobs_checked, snapshots_checked, problems, first_problem
                 FROM verify_runs ORDER BY id DESC LIMIT 1",
                [],
                |r| {
                    Ok(VerifyRun {
                        started_at: r.get(0)?,
                        finished_at: r.get(1)?,
                        blobs_checked: to_u64(r.get(2)?),
                        snapshots_checked: to_u64(r.get(3)?),
                        problems: to_u64(r.get(4)?),
                        first_problem: r.get(5)?,
                    })
                },
            )
            .optional()
            .map_err(StoreError::db("reading the last verify run"))
    }

    fn last_run(&self, source_id: i64) -> Result<Option<SyncRun>, StoreError> {
        self.reader()
            .query_row(
                "SELECT source_id, started_at, finished_at, outcome, snapshot_id, files_fetched, bytes_fetched, message
                 FROM sync_runs WHERE source_id = ?1 ORDER BY id DESC LIMIT 1",
                [source_id],
                |r| {
                    Ok(SyncRun {
                        source_id: r.get(0)?,
                        started_at: r.get(1)?,
                        finished_at: r.get(2)?,
                        outcome: r.get(3)?,
                        snapshot_id: r.get(4)?,
                        files_fetched: to_u64(r.get(5)?),
                        bytes_fetched: to_u64(r.get(6)?),
                        message: r.get(7)?,
                    })
                },
            )
            .optional()
            .map_err(StoreError::db("reading the last sync run"))
    }

    fn integrity_check(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        let mut out = Vec::new();
        let mut stmt = conn.prepare("PRAGMA integrity_check").map_err(StoreError::db("integrity check"))?;
        let rows: Vec<String> =
            stmt.query_map([], |r| r.get(0)).and_then(Iterator::collect).map_err(StoreError::db("integrity check"))?;
        out.extend(rows.into_iter().filter(|r| r != "ok"));
        let mut stmt = conn.prepare("PRAGMA foreign_key_check").map_err(StoreError::db("foreign key check"))?;
        let fk: Vec<String> = stmt
            .query_map([], |r| Ok(format!("foreign key violation in table {}", r.get::<_, String>(0)?)))
            .and_then(Iterator::collect)
            .map_err(StoreError::db("foreign key check"))?;
        out.extend(fk);
        Ok(out)
    }

    fn documents(&self) -> Result<Vec<Document>, StoreError> {
        let conn = self.reader();
        let ctx = "reading the service state";
        let mut stmt =
            conn.prepare("SELECT kind, id, body FROM documents ORDER BY kind, id").map_err(StoreError::db(ctx))?;
        stmt.query_map([], |r| Ok(Document { kind: r.get(0)?, id: r.get(1)?, body: r.get(2)? }))
            .and_then(Iterator::collect)
            .map_err(StoreError::db(ctx))
    }

    fn documents_of(&self, kind: &str) -> Result<Vec<(String, String)>, StoreError> {
        let conn = self.reader();
        let ctx = format!("reading the service state ({kind})");
        let mut stmt =
            conn.prepare("SELECT id, body FROM documents WHERE kind = ?1 ORDER BY id").map_err(StoreError::db(&ctx))?;
        stmt.query_map([kind], |r| Ok((r.get(0)?, r.get(1)?))).and_then(Iterator::collect).map_err(StoreError::db(&ctx))
    }

    fn document(&self, kind: &str, id: &str) -> Result<Option<String>, StoreError> {
        let conn = self.reader();
        let ctx = format!("reading the service state ({kind} {id})");
        conn.query_row("SELECT body FROM documents WHERE kind = ?1 AND id = ?2", [kind, id], |r| r.get(0))
            .optional()
            .map_err(StoreError::db(&ctx))
    }

    fn write_documents(&self, changes: &[DocumentChange]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn();
        let ctx = "writing the service state";
        let tx = conn.transaction().map_err(StoreError::db(ctx))?;
        let at = now();
        for c in changes {
            match &c.body {
                Some(body) => tx.execute(
                    "INSERT INTO documents (kind, id, body, updated_at) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
                    params![c.kind, c.id, body, at],
                ),
                None => tx.execute("DELETE FROM documents WHERE kind = ?1 AND id = ?2", params![c.kind, c.id]),
            }
            .map_err(StoreError::db(format!("{ctx}: {} {}", c.kind, c.id)))?;
        }
        tx.commit().map_err(StoreError::db(ctx))
    }

    fn append_audit(&self, record: &crate::audit::AuditRecord, keep: i64) -> Result<(), StoreError> {
        crate::audit::insert(&mut self.conn(), record, keep)
    }

    fn audit(&self, q: crate::audit::AuditQuery) -> Result<Vec<crate::audit::AuditEntry>, StoreError> {
        crate::audit::query(&self.reader(), q)
    }

    fn store_id(&self) -> Result<String, StoreError> {
        let conn = self.conn();
        let ctx = "reading the store id";
        let found: Option<String> = conn
            .query_row("SELECT value FROM store_info WHERE key = 'store_id'", [], |r| r.get(0))
            .optional()
            .map_err(StoreError::db(ctx))?;
        if let Some(id) = found {
            return Ok(id);
        }
        // Unique enough to tell stores apart: where, when and by which process it was made.
        use sha2::{Digest, Sha256};
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let seed = format!("{}\0{nanos}\0{}", self.path.display(), std::process::id());
        let id = hex::encode(&Sha256::digest(seed.as_bytes())[..16]);
        conn.execute("INSERT OR IGNORE INTO store_info (key, value) VALUES ('store_id', ?1)", [&id])
            .map_err(StoreError::db(ctx))?;
        conn.query_row("SELECT value FROM store_info WHERE key = 'store_id'", [], |r| r.get(0))
            .map_err(StoreError::db(ctx))
    }

    fn imported_snapshot(&self, origin: &str, origin_snapshot: i64) -> Result<Option<i64>, StoreError> {
        self.reader()
            .query_row(
                "SELECT snapshot_id FROM imported_snapshots WHERE origin = ?1 AND origin_snapshot = ?2",
                params![origin, origin_snapshot],
                |r| r.get(0),
            )
            .optional()
            .map_err(StoreError::db("reading imported snapshots"))
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
        lease::try_file_lease(&self.leases_dir(), name)
    }

    fn claim_due(&self, key: &str, due: i64) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let ctx = format!("claiming the run of {key} due at {due}");
        let tx = conn.transaction().map_err(StoreError::db(&ctx))?;
        let inserted = tx
            .execute(
                "INSERT INTO schedule_claims (key, due, claimed_at) SELECT ?1, ?2, ?3
                 WHERE NOT EXISTS (SELECT 1 FROM schedule_claims WHERE key = ?1 AND due > ?2 + ?4)
                 ON CONFLICT (key, due) DO NOTHING",
                params![key, due, now(), CLAIMS_KEPT_SECONDS],
            )
            .map_err(StoreError::db(&ctx))?;
        if inserted == 1 {
            tx.execute(
                "DELETE FROM schedule_claims WHERE key = ?1 AND due < ?2 - ?3",
                params![key, due, CLAIMS_KEPT_SECONDS],
            )
            .map_err(StoreError::db(&ctx))?;
        }
        tx.commit().map_err(StoreError::db(&ctx))?;
        Ok(inserted == 1)
    }

    fn views(&self) -> Result<Vec<(String, String)>, StoreError> {
        let conn = self.reader();
        let ctx = "listing the views";
        let mut stmt = conn.prepare("SELECT name, record FROM views ORDER BY name").map_err(StoreError::db(ctx))?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).and_then(Iterator::collect).map_err(StoreError::db(ctx))
    }

    fn view(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.reader()
            .query_row("SELECT record FROM views WHERE name = ?1", [name], |r| r.get(0))
            .optional()
            .map_err(StoreError::db(format!("reading view '{name}'")))
    }

    fn put_view(&self, name: &str, record: &str, published: Option<(u64, i64)>) -> Result<(), StoreError> {
        let (build, built_at) = published.map_or((None, 0), |(n, at)| (Some(to_i64(n)), at));
        self.conn()
            .execute(
                "INSERT INTO views (name, record, build, built_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (name) DO UPDATE SET record = excluded.record, build = excluded.build,
                 built_at = excluded.built_at, updated_at = excluded.updated_at",
                params![name, record, build, built_at, now()],
            )
            .map_err(StoreError::db(format!("writing view '{name}'")))?;
        Ok(())
    }

    fn remove_view(&self, name: &str) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let ctx = format!("removing view '{name}'");
        let tx = conn.transaction().map_err(StoreError::db(&ctx))?;
        tx.execute("DELETE FROM view_files WHERE view = ?1", [name]).map_err(StoreError::db(&ctx))?;
        tx.execute("DELETE FROM views WHERE name = ?1", [name]).map_err(StoreError::db(&ctx))?;
        tx.commit().map_err(StoreError::db(&ctx))
    }

    fn add_view_build(&self, name: &str, build: u64, files: &[FileEntry]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let ctx = format!("recording build {build} of view '{name}'");
        let tx = conn.transaction().map_err(StoreError::db(&ctx))?;
        tx.execute("DELETE FROM view_files WHERE view = ?1 AND build = ?2", params![name, to_i64(build)])
            .map_err(StoreError::db(&ctx))?;
        {
            let mut stmt = tx
                .prepare("INSERT INTO view_files (view, build, path, blob, size) VALUES (?1, ?2, ?3, ?4, ?5)")
                .map_err(StoreError::db(&ctx))?;
            for f in files {
                stmt.execute(params![name, to_i64(build), f.path, f.blob.as_str(), to_i64(f.size)])
                    .map_err(StoreError::db(format!("{ctx}: {}", f.path)))?;
            }
        }
        tx.commit().map_err(StoreError::db(&ctx))
    }

    fn prune_view_builds(&self, name: &str, keep: &[u64]) -> Result<(), StoreError> {
        let ctx = format!("removing old builds of view '{name}'");
        let builds = self.view_builds(name)?;
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(StoreError::db(&ctx))?;
        for b in builds.into_iter().filter(|b| !keep.contains(b)) {
            tx.execute("DELETE FROM view_files WHERE view = ?1 AND build = ?2", params![name, to_i64(b)])
                .map_err(StoreError::db(&ctx))?;
        }
        tx.commit().map_err(StoreError::db(&ctx))
    }

    fn view_builds(&self, name: &str) -> Result<Vec<u64>, StoreError> {
        let conn = self.reader();
        let ctx = format!("listing the builds of view '{name}'");
        let mut stmt = conn
            .prepare("SELECT DISTINCT build FROM view_files WHERE view = ?1 ORDER BY build")
            .map_err(StoreError::db(&ctx))?;
        let rows: Vec<i64> =
            stmt.query_map([name], |r| r.get(0)).and_then(Iterator::collect).map_err(StoreError::db(&ctx))?;
        Ok(rows.into_iter().map(to_u64).collect())
    }

    fn view_files(&self, name: &str, build: u64) -> Result<Vec<FileEntry>, StoreError> {
        let conn = self.reader();
        let ctx = format!("reading build {build} of view '{name}'");
        let mut stmt = conn
            .prepare("SELECT path, blob, size FROM view_files WHERE view = ?1 AND build = ?2 ORDER BY path")
            .map_err(StoreError::db(&ctx))?;
        let rows: Vec<(String, String, i64)> = stmt
            .query_map(params![name, to_i64(build)], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .and_then(Iterator::collect)
            .map_err(StoreError::db(&ctx))?;
        rows.into_iter()
            .map(|(path, blob, size)| Ok(FileEntry { path, blob: blob_col(blob, &ctx)?, size: to_u64(size) }))
            .collect()
    }

    fn view_file(&self, name: &str, path: &str) -> Result<Option<ViewFile>, StoreError> {
        let ctx = format!("reading {path} of view '{name}'");
        let row: Option<(i64, i64, String, i64)> = self
            .reader()
            .query_row(
                "SELECT v.build, v.built_at, f.blob, f.size FROM views v
                 JOIN view_files f ON f.view = v.name AND f.build = v.build
                 WHERE v.name = ?1 AND f.path = ?2",
                params![name, path],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
            .map_err(StoreError::db(&ctx))?;
        row.map(|(build, built_at, blob, size)| {
            Ok(ViewFile {
                build: to_u64(build),
                built_at,
                file: FileEntry { path: path.to_owned(), blob: blob_col(blob, &ctx)?, size: to_u64(size) },
            })
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, content: &[u8]) -> FileEntry {
        FileEntry { path: path.into(), blob: BlobId::of_bytes(content), size: content.len() as u64 }
    }

    #[test]
    fn migrations_apply_once_and_record_the_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.sqlite");
        let meta = SqliteMeta::open(&path).unwrap();
        assert_eq!(meta.schema_version().unwrap(), MIGRATIONS.len() as i64);
        drop(meta);
        let meta = SqliteMeta::open(&path).unwrap();
        assert_eq!(meta.schema_version().unwrap(), MIGRATIONS.len() as i64);
        let mode: String = meta.conn().query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
        meta.conn().pragma_update(None, "user_version", 99).unwrap();
        drop(meta);
        assert!(matches!(SqliteMeta::open(&path).unwrap_err(), StoreError::SchemaTooNew { found: 99, .. }));
    }

    #[test]
    fn verify_runs_keep_the_latest_and_say_the_last() {
        let dir = tempfile::tempdir().unwrap();
        let meta = SqliteMeta::open(&dir.path().join("m.sqlite")).unwrap();
        assert_eq!(meta.last_verify().unwrap(), None, "never verified");
        let run = |i: i64| VerifyRun {
            started_at: i,
            finished_at: i + 1,
            blobs_checked: 10,
            snapshots_checked: 2,
            problems: u64::from(i % 2 == 1),
            first_problem: (i % 2 == 1).then(|| format!("blob {i} is damaged")),
        };
        for i in 0..(VERIFY_RUNS_KEPT + 5) {
            meta.record_verify(&run(i)).unwrap();
        }
        assert_eq!(meta.last_verify().unwrap(), Some(run(VERIFY_RUNS_KEPT + 4)));
        let kept: i64 = meta.conn().query_row("SELECT COUNT(*) FROM verify_runs", [], |r| r.get(0)).unwrap();
        assert_eq!(kept, VERIFY_RUNS_KEPT);
    }

    #[test]
    fn sqlite_passes_the_conformance_suite() {
        let dir = tempfile::tempdir().unwrap();
        let meta = SqliteMeta::open(&dir.path().join("m.sqlite")).unwrap();
        conformance(&meta);
    }

    #[test]
    fn sqlite_leases_are_files_beside_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let meta = SqliteMeta::open(&dir.path().join("m.sqlite")).unwrap();
        let other = SqliteMeta::open(&dir.path().join("m.sqlite")).unwrap();
        let held = meta.try_lease("sync:vmw").unwrap().unwrap();
        assert!(other.try_lease("sync:vmw").unwrap().is_none(), "a second handle (another process) is refused");
        assert!(meta.leases_dir().is_dir());
        drop(held);
        assert!(other.try_lease("sync:vmw").unwrap().is_some());
    }

    #[test]
    fn sqlite_claims_are_granted_once_and_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.sqlite");
        let handles: Vec<SqliteMeta> = (0..4).map(|_| SqliteMeta::open(&path).unwrap()).collect();
        let granted: usize = std::thread::scope(|s| {
            let racers: Vec<_> = handles
                .iter()
                .map(|m| s.spawn(move || (0..50).filter(|_| m.claim_due("sync:vmw", 3600).unwrap()).count()))
                .collect();
            racers.into_iter().map(|r| r.join().unwrap()).sum()
        });
        assert_eq!(granted, 1, "one claim of (key, due) across handles and threads");
        let meta = &handles[0];
        assert!(meta.claim_due("sync:other", 3600).unwrap(), "keys are independent");
        let later = 3600 + CLAIMS_KEPT_SECONDS + 1;
        assert!(meta.claim_due("sync:vmw", later).unwrap());
        let kept: i64 = meta
            .conn()
            .query_row("SELECT COUNT(*) FROM schedule_claims WHERE key = 'sync:vmw'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, 1, "the claim older than the horizon was pruned");
        assert!(!meta.claim_due("sync:vmw", 3600).unwrap(), "a pruned claim is not granted again");
    }

    /// What every [`MetaStore`] must do; a PostgreSQL backend runs the same suite.
    fn conformance(meta: &dyn MetaStore) {
        let cfg = SourceConfig::new("vmw", "https://x.example/index.xml").unwrap();
        let s = meta.add_source(&cfg).unwrap();
        assert!(matches!(meta.add_source(&cfg).unwrap_err(), StoreError::SourceExists(_)));
        assert_eq!(meta.source("vmw").unwrap(), s);
        let a = meta.create_snapshot(s.id, &[entry("index.xml", b"a"), entry("v/x.vib", b"x")]).unwrap();
        let b = meta.create_snapshot(s.id, &[entry("v/x.vib", b"x"), entry("index.xml", b"a")]).unwrap();
        assert_eq!(a.tree_digest, b.tree_digest, "order does not matter");
        assert_eq!(meta.published(s.id).unwrap(), None);
        meta.set_published(s.id, a.id).unwrap();
        meta.set_published(s.id, b.id).unwrap();
        assert_eq!(meta.published(s.id).unwrap(), Some(b.id));
        assert_eq!(meta.referenced_blobs().unwrap().len(), 2);
        assert_eq!(meta.snapshot_files(a.id).unwrap()[0].path, "index.xml");

        assert_eq!(meta.cache_get(s.id, "u").unwrap(), None);
        let cached = CacheEntry { etag: Some("\"e\"".into()), last_modified: None, blob: Some(BlobId::of_bytes(b"a")) };
        meta.cache_put(s.id, "u", &cached).unwrap();
        assert_eq!(meta.cache_get(s.id, "u").unwrap(), Some(cached));

        let run = SyncRun {
            source_id: s.id,
            started_at: 1,
            finished_at: 2,
            outcome: "published".into(),
            snapshot_id: Some(b.id),
            files_fetched: 3,
            bytes_fetched: 4,
            message: String::new(),
        };
        meta.record_run(&run).unwrap();
        assert_eq!(meta.last_run(s.id).unwrap(), Some(run));
        let q = QuarantineRecord {
            source: "vmw".into(),
            name: "VMW_bootbank_x_1.0".into(),
            path: "vib20/x.vib".into(),
            expected: "e".into(),
            actual: "a".into(),
            size: 9,
            file: "quarantine/x".into(),
            reason: "sha-256 differs".into(),
            at: 5,
        };
        meta.record_quarantine(&q).unwrap();
        assert_eq!(meta.quarantined().unwrap(), vec![q]);

        let mut updated = s.clone();
        updated.config.enabled = false;
        meta.update_source(&updated).unwrap();
        assert!(!meta.source("vmw").unwrap().config.enabled);
        assert!(matches!(meta.source("nope").unwrap_err(), StoreError::UnknownSource(_)));

        let id = meta.store_id().unwrap();
        assert_eq!((id.len(), meta.store_id().unwrap()), (32, id.clone()), "made once, then kept");
        assert_eq!(meta.imported_snapshot("other", 7).unwrap(), None);
        let imported = meta.create_imported_snapshot(s.id, &[entry("index.xml", b"i")], 42, "other", 7).unwrap();
        assert_eq!(imported.created_at, 42);
        assert_eq!(meta.imported_snapshot("other", 7).unwrap(), Some(imported.id));
        assert!(meta.create_imported_snapshot(s.id, &[], 43, "other", 7).is_err(), "an origin snapshot maps once");
        assert_eq!(meta.snapshots(s.id).unwrap().len(), 3, "the failed insert left nothing behind");

        let x = entry("v/x.vib", b"x");
        assert_eq!(meta.snapshot_file(a.id, "v/x.vib").unwrap(), Some(x.clone()));
        assert_eq!(meta.snapshot_file(a.id, "v/none.vib").unwrap(), None);
        let remote = RemotePayload {
            path: x.path.clone(),
            blob: x.blob.clone(),
            size: 1,
            name: "VMW_bootbank_x_1.0".into(),
            url: None,
        };
        meta.record_remote(s.id, std::slice::from_ref(&remote)).unwrap();
        meta.record_remote(s.id, std::slice::from_ref(&remote)).unwrap();
        assert_eq!(meta.remote_payload(s.id, "v/x.vib", &x.blob).unwrap(), Some(remote.clone()));
        assert_eq!(meta.remote_payload(s.id, "v/x.vib", &BlobId::of_bytes(b"other")).unwrap(), None);
        assert_eq!(meta.snapshot_remote(a.id).unwrap(), vec![remote]);
        assert!(meta.snapshot_remote(imported.id).unwrap().is_empty());

        meta.remove_source("vmw").unwrap();
        assert!(meta.imported_snapshot("other", 7).unwrap().is_none(), "import records go with their snapshots");
        assert!(meta.snapshots(s.id).unwrap().is_empty());
        assert_eq!(meta.cache_get(s.id, "u").unwrap(), None, "cache entries go with the source");
        assert!(meta.referenced_blobs().unwrap().is_empty());
        assert!(meta.integrity_check().unwrap().is_empty());
    }
}
