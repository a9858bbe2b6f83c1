//! `esxlcm mirror` against an HTTPS depot whose certificate a private CA signed: the sync
//! works with the CA given to the source (`mirror add --ca-file`) and fails without it,
//! with an error that names the source and says what to do.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod mirror_support;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use mirror_support::*;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// A test CA and a server certificate for 127.0.0.1 and localhost it signed: (CA PEM,
/// server chain PEM, server key PEM).
fn private_ca() -> (String, String, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.distinguished_name.push(DnType::CommonName, "esxlcm test private CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    leaf.distinguished_name.push(DnType::CommonName, "depot.test");
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();
    (ca_cert.pem(), format!("{}{}", leaf_cert.pem(), ca_cert.pem()), leaf_key.serialize_pem())
}

/// Serve `dir` with esxlcm's depot router over HTTPS on a loopback port.
fn serve_https(dir: &Path, chain_pem: &str, key_pem: &str) -> SocketAddr {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(chain_pem.as_bytes()).collect::<Result<_, _>>().unwrap();
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tls = axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(config));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let dir = dir.to_path_buf();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let app = esxlcm_server::depot_http::router(&dir);
            axum_server::from_tcp_rustls(listener, tls).unwrap().serve(app.into_make_service()).await.unwrap();
        });
    });
    addr
}

#[test]
fn https_depot_behind_a_private_ca_syncs_with_the_ca_and_fails_clearly_without() {
    let dir = tempfile::tempdir().unwrap();
    let (upstream, store) = (dir.path().join("up"), dir.path().join("store"));
    generate(2, &upstream);
    let (ca_pem, chain_pem, key_pem) = private_ca();
    let ca_file = dir.path().join("private-ca.pem");
    std::fs::write(&ca_file, &ca_pem).unwrap();
    let addr = serve_https(&upstream, &chain_pem, &key_pem);
    let url = format!("https://{addr}/vmw-depot-index.xml");
    let s = store.to_str().unwrap();

    ok(&["mirror", "--store", s, "add", "untrusted", &url]);
    let failed = run(&["mirror", "--store", s, "sync", "untrusted"]);
    assert_ne!(failed.code, 0, "{}", failed.stdout);
    let text = format!("{}{}", failed.stdout, failed.stderr);
    assert!(text.contains("untrusted: FAILED: source 'untrusted'"), "names the source: {text}");
    assert!(text.contains("certificate"), "says it is about the certificate: {text}");
    assert!(text.contains("--ca-file"), "says what to do: {text}");
    assert!(!store.join("published/untrusted").exists());

    ok(&["mirror", "--store", s, "add", "trusted", &url, "--ca-file", ca_file.to_str().unwrap()]);
    let synced = ok(&["mirror", "--store", s, "sync", "trusted"]);
    assert!(synced.stdout.contains("trusted: published snapshot"), "{}", synced.stdout);
    assert_eq!(tree(&store.join("published/trusted")), tree(&upstream), "byte for byte over HTTPS");
    let again = ok(&["mirror", "--store", s, "sync", "trusted"]);
    assert!(again.stdout.contains("unchanged") && again.stdout.contains("3 not modified"), "{}", again.stdout);
    assert_eq!(verify_json(&store)["clean"], true);
}
