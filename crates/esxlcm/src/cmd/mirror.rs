//! `esxlcm mirror …`: a local, air-gap-ready mirror of online depots and offline bundles
//! (`esxlcm_store`): add sources, sync them into immutable snapshots, publish, roll back,
//! verify and garbage-collect.
//!
//! The store directory is `--store DIR`, else `$ESXLCM_STORE`, else
//! `$XDG_DATA_HOME/esxlcm/store` (`~/.local/share/esxlcm/store`), else `./esxlcm-store`.

use std::io::{IsTerminal as _, Write};
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use chrono::Utc;
use clap::{Args, Subcommand};
use esxlcm_store::ops::{LockWait, Pushed, Selection};
use esxlcm_store::schedule::{self, Schedule};
use esxlcm_store::source::{PayloadPolicy, SourceConfig};
use esxlcm_store::status::{self, SyncState};
use esxlcm_store::sync::{Outcome, Progress, SyncEvent, SyncOptions};
use esxlcm_store::{Store, carry};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use super::Status;
use crate::cli::NetworkArgs;
use crate::output::{self, Table, count, human_size};

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

    #[command(subcommand)]
    pub command: MirrorCommand,
}

#[derive(Debug, Subcommand)]
pub enum MirrorCommand {
    /// Add a source: an online depot URL or an offline bundle (http:, https:, file:)
    Add(AddArgs),
    /// List sources (URLs with tokens redacted; header values never shown)
    List(JsonArgs),
    /// Remove a source and its snapshots (payloads go at the next gc)
    Remove(NameArgs),
    /// Sync sources: metadata, then verified payloads, then a new published snapshot
    Sync(SyncArgs),
    /// Published snapshot, snapshots, last run and quarantine of each source
    Status(JsonArgs),
    /// Check the whole store: database, every blob's sha-256, snapshots, published sources and named views
    Verify(JsonArgs),
    /// Delete payloads no snapshot references
    Gc,
    /// Republish an earlier snapshot of a source
    Rollback(RollbackArgs),
    /// Include a source in `mirror sync` without names again
    Enable(NameArgs),
    /// Leave a source out of `mirror sync` without names (holds a rollback)
    Disable(NameArgs),
    /// Set (replace) or clear the software specs a source keeps only what they need of
    /// (`mirror add --only-for`); the next sync applies them
    OnlyFor(OnlyForArgs),
    /// Set or clear when a source syncs by itself (UTC): run by `mirror sync --due` (cron,
    /// systemd timers) and by `esxlcm serve --store`
    Schedule(ScheduleArgs),
    /// Publish an offline bundle file into a bundle source, verified like a sync
    Push(PushArgs),
    /// Write snapshots and their payloads to a directory of checksummed chunk files, to
    /// carry across an air gap (`--since` for only what is new)
    Export(ExportArgs),
    /// Read an export into this store: verified, resumable, each snapshot published whole
    Import(ImportArgs),
    /// Named views served at /views/NAME/: several sources merged, or one image's content
    View(super::mirror_view::ViewArgs),
}

const EXPORT_HELP: &str = "\
DIR receives esxlcm-export.json (the manifest: sources, snapshots, blobs, chunks),
SHA256SUMS (`sha256sum -c SHA256SUMS` checks the copy with standard tools) and
chunk-00001.bin, chunk-00002.bin, …: every payload the exported snapshots need,
concatenated and cut every --chunk-size bytes (copy chunks to several media if needed;
put them back in one directory to import).

Without --since, every snapshot of the sources and every file they need. With
--since N, the snapshots newer than N and only the files no snapshot up to N references:
the receiving store must have imported the export that held snapshot N. The output names
the newest snapshot exported, the --since of the next incremental export.

Examples:
  esxlcm mirror export --to /media/usb/esxlcm-full
  esxlcm mirror export --to /media/usb/esxlcm-2026-12 --since 7 --chunk-size 4095M   # FAT32";

const IMPORT_HELP: &str = "\
Checks the manifest against SHA256SUMS, each chunk's size and sha-256 (a bad chunk is
named), and each payload's sha-256, before storing it. Each snapshot is recorded only once
every file it names is stored, then the snapshot the exporting store published is
published here. An interrupted import (a killed process, a bad or missing chunk) continues
where it stopped when run again; running it twice records nothing twice.

Sources an import creates are disabled (`mirror sync` skips them: their upstream is on the
other side of the gap) and carry no tokens, headers, proxy or CA settings.

Example:
  esxlcm mirror import /media/usb/esxlcm-2026-12 && esxlcm serve --store DIR";

