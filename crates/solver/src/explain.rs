//! Explanations of unmet dependencies: the chain from the component to the constraint,
//! what the image has instead, which components need the failing VIB (walked on the
//! dependency graph), and the fixes the catalog offers — base images that provide the
//! capability, and older versions of the component whose dependencies this image meets.

use std::collections::BTreeSet;
use std::sync::Arc;

use esxlcm_depot::catalog::Catalog;
use esxlcm_depot::model::{Constraint, Vib};
use petgraph::visit::{Bfs, Reversed};

use crate::graph::{VibGraph, satisfies};
use crate::image::{EffectiveImage, source_text};
use crate::notification::{Notification, Severity, ids};

/// At most this many alternatives of one kind are named.
const MAX_LISTED: usize = 3;

/// The notification for VIB `i` of `g` whose constraint `c` nothing in the image meets.
pub fn unmet_dependency(
    image: &EffectiveImage,
    catalog: &Catalog,
    g: &VibGraph,
    i: usize,
    c: &Constraint,
) -> Notification {
    let vib = &g.vibs[i];
    let owner = &g.owners[i];
    let comp = image.components.get(owner);
    let base = image.base_image.to_string();
    let mut lines = Vec::new();
    match comp {
        Some(comp) => lines.push(format!(
            "component {} {} (from the {}) needs {c} (VIB {} {} depends on {c})",
            comp.name,
            comp.version,
            source_text(comp.source),
            vib.name,
            vib.version
        )),
        None => lines.push(format!("component {owner} needs {c} (VIB {} {} depends on {c})", vib.name, vib.version)),
    }
    // Same name, wrong version?
    let near: Vec<String> = g
        .vibs
        .iter()
        .flat_map(|v| {
            let own = (v.name == c.name).then(|| format!("VIB {} {}", v.name, v.version));
            let provided = v
                .provides
                .iter()
                .filter(|p| p.name == c.name)
                .map(|p| match &p.version {
                    Some(pv) => format!("VIB {} {} (provides {} {pv})", v.name, v.version, p.name),
                    None => format!("VIB {} {} (provides {} without a version)", v.name, v.version, p.name),
                })
                .collect::<Vec<_>>();
            own.into_iter().chain(provided)
        })
        .collect();
    if near.is_empty() {
        lines.push(format!("no VIB of base image {base} or of the image's other components provides {}", c.name));
    } else {
        lines.push(format!("the image has {}, which does not satisfy {c}", near.join(", ")));
    }
    // Who else fails with it: components whose VIBs depend on this one, transitively.
    let dependents = dependents(g, i);
    if !dependents.is_empty() {
        let list: Vec<String> = dependents.into_iter().collect();
        lines.push(format!("components that depend on {owner} through their VIBs fail with it: {}", list.join(", ")));
    }
    // Base images that provide it.
    let providing = base_images_providing(catalog, c, image.base_image.as_str());
    let mut fixes = Vec::new();
    if !providing.is_empty() {
        let shown: Vec<String> = providing
            .iter()
            .take(MAX_LISTED)
            .map(|(bi, vib_id)| format!("base image {bi} provides it (VIB {vib_id})"))
            .collect();
        let mut line = shown.join("; ");
        if providing.len() > MAX_LISTED {
            line.push_str(&format!("; and {} more base images", providing.len() - MAX_LISTED));
        }
        lines.push(line);
        fixes.push(format!("use base image {} or later", providing[0].0));
    }
    // Older versions of the component whose dependencies this image meets.
    if let Some(comp) = comp {
        match older_fitting_version(catalog, g, owner, &comp.version) {
            Some((version, needs)) => {
                let needs = if needs.is_empty() { "nothing".to_owned() } else { needs.join(", ") };
                lines.push(format!("or {owner} {version} fits this image: its VIBs need only {needs}"));
                fixes.push(format!("use {owner} {version}"));
            }
            None => lines.push(format!("no older version of {owner} in the depots fits this image either")),
        }
    }
    if providing.is_empty() && near.is_empty() {
        fixes.push(format!("add a component that provides {}", c.name));
    } else if providing.is_empty() {
        fixes.push(format!("pick versions of {owner} and of what provides {} that fit together", c.name));
    }
    Notification::new(
        ids::DEPENDENCY_UNMET,
        Severity::Error,
        format!(
            "VIB {} of component {owner} requires {c}, but the requirement cannot be satisfied within the image",
            vib.id()
        ),
        vec![vib.id(), owner.clone(), c.to_string()],
    )
    .with_explanation(lines)
    .with_resolution(fixes.join(", or "), Vec::new())
}

/// Components (other than VIB `i`'s own) with a VIB that depends on VIB `i`, directly or
/// through other VIBs: a breadth-first walk against the edges of the dependency graph.
fn dependents(g: &VibGraph, i: usize) -> BTreeSet<String> {
    let reversed = Reversed(&g.graph);
    let mut bfs = Bfs::new(reversed, g.nodes[i]);
    let mut out = BTreeSet::new();
    while let Some(node) = bfs.next(reversed) {
        let j = g.graph[node];
        if g.owners[j] != g.owners[i] {
            out.insert(g.owners[j].clone());
        }
    }
    out
}

/// Base images of the catalog (other than `current`), lowest version first, with the first
/// of their VIBs that satisfies `c`.
pub fn base_images_providing(catalog: &Catalog, c: &Constraint, current: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (base, vib) in catalog.base_image_providers(&c.name) {
        if base.as_str() == current || !satisfies(vib, c) {
            continue;
        }
        // The first satisfying VIB of each base image (entries are grouped by base image).
        if out.last().is_none_or(|(b, _)| b != base.as_str()) {
            out.push((base.to_string(), vib.id()));
        }
    }
    out
}

/// The highest version of `component` below `current` whose VIBs' dependencies are all met
/// by the image (without the component's current VIBs), with the names they depend on.
fn older_fitting_version(
    catalog: &Catalog,
    g: &VibGraph,
    component: &str,
    current: &esxlcm_version::Version,
) -> Option<(String, Vec<String>)> {
    let others: Vec<&Arc<Vib>> =
        g.vibs.iter().zip(&g.owners).filter(|(_, o)| o.as_str() != component).map(|(v, _)| v).collect();
    for entry in catalog.component_versions(component).into_iter().rev() {
        let Some(spec) = &entry.bulletin.component else { continue };
        if &spec.version >= current {
            continue;
        }
        let Some(candidate): Option<Vec<Arc<Vib>>> =
            entry.bulletin.vib_ids.iter().map(|id| catalog.vib(id).map(|e| Arc::clone(&e.vib))).collect()
        else {
            continue;
        };
        let met = candidate.iter().all(|v| {
            v.depends
                .iter()
                .all(|c| others.iter().any(|o| satisfies(o, c)) || candidate.iter().any(|o| satisfies(o, c)))
        });
        if met {
            let needs: BTreeSet<String> =
                candidate.iter().flat_map(|v| v.depends.iter().map(ToString::to_string)).collect();
            return Some((spec.version.to_string(), needs.into_iter().collect()));
        }
    }
    None
}
