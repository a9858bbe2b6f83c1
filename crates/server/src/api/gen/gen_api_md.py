"""Regenerate docs/API.md (the endpoint coverage table) from vlcm-endpoints.tsv and the
operations declared in crates/server/src/api/services/mod.rs. A unit test checks that the
document marks exactly the implemented operations as done.

Usage (from the repository root):
  python3 crates/server/src/api/gen/gen_api_md.py ../shared/reference/vlcm-endpoints.tsv"""
import sys
import csv, re
rows = list(csv.DictReader(open(sys.argv[1]), delimiter='\t'))
src = open('crates/server/src/api/services/mod.rs').read()
consts = dict(re.findall(r'const (\w+): &str =\s*"([^"]+)";', src))
done = set()
for svc, op in re.findall(r'op!\(([^,]+), "(\w+)"', src):
    svc = svc.strip()
    svc = svc.strip('"') if svc.startswith('"') else consts[svc]
    done.add((svc, op))
S = 'com.vmware.esx.settings.'
notes_done = {
 # H3: depot overrides, enablement, apply policies, UMDS.
 (S+'clusters.depot_overrides','get'): "the depots (http/https URLs) the cluster's hosts use instead of the central ones, e.g. a branch `esxlcm serve` (docs/guides/robo-edge.md); recorded for the hosts' tooling, image composition keeps using the central depots",
 (S+'clusters.depot_overrides','add'): 'http(s) URLs only (`invalid_argument`); the same URL twice `already_exists` (compared parsed)', (S+'clusters.depot_overrides','remove'): '`not_found` when not an override',
 (S+'hosts.depot_overrides','get'): "standalone hosts; a host in a cluster answers `not_allowed_in_current_state` (its depots are the cluster's)", (S+'hosts.depot_overrides','add'): 'as for clusters', (S+'hosts.depot_overrides','remove'): '',
 (S+'clusters.enablement.software','get'): 'always enabled: esxlcm manages every cluster and standalone host with a single image',
 (S+'clusters.enablement.software','check'): 'SOFTWARE_SPECIFICATION_EXISTENCE (a committed image), SOFTWARE (each host has a readable posted state), VERSION (ESXi 7.0 or later); STATELESSNESS, VSAN_WITNESS_ELIGIBILITY, VUM_REMEDIATION are not reported (no Auto Deploy, vSAN or baselines here); `checks_to_skip` honoured',
 (S+'clusters.enablement.software','enable'): 'runs the checks (unless `skip_software_check`) and fails on errors with `not_allowed_in_current_state`; records who and when',
 (S+'hosts.enablement.software','get'): 'standalone hosts', (S+'hosts.enablement.software','check'): 'as for clusters, for the host', (S+'hosts.enablement.software','enable'): '',
 (S+'clusters.policies.apply','get'): 'stored for the tooling that remediates (esxlcm does not)', (S+'clusters.policies.apply','set'): 'union rules (RETRY needs `retry_delay` and `retry_count`, FAIL neither), enum values (as for every input) and ranges (≥ 1) checked',
 (S+'clusters.policies.apply.effective','get'): "per setting: the cluster's, else the configured default, else vLCM's built-in default (retry 3 times 5 minutes apart, VM power state unchanged, Quick Boot off, DPM disabled, HA admission control kept, parallel remediation off); `failure_action` and `parallel_remediation_action` are taken whole",
 (S+'hosts.policies.apply','get'): 'standalone hosts', (S+'hosts.policies.apply','set'): 'as for clusters', (S+'hosts.policies.apply.effective','get'): "the host's, else the hosts default, else built-in",
 (S+'defaults.clusters.policies.apply','get'): '', (S+'defaults.clusters.policies.apply','set'): '', (S+'defaults.clusters.policies.apply.effective','get'): 'the configured default over the built-in one',
 (S+'defaults.hosts.policies.apply','get'): '', (S+'defaults.hosts.policies.apply','set'): '', (S+'defaults.hosts.policies.apply.effective','get'): '',
 (S+'depots.umds','get'): '`not_found` until set', (S+'depots.umds','set'): 'the http(s) URL of a UMDS-exported depot tree (its index or directory); `depots.sync` syncs it like an online depot and its content joins depot content; a new location drops what the old one synced',
 (S+'depots.umds','update'): '`enabled: false` takes its content out of depot content until enabled again', (S+'depots.umds','delete'): 'sync and `$task`; drops its synced metadata',
 (S+'depots.umds.content','get'): 'as `online.content.get`, from the last sync',
 ('com.vmware.cis.session','create'): 'user_pass in `securityCtx` (JSON-RPC) or HTTP Basic (REST, 201); returns a secret session id; Argon2id-checked local users',
 ('com.vmware.cis.session','get'): '',
 ('com.vmware.cis.session','delete'): '',
 ('com.vmware.cis.tasks','get'): '`spec.exclude_result` honoured; union rules of `cis.task.info` enforced per status',
 ('com.vmware.cis.tasks','list'): 'filters: tasks, services, operations, status, users (targets ignored: no task has a target yet)',
 ('com.vmware.cis.tasks','cancel'): 'while an offline depot is being copied or downloaded, and between the depots of a `depots.sync` (then `cancelable` is true); the task ends FAILED with `canceled`',
 (S+'depots.offline','create'): 'PULL from a path, a `file:` URL or http(s) (with `HEADER_AUTH`); PUSH from `POST /vum-fileupload`; the bundle is copied into the data dir, checked, de-duplicated by SHA-256 (`already_exists` carries the existing depot in `data`); progress reported',
 (S+'depots.offline','delete'): 'sync and `$task`; `force` has no effect: a depot a committed cluster image needs is not refused yet (that image then no longer resolves: validate, scan and export say so)',
 (S+'depots.offline','list'): '', (S+'depots.offline','get'): '',
 (S+'depots.offline.content','get'): '`metadata_bundles` keyed by vendor code; base images, add-ons, independent components, hardware support (managers and package versions of the manifests; a manager\'s display name is its name); solutions and updates unset',
 (S+'depots.online','create'): 'a record (http/https location of `index.xml` or its directory); its content arrives with `depots.sync`',
 (S+'depots.online','flush'): 'drops the synced metadata of the depot (it leaves depot content and image composition until the next sync)',
 (S+'depots.online.content','get'): 'as `offline.content.get`, from the last sync (`not_allowed_in_current_state` before one); nothing is fetched',
 (S+'depots','sync'): 'every enabled online depot and the UMDS depot: vendor list → vendor indexes → metadata zips fetched over HTTP(S) (system roots plus `trusted_ca_files` of `config.json` plus the trusted root chains added through the API) into `depots/online/`, swapped in when complete; VIBs are fetched when an export needs them. Progress per document; `cancelable` between depots. A failing depot keeps its previous content and fails the task with its id, URL (secrets redacted) and cause. `cleanup` changes nothing (each sync replaces the whole cache)',
 (S+'depots.sync_schedule','get'): 'the stored schedule; `enabled: false` until set',
 (S+'depots.sync_schedule','set'): 'stored and checked (the fields each recurrence needs, ranges); the server runs `depots.sync` on it (times in UTC; `skip` units left out between runs) as a task of user `esxlcm-scheduler`; `email_addresses` are kept, no mail is sent',
 (S+'depots.online','delete'): 'sync and `$task`; drops its synced metadata', (S+'depots.online','list'): '`system_defined` is always false', (S+'depots.online','get'): '', (S+'depots.online','update'): '',
 (S+'depot_content.base_images','list'): 'over all offline depots and synced, enabled online depots; `kb` is empty (release units carry no KB link); `quick_patch_compatible_versions` unset',
 (S+'depot_content.base_images.versions','get'): 'as above, with the components',
 (S+'depot_content.add_ons','list'): 'filters: vendors, names, versions, min_version',
 (S+'depot_content.add_ons.versions','get'): '',
 (S+'depot_content.components','list'): 'filters: vendors, names, versions, min_version, bundle_types (BASE_IMAGE / ADD_ON / INDEPENDENT by release-unit membership)',
 (S+'depot_content.components.versions','get'): '',
 (S+'clusters.software','get'): 'the latest commit (desired image); `not_allowed_in_current_state` before the first commit; details (display names, vendors, dates) from the depots; `alternative_images` with their selection criteria; `hardware_support` when the image names packages',
 (S+'clusters.software','scan'): 'every host of the cluster (esxlcm inventory) against the committed image with the state last posted for it (`PUT /api/esxlcm/hosts/{host}/state`): COMPLIANT / NON_COMPLIANT / INCOMPATIBLE / UNAVAILABLE (no state) per host and component, impact, cluster aggregation (esxlcm_solver); stored for `compliance.get`; no `stage_status`, `impact_details` or hardware-support compliance yet',
 (S+'clusters.software','export'): 'synchronous (as in the bindings): builds the committed image with esxlcm_builder into the data dir and answers download URLs `https://<host the client used>/api/esxlcm/exports/<id>/<file>` (authenticated GET). SOFTWARE_SPEC and OFFLINE_BUNDLE always; ISO_IMAGE when `bootloader_dir` is set in `config.json`, else `unsupported` saying so. Unless `export_only_default_image` is true, the spec keeps the alternative images and the offline bundle holds their content too (one image profile each, `ESXi-<version>-custom-<image id>`); the ISO is always the default image alone (an installer holds one image). `skip_reserved_vibs_export` ignored (no reserved VIBs are cached)',
 (S+'clusters.software.base_image','get'): '', (S+'clusters.software.add_on','get'): '`not_found` when the image has no add-on',
 (S+'clusters.software.components','get'): 'unset when the image does not name the component', (S+'clusters.software.components','list'): 'the components the spec names (not the effective ones)',
 (S+'clusters.software.removed_components','get'): '', (S+'clusters.software.removed_components','list'): '',
 (S+'clusters.software.effective_components','list'): 'resolved by esxlcm_solver: source (BASE_IMAGE, ADD_ON, HARDWARE_SUPPORT_PACKAGE, USER, SOLUTION) and the base-image/add-on versions each overrides',
 (S+'clusters.software.commits','get'): 'author, time, message; `apply_status` is always NOT_APPLIED (esxlcm does not remediate hosts)',
 (S+'clusters.software.compliance','get'): 'the last `scan`; `not_found` before the first',
 (S+'clusters.software.drafts','create'): 'from the committed image (empty before the first commit); one draft per user and cluster (`already_exists`); only its owner may change, delete or commit it, others get `concurrent_change`',
 (S+'clusters.software.drafts','list'): 'filter: owners', (S+'clusters.software.drafts','get'): '`status` is VALID after a validation without errors, INVALID before and after any change', (S+'clusters.software.drafts','delete'): 'owner only',
 (S+'clusters.software.drafts','import_software_spec'): 'JSON_STRING, PULL (path, `file:`, http(s)) and PUSH (`/vum-fileupload`); unknown keys refused; the recommendation kinds answer `unsupported`',
 (S+'clusters.software.drafts','validate'): 'esxlcm_solver resolution and VIB validation (dependencies, conflicts, add-on/base image fit, acceptance, bootability…); each notification carries its chain of causes after "Because:" in the message and a resolution',
 (S+'clusters.software.drafts','commit'): 'validates first (`invalid_argument` with the errors); `concurrent_change` when another commit landed since the draft was created; result: the commit id (author and message kept)',
 (S+'clusters.software.drafts','scan'): 'as `clusters.software.scan` against the draft (not stored)',
 (S+'clusters.software.drafts.software.base_image','get'): '`not_found` while the draft has none', (S+'clusters.software.drafts.software.base_image','set'): 'the base image must be in a depot',
 (S+'clusters.software.drafts.software.add_on','get'): '', (S+'clusters.software.drafts.software.add_on','set'): 'the add-on must be in a depot', (S+'clusters.software.drafts.software.add_on','delete'): '',
 (S+'clusters.software.drafts.software.components','get'): '', (S+'clusters.software.drafts.software.components','list'): '',
 (S+'clusters.software.drafts.software.components','set'): 'a version in a depot, or unset ("system chooses")', (S+'clusters.software.drafts.software.components','delete'): '', (S+'clusters.software.drafts.software.components','update'): '',
 (S+'clusters.software.drafts.software.removed_components','get'): '', (S+'clusters.software.drafts.software.removed_components','list'): '',
 (S+'clusters.software.drafts.software.removed_components','set'): '', (S+'clusters.software.drafts.software.removed_components','delete'): '',
 (S+'clusters.software.drafts.software.effective_components','list'): 'as for the cluster',
 (S+'clusters.software.effective_components','list_with_removed_components'): 'as `list`, plus each removed component with source USER_REMOVED and the version the add-on (else the base image) would have brought',
 (S+'clusters.software.drafts.software.effective_components','list_with_removed_components'): 'as for the cluster',
 (S+'hosts.software','get'): 'a standalone host (esxlcm inventory, no cluster) has its own desired image, handled by the same code as a cluster\'s; a host in a cluster answers `unsupported` naming the cluster (its image is the cluster\'s); `not_allowed_in_current_state` before the first commit',
 (S+'hosts.software','scan'): 'the host\'s posted state against its committed image: `host_compliance` (COMPLIANT / NON_COMPLIANT / INCOMPATIBLE / UNAVAILABLE, per component, impact); stored for `compliance.get`',
 (S+'hosts.software','export'): 'as `clusters.software.export` (same download URLs)',
 (S+'hosts.software','get_display_name'): 'the display name of the committed draft (empty when it had none)',
 (S+'hosts.software.add_on','get'): '`not_found` when the image has no add-on',
 (S+'hosts.software.components','list'): 'the components the spec names', (S+'hosts.software.components','get'): 'unset when the image does not name the component',
 (S+'hosts.software.effective_components','list'): 'as for clusters', (S+'hosts.software.effective_components','list_with_removed_components'): 'as for clusters',
 (S+'hosts.software.solutions','list'): 'the solutions the spec names; `details` unset', (S+'hosts.software.solutions','get'): '',
 (S+'hosts.software.solutions','set'): 'as for clusters: validated and committed as a new commit of the host image', (S+'hosts.software.solutions','delete'): 'as for clusters',
 (S+'hosts.software.commits','get'): '`apply_status` is always NOT_APPLIED (esxlcm does not remediate hosts)',
 (S+'hosts.software.compliance','get'): 'the last `scan`; `not_found` before the first',
 (S+'hosts.software.drafts','create'): 'as for clusters: from the committed image, one draft per user and host, only its owner changes it (`concurrent_change` for others)',
 (S+'hosts.software.drafts','import_software_spec'): 'as for clusters; `display_name` kept', (S+'hosts.software.drafts','validate'): 'as for clusters',
 (S+'hosts.software.drafts','commit'): 'as for clusters: validates first; `concurrent_change` when another commit landed since the draft was created',
 (S+'hosts.software.drafts','scan'): 'as `hosts.software.scan` against the draft (not stored)',
 (S+'hosts.software.drafts.display_name','get'): 'empty until set',
 (S+'hosts.software.drafts.software.base_image','set'): 'the base image must be in a depot', (S+'hosts.software.drafts.software.add_on','set'): 'the add-on must be in a depot',
 (S+'hosts.software.drafts.software.components','set'): 'a version in a depot, or unset ("system chooses")',
 (S+'repository.software','list'): 'the image library: named specs not tied to a cluster or host, sorted by display name; filters `display_names` and `owners` (the `orchestrator_info` owner); `assigned_entities`: the clusters and standalone hosts whose current commit was assigned from the spec (`inventory.assign_entities`); `type` COMPOSITE when the spec has alternative images',
 (S+'repository.software','get'): '', (S+'repository.software','update'): '`display_name` (unique in the library) and `orchestrator`',
 (S+'repository.software','delete'): '`resource_in_use` while a draft edits the spec',
 (S+'repository.software','export'): 'as `clusters.software.export` (same download URLs and `export_only_default_image`)',
 (S+'repository.software','edit'): 'a library draft of the caller that commits back to the spec (`concurrent_change` when the spec was committed since)',
 (S+'repository.software','copy'): 'a library draft with the spec\'s content, named "<name> (copy)", that commits as a new spec',
 (S+'repository.software','check_repository'): 'NAME_MATCH (same display name) and SOFTWARE_SPEC_MATCH (same spec content) against the library',
 (S+'repository.software.effective_components','list'): 'as for clusters; filter `with_removed_components`',
 (S+'repository.software.drafts','create'): 'an empty draft; one library draft per user (`already_exists`, or replaced with `delete_existing_draft`), only its owner changes it',
 (S+'repository.software.drafts','list'): 'filters: owners, software_spec_ids', (S+'repository.software.drafts','get'): '`software_spec` is the id the commit creates or updates',
 (S+'repository.software.drafts','import_software_spec'): 'as for clusters (JSON_STRING, PULL, PUSH); `display_name` required',
 (S+'repository.software.drafts','validate'): 'as for clusters',
 (S+'repository.software.drafts','commit'): 'validates first; needs a display name, unique in the library; creates or updates the spec and answers its id',
 (S+'repository.software.drafts.effective_components','list'): 'filter `with_removed_components`',
 (S+'repository.software.alternative_images.effective_components','list'): 'the alternative image resolved on its own; filter `with_removed_components`',
 (S+'repository.software.drafts.alternative_images','create'): 'a copy of the draft\'s main image (which needs a base image) with the display name; id `image-<n>`; the draft validates once it has selection criteria',
 (S+'repository.software.drafts.alternative_images','list'): '', (S+'repository.software.drafts.alternative_images','get'): '`selection_criteria` UNKNOWN while unset',
 (S+'repository.software.drafts.alternative_images','delete'): '',
 (S+'repository.software.drafts.alternative_images.selection_criteria','set'): 'HOST_UUID (with UUIDs) or HOST_HARDWARE_SPEC (vendor, models, families, OEM strings: AND across, OR within, case-insensitive), as esxlcm_solver selects; UNKNOWN refused',
 (S+'repository.software.drafts.alternative_images.selection_criteria','get'): 'a hardware selection without a vendor shows an empty vendor',
 (S+'repository.software.drafts.alternative_images.base_image','get'): 'the API has no `set`: the base image is the main image\'s at creation',
 (S+'repository.software.drafts.alternative_images.effective_components','list'): 'the alternative image resolved on its own',
 (S+'clusters.software','get_display_name'): 'the display name of the committed draft (empty when it had none)',
 (S+'clusters.software.drafts.display_name','get'): 'empty until set', (S+'clusters.software.drafts.display_name','set'): 'kept with the commit',
 (S+'clusters.software.solutions','list'): 'the solutions the spec names; `details` unset (no solution metadata is read from depots)',
 (S+'clusters.software.solutions','set'): 'changes the desired image directly, as vLCM does: the changed spec is resolved and validated as a whole (esxlcm_solver: a solution release unit in the depots fixes its components\' versions, else the highest are taken with a warning) and committed; result: the new commit (its message says what changed, the display name is kept); `invalid_argument` with the errors when it would not validate; `not_allowed_in_current_state` before the first commit',
 (S+'clusters.software.solutions','delete'): 'as `set`; `not_found` when the image has no such solution',
 (S+'clusters.software.solutions','update'): 'as `set`, for several solutions in one commit; the others stay',
 (S+'clusters.software','get_default_image'): 'the committed main image alone (what hosts no alternative image selects get), as `get` without `alternative_images`',
 (S+'clusters.software.hardware_support','get'): 'the packages (manager → package, version) the committed image names; none when it names none',
 (S+'clusters.software.alternative_images.software.hardware_support','get'): 'as for the main image',
 (S+'clusters.software.drafts.software.hardware_support','get'): 'none until set',
 (S+'clusters.software.drafts.software.hardware_support','set'): 'replaces the draft image\'s packages; each manager, package and version must be named by a manifest (`hardwareSupportInfo`) in the depots, else `invalid_argument` listing what the depots have; a manager with neither package nor version is left out. The solver adds the package\'s components (source HARDWARE_SUPPORT_PACKAGE) and checks its supported base images at validation. No hardware support manager runs: firmware is neither inventoried nor updated',
 (S+'clusters.software.drafts.software.hardware_support','delete'): '`not_found` when the draft names no package',
 (S+'clusters.software.drafts.software.alternative_images.software.hardware_support','set'): 'as for the main image', (S+'clusters.software.drafts.software.alternative_images.software.hardware_support','get'): '', (S+'clusters.software.drafts.software.alternative_images.software.hardware_support','delete'): '',
 (S+'repository.software.drafts.hardware_support','set'): 'as for cluster drafts', (S+'repository.software.drafts.hardware_support','get'): '', (S+'repository.software.drafts.hardware_support','delete'): '',
 (S+'repository.software.drafts.alternative_images.hardware_support','set'): 'as for cluster drafts', (S+'repository.software.drafts.alternative_images.hardware_support','get'): '', (S+'repository.software.drafts.alternative_images.hardware_support','delete'): '',
 (S+'hardware_support.managers','list'): 'every manager a manifest in the depots names; esxlcm knows managers by name only, so `display_name` is the name, `vendor` the newest manifest\'s vendor and `description` lists its packages',
 (S+'hardware_support.managers.packages','list'): 'each package version of the manager from the manifests (`description` and `supported_releases` from the manifest); filter `base_image_version` keeps those supporting it; `not_found` for a manager no manifest names',
 (S+'hardware_support.managers.packages.versions','get'): 'with the manifest\'s components and removed components; `not_found` when no manifest names it; with `base_image_version` a package that does not support it is `invalid_argument`',
 (S+'clusters.software.alternative_images','list'): 'the committed image\'s alternative images (same code as library drafts\')',
 (S+'clusters.software.alternative_images','get'): '`selection_criteria` UNKNOWN when unreadable',
 (S+'clusters.software.alternative_images.software','export'): 'the alternative image built on its own, as `clusters.software.export`',
 (S+'clusters.software.alternative_images.software.effective_components','list'): 'the alternative image resolved on its own',
 (S+'clusters.software.drafts.software.alternative_images','create'): 'as for library drafts: a copy of the draft\'s main image with the display name, id `image-<n>`; validation requires selection criteria; a host\'s scan uses the image its hardware selects',
 (S+'clusters.software.drafts.software.alternative_images.selection_criteria','set'): 'HOST_UUID or HOST_HARDWARE_SPEC as esxlcm_solver selects; UNKNOWN refused',
 (S+'clusters.software.drafts.software.alternative_images.software.base_image','get'): 'the API has no `set`: the base image is the main image\'s at creation',
 # What the hosts' posted esxcli states say is installed (services/installed.rs).
 (S+'clusters.installed_images','extract'): "from each host's posted esxcli state (no host is contacted): base image, add-on, the components the base image and add-on do not bring at the installed version, the ones they bring that are not installed (`removed_components`), hardware support packages; display fields the host's, else the depots'. Hosts with the same image are grouped (`host_image_list`, most widely used, highest version); a host without a readable state is in `failed_hosts`, one without a base image (before 7.0) in `unsupported_hosts`, each with an error in `host_notifications`; hosts whose image differs get a warning. `uniform_image` only when every host was read and all run one image; `orphaned_vibs`: VIBs no installed component brings, for hosts whose components the depots all know (else an info notification says which hosts were not checked); stored for `get`. Status SUCCESS when at least one host was read, UNAVAILABLE for a cluster without hosts",
 (S+'clusters.installed_images','get'): 'the last `extract`; `not_found` before the first',
 ('com.vmware.esx.hosts.software','get'): "an ESXi host's own API, answered from the posted esxcli state of the host `spec.host` names (`auth_type` EXISTING, an esxlcm inventory host); USERNAME_PASSWORD is `invalid_argument` (esxlcm does not connect to hosts); `service_unavailable` while no state was posted; software as for `installed_images` (solutions unset: esxcli does not report them); REST takes the spec as a JSON body or as query parameters",
 ('com.vmware.esx.hosts.software.installed_components','list'): "every component of the host's posted esxcli state with its version and display fields (the host's, else the depots'); `platforms` from the depots' bulletin when known; `service_unavailable` while no state was posted",
 (S+'clusters.software.reports.apply_impact','get'): "each host (or those `spec.hosts` names; others `not_found`) checked now against the committed image with esxlcm_solver, as `scan` does: per host the changes (base image, components to install, upgrade or remove), maintenance mode and reboot (from the VIBs to install and remove and their live-install/remove flags; a VIB the host reported without flags is assumed to need both, with a note), an incompatible image, or an unknown impact without a posted state; none for a compliant host. Cluster impact: which hosts enter maintenance mode, reboot, cannot take the image or are unknown. `not_found` before the first commit",
 # vSphere 9: library specs assigned to clusters and hosts, inventory-wide calls (services/settings_inventory.rs).
 (S+'inventory','assign_entities'): "the library spec (`repository.software`, id `spec-<n>`) becomes each cluster's or standalone host's desired image: validated once with esxlcm_solver (errors: every entity FAILED with the solver's notifications, nothing committed), then a new commit on each, as a draft commit makes, recording the spec id, display name, revision and `orchestrator` (else the spec's); a host in a cluster is FAILED (its image is the cluster's). Unknown spec, cluster or host ids are `not_found` before anything changes; FOLDER and DATACENTER are `invalid_argument` (esxlcm's inventory has none)",
 (S+'inventory','scan'): "each cluster or standalone host scanned as `clusters.software.scan` / `hosts.software.scan` do (stored for `compliance.get`); per entity COMPLETED with its compliance and the hosts by status as notifications, or FAILED with the reason (no desired image, image does not resolve, host in a cluster). With `software_spec`, against that library spec instead: a what-if check, not stored. FOLDER / DATACENTER `invalid_argument`",
 (S+'inventory','extract_installed_image'): "a cluster's as `clusters.installed_images.extract` (stored for `get`); a host's from its own posted state (not stored: nothing serves it later). COMPLETED when a host was read, `uniform_image` and the extraction's notifications; FOLDER / DATACENTER `invalid_argument`",
 (S+'inventory.reports.summary.clusters','get'): "the clusters named (type CLUSTER; FOLDER / DATACENTER `invalid_argument`) whose desired image was assigned from a library spec (`software_spec_info` is required; others are left out); `compliance_summary` from the last stored scan (a warning when it checked an older commit); precheck, stage and apply unset (esxlcm does not remediate)",
 (S+'inventory.reports.summary.hosts','get'): "as for clusters (type HOST): a standalone host's own image and scan; a host in a cluster has the cluster's spec and its part of the cluster's last scan",
 (S+'clusters.software.software_spec_metadata','get'): "the library spec the current commit was assigned from (`inventory.assign_entities`): name and id as assigned, `orchestrator_info`, a warning when the spec changed or was deleted since; `not_found` when the image did not come from the library or there is no commit",
 (S+'hosts.software.software_spec_metadata','get'): "as for clusters; `unsupported` for a host in a cluster",
 (S+'hosts.software.reports.apply_impact','get'): "a standalone host against its own committed image, the same computation as one host of `clusters.software.reports.apply_impact`; `not_found` before the first commit, `unsupported` for a host in a cluster (its image is the cluster's)",
}
def status(svc, op):
    if (svc, op) in done:
        return 'done', notes_done.get((svc, op), '')
    short = svc[len(S):] if svc.startswith(S) else svc
    if short == 'depots.offline' and op == 'create_from_host':
        return 'not planned', 'reads the depot off a live host: esxlcm does not connect to hosts (post the host\'s state instead)'
    if short.startswith('clusters.software.recommendations'):
        return 'not planned', "image recommendations need Broadcom's online release and compatibility data"
    if short == 'inventory' and op in ('apply', 'stage', 'check'):
        return 'not planned', 'remediation across the inventory: esxlcm does not connect to hosts'
    if short == 'inventory' and op in ('transition', 'update_vum_capability') or short.startswith('inventory.reports.transition_summary'):
        return 'not planned', "moving clusters from vCenter's baselines (VUM) to images: esxlcm has no baselines, every cluster and host is image-managed"
    if short.startswith(('clusters.configuration', 'clusters.enablement.configuration', 'hosts.configuration')):
        return 'not planned', 'configuration profiles (host settings), not image lifecycle'
    if short.startswith('clusters.vms'):
        return 'not planned', "solution VM lifecycle (vCenter's ESX Agent Manager)"
    if svc.startswith('com.vmware.esx.hcl'):
        return 'not planned', "needs Broadcom's online compatibility data"
    if short == 'clusters.software' and op in ('stage', 'apply', 'check') or short.startswith('clusters.software.reports.last_apply') or short.startswith('clusters.software.reports.last_check'):
        return 'not planned', 'remediation: esxlcm does not connect to hosts (it checks posted host states)'
    if short.startswith('clusters.software.reports.hardware_compatibility'):
        return 'not planned', "HCL checks need Broadcom's online compatibility data"
    if short.startswith('hosts.software.recommendations'):
        return 'not planned', "image recommendations need Broadcom's online release and compatibility data"
    if short == 'hosts.software' and op in ('stage', 'apply', 'check') or short.startswith('hosts.software.reports'):
        return 'not planned', 'remediation and its reports: esxlcm has no connection to hosts, so it does not stage, check or apply images (it scans posted host states)'
    return 'not yet', ''