#[derive(Debug, Args)]
#[command(after_help = EXPORT_HELP)]
pub struct ExportArgs {
    /// Sources to export (default: every source with snapshots)
    pub names: Vec<String>,
    /// The directory to write (created; must be empty)
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
    /// Only snapshots newer than this one, and only files they add
    #[arg(long, value_name = "SNAPSHOT")]
    pub since: Option<i64>,
    /// Largest chunk file: bytes, or with K, M, G, T (binary: 4G = 4 GiB; FAT32 needs 4095M)
    #[arg(long, value_name = "SIZE", default_value = "4G")]
    pub chunk_size: String,
    /// Machine-readable output
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(after_help = IMPORT_HELP)]
pub struct ImportArgs {
    /// The export directory (esxlcm-export.json, SHA256SUMS, chunk-*.bin)
    pub dir: PathBuf,
    /// Machine-readable output
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// Short name; the source is published under /<NAME>/
    pub name: String,
    /// Online depot (index.xml, vmw-depot-index.xml or its directory) or bundle .zip URL
    /// (a local path is taken as a file: URL).
    /// Tokens in it are stored, never shown. Use --header, --proxy and --ca-file (the global
    /// network options) to store a token header, proxy and CA bundle with the source, and
    /// --client-cert/--client-key for a depot that requires a client certificate
    pub url: String,
    /// online, bundle or umds (a UMDS export: hostupdate/<vendor>/…); default: guessed
    /// from the URL (.zip is a bundle, a directory holding hostupdate/ a UMDS export)
    #[arg(long, value_name = "KIND")]
    pub kind: Option<String>,
    #[arg(long, default_value = "")]
    pub description: String,
    /// Keep VIBs for these platform versions only (repeatable: 8.0, 8.0.3)
    #[arg(long = "platform", value_name = "VERSION")]
    pub platforms: Vec<String>,
    /// Keep these vendors only, by code or name (repeatable: vmw, dell)
    #[arg(long = "vendor", value_name = "VENDOR")]
    pub vendors: Vec<String>,
    /// When VIBs are downloaded: during sync (prefetch), or when first needed (on-demand:
    /// the sync stores metadata only; `serve --store`, `mirror export` and view builds fetch
    /// and verify each VIB when they need it)
    #[arg(long, value_name = "POLICY", default_value = "prefetch")]
    pub payloads: String,
    /// Keep only what this vLCM software spec's images need, alternative images included
    /// (repeatable: the union of the images). The sync resolves each spec against the
    /// depot, stores only those VIBs and publishes a depot that declares only them; a spec
    /// that does not resolve fails the sync. The spec text is stored with the source
    #[arg(long = "only-for", value_name = "SPEC.json")]
    pub only_for: Vec<PathBuf>,
    /// Snapshots kept (the published one always stays)
    #[arg(long, value_name = "N", default_value_t = esxlcm_store::source::DEFAULT_RETENTION)]
    pub retention: u32,
    /// Add the source disabled (`mirror sync` without names skips it)
    #[arg(long)]
    pub disabled: bool,
    /// Client certificate for a depot that requires mutual TLS: a PEM file holding the
    /// certificate (and chain), and its unencrypted private key unless --client-key is given.
    /// Checked now (the key must belong to the certificate); the path is stored, the key
    /// stays in its file and is never shown
    #[arg(long, value_name = "FILE.pem")]
    pub client_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM), when not in the --client-cert file
    #[arg(long, value_name = "FILE.pem", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct JsonArgs {
    /// Machine-readable output
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct NameArgs {
    pub name: String,
}

const SYNC_HELP: &str = "\
With --due, only the enabled sources with a schedule (`esxlcm mirror schedule`) whose slot
has passed since their last sync are synced (a scheduled source that never synced is due);
run it from cron or a systemd timer as often as the most frequent schedule:
  */5 * * * *  esxlcm mirror --store /srv/esxlcm/store sync --due

Each sync writes its progress and outcome to STORE/status/<source>.json (see `mirror status`).";

#[derive(Debug, Args)]
#[command(after_help = SYNC_HELP)]
pub struct SyncArgs {
    /// Sources to sync (default: every enabled source)
    #[arg(conflicts_with = "due")]
    pub names: Vec<String>,
    /// Payload downloads at once
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub parallel: usize,
    /// Only sources whose scheduled slot has passed since their last sync
    #[arg(long)]
    pub due: bool,
    /// For tests: the time --due compares schedules with (RFC 3339), instead of the clock
    #[arg(long, hide = true, value_name = "TIME", requires = "due")]
    pub now: Option<String>,
}

const PUSH_HELP: &str = "\
Every payload of the bundle is checked against the checksum its metadata declares before
anything is published; if one fails (or declares none), the push is refused, the payload is
quarantined and the published snapshot stays. A bundle whose depot differs from the
published snapshot becomes a new snapshot (retention and rollback as for syncs); the same
bundle again records nothing new. SOURCE is created if missing, disabled (its content comes
from pushes, so `mirror sync` without names leaves it alone).

Examples:
  esxlcm mirror push drivers ./nvme-driver-1.2-offline-bundle.zip
  esxlcm mirror push drivers ./nvme-driver-1.3-offline-bundle.zip && esxlcm mirror status
  esxlcm mirror rollback drivers                       # back to the 1.2 push";

#[derive(Debug, Args)]
#[command(after_help = PUSH_HELP)]
pub struct PushArgs {
    /// The bundle source to publish into (created if missing)
    pub name: String,
    /// The offline bundle (.zip)
    pub bundle: PathBuf,
    /// Payloads verified at once
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub parallel: usize,
}

const SCHEDULE_HELP: &str = "\
Times are UTC. A source syncs at its slot when `esxlcm serve --store DIR` runs (one sync at
a time), or when `esxlcm mirror sync --due` runs after the slot (from cron or a systemd
timer). A failed run is retried at the next slot; the published snapshot stays meanwhile.

Examples:
  esxlcm mirror schedule vmw --daily 02:30
  esxlcm mirror schedule oem --weekly sun 03:00
  esxlcm mirror schedule drivers --hourly :15
  esxlcm mirror schedule archive --monthly 1 04:00
  esxlcm mirror schedule vmw --off";

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["specs", "clear"])))]
pub struct OnlyForArgs {
    pub name: String,
    /// vLCM software specs (JSON); the source keeps the union of their images' content
    #[arg(value_name = "SPEC.json")]
    pub specs: Vec<PathBuf>,
    /// Keep everything again (within the platform and vendor filters)
    #[arg(long)]
    pub clear: bool,
}

/// The text of each `--only-for` spec, checked to be a software spec.
fn read_specs(files: &[PathBuf]) -> anyhow::Result<Vec<String>> {
    files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).with_context(|| format!("reading the spec {}", f.display()))?;
            esxlcm_solver::SoftwareSpec::from_json(text.as_bytes())
                .with_context(|| format!("{} is not a software spec", f.display()))?;
            Ok(text)
        })
        .collect()
}

