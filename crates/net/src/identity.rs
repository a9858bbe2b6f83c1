//! A client certificate for depots that require mutual TLS: the certificate chain and its
//! private key, read from PEM files and checked before any connection (readable, a key that
//! belongs to the certificate, inside its validity), so that a mistake is reported when the
//! source is added, naming the file, never the key. Client certificates are given to mirror
//! sources only, hence the `esxlcm mirror add` advice in the messages.

use std::path::{Path, PathBuf};

use crate::NetError;
use crate::redact::error_chain;

/// What to do about a client certificate that cannot be used.
const CLIENT_CERT_TODO: &str = "give the source a PEM certificate and its unencrypted private key: \
     `esxlcm mirror remove NAME`, then `esxlcm mirror add NAME URL --client-cert CERT.pem --client-key KEY.pem`";

/// A source's client certificate (mutual TLS): the certificate chain and its private key,
/// read from PEM files, checked to belong together. The key is held only as the PEM handed
/// to the TLS client; `Debug` shows the certificate file and subject alone.
pub struct ClientIdentity {
    /// The chain, then the key, as PEM. Secret.
    pem: Vec<u8>,
    /// The certificate file, for messages.
    pub cert_file: PathBuf,
    /// The end-entity certificate's subject (`CN=…, O=…`).
    pub subject: String,
}

impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("cert_file", &self.cert_file)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

const KEY_TAGS: [&str; 3] = ["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"];

impl ClientIdentity {
    /// Read the certificate chain from `cert_file` and the private key from `key_file`, or
    /// from `cert_file` too when it holds both. Errors say which file and what is wrong,
    /// never what the key is.
    pub fn load(cert_file: &Path, key_file: Option<&Path>) -> Result<Self, NetError> {
        let fail = |file: &Path, problem: String| NetError::ClientCertificate { file: file.to_path_buf(), problem };
        let cert_pems = read_pem(cert_file)?;
        let chain: Vec<&pem::Pem> = cert_pems.iter().filter(|p| p.tag() == "CERTIFICATE").collect();
        let Some(leaf) = chain.first() else {
            return Err(fail(
                cert_file,
                format!("holds no PEM certificate ('-----BEGIN CERTIFICATE-----'); {CLIENT_CERT_TODO}"),
            ));
        };
        let subject = certificate_subject(leaf.contents()).map_err(|problem| fail(cert_file, problem))?;
        check_validity(leaf.contents(), chrono::Utc::now()).map_err(|problem| fail(cert_file, problem))?;
        let key_pems;
        let (key_path, key_source) = match key_file {
            Some(k) if k != cert_file => {
                key_pems = read_pem(k)?;
                (k, &key_pems)
            }
            _ => (cert_file, &cert_pems),
        };
        if key_source.iter().any(|p| {
            p.tag() == "ENCRYPTED PRIVATE KEY" || p.headers().get("Proc-Type").is_some_and(|v| v.contains("ENCRYPTED"))
        }) {
            return Err(fail(
                key_path,
                "the private key is encrypted; esxlcm needs it unencrypted (`openssl pkey -in KEY.pem -out \
                 plain-key.pem`, kept readable only by the account that syncs)"
                    .into(),
            ));
        }
        let keys: Vec<&pem::Pem> = key_source.iter().filter(|p| KEY_TAGS.contains(&p.tag())).collect();
        let key = match keys.as_slice() {
            [one] => *one,
            [] if key_file.is_none() => {
                return Err(fail(
                    cert_file,
                    "holds a certificate but no private key; give the key with --client-key KEY.pem (or put \
                     both in one PEM file)"
                        .into(),
                ));
            }
            [] => return Err(fail(key_path, format!("holds no PEM private key; {CLIENT_CERT_TODO}"))),
            _ => return Err(fail(key_path, "holds more than one private key; keep only the certificate's".into())),
        };
        check_key_matches(&chain, key).map_err(|problem| {
            let problem = match key_file {
                Some(k) if k != cert_file => format!("{problem} (key file {})", k.display()),
                _ => problem,
            };
            fail(cert_file, problem)
        })?;
        let mut parts: Vec<pem::Pem> = chain.iter().map(|p| pem::Pem::new("CERTIFICATE", p.contents())).collect();
        parts.push(pem::Pem::new(key.tag(), key.contents()));
        let config = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
        let pem = pem::encode_many_config(&parts, config).into_bytes();
        Ok(Self { pem, cert_file: cert_file.to_path_buf(), subject })
    }

