//! `esx.settings.depots.online` (configuration records), `esx.settings.depots.offline`
//! (bundles imported into the data dir: pulled from a path or URL, or pushed through the
//! upload endpoint) and their content.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::Utc;
use esxlcm_depot::catalog::Catalog;
use esxlcm_depot::model::ReleaseKind;
use esxlcm_depot::source::{Depot, Fetch, OpenOptions};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::api::datavalue::{DataValue, StructValue};
use crate::api::dispatch::{Ctx, HandlerFuture, Out};
use crate::api::errors::{ApiError, ErrorKind};
use crate::api::fetch::{CacheOnly, CachedFetch, RecordingFetch, redact_text, redact_url_str};
use crate::api::persist::{OfflineDepot, OnlineDepot, OnlineSync, PersistError, ServerState, StateStore, sync_dir};
use crate::api::tasks::Progress;
use crate::api::typed::format_datetime;

/// Depot records and the merged catalog of the offline and synced online depots.
pub struct DepotStore {
    data_dir: PathBuf,
    store: Arc<dyn StateStore>,
    /// Held by writers across the save (changes are serialised and durable in order).
    state: tokio::sync::Mutex<Arc<ServerState>>,
    /// The last saved state: readers take it without waiting for a writer's fsync.
    published: std::sync::RwLock<Arc<ServerState>>,
    catalog: tokio::sync::Mutex<Option<Arc<Catalog>>>,
    /// HTTP(S) for online depots: syncs, and VIBs of synced depots when an export needs them.
    http: Arc<dyn Fetch>,
    /// One sync at a time: two would race on the same depots' caches.
    sync_lock: tokio::sync::Mutex<()>,
    /// Bumped whenever the catalog is invalidated: answers computed from it carry it.
    catalog_gen: std::sync::atomic::AtomicU64,
    /// Depot-content answers (call key → generation, value): browsing clients ask the same
    /// questions again and again, and building a list of hundreds of components is the
    /// costliest read.
    answers: std::sync::Mutex<std::collections::HashMap<String, (u64, Arc<DataValue>)>>,
    /// Image resolutions (solver runs) at once: one core fewer than the machine has, so that
    /// validating editors never take every core from requests (docs/PERFORMANCE.md).
    pub(crate) solver_slots: tokio::sync::Semaphore,
}

/// Distinct depot-content questions kept (filters are client-chosen: bounded).
const MAX_ANSWERS: usize = 512;

