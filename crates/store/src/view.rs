//! Named views: one online depot made from several sources (a *merged view*), or from
//! exactly what one image needs (an *image view*: base image, add-on, components and their
//! VIBs, resolved by `esxlcm_solver` against the merged catalog of the sources — the ROBO
//! case "give the branch exactly this image's content").
//!
//! A build reads the sources' *published* snapshots (from their rows and blobs), and is
//! planned once for every store (`plan`): every VIB at its path in the depot as the stored
//! blob it is (an on-demand payload is fetched and verified first), and the documents —
//! vendor list, vendor index and `metadata.zip` (the depot crate's documents and metadata
//! writer). Only how the plan is materialised depends on the store.
//!
//! **With trees** (the single-node default):
//!
//! ```text
//! STORE/named-views/<NAME>.json           definition and last build (written atomically)
//! STORE/named-views/builds/<NAME>.<n>/    build n: a complete online depot tree
//! STORE/named-views/published/<NAME>      symlink to ../builds/<NAME>.<n>: what is served
//! ```
//!
//! The tree (documents written, VIBs hard-linked from the blob store) is made in a temporary
//! directory, synced and renamed; the record naming it is written next, then the symlink is
//! swapped — a server sees the old build or the new one, never a mix.
//!
//! **Without trees** (the cluster backends: PostgreSQL and object storage): the record is
//! the `views` row (the same JSON, and the build served), each build's files are
//! `view_files` rows (path → blob, size). The documents are put into the blob store (content
//! addressed), the build's rows are recorded in one transaction, then one statement moves
//! the row's build pointer: that is the publication, and a request on any replica reads the
//! pointer and the file in one statement ([`crate::meta::MetaStore::view_file`]), so it sees
//! one build whole. The previous build's rows stay until the next build (requests that read
//! the old pointer an instant ago still find their files), older ones go. Nothing is written
//! under the node's directory.
//!
//! Either way, a view that does not build (a spec that no longer resolves, a source with
//! nothing published) keeps its previous build published and records why. Every function
//! that builds must run under the store lock ([`Store::lock`]).
//!
//! Blobs a build uses are listed in its record, and [`referenced_blobs`] keeps them from
//! `gc` after the snapshots that brought them are gone (without trees the `view_files`
//! rows keep them too, the retained previous build's included).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use esxlcm_depot::catalog::Catalog;
use esxlcm_depot::model::Vib;
use esxlcm_depot::selection::Selection;
use esxlcm_depot::source::SourceError;
use esxlcm_depot::write::{DepotContent, WriteError};
use esxlcm_solver::SoftwareSpec;
use serde::{Deserialize, Serialize};

use crate::blob::{BlobId, sync_dir, sync_fs};
use crate::error::StoreError;
use crate::meta::{FileEntry, now};
use crate::store::{Store, remove_dir_if_exists, safe_join};
use crate::subset::{self, SpecError};

/// Vendor name written into every view's vendor list.
pub const VENDOR_NAME: &str = "esxlcm";

/// How a view is made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViewDefinition {
    pub name: String,
    /// Source names, in merge order (the first source's record wins a conflict).
    pub sources: Vec<String>,
    /// A vLCM software spec (JSON): the view is exactly this image's content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<serde_json::Value>,
    pub created_at: i64,
}

impl ViewDefinition {
    /// `merged` or `image`.
    pub fn kind(&self) -> &'static str {
        if self.spec.is_some() { "image" } else { "merged" }
    }
}

/// One completed build of a view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewBuild {
    pub number: u64,
    pub built_at: i64,
    /// Source → snapshot the build was made from.
    pub snapshots: BTreeMap<String, i64>,
    pub components: usize,
    pub vibs: usize,
    pub vib_bytes: u64,
    /// The blobs the build hard-links (kept by gc while the build is the view's).
    pub blobs: Vec<String>,
}

/// Why the last attempt to build failed (the previous build, if any, stays published).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewFailure {
    pub at: i64,
    pub message: String,
}

