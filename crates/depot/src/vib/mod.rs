//! The VIB file (depot-format §4): its `ar` container, payload digests and `sig.pkcs7`.
//!
//! * [`ar`]: streaming, tolerant `ar` reader ([`ArReader`]) and vibauthor-style writer
//!   ([`ArWriter`]).
//! * [`payload`]: single-pass payload digests ([`digest_payload`]) and their comparison with
//!   declared checksums ([`compare`]).
//! * [`signature`]: `sig.pkcs7` verification ([`verify_vib_signature`]) with an optional
//!   [`TrustStore`].
//! * [`file`](mod@file): one streaming pass over a whole `.vib` file ([`read_vib_file`]).

pub mod ar;
pub mod file;
pub mod payload;
pub mod signature;

pub use self::ar::{ArError, ArMember, ArReader, ArWriter};
pub use self::file::{PayloadPlan, VibFileError, VibFileSummary, read_vib_file, scan_vib_file};
pub use self::payload::{
    ChecksumKind, ExpectedChecksum, HashingReader, PayloadDigests, PayloadError, PayloadKind, PayloadMismatch, compare,
    digest_payload,
};
pub use self::signature::{
    SignatureError, SignerSummary, TrustFailure, TrustRule, TrustStore, TrustedBy, VibVerdict, is_empty_signature,
    verify_vib, verify_vib_signature,
};

#[cfg(test)]
mod tests {
    //! Checks against the real samples in `$ESXLCM_SAMPLES` (the shared `depot-samples` dir).

    use super::*;
    use std::collections::BTreeMap;
    use std::fs::File;
    use std::io::Read;
    use std::path::{Path, PathBuf};

    use esxlcm_test_support::samples_dir;

    /// One `<payload>` of a descriptor, parsed just enough for these tests (the real
    /// descriptor model lives elsewhere).
    #[derive(Debug, Default, Clone)]
    struct DeclaredPayload {
        name: String,
        kind: String,
        size: Option<u64>,
        uncompressed_size: Option<u64>,
        checksums: Vec<ExpectedChecksum>,
    }

    fn declared_payloads(descriptor: &[u8]) -> Vec<DeclaredPayload> {
        use quick_xml::events::{BytesStart, Event};

        fn attrs(e: &BytesStart<'_>) -> BTreeMap<String, String> {
            e.attributes()
                .map(|a| {
                    let a = a.unwrap();
                    let key: &str = a.key.as_ref();
                    (key.to_owned(), a.value.into_owned())
                })
                .collect()
        }

        let mut reader = quick_xml::Reader::from_reader(descriptor);
        let mut out: Vec<DeclaredPayload> = Vec::new();
        let mut checksum: Option<ExpectedChecksum> = None;
        loop {
            match reader.read_event().unwrap() {
                Event::Eof => break,
                Event::Start(e) | Event::Empty(e) if e.name().as_ref() == "payload" => {
                    let a = attrs(&e);
                    out.push(DeclaredPayload {
                        name: a["name"].clone(),
                        kind: a["type"].clone(),
                        size: a.get("size").map(|s| s.parse().unwrap()),
                        uncompressed_size: a.get("uncompressed-size").map(|s| s.parse().unwrap()),
                        checksums: Vec::new(),
                    });
                }
                Event::Start(e) if e.name().as_ref() == "checksum" => {
                    let a = attrs(&e);
                    checksum = Some(ExpectedChecksum {
                        checksum_type: a["checksum-type"].clone(),
                        verify_process: a.get("verify-process").cloned(),
                        value: String::new(),
                    });
                }
                Event::Text(t) => {
                    if let Some(c) = checksum.as_mut() {
                        let text: &str = t.as_ref();
                        c.value.push_str(text.trim());
                    }
                }
                Event::End(e) if e.name().as_ref() == "checksum" => {
                    let c = checksum.take().unwrap();
                    out.last_mut().unwrap().checksums.push(c);
                }
                _ => {}
            }
        }
        out
    }

    /// `payload 'name' sha256=...` lines of `extracted/<bundle>/vib-ar-members.txt`.
    fn listed_payload_hashes(listing: &str) -> BTreeMap<String, String> {
        listing
            .lines()
            .filter_map(|l| l.trim().strip_prefix("payload '"))
            .map(|rest| {
                let (name, rest) = rest.split_once("' sha256=").unwrap();
                let hash = rest.split_whitespace().next().unwrap();
                (name.to_owned(), hash.to_owned())
            })
            .collect()
    }