impl DepotStore {
    pub fn open(data_dir: &Path, store: Arc<dyn StateStore>, http: Arc<dyn Fetch>) -> Result<Self, PersistError> {
        let state = Arc::new(store.load()?);
        for dir in [offline_dir(data_dir), online_dir(data_dir), uploads_dir(data_dir)] {
            fs::create_dir_all(&dir).map_err(|e| PersistError::new(&dir, e))?;
        }
        Ok(Self {
            data_dir: data_dir.to_path_buf(),
            store,
            state: tokio::sync::Mutex::new(Arc::clone(&state)),
            published: std::sync::RwLock::new(state),
            catalog: tokio::sync::Mutex::new(None),
            http,
            sync_lock: tokio::sync::Mutex::new(()),
            catalog_gen: std::sync::atomic::AtomicU64::new(0),
            answers: std::sync::Mutex::default(),
            solver_slots: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1)),
            ),
        })
    }

    /// The state as last saved, without waiting (for setup outside the runtime's tasks).
    pub fn published_state(&self) -> Arc<ServerState> {
        Arc::clone(&self.published.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// The sync schedule as last saved (plain `depots.sync_schedule.spec`).
    pub fn published_schedule(&self) -> Option<Value> {
        self.published.read().unwrap_or_else(std::sync::PoisonError::into_inner).sync_schedule.clone()
    }

    /// The catalog's generation, to take before computing an answer from it.
    pub fn catalog_generation(&self) -> u64 {
        self.catalog_gen.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// A remembered answer, if computed from the current catalog.
    pub fn answer(&self, key: &str) -> Option<Arc<DataValue>> {
        let gen_now = self.catalog_generation();
        let answers = self.answers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        answers.get(key).filter(|(g, _)| *g == gen_now).map(|(_, v)| Arc::clone(v))
    }

    /// Remember an answer computed from generation `generation` of the catalog.
    pub fn remember(&self, key: String, generation: u64, value: &Arc<DataValue>) {
        if generation != self.catalog_generation() {
            return;
        }
        let mut answers = self.answers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if answers.len() >= MAX_ANSWERS {
            answers.clear();
        }
        answers.insert(key, (generation, Arc::clone(value)));
    }

    /// Open a synced online (or UMDS) depot from its cache; VIBs come from `vibs`.
    fn open_synced(&self, location: &str, sync: &OnlineSync, vibs: Arc<dyn Fetch>) -> OnlineSource {
        OnlineSource { location: location.to_owned(), cache: self.data_dir.join(&sync.cache), vibs }
    }

    /// `content.info` of a synced online (or UMDS) depot, from its cache alone.
    pub(crate) async fn synced_content(&self, location: &str, sync: &OnlineSync) -> Result<Value, ApiError> {
        let source = self.open_synced(location, sync, Arc::new(CacheOnly));
        tokio::task::spawn_blocking(move || source.open().map(|depot| content_info(&depot)))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
            .map_err(|e| ApiError::new(ErrorKind::ResourceInaccessible, "com.vmware.esxlcm.depot.unreadable", e))
    }

    /// The current state (shared: cheap, and never blocked by a save in progress).
    pub async fn snapshot(&self) -> Arc<ServerState> {
        Arc::clone(&self.published.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Change the state and persist it before anyone sees the change.
    pub(crate) async fn mutate<R>(
        &self,
        f: impl FnOnce(&mut ServerState) -> Result<R, ApiError>,
    ) -> Result<R, ApiError> {
        let mut guard = self.state.lock().await;
        let mut next = ServerState::clone(&guard);
        let r = f(&mut next)?;
        let store = Arc::clone(&self.store);
        let to_save = next.clone();
        tokio::task::spawn_blocking(move || store.save(&to_save))
            .await
            .map_err(|e| ApiError::internal(format!("saving state: {e}")))?
            .map_err(|e| ApiError::internal(format!("saving state: {e}")))?;
        let next = Arc::new(next);
        *self.published.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::clone(&next);
        *guard = next;
        Ok(r)
    }

    /// The offline depots merged, built on first use after a change.
    pub async fn catalog(&self) -> Result<Arc<Catalog>, ApiError> {
        let mut cached = self.catalog.lock().await;
        if let Some(c) = cached.as_ref() {
            return Ok(Arc::clone(c));
        }
        let (files, online) = {
            let s = self.snapshot().await;
            let files: Vec<PathBuf> = s.offline_depots.values().map(|d| self.data_dir.join(&d.file)).collect();
            let mut online: Vec<OnlineSource> = s
                .online_depots
                .values()
                .filter(|d| d.enabled)
                .filter_map(|d| {
                    d.synced.as_ref().map(|sync| self.open_synced(&d.location, sync, Arc::clone(&self.http)))
                })
                .collect();
            // The UMDS depot is one more online depot.
            if let Some(u) = s.umds_depot.as_ref().filter(|u| u.enabled)
                && let Some(sync) = &u.synced
            {
                online.push(self.open_synced(&u.location, sync, Arc::clone(&self.http)));
            }
            (files, online)
        };
        let unreadable =
            |e: String| ApiError::new(ErrorKind::ResourceInaccessible, "com.vmware.esxlcm.depot.unreadable", e);
        let catalog = tokio::task::spawn_blocking(move || {
            let mut catalog = Catalog::new();
            for f in files {
                let depot = Depot::open_path(&f, &OpenOptions::default()).map_err(|e| unreadable(e.to_string()))?;
                catalog.add(depot).map_err(|e| unreadable(e.to_string()))?;
            }
            for o in online {
                let depot = o.open().map_err(unreadable)?;
                catalog.add(depot).map_err(|e| unreadable(redact_text(&e.to_string())))?;
            }
            Ok::<_, ApiError>(catalog)
        })
        .await
        .map_err(|e| ApiError::internal(format!("building the catalog: {e}")))??;
        let catalog = Arc::new(catalog);
        *cached = Some(Arc::clone(&catalog));
        Ok(catalog)
    }

    pub(crate) async fn invalidate_catalog(&self) {
        let mut cached = self.catalog.lock().await;
        self.catalog_gen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        *cached = None;
    }

    pub fn uploads_dir(&self) -> PathBuf {
        uploads_dir(&self.data_dir)
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}

fn offline_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("depots").join("offline")
}

fn online_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("depots").join("online")
}

/// A synced online depot, to be opened on a blocking thread.
struct OnlineSource {
    location: String,
    cache: PathBuf,
    vibs: Arc<dyn Fetch>,
}

impl OnlineSource {
    /// The index chain from the cache, VIBs through `vibs`.
    fn open(self) -> Result<Depot, String> {
        let fetch = Arc::new(CachedFetch { dir: self.cache, inner: self.vibs });
        let options = OpenOptions { fetch, ..OpenOptions::default() };
        Depot::open(&self.location, &options).map_err(|e| {
            format!(
                "the synced metadata of {} is unreadable: {}",
                redact_url_str(&self.location),
                redact_text(&e.to_string())
            )
        })
    }
}

pub fn uploads_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("uploads")
}

pub(crate) fn next_id(state: &mut ServerState, kind: &str) -> String {
    state.next_id += 1;
    format!("{kind}-{}", state.next_id)
}

// ---- online depots ----

fn online_plain(d: &OnlineDepot) -> Value {
    json!({
        "description": d.description, "location": d.location, "enabled": d.enabled,
        "system_defined": false, "owner": d.owner, "ownerdata": d.ownerdata,
    })
}

pub fn online_list(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let s = ctx.state.depots.snapshot().await;
        let map: serde_json::Map<String, Value> =
            s.online_depots.iter().map(|(id, d)| (id.clone(), online_plain(d))).collect();
        Ok(Out::Plain(Value::Object(map)))
    })
}

