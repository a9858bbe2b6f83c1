//! Solver benchmarks (issue #3 targets): resolve and validate a realistic image (~150
//! components, ~400 VIBs) under 2 ms; every base image x add-on pair of a depot with 40
//! base images and 30 add-ons under 1 s; null resolution of 20 free components under
//! 50 ms. Run: `cargo bench -p esxlcm-solver --bench resolve`; results in docs/PERFORMANCE.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use criterion::{Criterion, criterion_group, criterion_main};
use esxlcm_depot::catalog::Catalog;
use esxlcm_depot::generate::{GeneratorConfig, generate_to_bundle};
use esxlcm_depot::model::ReleaseKind;
use esxlcm_depot::source::{Depot, OpenOptions};
use esxlcm_solver::spec::ImageSpec;
use esxlcm_solver::{ResolveOptions, resolve};

fn catalog(config: &GeneratorConfig) -> Catalog {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gen.zip");
    generate_to_bundle(config, &path).unwrap();
    Catalog::from_depots([Depot::open_path(&path, &OpenOptions::default()).unwrap()]).unwrap()
}

fn base_spec(version: &esxlcm_version::Version) -> ImageSpec {
    ImageSpec::of_base_image(version.clone())
}

fn benches(c: &mut Criterion) {
    // One realistic image: the newest base image of the default generator (~150 components).
    let cat = catalog(&GeneratorConfig { seed: 1, vibs_per_component: (2, 3), ..GeneratorConfig::default() });
    let newest = cat.release_units(ReleaseKind::BaseImage).map(|u| u.version.clone()).max().unwrap();
    let spec = base_spec(&newest);
    let r = resolve(&spec, &cat, &ResolveOptions::default());
    assert!(!r.has_errors());
    println!("realistic image: {} components, {} VIBs", r.image.components.len(), r.image.vibs.len());
    c.bench_function("resolve_and_validate/realistic_image", |b| {
        b.iter(|| resolve(&spec, &cat, &ResolveOptions::default()));
    });

    // Null resolution: 20 components of the image left to the solver.
    let mut free = spec.clone();
    for name in r.image.components.keys().filter(|n| n.as_str() != "ESXi").take(20) {
        free.components.insert(name.clone(), None);
    }
    assert_eq!(free.components.len(), 20);
    assert!(!resolve(&free, &cat, &ResolveOptions::default()).has_errors());
    c.bench_function("resolve_and_validate/null_20_components", |b| {
        b.iter(|| resolve(&free, &cat, &ResolveOptions::default()));
    });

    // The same on the oldest base image: newer component versions need a newer vmkapi,
    // so the highest versions do not fit together and the SAT search runs.
    let oldest = cat.release_units(ReleaseKind::BaseImage).map(|u| u.version.clone()).min().unwrap();
    let old = base_spec(&oldest);
    let r_old = resolve(&old, &cat, &ResolveOptions::default());
    let mut searched = old.clone();
    for name in r_old.image.components.keys().filter(|n| n.as_str() != "ESXi").take(20) {
        searched.components.insert(name.clone(), None);
    }
    let r = resolve(&searched, &cat, &ResolveOptions::default());
    assert!(!r.has_errors());
    let lowered = r.notifications.iter().filter(|n| n.message.default_message.contains("do not fit")).count();
    println!("searched null resolution: {} of 20 components below their highest version", lowered);
    assert!(lowered > 0, "the highest versions fit: the search did not run");
    c.bench_function("resolve_and_validate/null_20_components_searched", |b| {
        b.iter(|| resolve(&searched, &cat, &ResolveOptions::default()));
    });

    // Every base image x add-on pair of a 40 x 30 depot.
    let big = catalog(&GeneratorConfig {
        seed: 2,
        base_images: 40,
        addons: 30,
        components_per_base_image: 150,
        vibs_per_component: (1, 2),
        payload_bytes: (64, 64),
        image_profiles: false,
        ..GeneratorConfig::default()
    });
    let bases: Vec<_> = big.release_units(ReleaseKind::BaseImage).map(|u| u.version.clone()).collect();
    let addons: Vec<_> =
        big.release_units(ReleaseKind::Addon).map(|u| (u.name.clone().unwrap(), u.version.clone())).collect();
    println!("pairs: {} base images x {} add-ons", bases.len(), addons.len());
    let mut group = c.benchmark_group("validate_all_pairs");
    group.sample_size(10);
    group.bench_function("40_base_images_x_30_addons", |b| {
        b.iter(|| {
            let mut valid = 0usize;
            for base in &bases {
                for (name, version) in &addons {
                    let s = base_spec(base).with_add_on(name.clone(), version.clone());
                    valid += usize::from(!resolve(&s, &big, &ResolveOptions::default()).has_errors());
                }
            }
            valid
        });
    });
    group.finish();
}

criterion_group!(solver, benches);
criterion_main!(solver);
