//! The home page: depots with their last and next sync, the store's health, tasks running
//! and recent, and the hosts' compliance at a glance; every section links onwards.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use maud::html;
use serde_json::json;

use super::super::Ui;
use super::super::auth::Viewer;
use super::super::error::UiError;
use super::super::layout::{self, enc, s};
use super::depots::{DepotRow, depot_rows};
use super::tasks::task_rows;

/// Store-wide numbers for the health card.
struct Health {
    snapshots: usize,
    bytes: u64,
    quarantined: usize,
}

fn health(rows: &[DepotRow], quarantined: usize) -> Health {
    Health {
        snapshots: rows.iter().map(|r| r.snapshots).sum(),
        bytes: rows.iter().map(|r| r.published_bytes).sum(),
        quarantined,
    }
}

pub async fn page(viewer: Viewer, State(ui): State<Arc<Ui>>) -> Result<Response, UiError> {
    let (rows, quarantined) = depot_rows(&ui).await?;
    let h = health(&rows, quarantined.len());
    let store = Arc::clone(ui.api.depots.store());
    let verified = tokio::task::spawn_blocking(move || store.last_verify())
        .await
        .map_err(|e| UiError::internal(format!("reading the store: {e}")))?
        .map_err(|e| UiError::internal(format!("reading the store: {e}")))?;
    let tasks = task_rows(&ui, &viewer).await?;
    let running: Vec<_> = tasks.iter().filter(|t| matches!(t.status.as_str(), "RUNNING" | "PENDING")).collect();
    let recent: Vec<_> = tasks.iter().filter(|t| !matches!(t.status.as_str(), "RUNNING" | "PENDING")).take(5).collect();
    let clusters = ui.call(&viewer, "com.esxlcm.inventory.clusters", "list", json!({})).await?;
    let hosts = ui.call(&viewer, "com.esxlcm.inventory.hosts", "list", json!({})).await?;
    let mut compliance = Vec::new();
    for (id, c) in clusters.as_object().into_iter().flatten() {
        let status = match ui
            .call(&viewer, "com.vmware.esx.settings.clusters.software.compliance", "get", json!({"cluster": id}))
            .await
        {
            Ok(v) => s(&v, "status").to_owned(),
            Err(_) => "not scanned".to_owned(),
        };
        compliance.push((id.clone(), s(c, "name").to_owned(), status));
    }
    let host_count = hosts.as_object().map_or(0, serde_json::Map::len);
    let with_state = hosts.as_object().into_iter().flatten().filter(|(_, h)| h.get("state_time").is_some()).count();
    let body = html! {
        div.grid {
            section.card aria-labelledby="h-depots" {
                h2 #h-depots { a href="/ui/depots" { "Depots" } }
                @if rows.is_empty() { p { "No depots yet. " a href="/ui/depots" { "Add one" } "." } }
                @else {
                    table {
                        thead { tr { th scope="col" { "Depot" } th scope="col" { "Last sync" } th scope="col" { "Next sync" } } }
                        tbody {
                            @for r in rows.iter().take(8) {
                                tr {
                                    td { a href={ "/ui/depots/" (enc(&r.name)) } { (r.name) } }
                                    td { (r.last_sync) }
                                    td { (r.next_sync) }
                                }
                            }
                        }
                    }
                    @if rows.len() > 8 { p { a href="/ui/depots" { "All " (rows.len()) " depots" } } }
                }
            }
            section.card aria-labelledby="h-health" {
                h2 #h-health { "Store health" }
                dl.facts {
                    dt { "Published size" } dd { (layout::bytes(h.bytes)) }
                    dt { "Snapshots" } dd { (h.snapshots) }
                    dt { "Quarantined files" } dd {
                        @if h.quarantined == 0 { span.ok { "none" } } @else { span.bad { (h.quarantined) } " — see " a href="/ui/depots" { "depots" } }
                    }
                    dt { "Last verify" } dd {
                        @match &verified {
                            None => { span.warn { "never" } " — run " code { "esxlcm mirror verify" } }
                            Some(v) if v.problems == 0 => {
                                span.ok { "clean" } ", " (layout::epoch(v.finished_at))
                                " (" (v.blobs_checked) " files, " (v.snapshots_checked) " snapshots)"
                            }
                            Some(v) => {
                                span.bad { (v.problems) " problems" } ", " (layout::epoch(v.finished_at))
                                @if let Some(first) = &v.first_problem { " — first: " (first) }
                            }
                        }
                    }
                }
            }
            section.card aria-labelledby="h-tasks" {
                h2 #h-tasks { a href="/ui/tasks" { "Tasks" } }
                h3 { "Running" }
                @if running.is_empty() { p.muted { "None." } }
                ul { @for t in &running { li { a href={ "/ui/tasks/" (enc(&t.id)) } { (t.label) } " — " (t.status) } } }
                h3 { "Recent" }
                @if recent.is_empty() { p.muted { "None." } }
                ul { @for t in &recent { li { a href={ "/ui/tasks/" (enc(&t.id)) } { (t.label) } " — " (t.status) } } }
            }
            section.card aria-labelledby="h-compliance" {
                h2 #h-compliance { a href="/ui/compliance" { "Compliance" } }
                p { (host_count) " hosts, " (with_state) " with a posted state." }
                @if compliance.is_empty() { p.muted { "No clusters yet." } }
                ul {
                    @for (id, name, status) in &compliance {
                        li { a href={ "/ui/compliance/clusters/" (enc(id)) } { (name) } ": " (status_badge(status)) }
                    }
                }
            }
        }
    };
    Ok(layout::ok(layout::page(&viewer, "Overview", "/ui/", body)))
}

/// A compliance status with its colour (and the word, never colour alone).
pub fn status_badge(status: &str) -> maud::Markup {
    let class = match status {
        "COMPLIANT" | "SUCCEEDED" => "ok",
        "NON_COMPLIANT" | "INCOMPATIBLE" | "FAILED" => "bad",
        _ => "warn",
    };
    html! { span class=(class) { (status) } }
}
