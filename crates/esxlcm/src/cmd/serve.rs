//! `esxlcm serve`: serve a depot directory as an online depot over HTTP.
//!
//! Without `--dir` (or with `--demo`) a small synthetic depot is generated into the data
//! directory first, so that `esxlcm serve` alone runs the product on something real.
//! The HTTP side lives in `esxlcm_server::depot_http`; this module parses arguments,
//! prepares the directory and prints where to point hosts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::Args;
use esxlcm_server::depot_http;
use esxlcm_server::https::Https;
use esxlcm_server::store_http::{PushConfig, PushToken};

use super::{Context, Status};

const AFTER_HELP: &str = "\
Without --dir, a small synthetic demo depot (base images, an add-on, components and VIBs,
made up for testing) is generated into DATA_DIR/demo-depot and served. The first line on
stdout is always `listening on http://ADDRESS/`.

Point ESXi or esxlcm at the vendor list:
  esxcli software sources vib list -d http://HOST:8080/index.xml
  esxlcm depot inspect http://HOST:8080/index.xml

Examples:
  esxlcm serve                                     # demo depot on 127.0.0.1:8080
  esxlcm serve --dir ./my-depot --listen 0.0.0.0:8080
  esxlcm serve --listen 127.0.0.1:0                # any free port (see the first line)
  esxlcm serve --store ~/.local/share/esxlcm/store --https      # HTTPS, certificate made in DATA_DIR/tls
  esxlcm serve --store STORE    # then: http://HOST:8080/vmw/@3/index.xml, /views/branch/index.xml, /-/status
  esxlcm serve --store STORE --https --push-token-file token   # then: curl --fail -T b.zip \\
      -H \"Authorization: Bearer $(cat token)\" https://HOST:8080/-/push/oem
  esxlcm serve --dir ./my-depot --tls-cert depot.pem --tls-key depot.key
  esxlcm serve --api --data-dir /var/lib/esxlcm     # the vLCM-compatible API (HTTPS, /api)

Stop with Ctrl-C (or SIGTERM): requests in flight are finished first.";

#[derive(Debug, Clone, Args)]
#[command(after_help = AFTER_HELP)]
pub struct ServeArgs {
    /// Serve this unpacked depot directory (index.xml at its root)
    #[arg(long, value_name = "DIR", conflicts_with = "demo")]
    pub dir: Option<PathBuf>,

    /// Serve a mirror store (`esxlcm mirror`), read-only: each source's published snapshot
    /// at /SOURCE/index.xml, any snapshot at /SOURCE/@ID/index.xml, views at
    /// /views/NAME/index.xml, sync status at /-/status; scheduled syncs (`esxlcm mirror
    /// schedule`) run in the background, one at a time
    #[arg(long, value_name = "STORE_DIR", conflicts_with_all = ["dir", "demo"])]
    pub store: Option<PathBuf>,

    /// With --store: take offline bundles at PUT /-/push/SOURCE (published as `esxlcm mirror
    /// push` does), from clients that send `Authorization: Bearer TOKEN`, TOKEN being the one
    /// line of this file; use with --https off a trusted network
    #[arg(long, value_name = "FILE", requires = "store")]
    pub push_token_file: Option<PathBuf>,

    /// The largest bundle PUT /-/push takes (bytes, or 700M, 4G, …)
    #[arg(long, value_name = "SIZE", default_value = "16G", requires = "push_token_file")]
    pub push_max_size: String,

    /// Address and port to listen on (0.0.0.0 for every interface, port 0 for any free port)
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    pub listen: String,

    /// Generate and serve the demo depot (the default when --dir is not given)
    #[arg(long)]
    pub demo: bool,

    /// Run the vLCM-compatible API instead (HTTPS; vAPI JSON-RPC and REST under /api), with
    /// its users, depots and generated certificate in DATA_DIR; the first administrator comes
    /// from ESXLCM_ADMIN_USER / ESXLCM_ADMIN_PASSWORD
    #[arg(long, conflicts_with_all = ["dir", "store", "demo"])]
    pub api: bool,

    /// Serve depots over HTTPS: with --tls-cert and --tls-key, else with a certificate made on
    /// first start in DATA_DIR/tls (clients trust DATA_DIR/tls/ca.pem)
    #[arg(long, conflicts_with = "api")]
    pub https: bool,

    /// PEM certificate chain for HTTPS (implies --https; needs --tls-key)
    #[arg(long, value_name = "CERT.pem", requires = "tls_key", conflicts_with = "api")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of --tls-cert
    #[arg(long, value_name = "KEY.pem", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Where esxlcm keeps its data (the demo depot goes to DATA_DIR/demo-depot)
    #[arg(long, value_name = "DATA_DIR", default_value = "esxlcm-data", env = "ESXLCM_DATA_DIR")]
    pub data_dir: PathBuf,
}