    pub(crate) fn reqwest_identity(&self) -> Result<reqwest::Identity, NetError> {
        reqwest::Identity::from_pem(&self.pem).map_err(|e| NetError::ClientCertificate {
            file: self.cert_file.clone(),
            problem: format!("the TLS client cannot use it ({}); {CLIENT_CERT_TODO}", error_chain(&e)),
        })
    }
}

/// The subject of the first certificate in a PEM file, for listings.
pub fn client_certificate_subject(cert_file: &Path) -> Result<String, NetError> {
    let pems = read_pem(cert_file)?;
    let leaf = pems.iter().find(|p| p.tag() == "CERTIFICATE").ok_or_else(|| NetError::ClientCertificate {
        file: cert_file.to_path_buf(),
        problem: "holds no PEM certificate".into(),
    })?;
    certificate_subject(leaf.contents())
        .map_err(|problem| NetError::ClientCertificate { file: cert_file.to_path_buf(), problem })
}

fn read_pem(file: &Path) -> Result<Vec<pem::Pem>, NetError> {
    let fail = |problem: String| NetError::ClientCertificate { file: file.to_path_buf(), problem };
    let bytes = std::fs::read(file).map_err(|e| fail(format!("cannot read it ({e}); {CLIENT_CERT_TODO}")))?;
    // The parser's messages quote no content, but a key file's bytes stay out of them anyway.
    pem::parse_many(&bytes).map_err(|_| fail(format!("is not a readable PEM file; {CLIENT_CERT_TODO}")))
}

fn certificate_subject(der: &[u8]) -> Result<String, String> {
    let cert = parse_certificate(der)?;
    let subject = cert.subject_name().user_friendly_str().unwrap_or_default();
    Ok(if subject.is_empty() { "(no subject name)".to_owned() } else { subject })
}

fn parse_certificate(der: &[u8]) -> Result<x509_certificate::X509Certificate, String> {
    x509_certificate::X509Certificate::from_der(der)
        .map_err(|e| format!("the first certificate is not a valid X.509 certificate ({e})"))
}

/// A depot refuses a certificate outside its validity; say so before connecting.
fn check_validity(der: &[u8], now: chrono::DateTime<chrono::Utc>) -> Result<(), String> {
    let cert = parse_certificate(der)?;
    let (from, until) = (cert.validity_not_before(), cert.validity_not_after());
    let day = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%SZ").to_string();
    if now > until {
        return Err(format!("the certificate expired on {}; ask the depot's operator for a new one", day(until)));
    }
    if now < from {
        return Err(format!("the certificate is valid only from {} (check this machine's clock)", day(from)));
    }
    Ok(())
}

