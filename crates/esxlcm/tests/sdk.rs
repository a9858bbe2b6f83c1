//! The official vSphere Automation Python SDK (unmodified, pinned in
//! tests/sdk/requirements.txt) against `esxlcm serve`: runs tests/sdk through
//! scripts/test-sdk.sh with the binary this `cargo test` built, so the README's one test
//! command covers the SDK suite too. The first run makes a venv in target/sdk-venv and
//! installs the packages from PyPI. Without python3 (and its venv module) the test skips
//! with a reason, unless `CI` is set: then it fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stderr)]

use std::path::Path;
use std::process::Command;

#[test]
fn official_python_sdk_suite_passes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let venv_ok = Command::new("python3").args(["-c", "import venv, ensurepip"]).status().is_ok_and(|s| s.success());
    if !venv_ok {
        assert!(std::env::var_os("CI").is_none(), "python3 with venv/ensurepip is required in CI (apt: python3-venv)");
        eprintln!("skipped: python3 with the venv module is not installed (apt install python3-venv)");
        return;
    }
    let out = Command::new("bash")
        .arg(root.join("scripts/test-sdk.sh"))
        .env("ESXLCM_BIN", env!("CARGO_BIN_EXE_esxlcm"))
        .current_dir(&root)
        .output()
        .expect("run scripts/test-sdk.sh");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "SDK suite failed:\n{text}");
    assert!(text.contains(" passed"), "pytest ran no test:\n{text}");
    assert!(!text.contains(" skipped"), "SDK tests were skipped:\n{text}");
}
