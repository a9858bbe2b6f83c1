//! `esxlcm serve`: the whole service (the vLCM-compatible API and every depot of the
//! service's store, on one HTTPS listener), or a light mode: one depot directory
//! (`--dir`) or a mirror store read-only (`--store`). This module parses arguments and
//! prints where to point clients; serving is `esxlcm_server::service` and
//! `esxlcm_server::api`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::Args;
use esxlcm_server::https::Https;
use esxlcm_server::service::{self, Bound, StoreBanner};
use esxlcm_server::store_http::{PushConfig, PushToken};

use super::common::BackendArgs;
use super::{Context, Status};
use crate::output::human_size;

const AFTER_HELP: &str = "\
Plain `esxlcm serve` runs the whole service from DATA_DIR: the vLCM-compatible API over HTTPS
(vAPI JSON-RPC and REST under /api, the official vSphere SDK, curl, PowerCLI), and every depot of
the service's store (DATA_DIR/store: what the API and `esxlcm mirror --store DATA_DIR/store` add)
served to hosts at /depots/SOURCE/index.xml. A new DATA_DIR gets a synthetic demo depot (source
`demo`; --no-demo leaves it out). The first administrator comes from ESXLCM_ADMIN_USER and
ESXLCM_ADMIN_PASSWORD on the first start. The first line on stdout is always
`listening on SCHEME://ADDRESS/`.

Point ESXi or esxlcm at a depot:
  esxcli software sources vib list -d http://HOST:8080/depots/demo/index.xml   (with --hosts-listen)
  esxlcm depot inspect https://HOST:8443/depots/demo/index.xml --ca-file DATA_DIR/tls/ca.pem

Examples:
  ESXLCM_ADMIN_USER=admin ESXLCM_ADMIN_PASSWORD='change me' esxlcm serve     # https://127.0.0.1:8443/
  esxlcm serve --data-dir /var/lib/esxlcm --listen 0.0.0.0:8443 --hosts-listen 0.0.0.0:8080
  esxlcm serve --dir ./my-depot --listen 0.0.0.0:8080              # one depot directory, stateless
  esxlcm serve --store STORE    # then: http://HOST:8080/vmw/@3/index.xml, /views/branch/index.xml, /-/status
  esxlcm serve --store STORE --https --push-token-file token   # then: curl --fail -T b.zip \\
      -H \"Authorization: Bearer $(cat token)\" https://HOST:8080/-/push/oem
  esxlcm serve --dir ./my-depot --tls-cert depot.pem --tls-key depot.key

Stop with Ctrl-C (or SIGTERM): requests in flight are finished first.";

/// The service's HTTPS port; the light modes' plain HTTP one.
const SERVICE_LISTEN: &str = "127.0.0.1:8443";
const LIGHT_LISTEN: &str = "127.0.0.1:8080";

#[derive(Debug, Clone, Args)]
#[command(after_help = AFTER_HELP)]
pub struct ServeArgs {
    /// Light mode: serve this unpacked depot directory (index.xml at its root), stateless
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// Light mode: serve a mirror store (`esxlcm mirror`), read-only: each source's published
    /// snapshot at /SOURCE/index.xml, any snapshot at /SOURCE/@ID/index.xml, views at
    /// /views/NAME/index.xml, sync status at /-/status; scheduled syncs (`esxlcm mirror
    /// schedule`) run in the background, one at a time
    #[arg(long, value_name = "STORE_DIR", conflicts_with = "dir")]
    pub store: Option<PathBuf>,

    /// With --store: take offline bundles at PUT /-/push/SOURCE (published as `esxlcm mirror
    /// push` does), from clients that send `Authorization: Bearer TOKEN`, TOKEN being the one
    /// line of this file; use with --https off a trusted network
    #[arg(long, value_name = "FILE", requires = "store")]
    pub push_token_file: Option<PathBuf>,

    /// The largest bundle PUT /-/push takes (bytes, or 700M, 4G, …)
    #[arg(long, value_name = "SIZE", default_value = "16G", requires = "push_token_file")]
    pub push_max_size: String,

    /// Address and port to listen on (0.0.0.0 for every interface, port 0 for any free port);
    /// default 127.0.0.1:8443 for the service, 127.0.0.1:8080 for --dir and --store
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<String>,

