//! `/` (what the store serves, in words) and `/-/status` (the sources' sync status
//! documents).

use std::sync::Arc;

use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::push::size_text;
use super::{Overview, StoreIndex, VIEWS_PREFIX, internal_error};

pub(super) async fn status(index: Arc<dyn StoreIndex>) -> Response {
    match tokio::task::spawn_blocking(move || index.status()).await {
        Ok(doc) => axum::Json(doc).into_response(),
        Err(e) => internal_error(format_args!("reading the status documents failed: {e}")),
    }
}

pub(super) async fn overview(index: Arc<dyn StoreIndex>, push_max_size: Option<u64>) -> impl IntoResponse {
    let mut overview = tokio::task::spawn_blocking(move || index.overview()).await.unwrap_or_default();
    overview.push_max_size = push_max_size;
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], render(&overview))
}

/// `/` in words: each source with its snapshots, each view, and how to use them.
pub fn render(o: &Overview) -> String {
    let mut text = String::from("esxlcm mirror store\n\n");
    if o.sources.is_empty() {
        text.push_str("No sources yet: esxlcm mirror add NAME URL && esxlcm mirror sync\n");
    } else {
        text.push_str("Sources (vendor lists):\n");
        for s in &o.sources {
            match s.published {
                Some(id) => text.push_str(&format!("  /{}/index.xml  (snapshot {id})\n", s.name)),
                None => text.push_str(&format!("  {}: nothing published yet\n", s.name)),
            }
            if !s.snapshots.is_empty() {
                let urls: Vec<String> = s.snapshots.iter().map(|id| format!("/{}/@{id}/index.xml", s.name)).collect();
                text.push_str(&format!("    snapshots: {}\n", urls.join("  ")));
            }
            if let Some(line) = &s.status {
                text.push_str(&format!("    sync: {line}\n"));
            }
        }
    }
    if !o.views.is_empty() {
        text.push_str("\nViews:\n");
        for v in &o.views {
            let what = format!("{} view of {}", v.kind, v.sources.join(", "));
            match v.build {
                Some(b) => text.push_str(&format!("  /{VIEWS_PREFIX}/{}/index.xml  ({what}; build {b})\n", v.name)),
                None => text.push_str(&format!("  {}: not built yet ({what})\n", v.name)),
            }
            if let Some(e) = &v.error {
                let first = e.lines().next().unwrap_or_default();
                text.push_str(&format!("    last build failed: {first}\n"));
            }
        }
    }
    for p in &o.problems {
        text.push_str(&format!("\nproblem: {p}\n"));
    }
    if let Some(max) = o.push_max_size {
        text.push_str(&format!(
            "\nPush offline bundles (bearer token; up to {}): PUT /-/push/<source>\n  \
             curl --fail -T bundle.zip -H \"Authorization: Bearer $(cat TOKEN_FILE)\" http://<this host>/-/push/<source>\n",
            size_text(max)
        ));
    }
    text.push_str(
        "\nSync status (JSON): /-/status\n\
         Use: esxcli software sources vib list -d http://<this host>/<source>/index.xml\n",
    );
    text
}

#[cfg(test)]
mod tests {
    use super::super::{SourceSummary, ViewSummary};
    use super::*;

    #[test]
    fn the_listing_names_every_url() {
        let o = Overview {
            sources: vec![SourceSummary {
                name: "vmw".into(),
                published: Some(4),
                snapshots: vec![3, 4],
                status: Some("succeeded at 2026-11-23T02:30:00Z".into()),
            }],
            views: vec![ViewSummary {
                name: "branch".into(),
                kind: "image".into(),
                sources: vec!["vmw".into()],
                build: Some(2),
                error: Some("the image does not resolve\nmore".into()),
            }],
            problems: Vec::new(),
            push_max_size: Some(16 << 30),
        };
        let text = render(&o);
        for want in [
            "/vmw/index.xml  (snapshot 4)",
            "/vmw/@3/index.xml  /vmw/@4/index.xml",
            "sync: succeeded",
            "/views/branch/index.xml  (image view of vmw; build 2)",
            "last build failed: the image does not resolve\n",
            "/-/status",
            "(bearer token; up to 16G): PUT /-/push/<source>",
        ] {
            assert!(text.contains(want), "{want:?} in:\n{text}");
        }
        assert!(!render(&Overview::default()).contains("/-/push/"), "not mentioned when off");
    }
}
