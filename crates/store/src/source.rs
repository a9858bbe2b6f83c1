//! Mirror sources: what to sync from and how. A source is an online depot (its
//! `index.xml` / `vmw-depot-index.xml` URL, or the directory holding it) or an offline
//! bundle (`.zip`) over `http:`, `https:` or `file:`.
//!
//! URLs and headers may hold download tokens: they are stored as given (the sync needs
//! them) and shown only through [`SourceConfig::display_url`] / [`SourceConfig::display_headers`].

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::StoreError;
use crate::schedule::Schedule;
use esxlcm_net::redact;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// An online depot: vendor list → vendor indexes → metadata zips → VIBs.
    Online,
    /// An offline bundle ZIP, downloaded whole and unpacked into the store.
    Bundle,
    /// A UMDS export (`hostupdate/<vendor>/…`): every vendor index found, published under
    /// one vendor list.
    Umds,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Bundle => "bundle",
            Self::Umds => "umds",
        }
    }
}

impl FromStr for SourceKind {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        match s {
            "online" => Ok(Self::Online),
            "bundle" => Ok(Self::Bundle),
            "umds" => Ok(Self::Umds),
            other => Err(StoreError::InvalidSource(format!("unknown source kind '{other}' (online, bundle, umds)"))),
        }
    }
}

/// When VIB payloads are downloaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PayloadPolicy {
    /// Every VIB of the (filtered) depot is downloaded and verified during sync.
    #[default]
    Prefetch,
    /// The sync stores the metadata and records each VIB's path, sha-256 and size; the
    /// VIB is fetched, verified and stored when first needed (a host's request through
    /// `esxlcm serve --store`, an export, a view build): [`crate::ondemand`].
    OnDemand,
}

impl PayloadPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Prefetch => "prefetch",
            Self::OnDemand => "on-demand",
        }
    }
}

impl FromStr for PayloadPolicy {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        match s {
            "prefetch" => Ok(Self::Prefetch),
            "on-demand" => Ok(Self::OnDemand),
            other => Err(StoreError::InvalidSource(format!("unknown payload policy '{other}' (prefetch, on-demand)"))),
        }
    }
}

impl fmt::Display for PayloadPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything the user configures about a source.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceConfig {
    /// Short name: the directory it is published under (`/<name>/index.xml`).
    pub name: String,
    pub kind: SourceKind,
    /// Kept secret: may carry a download token.
    pub url: String,
    pub description: String,
    pub enabled: bool,
    pub payloads: PayloadPolicy,
    /// `Name: value` request headers (a token header); values are secret.
    pub headers: Vec<String>,
    pub proxy: Option<String>,
    /// Extra trusted CA certificates (PEM bundle) for this source.
    pub ca_file: Option<PathBuf>,
    /// How this source's owner trusts another CA, said after a refused server certificate
    /// (the API's sources: its trust store). None: the `esxlcm mirror` flags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_advice: Option<String>,
    /// Client certificate (PEM: the chain, and the key unless `client_key` is set) for
    /// depots that require mutual TLS. Paths, like `ca_file`: the key stays in its file.
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    #[serde(default)]
    pub client_key: Option<PathBuf>,
    /// Platform versions to keep (`8.0`, `8.0.3`); empty keeps all.
    pub platforms: Vec<String>,
    /// Vendor codes or names to keep (`vmw`, `dell`); empty keeps all.
    pub vendors: Vec<String>,
    /// Snapshots kept besides the published one.
    pub retention: u32,
    /// vLCM software specs (JSON text, as given): when any is set, the source keeps only
    /// what these images need (the union of their content) and publishes a depot that
    /// declares only that.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub only_for: Vec<String>,
    /// When the source syncs by itself (`mirror sync --due`, `esxlcm serve --store`);
    /// none: only when asked.
    #[serde(default)]
    pub schedule: Option<Schedule>,
    /// What a sync, push or import does about VIB signatures ([`crate::signatures`]).
    #[serde(default)]
    pub signatures: crate::signatures::SignaturePolicy,
}

impl fmt::Debug for SourceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceConfig")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("url", &self.display_url())
            .field("headers", &self.display_headers())
            .field("proxy", &self.proxy.as_deref().map(redact::redact_url_str))
            .field("client_cert", &self.client_cert)
            .field("schedule", &self.schedule.map(|s| s.to_string()))
            .finish_non_exhaustive()
    }
}

pub const DEFAULT_RETENTION: u32 = 5;

