//! `esxlcm mirror add`: a new source, its URL, filters, payload policy and network settings
//! (`Store::add_source`).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::builder::{EnumValueParser, TypedValueParser as _};
use clap::{Args, ValueEnum};
use esxlcm_store::Store;
use esxlcm_store::ops::LockWait;
use esxlcm_store::signatures::SignaturePolicy;
use esxlcm_store::source::{PayloadPolicy, SourceConfig, SourceKind};

use crate::cmd::Status;
use crate::cmd::common::NetworkArgs;

#[derive(Debug, Args)]
pub struct AddArgs {
    /// Short name; the source is published under /<NAME>/
    pub name: String,
    /// Online depot (index.xml, vmw-depot-index.xml or its directory) or bundle .zip URL
    /// (a local path is taken as a file: URL).
    /// Tokens in it are stored, never shown. Use --header, --proxy and --ca-file (the global
    /// network options) to store a token header, proxy and CA bundle with the source, and
    /// --client-cert/--client-key for a depot that requires a client certificate
    pub url: String,
    /// What the URL is; default: guessed from the URL (.zip is a bundle, a directory
    /// holding hostupdate/ a UMDS export, anything else an online depot)
    #[arg(long, value_name = "KIND", value_parser = EnumValueParser::<KindArg>::new().map(SourceKind::from))]
    pub kind: Option<SourceKind>,
    #[arg(long, default_value = "")]
    pub description: String,
    /// Keep VIBs for these platform versions only (repeatable: 8.0, 8.0.3)
    #[arg(long = "platform", value_name = "VERSION")]
    pub platforms: Vec<String>,
    /// Keep these vendors only, by code or name (repeatable: vmw, dell)
    #[arg(long = "vendor", value_name = "VENDOR")]
    pub vendors: Vec<String>,
    /// When VIBs are downloaded
    #[arg(
        long,
        value_name = "POLICY",
        default_value = "prefetch",
        value_parser = EnumValueParser::<PayloadsArg>::new().map(PayloadPolicy::from)
    )]
    pub payloads: PayloadPolicy,
    /// VIB signatures on every sync and push
    #[arg(
        long,
        value_name = "POLICY",
        default_value = "require",
        value_parser = EnumValueParser::<SignaturesArg>::new().map(SignaturePolicy::from)
    )]
    pub signatures: SignaturePolicy,
    /// Keep only what this vLCM software spec's images need, alternative images included
    /// (repeatable: the union of the images). The sync resolves each spec against the
    /// depot, stores only those VIBs and publishes a depot that declares only them; a spec
    /// that does not resolve fails the sync. The spec text is stored with the source
    #[arg(long = "only-for", value_name = "SPEC.json")]
    pub only_for: Vec<PathBuf>,
    /// Snapshots kept (the published one always stays)
    #[arg(long, value_name = "N", default_value_t = esxlcm_store::source::DEFAULT_RETENTION)]
    pub retention: u32,
    /// Add the source disabled (`mirror sync` without names skips it)
    #[arg(long)]
    pub disabled: bool,
    /// Client certificate for a depot that requires mutual TLS: a PEM file holding the
    /// certificate (and chain), and its unencrypted private key unless --client-key is given.
    /// Checked now (the key must belong to the certificate); the path is stored, the key
    /// stays in its file and is never shown
    #[arg(long, value_name = "FILE.pem")]
    pub client_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM), when not in the --client-cert file
    #[arg(long, value_name = "FILE.pem", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
    /// Write one JSON object (schema esxlcm.mirror.add/1) instead of text
    #[arg(long)]
    pub json: bool,
}

/// `--kind`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KindArg {
    /// An online depot (index.xml → vendor-index.xml → metadata.zip → VIBs)
    Online,
    /// An offline bundle (.zip), downloaded whole
    Bundle,
    /// A UMDS export (hostupdate/<vendor>/…; over HTTP it needs its index.xml)
    Umds,
}

impl From<KindArg> for SourceKind {
    fn from(k: KindArg) -> Self {
        match k {
            KindArg::Online => SourceKind::Online,
            KindArg::Bundle => SourceKind::Bundle,
            KindArg::Umds => SourceKind::Umds,
        }
    }
}

/// `--payloads`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PayloadsArg {
    /// Every VIB downloaded and verified during sync
    Prefetch,
    /// The sync stores metadata only; `serve --store`, `mirror export` and view builds
    /// fetch and verify each VIB when they first need it
    OnDemand,
}

impl From<PayloadsArg> for PayloadPolicy {
    fn from(p: PayloadsArg) -> Self {
        match p {
            PayloadsArg::Prefetch => PayloadPolicy::Prefetch,
            PayloadsArg::OnDemand => PayloadPolicy::OnDemand,
        }
    }
}

