//! The integration tests of this crate, linked into one test binary (one link of the
//! whole dependency tree instead of one per file keeps the test build small and fast).
//! Each module below is one area; `cargo test -p <crate> --test integration <module>::`
//! runs one of them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failed expectation is a failed test

mod common;

mod accepted_images_are_consistent;
mod alternatives;
mod compliance;
mod fling_sample;
mod generated_depot;
mod host_state_recorded;
mod null_resolution_is_optimal;
mod rules;
