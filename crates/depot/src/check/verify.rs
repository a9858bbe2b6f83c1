//! File-level verification of one VIB file: one streaming pass gives its size and sha-256,
//! the exact `descriptor.xml` and `sig.pkcs7` bytes and every payload's digests; these are
//! compared with the metadata records that point at the file and with the VIB's own
//! descriptor (depot-format §8.4).

use std::cell::OnceCell;
use std::collections::BTreeSet;
use std::io;

use crate::model::{AcceptanceLevel, Checksum, Payload, Vib};
use crate::source::{ContainerError, Depot, FetchError, LoadedMetadata};
use crate::vib::file::{PayloadPlan, VibFileError, VibFileSummary, scan_vib_file};
use crate::vib::payload::{ChecksumKind, ExpectedChecksum, PayloadMismatch, compare};
use crate::vib::signature::{TrustRule, TrustStore, VibVerdict, is_empty_signature, verify_vib};

use super::CheckOptions;
use super::findings::{Finding, Rule, SignatureStatus, SignerInfo, VibReport};

/// One metadata record that points at a VIB file.
#[derive(Clone, Copy)]
pub(crate) struct Claim<'a> {
    pub meta: Option<&'a LoadedMetadata>,
    /// The metadata zip member the record came from, when known.
    pub member: Option<&'a str>,
    pub vib: &'a Vib,
}

impl Claim<'_> {
    /// Where the record is, for messages and `Finding::file`: `metadata.zip!vibs/x-1.xml`.
    pub fn origin(&self) -> String {
        match (self.meta, self.member) {
            (Some(m), Some(member)) => format!("{}!{member}", m.path),
            (Some(m), None) => m.path.clone(),
            (None, _) => "the VIB itself".to_owned(),
        }
    }
}

/// One VIB file and every record that points at it.
pub(crate) struct Job<'a> {
    pub path: String,
    pub claims: Vec<Claim<'a>>,
}

impl Job<'_> {
    /// Declared bytes, for progress.
    pub fn declared_size(&self) -> u64 {
        self.claims.first().and_then(|c| c.vib.location.as_ref()).map_or(0, |l| l.packed_size)
    }

    fn id(&self) -> String {
        self.claims.first().map(|c| c.vib.id()).unwrap_or_default()
    }
}

/// What verifying one file gave.
pub(crate) struct Outcome {
    pub findings: Vec<Finding>,
    pub report: VibReport,
    pub read: bool,
    pub signature_verified: bool,
    /// Verified, but its signer has no anchor (no `--trust`, not VMware-signed).
    pub signature_unanchored: bool,
    pub bytes: u64,
}

