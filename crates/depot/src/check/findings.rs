//! What a check reports: [`Finding`]s with a stable [`Rule`] id, per-source
//! [`CheckReport`]s, and the whole [`CheckRun`] with its JSON form (`esxlcm.check/1`,
//! documented in `docs/check.md`) and its human-readable text form.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use serde::Serialize;

use crate::source::SourceKind;

/// The `schema` value of the JSON report. Bump the number on any incompatible change.
pub const SCHEMA: &str = "esxlcm.check/1";

/// How much a finding matters. Any [`Severity::Error`] makes `esxlcm depot check` exit 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing, nothing to fix.
    Info,
    /// Works, but something a partner should fix (vLCM, or some hosts, may not like it).
    Warning,
    /// The depot is broken: ESXi, esxcli or vLCM will refuse it or install the wrong thing.
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! rules {
    ($( $(#[$doc:meta])* $variant:ident = $id:literal, $severity:ident, $summary:literal; )*) => {
        /// Every check rule. Each has one stable kebab-case id and one severity.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Rule {
            $( $(#[$doc])* $variant, )*
        }

        impl Rule {
            /// All rules, in documentation order.
            pub const ALL: &'static [Rule] = &[$( Rule::$variant, )*];

            /// The stable id used in reports (`vib-checksum`).
            pub fn id(self) -> &'static str {
                match self { $( Rule::$variant => $id, )* }
            }

            pub fn severity(self) -> Severity {
                match self { $( Rule::$variant => Severity::$severity, )* }
            }

            /// One line saying what the rule checks.
            pub fn summary(self) -> &'static str {
                match self { $( Rule::$variant => $summary, )* }
            }

            /// Looks a rule up by its id.
            pub fn from_id(id: &str) -> Option<Rule> {
                Rule::ALL.iter().copied().find(|r| r.id() == id)
            }
        }
    };
}

rules! {
    // --- Opening the source -------------------------------------------------------------
    /// The source is not an offline bundle, VIB, depot directory or depot URL.
    NotADepot = "not-a-depot", Error, "the source has no vendor list (index.xml / vmw-depot-index.xml)";
    /// A ZIP (bundle or metadata zip) holds an entry whose name is absolute or climbs with `..`.
    ZipUnsafeEntry = "zip-unsafe-entry", Error, "a ZIP entry name is absolute or contains '..'";
    /// A ZIP entry is a symbolic link (or a FIFO, a device): extracting it would point outside.
    ZipSymlinkEntry = "zip-symlink-entry", Error, "a ZIP entry is a symbolic link or another non-regular file";
    /// One name appears twice in a ZIP: tools disagree on which copy they use.
    ZipDuplicateEntry = "zip-duplicate-entry", Error, "a ZIP holds two entries with the same name";
    /// A ZIP entry inflates to more (or less) than its header declares: a forged header or a ZIP bomb.
    ZipSizeMismatch = "zip-size-mismatch", Error, "a ZIP entry does not inflate to its declared size";
    /// A bundle or metadata zip is not a readable ZIP.
    ArchiveUnreadable = "archive-unreadable", Error, "a ZIP archive cannot be read";
    /// A file the index chain names is missing (vendor index, metadata zip).
    DepotFileMissing = "depot-file-missing", Error, "a file named by the index chain is missing";
    /// An index or metadata document does not parse.
    MetadataUnreadable = "metadata-unreadable", Error, "an index or metadata document cannot be parsed";
    /// Something worth knowing about how the source was read (a wrapped bundle).
    SourceNote = "source-note", Info, "how the source was read (e.g. a ZIP that wraps the real bundle)";
    // --- Metadata lint ------------------------------------------------------------------
    /// A metadata zip member esxlcm does not know.
    MetadataUnknownMember = "metadata-unknown-member", Info, "a metadata.zip member is not a known document kind";
    /// The depot describes no VIB.
    DepotEmpty = "depot-empty", Warning, "the depot describes no VIB";
    /// A metadata VIB record without relative-path / packed-size / checksum.
    VibLocationMissing = "vib-location-missing", Error, "a metadata VIB record does not say where the VIB file is";
    /// A relative path leaves the depot root.
    PathEscapesDepot = "path-escapes-depot", Error, "a relative path climbs out of the depot or is absolute";
    /// A bulletin's vibList names a VIB that no vibs/*.xml describes.
    ViblistUnknownId = "viblist-unknown-id", Error, "a bulletin vibList ID matches no VIB of the depot";
    /// A VIB no bulletin or component lists.
    VibUnreferenced = "vib-unreferenced", Warning, "a VIB is described but no bulletin lists it";
    /// One VIB ID, two different contents.
    VibIdConflict = "vib-id-conflict", Error, "one VIB ID is described with different contents";
    /// One component (name, version) or bulletin ID, two different VIB lists.
    ComponentConflict = "component-conflict", Error, "one component or bulletin ID lists different VIBs";
    /// One release unit ID, two different documents.
    ReleaseUnitConflict = "release-unit-conflict", Error, "one base image / add-on / manifest / solution ID has different documents";
    /// A version breaks VMware's authoring rules in a way tooling may reject.
    VersionMalformed = "version-malformed", Error, "a VIB, component or release unit version breaks VMware's version rules";
    /// A version has no release part.
    VersionMissingRelease = "version-missing-release", Warning, "a version has no '-<release>' part";
    /// A legacy bulletin: no componentNameSpec/componentVersionSpec.
    BulletinWithoutComponentSpec = "bulletin-without-component-spec", Warning, "a bulletin is not a vLCM component (no name/version specs)";
    /// An add-on that supports no base image.
    AddonWithoutBaseImages = "addon-without-base-images", Error, "an add-on lists no supported base image versions";
    /// A release unit names a component the depot does not carry.
    ReleaseUnitUnknownComponent = "release-unit-unknown-component", Warning, "a base image / add-on / manifest names a component that is not in the depot";
    // --- VIB files ----------------------------------------------------------------------
    /// The VIB file is not where the metadata says.
    VibFileMissing = "vib-file-missing", Error, "the VIB file the metadata points at does not exist";
    /// The VIB file is not a readable VIB.
    VibUnreadable = "vib-unreadable", Error, "the VIB file cannot be read as a VIB (ar archive)";
    /// Size of the VIB file differs from the metadata packed-size.
    VibSize = "vib-size", Error, "the VIB file size differs from the metadata packed-size";
    /// sha-256 of the VIB file differs from the metadata checksum.
    VibChecksum = "vib-checksum", Error, "the VIB file sha-256 differs from the metadata checksum";
    /// The metadata checksum of the VIB file is of a kind esxlcm cannot verify.
    VibChecksumUnsupported = "vib-checksum-unsupported", Warning, "the metadata declares a VIB checksum type other than sha-256";
    /// descriptor.xml inside the VIB does not parse.
    DescriptorUnreadable = "descriptor-unreadable", Error, "descriptor.xml inside the VIB cannot be parsed";
    /// descriptor.xml inside the VIB and the metadata copy disagree.
    DescriptorMetadataMismatch = "descriptor-metadata-mismatch", Error, "the VIB's descriptor.xml and its metadata copy disagree";
    /// A declared payload is not in the VIB.
    PayloadMissing = "payload-missing", Error, "a payload declared in descriptor.xml is not in the VIB";
    /// A VIB member no payload declaration covers.
    PayloadUndeclared = "payload-undeclared", Error, "the VIB holds a member descriptor.xml does not declare";
    /// A payload's stored or uncompressed size differs from the declaration.
    PayloadSize = "payload-size", Error, "a payload size or uncompressed-size differs from descriptor.xml";
    /// A payload checksum differs from the declaration.
    PayloadChecksum = "payload-checksum", Error, "a payload checksum differs from descriptor.xml";
    /// A payload checksum of a kind esxlcm cannot verify.
    PayloadChecksumUnsupported = "payload-checksum-unsupported", Warning, "descriptor.xml declares a payload checksum kind esxlcm does not know";
    /// A payload that cannot be decompressed as its declared type.
    PayloadUnreadable = "payload-unreadable", Error, "a payload cannot be decompressed as its declared type";
    // --- Signatures ---------------------------------------------------------------------
    /// A VIB above community level without a signature.
    SignatureMissing = "signature-missing", Error, "a VIB whose acceptance level requires a signature is unsigned";
    /// sig.pkcs7 does not verify over descriptor.xml.
    SignatureInvalid = "signature-invalid", Error, "sig.pkcs7 does not verify over the VIB's descriptor.xml";
    /// The signer does not chain to an anchor (built-in VMware, or --trust), where one is required.
    SignatureUntrusted = "signature-untrusted", Error, "the signer has no valid path to a trust anchor (VMware's built-in one, or one given with --trust)";
    /// An issuer in the signer's path is not a CA.
    SignatureIssuerNotCa = "signature-issuer-not-ca", Error, "an issuer in the signer's certificate path is not a CA (basicConstraints CA:TRUE missing)";
    /// An issuer's pathLen is exceeded.
    SignaturePathLength = "signature-path-length", Error, "the signer's certificate path is longer than an issuer's basicConstraints pathLen allows";
    /// keyUsage forbids the use.
    SignatureKeyUsage = "signature-key-usage", Error, "a certificate's keyUsage lacks digitalSignature (signer) or keyCertSign (issuer)";
    /// extendedKeyUsage without codeSigning.
    SignatureExtendedKeyUsage = "signature-extended-key-usage", Error, "a certificate in the signer's path has an extendedKeyUsage without codeSigning";
    /// A certificate expired before the signing time.
    SignatureCertificateExpired = "signature-certificate-expired", Error, "a certificate in the signer's path had expired when the VIB was signed";
    /// A certificate not yet valid at the signing time.
    SignatureCertificateNotYetValid = "signature-certificate-not-yet-valid", Error, "a certificate in the signer's path was not yet valid when the VIB was signed";
    /// A community VIB without signature: allowed.
    UnsignedCommunity = "unsigned-community", Info, "a community VIB is unsigned (allowed)";
    /// Signatures were verified but no trust anchors were given.
    SignatureTrustNotChecked = "signature-trust-not-checked", Info, "signatures verified without --trust: who signed was not checked";
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// One problem (or note) found by a check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// Stable kebab-case rule id ([`Rule::id`]).
    pub rule: &'static str,
    /// The file at fault: a depot-relative path, `<metadata zip>!<member>` for a member of a
    /// metadata zip, or a ZIP entry name. `None` for the source as a whole.
    pub file: Option<String>,
    /// The VIB ID the finding is about.
    pub vib: Option<String>,
    /// The field at fault (`packed-size`, `payloads/vmkusb-n/@size`, `bulletin[x]/vibList`).
    pub field: Option<String>,
    /// What is wrong, expected vs actual, and what to do.
    pub message: String,
}

impl Finding {
    pub fn new(rule: Rule, message: impl Into<String>) -> Self {
        Self { severity: rule.severity(), rule: rule.id(), file: None, vib: None, field: None, message: message.into() }
    }

    #[must_use]
    pub fn file(mut self, file: impl Into<String>) -> Self {
        self.file = Some(file.into());
        self
    }

    #[must_use]
    pub fn vib(mut self, vib: impl Into<String>) -> Self {
        self.vib = Some(vib.into());
        self
    }

    #[must_use]
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// The rule, when the id is one of ours (always, for findings made by this module).
    pub fn rule(&self) -> Option<Rule> {
        Rule::from_id(self.rule)
    }

    /// File, VIB, most severe first, rule, field, message.
    fn sort_key(&self) -> SortKey<'_> {
        (&self.file, &self.vib, Reverse(self.severity), self.rule, &self.field, &self.message)
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]", self.severity, self.rule)?;
        if let Some(field) = &self.field {
            write!(f, " {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

type SortKey<'a> = (&'a Option<String>, &'a Option<String>, Reverse<Severity>, &'a str, &'a Option<String>, &'a str);

/// Counts of findings by severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub errors: usize,
    pub warnings: usize,
    pub infos: usize,
}

impl Summary {
    pub fn of<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> Self {
        let mut s = Self::default();
        for f in findings {
            s.count(f.severity);
        }
        s
    }

    fn count(&mut self, severity: Severity) {
        match severity {
            Severity::Error => self.errors += 1,
            Severity::Warning => self.warnings += 1,
            Severity::Info => self.infos += 1,
        }
    }

    fn add(&mut self, other: Self) {
        self.errors += other.errors;
        self.warnings += other.warnings;
        self.infos += other.infos;
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} error{}, {} warning{}, {} info{}",
            self.errors,
            plural(self.errors),
            self.warnings,
            plural(self.warnings),
            self.infos,
            plural(self.infos)
        )
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The signer of a verified signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignerInfo {
    /// Subject DN, `CN=..., O=..., C=..`.
    pub subject: String,
    pub issuer: String,
    /// Serial number, lowercase hex.
    pub serial: String,
    /// `signingTime`, RFC 3339 UTC.
    pub signing_time: Option<String>,
    /// The anchor the signer was validated against (VMware's built-in one, or a `--trust`
    /// certificate); `None` when it has none (no `--trust`, not VMware-signed).
    pub trust_anchor: Option<String>,
    /// The anchor is the built-in VMware one: "signed by VMware".
    pub trust_anchor_builtin: bool,
}

/// What the signature check of one VIB file concluded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SignatureStatus {
    /// Verified over descriptor.xml (and trusted, when a trust store was given).
    Verified { signer: SignerInfo },
    /// Empty sig.pkcs7 on a community VIB.
    Unsigned,
    /// No or empty sig.pkcs7 where the acceptance level requires one.
    Missing,
    /// Present but does not verify.
    Invalid { reason: String },
    /// Verifies, but the signer does not chain to a trust anchor.
    Untrusted { reason: String },
    /// The VIB could not be read far enough to check.
    NotChecked,
}

