//! The operations served, each declared once with who may call it. Wire shapes come from
//! the schema; handlers only see plain JSON checked against it.

pub mod cis;
pub mod clusters;
pub mod depot_content;
pub mod depots;
pub mod image_wire;
pub mod inventory;

use super::dispatch::{Access, Implemented};

const DEPOTS: &str = "com.vmware.esx.settings.depots";
const ONLINE: &str = "com.vmware.esx.settings.depots.online";
const OFFLINE: &str = "com.vmware.esx.settings.depots.offline";
const OFFLINE_CONTENT: &str = "com.vmware.esx.settings.depots.offline.content";
const SW: &str = "com.vmware.esx.settings.clusters.software";
const SW_BASE: &str = "com.vmware.esx.settings.clusters.software.base_image";
const SW_ADD_ON: &str = "com.vmware.esx.settings.clusters.software.add_on";
const SW_COMPONENTS: &str = "com.vmware.esx.settings.clusters.software.components";
const SW_REMOVED: &str = "com.vmware.esx.settings.clusters.software.removed_components";
const SW_EFFECTIVE: &str = "com.vmware.esx.settings.clusters.software.effective_components";
const SW_COMMITS: &str = "com.vmware.esx.settings.clusters.software.commits";
const SW_COMPLIANCE: &str = "com.vmware.esx.settings.clusters.software.compliance";
const DRAFTS: &str = "com.vmware.esx.settings.clusters.software.drafts";
const D_BASE: &str = "com.vmware.esx.settings.clusters.software.drafts.software.base_image";
const D_ADD_ON: &str = "com.vmware.esx.settings.clusters.software.drafts.software.add_on";
const D_COMPONENTS: &str = "com.vmware.esx.settings.clusters.software.drafts.software.components";
const D_REMOVED: &str = "com.vmware.esx.settings.clusters.software.drafts.software.removed_components";
const D_EFFECTIVE: &str = "com.vmware.esx.settings.clusters.software.drafts.software.effective_components";
const INV_CLUSTERS: &str = "com.esxlcm.inventory.clusters";
const INV_HOSTS: &str = "com.esxlcm.inventory.hosts";
const INV_HOST_STATE: &str = "com.esxlcm.inventory.hosts.state";

macro_rules! op {
    ($service:expr, $op:literal, $access:ident, $handler:path) => {
        Implemented { service: $service, op: $op, access: Access::$access, handler: $handler }
    };
}