pub(crate) fn verify_job(depot: &Depot, job: &Job<'_>, options: &CheckOptions) -> Outcome {
    let id = job.id();
    let fallback_level = job.claims.first().map_or(AcceptanceLevel::Community, |c| c.vib.acceptance_level);
    let mut out = Outcome {
        findings: Vec::new(),
        report: VibReport {
            id: id.clone(),
            file: job.path.clone(),
            acceptance_level: fallback_level.as_str().to_owned(),
            size: None,
            sha256: None,
            signature: SignatureStatus::NotChecked,
        },
        read: false,
        signature_verified: false,
        signature_unanchored: false,
        bytes: 0,
    };
    let finding = |rule: Rule, message: String| Finding::new(rule, message).file(job.path.clone()).vib(id.clone());

    // The descriptor is parsed once, when the first payload needs its type.
    let parsed: OnceCell<Option<Vib>> = OnceCell::new();
    let fallback = job.claims.first().map(|c| c.vib);
    // Payloads that failed to decompress: read again as stored bytes only.
    let mut broken: Vec<String> = Vec::new();
    let summary = loop {
        let type_of = |descriptor: &[u8], member: &str| -> Option<String> {
            if !options.verify_payloads || broken.iter().any(|b| b == member) {
                return None;
            }
            let own = parsed.get_or_init(|| Vib::parse(descriptor).ok());
            declared_type(own.as_ref().or(fallback), member)
        };
        let plan = PayloadPlan { type_of: &type_of, decompressed_limit: options.decompressed_limit };
        let reader = match depot.container.open(&job.path) {
            Ok(r) => r,
            Err(e) => {
                out.findings.push(open_failure(job, &e, &finding));
                return out;
            }
        };
        match scan_vib_file(reader, &plan) {
            Ok(s) => break s,
            Err(VibFileError::Payload { member, source }) if !broken.contains(&member) => {
                let own = parsed.get().and_then(Option::as_ref);
                let ptype = declared_type(own.or(fallback), &member).unwrap_or_default();
                out.findings.push(
                    finding(
                        Rule::PayloadUnreadable,
                        format!(
                            "payload '{member}' cannot be read as its declared type '{ptype}': {source}; \
                             the payload is corrupt or not what descriptor.xml says: rebuild the VIB from \
                             the original payload (gzip for vgz/tgz, gzip around zstd for vzstd)"
                        ),
                    )
                    .field(format!("payloads/{member}")),
                );
                broken.push(member);
            }
            Err(e) => {
                out.findings.push(unreadable(&e, &finding));
                return out;
            }
        }
    };
    out.read = true;
    out.bytes = summary.size;
    out.report.size = Some(summary.size);
    out.report.sha256 = Some(summary.sha256_hex.clone());

    for claim in &job.claims {
        check_location(claim, &summary, &finding, &mut out.findings);
    }

    let own = match parsed.into_inner() {
        Some(v) => v,
        None => Vib::parse(&summary.descriptor).ok(),
    };
    let descriptor = match &own {
        Some(v) => Some(v),
        None => {
            let reason = match Vib::parse(&summary.descriptor) {
                Err(e) => e.to_string(),
                Ok(_) => "unknown error".to_owned(),
            };
            let from = job.claims.first().map_or_else(|| "nowhere".to_owned(), Claim::origin);
            out.findings.push(finding(
                Rule::DescriptorUnreadable,
                format!(
                    "descriptor.xml inside the VIB cannot be read: {reason}; ESXi reads this copy, \
                     not the metadata's: rebuild the VIB with a valid descriptor (payloads were \
                     checked against {from} instead)"
                ),
            ));
            None
        }
    };
    if let Some(d) = descriptor {
        out.report.acceptance_level = d.acceptance_level.as_str().to_owned();
        for claim in &job.claims {
            if claim.meta.is_some() {
                compare_descriptor(d, claim, &finding, &mut out.findings);
            }
        }
    }
    if let Some(declared) = descriptor.or(fallback) {
        check_payloads(declared, &summary, options, &broken, &finding, &mut out.findings);
    }

    let level = descriptor.map_or(fallback_level, |d| d.acceptance_level);
    let (status, findings) = check_signature(&summary, level, options, &finding);
    out.signature_verified = matches!(status, SignatureStatus::Verified { .. });
    out.signature_unanchored = matches!(&status, SignatureStatus::Verified { signer } if signer.trust_anchor.is_none());
    out.report.signature = status;
    out.findings.extend(findings);
    out
}

fn declared_type(vib: Option<&Vib>, member: &str) -> Option<String> {
    vib.and_then(|v| v.payloads.iter().find(|p| p.name == member)).map(|p| p.payload_type.clone())
}

fn open_failure(job: &Job<'_>, e: &ContainerError, finding: &impl Fn(Rule, String) -> Finding) -> Finding {
    let not_found = matches!(e, ContainerError::NotFound { .. } | ContainerError::Fetch(FetchError::NotFound { .. }))
        || matches!(e, ContainerError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound);
    if not_found {
        let claim = job.claims.first();
        let from = claim.map_or_else(|| "the metadata".to_owned(), Claim::origin);
        let rel = claim.and_then(|c| c.vib.location.as_ref()).map(|l| l.relative_path.trim()).unwrap_or_default();
        let resolved = if rel == job.path { String::new() } else { format!(" (resolved to '{}')", job.path) };
        finding(
            Rule::VibFileMissing,
            format!(
                "the VIB file is not in the depot: {from} gives relative-path '{rel}'{resolved}, but there is \
                 no such file; add the VIB file at that path, or correct relative-path in the metadata"
            ),
        )
    } else {
        finding(
            Rule::VibUnreadable,
            format!("the VIB file cannot be opened: {e}; check that the depot is complete and readable"),
        )
    }
}

