//! The web UI in a real browser (issue #13): headless Chromium driven over WebDriver
//! through every page an administrator and a read-only user use. Each page is screenshot
//! under `target/ui-screenshots/` and must leave the browser's console without errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;
#[path = "../image_support/picks.rs"]
mod picks;
mod read_only;
mod scenario;
