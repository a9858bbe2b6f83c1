//! Helpers shared by the tests of every crate.
//!
//! The real depot samples live outside the repository; `ESXLCM_SAMPLES` points at them
//! (the README's test command and `.ci/run` set it). A test that needs them fails loudly
//! when the variable is unset, so sample tests never pass vacuously.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // failing loudly is the job

pub mod files;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod qemu;
pub mod s3;
#[cfg(feature = "vib-signing")]
pub mod vib_signing;
pub mod zip_headers;

use std::path::{Path, PathBuf};

/// Whether an external tool (a command on PATH, or a file when `what` is an absolute path)
/// is available. Missing: the test is skipped with a printed reason, unless `CI` is set,
/// where it fails (CI never passes vacuously).
#[allow(clippy::print_stderr)]
pub fn have(what: &str, test: &str) -> bool {
    let found = if what.starts_with('/') {
        Path::new(what).exists()
    } else {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {what}"))
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !found {
        assert!(std::env::var_os("CI").is_none(), "{test}: {what} is missing and CI is set; install it (see .ci/run)");
        eprintln!("SKIPPED {test}: {what} is not installed");
    }
    found
}

/// The variable that points at the shared `depot-samples` directory.
pub const SAMPLES_VAR: &str = "ESXLCM_SAMPLES";

/// The shared real samples directory.
pub fn samples_dir() -> PathBuf {
    match std::env::var_os(SAMPLES_VAR) {
        Some(dir) if !dir.is_empty() => {
            let mut dir = PathBuf::from(dir);
            if dir.is_relative() {
                // Relative to the workspace root, where the README's command runs.
                dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(dir);
            }
            assert!(dir.join("bundles").is_dir(), "{SAMPLES_VAR}={}: no bundles/ directory there", dir.display());
            // Canonical: `.ci/run` points it at `$ROOT/../shared/…`, and some consumers (a
            // browser's file input) take only canonical paths.
            dir.canonicalize().unwrap_or(dir)
        }
        _ => panic!(
            "{SAMPLES_VAR} is not set: point it at the shared depot-samples directory \
             (the README's test command does: {SAMPLES_VAR}=$PWD/../shared/depot-samples)"
        ),
    }
}

/// Every offline bundle of the samples, sorted by name (there are 7).
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

/// The sample bundle whose file name contains `part`.
pub fn sample_bundle(part: &str) -> PathBuf {
    let all = sample_bundles();
    let found: Vec<&PathBuf> = all.iter().filter(|p| p.to_string_lossy().contains(part)).collect();
    assert_eq!(found.len(), 1, "expected one sample bundle matching '{part}', found {found:?}");
    found[0].clone()
}

/// The `extracted/` directory of each sample, sorted.
pub fn extracted_dirs() -> Vec<PathBuf> {
    let dir = samples_dir().join("extracted");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    out.sort();
    out
}
