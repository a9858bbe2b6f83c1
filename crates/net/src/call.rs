//! One request with a body and an answer read whole: what API clients need (a login, a
//! `PUT` of a document), as opposed to the GETs of depot files. Never retried: the
//! operations it carries need not be idempotent. Any HTTP status is an answer; the caller
//! reads the API's error document from the body.

use std::io::Read as _;

use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use url::Url;

use crate::client::{BodyReader, body_reader};
use crate::redact::redact_url;
use crate::{HttpClient, NetError};

/// A request: method, URL, extra headers and an optional JSON body.
#[derive(Debug, Clone)]
pub struct Call<'a> {
    pub method: &'a str,
    pub url: &'a Url,
    /// `(name, value)`; values are never logged.
    pub headers: Vec<(&'a str, String)>,
    pub json_body: Option<Vec<u8>>,
    /// Answers longer than this are refused ([`NetError::TooLarge`]).
    pub limit: u64,
}

/// The status and body of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl HttpClient {
    /// Send `call` once; any status is a [`Reply`]; no answer is the error that says why.
    pub fn call(&self, call: &Call<'_>) -> Result<Reply, NetError> {
        let shown = redact_url(call.url);
        if !matches!(call.url.scheme(), "http" | "https") {
            return Err(NetError::UnsupportedScheme { url: shown, scheme: call.url.scheme().to_owned() });
        }
        let method = Method::from_bytes(call.method.as_bytes())
            .map_err(|_| NetError::Header { problem: format!("'{}' is not an HTTP method", call.method) })?;
        let mut req = self.inner().request(method, call.url.clone());
        for (name, value) in &call.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| NetError::Header { problem: format!("'{name}' is not a header name") })?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| NetError::Header { problem: format!("the value of header {name} is not usable") })?;
            req = req.header(name, value);
        }
        if let Some(body) = &call.json_body {
            req = req.header(CONTENT_TYPE, "application/json").body(body.clone());
        }
        tracing::debug!(url = %shown, method = call.method, "request");
        let response = req.send().map_err(|e| self.request_error(shown.clone(), &e, 1))?;
        let status = response.status().as_u16();
        if response.content_length().is_some_and(|n| n > call.limit) {
            return Err(NetError::TooLarge { url: shown, limit: call.limit });
        }
        let mut body = Vec::new();
        let reader: BodyReader = body_reader(response, call.url);
        reader
            .take(call.limit.saturating_add(1))
            .read_to_end(&mut body)
            .map_err(|source| NetError::Io { url: shown.clone(), source })?;
        if body.len() as u64 > call.limit {
            return Err(NetError::TooLarge { url: shown, limit: call.limit });
        }
        tracing::debug!(url = %shown, status, "answer");
        Ok(Reply { status, body })
    }
}
