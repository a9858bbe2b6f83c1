//! The integration tests of this crate, linked into one test binary (one link of the
//! whole dependency tree instead of one per file keeps the test build small and fast).
//! Each module below is one area; `cargo test -p <crate> --test integration <module>::`
//! runs one of them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failed expectation is a failed test

mod mirror_support;

mod accounts;
mod architecture;
mod cli;
mod cli_ux;
mod cluster;
mod host_collect;
mod hostile;
mod image_build;
mod mirror_carry;
mod mirror_chain;
mod mirror_cli;
mod mirror_https;
mod mirror_nginx;
mod mirror_ondemand;
mod mirror_only_for;
mod mirror_push_http;
mod mirror_schedule;
mod mirror_sources;
mod mirror_view_upkeep;
mod mirror_views;
mod sdk;
mod service;