pub fn run(args: &ServeArgs, _ctx: &Context) -> anyhow::Result<Status> {
    if args.api {
        return serve_api(&args.data_dir, &args.listen);
    }
    let https = https_of(args)?;
    if let Some(store) = &args.store {
        let push = push_of(args, store)?;
        return super::mirror::serve_store(store, &args.listen, https, push);
    }
    let dir = match &args.dir {
        Some(dir) => {
            check_depot_dir(dir)?;
            dir.clone()
        }
        None => prepare_demo(&args.data_dir)?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(dir, &args.listen, https))?;
    Ok(Status::Success)
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

/// Bind `listen` and serve `app` on it, over HTTPS when `https` is given; `banner` prints the
/// first lines (with the URL scheme) once the address is known.
pub(crate) async fn serve_app(
    listen: &str,
    app: axum::Router,
    https: Option<Https>,
    banner: impl FnOnce(&str, SocketAddr, Option<&Path>) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    let listener = std::net::TcpListener::bind(listen)
        .with_context(|| format!("cannot listen on {listen} (is the port in use? try --listen 127.0.0.1:0)"))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let scheme = if https.is_some() { "https" } else { "http" };
    // The first line is written before anything else can fail; a closed stdout later
    // (a supervisor that stopped reading) must not stop the server.
    if let Err(e) = banner(scheme, addr, https.as_ref().and_then(|h| h.ca_file.as_deref())) {
        tracing::warn!("cannot write to stdout: {e}");
    }
    match https {
        Some(https) => https.serve(listener, app, depot_http::shutdown_signal()).await.context("serving HTTPS")?,
        None => {
            listener.set_nonblocking(true).context("configuring the listener")?;
            let listener = tokio::net::TcpListener::from_std(listener).context("configuring the listener")?;
            // Bounded like HTTPS: connection cap, header-read/idle timeouts (issue #12 D3).
            let limits = depot_http::Limits::default();
            depot_http::serve_router(listener, app, None, limits, depot_http::shutdown_signal())
                .await
                .context("serving HTTP")?;
        }
    }
    tracing::info!("stopped");
    Ok(())
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

/// Generate the demo depot into `<data_dir>/demo-depot` (fresh every start: it is
/// deterministic and small) and return its path.
fn prepare_demo(data_dir: &Path) -> anyhow::Result<PathBuf> {
    let target = data_dir.join("demo-depot");
    std::fs::create_dir_all(data_dir).with_context(|| format!("creating data directory {}", data_dir.display()))?;
    let staging = data_dir.join(format!(".demo-depot.tmp-{}", std::process::id()));
    if staging.exists() {
        std::fs::remove_dir_all(&staging).with_context(|| format!("removing {}", staging.display()))?;
    }
    if let Err(e) = crate::demo::generate(&staging) {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e.context("generating the demo depot"));
    }
    if target.exists() {
        std::fs::remove_dir_all(&target)
            .with_context(|| format!("removing the old demo depot {}", target.display()))?;
    }
    std::fs::rename(&staging, &target)
        .with_context(|| format!("moving {} to {}", staging.display(), target.display()))?;
    tracing::info!(dir = %target.display(), "generated the demo depot");
    Ok(target)
}

async fn serve(dir: PathBuf, listen: &str, https: Option<Https>) -> anyhow::Result<()> {
    let app = depot_http::router(&dir);
    serve_app(listen, app, https, |scheme, addr, ca| print_banner(&dir, scheme, addr, ca)).await
}

fn print_banner(dir: &Path, scheme: &str, addr: SocketAddr, ca: Option<&Path>) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {scheme}://{addr}/")?;
    if let Some(ca) = ca {
        writeln!(out, "clients trust the generated CA {}", ca.display())?;
    }
    let shown = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    writeln!(out, "serving depot directory {}", shown.display())?;
    let host = if addr.ip().is_unspecified() {
        writeln!(out, "listening on every interface: give ESXi hosts this machine's address")?;
        SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port()).to_string()
    } else {
        addr.to_string()
    };
    writeln!(out, "  esxcli software sources vib list -d {scheme}://{host}/index.xml")?;
    writeln!(out, "  esxlcm depot inspect {scheme}://{host}/index.xml")?;
    writeln!(out, "press Ctrl-C to stop")?;
    out.flush()
}

/// `esxlcm serve --api`: the vLCM-compatible API server (`esxlcm_server::api`).
fn serve_api(data_dir: &Path, listen: &str) -> anyhow::Result<Status> {
    use std::net::ToSocketAddrs as _;
    let addr = listen
        .to_socket_addrs()
        .with_context(|| format!("--listen {listen}: not an address and port"))?
        .next()
        .with_context(|| format!("--listen {listen}: resolves to no address"))?;
    let config = esxlcm_server::api::ApiConfig {
        data_dir: data_dir.to_path_buf(),
        listen: addr,
        initial_admin: esxlcm_server::api::users::InitialAdmin::from_env(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime
        .block_on(esxlcm_server::api::serve_until(config, depot_http::shutdown_signal(), |addr, ca| {
            // The first line is the address, as for the depot server.
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "listening on https://{addr}/api");
            if let Some(ca) = ca {
                let _ = writeln!(out, "clients trust the generated CA {}", ca.display());
            }
            let _ = out.flush();
        }))
        .context("serving the API")?;
    Ok(Status::Success)
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
