//! Running esxlcm as a server. The whole service (`esxlcm serve`) is [`crate::api::ApiServer`]:
//! the API and every depot of the store under `/depots/` on one HTTPS listener, and the
//! depots alone over plain HTTP on a second one for hosts. The light modes serve a depot
//! directory ([`serve_dir`]) or a mirror store read-only ([`serve_store`]). The binary
//! parses arguments and prints what these report; it builds no router and binds no socket.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::https::Https;
use crate::store_http::PushConfig;
use crate::{depot_http, store_index};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("cannot listen on {listen}: {source} (is the port in use? try --listen 127.0.0.1:0)")]
    Bind { listen: String, source: std::io::Error },
    #[error("serving on {addr}: {source}")]
    Serve { addr: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Store(#[from] esxlcm_store::StoreError),
    #[error("the demo depot: {0}")]
    Demo(String),
}

/// Where a server listens, once bound: what the binary prints first.
#[derive(Debug, Clone)]
pub struct Bound {
    pub scheme: &'static str,
    pub addr: SocketAddr,
    /// The generated CA clients should trust (none with a given certificate, or HTTP).
    pub ca_file: Option<PathBuf>,
}

/// Bind `listen` (`ADDR:PORT`; port 0 for any free port).
pub fn bind(listen: &str) -> Result<std::net::TcpListener, ServiceError> {
    std::net::TcpListener::bind(listen).map_err(|source| ServiceError::Bind { listen: listen.to_owned(), source })
}

/// Serve `app` on `listener`, over HTTPS when `https` is given, until Ctrl-C/SIGTERM
/// (requests in flight are finished first).
pub async fn serve_app(
    listener: std::net::TcpListener,
    app: axum::Router,
    https: Option<Https>,
) -> Result<(), ServiceError> {
    let addr = listener.local_addr().map_err(|source| ServiceError::Bind { listen: "-".into(), source })?;
    let served = match https {
        Some(https) => https.serve(listener, app, depot_http::shutdown_signal()).await,
        None => {
            let serve = async {
                listener.set_nonblocking(true)?;
                let listener = tokio::net::TcpListener::from_std(listener)?;
                // Bounded like HTTPS: connection cap, header-read and idle timeouts.
                let limits = depot_http::Limits::default();
                depot_http::serve_router(listener, app, None, limits, depot_http::shutdown_signal()).await
            };
            serve.await
        }
    };
    served.map_err(|source| ServiceError::Serve { addr, source })?;
    tracing::info!("stopped");
    Ok(())
}

fn bound(listener: &std::net::TcpListener, https: Option<&Https>) -> Result<Bound, ServiceError> {
    let addr = listener.local_addr().map_err(|source| ServiceError::Bind { listen: "-".into(), source })?;
    let scheme = if https.is_some() { "https" } else { "http" };
    Ok(Bound { scheme, addr, ca_file: https.and_then(|h| h.ca_file.clone()) })
}

/// `esxlcm serve --dir DIR`: one depot directory, stateless.
pub async fn serve_dir(
    dir: &Path,
    listen: &str,
    https: Option<Https>,
    announce: impl FnOnce(&Bound),
) -> Result<(), ServiceError> {
    let listener = bind(listen)?;
    announce(&bound(&listener, https.as_ref())?);
    let app = depot_http::router(dir)
        .merge(crate::metrics::routes("/-", None))
        .layer(crate::access_log::layer(crate::access_log::Mount::Dir));
    serve_app(listener, app, https).await
}

/// What a store server publishes, for its banner.
#[derive(Debug, Clone, Default)]
pub struct StoreBanner {
    /// Sources with a published snapshot.
    pub sources: Vec<String>,
    /// Views with a published build: name, kind, build number.
    pub views: Vec<(String, &'static str, u64)>,
    /// With pushes: the largest bundle taken.
    pub push_max_size: Option<u64>,
}

/// `esxlcm serve --store DIR`: a mirror store's published snapshots and views, read-only
/// (but for pushed bundles when `push` is given), its scheduled syncs run in the background.
pub async fn serve_store(
    location: &esxlcm_store::StoreLocation,
    listen: &str,
    https: Option<Https>,
    push: Option<PushConfig>,
    announce: impl FnOnce(&Bound, &StoreBanner),
) -> Result<(), ServiceError> {
    let store = Arc::new(esxlcm_store::Store::open_location(location)?);
    // Finish a publication a crash interrupted, if no sync is running; otherwise that sync will.
    store.reconcile_if_idle()?;
    let scheduler = esxlcm_store::ops::Scheduler::spawn(location, SCHEDULER_TICK)?;
    let views = esxlcm_store::view::list(&store)
        .unwrap_or_else(|e| {
            tracing::warn!("listing the views: {e}");
            Vec::new()
        })
        .into_iter()
        .filter_map(|r| {
            let build = r.build.as_ref()?.number;
            Some((r.definition.name.clone(), r.definition.kind(), build))
        })
        .collect();
    let banner = StoreBanner {
        sources: store.published_source_names()?,
        views,
        push_max_size: push.as_ref().map(|p| p.max_size),
    };
    let app = store_index::router(Arc::clone(&store), push)
        .merge(crate::metrics::routes("/-", Some(Arc::clone(&store))))
        .layer(crate::access_log::layer(crate::access_log::Mount::Store));
    let listener = bind(listen)?;
    announce(&bound(&listener, https.as_ref())?, &banner);
    let served = serve_app(listener, app, https).await;
    // A scheduled sync in progress finishes first (its publication is atomic).
    tokio::task::spawn_blocking(move || scheduler.stop()).await.ok();
    served
}

/// How often a server looks for due syncs (schedules have minute resolution).
const SCHEDULER_TICK: std::time::Duration = std::time::Duration::from_secs(20);

/// The demo source's name.
pub const DEMO_SOURCE: &str = "demo";

/// Give a new store the demo depot (synthetic content from the depot crate's seeded
/// generator, pushed as the bundle source `demo`), so that a first start shows a working
/// service. A store that has any source is left alone. Returns whether it was added.
pub fn seed_demo(location: &esxlcm_store::StoreLocation, seed: u64) -> Result<bool, ServiceError> {
    let store_dir = location.root.as_path();
    let store = esxlcm_store::Store::open_location(location)?;
    // Only a store the service never ran on: users may have been added to it already.
    if !store.sources()?.is_empty() || crate::api::persist::has_state(&store)? {
        return Ok(false);
    }
    let work = tempfile::tempdir_in(store_dir).map_err(|e| ServiceError::Demo(e.to_string()))?;
    let bundle = work.path().join("demo-bundle.zip");
    esxlcm_depot::generate::generate_to_bundle(&esxlcm_depot::generate::GeneratorConfig::tiny(seed), &bundle)
        .map_err(|e| ServiceError::Demo(e.to_string()))?;
    let pushed = store.push(
        DEMO_SOURCE,
        &bundle,
        &esxlcm_store::sync::SyncOptions::default(),
        esxlcm_store::ops::LockWait::NONE,
        &esxlcm_store::sync::NoProgress,
    )?;
    store.configure_source(DEMO_SOURCE, esxlcm_store::ops::LockWait::NONE, |c| {
        c.description = "synthetic demo depot (made up for trying esxlcm; not VMware content)".into();
    })?;
    tracing::info!(snapshot = pushed.report.snapshot.unwrap_or_default(), "added the demo depot as source 'demo'");
    Ok(true)
}
