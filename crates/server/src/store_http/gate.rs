//! The path gate in front of the file server: snapshot and view URLs mapped to their
//! trees, a snapshot opened (materialised) or a view checked (its tree, or its row on a
//! store without trees) before its files are looked up, and a file a source's tree lacks
//! fetched on demand first.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use esxlcm_store::view::ViewError;

use super::{FetchFailure, StoreIndex, StoreLayout, Unavailable, VIEWS_PREFIX, internal_error, plain_text};
use crate::depot_http;

/// What a request path addresses, by its first segments.
#[derive(Debug, PartialEq, Eq)]
enum Target<'a> {
    Snapshot { source: &'a str, id: Option<i64> },
    View { name: &'a str },
    Other,
}

fn target(uri_path: &str) -> Target<'_> {
    let mut segments = uri_path.trim_start_matches('/').split('/');
    let (first, second) = (segments.next().unwrap_or_default(), segments.next());
    match second {
        Some(s) if first == VIEWS_PREFIX && !s.is_empty() => Target::View { name: s },
        Some(s) if s.starts_with('@') => Target::Snapshot { source: first, id: snapshot_id(s) },
        _ => Target::Other,
    }
}

/// `@12` → 12 (digits only; anything else names no snapshot).
fn snapshot_id(segment: &str) -> Option<i64> {
    let digits = segment.strip_prefix('@')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The file for a URL path (relative to the published directory):
/// `<source>/@<id>/rest` → `snapshots/<id>/rest`, `views/<name>/rest` → `views/<name>/rest`
/// under the views directory, `<source>/rest` → `published/<source>/rest`. The store's own
/// directories and links (`published/<source>` and a named view are symlinks the store
/// swaps) are the root; only `rest` is checked for symlinks.
pub(super) fn map_path(layout: &StoreLayout, relative: &Path) -> Option<depot_http::Mapped> {
    let parts: Vec<&str> = relative
        .components()
        .filter_map(|c| match c {
            Component::Normal(p) => p.to_str(),
            _ => None,
        })
        .collect();
    let mapped = |root: PathBuf, rest: &[&str]| Some(depot_http::Mapped { root, rest: rest.iter().collect() });
    match parts.as_slice() {
        [first, name, rest @ ..] if *first == VIEWS_PREFIX => mapped(layout.views.join(name), rest),
        [source, snapshot, rest @ ..] if snapshot.starts_with('@') => {
            snapshot_id(snapshot).and_then(|id| mapped(layout.snapshots.join(id.to_string()), rest))
        }
        [source, rest @ ..] if !source.starts_with(['-', '.']) => mapped(layout.published.join(source), rest),
        _ => None,
    }
}

/// Before a snapshot's or view's file is looked up: the snapshot exists (and is
/// materialised), the view is built; otherwise a 404 that says what is wrong.
pub(super) async fn gate(index: Arc<dyn StoreIndex>, layout: Arc<StoreLayout>, req: Request, next: Next) -> Response {
    let views = layout.views.clone();
    let path = req.uri().path().to_owned();
    match target(&path) {
        Target::Snapshot { source, id: None } => {
            let text = format!(
                "'{}' is not a snapshot: snapshot URLs are /{source}/@<id>/index.xml (ids: esxlcm mirror status)\n",
                path.trim_start_matches('/').split('/').nth(1).unwrap_or_default()
            );
            return not_found(text);
        }
        Target::Snapshot { source, id: Some(id) } => {
            let (source_name, opener) = (source.to_owned(), Arc::clone(&index));
            let opened = tokio::task::spawn_blocking(move || opener.open_snapshot(&source_name, id)).await;
            match opened {
                Ok(Ok(())) => {}
                Ok(Err(Unavailable::Missing(why))) => return not_found(format!("{why}\n")),
                Ok(Err(Unavailable::Busy(why))) => {
                    let mut busy = plain_text(StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n"));
                    busy.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("30"));
                    return busy;
                }
                Err(e) => return internal_error(format_args!("opening snapshot {id} of '{source}' failed: {e}")),
            }
        }
        Target::View { name } => {
            let built = match layout.rows.clone() {
                // Without trees: the view's row says whether a build is published.
                Some(store) => {
                    let view = name.to_owned();
                    let built = tokio::task::spawn_blocking(move || match esxlcm_store::view::get(&store, &view) {
                        Ok(record) => Ok(record.build.is_some()),
                        Err(ViewError::Unknown(_) | ViewError::InvalidName { .. }) => Ok(false),
                        Err(e) => Err(e.to_string()),
                    })
                    .await;
                    match built {
                        Ok(Ok(built)) => built,
                        Ok(Err(e)) => return internal_error(format_args!("reading view '{name}' failed: {e}")),
                        Err(e) => return internal_error(format_args!("reading view '{name}' failed: {e}")),
                    }
                }
                None => tokio::fs::metadata(views.join(name)).await.is_ok_and(|m| m.is_dir()),
            };
            if !built {
                return not_found(format!(
                    "no published view '{name}' (esxlcm mirror view list; a view is served once it has built)\n"
                ));
            }
        }
        Target::Other => {}
    }
    if let Some(failed) = fetch_if_missing(&index, &layout, &path).await {
        return failed;
    }
    next.run(req).await
}

/// A source file (`/<source>/…` or `/<source>/@<id>/…`) that is not on disk: ask the store
/// to fetch it (an on-demand payload). `Some(response)` when that failed.
async fn fetch_if_missing(index: &Arc<dyn StoreIndex>, layout: &StoreLayout, uri_path: &str) -> Option<Response> {
    let Ok(decoded) = percent_decode(uri_path) else { return None };
    let relative = decoded.trim_start_matches('/');
    let mut parts = relative.splitn(2, '/');
    let (source, rest) = (parts.next()?, parts.next()?);
    if source == VIEWS_PREFIX || source.starts_with(['-', '.']) || source.is_empty() {
        return None;
    }
    let (snapshot, file) = match rest.split_once('/') {
        Some((first, file)) if first.starts_with('@') => (Some(snapshot_id(first)?), file),
        _ => (None, rest),
    };
    if file.is_empty() || file.ends_with('/') || file.split('/').any(|p| p == ".." || p == "." || p.is_empty()) {
        return None;
    }
    let present = if layout.rows.is_some() {
        let (index, source_name, file_path) = (Arc::clone(index), source.to_owned(), file.to_owned());
        tokio::task::spawn_blocking(move || index.has_payload(&source_name, snapshot, &file_path)).await.unwrap_or(true)
    } else {
        let on_disk = match snapshot {
            Some(id) => layout.snapshots.join(id.to_string()).join(file),
            None => layout.published.join(source).join(file),
        };
        tokio::fs::metadata(&on_disk).await.is_ok()
    };
    if present {
        return None;
    }
    let (index, source_name, file_path) = (Arc::clone(index), source.to_owned(), file.to_owned());
    let fetched = tokio::task::spawn_blocking(move || index.fetch_missing(&source_name, snapshot, &file_path)).await;
    match fetched {
        Ok(Ok(()) | Err(FetchFailure::NotOnDemand)) => None,
        Ok(Err(FetchFailure::BadGateway(why))) => Some(plain_text(StatusCode::BAD_GATEWAY, format!("{why}\n"))),
        Ok(Err(FetchFailure::Timeout(why))) => Some(plain_text(StatusCode::GATEWAY_TIMEOUT, format!("{why}\n"))),
        // The store's reason names its paths and OS errors: the log has it, not the client.
        Ok(Err(FetchFailure::Store(why))) => {
            Some(internal_error(format_args!("storing an on-demand payload of '{source}' failed: {why}")))
        }
        Err(e) => Some(internal_error(format_args!("fetching an on-demand payload of '{source}' failed: {e}"))),
    }
}

/// `%XX` escapes of a URL path decoded (VIB file names may carry escaped characters).
fn percent_decode(path: &str) -> Result<String, ()> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(())?;
            let text = std::str::from_utf8(hex).map_err(|_| ())?;
            out.push(u8::from_str_radix(text, 16).map_err(|_| ())?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ())
}

