//! `esxlcm mirror list`: the sources, their settings (secrets redacted) and schedules.

use std::io::Write;

use chrono::Utc;
use esxlcm_store::Store;
use esxlcm_store::{schedule, status};
use serde::Serialize;

use super::JsonArgs;
use super::render::{ClientCertView, fmt_next};
use crate::cmd::Status;
use crate::output::{self, Table, count};

#[derive(Serialize)]
struct SourceView {
    name: String,
    kind: &'static str,
    url: String,
    description: String,
    enabled: bool,
    payloads: &'static str,
    /// `require`, `warn` or `off`.
    signatures: &'static str,
    headers: Vec<String>,
    proxy: Option<String>,
    ca_file: Option<String>,
    /// Mutual TLS: the certificate's file and subject.
    client_cert: Option<ClientCertView>,
    platforms: Vec<String>,
    vendors: Vec<String>,
    /// How many software specs the source keeps only what they need of (0: everything).
    only_for: usize,
    retention: u32,
    published_snapshot: Option<i64>,
    /// Where `esxlcm serve` serves the source to hosts (the path under the service's
    /// address; `esxlcm serve --store` serves it at `/<name>/index.xml`).
    served_at: String,
    /// `daily 02:30` (UTC), or null.
    schedule: Option<String>,
    /// RFC 3339 UTC, or null without a schedule.
    next_run: Option<String>,
}

pub fn run(store: &Store, a: &JsonArgs, out: &mut dyn Write) -> anyhow::Result<Status> {
    let mut views = Vec::new();
    let now = Utc::now();
    for s in store.sources()? {
        let next_run = schedule::next_run(store, &s, now)?;
        let c = &s.config;
        views.push(SourceView {
            name: c.name.clone(),
            kind: c.kind.as_str(),
            url: c.display_url(),
            description: c.description.clone(),
            enabled: c.enabled,
            payloads: c.payloads.as_str(),
            signatures: c.signatures.as_str(),
            headers: c.display_headers(),
            proxy: c.proxy.as_deref().map(esxlcm_net::redact::redact_url_str),
            ca_file: c.ca_file.as_ref().map(|p| p.display().to_string()),
            client_cert: ClientCertView::of(c),
            platforms: c.platforms.clone(),
            vendors: c.vendors.clone(),
            only_for: c.only_for.len(),
            retention: c.retention,
            published_snapshot: store.published_snapshot(&s)?,
            served_at: format!("{}/{}/index.xml", esxlcm_server::api::DEPOTS_PREFIX, c.name),
            schedule: c.schedule.map(|x| x.to_string()),
            next_run: next_run.map(status::rfc3339),
        });
    }
    if a.json {
        output::write_json(out, &serde_json::json!({ "schema": "esxlcm.mirror.list/1", "sources": views }))?;
        return Ok(Status::Success);
    }
    if views.is_empty() {
        writeln!(out, "no sources; add one with `esxlcm mirror add NAME URL`")?;
        return Ok(Status::Success);
    }
    let mut t = Table::new([
        "NAME",
        "KIND",
        "ENABLED",
        "PAYLOADS",
        "PUBLISHED",
        "SCHEDULE (UTC)",
        "NEXT RUN",
        "FILTERS",
        "URL",
    ]);
    for v in &views {
        let mut filters: Vec<String> = v.platforms.iter().map(|p| format!("platform {p}")).collect();
        filters.extend(v.vendors.iter().map(|p| format!("vendor {p}")));
        if v.only_for > 0 {
            filters.push(format!("only for {}", count(v.only_for, "spec", "specs")));
        }
        filters.extend(v.headers.iter().map(|h| format!("header {h}")));
        filters.extend(v.client_cert.iter().map(ClientCertView::line));
        if v.signatures != "require" {
            filters.push(format!("signatures {}", v.signatures));
        }
        t.row([
            v.name.clone(),
            v.kind.to_owned(),
            if v.enabled { "yes" } else { "no" }.to_owned(),
            v.payloads.to_owned(),
            v.published_snapshot.map_or_else(|| "-".to_owned(), |s| s.to_string()),
            v.schedule.clone().unwrap_or_else(|| "-".to_owned()),
            v.next_run
                .as_deref()
                .and_then(|n| chrono::DateTime::parse_from_rfc3339(n).ok())
                .map_or_else(|| "-".to_owned(), |n| fmt_next(n.with_timezone(&Utc), now)),
            if filters.is_empty() { "-".to_owned() } else { filters.join(", ") },
            v.url.clone(),
        ]);
    }
    t.write(out, "")?;
    Ok(Status::Success)
}
