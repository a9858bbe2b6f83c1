//! `esxlcm depot check` against the 7 real bundles in `$ESXLCM_SAMPLES/bundles/`: all pass,
//! VMware's signatures verify, and one flipped descriptor byte is caught.

// Test code: a failed unwrap is a failed test (clippy only exempts #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// One module, so that `cargo test -p esxlcm-depot check` selects every test here.
mod check {

    use std::io::{Read, Write};
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    use esxlcm_depot::check::{CheckOptions, CheckReport, NoProgress, Rule, SignatureStatus, check_sources};
    use esxlcm_depot::source::OpenOptions;
    use esxlcm_depot::vib::TrustStore;
    use sha2::{Digest, Sha256};

    const VMWARE_SIGNER: &str = "CN=VMware Certified VIB Signing, O=VMware, Inc., L=Palo Alto, ST=California, C=US";

    use esxlcm_test_support::sample_bundles as bundles;

    fn spec(p: &Path) -> String {
        p.to_string_lossy().into_owned()
    }

    fn check(paths: &[PathBuf], options: &CheckOptions) -> Vec<CheckReport> {
        let specs: Vec<String> = paths.iter().map(|p| spec(p)).collect();
        let run = check_sources(&specs, &OpenOptions::default(), options, &NoProgress).unwrap();
        assert!(run.findings.is_empty(), "cross-source findings: {:?}", run.findings);
        run.reports
    }

    fn is_community(report: &CheckReport) -> bool {
        ["ghettoVCB", "net51-r8169"].iter().any(|n| report.source.contains(&format!("/{n}")))
    }

    #[test]
    fn every_sample_bundle_checks_without_errors() {
        for report in check(&bundles(), &CheckOptions::default()) {
            let errors: Vec<_> =
                report.findings.iter().filter(|f| f.severity == esxlcm_depot::check::Severity::Error).collect();
            assert!(errors.is_empty(), "{}: {errors:#?}", report.source);
            assert_eq!(report.summary.errors, 0);
            assert_eq!(report.vibs_checked, 1, "{}", report.source);
            assert_eq!(report.vibs.len(), 1);
        }
    }

    #[test]
    fn vmware_signed_samples_verify_and_community_ones_are_unsigned() {
        let reports = check(&bundles(), &CheckOptions::default());
        let (community, signed): (Vec<_>, Vec<_>) = reports.iter().partition(|r| is_community(r));
        assert_eq!(signed.len(), 5);
        assert_eq!(community.len(), 2);
        for r in signed {
            assert_eq!(r.signatures_verified, 1, "{}", r.source);
            assert_eq!(r.acceptance_levels.get("certified"), Some(&1), "{}", r.source);
            let vib = &r.vibs[0];
            assert_eq!(vib.acceptance_level, "certified");
            match &vib.signature {
                SignatureStatus::Verified { signer } => {
                    assert_eq!(signer.subject, VMWARE_SIGNER, "{}", r.source);
                    assert!(signer.subject.starts_with("CN=VMware Certified VIB Signing"));
                    // Without --trust: signed by VMware, through the built-in anchor.
                    assert_eq!(signer.trust_anchor.as_deref(), Some(VMWARE_SIGNER));
                    assert!(signer.trust_anchor_builtin);
                }
                other => panic!("{}: {other:?}", r.source),
            }
            assert_eq!(r.by_rule(Rule::SignatureTrustNotChecked).count(), 0);
        }
        for r in community {
            assert_eq!(r.signatures_verified, 0);
            assert_eq!(r.acceptance_levels.len(), 1);
            assert_eq!(r.acceptance_levels.get("community"), Some(&1), "{}", r.source);
            assert_eq!(r.vibs[0].acceptance_level, "community");
            assert_eq!(r.vibs[0].signature, SignatureStatus::Unsigned);
            let unsigned: Vec<_> = r.by_rule(Rule::UnsignedCommunity).collect();
            assert_eq!(unsigned.len(), 1);
            assert!(unsigned[0].message.starts_with("community, unsigned: "));
            // Both are legacy bulletins: a warning, not an error.
            assert_eq!(r.by_rule(Rule::BulletinWithoutComponentSpec).count(), 1);
        }
    }

    #[test]
    fn samples_pass_without_payload_decompression_and_with_one_worker() {
        let all = bundles();
        let quick = check(&all, &CheckOptions { verify_payloads: false, ..CheckOptions::default() });
        assert!(quick.iter().all(|r| r.summary.errors == 0));
        let one = check(&all, &CheckOptions { jobs: 1, ..CheckOptions::default() });
        let two = check(&all, &CheckOptions { jobs: 2, ..CheckOptions::default() });
        assert_eq!(one, two);
    }

    /// The VIB file of a sample bundle and its name inside the bundle.
    fn vib_of(bundle: &Path) -> (String, Vec<u8>) {
        let mut zip = zip::ZipArchive::new(std::fs::File::open(bundle).unwrap()).unwrap();
        for i in 0..zip.len() {
            let mut entry = zip.by_index(i).unwrap();
            let name = entry.name().unwrap().into_owned();
            if name.ends_with(".vib") {
                let mut data = Vec::new();
                entry.read_to_end(&mut data).unwrap();
                return (name, data);
            }
        }
        panic!("{} has no VIB", bundle.display());
    }

