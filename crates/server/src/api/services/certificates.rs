//! X.509 for the certificate-management services: PEM input checked with errors that say
//! what is wrong, and a certificate described as vCenter's `Tls.Info` (a few extensions
//! are read here with a small DER walker: x509-certificate exposes them only as bytes).

use base64::Engine as _;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use serde_json::{Value, json};
use x509_certificate::X509Certificate;
use x509_certificate::rfc5280::Version;

use crate::api::errors::ApiError;
use crate::api::typed::format_datetime;

const BEGIN_CERT: &str = "-----BEGIN CERTIFICATE-----";

/// A certificate read from PEM, with its original bytes as PEM again (x509-certificate's own
/// encoder would normalise it, and a changed certificate no longer matches its signature).
pub struct PemCertificate {
    pub cert: X509Certificate,
    pub pem: String,
}

/// The certificates of one PEM text (`what` names it in errors, e.g. `cert_chain[1]`).
pub fn parse_pem(text: &str, what: &str) -> Result<Vec<PemCertificate>, ApiError> {
    if text.contains("PRIVATE KEY-----") {
        return Err(ApiError::invalid_argument(format!(
            "{what} contains a private key: a trusted root chain holds certificates only; remove the key"
        )));
    }
    let blocks = text.matches(BEGIN_CERT).count();
    if blocks == 0 {
        return Err(ApiError::invalid_argument(format!(
            "{what} holds no PEM certificate: expected one or more '{BEGIN_CERT}' … '-----END CERTIFICATE-----' blocks"
        )));
    }
    let unreadable = |reason: String| {
        ApiError::invalid_argument(format!(
            "{what} is not a valid PEM X.509 certificate ({reason}); check it was copied whole"
        ))
    };
    let ders = CertificateDer::pem_slice_iter(text.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| unreadable(e.to_string()))?;
    if ders.len() != blocks {
        return Err(unreadable(format!("{} of its {blocks} certificate blocks are incomplete", blocks - ders.len())));
    }
    ders.iter()
        .map(|der| {
            let cert = X509Certificate::from_der(der.as_ref()).map_err(|e| unreadable(e.to_string()))?;
            Ok(PemCertificate { cert, pem: to_pem(der.as_ref()) })
        })
        .collect()
}

/// DER as a PEM `CERTIFICATE` block (64 characters a line).
fn to_pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from(BEGIN_CERT);
    out.push('\n');
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// `vcenter.certificate_management.vcenter.tls.info` of `cert` (`pem`: its PEM form).
/// `path_length_constraint` is as Java's `getBasicConstraints()` (which vCenter reports):
/// -1 for a certificate that is not a CA, `i32::MAX` for a CA without a limit.
pub fn tls_info(cert: &X509Certificate, pem: &str) -> Value {
    let tbs = cert.tbs_certificate();
    let version = match tbs.version {
        None | Some(Version::V1) => 1,
        Some(Version::V2) => 2,
        Some(Version::V3) => 3,
    };
    let serial = cert.serial_number_asn1().as_slice();
    let serial = serial.strip_prefix(&[0u8]).filter(|s| !s.is_empty()).unwrap_or(serial);
    let thumbprint = cert.sha1_fingerprint().map(|d| colon_hex(d.as_ref())).unwrap_or_default();
    let mut ext = Extensions::default();
    for e in cert.iter_extensions() {
        ext.read(&e.id.to_string(), &e.value.to_bytes());
    }
    let path_length = match (ext.is_ca, ext.path_len) {
        (false, _) => -1,
        (true, Some(n)) => n,
        (true, None) => i64::from(i32::MAX),
    };
    json!({
        "version": version,
        "serial_number": hex::encode(serial),
        "signature_algorithm": signature_name(&cert.signature_algorithm_oid().to_string()),
        "issuer_dn": cert.issuer_name().user_friendly_str().unwrap_or_default(),
        "valid_from": format_datetime(cert.validity_not_before()),
        "valid_to": format_datetime(cert.validity_not_after()),
        "subject_dn": cert.subject_name().user_friendly_str().unwrap_or_default(),
        "thumbprint": thumbprint,
        "is_CA": ext.is_ca,
        "path_length_constraint": path_length,
        "key_usage": ext.key_usage,
        "extended_key_usage": ext.extended_key_usage,
        "subject_alternative_name": ext.alt_names,
        "authority_information_access_uri": ext.aia_uris,
        "cert": pem,
    })
}

