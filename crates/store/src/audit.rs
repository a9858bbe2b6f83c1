//! The service's audit log: one row per mutating API call and per login (who, from where,
//! what, when, the result), in the store's database (table `audit`), bounded to the newest
//! [`AUDIT_KEEP`] rows (older ones are pruned as rows are added). [`read_only`] reads it
//! beside a running server: SQLite WAL lets a reader in while the server writes.

use std::path::Path;

use rusqlite::{Connection, OpenFlags, params};
use serde::Serialize;

use crate::error::StoreError;
use crate::store::Store;

/// Rows kept: enough for months of an admin team's calls, small enough (tens of MB) that
/// a login flood cannot fill the disk.
pub const AUDIT_KEEP: i64 = 100_000;

/// The migration (1-based, `PRAGMA user_version`) that creates the `audit` table.
const AUDIT_SCHEMA_VERSION: i64 = 5;

/// One call to record; the time is taken when it is appended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditRecord {
    /// The authenticated user, or the user name a login tried; `None` when unknown.
    pub user: Option<String>,
    /// The client's address.
    pub client: Option<String>,
    /// `service.operation` (or `upload`).
    pub action: String,
    /// The object the call was about (`cluster=domain-c7`), when the input names one.
    pub target: Option<String>,
    /// `ok`, or the error type (`unauthorized`, `not_found`, …).
    pub result: String,
    /// More about the outcome (a started task's id).
    pub detail: Option<String>,
}

/// A stored row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    /// RFC 3339, UTC, milliseconds.
    pub time: String,
    pub user: Option<String>,
    pub client: Option<String>,
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub result: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Which rows to read: the newest `limit` at or after `since` (Unix milliseconds), oldest
/// first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditQuery {
    pub since_ms: Option<i64>,
    pub limit: usize,
}

impl Default for AuditQuery {
    fn default() -> Self {
        Self { since_ms: None, limit: 100 }
    }
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub(crate) fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map_or_else(|| ms.to_string(), |t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

pub(crate) fn insert(conn: &mut Connection, record: &AuditRecord, keep: i64) -> Result<(), StoreError> {
    let ctx = "appending to the audit log";
    let tx = conn.transaction().map_err(StoreError::db(ctx))?;
    tx.execute(
        "INSERT INTO audit (at, user, client, action, target, result, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![now_ms(), record.user, record.client, record.action, record.target, record.result, record.detail],
    )
    .map_err(StoreError::db(ctx))?;
    // AUTOINCREMENT ids only grow: everything `keep` rows behind the new one goes (an
    // index range on the primary key, cheap on every insert).
    let id = tx.last_insert_rowid();
    tx.execute("DELETE FROM audit WHERE id <= ?1", params![id - keep.max(1)]).map_err(StoreError::db(ctx))?;
    tx.commit().map_err(StoreError::db(ctx))
}

pub(crate) fn query(conn: &Connection, q: AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
    let ctx = "reading the audit log";
    let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
    let mut stmt = conn
        .prepare(
            "SELECT id, at, user, client, action, target, result, detail FROM audit \
             WHERE at >= ?1 ORDER BY id DESC LIMIT ?2",
        )
        .map_err(StoreError::db(ctx))?;
    let mut rows: Vec<AuditEntry> = stmt
        .query_map(params![q.since_ms.unwrap_or(i64::MIN), limit], |r| {
            Ok(AuditEntry {
                id: r.get(0)?,
                time: rfc3339(r.get(1)?),
                user: r.get(2)?,
                client: r.get(3)?,
                action: r.get(4)?,
                target: r.get(5)?,
                result: r.get(6)?,
                detail: r.get(7)?,
            })
        })
        .and_then(Iterator::collect)
        .map_err(StoreError::db(ctx))?;
    rows.reverse();
    Ok(rows)
}

/// Read the audit log of the store at `root` without opening it for writing (no
/// directories made, no migration run): what `esxlcm audit` does beside a running server.
/// A store from before the audit log reads as empty.
pub fn read_only(root: &Path, q: AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
    let path = root.join("meta.sqlite");
    if !path.is_file() {
        return Err(StoreError::io(&path, std::io::Error::from(std::io::ErrorKind::NotFound)));
    }
    let ctx = || format!("opening {} read-only", path.display());
    let conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(StoreError::db(ctx()))?;
    conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(StoreError::db(ctx()))?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(StoreError::db("reading the schema version"))?;
    if version < AUDIT_SCHEMA_VERSION {
        return Ok(Vec::new());
    }
    query(&conn, q)
}

impl Store {
    /// Append one row to the audit log (pruned to the newest [`AUDIT_KEEP`]).
    pub fn append_audit(&self, record: &AuditRecord) -> Result<(), StoreError> {
        self.meta.append_audit(record, AUDIT_KEEP)
    }

    /// The newest `q.limit` rows at or after `q.since_ms`, oldest first.
    pub fn audit(&self, q: AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        self.meta.audit(q)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::meta::MIGRATIONS;

    fn rec(action: &str) -> AuditRecord {
        AuditRecord {
            user: Some("root".into()),
            client: Some("192.0.2.1".into()),
            action: action.into(),
            result: "ok".into(),
            ..AuditRecord::default()
        }
    }

    #[test]
    fn rows_are_appended_read_back_and_pruned() {
        assert_eq!(
            usize::try_from(AUDIT_SCHEMA_VERSION).unwrap(),
            MIGRATIONS.iter().position(|m| m.contains("CREATE TABLE audit")).unwrap() + 1
        );
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for i in 0..5 {
            store.meta.append_audit(&rec(&format!("op{i}")), 3).unwrap();
        }
        let all = store.audit(AuditQuery { since_ms: None, limit: 100 }).unwrap();
        let actions: Vec<&str> = all.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["op2", "op3", "op4"], "the newest 3 kept, oldest first");
        let two = store.audit(AuditQuery { since_ms: None, limit: 2 }).unwrap();
        assert_eq!(two.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), ["op3", "op4"]);
        assert!(two[0].time.ends_with('Z'));
        let later = store.audit(AuditQuery { since_ms: Some(now_ms() + 60_000), limit: 100 }).unwrap();
        assert!(later.is_empty());

        store.append_audit(&rec("op5")).unwrap();
        let read = read_only(dir.path(), AuditQuery::default()).unwrap();
        assert_eq!(read.last().unwrap().action, "op5");
        assert_eq!(read.last().unwrap().user.as_deref(), Some("root"));
        assert!(read_only(&dir.path().join("nowhere"), AuditQuery::default()).is_err());
    }
}
