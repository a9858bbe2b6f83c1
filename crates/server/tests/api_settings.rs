//! The settings services around images, in both dialects: depot overrides of clusters and
//! standalone hosts, software-management enablement (get, check, enable), apply policies
//! with their effective values (own over default over built-in, union rules enforced), and
//! the UMDS depot synced like an online depot.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use crate::api_support::{ADMIN, TestServer, VIEWER, component_names, rpc_error, serve_depot, start_on, tree_depot};
use reqwest::Method;
use serde_json::{Value, json};

/// A cluster `robo` with host `esx-1`, and a standalone host `edge-1`: (cluster, clustered host, standalone host).
async fn inventory(s: &TestServer, t: &str) -> (String, String, String) {
    let (st, c) = s.send(Method::POST, "/api/esxlcm/clusters", t, Some(json!({"name": "robo"}))).await;
    assert_eq!(st, 201, "{c}");
    let c = c.as_str().unwrap().to_owned();
    let (st, h) = s.send(Method::POST, "/api/esxlcm/hosts", t, Some(json!({"name": "esx-1", "cluster": c}))).await;
    assert_eq!(st, 201, "{h}");
    let (st, e) = s.send(Method::POST, "/api/esxlcm/hosts", t, Some(json!({"name": "edge-1"}))).await;
    assert_eq!(st, 201, "{e}");
    (c, h.as_str().unwrap().to_owned(), e.as_str().unwrap().to_owned())
}

fn error_type(v: &Value) -> Option<&str> {
    v["error_type"].as_str()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn depot_overrides_of_clusters_and_standalone_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_on(dir.path()).await;
    let t = s.rest_login(ADMIN.0, ADMIN.1).await;
    let viewer = s.rest_login(VIEWER.0, VIEWER.1).await;
    let (cluster, member, standalone) = inventory(&s, &t).await;
    let c = format!("/api/esx/settings/clusters/{cluster}/depot-overrides");
    let branch = "http://branch-01.example:8080/vmw-depot-index.xml";

    assert_eq!(s.get_json(&c, &viewer).await, json!({"depots": []}));
    let (st, e) = s.send(Method::POST, &format!("{c}?action=add"), &t, Some(json!({"location": branch}))).await;
    assert_eq!(st, 204, "{e}");
    assert_eq!(s.get_json(&c, &viewer).await, json!({"depots": [{"location": branch}]}));

    // The same URL again (spelt with another host case) already exists.
    let again = "http://BRANCH-01.example:8080/vmw-depot-index.xml";
    let (st, e) = s.send(Method::POST, &format!("{c}?action=add"), &t, Some(json!({"location": again}))).await;
    assert_eq!((st, error_type(&e)), (400, Some("ALREADY_EXISTS")), "{e}");
    // Not an http(s) URL.
    let (st, e) =
        s.send(Method::POST, &format!("{c}?action=add"), &t, Some(json!({"location": "ftp://x/i.xml"}))).await;
    assert_eq!((st, error_type(&e)), (400, Some("INVALID_ARGUMENT")), "{e}");
    assert!(e["messages"][0]["default_message"].as_str().unwrap().contains("http or https"), "{e}");
    // Removing one that is not there, and unknown clusters.
    let other = json!({"location": "http://elsewhere.example/index.xml"});
    let (st, e) = s.send(Method::POST, &format!("{c}?action=remove"), &t, Some(other)).await;
    assert_eq!((st, error_type(&e)), (404, Some("NOT_FOUND")), "{e}");
    let (st, e) = s.send(Method::GET, "/api/esx/settings/clusters/domain-c999/depot-overrides", &t, None).await;
    assert_eq!((st, error_type(&e)), (404, Some("NOT_FOUND")), "{e}");
    // Only administrators change them.
    let (st, _) = s.send(Method::POST, &format!("{c}?action=add"), &viewer, Some(json!({"location": branch}))).await;
    assert_eq!(st, 403);

    // JSON-RPC sees the same list.
    let session = s.rpc_login(ADMIN.0, ADMIN.1).await;
    let r =
        s.rpc_s(&session, "com.vmware.esx.settings.clusters.depot_overrides", "get", json!({"cluster": cluster})).await;
    let info = &r["result"]["output"]["STRUCTURE"]["com.vmware.esx.settings.clusters.depot_overrides.info"];
    let depot = &info["depots"][0]["STRUCTURE"]["com.vmware.esx.settings.clusters.depot_overrides.depot"];
    assert_eq!(depot["location"], branch, "{r}");

    // Hosts: a standalone host has its own; a host in a cluster uses the cluster's.
    let h = format!("/api/esx/settings/hosts/{standalone}/depot-overrides");
    let (st, e) = s.send(Method::POST, &format!("{h}?action=add"), &t, Some(json!({"location": branch}))).await;
    assert_eq!(st, 204, "{e}");
    assert_eq!(s.get_json(&h, &viewer).await, json!({"depots": [{"location": branch}]}));
    let m = format!("/api/esx/settings/hosts/{member}/depot-overrides");
    let (st, e) = s.send(Method::POST, &format!("{m}?action=add"), &t, Some(json!({"location": branch}))).await;
    assert_eq!((st, error_type(&e)), (400, Some("NOT_ALLOWED_IN_CURRENT_STATE")), "{e}");
    assert!(e["messages"][0]["default_message"].as_str().unwrap().contains(&cluster), "{e}");
    let r = s
        .rpc_s(
            &session,
            "com.vmware.esx.settings.hosts.depot_overrides",
            "remove",
            json!({"host": standalone, "depot": {"STRUCTURE": {"com.vmware.esx.settings.hosts.depot_overrides.depot": {"location": branch}}}}),
        )
        .await;
    assert!(r["result"].get("error").is_none(), "{r}");
    assert_eq!(s.get_json(&h, &viewer).await, json!({"depots": []}));

    // Kept across a restart.
    s.stop().await;
    let s = start_on(dir.path()).await;
    let t = s.rest_login(ADMIN.0, ADMIN.1).await;
    assert_eq!(s.get_json(&c, &t).await, json!({"depots": [{"location": branch}]}));
    let (st, _) = s.send(Method::POST, &format!("{c}?action=remove"), &t, Some(json!({"location": again}))).await;
    assert_eq!(st, 204);
    assert_eq!(s.get_json(&c, &t).await, json!({"depots": []}));
    s.stop().await;
}