pub fn online_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id: String = ctx.input("depot")?;
        let s = ctx.state.depots.snapshot().await;
        let d = s.online_depots.get(&id).ok_or_else(|| ApiError::not_found("online depot", &id))?;
        Ok(Out::Plain(online_plain(d)))
    })
}

#[derive(Deserialize)]
struct OnlineCreateSpec {
    description: Option<String>,
    location: String,
    enabled: Option<bool>,
    ownerdata: Option<String>,
}

fn check_online_location(location: &str) -> Result<(), ApiError> {
    match url::Url::parse(location) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(()),
        _ => Err(ApiError::invalid_argument(format!(
            "the location of an online depot must be an http or https URL of its index.xml, not '{}'",
            redact_url_str(location)
        ))),
    }
}

pub fn online_create(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let spec: OnlineCreateSpec = ctx.input("spec")?;
        check_online_location(&spec.location)?;
        let owner = ctx.caller.user.clone();
        let id = ctx
            .state
            .depots
            .mutate(|s| {
                if let Some((id, _)) = s.online_depots.iter().find(|(_, d)| d.location == spec.location) {
                    return Err(ApiError::new(
                        ErrorKind::AlreadyExists,
                        "com.vmware.esxlcm.depot.exists",
                        format!("an online depot with this location already exists: {id}"),
                    ));
                }
                let id = next_id(s, "online");
                s.online_depots.insert(
                    id.clone(),
                    OnlineDepot {
                        description: spec.description.unwrap_or_default(),
                        location: spec.location,
                        enabled: spec.enabled.unwrap_or(true),
                        owner: Some(owner),
                        ownerdata: spec.ownerdata,
                        synced: None,
                    },
                );
                Ok(id)
            })
            .await?;
        Ok(Out::Plain(Value::String(id)))
    })
}

/// The `spec` of an online depot's or the UMDS depot's `update`: what it gives replaces
/// what is there.
#[derive(Deserialize)]
pub(super) struct DepotUpdateSpec {
    enabled: Option<bool>,
    description: Option<String>,
}

impl DepotUpdateSpec {
    pub(super) fn apply(self, enabled: &mut bool, description: &mut String) {
        if let Some(e) = self.enabled {
            *enabled = e;
        }
        if let Some(desc) = self.description {
            *description = desc;
        }
    }
}

pub fn online_update(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id: String = ctx.input("depot")?;
        let spec: DepotUpdateSpec = ctx.input("spec")?;
        ctx.state
            .depots
            .mutate(|s| {
                let d = s.online_depots.get_mut(&id).ok_or_else(|| ApiError::not_found("online depot", &id))?;
                spec.apply(&mut d.enabled, &mut d.description);
                Ok(())
            })
            .await?;
        // A disabled depot leaves the catalog, an enabled one comes back.
        ctx.state.depots.invalidate_catalog().await;
        Ok(Out::Plain(Value::Null))
    })
}

pub fn online_delete(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id: String = ctx.input("depot")?;
        let depots = &ctx.state.depots;
        let removed = depots
            .mutate(|s| s.online_depots.remove(&id).ok_or_else(|| ApiError::not_found("online depot", &id)))
            .await?;
        depots.invalidate_catalog().await;
        if let Some(sync) = removed.synced {
            remove_cache(&depots.data_dir.join(sync.cache));
        }
        Ok(Out::Plain(Value::Null))
    })
}

pub(crate) fn remove_cache(dir: &Path) {
    if let Err(e) = fs::remove_dir_all(dir) {
        tracing::warn!(path = %dir.display(), error = %e, "could not remove an online depot's cached metadata");
    }
}

// ---- online depot sync, flush, content ----

#[derive(Deserialize, Default)]
struct SyncSpec {
    #[allow(dead_code)]
    cleanup: Option<bool>,
}

