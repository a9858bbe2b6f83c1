//! `PUT /-/push/<source>`: bundles uploaded with the push token (a bearer token), streamed
//! to a temporary file against the size limit, published by the store; every answer JSON.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use sha2::Digest as _;
use subtle::ConstantTimeEq as _;
use tokio::io::AsyncWriteExt as _;

use super::{PushFailure, StoreIndex};
use crate::api::errors::logged_under_reference;

/// `PUT /-/push/<source>` is served only with one of these (`serve --push-token-file`).
#[derive(Debug, Clone)]
pub struct PushConfig {
    pub token: PushToken,
    /// The largest body taken, in bytes: more is a 413.
    pub max_size: u64,
    /// Where bodies are streamed to (created when missing). Inside the store, so the
    /// bundle is on the filesystem it is published into.
    pub uploads: PathBuf,
}

/// The push secret, kept as its sha-256 only: comparing digests in constant time reveals
/// neither the token's bytes nor its length. Never printed.
#[derive(Clone)]
pub struct PushToken([u8; 32]);

impl std::fmt::Debug for PushToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PushToken(<secret>)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PushTokenError {
    #[error("--push-token-file {}: cannot read it: {source}", path.display())]
    Unreadable { path: PathBuf, source: std::io::Error },
    #[error("--push-token-file {}: empty; write one secret line into it (for example: openssl rand -hex 32 > FILE)", path.display())]
    Empty { path: PathBuf },
    #[error("--push-token-file {}: more than one line; it must hold one secret line", path.display())]
    SeveralLines { path: PathBuf },
}

impl PushToken {
    /// The token in `path`: one line, surrounding whitespace trimmed.
    pub fn from_file(path: &Path) -> Result<Self, PushTokenError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| PushTokenError::Unreadable { path: path.to_path_buf(), source })?;
        Self::parse(&text, path)
    }

    /// `text` read from `path` (named in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Self, PushTokenError> {
        let token = text.trim();
        if token.is_empty() {
            return Err(PushTokenError::Empty { path: path.to_path_buf() });
        }
        if token.lines().count() > 1 {
            return Err(PushTokenError::SeveralLines { path: path.to_path_buf() });
        }
        Ok(Self(sha2::Sha256::digest(token.as_bytes()).into()))
    }

    fn matches(&self, given: &str) -> bool {
        let digest: [u8; 32] = sha2::Sha256::digest(given.as_bytes()).into();
        self.0.ct_eq(&digest).into()
    }
}

/// A push's error answer: `{"error": text}`.
fn push_error(status: StatusCode, text: impl Into<String>) -> Response {
    (status, axum::Json(serde_json::json!({ "error": text.into() }))).into_response()
}

/// A 500 whose detail goes to the log under a reference: the body names the reference only.
fn push_internal_error(detail: impl std::fmt::Display) -> Response {
    push_error(StatusCode::INTERNAL_SERVER_ERROR, logged_under_reference(detail))
}

