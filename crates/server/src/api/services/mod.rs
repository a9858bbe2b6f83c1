//! The operations served, each declared once with who may call it. Wire shapes come from
//! the schema; handlers only see plain JSON checked against it.

pub mod audit;
pub mod cis;
pub mod depot_content;
pub mod depots;
pub mod image_wire;
pub mod installed;
pub mod inventory;
pub mod software;
// H3: settings services.
pub mod certificates;
pub mod enablement;
pub mod overrides;
pub mod policies;
pub mod settings_inventory;
pub mod targets;
pub mod trust;

use super::handler::{Access, Implemented};

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
const H_SW: &str = "com.vmware.esx.settings.hosts.software";
const H_BASE: &str = "com.vmware.esx.settings.hosts.software.base_image";
const H_ADD_ON: &str = "com.vmware.esx.settings.hosts.software.add_on";
const H_COMPONENTS: &str = "com.vmware.esx.settings.hosts.software.components";
const H_REMOVED: &str = "com.vmware.esx.settings.hosts.software.removed_components";
const H_EFFECTIVE: &str = "com.vmware.esx.settings.hosts.software.effective_components";
const H_SOLUTIONS: &str = "com.vmware.esx.settings.hosts.software.solutions";
const H_COMMITS: &str = "com.vmware.esx.settings.hosts.software.commits";
const H_COMPLIANCE: &str = "com.vmware.esx.settings.hosts.software.compliance";
const H_DRAFTS: &str = "com.vmware.esx.settings.hosts.software.drafts";
const H_D_NAME: &str = "com.vmware.esx.settings.hosts.software.drafts.display_name";
const H_D_BASE: &str = "com.vmware.esx.settings.hosts.software.drafts.software.base_image";
const H_D_ADD_ON: &str = "com.vmware.esx.settings.hosts.software.drafts.software.add_on";
const H_D_COMPONENTS: &str = "com.vmware.esx.settings.hosts.software.drafts.software.components";
const H_D_REMOVED: &str = "com.vmware.esx.settings.hosts.software.drafts.software.removed_components";
const H_D_EFFECTIVE: &str = "com.vmware.esx.settings.hosts.software.drafts.software.effective_components";
const R_SW: &str = "com.vmware.esx.settings.repository.software";
const R_EFFECTIVE: &str = "com.vmware.esx.settings.repository.software.effective_components";
const R_DRAFTS: &str = "com.vmware.esx.settings.repository.software.drafts";
const R_D_NAME: &str = "com.vmware.esx.settings.repository.software.drafts.display_name";
const R_D_BASE: &str = "com.vmware.esx.settings.repository.software.drafts.base_image";
const R_D_ADD_ON: &str = "com.vmware.esx.settings.repository.software.drafts.add_on";
const R_D_COMPONENTS: &str = "com.vmware.esx.settings.repository.software.drafts.components";
const R_D_REMOVED: &str = "com.vmware.esx.settings.repository.software.drafts.removed_components";
const R_D_EFFECTIVE: &str = "com.vmware.esx.settings.repository.software.drafts.effective_components";
const R_ALT_EFFECTIVE: &str = "com.vmware.esx.settings.repository.software.alternative_images.effective_components";
const R_D_ALT: &str = "com.vmware.esx.settings.repository.software.drafts.alternative_images";
const R_D_ALT_ADD_ON: &str = "com.vmware.esx.settings.repository.software.drafts.alternative_images.add_on";
const R_D_ALT_BASE: &str = "com.vmware.esx.settings.repository.software.drafts.alternative_images.base_image";
const R_D_ALT_COMPONENTS: &str = "com.vmware.esx.settings.repository.software.drafts.alternative_images.components";
const R_D_ALT_NAME: &str = "com.vmware.esx.settings.repository.software.drafts.alternative_images.display_name";
const R_D_ALT_EFFECTIVE: &str =
    "com.vmware.esx.settings.repository.software.drafts.alternative_images.effective_components";