fn unreadable(e: &VibFileError, finding: &impl Fn(Rule, String) -> Finding) -> Finding {
    finding(
        Rule::VibUnreadable,
        format!(
            "the file is not a readable VIB: {e}; a VIB is an ar archive holding descriptor.xml, \
             sig.pkcs7 and the payloads, in that order: rebuild it with VIB tooling"
        ),
    )
}

fn check_location(
    claim: &Claim<'_>,
    summary: &VibFileSummary,
    finding: &impl Fn(Rule, String) -> Finding,
    out: &mut Vec<Finding>,
) {
    let Some(loc) = &claim.vib.location else { return };
    let origin = claim.origin();
    if loc.packed_size != summary.size {
        out.push(
            finding(
                Rule::VibSize,
                format!(
                    "the VIB file is {} bytes, but {origin} declares packed-size {}; the file changed \
                     after the metadata was written: regenerate the metadata from this exact file, \
                     or restore the VIB the metadata was written for",
                    summary.size, loc.packed_size
                ),
            )
            .field("packed-size"),
        );
    }
    if !loc.checksum.checksum_type.trim().eq_ignore_ascii_case("sha-256") {
        out.push(
            finding(
                Rule::VibChecksumUnsupported,
                format!(
                    "{origin} declares a '{}' checksum for the VIB file, which cannot be verified \
                     (ESXi depots use sha-256); write the file's sha-256, which is {}",
                    loc.checksum.checksum_type, summary.sha256_hex
                ),
            )
            .field("checksum/@checksum-type"),
        );
    } else if !loc.checksum.matches_hex(&summary.sha256_hex) {
        out.push(
            finding(
                Rule::VibChecksum,
                format!(
                    "the VIB file's sha-256 is {}, but {origin} declares {}; the file changed after \
                     the metadata was written: regenerate the metadata (checksum and packed-size) \
                     from this exact file, or restore the VIB the metadata was written for",
                    summary.sha256_hex,
                    loc.checksum.value.trim()
                ),
            )
            .field("checksum"),
        );
    }
}

fn expected(c: &Checksum) -> ExpectedChecksum {
    ExpectedChecksum {
        checksum_type: c.checksum_type.clone(),
        verify_process: c.verify_process.clone(),
        value: c.value.trim().to_owned(),
    }
}