fn not_found(text: String) -> Response {
    plain_text(StatusCode::NOT_FOUND, text)
}

#[cfg(test)]
mod tests {
    use super::super::tests::layout_under;
    use super::super::{Overview, serve};
    use super::*;
    use tokio::net::TcpListener;

    #[test]
    fn snapshot_and_view_urls_map_to_their_trees() {
        let layout = StoreLayout {
            published: PathBuf::from("/s/published"),
            snapshots: PathBuf::from("/s/views"),
            views: PathBuf::from("/s/named-views/published"),
            rows: None,
        };
        let map = |p: &str| map_path(&layout, Path::new(p));
        let at = |root: &str, rest: &str| Some(depot_http::Mapped { root: root.into(), rest: rest.into() });
        assert_eq!(map("vmw/@12/vmw/metadata.zip"), at("/s/views/12", "vmw/metadata.zip"));
        assert_eq!(map("views/branch/index.xml"), at("/s/named-views/published/branch", "index.xml"));
        assert_eq!(map("vmw/index.xml"), at("/s/published/vmw", "index.xml"));
        assert_eq!(map("vmw/@x/index.xml"), None);
        assert_eq!(target("/vmw/@3/index.xml"), Target::Snapshot { source: "vmw", id: Some(3) });
        assert_eq!(target("/vmw/@-3/index.xml"), Target::Snapshot { source: "vmw", id: None });
        assert_eq!(target("/views/b/index.xml"), Target::View { name: "b" });
        assert_eq!(target("/vmw/index.xml"), Target::Other);
        assert_eq!(target("/index.xml"), Target::Other);
    }

