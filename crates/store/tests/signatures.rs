//! Signature policy on ingest, end to end: a bundle whose VIBs claim a signed acceptance
//! level but carry no trusted signature is refused by a push under `require` (quarantined,
//! named, nothing published), kept under `warn` and `off`; the real VMware samples pass
//! under `require` with the built-in anchor alone.

use esxlcm_depot::generate::{GeneratorConfig, generate_to_bundle};
use esxlcm_depot::model::AcceptanceLevel;
use esxlcm_store::Store;
use esxlcm_store::ops::LockWait;
use esxlcm_store::signatures::SignaturePolicy;
use esxlcm_store::source::SourceConfig;
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
    assert!(store.source("oem").is_err(), "nothing is published, and no empty source is left behind");
    assert!(!store.quarantined().unwrap().is_empty());

    for policy in [SignaturePolicy::Warn, SignaturePolicy::Off] {
        let name = format!("oem-{policy}");
        // The policy is the source's: a bundle source made first, with it.
        let url = format!("file://{}", bundle.display());
        let mut config = SourceConfig::new(&name, &url).unwrap();
        config.signatures = policy;
        store.add_source(&config, LockWait::NONE).unwrap();
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

#[test]
fn an_import_is_judged_by_the_receiving_store_and_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("certified-unsigned.zip");
    let config = GeneratorConfig { acceptance: AcceptanceLevel::Certified, ..GeneratorConfig::tiny(6) };
    generate_to_bundle(&config, &bundle).unwrap();
    // The exporting side let them in (policy off) …
    let a = Store::open(&dir.path().join("a")).unwrap();
    let mut source = SourceConfig::new("oem", &format!("file://{}", bundle.display())).unwrap();
    source.signatures = SignaturePolicy::Off;
    a.add_source(&source, LockWait::NONE).unwrap();
    assert_eq!(push(&a, "oem", &bundle).report.outcome, Outcome::Published);
    let out = dir.path().join("carry");
    a.export(&out, &esxlcm_store::carry::ExportOptions::default(), LockWait::NONE).unwrap();
    // … the receiving store (policy require, the default) refuses them, recording nothing.
    let b = Store::open(&dir.path().join("b")).unwrap();
    let e = b.import(&out, None, LockWait::NONE).unwrap_err().to_string();
    assert!(e.contains("refused by the signature policy") && e.contains("signature-missing"), "{e}");
    assert!(
        b.sources().unwrap().is_empty()
            || b.sources().unwrap().iter().all(|s| b.published_snapshot(s).unwrap().is_none())
    );
}
