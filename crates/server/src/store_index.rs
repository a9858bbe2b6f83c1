//! What `esxlcm serve --store` asks the store (`esxlcm_server::store_http::StoreIndex`):
//! whether a snapshot exists (materialising it on its first request), what `/` lists, the
//! `/-/status` document, and on-demand payloads: fetched, verified, stored and linked into
//! the tree on their first request (`esxlcm_store::ondemand`; one fetch per payload
//! however many hosts ask at once); and bundles pushed over HTTP, published by the same
//! store operation as `esxlcm mirror push` ([`Store::push`]).

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::store_http::{
    FetchFailure, Overview, PushConfig, PushFailure, PushOutcome, PushSummary, SourceSummary, StoreLayout, Unavailable,
    ViewSummary,
};
use esxlcm_store::ondemand::{OnDemand, OnDemandError};
use esxlcm_store::ops::LockWait;
use esxlcm_store::source::PayloadPolicy;
use esxlcm_store::sync::{NoProgress, Outcome, SyncOptions};
use esxlcm_store::{Store, StoreError, status, view};

/// How long a request for a snapshot that is not materialised waits for a running sync
/// (which may be materialising it) before it is answered 503.
const WAIT_FOR_LOCK: Duration = Duration::from_secs(20);

/// How long a pushed bundle waits for a running sync or push before it is answered 409.
const PUSH_WAIT_FOR_LOCK: Duration = Duration::from_secs(60);

pub struct StoreIndex {
    store: Arc<Store>,
    /// (source, snapshot) pairs already checked against the database. Snapshot ids are
    /// never reused, so only the tree's presence needs checking again: a hosts' wave of
    /// VIB requests under one snapshot URL costs a stat each, not two queries.
    known: Mutex<HashSet<(String, i64)>>,
    on_demand: OnDemand,
}

impl StoreIndex {
    /// Over a store the caller opened (the API's, `serve --store`'s): one handle per process.
    pub fn new(store: Arc<Store>) -> Self {
        Self { store, known: Mutex::default(), on_demand: OnDemand::new() }
    }

    fn is_known(&self, source: &str, id: i64) -> bool {
        let known = self.known.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        known.contains(&(source.to_owned(), id))
    }

    pub fn layout(&self) -> StoreLayout {
        StoreLayout {
            published: self.store.published_dir(),
            snapshots: self.store.views_dir(),
            views: view::published_dir(self.store.root()),
            rows: (!self.store.has_trees()).then(|| Arc::clone(&self.store)),
        }
    }
}

/// The router that serves `store` to hosts (taking pushed bundles when `push` is given):
/// `esxlcm serve --store DIR`, and `/depots/` of the whole service.
pub fn router(store: Arc<Store>, push: Option<PushConfig>) -> axum::Router {
    let index = StoreIndex::new(store);
    let layout = index.layout();
    crate::store_http::router_with_push(&layout, Arc::new(index), push)
}

/// Components and VIBs of a source's published snapshot, read from its rows and blobs.
fn count_published(store: &Arc<Store>, source: &str) -> Result<(usize, usize), String> {
    use esxlcm_depot::catalog::Catalog;
    let s = store.source(source).map_err(|e| e.to_string())?;
    let id = store.published_snapshot(&s).map_err(|e| e.to_string())?.ok_or("nothing is published")?;
    let depot = store.snapshot_depot(id, source).map_err(|e| e.to_string())?;
    let catalog = Catalog::from_depots([depot]).map_err(|e| e.to_string())?;
    Ok((catalog.components().count(), catalog.vibs().count()))
}

/// A failed push for the client: busy (409), not a bundle or not a bundle source (400),
/// else the store's failure (500). The server's temporary file `bundle` is not named.
fn push_failure(source: &str, bundle: &Path, e: &StoreError) -> PushFailure {
    match e {
        StoreError::Locked { .. } => PushFailure::Busy("a sync or push is running; try again".into()),
        StoreError::Document { file, message, .. } => {
            let message = message.replace(&bundle.display().to_string(), "the upload");
            let what =
                if file.ends_with(".zip") && file.contains("uploads/") { String::new() } else { format!("{file}: ") };
            PushFailure::Invalid(format!(
                "not a usable offline bundle: {what}{message}; send an offline bundle (.zip with index.xml at its root)"
            ))
        }
        StoreError::InvalidSource(why) => PushFailure::Invalid(why.clone()),
        _ => {
            tracing::error!(source, "push failed: {e}");
            PushFailure::Store("the store could not take the bundle; see the server's log".into())
        }
    }
}

