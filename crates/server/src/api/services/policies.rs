//! Apply policies: `clusters.policies.apply`, `hosts.policies.apply` (per cluster or
//! standalone host), `defaults.clusters.policies.apply`, `defaults.hosts.policies.apply`
//! (global), and their `.effective` views.
//!
//! The effective value of each setting is the first that is set of: the cluster's (host's)
//! configured value, the configured default, the built-in default. `failure_action` and
//! `parallel_remediation_action` are taken whole (their fields belong together); the other
//! nested specs merge field by field. esxlcm does not remediate hosts: the policies are
//! stored and answered for the tooling that does.

use serde_json::{Map, Value, json};

use super::targets::{self, Target};
use crate::api::errors::ApiError;
use crate::api::handler::{Ctx, HandlerFuture, Out};
use crate::api::persist::ServerState;

/// Which configured policy an operation reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Cluster,
    Host,
    DefaultClusters,
    DefaultHosts,
}

/// Nested specs that are taken whole, never merged field by field.
const WHOLE: &[&str] = &["failure_action", "parallel_remediation_action"];

/// vLCM's built-in remediation settings for images, as the vSphere documentation gives
/// them ("Configure Remediation Settings for vSphere Lifecycle Manager Images",
/// https://docs.vmware.com/en/VMware-vSphere/7.0/com.vmware.vsphere-lifecycle-manager.doc/GUID-472964C3-70F3-4B83-8B1E-6C7CB4906DF8.html,
/// and the 8.0 page GUID-06A5D316-9452-4A5D-A5BB-3AEEFE0483B4): Quick Boot off; VM power
/// state not changed; on a maintenance-mode failure retry 3 times, 5 minutes apart; DPM
/// disabled during remediation; HA admission control left on; powered-off and suspended
/// VMs not migrated; parallel remediation off; HCL validation and Live Patch not enforced.
fn built_in(cluster: bool) -> Value {
    let failure = json!({"action": "RETRY", "retry_delay": 300, "retry_count": 3});
    if cluster {
        json!({
            "failure_action": failure,
            "pre_remediation_power_action": "DO_NOT_CHANGE_VMS_POWER_STATE",
            "enable_quick_boot": false,
            "disable_dpm": true,
            "disable_hac": false,
            "evacuate_offline_vms": false,
            "enforce_hcl_validation": false,
            "parallel_remediation_action": {"enabled": false},
            "enforce_quick_patch": false,
        })
    } else {
        json!({
            "failure_action": failure,
            "pre_remediation_power_action": "DO_NOT_CHANGE_VMS_POWER_STATE",
            "enable_quick_boot": false,
        })
    }
}

/// Fill the unset fields of `over` from `under` (both plain configured specs).
fn merge(over: &Value, under: &Value) -> Value {
    let (Some(o), Some(u)) = (over.as_object(), under.as_object()) else {
        return if over.is_null() { under.clone() } else { over.clone() };
    };
    let mut out: Map<String, Value> = u.clone();
    for (k, v) in o {
        if v.is_null() {
            continue;
        }
        let merged = match (WHOLE.contains(&k.as_str()), u.get(k)) {
            (false, Some(below)) if v.is_object() && below.is_object() => merge(v, below),
            _ => v.clone(),
        };
        out.insert(k.clone(), merged);
    }
    Value::Object(out)
}

/// The effective policy: `own` (a cluster's or host's, if any) over `default` over the built-in.
fn effective(own: Option<&Value>, default: Option<&Value>, cluster: bool) -> Value {
    let base = built_in(cluster);
    let with_default = default.map_or_else(|| base.clone(), |d| merge(d, &base));
    own.map_or(with_default.clone(), |o| merge(o, &with_default))
}

/// Checks the schema cannot express (union rules and enum values are enforced on the way
/// in, by the typed layer): the ranges of the retry and parallelism counts.
fn validate(spec: &Value) -> Result<(), ApiError> {
    if let Some(f) = spec.get("failure_action").filter(|v| !v.is_null()) {
        for field in ["retry_delay", "retry_count"] {
            if let Some(n) = f.get(field).and_then(Value::as_i64)
                && n < 1
            {
                return Err(ApiError::invalid_argument(format!(
                    "failure_action.{field} must be at least 1, not {n} ({field}: {})",
                    if field == "retry_delay" { "seconds between attempts" } else { "attempts" }
                )));
            }
        }
    }
    if let Some(n) = spec.pointer("/parallel_remediation_action/max_hosts").and_then(Value::as_i64)
        && n < 1
    {
        return Err(ApiError::invalid_argument(format!(
            "parallel_remediation_action.max_hosts must be at least 1, not {n}"
        )));
    }
    Ok(())
}

fn configured(s: &ServerState, scope: Scope, id: &str) -> Option<Value> {
    match scope {
        Scope::Cluster => s.cluster_apply_policies.get(id).cloned(),
        Scope::Host => s.host_apply_policies.get(id).cloned(),
        Scope::DefaultClusters => s.default_cluster_apply_policy.clone(),
        Scope::DefaultHosts => s.default_host_apply_policy.clone(),
    }
}

/// The id input and the inventory check of a per-object scope; `None` for the defaults.
fn target(scope: Scope) -> Option<Target> {
    match scope {
        Scope::Cluster => Some(Target::Cluster),
        Scope::Host => Some(Target::Host),
        Scope::DefaultClusters | Scope::DefaultHosts => None,
    }
}

fn id_of(ctx: &Ctx, scope: Scope) -> Result<String, ApiError> {
    target(scope).map_or_else(|| Ok(String::new()), |t| ctx.input(t.input()))
}

