//! Validation of an effective image's VIBs (depot-format §8.2, §8.3): the image is
//! expanded to its VIBs and checked with a dependency graph (nodes: VIBs; edges: from a
//! VIB to each VIB that satisfies one of its `depends`, by name or `provides`).
//!
//! Rules, each with its notification ID in [`crate::notification::ids`]:
//!
//! * every VIB a component lists is in the catalog (`vib.missing`);
//! * `replaces`: a VIB matched by another image VIB's `replaces` is dropped from the image
//!   (`vib.replaced`, info), not reported as a conflict;
//! * at most one VIB per name (`vib.duplicate_name`). The implicit "a newer VIB replaces
//!   an older one of the same name" of esxcli profile edits is *not* applied between
//!   components: it would silently take a VIB away from a component;
//! * every `depends` is satisfied by an image VIB's name and version, or by one of its
//!   `provides`, honouring the relation (`dependency.unmet`);
//! * no image VIB matches another's `conflicts`, by name or `provides` (`conflict`);
//! * the image's acceptance level (its lowest VIB's) is at least the requested minimum
//!   (`acceptance.too_low`);
//! * each VIB's `softwarePlatform` (product line `embeddedEsx` or unset) version pattern
//!   matches the base image version; an unparsable pattern matches, as in the catalog
//!   filter (`platform.mismatch`);
//! * the image holds a base VIB (`esx-base` [I]) and a bootable kernel module (a payload
//!   of type `boot`) (`image.not_bootable`). A warning, not an error: metadata-only and
//!   test depots resolve without one, and only booting needs it (an ISO export refuses
//!   such an image). The second half is checked only when the image's VIB metadata lists
//!   payloads at all: catalogs built from metadata without payload lists cannot tell.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use esxlcm_depot::catalog::Catalog;
use esxlcm_depot::model::{Constraint, Vib};
use esxlcm_version::PlatformPattern;

use crate::explain;
use crate::graph::{VibGraph, name_index};
use crate::image::{EffectiveImage, source_text};
use crate::notification::{Notification, Severity, ids};
use crate::options::ResolveOptions;

/// Expand the image to VIBs (filling `image.vibs` with the effective set) and check them.
pub fn validate(image: &mut EffectiveImage, catalog: &Catalog, options: &ResolveOptions) -> Vec<Notification> {
    let mut notes = Vec::new();
    // Expand, keeping the component of each VIB.
    let mut vibs: Vec<Arc<Vib>> = Vec::new();
    let mut owners: Vec<String> = Vec::new();
    let mut seen = BTreeSet::new();
    for c in image.components.values() {
        for id in &c.vib_ids {
            match catalog.vib(id) {
                Some(entry) => {
                    if seen.insert(id.clone()) {
                        vibs.push(Arc::clone(&entry.vib));
                        owners.push(c.name.clone());
                    }
                }
                None => notes.push(
                    Notification::new(
                        ids::VIB_MISSING,
                        Severity::Error,
                        format!("VIB {id} of component {} {} is not in the depots", c.name, c.version),
                        vec![id.clone(), c.name.clone(), c.version.to_string()],
                    )
                    .with_resolution(
                        "add a depot that has the VIB file's metadata (the component's depot)",
                        Vec::new(),
                    ),
                ),
            }
        }
    }

    // Replaces: drop every VIB another image VIB replaces.
    let mut replaced_by: BTreeMap<usize, usize> = BTreeMap::new();
    let all_names = name_index(&vibs);
    for (a, vib) in vibs.iter().enumerate() {
        for c in &vib.replaces {
            for &b in all_names.get(&c.name).map_or(&[][..], Vec::as_slice) {
                let other = &vibs[b];
                if a != b && c.is_satisfied_by(&other.name, Some(&other.version)) {
                    replaced_by.entry(b).or_insert(a);
                }
            }
        }
    }
    for (&b, &a) in &replaced_by {
        notes.push(Notification::new(
            ids::VIB_REPLACED,
            Severity::Info,
            format!(
                "VIB {} of component {} is replaced by VIB {} of component {} and left out of the image",
                vibs[b].id(),
                owners[b],
                vibs[a].id(),
                owners[a]
            ),
            vec![vibs[b].id(), owners[b].clone(), vibs[a].id(), owners[a].clone()],
        ));
    }
    let keep: Vec<usize> = (0..vibs.len()).filter(|i| !replaced_by.contains_key(i)).collect();
    let vibs: Vec<Arc<Vib>> = keep.iter().map(|&i| Arc::clone(&vibs[i])).collect();
    let owners: Vec<String> = keep.iter().map(|&i| owners[i].clone()).collect();
    image.vibs = vibs.iter().map(|v| (v.id(), Arc::clone(v))).collect();

    let mut g = VibGraph::without_edges(vibs, owners);

    // One VIB per name.
    let mut by_name: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, v) in g.vibs.iter().enumerate() {
        by_name.entry(v.name.as_str()).or_default().push(i);
    }
    for (name, list) in &by_name {
        if list.len() > 1 {
            let holders: Vec<String> =
                list.iter().map(|&i| format!("component {} has VIB {}", g.owners[i], g.vibs[i].id())).collect();
            notes.push(
                Notification::new(
                    ids::VIB_DUPLICATE_NAME,
                    Severity::Error,
                    format!("the image has {} VIBs named {name}; an image holds at most one VIB per name", list.len()),
                    vec![(*name).to_owned()],
                )
                .with_explanation(holders)
                .with_resolution("keep only one of these components, or versions that share the VIB", Vec::new()),
            );
        }
    }

    // Dependencies: edges first, so that explanations can walk them.
    let mut unmet = Vec::new();
    for i in 0..g.vibs.len() {
        for c in &g.vibs[i].depends {
            let providers = g.providers(c, None);
            if providers.is_empty() {
                unmet.push((i, c.clone()));
            }
            for p in providers {
                g.graph.add_edge(g.nodes[i], g.nodes[p], c.clone());
            }
        }
    }
    for (i, c) in unmet {
        notes.push(explain::unmet_dependency(image, catalog, &g, i, &c));
    }

    // Conflicts.
    for a in 0..g.vibs.len() {
        for c in &g.vibs[a].conflicts {
            for b in g.providers(c, Some(a)) {
                notes.push(conflict(image, &g, a, b, c));
            }
        }
    }

    // Acceptance level.
    if let (Some(min), Some(level)) = (options.min_acceptance, image.acceptance_level())
        && level < min
    {
        let mut below: Vec<String> = (0..g.vibs.len())
            .filter(|&i| g.vibs[i].acceptance_level < min)
            .map(|i| format!("VIB {} of component {} is {}", g.vibs[i].id(), g.owners[i], g.vibs[i].acceptance_level))
            .collect();
        let total = below.len();
        if total > 10 {
            below.truncate(10);
            below.push(format!("and {} more VIBs below {min}", total - 10));
        }
        notes.push(
            Notification::new(
                ids::ACCEPTANCE_TOO_LOW,
                Severity::Error,
                format!("the image's acceptance level is {level}, below the required {min}"),
                vec![level.to_string(), min.to_string()],
            )
            .with_explanation(below)
            .with_resolution(
                format!("remove or replace the components below {min}, or lower the minimum (a risk)"),
                Vec::new(),
            ),
        );
    }

    notes.extend(bootable(&g));

    // Software platforms.
    let base = image.base_image.to_string();
    for (i, v) in g.vibs.iter().enumerate() {
        if !fits_platform(v, &base) {
            let platforms: Vec<String> =
                v.software_platforms.iter().map(|p| format!("{} {}", p.product_line_id, p.version)).collect();
            notes.push(
                Notification::new(
                    ids::PLATFORM_MISMATCH,
                    Severity::Error,
                    format!("VIB {} of component {} is not made for base image {base}", v.id(), g.owners[i]),
                    vec![v.id(), g.owners[i].clone(), base.clone()],
                )
                .with_explanation(vec![format!("its software platforms are {}", platforms.join(", "))])
                .with_resolution(
                    format!("use a version of component {} built for this ESXi release", g.owners[i]),
                    Vec::new(),
                ),
            );
        }
    }
    notes
}