/// The token of an `Authorization: Bearer <token>` header (the scheme in any case).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// `PUT /-/push/<source>`: authorise, stream the body to a temporary file (bounded), then
/// publish it on a blocking thread. The temporary file goes with the guard in every case.
pub(super) async fn receive(
    index: Arc<dyn StoreIndex>,
    push: Option<Arc<PushConfig>>,
    source: String,
    req: Request,
) -> Response {
    let Some(push) = push else {
        return push_error(
            StatusCode::NOT_FOUND,
            "push uploads are off on this server: start it with esxlcm serve --store STORE --push-token-file FILE \
             (FILE holds one secret line), then send bundles with Authorization: Bearer <that secret>",
        );
    };
    match bearer(req.headers()) {
        None => {
            let mut r = push_error(
                StatusCode::UNAUTHORIZED,
                "a push needs the server's push token: send Authorization: Bearer <token>",
            );
            r.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
            return r;
        }
        Some(given) if !push.token.matches(given) => {
            tracing::warn!(source, "push refused: wrong token");
            return push_error(
                StatusCode::FORBIDDEN,
                "wrong push token: use the secret in the server's --push-token-file",
            );
        }
        Some(_) => {}
    }
    if let Err(e) = esxlcm_store::source::validate_name(&source) {
        return push_error(StatusCode::BAD_REQUEST, e.to_string());
    }
    let too_large = || {
        push_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the bundle is larger than this server takes ({}); raise --push-max-size, \
                 or carry it with esxlcm mirror export/import",
                size_text(push.max_size)
            ),
        )
    };
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > push.max_size) {
        return too_large();
    }
    let upload = match start_upload(&push.uploads).await {
        Ok(u) => u,
        Err(e) => {
            return push_internal_error(format_args!(
                "push into '{source}': cannot create an upload file in {}: {e}",
                push.uploads.display()
            ));
        }
    };
    let (temp, mut file) = upload;
    let mut body = req.into_body().into_data_stream();
    let mut size = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(source, "push: the upload broke off after {size} bytes: {e}");
                return push_error(
                    StatusCode::BAD_REQUEST,
                    format!("the upload broke off after {size} bytes: send it again"),
                );
            }
        };
        size += chunk.len() as u64;
        if size > push.max_size {
            crate::refused_body::drain(&mut body).await;
            return too_large();
        }
        if let Err(e) = file.write_all(&chunk).await {
            return push_internal_error(format_args!("push into '{source}': writing {}: {e}", temp.path().display()));
        }
    }
    if let Err(e) = file.flush().await {
        return push_internal_error(format_args!("push into '{source}': writing {}: {e}", temp.path().display()));
    }
    drop(file);
    if size == 0 {
        return push_error(StatusCode::BAD_REQUEST, "empty body: send the offline bundle (.zip) as the body");
    }
    tracing::info!(source, bytes = size, "push received; publishing");
    let name = source.clone();
    // The guard moves along: the file stays until the push is done with it, even if the
    // client goes away meanwhile.
    let pushed = tokio::task::spawn_blocking(move || {
        let result = index.push(&name, temp.path());
        drop(temp);
        result
    })
    .await;
    match pushed {
        Ok(Ok(summary)) => {
            tracing::info!(source, outcome = ?summary.outcome, snapshot = ?summary.snapshot, "push done");
            axum::Json(summary).into_response()
        }
        Ok(Err(PushFailure::Unsupported(why))) => push_error(StatusCode::NOT_IMPLEMENTED, why),
        Ok(Err(PushFailure::Busy(why))) => {
            let mut r = push_error(StatusCode::CONFLICT, why);
            r.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("30"));
            r
        }
        Ok(Err(PushFailure::Rejected { message, payloads })) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(serde_json::json!({ "error": message, "rejected": payloads })),
        )
            .into_response(),
        Ok(Err(PushFailure::Invalid(why))) => push_error(StatusCode::BAD_REQUEST, why),
        // The store's reason names its paths and OS errors: the log has it, not the client.
        Ok(Err(PushFailure::Store(why))) => push_internal_error(format_args!("push into '{source}' failed: {why}")),
        Err(e) => push_internal_error(format_args!("push into '{source}' stopped unexpectedly: {e}")),
    }
}

/// A new, uniquely named file in `dir` (created if missing), removed when the guard drops,
/// and an async handle to write it.
async fn start_upload(dir: &Path) -> std::io::Result<(tempfile::NamedTempFile, tokio::fs::File)> {
    tokio::fs::create_dir_all(dir).await?;
    let dir = dir.to_path_buf();
    let temp =
        tokio::task::spawn_blocking(move || tempfile::Builder::new().prefix("push-").suffix(".zip").tempfile_in(dir))
            .await
            .map_err(std::io::Error::other)??;
    let file = tokio::fs::File::from_std(temp.as_file().try_clone()?);
    Ok((temp, file))
}

