//! Builds the `esxlcm depot check` fixtures in `testdata/check/` from code, deterministically.
//!
//! Each fixture is a tiny offline bundle with exactly one thing broken (or, for `clean.zip`,
//! nothing). The documents are written by hand here, not by the depot crate's writer: the
//! writer refuses broken content, and hand-written XML (with VMware's attribute orders and
//! spacing, different between descriptor.xml and the metadata copy) also shows that the
//! checks do not report textual differences.
//!
//! * `cargo test -p esxlcm-depot --test integration -- --ignored check_fixtures::regenerate` rewrites
//!   `testdata/check/`.
//! * `fixtures_are_up_to_date` rebuilds every fixture in memory and fails when a committed
//!   file differs, so the fixtures cannot drift from this builder.

// Test code: a failed unwrap is a failed test (clippy only exempts #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// One module, so that `cargo test -p esxlcm-depot check` selects every test here.
mod check {

    use std::io::{Cursor, Write};
    use std::path::PathBuf;

    use esxlcm_depot::archive::DeterministicZip;
    use esxlcm_depot::vib::ArWriter;
    use flate2::{Compression, GzBuilder};
    use sha1::Sha1;
    use sha2::{Digest, Sha256};

    const VENDOR: &str = "ESXLCM";
    const VERSION: &str = "1.0.0-1OEM.800.1.0.1";
    const COMPONENT: &str = "ESXLCM-demo";
    const PAYLOAD_NAME: &str = "demo";
    const PAYLOAD_CONTENT: &[u8] = b"pretend this is a visor tar of the demo driver\n";

    fn sha256(data: &[u8]) -> String {
        hex::encode(Sha256::digest(data))
    }

    fn sha1(data: &[u8]) -> String {
        hex::encode(Sha1::digest(data))
    }

