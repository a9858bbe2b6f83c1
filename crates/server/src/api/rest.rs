//! The `/api/...` REST dialect (vlcm-api §3.1) over the same dispatcher: URL templates,
//! `?action=`, `vmw-task=true`, the session header, Basic login, plain JSON, and errors as
//! an HTTP status with `{error_type, messages}`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Map, Value};

use super::datavalue::DataValue;
use super::dispatch::{Answer, Credentials, OutcomeKind, Peer, dispatch};
use super::errors::ApiError;
use super::jsonrpc::SESSION_HEADER;
use super::schema::{OpDef, Registry, Ty};
use super::state::ApiState;
use super::typed::{ConvError, from_plain, to_plain};

fn json_response(status: StatusCode, body: &Value) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body.to_string()).into_response()
}

pub fn error_response(e: &ApiError) -> Response {
    let e = e.for_client();
    let status = StatusCode::from_u16(e.kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = json_response(status, &e.to_plain());
    if let Some(secs) = e.retry_after {
        resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// `vmware-api-session-id`, else HTTP Basic.
pub fn credentials(headers: &HeaderMap) -> Credentials {
    if let Some(token) = headers.get(SESSION_HEADER).and_then(|v| v.to_str().ok()) {
        return Credentials::Session(token.to_owned());
    }
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok());
    match basic.as_deref().and_then(|s| s.split_once(':')) {
        Some((user, password)) => {
            Credentials::UserPass { user: user.to_owned(), password: password.to_owned(), client: None }
        }
        None => Credentials::None,
    }
}

/// At most `max` characters of `s` (what error texts and logs echo of a request).
fn truncate(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]).into(),
        None => s.into(),
    }
}

/// Match `path` against a template; returns the URL variables.
fn match_template(template: &str, path: &str) -> Option<BTreeMap<String, String>> {
    let t: Vec<&str> = template.trim_matches('/').split('/').collect();
    let p: Vec<&str> = path.trim_matches('/').split('/').collect();
    if t.len() != p.len() {
        return None;
    }
    let mut vars = BTreeMap::new();
    for (ts, ps) in t.iter().zip(&p) {
        if let Some(name) = ts.strip_prefix('{').and_then(|n| n.strip_suffix('}')) {
            if ps.is_empty() {
                return None;
            }
            let decoded = percent_decode(ps);
            vars.insert(name.to_owned(), decoded);
        } else if ts != ps {
            return None;
        }
    }
    Some(vars)
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_owned())
}

/// The operation a request addresses: the template and method match, and every fixed
/// query part (`action=…`) is present; the most specific match wins.
fn find_op<'a>(
    reg: &'a Registry,
    method: &Method,
    path: &str,
    query: &[(String, String)],
) -> Option<(&'a OpDef, BTreeMap<String, String>)> {
    reg.ops
        .iter()
        .filter(|o| o.http == method.as_str())
        .filter(|o| o.fixed_query.iter().all(|fq| query.contains(fq)))
        .filter_map(|o| match_template(&o.url_path, path).map(|vars| (o, vars)))
        .max_by_key(|(o, _)| o.fixed_query.len())
}

/// A query parameter's text as a value of `ty` (plain JSON).
fn coerce(text: &str, ty: &Ty) -> Value {
    match ty {
        Ty::Optional(inner) => coerce(text, inner),
        Ty::Long => text.parse::<i64>().map_or_else(|_| Value::String(text.to_owned()), Value::from),
        Ty::Double => text.parse::<f64>().map_or_else(|_| Value::String(text.to_owned()), Value::from),
        Ty::Bool => match text {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::String(text.to_owned()),
        },
        _ => Value::String(text.to_owned()),
    }
}

fn strip_optional(ty: &Ty) -> &Ty {
    match ty {
        Ty::Optional(inner) => inner,
        t => t,
    }
}

fn build_input(
    reg: &Registry,
    def: &OpDef,
    method: &Method,
    vars: &BTreeMap<String, String>,
    query: &[(String, String)],
    body: &[u8],
) -> Result<BTreeMap<String, DataValue>, ApiError> {
    let mut input = BTreeMap::new();
    let body_json: Option<Value> = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        Some(
            serde_json::from_slice(body)
                .map_err(|e| ApiError::invalid_argument(format!("the body is not JSON: {e}")))?,
        )
    };
    for (name, ty) in &def.inputs {
        // `path` maps an input to its URL variable (`software_spec` → `{softwareSpec}`).
        let plain: Option<Value> = if let Some(var) = def.path.get(name) {
            vars.get(var).map(|v| Value::String(v.clone()))
        } else if def.body.as_deref() == Some(name.as_str()) && (body_json.is_some() || *method != Method::GET) {
            // A GET without a body may give its body struct's fields as query parameters.
            body_json.clone()
        } else if let Some((qname, _)) = def.query.iter().find(|(_, p)| *p == name) {
            query.iter().find(|(k, _)| k == qname).map(|(_, v)| coerce(v, ty))
        } else if let Some(v) = body_json.as_ref().filter(|_| *method == Method::GET).and_then(|b| b.get(name)) {
            // The Python `rest` connector sends GET filters as a JSON body.
            Some(v.clone())
        } else if let Ty::Struct(sname) = strip_optional(ty) {
            // A filter struct without REST mapping: its fields are top-level query params.
            let def_s = reg.struct_def(sname).ok_or_else(|| ApiError::internal(format!("unknown struct {sname}")))?;
            let mut obj = Map::new();
            for (field, fty) in &def_s.fields {
                let values: Vec<&str> = query.iter().filter(|(k, _)| k == field).map(|(_, v)| v.as_str()).collect();
                if values.is_empty() {
                    continue;
                }
                let v = match strip_optional(fty) {
                    Ty::List(it) | Ty::Set(it) => Value::Array(values.iter().map(|v| coerce(v, it)).collect()),
                    other => coerce(values[0], other),
                };
                obj.insert(field.clone(), v);
            }
            (!obj.is_empty()).then_some(Value::Object(obj))
        } else {
            None
        };
        if let Some(p) = plain {
            input.insert(name.clone(), from_plain(reg, &p, ty, name)?);
        }
    }
    Ok(input)
}

