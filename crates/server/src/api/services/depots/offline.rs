//! `esx.settings.depots.offline`: offline bundles, pulled from a path or URL or pushed
//! through the upload endpoint, published into a `bundle` source of the store by the same
//! operation as `esxlcm mirror push` and `PUT /depots/-/push/…`: verified whole, and
//! refused (nothing published, the new source removed) when any payload fails.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use chrono::Utc;
use esxlcm_store::StoreError;
use esxlcm_store::source::Source;
use esxlcm_store::sync::{NoProgress, Outcome, SyncOptions};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{DepotKind, STORE_WAIT, canceled, is_upload_id, local_path, next_id, store_error};
use crate::api::datavalue::{DataValue, StructValue};
use crate::api::errors::{ApiError, ErrorKind};
use crate::api::handler::{Ctx, HandlerFuture, Out};
use crate::api::persist::{DepotInfo, ServerState};
use crate::api::tasks::Progress;
use crate::api::typed::format_datetime;
use esxlcm_net::redact::redact_url_str;

/// Progress: copying takes 0–80 %, verifying and publishing 80–100 %.
const COPY_SHARE: i64 = 80;

/// The largest bundle a PULL copies (a location that never ends must not fill the disk).
const MAX_PULL: u64 = 64 << 30;

fn offline_plain(source: &Source, info: &DepotInfo, with_time: bool) -> Value {
    // A bundle source added with `esxlcm mirror` reads as pulled from where its last bundle was.
    let (source_type, location) = match (&info.source_type, &info.file_id) {
        (Some(t), Some(_)) if t == "PUSH" => (t.clone(), info.location.clone()),
        (Some(t), _) if t == "PULL" => (t.clone(), info.location.clone()),
        _ => ("PULL".to_owned(), Some(info.location.clone().unwrap_or_else(|| source.config.display_url()))),
    };
    let mut v = json!({
        "description": source.config.description,
        "source_type": source_type,
        "location": location,
        "file_id": info.file_id,
        "owner": info.owner,
        "ownerdata": info.ownerdata,
    });
    if let (true, Some(m)) = (with_time, v.as_object_mut()) {
        let time = info.create_time.clone().unwrap_or_else(|| format_datetime(Utc::now()));
        m.insert("create_time".into(), Value::String(time));
    }
    v
}

pub fn offline_list(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let render = |s: &Source, info: &DepotInfo| offline_plain(s, info, false);
        Ok(Out::Plain(ctx.state.depots.listing(DepotKind::Offline, render).await?))
    })
}

pub fn offline_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id: String = ctx.input("depot")?;
        let depots = &ctx.state.depots;
        let (source, _) = depots.depot(&id, DepotKind::Offline).await?;
        Ok(Out::Plain(offline_plain(&source, &depots.info(&id), true)))
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