/// A view as stored: definition, the published build and the last failure after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViewRecord {
    #[serde(flatten)]
    pub definition: ViewDefinition,
    #[serde(default)]
    pub build: Option<ViewBuild>,
    #[serde(default)]
    pub last_error: Option<ViewFailure>,
}

/// One view's refresh, as [`refresh_for_sources`] reports it.
pub type RefreshResult = Result<Refreshed, ViewError>;

/// What a refresh did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refreshed {
    /// A new build is published.
    Built(ViewBuild),
    /// The sources' published snapshots are those of the current build.
    Unchanged(ViewBuild),
}

#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error("view name '{name}' is not valid: {reason}")]
    InvalidName { name: String, reason: &'static str },
    #[error("a view named '{0}' already exists (`esxlcm mirror view remove {0}` first)")]
    Exists(String),
    #[error("no view named '{0}' (see `esxlcm mirror view list`)")]
    Unknown(String),
    #[error("view '{0}': give at least one source")]
    NoSources(String),
    #[error(
        "view '{view}': source '{source_name}' has no published snapshot yet; run `esxlcm mirror sync {source_name}`"
    )]
    NothingPublished { view: String, source_name: String },
    #[error("view '{view}': the software spec is not valid: {message}")]
    BadSpec { view: String, message: String },
    #[error(
        "view '{view}': the image does not resolve against {sources}; the previous build stays published.\n{explanation}"
    )]
    Unresolved { view: String, sources: String, explanation: String },
    #[error("view '{view}': reading snapshot {snapshot} of source '{source_name}': {source}")]
    Depot { view: String, source_name: String, snapshot: i64, source: Box<SourceError> },
    #[error("view '{view}': {message}")]
    Content { view: String, message: String },
    #[error("view '{view}': writing the depot documents: {source}")]
    Write { view: String, source: Box<WriteError> },
    #[error("view record {}: {message}", path.display())]
    Record { path: PathBuf, message: String },
    #[error("view '{view}': its database record is not valid: {message}")]
    Row { view: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `STORE/named-views`.
pub fn root_dir(store_root: &Path) -> PathBuf {
    store_root.join("named-views")
}

/// The directory served at `/views/`: `published/<NAME>` per built view.
pub fn published_dir(store_root: &Path) -> PathBuf {
    root_dir(store_root).join("published")
}

fn builds_dir(store_root: &Path) -> PathBuf {
    root_dir(store_root).join("builds")
}

fn record_path(store_root: &Path, name: &str) -> PathBuf {
    root_dir(store_root).join(format!("{name}.json"))
}

/// View names are URL path segments and vendor directories: lowercase letters, digits,
/// `-` and `_`, starting with a letter or digit, at most 64 characters.
pub fn validate_name(name: &str) -> Result<(), ViewError> {
    let bad = |reason| Err(ViewError::InvalidName { name: name.to_owned(), reason });
    if name.is_empty() || name.len() > 64 {
        return bad("it must have 1 to 64 characters");
    }
    if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_') {
        return bad("only lowercase letters, digits, '-' and '_' are allowed");
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return bad("it must start with a letter or digit");
    }
    Ok(())
}

/// Record a new view (not built yet: [`refresh`] builds it).
pub(crate) fn add(store: &Store, name: &str, sources: &[String], spec: Option<&[u8]>) -> Result<ViewRecord, ViewError> {
    validate_name(name)?;
    if sources.is_empty() {
        return Err(ViewError::NoSources(name.to_owned()));
    }
    for s in sources {
        store.meta.source(s)?;
    }
    let spec = match spec {
        Some(bytes) => {
            let bad = |message: String| ViewError::BadSpec { view: name.to_owned(), message };
            SoftwareSpec::from_json(bytes).map_err(|e| bad(e.to_string()))?;
            Some(serde_json::from_slice::<serde_json::Value>(bytes).map_err(|e| bad(e.to_string()))?)
        }
        None => None,
    };
    let exists =
        if store.has_trees() { record_path(store.root(), name).exists() } else { store.meta.view(name)?.is_some() };
    if exists {
        return Err(ViewError::Exists(name.to_owned()));
    }
    let mut unique = Vec::new();
    for s in sources {
        if !unique.contains(s) {
            unique.push(s.clone());
        }
    }
    let record = ViewRecord {
        definition: ViewDefinition { name: name.to_owned(), sources: unique, spec, created_at: now() },
        build: None,
        last_error: None,
    };
    write_record(store, &record)?;
    Ok(record)
}