/// Is the VIB made for this base image version? No platform, or an unparsable pattern,
/// means yes (as in the catalog filter).
pub(crate) fn fits_platform(v: &Vib, base: &str) -> bool {
    v.software_platforms.is_empty()
        || v.software_platforms.iter().any(|p| {
            (p.product_line_id.is_empty() || p.product_line_id == "embeddedEsx")
                && PlatformPattern::parse(&p.version).map_or(true, |pat| pat.matches(base))
        })
}

fn conflict(image: &EffectiveImage, g: &VibGraph, a: usize, b: usize, c: &Constraint) -> Notification {
    let (va, vb) = (&g.vibs[a], &g.vibs[b]);
    let describe = |i: usize| match image.components.get(&g.owners[i]) {
        Some(comp) => format!("component {} {} (from the {})", comp.name, comp.version, source_text(comp.source)),
        None => format!("component {}", g.owners[i]),
    };
    Notification::new(
        ids::CONFLICT,
        Severity::Error,
        format!(
            "VIB {} of component {} conflicts with VIB {} of component {}",
            va.id(),
            g.owners[a],
            vb.id(),
            g.owners[b]
        ),
        vec![va.id(), g.owners[a].clone(), vb.id(), g.owners[b].clone()],
    )
    .with_explanation(vec![
        format!("{} has VIB {} {}, which declares conflicts {c}", describe(a), va.name, va.version),
        format!("{} has VIB {} {}, which matches {c}", describe(b), vb.name, vb.version),
    ])
    .with_resolution(
        format!("remove {} or {} from the image, or pick versions that do not conflict", g.owners[a], g.owners[b]),
        Vec::new(),
    )
}

/// Depot-format §8.2: an image needs a base VIB and a bootable kernel module.
fn bootable(g: &VibGraph) -> Option<Notification> {
    const BASE_VIB: &str = "esx-base";
    if g.vibs.is_empty() {
        return None; // nothing resolved: the missing base image is the finding
    }
    let has_base = g.vibs.iter().any(|v| v.name == BASE_VIB);
    let lists_payloads = g.vibs.iter().any(|v| !v.payloads.is_empty());
    let has_kernel = g.vibs.iter().any(|v| v.payloads.iter().any(|p| p.payload_type == "boot"));
    let missing = match (has_base, !lists_payloads || has_kernel) {
        (true, true) => return None,
        (false, true) => format!("no base VIB ({BASE_VIB})"),
        (true, false) => "no bootable kernel module (no VIB has a payload of type boot)".to_owned(),
        (false, false) => format!("no base VIB ({BASE_VIB}) and no bootable kernel module"),
    };
    Some(
        Notification::new(
            ids::IMAGE_NOT_BOOTABLE,
            Severity::Warning,
            format!("the image cannot boot: it has {missing}"),
            vec![missing.clone()],
        )
        .with_explanation(vec![
            "every ESXi image needs the base VIB and the kernel it boots, which the base image brings".to_owned(),
        ])
        .with_resolution(
            "use a base image whose ESXi component carries the kernel (every VMware base image does), \
             and do not remove the ESXi component",
            Vec::new(),
        ),
    )
}