#[derive(Debug, Args)]
#[command(after_help = SCHEDULE_HELP)]
#[command(group(clap::ArgGroup::new("when").required(true).args(["hourly", "daily", "weekly", "monthly", "off"])))]
pub struct ScheduleArgs {
    pub name: String,
    /// Every hour at minute MM (:00–:59)
    #[arg(long, value_name = ":MM")]
    pub hourly: Option<String>,
    /// Every day at HH:MM
    #[arg(long, value_name = "HH:MM")]
    pub daily: Option<String>,
    /// Every week on DAY (mon … sun) at HH:MM
    #[arg(long, num_args = 2, value_names = ["DAY", "HH:MM"])]
    pub weekly: Option<Vec<String>>,
    /// Every month on day D (1–31; months without it are skipped) at HH:MM
    #[arg(long, num_args = 2, value_names = ["D", "HH:MM"])]
    pub monthly: Option<Vec<String>>,
    /// No schedule: the source syncs only when asked
    #[arg(long)]
    pub off: bool,
}

impl ScheduleArgs {
    /// The schedule asked for (`None` for --off).
    fn schedule(&self) -> anyhow::Result<Option<Schedule>> {
        let text = if let Some(m) = &self.hourly {
            format!("hourly {m}")
        } else if let Some(t) = &self.daily {
            format!("daily {t}")
        } else if let Some(w) = &self.weekly {
            format!("weekly {}", w.join(" "))
        } else if let Some(m) = &self.monthly {
            format!("monthly {}", m.join(" "))
        } else {
            return Ok(None);
        };
        Ok(Some(text.parse()?))
    }
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    pub name: String,
    /// The snapshot to publish (default: the newest one older than the published one)
    #[arg(long, value_name = "SNAPSHOT")]
    pub to: Option<i64>,
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

pub fn open_store(given: Option<&PathBuf>) -> anyhow::Result<Store> {
    let dir = store_dir(given);
    Store::open(&dir).with_context(|| format!("opening the store {}", dir.display()))
}

pub fn run(args: &MirrorArgs, network: &NetworkArgs) -> anyhow::Result<Status> {
    let store = open_store(args.store.as_ref())?;
    let mut out = output::stdout();
    let status = match &args.command {
        MirrorCommand::Add(a) => add(&store, a, network, &mut out)?,
        MirrorCommand::List(a) => list(&store, a.json, &mut out)?,
        MirrorCommand::Remove(a) => {
            store.remove_source(&a.name, LockWait::NONE)?;
            writeln!(out, "removed source '{}' (run `esxlcm mirror gc` to free its payloads)", a.name)?;
            Status::Success
        }
        MirrorCommand::Sync(a) => sync(&store, a, &mut out)?,
        MirrorCommand::Status(a) => status(&store, a.json, &mut out)?,
        MirrorCommand::Verify(a) => verify_store(&store, a.json, &mut out)?,
        MirrorCommand::Gc => {
            let r = store.gc(LockWait::NONE)?;
            writeln!(
                out,
                "deleted {} and {} ({} freed), kept {}",
                count(r.blobs_deleted, "unreferenced blob", "unreferenced blobs"),
                count(r.partial_removed, "partial download", "partial downloads"),
                human_size(r.bytes_freed),
                count(r.blobs_kept, "blob", "blobs")
            )?;
            Status::Success
        }
        MirrorCommand::Rollback(a) => {
            let r = store.rollback(&a.name, a.to, LockWait::NONE)?;
            let from = r.from.map_or_else(|| "nothing".to_owned(), |f| format!("snapshot {f}"));
            writeln!(out, "{}: published snapshot {} (was {from})", a.name, r.to)?;
            writeln!(
                out,
                "a later sync publishes upstream's current state again; `esxlcm mirror disable {}` holds this snapshot",
                a.name
            )?;
            // Views of the source follow the republished snapshot, as after a sync.
            if super::mirror_view::report_refreshes(&r.views, &mut out)? { Status::Findings } else { Status::Success }
        }
        MirrorCommand::Enable(a) | MirrorCommand::Disable(a) => {
            let enable = matches!(args.command, MirrorCommand::Enable(_));
            store.configure_source(&a.name, LockWait::NONE, |c| c.enabled = enable)?;
            writeln!(out, "{}: {}", a.name, if enable { "enabled" } else { "disabled" })?;
            Status::Success
        }
        MirrorCommand::OnlyFor(a) => {
            let specs = if a.clear { Vec::new() } else { read_specs(&a.specs)? };
            // The store forgets the vendor list's validators, so the next sync applies them.
            let source = store.configure_source(&a.name, LockWait::NONE, |c| c.only_for = specs)?;
            match source.config.only_for.len() {
                0 => writeln!(out, "{}: keeps everything; run `esxlcm mirror sync {}`", a.name, a.name)?,
                n => writeln!(
                    out,
                    "{}: keeps only what {} need(s); run `esxlcm mirror sync {}`",
                    a.name,
                    count(n, "spec", "specs"),
                    a.name
                )?,
            }
            Status::Success
        }
        MirrorCommand::Schedule(a) => {
            let schedule = a.schedule()?;
            let source = store.configure_source(&a.name, LockWait::NONE, |c| c.schedule = schedule)?;
            match schedule {
                None => writeln!(out, "{}: no schedule (syncs only when asked)", a.name)?,
                Some(s) => {
                    let next = schedule::next_run(&store, &source, Utc::now())?;
                    let next = next.map_or_else(|| "-".to_owned(), |n| fmt_next(n, Utc::now()));
                    writeln!(out, "{}: {s} UTC; next run {next}", a.name)?;
                    if !source.config.enabled {
                        writeln!(
                            out,
                            "{}: the source is disabled; `esxlcm mirror enable {}` to run it",
                            a.name, a.name
                        )?;
                    }
                }
            }
            Status::Success
        }
        MirrorCommand::Push(a) => push(&store, a, &mut out)?,
        MirrorCommand::Export(a) => export(&store, a, &mut out)?,
        MirrorCommand::Import(a) => import(&store, a, &mut out)?,
        MirrorCommand::View(a) => super::mirror_view::run(&store, a, &mut out)?,
    };
    out.flush()?;
    Ok(status)
}

fn add(store: &Store, a: &AddArgs, network: &NetworkArgs, out: &mut dyn Write) -> anyhow::Result<Status> {
    // A local path is taken as a file: URL (a bundle or a depot directory).
    let url = match url::Url::parse(&a.url) {
        Ok(_) => a.url.clone(),
        Err(_) if std::path::Path::new(&a.url).exists() => {
            let abs = std::path::absolute(&a.url).with_context(|| format!("resolving {}", a.url))?;
            let u = if abs.is_dir() { url::Url::from_directory_path(&abs) } else { url::Url::from_file_path(&abs) };
            u.map_err(|()| anyhow::anyhow!("{}: cannot be written as a file: URL", abs.display()))?.to_string()
        }
        Err(_) => a.url.clone(),
    };
    let mut config = SourceConfig::new(&a.name, &url)?;
    if let Some(kind) = &a.kind {
        config.kind = kind.parse()?;
    }
    config.description.clone_from(&a.description);
    config.platforms.clone_from(&a.platforms);
    config.vendors.clone_from(&a.vendors);
    config.payloads = a.payloads.parse::<PayloadPolicy>()?;
    config.only_for = read_specs(&a.only_for)?;
    config.retention = a.retention.max(1);
    config.enabled = !a.disabled;
    config.headers.clone_from(&network.headers);
    config.proxy.clone_from(&network.proxy);
    match network.ca_files.as_slice() {
        [] => {}
        [one] => {
            let abs = std::path::absolute(one).with_context(|| format!("--ca-file {}", one.display()))?;
            config.ca_file = Some(abs);
        }
        _ => bail!("a source takes one --ca-file (concatenate PEM bundles into one file)"),
    }
    if let Some(cert) = &a.client_cert {
        config.client_cert =
            Some(std::path::absolute(cert).with_context(|| format!("--client-cert {}", cert.display()))?);
    }
    if let Some(key) = &a.client_key {
        config.client_key = Some(std::path::absolute(key).with_context(|| format!("--client-key {}", key.display()))?);
    }
    config.validate()?;
    // Readable, a certificate and the key that belongs to it; the key itself is never shown.
    let client = match &config.client_cert {
        Some(cert) => Some(esxlcm_store::transport::ClientIdentity::load(cert, config.client_key.as_deref())?),
        None => None,
    };
    store.add_source(&config, LockWait::NONE)?;
    writeln!(
        out,
        "added {} source '{}' ({}); run `esxlcm mirror sync {}`",
        config.kind.as_str(),
        config.name,
        config.display_url(),
        config.name
    )?;
    if let Some(id) = client {
        writeln!(out, "{}: client certificate {} ({})", config.name, id.subject, id.cert_file.display())?;
    }
    Ok(Status::Success)
}

/// A source's client certificate for listings: its file and subject (never the key).
#[derive(Serialize)]
struct ClientCertView {
    file: String,
    /// `CN=…, O=…`, or null when the file cannot be read now (see `problem`).
    subject: Option<String>,
    problem: Option<String>,
}

impl ClientCertView {
    fn of(config: &SourceConfig) -> Option<Self> {
        let file = config.client_cert.as_ref()?;
        let (subject, problem) = match esxlcm_store::transport::client_certificate_subject(file) {
            Ok(s) => (Some(s), None),
            Err(e) => (None, Some(e.to_string())),
        };
        Some(Self { file: file.display().to_string(), subject, problem })
    }