/// Every view, by name: the record files of a store with trees, the `views` rows otherwise.
pub fn list(store: &Store) -> Result<Vec<ViewRecord>, ViewError> {
    if store.has_trees() {
        return list_files(store.root());
    }
    store.meta.views()?.into_iter().map(|(name, body)| parse_row(&name, &body)).collect()
}

/// One view.
pub fn get(store: &Store, name: &str) -> Result<ViewRecord, ViewError> {
    validate_name(name)?;
    if !store.has_trees() {
        return match store.meta.view(name)? {
            Some(body) => parse_row(name, &body),
            None => Err(ViewError::Unknown(name.to_owned())),
        };
    }
    let path = record_path(store.root(), name);
    if !path.exists() {
        return Err(ViewError::Unknown(name.to_owned()));
    }
    read_record(&path)
}

fn list_files(store_root: &Path) -> Result<Vec<ViewRecord>, ViewError> {
    let dir = root_dir(store_root);
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io(&dir, e).into()),
    };
    let mut records = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| StoreError::io(&dir, e))?.path();
        let is_record = path.extension().is_some_and(|e| e == "json")
            && path.file_name().is_some_and(|n| !n.to_string_lossy().starts_with('.'));
        if is_record {
            records.push(read_record(&path)?);
        }
    }
    records.sort_by(|a, b| a.definition.name.cmp(&b.definition.name));
    Ok(records)
}

fn parse_row(name: &str, body: &str) -> Result<ViewRecord, ViewError> {
    serde_json::from_str(body).map_err(|e| ViewError::Row { view: name.to_owned(), message: e.to_string() })
}

/// Remove a view: it stops being served first (its published link, or its row with its
/// builds' rows in one transaction), then its builds and record. Its blobs go at the next
/// gc unless a snapshot still holds them.
pub(crate) fn remove(store: &Store, name: &str) -> Result<(), ViewError> {
    get(store, name)?;
    if !store.has_trees() {
        store.meta.remove_view(name)?;
        return Ok(());
    }
    let link = published_dir(store.root()).join(name);
    match fs::remove_file(&link) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(StoreError::io(&link, e).into()),
    }
    remove_builds(store.root(), name, None)?;
    let path = record_path(store.root(), name);
    fs::remove_file(&path).map_err(|e| StoreError::io(&path, e))?;
    sync_dir(&root_dir(store.root()))?;
    Ok(())
}

/// Rebuild a view from its sources' published snapshots (nothing to do when they are those
/// of the current build). On failure the previous build stays published and the record
/// keeps the reason. Run under the store lock.
pub(crate) fn refresh(store: &Store, name: &str) -> Result<Refreshed, ViewError> {
    let mut record = get(store, name)?;
    if store.has_trees() {
        repair_link(store.root(), &record)?;
    }
    build(store, &record).or_else(|e| {
        record.last_error = Some(ViewFailure { at: now(), message: e.to_string() });
        write_record(store, &record)?;
        Err(e)
    })
}

/// Refresh every view that uses one of `sources` (what a sync calls after publishing).
pub(crate) fn refresh_for_sources(
    store: &Store,
    sources: &[String],
) -> Result<Vec<(String, RefreshResult)>, ViewError> {
    let mut out = Vec::new();
    for record in list(store)? {
        if record.definition.sources.iter().any(|s| sources.contains(s)) {
            let name = record.definition.name.clone();
            let result = refresh(store, &name);
            out.push((name, result));
        }
    }
    Ok(out)
}