pub async fn handle(
    State(state): State<Arc<ApiState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Peer(peer): Peer,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    // Over the size limit or broken off: the extractor's status, with an error document
    // like every other REST error (not the extractor's plain text).
    let body = match body {
        Ok(b) => b,
        Err(rejection) => {
            let e = ApiError::new(
                super::errors::ErrorKind::InvalidArgument,
                "com.vmware.esxlcm.request_body",
                super::body_refusal(&rejection),
            );
            let mut resp = error_response(&e);
            *resp.status_mut() = rejection.status();
            return resp;
        }
    };
    let path = uri.path().strip_prefix("/api").unwrap_or(uri.path());
    let query: Vec<(String, String)> =
        uri.query().map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default();
    let as_task = query.iter().any(|(k, v)| k == "vmw-task" && v == "true");
    let Some((def, vars)) = find_op(&state.registry, &method, path, &query) else {
        return error_response(&ApiError::operation_not_found("-", &format!("{method} /api{}", truncate(path, 200))));
    };
    // `?action=` names the operation: one no operation here has is an error, not the
    // path's default operation.
    if let Some((_, action)) = query.iter().find(|(k, _)| k == "action")
        && !def.fixed_query.iter().any(|(k, v)| k == "action" && v == action)
    {
        let shown: String = action.chars().take(64).collect();
        return error_response(&ApiError::new(
            super::errors::ErrorKind::InvalidRequest,
            "com.vmware.esxlcm.invalid_request",
            format!("{method} /api{}: no action '{shown}'", truncate(path, 200)),
        ));
    }
    // An operation of the contract esxlcm does not serve: not found, whatever the input.
    if super::dispatch::find_impl(&def.service, &def.op).is_none() {
        return error_response(&ApiError::operation_not_found(&def.service, &def.op));
    }
    let input = match build_input(&state.registry, def, &method, &vars, &query, &body) {
        Ok(i) => i,
        Err(e) => return error_response(&e),
    };
    let operation = if as_task { format!("{}$task", def.op) } else { def.op.clone() };
    let service = def.service.clone();
    let origin = super::dispatch::origin(&headers, &uri);
    let creds = credentials(&headers).with_client(peer);
    match dispatch(&state, &service, &operation, creds, input, origin, peer).await {
        Ok(outcome) => match outcome.kind {
            OutcomeKind::Void => StatusCode::NO_CONTENT.into_response(),
            OutcomeKind::TaskStarted => json_response(StatusCode::ACCEPTED, &outcome.value_plain()),
            OutcomeKind::Value => {
                let encode = || {
                    let plain = to_plain(&state.registry, &outcome.value, &outcome.ty, "output")?;
                    Ok::<_, ConvError>(plain.to_string().into_bytes())
                };
                let body = match &outcome.remembered {
                    Some(answer) => Answer::encoded(&answer.rest, encode).map_err(|e| e.to_string()),
                    None => encode().map(Bytes::from).map_err(|e| e.to_string()),
                };
                match body {
                    Ok(body) => {
                        // A POST that creates something and returns its id (login included).
                        let created = method == Method::POST && def.fixed_query.is_empty() && def.op == "create";
                        let status = if created { StatusCode::CREATED } else { StatusCode::OK };
                        (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body)
                            .into_response()
                    }
                    Err(e) => error_response(&ApiError::internal(e)),
                }
            }
        },
        Err(e) => error_response(&e),
    }
}

impl super::dispatch::Outcome {
    /// A task id as the REST body.
    fn value_plain(&self) -> Value {
        match &*self.value {
            DataValue::String(s) => Value::String(s.clone()),
            other => super::typed::untyped_plain(other),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn routes_by_template_action_and_method() {
        let r = Registry::load().unwrap();
        let (op, vars) = find_op(&r, &Method::GET, "/esx/settings/depots/offline/offline-3", &[]).unwrap();
        assert_eq!((op.op.as_str(), vars["depot"].as_str()), ("get", "offline-3"));
        let q = vec![("action".to_owned(), "flush".to_owned())];
        let (op, _) = find_op(&r, &Method::POST, "/esx/settings/depots/online/d1", &q).unwrap();
        assert_eq!(op.op, "flush");
        let (op, _) = find_op(&r, &Method::POST, "/session", &[]).unwrap();
        assert_eq!((op.service.as_str(), op.op.as_str()), ("com.vmware.cis.session", "create"));
        assert!(find_op(&r, &Method::PUT, "/esx/settings/depots/offline", &[]).is_none());
    }

    #[test]
    fn filter_struct_from_query() {
        let r = Registry::load().unwrap();
        let (def, vars) = find_op(&r, &Method::GET, "/esx/settings/depot-content/components", &[]).unwrap();
        let q = vec![
            ("names".to_owned(), "a".to_owned()),
            ("names".to_owned(), "b".to_owned()),
            ("min_version".to_owned(), "8.0".to_owned()),
        ];
        let input = build_input(&r, def, &Method::GET, &vars, &q, b"").unwrap();
        let plain = to_plain(&r, &input["filter"], def.input("filter").unwrap(), "f").unwrap();
        assert_eq!(plain, serde_json::json!({"names": ["a", "b"], "min_version": "8.0"}));
    }
}
