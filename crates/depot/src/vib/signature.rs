//! Verification of a VIB's `sig.pkcs7` member (depot-format §4.5).
//!
//! `sig.pkcs7` is a detached CMS SignedData (PEM `-----BEGIN PKCS7-----`, or DER) whose signed
//! content is the exact `descriptor.xml` member bytes. Since the descriptor carries every
//! payload checksum, this one signature covers the whole VIB. Community VIBs have an empty
//! member ([`SignatureError::Unsigned`]).
//!
//! For every signer: the `message-digest` signed attribute against the descriptor
//! ([`SignatureError::DigestMismatch`]), then the signature over the signed attributes with
//! the embedded signer certificate ([`SignatureError::BadSignature`]). Then trust
//! ([`verify_vib`], a typed [`VibVerdict`]): the signer's certificate path to a [`TrustStore`]
//! anchor, valid at the signed `signingTime` (now when none is recorded):
//!
//! * a signer certificate byte-equal to an anchor is pinned (VMware signs with its
//!   self-signed, CA:TRUE "VMware Certified VIB Signing" certificate, built in as
//!   [`VMWARE_VIB_SIGNING_PEM`]): its validity and usage extensions are checked;
//! * otherwise rustls-webpki builds and checks the path through the embedded certificates:
//!   issuers CA:TRUE within their pathLen, extendedKeyUsage (where present) allowing
//!   codeSigning, validity, each link's signature; keyUsage, which webpki ignores, is checked
//!   here on the path it found (digitalSignature for the signer, keyCertSign for issuers).
//!
//! Each refusal is a [`TrustFailure`]: the [`TrustRule`], and a message naming the
//! certificate. Not checked: revocation.

use cryptographic_message_syntax::{CmsError, SignedData, SignerInfo};
use x509_certificate::CapturedX509Certificate;
use x509_certificate::certificate::certificate_is_subset_of;
use x509_certificate::rfc3280::Name;

/// PEM labels accepted for `sig.pkcs7`.
const PEM_TAGS: [&str; 3] = ["PKCS7", "CMS", "PKCS #7 SIGNED DATA"];

/// Longest certificate chain followed (signer included).
pub const MAX_CHAIN_LEN: usize = 8;

/// Errors verifying `sig.pkcs7`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// `sig.pkcs7` is empty (or whitespace): a community/unsigned VIB.
    #[error("VIB is unsigned: sig.pkcs7 is empty")]
    Unsigned,

    /// PEM armour is broken.
    #[error("sig.pkcs7 is not valid PEM: {0}")]
    MalformedPem(#[source] pem::PemError),

    /// PEM block of another kind.
    #[error("sig.pkcs7 PEM block is {tag:?}, expected \"PKCS7\"")]
    UnexpectedPemTag {
        /// The label found.
        tag: String,
    },

    /// Not a decodable CMS SignedData.
    #[error("sig.pkcs7 is not a valid CMS SignedData structure: {0}")]
    MalformedCms(#[source] CmsError),

    /// The SignedData has no SignerInfo.
    #[error("sig.pkcs7 contains no signer")]
    NoSigner,

    /// The certificate a SignerInfo names is not embedded.
    #[error("signer certificate (issuer {issuer}, serial {serial}) is not embedded in sig.pkcs7")]
    SignerCertificateMissing {
        /// Issuer named by the SignerInfo.
        issuer: String,
        /// Serial named by the SignerInfo, hex.
        serial: String,
    },

    /// The signed `message-digest` does not match descriptor.xml.
    #[error("descriptor.xml does not match the digest signed by {signer} (descriptor altered after signing)")]
    DigestMismatch {
        /// Signer certificate subject.
        signer: String,
    },

    /// The signature does not verify with the signer certificate's key.
    #[error("signature by {signer} does not verify: {source}")]
    BadSignature {
        /// Signer certificate subject.
        signer: String,
        /// The CMS crate's error.
        #[source]
        source: CmsError,
    },

    /// The signature verifies, but its signer is not trusted (see [`TrustFailure`]).
    #[error("signer {signer} is not trusted: {failure}")]
    Untrusted {
        /// Signer certificate subject.
        signer: String,
        /// Which certificate broke which rule.
        failure: TrustFailure,
    },

    /// The trust store input is unusable.
    #[error("invalid trust store: {0}")]
    TrustStore(String),
}

/// What a verified signature says about its signer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerSummary {
    /// Signer certificate subject, RFC 4514 order (`CN=..., O=..., C=US`), values unescaped.
    pub subject: String,
    /// Signer certificate issuer, same format.
    pub issuer: String,
    /// Signer certificate serial number, lowercase hex without leading zero bytes.
    pub serial: String,
    /// `signingTime` signed attribute, RFC 3339 UTC (`2021-02-23T13:03:09Z`).
    pub signing_time: Option<String>,
    /// Certificates embedded in the SignedData.
    pub certificate_count: usize,
    /// Subject of the trust anchor the signer was validated against, when it was.
    pub trust_anchor: Option<String>,
}

/// VMware's "VMware Certified VIB Signing" certificate: self-signed, CA:TRUE, embedded in
/// every VMware-signed VIB (extracted from the real samples). Built-in trust anchor.
pub const VMWARE_VIB_SIGNING_PEM: &str = include_str!("anchors/vmware-vib-signing.pem");

/// SHA-256 of [`VMWARE_VIB_SIGNING_PEM`]'s DER (also in docs/check.md).
pub const VMWARE_VIB_SIGNING_SHA256: &str = "321690a8e06810b184032f073c305a082112bdad5870ef2e8953e01be956d710";

/// extendedKeyUsage codeSigning, 1.3.6.1.5.5.7.3.3 (DER content bytes).
const EKU_CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];

#[derive(Debug, Clone)]
struct Anchor {
    cert: CapturedX509Certificate,
    /// Shipped with esxlcm (VMware's certificate), not configured by the user.
    builtin: bool,
}

/// Certificates trusted as anchors: the built-in VMware anchor and/or the user's.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    anchors: Vec<Anchor>,
}

impl TrustStore {
    /// Reads one or more PEM `CERTIFICATE` blocks (other PEM blocks are ignored). At least one
    /// certificate is required. The built-in anchors are not included ([`Self::with_builtin`]).
    pub fn from_pem(bytes: &[u8]) -> Result<Self, SignatureError> {
        let blocks = pem::parse_many(bytes).map_err(|e| SignatureError::TrustStore(format!("bad PEM: {e}")))?;
        let mut store = Self::default();
        for (i, block) in blocks.iter().enumerate() {
            if block.tag() != "CERTIFICATE" {
                continue;
            }
            store
                .push(block.contents(), false)
                .map_err(|e| SignatureError::TrustStore(format!("PEM block #{i} is not a certificate: {e}")))?;
        }
        if store.anchors.is_empty() {
            return Err(SignatureError::TrustStore("no PEM CERTIFICATE block found".to_owned()));
        }
        Ok(store)
    }

