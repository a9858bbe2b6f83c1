//! The command line: `esxlcm [GLOBAL OPTIONS] <COMMAND> …`.
//!
//! Each subcommand's arguments live in its module under [`crate::cmd`]; this file only
//! assembles them. To add `depot <x>`: write `cmd/<x>.rs` with `XArgs` and `run`, declare
//! it in `cmd/mod.rs`, add a variant to [`DepotCommand`] and a line to `main.rs`'s dispatch.

use clap::{ArgAction, Parser, Subcommand};

use crate::cmd::audit::AuditArgs;
use crate::cmd::check::CheckArgs;
use crate::cmd::common::NetworkArgs;
use crate::cmd::completions::{CompletionsArgs, ManArgs};
use crate::cmd::export::ExportArgs;
use crate::cmd::generate::GenerateArgs;
use crate::cmd::host::HostCommand;
use crate::cmd::image::{ComplianceArgs, ResolveArgs};
use crate::cmd::image_build::BuildArgs;
use crate::cmd::image_inspect::InspectIsoArgs;
use crate::cmd::inspect::InspectArgs;
use crate::cmd::mirror::MirrorArgs;
use crate::cmd::serve::ServeArgs;
use crate::cmd::store::StoreArgs;
use crate::cmd::users::UsersArgs;
use crate::output::{ColorWhen, LogFormat};

const ABOUT: &str = "Open ESXi lifecycle tooling: depots, images, mirrors and a vLCM-compatible API";

const LONG_ABOUT: &str = "\
Open ESXi lifecycle tooling: depots, images, mirrors and a vLCM-compatible API.

An ESXi depot is what `esxcli software`, Image Builder and vLCM consume: a tree of index
files (index.xml → vendor-index.xml → metadata.zip) and VIB packages, either served over
HTTP (an online depot) or packed into one ZIP (an offline bundle). esxlcm reads, checks and
writes depots (`depot`), resolves vLCM software specs into images and builds them as
installer ISOs or bundles (`image`), mirrors vendor depots into verified snapshots for
air-gapped sites (`mirror`), and serves depots, mirrors and the vSphere Automation
`esx/settings` API (`serve`).";