fn check_payloads(
    declared: &Vib,
    summary: &VibFileSummary,
    options: &CheckOptions,
    broken: &[String],
    finding: &impl Fn(Rule, String) -> Finding,
    out: &mut Vec<Finding>,
) {
    for p in &declared.payloads {
        // Only the stored bytes are comparable without payloads, or for a broken payload.
        let full = options.verify_payloads && !broken.contains(&p.name);
        let field = |attr: &str| format!("payloads/{}/{attr}", p.name);
        let Some((_, digests)) = summary.payloads.iter().find(|(name, _)| *name == p.name) else {
            out.push(
                finding(
                    Rule::PayloadMissing,
                    format!(
                        "payload '{}' is declared in descriptor.xml, but the VIB has no ar member of \
                         that name; ESXi cannot install it: rebuild the VIB so that it contains every \
                         declared payload",
                        p.name
                    ),
                )
                .field(format!("payloads/{}", p.name)),
            );
            continue;
        };
        let checksums: Vec<ExpectedChecksum> = p
            .checksums
            .iter()
            .map(expected)
            .filter(|c| full || ChecksumKind::of(c) == Some(ChecksumKind::StoredSha256))
            .collect();
        let uncompressed = if full { p.uncompressed_size } else { None };
        for m in compare(digests, &checksums, Some(p.size), uncompressed) {
            let name = &p.name;
            let f = match m {
                PayloadMismatch::Size { expected, actual } => finding(
                    Rule::PayloadSize,
                    format!(
                        "payload '{name}': descriptor.xml declares size {expected}, but the stored \
                         member is {actual} bytes; the payload changed after the descriptor was \
                         written: rebuild the VIB so that descriptor.xml describes this payload"
                    ),
                )
                .field(field("@size")),
                PayloadMismatch::UncompressedSize { expected, actual } => finding(
                    Rule::PayloadSize,
                    format!(
                        "payload '{name}': descriptor.xml declares uncompressed-size {expected}, but \
                         it decompresses to {actual} bytes; rebuild the VIB so that descriptor.xml \
                         describes this payload"
                    ),
                )
                .field(field("@uncompressed-size")),
                PayloadMismatch::UncompressedSizeNotComputed { expected } => finding(
                    Rule::PayloadSize,
                    format!(
                        "payload '{name}': descriptor.xml declares uncompressed-size {expected}, but \
                         the payload of type '{}' is not compressed, so nothing decompresses to that \
                         size; remove uncompressed-size or store the payload compressed",
                        p.payload_type
                    ),
                )
                .field(field("@uncompressed-size")),
                PayloadMismatch::Checksum { kind, expected, actual } => finding(
                    Rule::PayloadChecksum,
                    format!(
                        "payload '{name}': descriptor.xml declares {kind} {expected}, but the payload's \
                         is {actual}; the payload changed after the descriptor was written: rebuild \
                         (and re-sign) the VIB from the original payload, or regenerate descriptor.xml \
                         from this payload"
                    ),
                )
                .field(field(&format!("checksum[{kind}]"))),
                PayloadMismatch::NotComputed { kind, expected } => finding(
                    Rule::PayloadChecksum,
                    format!(
                        "payload '{name}': descriptor.xml declares {kind} {expected}, which does not \
                         apply to a payload of type '{}' stored this way (it is not compressed as that \
                         checksum assumes); fix the payload type or the checksum",
                        p.payload_type
                    ),
                )
                .field(field(&format!("checksum[{kind}]"))),
                other => finding(
                    Rule::PayloadChecksumUnsupported,
                    format!(
                        "payload '{name}': descriptor.xml declares a checksum esxlcm cannot verify \
                         ({other}); ESXi uses sha-256, sha-256 and sha-1 with verify-process=\"gunzip\", \
                         and sha-256-gunzip1"
                    ),
                )
                .field(field("checksum")),
            };
            out.push(f);
        }
    }
    for (member, _) in &summary.payloads {
        if !declared.payloads.iter().any(|p| &p.name == member) {
            out.push(
                finding(
                    Rule::PayloadUndeclared,
                    format!(
                        "the VIB holds an ar member '{member}' that descriptor.xml does not declare as a \
                         payload, so no checksum covers it; declare it in <payloads> or remove it, then \
                         re-sign the VIB"
                    ),
                )
                .field(format!("payloads/{member}")),
            );
        }
    }
}

