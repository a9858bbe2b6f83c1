//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::print_stderr)]

use std::process::Command;

/// Whether an external tool is available (skipped with a reason, or a failure under `CI`).
pub use esxlcm_test_support::have;

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
