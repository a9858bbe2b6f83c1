//! Depot reading over this client: the depot crate's [`Fetch`], so `Depot::open` reads
//! online depots through the same configuration, retries and diagnosis as everything else.

use std::io::Read;

use esxlcm_depot::source::{Fetch, FetchError, FileFetch};
use url::Url;

use crate::redact::redact_url;
use crate::{GetRequest, GetResponse, HttpClient};

impl Fetch for HttpClient {
    fn open(&self, url: &Url) -> Result<Box<dyn Read + Send>, FetchError> {
        if url.scheme() == "file" {
            if self.config().file_urls {
                return FileFetch.open(url);
            }
            return Err(FetchError::UnsupportedScheme { url: redact_url(url), scheme: "file".into() });
        }
        match self.get(url, &GetRequest::default())? {
            GetResponse::Full(body) | GetResponse::Partial(body) => Ok(body.reader),
            // Not asked for: no validators were sent.
            GetResponse::NotModified => {
                Err(FetchError::Failed { url: redact_url(url), message: "304 to an unconditional request".into() })
            }
        }
    }
}
