//! Open and index generated depots from disk (issue target: 20,000 VIBs / 5,000
//! components under 1 s on 2 cores). Run with `cargo bench -p esxlcm-depot --bench index`;
//! results and method are recorded in docs/PERFORMANCE.md.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use esxlcm_depot::catalog::Catalog;
use esxlcm_depot::generate::{GeneratorConfig, generate_to_bundle, generate_to_tree};
use esxlcm_depot::source::{Depot, OpenOptions};

fn index(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("open_and_index");
    group.sample_size(10);
    for (name, config) in [("tiny", GeneratorConfig::tiny(1)), ("20k_vibs", GeneratorConfig::benchmark(1))] {
        let tree = tmp.path().join(format!("{name}-tree"));
        let bundle = tmp.path().join(format!("{name}.zip"));
        generate_to_tree(&config, &tree).unwrap();
        generate_to_bundle(&config, &bundle).unwrap();
        for (kind, path) in [("tree", &tree), ("bundle", &bundle)] {
            group.bench_function(format!("{name}/{kind}"), |b| {
                b.iter(|| {
                    let depot = Depot::open_path(path, &OpenOptions::default()).unwrap();
                    Catalog::from_depots([depot]).unwrap()
                });
            });
        }
    }
    group.finish();
}

fn versions(c: &mut Criterion) {
    let texts = ["1.14-1vmw.803.0.0.75399077", "1.14-2vmw.803.0.0.76444229", "8.0.3-0.35.24280767", "0.19.0"];
    c.bench_function("version/parse_and_compare", |b| {
        b.iter(|| {
            let v: Vec<esxlcm_version::Version> =
                texts.iter().map(|t| esxlcm_version::Version::parse(t).unwrap()).collect();
            v.windows(2).filter(|w| w[0] < w[1]).count()
        });
    });
}

criterion_group!(benches, index, versions);
criterion_main!(benches);