    /// The built-in anchors only: VMware's VIB signing certificate.
    pub fn builtin() -> &'static TrustStore {
        static BUILTIN: std::sync::OnceLock<TrustStore> = std::sync::OnceLock::new();
        BUILTIN.get_or_init(|| {
            let mut store = TrustStore::default();
            // The shipped PEM is checked by a test; a broken one would only mean no anchor.
            if let Ok(block) = pem::parse(VMWARE_VIB_SIGNING_PEM) {
                let _ = store.push(block.contents(), true);
            }
            store
        })
    }

    /// This store plus the built-in anchors (partners add theirs to VMware's).
    #[must_use]
    pub fn with_builtin(mut self) -> Self {
        for b in &Self::builtin().anchors {
            if !self.anchors.iter().any(|a| a.cert.constructed_data() == b.cert.constructed_data()) {
                self.anchors.push(b.clone());
            }
        }
        self
    }

    fn push(&mut self, der: &[u8], builtin: bool) -> Result<(), String> {
        let cert = CapturedX509Certificate::from_der(der.to_vec()).map_err(|e| e.to_string())?;
        self.anchors.push(Anchor { cert, builtin });
        Ok(())
    }

    /// Adds a DER certificate (a user anchor).
    pub fn add_der(&mut self, der: &[u8]) -> Result<(), SignatureError> {
        self.push(der, false).map_err(|e| SignatureError::TrustStore(format!("not a DER certificate: {e}")))
    }

    /// Number of anchors.
    pub fn len(&self) -> usize {
        self.anchors.len()
    }

    /// Whether there are no anchors.
    pub fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }

    /// Whether every built-in anchor is in this store.
    pub fn includes_builtin(&self) -> bool {
        Self::builtin()
            .anchors
            .iter()
            .all(|b| self.anchors.iter().any(|a| a.cert.constructed_data() == b.cert.constructed_data()))
    }

    /// Whether any anchor was configured by the user (not built in).
    pub fn has_user_anchors(&self) -> bool {
        self.anchors.iter().any(|a| !a.builtin)
    }

    /// Subjects of the anchors.
    pub fn subjects(&self) -> Vec<String> {
        self.anchors.iter().map(|a| format_name(a.cert.subject_name())).collect()
    }
}

/// The rule a signer's certificate path broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TrustRule {
    /// No path from the signer to an anchor (unknown issuer, self-signed non-anchor).
    NoPath,
    /// The signer is a CA certificate but not itself an anchor.
    SignerIsCa,
    /// A certificate's signature by its issuer does not verify or uses an unsupported algorithm.
    CertificateSignature,
    /// An issuer is not a CA (basicConstraints CA:TRUE missing).
    IssuerNotCa,
    /// An issuer's basicConstraints pathLen is exceeded.
    PathLength,
    /// keyUsage present but without digitalSignature (signer) or keyCertSign (issuer).
    KeyUsage,
    /// extendedKeyUsage present but without codeSigning.
    ExtendedKeyUsage,
    /// A certificate expired before the signing time.
    Expired,
    /// A certificate was not yet valid at the signing time.
    NotYetValid,
}

impl TrustRule {
    /// Stable kebab-case id.
    pub fn id(self) -> &'static str {
        match self {
            Self::NoPath => "no-path",
            Self::SignerIsCa => "signer-is-ca",
            Self::CertificateSignature => "certificate-signature",
            Self::IssuerNotCa => "issuer-not-ca",
            Self::PathLength => "path-length",
            Self::KeyUsage => "key-usage",
            Self::ExtendedKeyUsage => "extended-key-usage",
            Self::Expired => "expired",
            Self::NotYetValid => "not-yet-valid",
        }
    }
}

/// Why a signer is not trusted: the rule, the certificate that broke it, and a message
/// naming both (`issuer "CN=…" is not a CA (basicConstraints CA:FALSE)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustFailure {
    /// The rule broken.
    pub rule: TrustRule,
    /// Subject of the certificate at fault.
    pub certificate: String,
    /// What is wrong, naming the certificate.
    pub message: String,
}

impl std::fmt::Display for TrustFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The anchor a signer was validated against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedBy {
    /// The anchor's subject.
    pub anchor: String,
    /// A built-in anchor (VMware's), not one the user configured.
    pub builtin: bool,
}

/// The verdict on one VIB's signature, for callers deciding per VIB (check, store ingest).
#[derive(Debug)]
pub enum VibVerdict {
    /// Empty `sig.pkcs7`.
    Unsigned,
    /// The signature does not verify over descriptor.xml, or cannot be read.
    Invalid(SignatureError),
    /// Verified, and every signer validated against an anchor.
    Verified {
        /// The first signer (its `trust_anchor` is set).
        signer: SignerSummary,
        /// The anchor of the first signer.
        anchor: TrustedBy,
    },
    /// Verified cryptographically, but a signer's certificate path is refused.
    Untrusted {
        /// The signer refused (its `trust_anchor` is `None`).
        signer: SignerSummary,
        /// Why.
        failure: TrustFailure,
    },
}

/// True for an unsigned VIB's `sig.pkcs7`: zero length or only whitespace.
pub fn is_empty_signature(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_whitespace)
}

/// Decodes `sig.pkcs7` (PEM or DER) into a SignedData.
pub fn parse_signature(sig: &[u8]) -> Result<SignedData, SignatureError> {
    let ber = unarmour(sig)?;
    SignedData::parse_ber(&ber).map_err(SignatureError::MalformedCms)
}

