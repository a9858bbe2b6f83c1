//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::print_stderr)]

use std::path::Path;
use std::process::Command;

/// Whether an external tool (a command on PATH or a file) is available. When it is not, the
/// test is skipped with a printed reason — unless `CI` is set, where a missing tool fails the
/// test so CI never passes vacuously.
pub fn have(what: &str, test: &str) -> bool {
    let found = if what.starts_with('/') {
        Path::new(what).exists()
    } else {
        Command::new("sh").arg("-c").arg(format!("command -v {what}")).output().is_ok_and(|o| o.status.success())
    };
    if !found {
        assert!(std::env::var_os("CI").is_none(), "{test}: {what} is missing and CI is set; install it (see .ci/run)");
        eprintln!("SKIPPED {test}: {what} is not installed");
    }
    found
}

/// Deterministic pseudo-random bytes (xorshift64*), so fixtures and snapshots are stable.
pub fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

/// Run a command, returning stdout; panics with stderr on failure.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed: {}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}
