//! The operations served, each declared once with who may call it. Wire shapes come from
//! the schema; handlers only see plain JSON checked against it.

pub mod cis;
pub mod depot_content;
pub mod depots;

use super::dispatch::{Access, Implemented};

const ONLINE: &str = "com.vmware.esx.settings.depots.online";
const OFFLINE: &str = "com.vmware.esx.settings.depots.offline";
const OFFLINE_CONTENT: &str = "com.vmware.esx.settings.depots.offline.content";

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