/// The BER bytes of `sig.pkcs7`, PEM armour removed.
fn unarmour(sig: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, SignatureError> {
    if is_empty_signature(sig) {
        return Err(SignatureError::Unsigned);
    }
    let trimmed = sig.trim_ascii();
    if trimmed.starts_with(b"-----BEGIN") {
        let block = pem::parse(trimmed).map_err(SignatureError::MalformedPem)?;
        if !PEM_TAGS.contains(&block.tag()) {
            return Err(SignatureError::UnexpectedPemTag { tag: block.tag().to_owned() });
        }
        return Ok(std::borrow::Cow::Owned(block.into_contents()));
    }
    Ok(std::borrow::Cow::Borrowed(sig))
}

/// The embedded certificates exactly as stored. The CMS crate re-encodes the ones it hands
/// out (adding NULL parameters to ECDSA/Ed25519 algorithm identifiers, which breaks their
/// signatures for webpki), so path validation reads the originals here.
fn raw_certificates(ber: &[u8]) -> Option<Vec<Vec<u8>>> {
    use bcder::decode::Constructed;
    use bcder::{Mode, Tag};
    Constructed::decode(ber, Mode::Ber, |cons| {
        cons.take_sequence(|cons| {
            cons.skip_one()?; // contentType signedData
            cons.take_constructed_if(Tag::CTX_0, |cons| {
                cons.take_sequence(|cons| {
                    cons.skip_one()?; // version
                    cons.skip_one()?; // digestAlgorithms
                    cons.skip_one()?; // encapContentInfo
                    let certs = cons.take_opt_constructed_if(Tag::CTX_0, |cons| {
                        let mut certs = Vec::new();
                        while let Ok(c) = cons.capture_one() {
                            certs.push(c.as_slice().to_vec());
                        }
                        Ok(certs)
                    })?;
                    cons.skip_all()?;
                    Ok(certs.unwrap_or_default())
                })
            })
        })
    })
    .ok()
}

/// Verifies `sig.pkcs7` over `descriptor` (the exact descriptor.xml member bytes) and
/// validates every signer's certificate path against `anchors`.
pub fn verify_vib(sig: &[u8], descriptor: &[u8], anchors: &TrustStore) -> VibVerdict {
    match verify_signers(sig, descriptor, Some(anchors)) {
        Ok((signer, Some(Ok(anchor)))) => VibVerdict::Verified { signer, anchor },
        Ok((signer, Some(Err(failure)))) => VibVerdict::Untrusted { signer, failure },
        Ok((signer, None)) => VibVerdict::Untrusted {
            // Unreachable: trust is always evaluated here.
            failure: TrustFailure {
                rule: TrustRule::NoPath,
                certificate: signer.subject.clone(),
                message: "trust was not evaluated".to_owned(),
            },
            signer,
        },
        Err(SignatureError::Unsigned) => VibVerdict::Unsigned,
        Err(e) => VibVerdict::Invalid(e),
    }
}

/// Verifies `sig.pkcs7` as a detached signature over `descriptor`; with `trust`, also
/// requires every signer to validate against one of its anchors ([`verify_vib`] gives the
/// typed verdict).
///
/// Every signer must verify; the summary describes the first.
pub fn verify_vib_signature(
    sig: &[u8],
    descriptor: &[u8],
    trust: Option<&TrustStore>,
) -> Result<SignerSummary, SignatureError> {
    match verify_signers(sig, descriptor, trust)? {
        (summary, None | Some(Ok(_))) => Ok(summary),
        (summary, Some(Err(failure))) => Err(SignatureError::Untrusted { signer: summary.subject, failure }),
    }
}

type TrustOutcome = Option<Result<TrustedBy, TrustFailure>>;

/// Every signer's signature (errors first), then, with `trust`, every signer's path: the
/// first signer's summary and the first trust failure (or the first signer's anchor).
fn verify_signers(
    sig: &[u8],
    descriptor: &[u8],
    trust: Option<&TrustStore>,
) -> Result<(SignerSummary, TrustOutcome), SignatureError> {
    let ber = unarmour(sig)?;
    let signed_data = SignedData::parse_ber(&ber).map_err(SignatureError::MalformedCms)?;
    let certificates: Vec<&CapturedX509Certificate> = signed_data.certificates().collect();
    // Original bytes where they line up with the parsed certificates, else the re-encoded ones.
    let raw: Vec<Vec<u8>> = match raw_certificates(&ber) {
        Some(raw) if raw.len() == certificates.len() => raw,
        _ => certificates.iter().map(|c| c.constructed_data().to_vec()).collect(),
    };
    let raw_of = |cert: &CapturedX509Certificate| -> Vec<u8> {
        certificates
            .iter()
            .position(|c| std::ptr::eq(*c, cert))
            .and_then(|i| raw.get(i))
            .map_or_else(|| cert.constructed_data().to_vec(), Clone::clone)
    };
    let mut signers = Vec::new();
    for signer in signed_data.signers() {
        let cert = signer_certificate(signer, &certificates)?;
        let subject = format_name(cert.subject_name());
        verify_signer(signer, &signed_data, descriptor, &subject)?;
        let signing_time = signer.signed_attributes().and_then(|a| a.signing_time()).map(|t| t.timestamp());
        signers.push((cert, subject, signing_time));
    }
    let mut summary: Option<SignerSummary> = None;
    let mut outcome: TrustOutcome = None;
    for (cert, subject, signing_time) in signers {
        let signer_der = raw_of(cert);
        let trusted = trust.map(|store| validate_path(&signer_der, &raw, store, signing_time));
        if summary.is_none() {
            summary = Some(SignerSummary {
                subject,
                issuer: format_name(cert.issuer_name()),
                serial: format_serial(cert.serial_number_asn1().as_slice()),
                signing_time: signing_time.map(rfc3339),
                certificate_count: certificates.len(),
                trust_anchor: trusted.as_ref().and_then(|t| t.as_ref().ok()).map(|a| a.anchor.clone()),
            });
            outcome = trusted;
        } else if let Some(Err(failure)) = trusted
            && !matches!(outcome, Some(Err(_)))
        {
            outcome = Some(Err(failure));
        }
    }
    let mut summary = summary.ok_or(SignatureError::NoSigner)?;
    if matches!(outcome, Some(Err(_))) {
        summary.trust_anchor = None;
    }
    Ok((summary, outcome))
}

fn signer_certificate<'a>(
    signer: &SignerInfo,
    certificates: &[&'a CapturedX509Certificate],
) -> Result<&'a CapturedX509Certificate, SignatureError> {
    let (issuer, serial) = signer.certificate_issuer_and_serial().ok_or(SignatureError::NoSigner)?;
    certificates
        .iter()
        .copied()
        .find(|c| certificate_is_subset_of(serial, issuer, c.serial_number_asn1(), c.issuer_name()))
        .ok_or_else(|| SignatureError::SignerCertificateMissing {
            issuer: format_name(issuer),
            serial: format_serial(serial.as_slice()),
        })
}

fn verify_signer(
    signer: &SignerInfo,
    signed_data: &SignedData,
    descriptor: &[u8],
    subject: &str,
) -> Result<(), SignatureError> {
    let result = if signer.signed_attributes().is_some() {
        // Signature over the signed attributes, which carry the content digest.
        signer.verify_message_digest_with_content(descriptor).map_err(|e| match e {
            CmsError::DigestNotEqual => SignatureError::DigestMismatch { signer: subject.to_owned() },
            other => SignatureError::BadSignature { signer: subject.to_owned(), source: other },
        })?;
        signer.verify_signature_with_signed_data(signed_data)
    } else {
        // No signed attributes: the signature is directly over the content.
        signer.verify_signature_with_signed_data_and_content(signed_data, descriptor)
    };
    result.map_err(|source| SignatureError::BadSignature { signer: subject.to_owned(), source })
}

