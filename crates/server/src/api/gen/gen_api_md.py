"""Regenerate docs/API.md (the endpoint coverage table) from vlcm-endpoints.tsv and the
operations declared in crates/server/src/api/services/mod.rs. A unit test checks that the
document marks exactly the implemented operations as done.

Usage (from the repository root):
  python3 crates/server/src/api/gen/gen_api_md.py ../shared/reference/vlcm-endpoints.tsv"""
import sys
import csv, re
rows = list(csv.DictReader(open(sys.argv[1]), delimiter='\t'))
src = open('crates/server/src/api/services/mod.rs').read()
consts = dict(re.findall(r'const (\w+): &str = "([^"]+)";', src))
done = set()
for svc, op in re.findall(r'op!\(([^,]+), "(\w+)"', src):
    svc = svc.strip()
    svc = svc.strip('"') if svc.startswith('"') else consts[svc]
    done.add((svc, op))
S = 'com.vmware.esx.settings.'
notes_done = {
 ('com.vmware.cis.session','create'): 'user_pass in `securityCtx` (JSON-RPC) or HTTP Basic (REST, 201); returns a secret session id; Argon2id-checked local users',
 ('com.vmware.cis.session','get'): '',
 ('com.vmware.cis.session','delete'): '',
 ('com.vmware.cis.tasks','get'): '`spec.exclude_result` honoured; union rules of `cis.task.info` enforced per status',
 ('com.vmware.cis.tasks','list'): 'filters: tasks, services, operations, status, users (targets ignored: no task has a target yet)',
 ('com.vmware.cis.tasks','cancel'): 'while an offline depot is being copied or downloaded, and between the depots of a `depots.sync` (then `cancelable` is true); the task ends FAILED with `canceled`',
 (S+'depots.offline','create'): 'PULL from a path, a `file:` URL or http(s) (with `HEADER_AUTH`); PUSH from `POST /vum-fileupload`; the bundle is copied into the data dir, checked, de-duplicated by SHA-256 (`already_exists` carries the existing depot in `data`); progress reported',
 (S+'depots.offline','delete'): 'sync and `$task`; `force` has no effect: a depot a committed cluster image needs is not refused yet (that image then no longer resolves: validate, scan and export say so)',
 (S+'depots.offline','list'): '', (S+'depots.offline','get'): '',
 (S+'depots.offline.content','get'): '`metadata_bundles` keyed by vendor code; base images, add-ons, independent components; solutions, hardware support and updates unset',
 (S+'depots.online','create'): 'a record (http/https location of `index.xml` or its directory); its content arrives with `depots.sync`',
 (S+'depots.online','flush'): 'drops the synced metadata of the depot (it leaves depot content and image composition until the next sync)',
 (S+'depots.online.content','get'): 'as `offline.content.get`, from the last sync (`not_allowed_in_current_state` before one); nothing is fetched',
 (S+'depots','sync'): 'every enabled online depot: vendor list → vendor indexes → metadata zips fetched over HTTP(S) (system roots plus `trusted_ca_files` of `config.json`) into `depots/online/`, swapped in when complete; VIBs are fetched when an export needs them. Progress per document; `cancelable` between depots. A failing depot keeps its previous content and fails the task with its id, URL (secrets redacted) and cause. `cleanup` changes nothing (each sync replaces the whole cache)',
 (S+'depots.sync_schedule','get'): 'the stored schedule; `enabled: false` until set',
 (S+'depots.sync_schedule','set'): 'stored and checked (the fields each recurrence needs, ranges); the server runs `depots.sync` on it (times in UTC; `skip` units left out between runs) as a task of user `esxlcm-scheduler`; `email_addresses` are kept, no mail is sent',
 (S+'depots.online','delete'): 'sync and `$task`; drops its synced metadata', (S+'depots.online','list'): '`system_defined` is always false', (S+'depots.online','get'): '', (S+'depots.online','update'): '',
 (S+'depot_content.base_images','list'): 'over all offline depots and synced, enabled online depots; `kb` is empty (release units carry no KB link); `quick_patch_compatible_versions` unset',
 (S+'depot_content.base_images.versions','get'): 'as above, with the components',
 (S+'depot_content.add_ons','list'): 'filters: vendors, names, versions, min_version',
 (S+'depot_content.add_ons.versions','get'): '',
 (S+'depot_content.components','list'): 'filters: vendors, names, versions, min_version, bundle_types (BASE_IMAGE / ADD_ON / INDEPENDENT by release-unit membership)',
 (S+'depot_content.components.versions','get'): '',
 (S+'clusters.software','get'): 'the latest commit (desired image); `not_allowed_in_current_state` before the first commit; details (display names, vendors, dates) from the depots; `hardware_support` and `alternative_images` not shown yet',
 (S+'clusters.software','scan'): 'every host of the cluster (esxlcm inventory) against the committed image with the state last posted for it (`PUT /api/esxlcm/hosts/{host}/state`): COMPLIANT / NON_COMPLIANT / INCOMPATIBLE / UNAVAILABLE (no state) per host and component, impact, cluster aggregation (esxlcm_solver); stored for `compliance.get`; no `stage_status`, `impact_details` or hardware-support compliance yet',
 (S+'clusters.software','export'): 'synchronous (as in the bindings): builds the committed image with esxlcm_builder into the data dir and answers download URLs `https://<host the client used>/api/esxlcm/exports/<id>/<file>` (authenticated GET). SOFTWARE_SPEC and OFFLINE_BUNDLE always; ISO_IMAGE when `bootloader_dir` is set in `config.json`, else `unsupported` saying so. `export_only_default_image`/`skip_reserved_vibs_export` ignored',
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
}
def status(svc, op):
    if (svc, op) in done:
        return 'done', notes_done.get((svc, op), '')
    short = svc[len(S):] if svc.startswith(S) else svc
    if short == 'depots.offline' and op == 'create_from_host':
        return 'not yet', 'needs host connections'
    if short.startswith('depots.umds'):
        return 'not yet', 'the UMDS record comes with mirroring (`esxlcm mirror`)'
    if short.startswith(('clusters.configuration', 'clusters.enablement.configuration', 'hosts.configuration')):
        return 'not planned', 'configuration profiles (host settings), not image lifecycle'
    if short.startswith('clusters.vms'):
        return 'not planned', "solution VM lifecycle (vCenter's ESX Agent Manager)"
    if svc.startswith('com.vmware.esx.hcl'):
        return 'not planned', "needs Broadcom's online compatibility data"
    if short.startswith(('clusters.software.drafts.software.hardware_support', 'clusters.software.hardware_support')):
        return 'not yet', 'hardware support managers (HSM) catalogue'
    if short in ('clusters.software', 'clusters.software.solutions') and op in ('stage', 'apply', 'check', 'set', 'delete', 'update') or short.startswith('clusters.software.reports.last_apply') or short.startswith('clusters.software.reports.last_check'):
        return 'not planned', 'remediation: esxlcm does not connect to hosts (it checks posted host states)'
    if short.startswith('clusters.software') and op.startswith(('list_with_removed', 'get_default_image', 'get_display_name')) or short.startswith(('clusters.software.drafts.display_name', 'clusters.software.software_spec_metadata', 'clusters.software.solutions', 'clusters.software.reports.apply_impact')):
        return 'not yet', 'after the draft/commit model (built); small additions'
    if short.startswith('clusters.software.reports.hardware_compatibility'):
        return 'not planned', "HCL checks need Broadcom's online compatibility data"
    if 'alternative_images' in short:
        return 'not yet', 'alternative images: esxlcm_solver resolves and selects them; their services come after the main image (built)'
    if short.startswith(('hosts.software', 'hosts.')) or svc.startswith('com.vmware.esx.hosts'):
        return 'not yet', 'standalone host images: the inventory has standalone hosts and the cluster image model is built; the host-side services are next'
    if short.startswith(('clusters.', 'defaults.', 'inventory')):
        return 'not yet', 'on top of the inventory and the cluster image model (built)'
    if short.startswith('repository.software'):
        return 'not yet', '9.x software-spec repository: after cluster drafts'
    if short.startswith('hardware_support'):
        return 'not yet', 'hardware support managers (HSM) catalogue'
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