pub static IMPLEMENTED: &[Implemented] = &[
    op!("com.vmware.cis.session", "create", Login, cis::session_create),
    op!("com.vmware.cis.session", "get", Read, cis::session_get),
    op!("com.vmware.cis.session", "delete", Read, cis::session_delete),
    op!("com.vmware.cis.tasks", "get", Read, cis::tasks_get),
    op!("com.vmware.cis.tasks", "list", Read, cis::tasks_list),
    op!("com.vmware.cis.tasks", "cancel", Admin, cis::tasks_cancel),
    op!(ONLINE, "list", Read, depots::online_list),
    op!(ONLINE, "get", Read, depots::online_get),
    op!(ONLINE, "create", Admin, depots::online_create),
    op!(ONLINE, "update", Admin, depots::online_update),
    op!(ONLINE, "delete", Admin, depots::online_delete),
    op!(ONLINE, "flush", Admin, depots::online_flush),
    op!("com.vmware.esx.settings.depots.online.content", "get", Read, depots::online_content_get),
    op!(DEPOTS, "sync", Admin, depots::sync),
    op!("com.vmware.esx.settings.depots.sync_schedule", "get", Read, depots::sync_schedule_get),
    op!("com.vmware.esx.settings.depots.sync_schedule", "set", Admin, depots::sync_schedule_set),
    op!(OFFLINE, "list", Read, depots::offline_list),
    op!(OFFLINE, "get", Read, depots::offline_get),
    op!(OFFLINE, "create", Admin, depots::offline_create),
    op!(OFFLINE, "delete", Admin, depots::offline_delete),
    op!(OFFLINE_CONTENT, "get", Read, depots::offline_content_get),
    op!("com.vmware.esx.settings.depot_content.base_images", "list", Read, depot_content::base_images_list),
    op!("com.vmware.esx.settings.depot_content.base_images.versions", "get", Read, depot_content::base_image_get),
    op!("com.vmware.esx.settings.depot_content.add_ons", "list", Read, depot_content::add_ons_list),
    op!("com.vmware.esx.settings.depot_content.add_ons.versions", "get", Read, depot_content::add_on_get),
    op!("com.vmware.esx.settings.depot_content.components", "list", Read, depot_content::components_list),
    op!("com.vmware.esx.settings.depot_content.components.versions", "get", Read, depot_content::component_get),
    op!(INV_CLUSTERS, "create", Admin, inventory::clusters_create),
    op!(INV_CLUSTERS, "list", Read, inventory::clusters_list),
    op!(INV_CLUSTERS, "get", Read, inventory::clusters_get),
    op!(INV_CLUSTERS, "delete", Admin, inventory::clusters_delete),
    op!(INV_HOSTS, "create", Admin, inventory::hosts_create),
    op!(INV_HOSTS, "list", Read, inventory::hosts_list),
    op!(INV_HOSTS, "get", Read, inventory::hosts_get),
    op!(INV_HOSTS, "delete", Admin, inventory::hosts_delete),
    op!(INV_HOST_STATE, "set", Admin, inventory::host_state_set),
    op!(SW, "get", Read, clusters::software_get),
    op!(SW, "scan", Admin, clusters::scan),
    op!(SW, "export", Admin, clusters::export),
    op!(SW_BASE, "get", Read, clusters::base_image_get),
    op!(SW_ADD_ON, "get", Read, clusters::add_on_get),
    op!(SW_COMPONENTS, "get", Read, clusters::components_get),
    op!(SW_COMPONENTS, "list", Read, clusters::components_list),
    op!(SW_REMOVED, "get", Read, clusters::removed_components_get),
    op!(SW_REMOVED, "list", Read, clusters::removed_components_list),
    op!(SW_EFFECTIVE, "list", Read, clusters::effective_components_list),
    op!(SW_COMMITS, "get", Read, clusters::commits_get),
    op!(SW_COMPLIANCE, "get", Read, clusters::compliance_get),
    op!(DRAFTS, "create", Admin, clusters::drafts_create),
    op!(DRAFTS, "list", Read, clusters::drafts_list),
    op!(DRAFTS, "get", Read, clusters::drafts_get),
    op!(DRAFTS, "delete", Admin, clusters::drafts_delete),
    op!(DRAFTS, "import_software_spec", Admin, clusters::drafts_import),
    op!(DRAFTS, "validate", Admin, clusters::drafts_validate),
    op!(DRAFTS, "commit", Admin, clusters::drafts_commit),
    op!(DRAFTS, "scan", Read, clusters::drafts_scan),
    op!(D_BASE, "get", Read, clusters::draft_base_image_get),
    op!(D_BASE, "set", Admin, clusters::draft_base_image_set),
    op!(D_ADD_ON, "get", Read, clusters::draft_add_on_get),
    op!(D_ADD_ON, "set", Admin, clusters::draft_add_on_set),
    op!(D_ADD_ON, "delete", Admin, clusters::draft_add_on_delete),
    op!(D_COMPONENTS, "get", Read, clusters::draft_components_get),
    op!(D_COMPONENTS, "list", Read, clusters::draft_components_list),
    op!(D_COMPONENTS, "set", Admin, clusters::draft_components_set),
    op!(D_COMPONENTS, "delete", Admin, clusters::draft_components_delete),
    op!(D_COMPONENTS, "update", Admin, clusters::draft_components_update),
    op!(D_REMOVED, "get", Read, clusters::draft_removed_get),
    op!(D_REMOVED, "list", Read, clusters::draft_removed_list),
    op!(D_REMOVED, "set", Admin, clusters::draft_removed_set),
    op!(D_REMOVED, "delete", Admin, clusters::draft_removed_delete),
    op!(D_EFFECTIVE, "list", Read, clusters::draft_effective_components_list),
];

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::api::schema::Registry;

    /// Every implemented operation exists in the contract.
    #[test]
    fn implemented_ops_are_in_the_schema() {
        let r = Registry::load().unwrap();
        for i in IMPLEMENTED {
            assert!(r.op(i.service, i.op).is_some(), "{}.{}", i.service, i.op);
        }
    }

    /// docs/API.md says "done" for exactly the implemented operations.
    #[test]
    fn coverage_doc_matches_the_implementation() {
        let doc = include_str!("../../../../../docs/API.md");
        let done: Vec<&str> = doc.lines().filter(|l| l.contains("| done |")).collect();
        assert_eq!(done.len(), IMPLEMENTED.len(), "docs/API.md lists {} done operations", done.len());
        for i in IMPLEMENTED {
            let service = i.service.replace("com.vmware.esx.settings.", "esx.settings.").replace("com.vmware.", "");
            let row = format!("| `{service}` | `{}` |", i.op);
            assert!(done.iter().any(|l| l.starts_with(&row)), "docs/API.md: {row} is not marked done");
        }
    }
}