/// Blobs the views' published builds use: gc keeps them. (On a store without trees the
/// build rows name them too, and the retained previous build's with them:
/// [`crate::meta::MetaStore::referenced_blobs`].)
pub fn referenced_blobs(store: &Store) -> Result<HashSet<BlobId>, StoreError> {
    let records = list(store).map_err(|e| match e {
        ViewError::Store(s) => s,
        other => StoreError::io(&root_dir(store.root()), io::Error::new(io::ErrorKind::InvalidData, other.to_string())),
    })?;
    let mut blobs = HashSet::new();
    for r in records {
        for b in r.build.iter().flat_map(|b| b.blobs.iter()) {
            let id = BlobId::parse(b).ok_or_else(|| {
                let msg = format!("view '{}' names '{b}', which is not a sha-256", r.definition.name);
                StoreError::io(
                    &record_path(store.root(), &r.definition.name),
                    io::Error::new(io::ErrorKind::InvalidData, msg),
                )
            })?;
            blobs.insert(id);
        }
    }
    Ok(blobs)
}

/// The merged catalog of the sources' published snapshots, and each snapshot's files by
/// path (index = the catalog's depot index).
struct Inputs {
    catalog: Catalog,
    files: Vec<HashMap<String, FileEntry>>,
    /// The source of each depot (same index as `files`).
    sources: Vec<crate::source::Source>,
    snapshots: BTreeMap<String, i64>,
    newest: i64,
}

/// A build planned: what it serves, path by path. Planning is the same for both stores;
/// only [`materialise_tree`] and [`materialise_rows`] differ.
struct Planned {
    /// The VIBs, each at its depot-relative path, as the blob it is.
    vibs: Vec<FileEntry>,
    /// The generated documents (vendor list, vendor index, `metadata.zip`) by path.
    documents: BTreeMap<String, Vec<u8>>,
    vib_bytes: u64,
}

fn build(store: &Store, record: &ViewRecord) -> Result<Refreshed, ViewError> {
    let def = &record.definition;
    let view = def.name.as_str();
    let mut published = Vec::new();
    for s in &def.sources {
        let source = store.meta.source(s)?;
        let Some(id) = store.meta.published(source.id)? else {
            return Err(ViewError::NothingPublished { view: view.to_owned(), source_name: s.clone() });
        };
        let created = store.meta.snapshots(source.id)?.iter().find(|x| x.id == id).map_or(0, |x| x.created_at);
        published.push((s.clone(), id, created));
    }
    let snapshots: BTreeMap<String, i64> = published.iter().map(|(s, id, _)| (s.clone(), *id)).collect();
    if let Some(b) = &record.build
        && b.snapshots == snapshots
        && record.last_error.is_none()
        && build_exists(store, view, b.number)?
    {
        return Ok(Refreshed::Unchanged(b.clone()));
    }
    let inputs = read_inputs(store, view, &published)?;
    let timestamp =
        chrono::DateTime::from_timestamp(inputs.newest, 0).unwrap_or_default().format("%Y-%m-%dT%H:%M:%S").to_string();
    let mut content = match &def.spec {
        None => inputs.catalog.select(&Selection::everything(), VENDOR_NAME, view, &timestamp),
        Some(spec) => image_content(view, &def.sources, spec, &inputs.catalog, &timestamp)?,
    };
    content.vendor_name = VENDOR_NAME.to_owned();
    content.vendor_code = view.to_owned();
    let previous = record.build.as_ref().map(|b| b.number);
    let number = previous.map_or(1, |n| n + 1);
    let planned = plan(store, view, &content, &inputs)?;
    let blobs = if store.has_trees() {
        materialise_tree(store, view, number, &planned, &inputs)?
    } else {
        materialise_rows(store, view, number, &planned)?
    };
    let built = ViewBuild {
        number,
        built_at: now(),
        snapshots: inputs.snapshots,
        components: content.bulletins.iter().filter(|b| b.component.is_some()).count(),
        vibs: planned.vibs.len(),
        vib_bytes: planned.vib_bytes,
        blobs: blobs.into_iter().collect(),
    };
    let updated = ViewRecord { definition: def.clone(), build: Some(built.clone()), last_error: None };
    // The record before the link: gc keeps the new build's blobs from here on, and a crash
    // before the swap is repaired by the next refresh (repair_link). Without trees the
    // record's row is the publication: one statement moves the build pointer.
    write_record(store, &updated)?;
    if store.has_trees() {
        link(store.root(), view, number)?;
        remove_builds(store.root(), view, Some(number))?;
    } else {
        // The build before stays (and its blobs with it) for requests that read the old
        // pointer an instant ago; older builds' rows go.
        let keep: Vec<u64> = std::iter::once(number).chain(previous).collect();
        store.meta.prune_view_builds(view, &keep)?;
    }
    tracing::info!(view, build = number, vibs = built.vibs, "view published");
    Ok(Refreshed::Built(built))
}