    /// What a VIB streamed out of a bundle contained.
    #[derive(Debug)]
    struct VibContents {
        bundle: String,
        member_names: Vec<String>,
        descriptor: Vec<u8>,
        sig: Vec<u8>,
        payloads: BTreeMap<String, PayloadDigests>,
        declared: Vec<DeclaredPayload>,
        /// sha-256 and size of the whole `.vib`, hashed while streaming.
        vib_sha256: String,
        vib_size: u64,
    }

    const PAYLOAD_LIMIT: u64 = 256 << 20;

    /// Streams every `.vib` member of a bundle zip through [`ArReader`] and [`digest_payload`],
    /// without buffering the VIB or its payloads.
    fn read_bundle(path: &Path) -> Vec<VibContents> {
        let bundle = path.file_stem().unwrap().to_string_lossy().into_owned();
        let mut zip = zip::ZipArchive::new(File::open(path).unwrap()).unwrap();
        let mut out = Vec::new();
        for i in 0..zip.len() {
            let entry = zip.by_index(i).unwrap();
            if !entry.name().unwrap().ends_with(".vib") {
                continue;
            }
            let mut hashing = HashingReader::new(entry);
            let mut ar = ArReader::new(&mut hashing).unwrap();
            let mut vib = VibContents {
                bundle: bundle.clone(),
                member_names: Vec::new(),
                descriptor: Vec::new(),
                sig: Vec::new(),
                payloads: BTreeMap::new(),
                declared: Vec::new(),
                vib_sha256: String::new(),
                vib_size: 0,
            };
            while let Some(mut member) = ar.next_member().unwrap() {
                let name = member.name().to_owned();
                vib.member_names.push(name.clone());
                match name.as_str() {
                    "descriptor.xml" => {
                        member.read_to_end(&mut vib.descriptor).unwrap();
                        vib.declared = declared_payloads(&vib.descriptor);
                    }
                    "sig.pkcs7" => {
                        member.read_to_end(&mut vib.sig).unwrap();
                    }
                    _ => {
                        let declared = vib
                            .declared
                            .iter()
                            .find(|p| p.name == name)
                            .unwrap_or_else(|| panic!("{bundle}: undeclared member {name}"));
                        let digests = digest_payload(&mut member, &declared.kind, PAYLOAD_LIMIT)
                            .unwrap_or_else(|e| panic!("{bundle}: payload {name}: {e}"));
                        vib.payloads.insert(name, digests);
                    }
                }
            }
            drop(ar);
            std::io::copy(&mut hashing, &mut std::io::sink()).unwrap();
            (vib.vib_sha256, vib.vib_size) = hashing.finish();
            out.push(vib);
        }
        out
    }

