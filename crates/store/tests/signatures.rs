//! Signature policy on ingest, end to end: a bundle whose VIBs claim a signed acceptance
//! level but carry no trusted signature is refused by a push under `require` (quarantined,
//! named, nothing published), kept under `warn` and `off`; the real VMware samples pass
//! under `require` with the built-in anchor alone.

use esxlcm_depot::generate::{GeneratorConfig, generate_to_bundle};
use esxlcm_depot::model::AcceptanceLevel;
use esxlcm_store::Store;
use esxlcm_store::ops::LockWait;
use esxlcm_store::signatures::SignaturePolicy;
use esxlcm_store::sync::{NoProgress, Outcome, SyncOptions};

fn push(store: &Store, name: &str, bundle: &std::path::Path) -> esxlcm_store::ops::Pushed {
    store.push(name, bundle, &SyncOptions::default(), LockWait::NONE, &NoProgress).unwrap()
}

#[test]
fn unsigned_certified_vibs_are_refused_under_require_and_kept_under_warn_or_off() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("certified-unsigned.zip");
    let config = GeneratorConfig { acceptance: AcceptanceLevel::Certified, ..GeneratorConfig::tiny(5) };
    generate_to_bundle(&config, &bundle).unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();

    let refused = push(&store, "oem", &bundle);
    assert_eq!(refused.report.outcome, Outcome::Rejected);
    assert!(!refused.report.rejected.is_empty());
    for r in &refused.report.rejected {
        assert!(r.reason.contains("signature-missing") && r.reason.contains("certified"), "{}: {}", r.name, r.reason);
        assert!(r.quarantine_file.exists(), "quarantined: {}", r.quarantine_file.display());
    }
    let oem = store.source("oem").unwrap();
    assert_eq!(store.published_snapshot(&oem).unwrap(), None, "nothing is published");
    assert!(!store.quarantined().unwrap().is_empty());

    for policy in [SignaturePolicy::Warn, SignaturePolicy::Off] {
        let name = format!("oem-{policy}");
        // The policy is the source's: set it before its first bundle.
        push(&store, &name, &bundle);
        store.configure_source(&name, LockWait::NONE, |c| c.signatures = policy).unwrap();
        let kept = push(&store, &name, &bundle);
        assert_eq!(kept.report.outcome, Outcome::Published, "{policy}: {:?}", kept.report.rejected);
    }
}

#[test]
fn vmware_signed_samples_pass_under_require_with_the_built_in_anchor() {
    let samples = esxlcm_test_support::samples_dir().join("bundles");
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let mut checked = 0;
    for entry in std::fs::read_dir(&samples).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.starts_with("VMware-") && !name.starts_with("ESXi") {
            continue;
        }
        let source: String = name.chars().filter(char::is_ascii_alphanumeric).take(40).collect();
        let pushed = push(&store, &source, &path);
        assert_ne!(pushed.report.outcome, Outcome::Rejected, "{name}: {:?}", pushed.report.rejected);
        checked += 1;
    }
    assert!(checked > 0, "no VMware sample bundles in {}", samples.display());
}