/// One VIB file as checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VibReport {
    /// The VIB ID (from the metadata; from descriptor.xml for a bare `.vib`).
    pub id: String,
    /// Depot-relative path (or URL) of the file.
    pub file: String,
    /// Acceptance level from the VIB's own descriptor.xml (the metadata's when unreadable).
    pub acceptance_level: String,
    /// Bytes read, when the whole file was read.
    pub size: Option<u64>,
    /// sha-256 of the file, when the whole file was read.
    pub sha256: Option<String>,
    pub signature: SignatureStatus,
}

/// The check of one source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    /// The source as given on the command line.
    pub source: String,
    /// The source as opened (an unwrapped nested bundle is `outer.zip!inner.zip`).
    pub label: String,
    /// `None` when the source could not be opened.
    pub kind: Option<SourceKind>,
    pub summary: Summary,
    /// VIB files read to the end.
    pub vibs_checked: usize,
    /// VIB files whose signature verified (and was trusted, with a trust store).
    pub signatures_verified: usize,
    /// Acceptance level → number of distinct VIB IDs at that level.
    pub acceptance_levels: BTreeMap<String, usize>,
    pub vibs: Vec<VibReport>,
    pub findings: Vec<Finding>,
}

impl CheckReport {
    pub(crate) fn new(source: &str, label: &str, kind: Option<SourceKind>) -> Self {
        Self {
            source: source.to_owned(),
            label: label.to_owned(),
            kind,
            summary: Summary::default(),
            vibs_checked: 0,
            signatures_verified: 0,
            acceptance_levels: BTreeMap::new(),
            vibs: Vec::new(),
            findings: Vec::new(),
        }
    }

