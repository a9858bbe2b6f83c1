//! Issue #12 as a hostile API client finds the JSON dialects: bodies over the limit, JSON
//! nested past any sane depth, fields of the wrong type and bytes that are not UTF-8, in
//! REST and in JSON-RPC. Each is a clear refusal (REST: a 4xx with an error naming the
//! problem; JSON-RPC: HTTP 200 with the protocol or vAPI error), and the server keeps
//! serving: after each one, ordinary calls in both dialects still work.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use reqwest::Method;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

use crate::api_support::{ADMIN, TestServer, start_on};

const ONLINE: &str = "/api/esx/settings/depots/online";
const ONLINE_SERVICE: &str = "com.vmware.esx.settings.depots.online";

/// The API's body limit for JSON documents (`MAX_API_BODY`).
const BODY_LIMIT: usize = 16 * 1024 * 1024;

/// Ordinary calls in both dialects still answer, with the depots made so far (`depots`).
async fn still_serves(s: &TestServer, token: &str, depots: usize, after: &str) {
    let (status, list) = s.send(Method::GET, ONLINE, token, None).await;
    assert_eq!(status, 200, "after {after}: {list}");
    assert_eq!(list.as_object().map(serde_json::Map::len), Some(depots), "after {after}: {list}");
    let r = s.rpc_s(token, ONLINE_SERVICE, "list", json!({})).await;
    assert_eq!(r["result"]["output"].as_array().map(Vec::len), Some(depots), "after {after}: {r}");
}