    /// The service: also serve the depots (/depots/SOURCE/index.xml) over plain HTTP on this
    /// address, for ESXi hosts that cannot use the service's HTTPS certificate
    #[arg(long, value_name = "ADDR:PORT", conflicts_with_all = ["dir", "store"])]
    pub hosts_listen: Option<String>,

    /// The service: do not add the demo depot to a new data directory
    #[arg(long, conflicts_with_all = ["dir", "store"])]
    pub no_demo: bool,

    /// The service (the default; kept for scripts written for earlier versions)
    #[arg(long, hide = true, conflicts_with_all = ["dir", "store"])]
    pub api: bool,

    /// Light modes: serve over HTTPS, with --tls-cert and --tls-key, else with a certificate
    /// made on first start in DATA_DIR/tls (clients trust DATA_DIR/tls/ca.pem). The service
    /// is always HTTPS (its certificate: DATA_DIR/tls, or `tls` in DATA_DIR/config.json)
    #[arg(long)]
    pub https: bool,

    /// PEM certificate chain for HTTPS (implies --https; needs --tls-key)
    #[arg(long, value_name = "CERT.pem", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of --tls-cert
    #[arg(long, value_name = "KEY.pem", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Where the service keeps its data: the store (DATA_DIR/store), users and settings
    /// (config.json), TLS files (tls/), uploads and exports
    #[arg(long, value_name = "DATA_DIR", default_value = "esxlcm-data", env = "ESXLCM_DATA_DIR")]
    pub data_dir: PathBuf,

    /// The service and --store: the store in PostgreSQL and object storage, shared by any
    /// number of replicas (DATA_DIR then holds only this node's TLS files, users and cache)
    #[command(flatten)]
    pub backends: BackendArgs,
}

pub fn run(args: &ServeArgs, _ctx: &Context) -> anyhow::Result<Status> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    if let Some(dir) = &args.dir {
        check_depot_dir(dir)?;
        let https = https_of(args)?;
        let listen = args.listen.as_deref().unwrap_or(LIGHT_LISTEN);
        runtime.block_on(service::serve_dir(dir, listen, https, |bound| print_dir_banner(dir, bound)))?;
        return Ok(Status::Success);
    }
    if let Some(store) = &args.store {
        let https = https_of(args)?;
        let push = push_of(args, store)?;
        let listen = args.listen.as_deref().unwrap_or(LIGHT_LISTEN);
        let location = args.backends.location(store)?;
        runtime.block_on(service::serve_store(&location, listen, https, push, |bound, banner| {
            print_store_banner(store, bound, banner);
        }))?;
        return Ok(Status::Success);
    }
    if args.https || args.tls_cert.is_some() {
        bail!(
            "--https, --tls-cert and --tls-key are for --dir and --store; the service is always HTTPS \
             (its certificate is made in DATA_DIR/tls, or set `tls` in DATA_DIR/config.json)"
        );
    }
    serve_service(args, &runtime)
}

/// The whole service: the API and the store's depots, until Ctrl-C/SIGTERM.
fn serve_service(args: &ServeArgs, runtime: &tokio::runtime::Runtime) -> anyhow::Result<Status> {
    let listen = resolve(args.listen.as_deref().unwrap_or(SERVICE_LISTEN), "--listen")?;
    let hosts_listen = args.hosts_listen.as_deref().map(|h| resolve(h, "--hosts-listen")).transpose()?;
    let data_dir = &args.data_dir;
    std::fs::create_dir_all(data_dir).with_context(|| format!("creating the data directory {}", data_dir.display()))?;
    let location = args.backends.location(&esxlcm_server::api::store_dir(data_dir))?;
    // A single-node store the service never ran on gets the demo; a cluster store is never
    // seeded (replicas start together, and a shared store is an estate's, not a trial's).
    let demo = !args.no_demo
        && location.is_local()
        && service::seed_demo(&location, crate::demo::DEMO_SEED).context("adding the demo depot")?;
    let config = esxlcm_server::api::ApiConfig {
        data_dir: data_dir.clone(),
        listen,
        initial_admin: esxlcm_server::api::users::InitialAdmin::from_env(),
        hosts_listen,
        database: location.database.clone(),
        blobs: location.blobs.clone(),
    };
    runtime
        .block_on(esxlcm_server::api::serve_until(config, esxlcm_server::depot_http::shutdown_signal(), |server| {
            if let Err(e) = print_service_banner(data_dir, server, demo) {
                tracing::warn!("cannot write to stdout: {e}");
            }
        }))
        .context("serving")?;
    Ok(Status::Success)
}

