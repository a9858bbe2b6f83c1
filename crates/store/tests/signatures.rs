//! Signature policy on ingest, end to end: a bundle whose VIBs claim a signed acceptance
//! level but carry no trusted signature is refused by a push under `require` (quarantined,
//! named, nothing published), kept under `warn` and `off`; VIBs really signed, by a
//! throwaway key the store does not trust, are refused by push, sync and import alike and
//! taken once the key's root is in `STORE/trust/`; the real VMware samples pass under
//! `require` with the built-in anchor alone.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use esxlcm_depot::generate::{GeneratorConfig, VibSigner, generate, generate_to_bundle, generate_to_tree};
use esxlcm_depot::model::AcceptanceLevel;
use esxlcm_store::Store;
use esxlcm_store::ops::LockWait;
use esxlcm_store::signatures::{SignaturePolicy, trust_dir};
use esxlcm_store::source::SourceConfig;
use esxlcm_store::sync::{NoProgress, Outcome, SyncOptions};
use esxlcm_test_support::vib_signing::{Spec, chain, descriptor_signer, make_cert};

use crate::common;

fn push(store: &Store, name: &str, bundle: &Path) -> esxlcm_store::ops::Pushed {
    store.push(name, bundle, &SyncOptions::default(), LockWait::NONE, &NoProgress).unwrap()
}

/// A carry package of `bundle` as source `oem`, exported by a store under `dir` that let
/// its VIBs in (signature policy off).
fn exported_by_a_lenient_store(dir: &Path, bundle: &Path) -> PathBuf {
    let a = Store::open(&dir.join("a")).unwrap();
    let mut source = SourceConfig::new("oem", &format!("file://{}", bundle.display())).unwrap();
    source.signatures = SignaturePolicy::Off;
    a.add_source(&source, LockWait::NONE).unwrap();
    assert_eq!(push(&a, "oem", bundle).report.outcome, Outcome::Published);
    let out = dir.join("carry");
    a.export(&out, &esxlcm_store::carry::ExportOptions::default(), LockWait::NONE, &NoProgress).unwrap();
    out
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
    for entry in fs::read_dir(&samples).unwrap() {
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
    let out = exported_by_a_lenient_store(dir.path(), &bundle);
    // … the receiving store (policy require, the default) refuses them, recording nothing.
    let b = Store::open(&dir.path().join("b")).unwrap();
    let e = b.import(&out, None, LockWait::NONE, &NoProgress).unwrap_err().to_string();
    assert!(e.contains("refused by the signature policy") && e.contains("signature-missing"), "{e}");
    assert!(
        b.sources().unwrap().is_empty()
            || b.sources().unwrap().iter().all(|s| b.published_snapshot(s).unwrap().is_none())
    );
}

/// A tiny depot (`base_images` releases) whose VIBs are PartnerSupported and really signed,
/// by a throwaway signer under a fresh root → intermediate chain that nothing trusts: the
/// config, and the root as PEM (what `STORE/trust/NAME.pem` holds to trust it).
fn signed_by_a_throwaway_key(seed: u64, base_images: usize) -> (GeneratorConfig, String) {
    let (root, mid, leaf) = chain(&Spec::ca(), &Spec::signer());
    let signed = chrono::DateTime::from_timestamp(1_735_689_600, 0).unwrap(); // 2025-01-01, within the chain's validity
    let signer = VibSigner::new(descriptor_signer(Arc::new(leaf), vec![mid.cert.clone()], signed));
    let config = GeneratorConfig {
        base_images,
        acceptance: AcceptanceLevel::Partner,
        signer: Some(signer),
        ..GeneratorConfig::tiny(seed)
    };
    (config, root.pem())
}

/// The IDs of the VIBs a config generates.
fn vib_ids(config: &GeneratorConfig) -> BTreeSet<String> {
    generate(config).unwrap().content().vibs.iter().map(esxlcm_depot::model::Vib::id).collect()
}

/// Put `pem` into the store's trust as `name.pem`.
fn trust(store: &Store, name: &str, pem: &str) {
    let dir = trust_dir(store.root());
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(format!("{name}.pem")), pem).unwrap();
}

/// Every refusal names a VIB of `ids`, the signature rule, the acceptance level and the
/// throwaway signer, and its VIB is in the quarantine; every VIB of `ids` is refused.
fn assert_refused_as_untrusted(rejected: &[esxlcm_store::sync::Rejected], ids: &BTreeSet<String>) {
    let names: BTreeSet<String> = rejected.iter().map(|r| r.name.clone()).collect();
    assert_eq!(&names, ids, "every VIB is refused, by its ID");
    for r in rejected {
        assert!(
            r.reason.starts_with("signature-untrusted: ")
                && r.reason.contains("\"CN=Test Signer, O=esxlcm tests\"")
                && r.reason.contains("acceptance level partner")
                && r.reason.contains("STORE/trust/NAME.pem"),
            "{}: {}",
            r.name,
            r.reason
        );
        assert!(r.path.ends_with(".vib"), "{}", r.path);
        assert!(r.quarantine_file.is_file(), "quarantined: {}", r.quarantine_file.display());
    }
}

