//! Throwaway signing chains for the tests of VIB signature checks: fresh Ed25519
//! certificates (self-signed, or a root → intermediate → signer chain with chosen
//! extensions and validity) and detached CMS signatures over a `descriptor.xml`, in the
//! shape of a VIB's `sig.pkcs7`. Every run makes new keys, so nothing here can ever be
//! trusted by accident: a test that wants it trusted puts the root (or the signer) in a
//! trust store itself.
//!
//! Ed25519 throughout: the CMS encoding here re-encodes nothing around the embedded
//! certificates, and an Ed25519 signature is deterministic (the same content, time and key
//! sign to the same bytes; the depot generator builds each VIB twice and relies on it).

use bcder::encode::{PrimitiveContent, Values};
use bcder::{Captured, Mode, OctetString, Oid};
use cryptographic_message_syntax::Bytes;
use cryptographic_message_syntax::asn1::rfc5652 as cms;
use sha2::Digest as _;
use x509_certificate::asn1time::UtcTime;
use x509_certificate::rfc5652::{Attribute, AttributeValue};
use x509_certificate::{
    CapturedX509Certificate, DigestAlgorithm, InMemorySigningKeyPair, KeyAlgorithm, Sign as _, Signature, Signer,
    X509CertificateBuilder,
};

/// A fresh Ed25519 key pair and self-signed certificate `CN=<cn>, O=esxlcm tests` (no
/// extensions).
pub fn self_signed(cn: &str) -> (CapturedX509Certificate, InMemorySigningKeyPair) {
    let mut builder = X509CertificateBuilder::default();
    // RDNs in the usual most-significant-first order: O, then CN.
    builder.subject().append_organization_utf8_string("esxlcm tests").unwrap();
    builder.subject().append_common_name_utf8_string(cn).unwrap();
    builder.create_with_random_keypair(KeyAlgorithm::Ed25519).unwrap()
}

/// A detached DER signature over `content` with `cert`/`key`, embedding `cert` and
/// `extra`, with content-type, message-digest and signing-time (now) signed attributes.
pub fn sign(
    content: &[u8],
    cert: &CapturedX509Certificate,
    key: &InMemorySigningKeyPair,
    extra: &[&CapturedX509Certificate],
) -> Vec<u8> {
    sign_at(content, cert, key, extra, Some(chrono::Utc::now()))
}

/// [`sign`] with the given `signingTime` (none: no such attribute). (The CMS crate's own
/// `SignedDataBuilder` is behind its `http` feature, which is off.)
pub fn sign_at(
    content: &[u8],
    cert: &CapturedX509Certificate,
    key: &InMemorySigningKeyPair,
    extra: &[&CapturedX509Certificate],
    signing_time: Option<chrono::DateTime<chrono::Utc>>,
) -> Vec<u8> {
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
    if let Some(t) = signing_time {
        attributes.push(Attribute {
            typ: oid(cms::OID_SIGNING_TIME.as_ref()),
            values: vec![AttributeValue::new(Captured::from_values(Mode::Der, UtcTime::from(t).encode()))],
        });
    }
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
    // Encoded by hand around the certificates' own bytes: the crate's CertificateSet
    // re-encodes them (adding NULL algorithm parameters webpki refuses).
    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = content.len();
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes: Vec<u8> = len.to_be_bytes().iter().copied().skip_while(|b| *b == 0).collect();
            out.push(0x80 | bytes.len() as u8);
            out.extend(bytes);
        }
        out.extend_from_slice(content);
        out
    }
    fn der(values: impl Values) -> Vec<u8> {
        let mut out = Vec::new();
        values.write_encoded(Mode::Der, &mut out).unwrap();
        out
    }
    let content_info = cms::EncapsulatedContentInfo { content_type: oid(cms::OID_ID_DATA.as_ref()), content: None };
    let mut certs = Vec::new();
    for c in std::iter::once(cert).chain(extra.iter().copied()) {
        certs.extend_from_slice(c.constructed_data());
    }
    let mut inner = der(cms::CmsVersion::V1.encode());
    inner.extend(der(digest_algorithms.encode_ref()));
    inner.extend(der(content_info.encode_ref()));
    inner.extend(tlv(0xa0, &certs));
    inner.extend(der(signer_infos.encode_ref()));
    let mut outer = der(oid(cms::OID_ID_SIGNED_DATA.as_ref()).encode_ref());
    outer.extend(tlv(0xa0, &tlv(0x30, &inner)));
    tlv(0x30, &outer)
}

