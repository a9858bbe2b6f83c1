//! `esxlcm serve`: serve a depot directory as an online depot over HTTP.
//!
//! Without `--dir` (or with `--demo`) a small synthetic depot is generated into the data
//! directory first, so that `esxlcm serve` alone runs the product on something real.
//! Files are served by tower-http's `ServeDir` (Range, ETag, Last-Modified); content
//! types are set for the depot's own file kinds.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, bail};
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use clap::Args;
use tower_http::services::ServeDir;

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

Stop with Ctrl-C (or SIGTERM): requests in flight are finished first.";

#[derive(Debug, Clone, Args)]
#[command(after_help = AFTER_HELP)]
pub struct ServeArgs {
    /// Serve this unpacked depot directory (index.xml at its root)
    #[arg(long, value_name = "DIR", conflicts_with = "demo")]
    pub dir: Option<PathBuf>,

    /// Address and port to listen on (0.0.0.0 for every interface, port 0 for any free port)
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    pub listen: String,

    /// Generate and serve the demo depot (the default when --dir is not given)
    #[arg(long)]
    pub demo: bool,

    /// Where esxlcm keeps its data (the demo depot goes to DATA_DIR/demo-depot)
    #[arg(long, value_name = "DATA_DIR", default_value = "esxlcm-data", env = "ESXLCM_DATA_DIR")]
    pub data_dir: PathBuf,
}

pub fn run(args: &ServeArgs, _ctx: &Context) -> anyhow::Result<Status> {
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
    runtime.block_on(serve(dir, &args.listen))?;
    Ok(Status::Success)
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

/// The router: `/` explains itself, every other path is a file of the depot.
pub fn router(dir: &Path) -> Router {
    let files = ServeDir::new(dir).append_index_html_on_directories(false).redirect_to_trailing_slash(false);
    Router::new()
        .route("/", get(root))
        .fallback_service(files)
        .layer(middleware::from_fn(depot_content_types))
        .layer(middleware::from_fn(log_request))
}

async fn serve(dir: PathBuf, listen: &str) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen} (is the port in use? try --listen 127.0.0.1:0)"))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    // The first line is written before anything else can fail; a closed stdout later
    // (a supervisor that stopped reading) must not stop the server.
    if let Err(e) = print_banner(&dir, addr) {
        tracing::warn!("cannot write to stdout: {e}");
    }
    axum::serve(listener, router(&dir)).with_graceful_shutdown(shutdown_signal()).await.context("serving HTTP")?;
    tracing::info!("stopped");
    Ok(())
}

fn print_banner(dir: &Path, addr: SocketAddr) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on http://{addr}/")?;
    let shown = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    writeln!(out, "serving depot directory {}", shown.display())?;
    let host = if addr.ip().is_unspecified() {
        writeln!(out, "listening on every interface: give ESXi hosts this machine's address")?;
        SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port()).to_string()
    } else {
        addr.to_string()
    };
    writeln!(out, "  esxcli software sources vib list -d http://{host}/index.xml")?;
    writeln!(out, "  esxlcm depot inspect http://{host}/index.xml")?;
    writeln!(out, "press Ctrl-C to stop")?;
    out.flush()
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

async fn root() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "esxlcm depot server\n\nVendor list: /index.xml\n\
         Use: esxcli software sources vib list -d http://<this host>/index.xml\n",
    )
}

/// The content type for a depot file by extension (what VMware's depots send).
fn content_type_for(path: &str) -> Option<&'static str> {
    let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase())?;
    match ext.as_str() {
        "xml" => Some("text/xml"),
        "zip" => Some("application/zip"),
        "vib" => Some("application/octet-stream"),
        "json" => Some("application/json"),
        _ => None,
    }
}

async fn depot_content_types(req: Request, next: Next) -> Response {
    let content_type = content_type_for(req.uri().path());
    let mut response = next.run(req).await;
    let status = response.status();
    if let Some(ct) = content_type
        && (status == StatusCode::OK || status == StatusCode::PARTIAL_CONTENT || status == StatusCode::NOT_MODIFIED)
    {
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    response
}

async fn log_request(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let range = req.headers().contains_key(header::RANGE);
    let started = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16();
    let elapsed_ms = started.elapsed().as_millis();
    if response.status().is_client_error() || response.status().is_server_error() {
        tracing::warn!(%method, %path, status, range, elapsed_ms, "request");
    } else {
        tracing::info!(%method, %path, status, range, elapsed_ms, "request");
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depot_content_types_by_extension() {
        assert_eq!(content_type_for("/index.xml"), Some("text/xml"));
        assert_eq!(content_type_for("/metadata.ZIP"), Some("application/zip"));
        assert_eq!(content_type_for("/vib20/x/y.vib"), Some("application/octet-stream"));
        assert_eq!(content_type_for("/"), None);
    }

    #[test]
    fn refuses_a_directory_without_index() {
        let dir = tempfile::tempdir().unwrap();
        let err = check_depot_dir(dir.path()).unwrap_err().to_string();
        assert!(err.contains("no index.xml"), "{err}");
    }
}