#[test]
fn a_push_of_vibs_signed_by_an_untrusted_key_is_refused_until_its_root_is_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let (config, root_pem) = signed_by_a_throwaway_key(21, 2);
    let ids = vib_ids(&config);
    let bundle = dir.path().join("partner-signed.zip");
    generate_to_bundle(&config, &bundle).unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();

    let refused = push(&store, "oem", &bundle);
    assert_eq!(refused.report.outcome, Outcome::Rejected);
    assert_eq!(refused.report.snapshot, None);
    assert_refused_as_untrusted(&refused.report.rejected, &ids);
    let quarantined: BTreeSet<String> = store.quarantined().unwrap().into_iter().map(|q| q.name).collect();
    assert!(ids.is_subset(&quarantined), "the quarantine lists every refused VIB");
    assert!(store.source("oem").is_err(), "nothing is published, and no empty source is left behind");
    assert!(!store.published_dir().join("oem").exists(), "no published tree");

    // Another key's root in the trust changes nothing: the signer's own chain decides.
    let unrelated = make_cert("Unrelated Root", &Spec::ca(), None);
    trust(&store, "unrelated", &unrelated.pem());
    let still = push(&store, "oem", &bundle);
    assert_eq!(still.report.outcome, Outcome::Rejected);
    assert_refused_as_untrusted(&still.report.rejected, &ids);
    assert!(store.source("oem").is_err());

    // The positive control: the same bundle, its root trusted, is published whole.
    trust(&store, "oem-root", &root_pem);
    let taken = push(&store, "oem", &bundle);
    assert_eq!(taken.report.outcome, Outcome::Published, "{:?}", taken.report.rejected);
    assert!(taken.report.rejected.is_empty());
    let source = store.source("oem").unwrap();
    assert_eq!(store.published_snapshot(&source).unwrap(), taken.report.snapshot);
    let published = common::tree(&store.published_dir().join("oem"));
    assert_eq!(published.keys().filter(|k| k.ends_with(".vib")).count(), ids.len());
}

#[test]
fn a_sync_of_vibs_signed_by_an_untrusted_key_is_refused_and_the_published_snapshot_stays() {
    let dir = tempfile::tempdir().unwrap();
    // v1 upstream: community VIBs (no signature needed), published first.
    let upstream = dir.path().join("upstream");
    common::generate_tree(2, &upstream);
    let server = common::serve(&upstream);
    let store = Store::open(&dir.path().join("store")).unwrap();
    let url = server.url("vmw-depot-index.xml");
    store.add_source(&SourceConfig::new("up", &url).unwrap(), LockWait::NONE).unwrap();
    let r1 = common::sync(&store, "up").unwrap();
    assert_eq!(r1.outcome, Outcome::Published);
    let v1_published = common::tree(&store.published_dir().join("up"));
    assert_eq!(v1_published, common::tree(&upstream));

    // v2 upstream: a new release, every VIB partner-level and signed by a key nobody trusts.
    let (v2_config, root_pem) = signed_by_a_throwaway_key(common::config(3).seed, 3);
    let v2 = dir.path().join("v2");
    generate_to_tree(&v2_config, &v2).unwrap();
    let changed = common::update_upstream(&v2, &upstream);
    let changed_vibs: BTreeSet<String> = changed
        .iter()
        .filter(|c| c.ends_with(".vib"))
        .map(|c| Path::new(c).file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(changed_vibs, vib_ids(&v2_config), "every VIB is new (signed, partner-level)");

    let r2 = common::sync(&store, "up").unwrap();
    assert_eq!(r2.outcome, Outcome::Rejected);
    assert_refused_as_untrusted(&r2.rejected, &changed_vibs);
    assert_eq!(r2.snapshot, r1.snapshot, "the previous snapshot stays published");
    let source = store.source("up").unwrap();
    assert_eq!(store.published_snapshot(&source).unwrap(), r1.snapshot);
    assert_eq!(store.snapshots(&source).unwrap().len(), 1, "no new snapshot");
    assert_eq!(common::tree(&store.published_dir().join("up")), v1_published, "the published tree is unchanged");

    // The positive control: with the root in the store's trust the same upstream publishes.
    trust(&store, "vendor", &root_pem);
    let r3 = common::sync(&store, "up").unwrap();
    assert_eq!(r3.outcome, Outcome::Published, "{:?}", r3.rejected);
    assert_ne!(r3.snapshot, r1.snapshot);
    assert_eq!(common::tree(&store.published_dir().join("up")), common::tree(&v2));
}

#[test]
fn an_import_of_vibs_signed_by_an_untrusted_key_is_refused_whole_until_its_root_is_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let (config, root_pem) = signed_by_a_throwaway_key(23, 2);
    let bundle = dir.path().join("partner-signed.zip");
    generate_to_bundle(&config, &bundle).unwrap();
    // The exporting side let them in (policy off) …
    let out = exported_by_a_lenient_store(dir.path(), &bundle);

    // … the receiving store (policy require, no anchor for that key) refuses the package whole.
    let b = Store::open(&dir.path().join("b")).unwrap();
    let e = b.import(&out, None, LockWait::NONE, &NoProgress).unwrap_err().to_string();
    assert!(e.contains("refused by the signature policy") && e.contains("signature-untrusted"), "{e}");
    assert!(e.contains("CN=Test Signer, O=esxlcm tests"), "names the signer: {e}");
    assert!(vib_ids(&config).iter().any(|id| e.contains(id.as_str())), "names a VIB: {e}");
    assert!(b.sources().unwrap().is_empty(), "nothing recorded: {:?}", b.sources().unwrap());
    assert!(!b.published_dir().join("oem").exists());

    // The positive control: the same package, the root trusted by the receiving store.
    trust(&b, "oem-root", &root_pem);
    let imported = b.import(&out, None, LockWait::NONE, &NoProgress).unwrap();
    assert!(imported.report.published.iter().any(|(s, _)| s == "oem"), "{:?}", imported.report.published);
    let source = b.source("oem").unwrap();
    assert!(b.published_snapshot(&source).unwrap().is_some());
}