/// A REST POST of raw bytes as JSON: the status and the body as text.
async fn rest_raw(s: &TestServer, token: &str, path: &str, body: Vec<u8>) -> (u16, String) {
    let r = s.rest(Method::POST, path, token).header(CONTENT_TYPE, "application/json").body(body).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// A JSON-RPC POST of raw bytes: the status and the body as text.
async fn rpc_bytes(s: &TestServer, body: Vec<u8>) -> (u16, String) {
    let r = s.client.post(s.url("/api")).header(CONTENT_TYPE, "application/json").body(body).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// A JSON-RPC `invoke` with the session in the header and `input_fields` as the
/// operation-input structure's fields (DataValue JSON).
fn invoke(service: &str, op: &str, input_fields: Value) -> Value {
    json!({"jsonrpc": "2.0", "method": "invoke", "id": "h", "params": {
        "serviceId": service, "operationId": op,
        "input": {"STRUCTURE": {"operation-input": input_fields}},
        "ctx": {"appCtx": {"opId": "hostile"}}}})
}

async fn rpc_invoke(s: &TestServer, token: &str, body: &Value) -> Value {
    let r = s.client.post(s.url("/api")).header("vmware-api-session-id", token).json(body).send().await.unwrap();
    assert_eq!(r.status(), 200, "JSON-RPC answers are HTTP 200");
    r.json().await.unwrap()
}

/// The `default_message` texts of a vAPI error in `result.error` of a JSON-RPC answer.
fn rpc_error_text(r: &Value) -> String {
    let error = &r["result"]["error"]["ERROR"];
    let inner = error.get("com.vmware.vapi.std.errors.invalid_argument").unwrap_or_else(|| panic!("{r}"));
    inner.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_is_413_in_both_dialects_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_on(dir.path()).await;
    let token = s.rest_login(ADMIN.0, ADMIN.1).await;
    // Valid JSON, one byte over the limit: the size alone decides.
    let mut big = b"{\"location\": \"https://example.com/index.xml\", \"description\": \"".to_vec();
    big.resize(BODY_LIMIT - 2, b'x');
    big.extend_from_slice(b"\"}");
    big.push(b' ');
    assert_eq!(big.len(), BODY_LIMIT + 1);

    let too_large = "the request body is larger than the API takes (16 MiB)";
    let (status, text) = rest_raw(&s, &token, ONLINE, big.clone()).await;
    assert_eq!(status, 413, "REST: {}", &text[..text.len().min(300)]);
    // An error document like every REST error, not the HTTP library's plain text.
    let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("REST 413 is JSON ({e}): {text}"));
    assert_eq!(doc["error_type"], "INVALID_ARGUMENT", "{doc}");
    assert!(doc["messages"][0]["default_message"].as_str().unwrap().starts_with(too_large), "{doc}");
    still_serves(&s, &token, 0, "an oversized REST body").await;

    let (status, text) = rpc_bytes(&s, big).await;
    assert_eq!(status, 413, "JSON-RPC: {}", &text[..text.len().min(300)]);
    let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("JSON-RPC 413 is JSON ({e}): {text}"));
    assert_eq!((doc["jsonrpc"].as_str(), doc["id"].is_null()), (Some("2.0"), true), "{doc}");
    assert_eq!(doc["error"]["code"], -32600, "{doc}");
    assert!(doc["error"]["data"].as_str().unwrap().starts_with(too_large), "{doc}");
    still_serves(&s, &token, 0, "an oversized JSON-RPC body").await;

    // At the limit, a body is read and judged as JSON (here: a depot is made).
    let mut fits = b"{\"location\": \"https://example.com/index.xml\", \"description\": \"".to_vec();
    fits.resize(BODY_LIMIT - 2, b'x');
    fits.extend_from_slice(b"\"}");
    let (status, text) = rest_raw(&s, &token, ONLINE, fits).await;
    assert_eq!(status, 201, "{}", &text[..text.len().min(300)]);
    still_serves(&s, &token, 1, "a body at the limit").await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_json_is_a_clear_refusal_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_on(dir.path()).await;
    let token = s.rest_login(ADMIN.0, ADMIN.1).await;
    let unclosed = "[".repeat(100_000).into_bytes();
    let closed = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes();
    let objects = format!("{}1{}", "{\"a\":".repeat(50_000), "}".repeat(50_000)).into_bytes();
    // Nested inside a field, where the structure is otherwise right.
    let in_field = format!(
        "{{\"location\": \"https://example.com/index.xml\", \"description\": {}1{}}}",
        "[".repeat(200),
        "]".repeat(200)
    )
    .into_bytes();

    for (what, body) in [("100k '['", &unclosed), ("100k '[…]'", &closed), ("50k objects", &objects)] {
        let (status, text) = rest_raw(&s, &token, ONLINE, body.clone()).await;
        assert_eq!(status, 400, "REST {what}: {text}");
        let doc: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc["error_type"], "INVALID_ARGUMENT", "{doc}");
        assert!(doc.to_string().contains("the body is not JSON: recursion limit exceeded"), "REST {what}: {doc}");
        still_serves(&s, &token, 0, &format!("REST {what}")).await;

        let (status, text) = rpc_bytes(&s, body.clone()).await;
        assert_eq!(status, 200, "JSON-RPC {what}: {text}");
        let doc: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc["error"]["code"], -32700, "JSON-RPC {what}: {doc}");
        assert_eq!(doc["error"]["message"], "Parse error.", "JSON-RPC {what}: {doc}");
        let data = doc["error"]["data"].as_str().unwrap_or_default();
        assert!(data.starts_with("the body is not JSON: recursion limit exceeded"), "JSON-RPC {what}: {doc}");
        still_serves(&s, &token, 0, &format!("JSON-RPC {what}")).await;
    }
    let (status, text) = rest_raw(&s, &token, ONLINE, in_field).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("recursion limit exceeded"), "{text}");

    // The same nesting inside a JSON-RPC invoke's input.
    let nested_input = format!(
        "{{\"jsonrpc\": \"2.0\", \"method\": \"invoke\", \"id\": 1, \"params\": {{\"serviceId\": \"{ONLINE_SERVICE}\", \
         \"operationId\": \"list\", \"input\": {}null{}}}}}",
        "{\"STRUCTURE\":".repeat(1_000),
        "}".repeat(1_000)
    );
    let (status, text) = rpc_bytes(&s, nested_input.into_bytes()).await;
    assert_eq!(status, 200, "{text}");
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["error"]["code"], -32700, "{doc}");
    assert!(doc["error"]["data"].as_str().unwrap_or_default().contains("recursion limit exceeded"), "{doc}");
    still_serves(&s, &token, 0, "nesting in a JSON-RPC input").await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fields_of_the_wrong_type_are_400_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_on(dir.path()).await;
    let token = s.rest_login(ADMIN.0, ADMIN.1).await;
    let location = "https://example.com/index.xml";

    // REST: the body is `spec` (online.create_spec: location uri, enabled boolean?, …).
    for (body, field, says) in [
        (json!("a string, not the spec"), "spec", "expected an object"),
        (json!([location]), "spec", "expected an object"),
        (json!({"location": {"href": location}}), "spec.location", "expected a URI string"),
        (json!({"location": 443}), "spec.location", "expected a URI string"),
        (json!({"location": location, "enabled": "yes"}), "spec.enabled", "expected a boolean"),
        (json!({"location": location, "description": {"text": "d"}}), "spec.description", "expected a string"),
        (json!({"enabled": true}), "spec.location", "required field is missing"),
    ] {
        let (status, doc) = s.send(Method::POST, ONLINE, &token, Some(body.clone())).await;
        assert_eq!(status, 400, "{body}: {doc}");
        assert_eq!(doc["error_type"], "INVALID_ARGUMENT", "{body}: {doc}");
        let text = doc.to_string();
        assert!(text.contains(&format!("{field}: {says}")), "{body}: expected '{field}: {says}' in {doc}");
        still_serves(&s, &token, 0, &format!("REST {body}")).await;
    }
    // A query parameter that must be an integer.
    let (status, doc) = s.send(Method::GET, "/api/esxlcm/audit?limit=many", &token, None).await;
    assert_eq!(status, 400, "{doc}");
    assert!(doc.to_string().contains("limit: expected an integer"), "{doc}");

    // JSON-RPC: the same mistakes in DataValue form.
    let spec = |fields: Value| json!({"STRUCTURE": {"com.vmware.esx.settings.depots.online.create_spec": fields}});
    for (input, field, says) in [
        (json!({"spec": "a string, not the spec"}), "spec", "expected structure"),
        (json!({"spec": 7}), "spec", "expected structure"),
        (json!({"spec": spec(json!({"location": 443}))}), "spec.location", ""),
        (json!({"spec": spec(json!({"location": location, "enabled": {"OPTIONAL": "yes"}}))}), "spec.enabled", ""),
    ] {
        let r = rpc_invoke(&s, &token, &invoke(ONLINE_SERVICE, "create", input.clone())).await;
        let text = rpc_error_text(&r);
        assert!(text.contains(&format!("{field}: {says}")), "{input}: expected '{field}: {says}' in {text}");
        still_serves(&s, &token, 0, &format!("JSON-RPC {input}")).await;
    }
    let r = rpc_invoke(&s, &token, &invoke("com.esxlcm.audit", "list", json!({"limit": {"OPTIONAL": "many"}}))).await;
    let text = rpc_error_text(&r);
    assert!(text.contains("limit: "), "{text}");
    // The operation-input itself of the wrong type.
    let mut body = invoke(ONLINE_SERVICE, "list", json!({}));
    body["params"]["input"] = json!(["not", "a", "structure"]);
    let r = rpc_invoke(&s, &token, &body).await;
    assert!(rpc_error_text(&r).contains("operation-input"), "{r}");

    // And the right types still make a depot in both dialects.
    let (status, id) = s.send(Method::POST, ONLINE, &token, Some(json!({"location": location}))).await;
    assert_eq!(status, 201, "{id}");
    let r = rpc_invoke(
        &s,
        &token,
        &invoke(ONLINE_SERVICE, "create", json!({"spec": spec(json!({"location": "https://example.org/index.xml"}))})),
    )
    .await;
    assert!(r["result"]["output"].is_string(), "{r}");
    still_serves(&s, &token, 2, "the well-typed creates").await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_that_are_not_utf8_are_refused_in_both_dialects() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_on(dir.path()).await;
    let token = s.rest_login(ADMIN.0, ADMIN.1).await;
    // (what, body, what the parser says)
    let cases: [(&str, Vec<u8>, &str); 3] = [
        ("in a string", b"{\"location\": \"https://example.com/\xff\xfe.xml\"}".to_vec(), "invalid unicode"),
        ("in a key", b"{\"loc\xc3\x28ation\": \"https://example.com/index.xml\"}".to_vec(), "invalid unicode"),
        ("a UTF-16 body", "{\"location\": \"x\"}".encode_utf16().flat_map(u16::to_le_bytes).collect(), "key must be"),
    ];
    for (what, body, says) in cases {
        let (status, text) = rest_raw(&s, &token, ONLINE, body.clone()).await;
        assert_eq!(status, 400, "REST {what}: {text}");
        let doc: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc["error_type"], "INVALID_ARGUMENT", "{doc}");
        let message = doc["messages"][0]["default_message"].as_str().unwrap();
        assert!(message.starts_with("the body is not JSON") && message.contains(says), "REST {what}: {doc}");
        still_serves(&s, &token, 0, &format!("REST {what}")).await;

        let (status, text) = rpc_bytes(&s, body).await;
        assert_eq!(status, 200, "JSON-RPC {what}: {text}");
        let doc: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc["error"]["code"], -32700, "JSON-RPC {what}: {doc}");
        assert!(doc["error"]["data"].as_str().unwrap_or_default().contains(says), "JSON-RPC {what}: {doc}");
        still_serves(&s, &token, 0, &format!("JSON-RPC {what}")).await;
    }
    // Invalid UTF-8 as a whole invoke: the JSON-RPC envelope is refused the same way.
    let mut envelope = serde_json::to_vec(&invoke(ONLINE_SERVICE, "list", json!({}))).unwrap();
    let at = envelope.windows(6).position(|w| w == b"online").unwrap();
    envelope[at] = 0xff;
    let (status, text) = rpc_bytes(&s, envelope).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["error"]["code"], -32700, "{text}");
    still_serves(&s, &token, 0, "a JSON-RPC envelope with a bad byte").await;
    s.stop().await;
}
