//! `POST /api` JSON-RPC exactly as the official SDK speaks it (vlcm-api §1.7).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::api_support::{ADMIN, VIEWER, rpc_error, start_on};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_create_get_delete_captured_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_on(dir.path()).await;
    // The captured login request, byte for byte in shape.
    let login = json!({"jsonrpc":"2.0","method":"invoke","params":{"serviceId":"com.vmware.cis.session","operationId":"create",
        "input":{"STRUCTURE":{"operation-input":{}}},"ctx":{"appCtx":{"opId":"117c75e5"},"securityCtx":{"schemeId":
        "com.vmware.vapi.std.security.user_pass","userName":ADMIN.0,"password":ADMIN.1}}},"id":"0"});
    let r = s.rpc_raw(&login).await;
    let token = r["result"]["output"]["SECRET"].as_str().unwrap().to_owned();
    assert_eq!(r, json!({"jsonrpc":"2.0","result":{"output":{"SECRET": token}},"id":"0"}));

    let sec = json!({"schemeId":"com.vmware.vapi.std.security.session_id","sessionId": token});
    let r = s.rpc("com.vmware.cis.session", "get", json!({}), sec.clone()).await;
    let info = &r["result"]["output"]["STRUCTURE"]["com.vmware.cis.session.info"];
    assert_eq!(info["user"], ADMIN.0);
    for f in ["created_time", "last_accessed_time"] {
        let t = info[f].as_str().unwrap();
        assert!(t.len() == 24 && t.ends_with('Z'), "{f}: {t}");
    }

    let r = s.rpc("com.vmware.cis.session", "delete", json!({}), sec.clone()).await;
    assert_eq!(r["result"], json!({"output": null}));
    let r = s.rpc("com.vmware.cis.session", "get", json!({}), sec).await;
    let e = rpc_error(&r, "unauthenticated");
    assert_eq!(e["error_type"], json!({"OPTIONAL": "UNAUTHENTICATED"}));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_travel_in_result_error() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_on(dir.path()).await;
    let r = s
        .rpc(
            "com.vmware.cis.session",
            "create",
            json!({}),
            json!({"schemeId":"com.vmware.vapi.std.security.user_pass","userName":ADMIN.0,"password":"bad"}),
        )
        .await;
    rpc_error(&r, "unauthenticated");

    let t = s.rpc_login(ADMIN.0, ADMIN.1).await;
    // NotFound, with the standard fields and a localizable message.
    let r = s.rpc_s(&t, "com.vmware.esx.settings.depots.online", "get", json!({"depot": "online-404"})).await;
    let e = rpc_error(&r, "not_found");
    assert_eq!(e["error_type"], json!({"OPTIONAL": "NOT_FOUND"}));
    assert_eq!(e["data"], json!({"OPTIONAL": null}));
    let m = &e["messages"][0]["STRUCTURE"]["com.vmware.vapi.std.localizable_message"];
    assert!(m["default_message"].as_str().unwrap().contains("online-404"));
    assert_eq!(m["args"], json!([]));

    // InvalidArgument: a bad location, a required field missing, a map sent as an object.
    let spec =
        |fields: Value| json!({"spec": {"STRUCTURE": {"com.vmware.esx.settings.depots.online.create_spec": fields}}});
    for input in [
        spec(json!({"location": "ftp://x/index.xml", "description": {"OPTIONAL": null}})),
        spec(json!({"description": {"OPTIONAL": "d"}})),
        json!({"spec": {"location": "https://x/index.xml"}}),
    ] {
        let r = s.rpc_s(&t, "com.vmware.esx.settings.depots.online", "create", input.clone()).await;
        let e = rpc_error(&r, "invalid_argument");
        assert_eq!(e["error_type"], json!({"OPTIONAL": "INVALID_ARGUMENT"}), "{input}");
    }

    // Union rules apply to inputs: PUSH needs file_id, and PULL fields must be unset for PUSH.
    let push =
        |fields: Value| json!({"spec": {"STRUCTURE": {"com.vmware.esx.settings.depots.offline.create_spec": fields}}});
    for fields in [
        json!({"source_type": "PUSH"}),
        json!({"source_type": "PUSH", "file_id": {"OPTIONAL": "ab"}, "location": {"OPTIONAL": "https://x/y.zip"}}),
    ] {
        let r = s.rpc_s(&t, "com.vmware.esx.settings.depots.offline", "create$task", push(fields.clone())).await;
        rpc_error(&r, "invalid_argument");
    }

    // Task variants exist only where the contract says so.
    let r = s.rpc_s(&t, "com.vmware.esx.settings.depots.offline", "create", json!({})).await;
    rpc_error(&r, "operation_not_found");
    let r = s.rpc_s(&t, "com.vmware.esx.settings.depots.online", "list$task", json!({})).await;
    rpc_error(&r, "operation_not_found");
    // Remediation is not served (esxlcm does not connect to hosts).
    let r =
        s.rpc_s(&t, "com.vmware.esx.settings.clusters.software", "apply$task", json!({"cluster": "domain-c8"})).await;
    rpc_error(&r, "operation_not_found");

    // Read-only users get Unauthorized on mutating operations.
    let v = s.rpc_login(VIEWER.0, VIEWER.1).await;
    let r = s
        .rpc_s(&v, "com.vmware.esx.settings.depots.online", "create", spec(json!({"location": "https://x/index.xml"})))
        .await;
    rpc_error(&r, "unauthorized");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_depots_over_json_rpc_match_the_capture() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_on(dir.path()).await;
    let t = s.rpc_login(ADMIN.0, ADMIN.1).await;
    let r = s
        .rpc_s(
            &t,
            "com.vmware.esx.settings.depots.online",
            "create",
            json!({"spec":{"STRUCTURE":{"com.vmware.esx.settings.depots.online.create_spec":{
                "description":{"OPTIONAL":"d"},"location":"https://example.com/index.xml",
                "enabled":{"OPTIONAL":true},"ownerdata":{"OPTIONAL":null}}}}}),
        )
        .await;
    let id = r["result"]["output"].as_str().unwrap().to_owned();
    let r = s.rpc_s(&t, "com.vmware.esx.settings.depots.online", "list", json!({})).await;
    assert_eq!(
        r["result"]["output"],
        json!([{"STRUCTURE":{"map-entry":{"key": id,"value":{"STRUCTURE":{
            "com.vmware.esx.settings.depots.online.summary":{"description":"d","location":"https://example.com/index.xml",
            "enabled":true,"system_defined":false,"owner":{"OPTIONAL":ADMIN.0},"ownerdata":{"OPTIONAL":null}}}}}}}])
    );
    // delete is `both`: as a task it succeeds with no result.
    let r = s
        .rpc_s(
            &t,
            "com.vmware.esx.settings.depots.online",
            "delete$task",
            json!({"depot": id, "spec": {"OPTIONAL": null}}),
        )
        .await;
    let task = r["result"]["output"].as_str().unwrap().to_owned();
    assert!(task.ends_with(":com.vmware.esx.settings.depots.online"), "{task}");
    let (info, _) = s.rpc_wait_task(&t, &task).await;
    assert_eq!(info["status"], "SUCCEEDED");
    assert_eq!(info["operation"], "delete");
    assert_eq!(info["result"], json!({"OPTIONAL": null}));
    assert_eq!(info["error"], json!({"OPTIONAL": null}));
    let r = s.rpc_s(&t, "com.vmware.esx.settings.depots.online", "list", json!({})).await;
    assert_eq!(r["result"]["output"], json!([]));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_errors_and_id_echo() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_on(dir.path()).await;
    let r = s.rpc_raw(&json!({"jsonrpc": "1.0", "method": "invoke", "params": {}, "id": 7})).await;
    assert_eq!(r["id"], json!(7));
    assert_eq!(r["error"]["code"], -32600);
    let r = s.rpc_raw(&json!({"jsonrpc": "2.0", "method": "other", "params": {}, "id": "x"})).await;
    assert_eq!(r["id"], "x");
    assert_eq!(r["error"]["code"], -32601);
    let resp =
        s.client.post(s.url("/api")).body("{not json").header("content-type", "application/json").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["code"], -32700);
    // The session header works as an alternative to securityCtx.
    let t = s.rpc_login(ADMIN.0, ADMIN.1).await;
    let body = json!({"jsonrpc":"2.0","method":"invoke","params":{"serviceId":"com.vmware.cis.session","operationId":"get",
        "input":{"STRUCTURE":{"operation-input":{}}},"ctx":{"appCtx":{}}},"id":"9"});
    let r: Value = s
        .client
        .post(s.url("/api"))
        .header("vmware-api-session-id", &t)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["result"]["output"]["STRUCTURE"]["com.vmware.cis.session.info"]["user"], ADMIN.0);
    s.stop().await;
}