    struct Fixed;

    impl StoreIndex for Fixed {
        fn open_snapshot(&self, source: &str, id: i64) -> Result<(), Unavailable> {
            match (source, id) {
                ("vmw", 3) => Ok(()),
                ("vmw", 5) => Err(Unavailable::Busy("a sync is running".into())),
                _ => Err(Unavailable::Missing(format!("snapshot {id} of '{source}' does not exist"))),
            }
        }
        fn overview(&self) -> Overview {
            Overview::default()
        }
        fn status(&self) -> serde_json::Value {
            serde_json::json!({"sources": []})
        }
    }

    /// Snapshot and view files keep the depot server's HTTP semantics: content type, ETag
    /// and 304, Range and If-Range, HEAD; a missing snapshot or view is a 404 in words.
    #[tokio::test]
    #[allow(clippy::unwrap_used)]
    async fn snapshot_and_view_files_keep_http_semantics() {
        let dir = tempfile::tempdir().unwrap();
        let layout = layout_under(dir.path());
        let big: Vec<u8> = (0..(2 << 20) + 5u32).map(|i| (i % 241) as u8).collect();
        let small = b"<vendorList/>".to_vec();
        std::fs::create_dir_all(layout.snapshots.join("3/vmw")).unwrap();
        std::fs::create_dir_all(layout.views.join("branch/branch/vib20/x")).unwrap();
        std::fs::create_dir_all(&layout.published).unwrap();
        std::fs::write(layout.snapshots.join("3/index.xml"), &small).unwrap();
        std::fs::write(layout.views.join("branch/branch/vib20/x/big.vib"), &big).unwrap();
        std::fs::write(layout.views.join("branch/index.xml"), &small).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { serve(listener, &layout, Arc::new(Fixed), std::future::pending()).await });
        let client = reqwest::Client::new();
        for (path, content, ct) in [
            ("/vmw/@3/index.xml", &small, "text/xml"),
            ("/views/branch/index.xml", &small, "text/xml"),
            ("/views/branch/branch/vib20/x/big.vib", &big, "application/octet-stream"),
        ] {
            let url = format!("{base}{path}");
            let full = client.get(&url).send().await.unwrap();
            assert_eq!(full.status(), 200, "{path}");
            assert_eq!(full.headers()[header::CONTENT_TYPE], ct, "{path}");
            let etag = full.headers()[header::ETAG].clone();
            assert!(full.headers().contains_key(header::LAST_MODIFIED), "{path}");
            assert_eq!(full.bytes().await.unwrap().as_ref(), content.as_slice(), "{path}");
            let head = client.head(&url).send().await.unwrap();
            assert_eq!(head.status(), 200, "HEAD {path}");
            assert_eq!(head.headers()[header::ETAG], etag, "{path}");
            let cached = client.get(&url).header(header::IF_NONE_MATCH, etag.clone()).send().await.unwrap();
            assert_eq!(cached.status(), 304, "{path}");
            let part = client.get(&url).header(header::RANGE, "bytes=5-").header(header::IF_RANGE, etag.clone());
            let part = part.send().await.unwrap();
            assert_eq!(part.status(), 206, "{path}");
            assert_eq!(part.bytes().await.unwrap().as_ref(), &content[5..], "{path}");
            let stale = client.get(&url).header(header::RANGE, "bytes=5-").header(header::IF_RANGE, "\"old\"");
            assert_eq!(stale.send().await.unwrap().status(), 200, "a changed file is sent whole: {path}");
        }
        for (path, says) in [
            ("/vmw/@4/index.xml", "snapshot 4 of 'vmw' does not exist"),
            ("/vmw/@x/index.xml", "is not a snapshot"),
            ("/views/none/index.xml", "no published view 'none'"),
        ] {
            let r = client.get(format!("{base}{path}")).send().await.unwrap();
            assert_eq!(r.status(), 404, "{path}");
            assert!(r.text().await.unwrap().contains(says), "{path}");
        }
        let busy = client.get(format!("{base}/vmw/@5/index.xml")).send().await.unwrap();
        assert_eq!(busy.status(), 503);
        assert_eq!(busy.headers()[header::RETRY_AFTER], "30");
        let status: serde_json::Value =
            client.get(format!("{base}/-/status")).send().await.unwrap().json().await.unwrap();
        assert_eq!(status, serde_json::json!({"sources": []}));
    }

    /// Fetches `vmw/lazy.vib` on demand into the published tree; `bad.vib` fails
    /// verification, `slow.vib` times out; everything else is not on demand.
    struct Lazy {
        published: PathBuf,
    }

    impl StoreIndex for Lazy {
        fn open_snapshot(&self, _source: &str, _id: i64) -> Result<(), Unavailable> {
            Ok(())
        }
        fn overview(&self) -> Overview {
            Overview::default()
        }
        fn status(&self) -> serde_json::Value {
            serde_json::Value::Null
        }
        fn fetch_missing(&self, source: &str, snapshot: Option<i64>, path: &str) -> Result<(), FetchFailure> {
            match (source, snapshot, path) {
                ("vmw", None, "v/lazy.vib") => std::fs::write(self.published.join("vmw/v/lazy.vib"), b"fetched")
                    .map_err(|e| FetchFailure::Store(e.to_string())),
                ("vmw", Some(7), "v/bad.vib") => {
                    Err(FetchFailure::BadGateway("VIB VMW_bad_1.0 failed verification; quarantined".into()))
                }
                ("vmw", None, "v/slow.vib") => Err(FetchFailure::Timeout("VIB VMW_slow_1.0: no answer".into())),
                ("vmw", None, "v/full.vib") => {
                    Err(FetchFailure::Store("/srv/store/payloads/ab: No space left on device (os error 28)".into()))
                }
                _ => Err(FetchFailure::NotOnDemand),
            }
        }
    }

    /// A file missing from a tree is asked for once; the answer decides 200, 502, 504 or 404.
    #[tokio::test]
    #[allow(clippy::unwrap_used)]
    async fn missing_files_are_fetched_on_demand_or_fail_with_the_gateway_status() {
        let dir = tempfile::tempdir().unwrap();
        let layout = layout_under(dir.path());
        std::fs::create_dir_all(layout.published.join("vmw/v")).unwrap();
        std::fs::create_dir_all(layout.snapshots.join("7/v")).unwrap();
        let index = Arc::new(Lazy { published: layout.published.clone() });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { serve(listener, &layout, index, std::future::pending()).await });
        let client = reqwest::Client::new();
        let get = |path: &str| client.get(format!("{base}{path}")).send();
        let lazy = get("/vmw/v/lazy.vib").await.unwrap();
        assert_eq!(lazy.status(), 200);
        assert_eq!(lazy.bytes().await.unwrap().as_ref(), b"fetched");
        let bad = get("/vmw/@7/v/bad.vib").await.unwrap();
        assert_eq!(bad.status(), 502);
        assert!(bad.text().await.unwrap().contains("VMW_bad_1.0"));
        let slow = get("/vmw/v/slow.vib").await.unwrap();
        assert_eq!(slow.status(), 504);
        assert!(slow.text().await.unwrap().contains("VMW_slow_1.0"));
        let full = get("/vmw/v/full.vib").await.unwrap();
        assert_eq!(full.status(), 500);
        let text = full.text().await.unwrap();
        assert!(!text.contains("/srv") && !text.contains("os error"), "a 500 names no internals: {text}");
        assert!(text.contains("under reference"), "{text}");
        assert_eq!(get("/vmw/v/other.vib").await.unwrap().status(), 404);
        assert_eq!(get("/vmw/v/%2e%2e/x.vib").await.unwrap().status(), 404);
    }
}