fn resolve(listen: &str, flag: &str) -> anyhow::Result<std::net::SocketAddr> {
    use std::net::ToSocketAddrs as _;
    listen
        .to_socket_addrs()
        .with_context(|| format!("{flag} {listen}: not an address and port (such as 127.0.0.1:8443)"))?
        .next()
        .with_context(|| format!("{flag} {listen}: resolves to no address"))
}

/// The host part of a URL for people: a wildcard address reads as this machine's loopback.
fn shown_host(addr: std::net::SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        std::net::SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port()).to_string()
    } else {
        addr.to_string()
    }
}

fn print_service_banner(data_dir: &Path, server: &esxlcm_server::api::ApiServer, demo: bool) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    let host = shown_host(server.local_addr);
    // The first line is the address, as in the light modes.
    writeln!(out, "listening on https://{host}/api")?;
    if let Some(ca) = &server.ca_file {
        writeln!(out, "clients trust the generated CA {}", ca.display())?;
    }
    if server.local_addr.ip().is_unspecified() {
        writeln!(out, "listening on every interface: give clients and hosts this machine's address")?;
    }
    writeln!(out, "the esxlcm service, data in {}", data_dir.display())?;
    writeln!(out, "  web UI: https://{host}/ui/")?;
    writeln!(out, "  API (vSphere Automation esx/settings): https://{host}/api  (vAPI JSON-RPC: POST /api)")?;
    writeln!(out, "  log in as ESXLCM_ADMIN_USER with ESXLCM_ADMIN_PASSWORD (read on the first start)")?;
    writeln!(
        out,
        "  users: `esxlcm users --data-dir {0} add NAME --role admin|read-only`; audit log: `esxlcm audit --data-dir {0}`",
        data_dir.display()
    )?;
    writeln!(out, "  depots for hosts: https://{host}/depots/SOURCE/index.xml")?;
    if let Some(h) = server.hosts_addr {
        writeln!(out, "                    http://{}/depots/SOURCE/index.xml", shown_host(h))?;
    }
    if demo {
        writeln!(
            out,
            "  added the demo depot (synthetic: made-up base images, add-on and components, not VMware's): \
             https://{host}/depots/demo/index.xml"
        )?;
    }
    writeln!(
        out,
        "  add depots through the API or `esxlcm mirror --store {} add NAME URL`",
        esxlcm_server::api::store_dir(data_dir).display()
    )?;
    writeln!(out, "press Ctrl-C to stop")?;
    out.flush()
}

fn print_dir_banner(dir: &Path, bound: &Bound) {
    let print = || -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        let scheme = bound.scheme;
        writeln!(out, "listening on {scheme}://{}/", bound.addr)?;
        if let Some(ca) = &bound.ca_file {
            writeln!(out, "clients trust the generated CA {}", ca.display())?;
        }
        let shown = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        writeln!(out, "serving depot directory {}", shown.display())?;
        if bound.addr.ip().is_unspecified() {
            writeln!(out, "listening on every interface: give ESXi hosts this machine's address")?;
        }
        let host = shown_host(bound.addr);
        writeln!(out, "  esxcli software sources vib list -d {scheme}://{host}/index.xml")?;
        writeln!(out, "  esxlcm depot inspect {scheme}://{host}/index.xml")?;
        writeln!(out, "press Ctrl-C to stop")?;
        out.flush()
    };
    // A closed stdout (a supervisor that stopped reading) must not stop the server.
    if let Err(e) = print() {
        tracing::warn!("cannot write to stdout: {e}");
    }
}