/// `16G`, `700M`, `4K` or bytes: a size as `--push-max-size` takes it.
pub(super) fn size_text(bytes: u64) -> String {
    for (shift, unit) in [(40, "T"), (30, "G"), (20, "M"), (10, "K")] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    format!("{bytes} bytes")
}

#[cfg(test)]
mod tests {
    use super::super::tests::layout_under;
    use super::super::{Overview, PushOutcome, PushSummary, Unavailable, router, router_with_push};
    use super::*;
    use tokio::net::TcpListener;

    #[test]
    fn push_tokens_are_one_trimmed_line_and_bearer_headers_carry_them() {
        let file = Path::new("/etc/esxlcm/push-token");
        let token = PushToken::parse("  s3cret \n", file).unwrap();
        assert!(token.matches("s3cret"));
        assert!(!token.matches("s3cre") && !token.matches("s3cret ") && !token.matches(""));
        assert_eq!(format!("{token:?}"), "PushToken(<secret>)");
        for (text, says) in [("", "empty"), (" \n\t\n", "empty"), ("a\nb\n", "more than one line")] {
            let err = PushToken::parse(text, file).unwrap_err().to_string();
            assert!(err.contains(says) && err.contains("/etc/esxlcm/push-token"), "{text:?}: {err}");
        }
        let err = PushToken::from_file(Path::new("/nonexistent/token")).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/token") && err.contains("cannot read"), "{err}");

        let with = |value: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, header::HeaderValue::from_str(value).unwrap());
            h
        };
        assert_eq!(bearer(&with("Bearer abc")), Some("abc"));
        assert_eq!(bearer(&with("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(&with("Basic abc")), None);
        assert_eq!(bearer(&with("Bearer")), None);
        assert_eq!(bearer(&HeaderMap::new()), None);
        assert_eq!(size_text(16 << 30), "16G");
        assert_eq!(size_text(700 << 20), "700M");
        assert_eq!(size_text(1000), "1000 bytes");
    }

    /// Takes pushes into `ok` (checking the upload is the body sent), answers busy for
    /// `busy`, rejects `bad`.
    struct Pushes;

    impl StoreIndex for Pushes {
        fn open_snapshot(&self, _source: &str, _id: i64) -> Result<(), Unavailable> {
            Ok(())
        }
        fn overview(&self) -> Overview {
            Overview::default()
        }
        fn status(&self) -> serde_json::Value {
            serde_json::Value::Null
        }
        fn push(&self, source: &str, bundle: &Path) -> Result<PushSummary, PushFailure> {
            let body = std::fs::read(bundle).map_err(|e| PushFailure::Store(e.to_string()))?;
            match source {
                "ok" if body == b"PK-bundle" => Ok(PushSummary {
                    source: source.into(),
                    snapshot: Some(3),
                    outcome: PushOutcome::Published,
                    components: Some(1),
                    vibs: Some(2),
                }),
                "busy" => Err(PushFailure::Busy("a sync or push is running; try again".into())),
                "full" => Err(PushFailure::Store("/srv/store/blobs/ab: No space left on device (os error 28)".into())),
                "bad" => Err(PushFailure::Rejected {
                    message: "VMW_bad_1.0 failed".into(),
                    payloads: vec!["VMW_bad_1.0".into()],
                }),
                _ => Err(PushFailure::Invalid("not a bundle".into())),
            }
        }
    }

    /// The push endpoint's statuses, and no upload file left behind in any case.
    #[tokio::test]
    #[allow(clippy::unwrap_used)]
    async fn pushes_are_authorised_bounded_and_answered_in_json() {
        let dir = tempfile::tempdir().unwrap();
        let layout = layout_under(dir.path());
        std::fs::create_dir_all(&layout.published).unwrap();
        let uploads = dir.path().join("uploads");
        let file = dir.path().join("token");
        std::fs::write(&file, "tok\n").unwrap();
        let push = PushConfig { token: PushToken::from_file(&file).unwrap(), max_size: 64, uploads: uploads.clone() };
        let on = router_with_push(&layout, Arc::new(Pushes), Some(push));
        let off = router(&layout, Arc::new(Pushes));
        let mut bases = Vec::new();
        for app in [on, off] {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            bases.push(format!("http://{}", listener.local_addr().unwrap()));
            tokio::spawn(async move { axum::serve(listener, app).await });
        }
        let client = reqwest::Client::new();
        let send = |base: &str, source: &str, token: Option<&str>, body: Vec<u8>| {
            let mut req = client.put(format!("{base}/-/push/{source}")).body(body);
            if let Some(t) = token {
                req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
            }
            req.send()
        };
        let on = &bases[0];
        let ok = send(on, "ok", Some("tok"), b"PK-bundle".to_vec()).await.unwrap();
        assert_eq!(ok.status(), 200);
        let summary: serde_json::Value = ok.json().await.unwrap();
        assert_eq!(
            summary,
            serde_json::json!({"source": "ok", "snapshot": 3, "outcome": "published", "components": 1, "vibs": 2})
        );
        let posted =
            client.post(format!("{on}/-/push/ok")).header(header::AUTHORIZATION, "Bearer tok").body("PK-bundle");
        assert_eq!(posted.send().await.unwrap().status(), 200);
        for (source, token, body, status, says) in [
            ("ok", None, b"PK-bundle".to_vec(), 401, "Authorization: Bearer"),
            ("ok", Some("tok2"), b"PK-bundle".to_vec(), 403, "wrong push token"),
            ("a%20b", Some("tok"), b"PK-bundle".to_vec(), 400, "not a valid source name"),
            ("ok", Some("tok"), Vec::new(), 400, "empty body"),
            ("ok", Some("tok"), vec![0; 65], 413, "--push-max-size"),
            ("busy", Some("tok"), b"PK".to_vec(), 409, "try again"),
            ("bad", Some("tok"), b"PK".to_vec(), 422, "VMW_bad_1.0"),
            ("other", Some("tok"), b"PK".to_vec(), 400, "not a bundle"),
        ] {
            let r = send(on, source, token, body).await.unwrap();
            assert_eq!(r.status(), status, "{source} {token:?}");
            if status == 401 {
                assert_eq!(r.headers()[header::WWW_AUTHENTICATE], "Bearer");
            }
            let doc: serde_json::Value = r.json().await.unwrap();
            assert!(doc["error"].as_str().unwrap().contains(says), "{source}: {doc}");
        }
        let full = send(on, "full", Some("tok"), b"PK".to_vec()).await.unwrap();
        assert_eq!(full.status(), 500);
        let doc: serde_json::Value = full.json().await.unwrap();
        let text = doc["error"].as_str().unwrap();
        assert!(!text.contains("/srv") && !text.contains("os error"), "a 500 names no internals: {text}");
        assert!(text.contains("under reference"), "{text}");
        // Over the limit without a declared length: cut off while streaming.
        let mut conn = tokio::net::TcpStream::connect(on.trim_start_matches("http://")).await.unwrap();
        let mut request = b"PUT /-/push/ok HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\n\
            Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            .to_vec();
        for _ in 0..8 {
            request.extend_from_slice(b"10\r\n0123456789abcdef\r\n");
        }
        request.extend_from_slice(b"0\r\n\r\n");
        conn.write_all(&request).await.unwrap();
        let mut answer = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut conn, &mut answer).await.unwrap();
        assert!(answer.starts_with(b"HTTP/1.1 413"), "{}", String::from_utf8_lossy(&answer));
        assert_eq!(std::fs::read_dir(&uploads).unwrap().count(), 0, "no upload is left behind");

        let off = send(&bases[1], "ok", Some("tok"), b"PK-bundle".to_vec()).await.unwrap();
        assert_eq!(off.status(), 404);
        let doc: serde_json::Value = off.json().await.unwrap();
        assert!(doc["error"].as_str().unwrap().contains("--push-token-file"), "{doc}");
    }
}