fn rfc3339(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map_or_else(|| format!("@{unix}"), |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// What path validation needs to know about one certificate, read with x509-parser.
#[derive(Clone)]
struct CertInfo {
    subject: String,
    subject_raw: Vec<u8>,
    issuer_raw: Vec<u8>,
    not_before: i64,
    not_after: i64,
    /// basicConstraints: `None` when absent.
    ca: Option<bool>,
    path_len: Option<u32>,
    /// keyUsage, when present: (digitalSignature, keyCertSign, names of the bits set).
    key_usage: Option<(bool, bool, Vec<&'static str>)>,
    /// extendedKeyUsage, when present: (codeSigning, names).
    eku: Option<(bool, Vec<String>)>,
}

impl CertInfo {
    fn new(der: &[u8]) -> Result<Self, String> {
        use x509_parser::prelude::{FromDer, X509Certificate};
        let cert = CapturedX509Certificate::from_der(der.to_vec())
            .map_err(|e| format!("a certificate in sig.pkcs7 cannot be read: {e}"))?;
        let subject = format_name(cert.subject_name());
        let (_, x) =
            X509Certificate::from_der(der).map_err(|e| format!("certificate \"{subject}\" cannot be read: {e}"))?;
        let bad =
            |e: x509_parser::error::X509Error| format!("certificate \"{subject}\" has a malformed extension: {e}");
        let bc = x.basic_constraints().map_err(bad)?;
        let key_usage = x.key_usage().map_err(bad)?.map(|ku| {
            let k = ku.value;
            let bits = [
                (k.digital_signature(), "digitalSignature"),
                (k.non_repudiation(), "nonRepudiation"),
                (k.key_encipherment(), "keyEncipherment"),
                (k.data_encipherment(), "dataEncipherment"),
                (k.key_agreement(), "keyAgreement"),
                (k.key_cert_sign(), "keyCertSign"),
                (k.crl_sign(), "cRLSign"),
                (k.encipher_only(), "encipherOnly"),
                (k.decipher_only(), "decipherOnly"),
            ];
            let names = bits.iter().filter(|(set, _)| *set).map(|(_, n)| *n).collect();
            (k.digital_signature(), k.key_cert_sign(), names)
        });
        let eku = x.extended_key_usage().map_err(bad)?.map(|e| {
            let e = e.value;
            let mut names: Vec<String> = [
                (e.any, "anyExtendedKeyUsage"),
                (e.server_auth, "serverAuth"),
                (e.client_auth, "clientAuth"),
                (e.code_signing, "codeSigning"),
                (e.email_protection, "emailProtection"),
                (e.time_stamping, "timeStamping"),
                (e.ocsp_signing, "OCSPSigning"),
            ]
            .iter()
            .filter(|(set, _)| *set)
            .map(|(_, n)| (*n).to_owned())
            .collect();
            names.extend(e.other.iter().map(|o| o.to_id_string()));
            (e.code_signing, names)
        });
        Ok(Self {
            subject,
            subject_raw: x.subject().as_raw().to_vec(),
            issuer_raw: x.issuer().as_raw().to_vec(),
            not_before: x.validity().not_before.timestamp(),
            not_after: x.validity().not_after.timestamp(),
            ca: bc.as_ref().map(|b| b.value.ca),
            path_len: bc.and_then(|b| b.value.path_len_constraint),
            key_usage,
            eku,
        })
    }

    fn validity_failure(&self, role: &str, at: i64, when: &str) -> Option<TrustFailure> {
        let (rule, message) = if at > self.not_after {
            (TrustRule::Expired, format!("expired {}, {when}", rfc3339(self.not_after)))
        } else if at < self.not_before {
            (TrustRule::NotYetValid, format!("is not valid before {}, {when}", rfc3339(self.not_before)))
        } else {
            return None;
        };
        Some(self.failure(rule, format!("{role} \"{}\" {message}", self.subject)))
    }

    fn key_usage_failure(&self, role: &str, signer: bool) -> Option<TrustFailure> {
        let (digital_signature, key_cert_sign, names) = self.key_usage.as_ref()?;
        let (ok, needed, why) = if signer {
            (*digital_signature, "digitalSignature", "sign")
        } else {
            (*key_cert_sign, "keyCertSign", "issue certificates")
        };
        (!ok).then(|| {
            self.failure(
                TrustRule::KeyUsage,
                format!(
                    "{role} \"{}\" has keyUsage [{}] without {needed}, so it may not {why}",
                    self.subject,
                    names.join(", ")
                ),
            )
        })
    }

    fn eku_failure(&self, role: &str) -> Option<TrustFailure> {
        let (code_signing, names) = self.eku.as_ref()?;
        (!code_signing).then(|| {
            self.failure(
                TrustRule::ExtendedKeyUsage,
                format!(
                    "{role} \"{}\" has extendedKeyUsage [{}] without codeSigning (1.3.6.1.5.5.7.3.3)",
                    self.subject,
                    names.join(", ")
                ),
            )
        })
    }

    fn failure(&self, rule: TrustRule, message: String) -> TrustFailure {
        TrustFailure { rule, certificate: self.subject.clone(), message }
    }
}

/// Validates the signer's certificate path at the signing time (now when none is recorded).
///
/// A signer certificate that *is* an anchor (byte-equal; VMware's self-signed CA:TRUE signer)
/// is pinned: only its validity and usage extensions are checked. Any other signer needs a
/// path, built and checked by webpki (issuers CA:TRUE with pathLen, extendedKeyUsage allowing
/// codeSigning where present, validity, each link's signature); webpki ignores keyUsage, so
/// that is checked on the path it found. webpki's errors do not say which certificate broke
/// the rule; [`diagnose`] names it.
fn validate_path(
    signer: &[u8],
    embedded: &[Vec<u8>],
    store: &TrustStore,
    signing_time: Option<i64>,
) -> Result<TrustedBy, TrustFailure> {
    use rustls_pki_types::{CertificateDer, UnixTime};

    let now = UnixTime::now().as_secs();
    let at = signing_time.unwrap_or(i64::try_from(now).unwrap_or(i64::MAX));
    let when = match signing_time {
        Some(t) => format!("signed {}", rfc3339(t)),
        None => format!("checked {} (no signingTime recorded)", rfc3339(at)),
    };
    let signer_info = CertInfo::new(signer).map_err(|message| TrustFailure {
        rule: TrustRule::NoPath,
        certificate: "(unreadable)".to_owned(),
        message,
    })?;
    let trusted_by = |a: &Anchor| TrustedBy { anchor: format_name(a.cert.subject_name()), builtin: a.builtin };

    if let Some(anchor) = store.anchors.iter().find(|a| a.cert.constructed_data() == signer) {
        let failure = signer_info
            .validity_failure("signer", at, &when)
            .or_else(|| signer_info.key_usage_failure("signer", true))
            .or_else(|| signer_info.eku_failure("signer"));
        return match failure {
            Some(f) => Err(f),
            None => Ok(trusted_by(anchor)),
        };
    }

    let anchor_ders: Vec<CertificateDer<'_>> =
        store.anchors.iter().map(|a| CertificateDer::from(a.cert.constructed_data())).collect();
    // (index into store.anchors, webpki anchor); an anchor webpki cannot read is skipped.
    let (anchor_index, trust_anchors): (Vec<usize>, Vec<_>) = anchor_ders
        .iter()
        .enumerate()
        .filter_map(|(i, der)| webpki::anchor_from_trusted_cert(der).ok().map(|ta| (i, ta)))
        .unzip();
    let intermediates: Vec<CertificateDer<'_>> =
        embedded.iter().filter(|c| c.as_slice() != signer).map(|c| CertificateDer::from(c.as_slice())).collect();
    let signer_der = CertificateDer::from(signer);
    let end_entity = webpki::EndEntityCert::try_from(&signer_der).map_err(|e| {
        signer_info.failure(
            TrustRule::NoPath,
            format!("signer \"{}\" cannot be read for path validation ({e:?})", signer_info.subject),
        )
    })?;

    // keyUsage and the anchor's validity, on each path webpki finds; the first refusal is kept.
    let refused: std::cell::RefCell<Option<TrustFailure>> = std::cell::RefCell::new(None);
    let check_path = |path: &webpki::VerifiedPath<'_>| -> Result<(), webpki::Error> {
        let mut failure =
            CertInfo::new(path.end_entity().der().as_ref()).ok().and_then(|c| c.key_usage_failure("signer", true));
        for cert in path.intermediate_certificates() {
            failure = failure
                .or_else(|| CertInfo::new(cert.der().as_ref()).ok().and_then(|c| c.key_usage_failure("issuer", false)));
        }
        let anchor = trust_anchors.iter().position(|ta| std::ptr::eq(ta, path.anchor()));
        if let Some(a) = anchor.and_then(|i| anchor_index.get(i)).and_then(|&i| store.anchors.get(i)) {
            failure = failure.or_else(|| {
                CertInfo::new(a.cert.constructed_data())
                    .ok()
                    .and_then(|c| c.validity_failure("trust anchor", at, &when))
            });
        }
        match failure {
            None => Ok(()),
            Some(f) => {
                refused.borrow_mut().get_or_insert(f);
                Err(webpki::Error::UnknownIssuer)
            }
        }
    };
    let time = UnixTime::since_unix_epoch(std::time::Duration::from_secs(u64::try_from(at).unwrap_or(0)));
    let result = end_entity.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &trust_anchors,
        &intermediates,
        time,
        webpki::KeyUsage::required_if_present(EKU_CODE_SIGNING),
        None,
        Some(&check_path),
    );
    match result {
        Ok(path) => {
            let i = trust_anchors.iter().position(|ta| std::ptr::eq(ta, path.anchor()));
            let anchor = i.and_then(|i| anchor_index.get(i)).and_then(|&i| store.anchors.get(i));
            anchor.map(trusted_by).ok_or_else(|| {
                signer_info.failure(TrustRule::NoPath, "the path's trust anchor is not in the store".to_owned())
            })
        }
        Err(e) => Err(match refused.into_inner() {
            Some(f) => f,
            None => diagnose(&e, signer_info, embedded, signer, store, at, &when),
        }),
    }
}

/// Names the certificate and rule behind webpki's `error`, following issuer names from the
/// signer through the embedded certificates (as webpki does) to an anchor.
fn diagnose(
    error: &webpki::Error,
    signer_info: CertInfo,
    embedded: &[Vec<u8>],
    signer: &[u8],
    store: &TrustStore,
    at: i64,
    when: &str,
) -> TrustFailure {
    use webpki::Error as E;
    let candidates: Vec<CertInfo> =
        embedded.iter().filter(|c| c.as_slice() != signer).filter_map(|c| CertInfo::new(c).ok()).collect();
    let anchors: Vec<CertInfo> =
        store.anchors.iter().filter_map(|a| CertInfo::new(a.cert.constructed_data()).ok()).collect();
    let signer_subject = signer_info.subject.clone();
    let mut chain = vec![signer_info];
    let mut used = vec![false; candidates.len()];
    let mut anchor = None;
    while chain.len() < MAX_CHAIN_LEN {
        let Some(last) = chain.last() else { break };
        if let Some(a) = anchors.iter().find(|a| a.subject_raw == last.issuer_raw) {
            anchor = Some(a);
            break;
        }
        let next = candidates
            .iter()
            .enumerate()
            .find(|(i, c)| !used.get(*i).copied().unwrap_or(true) && c.subject_raw == last.issuer_raw);
        match next {
            Some((i, _)) => {
                if let Some(u) = used.get_mut(i) {
                    *u = true;
                }
                if let Some(c) = candidates.get(i) {
                    chain.push(c.clone());
                }
            }
            None => break,
        }
    }
    let role = |i: usize| if i == 0 { "signer" } else { "issuer" };
    let generic = |rule: TrustRule, what: String| TrustFailure {
        rule,
        certificate: signer_subject.clone(),
        message: format!("signer \"{signer_subject}\": {what}"),
    };
    let Some(anchor) = anchor else {
        // The path leaves the anchors' names: nothing to validate against.
        let last = chain.last();
        let message = match last {
            Some(l) if chain.len() == 1 && l.subject_raw == l.issuer_raw => {
                format!("signer \"{signer_subject}\" is self-signed and is not a trust anchor")
            }
            Some(l) => format!(
                "no path from signer \"{signer_subject}\" to a trust anchor: \"{}\" is issued by a certificate \
                 that is neither embedded in sig.pkcs7 nor a trust anchor (anchors: {})",
                l.subject,
                quote_list(&store.subjects())
            ),
            None => format!("no path from signer \"{signer_subject}\" to a trust anchor"),
        };
        return TrustFailure { rule: TrustRule::NoPath, certificate: signer_subject, message };
    };
    let found = match error {
        E::CertExpired { .. } | E::CertNotValidYet { .. } | E::InvalidCertValidity => {
            chain.iter().enumerate().find_map(|(i, c)| c.validity_failure(role(i), at, when))
        }
        E::EndEntityUsedAsCa => chain.iter().skip(1).find(|c| c.ca != Some(true)).map(|c| {
            let bc = if c.ca.is_some() { "basicConstraints CA:FALSE" } else { "no basicConstraints" };
            c.failure(TrustRule::IssuerNotCa, format!("issuer \"{}\" is not a CA ({bc})", c.subject))
        }),
        E::PathLenConstraintViolated => chain.iter().enumerate().skip(1).find_map(|(i, c)| {
            let below = i - 1;
            let len = usize::try_from(c.path_len?).unwrap_or(usize::MAX);
            (below > len).then(|| {
                c.failure(
                    TrustRule::PathLength,
                    format!(
                        "issuer \"{}\" allows {len} intermediate CA certificate{} below it (basicConstraints \
                         pathLen {len}), but the path has {below}",
                        c.subject,
                        if len == 1 { "" } else { "s" }
                    ),
                )
            })
        }),
        E::RequiredEkuNotFoundContext(_) | E::EmptyEkuExtension => {
            chain.iter().enumerate().find_map(|(i, c)| c.eku_failure(role(i)))
        }
        E::CaUsedAsEndEntity => chain.first().map(|c| {
            c.failure(
                TrustRule::SignerIsCa,
                format!(
                    "signer \"{}\" is a CA certificate (basicConstraints CA:TRUE) and not itself a trust anchor; \
                     VIBs are signed with end-entity certificates",
                    c.subject
                ),
            )
        }),
        E::UnknownIssuer
        | E::InvalidSignatureForPublicKey
        | E::UnsupportedSignatureAlgorithmContext(_)
        | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => Some(TrustFailure {
            rule: TrustRule::CertificateSignature,
            certificate: chain.last().map_or_else(|| signer_subject.clone(), |c| c.subject.clone()),
            message: format!(
                "the path from signer \"{signer_subject}\" to trust anchor \"{}\" does not verify: a \
                 certificate's signature by its issuer is wrong or uses an unsupported algorithm ({error:?})",
                anchor.subject
            ),
        }),
        _ => None,
    };
    found.unwrap_or_else(|| generic(TrustRule::NoPath, format!("path validation failed ({error:?})")))
}

fn quote_list(items: &[String]) -> String {
    items.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(", ")
}

/// Short names for common attribute OIDs (DER content bytes).
const ATTRIBUTE_NAMES: [(&[u8], &str); 11] = [
    (&[85, 4, 3], "CN"),
    (&[85, 4, 5], "serialNumber"),
    (&[85, 4, 6], "C"),
    (&[85, 4, 7], "L"),
    (&[85, 4, 8], "ST"),
    (&[85, 4, 9], "STREET"),
    (&[85, 4, 10], "O"),
    (&[85, 4, 11], "OU"),
    (&[42, 134, 72, 134, 247, 13, 1, 9, 1], "emailAddress"),
    (&[9, 146, 38, 137, 147, 242, 44, 100, 1, 25], "DC"),
    (&[9, 146, 38, 137, 147, 242, 44, 100, 1, 1], "UID"),
];

/// Formats a distinguished name RFC 4514-style (last RDN first, `+` inside an RDN), for
/// display: values are not escaped (`O=VMware, Inc.`); undecodable values are `#hex`.
pub fn format_name(name: &Name) -> String {
    let rdns: Vec<String> = name
        .iter_rdn()
        .map(|rdn| {
            rdn.iter()
                .map(|atv| {
                    let oid: &[u8] = atv.typ.as_ref();
                    let key = ATTRIBUTE_NAMES
                        .iter()
                        .find(|(o, _)| *o == oid)
                        .map_or_else(|| atv.typ.to_string(), |(_, n)| (*n).to_owned());
                    let value = atv.to_string().unwrap_or_else(|_| format!("#{}", hex::encode(atv.value.as_slice())));
                    format!("{key}={value}")
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(", ")
}

fn format_serial(bytes: &[u8]) -> String {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len().saturating_sub(1));
    hex::encode(bytes.get(start..).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use esxlcm_test_support::vib_signing::{Spec, TestCert, chain, make_cert, self_signed, sign, sign_at};

    fn pem_of(tag: &str, der: &[u8]) -> Vec<u8> {
        pem::encode(&pem::Pem::new(tag, der.to_vec())).into_bytes()
    }

    const DESCRIPTOR: &[u8] = b"<vib version=\"5.0\"><name>x</name></vib>";

    #[test]
    fn empty_signatures() {
        assert!(is_empty_signature(b""));
        assert!(is_empty_signature(b" \n\r\t"));
        assert!(!is_empty_signature(b"-----BEGIN PKCS7-----"));
        let err = verify_vib_signature(b"\n", DESCRIPTOR, None).unwrap_err();
        assert!(matches!(err, SignatureError::Unsigned));
        assert_eq!(err.to_string(), "VIB is unsigned: sig.pkcs7 is empty");
    }

    #[test]
    fn malformed_inputs() {
        let err = verify_vib_signature(b"-----BEGIN PKCS7-----\n!!!\n-----END PKCS7-----\n", b"", None).unwrap_err();
        assert!(matches!(err, SignatureError::MalformedPem(_)), "{err}");
        let err = verify_vib_signature(&pem_of("CERTIFICATE", b"\x30\x00"), b"", None).unwrap_err();
        assert_eq!(err.to_string(), "sig.pkcs7 PEM block is \"CERTIFICATE\", expected \"PKCS7\"");
        let err = verify_vib_signature(b"\x30\x03\x02\x01\x01", b"", None).unwrap_err();
        assert!(matches!(err, SignatureError::MalformedCms(_)), "{err}");
        let err = verify_vib_signature(&pem_of("PKCS7", b"garbage"), b"", None).unwrap_err();
        assert!(matches!(err, SignatureError::MalformedCms(_)), "{err}");
    }

    #[test]
    fn synthetic_signature_verifies_in_pem_and_der() {
        let (cert, key) = self_signed("Test Signer");
        let der = sign(DESCRIPTOR, &cert, &key, &[]);
        for sig in [der.clone(), pem_of("PKCS7", &der)] {
            let s = verify_vib_signature(&sig, DESCRIPTOR, None).unwrap();
            assert_eq!(s.subject, "CN=Test Signer, O=esxlcm tests");
            assert_eq!(s.issuer, s.subject);
            assert_eq!(s.serial, "01");
            assert_eq!(s.certificate_count, 1);
            assert!(s.signing_time.is_some_and(|t| t.ends_with('Z') && t.len() == 20));
            assert_eq!(s.trust_anchor, None);
        }
    }

    #[test]
    fn altered_descriptor_and_signature_are_detected() {
        let (cert, key) = self_signed("Test Signer");
        let der = sign(DESCRIPTOR, &cert, &key, &[]);
        let mut altered = DESCRIPTOR.to_vec();
        altered[20] ^= 1;
        let err = verify_vib_signature(&der, &altered, None).unwrap_err();
        assert!(matches!(err, SignatureError::DigestMismatch { .. }), "{err}");

        // Flip a bit inside the signature value itself.
        let sd = SignedData::parse_ber(&der).unwrap();
        let signature = sd.signers().next().unwrap().signature().to_vec();
        let at = der.windows(signature.len()).position(|w| w == signature).unwrap();
        let mut bad = der.clone();
        bad[at + 5] ^= 0x01;
        let err = verify_vib_signature(&bad, DESCRIPTOR, None).unwrap_err();
        assert!(matches!(err, SignatureError::BadSignature { .. }), "{err}");
    }

    fn store_of(certs: &[&TestCert]) -> TrustStore {
        let pem: String = certs.iter().map(|c| c.cert.encode_pem()).collect();
        TrustStore::from_pem(pem.as_bytes()).unwrap()
    }

    fn signed_2026() -> Option<chrono::DateTime<chrono::Utc>> {
        chrono::DateTime::from_timestamp(1_780_000_000, 0) // 2026-05-28T20:26:40Z
    }

    /// The failure (rule id, message) of `leaf` signing through `mid` against `root`.
    fn refusal(root: &TestCert, mid: &TestCert, leaf: &TestCert) -> (&'static str, String) {
        let sig = sign_at(DESCRIPTOR, &leaf.cert, &leaf.key, &[&mid.cert], signed_2026());
        match verify_vib(&sig, DESCRIPTOR, &store_of(&[root])) {
            VibVerdict::Untrusted { failure, signer } => {
                assert_eq!(signer.trust_anchor, None);
                (failure.rule.id(), failure.message)
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn good_chain_and_pinned_signer_verify() {
        let (root, mid, leaf) = chain(&Spec::ca(), &Spec::signer());
        let sig = sign_at(DESCRIPTOR, &leaf.cert, &leaf.key, &[&mid.cert], signed_2026());
        let s = verify_vib_signature(&sig, DESCRIPTOR, Some(&store_of(&[&root]))).unwrap();
        assert_eq!(s.subject, "CN=Test Signer, O=esxlcm tests");
        assert_eq!(s.issuer, "CN=Test Intermediate, O=esxlcm tests");
        assert_eq!(s.certificate_count, 2);
        assert_eq!(s.signing_time.as_deref(), Some("2026-05-28T20:26:40Z"));
        assert_eq!(s.trust_anchor.as_deref(), Some("CN=Test Root, O=esxlcm tests"));
        match verify_vib(&sig, DESCRIPTOR, &store_of(&[&root]).with_builtin()) {
            VibVerdict::Verified { anchor, .. } => {
                assert_eq!(anchor, TrustedBy { anchor: "CN=Test Root, O=esxlcm tests".into(), builtin: false });
            }
            other => panic!("{other:?}"),
        }
        // Without any signingTime the time of the check counts (the certificates are valid now).
        let sig = sign_at(DESCRIPTOR, &leaf.cert, &leaf.key, &[&mid.cert], None);
        assert!(verify_vib_signature(&sig, DESCRIPTOR, Some(&store_of(&[&root]))).is_ok());

        // Pinning the intermediate works; pinning the signer itself too (like VMware's).
        let sig_no_mid = sign_at(DESCRIPTOR, &leaf.cert, &leaf.key, &[], signed_2026());
        assert!(verify_vib_signature(&sig_no_mid, DESCRIPTOR, Some(&store_of(&[&mid]))).is_ok());
        let s = verify_vib_signature(&sig_no_mid, DESCRIPTOR, Some(&store_of(&[&leaf]))).unwrap();
        assert_eq!(s.trust_anchor.as_deref(), Some("CN=Test Signer, O=esxlcm tests"));
        // A self-signed CA:TRUE signer without key usage extensions, pinned: VMware's shape.
        let vmware_like =
            make_cert("Self Signer", &Spec { key_usages: Vec::new(), eku: Vec::new(), ..Spec::ca() }, None);
        let sig = sign_at(DESCRIPTOR, &vmware_like.cert, &vmware_like.key, &[], signed_2026());
        assert!(verify_vib_signature(&sig, DESCRIPTOR, Some(&store_of(&[&vmware_like]))).is_ok());
        // Not pinned, it is refused by name.
        let err = verify_vib_signature(&sig, DESCRIPTOR, Some(&store_of(&[&root]))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "signer CN=Self Signer, O=esxlcm tests is not trusted: signer \"CN=Self Signer, O=esxlcm tests\" is \
             self-signed and is not a trust anchor"
        );
        // Without the intermediate, the path stops at the signer.
        let (rule, message) = {
            match verify_vib(&sig_no_mid, DESCRIPTOR, &store_of(&[&root])) {
                VibVerdict::Untrusted { failure, .. } => (failure.rule, failure.message),
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(rule, TrustRule::NoPath);
        assert_eq!(
            message,
            "no path from signer \"CN=Test Signer, O=esxlcm tests\" to a trust anchor: \"CN=Test Signer, O=esxlcm \
             tests\" is issued by a certificate that is neither embedded in sig.pkcs7 nor a trust anchor (anchors: \
             \"CN=Test Root, O=esxlcm tests\")"
        );
    }

    #[test]
    fn issuer_that_is_not_a_ca_is_refused() {
        for (ca, bc) in
            [(rcgen::IsCa::ExplicitNoCa, "basicConstraints CA:FALSE"), (rcgen::IsCa::NoCa, "no basicConstraints")]
        {
            // An ordinary code-signing certificate used as an issuer.
            let mid = Spec { ca, ..Spec::signer() };
            let (root, mid, leaf) = chain(&mid, &Spec::signer());
            assert_eq!(
                refusal(&root, &mid, &leaf),
                ("issuer-not-ca", format!("issuer \"CN=Test Intermediate, O=esxlcm tests\" is not a CA ({bc})"))
            );
        }
    }

    #[test]
    fn path_length_is_enforced() {
        // Root pathLen 0: no intermediate CA may sit below it.
        let mut root_spec = Spec::ca();
        root_spec.ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
        let root = make_cert("Test Root", &Spec::ca(), None);
        let mid = make_cert("Test Intermediate", &root_spec, Some(&root));
        let sub = make_cert("Test Sub CA", &Spec::ca(), Some(&mid));
        let leaf = make_cert("Test Signer", &Spec::signer(), Some(&sub));
        let sig = sign_at(DESCRIPTOR, &leaf.cert, &leaf.key, &[&sub.cert, &mid.cert], signed_2026());
        let VibVerdict::Untrusted { failure, .. } = verify_vib(&sig, DESCRIPTOR, &store_of(&[&root])) else {
            panic!("expected a refusal");
        };
        assert_eq!(failure.rule.id(), "path-length");
        assert_eq!(failure.certificate, "CN=Test Intermediate, O=esxlcm tests");
        assert_eq!(
            failure.message,
            "issuer \"CN=Test Intermediate, O=esxlcm tests\" allows 0 intermediate CA certificates below it \
             (basicConstraints pathLen 0), but the path has 1"
        );
    }

    #[test]
    fn validity_at_signing_time() {
        let expired = Spec { not_after: (2021, 1, 1), ..Spec::signer() };
        let (root, mid, leaf) = chain(&Spec::ca(), &expired);
        assert_eq!(
            refusal(&root, &mid, &leaf),
            (
                "expired",
                "signer \"CN=Test Signer, O=esxlcm tests\" expired 2021-01-01T00:00:00Z, signed 2026-05-28T20:26:40Z"
                    .to_owned()
            )
        );
        // Signed while it was valid: fine, however long ago it expired.
        let sig = sign_at(
            DESCRIPTOR,
            &leaf.cert,
            &leaf.key,
            &[&mid.cert],
            chrono::DateTime::from_timestamp(1_600_000_000, 0),
        );
        assert!(verify_vib_signature(&sig, DESCRIPTOR, Some(&store_of(&[&root]))).is_ok());

        // An expired issuer is named as the issuer.
        let (root, mid, leaf) = chain(&Spec { not_after: (2021, 1, 1), ..Spec::ca() }, &Spec::signer());
        assert_eq!(
            refusal(&root, &mid, &leaf),
            (
                "expired",
                "issuer \"CN=Test Intermediate, O=esxlcm tests\" expired 2021-01-01T00:00:00Z, signed \
                 2026-05-28T20:26:40Z"
                    .to_owned()
            )
        );

        let future = Spec { not_before: (2030, 1, 1), ..Spec::signer() };
        let (root, mid, leaf) = chain(&Spec::ca(), &future);
        assert_eq!(
            refusal(&root, &mid, &leaf),
            (
                "not-yet-valid",
                "signer \"CN=Test Signer, O=esxlcm tests\" is not valid before 2030-01-01T00:00:00Z, signed \
                 2026-05-28T20:26:40Z"
                    .to_owned()
            )
        );

        // A pinned signer is held to its validity too; without signingTime, to the time of the check.
        let old = make_cert("Old Signer", &Spec { not_after: (2021, 1, 1), ..Spec::signer() }, None);
        let sig = sign_at(DESCRIPTOR, &old.cert, &old.key, &[], None);
        let err = verify_vib_signature(&sig, DESCRIPTOR, Some(&store_of(&[&old]))).unwrap_err();
        let SignatureError::Untrusted { failure, .. } = err else { panic!("{err}") };
        assert_eq!(failure.rule, TrustRule::Expired);
        assert!(
            failure
                .message
                .starts_with("signer \"CN=Old Signer, O=esxlcm tests\" expired 2021-01-01T00:00:00Z, checked 20")
                && failure.message.ends_with("(no signingTime recorded)"),
            "{failure}"
        );
    }

    #[test]
    fn key_usage_is_enforced() {
        let no_ds = Spec { key_usages: vec![rcgen::KeyUsagePurpose::KeyEncipherment], ..Spec::signer() };
        let (root, mid, leaf) = chain(&Spec::ca(), &no_ds);
        assert_eq!(
            refusal(&root, &mid, &leaf),
            (
                "key-usage",
                "signer \"CN=Test Signer, O=esxlcm tests\" has keyUsage [keyEncipherment] without \
                 digitalSignature, so it may not sign"
                    .to_owned()
            )
        );
        let no_cert_sign = Spec { key_usages: vec![rcgen::KeyUsagePurpose::DigitalSignature], ..Spec::ca() };
        let (root, mid, leaf) = chain(&no_cert_sign, &Spec::signer());
        assert_eq!(
            refusal(&root, &mid, &leaf),
            (
                "key-usage",
                "issuer \"CN=Test Intermediate, O=esxlcm tests\" has keyUsage [digitalSignature] without \
                 keyCertSign, so it may not issue certificates"
                    .to_owned()
            )
        );
        // No keyUsage / extendedKeyUsage at all is fine.
        let bare = Spec { key_usages: Vec::new(), eku: Vec::new(), ..Spec::signer() };
        let (root, mid, leaf) = chain(&Spec::ca(), &bare);
        let sig = sign_at(DESCRIPTOR, &leaf.cert, &leaf.key, &[&mid.cert], signed_2026());
        assert!(verify_vib_signature(&sig, DESCRIPTOR, Some(&store_of(&[&root]))).is_ok());
    }

    #[test]
    fn extended_key_usage_must_allow_code_signing() {
        let tls = Spec { eku: vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth], ..Spec::signer() };
        let (root, mid, leaf) = chain(&Spec::ca(), &tls);
        assert_eq!(
            refusal(&root, &mid, &leaf),
            (
                "extended-key-usage",
                "signer \"CN=Test Signer, O=esxlcm tests\" has extendedKeyUsage [serverAuth] without codeSigning \
                 (1.3.6.1.5.5.7.3.3)"
                    .to_owned()
            )
        );
    }

    #[test]
    fn ca_signer_under_an_anchor_is_refused() {
        let (root, mid, leaf) = chain(&Spec::ca(), &Spec::ca());
        assert_eq!(
            refusal(&root, &mid, &leaf),
            (
                "signer-is-ca",
                "signer \"CN=Test Signer, O=esxlcm tests\" is a CA certificate (basicConstraints CA:TRUE) and not \
                 itself a trust anchor; VIBs are signed with end-entity certificates"
                    .to_owned()
            )
        );
    }

    #[test]
    fn trust_store_input_errors() {
        assert!(matches!(TrustStore::from_pem(b"nothing here"), Err(SignatureError::TrustStore(_))));
        let key_only = pem_of("PRIVATE KEY", b"xx");
        assert!(TrustStore::from_pem(&key_only).is_err());
        assert!(TrustStore::from_pem(&pem_of("CERTIFICATE", b"\x30\x00")).is_err());
        let mut store = TrustStore::default();
        assert!(store.is_empty());
        let (c, _) = self_signed("A");
        store.add_der(c.constructed_data()).unwrap();
        assert_eq!(store.subjects(), ["CN=A, O=esxlcm tests"]);
    }

    #[test]
    fn errors_are_send_and_sync() {
        fn check<T: Send + Sync + 'static>() {}
        check::<SignatureError>();
        check::<super::super::ar::ArError>();
        check::<super::super::payload::PayloadError>();
    }
}