fn colon_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

/// Java's names (what vCenter shows) for the usual signature algorithms.
fn signature_name(oid: &str) -> String {
    match oid {
        "1.2.840.113549.1.1.5" => "SHA1withRSA",
        "1.2.840.113549.1.1.11" => "SHA256withRSA",
        "1.2.840.113549.1.1.12" => "SHA384withRSA",
        "1.2.840.113549.1.1.13" => "SHA512withRSA",
        "1.2.840.113549.1.1.10" => "RSASSA-PSS",
        "1.2.840.10045.4.3.2" => "SHA256withECDSA",
        "1.2.840.10045.4.3.3" => "SHA384withECDSA",
        "1.2.840.10045.4.3.4" => "SHA512withECDSA",
        "1.3.101.112" => "Ed25519",
        other => other,
    }
    .to_owned()
}

/// The extensions `Tls.Info` reports.
#[derive(Default)]
struct Extensions {
    is_ca: bool,
    path_len: Option<i64>,
    key_usage: Vec<String>,
    extended_key_usage: Vec<String>,
    alt_names: Vec<String>,
    aia_uris: Vec<String>,
}

const KEY_USAGES: [&str; 9] = [
    "digitalSignature",
    "nonRepudiation",
    "keyEncipherment",
    "dataEncipherment",
    "keyAgreement",
    "keyCertSign",
    "cRLSign",
    "encipherOnly",
    "decipherOnly",
];

impl Extensions {
    /// Read one extension's DER value; what does not parse is left out.
    fn read(&mut self, oid: &str, value: &[u8]) {
        let Some((tag, body, _)) = tlv(value) else { return };
        match (oid, tag) {
            ("2.5.29.15", 0x03) => self.key_usage = bit_names(body),
            ("2.5.29.19", 0x30) => {
                for (tag, content) in items(body) {
                    match tag {
                        0x01 => self.is_ca = content.first().is_some_and(|b| *b != 0),
                        0x02 => self.path_len = unsigned(content),
                        _ => {}
                    }
                }
            }
            ("2.5.29.37", 0x30) => {
                self.extended_key_usage =
                    items(body).filter(|(t, _)| *t == 0x06).map(|(_, c)| eku_name(&oid_text(c))).collect();
            }
            ("2.5.29.17", 0x30) => self.alt_names = items(body).filter_map(|(t, c)| general_name(t, c)).collect(),
            ("1.3.6.1.5.5.7.1.1", 0x30) => {
                for (_, access) in items(body).filter(|(t, _)| *t == 0x30) {
                    let uris = items(access).filter(|(t, _)| *t == 0x86);
                    self.aia_uris.extend(uris.map(|(_, c)| String::from_utf8_lossy(c).into_owned()));
                }
            }
            _ => {}
        }
    }
}

