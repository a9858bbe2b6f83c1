//! `esxlcm store migrate`: move a single-node store into PostgreSQL and object storage.
//! Parses arguments and renders the report; the migration is `Store::migrate_into`.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use esxlcm_store::migrate::{MigrateProgress, MigrateReport};
use esxlcm_store::{Store, StoreLocation};
use indicatif::ProgressBar;

use super::Status;
use crate::output::{self, human_size};

const MIGRATE_HELP: &str = "\
Copies every blob (each checked against its sha-256), source, snapshot, publication, on-demand
record, last sync run and the service's documents (inventory, drafts, image library, settings,
tasks) of the single-node store FROM into the cluster store, then checks that every source
publishes the same tree on both sides. Stop it at any point and run it again: what is already
there is skipped, nothing is recorded twice. FROM is only read. Named views are not moved (the
cluster backends do not build them yet); they are listed at the end.

Example:
  export AWS_ENDPOINT_URL=https://s3.example AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… AWS_REGION=us-east-1
  esxlcm store migrate --from /var/lib/esxlcm/store \\
      --to-database postgres://esxlcm@db.example/esxlcm --to-blobs s3://esxlcm-depots/site-a
Then start each replica with: esxlcm serve --database … --blobs … (or ESXLCM_DATABASE, ESXLCM_BLOBS).";

#[derive(Debug, Args)]
pub struct StoreArgs {
    #[command(subcommand)]
    pub command: StoreCommand,
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Move a single-node store into PostgreSQL and object storage (verified, resumable)
    #[command(after_help = MIGRATE_HELP)]
    Migrate(MigrateArgs),
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The single-node store to move (a mirror store, or DATA_DIR/store of the service)
    #[arg(long, value_name = "STORE_DIR")]
    pub from: PathBuf,

    /// The cluster's PostgreSQL database: postgres://USER[:PASSWORD]@HOST:PORT/DB
    #[arg(long, value_name = "URL", env = "ESXLCM_DATABASE", hide_env_values = true)]
    pub to_database: String,

    /// The cluster's bucket: s3://BUCKET/PREFIX (endpoint and credentials from the AWS_* variables)
    #[arg(long, value_name = "URL", env = "ESXLCM_BLOBS")]
    pub to_blobs: String,

    /// Machine-readable output (schema esxlcm.store-migrate/1)
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &StoreArgs) -> anyhow::Result<Status> {
    match &args.command {
        StoreCommand::Migrate(a) => migrate(a),
    }
}

fn migrate(args: &MigrateArgs) -> anyhow::Result<Status> {
    if !args.from.join("meta.sqlite").is_file() {
        anyhow::bail!("{} is not a single-node store (it has no meta.sqlite)", args.from.display());
    }
    let from = Store::open(&args.from).with_context(|| format!("opening the store {}", args.from.display()))?;
    // The destination's node directory: staging for uploads only, removed afterwards.
    let node = tempfile::tempdir().context("making a staging directory")?;
    let location = StoreLocation::parse(node.path(), Some(&args.to_database), Some(&args.to_blobs))?;
    let to = Store::open_location(&location).with_context(|| format!("opening the cluster store {location}"))?;
    let progress = Bar(output::bytes_bar("blobs", None));
    let report = from.migrate_into(&to, &progress).context("migrating the store")?;
    progress.0.finish_and_clear();
    let mut out = output::stdout();
    if args.json {
        output::write_json(&mut out, &serde_json::json!({ "schema": "esxlcm.store-migrate/1", "report": report }))?;
    } else {
        render(&mut out, &report, &location)?;
    }
    out.flush()?;
    Ok(Status::Success)
}

fn render(out: &mut dyn std::io::Write, r: &MigrateReport, to: &StoreLocation) -> std::io::Result<()> {
    writeln!(out, "migrated into {to}")?;
    writeln!(
        out,
        "  blobs:     {} copied ({}), {} already there",
        r.blobs_copied,
        human_size(r.bytes_copied),
        r.blobs_present
    )?;
    writeln!(out, "  sources:   {} created; {} verified (same published tree)", r.sources_created, r.sources_verified)?;
    writeln!(out, "  snapshots: {} copied, {} already there", r.snapshots_copied, r.snapshots_present)?;
    writeln!(out, "  documents: {}", r.documents)?;
    if !r.views_moved.is_empty() {
        writeln!(out, "  views:     {} (built from the migrated snapshots)", r.views_moved.join(", "))?;
    }
    for unbuilt in &r.views_unbuilt {
        writeln!(out, "  view recorded but not built (the previous build is not moved): {unbuilt}")?;
    }
    Ok(())
}

/// Blob progress as a bytes bar: the count in the message, the bytes on the bar.
struct Bar(ProgressBar);

impl MigrateProgress for Bar {
    fn blobs(&self, done: u64, total: u64, bytes: u64) {
        self.0.set_message(format!("blobs {done}/{total}"));
        self.0.set_position(bytes);
    }

    fn source(&self, name: &str) {
        self.0.set_message(format!("source {name}"));
    }
}