impl SourceConfig {
    /// A source with defaults, its kind guessed from the URL: `.zip` → bundle; a local
    /// directory holding `hostupdate/` (or a `…/hostupdate/` URL) → UMDS export; else online.
    pub fn new(name: &str, url: &str) -> Result<Self, StoreError> {
        let parsed = parse_source_url(url)?;
        let path = parsed.path().to_ascii_lowercase();
        let local_umds = parsed.scheme() == "file"
            && parsed.to_file_path().is_ok_and(|p| !path.ends_with(".xml") && p.join("hostupdate").is_dir());
        let kind = if path.ends_with(".zip") {
            SourceKind::Bundle
        } else if local_umds || path.trim_end_matches('/').ends_with("/hostupdate") {
            SourceKind::Umds
        } else {
            SourceKind::Online
        };
        let config = Self {
            name: name.to_owned(),
            kind,
            url: url.to_owned(),
            description: String::new(),
            enabled: true,
            payloads: PayloadPolicy::Prefetch,
            headers: Vec::new(),
            proxy: None,
            ca_file: None,
            trust_advice: None,
            client_cert: None,
            client_key: None,
            platforms: Vec::new(),
            vendors: Vec::new(),
            retention: DEFAULT_RETENTION,
            only_for: Vec::new(),
            schedule: None,
            signatures: crate::signatures::SignaturePolicy::default(),
        };
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), StoreError> {
        validate_name(&self.name)?;
        parse_source_url(&self.url)?;
        for h in &self.headers {
            let Some((name, _)) = h.split_once(':') else {
                return Err(StoreError::InvalidSource("a header must look like 'Name: value'".into()));
            };
            if name.trim().is_empty() || !name.trim().bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return Err(StoreError::InvalidSource(format!("'{}' is not a header name", name.trim())));
            }
        }
        if self.client_key.is_some() && self.client_cert.is_none() {
            return Err(StoreError::InvalidSource(
                "a client key needs its certificate: give --client-cert CERT.pem with --client-key".into(),
            ));
        }
        if self.client_cert.is_some() && !self.url.starts_with("https:") {
            return Err(StoreError::InvalidSource(
                "a client certificate is used only over TLS: give the source an https: URL, or drop \
                 --client-cert/--client-key"
                    .into(),
            ));
        }
        for (i, spec) in self.only_for.iter().enumerate() {
            esxlcm_solver::SoftwareSpec::from_json(spec.as_bytes())
                .map_err(|e| StoreError::InvalidSource(format!("only-for spec {}: {e}", i + 1)))?;
        }
        for p in &self.platforms {
            esxlcm_version::PlatformPattern::parse(p)
                .map_err(|e| StoreError::InvalidSource(format!("platform filter '{p}': {e}")))?;
        }
        Ok(())
    }

    pub fn parsed_url(&self) -> Result<Url, StoreError> {
        parse_source_url(&self.url)
    }

    pub fn display_url(&self) -> String {
        redact::redact_url_str(&self.url)
    }

    pub fn display_headers(&self) -> Vec<String> {
        self.headers.iter().map(|h| redact::redact_header(h)).collect()
    }

    /// Keep this vendor-list entry? Matches code or name, case-insensitively.
    pub fn wants_vendor(&self, code: &str, name: &str) -> bool {
        self.vendors.is_empty()
            || self.vendors.iter().any(|v| v.eq_ignore_ascii_case(code) || v.eq_ignore_ascii_case(name))
    }

    /// Keep this vendor-index entry, whose `version` is a platform pattern (`8.0`, `8.*`,
    /// empty for any)? Either side may be the more specific one.
    pub fn wants_platform(&self, entry_version: &str) -> bool {
        if self.platforms.is_empty() || entry_version.trim().is_empty() {
            return true;
        }
        let entry = esxlcm_version::PlatformPattern::parse(entry_version.trim()).ok();
        self.platforms.iter().any(|wanted| {
            entry.as_ref().is_some_and(|e| e.matches(wanted))
                || esxlcm_version::PlatformPattern::parse(wanted).is_ok_and(|w| w.matches(entry_version.trim()))
        })
    }
}

fn parse_source_url(url: &str) -> Result<Url, StoreError> {
    let parsed = Url::parse(url).map_err(|e| {
        StoreError::InvalidSource(format!(
            "'{}' is not a URL ({e}); use http:, https: or file:",
            redact::redact_url_str(url)
        ))
    })?;
    if !matches!(parsed.scheme(), "http" | "https" | "file") {
        return Err(StoreError::InvalidSource(format!(
            "scheme '{}' is not supported (use http:, https: or file:)",
            parsed.scheme()
        )));
    }
    Ok(parsed)
}