/// `depots.sync$task`: fetch the index chain of every enabled online depot into a fresh
/// cache, swap it in, and rebuild the catalog. A depot that fails keeps its previous
/// content; the task then fails naming each such depot and why.
pub fn sync(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        // Every sync fetches everything afresh, so `cleanup` has nothing more to drop.
        let _spec: Option<SyncSpec> = ctx.input("spec")?;
        let depots = &ctx.state.depots;
        let _one_at_a_time = depots.sync_lock.lock().await;
        let state = depots.snapshot().await;
        let mut targets: Vec<(String, String)> = state
            .online_depots
            .iter()
            .filter(|(_, d)| d.enabled)
            .map(|(id, d)| (id.clone(), d.location.clone()))
            .collect();
        // The UMDS depot, when set and enabled, is synced the same way.
        if let Some(u) = state.umds_depot.as_ref().filter(|u| u.enabled) {
            targets.push((super::umds::UMDS_ID.to_owned(), u.location.clone()));
        }
        let progress = ctx.progress.clone();
        if let Some(p) = &progress {
            p.set_cancelable(true);
        }
        let total = i64::try_from(targets.len()).unwrap_or(i64::MAX).max(1);
        let mut failures = Vec::new();
        let mut synced = 0usize;
        for (i, (id, location)) in targets.iter().enumerate() {
            if progress.as_ref().is_some_and(Progress::is_canceled) {
                depots.invalidate_catalog().await;
                return Err(canceled());
            }
            let share = (i64::try_from(i).unwrap_or(0) * 100 / total, 100 / total);
            match sync_one(depots, id, location, progress.clone(), share).await {
                Ok(()) => synced += 1,
                Err(cause) => {
                    tracing::warn!(depot = %id, location = %redact_url_str(location), %cause, "online depot sync failed");
                    let kind = if id == super::umds::UMDS_ID { "the UMDS depot" } else { "online depot" };
                    failures.push(format!("{kind} {id} ({}): {cause}", redact_url_str(location)));
                }
            }
        }
        depots.invalidate_catalog().await;
        if !failures.is_empty() {
            return Err(ApiError::new(
                ErrorKind::ResourceInaccessible,
                "com.vmware.esxlcm.depot.sync_failed",
                format!(
                    "{} of {} online depots could not be synced: {}",
                    failures.len(),
                    targets.len(),
                    failures.join("; ")
                ),
            ));
        }
        if let Some(p) = &progress {
            p.set(100, 100, &format!("Synced {synced} online depots"));
        }
        tracing::info!(depots = synced, "online depots synced");
        Ok(Out::Plain(Value::Null))
    })
}

/// Fetch one depot's index chain into a new cache directory and record it.
/// `share` is (start, width) of this depot in the task's percent.
async fn sync_one(
    depots: &DepotStore,
    id: &str,
    location: &str,
    progress: Option<Progress>,
    share: (i64, i64),
) -> Result<(), String> {
    let root = online_dir(&depots.data_dir);
    let staging = tempfile::Builder::new()
        .prefix(&format!(".sync-{id}-"))
        .tempdir_in(&root)
        .map_err(|e| format!("creating a cache directory in {}: {e}", root.display()))?;
    let dir = staging.path().to_path_buf();
    let http = Arc::clone(&depots.http);
    let loc = location.to_owned();
    let shown = redact_url_str(location);
    if let Some(p) = &progress {
        p.set(share.0, 100, &format!("Fetching the metadata of {shown}"));
    }
    let summary = tokio::task::spawn_blocking(move || {
        let on_file: Box<dyn Fn(u64, u64) + Send + Sync> = Box::new(move |files, bytes| {
            if let Some(p) = &progress {
                // The chain's length is unknown up front: creep towards the end of the share.
                let files = i64::try_from(files).unwrap_or(i64::MAX);
                let done = share.0 + share.1 * files / (files + 2);
                p.set(done, 100, &format!("{shown}: fetched {files} documents ({bytes} bytes)"));
            }
        });
        let fetch = Arc::new(RecordingFetch {
            dir: dir.clone(),
            inner: http,
            files: Default::default(),
            bytes: Default::default(),
            on_file,
        });
        let depot = Depot::open(&loc, &OpenOptions { fetch, ..OpenOptions::default() })
            .map_err(|e| redact_text(&e.to_string()))?;
        if depot.metadata.is_empty() {
            return Err("the depot lists no metadata zips".to_owned());
        }
        // What the catalog will read: the cache alone must be enough.
        let again = OnlineSource { location: loc, cache: dir, vibs: Arc::new(CacheOnly) }.open()?;
        Ok(again.metadata.len())
    })
    .await
    .map_err(|e| format!("the sync stopped: {e}"))??;

    let name = format!("{id}-{}", crate::api::tasks::uuid_v4().map_err(|e| e.to_string())?);
    let dest = root.join(&name);
    let kept = staging.keep();
    fs::rename(&kept, &dest).map_err(|e| format!("storing the cache at {}: {e}", dest.display()))?;
    let record = OnlineSync { time: format_datetime(Utc::now()), cache: format!("depots/online/{name}") };
    let previous = depots
        .mutate(|s| match super::umds::synced_slot(s, id, location) {
            // Deleted or moved while we fetched: what we have is for nobody.
            Some(slot) => Ok(slot.replace(record)),
            None => Err(ApiError::new(
                ErrorKind::ConcurrentChange,
                "com.vmware.esxlcm.depot.changed",
                "the depot was changed or deleted during the sync",
            )),
        })
        .await;
    match previous {
        Ok(previous) => {
            if let Some(old) = previous {
                remove_cache(&depots.data_dir.join(old.cache));
            }
            tracing::info!(depot = %id, metadata_zips = summary, "online depot synced");
            Ok(())
        }
        Err(e) => {
            remove_cache(&dest);
            Err(e.to_string())
        }
    }
}

