//! Posting documents to the service through its API, with the one HTTP client
//! (`esxlcm-net`): a session (`POST /api/session`, HTTP Basic), the host found by name in
//! esxlcm's inventory (`GET /api/esxlcm/hosts`) or registered (`POST /api/esxlcm/hosts`),
//! its state set (`PUT /api/esxlcm/hosts/{host}/state`), the session ended.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use esxlcm_net::{Call, HttpClient, NetError, Reply};
use serde_json::Value;
use url::Url;

/// Answers from the API are small; a host list of thousands of hosts fits.
const MAX_ANSWER: u64 = 8 * 1024 * 1024;
const SESSION_HEADER: &str = "vmware-api-session-id";

#[derive(Debug, thiserror::Error)]
pub enum PostError {
    #[error("{0}")]
    Net(#[from] NetError),
    #[error("{what}: the service answered HTTP {status}: {message}")]
    Refused { what: String, status: u16, message: String },
    #[error("{what}: the service's answer is not what its API returns: {problem}")]
    Answer { what: String, problem: String },
    #[error("'{url}' is not a usable service URL: {problem}")]
    Url { url: String, problem: String },
}

/// A logged-in session with the service.
pub struct Service {
    client: Arc<HttpClient>,
    api: Url,
    session: String,
    /// Host name → id, read once, completed as hosts are registered.
    hosts: Mutex<Option<BTreeMap<String, String>>>,
}

/// Where a document went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    pub host_id: String,
    /// Whether the host was registered by this post.
    pub created: bool,
}

/// `https://esxlcm.example.com/` (or `…/api`) → `https://esxlcm.example.com/api/`.
pub fn api_base(service: &str) -> Result<Url, PostError> {
    let bad = |problem: &str| PostError::Url { url: service.to_owned(), problem: problem.to_owned() };
    let mut url = Url::parse(service).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(bad("use https://HOST[:PORT]/"));
    }
    if url.query().is_some() || !url.username().is_empty() {
        return Err(bad("give the service's address only, without a query or user name"));
    }
    let path = url.path().trim_end_matches('/').to_owned();
    let path = if path.ends_with("/api") { format!("{path}/") } else { format!("{path}/api/") };
    url.set_path(&path);
    Ok(url)
}

/// The API's error message, from its `{"error_type": …, "messages": [{"default_message": …}]}`.
fn api_message(body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let messages: Vec<&str> = v["messages"]
        .as_array()
        .map(|m| m.iter().filter_map(|m| m["default_message"].as_str()).collect())
        .unwrap_or_default();
    match (v["error_type"].as_str(), messages.is_empty()) {
        (Some(kind), false) => format!("{kind}: {}", messages.join("; ")),
        (Some(kind), true) => kind.to_owned(),
        _ => String::from_utf8_lossy(body).chars().take(300).collect(),
    }
}

impl Service {
    /// Log in as `user`.
    pub fn login(client: Arc<HttpClient>, service: &str, user: &str, password: &str) -> Result<Self, PostError> {
        let api = api_base(service)?;
        let url = join(&api, "session")?;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let reply = client.call(&Call {
            method: "POST",
            url: &url,
            headers: vec![("authorization", format!("Basic {basic}"))],
            json_body: None,
            limit: MAX_ANSWER,
        })?;
        let what = format!("logging in to {} as {user}", api.as_str().trim_end_matches("api/"));
        let session: String = expect(&what, &reply, &[200, 201])?;
        Ok(Self { client, api, session, hosts: Mutex::new(None) })
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Reply, PostError> {
        let url = join(&self.api, path)?;
        Ok(self.client.call(&Call {
            method,
            url: &url,
            headers: vec![(SESSION_HEADER, self.session.clone())],
            json_body: body.map(|b| serde_json::to_vec(b).unwrap_or_default()),
            limit: MAX_ANSWER,
        })?)
    }

    /// The id of host `name` in the service's inventory, registering it when absent.
    fn host_id(&self, name: &str) -> Result<(String, bool), PostError> {
        let mut guard = self.hosts.lock().map_err(|_| PostError::Answer {
            what: "the host list".into(),
            problem: "a previous post panicked".into(),
        })?;
        if guard.is_none() {
            let reply = self.call("GET", "esxlcm/hosts", None)?;
            let list: BTreeMap<String, Value> = expect("listing the service's hosts", &reply, &[200])?;
            let by_name =
                list.into_iter().filter_map(|(id, info)| info["name"].as_str().map(|n| (n.to_owned(), id))).collect();
            *guard = Some(by_name);
        }
        let hosts = guard.get_or_insert_with(BTreeMap::new);
        if let Some(id) = hosts.get(name) {
            return Ok((id.clone(), false));
        }
        let reply = self.call("POST", "esxlcm/hosts", Some(&serde_json::json!({ "name": name })))?;
        let id: String = expect(&format!("registering host '{name}'"), &reply, &[200, 201])?;
        hosts.insert(name.to_owned(), id.clone());
        Ok((id, true))
    }

    /// Set host `name`'s posted state to `document`.
    pub fn put_state(&self, name: &str, document: &Value) -> Result<Posted, PostError> {
        let (host_id, created) = self.host_id(name)?;
        let reply = self.call("PUT", &format!("esxlcm/hosts/{host_id}/state"), Some(document))?;
        if !matches!(reply.status, 200 | 204) {
            return Err(PostError::Refused {
                what: format!("posting the state of '{name}' ({host_id})"),
                status: reply.status,
                message: api_message(&reply.body),
            });
        }
        Ok(Posted { host_id, created })
    }

    /// The service's address, for messages.
    pub fn address(&self) -> &str {
        self.api.as_str().trim_end_matches("api/")
    }

    /// End the session (best effort: it expires anyway).
    pub fn logout(self) {
        if let Err(e) = self.call("DELETE", "session", None) {
            tracing::debug!(error = %e, "logout");
        }
    }
}

fn join(api: &Url, path: &str) -> Result<Url, PostError> {
    api.join(path).map_err(|e| PostError::Url { url: api.to_string(), problem: e.to_string() })
}

fn expect<T: serde::de::DeserializeOwned>(what: &str, reply: &Reply, ok: &[u16]) -> Result<T, PostError> {
    if !ok.contains(&reply.status) {
        return Err(PostError::Refused {
            what: what.to_owned(),
            status: reply.status,
            message: api_message(&reply.body),
        });
    }
    serde_json::from_slice(&reply.body).map_err(|e| PostError::Answer { what: what.to_owned(), problem: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_is_under_the_service_address() {
        for (given, api) in [
            ("https://esxlcm.example.com", "https://esxlcm.example.com/api/"),
            ("https://esxlcm.example.com/", "https://esxlcm.example.com/api/"),
            ("https://127.0.0.1:8443/api", "https://127.0.0.1:8443/api/"),
            ("https://h/prefix/", "https://h/prefix/api/"),
        ] {
            assert_eq!(api_base(given).unwrap().as_str(), api, "{given}");
        }
        assert!(api_base("ftp://h/").is_err());
        assert!(api_base("https://user@h/").is_err());
        assert!(api_base("not a url").is_err());
    }

    #[test]
    fn api_errors_are_read() {
        let body = br#"{"error_type": "INVALID_ARGUMENT", "messages": [{"id": "x", "default_message": "bad state"}]}"#;
        assert_eq!(api_message(body), "INVALID_ARGUMENT: bad state");
        assert_eq!(api_message(b"<html>proxy error</html>"), "<html>proxy error</html>");
    }
}