/// Whether build `number` of a view is there to be served.
fn build_exists(store: &Store, view: &str, number: u64) -> Result<bool, StoreError> {
    if store.has_trees() {
        return Ok(build_dir(store.root(), view, number).is_dir());
    }
    Ok(store.meta.view_builds(view)?.contains(&number))
}

/// The sources' published snapshots read from their rows and blobs, on every backend.
fn read_inputs(store: &Store, view: &str, published: &[(String, i64, i64)]) -> Result<Inputs, ViewError> {
    let mut catalog = Catalog::new();
    let mut files = Vec::new();
    let mut sources = Vec::new();
    for (source, id, _) in published {
        sources.push(store.meta.source(source)?);
        let depot_err =
            |e| ViewError::Depot { view: view.to_owned(), source_name: source.clone(), snapshot: *id, source: e };
        let entries = store.meta.snapshot_files(*id)?;
        let depot = store.files_depot(entries.clone(), &format!("{source} snapshot {id}")).map_err(depot_err)?;
        catalog.add(depot).map_err(|e| depot_err(Box::new(e)))?;
        files.push(entries.into_iter().map(|f| (f.path.clone(), f)).collect());
    }
    for conflict in catalog.conflicts() {
        tracing::warn!(view, "{conflict}");
    }
    Ok(Inputs {
        catalog,
        files,
        sources,
        snapshots: published.iter().map(|(s, id, _)| (s.clone(), *id)).collect(),
        newest: published.iter().map(|(_, _, t)| *t).max().unwrap_or(0),
    })
}

/// Exactly the content the spec's main image needs (as `esxlcm image build --bundle`
/// writes it), or the solver's explanation of why it does not resolve.
fn image_content(
    view: &str,
    sources: &[String],
    spec: &serde_json::Value,
    catalog: &Catalog,
    timestamp: &str,
) -> Result<DepotContent, ViewError> {
    let bytes =
        serde_json::to_vec(spec).map_err(|e| ViewError::BadSpec { view: view.to_owned(), message: e.to_string() })?;
    subset::spec_content(catalog, &bytes, timestamp).map_err(|e| match e {
        SpecError::Invalid(message) => ViewError::BadSpec { view: view.to_owned(), message },
        SpecError::Unresolved(explanation) => {
            ViewError::Unresolved { view: view.to_owned(), sources: sources.join(", "), explanation }
        }
    })
}