/// One DER TLV: (tag, content, rest); `None` when malformed.
fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = b.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        (rest[..n].iter().fold(0usize, |l, &x| (l << 8) | usize::from(x)), &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The TLVs of a constructed value's content.
fn items(mut content: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    std::iter::from_fn(move || {
        let (tag, c, rest) = tlv(content)?;
        content = rest;
        Some((tag, c))
    })
}

fn unsigned(content: &[u8]) -> Option<i64> {
    (content.len() <= 4).then(|| content.iter().fold(0i64, |n, &b| (n << 8) | i64::from(b)))
}

fn bit_names(bits: &[u8]) -> Vec<String> {
    let Some((_, bytes)) = bits.split_first() else { return Vec::new() };
    KEY_USAGES
        .iter()
        .enumerate()
        .filter(|(i, _)| bytes.get(i / 8).is_some_and(|b| b & (0x80 >> (i % 8)) != 0))
        .map(|(_, n)| (*n).to_owned())
        .collect()
}

fn oid_text(c: &[u8]) -> String {
    let Some((&first, rest)) = c.split_first() else { return String::new() };
    let mut parts = vec![u64::from(first / 40).min(2), u64::from(first) - u64::from(first / 40).min(2) * 40];
    let mut acc = 0u64;
    for &b in rest {
        acc = (acc << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            parts.push(acc);
            acc = 0;
        }
    }
    parts.iter().map(u64::to_string).collect::<Vec<_>>().join(".")
}

fn eku_name(oid: &str) -> String {
    match oid {
        "1.3.6.1.5.5.7.3.1" => "serverAuth",
        "1.3.6.1.5.5.7.3.2" => "clientAuth",
        "1.3.6.1.5.5.7.3.3" => "codeSigning",
        "1.3.6.1.5.5.7.3.4" => "emailProtection",
        "1.3.6.1.5.5.7.3.8" => "timeStamping",
        "1.3.6.1.5.5.7.3.9" => "OCSPSigning",
        other => other,
    }
    .to_owned()
}

/// DNS names, e-mail addresses, URIs and IP addresses of a GeneralName.
fn general_name(tag: u8, c: &[u8]) -> Option<String> {
    match tag {
        0x81 | 0x82 | 0x86 => Some(String::from_utf8_lossy(c).into_owned()),
        0x87 => match c.len() {
            4 => <[u8; 4]>::try_from(c).ok().map(|a| std::net::Ipv4Addr::from(a).to_string()),
            16 => <[u8; 16]>::try_from(c).ok().map(|a| std::net::Ipv6Addr::from(a).to_string()),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};

    #[test]
    fn describes_a_server_certificate() {
        let mut p = CertificateParams::new(vec!["depot.example".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = p.self_signed(&KeyPair::generate().unwrap()).unwrap();
        let pem = cert.pem();
        let parsed = parse_pem(&pem, "t").unwrap();
        assert_eq!(parsed[0].pem.replace('\r', ""), pem.replace('\r', ""), "the original bytes");
        let info = tls_info(&parsed[0].cert, &parsed[0].pem);
        assert_eq!(info["version"], 3);
        assert_eq!(info["is_CA"], false);
        assert_eq!(info["path_length_constraint"], -1);
        assert_eq!(info["key_usage"], json!(["digitalSignature"]));
        assert_eq!(info["extended_key_usage"], json!(["serverAuth"]));
        assert_eq!(info["subject_alternative_name"], json!(["depot.example", "127.0.0.1"]));
        assert_eq!(info["signature_algorithm"], "SHA256withECDSA");
        assert_eq!(info["thumbprint"].as_str().unwrap().len(), 20 * 3 - 1);
    }

    #[test]
    fn describes_a_ca_with_a_path_length() {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Constrained(2));
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let pem = p.self_signed(&KeyPair::generate().unwrap()).unwrap().pem();
        let info = tls_info(&parse_pem(&pem, "t").unwrap()[0].cert, &pem);
        assert_eq!(info["is_CA"], true);
        assert_eq!(info["path_length_constraint"], 2);
        assert_eq!(info["key_usage"], json!(["keyCertSign", "cRLSign"]));
    }

    #[test]
    fn bad_pem_says_what_is_wrong() {
        let msg = |r: Result<Vec<PemCertificate>, ApiError>| match r {
            Ok(_) => panic!("accepted"),
            Err(e) => e.messages[0].default_message.clone(),
        };
        assert!(msg(parse_pem("hello", "cert_chain[0]")).contains("no PEM certificate"));
        let garbled = format!("{BEGIN_CERT}\nAAAA\n-----END CERTIFICATE-----\n");
        assert!(msg(parse_pem(&garbled, "cert_chain[1]")).starts_with("cert_chain[1] is not a valid PEM X.509"));
        let cert = CertificateParams::new(vec!["x".to_owned()])
            .unwrap()
            .self_signed(&KeyPair::generate().unwrap())
            .unwrap()
            .pem();
        let cut = &cert[..cert.len() / 2];
        assert!(msg(parse_pem(cut, "c")).contains("check it was copied whole"));
        let key = KeyPair::generate().unwrap().serialize_pem();
        assert!(msg(parse_pem(&key, "x")).contains("private key"));
    }
}
