//! Property: null resolution never picks a lower version than another valid assignment
//! would, all else equal — no valid assignment is at least as high for every `null`
//! component and higher for one. When no valid assignment exists, the components named
//! as unable to hold together are a minimal such set: no valid image holds them all
//! (the other components in or out, at any version), and without any one of them there
//! is one. "Valid" is decided by the plain checker below, by enumeration, independently
//! of the solver.
#![allow(clippy::unwrap_used)] // tests and their helpers fail loudly

use std::collections::BTreeSet;

use crate::common::*;
use esxlcm_depot::model::{Constraint, Vib};
use esxlcm_solver::notification::ids;
use esxlcm_solver::{ResolveOptions, resolve};
use proptest::prelude::*;

const BASE: &str = "8.0.1-0.0.200";
const NAMES: [&str; 3] = ["a", "b", "c"];

/// One version of one `null` component: a single VIB `<name>-drv` providing
/// `<name>-api` at its version, with some depends and conflicts on the others.
#[derive(Debug, Clone)]
struct Release {
    version: u8,
    /// (target component, minimum api version); target 3 is the base image's `cap0`,
    /// target 4 a capability nothing provides.
    depends: Vec<(usize, u8)>,
    /// (target component, exact version of its VIB).
    conflicts: Vec<(usize, u8)>,
}

fn releases() -> impl Strategy<Value = Vec<Vec<Release>>> {
    let release = |version: u8| {
        (prop::collection::vec((0usize..5, 1u8..4), 0..2), prop::collection::vec((0usize..3, 1u8..4), 0..2))
            .prop_map(move |(depends, conflicts)| Release { version, depends, conflicts })
    };
    let component = prop::collection::btree_set(1u8..4, 1..4)
        .prop_flat_map(move |versions| versions.into_iter().map(release).collect::<Vec<_>>());
    prop::collection::vec(component, NAMES.len())
}

fn vib_of(name: usize, r: &Release) -> Vib {
    let mut vib = vib(&format!("{}-drv", NAMES[name]), &format!("{}.0-1", r.version));
    vib.provides = vec![provide_v(&format!("{}-api", NAMES[name]), &format!("{}.0", r.version))];
    vib.depends = r
        .depends
        .iter()
        .filter(|(t, _)| *t != name)
        .map(|&(t, min)| match t {
            3 => dep("cap0"),
            4 => dep("cap-nowhere"),
            _ => dep_v(&format!("{}-api", NAMES[t]), ">=", &format!("{min}.0")),
        })
        .collect();
    vib.conflicts = r
        .conflicts
        .iter()
        .filter(|(t, _)| *t != name)
        .map(|&(t, exact)| dep_v(&format!("{}-drv", NAMES[t]), "=", &format!("{exact}.0-1")))
        .collect();
    vib
}

/// The reference checker: plain loops over the VIB list.
fn valid(vibs: &[Vib]) -> bool {
    let meets = |v: &Vib, c: &Constraint| {
        c.is_satisfied_by(&v.name, Some(&v.version))
            || v.provides.iter().any(|p| c.is_satisfied_by(&p.name, p.version.as_ref()))
    };
    let depends_met = vibs.iter().all(|v| v.depends.iter().all(|d| vibs.iter().any(|o| meets(o, d))));
    let no_conflict = vibs
        .iter()
        .enumerate()
        .all(|(i, v)| v.conflicts.iter().all(|c| vibs.iter().enumerate().all(|(j, o)| i == j || !meets(o, c))));
    depends_met && no_conflict
}

