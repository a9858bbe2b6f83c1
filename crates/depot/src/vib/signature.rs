//! Verification of a VIB's `sig.pkcs7` member (depot-format §4.5).
//!
//! `sig.pkcs7` is a detached CMS SignedData (PEM `-----BEGIN PKCS7-----`, or DER) whose signed
//! content is the exact `descriptor.xml` member bytes. Since the descriptor carries every
//! payload checksum, this one signature covers the whole VIB. Community VIBs have an empty
//! member ([`SignatureError::Unsigned`]).
//!
//! [`verify_vib_signature`] checks, for every signer: the `message-digest` signed attribute
//! against the descriptor ([`SignatureError::DigestMismatch`]), then the signature over the
//! signed attributes with the embedded signer certificate ([`SignatureError::BadSignature`]).
//! The CMS crate does not validate certificates, so with a [`TrustStore`] a chain is built here
//! from the signer certificate through the certificates embedded in the SignedData to a trust
//! anchor, verifying each link's signature. A signer certificate that is itself an anchor
//! (same DER or same public key) is trusted. Not checked: validity periods (VMware's signing
//! certificate outlives most VIBs anyway; ESXi pins keys), key usage and basic constraints,
//! revocation. Without a trust store only the cryptographic integrity is established — anyone
//! can sign with a self-made certificate named "VMware".

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

    /// No chain from the signer certificate to a trust anchor.
    #[error("signer {signer} is not trusted: chain stops at {stopped_at} ({reason})")]
    Untrusted {
        /// Signer certificate subject.
        signer: String,
        /// Subject of the certificate no trusted issuer was found for.
        stopped_at: String,
        /// Why the chain stopped.
        reason: &'static str,
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
    /// Subject of the trust anchor the chain ended at, when a [`TrustStore`] was given.
    pub trust_anchor: Option<String>,
}

/// Certificates trusted as chain anchors.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    anchors: Vec<CapturedX509Certificate>,
}

impl TrustStore {
    /// Reads one or more PEM `CERTIFICATE` blocks (other PEM blocks are ignored). At least one
    /// certificate is required.
    pub fn from_pem(bytes: &[u8]) -> Result<Self, SignatureError> {
        let blocks = pem::parse_many(bytes).map_err(|e| SignatureError::TrustStore(format!("bad PEM: {e}")))?;
        let mut anchors = Vec::new();
        for (i, block) in blocks.iter().enumerate() {
            if block.tag() != "CERTIFICATE" {
                continue;
            }
            let cert = CapturedX509Certificate::from_der(block.contents().to_vec())
                .map_err(|e| SignatureError::TrustStore(format!("PEM block #{i} is not a certificate: {e}")))?;
            anchors.push(cert);
        }
        if anchors.is_empty() {
            return Err(SignatureError::TrustStore("no PEM CERTIFICATE block found".to_owned()));
        }
        Ok(Self { anchors })
    }

    /// Adds a DER certificate.
    pub fn add_der(&mut self, der: &[u8]) -> Result<(), SignatureError> {
        let cert = CapturedX509Certificate::from_der(der.to_vec())
            .map_err(|e| SignatureError::TrustStore(format!("not a DER certificate: {e}")))?;
        self.anchors.push(cert);
        Ok(())
    }

    /// Number of anchors.
    pub fn len(&self) -> usize {
        self.anchors.len()
    }

    /// Whether there are no anchors.
    pub fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }

    /// Subjects of the anchors.
    pub fn subjects(&self) -> Vec<String> {
        self.anchors.iter().map(|c| format_name(c.subject_name())).collect()
    }

    /// The anchor that is `cert` itself (same DER, or same public key), or that signed it.
    fn anchor_for(&self, cert: &CapturedX509Certificate) -> Option<&CapturedX509Certificate> {
        self.anchors
            .iter()
            .find(|a| {
                a.constructed_data() == cert.constructed_data()
                    || (a.key_algorithm_oid() == cert.key_algorithm_oid()
                        && a.public_key_data() == cert.public_key_data())
            })
            .or_else(|| self.anchors.iter().find(|a| cert.verify_signed_by_certificate(a).is_ok()))
    }
}

