//! `esxlcm mirror` against an HTTPS depot whose certificate a private CA signed: the sync
//! works with the CA given to the source (`mirror add --ca-file`) and fails without it,
//! with an error that names the source and says what to do. A depot that requires client
//! certificates (mutual TLS) syncs with the source's `--client-cert`/`--client-key` and
//! refuses a source without one, or with one its CA did not issue.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use crate::mirror_support::*;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};

/// A private test CA that issues server and client certificates.
struct TestCa {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl TestCa {
    fn new(name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca.distinguished_name.push(DnType::CommonName, name);
        let cert = ca.self_signed(&key).unwrap();
        Self { pem: cert.pem(), issuer: Issuer::new(ca, key) }
    }

    /// A certificate for `names` (DNS names or IPs) with this common name: (chain PEM with
    /// the CA, key PEM).
    fn issue(&self, names: &[&str], common_name: &str, usage: ExtendedKeyUsagePurpose) -> (String, String) {
        let mut leaf = CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
        leaf.distinguished_name.push(DnType::CommonName, common_name);
        leaf.distinguished_name.push(DnType::OrganizationName, "esxlcm tests");
        leaf.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = leaf.signed_by(&key, &self.issuer).unwrap();
        (format!("{}{}", cert.pem(), self.pem), key.serialize_pem())
    }
}

/// A test CA and a server certificate for 127.0.0.1 and localhost it signed: (CA PEM,
/// server chain PEM, server key PEM).
fn private_ca() -> (String, String, String) {
    let ca = TestCa::new("esxlcm test private CA");
    let (chain, key) = ca.issue(&["127.0.0.1", "localhost"], "depot.test", ExtendedKeyUsagePurpose::ServerAuth);
    (ca.pem, chain, key)
}

/// Serve `dir` with esxlcm's depot router over HTTPS on a loopback port.
fn serve_https(dir: &Path, chain_pem: &str, key_pem: &str) -> SocketAddr {
    serve_https_with_client_auth(dir, chain_pem, key_pem, None)
}

/// [`serve_https`], requiring a client certificate that `client_ca_pem` issued when given.
fn serve_https_with_client_auth(dir: &Path, chain_pem: &str, key_pem: &str, client_ca_pem: Option<&str>) -> SocketAddr {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(chain_pem.as_bytes()).collect::<Result<_, _>>().unwrap();
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match client_ca_pem {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                roots.add(c.unwrap()).unwrap();
            }
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build().unwrap();
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(certs, key).unwrap();
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

#[test]
fn a_depot_that_requires_client_certificates_syncs_with_the_sources_certificate_only() {
    let dir = tempfile::tempdir().unwrap();
    let (upstream, store) = (dir.path().join("up"), dir.path().join("store"));
    generate(2, &upstream);
    let server_ca = TestCa::new("esxlcm test server CA");
    let (server_chain, server_key) =
        server_ca.issue(&["127.0.0.1", "localhost"], "depot.test", ExtendedKeyUsagePurpose::ServerAuth);
    let client_ca = TestCa::new("esxlcm test client CA");
    let (client_chain, client_key) = client_ca.issue(&[], "mirror-01", ExtendedKeyUsagePurpose::ClientAuth);
    let stranger = TestCa::new("some other CA");
    let (stranger_chain, stranger_key) = stranger.issue(&[], "mirror-01", ExtendedKeyUsagePurpose::ClientAuth);
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_owned()
    };
    let ca_file = write("server-ca.pem", &server_ca.pem);
    let (cert_file, key_file) = (write("mirror.crt", &client_chain), write("mirror.key", &client_key));
    let both_file = write("mirror-both.pem", &format!("{client_chain}{client_key}"));
    let (stranger_cert, stranger_key_file) =
        (write("stranger.crt", &stranger_chain), write("stranger.key", &stranger_key));
    let addr = serve_https_with_client_auth(&upstream, &server_chain, &server_key, Some(&client_ca.pem));
    let url = format!("https://{addr}/vmw-depot-index.xml");
    let s = store.to_str().unwrap();
    let key_body: String = client_key.lines().filter(|l| !l.starts_with("-----")).collect();

    // Without a client certificate: refused, and the message says what to give.
    ok(&["mirror", "--store", s, "add", "nocert", &url, "--ca-file", &ca_file]);
    let failed = run(&["mirror", "--store", s, "sync", "nocert"]);
    assert_ne!(failed.code, 0, "{}", failed.stdout);
    let text = format!("{}{}", failed.stdout, failed.stderr);
    assert!(text.contains("nocert: FAILED: source 'nocert'"), "names the source: {text}");
    assert!(text.contains("requires a client certificate"), "says why: {text}");
    assert!(text.contains("--client-cert") && text.contains("--client-key"), "says what to do: {text}");
    assert!(!store.join("published/nocert").exists());

    // `mirror add` checks the pair: a key of another certificate is refused, never shown.
    let mismatched = run(&[
        "mirror",
        "--store",
        s,
        "add",
        "bad",
        &url,
        "--client-cert",
        &cert_file,
        "--client-key",
        &stranger_key_file,
    ]);
    assert_ne!(mismatched.code, 0);
    assert!(mismatched.stderr.contains("does not belong to this certificate"), "{}", mismatched.stderr);
    assert!(
        mismatched.stderr.contains("mirror.crt") && mismatched.stderr.contains("stranger.key"),
        "{}",
        mismatched.stderr
    );
    let no_key = run(&["mirror", "--store", s, "add", "bad", &url, "--client-cert", &cert_file]);
    assert!(no_key.code != 0 && no_key.stderr.contains("--client-key"), "{}", no_key.stderr);
    let stranger_body: String = stranger_key.lines().filter(|l| !l.starts_with("-----")).collect();
    for r in [&mismatched, &no_key] {
        assert!(!r.stderr.contains(&stranger_body[..40]) && !r.stderr.contains(&key_body[..40]), "no key material");
    }
    assert!(!run(&["mirror", "--store", s, "list"]).stdout.contains("bad"), "nothing added");

    // With it (separate files, or one PEM holding both): synced byte for byte.
    let added = ok(&[
        "mirror",
        "--store",
        s,
        "add",
        "mtls",
        &url,
        "--ca-file",
        &ca_file,
        "--client-cert",
        &cert_file,
        "--client-key",
        &key_file,
    ]);
    assert!(added.stdout.contains("client certificate CN=mirror-01, O=esxlcm tests"), "{}", added.stdout);
    let synced = ok(&["mirror", "--store", s, "sync", "mtls"]);
    assert!(synced.stdout.contains("mtls: published snapshot"), "{}", synced.stdout);
    assert_eq!(tree(&store.join("published/mtls")), tree(&upstream), "byte for byte over mutual TLS");
    ok(&["mirror", "--store", s, "add", "combined", &url, "--ca-file", &ca_file, "--client-cert", &both_file]);
    ok(&["mirror", "--store", s, "sync", "combined"]);
    assert_eq!(tree(&store.join("published/combined")), tree(&upstream));

    // A certificate another CA issued: the depot refuses it, and the message names the file.
    ok(&[
        "mirror",
        "--store",
        s,
        "add",
        "stranger",
        &url,
        "--ca-file",
        &ca_file,
        "--client-cert",
        &stranger_cert,
        "--client-key",
        &stranger_key_file,
    ]);
    let refused = run(&["mirror", "--store", s, "sync", "stranger"]);
    assert_ne!(refused.code, 0);
    assert!(
        refused.stdout.contains("refused this source's client certificate") && refused.stdout.contains("stranger.crt"),
        "{}{}",
        refused.stdout,
        refused.stderr
    );

    // Listings show the certificate's file and subject, never the key.
    let listed = json(&ok(&["mirror", "--store", s, "list", "--json"]));
    let mtls = listed_source(&listed, "mtls");
    assert_eq!(mtls["client_cert"]["file"], cert_file.as_str());
    assert_eq!(mtls["client_cert"]["subject"], "CN=mirror-01, O=esxlcm tests");
    let status = ok(&["mirror", "--store", s, "status"]);
    assert!(
        status.stdout.contains(&format!("client certificate CN=mirror-01, O=esxlcm tests ({cert_file})")),
        "{}",
        status.stdout
    );
    for shown in [listed.to_string(), status.stdout, ok(&["mirror", "--store", s, "status", "--json"]).stdout] {
        assert!(!shown.contains("mirror.key") && !shown.contains(&key_body[..40]), "{shown}");
    }
    assert_eq!(verify_json(&store)["clean"], true);

    // A certificate file gone since `mirror add`: listings and the sync say so.
    std::fs::remove_file(&stranger_cert).unwrap();
    let listed = json(&ok(&["mirror", "--store", s, "list", "--json"]));
    let gone = listed_source(&listed, "stranger");
    assert_eq!(gone["client_cert"]["subject"], serde_json::Value::Null);
    assert!(gone["client_cert"]["problem"].as_str().unwrap().contains("cannot read it"), "{gone}");
    let failed = run(&["mirror", "--store", s, "sync", "stranger"]);
    assert!(failed.code != 0 && failed.stdout.contains("stranger.crt: cannot read it"), "{}", failed.stdout);
}
