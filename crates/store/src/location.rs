//! Where a store keeps its state: the embedded default (SQLite and blobs in one local
//! directory) or the scale-out backends (PostgreSQL for metadata, an S3-compatible bucket
//! for payloads), chosen by `--database` and `--blobs`.
//!
//! With either backend remote, the local directory holds only what belongs to this node:
//! staging for downloads in flight, the read cache of blobs, quarantined payloads, sync
//! progress files and the trust roots. Nothing served is read from it: snapshots are
//! database rows over content-addressed objects, and publication is one row changed in
//! one transaction, which every replica sees at once.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::StoreError;

/// The metadata database and blob store of a store, and its node-local directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreLocation {
    /// This node's directory (the whole store on the embedded default).
    pub root: PathBuf,
    pub database: Option<DatabaseUrl>,
    pub blobs: Option<BlobsUrl>,
}

impl StoreLocation {
    /// The embedded default: everything under `root`.
    pub fn local(root: &Path) -> Self {
        Self { root: root.to_path_buf(), database: None, blobs: None }
    }

    /// `database` (`postgres://…`) and `blobs` (`s3://BUCKET/PREFIX`) as given on the
    /// command line or in `ESXLCM_DATABASE` / `ESXLCM_BLOBS`; empty strings mean unset.
    pub fn parse(root: &Path, database: Option<&str>, blobs: Option<&str>) -> Result<Self, StoreError> {
        let database = database.filter(|d| !d.trim().is_empty()).map(DatabaseUrl::parse).transpose()?;
        let blobs = blobs.filter(|b| !b.trim().is_empty()).map(BlobsUrl::parse).transpose()?;
        Ok(Self { root: root.to_path_buf(), database, blobs })
    }

    /// Everything on this node's disk: snapshots may be materialised as directory trees
    /// of hard links, and the store lock is a file lock.
    pub fn is_local(&self) -> bool {
        self.database.is_none() && self.blobs.is_none()
    }

    /// Where blobs read from the bucket are cached on this node.
    pub fn cache_dir(&self) -> PathBuf {
        self.root.join("cache").join("blobs")
    }
}

impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.database, &self.blobs) {
            (None, None) => write!(f, "{}", self.root.display()),
            (db, blobs) => {
                let db = db.as_ref().map_or_else(|| format!("SQLite in {}", self.root.display()), ToString::to_string);
                let blobs =
                    blobs.as_ref().map_or_else(|| format!("blobs in {}", self.root.display()), ToString::to_string);
                write!(f, "{db}, {blobs} (node directory {})", self.root.display())
            }
        }
    }
}

/// A PostgreSQL connection URL (`postgres://USER[:PASS]@HOST:PORT/DB`). Displayed with
/// the password replaced, so it can go into messages and logs.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(url::Url);

impl DatabaseUrl {
    pub fn parse(text: &str) -> Result<Self, StoreError> {
        let bad = |why: &str| {
            StoreError::Location(format!(
                "--database '{}': {why}; expected postgres://USER[:PASSWORD]@HOST:PORT/DATABASE",
                redact_password(text)
            ))
        };
        let url = url::Url::parse(text.trim()).map_err(|e| bad(&e.to_string()))?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(bad(&format!("the scheme '{}' is not postgres", url.scheme())));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("no host"));
        }
        if url.path().trim_matches('/').is_empty() {
            return Err(bad("no database name"));
        }
        Ok(Self(url))
    }

    /// The URL with its password, for the driver only.
    pub fn secret(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_password(self.0.as_str()))
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

/// `s3://BUCKET[/PREFIX]`; the endpoint and credentials come from the standard AWS
/// variables (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, …), never from the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobsUrl {
    pub bucket: String,
    pub prefix: String,
}

impl BlobsUrl {
    pub fn parse(text: &str) -> Result<Self, StoreError> {
        let bad = |why: &str| {
            StoreError::Location(format!(
                "--blobs '{text}': {why}; expected s3://BUCKET/PREFIX (endpoint and credentials from \
                 AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION)"
            ))
        };
        let rest = text.trim().strip_prefix("s3://").ok_or_else(|| bad("not an s3:// URL"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(bad("no bucket"));
        }
        if bucket.contains(['@', ':', '?', '#']) {
            return Err(bad("credentials and endpoints do not go in the URL"));
        }
        let prefix = prefix.trim_matches('/');
        if prefix.split('/').any(|s| s == ".." || s == ".") || prefix.contains("//") {
            return Err(bad("the prefix has an empty, '.' or '..' segment"));
        }
        Ok(Self { bucket: bucket.to_owned(), prefix: prefix.to_owned() })
    }
}

impl fmt::Display for BlobsUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "s3://{}", self.bucket)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db` (also in text that does
/// not parse as a URL).
pub fn redact_password(text: &str) -> String {
    if let Ok(mut url) = url::Url::parse(text.trim())
        && url.password().is_some()
    {
        let _ = url.set_password(Some("***"));
        return url.to_string();
    }
    // Not a URL: cut whatever sits between the user and the host.
    match (text.find("://"), text.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &text[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &text[..scheme + 3], &text[at..]),
                None => text.to_owned(),
            }
        }
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_are_checked_and_never_show_the_password() {
        let db = DatabaseUrl::parse("postgres://esx:s3cret@db.example:5432/esxlcm").unwrap();
        assert_eq!(db.to_string(), "postgres://esx:***@db.example:5432/esxlcm");
        assert!(db.secret().contains("s3cret"));
        assert!(!format!("{db:?}").contains("s3cret"));
        for bad in ["mysql://a@b/c", "postgres:///db", "postgres://u:p4ss@host", "not a url"] {
            let e = DatabaseUrl::parse(bad).unwrap_err().to_string();
            assert!(e.contains("--database") && !e.contains("p4ss"), "{e}");
        }
        assert_eq!(redact_password("postgres://u:p@ss@h/db"), "postgres://u:***@h/db");
    }

    #[test]
    fn blob_urls_name_a_bucket_and_a_clean_prefix() {
        assert_eq!(
            BlobsUrl::parse("s3://depots").unwrap(),
            BlobsUrl { bucket: "depots".into(), prefix: String::new() }
        );
        let b = BlobsUrl::parse("s3://depots/site-a/").unwrap();
        assert_eq!((b.bucket.as_str(), b.prefix.as_str()), ("depots", "site-a"));
        assert_eq!(b.to_string(), "s3://depots/site-a");
        for bad in ["depots", "s3://", "s3:///x", "s3://key:secret@bucket/x", "s3://b/../x", "s3://b/a//c"] {
            assert!(BlobsUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn empty_settings_mean_the_embedded_default() {
        let loc = StoreLocation::parse(Path::new("/d"), Some(""), Some("  ")).unwrap();
        assert!(loc.is_local());
        let loc = StoreLocation::parse(Path::new("/d"), None, Some("s3://b/p")).unwrap();
        assert!(!loc.is_local());
        assert_eq!(loc.to_string(), "SQLite in /d, s3://b/p (node directory /d)");
    }
}
