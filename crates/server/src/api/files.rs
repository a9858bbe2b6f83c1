//! The API's file doors: bundle uploads for PUSH offline depots (`POST /vum-fileupload`)
//! and downloads of exported images (`GET /api/esxlcm/exports/<id>/<file>`).

use std::io::Write;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Path as UrlPath;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;

use super::dispatch::{self, authenticate};
use super::errors::ApiError;
use super::state::ApiState;
use super::users::Role;
use super::{audit, rest, services, tasks};
use crate::read_ahead;

/// `POST /vum-fileupload`: store the body as an upload and answer its id (a JSON string)
/// for `Offline.CreateSpec.file_id`. Administrators only.
pub(super) async fn upload(
    State(state): State<Arc<ApiState>>,
    dispatch::Peer(peer): dispatch::Peer,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match upload_bundle(&state, rest::credentials(&headers), peer, body.into_data_stream()).await {
        Ok(id) => (StatusCode::CREATED, axum::Json(id)).into_response(),
        Err(e) => rest::error_response(&e),
    }
}

/// Store `body` as an upload for `Offline.CreateSpec.file_id` (administrators only) and
/// record it in the audit log: the API's door and the web UI's upload form both come here.
pub async fn upload_bundle<S, E>(
    state: &Arc<ApiState>,
    creds: dispatch::Credentials,
    peer: Option<std::net::IpAddr>,
    body: S,
) -> Result<String, ApiError>
where
    S: futures_util::Stream<Item = Result<axum::body::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut who = None;
    let result = store_upload(state, creds, body, &mut who).await;
    let record = esxlcm_store::audit::AuditRecord {
        user: who,
        client: peer.map(|a| a.to_string()),
        action: "upload".to_owned(),
        target: result.as_ref().ok().map(|id| format!("upload={id}")),
        result: result.as_ref().map_or_else(|e| e.kind.name().to_owned(), |_| "ok".to_owned()),
        detail: None,
    };
    audit::append(state, record).await;
    result
}

/// `GET /api/esxlcm/exports/<id>/<file>`: an exported image (the `export` operations
/// hand out these URLs), for any authenticated user.
pub(super) async fn download(
    State(state): State<Arc<ApiState>>,
    UrlPath((export, file)): UrlPath<(String, String)>,
    headers: HeaderMap,
) -> Response {
    export_response(&state, rest::credentials(&headers), &export, &file).await
}

/// An exported image as a download, for any authenticated user (the API's URL and the web
/// UI's both answer with this). Exports are shared files of the store, so any replica
/// serves one, whichever made it.
pub async fn export_response(
    state: &Arc<ApiState>,
    creds: dispatch::Credentials,
    export: &str,
    file: &str,
) -> Response {
    match open_export(state, export, file, creds).await {
        Ok((len, reader)) => {
            let content_type = if file.ends_with(".json") {
                "application/json"
            } else if file.ends_with(".zip") {
                "application/zip"
            } else {
                "application/octet-stream"
            };
            let disposition = format!("attachment; filename=\"{file}\"");
            // Streamed: ISOs and bundles do not fit in memory.
            let key = format!("{export}/{file}");
            let body = read_ahead::stream(read_ahead::read_ahead(move || Ok(reader))).inspect(move |r| {
                if let Err(e) = r {
                    tracing::error!(export = %key, "reading an export to send it: {e}");
                }
            });
            (
                StatusCode::OK,
                [
                    (axum::http::header::CONTENT_TYPE, content_type.to_owned()),
                    (axum::http::header::CONTENT_LENGTH, len.to_string()),
                    (axum::http::header::CONTENT_DISPOSITION, disposition),
                ],
                Body::from_stream(body),
            )
                .into_response()
        }
        Err(e) => rest::error_response(&e),
    }
}

/// The export's length and a reader of its bytes.
async fn open_export(
    state: &Arc<ApiState>,
    export: &str,
    file: &str,
    creds: dispatch::Credentials,
) -> Result<(u64, Box<dyn std::io::Read + Send>), ApiError> {
    authenticate(state, creds).await?;
    // Only names we write: nothing but exports can be reached.
    let missing = || ApiError::not_found("export", &format!("{export}/{file}"));
    if !services::depots::is_upload_id(export) || !services::software::export::EXPORT_FILES.contains(&file) {
        return Err(missing());
    }
    let key = services::software::export::export_key(export, file);
    let opened = state.depots.blocking(move |store| store.open_shared_file(&key)).await;
    match opened.map_err(services::depots::store_error)? {
        Some((record, reader)) => Ok((record.size, reader)),
        None => Err(missing()),
    }
}

async fn store_upload<S, E>(
    state: &Arc<ApiState>,
    creds: dispatch::Credentials,
    mut stream: S,
    who: &mut Option<String>,
) -> Result<String, ApiError>
where
    S: futures_util::Stream<Item = Result<axum::body::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let caller = authenticate(state, creds).await;
    *who = caller.as_ref().ok().map(|c| c.user.clone());
    let allowed = match caller {
        Ok(caller) if caller.role == Role::Admin => Ok(caller),
        Ok(caller) => Err(ApiError::unauthorized(format!("user '{}' is read-only and may not upload", caller.user))),
        Err(e) => Err(e),
    };
    let caller = match allowed {
        Ok(c) => c,
        Err(e) => {
            crate::refused_body::drain(&mut stream).await;
            return Err(e);
        }
    };
    let mut tmp = state.depots.staging_file(".upload-")?;
    let mut size = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::invalid_argument(format!("the upload was interrupted: {e}")))?;
        size += chunk.len() as u64;
        tmp.write_all(&chunk).map_err(|e| ApiError::internal(format!("storing the upload: {e}")))?;
    }
    if size == 0 {
        return Err(ApiError::invalid_argument("the upload is empty"));
    }
    let id = tasks::uuid_v4().map_err(|e| ApiError::internal(e.to_string()))?;
    // Kept in the store, so a `create` reaching any replica finds it.
    let key = services::depots::upload_key(&id);
    let staged = tmp.into_temp_path();
    state.depots.blocking(move |store| store.share_file(&key, &staged)).await.map_err(services::depots::store_error)?;
    tracing::info!(upload = %id, bytes = size, user = %caller.user, "bundle uploaded");
    Ok(id)
}
