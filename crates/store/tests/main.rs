//! The integration tests of this crate, linked into one test binary (one link of the
//! whole dependency tree instead of one per file keeps the test build small and fast).
//! Each module below is one area; `cargo test -p <crate> --test integration <module>::`
//! runs one of them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failed expectation is a failed test

mod common;

mod ondemand;
mod quarantine;
mod samples;
mod signatures;
mod sync;
mod umds;
mod views;
