//! `esxlcm mirror …`: a local, air-gap-ready mirror of online depots and offline bundles
//! (`esxlcm_store`): add sources, sync them into immutable snapshots, publish, roll back,
//! verify and garbage-collect.
//!
//! This file holds the command tree and the dispatch only. Each command's module has its
//! arguments and a `run` that calls one `esxlcm_store` operation and renders its typed
//! report; reports several commands print are rendered in [`render`].
//!
//! The store directory is `--store DIR`, else `$ESXLCM_STORE`, else
//! `$XDG_DATA_HOME/esxlcm/store` (`~/.local/share/esxlcm/store`), else `./esxlcm-store`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use esxlcm_store::Store;

use super::Status;
use super::common::{BackendArgs, NetworkArgs};
use crate::output;

mod add;
mod carry;
mod list;
mod maintenance;
mod push;
mod render;
mod status;
mod sync;
mod verify;
mod view;

const AFTER_HELP: &str = "\
The store keeps every file once, named by its sha-256 (blobs/), a SQLite database of
sources and snapshots (meta.sqlite), and the published view of each source
(published/<source>/index.xml), which `esxlcm serve --store DIR` serves to hosts.

Each sync that finds upstream changed records a new snapshot and publishes it atomically;
the previous one stays published until then, and stays for `mirror rollback` until
retention removes it. Every VIB is checked against the sha-256 its metadata declares; a bad
one is quarantined (quarantine/), named, and nothing new is published.

Examples:
  esxlcm mirror add vmw https://dl.example.com/<token>/PROD/COMP/ESX_HOST/main/vmw-depot-index.xml \\
      --platform 8.0 --description 'VMware ESXi 8.0'
  esxlcm mirror add oem https://oem.example/depot/index.xml --header 'Authorization: Bearer …' \\
      --proxy http://proxy:3128 --ca-file corp-ca.pem
  esxlcm mirror add partner https://depot.partner.example/index.xml \\
      --client-cert mirror.crt --client-key mirror.key   # a depot that requires mutual TLS
  esxlcm mirror add lazy https://depot.example/index.xml --payloads on-demand  # VIBs when asked
  esxlcm mirror add branch https://depot.example/index.xml --only-for site.json # only that image
  esxlcm mirror add drivers file:///srv/incoming/nvme-driver-offline-bundle.zip
  esxlcm mirror add umds /mnt/umds-export            # a UMDS export (hostupdate/<vendor>/…)
  esxlcm mirror add umds-web https://umds.example/export/ --kind umds   # needs its index.xml
  esxlcm mirror schedule vmw --daily 02:30           # UTC; run by `esxlcm serve --store`
  esxlcm mirror sync                 # every enabled source
  esxlcm mirror sync --due           # only scheduled sources whose slot passed (cron)
  esxlcm mirror push drivers ./driver-offline-bundle.zip   # verified, then published
  esxlcm mirror status
  esxlcm mirror rollback vmw         # republish the snapshot before the current one
  esxlcm mirror disable vmw          # and keep `mirror sync` from publishing upstream again
  esxlcm mirror verify && esxlcm mirror gc
  esxlcm mirror export --to /media/usb/carry --since 7   # then, across the gap:
  esxlcm mirror import /media/usb/carry

Store directory: --store DIR, else $ESXLCM_STORE, else $XDG_DATA_HOME/esxlcm/store
(~/.local/share/esxlcm/store), else ./esxlcm-store.";

#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct MirrorArgs {
    /// The store directory (created if missing)
    #[arg(long, value_name = "DIR", global = true, env = "ESXLCM_STORE")]
    pub store: Option<PathBuf>,

    #[command(flatten)]
    pub backends: BackendArgs,

    #[command(subcommand)]
    pub command: MirrorCommand,
}

