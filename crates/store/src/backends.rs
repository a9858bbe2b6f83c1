//! The metadata database and blob store a [`StoreLocation`] names, opened.

use crate::blob::{BlobStore, LocalBlobs};
use crate::error::StoreError;
use crate::location::StoreLocation;
use crate::meta::{MetaStore, SqliteMeta};

/// The blob cache on a node of a cluster store: `ESXLCM_BLOB_CACHE_MIB`, default 4 GiB.
pub const DEFAULT_BLOB_CACHE_MIB: u64 = 4096;

pub(crate) fn meta(location: &StoreLocation) -> Result<Box<dyn MetaStore>, StoreError> {
    Ok(match &location.database {
        None => Box::new(SqliteMeta::open(&location.root.join("meta.sqlite"))?),
        Some(url) => Box::new(crate::meta::PgMeta::connect(url.secret())?),
    })
}

/// The blob store; `vars` are S3 client variables that win over the environment (tests).
pub(crate) fn blobs(location: &StoreLocation, vars: &[(&str, &str)]) -> Result<Box<dyn BlobStore>, StoreError> {
    let staging = location.root.join("staging");
    Ok(match &location.blobs {
        None => Box::new(LocalBlobs::new(location.root.join("blobs"), staging)?),
        Some(url) => {
            let bucket = crate::blob::S3Blobs::from_url_with_env(&url.to_string(), staging, vars)?;
            Box::new(crate::blob::CachedBlobs::new(Box::new(bucket), location.cache_dir(), cache_bytes()?)?)
        }
    })
}

fn cache_bytes() -> Result<u64, StoreError> {
    let mib = match std::env::var("ESXLCM_BLOB_CACHE_MIB") {
        Ok(v) if !v.trim().is_empty() => v.trim().parse::<u64>().map_err(|_| {
            StoreError::Location(format!(
                "ESXLCM_BLOB_CACHE_MIB='{v}': expected a whole number of MiB (0 turns the cache off)"
            ))
        })?,
        _ => DEFAULT_BLOB_CACHE_MIB,
    };
    Ok(mib.saturating_mul(1024 * 1024))
}