pub fn offline_create(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let spec: OfflineCreateSpec = ctx.input("spec")?;
        let depots = &ctx.state.depots;
        // Staged beside the store's other uploads: the source names its last bundle, which
        // is not kept once published (the store knows an upload that is gone).
        let staging = esxlcm_store::Store::uploads_dir(depots.store().root());
        std::fs::create_dir_all(&staging).map_err(|e| internal("preparing the upload area", &e))?;
        let staged = tempfile::Builder::new()
            .prefix(".incoming-")
            .suffix(".zip")
            .tempfile_in(&staging)
            .map_err(|e| internal("preparing the upload area", &e))?;
        let progress = ctx.progress.clone();
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
                        check_pull_root(&path, ctx.state.pull_roots.as_deref())?;
                        let file = staged.reopen().map_err(|e| internal("staging the bundle", &e))?;
                        let p = progress.clone();
                        tokio::task::spawn_blocking(move || copy_local(&path, file, p.as_ref()))
                            .await
                            .map_err(|e| ApiError::internal(e.to_string()))??
                    }
                    None => {
                        check_not_self(&location, ctx.origin.as_deref())?;
                        let data_dir = depots.data_dir().to_path_buf();
                        let auth = spec.authentication_spec.as_ref();
                        download(&data_dir, &location, auth, staged.path(), progress.as_ref()).await?
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
                let Some((upload, reader)) = depots.open_upload(&id).await? else {
                    return Err(ApiError::invalid_argument(format!(
                        "no uploaded file '{id}': upload the bundle first (POST /vum-fileupload)"
                    )));
                };
                let file = staged.reopen().map_err(|e| internal("staging the bundle", &e))?;
                let p = progress.clone();
                let label = format!("upload {id}");
                let sha = tokio::task::spawn_blocking(move || copy_from(reader, upload.size, &label, file, p.as_ref()))
                    .await
                    .map_err(|e| ApiError::internal(e.to_string()))??;
                (None, Some(id), sha)
            }
            other => return Err(ApiError::invalid_argument(format!("unknown source_type '{other}'"))),
        };
        if let Some(p) = &progress {
            p.set_cancelable(false);
            p.set(COPY_SHARE, 100, "Verifying and publishing the depot");
        }
        check_not_imported(&*depots.snapshot().await, &sha)?;

        // A new bundle source, published by the store's push (the same judgement as
        // `esxlcm mirror push`). Ids are never reused; one taken by `esxlcm mirror` is skipped.
        let bundle = staged.path().to_path_buf();
        let (id, pushed) = loop {
            let id = depots.mutate(|s| Ok(next_id(s, "offline"))).await?;
            let (name, file) = (id.clone(), bundle.clone());
            let description = spec.description.clone().unwrap_or_default();
            let result = depots
                .blocking(move |store| {
                    if store.source(&name).is_ok() {
                        return Err(StoreError::SourceExists(name));
                    }
                    let pushed = store.push(&name, &file, &SyncOptions::default(), STORE_WAIT, &NoProgress);
                    let accepted = pushed.as_ref().is_ok_and(|p| p.report.outcome != Outcome::Rejected);
                    if accepted {
                        store.configure_source(&name, STORE_WAIT, |c| c.description = description)?;
                    } else if store.source(&name).is_ok() {
                        // A refused bundle leaves no empty depot behind.
                        store.remove_source(&name, STORE_WAIT)?;
                    }
                    pushed
                })
                .await;
            match result {
                Err(StoreError::SourceExists(_)) => continue,
                other => break (id, other),
            }
        };
        let pushed = pushed.map_err(|e| refused_bundle(e, &bundle))?;
        if pushed.report.outcome == Outcome::Rejected {
            let why: Vec<String> =
                pushed.report.rejected.iter().map(|x| format!("{} ({}): {}", x.name, x.path, x.reason)).collect();
            return Err(ApiError::new(
                ErrorKind::InvalidArgument,
                "com.vmware.esxlcm.depot.rejected",
                format!(
                    "not imported: {} payload(s) failed verification ({}); download the bundle again",
                    why.len(),
                    why.join("; ")
                ),
            ));
        }
        let info = DepotInfo {
            owner: Some(ctx.caller.user.clone()),
            ownerdata: spec.ownerdata,
            location,
            source_type: Some(spec.source_type),
            file_id: file_id.clone(),
            create_time: Some(format_datetime(Utc::now())),
            sha256: Some(sha),
        };
        depots
            .mutate(|s| {
                s.depot_info.insert(id.clone(), info);
                Ok(())
            })
            .await?;
        drop(staged);
        if let Some(fid) = &file_id {
            depots.consume_upload(fid).await;
        }
        depots.invalidate_catalog().await;
        tracing::info!(depot = %id, user = %ctx.caller.user, "offline depot imported");
        Ok(Out::Plain(json!({ "depot": id })))
    })
}

/// A local PULL reads only below `pull_roots` of `config.json` (when set): the API must not
/// become a way to read any file the server can.
fn check_pull_root(path: &Path, roots: Option<&[std::path::PathBuf]>) -> Result<(), ApiError> {
    let Some(roots) = roots else { return Ok(()) };
    let resolved = std::fs::canonicalize(path)
        .map_err(|e| ApiError::invalid_argument(format!("cannot read {}: {e}", path.display())))?;
    let allowed = roots.iter().filter_map(|r| std::fs::canonicalize(r).ok()).any(|r| resolved.starts_with(&r));
    if allowed {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorKind::Unauthorized,
            "com.vmware.esxlcm.depot.pull_root",
            format!(
                "{} is outside the directories offline depots may be pulled from (`pull_roots` in config.json); \
                 upload the bundle instead (POST /vum-fileupload, then source_type PUSH)",
                path.display()
            ),
        ))
    }
}

/// A PULL URL naming this service itself would make the server download from itself.
fn check_not_self(location: &str, origin: Option<&str>) -> Result<(), ApiError> {
    let (Ok(url), Some(origin)) = (url::Url::parse(location), origin) else { return Ok(()) };
    let authority = match (url.host_str(), url.port_or_known_default()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        _ => return Ok(()),
    };
    let origin = if origin.contains(':') { origin.to_owned() } else { format!("{origin}:443") };
    if authority.eq_ignore_ascii_case(&origin) {
        return Err(ApiError::invalid_argument(format!(
            "{} points back at this service; upload the bundle (POST /vum-fileupload) or pull it from its source",
            redact_url_str(location)
        )));
    }
    Ok(())
}

/// A push the store refused as the API answers it: a bundle it cannot read is the
/// client's problem (named without the server's staging path).
fn refused_bundle(e: StoreError, staged: &Path) -> ApiError {
    match e {
        StoreError::Document { file, message, .. } => {
            let message = message.replace(&staged.display().to_string(), "the bundle");
            let what = if file.contains(".incoming-") { String::new() } else { format!("{file}: ") };
            ApiError::invalid_argument(format!("not a usable offline bundle: {what}{message}"))
        }
        other => store_error(other),
    }
}