/// The key must be the one the end-entity certificate certifies (rustls checks the
/// public keys agree), and of a kind the TLS client can sign with.
fn check_key_matches(chain: &[&pem::Pem], key: &pem::Pem) -> Result<(), String> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer};
    let certs: Vec<CertificateDer<'static>> =
        chain.iter().map(|p| CertificateDer::from(p.contents().to_vec())).collect();
    let der = key.contents().to_vec();
    let key_der = match key.tag() {
        "RSA PRIVATE KEY" => PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(der)),
        "EC PRIVATE KEY" => PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(der)),
        _ => PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der)),
    };
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    match rustls::sign::CertifiedKey::from_der(certs, key_der, &provider) {
        Ok(_) => Ok(()),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err("the private key does not belong to this certificate (their public keys differ); give the key the \
             certificate was issued for"
                .into())
        }
        // rustls's messages name the problem (an unsupported key type), not the key.
        Err(e) => Err(format!("the private key cannot be used ({e}); {CLIENT_CERT_TODO}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClientConfig, HttpClient};

    /// A CA-signed client certificate: (certificate PEM, key PEM).
    fn client_pair(cn: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, cn);
        params.distinguished_name.push(rcgen::DnType::OrganizationName, "esxlcm tests");
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// The base64 body of a PEM key, to check no message quotes it.
    fn key_body(key_pem: &str) -> String {
        key_pem.lines().filter(|l| !l.starts_with("-----")).collect()
    }

    #[test]
    fn client_identities_load_from_one_or_two_files_and_name_their_subject() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = client_pair("mirror-01");
        let (cert_file, key_file, both) =
            (dir.path().join("c.pem"), dir.path().join("k.pem"), dir.path().join("b.pem"));
        std::fs::write(&cert_file, &cert).unwrap();
        std::fs::write(&key_file, &key).unwrap();
        std::fs::write(&both, format!("{key}\n{cert}")).unwrap();
        let id = ClientIdentity::load(&cert_file, Some(&key_file)).unwrap();
        assert_eq!(id.subject, "CN=mirror-01, O=esxlcm tests");
        assert!(id.reqwest_identity().is_ok());
        let shown = format!("{id:?}");
        assert!(shown.contains("mirror-01") && !shown.contains(&key_body(&key)[..40]), "{shown}");
        assert_eq!(ClientIdentity::load(&both, None).unwrap().subject, "CN=mirror-01, O=esxlcm tests");
        assert!(ClientIdentity::load(&both, Some(&both)).is_ok(), "the same file as both");
        assert_eq!(client_certificate_subject(&both).unwrap(), "CN=mirror-01, O=esxlcm tests");
        let config = ClientConfig { client_cert: Some(cert_file), client_key: Some(key_file), ..Default::default() };
        assert!(HttpClient::new(&config).is_ok());
    }

    #[test]
    fn unusable_client_certificates_are_refused_saying_which_file_and_why() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = client_pair("mirror-01");
        let (_, other_key) = client_pair("someone-else");
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let cert_file = write("c.pem", &cert);
        let err = |r: Result<ClientIdentity, NetError>| r.unwrap_err().to_string();

        let e = err(ClientIdentity::load(&cert_file, None));
        assert!(e.contains("c.pem") && e.contains("no private key") && e.contains("--client-key"), "{e}");
        let e = err(ClientIdentity::load(&cert_file, Some(&write("wrong.pem", &other_key))));
        assert!(e.contains("does not belong to this certificate") && e.contains("wrong.pem"), "{e}");
        assert!(!e.contains(&key_body(&other_key)[..40]), "no key material: {e}");
        let e = err(ClientIdentity::load(&write("only-key.pem", &key), None));
        assert!(e.contains("only-key.pem") && e.contains("no PEM certificate"), "{e}");
        let e = err(ClientIdentity::load(&cert_file, Some(&write("empty.pem", "nothing here\n"))));
        assert!(e.contains("empty.pem") && e.contains("no PEM private key"), "{e}");
        let e = err(ClientIdentity::load(&dir.path().join("missing.pem"), None));
        assert!(e.contains("missing.pem") && e.contains("cannot read"), "{e}");
        let encrypted = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIBvTBXBgkqhkiG9w0BBQ0wSjApBgkq\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let e = err(ClientIdentity::load(&cert_file, Some(&write("enc.pem", encrypted))));
        assert!(e.contains("encrypted") && e.contains("openssl pkey"), "{e}");
        let e = err(ClientIdentity::load(&write("two.pem", &format!("{cert}{key}{other_key}")), None));
        assert!(e.contains("more than one private key"), "{e}");
        let config = ClientConfig { client_cert: Some(cert_file), ..Default::default() };
        assert!(matches!(HttpClient::new(&config), Err(NetError::ClientCertificate { .. })));
    }

    #[test]
    fn client_certificates_outside_their_validity_are_refused() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        let der = params.self_signed(&key).unwrap().der().to_vec();
        let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&chrono::Utc);
        assert!(check_validity(&der, at("2020-06-01T00:00:00Z")).is_ok());
        let expired = check_validity(&der, at("2026-11-23T00:00:00Z")).unwrap_err();
        assert!(expired.contains("expired on 2021-01-01"), "{expired}");
        let early = check_validity(&der, at("2019-01-01T00:00:00Z")).unwrap_err();
        assert!(early.contains("valid only from 2020-01-01"), "{early}");
    }
}