/// Compares what ESXi reads (descriptor.xml in the VIB) with what depot clients read (the
/// metadata copy). Only meaning counts: attribute order, empty-element spelling and the
/// like are never reported.
fn compare_descriptor(
    own: &Vib,
    claim: &Claim<'_>,
    finding: &impl Fn(Rule, String) -> Finding,
    out: &mut Vec<Finding>,
) {
    let meta = claim.vib;
    let origin = claim.origin();
    let mut differ = |field: &str, in_vib: String, in_meta: String| {
        if in_vib != in_meta {
            out.push(
                finding(
                    Rule::DescriptorMetadataMismatch,
                    format!(
                        "{field} is {in_vib} in the VIB's descriptor.xml but {in_meta} in {origin}; \
                         depot clients act on the metadata, ESXi on the descriptor: regenerate the \
                         metadata from this VIB"
                    ),
                )
                .field(field.to_owned()),
            );
        }
    };
    let q = |s: &str| format!("'{s}'");
    differ("name", q(&own.name), q(&meta.name));
    differ("version", q(own.version.as_str()), q(meta.version.as_str()));
    differ("vendor", q(&own.vendor), q(&meta.vendor));
    differ("type", q(&own.vib_type), q(&meta.vib_type));
    differ("acceptance-level", q(own.acceptance_level.as_str()), q(meta.acceptance_level.as_str()));
    let constraints = |cs: &[crate::model::Constraint]| {
        let set: BTreeSet<String> = cs.iter().map(ToString::to_string).collect();
        list(set)
    };
    differ("relationships/depends", constraints(&own.depends), constraints(&meta.depends));
    differ("relationships/conflicts", constraints(&own.conflicts), constraints(&meta.conflicts));
    differ("relationships/replaces", constraints(&own.replaces), constraints(&meta.replaces));
    let provides = |v: &Vib| {
        let set: BTreeSet<String> = v
            .provides
            .iter()
            .map(|p| match &p.version {
                Some(ver) => format!("{} = {ver}", p.name),
                None => p.name.clone(),
            })
            .collect();
        list(set)
    };
    differ("relationships/provides", provides(own), provides(meta));

    let names: BTreeSet<&str> = own.payloads.iter().chain(&meta.payloads).map(|p| p.name.as_str()).collect();
    for name in names {
        let a = own.payloads.iter().find(|p| p.name == name);
        let b = meta.payloads.iter().find(|p| p.name == name);
        let (a, b) = match (a, b) {
            (Some(a), Some(b)) => (a, b),
            (a, _) => {
                let (here, there) = if a.is_some() { ("declared", "absent") } else { ("absent", "declared") };
                differ(&format!("payloads/{name}"), here.to_owned(), there.to_owned());
                continue;
            }
        };
        let field = |attr: &str| format!("payloads/{name}/{attr}");
        differ(&field("@type"), q(&a.payload_type), q(&b.payload_type));
        differ(&field("@size"), a.size.to_string(), b.size.to_string());
        let opt = |v: Option<u64>| v.map_or_else(|| "absent".to_owned(), |n| n.to_string());
        differ(&field("@uncompressed-size"), opt(a.uncompressed_size), opt(b.uncompressed_size));
        differ(&field("checksum"), checksums(a), checksums(b));
    }
}

fn list(set: BTreeSet<String>) -> String {
    if set.is_empty() { "(none)".to_owned() } else { format!("[{}]", set.into_iter().collect::<Vec<_>>().join(", ")) }
}

/// A payload's checksums as a set, normalised: case, surrounding space and an empty
/// verify-process do not count.
fn checksums(p: &Payload) -> String {
    let set: BTreeSet<String> = p
        .checksums
        .iter()
        .map(|c| {
            let t = c.checksum_type.trim().to_ascii_lowercase();
            let v = c.value.trim().to_ascii_lowercase();
            match c.verify_process.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                Some(vp) => format!("{t}/{} {v}", vp.to_ascii_lowercase()),
                None => format!("{t} {v}"),
            }
        })
        .collect();
    list(set)
}

