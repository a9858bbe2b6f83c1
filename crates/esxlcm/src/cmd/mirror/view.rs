//! `esxlcm mirror view add|list|remove|refresh`: named views of a mirror store
//! (`esxlcm_store::view`) — several sources merged into one depot, or exactly one image's
//! content — served by `esxlcm serve --store` at `/views/NAME/index.xml`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use esxlcm_store::Store;
use esxlcm_store::ops::LockWait;
use esxlcm_store::view::{self, RefreshResult, ViewBuild};
use serde::Serialize;

use super::render::{describe_build, refresh_line, views_status};
use crate::cmd::Status;
use crate::output::{self, Table};

const AFTER_HELP: &str = "\
A view is one online depot made from the published snapshots of its sources:
  merged view   every source's content in one depot (one vendor list for many depots)
  image view    with --spec: exactly what that image needs (base image, add-on, hardware
                support, components and their VIBs; the spec's alternative images too),
                resolved against the merged sources; give a branch office (ROBO) one
                image's content and nothing else

`esxlcm serve --store DIR` serves a view at /views/NAME/index.xml. A view is built when it
is added and rebuilt after every `mirror sync`, `push`, `rollback` or `import` that
publishes one of its sources (and by `mirror view refresh`); each build is complete before
it is served (atomic swap), VIBs are the stored payloads (hard links on one node; on a
cluster store a build is database rows over the bucket's blobs, served by every replica),
and `mirror gc` keeps what a view uses. When an image view's spec no longer resolves, its
previous build stays served and the solver's explanation is shown here and in `mirror view
list`. `mirror verify` checks that each view serves only verified payloads its metadata
names.

Examples:
  esxlcm mirror view add all --source vmw --source dell
  esxlcm mirror view add branch-8u3 --source vmw --source dell --spec branch-spec.json
  esxlcm mirror view list
  esxlcm mirror view refresh branch-8u3
  esxlcm mirror view remove all && esxlcm mirror gc
  esxcli software sources vib list -d http://MIRROR:8080/views/branch-8u3/index.xml";

#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct ViewArgs {
    #[command(subcommand)]
    pub command: ViewCommand,

    /// Write one JSON object instead of text (esxlcm.mirror.view-list/1 for list,
    /// esxlcm.mirror.view-change/1 for add, remove and refresh)
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ViewCommand {
    /// Define a view (merged, or an image view with --spec) and build it
    Add(AddArgs),
    /// Views with their sources, published build and last failure
    List,
    /// Remove a view (its payloads go at the next gc unless a snapshot holds them)
    Remove(RemoveArgs),
    /// Rebuild views from their sources' published snapshots (default: every view)
    Refresh(RefreshArgs),
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// The view's name: lowercase letters, digits, '-' and '_' (its URL is /views/NAME/)
    pub name: String,
    /// A source of the view (repeatable; the first one wins a conflict)
    #[arg(long = "source", value_name = "SOURCE", required = true)]
    pub sources: Vec<String>,
    /// A vLCM software spec (JSON): the view holds exactly its images' content (the main
    /// image and every alternative image)
    #[arg(long, value_name = "SPEC.json")]
    pub spec: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    pub name: String,
}

#[derive(Debug, Args)]
pub struct RefreshArgs {
    /// Views to rebuild (default: every view)
    pub names: Vec<String>,
}

pub fn run(store: &Store, args: &ViewArgs, out: &mut dyn Write) -> anyhow::Result<Status> {
    match &args.command {
        ViewCommand::Add(a) => add(store, a, args.json, out),
        ViewCommand::List => list(store, args.json, out),
        ViewCommand::Remove(a) => {
            store.remove_view(&a.name, LockWait::NONE)?;
            if args.json {
                change_json(out, "remove", &[(a.name.clone(), None)])?;
                return Ok(Status::Success);
            }
            writeln!(out, "removed view '{}' (run `esxlcm mirror gc` to free payloads only it used)", a.name)?;
            Ok(Status::Success)
        }
        ViewCommand::Refresh(a) => {
            let refreshed = store.refresh_views(&a.names, LockWait::NONE)?;
            if args.json {
                let mut failed = false;
                let views: Vec<_> = refreshed
                    .iter()
                    .map(|(name, result)| {
                        let (line, f) = refresh_line(name, result);
                        failed |= f;
                        (name.clone(), Some((line, f)))
                    })
                    .collect();
                change_json(out, "refresh", &views)?;
                return Ok(views_status(failed));
            }
            if refreshed.is_empty() {
                writeln!(out, "no views; add one with `esxlcm mirror view add NAME --source SOURCE`")?;
                return Ok(Status::Success);
            }
            let mut status = Status::Success;
            for (name, result) in &refreshed {
                status = status.combine(report_refresh(out, name, result)?);
            }
            Ok(status)
        }
    }
}

/// `esxlcm.mirror.view-change/1`: the views an add, remove or refresh touched, each with
/// its build line and whether the build failed (null for a removal).
fn change_json(out: &mut dyn Write, action: &str, views: &[(String, Option<(String, bool)>)]) -> std::io::Result<()> {
    let views: Vec<_> = views
        .iter()
        .map(|(name, r)| match r {
            Some((line, failed)) => serde_json::json!({ "name": name, "result": line, "failed": failed }),
            None => serde_json::json!({ "name": name, "result": null, "failed": false }),
        })
        .collect();
    output::write_json(
        out,
        &serde_json::json!({ "schema": "esxlcm.mirror.view-change/1", "action": action, "views": views }),
    )
}

fn add(store: &Store, a: &AddArgs, json: bool, out: &mut dyn Write) -> anyhow::Result<Status> {
    let spec = match &a.spec {
        Some(path) => Some(std::fs::read(path).with_context(|| format!("cannot read spec {}", path.display()))?),
        None => None,
    };
    let (record, built) = store.add_view(&a.name, &a.sources, spec.as_deref(), LockWait::NONE)?;
    if json {
        let (line, failed) = refresh_line(&a.name, &built);
        change_json(out, "add", &[(a.name.clone(), Some((line, failed)))])?;
        return Ok(views_status(failed));
    }
    writeln!(out, "added {} view '{}' of {}", record.definition.kind(), a.name, record.definition.sources.join(", "))?;
    report_refresh(out, &a.name, &built)
}

/// Writes one view's refresh line; `Findings` when it failed.
fn report_refresh(out: &mut dyn Write, name: &str, result: &RefreshResult) -> anyhow::Result<Status> {
    let (line, failed) = refresh_line(name, result);
    writeln!(out, "{line}")?;
    Ok(views_status(failed))
}

#[derive(Serialize)]
struct ViewListing {
    name: String,
    kind: &'static str,
    sources: Vec<String>,
    spec: Option<serde_json::Value>,
    build: Option<ViewBuild>,
    last_error: Option<String>,
    url_path: String,
}

fn list(store: &Store, json: bool, out: &mut dyn Write) -> anyhow::Result<Status> {
    let records = view::list(store)?;
    if json {
        let listing: Vec<ViewListing> = records
            .into_iter()
            .map(|r| ViewListing {
                kind: r.definition.kind(),
                url_path: format!("/views/{}/index.xml", r.definition.name),
                name: r.definition.name,
                sources: r.definition.sources,
                spec: r.definition.spec,
                build: r.build,
                last_error: r.last_error.map(|e| e.message),
            })
            .collect();
        output::write_json(out, &serde_json::json!({ "schema": "esxlcm.mirror.view-list/1", "views": listing }))?;
        return Ok(Status::Success);
    }
    if records.is_empty() {
        writeln!(out, "no views; add one with `esxlcm mirror view add NAME --source SOURCE`")?;
        return Ok(Status::Success);
    }
    let mut t = Table::new(["NAME", "KIND", "SOURCES", "BUILD", "CONTENT", "URL"]);
    for r in &records {
        let (build, content) = match &r.build {
            Some(b) => (b.number.to_string(), describe_build(b)),
            None => ("-".to_owned(), "not built".to_owned()),
        };
        t.row([
            r.definition.name.clone(),
            r.definition.kind().to_owned(),
            r.definition.sources.join(", "),
            build,
            content,
            format!("/views/{}/index.xml", r.definition.name),
        ]);
    }
    t.write(out, "")?;
    for r in &records {
        if let Some(e) = &r.last_error {
            writeln!(
                out,
                "\n{}: the last build failed (the build above stays published):\n{}",
                r.definition.name, e.message
            )?;
        }
    }
    Ok(Status::Success)
}