    fn signer_certificate_pem(bundle: &Path) -> String {
        let (_, vib) = vib_of(bundle);
        let summary = esxlcm_depot::vib::file::read_vib_file(&vib[..]).unwrap();
        let sig = summary.signature.unwrap();
        let sd = esxlcm_depot::vib::signature::parse_signature(&sig).unwrap();
        sd.certificates().next().unwrap().encode_pem()
    }

    fn signed_bundles() -> Vec<PathBuf> {
        bundles().into_iter().filter(|b| !["ghettoVCB", "net51-r8169"].iter().any(|n| spec(b).contains(n))).collect()
    }

    #[test]
    fn trust_anchors_are_checked() {
        let signed = signed_bundles();
        assert_eq!(signed.len(), 5);

        // VMware's signing certificate as the anchor: every signature is trusted.
        let store = TrustStore::from_pem(signer_certificate_pem(&signed[0]).as_bytes()).unwrap();
        let options = CheckOptions { trust: Some(Arc::new(store)), ..CheckOptions::default() };
        for r in check(&signed, &options) {
            assert_eq!(r.summary.errors, 0, "{}", r.source);
            assert_eq!(r.signatures_verified, 1);
            assert_eq!(r.by_rule(Rule::SignatureTrustNotChecked).count(), 0);
            match &r.vibs[0].signature {
                SignatureStatus::Verified { signer } => assert_eq!(signer.trust_anchor.as_deref(), Some(VMWARE_SIGNER)),
                other => panic!("{other:?}"),
            }
        }

        // An unrelated anchor is added to the built-in VMware one: VMware's signatures stay
        // trusted ("signed by VMware").
        let (other, _) = x509_certificate::X509CertificateBuilder::default()
            .create_with_random_keypair(x509_certificate::KeyAlgorithm::Ed25519)
            .unwrap();
        let store = TrustStore::from_pem(other.encode_pem().as_bytes()).unwrap();
        let options = CheckOptions { trust: Some(Arc::new(store)), ..CheckOptions::default() };
        let runs = check(&signed, &options);
        for r in &runs {
            assert_eq!(r.summary.errors, 0, "{}", r.source);
            assert_eq!(r.signatures_verified, 1);
            match &r.vibs[0].signature {
                SignatureStatus::Verified { signer } => assert!(signer.trust_anchor_builtin),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn a_flipped_descriptor_byte_breaks_signature_and_checksum() {
        let bundle = bundles().into_iter().find(|b| spec(b).contains("VMware-Re-Driver")).unwrap();
        let (vib_name, mut vib) = vib_of(&bundle);
        let original_sha = hex::encode(Sha256::digest(&vib));
        // Flip the case of the first letter of <description>: the descriptor still parses and
        // says the same about payloads, but it is no longer what was signed.
        let at = vib.windows(13).position(|w| w == b"<description>").unwrap() + 13;
        assert!(vib[at].is_ascii_alphabetic());
        vib[at] ^= 0x20;
        let altered_sha = hex::encode(Sha256::digest(&vib));

        // A copy of the bundle with the altered VIB, everything else unchanged.
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("altered.zip");
        let mut src = zip::ZipArchive::new(std::fs::File::open(&bundle).unwrap()).unwrap();
        let mut out = zip::ZipWriter::new(std::fs::File::create(&copy).unwrap());
        for i in 0..src.len() {
            let mut entry = src.by_index(i).unwrap();
            let name = entry.name().unwrap().into_owned();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            if name == vib_name {
                data.clone_from(&vib);
            }
            out.start_file(name, zip::write::SimpleFileOptions::default()).unwrap();
            out.write_all(&data).unwrap();
        }
        out.finish().unwrap();

        let report = check(std::slice::from_ref(&copy), &CheckOptions::default()).remove(0);
        let errors: Vec<_> =
            report.findings.iter().filter(|f| f.severity == esxlcm_depot::check::Severity::Error).collect();
        let rules: Vec<&str> = errors.iter().map(|f| f.rule).collect();
        assert_eq!(rules, ["signature-invalid", "vib-checksum"], "{}", report.source);
        let file = "vib20/if-re/vmw_bootbank_if-re_1.101.01-5vmw.800.1.0.20613240.vib";
        for f in &errors {
            assert_eq!(f.file.as_deref(), Some(file));
            assert_eq!(f.vib.as_deref(), Some("vmw_bootbank_if-re_1.101.01-5vmw.800.1.0.20613240"));
        }
        assert_eq!(
            errors[0].message,
            format!(
                "sig.pkcs7 does not verify over the VIB's descriptor.xml: descriptor.xml does not match the digest \
             signed by {VMWARE_SIGNER} (descriptor altered after signing); the descriptor or the signature was \
             changed after signing: restore the signed original, or rebuild and re-sign the VIB"
            )
        );
        let member = "vibs/if-re--1658215570250043673.xml";
        assert_eq!(
            errors[1].message,
            format!(
                "the VIB file's sha-256 is {altered_sha}, but metadata.zip!{member} declares {original_sha}; the \
             file changed after the metadata was written: regenerate the metadata (checksum and packed-size) \
             from this exact file, or restore the VIB the metadata was written for"
            )
        );
        assert!(matches!(report.vibs[0].signature, SignatureStatus::Invalid { .. }));
        assert_eq!(report.signatures_verified, 0);
    }
}