fn check_signature(
    summary: &VibFileSummary,
    level: AcceptanceLevel,
    options: &CheckOptions,
    finding: &impl Fn(Rule, String) -> Finding,
) -> (SignatureStatus, Vec<Finding>) {
    let sig = summary.signature.as_deref();
    let unsigned = sig.is_none_or(is_empty_signature);
    if unsigned {
        if level.requires_signature() {
            let what = if sig.is_none() { "missing" } else { "empty" };
            return (
                SignatureStatus::Missing,
                vec![
                    finding(
                        Rule::SignatureMissing,
                        format!(
                            "the VIB's acceptance level is {level} ({}), which requires a signature, but \
                         sig.pkcs7 is {what}; ESXi refuses unsigned VIBs above community level: sign \
                         the VIB with a key issued for that level, or set acceptance-level to community \
                         if it is a community VIB",
                            level.display_name()
                        ),
                    )
                    .field("sig.pkcs7"),
                ],
            );
        }
        return (
            SignatureStatus::Unsigned,
            vec![finding(
                Rule::UnsignedCommunity,
                "community, unsigned: sig.pkcs7 is empty, as expected for acceptance level community; \
                 hosts install it only at host acceptance level CommunitySupported"
                    .to_owned(),
            )],
        );
    }
    let sig = sig.unwrap_or_default();
    let anchors = effective_anchors(options);
    let user_anchors = options.trust.is_some();
    let signer_info = |s: crate::vib::SignerSummary, builtin: bool| SignerInfo {
        subject: s.subject,
        issuer: s.issuer,
        serial: s.serial,
        signing_time: s.signing_time,
        trust_anchor: s.trust_anchor,
        trust_anchor_builtin: builtin,
    };
    // VMwareCertified and VMwareAccepted are VMware's levels: VMware's key signs them.
    let vmware_level = matches!(level, AcceptanceLevel::Certified | AcceptanceLevel::Accepted);
    match verify_vib(sig, &summary.descriptor, &anchors) {
        VibVerdict::Verified { signer, anchor } => {
            (SignatureStatus::Verified { signer: signer_info(signer, anchor.builtin) }, Vec::new())
        }
        // Without --trust a partner's signer has no anchor to chain to: verified only
        // cryptographically (`signature-trust-not-checked` says so).
        VibVerdict::Untrusted { signer, failure }
            if failure.rule == TrustRule::NoPath && !user_anchors && !vmware_level =>
        {
            (SignatureStatus::Verified { signer: signer_info(signer, false) }, Vec::new())
        }
        VibVerdict::Untrusted { failure, .. } => {
            let rule = match failure.rule {
                TrustRule::IssuerNotCa => Rule::SignatureIssuerNotCa,
                TrustRule::PathLength => Rule::SignaturePathLength,
                TrustRule::KeyUsage => Rule::SignatureKeyUsage,
                TrustRule::ExtendedKeyUsage => Rule::SignatureExtendedKeyUsage,
                TrustRule::Expired => Rule::SignatureCertificateExpired,
                TrustRule::NotYetValid => Rule::SignatureCertificateNotYetValid,
                _ => Rule::SignatureUntrusted,
            };
            let advice = if rule != Rule::SignatureUntrusted {
                "the signature is intact, but its signer's certificate path breaks this rule, so the \
                 signer is not trusted: re-sign the VIB with a certificate issued within the rules"
                    .to_owned()
            } else if vmware_level && !user_anchors {
                format!(
                    "acceptance level {level} ({}) is VMware's, but the signature does not chain to VMware's \
                     signing certificate (built in): restore VMware's signed original, or, for a partner \
                     VIB, set the acceptance level it was issued for",
                    level.display_name()
                )
            } else {
                "the signature is intact, but neither VMware's signing certificate (built in) nor a \
                 certificate given with --trust vouches for its signer: pass the CA that issued the signing \
                 certificate, or re-sign the VIB with a trusted key"
                    .to_owned()
            };
            (
                SignatureStatus::Untrusted { reason: failure.message.clone() },
                vec![finding(rule, format!("{}; {advice}", failure.message)).field("sig.pkcs7")],
            )
        }
        VibVerdict::Unsigned => (SignatureStatus::Unsigned, Vec::new()),
        VibVerdict::Invalid(e) => (
            SignatureStatus::Invalid { reason: e.to_string() },
            vec![
                finding(
                    Rule::SignatureInvalid,
                    format!(
                        "sig.pkcs7 does not verify over the VIB's descriptor.xml: {e}; the descriptor or \
                     the signature was changed after signing: restore the signed original, or rebuild \
                     and re-sign the VIB"
                    ),
                )
                .field("sig.pkcs7"),
            ],
        ),
    }
}