fn print_store_banner(dir: &Path, bound: &Bound, banner: &StoreBanner) {
    let print = || -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        let (scheme, addr) = (bound.scheme, bound.addr);
        writeln!(out, "listening on {scheme}://{addr}/")?;
        if let Some(ca) = &bound.ca_file {
            writeln!(out, "clients trust the generated CA {}", ca.display())?;
        }
        writeln!(out, "serving the published snapshots and views of store {}", dir.display())?;
        writeln!(out, "scheduled syncs (`esxlcm mirror schedule`) run in the background, one at a time")?;
        for name in &banner.sources {
            writeln!(out, "  {scheme}://{addr}/{name}/index.xml")?;
        }
        for (name, kind, build) in &banner.views {
            writeln!(out, "  {scheme}://{addr}/views/{name}/index.xml  ({kind} view, build {build})")?;
        }
        if let Some(max) = banner.push_max_size {
            writeln!(
                out,
                "taking pushed bundles (bearer token; up to {}): PUT {scheme}://{addr}/-/push/SOURCE",
                human_size(max)
            )?;
        }
        out.flush()
    };
    if let Err(e) = print() {
        tracing::warn!("cannot write to stdout: {e}");
    }
}

/// The HTTPS setup `--https` / `--tls-cert` ask for (a certificate made now if needed).
pub(crate) fn https_of(args: &ServeArgs) -> anyhow::Result<Option<Https>> {
    if !args.https && args.tls_cert.is_none() {
        return Ok(None);
    }
    let given = args.tls_cert.clone().zip(args.tls_key.clone());
    let https = Https::load_or_create(&args.data_dir, given).context("setting up HTTPS")?;
    Ok(Some(https))
}

/// The push setup `--push-token-file` asks for: the token read now (a server that cannot
/// read it does not start), the size limit parsed, uploads under STORE/uploads.
pub(crate) fn push_of(args: &ServeArgs, store: &Path) -> anyhow::Result<Option<PushConfig>> {
    let Some(file) = &args.push_token_file else { return Ok(None) };
    let token = PushToken::from_file(file)?;
    let max_size = parse_max_size(&args.push_max_size)?;
    Ok(Some(PushConfig { token, max_size, uploads: esxlcm_store::Store::uploads_dir(store) }))
}

fn parse_max_size(text: &str) -> anyhow::Result<u64> {
    esxlcm_store::carry::parse_size(text)
        .with_context(|| format!("--push-max-size {text}: give bytes or a size such as 700M, 4G, 16G"))
}

/// A directory ESXi can read: it must hold a vendor list.
fn check_depot_dir(dir: &Path) -> anyhow::Result<()> {
    if !dir.is_dir() {
        bail!(
            "--dir {}: not a directory (give the directory of an unpacked depot, with index.xml at its root)",
            dir.display()
        );
    }
    if !dir.join("index.xml").is_file() && !dir.join("vmw-depot-index.xml").is_file() {
        bail!(
            "--dir {}: no index.xml or vmw-depot-index.xml at its root; an offline bundle must be unpacked first \
             (for example: unzip bundle.zip -d DIR)",
            dir.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_sizes_and_token_files() {
        assert_eq!(parse_max_size("16G").unwrap(), 16 << 30);
        assert_eq!(parse_max_size("700M").unwrap(), 700 << 20);
        assert_eq!(parse_max_size("1234").unwrap(), 1234);
        for bad in ["", "0", "4X", "-1M"] {
            let err = parse_max_size(bad).unwrap_err().to_string();
            assert!(err.contains("--push-max-size"), "{bad:?}: {err}");
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "  s3cret \n").unwrap();
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            serve: ServeArgs,
        }
        let store = dir.path().to_str().unwrap();
        let args = |f: &Path| {
            let f = f.to_str().unwrap();
            <Cli as clap::Parser>::parse_from([
                "serve",
                "--store",
                store,
                "--push-token-file",
                f,
                "--push-max-size",
                "4G",
            ])
            .serve
        };
        let push = push_of(&args(&file), dir.path()).unwrap().unwrap();
        assert_eq!((push.max_size, &push.uploads), (4 << 30, &dir.path().join("uploads")));
        assert!(!format!("{push:?}").contains("s3cret"), "the token is never printed");
        let missing = dir.path().join("nope");
        let err = push_of(&args(&missing), dir.path()).unwrap_err().to_string();
        assert!(err.contains("--push-token-file") && err.contains("nope"), "{err}");
        std::fs::write(&file, " \n\t").unwrap();
        let err = push_of(&args(&file), dir.path()).unwrap_err().to_string();
        assert!(err.contains("empty"), "{err}");
    }

    #[test]
    fn refuses_a_directory_without_index() {
        let dir = tempfile::tempdir().unwrap();
        let err = check_depot_dir(dir.path()).unwrap_err().to_string();
        assert!(err.contains("no index.xml"), "{err}");
    }
}
