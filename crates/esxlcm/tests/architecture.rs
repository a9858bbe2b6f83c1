//! The crate graph of docs/ARCHITECTURE.md, enforced: `cargo metadata` lists each
//! workspace crate's normal (non-dev) dependencies, and an arrow the architecture forbids
//! fails here, naming the arrow and the rule.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// Each workspace crate → the workspace crates and outside crates it depends on (normal
/// dependencies only: tests may use anything).
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&out.stderr));
    let meta: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON");
    let mut graph = BTreeMap::new();
    for p in meta["packages"].as_array().expect("packages") {
        let deps: BTreeSet<String> = p["dependencies"]
            .as_array()
            .expect("dependencies")
            .iter()
            .filter(|d| d["kind"].is_null())
            .map(|d| d["name"].as_str().expect("name").to_owned())
            .collect();
        graph.insert(p["name"].as_str().expect("name").to_owned(), deps);
    }
    graph
}

/// The arrows that must never exist, with the reason docs/ARCHITECTURE.md gives.
fn violations(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut found = Vec::new();
    let mut forbid = |from: &str, to: &str, why: &str| {
        if graph.get(from).is_some_and(|d| d.contains(to)) {
            found.push(format!("{from} → {to}: {why}"));
        }
    };
    forbid("esxlcm-depot", "esxlcm-solver", "depot is formats only; the solver reads depots, not the reverse");
    forbid("esxlcm-solver", "esxlcm-server", "the solver is pure");
    for lib in graph.keys().filter(|n| *n != "esxlcm") {
        forbid(lib, "esxlcm", "no library depends on the binary");
    }
    for krate in graph.keys().filter(|n| *n != "esxlcm-net") {
        forbid(krate, "reqwest", "esxlcm-net is the one HTTP client");
    }
    for krate in graph.keys().filter(|n| *n != "esxlcm-server") {
        forbid(krate, "axum", "esxlcm-server is the only crate that serves HTTP");
        forbid(krate, "axum-server", "esxlcm-server is the only crate that serves HTTP");
    }
    for pure in ["esxlcm-solver", "esxlcm-version"] {
        for io in ["tokio", "reqwest", "rusqlite", "esxlcm-net", "esxlcm-store", "esxlcm-collect"] {
            forbid(pure, io, "the solver and versions do no I/O");
        }
    }
    for formats in ["esxlcm-depot", "esxlcm-iso", "esxlcm-version"] {
        for http in ["esxlcm-net", "esxlcm-server", "esxlcm-store", "tokio"] {
            forbid(formats, http, "format crates know no HTTP, no store and no runtime");
        }
    }
    forbid("esxlcm-store", "esxlcm-server", "the store knows no HTTP serving");
    for other in ["esxlcm-server", "esxlcm-store", "esxlcm-builder", "tokio"] {
        forbid("esxlcm-collect", other, "the collector reads hosts and posts through the API, nothing more");
    }
    forbid("esxlcm-store", "esxlcm-builder", "the store uses the image's content, not the builder");
    found
}

#[test]
fn the_crate_graph_keeps_the_architecture() {
    let graph = graph();
    for expected in
        ["esxlcm", "esxlcm-depot", "esxlcm-solver", "esxlcm-store", "esxlcm-server", "esxlcm-net", "esxlcm-collect"]
    {
        assert!(graph.contains_key(expected), "{expected} is a workspace crate: {:?}", graph.keys());
    }
    let found = violations(&graph);
    assert!(found.is_empty(), "forbidden dependencies (see docs/ARCHITECTURE.md):\n{}", found.join("\n"));
}

#[test]
fn a_forbidden_arrow_is_found() {
    let mut graph = graph();
    graph.get_mut("esxlcm-depot").expect("depot").insert("esxlcm-solver".into());
    graph.get_mut("esxlcm-store").expect("store").insert("reqwest".into());
    graph.get_mut("esxlcm-collect").expect("collect").insert("esxlcm-server".into());
    let found = violations(&graph);
    assert!(found.iter().any(|v| v.starts_with("esxlcm-collect → esxlcm-server")), "{found:?}");
    assert!(found.iter().any(|v| v.starts_with("esxlcm-depot → esxlcm-solver")), "{found:?}");
    assert!(found.iter().any(|v| v.starts_with("esxlcm-store → reqwest")), "{found:?}");
}
