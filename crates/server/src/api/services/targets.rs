//! The cluster or standalone host a settings call (`depot_overrides`, `enablement`,
//! `policies`) names. A host in a cluster is managed through its cluster: vLCM's `hosts.*`
//! settings are for standalone hosts only.

use crate::api::errors::{ApiError, ErrorKind};
use crate::api::persist::ServerState;

/// Which kind of inventory object a settings service works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Cluster,
    Host,
}

impl Target {
    /// The input name the operation takes its id from.
    pub fn input(self) -> &'static str {
        match self {
            Self::Cluster => "cluster",
            Self::Host => "host",
        }
    }
}

/// `not_found` unless `id` is a cluster (for `Cluster`) or a standalone host (for `Host`);
/// a host in a cluster is `not_allowed_in_current_state`, naming the cluster to use.
pub fn check(s: &ServerState, target: Target, id: &str) -> Result<(), ApiError> {
    match target {
        Target::Cluster => s.clusters.get(id).map(drop).ok_or_else(|| ApiError::not_found("cluster", id)),
        Target::Host => {
            let host = s.hosts.get(id).ok_or_else(|| ApiError::not_found("host", id))?;
            match &host.cluster {
                None => Ok(()),
                Some(cluster) => Err(ApiError::new(
                    ErrorKind::NotAllowedInCurrentState,
                    "com.vmware.esxlcm.host.in_cluster",
                    format!(
                        "host '{id}' is in cluster '{cluster}': its image, depots and policies are the cluster's \
                         (use esx.settings.clusters.* with '{cluster}')"
                    ),
                )),
            }
        }
    }
}

/// Drop settings of clusters and hosts deleted from the inventory since (ids are never
/// reused, so these are dead weight in `state.json`). Called by the settings services'
/// changes.
pub fn prune(s: &mut ServerState) {
    let (clusters, hosts) = (&s.clusters, &s.hosts);
    s.cluster_depot_overrides.retain(|id, _| clusters.contains_key(id));
    s.cluster_apply_policies.retain(|id, _| clusters.contains_key(id));
    s.host_depot_overrides.retain(|id, _| hosts.contains_key(id));
    s.host_apply_policies.retain(|id, _| hosts.contains_key(id));
    s.software_enablements.retain(|id, _| clusters.contains_key(id) || hosts.contains_key(id));
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::api::persist::{Cluster, Enablement};

    #[test]
    fn settings_of_deleted_objects_are_pruned() {
        let mut s = ServerState::default();
        let cluster: Cluster = serde_json::from_value(serde_json::json!({"name": "c", "commit": null})).unwrap();
        s.clusters.insert("domain-c1".into(), cluster);
        for id in ["domain-c1", "domain-c2"] {
            s.cluster_depot_overrides.insert(id.into(), vec!["http://x/index.xml".into()]);
            s.software_enablements.insert(id.into(), Enablement { user: "u".into(), time: "t".into() });
        }
        s.host_apply_policies.insert("host-9".into(), serde_json::json!({}));
        prune(&mut s);
        assert_eq!(s.cluster_depot_overrides.keys().collect::<Vec<_>>(), ["domain-c1"]);
        assert_eq!(s.software_enablements.keys().collect::<Vec<_>>(), ["domain-c1"]);
        assert!(s.host_apply_policies.is_empty());
        assert!(check(&s, Target::Cluster, "domain-c2").is_err());
    }
}
