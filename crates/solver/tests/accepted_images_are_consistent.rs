//! Property: every image the solver accepts (no error) satisfies every `depends` and
//! `conflicts` rule and has one VIB per name, according to the simple checker below,
//! written independently of the solver's graph.
#![allow(clippy::unwrap_used)] // tests and their helpers fail loudly

use std::sync::Arc;

use crate::common::*;
use esxlcm_depot::model::{Constraint, Vib};
use esxlcm_solver::{ResolveOptions, resolve};
use proptest::prelude::*;

const NAMES: [&str; 5] = ["a", "b", "c", "d", "e"];
/// VIB names and virtual capabilities a constraint may name.
const TARGETS: [&str; 7] = ["a", "b", "c", "d", "e", "cap1", "cap2"];
const RELATIONS: [&str; 5] = ["<<", "<=", "=", ">=", ">>"];

#[derive(Debug, Clone)]
struct Comp {
    name: usize,
    version: u8,
    depends: Vec<(usize, Option<(usize, u8)>)>,
    conflicts: Vec<usize>,
    replaces: Vec<usize>,
    provides: Vec<(usize, Option<u8>)>,
    /// In the base image, in the spec (with a version or null), or not used.
    role: u8,
}

fn comp() -> impl Strategy<Value = Comp> {
    (
        0..NAMES.len(),
        1u8..4,
        prop::collection::vec((0..TARGETS.len(), prop::option::of((0..RELATIONS.len(), 1u8..4))), 0..3),
        prop::collection::vec(0..TARGETS.len(), 0..2),
        prop::collection::vec(0..NAMES.len(), 0..2),
        prop::collection::vec((5usize..7, prop::option::of(1u8..4)), 0..2),
        0u8..4,
    )
        .prop_map(|(name, version, depends, conflicts, replaces, provides, role)| Comp {
            name,
            version,
            depends,
            conflicts,
            replaces,
            provides,
            role,
        })
}

fn constraint(target: usize, rel: Option<(usize, u8)>) -> Constraint {
    match rel {
        Some((r, ver)) => dep_v(TARGETS[target], RELATIONS[r], &format!("{ver}.0-1")),
        None => dep(TARGETS[target]),
    }
}

/// The reference checker: plain loops over the VIB list.
fn violations(vibs: &[Arc<Vib>]) -> Vec<String> {
    let meets = |v: &Vib, c: &Constraint| {
        c.is_satisfied_by(&v.name, Some(&v.version))
            || v.provides.iter().any(|p| c.is_satisfied_by(&p.name, p.version.as_ref()))
    };
    let mut out = Vec::new();
    for (i, v) in vibs.iter().enumerate() {
        for c in &v.depends {
            if !vibs.iter().any(|w| meets(w, c)) {
                out.push(format!("{} needs {c}", v.id()));
            }
        }
        for c in &v.conflicts {
            if vibs.iter().enumerate().any(|(j, w)| j != i && meets(w, c)) {
                out.push(format!("{} conflicts {c}", v.id()));
            }
        }
        if vibs.iter().enumerate().any(|(j, w)| j != i && w.name == v.name) {
            out.push(format!("two VIBs named {}", v.name));
        }
    }
    out
}

#[test]
fn accepted_images_satisfy_depends_and_conflicts() {
    let accepted = std::cell::Cell::new(0u32);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases: 256, ..ProptestConfig::default() });
    runner.run(&prop::collection::vec(comp(), 1..7), |comps| check(&comps, &accepted)).unwrap();
    // Not vacuous: a fair share of the random images is accepted.
    assert!(accepted.get() >= 25, "only {} of 256 images accepted", accepted.get());
}

fn check(comps: &[Comp], accepted: &std::cell::Cell<u32>) -> Result<(), TestCaseError> {
    {
        let mut f = Fixture::new();
        let mut base = vec![("ESXi".to_owned(), "8.0.1-0.0.1".to_owned())];
        let mut user = Vec::new();
        let mut esx = vib("esx-base", "8.0.1-0.0.1");
        esx.provides = vec![provide("vmkapi")];
        f.component("ESXi", "8.0.1-0.0.1", vec![esx]);
        for (i, c) in comps.iter().enumerate() {
            // The component index in the version keeps VIB IDs unique.
            let mut v = vib(NAMES[c.name], &format!("{}.{i}-1", c.version));
            v.depends = c.depends.iter().map(|&(t, r)| constraint(t, r)).collect();
            v.conflicts = c.conflicts.iter().map(|&t| dep(TARGETS[t])).collect();
            v.replaces = c.replaces.iter().map(|&t| dep(NAMES[t])).collect();
            v.provides = c
                .provides
                .iter()
                .map(|&(t, ver)| match ver {
                    Some(ver) => provide_v(TARGETS[t], &format!("{ver}.0-1")),
                    None => provide(TARGETS[t]),
                })
                .collect();
            let name = format!("C{i}");
            let version = format!("{}.0-1", c.version);
            f.component(&name, &version, vec![v]);
            match c.role {
                0 => base.push((name, version)),
                1 => user.push((name, Some(version))),
                2 => user.push((name, None)),
                _ => {}
            }
        }
        let base_refs: Vec<(&str, &str)> = base.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        f.base_image("8.0.1-0.0.1", &base_refs);
        let user_refs: Vec<(&str, Option<&str>)> = user.iter().map(|(n, v)| (n.as_str(), v.as_deref())).collect();
        let s = spec("8.0.1-0.0.1", None, &user_refs);
        let r = resolve(&s, &f.catalog(), &ResolveOptions::default());
        let vibs: Vec<Arc<Vib>> = r.image.vibs.values().cloned().collect();
        let found = violations(&vibs);
        if r.has_errors() {
            // The converse: a clean checker result with an error must come from another rule.
            if found.is_empty() {
                prop_assert!(
                    r.errors().all(|n| !n.id.contains("dependency")
                        && !n.id.contains("conflict")
                        && !n.id.contains("duplicate")),
                    "{:?}",
                    r.notifications
                );
            }
        } else {
            accepted.set(accepted.get() + 1);
            prop_assert!(found.is_empty(), "accepted an image with {found:?}");
        }
    }
    Ok(())
}
