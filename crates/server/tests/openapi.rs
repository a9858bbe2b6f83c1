//! The OpenAPI document of the REST dialect passes the reference validator
//! (`openapi-spec-validator`, pip-installed into a venv by `scripts/validate-openapi.sh`).
//! Without python3 and its venv module the test skips with a reason, unless `CI` is set:
//! then it fails.

use std::path::Path;
use std::process::Command;

#[test]
fn the_openapi_document_passes_openapi_spec_validator() {
    let doc = esxlcm_server::openapi::embedded().unwrap();
    assert_eq!(doc["openapi"], "3.0.3");
    let has_venv =
        Command::new("python3").args(["-c", "import venv, ensurepip"]).output().is_ok_and(|o| o.status.success());
    if !has_venv {
        assert!(std::env::var_os("CI").is_none(), "python3 with venv/ensurepip is required in CI (apt: python3-venv)");
        eprintln!("skipped: python3 with the venv module is not installed (apt install python3-venv)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/validate-openapi.sh");
    let out = Command::new("bash").arg(script).arg(&file).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "openapi-spec-validator refused the document:\n{text}");
    assert!(text.contains("OK"), "{text}");
}