    fn line(&self) -> String {
        match (&self.subject, &self.problem) {
            (Some(s), _) => format!("client certificate {s} ({})", self.file),
            (None, Some(p)) => p.clone(),
            (None, None) => format!("client certificate {}", self.file),
        }
    }
}

#[derive(Serialize)]
struct SourceView {
    name: String,
    kind: &'static str,
    url: String,
    description: String,
    enabled: bool,
    payloads: &'static str,
    headers: Vec<String>,
    proxy: Option<String>,
    ca_file: Option<String>,
    /// Mutual TLS: the certificate's file and subject.
    client_cert: Option<ClientCertView>,
    platforms: Vec<String>,
    vendors: Vec<String>,
    /// How many software specs the source keeps only what they need of (0: everything).
    only_for: usize,
    retention: u32,
    published_snapshot: Option<i64>,
    /// Where `esxlcm serve` serves the source to hosts (the path under the service's
    /// address; `esxlcm serve --store` serves it at `/<name>/index.xml`).
    served_at: String,
    /// `daily 02:30` (UTC), or null.
    schedule: Option<String>,
    /// RFC 3339 UTC, or null without a schedule.
    next_run: Option<String>,
}

fn list(store: &Store, json: bool, out: &mut dyn Write) -> anyhow::Result<Status> {
    let mut views = Vec::new();
    let now = Utc::now();
    for s in store.sources()? {
        let next_run = schedule::next_run(store, &s, now)?;
        let c = &s.config;
        views.push(SourceView {
            name: c.name.clone(),
            kind: c.kind.as_str(),
            url: c.display_url(),
            description: c.description.clone(),
            enabled: c.enabled,
            payloads: c.payloads.as_str(),
            headers: c.display_headers(),
            proxy: c.proxy.as_deref().map(esxlcm_net::redact::redact_url_str),
            ca_file: c.ca_file.as_ref().map(|p| p.display().to_string()),
            client_cert: ClientCertView::of(c),
            platforms: c.platforms.clone(),
            vendors: c.vendors.clone(),
            only_for: c.only_for.len(),
            retention: c.retention,
            published_snapshot: store.published_snapshot(&s)?,
            served_at: format!("{}/{}/index.xml", esxlcm_server::api::DEPOTS_PREFIX, c.name),
            schedule: c.schedule.map(|x| x.to_string()),
            next_run: next_run.map(status::rfc3339),
        });
    }
    if json {
        output::write_json(out, &serde_json::json!({ "schema": "esxlcm.mirror.list/1", "sources": views }))?;
        return Ok(Status::Success);
    }
    if views.is_empty() {
        writeln!(out, "no sources; add one with `esxlcm mirror add NAME URL`")?;
        return Ok(Status::Success);
    }
    let mut t = Table::new([
        "NAME",
        "KIND",
        "ENABLED",
        "PAYLOADS",
        "PUBLISHED",
        "SCHEDULE (UTC)",
        "NEXT RUN",
        "FILTERS",
        "URL",
    ]);
    for v in &views {
        let mut filters: Vec<String> = v.platforms.iter().map(|p| format!("platform {p}")).collect();
        filters.extend(v.vendors.iter().map(|p| format!("vendor {p}")));
        if v.only_for > 0 {
            filters.push(format!("only for {}", count(v.only_for, "spec", "specs")));
        }
        filters.extend(v.headers.iter().map(|h| format!("header {h}")));
        filters.extend(v.client_cert.iter().map(ClientCertView::line));
        t.row([
            v.name.clone(),
            v.kind.to_owned(),
            if v.enabled { "yes" } else { "no" }.to_owned(),
            v.payloads.to_owned(),
            v.published_snapshot.map_or_else(|| "-".to_owned(), |s| s.to_string()),
            v.schedule.clone().unwrap_or_else(|| "-".to_owned()),
            v.next_run
                .as_deref()
                .and_then(|n| chrono::DateTime::parse_from_rfc3339(n).ok())
                .map_or_else(|| "-".to_owned(), |n| fmt_next(n.with_timezone(&Utc), now)),
            if filters.is_empty() { "-".to_owned() } else { filters.join(", ") },
            v.url.clone(),
        ]);
    }
    t.write(out, "")?;
    Ok(Status::Success)
}

/// The progress bar on a terminal: bytes of payloads downloaded.
struct Bar {
    bar: ProgressBar,
    label: String,
}

impl Bar {
    fn new(label: &str) -> Self {
        let target =
            if std::io::stderr().is_terminal() { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
        let bar = ProgressBar::with_draw_target(None, target);
        let style = ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_message(format!("{label}: metadata"));
        Self { bar, label: label.to_owned() }
    }
}

impl Progress for Bar {
    fn event(&self, event: &SyncEvent<'_>) {
        match event {
            SyncEvent::Planned { files, bytes } => {
                self.bar.set_length(*bytes);
                self.bar.set_message(format!("{}: {}", self.label, count(*files, "payload", "payloads")));
            }
            SyncEvent::Bytes(n) => self.bar.inc(*n),
            SyncEvent::Rejected { name, reason } => self.bar.println(format!("rejected {name}: {reason}")),
            SyncEvent::Stage(_) | SyncEvent::FileDone { .. } => {}
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

fn sync(store: &Store, a: &SyncArgs, out: &mut dyn Write) -> anyhow::Result<Status> {
    let selection = if a.due {
        let now = match &a.now {
            Some(t) => chrono::DateTime::parse_from_rfc3339(t)
                .with_context(|| format!("--now {t}: not an RFC 3339 time (2026-11-23T02:30:00Z)"))?
                .with_timezone(&Utc),
            None => Utc::now(),
        };
        if schedule::due_sources(store, now)?.is_empty() {
            let next = store
                .sources()?
                .iter()
                .filter_map(|s| schedule::next_run(store, s, now).ok().flatten().map(|n| (n, s.config.name.clone())))
                .min();
            match next {
                Some((at, name)) => writeln!(out, "no source is due; next: {name} at {}", fmt_next(at, now))?,
                None => {
                    writeln!(out, "no source is due (no enabled source has a schedule; see `esxlcm mirror schedule`)")?
                }
            }
            return Ok(Status::Success);
        }
        Selection::Due(now)
    } else if a.names.is_empty() {
        if !store.sources()?.iter().any(|s| s.config.enabled) {
            writeln!(out, "no enabled sources to sync")?;
            return Ok(Status::Success);
        }
        Selection::Enabled
    } else {
        Selection::Named(a.names.clone())
    };
    let options = SyncOptions { parallel: a.parallel.max(1) };
    let batch = store.sync(&selection, &options, LockWait::NONE, &|name| Box::new(Bar::new(name)))?;
    let mut status = Status::Success;
    for run in &batch.runs {
        match &run.result {
            Ok(r) => {
                if print_report(r, out)? == Status::Findings {
                    status = Status::Findings;
                }
            }
            Err(e) => {
                tracing::error!("{e}");
                writeln!(out, "{}: FAILED: {e}", run.source)?;
            }
        }
    }
    // Views of these sources follow what was just published (a view that fails keeps its build).
    if super::mirror_view::report_refreshes(&batch.views, out)? {
        status = Status::Findings;
    }
    let failed = batch.failed();
    if !failed.is_empty() {
        out.flush()?;
        bail!("sync failed for {}: {}", count(failed.len(), "source", "sources"), failed.join(", "));
    }
    Ok(status)
}

/// One source's sync (or push) as lines of text; `Findings` when payloads were rejected.
fn print_report(r: &esxlcm_store::sync::SyncReport, out: &mut dyn Write) -> anyhow::Result<Status> {
    let name = &r.source;
    let mut status = Status::Success;
    {
        let mut fetched = format!(
            "fetched {} ({}), {} not modified, {} already stored",
            count(r.files_fetched, "file", "files"),
            human_size(r.bytes_fetched),
            r.not_modified,
            r.reused
        );
        if r.deferred > 0 {
            fetched.push_str(&format!(", {} left upstream until first needed (on-demand)", r.deferred));
        }
        match r.outcome {
            Outcome::Published => writeln!(
                out,
                "{name}: published snapshot {} ({}; {fetched})",
                r.snapshot.unwrap_or_default(),
                count(r.files, "file", "files")
            )?,
            Outcome::Unchanged => writeln!(
                out,
                "{name}: unchanged, snapshot {} stays published ({fetched})",
                r.snapshot.map_or_else(|| "-".to_owned(), |s| s.to_string())
            )?,
            Outcome::Rejected => {
                status = Status::Findings;
                let kept = r
                    .snapshot
                    .map_or_else(|| "nothing is published".to_owned(), |s| format!("snapshot {s} stays published"));
                writeln!(
                    out,
                    "{name}: {} rejected, {kept} ({fetched})",
                    count(r.rejected.len(), "payload", "payloads")
                )?;
                for rej in &r.rejected {
                    writeln!(
                        out,
                        "  rejected {} ({}): {}; quarantined as {}",
                        rej.name,
                        rej.path,
                        rej.reason,
                        rej.quarantine_file.display()
                    )?;
                }
            }
        }
        if !r.expired.is_empty() {
            let ids: Vec<String> = r.expired.iter().map(ToString::to_string).collect();
            writeln!(out, "{name}: retention removed snapshot(s) {}", ids.join(", "))?;
        }
    }
    Ok(status)
}

fn push(store: &Store, a: &PushArgs, out: &mut dyn Write) -> anyhow::Result<Status> {
    let options = SyncOptions { parallel: a.parallel.max(1) };
    let bar = Bar::new(&a.name);
    let pushed = store
        .push(&a.name, &a.bundle, &options, LockWait::NONE, &bar)
        .with_context(|| format!("pushing {} into '{}'", a.bundle.display(), a.name))?;
    drop(bar);
    let status = report_push(&pushed, out)?;
    if pushed.report.outcome == Outcome::Rejected {
        out.flush()?;
        bail!(
            "push refused: {} failed verification; nothing new is published",
            count(pushed.report.rejected.len(), "payload", "payloads")
        );
    }
    Ok(status)
}

/// A push's report and its views' lines; `Findings` when payloads were rejected or a view
/// failed to build.
pub(crate) fn report_push(pushed: &Pushed, out: &mut dyn Write) -> anyhow::Result<Status> {
    let mut status = print_report(&pushed.report, out)?;
    if super::mirror_view::report_refreshes(&pushed.views, out)? {
        status = Status::Findings;
    }
    Ok(status)
}

fn export(store: &Store, a: &ExportArgs, out: &mut dyn Write) -> anyhow::Result<Status> {
    let Some(chunk_size) = carry::parse_size(&a.chunk_size) else {
        bail!("--chunk-size {}: give bytes or a size such as 700M, 4G, 4095M", a.chunk_size);
    };
    let options = carry::ExportOptions { since: a.since, chunk_size, sources: a.names.clone(), sign: None };
    let r = store.export(&a.to, &options, LockWait::NONE)?;
    if a.json {
        let snapshots: Vec<_> =
            r.snapshots.iter().map(|(s, id)| serde_json::json!({ "source": s, "snapshot": id })).collect();
        output::write_json(
            out,
            &serde_json::json!({
                "schema": "esxlcm.mirror.export-report/1",
                "dir": a.to.display().to_string(),
                "since": r.since,
                "upto": r.upto,
                "snapshots": snapshots,
                "blobs": r.blobs,
                "bytes": r.bytes,
                "chunks": r.chunks,
            }),
        )?;
        return Ok(Status::Success);
    }
    let mut by_source: Vec<(String, Vec<String>)> = Vec::new();
    for (s, id) in &r.snapshots {
        match by_source.iter_mut().find(|(n, _)| n == s) {
            Some((_, ids)) => ids.push(id.to_string()),
            None => by_source.push((s.clone(), vec![id.to_string()])),
        }
    }
    for (s, ids) in &by_source {
        writeln!(out, "{s}: snapshot(s) {}", ids.join(", "))?;
    }
    writeln!(
        out,
        "exported {} ({}) in {} to {}{}",
        count(r.blobs, "file", "files"),
        human_size(r.bytes),
        count(r.chunks, "chunk", "chunks"),
        a.to.display(),
        r.since.map_or_else(String::new, |n| format!(" (new since snapshot {n})"))
    )?;
    if let Some(upto) = r.upto {
        writeln!(out, "next incremental export: esxlcm mirror export --since {upto} --to DIR")?;
    }
    Ok(Status::Success)
}

fn import(store: &Store, a: &ImportArgs, out: &mut dyn Write) -> anyhow::Result<Status> {
    let imported = store.import(&a.dir, None, LockWait::NONE)?;
    let r = &imported.report;
    if a.json {
        let created: Vec<_> = r
            .snapshots_created
            .iter()
            .map(|(s, o, l)| serde_json::json!({ "source": s, "origin_snapshot": o, "snapshot": l }))
            .collect();
        let published: Vec<_> =
            r.published.iter().map(|(s, l)| serde_json::json!({ "source": s, "snapshot": l })).collect();
        // The views' report lines go into the document (`all: published build 2 (…)`).
        let mut lines = Vec::new();
        let status = views_status(super::mirror_view::report_refreshes(&imported.views, &mut lines)?);
        let views: Vec<String> = String::from_utf8_lossy(&lines).lines().map(str::to_owned).collect();
        output::write_json(
            out,
            &serde_json::json!({
                "schema": "esxlcm.mirror.import-report/1",
                "blobs_in_export": r.blobs_in_export,
                "blobs_written": r.blobs_written,
                "bytes_written": r.bytes_written,
                "blobs_present": r.blobs_present,
                "chunks_read": r.chunks_read,
                "chunks_skipped": r.chunks_skipped,
                "snapshots_created": created,
                "snapshots_existing": r.snapshots_existing,
                "published": published,
                "expired": r.expired,
                "views": views,
            }),
        )?;
        return Ok(status);
    }
    writeln!(
        out,
        "stored {} ({}) from {}; {} of {} already in the store{}",
        count(r.blobs_written, "file", "files"),
        human_size(r.bytes_written),
        count(r.chunks_read, "chunk", "chunks"),
        r.blobs_present,
        r.blobs_in_export,
        if r.chunks_skipped > 0 { format!(" ({} chunk(s) not needed)", r.chunks_skipped) } else { String::new() }
    )?;
    for (s, o, l) in &r.snapshots_created {
        writeln!(out, "{s}: recorded snapshot {l} (snapshot {o} of the exporting store)")?;
    }
    if r.snapshots_existing > 0 {
        writeln!(out, "{} snapshot(s) were imported before", r.snapshots_existing)?;
    }
    for (s, l) in &r.published {
        writeln!(out, "{s}: published snapshot {l}")?;
    }
    if r.snapshots_created.is_empty() && r.published.is_empty() {
        writeln!(out, "nothing new: this export was imported already")?;
    }
    // Views of the sources the import published followed, as after a sync.
    Ok(views_status(super::mirror_view::report_refreshes(&imported.views, out)?))
}

/// `Findings` when a view failed to build (it keeps its previous build).
fn views_status(failed: bool) -> Status {
    if failed { Status::Findings } else { Status::Success }
}

/// A next-run time for people: `2026-11-24 02:30:00Z`, or `now (due since …)` when passed.
fn fmt_next(at: chrono::DateTime<Utc>, now: chrono::DateTime<Utc>) -> String {
    let shown = at.format("%Y-%m-%d %H:%M:%SZ").to_string();
    if at <= now { format!("now (due since {shown})") } else { shown }
}

fn fmt_time(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default().format("%Y-%m-%d %H:%M:%SZ").to_string()
}

#[derive(Serialize)]
struct SnapshotView {
    id: i64,
    created_at: String,
    files: u64,
    bytes: u64,
    published: bool,
}

#[derive(Serialize)]
struct StatusView {
    name: String,
    published_snapshot: Option<i64>,
    snapshots: Vec<SnapshotView>,
    last_run: Option<serde_json::Value>,
    quarantined: usize,
    schedule: Option<String>,
    /// RFC 3339 UTC, or null without a schedule.
    next_run: Option<String>,
    /// The latest sync's status document (`STORE/status/<source>.json`), live while it runs.
    sync: Option<status::SyncStatus>,
    /// Mutual TLS: the certificate's file and subject.
    client_cert: Option<ClientCertView>,
}

fn status(store: &Store, json: bool, out: &mut dyn Write) -> anyhow::Result<Status> {
    store.settle_interrupted_syncs()?;
    let quarantine = store.meta.quarantined()?;
    let mut views = Vec::new();
    let now = Utc::now();
    for s in store.sources()? {
        let published = store.meta.published(s.id)?;
        let snapshots = store
            .meta
            .snapshots(s.id)?
            .into_iter()
            .map(|x| SnapshotView {
                id: x.id,
                created_at: fmt_time(x.created_at),
                files: x.files,
                bytes: x.bytes,
                published: Some(x.id) == published,
            })
            .collect();
        let last_run = store.meta.last_run(s.id)?.map(|r| {
            serde_json::json!({
                "finished_at": fmt_time(r.finished_at),
                "outcome": r.outcome,
                "snapshot": r.snapshot_id,
                "files_fetched": r.files_fetched,
                "bytes_fetched": r.bytes_fetched,
                "message": r.message,
            })
        });
        let quarantined = quarantine.iter().filter(|q| q.source == s.config.name).count();
        views.push(StatusView {
            name: s.config.name.clone(),
            published_snapshot: published,
            snapshots,
            last_run,
            quarantined,
            schedule: s.config.schedule.map(|x| x.to_string()),
            next_run: schedule::next_run(store, &s, now)?.map(status::rfc3339),
            sync: status::read(store.root(), &s.config.name),
            client_cert: ClientCertView::of(&s.config),
        });
    }
    if json {
        output::write_json(out, &serde_json::json!({ "schema": "esxlcm.mirror.status/1", "sources": views }))?;
        return Ok(Status::Success);
    }
    if views.is_empty() {
        writeln!(out, "no sources")?;
    }
    for v in &views {
        writeln!(out, "{}:", v.name)?;
        let mut t = Table::new(["SNAPSHOT", "CREATED", "FILES", "SIZE", ""]);
        for s in &v.snapshots {
            t.row([
                s.id.to_string(),
                s.created_at.clone(),
                s.files.to_string(),
                human_size(s.bytes),
                if s.published { "published".into() } else { String::new() },
            ]);
        }
        if t.is_empty() {
            writeln!(out, "  no snapshots yet")?;
        } else {
            t.write(out, "  ")?;
        }
        if let Some(sched) = &v.schedule {
            let next = v
                .next_run
                .as_deref()
                .and_then(|n| chrono::DateTime::parse_from_rfc3339(n).ok())
                .map_or_else(|| "- (source disabled)".to_owned(), |n| fmt_next(n.with_timezone(&Utc), now));
            writeln!(out, "  schedule: {sched} UTC; next run {next}")?;
        }
        if let Some(sync) = v.sync.as_ref().filter(|x| x.state == SyncState::Running) {
            writeln!(out, "  {}", running_line(sync, now))?;
        }
        if let Some(r) = &v.last_run {
            let outcome = r["outcome"].as_str().unwrap_or_default();
            let when = r["finished_at"].as_str().unwrap_or_default();
            let msg = r["message"].as_str().unwrap_or_default();
            if msg.is_empty() {
                writeln!(out, "  last sync: {outcome} at {when}")?;
            } else {
                writeln!(out, "  last sync: {outcome} at {when}: {msg}")?;
            }
        }
        if v.quarantined > 0 {
            writeln!(out, "  quarantined payloads: {}", v.quarantined)?;
        }
        if let Some(c) = &v.client_cert {
            writeln!(out, "  {}", c.line())?;
        }
    }
    for q in &quarantine {
        writeln!(out, "quarantined: {} from '{}' ({}): {} -> {}", q.name, q.source, q.path, q.reason, q.file)?;
    }
    Ok(Status::Success)
}

/// A running sync's progress: `syncing (payloads): 12/40 files, 1.2 MiB of 3.4 MiB, since …`.
fn running_line(sync: &status::SyncStatus, now: chrono::DateTime<Utc>) -> String {
    let mut line = format!(
        "syncing ({}): {}/{} files, {} of {}, started {}",
        sync.phase,
        sync.files_done,
        sync.files_total,
        human_size(sync.bytes_done),
        human_size(sync.bytes_total),
        sync.started
    );
    // A process that died mid-sync leaves `running` behind until the next sync.
    let updated = chrono::DateTime::parse_from_rfc3339(&sync.updated).map(|u| u.with_timezone(&Utc));
    if updated.is_ok_and(|u| now - u > chrono::Duration::minutes(5)) {
        line.push_str(&format!("; no progress since {} (stalled, or the sync was interrupted)", sync.updated));
    }
    line
}

fn verify_store(store: &Store, json: bool, out: &mut dyn Write) -> anyhow::Result<Status> {
    let r = store.verify(LockWait::NONE)?;
    if json {
        output::write_json(
            out,
            &serde_json::json!({
                "schema": "esxlcm.mirror.verify/1",
                "clean": r.is_clean(),
                "blobs_checked": r.blobs_checked,
                "snapshots_checked": r.snapshots_checked,
                "views_checked": r.views_checked,
                "unreferenced_blobs": r.unreferenced_blobs,
                "partial_downloads": r.partial_downloads,
                "not_fetched": r.not_fetched,
                "problems": r.problems,
            }),
        )?;
    } else {
        for p in &r.problems {
            writeln!(out, "problem: {p}")?;
        }
        writeln!(
            out,
            "{}: {}, {} and {} checked; {} unreferenced (mirror gc), {} partial download(s) kept for resume",
            if r.is_clean() { "clean" } else { "PROBLEMS FOUND" },
            count(r.blobs_checked, "blob", "blobs"),
            count(r.snapshots_checked, "snapshot", "snapshots"),
            count(r.views_checked, "view", "views"),
            r.unreferenced_blobs,
            r.partial_downloads
        )?;
        if r.not_fetched > 0 {
            writeln!(
                out,
                "{} of on-demand sources not fetched yet (fetched when first requested; not a problem)",
                count(r.not_fetched, "payload", "payloads")
            )?;
        }
    }
    Ok(if r.is_clean() { Status::Success } else { Status::Findings })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_dates() {
        assert_eq!(fmt_time(0), "1970-01-01 00:00:00Z");
        assert_eq!(fmt_time(1_763_900_000), "2025-11-23 12:13:20Z");
        assert_eq!(fmt_time(951_782_400), "2000-02-29 00:00:00Z");
    }

    #[test]
    fn a_running_sync_shows_its_progress_and_when_it_went_quiet() {
        let t = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let sync = status::SyncStatus {
            source: "vmw".into(),
            state: SyncState::Running,
            started: "2026-11-23T02:30:00Z".into(),
            updated: "2026-11-23T02:31:00Z".into(),
            phase: "payloads".into(),
            files_done: 12,
            files_total: 40,
            bytes_done: 2048,
            bytes_total: 4096,
            message: String::new(),
            next_run: None,
        };
        let line = running_line(&sync, t("2026-11-23T02:31:30Z"));
        assert_eq!(line, "syncing (payloads): 12/40 files, 2.0 KiB of 4.0 KiB, started 2026-11-23T02:30:00Z");
        let quiet = running_line(&sync, t("2026-11-23T02:40:00Z"));
        assert!(
            quiet.ends_with("no progress since 2026-11-23T02:31:00Z (stalled, or the sync was interrupted)"),
            "{quiet}"
        );
    }

    #[test]
    fn next_runs_in_the_past_read_as_due() {
        let t = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(fmt_next(t("2026-11-24T02:30:00Z"), t("2026-11-23T10:00:00Z")), "2026-11-24 02:30:00Z");
        assert_eq!(
            fmt_next(t("2026-11-23T02:30:00Z"), t("2026-11-23T10:00:00Z")),
            "now (due since 2026-11-23 02:30:00Z)"
        );
    }

    #[test]
    fn store_dir_prefers_the_flag() {
        assert_eq!(store_dir(Some(&PathBuf::from("/x"))), PathBuf::from("/x"));
    }
}