/// Plan the online depot (the layout of `esxlcm_depot::write::tree`): every VIB at
/// `<vendor>/vib20/<name>/<id>.vib` as the stored blob it is (an on-demand payload not
/// stored yet is fetched and verified now: a view only ever serves stored blobs), then the
/// documents that describe them.
fn plan(store: &Store, view: &str, content: &DepotContent, inputs: &Inputs) -> Result<Planned, ViewError> {
    let write_err = |source| ViewError::Write { view: view.to_owned(), source: Box::new(source) };
    let content_err = |message: String| ViewError::Content { view: view.to_owned(), message };
    let vendor_dir = esxlcm_depot::write::vendor_directory(&content.vendor_code).map_err(write_err)?;
    let mut vibs: Vec<&Vib> = content.vibs.iter().collect();
    vibs.sort_by_key(|v| v.id());
    let mut located = Vec::with_capacity(vibs.len());
    let mut files = Vec::with_capacity(vibs.len());
    let mut vib_bytes = 0u64;
    let fetcher = crate::ondemand::OnDemand::new();
    for vib in vibs {
        let id = vib.id();
        let (depot, entry) = inputs
            .catalog
            .vib(&id)
            .and_then(|cv| cv.origins.iter().find_map(|o| Some((o.depot, inputs.files.get(o.depot)?.get(&o.path)?))))
            .ok_or_else(|| content_err(format!("VIB {id} is in the metadata but no snapshot holds its file")))?;
        if !store.blobs.contains(&entry.blob)?
            && let Some(source) = inputs.sources.get(depot)
            && let Some(remote) = store.meta.remote_payload(source.id, &entry.path, &entry.blob)?
        {
            fetcher.fetch(store, source, &remote).map_err(|e| {
                content_err(format!("VIB {id} (fetched on demand from source '{}'): {e}", source.config.name))
            })?;
        }
        subset::check_declared(vib, entry).map_err(content_err)?;
        let relative = vib.default_relative_path();
        let path = normal_path(&format!("{vendor_dir}{relative}"))
            .ok_or_else(|| content_err(format!("VIB {id}: '{relative}' is not a safe relative path")))?;
        located.push(subset::place(vib, relative, entry));
        files.push(FileEntry { path, blob: entry.blob.clone(), size: entry.size });
        vib_bytes += entry.size;
    }
    let documents = subset::documents(content, &vendor_dir, located)
        .map_err(|e| content_err(format!("writing the depot documents: {e}")))?;
    Ok(Planned { vibs: files, documents, vib_bytes })
}

/// `a/./b//c` → `a/b/c`; `None` for a path that leaves its root or names nothing.
pub(crate) fn normal_path(relative: &str) -> Option<String> {
    safe_join(Path::new(""), relative)?;
    let parts: Vec<&str> = relative.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    Some(parts.join("/"))
}

/// The build as a directory tree: VIBs hard-linked from their blobs, the documents written,
/// in a temporary directory synced and renamed to `builds/<view>.<number>`. Returns the
/// blobs it links.
fn materialise_tree(
    store: &Store,
    view: &str,
    number: u64,
    planned: &Planned,
    inputs: &Inputs,
) -> Result<BTreeSet<String>, ViewError> {
    let staged = builds_dir(store.root()).join(format!(".tmp-{view}-{}", std::process::id()));
    remove_dir_if_exists(&staged)?;
    fs::create_dir_all(&staged).map_err(|e| StoreError::io(&staged, e))?;
    let written = write_tree(store, view, planned, &staged);
    if let Err(e) = written {
        let _ = fs::remove_dir_all(&staged);
        return Err(e);
    }
    // On-demand payloads the build fetched are served from their sources' trees too.
    for id in inputs.snapshots.values() {
        store.fill_view(*id)?;
    }
    // Every file on disk before the build has a name: a build that exists is complete.
    sync_fs(&staged)?;
    let dest = build_dir(store.root(), view, number);
    remove_dir_if_exists(&dest)?;
    fs::rename(&staged, &dest).map_err(|e| StoreError::io(&dest, e))?;
    sync_dir(&builds_dir(store.root()))?;
    Ok(planned.vibs.iter().map(|f| f.blob.as_str().to_owned()).collect())
}