/// True for an unsigned VIB's `sig.pkcs7`: zero length or only whitespace.
pub fn is_empty_signature(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_whitespace)
}

/// Decodes `sig.pkcs7` (PEM or DER) into a SignedData.
pub fn parse_signature(sig: &[u8]) -> Result<SignedData, SignatureError> {
    if is_empty_signature(sig) {
        return Err(SignatureError::Unsigned);
    }
    let trimmed = sig.trim_ascii();
    let der;
    let ber: &[u8] = if trimmed.starts_with(b"-----BEGIN") {
        let block = pem::parse(trimmed).map_err(SignatureError::MalformedPem)?;
        if !PEM_TAGS.contains(&block.tag()) {
            return Err(SignatureError::UnexpectedPemTag { tag: block.tag().to_owned() });
        }
        der = block.into_contents();
        &der
    } else {
        sig
    };
    SignedData::parse_ber(ber).map_err(SignatureError::MalformedCms)
}

/// Verifies `sig.pkcs7` as a detached signature over `descriptor` (the exact descriptor.xml
/// member bytes); with `trust`, also requires a verified chain to one of its anchors.
///
/// Every signer must verify; the summary describes the first.
pub fn verify_vib_signature(
    sig: &[u8],
    descriptor: &[u8],
    trust: Option<&TrustStore>,
) -> Result<SignerSummary, SignatureError> {
    let signed_data = parse_signature(sig)?;
    let certificates: Vec<&CapturedX509Certificate> = signed_data.certificates().collect();
    let mut summary = None;
    for signer in signed_data.signers() {
        let cert = signer_certificate(signer, &certificates)?;
        let subject = format_name(cert.subject_name());
        verify_signer(signer, &signed_data, descriptor, &subject)?;
        let trust_anchor = match trust {
            Some(store) => Some(check_trust(cert, &certificates, store, &subject)?),
            None => None,
        };
        if summary.is_none() {
            summary = Some(SignerSummary {
                subject,
                issuer: format_name(cert.issuer_name()),
                serial: format_serial(cert.serial_number_asn1().as_slice()),
                signing_time: signer
                    .signed_attributes()
                    .and_then(|a| a.signing_time())
                    .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
                certificate_count: certificates.len(),
                trust_anchor,
            });
        }
    }
    summary.ok_or(SignatureError::NoSigner)
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

/// Follows issuer signatures from `leaf` through `embedded` until an anchor vouches for one.
fn check_trust(
    leaf: &CapturedX509Certificate,
    embedded: &[&CapturedX509Certificate],
    store: &TrustStore,
    signer: &str,
) -> Result<String, SignatureError> {
    let mut current = leaf;
    let mut used = vec![false; embedded.len()];
    for _ in 0..MAX_CHAIN_LEN {
        if let Some(anchor) = store.anchor_for(current) {
            return Ok(format_name(anchor.subject_name()));
        }
        let next = embedded.iter().enumerate().find(|(i, c)| {
            !used.get(*i).copied().unwrap_or(true)
                && c.constructed_data() != current.constructed_data()
                && current.verify_signed_by_certificate(c).is_ok()
        });
        match next {
            Some((i, c)) => {
                if let Some(u) = used.get_mut(i) {
                    *u = true;
                }
                current = c;
            }
            None => {
                return Err(SignatureError::Untrusted {
                    signer: signer.to_owned(),
                    stopped_at: format_name(current.subject_name()),
                    reason: "no trust anchor or embedded certificate signed it",
                });
            }
        }
    }
    Err(SignatureError::Untrusted {
        signer: signer.to_owned(),
        stopped_at: format_name(current.subject_name()),
        reason: "chain too long",
    })
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
pub(crate) mod tests {
    use super::*;
    use x509_certificate::{
        InMemorySigningKeyPair, KeyAlgorithm, Signature, Signer, X509Certificate, X509CertificateBuilder, rfc5280,
    };

    /// A fresh Ed25519 key pair and self-signed certificate named `cn`.
    pub(crate) fn self_signed(cn: &str) -> (CapturedX509Certificate, InMemorySigningKeyPair) {
        let mut builder = X509CertificateBuilder::default();
        // RDNs in the usual most-significant-first order: O, then CN.
        builder.subject().append_organization_utf8_string("esxlcm tests").unwrap();
        builder.subject().append_common_name_utf8_string(cn).unwrap();
        builder.create_with_random_keypair(KeyAlgorithm::Ed25519).unwrap()
    }

    /// A certificate for `cn` with a fresh key, issued (signed) by `issuer`.
    fn issued_by(
        cn: &str,
        issuer: &CapturedX509Certificate,
        issuer_key: &InMemorySigningKeyPair,
    ) -> (CapturedX509Certificate, InMemorySigningKeyPair) {
        let (own, key) = self_signed(cn);
        let mut cert: rfc5280::Certificate = own.into();
        cert.tbs_certificate.issuer = issuer.subject_name().clone();
        cert.tbs_certificate.raw_data = None;
        let mut tbs = Vec::new();
        bcder::encode::Values::write_encoded(&cert.tbs_certificate.encode_ref(), bcder::Mode::Der, &mut tbs).unwrap();
        let signature: Vec<u8> =
            <InMemorySigningKeyPair as Signer<Signature>>::try_sign(issuer_key, &tbs).unwrap().into();
        cert.signature = bcder::BitString::new(0, signature.into());
        let der = X509Certificate::from(cert).encode_der().unwrap();
        (CapturedX509Certificate::from_der(der).unwrap(), key)
    }

    /// A detached DER signature over `content` with `cert`/`key`, embedding `cert` and
    /// `extra`, with content-type, message-digest and signing-time signed attributes. (The CMS
    /// crate's own `SignedDataBuilder` is behind its `http` feature, which is off.)
    pub(crate) fn sign(
        content: &[u8],
        cert: &CapturedX509Certificate,
        key: &InMemorySigningKeyPair,
        extra: &[&CapturedX509Certificate],
    ) -> Vec<u8> {
        use bcder::encode::{PrimitiveContent, Values};
        use bcder::{Captured, Mode, OctetString, Oid};
        use cryptographic_message_syntax::Bytes;
        use cryptographic_message_syntax::asn1::rfc5652 as cms;
        use sha2::Digest;
        use x509_certificate::asn1time::UtcTime;
        use x509_certificate::rfc5652::{Attribute, AttributeValue};
        use x509_certificate::{DigestAlgorithm, Sign};

        let oid = |o: &[u8]| Oid(Bytes::copy_from_slice(o));
        let digest = sha2::Sha256::digest(content);
        let mut attributes = cms::SignedAttributes::default();
        attributes.push(Attribute {
            typ: oid(cms::OID_CONTENT_TYPE.as_ref()),
            values: vec![AttributeValue::new(Captured::from_values(
                Mode::Der,
                oid(cms::OID_ID_DATA.as_ref()).encode_ref(),
            ))],
        });
        attributes.push(Attribute {
            typ: oid(cms::OID_MESSAGE_DIGEST.as_ref()),
            values: vec![AttributeValue::new(Captured::from_values(Mode::Der, digest.as_slice().encode()))],
        });
        attributes.push(Attribute {
            typ: oid(cms::OID_SIGNING_TIME.as_ref()),
            values: vec![AttributeValue::new(Captured::from_values(Mode::Der, UtcTime::now().encode()))],
        });
        let digest_algorithm =
            cms::DigestAlgorithmIdentifier { algorithm: DigestAlgorithm::Sha256.into(), parameters: None };
        let mut signer_info = cms::SignerInfo {
            version: cms::CmsVersion::V1,
            sid: cms::SignerIdentifier::IssuerAndSerialNumber(cms::IssuerAndSerialNumber {
                issuer: cert.issuer_name().clone(),
                serial_number: cert.serial_number_asn1().clone(),
            }),
            digest_algorithm: digest_algorithm.clone(),
            signed_attributes: Some(attributes.as_sorted().unwrap()),
            signature_algorithm: key.signature_algorithm().unwrap().into(),
            signature: OctetString::new(Bytes::new()),
            unsigned_attributes: None,
            signed_attributes_data: None,
        };
        let to_sign = signer_info.signed_attributes_digested_content().unwrap().unwrap();
        let signature: Vec<u8> = <InMemorySigningKeyPair as Signer<Signature>>::try_sign(key, &to_sign).unwrap().into();
        signer_info.signature = OctetString::new(Bytes::from(signature));

        let mut digest_algorithms = cms::DigestAlgorithmIdentifiers::default();
        digest_algorithms.push(digest_algorithm);
        let mut signer_infos = cms::SignerInfos::default();
        signer_infos.push(signer_info);
        let mut certificates = cms::CertificateSet::default();
        for c in std::iter::once(cert).chain(extra.iter().copied()) {
            certificates.push(cms::CertificateChoices::Certificate(Box::new(c.clone().into())));
        }
        let signed_data = cms::SignedData {
            version: cms::CmsVersion::V1,
            digest_algorithms,
            content_info: cms::EncapsulatedContentInfo { content_type: oid(cms::OID_ID_DATA.as_ref()), content: None },
            certificates: Some(certificates),
            crls: None,
            signer_infos,
        };
        let mut der = Vec::new();
        signed_data.encode_ref().write_encoded(Mode::Der, &mut der).unwrap();
        der
    }

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

    #[test]
    fn trust_store_pins_and_chains() {
        let (root, root_key) = self_signed("Test Root");
        let (mid, mid_key) = issued_by("Test Intermediate", &root, &root_key);
        let (leaf, leaf_key) = issued_by("Test Leaf", &mid, &mid_key);
        let sig = sign(DESCRIPTOR, &leaf, &leaf_key, &[&mid]);
        let roots = TrustStore::from_pem(root.encode_pem().as_bytes()).unwrap();

        // leaf -> intermediate (embedded) -> root (anchor).
        let s = verify_vib_signature(&sig, DESCRIPTOR, Some(&roots)).unwrap();
        assert_eq!(s.subject, "CN=Test Leaf, O=esxlcm tests");
        assert_eq!(s.issuer, "CN=Test Intermediate, O=esxlcm tests");
        assert_eq!(s.certificate_count, 2);
        assert_eq!(s.trust_anchor.as_deref(), Some("CN=Test Root, O=esxlcm tests"));

        // Without the intermediate the chain stops at the leaf.
        let sig_no_mid = sign(DESCRIPTOR, &leaf, &leaf_key, &[]);
        let err = verify_vib_signature(&sig_no_mid, DESCRIPTOR, Some(&roots)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "signer CN=Test Leaf, O=esxlcm tests is not trusted: chain stops at \
             CN=Test Leaf, O=esxlcm tests (no trust anchor or embedded certificate signed it)"
        );

        // Pinning the intermediate works; an unrelated anchor does not.
        let mids = TrustStore::from_pem(mid.encode_pem().as_bytes()).unwrap();
        assert!(verify_vib_signature(&sig_no_mid, DESCRIPTOR, Some(&mids)).is_ok());
        let (other, _) = self_signed("Unrelated");
        let mut both = other.encode_pem();
        both.push_str(&leaf.encode_pem());
        let pinned = TrustStore::from_pem(both.as_bytes()).unwrap();
        assert_eq!(pinned.len(), 2);
        assert!(verify_vib_signature(&sig_no_mid, DESCRIPTOR, Some(&pinned)).is_ok());
        let unrelated = TrustStore::from_pem(other.encode_pem().as_bytes()).unwrap();
        let err = verify_vib_signature(&sig, DESCRIPTOR, Some(&unrelated)).unwrap_err();
        match err {
            SignatureError::Untrusted { stopped_at, .. } => {
                // The embedded intermediate was followed before the chain stopped.
                assert_eq!(stopped_at, "CN=Test Intermediate, O=esxlcm tests");
            }
            other => panic!("{other}"),
        }
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