out = []
out.append('''# vLCM-compatible API: endpoint coverage

What `esxlcm serve --api` answers, for every operation of the vSphere Automation
`esx/settings` API (plus `cis.session` and `cis.tasks`) listed in the reference
`vlcm-endpoints.tsv` (bindings `vmware-vcenter` 9.1.1.0).

Every **done** operation is served in both dialects by one dispatcher
(`crates/server/src/api/dispatch.rs`):

* **JSON-RPC** — `POST /api`, vAPI JSON-RPC 2.0 as the official Python SDK speaks it:
  DataValue encoding (`OPTIONAL` wrappers, map-entry lists, unions checked, datetimes in UTC
  with `Z`), errors in `result.error`, sessions in `securityCtx` (or the
  `vmware-api-session-id` header), tasks as `op$task`.
* **REST** — `/api/<url_template>`: plain JSON, `?action=`, `vmw-task=true` (202 with the
  task id), the `vmware-api-session-id` header, `POST /api/session` with HTTP Basic (201),
  errors as `{error_type, messages, data}` with the HTTP statuses of vlcm-api §3.1, GET filter
  structs as query parameters (repeat a parameter for a set) or, as the Python `rest`
  connector sends them, as a JSON body.

In both, inputs are checked against the schema before a handler runs: required fields,
union rules, datetimes, URIs, and every enum value (an unknown one is `invalid_argument`
naming the field's path and the values allowed). Outputs pass enum values through, as
vAPI enums are open to newer values.

Not an operation of the bindings, but needed for `PUSH` offline depots:
**`POST /vum-fileupload`** (administrators; the request body is the raw bundle; answers
`201` with the upload id as a JSON string, for `Offline.CreateSpec.file_id`). vCenter's
upload endpoint has this path (on port 9087); here it is on the API port. And
**`GET /api/esxlcm/exports/<id>/<file>`** (any authenticated user): the downloads
the `export` operations (clusters, standalone hosts, library specs) hand out.

Roles: `read_only` users may call every operation marked below as read (GET-like);
everything that changes state needs `admin` and otherwise fails with `unauthorized`
(REST 403). An operation not listed as done answers `operation_not_found` (REST 404).

Statuses: **done** — served as specified; **not yet** — planned, with what it waits for;
**not planned** — outside what esxlcm is for.

## Running it

```sh
export ESXLCM_ADMIN_USER=administrator@vsphere.local ESXLCM_ADMIN_PASSWORD='…'   # first start only
esxlcm serve --api --data-dir /var/lib/esxlcm --listen 0.0.0.0:8443
# listening on https://0.0.0.0:8443/api
# clients trust the generated CA /var/lib/esxlcm/tls/ca.pem
```

The data dir holds, all written atomically (temporary file, fsync, rename):

| path | what |
|---|---|
| `config.json` | users (`name`, `role`: `admin` or `read_only`, Argon2id `password_hash`) and optional `tls: {cert, key}` (PEM files to use instead of the generated ones), `trusted_ca_files` (PEM files of CAs trusted for online depots, besides the system's roots) and `bootloader_dir` (ISOLINUX.BIN, MBOOT.C32, EFIBOOT.IMG, BOOTX64.EFI, e.g. copied from an ESXi ISO: needed to export ISOs). `sessions: {idle_timeout_minutes, max_lifetime_hours}` (defaults 30 and 12). Users are managed with `esxlcm users add|list|passwd|remove|role` (passwords from the terminal or `--password-stdin`); a running server re-reads the file when it changes (checked at each login and call). A `password` typed in by hand is hashed and removed from the file when it is read. |
| `store/` | the service's mirror store (the same as `esxlcm mirror --store DATA_DIR/store`): every depot is a source of it (online depots `online-<n>`, offline bundles `offline-<n>`, the UMDS depot `umds`, and any source added with `esxlcm mirror`), synced and verified into snapshots and served to hosts at `/depots/<source>/index.xml`. Its SQLite database (`meta.sqlite`, versioned migrations) also holds the service's state, one row per object, each change one transaction: depots' API attributes (owner, how a bundle came in), the sync schedule, the inventory (clusters, hosts and their posted states), each cluster's and standalone host's commits, drafts and last scan, the image library, depot overrides, enablement records, apply policies, trusted root chains, and tasks. A `state.json` from an earlier version is taken in once and renamed `state.json.migrated`. |
| `tls/` | the certificate made on first start: `ca.pem` (trust this), `server.pem`, `server.key`; `trusted-roots.pem`, the roots the API's HTTPS depots trust besides the system's (`trusted_ca_files` and the trust store's chains) |
| `uploads/` | bundles uploaded for `PUSH` and not yet imported |
| `exports/<id>/` | images built by the `export` operations of clusters, standalone hosts and library specs (`software-spec.json`, `offline-bundle.zip`, `image.iso`); the newest 20 are kept |

Sessions live in memory (a restart logs everyone out, as on vCenter); they expire after 30
minutes without use and 12 hours after login however busy (`sessions` in `config.json`),
end when their user is removed, and at most 1000 are kept (the least recently used goes
first). Every login and every call that changes state is recorded in the audit log (see
below and `docs/SECURITY.md`). Every HTTPS answer carries `Strict-Transport-Security`,
`X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`, `Referrer-Policy: no-referrer`
and `Content-Security-Policy: default-src 'none'`. Tasks
are kept in the store's database when they start and when they end: they survive a
restart, and a task that was running when the server stopped reads FAILED, "interrupted by
restart". One server per data dir (`.lock`); `esxlcm mirror` may use the store at the same
time (the store's lock serialises writers, readers never see a half-published snapshot).

```sh
# REST
T=$(curl -s --cacert ca.pem -X POST -u "$ESXLCM_ADMIN_USER:$ESXLCM_ADMIN_PASSWORD" https://HOST:8443/api/session | tr -d '"')
curl -s --cacert ca.pem -H "vmware-api-session-id: $T" https://HOST:8443/api/esx/settings/depot-content/base-images
F=$(curl -s --cacert ca.pem -H "vmware-api-session-id: $T" --data-binary @bundle.zip https://HOST:8443/vum-fileupload | tr -d '"')
curl -s --cacert ca.pem -H "vmware-api-session-id: $T" -H 'content-type: application/json' \\
     -d "{\\"source_type\\":\\"PUSH\\",\\"file_id\\":\\"$F\\"}" 'https://HOST:8443/api/esx/settings/depots/offline?vmw-task=true'
# an online depot: register it, then sync (a task) to fetch its metadata
curl -s --cacert ca.pem -H "vmware-api-session-id: $T" -H 'content-type: application/json' \\
     -d '{"location":"https://depot.example.com/main/index.xml"}' https://HOST:8443/api/esx/settings/depots/online
curl -s --cacert ca.pem -H "vmware-api-session-id: $T" -X POST 'https://HOST:8443/api/esx/settings/depots?action=sync&vmw-task=true'
```

```python
# The official SDK (pip install vmware-vcenter vmware-vapi-runtime), unmodified
import requests
from vmware.vapi.vsphere.client import create_vsphere_client
from com.vmware.esx.settings.depots_client import Offline
s = requests.Session(); s.verify = "ca.pem"; s.trust_env = False   # REQUESTS_CA_BUNDLE would override verify
client = create_vsphere_client(server="HOST:8443", username=USER, password=PASSWORD, session=s)
task = Offline(client._stub_config).create_task(Offline.CreateSpec(source_type="PULL", location="/srv/bundle.zip"))
```

`tests/sdk/` runs such a client against the server (`scripts/test-sdk.sh`).

## esxlcm's inventory (not vSphere operations)

There is no vCenter: clusters and hosts are declared here, and a host's installed state is
posted as the JSON `esxlcm image compliance --host-state` reads (esxcli's `software
baseimage get`, `addon get`, `component list`, `vib list`, optionally `hardware`; see
`testdata/host-state/README.md`). Ids look like vCenter's (`domain-c7`, `host-9`) and are
what `esx.settings.clusters.*` takes as `{cluster}`. Both dialects: REST below, JSON-RPC
with the service ids shown. Changes need `admin`.

| service | operation | REST | task | status | notes |
|---|---|---|---|---|---|
| `com.esxlcm.inventory.clusters` | `create` | POST `/esxlcm/clusters` | no | done | body `{"name"}` (unique); answers the id (201) |
| `com.esxlcm.inventory.clusters` | `list` | GET `/esxlcm/clusters` | no | done | id → `{name, hosts, commit?}` |
| `com.esxlcm.inventory.clusters` | `get` | GET `/esxlcm/clusters/{cluster}` | no | done |  |
| `com.esxlcm.inventory.clusters` | `delete` | DELETE `/esxlcm/clusters/{cluster}` | no | done | `resource_in_use` while hosts are in it; its depot overrides, apply policies and enablement record go with it |
| `com.esxlcm.inventory.hosts` | `create` | POST `/esxlcm/hosts` | no | done | body `{"name", "cluster"?}` (no cluster: a standalone host) |
| `com.esxlcm.inventory.hosts` | `list` | GET `/esxlcm/hosts` | no | done | id → `{name, cluster?, state_time?, base_image?}` |
| `com.esxlcm.inventory.hosts` | `get` | GET `/esxlcm/hosts/{host}` | no | done |  |
| `com.esxlcm.inventory.hosts` | `delete` | DELETE `/esxlcm/hosts/{host}` | no | done | its depot overrides, apply policies and enablement record go with it |
| `com.esxlcm.inventory.hosts.state` | `set` | PUT `/esxlcm/hosts/{host}/state` | no | done | body: the host-state document (JSON-RPC: an opaque value); checked with `esxlcm_solver::host_state` (`invalid_argument` names the bad path) |
| `com.esxlcm.audit` | `list` | GET `/esxlcm/audit` | no | done | administrators only; the audit log, oldest first: `[{id, time, user?, client?, action, target?, result, detail?}]`; query `since` (RFC 3339) and `limit` (1–10000, default 100: the newest rows). One row per login (success or failure) and per call that changes state (administrator operations other than GETs, `POST /vum-fileupload`): `action` is `service.operation` (or `upload`), `target` the ids the input names (`cluster=domain-c7`) or what a create made (`created=…`), `result` `ok` or the error type, `detail` a started task's id. Also `esxlcm audit` |

```sh
C=$(curl -s --cacert ca.pem -H "vmware-api-session-id: $T" -H 'content-type: application/json' -d '{"name":"prod"}' https://HOST:8443/api/esxlcm/clusters | tr -d '"')
H=$(curl -s --cacert ca.pem -H "vmware-api-session-id: $T" -H 'content-type: application/json' -d "{\\"name\\":\\"esx-01\\",\\"cluster\\":\\"$C\\"}" https://HOST:8443/api/esxlcm/hosts | tr -d '"')
curl -s --cacert ca.pem -H "vmware-api-session-id: $T" -H 'content-type: application/json' -X PUT --data @host-state.json https://HOST:8443/api/esxlcm/hosts/$H/state
```

Then the vSphere image workflow on that cluster (each `?vmw-task=true` answers a task id for
`GET /api/cis/tasks/{task}`):

```sh
A="https://HOST:8443/api/esx/settings/clusters/$C/software"
D=$(curl … -X POST $A/drafts | tr -d '"')                                   # a draft
curl … -X PUT -d '{"version":"8.0.3-0.35.24280767"}' $A/drafts/$D/software/base-image
curl … -X POST "$A/drafts/$D?action=validate&vmw-task=true"                  # notifications, explained
curl … -X POST -d '{"message":"U3"}' "$A/drafts/$D?action=commit&vmw-task=true"   # result: the commit id
curl … -X POST "$A?action=scan&vmw-task=true"                                 # per-host compliance
curl … -X POST -d '{"export_software_spec":true,"export_offline_bundle":true,"export_iso_image":false}' "$A?action=export"
```

''')
# vCenter operations outside vlcm-endpoints.tsv (declared in esxlcm_schema.json).
TRUST = [
 ('vcenter.certificate_management.vcenter.trusted_root_chains', 'list', 'GET `/vcenter/certificate-management/vcenter/trusted-root-chains`', '`[{chain}]`'),
 ('vcenter.certificate_management.vcenter.trusted_root_chains', 'create', 'POST `/vcenter/certificate-management/vcenter/trusted-root-chains`', 'body `{"cert_chain": {"cert_chain": [PEM, …]}, "chain"?}`: each string PEM certificates only (`invalid_argument` names the entry and what is wrong: no certificate, a private key, an incomplete block); the same certificates or id twice `already_exists`; answers the id (`chain-<n>` unless given)'),
 ('vcenter.certificate_management.vcenter.trusted_root_chains', 'get', 'GET `/vcenter/certificate-management/vcenter/trusted-root-chains/{chain}`', '`{cert_chain: {cert_chain: [PEM, …]}}`, one certificate per entry, bytes as given'),
 ('vcenter.certificate_management.vcenter.trusted_root_chains', 'delete', 'DELETE `/vcenter/certificate-management/vcenter/trusted-root-chains/{chain}`', ''),
 ('vcenter.certificate_management.vcenter.tls', 'get', 'GET `/vcenter/certificate-management/vcenter/tls`', 'the certificate the server presents (generated, or `tls.cert` of `config.json`): DNs, validity, SHA-1 `thumbprint`, `is_CA`, `path_length_constraint` (-1 for a non-CA, as vCenter), key usages, SANs, AIA URIs, PEM'),
]
out.append('''## vCenter trust store (not in vlcm-endpoints.tsv)

vCenter operations outside the `esx/settings` reference that esxlcm serves because its
depot syncs need them, in both dialects with vSphere's service ids and shapes (declared in
`crates/server/src/api/gen/esxlcm_schema.json`). A chain added here is trusted by HTTPS
syncs of online and UMDS depots from the next request on (besides the system's roots and
`trusted_ca_files`); deleting it withdraws the trust. Changes need `admin`.

| service | operation | REST | task | status | notes |
|---|---|---|---|---|---|
''')
for svc, op, rest, note in TRUST:
    st = 'done' if ('com.vmware.' + svc, op) in done else 'not yet'
    out.append(f"| `{svc}` | `{op}` | {rest} | no | {st} | {note} |\n")
out.append('''
```sh
curl -s --cacert ca.pem -H "vmware-api-session-id: $T" -H 'content-type: application/json' \\
     -d "$(jq -n --rawfile pem branch-ca.pem '{cert_chain: {cert_chain: [$pem]}}')" \\
     https://HOST:8443/api/vcenter/certificate-management/vcenter/trusted-root-chains
```

## Operations

''')
from collections import Counter
cnt = Counter()
table = []
for r in rows:
    st, note = status(r['service'], r['operation'])
    cnt[st] += 1
    svc = r['service'].replace('com.vmware.esx.settings.', 'esx.settings.').replace('com.vmware.', '')
    url = r['url_template'].replace('|', '\\|')
    table.append(f"| `{svc}` | `{r['operation']}` | {r['http_method']} `{url}` | {r['task_capable']} | {st} | {note} |")
out.append(f"Summary: {cnt['done']} done, {cnt['not yet']} not yet, {cnt['not planned']} not planned (of {len(rows)}).\n\n")
out.append('| service | operation | REST | task | status | notes |\n|---|---|---|---|---|---|\n')
out.append('\n'.join(table) + '\n')
open('docs/API.md', 'w').write(''.join(out))
print(cnt, len(done))
