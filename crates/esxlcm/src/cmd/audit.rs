//! `esxlcm audit`: the service's audit log (logins and every call that changed state),
//! read from DATA_DIR/store/meta.sqlite read-only, so it works beside a running server.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use esxlcm_store::audit::{AuditQuery, read_only};

use super::Status;
use super::common::BackendArgs;
use crate::output::{self, Table};

#[derive(Debug, Clone, Args)]
pub struct AuditArgs {
    /// The service's data directory (as for `esxlcm serve`)
    #[arg(long, value_name = "DATA_DIR", default_value = "esxlcm-data", env = "ESXLCM_DATA_DIR")]
    pub data_dir: PathBuf,

    /// Only rows at or after this time (RFC 3339, e.g. 2025-06-01T00:00:00Z)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,

    /// The newest this many rows (shown oldest first)
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub limit: usize,

    /// Write one JSON object (schema esxlcm.audit/1: {"schema", "records": [{"id", "time",
    /// "user", "client", "action", "target"?, "result", "detail"?}]}) instead of text
    #[arg(long)]
    pub json: bool,

    /// The service's store in PostgreSQL (and object storage): read its audit log there
    #[command(flatten)]
    pub backends: BackendArgs,
}

pub fn run(args: &AuditArgs) -> anyhow::Result<Status> {
    let since_ms = args
        .since
        .as_deref()
        .map(|s| {
            chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| t.timestamp_millis())
                .with_context(|| format!("--since {s}: not an RFC 3339 time (2025-06-01T00:00:00Z)"))
        })
        .transpose()?;
    let store = esxlcm_server::api::store_dir(&args.data_dir);
    let query = AuditQuery { since_ms, limit: args.limit };
    let location = args.backends.location(&store)?;
    // One node: read SQLite read-only beside a running server. A cluster: ask PostgreSQL.
    let rows = if location.database.is_none() {
        read_only(&store, query).with_context(|| format!("reading the audit log of {}", args.data_dir.display()))?
    } else {
        esxlcm_store::Store::open_location(&location)
            .and_then(|s| s.audit(query))
            .with_context(|| format!("reading the audit log of {location}"))?
    };
    let mut out = output::stdout();
    if args.json {
        output::write_json(&mut out, &serde_json::json!({ "schema": "esxlcm.audit/1", "records": rows }))?;
    } else if rows.is_empty() {
        writeln!(out, "no audit records")?;
    } else {
        let mut table = Table::new(["TIME", "USER", "CLIENT", "ACTION", "TARGET", "RESULT"]);
        for r in &rows {
            let result = match &r.detail {
                Some(d) => format!("{} ({d})", r.result),
                None => r.result.clone(),
            };
            table.row([
                r.time.clone(),
                r.user.clone().unwrap_or_else(|| "-".into()),
                r.client.clone().unwrap_or_else(|| "-".into()),
                r.action.clone(),
                r.target.clone().unwrap_or_else(|| "-".into()),
                result,
            ]);
        }
        table.write(&mut out, "")?;
    }
    out.flush()?;
    Ok(Status::Success)
}