/// Every valid assignment in which each component of `required` is present and every
/// other one is absent (`None`) or present, when `others` is set; else only `required`
/// is in the image. Release indices by component.
fn valid_assignments(world: &[Vec<Release>], base: &Vib, required: &[usize], others: bool) -> Vec<Vec<Option<usize>>> {
    let options: Vec<Vec<Option<usize>>> = (0..world.len())
        .map(|c| {
            let present = (0..world[c].len()).map(Some);
            if required.contains(&c) {
                present.collect()
            } else if others {
                std::iter::once(None).chain(present).collect()
            } else {
                vec![None]
            }
        })
        .collect();
    let mut out = Vec::new();
    let mut odometer = vec![0usize; world.len()];
    loop {
        let choice: Vec<Option<usize>> = (0..world.len()).map(|c| options[c][odometer[c]]).collect();
        let mut vibs = vec![base.clone()];
        vibs.extend(choice.iter().enumerate().filter_map(|(c, k)| k.map(|k| vib_of(c, &world[c][k]))));
        if valid(&vibs) {
            out.push(choice);
        }
        let mut i = 0;
        loop {
            if i == world.len() {
                return out;
            }
            odometer[i] += 1;
            if odometer[i] < options[i].len() {
                break;
            }
            odometer[i] = 0;
            i += 1;
        }
    }
}

fn base_vib() -> Vib {
    let mut base = vib("esx-base", BASE);
    base.provides = vec![provide("cap0")];
    base
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn null_resolution_is_never_dominated_and_unsat_sets_are_minimal(world in releases()) {
        let mut f = Fixture::new();
        f.component("ESXi", BASE, vec![base_vib()]).base_image(BASE, &[("ESXi", BASE)]);
        for (c, versions) in world.iter().enumerate() {
            for r in versions {
                f.component(NAMES[c], &format!("{}.0-1", r.version), vec![vib_of(c, r)]);
            }
        }
        let nulls: Vec<(&str, Option<&str>)> = NAMES.iter().map(|n| (*n, None)).collect();
        let r = resolve(&spec(BASE, None, &nulls), &f.catalog(), &ResolveOptions::default());
        let all: Vec<usize> = (0..NAMES.len()).collect();
        let valid_all: Vec<Vec<usize>> = valid_assignments(&world, &base_vib(), &all, false)
            .into_iter()
            .map(|a| a.into_iter().flatten().collect())
            .collect();
        let unsat: Vec<_> = r.notifications.iter().filter(|n| n.id == ids::COMPONENTS_UNSATISFIABLE).collect();

        if valid_all.is_empty() {
            prop_assert!(r.has_errors());
            prop_assert_eq!(unsat.len(), 1, "{:?}", r.notifications);
            let set: BTreeSet<usize> =
                unsat[0].message.args.iter().map(|a| NAMES.iter().position(|n| n == a).unwrap()).collect();
            let set: Vec<usize> = set.into_iter().collect();
            prop_assert!(valid_assignments(&world, &base_vib(), &set, true).is_empty(), "named set {:?} is satisfiable", set);
            for drop in &set {
                let rest: Vec<usize> = set.iter().copied().filter(|c| c != drop).collect();
                prop_assert!(
                    !valid_assignments(&world, &base_vib(), &rest, true).is_empty(),
                    "named set {:?} is not minimal: {:?} alone cannot hold", set, rest
                );
            }
        } else {
            prop_assert!(!r.has_errors(), "{:?}", r.notifications);
            prop_assert!(unsat.is_empty());
            let chosen: Vec<u8> = NAMES.iter().map(|n| {
                let v = r.image.components[*n].version.to_string();
                v.split('.').next().unwrap().parse().unwrap()
            }).collect();
            let version = |c: usize, k: usize| world[c][k].version;
            let chosen_valid = valid_all.iter().any(|a| (0..NAMES.len()).all(|c| version(c, a[c]) == chosen[c]));
            prop_assert!(chosen_valid, "chosen {:?} is not valid", chosen);
            for a in &valid_all {
                let at_least = (0..NAMES.len()).all(|c| version(c, a[c]) >= chosen[c]);
                let higher = (0..NAMES.len()).any(|c| version(c, a[c]) > chosen[c]);
                prop_assert!(!(at_least && higher), "chosen {:?} is dominated by a valid {:?}", chosen,
                    (0..NAMES.len()).map(|c| version(c, a[c])).collect::<Vec<_>>());
            }
        }
    }
}
