//! The integration tests of this crate, linked into one test binary (one link of the
//! whole dependency tree instead of one per file keeps the test build small and fast).
//! Each module below is one area; `cargo test -p <crate> --test integration <module>::`
//! runs one of them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failed expectation is a failed test

mod api_support;
mod image_support;

mod api_audit;
mod api_depots;
mod api_hardware;
mod api_hostile;
mod api_hosts;
mod api_image;
mod api_installed;
mod api_jsonrpc;
mod api_library_assign;
mod api_login;
mod api_online;
mod api_repository;
mod api_rest;
mod api_settings;
mod api_tasks;
mod api_trust;
mod bundle_hostile;
mod depot_hostile;
mod openapi;
mod store_rows;
