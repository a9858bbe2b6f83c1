//! Open and index a depot, for the benchmark scripts (`scripts/bench/`):
//! `cargo run --release -p esxlcm-depot --example index_depot -- SOURCE...`
//! Prints counts and the elapsed time of opening and indexing.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use esxlcm_depot::catalog::Catalog;
use esxlcm_depot::source::{Depot, OpenOptions};

fn main() {
    let sources: Vec<String> = std::env::args().skip(1).collect();
    let start = Instant::now();
    let depots = sources.iter().map(|s| Depot::open(s, &OpenOptions::default()).expect("open"));
    let catalog = Catalog::from_depots(depots).expect("index");
    let elapsed = start.elapsed();
    println!(
        "vibs={} components={} base_images={} seconds={:.3}",
        catalog.vibs().count(),
        catalog.components().count(),
        catalog.release_units(esxlcm_depot::model::ReleaseKind::BaseImage).count(),
        elapsed.as_secs_f64()
    );
}