/// The built-in anchors plus the `--trust` ones.
fn effective_anchors(options: &CheckOptions) -> std::borrow::Cow<'_, TrustStore> {
    match options.trust.as_deref() {
        None => std::borrow::Cow::Borrowed(TrustStore::builtin()),
        Some(t) if t.includes_builtin() => std::borrow::Cow::Borrowed(t),
        Some(t) => std::borrow::Cow::Owned(t.clone().with_builtin()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::check::{CheckOptions, Rule, check_depot};
    use crate::source::{Depot, OpenOptions};
    use crate::vib::ArWriter;
    use crate::vib::signature::TrustStore;
    use esxlcm_test_support::vib_signing::{Spec, TestCert, chain, make_cert, sign_at};

    /// A bare `.vib` at `level`, signed by `leaf` with `extra` embedded, checked with `trust`
    /// as `--trust` (or none): the signature findings as `rule|message`.
    fn check_vib(level: &str, leaf: &TestCert, extra: &[&TestCert], trust: Option<&[&TestCert]>) -> Vec<String> {
        let descriptor = format!(
            "<vib version=\"5.0\"><type>bootbank</type><name>demo</name><version>1.0.0-1OEM.800.1.0.1</version>\
             <vendor>ESXLCM</vendor><summary>demo</summary><description>demo</description>\
             <acceptance-level>{level}</acceptance-level><payloads></payloads></vib>"
        );
        let extra_certs: Vec<_> = extra.iter().map(|c| &c.cert).collect();
        let signed = chrono::DateTime::from_timestamp(1_780_000_000, 0); // 2026-05-28T20:26:40Z
        let sig = sign_at(descriptor.as_bytes(), &leaf.cert, &leaf.key, &extra_certs, signed);
        let mut ar = ArWriter::new(Vec::new());
        ar.append_bytes("descriptor.xml", descriptor.as_bytes()).unwrap();
        ar.append_bytes("sig.pkcs7", &sig).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1.vib");
        std::fs::write(&path, ar.finish().unwrap()).unwrap();
        let depot = Depot::open(&path.to_string_lossy(), &OpenOptions::default()).unwrap();
        let trust = trust.map(|certs| {
            let pem: String = certs.iter().map(|c| c.cert.encode_pem()).collect();
            Arc::new(TrustStore::from_pem(pem.as_bytes()).unwrap())
        });
        let report = check_depot(&depot, &CheckOptions { trust, ..CheckOptions::default() });
        report
            .findings
            .iter()
            .filter(|f| f.rule.starts_with("signature-"))
            .map(|f| format!("{}|{}", f.rule, f.message))
            .collect()
    }

    const PATH_ADVICE: &str = "the signature is intact, but its signer's certificate path breaks this rule, so \
                               the signer is not trusted: re-sign the VIB with a certificate issued within the rules";

    /// Every trust rule of `depot check`, from a throwaway chain each (fixture zips cannot
    /// hold them: the certificates are made fresh by each run).
    #[test]
    fn trust_rules_are_reported_with_the_certificate_and_rule() {
        let ok = |mid: &Spec, leaf: &Spec| chain(mid, leaf);
        let cases: Vec<(Rule, (TestCert, TestCert, TestCert), String)> = vec![
            (
                Rule::SignatureIssuerNotCa,
                ok(&Spec { ca: rcgen::IsCa::ExplicitNoCa, ..Spec::signer() }, &Spec::signer()),
                "issuer \"CN=Test Intermediate, O=esxlcm tests\" is not a CA (basicConstraints CA:FALSE)".into(),
            ),
            (
                Rule::SignatureKeyUsage,
                ok(&Spec::ca(), &Spec { key_usages: vec![rcgen::KeyUsagePurpose::KeyAgreement], ..Spec::signer() }),
                "signer \"CN=Test Signer, O=esxlcm tests\" has keyUsage [keyAgreement] without digitalSignature, so \
                 it may not sign"
                    .into(),
            ),
            (
                Rule::SignatureExtendedKeyUsage,
                ok(&Spec::ca(), &Spec { eku: vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth], ..Spec::signer() }),
                "signer \"CN=Test Signer, O=esxlcm tests\" has extendedKeyUsage [clientAuth] without codeSigning \
                 (1.3.6.1.5.5.7.3.3)"
                    .into(),
            ),
            (
                Rule::SignatureCertificateExpired,
                ok(&Spec::ca(), &Spec { not_after: (2021, 1, 1), ..Spec::signer() }),
                "signer \"CN=Test Signer, O=esxlcm tests\" expired 2021-01-01T00:00:00Z, signed 2026-05-28T20:26:40Z"
                    .into(),
            ),
            (
                Rule::SignatureCertificateNotYetValid,
                ok(&Spec { not_before: (2027, 1, 1), ..Spec::ca() }, &Spec::signer()),
                "issuer \"CN=Test Intermediate, O=esxlcm tests\" is not valid before 2027-01-01T00:00:00Z, signed \
                 2026-05-28T20:26:40Z"
                    .into(),
            ),
        ];
        for (rule, (root, mid, leaf), message) in cases {
            let found = check_vib("partner", &leaf, &[&mid], Some(&[&root]));
            assert_eq!(found, [format!("{}|{message}; {PATH_ADVICE}", rule.id())], "{}", rule.id());
        }

        // pathLen 0 on the intermediate, with a sub-CA below it.
        let root = make_cert("Test Root", &Spec::ca(), None);
        let mid = make_cert(
            "Test Intermediate",
            &Spec { ca: rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0)), ..Spec::ca() },
            Some(&root),
        );
        let sub = make_cert("Test Sub CA", &Spec::ca(), Some(&mid));
        let leaf = make_cert("Test Signer", &Spec::signer(), Some(&sub));
        assert_eq!(
            check_vib("partner", &leaf, &[&sub, &mid], Some(&[&root])),
            [format!(
                "signature-path-length|issuer \"CN=Test Intermediate, O=esxlcm tests\" allows 0 intermediate CA \
                 certificates below it (basicConstraints pathLen 0), but the path has 1; {PATH_ADVICE}"
            )]
        );

        // A good chain: no finding, with --trust.
        let (root, mid, leaf) = chain(&Spec::ca(), &Spec::signer());
        assert_eq!(check_vib("partner", &leaf, &[&mid], Some(&[&root])), Vec::<String>::new());
        // Without --trust a partner signer has no anchor: verified cryptographically only.
        assert_eq!(
            check_vib("partner", &leaf, &[&mid], None),
            ["signature-trust-not-checked|1 signature verified over descriptor.xml, but the signer certificates do \
              not chain to VMware's (built in) and no --trust anchors were given, so who signed is not established; \
              pass --trust FILE.pem with the issuing CA certificates to check it"]
        );
        // A certified (VMware's level) VIB not signed by VMware is refused without --trust.
        assert_eq!(
            check_vib("certified", &leaf, &[&mid], None),
            [
                "signature-untrusted|no path from signer \"CN=Test Signer, O=esxlcm tests\" to a trust anchor: \"CN=Test \
              Intermediate, O=esxlcm tests\" is issued by a certificate that is neither embedded in sig.pkcs7 nor a \
              trust anchor (anchors: \"CN=VMware Certified VIB Signing, O=VMware, Inc., L=Palo Alto, ST=California, \
              C=US\"); acceptance level certified (VMwareCertified) is VMware's, but the signature does not chain to \
              VMware's signing certificate (built in): restore VMware's signed original, or, for a partner VIB, set \
              the acceptance level it was issued for"
            ]
        );
        // With --trust, an unrelated anchor: untrusted.
        let other = make_cert("Other Root", &Spec::ca(), None);
        let found = check_vib("partner", &leaf, &[&mid], Some(&[&other]));
        assert_eq!(found.len(), 1);
        assert!(found[0].starts_with("signature-untrusted|no path from signer"), "{found:?}");
    }
}