fn write_tree(store: &Store, view: &str, planned: &Planned, dir: &Path) -> Result<(), ViewError> {
    let content_err = |message: String| ViewError::Content { view: view.to_owned(), message };
    for f in &planned.vibs {
        let target =
            safe_join(dir, &f.path).ok_or_else(|| content_err(format!("'{}' is not a safe relative path", f.path)))?;
        link_blob(store, &f.blob, &target)?;
    }
    for (path, bytes) in &planned.documents {
        let target =
            safe_join(dir, path).ok_or_else(|| content_err(format!("'{path}' is not a safe relative path")))?;
        write_new(&target, bytes)?;
    }
    Ok(())
}

/// The build as rows: the documents stored as blobs (content-addressed, so an unchanged
/// document is the blob it already was), then every file recorded under build `number`
/// in one transaction. Nothing is served until the record's build pointer moves. Returns
/// the blobs the build uses.
fn materialise_rows(store: &Store, view: &str, number: u64, planned: &Planned) -> Result<BTreeSet<String>, ViewError> {
    let mut files = planned.vibs.clone();
    for (path, bytes) in &planned.documents {
        let path = normal_path(path).ok_or_else(|| ViewError::Content {
            view: view.to_owned(),
            message: format!("'{path}' is not a safe relative path"),
        })?;
        let blob = store.blobs.put_bytes(bytes)?;
        files.push(FileEntry { path, blob, size: bytes.len() as u64 });
    }
    files.sort();
    store.meta.add_view_build(view, number, &files)?;
    Ok(files.iter().map(|f| f.blob.as_str().to_owned()).collect())
}

/// A hard link to the blob (copied only where the filesystem refuses links, as
/// snapshot views do).
fn link_blob(store: &Store, blob: &BlobId, target: &Path) -> Result<(), StoreError> {
    if let Some(parent) = target.parent() {
        fs::create_dir_all(parent).map_err(|e| StoreError::io(parent, e))?;
    }
    match store.blobs.local_path(blob) {
        Some(path) => {
            if let Err(e) = fs::hard_link(&path, target) {
                tracing::warn!("cannot hard-link {} ({e}); copying it", path.display());
                fs::copy(&path, target).map_err(|e| StoreError::io(&path, e))?;
            }
        }
        None => {
            let mut r = store.blobs.open(blob)?;
            let mut w = File::create(target).map_err(|e| StoreError::io(target, e))?;
            io::copy(&mut r, &mut w).map_err(|e| StoreError::io(target, e))?;
        }
    }
    Ok(())
}

fn write_new(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| StoreError::io(parent, e))?;
    }
    let mut f = File::create(path).map_err(|e| StoreError::io(path, e))?;
    f.write_all(bytes).map_err(|e| StoreError::io(path, e))
}

fn build_dir(store_root: &Path, view: &str, number: u64) -> PathBuf {
    builds_dir(store_root).join(format!("{view}.{number}"))
}

/// Point `published/<view>` at build `number` (a symlink swapped by rename).
fn link(store_root: &Path, view: &str, number: u64) -> Result<(), StoreError> {
    let dir = published_dir(store_root);
    fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
    crate::store::swap_symlink(&dir, view, &PathBuf::from("../builds").join(format!("{view}.{number}")))
}

/// After a crash between writing the record and swapping the link: link the recorded build.
fn repair_link(store_root: &Path, record: &ViewRecord) -> Result<(), StoreError> {
    match &record.build {
        Some(b) if build_dir(store_root, &record.definition.name, b.number).is_dir() => {
            link(store_root, &record.definition.name, b.number)
        }
        _ => Ok(()),
    }
}

