//! Shared helpers for the depot crate's integration tests.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::path::PathBuf;

/// The shared real samples, from `ESXLCM_SAMPLES`. A test that needs them fails loudly
/// when the variable is unset, so sample tests never pass vacuously.
pub fn samples_dir() -> PathBuf {
    match std::env::var_os("ESXLCM_SAMPLES") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => panic!(
            "ESXLCM_SAMPLES is not set: point it at the shared depot-samples directory \
             (the README's test command does: ESXLCM_SAMPLES=../shared/depot-samples)"
        ),
    }
}

/// Every offline bundle in the samples, sorted by name.
pub fn sample_bundles() -> Vec<PathBuf> {
    let dir = samples_dir().join("bundles");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "zip"))
        .collect();
    out.sort();
    assert_eq!(out.len(), 7, "expected the 7 sample bundles in {}", dir.display());
    out
}

/// The `extracted/` directory of each sample.
pub fn extracted_dirs() -> Vec<PathBuf> {
    let dir = samples_dir().join("extracted");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    out.sort();
    out
}