fn check_target(s: &ServerState, scope: Scope, id: &str) -> Result<(), ApiError> {
    target(scope).map_or(Ok(()), |t| targets::check(s, t, id))
}

async fn get(ctx: Ctx, scope: Scope) -> Result<Out, ApiError> {
    let id = id_of(&ctx, scope)?;
    let s = ctx.state.depots.snapshot().await;
    check_target(&s, scope, &id)?;
    Ok(Out::Plain(configured(&s, scope, &id).unwrap_or_else(|| json!({}))))
}

async fn set(ctx: Ctx, scope: Scope) -> Result<Out, ApiError> {
    let id = id_of(&ctx, scope)?;
    let spec: Value = ctx.input("spec")?;
    validate(&spec)?;
    ctx.state
        .depots
        .mutate(|s| {
            check_target(s, scope, &id)?;
            targets::prune(s);
            match scope {
                Scope::Cluster => drop(s.cluster_apply_policies.insert(id.clone(), spec)),
                Scope::Host => drop(s.host_apply_policies.insert(id.clone(), spec)),
                Scope::DefaultClusters => s.default_cluster_apply_policy = Some(spec),
                Scope::DefaultHosts => s.default_host_apply_policy = Some(spec),
            }
            Ok(())
        })
        .await?;
    tracing::info!(?scope, target = %id, user = %ctx.caller.user, "apply policy set");
    Ok(Out::Plain(Value::Null))
}

async fn get_effective(ctx: Ctx, scope: Scope) -> Result<Out, ApiError> {
    let id = id_of(&ctx, scope)?;
    let s = ctx.state.depots.snapshot().await;
    check_target(&s, scope, &id)?;
    let value = match scope {
        Scope::Cluster => effective(s.cluster_apply_policies.get(&id), s.default_cluster_apply_policy.as_ref(), true),
        Scope::Host => effective(s.host_apply_policies.get(&id), s.default_host_apply_policy.as_ref(), false),
        Scope::DefaultClusters => effective(None, s.default_cluster_apply_policy.as_ref(), true),
        Scope::DefaultHosts => effective(None, s.default_host_apply_policy.as_ref(), false),
    };
    Ok(Out::Plain(value))
}

pub fn clusters_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(get(ctx, Scope::Cluster))
}
pub fn clusters_set(ctx: Ctx) -> HandlerFuture {
    Box::pin(set(ctx, Scope::Cluster))
}
pub fn clusters_effective(ctx: Ctx) -> HandlerFuture {
    Box::pin(get_effective(ctx, Scope::Cluster))
}
pub fn hosts_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(get(ctx, Scope::Host))
}
pub fn hosts_set(ctx: Ctx) -> HandlerFuture {
    Box::pin(set(ctx, Scope::Host))
}
pub fn hosts_effective(ctx: Ctx) -> HandlerFuture {
    Box::pin(get_effective(ctx, Scope::Host))
}
pub fn default_clusters_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(get(ctx, Scope::DefaultClusters))
}
pub fn default_clusters_set(ctx: Ctx) -> HandlerFuture {
    Box::pin(set(ctx, Scope::DefaultClusters))
}
pub fn default_clusters_effective(ctx: Ctx) -> HandlerFuture {
    Box::pin(get_effective(ctx, Scope::DefaultClusters))
}
pub fn default_hosts_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(get(ctx, Scope::DefaultHosts))
}
pub fn default_hosts_set(ctx: Ctx) -> HandlerFuture {
    Box::pin(set(ctx, Scope::DefaultHosts))
}
pub fn default_hosts_effective(ctx: Ctx) -> HandlerFuture {
    Box::pin(get_effective(ctx, Scope::DefaultHosts))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn own_over_default_over_built_in() {
        let only_built_in = effective(None, None, true);
        assert_eq!(only_built_in["failure_action"], json!({"action": "RETRY", "retry_delay": 300, "retry_count": 3}));
        assert_eq!(only_built_in["disable_dpm"], true);

        let default = json!({"enable_quick_boot": true, "failure_action": {"action": "FAIL"},
                             "config_manager_policy_spec": {"serial_remediation": true}});
        let own = json!({"disable_dpm": false, "config_manager_policy_spec": {"auto_remediate_on_host_add": true},
                         "parallel_remediation_action": {"enabled": true}});
        let e = effective(Some(&own), Some(&default), true);
        assert_eq!(e["enable_quick_boot"], true, "from the default");
        assert_eq!(e["disable_dpm"], false, "the cluster's own");
        assert_eq!(e["failure_action"], json!({"action": "FAIL"}), "taken whole: no retry fields leak in");
        assert_eq!(
            e["config_manager_policy_spec"],
            json!({"serial_remediation": true, "auto_remediate_on_host_add": true})
        );
        assert_eq!(e["parallel_remediation_action"], json!({"enabled": true}));
        assert_eq!(e["pre_remediation_power_action"], "DO_NOT_CHANGE_VMS_POWER_STATE", "built in");

        let host = effective(None, None, false);
        assert!(host.get("disable_dpm").is_none(), "host policies have no cluster settings");
    }

    #[test]
    fn ranges_are_checked() {
        assert!(validate(&json!({"failure_action": {"action": "RETRY", "retry_delay": 0, "retry_count": 3}})).is_err());
        assert!(validate(&json!({"parallel_remediation_action": {"enabled": true, "max_hosts": 0}})).is_err());
        assert!(validate(&json!({"failure_action": {"action": "RETRY", "retry_delay": 60, "retry_count": 2}})).is_ok());
    }
}