    /// Sorts findings (by file, VIB, severity, rule, field, message) and recounts the summary.
    pub(crate) fn finish(&mut self) {
        sort_findings(&mut self.findings);
        self.findings.dedup();
        self.summary = Summary::of(&self.findings);
    }

    pub fn has_errors(&self) -> bool {
        self.summary.errors > 0
    }

    /// Findings of one rule.
    pub fn by_rule(&self, rule: Rule) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.rule == rule.id())
    }

    pub fn vib(&self, id: &str) -> Option<&VibReport> {
        self.vibs.iter().find(|v| v.id == id)
    }
}

pub(crate) fn sort_findings(findings: &mut [Finding]) {
    findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
}

/// A whole `esxlcm depot check` run: one report per source, plus what only shows when
/// the sources are looked at together (catalog conflicts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckRun {
    /// Always [`SCHEMA`].
    pub schema: &'static str,
    /// Totals over every report and the cross-source findings.
    pub summary: Summary,
    pub vibs_checked: usize,
    pub signatures_verified: usize,
    pub reports: Vec<CheckReport>,
    /// Cross-source findings (conflicts between sources); empty for one source.
    pub findings: Vec<Finding>,
}

impl CheckRun {
    pub fn new(reports: Vec<CheckReport>, mut findings: Vec<Finding>) -> Self {
        sort_findings(&mut findings);
        findings.dedup();
        let mut summary = Summary::of(&findings);
        for r in &reports {
            summary.add(r.summary);
        }
        Self {
            schema: SCHEMA,
            summary,
            vibs_checked: reports.iter().map(|r| r.vibs_checked).sum(),
            signatures_verified: reports.iter().map(|r| r.signatures_verified).sum(),
            reports,
            findings,
        }
    }

