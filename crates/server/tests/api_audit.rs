//! Issue #12 item 5: the audit log through JSON-RPC (the REST side and `esxlcm audit` are
//! in the esxlcm crate's `accounts` test): logins, changes and uploads are recorded, reads
//! are not, and `com.esxlcm.audit.list` is for administrators.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::api_support::{ADMIN, VIEWER, start_on};
use reqwest::Method;
use serde_json::{Value, json};

/// The rows of `com.esxlcm.audit.list` (DataValue-decoded enough for the test).
fn entries(r: &Value) -> Vec<Value> {
    let list = r["result"]["output"].as_array().unwrap_or_else(|| panic!("{r}"));
    list.iter().map(|e| e["STRUCTURE"]["com.esxlcm.audit.entry"].clone()).collect()
}

fn opt(v: &Value) -> &Value {
    &v["OPTIONAL"]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_rpc_logins_changes_and_uploads_are_audited() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_on(dir.path()).await;
    let admin = s.rpc_login(ADMIN.0, ADMIN.1).await;
    let sec = json!({"schemeId": "com.vmware.vapi.std.security.user_pass", "userName": VIEWER.0, "password": "nope"});
    let r = s.rpc("com.vmware.cis.session", "create", json!({}), sec).await;
    assert!(r["result"]["error"].to_string().contains("unauthenticated"), "{r}");
    let spec = json!({"spec": {"STRUCTURE": {"com.esxlcm.inventory.clusters.create_spec": {"name": "prod"}}}});
    let r = s.rpc_s(&admin, "com.esxlcm.inventory.clusters", "create", spec).await;
    let cluster = r["result"]["output"].as_str().unwrap_or_else(|| panic!("{r}")).to_owned();
    let r = s.rpc_s(&admin, "com.esxlcm.inventory.clusters", "delete", json!({"cluster": cluster})).await;
    assert!(r["result"].get("error").is_none(), "{r}");
    s.rpc_s(&admin, "com.esxlcm.inventory.clusters", "list", json!({})).await;
    let rest = s.rest_login(ADMIN.0, ADMIN.1).await;
    let up = s.rest(Method::POST, "/vum-fileupload", &rest).body("PK-not-a-bundle").send().await.unwrap();
    assert_eq!(up.status(), 201);
    let upload: String = up.json().await.unwrap();

    let r = s.rpc_s(&admin, "com.esxlcm.audit", "list", json!({})).await;
    let rows = entries(&r);
    let actions: Vec<(&str, &str)> =
        rows.iter().map(|e| (e["action"].as_str().unwrap(), e["result"].as_str().unwrap())).collect();
    assert_eq!(
        actions,
        [
            ("com.vmware.cis.session.create", "ok"),
            ("com.vmware.cis.session.create", "unauthenticated"),
            ("com.esxlcm.inventory.clusters.create", "ok"),
            ("com.esxlcm.inventory.clusters.delete", "ok"),
            ("com.vmware.cis.session.create", "ok"),
            ("upload", "ok"),
        ],
        "reads (list) are not recorded: {rows:#?}"
    );
    assert_eq!(opt(&rows[1]["user"]), VIEWER.0, "a failed login names the user it tried");
    assert_eq!(opt(&rows[1]["client"]), "127.0.0.1");
    assert_eq!(opt(&rows[2]["target"]), &json!(format!("created={cluster}")));
    assert_eq!(opt(&rows[3]["target"]), &json!(format!("cluster={cluster}")));
    assert_eq!(opt(&rows[5]["target"]), &json!(format!("upload={upload}")));
    assert_eq!(opt(&rows[5]["user"]), ADMIN.0);
    let text = r.to_string();
    assert!(!text.contains(&admin) && !text.contains(&rest) && !text.contains(ADMIN.1), "no secrets");

    let r = s.rpc_s(&admin, "com.esxlcm.audit", "list", json!({"limit": {"OPTIONAL": 2}})).await;
    assert_eq!(entries(&r).len(), 2);
    let r = s.rpc_s(&admin, "com.esxlcm.audit", "list", json!({"limit": {"OPTIONAL": 0}})).await;
    assert!(r["result"]["error"].to_string().contains("invalid_argument"), "{r}");
    let viewer = s.rpc_login(VIEWER.0, VIEWER.1).await;
    let r = s.rpc_s(&viewer, "com.esxlcm.audit", "list", json!({})).await;
    assert!(r["result"]["error"].to_string().contains("unauthorized"), "{r}");
    s.stop().await;
}