/// `depots.online.flush$task`: forget the synced content of one depot (it leaves image
/// composition until the next sync).
pub fn online_flush(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id: String = ctx.input("depot")?;
        let _spec: Option<DeleteSpec> = ctx.input("spec")?;
        let depots = &ctx.state.depots;
        let _one_at_a_time = depots.sync_lock.lock().await;
        let previous = depots
            .mutate(|s| {
                let d = s.online_depots.get_mut(&id).ok_or_else(|| ApiError::not_found("online depot", &id))?;
                Ok(d.synced.take())
            })
            .await?;
        depots.invalidate_catalog().await;
        if let Some(old) = previous {
            remove_cache(&depots.data_dir.join(old.cache));
        }
        if let Some(p) = &ctx.progress {
            p.set(100, 100, "Flushed");
        }
        Ok(Out::Plain(Value::Null))
    })
}

/// `depots.online.content.get`: what the last sync found, per vendor and metadata zip.
pub fn online_content_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id: String = ctx.input("depot")?;
        let depots = &ctx.state.depots;
        let s = depots.snapshot().await;
        let d = s.online_depots.get(&id).ok_or_else(|| ApiError::not_found("online depot", &id))?;
        let sync = d.synced.as_ref().ok_or_else(|| {
            ApiError::new(
                ErrorKind::NotAllowedInCurrentState,
                "com.vmware.esxlcm.depot.not_synced",
                format!("online depot {id} has not been synced yet: run esx.settings.depots.sync"),
            )
        })?;
        Ok(Out::Plain(depots.synced_content(&d.location, sync).await?))
    })
}

// ---- sync schedule ----

fn default_schedule() -> Value {
    json!({"enabled": false, "email_addresses": []})
}

/// `depots.sync_schedule.get`: the schedule as set (`api::scheduler` runs it).
pub fn sync_schedule_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let s = ctx.state.depots.snapshot().await;
        Ok(Out::Plain(s.sync_schedule.clone().unwrap_or_else(default_schedule)))
    })
}

/// The fields each recurrence needs (the contract's unions), with their ranges (the typed
/// layer has checked the enum values).
fn check_schedule(schedule: &Value) -> Result<(), ApiError> {
    let kind = schedule.get("type").and_then(Value::as_str).unwrap_or_default();
    let needed: &[&str] = match kind {
        "HOURLY" => &["minute"],
        "DAILY" => &["minute", "hour"],
        "WEEKLY" => &["minute", "hour", "day_of_week"],
        "MONTHLY_BY_DAY" => &["minute", "hour", "day_of_month"],
        other => return Err(ApiError::invalid_argument(format!("unknown recurrence '{other}'"))),
    };
    for field in needed {
        if schedule.get(*field).is_none_or(Value::is_null) {
            return Err(ApiError::invalid_argument(format!("a {kind} schedule needs '{field}'")));
        }
    }
    let ranges: [(&str, i64, i64); 4] = [("minute", 0, 59), ("hour", 0, 23), ("day_of_month", 1, 31), ("skip", 0, 998)];
    for (field, lo, hi) in ranges {
        if let Some(v) = schedule.get(field).and_then(Value::as_i64)
            && !(lo..=hi).contains(&v)
        {
            return Err(ApiError::invalid_argument(format!("schedule '{field}' must be within {lo}..={hi}, not {v}")));
        }
    }
    Ok(())
}

/// `depots.sync_schedule.set`: store the schedule (no `spec` resets it to disabled).
pub fn sync_schedule_set(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let spec: Option<Value> = ctx.input("spec")?;
        let spec = spec.filter(|v| !v.is_null());
        if let Some(spec) = &spec {
            let enabled = spec.get("enabled").and_then(Value::as_bool).unwrap_or(false);
            match spec.get("schedule").filter(|v| !v.is_null()) {
                Some(schedule) => check_schedule(schedule)?,
                None if enabled => return Err(ApiError::invalid_argument("an enabled sync schedule needs a schedule")),
                None => {}
            }
        }
        ctx.state
            .depots
            .mutate(|s| {
                s.sync_schedule = spec;
                Ok(())
            })
            .await?;
        Ok(Out::Plain(Value::Null))
    })
}

// ---- offline depots ----

fn offline_plain(d: &OfflineDepot, with_time: bool) -> Value {
    let mut v = json!({
        "description": d.description, "source_type": d.source_type, "location": d.location,
        "file_id": d.file_id, "owner": d.owner, "ownerdata": d.ownerdata,
    });
    if let (true, Some(m)) = (with_time, v.as_object_mut()) {
        m.insert("create_time".into(), Value::String(d.create_time.clone()));
    }
    v
}

pub fn offline_list(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let s = ctx.state.depots.snapshot().await;
        let map: serde_json::Map<String, Value> =
            s.offline_depots.iter().map(|(id, d)| (id.clone(), offline_plain(d, false))).collect();
        Ok(Out::Plain(Value::Object(map)))
    })
}

pub fn offline_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id: String = ctx.input("depot")?;
        let s = ctx.state.depots.snapshot().await;
        let d = s.offline_depots.get(&id).ok_or_else(|| ApiError::not_found("offline depot", &id))?;
        Ok(Out::Plain(offline_plain(d, true)))
    })
}

#[derive(Deserialize)]
struct AuthenticationSpec {
    method: String,
    authentication_key: Option<String>,
    authentication_value: Option<String>,
}

