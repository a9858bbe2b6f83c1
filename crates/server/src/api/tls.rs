//! HTTPS always: the configured certificate, or one made on first start and kept in
//! `DATA/tls/`: a local CA (`ca.pem`, the file clients trust; its key is not kept) and a
//! server certificate for localhost, the loopback addresses and this host's name.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{Datelike, Utc};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::persist::write_atomic;
use super::users::TlsFiles;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("making the self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error(transparent)]
    Persist(#[from] super::persist::PersistError),
}

/// The server's TLS setup and, when generated, the CA file clients should trust.
pub struct TlsSetup {
    pub config: Arc<rustls::ServerConfig>,
    pub ca_file: Option<PathBuf>,
    pub cert_file: PathBuf,
}

/// The certificate file the server presents: the configured one, else the generated one.
pub fn cert_file(data_dir: &Path, configured: Option<&TlsFiles>) -> PathBuf {
    configured.map_or_else(|| data_dir.join("tls").join("server.pem"), |t| t.cert.clone())
}

/// The configured files, else the generated ones (made now if missing).
pub fn load_or_create(data_dir: &Path, configured: Option<&TlsFiles>) -> Result<TlsSetup, TlsError> {
    let (cert_file, key_file, ca_file) = match configured {
        Some(t) => (t.cert.clone(), t.key.clone(), None),
        None => {
            let dir = data_dir.join("tls");
            let (cert, key, ca) = (cert_file(data_dir, None), dir.join("server.key"), dir.join("ca.pem"));
            if !(cert.exists() && key.exists() && ca.exists()) {
                generate(&dir, &cert, &key, &ca)?;
                tracing::info!(ca = %ca.display(), "made a self-signed certificate authority and server certificate");
            }
            (cert, key, Some(ca))
        }
    };
    let cert_pem = read(&cert_file)?;
    let key_pem = read(&key_file)?;
    let certs = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::File { path: cert_file.clone(), reason: e.to_string() })?;
    if certs.is_empty() {
        return Err(TlsError::File { path: cert_file, reason: "no certificate in the file".into() });
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| TlsError::File { path: key_file.clone(), reason: e.to_string() })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsSetup { config: Arc::new(config), ca_file, cert_file })
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    fs::read(path).map_err(|e| TlsError::File { path: path.to_path_buf(), reason: e.to_string() })
}

fn generate(dir: &Path, cert: &Path, key: &Path, ca: &Path) -> Result<(), TlsError> {
    let now = Utc::now();
    // Calendar fields of a valid date always fit.
    let (y, m, d) = (now.year(), u8::try_from(now.month()).unwrap_or(1), u8::try_from(now.day()).unwrap_or(1));
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    ca_params.distinguished_name.push(DnType::CommonName, "esxlcm local CA");
    ca_params.distinguished_name.push(DnType::OrganizationName, "esxlcm");
    ca_params.not_before = rcgen::date_time_ymd(y, m, d.min(28));
    ca_params.not_after = rcgen::date_time_ymd(y + 10, m, d.min(28));
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
    if let Some(host) = hostname() {
        names.push(host);
    }
    let mut leaf = CertificateParams::new(names)?;
    leaf.distinguished_name.push(DnType::CommonName, "esxlcm");
    leaf.use_authority_key_identifier_extension = true;
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.not_before = rcgen::date_time_ymd(y, m, d.min(28));
    // Under the 825-day limit some clients enforce.
    leaf.not_after = rcgen::date_time_ymd(y + 2, m, d.min(28));
    let leaf_key = KeyPair::generate()?;
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer)?;

    fs::create_dir_all(dir).map_err(|e| TlsError::File { path: dir.to_path_buf(), reason: e.to_string() })?;
    write_atomic(key, leaf_key.serialize_pem().as_bytes())?;
    write_atomic(cert, format!("{}{}", leaf_cert.pem(), ca_cert.pem()).as_bytes())?;
    write_atomic(ca, ca_cert.pem().as_bytes())?;
    Ok(())
}

/// This host's name if it is a usable DNS name.
fn hostname() -> Option<String> {
    let name = fs::read_to_string("/etc/hostname").ok()?.trim().to_owned();
    let ok = !name.is_empty()
        && name != "localhost"
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    ok.then_some(name)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn generated_once_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path(), None).unwrap();
        let pem = fs::read(&first.cert_file).unwrap();
        let again = load_or_create(dir.path(), None).unwrap();
        assert_eq!(fs::read(&again.cert_file).unwrap(), pem);
        assert_eq!(cert_file(dir.path(), None), again.cert_file);
        assert!(again.ca_file.unwrap().exists());
    }

    #[test]
    fn configured_files_are_used_instead() {
        let made = tempfile::tempdir().unwrap();
        load_or_create(made.path(), None).unwrap();
        let other = tempfile::tempdir().unwrap();
        let files = TlsFiles { cert: made.path().join("tls/server.pem"), key: made.path().join("tls/server.key") };
        let setup = load_or_create(other.path(), Some(&files)).unwrap();
        assert!(setup.ca_file.is_none());
        assert!(!other.path().join("tls").exists(), "nothing is generated when files are configured");
        let missing = TlsFiles { cert: other.path().join("nope.pem"), key: files.key };
        assert!(matches!(load_or_create(other.path(), Some(&missing)), Err(TlsError::File { .. })));
    }
}