/// Remove the builds of `view` except `keep` (and leftovers of interrupted builds).
fn remove_builds(store_root: &Path, view: &str, keep: Option<u64>) -> Result<(), StoreError> {
    let dir = builds_dir(store_root);
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StoreError::io(&dir, e)),
    };
    let prefix = format!("{view}.");
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io(&dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let number = name.strip_prefix(&prefix).and_then(|n| n.parse::<u64>().ok());
        let leftover = name.starts_with(&format!(".tmp-{view}-"));
        if leftover || number.is_some_and(|n| Some(n) != keep) {
            remove_dir_if_exists(&entry.path())?;
        }
    }
    Ok(())
}

fn read_record(path: &Path) -> Result<ViewRecord, ViewError> {
    let bytes = fs::read(path).map_err(|e| StoreError::io(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| ViewError::Record { path: path.to_path_buf(), message: e.to_string() })
}

/// Write a view's record: its file (temp file, fsync, rename, fsync the directory) on a
/// store with trees; its row otherwise, whose build pointer is what is served.
pub(crate) fn write_record(store: &Store, record: &ViewRecord) -> Result<(), ViewError> {
    if store.has_trees() {
        return write_record_file(store.root(), record);
    }
    let name = &record.definition.name;
    let body =
        serde_json::to_string(record).map_err(|e| ViewError::Row { view: name.clone(), message: e.to_string() })?;
    let published = record.build.as_ref().map(|b| (b.number, b.built_at));
    store.meta.put_view(name, &body, published)?;
    Ok(())
}

/// Temp file, fsync, rename, fsync the directory.
fn write_record_file(store_root: &Path, record: &ViewRecord) -> Result<(), ViewError> {
    let dir = root_dir(store_root);
    fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
    let path = record_path(store_root, &record.definition.name);
    let bytes = serde_json::to_vec_pretty(record)
        .map_err(|e| ViewError::Record { path: path.clone(), message: e.to_string() })?;
    let tmp = dir.join(format!(".{}.json.tmp-{}", record.definition.name, std::process::id()));
    let mut f = File::create(&tmp).map_err(|e| StoreError::io(&tmp, e))?;
    f.write_all(&bytes).and_then(|()| f.sync_all()).map_err(|e| StoreError::io(&tmp, e))?;
    fs::rename(&tmp, &path).map_err(|e| StoreError::io(&path, e))?;
    sync_dir(&dir)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_url_segments_and_vendor_codes() {
        for ok in ["branch-42", "robo_1", "a", "8u3"] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Branch", "-x", "_x", "a.b", "a/b", "@1", &"x".repeat(65)] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn records_round_trip_and_old_builds_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let record = ViewRecord {
            definition: ViewDefinition {
                name: "b".into(),
                sources: vec!["x".into()],
                spec: Some(serde_json::json!({"base_image": {"version": "8.0"}})),
                created_at: 5,
            },
            build: Some(ViewBuild {
                number: 2,
                built_at: 6,
                snapshots: BTreeMap::from([("x".to_owned(), 3)]),
                components: 1,
                vibs: 1,
                vib_bytes: 9,
                blobs: vec!["ab".repeat(32)],
            }),
            last_error: None,
        };
        write_record_file(dir.path(), &record).unwrap();
        assert_eq!(list_files(dir.path()).unwrap(), vec![record.clone()]);
        for n in [1, 2] {
            fs::create_dir_all(build_dir(dir.path(), "b", n)).unwrap();
        }
        fs::create_dir_all(build_dir(dir.path(), "bb", 1)).unwrap();
        // An interrupted build's temporary directory.
        fs::create_dir_all(builds_dir(dir.path()).join(".tmp-b-4242")).unwrap();
        repair_link(dir.path(), &record).unwrap();
        assert_eq!(fs::read_link(published_dir(dir.path()).join("b")).unwrap(), Path::new("../builds/b.2"));
        remove_builds(dir.path(), "b", Some(2)).unwrap();
        assert!(!build_dir(dir.path(), "b", 1).exists() && !builds_dir(dir.path()).join(".tmp-b-4242").exists());
        assert!(build_dir(dir.path(), "b", 2).is_dir() && build_dir(dir.path(), "bb", 1).is_dir());
    }
}