    /// gzip with fixed header fields, so output depends only on the input.
    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = GzBuilder::new().mtime(0).operating_system(3).write(Vec::new(), Compression::best());
        enc.write_all(data).expect("writing to memory");
        enc.finish().expect("writing to memory")
    }

    #[derive(Clone)]
    struct Checksum {
        kind: &'static str,
        verify_process: Option<&'static str>,
        value: String,
    }

    #[derive(Clone)]
    struct PayloadDecl {
        name: String,
        ptype: String,
        size: u64,
        uncompressed: Option<u64>,
        checksums: Vec<Checksum>,
    }

    /// A payload as stored, with the declaration that matches it.
    fn vgz_payload(name: &str, content: &[u8]) -> (PayloadDecl, Vec<u8>) {
        let stored = gzip(content);
        let decl = PayloadDecl {
            name: name.to_owned(),
            ptype: "vgz".to_owned(),
            size: stored.len() as u64,
            uncompressed: Some(content.len() as u64),
            checksums: vec![
                Checksum { kind: "sha-256", verify_process: None, value: sha256(&stored) },
                Checksum { kind: "sha-256", verify_process: Some("gunzip"), value: sha256(content) },
                Checksum { kind: "sha-1", verify_process: Some("gunzip"), value: sha1(content) },
            ],
        };
        (decl, stored)
    }

    /// What a descriptor says.
    #[derive(Clone)]
    struct Desc {
        name: String,
        version: String,
        acceptance: String,
        payloads: Vec<PayloadDecl>,
    }

    impl Desc {
        fn demo() -> (Self, Vec<u8>) {
            let (decl, stored) = vgz_payload(PAYLOAD_NAME, PAYLOAD_CONTENT);
            let desc = Self {
                name: "demo".into(),
                version: VERSION.into(),
                acceptance: "community".into(),
                payloads: vec![decl],
            };
            (desc, stored)
        }

        fn id(&self) -> String {
            format!("{VENDOR}_bootbank_{}_{}", self.name, self.version)
        }

        fn default_path(&self) -> String {
            format!("vib20/{}/{}.vib", self.name, self.id())
        }

        /// descriptor.xml as VMware's esximage writes it: `name` before `type` on payloads,
        /// `checksum-type` first, `<urls/>`.
        fn descriptor_xml(&self) -> String {
            let mut payloads = String::new();
            for p in &self.payloads {
                let unc = p.uncompressed.map(|u| format!(" uncompressed-size=\"{u}\"")).unwrap_or_default();
                payloads
                    .push_str(&format!("<payload name=\"{}\" type=\"{}\" size=\"{}\"{unc}>", p.name, p.ptype, p.size));
                for c in &p.checksums {
                    let vp = c.verify_process.map(|v| format!(" verify-process=\"{v}\"")).unwrap_or_default();
                    payloads.push_str(&format!("<checksum checksum-type=\"{}\"{vp}>{}</checksum>", c.kind, c.value));
                }
                payloads.push_str("</payload>");
            }
            format!(
                "<vib version=\"5.0\"><type>bootbank</type><name>{name}</name><version>{version}</version>\
             <vendor>{VENDOR}</vendor><summary>esxlcm check fixture</summary><description>A demo VIB \
             for esxlcm depot check</description><release-date>2025-01-01T00:00:00.000000+00:00</release-date>\
             <urls/><relationships><depends><constraint name=\"vmkapi_2_10_0_0\"/></depends><conflicts/>\
             <replaces/><provides/><compatibleWith/></relationships><software-tags><tag>driver</tag>\
             </software-tags><system-requires><maintenance-mode>true</maintenance-mode>\
             <softwarePlatform locale=\"\" productLineID=\"embeddedEsx\" version=\"8.0.0\"/></system-requires>\
             <file-list><file>opt/esxlcm/demo</file></file-list><acceptance-level>{acceptance}</acceptance-level>\
             <live-install-allowed>false</live-install-allowed><live-remove-allowed>false</live-remove-allowed>\
             <cimom-restart>false</cimom-restart><stateless-ready>true</stateless-ready><overlay>false</overlay>\
             <payloads>{payloads}</payloads></vib>",
                name = self.name,
                version = self.version,
                acceptance = self.acceptance,
            )
        }

        /// The metadata copy (`vibs/*.xml`), pretty-printed as vibauthor does, with other
        /// attribute orders and spellings than descriptor.xml, and the location after
        /// `software-tags`.
        fn metadata_xml(&self, loc: &Loc) -> String {
            let mut payloads = String::new();
            for p in &self.payloads {
                let unc = p.uncompressed.map(|u| format!(" uncompressed-size=\"{u}\"")).unwrap_or_default();
                payloads.push_str(&format!(
                    "    <payload size=\"{}\" type=\"{}\"{unc} name=\"{}\">\n",
                    p.size, p.ptype, p.name
                ));
                for c in &p.checksums {
                    let vp = c.verify_process.map(|v| format!("verify-process=\"{v}\" ")).unwrap_or_default();
                    payloads.push_str(&format!(
                        "      <checksum {vp}checksum-type=\"{}\">{}</checksum>\n",
                        c.kind,
                        c.value.to_uppercase()
                    ));
                }
                payloads.push_str("    </payload>\n");
            }
            // An empty path leaves the location out altogether.
            let location = if loc.path.is_empty() {
                String::new()
            } else {
                format!(
                    "  <relative-path>{}</relative-path>\n  <packed-size>{}</packed-size>\n  \
                     <checksum checksum-type=\"{}\">{}</checksum>\n",
                    loc.path, loc.size, loc.checksum_type, loc.sha256
                )
            };
            format!(
                "<vib version=\"5.0\">\n  <type>bootbank</type>\n  <name>{name}</name>\n  <version>{version}</version>\n  \
             <vendor>{VENDOR}</vendor>\n  <summary>esxlcm check fixture</summary>\n  <description>A demo VIB for \
             esxlcm depot check</description>\n  <release-date>2025-01-01T00:00:00</release-date>\n  <urls />\n  \
             <relationships>\n    <depends>\n      <constraint name=\"vmkapi_2_10_0_0\" />\n    </depends>\n    \
             <conflicts></conflicts>\n    <replaces />\n    <provides />\n    <compatibleWith />\n  </relationships>\n  \
             <software-tags>\n    <tag>driver</tag>\n  </software-tags>\n{location}  \
             <system-requires>\n    <maintenance-mode>true</maintenance-mode>\n    \
             <softwarePlatform version=\"8.0.0\" locale=\"\" productLineID=\"embeddedEsx\" />\n  </system-requires>\n  \
             <file-list>\n    <file>opt/esxlcm/demo</file>\n  </file-list>\n  <acceptance-level>{acceptance}</acceptance-level>\n  \
             <live-install-allowed>false</live-install-allowed>\n  <live-remove-allowed>false</live-remove-allowed>\n  \
             <cimom-restart>false</cimom-restart>\n  <stateless-ready>true</stateless-ready>\n  <overlay>false</overlay>\n  \
             <payloads>\n{payloads}  </payloads>\n</vib>\n",
                name = self.name,
                version = self.version,
                acceptance = self.acceptance,
            )
        }
    }

    /// Where the metadata says a VIB is.
    #[derive(Clone)]
    struct Loc {
        path: String,
        size: u64,
        checksum_type: String,
        sha256: String,
    }

    impl Loc {
        fn of(path: &str, vib: &[u8]) -> Self {
            Self { path: path.to_owned(), size: vib.len() as u64, checksum_type: "sha-256".into(), sha256: sha256(vib) }
        }
    }

    /// A VIB file: descriptor.xml, sig.pkcs7, then members.
    fn vib_file(descriptor: &[u8], sig: &[u8], members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut ar = ArWriter::new(Vec::new());
        ar.append_bytes("descriptor.xml", descriptor).expect("valid member");
        ar.append_bytes("sig.pkcs7", sig).expect("valid member");
        for (name, data) in members {
            ar.append_bytes(name, data).expect("valid member");
        }
        ar.finish().expect("writing to memory")
    }

    #[derive(Clone)]
    struct BulletinSpec {
        id: String,
        component: Option<(String, String)>,
        vib_ids: Vec<String>,
    }

    impl BulletinSpec {
        fn component(vib_ids: Vec<String>) -> Self {
            Self { id: format!("{COMPONENT}_{VERSION}"), component: Some((COMPONENT.into(), VERSION.into())), vib_ids }
        }

        fn xml(&self, vib_records: &str) -> String {
            let spec = match &self.component {
                Some((name, version)) => format!(
                    "<componentNameSpec name=\"{name}\" uiString=\"esxlcm demo\"/>\
                 <componentVersionSpec version=\"{version}\" uiString=\"1.0.0-1\"/>"
                ),
                None => String::new(),
            };
            format!(
                "<bulletin><id>{id}</id><vendor>esxlcm</vendor><summary>esxlcm check fixture</summary>\
             <severity>general</severity><category>enhancement</category><urgency>important</urgency>\
             <releaseType>extension</releaseType><description>A demo component</description><kbUrl></kbUrl>\
             <contact>nobody@example.invalid</contact>{spec}<releaseDate>2025-01-01T00:00:00+00:00</releaseDate>\
             <platforms><softwarePlatform version=\"8.0.0\" locale=\"\" productLineID=\"embeddedEsx\"/></platforms>\
             <vibList>{vib_records}</vibList></bulletin>",
                id = self.id
            )
        }

        fn vib_id_list(&self) -> String {
            self.vib_ids.iter().map(|id| format!("<vibID>{id}</vibID>")).collect()
        }
    }

    fn addon_json(
        name: &str,
        version: &str,
        summary: &str,
        base_images: &[&str],
        components: &[(&str, &str)],
    ) -> String {
        let bases: Vec<String> = base_images.iter().map(|b| format!("\"{b}\"")).collect();
        let comps: Vec<String> = components.iter().map(|(n, v)| format!("\"{n}\": \"{v}\"")).collect();
        format!(
            "{{\n  \"releaseID\": \"{name}:{version}\",\n  \"releaseType\": \"addon\",\n  \"schemaVersion\": \"1.0\",\n  \
         \"vendor\": \"esxlcm\",\n  \"summary\": \"{summary}\",\n  \"description\": \"{summary}\",\n  \
         \"category\": \"enhancement\",\n  \"releaseDate\": \"2025-01-01T00:00:00+00:00\",\n  \
         \"acceptanceLevel\": \"community\",\n  \"nameSpec\": {{\"name\": \"{name}\", \"uiString\": \"esxlcm demo add-on\"}},\n  \
         \"versionSpec\": {{\"version\": \"{version}\", \"uiString\": \"{version}\"}},\n  \
         \"components\": {{{}}},\n  \"removedComponents\": [],\n  \"supportedBaseImageVersions\": [{}]\n}}\n",
            comps.join(", "),
            bases.join(", ")
        )
    }

    fn good_addon() -> String {
        addon_json("ESXLCM-addon", "8.0.3-1", "esxlcm demo add-on", &["8.0.3"], &[(COMPONENT, VERSION)])
    }

    /// One metadata zip.
    #[derive(Clone)]
    struct Meta {
        url: String,
        vibs: Vec<(Desc, Loc)>,
        bulletins: Vec<BulletinSpec>,
        addons: Vec<String>,
        /// Members added as is (or replacing a generated one of the same name).
        extra: Vec<(String, Vec<u8>)>,
    }

    impl Meta {
        fn zip(&self) -> Vec<u8> {
            let mut members: Vec<(String, Vec<u8>)> = Vec::new();
            // vmware.xml: bulletins with full legacy VIB records.
            let mut response = String::from(
                "<metadataResponse>\n  <version>3.0</version>\n  <timestamp>2025-01-01T00:00:00.000000</timestamp>\n",
            );
            for b in &self.bulletins {
                let records: String = b
                    .vib_ids
                    .iter()
                    .map(|id| match self.vibs.iter().find(|(d, _)| &d.id() == id) {
                        Some((d, loc)) => format!(
                            "<vib><vibVersion>1.4.5</vibVersion><vibID>{id}</vibID><name>{}</name><version>{}</version>\
                         <vendor>{VENDOR}</vendor><vibType>bootbank</vibType><summary>esxlcm check fixture</summary>\
                         <vibFile><sourceUrl></sourceUrl><relativePath>{}</relativePath><packedSize>{}</packedSize>\
                         <checksum><checksumType>{}</checksumType><checksum>{}</checksum></checksum></vibFile></vib>",
                            d.name, d.version, loc.path, loc.size, loc.checksum_type, loc.sha256
                        ),
                        None => format!("<vibID>{id}</vibID>"),
                    })
                    .collect();
                response.push_str("  ");
                response.push_str(&b.xml(&records));
                response.push('\n');
            }
            response.push_str("</metadataResponse>\n");
            members.push(("vmware.xml".into(), response.into_bytes()));
            members.push(("vendor-index.xml".into(), vendor_index(&[self.url.as_str()]).into_bytes()));
            for b in &self.bulletins {
                members.push((format!("bulletins/{}.xml", b.id), b.xml(&b.vib_id_list()).into_bytes()));
            }
            for (i, (d, loc)) in self.vibs.iter().enumerate() {
                members.push((format!("vibs/{}-{}.xml", d.name, 1000 + i), d.metadata_xml(loc).into_bytes()));
            }
            for (i, a) in self.addons.iter().enumerate() {
                members.push((format!("addons/addon-{i}.json"), a.clone().into_bytes()));
            }
            for (name, data) in &self.extra {
                match members.iter_mut().find(|(n, _)| n == name) {
                    Some(m) => m.1.clone_from(data),
                    None => members.push((name.clone(), data.clone())),
                }
            }
            zip_of(&members)
        }
    }

    fn zip_of(members: &[(String, Vec<u8>)]) -> Vec<u8> {
        let mut zip = DeterministicZip::new(Cursor::new(Vec::new()));
        for (name, data) in members {
            zip.add_bytes(name, data).expect("writing to memory");
        }
        zip.finish().expect("writing to memory").into_inner()
    }

    fn index_xml() -> String {
        "<vendorList>\n  <vendor>\n    <name>esxlcm</name>\n    <code>ESXLCM</code>\n    <indexfile>vendor-index.xml</indexfile>\n    \
     <patchUrl></patchUrl>\n    <relativePath></relativePath>\n    <content>\n      <name>VMware ESX</name>\n      \
     <type>http://www.vmware.com/depotmanagement/esx</type>\n    </content>\n  </vendor>\n</vendorList>\n"
        .to_owned()
    }

    fn vendor_index(urls: &[&str]) -> String {
        let mut out = String::from("<metaList>\n");
        for url in urls {
            out.push_str(&format!(
            "  <metadata>\n    <productId>embeddedEsx</productId>\n    <version>8.0.0</version>\n    <locale></locale>\n    \
             <url>{url}</url>\n    <channelName>default</channelName>\n  </metadata>\n"
        ));
        }
        out.push_str("</metaList>\n");
        out
    }

    /// An offline bundle: index.xml, vendor-index.xml, metadata zips, VIB files.
    #[derive(Clone)]
    struct Bundle {
        metas: Vec<Meta>,
        files: Vec<(String, Vec<u8>)>,
        /// Bundle entries added last, as is.
        extra: Vec<(String, Vec<u8>)>,
    }

    impl Bundle {
        fn zip(&self) -> Vec<u8> {
            let urls: Vec<&str> = self.metas.iter().map(|m| m.url.as_str()).collect();
            let mut members = vec![
                ("index.xml".to_owned(), index_xml().into_bytes()),
                ("vendor-index.xml".to_owned(), vendor_index(&urls).into_bytes()),
            ];
            for m in &self.metas {
                members.push((m.url.clone(), m.zip()));
            }
            members.extend(self.files.iter().cloned());
            members.extend(self.extra.iter().cloned());
            zip_of(&members)
        }
    }

    /// The clean depot: one community VIB in one component, and an add-on for it.
    /// `edit` changes the VIB's declaration in descriptor.xml and the metadata alike.
    fn demo_bundle(edit: impl FnOnce(&mut Desc, &mut Vec<u8>)) -> Bundle {
        let (mut desc, mut stored) = Desc::demo();
        edit(&mut desc, &mut stored);
        let vib = vib_file(desc.descriptor_xml().as_bytes(), b"", &[(PAYLOAD_NAME, &stored)]);
        let path = desc.default_path();
        let loc = Loc::of(&path, &vib);
        Bundle {
            metas: vec![Meta {
                url: "metadata.zip".into(),
                vibs: vec![(desc.clone(), loc)],
                bulletins: vec![BulletinSpec::component(vec![desc.id()])],
                addons: vec![good_addon()],
                extra: Vec::new(),
            }],
            files: vec![(path, vib)],
            extra: Vec::new(),
        }
    }

    fn clean() -> Bundle {
        demo_bundle(|_, _| {})
    }

    /// A second build of the demo VIB with the same ID but another payload.
    fn rebuilt_vib() -> (Desc, Vec<u8>) {
        let (mut desc, _) = Desc::demo();
        let (decl, stored) = vgz_payload(PAYLOAD_NAME, b"a different build of the demo driver\n");
        desc.payloads = vec![decl];
        let vib = vib_file(desc.descriptor_xml().as_bytes(), b"", &[(PAYLOAD_NAME, &stored)]);
        (desc, vib)
    }

    /// A second VIB, `demo-extra`.
    fn extra_vib() -> (Desc, Vec<u8>) {
        let (mut desc, _) = Desc::demo();
        desc.name = "demo-extra".into();
        let (decl, stored) = vgz_payload("extra", b"the extra VIB's payload\n");
        desc.payloads = vec![decl];
        let vib = vib_file(desc.descriptor_xml().as_bytes(), b"", &[("extra", &stored)]);
        (desc, vib)
    }

    fn add(
        out: &mut Vec<(&'static str, &'static str, Vec<u8>)>,
        name: &'static str,
        what: &'static str,
        bundle: Bundle,
    ) {
        out.push((name, what, bundle.zip()));
    }

    fn meta0(b: &mut Bundle) -> &mut Meta {
        &mut b.metas[0]
    }

    fn fixtures() -> Vec<(&'static str, &'static str, Vec<u8>)> {
        let mut out: Vec<(&'static str, &'static str, Vec<u8>)> = Vec::new();

        add(&mut out, "clean.zip", "nothing wrong: one community VIB, one component, one add-on", clean());

        let mut b = clean();
        meta0(&mut b).vibs[0].1.sha256 = sha256(b"not the VIB");
        add(&mut out, "vib-checksum.zip", "metadata sha-256 of the VIB file is wrong", b);

        let mut b = clean();
        meta0(&mut b).vibs[0].1.size += 1;
        add(&mut out, "vib-size.zip", "metadata packed-size of the VIB file is wrong", b);

        let mut b = clean();
        let loc = &mut meta0(&mut b).vibs[0].1;
        loc.checksum_type = "md5".into();
        loc.sha256 = hex::encode([0x11u8; 16]);
        add(&mut out, "vib-checksum-unsupported.zip", "metadata declares an md5 checksum for the VIB file", b);

        add(
            &mut out,
            "payload-checksum.zip",
            "descriptor.xml declares a wrong stored sha-256 for the payload",
            demo_bundle(|d, _| d.payloads[0].checksums[0].value = sha256(b"not the payload")),
        );
        add(
            &mut out,
            "payload-size.zip",
            "descriptor.xml declares a wrong uncompressed-size for the payload",
            demo_bundle(|d, _| d.payloads[0].uncompressed = Some(PAYLOAD_CONTENT.len() as u64 + 100)),
        );
        add(
            &mut out,
            "payload-checksum-unsupported.zip",
            "descriptor.xml declares an md5 checksum for the payload",
            demo_bundle(|d, _| {
                d.payloads[0].checksums.push(Checksum { kind: "md5", verify_process: None, value: "00".repeat(16) });
            }),
        );
        add(
            &mut out,
            "payload-missing.zip",
            "descriptor.xml declares a second payload the VIB does not hold",
            demo_bundle(|d, _| {
                let (decl, _) = vgz_payload("second", b"never stored");
                d.payloads.push(decl);
            }),
        );
        add(
            &mut out,
            "payload-unreadable.zip",
            "the vgz payload is not gzip data",
            demo_bundle(|d, stored| {
                *stored = PAYLOAD_CONTENT.to_vec();
                let p = &mut d.payloads[0];
                p.size = stored.len() as u64;
                p.checksums[0].value = sha256(stored);
            }),
        );

        // Broken VIB files, with metadata that matches the broken bytes.
        let with_vib_file = |vib: Vec<u8>| {
            let mut b = clean();
            let path = b.files[0].0.clone();
            b.metas[0].vibs[0].1 = Loc::of(&path, &vib);
            b.files[0].1 = vib;
            b
        };
        let (desc, stored) = Desc::demo();
        add(
            &mut out,
            "payload-undeclared.zip",
            "the VIB holds a member descriptor.xml does not declare",
            with_vib_file(vib_file(
                desc.descriptor_xml().as_bytes(),
                b"",
                &[(PAYLOAD_NAME, &stored), ("notes", b"undeclared bytes")],
            )),
        );
        add(
            &mut out,
            "descriptor-unreadable.zip",
            "descriptor.xml inside the VIB is cut off",
            with_vib_file(vib_file(
                b"<vib version=\"5.0\"><type>bootbank</type><name>demo",
                b"",
                &[(PAYLOAD_NAME, &stored)],
            )),
        );
        add(
            &mut out,
            "vib-unreadable.zip",
            "the VIB file is not an ar archive",
            with_vib_file(b"this is not a VIB\n".to_vec()),
        );
        let mut garbage_sig = desc.clone();
        garbage_sig.acceptance = "community".into();
        add(
            &mut out,
            "signature-invalid.zip",
            "a community VIB whose sig.pkcs7 is not a signature (signed community VIBs are verified too)",
            with_vib_file(vib_file(
                garbage_sig.descriptor_xml().as_bytes(),
                b"-----BEGIN PKCS7-----\nbm90IGEgc2lnbmF0dXJl\n-----END PKCS7-----\n",
                &[(PAYLOAD_NAME, &stored)],
            )),
        );

        let mut b = clean();
        meta0(&mut b).vibs[0].0.acceptance = "partner".into();
        add(
            &mut out,
            "descriptor-metadata-mismatch.zip",
            "the metadata copy says partner, descriptor.xml says community",
            b,
        );

        let mut b = clean();
        b.files.clear();
        add(&mut out, "vib-file-missing.zip", "the VIB file is not in the bundle", b);

        let mut b = clean();
        meta0(&mut b).vibs[0].1.path = String::new();
        add(
            &mut out,
            "vib-location-missing.zip",
            "the metadata VIB record has no relative-path, packed-size, checksum",
            b,
        );

        let mut b = clean();
        meta0(&mut b).vibs[0].1.path = format!("../{}", Desc::demo().0.default_path());
        add(&mut out, "path-escapes-depot.zip", "the VIB relative-path starts with ../", b);

        let mut b = clean();
        meta0(&mut b).bulletins[0].vib_ids.push(format!("{VENDOR}_bootbank_demo-missing_{VERSION}"));
        add(&mut out, "viblist-unknown-id.zip", "the component lists a VIB ID no VIB has", b);

        let mut b = clean();
        let (desc, vib) = extra_vib();
        let path = desc.default_path();
        meta0(&mut b).vibs.push((desc, Loc::of(&path, &vib)));
        b.files.push((path, vib));
        add(&mut out, "vib-unreferenced.zip", "a second VIB that no bulletin lists", b);

        let mut b = demo_bundle(|d, _| d.version = format!("{VERSION}~beta"));
        meta0(&mut b).bulletins[0].vib_ids = vec![format!("{VENDOR}_bootbank_demo_{VERSION}~beta")];
        add(&mut out, "version-malformed.zip", "the VIB version has a '~'", b);

        let mut b = demo_bundle(|d, _| d.version = "1.0.0".into());
        meta0(&mut b).bulletins[0].vib_ids = vec![format!("{VENDOR}_bootbank_demo_1.0.0")];
        add(&mut out, "version-missing-release.zip", "the VIB version has no release part", b);

        add(
            &mut out,
            "signature-missing.zip",
            "a certified VIB with an empty sig.pkcs7",
            demo_bundle(|d, _| d.acceptance = "certified".into()),
        );

        let mut b = clean();
        let m = meta0(&mut b);
        m.bulletins[0] = BulletinSpec {
            id: "esxlcm-demo-bulletin".into(),
            component: None,
            vib_ids: m.bulletins[0].vib_ids.clone(),
        };
        m.addons.clear();
        add(&mut out, "bulletin-without-component-spec.zip", "a legacy bulletin (no component name/version specs)", b);

        let mut b = clean();
        meta0(&mut b).addons =
            vec![addon_json("ESXLCM-addon", "8.0.3-1", "esxlcm demo add-on", &[], &[(COMPONENT, VERSION)])];
        add(&mut out, "addon-without-base-images.zip", "the add-on lists no supportedBaseImageVersions", b);

        let mut b = clean();
        meta0(&mut b).addons = vec![addon_json(
            "ESXLCM-addon",
            "8.0.3-1",
            "esxlcm demo add-on",
            &["8.0.3"],
            &[(COMPONENT, VERSION), ("ESXLCM-missing", "2.0.0-1")],
        )];
        add(&mut out, "release-unit-unknown-component.zip", "the add-on names a component the depot does not carry", b);

        // Two metadata zips.
        let mut b = clean();
        let (desc, vib) = rebuilt_vib();
        let path = format!("vib20/demo/{}-rebuilt.vib", desc.id());
        let mut second = b.metas[0].clone();
        second.url = "metadata-rebuilt.zip".into();
        second.vibs = vec![(desc, Loc::of(&path, &vib))];
        second.addons.clear();
        b.metas.push(second);
        b.files.push((path, vib));
        add(&mut out, "vib-id-conflict.zip", "two metadata zips describe one VIB ID with different files", b);

        let mut b = clean();
        let (desc, vib) = extra_vib();
        let path = desc.default_path();
        let mut second = b.metas[0].clone();
        second.url = "metadata-extra.zip".into();
        second.bulletins = vec![BulletinSpec::component(vec![desc.id()])];
        second.vibs = vec![(desc, Loc::of(&path, &vib))];
        second.addons.clear();
        b.metas.push(second);
        b.files.push((path, vib));
        add(&mut out, "component-conflict.zip", "two metadata zips give one component version different VIBs", b);

        let mut b = clean();
        let mut second = b.metas[0].clone();
        second.url = "metadata-addon.zip".into();
        second.addons =
            vec![addon_json("ESXLCM-addon", "8.0.3-1", "a different add-on", &["8.0.3"], &[(COMPONENT, VERSION)])];
        b.metas.push(second);
        add(
            &mut out,
            "release-unit-conflict.zip",
            "two metadata zips hold different documents for one add-on release ID",
            b,
        );

        let mut b = clean();
        meta0(&mut b).extra.push(("notes/README.txt".into(), b"written by hand\n".to_vec()));
        add(&mut out, "metadata-unknown-member.zip", "metadata.zip holds a member esxlcm does not know", b);

        let mut b = clean();
        let broken = format!("bulletins/{COMPONENT}_{VERSION}.xml");
        meta0(&mut b).extra.push((broken, b"<bulletin><id>cut off".to_vec()));
        add(&mut out, "metadata-unreadable.zip", "a bulletin document in metadata.zip is cut off", b);

        // Bundles assembled by hand: the metadata zip is garbage, or not where the index says.
        let b = clean();
        let by_hand = |url: &str, meta_zip: Vec<u8>| {
            let mut members = vec![
                ("index.xml".to_owned(), index_xml().into_bytes()),
                ("vendor-index.xml".to_owned(), vendor_index(&[url]).into_bytes()),
                ("metadata.zip".to_owned(), meta_zip),
            ];
            members.extend(b.files.iter().cloned());
            zip_of(&members)
        };
        out.push((
            "archive-unreadable.zip",
            "metadata.zip is not a readable ZIP",
            by_hand("metadata.zip", b"PK\x03\x04 this is not really a zip".to_vec()),
        ));
        out.push((
            "depot-file-missing.zip",
            "vendor-index.xml names metadata-renamed.zip, which is not there",
            by_hand("metadata-renamed.zip", b.metas[0].zip()),
        ));

        out.push((
            "not-a-depot.zip",
            "a ZIP without index.xml that does not wrap a bundle",
            zip_of(&[("README.txt".to_owned(), b"no depot here\n".to_vec())]),
        ));

        let mut b = clean();
        let m = meta0(&mut b);
        m.vibs.clear();
        m.bulletins.clear();
        m.addons.clear();
        b.files.clear();
        out.push(("depot-empty.zip", "the metadata describes nothing", b.zip()));

        let mut b = clean();
        b.extra.push(("../evil.txt".into(), b"outside\n".to_vec()));
        out.push(("zip-unsafe-entry.zip", "a bundle entry named ../evil.txt", b.zip()));

        // Hostile archives: the ZIP writer will not write these, so headers are patched after.
        let mut b = clean();
        b.extra.push(("vib20/demo/passwd.vib".into(), b"/etc/passwd".to_vec()));
        out.push((
            "zip-symlink-entry.zip",
            "a bundle entry that is a symbolic link to /etc/passwd",
            set_unix_mode(b.zip(), "vib20/demo/passwd.vib", 0o120_777),
        ));

        let mut b = clean();
        let genuine = b.files[0].0.clone();
        let placeholder = genuine.replacen("vib20/", "vibXX/", 1);
        b.files.insert(0, (placeholder.clone(), b"a bogus first copy of the VIB\n".to_vec()));
        out.push((
            "zip-duplicate-entry.zip",
            "the VIB's entry appears twice: a bogus first copy, then the genuine one",
            rename(b.zip(), &placeholder, &genuine),
        ));

        let b = clean();
        out.push((
            "zip-size-mismatch.zip",
            "metadata.zip's vmware.xml (not parsed: bulletins/ exists) declares 100 bytes but inflates to more",
            by_hand("metadata.zip", forge_size(b.metas[0].zip(), "vmware.xml", 100)),
        ));

        out.push((
            "zip-in-zip.zip",
            "a download that wraps clean.zip",
            zip_of(&[("ESXLCM-demo-offline-bundle.zip".to_owned(), clean().zip())]),
        ));

        out.sort_by(|a, b| a.0.cmp(b.0));
        out
    }

    /// `zip` with `from` renamed to `to` (same length) wherever it occurs: two entries of one
    /// name, which the ZIP writer refuses to write.
    fn rename(mut zip: Vec<u8>, from: &str, to: &str) -> Vec<u8> {
        assert_eq!(from.len(), to.len());
        let mut i = 0;
        while i + from.len() <= zip.len() {
            if &zip[i..i + from.len()] == from.as_bytes() {
                zip[i..i + from.len()].copy_from_slice(to.as_bytes());
            }
            i += 1;
        }
        zip
    }

    use esxlcm_test_support::zip_headers::{forge_size, set_unix_mode};

    fn readme(fixtures: &[(&str, &str, Vec<u8>)]) -> Vec<u8> {
        let mut out = String::from(
            "# `esxlcm depot check` fixtures\n\n\
         Generated by `crates/depot/tests/check_fixtures.rs`; do not edit by hand. Regenerate with\n\
         `cargo test -p esxlcm-depot --test integration -- --ignored check_fixtures::regenerate`.\n\n\
         Each is a tiny offline bundle with one thing wrong. The expected findings of each are\n\
         asserted in `crates/depot/tests/check_rules.rs`.\n\n\
         | Fixture | What is wrong |\n|---|---|\n",
        );
        for (name, what, _) in fixtures {
            out.push_str(&format!("| `{name}` | {what} |\n"));
        }
        out.into_bytes()
    }

    fn testdata() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/check")
    }

    /// Every generated file: the fixtures and the README listing them.
    fn generated() -> Vec<(String, Vec<u8>)> {
        let fixtures = fixtures();
        let mut files = vec![("README.md".to_owned(), readme(&fixtures))];
        files.extend(fixtures.into_iter().map(|(name, _, data)| (name.to_owned(), data)));
        files
    }

    #[test]
    #[ignore = "rewrites testdata/check; run explicitly after changing the builder"]
    fn regenerate() {
        let dir = testdata();
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(&dir).unwrap() {
            std::fs::remove_file(entry.unwrap().path()).unwrap();
        }
        for (name, data) in generated() {
            std::fs::write(dir.join(name), data).unwrap();
        }
    }

    #[test]
    fn fixtures_are_up_to_date() {
        let dir = testdata();
        let generated = generated();
        let mut stale = Vec::new();
        for (name, data) in &generated {
            match std::fs::read(dir.join(name)) {
                Ok(committed) if &committed == data => {}
                Ok(_) => stale.push(format!("{name} differs")),
                Err(e) => stale.push(format!("{name}: {e}")),
            }
            assert!(data.len() < 16 * 1024, "{name} is {} bytes; keep fixtures tiny", data.len());
        }
        let mut names: Vec<String> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        for name in names {
            if !generated.iter().any(|(n, _)| *n == name) {
                stale.push(format!("{name} is not generated by this builder"));
            }
        }
        assert!(
            stale.is_empty(),
            "testdata/check is out of date ({}); run `cargo test -p esxlcm-depot --test integration -- --ignored check_fixtures::regenerate`",
            stale.join("; ")
        );
    }
}