Not an operation of the bindings, but needed for `PUSH` offline depots:
**`POST /vum-fileupload`** (administrators; the request body is the raw bundle; answers
`201` with the upload id as a JSON string, for `Offline.CreateSpec.file_id`). vCenter's
upload endpoint has this path (on port 9087); here it is on the API port. And
**`GET /api/esxlcm/exports/<id>/<file>`** (any authenticated user): the downloads
`clusters.software.export` hands out.

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
| `config.json` | users (`name`, `role`: `admin` or `read_only`, Argon2id `password_hash`) and optional `tls: {cert, key}` (PEM files to use instead of the generated ones), `trusted_ca_files` (PEM files of CAs trusted for online depots, besides the system's roots) and `bootloader_dir` (ISOLINUX.BIN, MBOOT.C32, EFIBOOT.IMG, BOOTX64.EFI, e.g. copied from an ESXi ISO: needed to export ISOs). To add a user, add `{"name": "…", "role": "read_only", "password": "…"}` and restart: the clear-text password is hashed and removed from the file. |
| `state.json` | online and offline depot records (with each online depot's last sync), the sync schedule; the inventory (clusters, hosts and their posted states); each cluster's commits, drafts and last scan |
| `tls/` | the certificate made on first start: `ca.pem` (trust this), `server.pem`, `server.key` |
| `depots/offline/` | imported bundles |
| `depots/online/<depot>-<uuid>/` | the index chain of an online depot as last synced (files named by the SHA-256 of their URL: tokens are not written to disk) |
| `uploads/` | bundles uploaded for `PUSH` and not yet imported |
| `exports/<id>/` | images built by `clusters.software.export` (`software-spec.json`, `offline-bundle.zip`, `image.iso`); the newest 20 are kept |

Sessions and tasks live in memory (a restart logs everyone out, as on vCenter); sessions
expire after 30 minutes without use. One server per data dir (`.lock`).

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
| `com.esxlcm.inventory.clusters` | `delete` | DELETE `/esxlcm/clusters/{cluster}` | no | done | `resource_in_use` while hosts are in it |
| `com.esxlcm.inventory.hosts` | `create` | POST `/esxlcm/hosts` | no | done | body `{"name", "cluster"?}` (no cluster: a standalone host) |
| `com.esxlcm.inventory.hosts` | `list` | GET `/esxlcm/hosts` | no | done | id → `{name, cluster?, state_time?, base_image?}` |
| `com.esxlcm.inventory.hosts` | `get` | GET `/esxlcm/hosts/{host}` | no | done |  |
| `com.esxlcm.inventory.hosts` | `delete` | DELETE `/esxlcm/hosts/{host}` | no | done |  |
| `com.esxlcm.inventory.hosts.state` | `set` | PUT `/esxlcm/hosts/{host}/state` | no | done | body: the host-state document (JSON-RPC: an opaque value); checked with `esxlcm_solver::host_state` (`invalid_argument` names the bad path) |

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