impl crate::store_http::StoreIndex for StoreIndex {
    fn open_snapshot(&self, source: &str, id: i64) -> Result<(), Unavailable> {
        if self.is_known(source, id) && self.store.view_dir(id).is_dir() {
            return Ok(());
        }
        let missing = |text: String| Unavailable::Missing(text);
        let s = self.store.source(source).map_err(|_| missing(format!("no source '{source}' in this mirror store")))?;
        let snapshots = self.store.snapshots(&s).map_err(|e| {
            tracing::error!("{e}");
            missing(format!("cannot read the snapshots of '{source}'"))
        })?;
        if !snapshots.iter().any(|x| x.id == id) {
            let mut kept: Vec<i64> = snapshots.iter().map(|x| x.id).collect();
            kept.sort_unstable();
            let kept: Vec<String> = kept.iter().map(|k| format!("@{k}")).collect();
            let kept = if kept.is_empty() { "none".to_owned() } else { kept.join(", ") };
            return Err(missing(format!(
                "snapshot {id} of '{source}' does not exist: it was never made, or retention removed it \
                 (snapshots kept: {kept}; see esxlcm mirror status)"
            )));
        }
        self.known.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert((source.to_owned(), id));
        // Without trees the rows are what is served: the snapshot exists, that is all.
        if !self.store.has_trees() {
            return Ok(());
        }
        // Materialised under the store lock: a sync (in this process's scheduler or another
        // process) may be materialising the same snapshot, in the same temporary directory.
        let deadline = Instant::now() + WAIT_FOR_LOCK;
        loop {
            if self.store.view_dir(id).is_dir() {
                return Ok(());
            }
            match self.store.lock() {
                Ok(_lock) => {
                    return match self.store.materialise(id) {
                        Ok(dir) => {
                            tracing::info!(source, snapshot = id, dir = %dir.display(), "materialised a snapshot on request");
                            Ok(())
                        }
                        Err(e) => {
                            tracing::error!(source, snapshot = id, "cannot materialise: {e}");
                            Err(missing(format!("snapshot {id} of '{source}' cannot be served: {e}")))
                        }
                    };
                }
                Err(StoreError::Locked { .. }) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(StoreError::Locked { .. }) => {
                    return Err(Unavailable::Busy(format!(
                        "snapshot {id} of '{source}' is being prepared while a sync runs; try again shortly"
                    )));
                }
                Err(e) => {
                    tracing::error!("{e}");
                    return Err(Unavailable::Busy(format!("snapshot {id} of '{source}' cannot be prepared now")));
                }
            }
        }
    }

    fn fetch_missing(&self, source: &str, snapshot: Option<i64>, path: &str) -> Result<(), FetchFailure> {
        match self.on_demand.serve_file(&self.store, source, snapshot, path) {
            Ok(_) => Ok(()),
            Err(OnDemandError::NotOnDemand { .. }) => Err(FetchFailure::NotOnDemand),
            Err(e @ OnDemandError::Rejected { .. }) => {
                tracing::warn!(source, path, "{e}");
                Err(FetchFailure::BadGateway(e.to_string()))
            }
            Err(e @ OnDemandError::Upstream { .. }) => {
                tracing::warn!(source, path, "{e}");
                Err(FetchFailure::BadGateway(e.to_string()))
            }
            Err(e @ OnDemandError::Timeout { .. }) => {
                tracing::warn!(source, path, "{e}");
                Err(FetchFailure::Timeout(e.to_string()))
            }
            Err(OnDemandError::Store(e)) => {
                tracing::error!(source, path, "on-demand payload: {e}");
                Err(FetchFailure::Store(format!("{path}: the store could not take the payload")))
            }
        }
    }

    fn has_payload(&self, source: &str, snapshot: Option<i64>, path: &str) -> bool {
        // Only on-demand sources record files whose payload is not stored yet.
        let on_demand = self.store.source(source).is_ok_and(|s| s.config.payloads == PayloadPolicy::OnDemand);
        if !on_demand {
            return true;
        }
        match self.store.published_file(source, snapshot, path) {
            Ok(Ok(served)) => self.store.has_blob(&served.file.blob).unwrap_or(true),
            // Nothing to fetch: the file server answers 404 (or 500) itself.
            Ok(Err(_)) | Err(_) => true,
        }
    }