    pub fn has_errors(&self) -> bool {
        self.summary.errors > 0
    }

    /// The `esxlcm.check/1` JSON document, pretty-printed.
    pub fn to_json(&self) -> String {
        // Serialising plain strings, numbers and maps with string keys cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// A readable report: per source, findings grouped by file, then by VIB; then totals.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for r in &self.reports {
            render_report(&mut out, r);
        }
        if !self.findings.is_empty() {
            let _ = writeln!(out, "Across all sources:");
            render_findings(&mut out, &self.findings, "(the sources together)");
            out.push('\n');
        }
        let sources = self.reports.len();
        let _ = writeln!(
            out,
            "Summary: {} in {sources} source{}; {} VIB file{} checked, {} signature{} verified",
            self.summary,
            plural(sources),
            self.vibs_checked,
            plural(self.vibs_checked),
            self.signatures_verified,
            plural(self.signatures_verified),
        );
        out
    }
}

fn render_report(out: &mut String, r: &CheckReport) {
    let kind = r.kind.map_or("unreadable", |k| match k {
        SourceKind::Bundle => "offline bundle",
        SourceKind::Vib => "VIB",
        SourceKind::Directory => "depot directory",
        SourceKind::Online => "online depot",
    });
    let _ = writeln!(out, "{} ({kind})", r.label);
    if r.findings.is_empty() {
        let _ = writeln!(out, "  no findings");
    }
    render_findings(out, &r.findings, "(source)");
    let levels: Vec<String> = r.acceptance_levels.iter().map(|(l, n)| format!("{l} {n}")).collect();
    let levels = if levels.is_empty() { "none".to_owned() } else { levels.join(", ") };
    let by_vmware = r
        .vibs
        .iter()
        .filter(|v| matches!(&v.signature, SignatureStatus::Verified { signer } if signer.trust_anchor_builtin))
        .count();
    let by_vmware = if by_vmware > 0 { format!(" ({by_vmware} signed by VMware)") } else { String::new() };
    let _ = writeln!(
        out,
        "  {}; {} VIB file{} checked, {} signature{} verified{by_vmware}; acceptance levels: {levels}",
        r.summary,
        r.vibs_checked,
        plural(r.vibs_checked),
        r.signatures_verified,
        plural(r.signatures_verified),
    );
    out.push('\n');
}