const R_D_ALT_REMOVED: &str =
    "com.vmware.esx.settings.repository.software.drafts.alternative_images.removed_components";
const R_D_ALT_SELECTION: &str =
    "com.vmware.esx.settings.repository.software.drafts.alternative_images.selection_criteria";
const C_D_NAME: &str = "com.vmware.esx.settings.clusters.software.drafts.display_name";
const C_SOLUTIONS: &str = "com.vmware.esx.settings.clusters.software.solutions";
const C_ALT: &str = "com.vmware.esx.settings.clusters.software.alternative_images";
const C_ALT_NAME: &str = "com.vmware.esx.settings.clusters.software.alternative_images.display_name";
const C_ALT_SELECTION: &str = "com.vmware.esx.settings.clusters.software.alternative_images.selection_criteria";
const C_ALT_SW: &str = "com.vmware.esx.settings.clusters.software.alternative_images.software";
const C_ALT_ADD_ON: &str = "com.vmware.esx.settings.clusters.software.alternative_images.software.add_on";
const C_ALT_BASE: &str = "com.vmware.esx.settings.clusters.software.alternative_images.software.base_image";
const C_ALT_COMPONENTS: &str = "com.vmware.esx.settings.clusters.software.alternative_images.software.components";
const C_ALT_EFFECTIVE: &str =
    "com.vmware.esx.settings.clusters.software.alternative_images.software.effective_components";
const C_ALT_REMOVED: &str = "com.vmware.esx.settings.clusters.software.alternative_images.software.removed_components";
const C_ALT_SOLUTIONS: &str = "com.vmware.esx.settings.clusters.software.alternative_images.software.solutions";
const C_D_ALT: &str = "com.vmware.esx.settings.clusters.software.drafts.software.alternative_images";
const C_D_ALT_NAME: &str = "com.vmware.esx.settings.clusters.software.drafts.software.alternative_images.display_name";
const C_D_ALT_SELECTION: &str =
    "com.vmware.esx.settings.clusters.software.drafts.software.alternative_images.selection_criteria";
const C_D_ALT_ADD_ON: &str =
    "com.vmware.esx.settings.clusters.software.drafts.software.alternative_images.software.add_on";
const C_D_ALT_BASE: &str =
    "com.vmware.esx.settings.clusters.software.drafts.software.alternative_images.software.base_image";
const C_D_ALT_COMPONENTS: &str =
    "com.vmware.esx.settings.clusters.software.drafts.software.alternative_images.software.components";
const C_D_ALT_EFFECTIVE: &str =
    "com.vmware.esx.settings.clusters.software.drafts.software.alternative_images.software.effective_components";
const C_D_ALT_REMOVED: &str =
    "com.vmware.esx.settings.clusters.software.drafts.software.alternative_images.software.removed_components";
const C_HW: &str = "com.vmware.esx.settings.clusters.software.hardware_support";
const C_ALT_HW: &str = "com.vmware.esx.settings.clusters.software.alternative_images.software.hardware_support";
const C_D_HW: &str = "com.vmware.esx.settings.clusters.software.drafts.software.hardware_support";
const C_D_ALT_HW: &str =
    "com.vmware.esx.settings.clusters.software.drafts.software.alternative_images.software.hardware_support";
const R_D_HW: &str = "com.vmware.esx.settings.repository.software.drafts.hardware_support";
const R_D_ALT_HW: &str = "com.vmware.esx.settings.repository.software.drafts.alternative_images.hardware_support";
const HSM: &str = "com.vmware.esx.settings.hardware_support.managers";
const HSM_PACKAGES: &str = "com.vmware.esx.settings.hardware_support.managers.packages";
const HSM_VERSIONS: &str = "com.vmware.esx.settings.hardware_support.managers.packages.versions";
const INV_CLUSTERS: &str = "com.esxlcm.inventory.clusters";
const INV_HOSTS: &str = "com.esxlcm.inventory.hosts";
const INV_HOST_STATE: &str = "com.esxlcm.inventory.hosts.state";
const AUDIT: &str = "com.esxlcm.audit";