/// A throwaway certificate made with rcgen (Ed25519: the CMS encoder used here re-encodes
/// embedded certificates, and would add NULL parameters to an ECDSA algorithm), and its key.
pub struct TestCert {
    pub cert: CapturedX509Certificate,
    pub key: InMemorySigningKeyPair,
    params: rcgen::CertificateParams,
    rkey: rcgen::KeyPair,
}

impl TestCert {
    /// The certificate as PEM (what a trust anchor file holds).
    pub fn pem(&self) -> String {
        self.cert.encode_pem()
    }
}

/// What a [`TestCert`] says about itself.
#[derive(Clone)]
pub struct Spec {
    pub ca: rcgen::IsCa,
    pub key_usages: Vec<rcgen::KeyUsagePurpose>,
    pub eku: Vec<rcgen::ExtendedKeyUsagePurpose>,
    pub not_before: (i32, u8, u8),
    pub not_after: (i32, u8, u8),
}

impl Spec {
    /// An unconstrained CA (keyCertSign, cRLSign), valid 2020–2090.
    pub fn ca() -> Self {
        Self {
            ca: rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained),
            key_usages: vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign],
            eku: Vec::new(),
            not_before: (2020, 1, 1),
            not_after: (2090, 1, 1),
        }
    }

    /// An end-entity code-signing certificate (CA:FALSE, digitalSignature, codeSigning).
    pub fn signer() -> Self {
        Self {
            ca: rcgen::IsCa::ExplicitNoCa,
            key_usages: vec![rcgen::KeyUsagePurpose::DigitalSignature],
            eku: vec![rcgen::ExtendedKeyUsagePurpose::CodeSigning],
            ..Self::ca()
        }
    }
}

/// A certificate `CN=<cn>, O=esxlcm tests` of `spec`, issued by `issuer` (self-signed
/// without one).
pub fn make_cert(cn: &str, spec: &Spec, issuer: Option<&TestCert>) -> TestCert {
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::OrganizationName, "esxlcm tests");
    params.distinguished_name.push(rcgen::DnType::CommonName, cn);
    params.is_ca = spec.ca;
    params.key_usages = spec.key_usages.clone();
    params.extended_key_usages = spec.eku.clone();
    params.not_before = rcgen::date_time_ymd(spec.not_before.0, spec.not_before.1, spec.not_before.2);
    params.not_after = rcgen::date_time_ymd(spec.not_after.0, spec.not_after.1, spec.not_after.2);
    let rkey = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let der = match issuer {
        None => params.self_signed(&rkey).unwrap(),
        Some(i) => params.signed_by(&rkey, &rcgen::Issuer::from_params(&i.params, &i.rkey)).unwrap(),
    };
    let cert = CapturedX509Certificate::from_der(der.der().to_vec()).unwrap();
    let key = InMemorySigningKeyPair::from_pkcs8_der(rkey.serialize_der()).unwrap();
    TestCert { cert, key, params, rkey }
}

/// A generator's signer: signs a `descriptor.xml` as `leaf`, embedding `extra`, with the
/// fixed `signing_time` (so the same descriptor always signs to the same bytes).
pub fn descriptor_signer(
    leaf: std::sync::Arc<TestCert>,
    extra: Vec<CapturedX509Certificate>,
    signing_time: chrono::DateTime<chrono::Utc>,
) -> impl Fn(&[u8]) -> Vec<u8> + Send + Sync + 'static {
    move |descriptor| {
        let extra: Vec<&CapturedX509Certificate> = extra.iter().collect();
        sign_at(descriptor, &leaf.cert, &leaf.key, &extra, Some(signing_time))
    }
}

/// Root (anchor) → intermediate → signer (`Test Root`, `Test Intermediate`, `Test Signer`),
/// with the intermediate's and the signer's specs.
pub fn chain(mid: &Spec, leaf: &Spec) -> (TestCert, TestCert, TestCert) {
    let root = make_cert("Test Root", &Spec::ca(), None);
    let mid = make_cert("Test Intermediate", mid, Some(&root));
    let leaf = make_cert("Test Signer", leaf, Some(&mid));
    (root, mid, leaf)
}
