//! Every rule of `esxlcm depot check` against the fixtures in `testdata/check/` (built by
//! `check_fixtures.rs`): each fixture gives exactly the findings listed here, rule id and
//! full message included.

// Test code: a failed unwrap is a failed test (clippy only exempts #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// One module, so that `cargo test -p esxlcm-depot check` selects every test here.
mod check {

    use std::path::{Path, PathBuf};
    use std::sync::Mutex;

    use esxlcm_depot::check::{
        CheckError, CheckOptions, CheckProgress, CheckRun, Finding, NoProgress, Rule, SCHEMA, Severity, check_depot,
        check_sources,
    };
    use esxlcm_depot::source::{Depot, OpenOptions, SourceKind};

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/check").join(name)
    }

    fn spec(path: &Path) -> String {
        path.to_string_lossy().into_owned()
    }

    fn run(names: &[&str], options: &CheckOptions) -> CheckRun {
        let specs: Vec<String> = names.iter().map(|n| spec(&fixture(n))).collect();
        check_sources(&specs, &OpenOptions::default(), options, &NoProgress).unwrap()
    }

    /// `severity|rule|file|vib|field|message`, with the source path replaced by `{src}`.
    fn line(f: &Finding, src: &str) -> String {
        format!(
            "{}|{}|{}|{}|{}|{}",
            f.severity,
            f.rule,
            f.file.as_deref().unwrap_or("-"),
            f.vib.as_deref().unwrap_or("-"),
            f.field.as_deref().unwrap_or("-"),
            f.message
        )
        .replace(src, "{src}")
    }

    /// The demo VIB is community and unsigned in most fixtures.
    const UNSIGNED_DEMO: &str = "info|unsigned-community|vib20/demo/ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1.vib|ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1|-|community, unsigned: sig.pkcs7 is empty, as expected for acceptance level community; hosts install it only at host acceptance level CommunitySupported";

    fn expected(name: &str) -> &'static [&'static str] {
        match name {
            "addon-without-base-images.zip" => &[
                "error|addon-without-base-images|metadata.zip|-|addons[ESXLCM-addon:8.0.3-1]/supportedBaseImageVersions|add-on ESXLCM-addon 8.0.3-1 lists no supportedBaseImageVersions, so vLCM cannot combine it with any base image; list the base image versions it supports, e.g. \"supportedBaseImageVersions\": [\"8.0.3\"]",
                UNSIGNED_DEMO,
            ],
            "archive-unreadable.zip" => &[
                "error|archive-unreadable|metadata.zip|-|-|metadata.zip: not a readable ZIP archive: invalid Zip archive: Could not find EOCD; the archive is damaged or not a ZIP: download or build it again",
            ],
            "bulletin-without-component-spec.zip" => &[
                "warning|bulletin-without-component-spec|metadata.zip|-|bulletin[esxlcm-demo-bulletin]|bulletin 'esxlcm-demo-bulletin' has no componentNameSpec/componentVersionSpec, so it is a legacy bulletin: esxcli can still install its VIBs, but vSphere Lifecycle Manager (7.0 and later) works with components only and will not offer it; add <componentNameSpec name=\"...\" uiString=\"...\"/> and <componentVersionSpec version=\"...\" uiString=\"...\"/>",
                UNSIGNED_DEMO,
            ],
            "clean.zip" => &[UNSIGNED_DEMO],
            "component-conflict.zip" => &[
                "error|component-conflict|metadata-extra.zip|-|bulletin[ESXLCM-demo_1.0.0-1OEM.800.1.0.1]/vibList|component ESXLCM-demo 1.0.0-1OEM.800.1.0.1 lists VIBs [ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1] in metadata.zip but [ESXLCM_bootbank_demo-extra_1.0.0-1OEM.800.1.0.1] in metadata-extra.zip; one component version must always mean the same VIBs: give the changed one a new version, or remove the stale bulletin",
                "info|unsigned-community|vib20/demo-extra/ESXLCM_bootbank_demo-extra_1.0.0-1OEM.800.1.0.1.vib|ESXLCM_bootbank_demo-extra_1.0.0-1OEM.800.1.0.1|-|community, unsigned: sig.pkcs7 is empty, as expected for acceptance level community; hosts install it only at host acceptance level CommunitySupported",
                UNSIGNED_DEMO,
            ],
            "depot-empty.zip" => &[
                "warning|depot-empty|-|-|-|the depot describes no VIB, so there is nothing to install; check that its metadata zip holds a vibs/*.xml record for every VIB",
            ],
            "depot-file-missing.zip" => &[
                "error|depot-file-missing|metadata-renamed.zip|-|-|{src} has no file 'metadata-renamed.zip', which the index chain names; add it, or correct the index that points at it",
            ],
            "descriptor-metadata-mismatch.zip" => &[
                "error|descriptor-metadata-mismatch|vib20/demo/ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1.vib|ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1|acceptance-level|acceptance-level is 'community' in the VIB's descriptor.xml but 'partner' in metadata.zip!vibs/demo-1000.xml; depot clients act on the metadata, ESXi on the descriptor: regenerate the metadata from this VIB",
                UNSIGNED_DEMO,
            ],
            "descriptor-unreadable.zip" => &[
                "error|descriptor-unreadable|vib20/demo/ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1.vib|ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1|-|descriptor.xml inside the VIB cannot be read: malformed XML at byte 50: document ends inside <name>; ESXi reads this copy, not the metadata's: rebuild the VIB with a valid descriptor (payloads were checked against metadata.zip!vibs/demo-1000.xml instead)",
                UNSIGNED_DEMO,
            ],
            "metadata-unknown-member.zip" => &[
                "info|metadata-unknown-member|metadata.zip!notes/README.txt|-|-|metadata zip member 'notes/README.txt' is not a document esxlcm knows (vmware.xml, vendor-index.xml, bulletins/, vibs/, profiles/, baseimages/, addons/, manifests/, solutions/); it is ignored",
                UNSIGNED_DEMO,
            ],
            "metadata-unreadable.zip" => &[
                "error|metadata-unreadable|metadata.zip!bulletins/ESXLCM-demo_1.0.0-1OEM.800.1.0.1.xml|-|-|metadata zip member 'bulletins/ESXLCM-demo_1.0.0-1OEM.800.1.0.1.xml' cannot be parsed: malformed XML at byte 21: document ends inside <id>; the whole metadata zip is unusable until it is fixed: regenerate it, or correct the member",
            ],
            "not-a-depot.zip" => &[
                "error|not-a-depot|-|-|-|{src} is not a depot: the ZIP has no index.xml at its root and does not wrap exactly one bundle; its first entries are: README.txt; an offline bundle needs index.xml, vendor-index.xml and a metadata zip at its root",
            ],
            "path-escapes-depot.zip" => &[
                "error|path-escapes-depot|metadata.zip!vibs/demo-1000.xml|ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1|relative-path|relative-path '../vib20/demo/ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1.vib' in metadata.zip!vibs/demo-1000.xml leads outside the depot (it climbs above the vendor index's directory with '..', or is absolute), so no client will fetch it: use a path inside the depot, e.g. 'vib20/demo/ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1.vib'",
            ],
            "payload-checksum-unsupported.zip" => &[
                "warning|payload-checksum-unsupported|vib20/demo/ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1.vib|ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1|payloads/demo/checksum|payload 'demo': descriptor.xml declares a checksum esxlcm cannot verify (unsupported checksum \"md5\" = 00000000000000000000000000000000); ESXi uses sha-256, sha-256 and sha-1 with verify-process=\"gunzip\", and sha-256-gunzip1",
                UNSIGNED_DEMO,
            ],
            "payload-checksum.zip" => &[
                "error|payload-checksum|vib20/demo/ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1.vib|ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1|payloads/demo/checksum[sha-256]|payload 'demo': descriptor.xml declares sha-256 2b87e571165ed7a54eba7a85247159208392da68469a00ad25f09b6543b104ee, but the payload's is c329dbfa0a5bd9112f919f220c7352492dd3a2bae00b8eae12b4b2fde8388eef; the payload changed after the descriptor was written: rebuild (and re-sign) the VIB from the original payload, or regenerate descriptor.xml from this payload",
                UNSIGNED_DEMO,
            ],
            "payload-missing.zip" => &[
                "error|payload-missing|vib20/demo/ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1.vib|ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1|payloads/second|payload 'second' is declared in descriptor.xml, but the VIB has no ar member of that name; ESXi cannot install it: rebuild the VIB so that it contains every declared payload",
                UNSIGNED_DEMO,
            ],
            "payload-size.zip" => &[
                "error|payload-size|vib20/demo/ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1.vib|ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1|payloads/demo/@uncompressed-size|payload 'demo': descriptor.xml declares uncompressed-size 147, but it decompresses to 47 bytes; rebuild the VIB so that descriptor.xml describes this payload",
                UNSIGNED_DEMO,
            ],
            "payload-undeclared.zip" => &[
                "error|payload-undeclared|vib20/demo/ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1.vib|ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1|payloads/notes|the VIB holds an ar member 'notes' that descriptor.xml does not declare as a payload, so no checksum covers it; declare it in <payloads> or remove it, then re-sign the VIB",
                UNSIGNED_DEMO,
            ],
            "payload-unreadable.zip" => &[
                "error|payload-unreadable|vib20/demo/ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1.vib|ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1|payloads/demo|payload 'demo' cannot be read as its declared type 'vgz': vgz payload is not gzip data: starts with \"7072\"; the payload is corrupt or not what descriptor.xml says: rebuild the VIB from the original payload (gzip for vgz/tgz, gzip around zstd for vzstd)",
                UNSIGNED_DEMO,
            ],
            "release-unit-conflict.zip" => &[
                "error|release-unit-conflict|metadata-addon.zip|-|addons[ESXLCM-addon:8.0.3-1]|add-on ESXLCM-addon 8.0.3-1 (release ID ESXLCM-addon:8.0.3-1) has different documents in metadata.zip and metadata-addon.zip; one release ID must always mean the same content: give the changed one a new version, or remove the stale document",
                UNSIGNED_DEMO,
            ],
            "release-unit-unknown-component.zip" => &[
                "warning|release-unit-unknown-component|metadata.zip|-|addons[ESXLCM-addon:8.0.3-1]/components/ESXLCM-missing|add-on ESXLCM-addon 8.0.3-1 includes component ESXLCM-missing 2.0.0-1, which this depot does not carry; vLCM needs it to build the image: add the component to the depot, or correct the version",
                UNSIGNED_DEMO,
            ],
            "signature-invalid.zip" => &[
                "error|signature-invalid|vib20/demo/ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1.vib|ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1|sig.pkcs7|sig.pkcs7 does not verify over the VIB's descriptor.xml: sig.pkcs7 is not a valid CMS SignedData structure: missing further values (at position 0); the descriptor or the signature was changed after signing: restore the signed original, or rebuild and re-sign the VIB",
            ],
            "signature-missing.zip" => &[
                "error|signature-missing|vib20/demo/ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1.vib|ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1|sig.pkcs7|the VIB's acceptance level is certified (VMwareCertified), which requires a signature, but sig.pkcs7 is empty; ESXi refuses unsigned VIBs above community level: sign the VIB with a key issued for that level, or set acceptance-level to community if it is a community VIB",
            ],
            "version-malformed.zip" => &[
                "error|version-malformed|metadata.zip!vibs/demo-1000.xml|ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1~beta|version|VIB ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1~beta: version '1.0.0-1OEM.800.1.0.1~beta' has '~' in its release number at character 20; VMware allows only letters A-Z, a-z, digits and '.' (rule version-invalid-character); VMware's tooling may refuse it: rebuild with a conforming version",
                "info|unsigned-community|vib20/demo/ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1~beta.vib|ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1~beta|-|community, unsigned: sig.pkcs7 is empty, as expected for acceptance level community; hosts install it only at host acceptance level CommunitySupported",
            ],
            "version-missing-release.zip" => &[
                "warning|version-missing-release|metadata.zip!vibs/demo-1000.xml|ESXLCM_bootbank_demo_1.0.0|version|VIB ESXLCM_bootbank_demo_1.0.0: version '1.0.0' has no release number; VMware's rules require '<version>-<release>', e.g. '1.0.0-1OEM.800.1.0.20613240'; ESXi accepts it, but tools that compare versions by release (vLCM, esxcli upgrades) may order it wrongly: add a release number",
                "info|unsigned-community|vib20/demo/ESXLCM_bootbank_demo_1.0.0.vib|ESXLCM_bootbank_demo_1.0.0|-|community, unsigned: sig.pkcs7 is empty, as expected for acceptance level community; hosts install it only at host acceptance level CommunitySupported",
            ],
            "vib-checksum-unsupported.zip" => &[
                "warning|vib-checksum-unsupported|vib20/demo/ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1.vib|ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1|checksum/@checksum-type|metadata.zip!vibs/demo-1000.xml declares a 'md5' checksum for the VIB file, which cannot be verified (ESXi depots use sha-256); write the file's sha-256, which is d570aad9834dab1df7561496a53502b2a21246774bf47003f1e3221c1ea85d12",
                UNSIGNED_DEMO,
            ],
            "vib-checksum.zip" => &[
                "error|vib-checksum|vib20/demo/ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1.vib|ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1|checksum|the VIB file's sha-256 is d570aad9834dab1df7561496a53502b2a21246774bf47003f1e3221c1ea85d12, but metadata.zip!vibs/demo-1000.xml declares 8fc5165c9f69bb542d156376470828c91195f28e6e6fad420cedee3a181f7e96; the file changed after the metadata was written: regenerate the metadata (checksum and packed-size) from this exact file, or restore the VIB the metadata was written for",
                UNSIGNED_DEMO,
            ],
            "vib-file-missing.zip" => &[
                "error|vib-file-missing|vib20/demo/ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1.vib|ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1|-|the VIB file is not in the depot: metadata.zip!vibs/demo-1000.xml gives relative-path 'vib20/demo/ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1.vib', but there is no such file; add the VIB file at that path, or correct relative-path in the metadata",
            ],
            "vib-id-conflict.zip" => &[
                "error|vib-id-conflict|metadata-rebuilt.zip!vibs/demo-1000.xml|ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1|-|VIB ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1 is described differently in metadata.zip!vibs/demo-1000.xml and metadata-rebuilt.zip!vibs/demo-1000.xml (packed-size, checksum, payloads differ); one VIB ID must always mean the same file, or hosts and caches mix them up: give the rebuilt VIB a new version (which changes its ID), or remove the stale record",
                "info|unsigned-community|vib20/demo/ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1-rebuilt.vib|ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1|-|community, unsigned: sig.pkcs7 is empty, as expected for acceptance level community; hosts install it only at host acceptance level CommunitySupported",
                UNSIGNED_DEMO,
            ],
            "vib-location-missing.zip" => &[
                "error|vib-location-missing|metadata.zip!vibs/demo-1000.xml|ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1|relative-path|metadata.zip!vibs/demo-1000.xml has no relative-path, packed-size and checksum, so no client can download or verify the VIB file; regenerate the metadata with the VIB's location, e.g. <relative-path>vib20/demo/ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1.vib</relative-path>",
            ],
            "vib-size.zip" => &[
                "error|vib-size|vib20/demo/ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1.vib|ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1|packed-size|the VIB file is 1618 bytes, but metadata.zip!vibs/demo-1000.xml declares packed-size 1619; the file changed after the metadata was written: regenerate the metadata from this exact file, or restore the VIB the metadata was written for",
                UNSIGNED_DEMO,
            ],
            "vib-unreadable.zip" => &[
                "error|vib-unreadable|vib20/demo/ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1.vib|ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1|-|the file is not a readable VIB: not an ar archive: magic is \"this is \", expected \"!<arch>\\n\"; a VIB is an ar archive holding descriptor.xml, sig.pkcs7 and the payloads, in that order: rebuild it with VIB tooling",
            ],
            "vib-unreferenced.zip" => &[
                "warning|vib-unreferenced|metadata.zip!vibs/demo-extra-1001.xml|ESXLCM_bootbank_demo-extra_1.0.0-1OEM.800.1.0.1|-|VIB ESXLCM_bootbank_demo-extra_1.0.0-1OEM.800.1.0.1 is described in metadata.zip!vibs/demo-extra-1001.xml, but no bulletin or component lists it in its vibList, so neither vLCM nor esxcli will ever install it: add it to a component's vibList, or remove it from the metadata",
                "info|unsigned-community|vib20/demo-extra/ESXLCM_bootbank_demo-extra_1.0.0-1OEM.800.1.0.1.vib|ESXLCM_bootbank_demo-extra_1.0.0-1OEM.800.1.0.1|-|community, unsigned: sig.pkcs7 is empty, as expected for acceptance level community; hosts install it only at host acceptance level CommunitySupported",
                UNSIGNED_DEMO,
            ],
            "viblist-unknown-id.zip" => &[
                "error|viblist-unknown-id|metadata.zip|ESXLCM_bootbank_demo-missing_1.0.0-1OEM.800.1.0.1|bulletin[ESXLCM-demo_1.0.0-1OEM.800.1.0.1]/vibList|bulletin 'ESXLCM-demo_1.0.0-1OEM.800.1.0.1' lists VIB 'ESXLCM_bootbank_demo-missing_1.0.0-1OEM.800.1.0.1' in its vibList, but no VIB with that ID is described in the depot (vibs/*.xml), so installing it fails: add the VIB's record and file, or correct the ID (it is <vendor>_<type>_<name>_<version>, case-sensitive)",
                UNSIGNED_DEMO,
            ],
            "zip-in-zip.zip" => &[
                "info|source-note|-|-|-|{src} wraps the real bundle 'ESXLCM-demo-offline-bundle.zip'; reading that one",
                UNSIGNED_DEMO,
            ],
            "zip-unsafe-entry.zip" => &[
                "error|zip-unsafe-entry|{src}|-|../evil.txt|{src} has an entry named '../evil.txt', which is absolute or climbs out of the archive with '..'; extracting it would write outside the target directory, so the archive is refused: rebuild it with relative entry names only",
            ],
            "zip-symlink-entry.zip" => &[
                "error|zip-symlink-entry|{src}|-|vib20/demo/passwd.vib|{src} has an entry 'vib20/demo/passwd.vib' that is a symbolic link to '/etc/passwd'; extracting it (or serving the extracted tree) would expose whatever it points at, so the archive is refused: rebuild it with regular files only",
            ],
            "zip-duplicate-entry.zip" => &[
                "error|zip-duplicate-entry|{src}|-|vib20/demo/ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1.vib|{src} holds more than one entry named 'vib20/demo/ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1.vib'; unzip, ESXi and vLCM may each take a different copy, so what is checked need not be what is installed: the archive is refused; rebuild it with each name once",
            ],
            "zip-size-mismatch.zip" => &[
                "error|zip-size-mismatch|metadata.zip|-|vmware.xml|metadata.zip: entry 'vmware.xml' inflates past its declared size of 100 bytes (forged header or ZIP bomb); clients that trust the declared size misread it, and a small header over a large stream is a ZIP bomb, so the archive is refused: rebuild it",
            ],
            other => panic!("no expectations for fixture {other}; add them here"),
        }
    }

    fn fixture_names() -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(fixture(""))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".zip"))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn every_fixture_gives_exactly_its_findings() {
        let names = fixture_names();
        assert!(names.len() >= 30, "{names:?}");
        let mut failures = Vec::new();
        for name in &names {
            let path = fixture(name);
            let src = spec(&path);
            let run = run(&[name.as_str()], &CheckOptions::default());
            assert_eq!(run.reports.len(), 1);
            let got: Vec<String> = run.reports[0].findings.iter().map(|f| line(f, &src)).collect();
            let want: Vec<String> = expected(name).iter().map(|s| (*s).to_owned()).collect();
            if got != want {
                failures.push(format!("{name}:\n  got:  {got:#?}\n  want: {want:#?}"));
            }
            // The fixture name is the rule it is about (except the clean ones).
            let stem = name.trim_end_matches(".zip");
            if let Some(rule) = Rule::from_id(stem) {
                assert!(run.reports[0].findings.iter().any(|f| f.rule == rule.id()), "{name} does not trigger {stem}");
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn every_rule_is_triggered_by_a_fixture_or_a_sample_test() {
        // Rules only signed VIBs can trigger are covered by check_samples.rs and, with
        // certificate chains made fresh by each run, by check::verify's
        // trust_rules_are_reported_with_the_certificate_and_rule.
        let by_samples = [
            Rule::SignatureUntrusted,
            Rule::SignatureTrustNotChecked,
            Rule::SignatureIssuerNotCa,
            Rule::SignaturePathLength,
            Rule::SignatureKeyUsage,
            Rule::SignatureExtendedKeyUsage,
            Rule::SignatureCertificateExpired,
            Rule::SignatureCertificateNotYetValid,
        ];
        let names = fixture_names();
        let mut seen = std::collections::BTreeSet::new();
        for name in &names {
            for f in &run(&[name.as_str()], &CheckOptions::default()).reports[0].findings {
                seen.insert(f.rule);
            }
        }
        for rule in Rule::ALL {
            assert!(seen.contains(rule.id()) || by_samples.contains(rule), "no fixture triggers {}", rule.id());
        }
    }

    #[test]
    fn clean_fixtures_have_no_errors() {
        for name in ["clean.zip", "zip-in-zip.zip", "metadata-unknown-member.zip"] {
            let run = run(&[name], &CheckOptions::default());
            assert!(!run.has_errors(), "{name}: {}", run.to_text());
            assert_eq!(run.summary.errors, 0);
            assert_eq!(run.vibs_checked, 1);
        }
    }

    #[test]
    fn severities_come_from_the_rule() {
        for name in fixture_names() {
            for f in &run(&[name.as_str()], &CheckOptions::default()).reports[0].findings {
                let rule = f.rule().unwrap_or_else(|| panic!("unknown rule {}", f.rule));
                assert_eq!(f.severity, rule.severity(), "{name}: {f}");
            }
        }
    }

    #[test]
    fn no_payloads_checks_only_stored_bytes() {
        let options = CheckOptions { verify_payloads: false, ..CheckOptions::default() };
        // A wrong uncompressed-size needs decompression to be seen.
        let r = run(&["payload-size.zip"], &options);
        assert_eq!(r.summary.errors, 0, "{}", r.to_text());
        // A wrong stored sha-256 does not.
        let r = run(&["payload-checksum.zip"], &options);
        let rules: Vec<&str> = r.reports[0].findings.iter().map(|f| f.rule).collect();
        assert_eq!(rules, ["payload-checksum", "unsigned-community"]);
        // A payload that is not gzip is not decompressed, so it is not reported.
        let r = run(&["payload-unreadable.zip"], &options);
        assert_eq!(r.summary.errors, 0, "{}", r.to_text());
    }

    #[test]
    fn worker_count_does_not_change_the_report() {
        let names = ["vib-id-conflict.zip", "component-conflict.zip", "vib-unreferenced.zip", "clean.zip"];
        let one = run(&names, &CheckOptions { jobs: 1, ..CheckOptions::default() });
        for jobs in [2, 3, 16] {
            let many = run(&names, &CheckOptions { jobs, ..CheckOptions::default() });
            assert_eq!(one, many, "jobs = {jobs}");
        }
    }

    #[test]
    fn conflicts_between_sources() {
        // The same VIB ID, built twice: each source is fine alone.
        let r = run(&["clean.zip", "payload-checksum.zip"], &CheckOptions::default());
        let clean = spec(&fixture("clean.zip"));
        let other = spec(&fixture("payload-checksum.zip"));
        let cross: Vec<String> = r.findings.iter().map(|f| line(f, &clean).replace(&other, "{other}")).collect();
        assert_eq!(
            cross,
            ["error|vib-id-conflict|-|ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1|file checksum|VIB \
             ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1 differs between {src} and {other} (file checksum differs); \
             one ID must always mean the same content: give the rebuilt one a new version (which changes its \
             ID), or do not use both sources together"]
        );
        assert!(r.has_errors());
        // The same content twice is no conflict.
        let r = run(&["clean.zip", "zip-in-zip.zip"], &CheckOptions::default());
        assert!(r.findings.is_empty(), "{:?}", r.findings);
        assert!(!r.has_errors());
        // Component and add-on conflicts between sources.
        let r = run(&["clean.zip", "release-unit-conflict.zip"], &CheckOptions::default());
        assert!(r.findings.is_empty(), "the conflict is inside the second source: {:?}", r.findings);
        let r = run(&["component-conflict.zip", "clean.zip"], &CheckOptions::default());
        assert!(r.findings.is_empty(), "{:?}", r.findings);
    }

    #[test]
    fn a_source_that_cannot_be_read_is_an_error_not_a_finding() {
        let missing = spec(&fixture("no-such-bundle.zip"));
        let err = check_sources(
            std::slice::from_ref(&missing),
            &OpenOptions::default(),
            &CheckOptions::default(),
            &NoProgress,
        )
        .unwrap_err();
        assert!(matches!(err, CheckError::Open { .. }));
        assert_eq!(err.to_string(), format!("cannot read {missing}"));
        let cause = std::error::Error::source(&err).unwrap().to_string();
        assert!(cause.starts_with(&format!("{missing}: ")), "{cause}");
    }

    #[test]
    fn unpacked_directories_and_bare_vibs_check_too() {
        let dir = tempfile::tempdir().unwrap();
        let mut zip = zip::ZipArchive::new(std::fs::File::open(fixture("clean.zip")).unwrap()).unwrap();
        zip.extract(dir.path()).unwrap();
        let r = run_spec(&spec(dir.path()));
        assert_eq!(r.reports[0].kind, Some(SourceKind::Directory));
        assert_eq!(r.summary.errors, 0, "{}", r.to_text());
        assert_eq!(r.vibs_checked, 1);

        let vib = dir.path().join("vib20/demo/ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1.vib");
        let r = run_spec(&spec(&vib));
        assert_eq!(r.reports[0].kind, Some(SourceKind::Vib));
        let rules: Vec<&str> = r.reports[0].findings.iter().map(|f| f.rule).collect();
        assert_eq!(rules, ["unsigned-community"], "{}", r.to_text());
        assert_eq!(r.reports[0].vibs[0].acceptance_level, "community");

        // A bare VIB whose descriptor does not parse cannot be opened: reported, not an I/O error.
        let broken = tempfile::tempdir().unwrap();
        let mut zip = zip::ZipArchive::new(std::fs::File::open(fixture("descriptor-unreadable.zip")).unwrap()).unwrap();
        zip.extract(broken.path()).unwrap();
        let vib = broken.path().join("vib20/demo/ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1.vib");
        let src = spec(&vib);
        let r = run_spec(&src);
        assert_eq!(r.reports[0].kind, None);
        let got: Vec<String> = r.reports[0].findings.iter().map(|f| line(f, &src)).collect();
        assert_eq!(
            got,
            [
                "error|descriptor-unreadable|{src}!descriptor.xml|-|-|{src}!descriptor.xml cannot be read: malformed XML \
              at byte 50: document ends inside <name>; ESXi reads this descriptor to install the VIB: rebuild the VIB \
              with a valid descriptor"
            ]
        );
    }

    fn run_spec(spec: &str) -> CheckRun {
        check_sources(&[spec.to_owned()], &OpenOptions::default(), &CheckOptions::default(), &NoProgress).unwrap()
    }

    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>);

    impl CheckProgress for Recorder {
        fn source_started(&self, _label: &str, vib_files: usize, bytes: u64) {
            self.0.lock().unwrap().push(format!("start {vib_files} {bytes}"));
        }
        fn vib_started(&self, vib: &str, _file: &str) {
            self.0.lock().unwrap().push(format!("vib {vib}"));
        }
        fn vib_finished(&self, vib: &str, _file: &str, bytes: u64) {
            self.0.lock().unwrap().push(format!("done {vib} {bytes}"));
        }
        fn source_finished(&self, _label: &str) {
            self.0.lock().unwrap().push("finish".into());
        }
    }

    #[test]
    fn progress_is_reported_per_vib_file() {
        let depot = Depot::open(&spec(&fixture("vib-unreferenced.zip")), &OpenOptions::default()).unwrap();
        let recorder = Recorder::default();
        let options = CheckOptions { jobs: 2, ..CheckOptions::default() };
        let report = esxlcm_depot::check::check_depot_with_progress(&depot, &options, &recorder);
        let mut events = recorder.0.into_inner().unwrap();
        assert_eq!(events.first().map(String::as_str), Some("start 2 3222"));
        assert_eq!(events.last().map(String::as_str), Some("finish"));
        events.sort();
        assert_eq!(
            events,
            [
                "done ESXLCM_bootbank_demo-extra_1.0.0-1OEM.800.1.0.1 1604",
                "done ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1 1618",
                "finish",
                "start 2 3222",
                "vib ESXLCM_bootbank_demo-extra_1.0.0-1OEM.800.1.0.1",
                "vib ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1",
            ]
        );
        assert_eq!(report, check_depot(&depot, &CheckOptions::default()));
    }

    #[test]
    fn json_report_follows_the_documented_schema() {
        let run = run(&["vib-checksum.zip"], &CheckOptions::default());
        let json: serde_json::Value = serde_json::from_str(&run.to_json()).unwrap();
        assert_eq!(json["schema"], SCHEMA);
        assert_eq!(SCHEMA, "esxlcm.check/1");
        let keys = |v: &serde_json::Value| -> Vec<String> {
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        assert_eq!(keys(&json), ["findings", "reports", "schema", "signatures_verified", "summary", "vibs_checked"]);
        assert_eq!(keys(&json["summary"]), ["errors", "infos", "warnings"]);
        let report = &json["reports"][0];
        assert_eq!(
            keys(report),
            [
                "acceptance_levels",
                "findings",
                "kind",
                "label",
                "signatures_verified",
                "source",
                "summary",
                "vibs",
                "vibs_checked"
            ]
        );
        assert_eq!(report["kind"], "bundle");
        assert_eq!(report["acceptance_levels"]["community"], 1);
        let vib = &report["vibs"][0];
        assert_eq!(keys(vib), ["acceptance_level", "file", "id", "sha256", "signature", "size"]);
        assert_eq!(vib["signature"]["status"], "unsigned");
        let finding = &report["findings"][0];
        assert_eq!(keys(finding), ["field", "file", "message", "rule", "severity", "vib"]);
        assert_eq!(finding["severity"], "error");
        assert_eq!(finding["rule"], "vib-checksum");
        assert_eq!(finding["field"], "checksum");
        assert_eq!(json["summary"]["errors"], 1);
    }

    #[test]
    fn docs_list_every_rule_with_its_severity() {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/check.md");
        let doc = std::fs::read_to_string(&path).unwrap();
        assert!(doc.contains(SCHEMA));
        for rule in Rule::ALL {
            let row = format!("| `{}` | {} |", rule.id(), rule.severity());
            assert!(doc.contains(&row), "docs/check.md has no row starting {row}");
        }
        for severity in [Severity::Error, Severity::Warning, Severity::Info] {
            assert!(doc.contains(&format!("`{severity}`")));
        }
    }
}