    fn push(&self, source: &str, bundle: &Path) -> Result<PushSummary, PushFailure> {
        let pushed = self
            .store
            .push(source, bundle, &SyncOptions::default(), LockWait(PUSH_WAIT_FOR_LOCK), &NoProgress)
            .map_err(|e| push_failure(source, bundle, &e))?;
        let r = &pushed.report;
        tracing::info!(
            source,
            outcome = r.outcome.as_str(),
            snapshot = r.snapshot.unwrap_or_default(),
            rejected = r.rejected.len(),
            "pushed bundle"
        );
        for (view, result) in &pushed.views {
            if let Err(e) = result {
                tracing::error!(view = %view, "refreshing the view after a push: {e}");
            }
        }
        let outcome = match r.outcome {
            Outcome::Published => PushOutcome::Published,
            Outcome::Unchanged => PushOutcome::Unchanged,
            Outcome::Rejected => {
                let payloads: Vec<String> = r.rejected.iter().map(|x| x.name.clone()).collect();
                let why: Vec<String> =
                    r.rejected.iter().map(|x| format!("{} ({}): {}", x.name, x.path, x.reason)).collect();
                let kept = r
                    .snapshot
                    .map_or_else(|| "nothing is published".to_owned(), |s| format!("snapshot {s} stays published"));
                return Err(PushFailure::Rejected {
                    message: format!(
                        "push refused: {} payload(s) failed verification ({}); nothing new is published, {kept}; \
                         download the bundle again and push it again",
                        payloads.len(),
                        why.join("; ")
                    ),
                    payloads,
                });
            }
        };
        let counted = count_published(&self.store, source);
        if let Err(e) = &counted {
            tracing::warn!(source, "counting the published components: {e}");
        }
        let counted = counted.ok();
        Ok(PushSummary {
            source: source.to_owned(),
            snapshot: (outcome == PushOutcome::Published).then_some(r.snapshot).flatten(),
            outcome,
            components: counted.map(|c| c.0),
            vibs: counted.map(|c| c.1),
        })
    }

    fn overview(&self) -> Overview {
        let mut overview = Overview::default();
        if let Err(e) = self.store.settle_interrupted_syncs() {
            overview.problems.push(format!("sync status: {e}"));
        }
        let statuses = status::read_all(&self.store).unwrap_or_else(|e| {
            overview.problems.push(format!("sync status: {e}"));
            Vec::new()
        });
        match self.store.sources() {
            Ok(sources) => {
                for s in sources {
                    let name = s.config.name.clone();
                    let mut snapshots: Vec<i64> =
                        self.store.snapshots(&s).map(|v| v.iter().map(|x| x.id).collect()).unwrap_or_default();
                    snapshots.sort_unstable();
                    let status = statuses.iter().find(|x| x.source == name).map(status_line);
                    let published = self.store.published_snapshot(&s).ok().flatten();
                    overview.sources.push(SourceSummary { name, published, snapshots, status });
                }
            }
            Err(e) => overview.problems.push(format!("sources: {e}")),
        }
        match view::list(&self.store) {
            Ok(records) => {
                for r in records {
                    overview.views.push(ViewSummary {
                        kind: r.definition.kind().to_owned(),
                        name: r.definition.name,
                        sources: r.definition.sources,
                        build: r.build.map(|b| b.number),
                        error: r.last_error.map(|e| e.message),
                    });
                }
            }
            Err(e) => overview.problems.push(format!("views: {e}")),
        }
        overview
    }

    fn status(&self) -> serde_json::Value {
        if let Err(e) = self.store.settle_interrupted_syncs() {
            tracing::warn!("settling interrupted syncs: {e}");
        }
        let (sources, error) = match status::read_all(&self.store) {
            Ok(s) => (s, None),
            Err(e) => (Vec::new(), Some(e.to_string())),
        };
        let views: Vec<serde_json::Value> = view::list(&self.store)
            .unwrap_or_default()
            .into_iter()
            .map(|r| {
                serde_json::json!({
                    "name": r.definition.name,
                    "build": r.build.as_ref().map(|b| b.number),
                    "snapshots": r.build.as_ref().map(|b| &b.snapshots),
                    "last_error": r.last_error.map(|e| e.message),
                })
            })
            .collect();
        serde_json::json!({ "sources": sources, "views": views, "error": error })
    }
}

/// `running (payloads) 12/40 files, updated …` or `succeeded: published snapshot 3, at …`.
fn status_line(s: &status::SyncStatus) -> String {
    match s.state {
        status::SyncState::Running => format!(
            "running ({}) {}/{} files, {}/{} bytes, updated {}",
            s.phase, s.files_done, s.files_total, s.bytes_done, s.bytes_total, s.updated
        ),
        state => {
            let message = if s.message.is_empty() { String::new() } else { format!(": {}", s.message) };
            format!("{}{message}, at {}", state.as_str(), s.updated)
        }
    }
}