#[derive(Deserialize)]
struct OfflineCreateSpec {
    authentication_spec: Option<AuthenticationSpec>,
    description: Option<String>,
    source_type: String,
    location: Option<String>,
    file_id: Option<String>,
    ownerdata: Option<String>,
}

/// Progress: copying takes 0–80 %, reading the depot 80–95 %.
const COPY_SHARE: i64 = 80;

/// A `file:` URL or a plain path → the local file, if it is one.
pub(crate) fn local_path(location: &str) -> Option<PathBuf> {
    if let Ok(u) = url::Url::parse(location) {
        return match u.scheme() {
            "file" => u.to_file_path().ok(),
            // A one-letter scheme is a Windows drive letter.
            s if s.len() == 1 => Some(PathBuf::from(location)),
            _ => None,
        };
    }
    Some(PathBuf::from(location))
}

pub(crate) fn is_upload_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

pub fn offline_create(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let spec: OfflineCreateSpec = ctx.input("spec")?;
        let depots = &ctx.state.depots;
        let dir = offline_dir(&depots.data_dir);
        let progress = ctx.progress.clone();
        let mut staged = tempfile::Builder::new()
            .prefix(".incoming-")
            .suffix(".zip")
            .tempfile_in(&dir)
            .map_err(|e| ApiError::internal(format!("{}: {e}", dir.display())))?;
        if let Some(p) = &progress {
            p.set_cancelable(true);
        }
        let (location, file_id, sha) = match spec.source_type.as_str() {
            "PULL" => {
                let location = spec
                    .location
                    .clone()
                    .ok_or_else(|| ApiError::invalid_argument("a PULL offline depot needs a location"))?;
                let sha = match local_path(&location) {
                    Some(path) => {
                        let file = staged.reopen().map_err(|e| ApiError::internal(e.to_string()))?;
                        let p = progress.clone();
                        tokio::task::spawn_blocking(move || copy_local(&path, file, p.as_ref()))
                            .await
                            .map_err(|e| ApiError::internal(e.to_string()))??
                    }
                    None => {
                        download(&location, spec.authentication_spec.as_ref(), staged.as_file_mut(), progress.as_ref())
                            .await?
                    }
                };
                (Some(location), None, sha)
            }
            "PUSH" => {
                let id = spec
                    .file_id
                    .clone()
                    .ok_or_else(|| ApiError::invalid_argument("a PUSH offline depot needs a file_id"))?;
                if !is_upload_id(&id) {
                    return Err(ApiError::invalid_argument(format!("'{id}' is not an upload id")));
                }
                let path = depots.uploads_dir().join(format!("{id}.zip"));
                if !path.exists() {
                    return Err(ApiError::invalid_argument(format!(
                        "no uploaded file '{id}': upload the bundle first (POST /vum-fileupload)"
                    )));
                }
                let file = staged.reopen().map_err(|e| ApiError::internal(e.to_string()))?;
                let p = progress.clone();
                let src = path.clone();
                let sha = tokio::task::spawn_blocking(move || copy_local(&src, file, p.as_ref()))
                    .await
                    .map_err(|e| ApiError::internal(e.to_string()))??;
                (None, Some(id), sha)
            }
            other => return Err(ApiError::invalid_argument(format!("unknown source_type '{other}'"))),
        };
        if let Some(p) = &progress {
            p.set_cancelable(false);
            p.set(COPY_SHARE, 100, "Reading the depot metadata");
        }

        // Checked here to fail before reading the depot, and again under the state lock.
        check_not_imported(&*depots.snapshot().await, &sha)?;

        let check_path = staged.path().to_path_buf();
        tokio::task::spawn_blocking(move || {
            Depot::open_path(&check_path, &OpenOptions::default()).map(drop).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::invalid_argument(format!("not a usable offline bundle: {e}")))?;
        if let Some(p) = &progress {
            p.set(95, 100, "Storing the depot");
        }

        let owner = ctx.caller.user.clone();
        let id = depots
            .mutate(|s| {
                check_not_imported(s, &sha)?;
                let id = next_id(s, "offline");
                let file = format!("depots/offline/{id}.zip");
                let dest = depots.data_dir.join(&file);
                staged.as_file().sync_all().map_err(|e| ApiError::internal(e.to_string()))?;
                let persisted = staged_into(staged, &dest)?;
                drop(persisted);
                s.offline_depots.insert(
                    id.clone(),
                    OfflineDepot {
                        description: spec.description.unwrap_or_default(),
                        source_type: spec.source_type,
                        location,
                        file_id: file_id.clone(),
                        create_time: format_datetime(Utc::now()),
                        owner: Some(owner),
                        ownerdata: spec.ownerdata,
                        sha256: sha,
                        file,
                    },
                );
                Ok(id)
            })
            .await?;
        if let Some(fid) = &file_id {
            // The upload is consumed; a failed removal only leaves a stray file.
            let _ = fs::remove_file(depots.uploads_dir().join(format!("{fid}.zip")));
        }
        depots.invalidate_catalog().await;
        tracing::info!(depot = %id, "offline depot imported");
        Ok(Out::Plain(json!({ "depot": id })))
    })
}

