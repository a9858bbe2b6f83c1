"""Regenerate crates/server/src/api/schema.json: the subset of the reference catalogue
(vlcm-types.json, from the official 9.1.1.0 bindings) for the services the API serves.

Usage (from the repository root):
  python3 crates/server/src/api/gen/gen_schema.py ../shared/reference/vlcm-types.json crates/server/src/api/schema.json
Widen PREFIXES when a new service is implemented. esxlcm's own operations (the inventory)
come from esxlcm_schema.json next to this script, and so do vSphere operations outside
vlcm-types.json that esxlcm serves (the vCenter trust store): their structures are declared
there too, and taken from there rather than from the reference."""
import json, os, re, sys
d = json.load(open(sys.argv[1]))
PREFIXES = ('com.vmware.cis.session', 'com.vmware.cis.tasks', 'com.vmware.esx.settings.depots',
            'com.vmware.esx.settings.depot_content', 'com.vmware.esx.settings.clusters.software',
            'com.vmware.esx.settings.hosts.software', 'com.vmware.esx.settings.repository.software',
            'com.vmware.esx.settings.clusters.depot_overrides', 'com.vmware.esx.settings.hosts.depot_overrides',
            'com.vmware.esx.settings.clusters.enablement.software',
            'com.vmware.esx.settings.hosts.enablement.software',
            'com.vmware.esx.settings.clusters.policies', 'com.vmware.esx.settings.hosts.policies',
            'com.vmware.esx.settings.defaults', 'com.vmware.esx.settings.hardware_support.managers',
            'com.vmware.esx.settings.clusters.installed_images', 'com.vmware.esx.hosts.software',
            'com.vmware.esx.settings.inventory')
ops = [o for o in d['operations'] if o['service'].startswith(PREFIXES)]
structs, enums = {}, {}
ours = json.load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'esxlcm_schema.json')))
def walk(t):
    if not t: return
    for m in re.findall(r'S:([A-Za-z0-9_.]+)', t):
        if m not in structs and m not in ours['structs']:
            structs[m] = d['structs'][m]
            for _, ft in structs[m]['fields']:
                walk(ft)
    for m in re.findall(r'E:([A-Za-z0-9_.]+)', t):
        enums[m] = d['enums'][m]
for o in ops:
    for _, t in o['inputs']:
        walk(t)
    walk(o['output'])
    if o['task_result']:
        walk(o['task_result'])
walk('S:com.vmware.cis.task.info'); walk('S:com.vmware.vapi.std.localizable_message')
keep = ('service','op','http','url','path','query','body','dispatch','inputs','output','task_result','task_type','errors')
for o in ours['operations']:
    ops.append(o)
    for _, t in o['inputs']:
        walk(t) if 'com.esxlcm.' not in t else None
for name, st in ours['structs'].items():
    structs[name] = st
out = {'meta': {'source': d['meta']['source'], 'generated_by': 'see docs/API.md (subset of vlcm-types.json)'},
       'operations': [{k: o[k] for k in keep} for o in ops],
       'structs': {k: {'fields': v['fields'], 'unions': v['unions']} for k, v in sorted(structs.items())},
       'enums': {k: v['values'] for k, v in sorted(enums.items())}}
json.dump(out, open(sys.argv[2], 'w'), indent=1, sort_keys=True)
print(len(ops), len(structs), len(enums))