    fn all_vibs() -> Vec<VibContents> {
        let dir = samples_dir().join("bundles");
        let mut zips: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "zip"))
            .collect();
        zips.sort();
        assert_eq!(zips.len(), 7, "expected the 7 sample bundles in {}", dir.display());
        let vibs: Vec<VibContents> = zips.iter().flat_map(|z| read_bundle(z)).collect();
        assert_eq!(vibs.len(), 7, "one VIB per sample bundle");
        vibs
    }

    #[test]
    fn sample_vibs_parse_and_payloads_match_declarations() {
        let samples = samples_dir();
        let mut payloads_checked = 0;
        let mut kinds = Vec::new();
        for vib in all_vibs() {
            let extracted = samples.join("extracted").join(&vib.bundle);
            let b = &vib.bundle;

            // Member order: descriptor.xml, sig.pkcs7, then payloads in descriptor order.
            let mut expected_order = vec!["descriptor.xml".to_owned(), "sig.pkcs7".to_owned()];
            expected_order.extend(vib.declared.iter().map(|p| p.name.clone()));
            assert_eq!(vib.member_names, expected_order, "{b}");

            // The descriptor bytes are exactly the extracted ones.
            let descriptor = std::fs::read(extracted.join("vib-descriptor.xml")).unwrap();
            assert!(vib.descriptor == descriptor, "{b}: descriptor differs");

            let listing = std::fs::read_to_string(extracted.join("vib-ar-members.txt")).unwrap();
            assert!(
                listing.lines().any(|l| l == format!("sha256: {}", vib.vib_sha256)),
                "{b}: VIB sha-256 {} not in the listing",
                vib.vib_sha256
            );
            assert!(listing.lines().any(|l| l == format!("size: {}", vib.vib_size)), "{b}: VIB size {}", vib.vib_size);
            let listed = listed_payload_hashes(&listing);
            assert_eq!(listed.len(), vib.declared.len(), "{b}");

            for declared in &vib.declared {
                let digests = &vib.payloads[&declared.name];
                let mismatches = compare(digests, &declared.checksums, declared.size, declared.uncompressed_size);
                assert!(mismatches.is_empty(), "{b}/{}: {mismatches:?}", declared.name);
                assert_eq!(digests.stored_sha256, listed[&declared.name], "{b}");
                // Every sample declares a stored sha-256 and a gunzip sha-1.
                let kinds_declared: Vec<_> = declared.checksums.iter().filter_map(ChecksumKind::of).collect();
                assert!(kinds_declared.contains(&ChecksumKind::StoredSha256), "{b}");
                assert!(kinds_declared.contains(&ChecksumKind::GunzipSha1), "{b}");
                if declared.kind == "vzstd" {
                    assert!(kinds_declared.contains(&ChecksumKind::Gunzip1Sha256), "{b}");
                    assert!(digests.gunzip1_sha256.is_some());
                }
                kinds.push(declared.kind.clone());
                payloads_checked += 1;
            }
        }
        assert_eq!(payloads_checked, 7);
        kinds.sort();
        kinds.dedup();
        assert_eq!(kinds, ["tgz", "vgz", "vzstd"]);
    }

    #[test]
    fn sample_payload_mismatch_is_reported() {
        let vib = all_vibs().into_iter().find(|v| v.bundle.starts_with("ESXi90")).unwrap();
        let declared = &vib.declared[0];
        let mut digests = vib.payloads[&declared.name].clone();
        digests.gunzip1_sha256 = Some("00".repeat(32));
        let m = compare(&digests, &declared.checksums, declared.size, Some(1));
        assert_eq!(m.len(), 2, "{m:?}");
        assert!(matches!(m[0], PayloadMismatch::UncompressedSize { expected: 1, .. }));
        assert!(matches!(m[1], PayloadMismatch::Checksum { kind: ChecksumKind::Gunzip1Sha256, .. }));
    }

    #[test]
    fn sample_signatures_verify() {
        let mut signed = Vec::new();
        for vib in all_vibs() {
            let b = &vib.bundle;
            if b.starts_with("ghettoVCB") || b.starts_with("net51-r8169") {
                assert!(is_empty_signature(&vib.sig), "{b}");
                let err = verify_vib_signature(&vib.sig, &vib.descriptor, None).unwrap_err();
                assert!(matches!(err, SignatureError::Unsigned), "{b}: {err}");
                continue;
            }
            assert!(vib.sig.starts_with(b"-----BEGIN PKCS7-----"), "{b}");
            let summary = verify_vib_signature(&vib.sig, &vib.descriptor, None).unwrap_or_else(|e| panic!("{b}: {e}"));
            assert_eq!(
                summary.subject, "CN=VMware Certified VIB Signing, O=VMware, Inc., L=Palo Alto, ST=California, C=US",
                "{b}"
            );
            assert_eq!(summary.issuer, summary.subject, "{b}");
            assert_eq!(summary.serial, "c8a7cb6ca4e32fc0", "{b}");
            assert_eq!(summary.certificate_count, 1, "{b}");
            assert!(summary.signing_time.is_some(), "{b}");

            // One flipped descriptor byte breaks the digest.
            let mut altered = vib.descriptor.clone();
            let at = altered.len() / 2;
            altered[at] ^= 0x20;
            let err = verify_vib_signature(&vib.sig, &altered, None).unwrap_err();
            assert!(matches!(err, SignatureError::DigestMismatch { .. }), "{b}: {err}");

            signed.push((b.clone(), summary));
        }
        assert_eq!(signed.len(), 5, "{signed:?}");
        let times: Vec<_> =
            signed.iter().map(|(b, s)| format!("{b}: {}", s.signing_time.as_deref().unwrap_or("-"))).collect();
        assert!(
            times
                .iter()
                .any(|t| t.starts_with("nvme-community-driver_1.0.1.0-1vmw") && t.ends_with("2021-02-23T13:03:09Z")),
            "{times:?}"
        );
    }

    #[test]
    fn sample_signer_trust() {
        let vibs: Vec<_> = all_vibs().into_iter().filter(|v| !is_empty_signature(&v.sig)).collect();
        assert_eq!(vibs.len(), 5);

        // A store made of the sample's own (self-signed) signer certificate trusts it.
        let sd = signature::parse_signature(&vibs[0].sig).unwrap();
        let signer_pem = sd.certificates().next().unwrap().encode_pem();
        let own = TrustStore::from_pem(signer_pem.as_bytes()).unwrap();
        for vib in &vibs {
            let s = verify_vib_signature(&vib.sig, &vib.descriptor, Some(&own))
                .unwrap_or_else(|e| panic!("{}: {e}", vib.bundle));
            assert_eq!(s.trust_anchor.as_deref(), Some(s.subject.as_str()));
        }

        // All five samples share one signer, so the unrelated anchor is generated.
        let (other, _) = esxlcm_test_support::vib_signing::self_signed("Unrelated Test CA");
        let unrelated = TrustStore::from_pem(other.encode_pem().as_bytes()).unwrap();
        for vib in &vibs {
            let err = verify_vib_signature(&vib.sig, &vib.descriptor, Some(&unrelated)).unwrap_err();
            match err {
                SignatureError::Untrusted { failure, .. } => {
                    assert_eq!(failure.rule, TrustRule::NoPath);
                    assert_eq!(
                        failure.message,
                        "signer \"CN=VMware Certified VIB Signing, O=VMware, Inc., L=Palo Alto, ST=California, \
                         C=US\" is self-signed and is not a trust anchor"
                    );
                }
                other => panic!("{}: expected Untrusted, got {other}", vib.bundle),
            }
        }

        // The shipped VMware anchor is the samples' signer, and every sample verifies against
        // it with no configured anchor: "signed by VMware".
        assert_eq!(own.len(), 1);
        for vib in &vibs {
            match verify_vib(&vib.sig, &vib.descriptor, TrustStore::builtin()) {
                VibVerdict::Verified { signer, anchor } => {
                    assert!(anchor.builtin, "{}", vib.bundle);
                    assert_eq!(anchor.anchor, signer.subject);
                    assert_eq!(signer.trust_anchor.as_deref(), Some(signer.subject.as_str()));
                }
                other => panic!("{}: {other:?}", vib.bundle),
            }
        }
    }

    #[test]
    fn shipped_vmware_anchor_has_the_documented_fingerprint() {
        use sha2::Digest as _;
        let block = pem::parse(signature::VMWARE_VIB_SIGNING_PEM).unwrap();
        assert_eq!(block.tag(), "CERTIFICATE");
        assert_eq!(hex::encode(sha2::Sha256::digest(block.contents())), signature::VMWARE_VIB_SIGNING_SHA256);
        let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/check.md")).unwrap();
        assert!(docs.contains(signature::VMWARE_VIB_SIGNING_SHA256), "docs/check.md lacks the fingerprint");
        assert_eq!(TrustStore::builtin().len(), 1);
        assert!(!TrustStore::builtin().has_user_anchors());
        let sd = signature::parse_signature(&all_vibs().into_iter().find(|v| !is_empty_signature(&v.sig)).unwrap().sig)
            .unwrap();
        assert_eq!(sd.certificates().next().unwrap().constructed_data(), block.contents());
    }

    #[test]
    fn sample_vibs_round_trip_through_ar_writer() {
        // Re-pack one VIB of each ar dialect with ArWriter and read it back identically.
        let samples = samples_dir().join("bundles");
        for name in [
            "ghettoVCB-2020_12_28-offline-bundle.zip",
            "net51-r8169-6.011.00-2vft.510.0.0.799733-offline_bundle.zip",
            "ESXi90-VMKUSB-NIC-FLING-84947163_24739691-component.zip",
        ] {
            let mut zip = zip::ZipArchive::new(File::open(samples.join(name)).unwrap()).unwrap();
            let idx = (0..zip.len()).find(|&i| zip.by_index(i).unwrap().name().unwrap().ends_with(".vib")).unwrap();
            let mut vib = Vec::new();
            zip.by_index(idx).unwrap().read_to_end(&mut vib).unwrap();

            let mut members = Vec::new();
            let mut ar = ArReader::new(&vib[..]).unwrap();
            while let Some(mut m) = ar.next_member().unwrap() {
                let mut data = Vec::new();
                m.read_to_end(&mut data).unwrap();
                members.push((m.name().to_owned(), data));
            }
            let mut writer = ArWriter::new(Vec::new());
            for (n, d) in &members {
                writer.append(n, d.len() as u64, &d[..]).unwrap();
            }
            let repacked = writer.finish().unwrap();
            let mut again = Vec::new();
            let mut ar = ArReader::new(&repacked[..]).unwrap();
            while let Some(mut m) = ar.next_member().unwrap() {
                let mut data = Vec::new();
                m.read_to_end(&mut data).unwrap();
                again.push((m.name().to_owned(), data));
            }
            assert_eq!(again, members, "{name}");
            if name.starts_with("ghettoVCB") {
                // vibauthor output is reproduced byte for byte.
                assert!(repacked == vib, "{name}: repacked bytes differ");
            }
        }
    }
}