// H3's services.
const C_OVERRIDES: &str = "com.vmware.esx.settings.clusters.depot_overrides";
const H_OVERRIDES: &str = "com.vmware.esx.settings.hosts.depot_overrides";
const C_ENABLEMENT: &str = "com.vmware.esx.settings.clusters.enablement.software";
const H_ENABLEMENT: &str = "com.vmware.esx.settings.hosts.enablement.software";
const C_POLICY: &str = "com.vmware.esx.settings.clusters.policies.apply";
const H_POLICY: &str = "com.vmware.esx.settings.hosts.policies.apply";
const DC_POLICY: &str = "com.vmware.esx.settings.defaults.clusters.policies.apply";
const DH_POLICY: &str = "com.vmware.esx.settings.defaults.hosts.policies.apply";
const DC_POLICY_EFFECTIVE: &str = "com.vmware.esx.settings.defaults.clusters.policies.apply.effective";
const DH_POLICY_EFFECTIVE: &str = "com.vmware.esx.settings.defaults.hosts.policies.apply.effective";
const UMDS: &str = "com.vmware.esx.settings.depots.umds";
const INSTALLED_IMAGES: &str = "com.vmware.esx.settings.clusters.installed_images";
const APPLY_IMPACT: &str = "com.vmware.esx.settings.clusters.software.reports.apply_impact";
const INVENTORY: &str = "com.vmware.esx.settings.inventory";
const SUMMARY_CLUSTERS: &str = "com.vmware.esx.settings.inventory.reports.summary.clusters";
const SUMMARY_HOSTS: &str = "com.vmware.esx.settings.inventory.reports.summary.hosts";
const C_SPEC_METADATA: &str = "com.vmware.esx.settings.clusters.software.software_spec_metadata";
const H_SPEC_METADATA: &str = "com.vmware.esx.settings.hosts.software.software_spec_metadata";
const TRUSTED_ROOTS: &str = "com.vmware.vcenter.certificate_management.vcenter.trusted_root_chains";

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
    op!(ONLINE, "list", Read, depots::online::online_list),
    op!(ONLINE, "get", Read, depots::online::online_get),
    op!(ONLINE, "create", Admin, depots::online::online_create),
    op!(ONLINE, "update", Admin, depots::online::online_update),
    op!(ONLINE, "delete", Admin, depots::online::online_delete),
    op!(ONLINE, "flush", Admin, depots::online::online_flush),
    op!("com.vmware.esx.settings.depots.online.content", "get", Read, depots::online::online_content_get),
    op!(DEPOTS, "sync", Admin, depots::sync::sync),
    op!("com.vmware.esx.settings.depots.sync_schedule", "get", Read, depots::sync::sync_schedule_get),
    op!("com.vmware.esx.settings.depots.sync_schedule", "set", Admin, depots::sync::sync_schedule_set),
    op!(OFFLINE, "list", Read, depots::offline::offline_list),
    op!(OFFLINE, "get", Read, depots::offline::offline_get),
    op!(OFFLINE, "create", Admin, depots::offline::offline_create),
    op!(OFFLINE, "delete", Admin, depots::offline::offline_delete),
    op!(OFFLINE_CONTENT, "get", Read, depots::offline::offline_content_get),
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
    op!(AUDIT, "list", Admin, audit::list),
    op!(SW, "get", Read, software::software_get),
    op!(SW, "scan", Admin, software::scan),
    op!(SW, "export", Admin, software::export),
    op!(SW_BASE, "get", Read, software::base_image_get),
    op!(SW_ADD_ON, "get", Read, software::add_on_get),
    op!(SW_COMPONENTS, "get", Read, software::components_get),
    op!(SW_COMPONENTS, "list", Read, software::components_list),
    op!(SW_REMOVED, "get", Read, software::removed_components_get),
    op!(SW_REMOVED, "list", Read, software::removed_components_list),
    op!(SW_EFFECTIVE, "list", Read, software::effective_components_list),
    op!(SW_COMMITS, "get", Read, software::commits_get),
    op!(SW_COMPLIANCE, "get", Read, software::compliance_get),
    op!(DRAFTS, "create", Admin, software::drafts_create),
    op!(DRAFTS, "list", Read, software::drafts_list),
    op!(DRAFTS, "get", Read, software::drafts_get),
    op!(DRAFTS, "delete", Admin, software::drafts_delete),
    op!(DRAFTS, "import_software_spec", Admin, software::drafts_import),
    op!(DRAFTS, "validate", Admin, software::drafts_validate),
    op!(DRAFTS, "commit", Admin, software::drafts_commit),
    op!(DRAFTS, "scan", Read, software::drafts_scan),
    op!(D_BASE, "get", Read, software::draft_base_image_get),
    op!(D_BASE, "set", Admin, software::draft_base_image_set),
    op!(D_ADD_ON, "get", Read, software::draft_add_on_get),
    op!(D_ADD_ON, "set", Admin, software::draft_add_on_set),
    op!(D_ADD_ON, "delete", Admin, software::draft_add_on_delete),
    op!(D_COMPONENTS, "get", Read, software::draft_components_get),
    op!(D_COMPONENTS, "list", Read, software::draft_components_list),
    op!(D_COMPONENTS, "set", Admin, software::draft_components_set),
    op!(D_COMPONENTS, "delete", Admin, software::draft_components_delete),
    op!(D_COMPONENTS, "update", Admin, software::draft_components_update),
    op!(D_REMOVED, "get", Read, software::draft_removed_get),
    op!(D_REMOVED, "list", Read, software::draft_removed_list),
    op!(D_REMOVED, "set", Admin, software::draft_removed_set),
    op!(D_REMOVED, "delete", Admin, software::draft_removed_delete),
    op!(D_EFFECTIVE, "list", Read, software::draft_effective_components_list),
    op!(H_SW, "get", Read, software::software_get),
    op!(H_SW, "scan", Admin, software::scan),
    op!(H_SW, "export", Admin, software::export),
    op!(H_SW, "get_display_name", Read, software::display_name_get),
    op!(H_BASE, "get", Read, software::base_image_get),
    op!(H_ADD_ON, "get", Read, software::add_on_get),
    op!(H_COMPONENTS, "get", Read, software::components_get),
    op!(H_COMPONENTS, "list", Read, software::components_list),
    op!(H_REMOVED, "get", Read, software::removed_components_get),
    op!(H_REMOVED, "list", Read, software::removed_components_list),
    op!(H_EFFECTIVE, "list", Read, software::effective_components_list),
    op!(H_SOLUTIONS, "get", Read, software::solutions_get),
    op!(H_SOLUTIONS, "list", Read, software::solutions_list),
    op!(H_COMMITS, "get", Read, software::commits_get),
    op!(H_COMPLIANCE, "get", Read, software::compliance_get),
    op!(H_DRAFTS, "create", Admin, software::drafts_create),
    op!(H_DRAFTS, "list", Read, software::drafts_list),
    op!(H_DRAFTS, "get", Read, software::drafts_get),
    op!(H_DRAFTS, "delete", Admin, software::drafts_delete),
    op!(H_DRAFTS, "import_software_spec", Admin, software::drafts_import),
    op!(H_DRAFTS, "validate", Admin, software::drafts_validate),
    op!(H_DRAFTS, "commit", Admin, software::drafts_commit),
    op!(H_DRAFTS, "scan", Read, software::drafts_scan),
    op!(H_D_NAME, "get", Read, software::draft_display_name_get),
    op!(H_D_NAME, "set", Admin, software::draft_display_name_set),
    op!(H_D_BASE, "get", Read, software::draft_base_image_get),
    op!(H_D_BASE, "set", Admin, software::draft_base_image_set),
    op!(H_D_ADD_ON, "get", Read, software::draft_add_on_get),
    op!(H_D_ADD_ON, "set", Admin, software::draft_add_on_set),
    op!(H_D_ADD_ON, "delete", Admin, software::draft_add_on_delete),
    op!(H_D_COMPONENTS, "get", Read, software::draft_components_get),
    op!(H_D_COMPONENTS, "list", Read, software::draft_components_list),
    op!(H_D_COMPONENTS, "set", Admin, software::draft_components_set),
    op!(H_D_COMPONENTS, "delete", Admin, software::draft_components_delete),
    op!(H_D_COMPONENTS, "update", Admin, software::draft_components_update),
    op!(H_D_REMOVED, "get", Read, software::draft_removed_get),
    op!(H_D_REMOVED, "list", Read, software::draft_removed_list),
    op!(H_D_REMOVED, "set", Admin, software::draft_removed_set),
    op!(H_D_REMOVED, "delete", Admin, software::draft_removed_delete),
    op!(H_D_EFFECTIVE, "list", Read, software::draft_effective_components_list),
    op!(SW_EFFECTIVE, "list_with_removed_components", Read, software::effective_with_removed_list),
    op!(D_EFFECTIVE, "list_with_removed_components", Read, software::draft_effective_with_removed_list),
    op!(H_EFFECTIVE, "list_with_removed_components", Read, software::effective_with_removed_list),
    op!(H_D_EFFECTIVE, "list_with_removed_components", Read, software::draft_effective_with_removed_list),
    op!(R_SW, "list", Read, software::library::list),
    op!(R_SW, "get", Read, software::library::get),
    op!(R_SW, "delete", Admin, software::library::delete),
    op!(R_SW, "update", Admin, software::library::update),
    op!(R_SW, "export", Admin, software::library::export),
    op!(R_SW, "copy", Admin, software::library::copy),
    op!(R_SW, "edit", Admin, software::library::edit),
    op!(R_SW, "check_repository", Read, software::library::check_repository),
    op!(R_EFFECTIVE, "list", Read, software::library::effective_components_list),
    op!(R_DRAFTS, "create", Admin, software::library::drafts_create),
    op!(R_DRAFTS, "list", Read, software::library::drafts_list),
    op!(R_DRAFTS, "get", Read, software::library::drafts_get),
    op!(R_DRAFTS, "delete", Admin, software::drafts_delete),
    op!(R_DRAFTS, "import_software_spec", Admin, software::library::drafts_import),
    op!(R_DRAFTS, "validate", Admin, software::drafts_validate),
    op!(R_DRAFTS, "commit", Admin, software::library::drafts_commit),
    op!(R_D_NAME, "get", Read, software::draft_display_name_get),
    op!(R_D_NAME, "set", Admin, software::draft_display_name_set),
    op!(R_D_BASE, "get", Read, software::draft_base_image_get),
    op!(R_D_BASE, "set", Admin, software::draft_base_image_set),
    op!(R_D_ADD_ON, "get", Read, software::draft_add_on_get),
    op!(R_D_ADD_ON, "set", Admin, software::draft_add_on_set),
    op!(R_D_ADD_ON, "delete", Admin, software::draft_add_on_delete),
    op!(R_D_COMPONENTS, "get", Read, software::draft_components_get),
    op!(R_D_COMPONENTS, "list", Read, software::draft_components_list),
    op!(R_D_COMPONENTS, "set", Admin, software::draft_components_set),
    op!(R_D_COMPONENTS, "delete", Admin, software::draft_components_delete),
    op!(R_D_COMPONENTS, "update", Admin, software::draft_components_update),
    op!(R_D_REMOVED, "get", Read, software::draft_removed_get),
    op!(R_D_REMOVED, "list", Read, software::draft_removed_list),
    op!(R_D_REMOVED, "set", Admin, software::draft_removed_set),
    op!(R_D_REMOVED, "delete", Admin, software::draft_removed_delete),
    op!(R_D_EFFECTIVE, "list", Read, software::draft_effective_components_list),
    op!(R_ALT_EFFECTIVE, "list", Read, software::library::alternative_effective_components_list),
    op!(R_D_ALT, "create", Admin, software::alternatives::create),
    op!(R_D_ALT, "delete", Admin, software::alternatives::delete),
    op!(R_D_ALT, "get", Read, software::alternatives::get),
    op!(R_D_ALT, "list", Read, software::alternatives::list),
    op!(R_D_ALT_NAME, "get", Read, software::alternatives::display_name_get),
    op!(R_D_ALT_NAME, "set", Admin, software::alternatives::display_name_set),
    op!(R_D_ALT_SELECTION, "get", Read, software::alternatives::selection_criteria_get),
    op!(R_D_ALT_SELECTION, "set", Admin, software::alternatives::selection_criteria_set),
    op!(R_D_ALT_BASE, "get", Read, software::draft_base_image_get),
    op!(R_D_ALT_ADD_ON, "get", Read, software::draft_add_on_get),
    op!(R_D_ALT_ADD_ON, "set", Admin, software::draft_add_on_set),
    op!(R_D_ALT_ADD_ON, "delete", Admin, software::draft_add_on_delete),
    op!(R_D_ALT_COMPONENTS, "get", Read, software::draft_components_get),
    op!(R_D_ALT_COMPONENTS, "list", Read, software::draft_components_list),
    op!(R_D_ALT_COMPONENTS, "set", Admin, software::draft_components_set),
    op!(R_D_ALT_COMPONENTS, "delete", Admin, software::draft_components_delete),
    op!(R_D_ALT_COMPONENTS, "update", Admin, software::draft_components_update),
    op!(R_D_ALT_REMOVED, "get", Read, software::draft_removed_get),
    op!(R_D_ALT_REMOVED, "list", Read, software::draft_removed_list),
    op!(R_D_ALT_REMOVED, "set", Admin, software::draft_removed_set),
    op!(R_D_ALT_REMOVED, "delete", Admin, software::draft_removed_delete),
    op!(R_D_ALT_EFFECTIVE, "list", Read, software::draft_effective_components_list),
    op!(SW, "get_display_name", Read, software::display_name_get),
    op!(C_D_NAME, "get", Read, software::draft_display_name_get),
    op!(C_D_NAME, "set", Admin, software::draft_display_name_set),
    op!(C_SOLUTIONS, "get", Read, software::solutions_get),
    op!(C_SOLUTIONS, "list", Read, software::solutions_list),
    op!(C_SOLUTIONS, "set", Admin, software::solutions::set),
    op!(C_SOLUTIONS, "delete", Admin, software::solutions::delete),
    op!(C_SOLUTIONS, "update", Admin, software::solutions::update),
    op!(H_SOLUTIONS, "set", Admin, software::solutions::set),
    op!(H_SOLUTIONS, "delete", Admin, software::solutions::delete),
    op!(SW, "get_default_image", Read, software::default_image_get),
    op!(C_ALT, "get", Read, software::alternatives::get),
    op!(C_ALT, "list", Read, software::alternatives::list),
    op!(C_ALT_NAME, "get", Read, software::alternatives::display_name_get),
    op!(C_ALT_SELECTION, "get", Read, software::alternatives::selection_criteria_get),
    op!(C_ALT_SW, "export", Admin, software::export),
    op!(C_ALT_ADD_ON, "get", Read, software::add_on_get),
    op!(C_ALT_BASE, "get", Read, software::base_image_get),
    op!(C_ALT_COMPONENTS, "get", Read, software::components_get),
    op!(C_ALT_COMPONENTS, "list", Read, software::components_list),
    op!(C_ALT_EFFECTIVE, "list", Read, software::effective_components_list),
    op!(C_ALT_EFFECTIVE, "list_with_removed_components", Read, software::effective_with_removed_list),
    op!(C_ALT_REMOVED, "get", Read, software::removed_components_get),
    op!(C_ALT_REMOVED, "list", Read, software::removed_components_list),
    op!(C_ALT_SOLUTIONS, "get", Read, software::solutions_get),
    op!(C_ALT_SOLUTIONS, "list", Read, software::solutions_list),
    op!(C_D_ALT, "create", Admin, software::alternatives::create),
    op!(C_D_ALT, "delete", Admin, software::alternatives::delete),
    op!(C_D_ALT, "get", Read, software::alternatives::get),
    op!(C_D_ALT, "list", Read, software::alternatives::list),
    op!(C_D_ALT_NAME, "get", Read, software::alternatives::display_name_get),
    op!(C_D_ALT_NAME, "set", Admin, software::alternatives::display_name_set),
    op!(C_D_ALT_SELECTION, "get", Read, software::alternatives::selection_criteria_get),
    op!(C_D_ALT_SELECTION, "set", Admin, software::alternatives::selection_criteria_set),
    op!(C_D_ALT_BASE, "get", Read, software::draft_base_image_get),
    op!(C_D_ALT_ADD_ON, "get", Read, software::draft_add_on_get),
    op!(C_D_ALT_ADD_ON, "set", Admin, software::draft_add_on_set),
    op!(C_D_ALT_ADD_ON, "delete", Admin, software::draft_add_on_delete),
    op!(C_D_ALT_COMPONENTS, "get", Read, software::draft_components_get),
    op!(C_D_ALT_COMPONENTS, "list", Read, software::draft_components_list),
    op!(C_D_ALT_COMPONENTS, "set", Admin, software::draft_components_set),
    op!(C_D_ALT_COMPONENTS, "delete", Admin, software::draft_components_delete),
    op!(C_D_ALT_COMPONENTS, "update", Admin, software::draft_components_update),
    op!(C_D_ALT_EFFECTIVE, "list", Read, software::draft_effective_components_list),
    op!(C_D_ALT_EFFECTIVE, "list_with_removed_components", Read, software::draft_effective_with_removed_list),
    op!(C_D_ALT_REMOVED, "get", Read, software::draft_removed_get),
    op!(C_D_ALT_REMOVED, "list", Read, software::draft_removed_list),
    op!(C_D_ALT_REMOVED, "set", Admin, software::draft_removed_set),
    op!(C_D_ALT_REMOVED, "delete", Admin, software::draft_removed_delete),
    // ---- hardware support packages in images, and what the depots offer ----
    op!(C_HW, "get", Read, software::hardware::get),
    op!(C_ALT_HW, "get", Read, software::hardware::get),
    op!(C_D_HW, "get", Read, software::hardware::draft_get),
    op!(C_D_HW, "set", Admin, software::hardware::draft_set),
    op!(C_D_HW, "delete", Admin, software::hardware::draft_delete),
    op!(C_D_ALT_HW, "get", Read, software::hardware::draft_get),
    op!(C_D_ALT_HW, "set", Admin, software::hardware::draft_set),
    op!(C_D_ALT_HW, "delete", Admin, software::hardware::draft_delete),
    op!(R_D_HW, "get", Read, software::hardware::draft_get),
    op!(R_D_HW, "set", Admin, software::hardware::draft_set),
    op!(R_D_HW, "delete", Admin, software::hardware::draft_delete),
    op!(R_D_ALT_HW, "get", Read, software::hardware::draft_get),
    op!(R_D_ALT_HW, "set", Admin, software::hardware::draft_set),
    op!(R_D_ALT_HW, "delete", Admin, software::hardware::draft_delete),
    op!(HSM, "list", Read, software::hardware::managers_list),
    op!(HSM_PACKAGES, "list", Read, software::hardware::packages_list),
    op!(HSM_VERSIONS, "get", Read, software::hardware::versions_get),
    // ---- H3: depot overrides, enablement, apply policies, UMDS ----
    op!(C_OVERRIDES, "get", Read, overrides::clusters_get),
    op!(C_OVERRIDES, "add", Admin, overrides::clusters_add),
    op!(C_OVERRIDES, "remove", Admin, overrides::clusters_remove),
    op!(H_OVERRIDES, "get", Read, overrides::hosts_get),
    op!(H_OVERRIDES, "add", Admin, overrides::hosts_add),
    op!(H_OVERRIDES, "remove", Admin, overrides::hosts_remove),
    op!(C_ENABLEMENT, "get", Read, enablement::clusters_get),
    op!(C_ENABLEMENT, "check", Admin, enablement::clusters_check),
    op!(C_ENABLEMENT, "enable", Admin, enablement::clusters_enable),
    op!(H_ENABLEMENT, "get", Read, enablement::hosts_get),
    op!(H_ENABLEMENT, "check", Admin, enablement::hosts_check),
    op!(H_ENABLEMENT, "enable", Admin, enablement::hosts_enable),
    op!(C_POLICY, "get", Read, policies::clusters_get),
    op!(C_POLICY, "set", Admin, policies::clusters_set),
    op!("com.vmware.esx.settings.clusters.policies.apply.effective", "get", Read, policies::clusters_effective),
    op!(H_POLICY, "get", Read, policies::hosts_get),
    op!(H_POLICY, "set", Admin, policies::hosts_set),
    op!("com.vmware.esx.settings.hosts.policies.apply.effective", "get", Read, policies::hosts_effective),
    op!(DC_POLICY, "get", Read, policies::default_clusters_get),
    op!(DC_POLICY, "set", Admin, policies::default_clusters_set),
    op!(DC_POLICY_EFFECTIVE, "get", Read, policies::default_clusters_effective),
    op!(DH_POLICY, "get", Read, policies::default_hosts_get),
    op!(DH_POLICY, "set", Admin, policies::default_hosts_set),
    op!(DH_POLICY_EFFECTIVE, "get", Read, policies::default_hosts_effective),
    op!(UMDS, "get", Read, depots::umds::get),
    op!(UMDS, "set", Admin, depots::umds::set),
    op!(UMDS, "update", Admin, depots::umds::update),
    op!(UMDS, "delete", Admin, depots::umds::delete),
    op!("com.vmware.esx.settings.depots.umds.content", "get", Read, depots::umds::content_get),
    op!(TRUSTED_ROOTS, "list", Read, trust::chains_list),
    op!(TRUSTED_ROOTS, "get", Read, trust::chains_get),
    op!(TRUSTED_ROOTS, "create", Admin, trust::chains_create),
    op!(TRUSTED_ROOTS, "delete", Admin, trust::chains_delete),
    op!("com.vmware.vcenter.certificate_management.vcenter.tls", "get", Read, trust::tls_get),
    // ---- what the hosts' posted states say is installed ----
    op!(INSTALLED_IMAGES, "extract", Admin, installed::images_extract),
    op!(INSTALLED_IMAGES, "get", Read, installed::images_get),
    op!("com.vmware.esx.hosts.software", "get", Read, installed::host_software_get),
    op!("com.vmware.esx.hosts.software.installed_components", "list", Read, installed::installed_components_list),
    op!(APPLY_IMPACT, "get", Read, installed::apply_impact_get),
    op!("com.vmware.esx.settings.hosts.software.reports.apply_impact", "get", Read, installed::host_apply_impact_get),
    // ---- vSphere 9: library specs assigned to entities, inventory-wide calls ----
    op!(INVENTORY, "assign_entities", Admin, settings_inventory::assign_entities),
    op!(INVENTORY, "scan", Admin, settings_inventory::scan),
    op!(INVENTORY, "extract_installed_image", Admin, settings_inventory::extract_installed_image),
    op!(SUMMARY_CLUSTERS, "get", Read, settings_inventory::summary_clusters),
    op!(SUMMARY_HOSTS, "get", Read, settings_inventory::summary_hosts),
    op!(C_SPEC_METADATA, "get", Read, software::library::spec_metadata_get),
    op!(H_SPEC_METADATA, "get", Read, software::library::spec_metadata_get),
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