#[derive(Debug, Subcommand)]
pub enum MirrorCommand {
    /// Add a source: an online depot URL or an offline bundle (http:, https:, file:)
    Add(add::AddArgs),
    /// List sources (URLs with tokens redacted; header values never shown)
    List(JsonArgs),
    /// Remove a source and its snapshots (payloads go at the next gc)
    Remove(maintenance::RemoveArgs),
    /// Sync sources: metadata, then verified payloads, then a new published snapshot
    Sync(sync::SyncArgs),
    /// Published snapshot, snapshots, last run and quarantine of each source
    Status(JsonArgs),
    /// Check the whole store: database, every blob's sha-256, snapshots, published sources and named views
    Verify(JsonArgs),
    /// Delete payloads no snapshot or view references (--dry-run: only say what)
    Gc(maintenance::GcArgs),
    /// Republish an earlier snapshot of a source
    Rollback(maintenance::RollbackArgs),
    /// Include a source in `mirror sync` without names again
    Enable(maintenance::NameArgs),
    /// Leave a source out of `mirror sync` without names (holds a rollback)
    Disable(maintenance::NameArgs),
    /// Set (replace) or clear the software specs a source keeps only what they need of
    /// (`mirror add --only-for`); the next sync applies them
    OnlyFor(maintenance::OnlyForArgs),
    /// Set or clear when a source syncs by itself (UTC): run by `mirror sync --due` (cron,
    /// systemd timers) and by `esxlcm serve --store`
    Schedule(maintenance::ScheduleArgs),
    /// Publish an offline bundle file into a bundle source, verified like a sync
    Push(push::PushArgs),
    /// Write snapshots and their payloads to a directory of checksummed chunk files, to
    /// carry across an air gap (`--since` for only what is new)
    Export(carry::ExportArgs),
    /// Read an export into this store: verified, resumable, each snapshot published whole
    Import(carry::ImportArgs),
    /// Make a key pair for signed exports (`export --sign-key`, `import --verify-key`)
    Keygen(carry::KeygenArgs),
    /// Named views served at /views/NAME/: several sources merged, or one image's content
    View(view::ViewArgs),
}

#[derive(Debug, Args)]
pub struct JsonArgs {
    /// Machine-readable output
    #[arg(long)]
    pub json: bool,
}

/// `--store`, `$ESXLCM_STORE` (through clap), the per-user data directory, or `./esxlcm-store`.
pub fn store_dir(given: Option<&PathBuf>) -> PathBuf {
    if let Some(d) = given {
        return d.clone();
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".local/share")));
    match data {
        Some(d) => d.join("esxlcm").join("store"),
        None => PathBuf::from("esxlcm-store"),
    }
}

pub fn open_store(given: Option<&PathBuf>, backends: &BackendArgs) -> anyhow::Result<Store> {
    let location = backends.location(&store_dir(given))?;
    Store::open_location(&location).with_context(|| format!("opening the store {location}"))
}

pub fn run(args: &MirrorArgs, network: &NetworkArgs) -> anyhow::Result<Status> {
    let out: &mut dyn Write = &mut output::stdout();
    // Making a key needs no store.
    if let MirrorCommand::Keygen(a) = &args.command {
        let status = carry::keygen(a, out)?;
        out.flush()?;
        return Ok(status);
    }
    let store = open_store(args.store.as_ref(), &args.backends)?;
    let status = match &args.command {
        MirrorCommand::Keygen(a) => carry::keygen(a, out)?,
        MirrorCommand::Add(a) => add::run(&store, a, network, out)?,
        MirrorCommand::List(a) => list::run(&store, a, out)?,
        MirrorCommand::Remove(a) => maintenance::remove(&store, a, out)?,
        MirrorCommand::Sync(a) => sync::run(&store, a, out)?,
        MirrorCommand::Status(a) => status::run(&store, a, out)?,
        MirrorCommand::Verify(a) => verify::run(&store, a, out)?,
        MirrorCommand::Gc(a) => maintenance::gc(&store, a, out)?,
        MirrorCommand::Rollback(a) => maintenance::rollback(&store, a, out)?,
        MirrorCommand::Enable(a) => maintenance::set_enabled(&store, a, true, out)?,
        MirrorCommand::Disable(a) => maintenance::set_enabled(&store, a, false, out)?,
        MirrorCommand::OnlyFor(a) => maintenance::only_for(&store, a, out)?,
        MirrorCommand::Schedule(a) => maintenance::schedule(&store, a, out)?,
        MirrorCommand::Push(a) => push::run(&store, a, out)?,
        MirrorCommand::Export(a) => carry::export(&store, a, out)?,
        MirrorCommand::Import(a) => carry::import(&store, a, out)?,
        MirrorCommand::View(a) => view::run(&store, a, out)?,
    };
    out.flush()?;
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_dir_prefers_the_flag() {
        assert_eq!(store_dir(Some(&PathBuf::from("/x"))), PathBuf::from("/x"));
    }
}