const AFTER_HELP: &str = "\
Examples:
  Show what an offline bundle holds:
    esxlcm depot inspect ESXi80U3-VMKUSB-NIC-FLING-75399077-component-24052746.zip
  Verify a bundle before publishing it (files, checksums, signatures, metadata):
    esxlcm depot check my-driver-offline-bundle.zip
  Merge several sources and list their VIBs:
    esxlcm depot inspect a.zip b.zip https://depot.example.com/vmw-depot-index.xml --vibs
  Serve a demo depot on http://127.0.0.1:8080/index.xml:
    esxlcm serve
  Serve an unpacked depot to ESXi hosts on the network:
    esxlcm serve --dir /srv/depot --listen 0.0.0.0:8080
  Resolve a vLCM software spec and build its installer ISO and offline bundle:
    esxlcm image resolve --spec spec.json --depot ESXi-8.0U3-depot.zip
    esxlcm image build --spec spec.json --depot ESXi-8.0U3-depot.zip --bundle site.zip \
        --iso site.iso --bootloader-iso VMware-VMvisor-Installer-8.0U3.x86_64.iso
  Mirror a vendor depot and serve the mirror:
    esxlcm mirror add vmw https://dl.example.com/<token>/PROD/COMP/ESX_HOST/main/vmw-depot-index.xml
    esxlcm mirror sync && esxlcm serve --store ~/.local/share/esxlcm/store
  Run the vLCM-compatible API (HTTPS; the official SDK, curl, PowerCLI):
    ESXLCM_ADMIN_USER=admin ESXLCM_ADMIN_PASSWORD=... esxlcm serve --api --data-dir /var/lib/esxlcm
  Collect hosts' installed state over SSH and check them against an image:
    esxlcm host collect --inventory hosts.txt --jobs 8 --out states/
    esxlcm image compliance --spec spec.json --depot depot.zip --host-state states/*.json
  Add a read-only user to the service and see who changed what:
    esxlcm users add viewer --role read-only --data-dir /var/lib/esxlcm
    esxlcm audit --data-dir /var/lib/esxlcm --since 2025-06-01T00:00:00Z

Exit status:
  0  success
  1  the command ran, and found problems in the content (a malformed depot, conflicts)
  2  usage errors, missing files, I/O or network errors

Logging goes to stderr: -v (info), -vv (debug), -vvv (trace), or RUST_LOG=<filter>;
--log-format json for one JSON object per line. Colour follows --color (auto: on a terminal
unless NO_COLOR is set). Progress bars show on a terminal only; -q and --no-progress hide them.

Shell completions and man pages: `esxlcm completions bash|zsh|fish|powershell|elvish`,
`esxlcm man --out DIR`.";

#[derive(Debug, Parser)]
#[command(name = "esxlcm", version, about = ABOUT, long_about = LONG_ABOUT, after_help = AFTER_HELP)]
#[command(propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// More log output on stderr: -v info, -vv debug, -vvv trace (RUST_LOG overrides)
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Only errors on stderr (no progress bars)
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Colour in logs on stderr: auto (on a terminal, unless NO_COLOR is set), always, never
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorWhen::Auto, global = true)]
    pub color: ColorWhen,

    /// Log lines on stderr as text or as JSON objects (one per line)
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,

    /// No progress bars (they are drawn only when stderr is a terminal)
    #[arg(long, global = true)]
    pub no_progress: bool,

    #[command(flatten)]
    pub network: NetworkArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read and check depots: offline bundles, VIBs, depot directories and online depots
    #[command(subcommand)]
    Depot(DepotCommand),
    /// Build images from vLCM software specs: resolve, validate, build ISOs and bundles, inspect ISOs
    #[command(subcommand)]
    Image(ImageCommand),
    /// Serve a depot or a mirror store to ESXi hosts, or the vLCM-compatible API (--api)
    Serve(ServeArgs),
    /// Mirror online depots and bundles into a local store of snapshots (UMDS's job)
    Mirror(MirrorArgs),
    /// Move a single-node store into PostgreSQL and object storage for several replicas
    Store(StoreArgs),
    /// Get ESXi hosts' installed state from the hosts: over SSH (collect) or an on-host agent
    #[command(subcommand)]
    Host(HostCommand),
    /// Manage the service's users: add, list, passwd, remove, role
    Users(UsersArgs),
    /// Show the service's audit log: logins and every call that changed state
    Audit(AuditArgs),
    /// Print a shell completion script: bash, zsh, fish, powershell or elvish
    Completions(CompletionsArgs),
    /// Write man pages: esxlcm.1 and one page per subcommand into a directory, or esxlcm.1 to stdout
    Man(ManArgs),
}

#[derive(Debug, Subcommand)]
pub enum DepotCommand {
    /// Show what depots hold: vendors, platforms, base images, add-ons, components, VIBs
    Inspect(InspectArgs),
    /// Verify a depot before publishing: VIB files against metadata, signatures, metadata lint
    Check(CheckArgs),
    /// Write all or part of depots as one offline bundle or online depot tree
    Export(ExportArgs),
    /// Write a realistic synthetic depot (seeded, deterministic) for tests and demos
    Generate(GenerateArgs),
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Show a software spec's effective image and validate it (dependencies, conflicts, add-on support)
    Resolve(ResolveArgs),
    /// Compare hosts' installed software with a spec's image: status, changes, impact
    Compliance(ComplianceArgs),
    /// Build a spec's image as an installer ISO, an offline bundle and/or spec JSON
    Build(Box<BuildArgs>),
    /// Show what an ESXi installer ISO holds: boot entries, BOOT.CFG, image database, files
    Inspect(InspectIsoArgs),
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn network_options_go_anywhere() {
        let cli =
            Cli::try_parse_from(["esxlcm", "depot", "inspect", "x.zip", "--ca-file", "ca.pem", "--json"]).unwrap();
        assert_eq!(cli.network.ca_files, [PathBuf::from("ca.pem")]);
        let cli = Cli::try_parse_from(["esxlcm", "--proxy", "http://p:3128", "depot", "inspect", "x.zip"]).unwrap();
        assert_eq!(cli.network.proxy.as_deref(), Some("http://p:3128"));
    }
}