/// The same bytes imported twice are one depot: `already_exists` names it in `data`.
fn check_not_imported(state: &ServerState, sha: &str) -> Result<(), ApiError> {
    match state.depot_info.iter().find(|(_, d)| d.sha256.as_deref() == Some(sha)) {
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

fn internal(what: &str, e: &std::io::Error) -> ApiError {
    tracing::error!("{what}: {e}");
    ApiError::internal(format!("{what} failed; see the server's log"))
}

/// Copy a local bundle, hashing it and reporting progress; returns the SHA-256. Only
/// regular files are read (a FIFO or device would never end), and at most [`MAX_PULL`].
fn copy_local(src: &Path, out: File, progress: Option<&Progress>) -> Result<String, ApiError> {
    let unreadable = |why: String| unreadable(&src.display().to_string(), why);
    let meta = std::fs::metadata(src).map_err(|e| unreadable(e.to_string()))?;
    if !meta.is_file() {
        return Err(unreadable("not a regular file (give the path of an offline bundle .zip)".into()));
    }
    let input = File::open(src).map_err(|e| unreadable(e.to_string()))?;
    copy_from(Box::new(input), meta.len(), &src.display().to_string(), out, progress)
}

fn unreadable(what: &str, why: String) -> ApiError {
    ApiError::new(
        ErrorKind::InvalidArgument,
        "com.vmware.esxlcm.depot.unreadable",
        format!("cannot read {what}: {why}"),
    )
}

/// Copy `input` (`total` bytes, named `what` in errors) into `out`, at most [`MAX_PULL`]
/// bytes, with progress and cancellation; answers the sha-256 of what was copied.
fn copy_from(
    input: Box<dyn Read + Send>,
    total: u64,
    what: &str,
    mut out: File,
    progress: Option<&Progress>,
) -> Result<String, ApiError> {
    let mut input = input.take(MAX_PULL + 1);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut done = 0u64;
    loop {
        if progress.is_some_and(Progress::is_canceled) {
            return Err(canceled());
        }
        let n = input.read(&mut buf).map_err(|e| unreadable(what, e.to_string()))?;
        if n == 0 {
            break;
        }
        done += n as u64;
        if done > MAX_PULL {
            return Err(unreadable(what, format!("larger than {MAX_PULL} bytes")));
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(|e| internal("staging the bundle", &e))?;
        report_copy(progress, done, total);
    }
    out.sync_all().map_err(|e| internal("staging the bundle", &e))?;
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

/// Fetch a bundle over HTTP(S) (with the optional header of `authentication_spec`) into
/// `dest`, at most [`MAX_PULL`] bytes, hashing it afterwards.
async fn download(
    data_dir: &Path,
    location: &str,
    auth: Option<&AuthenticationSpec>,
    dest: &Path,
    progress: Option<&Progress>,
) -> Result<String, ApiError> {
    let url = url::Url::parse(location)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| ApiError::invalid_argument(format!("unsupported location '{}'", redact_url_str(location))))?;
    let header = match auth {
        None => None,
        Some(a) => match (a.method.as_str(), &a.authentication_key, &a.authentication_value) {
            ("HEADER_AUTH", Some(k), Some(v)) => Some(format!("{k}: {v}")),
            _ => return Err(ApiError::invalid_argument("authentication_spec needs HEADER_AUTH with a key and value")),
        },
    };
    let progress = progress.cloned();
    let dest = dest.to_path_buf();
    let data_dir = data_dir.to_path_buf();
    // The blocking client runs a runtime of its own: made, used and dropped off the async threads.
    let result = tokio::task::spawn_blocking(move || {
        let client =
            super::http_client(&data_dir).map_err(|e| esxlcm_net::NetError::Setup { message: e.to_string() })?;
        let report = |done: u64, total: Option<u64>| report_copy(progress.as_ref(), done, total.unwrap_or(0));
        let cancelled = || progress.as_ref().is_some_and(Progress::is_canceled);
        let how = esxlcm_net::Download {
            max_bytes: MAX_PULL,
            header: header.as_deref(),
            progress: &report,
            cancelled: &cancelled,
        };
        client.download_to_file(&url, &dest, &how)?;
        let (digest, _) =
            hash_file(&dest).map_err(|e| esxlcm_net::NetError::LocalFile { path: dest.clone(), source: e })?;
        Ok::<_, esxlcm_net::NetError>(digest)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
    result.map_err(|e| match e {
        esxlcm_net::NetError::Cancelled { .. } => canceled(),
        esxlcm_net::NetError::LocalFile { source, .. } => internal("staging the bundle", &source),
        other => ApiError::new(
            ErrorKind::ResourceInaccessible,
            "com.vmware.esxlcm.depot.fetch",
            esxlcm_net::redact::redact_text(&other.to_string()),
        ),
    })
}

/// SHA-256 and size of a file.
fn hash_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut f = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let got = f.read(&mut buf)?;
        if got == 0 {
            break;
        }
        hasher.update(buf.get(..got).unwrap_or_default());
        n += got as u64;
    }
    Ok((hex::encode(hasher.finalize()), n))
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
        ctx.state.depots.depot(&id, DepotKind::Offline).await?;
        super::online::remove_depot(&ctx, &id).await?;
        Ok(Out::Plain(Value::Null))
    })
}

pub fn offline_content_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id: String = ctx.input("depot")?;
        let what = format!("offline depot {id}");
        Ok(Out::Plain(ctx.state.depots.published_content(&id, DepotKind::Offline, &what).await?))
    })
}