/// The same bytes imported twice are one depot: `already_exists` names it in `data`.
fn check_not_imported(state: &ServerState, sha: &str) -> Result<(), ApiError> {
    match state.offline_depots.iter().find(|(_, d)| d.sha256 == sha) {
        Some((id, _)) => Err(ApiError::new(
            ErrorKind::AlreadyExists,
            "com.vmware.esxlcm.depot.exists",
            format!("this bundle is already imported as offline depot {id}"),
        )
        .with_data(DataValue::Struct(
            StructValue::new("com.vmware.esx.settings.depots.offline.create_result")
                .with("depot", DataValue::String(id.clone())),
        ))),
        None => Ok(()),
    }
}

/// Move the staged temporary file to its final name (durably).
fn staged_into(staged: tempfile::NamedTempFile, dest: &Path) -> Result<File, ApiError> {
    let file = staged.persist(dest).map_err(|e| ApiError::internal(format!("{}: {}", dest.display(), e.error)))?;
    if let Some(parent) = dest.parent() {
        sync_dir(parent).map_err(|e| ApiError::internal(e.to_string()))?;
    }
    Ok(file)
}

fn canceled() -> ApiError {
    ApiError::new(ErrorKind::Canceled, "com.vmware.esxlcm.task.canceled", "the task was canceled")
}

/// Copy a local bundle, hashing it and reporting progress; returns the SHA-256.
fn copy_local(src: &Path, mut out: File, progress: Option<&Progress>) -> Result<String, ApiError> {
    let mut input = File::open(src).map_err(|e| {
        ApiError::new(
            ErrorKind::InvalidArgument,
            "com.vmware.esxlcm.depot.unreadable",
            format!("cannot read {}: {e}", src.display()),
        )
    })?;
    let total = input.metadata().map(|m| m.len()).unwrap_or(0);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut done = 0u64;
    loop {
        if progress.is_some_and(Progress::is_canceled) {
            return Err(canceled());
        }
        let n = input.read(&mut buf).map_err(|e| ApiError::invalid_argument(format!("{}: {e}", src.display())))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(|e| ApiError::internal(format!("writing the depot: {e}")))?;
        done += n as u64;
        report_copy(progress, done, total);
    }
    out.sync_all().map_err(|e| ApiError::internal(format!("writing the depot: {e}")))?;
    Ok(hex::encode(hasher.finalize()))
}

fn report_copy(progress: Option<&Progress>, done: u64, total: u64) {
    if let Some(p) = progress {
        let pct = done
            .saturating_mul(COPY_SHARE.unsigned_abs())
            .checked_div(total)
            .map_or(0, |p| i64::try_from(p).unwrap_or(0));
        p.set(pct.min(COPY_SHARE), 100, &format!("Copied {done} of {total} bytes"));
    }
}

/// Fetch a bundle over HTTP(S) (with the optional header of `authentication_spec`).
async fn download(
    location: &str,
    auth: Option<&AuthenticationSpec>,
    out: &mut File,
    progress: Option<&Progress>,
) -> Result<String, ApiError> {
    let url = url::Url::parse(location)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| ApiError::invalid_argument(format!("unsupported location '{}'", redact_url_str(location))))?;
    let inaccessible =
        |msg: String| ApiError::new(ErrorKind::ResourceInaccessible, "com.vmware.esxlcm.depot.fetch", msg);
    let client = reqwest::Client::builder().build().map_err(|e| ApiError::internal(e.to_string()))?;
    let mut req = client.get(url.clone());
    if let Some(a) = auth {
        match (a.method.as_str(), &a.authentication_key, &a.authentication_value) {
            ("HEADER_AUTH", Some(k), Some(v)) => req = req.header(k.as_str(), v.as_str()),
            _ => return Err(ApiError::invalid_argument("authentication_spec needs HEADER_AUTH with a key and value")),
        }
    }
    let shown = redact_url_str(location);
    let mut resp = req
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| inaccessible(format!("{shown}: {}", e.without_url())))?;
    let total = resp.content_length().unwrap_or(0);
    let mut hasher = Sha256::new();
    let mut done = 0u64;
    loop {
        // A stalled upstream must not keep a canceled task alive.
        let next = match progress {
            Some(p) => tokio::select! {
                c = resp.chunk() => c,
                () = p.canceled() => return Err(canceled()),
            },
            None => resp.chunk().await,
        };
        let Some(chunk) = next.map_err(|e| inaccessible(format!("{shown}: {}", e.without_url())))? else { break };
        hasher.update(&chunk);
        out.write_all(&chunk).map_err(|e| ApiError::internal(format!("writing the depot: {e}")))?;
        done += chunk.len() as u64;
        report_copy(progress, done, total);
    }
    out.sync_all().map_err(|e| ApiError::internal(format!("writing the depot: {e}")))?;
    Ok(hex::encode(hasher.finalize()))
}

#[derive(Deserialize, Default)]
struct DeleteSpec {
    #[allow(dead_code)]
    force: Option<bool>,
}