/// Names become directory names and URL path segments.
pub fn validate_name(name: &str) -> Result<(), StoreError> {
    // `views` is the prefix of named views in the served URL space (`/views/<name>/`), and
    // names starting with '.' or '-' are the server's own (`/-/status`) or hidden; '@' (a
    // snapshot, `/<source>/@<id>/`) is outside the allowed characters.
    if name.eq_ignore_ascii_case("views") {
        return Err(StoreError::InvalidSource(format!(
            "'{name}' is not a valid source name: it is reserved for the URLs of named views (/views/<name>/)"
        )));
    }
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(['.', '-'])
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidSource(format!(
            "'{name}' is not a valid source name: use up to 64 letters, digits, '-', '_' or '.', not starting with '.' or '-'"
        )))
    }
}

/// A configured source as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub id: i64,
    pub config: SourceConfig,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_served_url_space_uses_are_reserved() {
        for bad in ["views", "Views", "-", "-x", ".x", "@3", "a@b", "a/b", "", &"x".repeat(65)] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
        assert!(validate_name("views").unwrap_err().to_string().contains("reserved"));
        for good in ["vmw", "dell-addons", "my_views", "views2", "a.b"] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn kind_follows_the_url() {
        assert_eq!(SourceConfig::new("a", "https://x.example/depot/index.xml").unwrap().kind, SourceKind::Online);
        assert_eq!(SourceConfig::new("b", "file:///tmp/bundle.ZIP").unwrap().kind, SourceKind::Bundle);
        assert_eq!(SourceConfig::new("u", "https://x.example/umds/hostupdate/").unwrap().kind, SourceKind::Umds);
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("hostupdate")).unwrap();
        let local = Url::from_directory_path(dir.path()).unwrap();
        assert_eq!(SourceConfig::new("l", local.as_str()).unwrap().kind, SourceKind::Umds);
        assert!(SourceConfig::new("c", "ftp://x/index.xml").is_err());
        assert!(SourceConfig::new("../x", "https://x/index.xml").is_err());
        assert!(SourceConfig::new(".hidden", "https://x/index.xml").is_err());
    }

    #[test]
    fn filters() {
        let mut c = SourceConfig::new("a", "https://x.example/index.xml").unwrap();
        assert!(c.wants_platform("7.0") && c.wants_vendor("dell", "Dell"));
        c.platforms = vec!["8.0.3".into()];
        c.vendors = vec!["VMW".into()];
        assert!(c.wants_platform("8.0") && c.wants_platform("8.*") && c.wants_platform(""));
        assert!(!c.wants_platform("7.0"));
        c.platforms = vec!["8.0".into()];
        assert!(c.wants_platform("8.0.3"));
        assert!(c.wants_vendor("vmw", "VMware") && !c.wants_vendor("dell", "Dell"));
    }

    #[test]
    fn configs_stored_before_schedules_read_without_one() {
        let c = SourceConfig::new("a", "https://x.example/index.xml").unwrap();
        let mut json = serde_json::to_value(&c).unwrap();
        for older in ["schedule", "client_cert", "client_key"] {
            json.as_object_mut().unwrap().remove(older);
        }
        let back: SourceConfig = serde_json::from_value(json).unwrap();
        assert_eq!((back.schedule, back.client_cert, back.client_key), (None, None, None));
        let mut d = c.clone();
        d.schedule = Some("daily 02:30".parse().unwrap());
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["schedule"], "daily 02:30");
        assert_eq!(serde_json::from_value::<SourceConfig>(json).unwrap(), d);
    }

    #[test]
    fn client_certificates_need_https_and_keys_need_certificates() {
        let mut c = SourceConfig::new("a", "https://x.example/index.xml").unwrap();
        c.client_key = Some("/k.pem".into());
        assert!(c.validate().unwrap_err().to_string().contains("--client-cert"));
        c.client_cert = Some("/c.pem".into());
        assert!(c.validate().is_ok());
        c.url = "http://x.example/index.xml".into();
        assert!(c.validate().unwrap_err().to_string().contains("https:"));
    }

    #[test]
    fn secrets_are_not_in_debug_output() {
        let mut c = SourceConfig::new("a", "https://dl.example/aB3dE5fG7hI9jK1lM3nO5pQ7/index.xml").unwrap();
        c.headers = vec!["Authorization: Bearer hunter2".into()];
        let shown = format!("{c:?}");
        assert!(!shown.contains("aB3dE5fG7hI9jK1lM3nO5pQ7") && !shown.contains("hunter2"), "{shown}");
    }
}