/// Findings are sorted by file then VIB, so groups are runs.
fn render_findings(out: &mut String, findings: &[Finding], no_file: &str) {
    let mut file: Option<&Option<String>> = None;
    let mut vib: Option<&Option<String>> = None;
    for f in findings {
        if file != Some(&f.file) {
            file = Some(&f.file);
            vib = None;
            let _ = writeln!(out, "  {}", f.file.as_deref().unwrap_or(no_file));
        }
        if vib != Some(&f.vib) {
            vib = Some(&f.vib);
            if let Some(id) = &f.vib {
                let _ = writeln!(out, "    VIB {id}");
            }
        }
        let _ = writeln!(out, "      {f}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_ids_are_unique_kebab_case() {
        let mut ids: Vec<&str> = Rule::ALL.iter().map(|r| r.id()).collect();
        for id in &ids {
            assert!(id.chars().all(|c| c.is_ascii_lowercase() || c == '-'), "{id}");
            assert_eq!(Rule::from_id(id).map(Rule::id), Some(*id));
        }
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n);
    }

    #[test]
    fn text_groups_by_file_and_vib() {
        let mut r = CheckReport::new("x.zip", "x.zip", Some(SourceKind::Bundle));
        r.findings.push(Finding::new(Rule::VibChecksum, "bad").file("a.vib").vib("V"));
        r.findings.push(Finding::new(Rule::SourceNote, "note"));
        r.findings.push(Finding::new(Rule::VibSize, "size").file("a.vib").vib("V").field("packed-size"));
        r.finish();
        let run = CheckRun::new(vec![r], Vec::new());
        assert_eq!(
            run.to_text(),
            "x.zip (offline bundle)\n  (source)\n      info[source-note]: note\n  a.vib\n    VIB V\n      \
             error[vib-checksum]: bad\n      error[vib-size] packed-size: size\n  2 errors, 0 warnings, 1 info; \
             0 VIB files checked, 0 signatures verified; acceptance levels: none\n\nSummary: 2 errors, 0 warnings, \
             1 info in 1 source; 0 VIB files checked, 0 signatures verified\n"
        );
        assert!(run.has_errors());
        let json: serde_json::Value = serde_json::from_str(&run.to_json()).unwrap();
        assert_eq!(json["schema"], "esxlcm.check/1");
        assert_eq!(json["reports"][0]["findings"][0]["file"], serde_json::Value::Null);
        assert_eq!(json["reports"][0]["findings"][1]["severity"], "error");
    }
}