/// `--signatures`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SignaturesArg {
    /// VMwareCertified, VMwareAccepted and PartnerSupported VIBs must chain to a trusted
    /// anchor (VMware's built in, others in STORE/trust/*.pem), or they are quarantined and
    /// nothing is published
    Require,
    /// A VIB that fails is logged and kept
    Warn,
    /// Signatures are not checked
    Off,
}

impl From<SignaturesArg> for SignaturePolicy {
    fn from(p: SignaturesArg) -> Self {
        match p {
            SignaturesArg::Require => SignaturePolicy::Require,
            SignaturesArg::Warn => SignaturePolicy::Warn,
            SignaturesArg::Off => SignaturePolicy::Off,
        }
    }
}

/// The text of each `--only-for` spec, checked to be a software spec.
pub(super) fn read_specs(files: &[PathBuf]) -> anyhow::Result<Vec<String>> {
    files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).with_context(|| format!("reading the spec {}", f.display()))?;
            esxlcm_solver::SoftwareSpec::from_json(text.as_bytes())
                .with_context(|| format!("{} is not a software spec", f.display()))?;
            Ok(text)
        })
        .collect()
}

impl AddArgs {
    /// The source these arguments describe, with the network flags stored in it.
    fn source_config(&self, network: &NetworkArgs) -> anyhow::Result<SourceConfig> {
        // A local path is taken as a file: URL (a bundle or a depot directory).
        let url = match url::Url::parse(&self.url) {
            Ok(_) => self.url.clone(),
            Err(_) if std::path::Path::new(&self.url).exists() => {
                let abs = std::path::absolute(&self.url).with_context(|| format!("resolving {}", self.url))?;
                let u = if abs.is_dir() { url::Url::from_directory_path(&abs) } else { url::Url::from_file_path(&abs) };
                u.map_err(|()| anyhow::anyhow!("{}: cannot be written as a file: URL", abs.display()))?.to_string()
            }
            Err(_) => self.url.clone(),
        };
        let mut config = SourceConfig::new(&self.name, &url)?;
        if let Some(kind) = self.kind {
            config.kind = kind;
        }
        config.description.clone_from(&self.description);
        config.platforms.clone_from(&self.platforms);
        config.vendors.clone_from(&self.vendors);
        config.payloads = self.payloads;
        config.signatures = self.signatures;
        config.only_for = read_specs(&self.only_for)?;
        config.retention = self.retention.max(1);
        config.enabled = !self.disabled;
        config.headers.clone_from(&network.headers);
        config.proxy.clone_from(&network.proxy);
        match network.ca_files.as_slice() {
            [] => {}
            [one] => {
                let abs = std::path::absolute(one).with_context(|| format!("--ca-file {}", one.display()))?;
                config.ca_file = Some(abs);
            }
            _ => bail!("a source takes one --ca-file (concatenate PEM bundles into one file)"),
        }
        if let Some(cert) = &self.client_cert {
            config.client_cert =
                Some(std::path::absolute(cert).with_context(|| format!("--client-cert {}", cert.display()))?);
        }
        if let Some(key) = &self.client_key {
            config.client_key =
                Some(std::path::absolute(key).with_context(|| format!("--client-key {}", key.display()))?);
        }
        config.validate()?;
        Ok(config)
    }
}

pub fn run(store: &Store, a: &AddArgs, network: &NetworkArgs, out: &mut dyn Write) -> anyhow::Result<Status> {
    let config = a.source_config(network)?;
    // Readable, a certificate and the key that belongs to it; the key itself is never shown.
    let client = match &config.client_cert {
        Some(cert) => Some(esxlcm_store::transport::ClientIdentity::load(cert, config.client_key.as_deref())?),
        None => None,
    };
    store.add_source(&config, LockWait::NONE)?;
    if a.json {
        crate::output::write_json(
            out,
            &serde_json::json!({
                "schema": "esxlcm.mirror.add/1",
                "name": config.name,
                "kind": config.kind.as_str(),
                "url": config.display_url(),
                "enabled": config.enabled,
                "payloads": config.payloads.as_str(),
                "signatures": config.signatures.as_str(),
                "client_cert_subject": client.as_ref().map(|id| id.subject.clone()),
            }),
        )?;
        return Ok(Status::Success);
    }
    writeln!(
        out,
        "added {} source '{}' ({}); run `esxlcm mirror sync {}`",
        config.kind.as_str(),
        config.name,
        config.display_url(),
        config.name
    )?;
    if let Some(id) = client {
        writeln!(out, "{}: client certificate {} ({})", config.name, id.subject, id.cert_file.display())?;
    }
    Ok(Status::Success)
}