pub fn offline_delete(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id: String = ctx.input("depot")?;
        // Images that need this depot are not checked yet, so `force` changes nothing.
        let _spec: Option<DeleteSpec> = ctx.input("spec")?;
        let depots = &ctx.state.depots;
        let removed = depots
            .mutate(|s| s.offline_depots.remove(&id).ok_or_else(|| ApiError::not_found("offline depot", &id)))
            .await?;
        depots.invalidate_catalog().await;
        let path = depots.data_dir.join(&removed.file);
        if let Err(e) = fs::remove_file(&path) {
            tracing::warn!(path = %path.display(), error = %e, "could not remove a deleted depot's bundle");
        }
        Ok(Out::Plain(Value::Null))
    })
}

// ---- offline depot content ----

fn versions_json(pairs: impl IntoIterator<Item = (String, String)>) -> Value {
    Value::Array(pairs.into_iter().map(|(v, d)| json!({"version": v, "display_version": d})).collect())
}

type AddonVersions = (String, String, Vec<(String, String)>);

/// `depots.offline.content.info` of one bundle: per vendor, what each metadata zip holds.
pub fn content_info(depot: &Depot) -> Value {
    let mut bundles: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for meta in &depot.metadata {
        let a = &meta.archive;
        let mut in_units: std::collections::BTreeSet<(String, String)> = Default::default();
        let mut base_images = Vec::new();
        // name → (display name, vendor, [(version, display version)])
        let mut addons: BTreeMap<String, AddonVersions> = BTreeMap::new();
        // manager → package → versions, from the manifests' hardwareSupportInfo.
        let mut hsps: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
        for u in &a.release_units {
            for (n, v) in &u.components {
                in_units.insert((n.clone(), v.to_string()));
            }
            match u.kind {
                ReleaseKind::BaseImage => base_images.push(json!({
                    "version": u.version.to_string(),
                    "display_name": u.ui_name.clone().unwrap_or_else(|| "ESXi".into()),
                    "display_version": u.ui_version,
                })),
                ReleaseKind::Addon => {
                    let name = u.name.clone().unwrap_or_default();
                    let e = addons
                        .entry(name.clone())
                        .or_insert_with(|| (u.ui_name.clone().unwrap_or(name), u.vendor.clone(), Vec::new()));
                    e.2.push((u.version.to_string(), u.ui_version.clone()));
                }
                ReleaseKind::Manifest => {
                    if let Some((m, p, v)) = &u.hardware_support {
                        hsps.entry(m.clone()).or_default().entry(p.clone()).or_default().push(v.clone());
                    }
                }
                _ => {}
            }
        }
        let mut independent: BTreeMap<String, (String, Vec<(String, String)>)> = BTreeMap::new();
        for b in &a.bulletins {
            let Some(c) = &b.component else { continue };
            if in_units.contains(&(c.name.clone(), c.version.to_string())) {
                continue;
            }
            let e = independent.entry(c.name.clone()).or_insert_with(|| (c.ui_name.clone(), Vec::new()));
            e.1.push((c.version.to_string(), c.ui_version.clone()));
        }
        let file_name = meta.path.rsplit('/').next().unwrap_or(&meta.path).to_owned();
        let addons: serde_json::Map<String, Value> = addons
            .into_iter()
            .map(|(n, (display, vendor, vs))| {
                (n, json!({"display_name": display, "vendor": vendor, "versions": versions_json(vs)}))
            })
            .collect();
        let independent: serde_json::Map<String, Value> = independent
            .into_iter()
            .map(|(n, (display, vs))| (n, json!({"display_name": display, "versions": versions_json(vs)})))
            .collect();
        // esxlcm knows a manager by name only: the name is its display name.
        let hardware_support: serde_json::Map<String, Value> = hsps
            .into_iter()
            .map(|(m, pkgs)| {
                let packages: serde_json::Map<String, Value> = pkgs
                    .into_iter()
                    .map(|(p, vs)| {
                        let versions: Vec<Value> = vs.into_iter().map(|v| json!({"version": v})).collect();
                        (p, json!({"versions": versions}))
                    })
                    .collect();
                (m.clone(), json!({"display_name": m, "packages": packages}))
            })
            .collect();
        bundles.entry(meta.vendor_code.clone()).or_default().push(json!({
            "file_name": file_name,
            "base_images": base_images,
            "addons": addons,
            "hardware_support": hardware_support,
            "independent_components": independent,
        }));
    }
    json!({ "metadata_bundles": bundles })
}

pub fn offline_content_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id: String = ctx.input("depot")?;
        let s = ctx.state.depots.snapshot().await;
        let d = s.offline_depots.get(&id).ok_or_else(|| ApiError::not_found("offline depot", &id))?;
        let path = ctx.state.depots.data_dir.join(&d.file);
        let info = tokio::task::spawn_blocking(move || {
            Depot::open_path(&path, &OpenOptions::default())
                .map(|depot| content_info(&depot))
                .map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| {
            ApiError::new(ErrorKind::ResourceInaccessible, "com.vmware.esxlcm.depot.unreadable", e.to_string())
        })?;
        Ok(Out::Plain(info))
    })
}
