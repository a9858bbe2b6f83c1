//! The integration tests of this crate, linked into one test binary (the convention of the
//! workspace). `cargo test -p esxlcm-net --test integration loopback::` runs one module.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failed expectation is a failed test

mod loopback;
