//! `POST /api`: vAPI JSON-RPC 2.0 as the official SDK speaks it (vlcm-api §1). Always HTTP
//! 200; vAPI errors go in `result.error`, protocol failures in `error`; `id` is echoed as
//! sent.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::datavalue::DataValue;
use super::dispatch::{Answer, Credentials, Peer, dispatch};
use super::errors::ApiError;
use super::state::ApiState;

pub const SESSION_HEADER: &str = "vmware-api-session-id";

fn respond(body: Value, error_name: Option<String>) -> Response {
    let mut resp =
        ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body.to_string()).into_response();
    if let Some(name) = error_name.and_then(|n| HeaderValue::from_str(&n).ok()) {
        resp.headers_mut().insert("vapi-error", name);
    }
    resp
}

fn protocol_error(id: Value, code: i64, message: &str) -> Response {
    respond(json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}}), None)
}

/// A protocol error with JSON-RPC's optional `data`: what exactly was wrong.
fn protocol_error_with(id: Value, code: i64, message: &str, data: &str) -> Response {
    respond(json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message, "data": data}}), None)
}

fn vapi_error(id: Value, e: &ApiError) -> Response {
    let e = &e.for_client();
    respond(
        json!({"jsonrpc": "2.0", "id": id, "result": {"error": e.to_data_value().to_json()}}),
        Some(e.kind.canonical()),
    )
}

/// Credentials from `ctx.securityCtx`, else the session header.
fn credentials(params: &Value, headers: &HeaderMap) -> Result<Credentials, ApiError> {
    let sec = &params["ctx"]["securityCtx"];
    let text = |k: &str| sec.get(k).and_then(Value::as_str).map(str::to_owned);
    match sec.get("schemeId").and_then(Value::as_str) {
        Some("com.vmware.vapi.std.security.user_pass") => Ok(Credentials::UserPass {
            user: text("userName").unwrap_or_default(),
            password: text("password").unwrap_or_default(),
            client: None,
        }),
        Some("com.vmware.vapi.std.security.session_id") => {
            text("sessionId").map(Credentials::Session).ok_or_else(|| ApiError::unauthenticated("sessionId is missing"))
        }
        Some(other) => Err(ApiError::unauthenticated(format!("authentication scheme '{other}' is not supported"))),
        None => Ok(headers
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .map_or(Credentials::None, |s| Credentials::Session(s.to_owned()))),
    }
}

pub async fn handle(
    State(state): State<Arc<ApiState>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    Peer(peer): Peer,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    // A body that was not taken keeps its HTTP status (413 over the limit): no request was
    // read to answer; the body still says why, in JSON-RPC's words.
    let body = match body {
        Ok(b) => b,
        Err(rejection) => {
            let mut resp =
                protocol_error_with(Value::Null, -32600, "Invalid Request.", &super::body_refusal(&rejection));
            *resp.status_mut() = rejection.status();
            return resp;
        }
    };
    // Not JSON, not UTF-8, or nested past serde_json's depth limit (128).
    let req = match serde_json::from_slice::<Value>(&body) {
        Ok(req) => req,
        Err(e) => {
            return protocol_error_with(Value::Null, -32700, "Parse error.", &format!("the body is not JSON: {e}"));
        }
    };
    let id = req.get("id").cloned().unwrap_or(Value::Null);
    if req.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return protocol_error(id, -32600, "Invalid Request.");
    }
    if req.get("method").and_then(Value::as_str) != Some("invoke") {
        return protocol_error(id, -32601, "Method not found.");
    }
    let params = req.get("params").cloned().unwrap_or(Value::Null);
    let (Some(service), Some(operation)) =
        (params.get("serviceId").and_then(Value::as_str), params.get("operationId").and_then(Value::as_str))
    else {
        return protocol_error(id, -32602, "Invalid params.");
    };
    let input = match params.get("input").map(DataValue::from_json) {
        Some(Ok(DataValue::Struct(s))) => s.fields,
        None | Some(Ok(DataValue::Void)) => BTreeMap::new(),
        Some(Ok(_)) => {
            return vapi_error(id, &ApiError::invalid_argument("input must be the operation-input structure"));
        }
        Some(Err(e)) => return vapi_error(id, &ApiError::invalid_argument(e.to_string())),
    };
    let creds = match credentials(&params, &headers) {
        Ok(c) => c.with_client(peer),
        Err(e) => return vapi_error(id, &e),
    };
    let origin = super::dispatch::origin(&headers, &uri);
    match dispatch(&state, service, operation, creds, input, origin, peer).await {
        Ok(outcome) => match &outcome.remembered {
            // The output's encoding is kept with the answer; only the id is this request's.
            Some(answer) => {
                let Ok(output) = Answer::encoded(&answer.jsonrpc_output, || {
                    Ok::<_, std::convert::Infallible>(outcome.value.to_json().to_string().into_bytes())
                });
                let mut body = Vec::with_capacity(output.len() + 64);
                body.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
                body.extend_from_slice(id.to_string().as_bytes());
                body.extend_from_slice(b",\"result\":{\"output\":");
                body.extend_from_slice(&output);
                body.extend_from_slice(b"}}");
                ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
            }
            None => respond(json!({"jsonrpc": "2.0", "id": id, "result": {"output": outcome.value.to_json()}}), None),
        },
        Err(e) => vapi_error(id, &e),
    }
}