fn host_state(version: &str) -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/host-state/compliant.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    v["base_image"]["Version"] = json!(version);
    v
}

/// The messages of one check's notifications of one severity.
fn texts(result: &Value, check: &str, severity: &str) -> Vec<String> {
    result["notifications"][check][severity]
        .as_array()
        .map(|l| l.iter().map(|n| n["message"]["default_message"].as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enablement_checks_what_esxlcm_knows_and_records_enable() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_on(dir.path()).await;
    let t = s.rest_login(ADMIN.0, ADMIN.1).await;
    let viewer = s.rest_login(VIEWER.0, VIEWER.1).await;
    let (cluster, member, standalone) = inventory(&s, &t).await;
    let c = format!("/api/esx/settings/clusters/{cluster}/enablement/software");
    let h = format!("/api/esx/settings/hosts/{standalone}/enablement/software");

    assert_eq!(s.get_json(&c, &viewer).await, json!({"enabled": true}));
    assert_eq!(s.get_json(&h, &viewer).await, json!({"enabled": true}));
    let (st, e) = s.send(Method::GET, &format!("/api/esx/settings/hosts/{member}/enablement/software"), &t, None).await;
    assert_eq!((st, error_type(&e)), (400, Some("NOT_ALLOWED_IN_CURRENT_STATE")), "{e}");

    // No image committed, the member has posted nothing.
    let info = s.rest_task(Method::POST, &format!("{c}?action=check"), &t, None).await;
    assert_eq!(info["status"], "SUCCEEDED", "{info}");
    let r = &info["result"];
    assert!(texts(r, "SOFTWARE_SPECIFICATION_EXISTENCE", "errors")[0].contains("no desired image"), "{r}");
    assert!(texts(r, "SOFTWARE", "warnings")[0].contains(&member), "{r}");
    assert_eq!(r["notifications"]["VERSION"], json!({"info": [], "warnings": [], "errors": []}), "{r}");
    let n = &r["notifications"]["SOFTWARE_SPECIFICATION_EXISTENCE"]["errors"][0];
    assert_eq!(n["type"], "ERROR");
    assert!(n["resolution"]["default_message"].as_str().unwrap().contains("commit"), "{n}");

    // Skipped checks are not reported.
    let skip = json!({"checks_to_skip": ["SOFTWARE_SPECIFICATION_EXISTENCE", "VERSION"]});
    let info = s.rest_task(Method::POST, &format!("{c}?action=check"), &t, Some(skip)).await;
    let keys: BTreeSet<&str> =
        info["result"]["notifications"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, BTreeSet::from(["SOFTWARE"]), "{info}");

    // Posted states are read: ESXi 8 passes, ESXi 6.7 cannot be managed with an image.
    let (st, e) = s
        .send(Method::PUT, &format!("/api/esxlcm/hosts/{member}/state"), &t, Some(host_state("8.0.3-0.35.24280767")))
        .await;
    assert_eq!(st, 204, "{e}");
    let (st, e) = s
        .send(Method::PUT, &format!("/api/esxlcm/hosts/{standalone}/state"), &t, Some(host_state("6.7.0-3.0.15160138")))
        .await;
    assert_eq!(st, 204, "{e}");
    let info = s.rest_task(Method::POST, &format!("{c}?action=check"), &t, None).await;
    let r = &info["result"];
    assert!(texts(r, "SOFTWARE", "warnings").is_empty(), "{r}");
    assert!(texts(r, "VERSION", "info")[0].contains("8.0.3"), "{r}");
    let info = s.rest_task(Method::POST, &format!("{h}?action=check"), &t, None).await;
    let r = &info["result"];
    assert!(texts(r, "VERSION", "errors")[0].contains("6.7.0"), "{r}");

    // Enable runs the checks and refuses on errors, unless told to skip them.
    let info = s.rest_task(Method::PUT, &c, &t, None).await;
    assert_eq!(info["status"], "FAILED", "{info}");
    assert_eq!(info["error"]["error_type"], "NOT_ALLOWED_IN_CURRENT_STATE", "{info}");
    let all: Vec<&str> =
        info["error"]["messages"].as_array().unwrap().iter().map(|m| m["default_message"].as_str().unwrap()).collect();
    assert!(all.iter().any(|m| m.contains("no desired image")), "{all:?}");
    let info = s.rest_task(Method::PUT, &c, &t, Some(json!({"skip_software_check": true}))).await;
    assert_eq!(info["status"], "SUCCEEDED", "{info}");
    let state: Value = crate::api_support::state_json(dir.path());
    assert_eq!(state["software_enablements"][&cluster]["user"], ADMIN.0, "recorded");

    // Over JSON-RPC, as a task only.
    let session = s.rpc_login(ADMIN.0, ADMIN.1).await;
    let r = s
        .rpc_s(&session, "com.vmware.esx.settings.hosts.enablement.software", "check", json!({"host": standalone}))
        .await;
    rpc_error(&r, "operation_not_found");
    let r = s
        .rpc_s(
            &session,
            "com.vmware.esx.settings.hosts.enablement.software",
            "check$task",
            json!({"host": standalone, "spec": {"OPTIONAL": null}}),
        )
        .await;
    let task = r["result"]["output"].as_str().unwrap_or_else(|| panic!("{r}")).to_owned();
    let (info, _) = s.rpc_wait_task(&session, &task).await;
    assert_eq!(info["status"], "SUCCEEDED", "{info}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_policies_effective_values_and_union_rules() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_on(dir.path()).await;
    let t = s.rest_login(ADMIN.0, ADMIN.1).await;
    let viewer = s.rest_login(VIEWER.0, VIEWER.1).await;
    let (cluster, member, standalone) = inventory(&s, &t).await;
    let defaults = "/api/esx/settings/defaults/clusters/policies/apply";
    let c = format!("/api/esx/settings/clusters/{cluster}/policies/apply");

    // Nothing configured: the built-in defaults.
    assert_eq!(s.get_json(defaults, &viewer).await, json!({}));
    assert_eq!(s.get_json(&c, &viewer).await, json!({}));
    let built_in = json!({
        "failure_action": {"action": "RETRY", "retry_delay": 300, "retry_count": 3},
        "pre_remediation_power_action": "DO_NOT_CHANGE_VMS_POWER_STATE",
        "enable_quick_boot": false, "disable_dpm": true, "disable_hac": false, "evacuate_offline_vms": false,
        "enforce_hcl_validation": false, "parallel_remediation_action": {"enabled": false}, "enforce_quick_patch": false,
    });
    assert_eq!(s.get_json(&format!("{defaults}/effective"), &viewer).await, built_in);
    assert_eq!(s.get_json(&format!("{c}/effective"), &viewer).await, built_in);

    // A configured default applies to every cluster.
    let default = json!({"enable_quick_boot": true, "failure_action": {"action": "FAIL"}});
    let (st, e) = s.send(Method::PUT, defaults, &t, Some(default.clone())).await;
    assert_eq!(st, 204, "{e}");
    assert_eq!(s.get_json(defaults, &viewer).await, default);
    let eff = s.get_json(&format!("{c}/effective"), &viewer).await;
    assert_eq!(eff["enable_quick_boot"], true);
    assert_eq!(eff["failure_action"], json!({"action": "FAIL"}));
    assert_eq!(eff["disable_dpm"], true, "built in");

    // A partial cluster override: its own values win, the rest still comes from the default.
    let own = json!({"disable_dpm": false, "failure_action": {"action": "RETRY", "retry_delay": 60, "retry_count": 5},
                     "parallel_remediation_action": {"enabled": true, "max_hosts": 4}});
    let (st, e) = s.send(Method::PUT, &c, &t, Some(own.clone())).await;
    assert_eq!(st, 204, "{e}");
    assert_eq!(s.get_json(&c, &viewer).await, own);
    let eff = s.get_json(&format!("{c}/effective"), &viewer).await;
    assert_eq!(eff["disable_dpm"], false);
    assert_eq!(eff["failure_action"], json!({"action": "RETRY", "retry_delay": 60, "retry_count": 5}));
    assert_eq!(eff["parallel_remediation_action"], json!({"enabled": true, "max_hosts": 4}));
    assert_eq!(eff["enable_quick_boot"], true, "from the default");
    assert_eq!(eff["pre_remediation_power_action"], "DO_NOT_CHANGE_VMS_POWER_STATE", "built in");
    // The defaults' own effective view is unchanged by a cluster's.
    assert_eq!(s.get_json(&format!("{defaults}/effective"), &viewer).await["disable_dpm"], true);

    // Union rules: RETRY needs retry_delay and retry_count; FAIL takes neither.
    for bad in [
        json!({"failure_action": {"action": "RETRY", "retry_delay": 60}}),
        json!({"failure_action": {"action": "FAIL", "retry_count": 3}}),
        json!({"failure_action": {"action": "RETRY", "retry_delay": 0, "retry_count": 3}}),
        json!({"pre_remediation_power_action": "REBOOT_EVERYTHING"}),
    ] {
        let (st, e) = s.send(Method::PUT, &c, &t, Some(bad.clone())).await;
        assert_eq!((st, error_type(&e)), (400, Some("INVALID_ARGUMENT")), "{bad}: {e}");
    }
    assert_eq!(s.get_json(&c, &viewer).await, own, "refused specs change nothing");
    let session = s.rpc_login(ADMIN.0, ADMIN.1).await;
    let fa = "com.vmware.esx.settings.clusters.policies.apply.failure_action";
    let spec = json!({"STRUCTURE": {"com.vmware.esx.settings.clusters.policies.apply.configured_policy_spec": {
        "failure_action": {"OPTIONAL": {"STRUCTURE": {fa: {"action": "RETRY", "retry_delay": {"OPTIONAL": null}, "retry_count": {"OPTIONAL": 2}}}}}}}});
    let r = s
        .rpc_s(
            &session,
            "com.vmware.esx.settings.clusters.policies.apply",
            "set",
            json!({"cluster": cluster, "spec": spec}),
        )
        .await;
    rpc_error(&r, "invalid_argument");
    let (st, _) = s.send(Method::PUT, &c, &viewer, Some(json!({}))).await;
    assert_eq!(st, 403);
    let (st, e) =
        s.send(Method::GET, "/api/esx/settings/clusters/domain-c999/policies/apply/effective", &t, None).await;
    assert_eq!((st, error_type(&e)), (404, Some("NOT_FOUND")));

    // Standalone hosts: their defaults and own values; a host in a cluster has the cluster's.
    let h = format!("/api/esx/settings/hosts/{standalone}/policies/apply");
    let host_built_in = json!({"failure_action": {"action": "RETRY", "retry_delay": 300, "retry_count": 3},
        "pre_remediation_power_action": "DO_NOT_CHANGE_VMS_POWER_STATE", "enable_quick_boot": false});
    assert_eq!(s.get_json(&format!("{h}/effective"), &viewer).await, host_built_in);
    let (st, _) = s
        .send(
            Method::PUT,
            "/api/esx/settings/defaults/hosts/policies/apply",
            &t,
            Some(json!({"pre_remediation_power_action": "SUSPEND_VMS"})),
        )
        .await;
    assert_eq!(st, 204);
    let (st, _) = s.send(Method::PUT, &h, &t, Some(json!({"enable_quick_boot": true}))).await;
    assert_eq!(st, 204);
    let eff = s.get_json(&format!("{h}/effective"), &viewer).await;
    assert_eq!(
        (eff["pre_remediation_power_action"].as_str(), eff["enable_quick_boot"].as_bool()),
        (Some("SUSPEND_VMS"), Some(true))
    );
    assert_eq!(
        s.get_json("/api/esx/settings/defaults/hosts/policies/apply/effective", &viewer).await["enable_quick_boot"],
        false
    );
    let (st, e) =
        s.send(Method::GET, &format!("/api/esx/settings/hosts/{member}/policies/apply/effective"), &t, None).await;
    assert_eq!((st, error_type(&e)), (400, Some("NOT_ALLOWED_IN_CURRENT_STATE")), "{e}");

    // JSON-RPC: the effective policy with its declared structures.
    let r = s
        .rpc_s(
            &session,
            "com.vmware.esx.settings.clusters.policies.apply.effective",
            "get",
            json!({"cluster": cluster}),
        )
        .await;
    let eff = &r["result"]["output"]["STRUCTURE"]["com.vmware.esx.settings.clusters.policies.apply.effective.effective_policy_spec"];
    assert_eq!(eff["disable_dpm"], false, "{r}");
    assert_eq!(
        eff["failure_action"]["STRUCTURE"]["com.vmware.esx.settings.clusters.policies.apply.effective.failure_action"]
            ["retry_count"],
        json!({"OPTIONAL": 5}),
        "{r}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn umds_depot_is_synced_and_joins_depot_content() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("umds-export");
    let (_, comps) = tree_depot(&tree, 5);
    let (port, stop) = serve_depot(&tree).await;
    let data = dir.path().join("data");
    let s = start_on(&data).await;
    let t = s.rest_login(ADMIN.0, ADMIN.1).await;
    let viewer = s.rest_login(VIEWER.0, VIEWER.1).await;
    let umds = "/api/esx/settings/depots/umds";
    let components = "/api/esx/settings/depot-content/components";

    let (st, e) = s.send(Method::GET, umds, &viewer, None).await;
    assert_eq!((st, error_type(&e)), (404, Some("NOT_FOUND")), "{e}");
    let (st, e) = s.send(Method::PUT, umds, &t, Some(json!({"location": "/srv/umds"}))).await;
    assert_eq!((st, error_type(&e)), (400, Some("INVALID_ARGUMENT")), "{e}");
    let location = format!("http://127.0.0.1:{port}/vmw-depot-index.xml");
    let (st, e) =
        s.send(Method::PUT, umds, &t, Some(json!({"location": location, "description": "branch UMDS"}))).await;
    assert_eq!(st, 204, "{e}");
    let (st, got) = s.send(Method::GET, umds, &viewer, None).await;
    assert_eq!(st, 200);
    assert_eq!(got, json!({"location": location, "description": "branch UMDS", "enabled": true, "owner": ADMIN.0}));
    let (st, e) = s.send(Method::GET, &format!("{umds}/content"), &viewer, None).await;
    assert_eq!((st, error_type(&e)), (400, Some("NOT_ALLOWED_IN_CURRENT_STATE")), "{e}");

    // depots.sync fetches it like an online depot; its content is depot content.
    let info = s.rest_task(Method::POST, "/api/esx/settings/depots?action=sync", &t, None).await;
    assert_eq!(info["status"], "SUCCEEDED", "{info}");
    assert_eq!(component_names(&s.get_json(components, &viewer).await), comps);
    let content = s.get_json(&format!("{umds}/content"), &viewer).await;
    let bundles = content["metadata_bundles"].as_object().unwrap_or_else(|| panic!("{content}"));
    assert!(
        bundles.values().flat_map(|v| v.as_array().unwrap()).any(|m| !m["base_images"].as_array().unwrap().is_empty())
    );

    // Disabled it leaves depot content; enabled it comes back without a new sync.
    let (st, _) = s.send(Method::PATCH, umds, &t, Some(json!({"enabled": false}))).await;
    assert_eq!(st, 204);
    assert_eq!(s.get_json(components, &viewer).await, json!([]));
    let (st, _) = s.send(Method::PATCH, umds, &t, Some(json!({"enabled": true, "description": "d2"}))).await;
    assert_eq!(st, 204);
    assert_eq!(component_names(&s.get_json(components, &viewer).await), comps);
    assert_eq!(s.get_json(umds, &viewer).await["description"], "d2");

    // The synced metadata serves after a restart with the depot server gone.
    stop.send(()).unwrap();
    s.stop().await;
    let s = start_on(&data).await;
    let t = s.rest_login(ADMIN.0, ADMIN.1).await;
    assert_eq!(component_names(&s.get_json(components, &t).await), comps);

    // A failed sync names the UMDS depot.
    let info = s.rest_task(Method::POST, "/api/esx/settings/depots?action=sync", &t, None).await;
    assert_eq!(info["status"], "FAILED", "{info}");
    let message = info["error"]["messages"][0]["default_message"].as_str().unwrap();
    assert!(message.contains("UMDS depot") && message.contains(&location), "{message}");

    // Delete (a task too) forgets it and its cache.
    let info = s.rest_task(Method::DELETE, umds, &t, None).await;
    assert_eq!(info["status"], "SUCCEEDED", "{info}");
    let (st, _) = s.send(Method::GET, umds, &t, None).await;
    assert_eq!(st, 404);
    assert_eq!(s.get_json(components, &t).await, json!([]));
    assert!(!data.join("store/published/umds").exists(), "the store source is gone with its published tree");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enum_values_are_checked_in_both_dialects() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_on(dir.path()).await;
    let t = s.rest_login(ADMIN.0, ADMIN.1).await;
    let defaults = "/api/esx/settings/defaults/clusters/policies/apply";

    // REST: a value the enum does not have is refused with the field's path and the values.
    let (st, e) =
        s.send(Method::PUT, defaults, &t, Some(json!({"pre_remediation_power_action": "REBOOT_EVERYTHING"}))).await;
    assert_eq!((st, error_type(&e)), (400, Some("INVALID_ARGUMENT")), "{e}");
    let msg = e["messages"][0]["default_message"].as_str().unwrap();
    assert!(msg.contains("spec.pre_remediation_power_action"), "{msg}");
    assert!(msg.contains("'REBOOT_EVERYTHING'") && msg.contains("POWER_OFF_VMS, SUSPEND_VMS"), "{msg}");
    // A nested enum, and the values the enum has pass.
    let (st, e) = s.send(Method::PUT, defaults, &t, Some(json!({"failure_action": {"action": "IGNORE"}}))).await;
    assert_eq!((st, error_type(&e)), (400, Some("INVALID_ARGUMENT")), "{e}");
    assert!(e["messages"][0]["default_message"].as_str().unwrap().contains("spec.failure_action.action"), "{e}");
    let (st, e) =
        s.send(Method::PUT, defaults, &t, Some(json!({"pre_remediation_power_action": "POWER_OFF_VMS"}))).await;
    assert_eq!(st, 204, "{e}");

    // JSON-RPC: the same check on the DataValue form.
    let session = s.rpc_login(ADMIN.0, ADMIN.1).await;
    let schedule = |day: &str| {
        json!({"spec": {"OPTIONAL": {"STRUCTURE": {"com.vmware.esx.settings.depots.sync_schedule.spec": {
            "enabled": true, "email_addresses": [],
            "schedule": {"OPTIONAL": {"STRUCTURE": {"com.vmware.esx.settings.depots.sync_schedule.schedule": {
                "type": "WEEKLY", "minute": {"OPTIONAL": 0}, "hour": {"OPTIONAL": 3},
                "day_of_week": {"OPTIONAL": day}}}}}}}}}})
    };
    let svc = "com.vmware.esx.settings.depots.sync_schedule";
    let r = s.rpc_s(&session, svc, "set", schedule("FUNDAY")).await;
    let e = rpc_error(&r, "invalid_argument").to_string();
    assert!(
        e.contains("spec.schedule.day_of_week") && e.contains("'FUNDAY'") && e.contains("FRIDAY, MONDAY, SATURDAY"),
        "{e}"
    );
    let r = s.rpc_s(&session, svc, "set", schedule("SUNDAY")).await;
    assert!(r["result"].get("error").is_none(), "{r}");
    assert_eq!(s.get_json("/api/esx/settings/depots/sync-schedule", &t).await["schedule"]["day_of_week"], "SUNDAY");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_cluster_or_host_deletes_its_settings() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_on(dir.path()).await;
    let t = s.rest_login(ADMIN.0, ADMIN.1).await;
    let (cluster, member, standalone) = inventory(&s, &t).await;
    let state = || -> Value { crate::api_support::state_json(dir.path()) };
    let depot = json!({"location": "http://branch-01.example/index.xml"});
    for (kind, id) in [("clusters", &cluster), ("hosts", &standalone)] {
        let base = format!("/api/esx/settings/{kind}/{id}");
        let (st, e) =
            s.send(Method::POST, &format!("{base}/depot-overrides?action=add"), &t, Some(depot.clone())).await;
        assert_eq!(st, 204, "{e}");
        let (st, e) =
            s.send(Method::PUT, &format!("{base}/policies/apply"), &t, Some(json!({"enable_quick_boot": true}))).await;
        assert_eq!(st, 204, "{e}");
        let info = s
            .rest_task(
                Method::PUT,
                &format!("{base}/enablement/software"),
                &t,
                Some(json!({"skip_software_check": true})),
            )
            .await;
        assert_eq!(info["status"], "SUCCEEDED", "{info}");
    }
    let before = state();
    for (map, id) in [
        ("cluster_depot_overrides", &cluster),
        ("cluster_apply_policies", &cluster),
        ("software_enablements", &cluster),
        ("host_depot_overrides", &standalone),
        ("host_apply_policies", &standalone),
        ("software_enablements", &standalone),
    ] {
        assert!(before[map].get(id.as_str()).is_some(), "{map} of {id} is set: {before}");
    }

    for path in [
        format!("/api/esxlcm/hosts/{standalone}"),
        format!("/api/esxlcm/hosts/{member}"),
        format!("/api/esxlcm/clusters/{cluster}"),
    ] {
        let (st, e) = s.send(Method::DELETE, &path, &t, None).await;
        assert_eq!(st, 204, "{path}: {e}");
    }
    let after = state();
    for map in [
        "cluster_depot_overrides",
        "cluster_apply_policies",
        "software_enablements",
        "host_depot_overrides",
        "host_apply_policies",
    ] {
        assert_eq!(after[map], json!({}), "{map} is emptied with its owners: {after}");
    }
    // The settings endpoints no longer know them.
    let (st, e) = s.send(Method::GET, &format!("/api/esx/settings/clusters/{cluster}/depot-overrides"), &t, None).await;
    assert_eq!((st, error_type(&e)), (404, Some("NOT_FOUND")), "{e}");
    s.stop().await;
}
