//! Write a generated depot for the benchmark scripts:
//! `cargo run --release -p esxlcm-depot --example generate_depot -- (bundle|tree) OUT [benchmark|tiny] [PAYLOAD_BYTES]`
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use esxlcm_depot::generate::{GeneratorConfig, generate_to_bundle, generate_to_tree};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut config = match args.get(2).map(String::as_str) {
        Some("tiny") => GeneratorConfig::tiny(1),
        _ => GeneratorConfig::benchmark(1),
    };
    if let Some(bytes) = args.get(3) {
        let n: usize = bytes.parse().expect("payload bytes");
        config.payload_bytes = (n, n);
    }
    let out = Path::new(&args[1]);
    let written = match args[0].as_str() {
        "tree" => generate_to_tree(&config, out),
        _ => generate_to_bundle(&config, out),
    }
    .expect("generate");
    println!("vibs={} vib_bytes={}", written.vib_count, written.vib_bytes);
}
