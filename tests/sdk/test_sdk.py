"""The official vSphere Automation SDK (vmware-vcenter + vmware-vapi-runtime), unmodified,
against esxlcm: login, online depots (records, and one served on loopback synced into depot
content), offline depots by path and by upload, depot content,
tasks and the error classes the SDK raises; the cluster image workflow (drafts, validation,
commits, export, compliance) with esxlcm's inventory driven over REST."""

import functools
import http.server
import json
import pathlib
import subprocess
import threading

import pytest
from com.vmware.cis_client import Session as CisSession
from com.vmware.cis_client import Tasks
from com.vmware.esx.settings.clusters.software.drafts.software_client import AddOn as DraftAddOn
from com.vmware.esx.settings.clusters.software.drafts.software_client import BaseImage as DraftBaseImage
from com.vmware.esx.settings.clusters.software.drafts.software_client import Components as DraftComponents
from com.vmware.esx.settings.clusters.software_client import Commits, Compliance, Drafts, EffectiveComponents
from com.vmware.esx.settings.clusters_client import Software
from com.vmware.esx.settings.depot_content_client import AddOns, BaseImages, Components
from com.vmware.esx.settings.depots.offline_client import Content
from com.vmware.esx.settings.depots.online_client import Content as OnlineContent
from com.vmware.esx.settings.depots_client import Offline, Online, SyncSchedule
from com.vmware.esx.settings_client import AddOnSpec, BaseImageSpec, Depots
from com.vmware.vapi.std.errors_client import (
    AlreadyExists,
    ConcurrentChange,
    InvalidArgument,
    NotAllowedInCurrentState,
    NotFound,
    ResourceInaccessible,
    Unauthenticated,
    Unauthorized,
)

from conftest import ADMIN, EDITOR, VIEWER, Rest, connect, esxlcm_bin, wait_task


def test_login_and_whoami(admin):
    info = CisSession(admin._stub_config).get()
    assert info.user == ADMIN[0]
    assert info.created_time is not None


def test_wrong_password_is_unauthenticated(server):
    with pytest.raises(Unauthenticated):
        connect(server, ADMIN[0], "wrong")


def test_online_depot_records(admin):
    online = Online(admin._stub_config)
    depot = online.create(Online.CreateSpec(location="https://depot.example.com/sdk/index.xml", description="sdk"))
    got = online.get(depot)
    assert (got.location, got.description, got.enabled, got.system_defined) == (
        "https://depot.example.com/sdk/index.xml",
        "sdk",
        True,
        False,
    )
    online.update(depot, Online.UpdateSpec(enabled=False))
    assert online.get(depot).enabled is False
    assert depot in online.list()
    with pytest.raises(AlreadyExists):
        online.create(Online.CreateSpec(location="https://depot.example.com/sdk/index.xml"))
    with pytest.raises(InvalidArgument):
        online.create(Online.CreateSpec(location="ftp://depot.example.com/index.xml"))
    online.delete(depot)
    with pytest.raises(NotFound):
        online.get(depot)


def test_read_only_user_is_unauthorized_on_changes(server):
    viewer = connect(server, *VIEWER)
    online = Online(viewer._stub_config)
    assert isinstance(online.list(), dict)
    with pytest.raises(Unauthorized):
        online.create(Online.CreateSpec(location="https://depot.example.com/ro/index.xml"))


def test_offline_depot_by_path_and_depot_content(admin, make_bundle):
    path, inspected = make_bundle(31)
    offline = Offline(admin._stub_config)
    task = offline.create_task(
        Offline.CreateSpec(source_type=Offline.SourceType.PULL, location=str(path), description="by path")
    )
    info, progress = wait_task(task)
    assert info.status == "SUCCEEDED", info.error
    assert info.progress.total == 100 and info.progress.completed == 100
    assert progress == sorted(progress)
    depot = task.get_result().depot
    got = offline.get(depot)
    assert got.source_type == Offline.SourceType.PULL and got.location == str(path)

    content = Content(admin._stub_config).get(depot)
    bundles = [m for infos in content.metadata_bundles.values() for m in infos]
    assert {b.version for m in bundles for b in m.base_images} == {b["version"] for b in inspected["base_images"]}

    stub = admin._stub_config
    versions = [b.version for b in BaseImages(stub).list()]
    for b in inspected["base_images"]:
        assert b["version"] in versions
    addon_names = {a.name for a in AddOns(stub).list()}
    assert {a["name"] for a in inspected["addons"]} <= addon_names
    components = {c.name: c for c in Components(stub).list()}
    for c in inspected["components"]:
        assert c["name"] in components
        assert {v["version"] for v in c["versions"]} <= {v.version for v in components[c["name"]].versions}
    one = inspected["components"][0]["name"]
    filtered = Components(stub).list(Components.FilterSpec(names={one}))
    assert [c.name for c in filtered] == [one]

    # The same bundle again fails with AlreadyExists naming the depot.
    again = offline.create_task(Offline.CreateSpec(source_type=Offline.SourceType.PULL, location=str(path)))
    info, _ = wait_task(again)
    assert info.status == "FAILED"
    error = again.get_error()
    assert isinstance(error, AlreadyExists), error
    assert error.data is not None

    tasks = Tasks(stub).list(Tasks.FilterSpec(services={"com.vmware.esx.settings.depots.offline"}))
    assert task.get_task_id() in tasks

    # delete as a task, then the depot is gone.
    gone = offline.delete_task(depot)
    info, _ = wait_task(gone)
    assert info.status == "SUCCEEDED"
    with pytest.raises(NotFound):
        offline.get(depot)


def test_offline_depot_by_upload(server, admin, make_bundle):
    path, inspected = make_bundle(32)
    token = server.rest_login(*ADMIN)
    r = server.session().post(
        f"https://{server.host}/vum-fileupload", data=path.read_bytes(), headers={"vmware-api-session-id": token}
    )
    assert r.status_code == 201, r.text
    file_id = r.json()
    offline = Offline(admin._stub_config)
    task = offline.create_task(Offline.CreateSpec(source_type=Offline.SourceType.PUSH, file_id=file_id))
    info, _ = wait_task(task)
    assert info.status == "SUCCEEDED", info.error
    depot = task.get_result().depot
    summary = offline.list()[depot]
    assert summary.source_type == Offline.SourceType.PUSH and summary.file_id == file_id
    names = {c.name for c in Components(admin._stub_config).list()}
    assert {c["name"] for c in inspected["components"]} <= names
    offline.delete(depot)


# ---- the cluster image workflow ----

DEPENDENCY_UNMET = "com.esxlcm.solver.dependency.unmet"


def import_depot(stub, path):
    task = Offline(stub).create_task(Offline.CreateSpec(source_type=Offline.SourceType.PULL, location=str(path)))
    info, _ = wait_task(task)
    assert info.status == "SUCCEEDED", info.error
    return task.get_result().depot


def host_state(base, addon, effective, vibs):
    return {
        "base_image": {"Version": base},
        "add_on": {"Name": addon["name"], "Version": addon["version"]},
        "components": [{"Name": n, "Version": c.version} for n, c in effective.items()],
        "vibs": vibs,
    }


def test_cluster_image_workflow(server, admin, make_bundle, tmp_path):
    path, inspected = make_bundle(33)
    stub = admin._stub_config
    depot = import_depot(stub, path)
    rest = Rest(server, ADMIN)
    cluster = rest.call("POST", "/esxlcm/clusters", {"name": "sdk"}, expect=201)
    hosts = [rest.call("POST", "/esxlcm/hosts", {"name": f"sdk-{i}", "cluster": cluster}, expect=201) for i in range(3)]
    assert cluster.startswith("domain-c") and all(h.startswith("host-") for h in hosts)

    low_unit, high_unit = inspected["base_images"][0], inspected["base_images"][-1]
    low, high = low_unit["version"], high_unit["version"]
    addon = next(a for a in inspected["addons"] if any(high.startswith(s) for s in a["supported_base_images"]))
    with pytest.raises(NotAllowedInCurrentState):
        Software(stub).get(cluster)

    drafts = Drafts(stub)
    draft = drafts.create(cluster)
    with pytest.raises(AlreadyExists):
        drafts.create(cluster)
    DraftBaseImage(stub).set(cluster, draft, BaseImageSpec(version=low))
    with pytest.raises(InvalidArgument):
        DraftBaseImage(stub).set(cluster, draft, BaseImageSpec(version="1.0-1"))
    DraftAddOn(stub).set(cluster, draft, AddOnSpec(name=addon["name"], version=addon["version"]))

    # A component at the newest base image's version that the oldest base image cannot
    # satisfy: validation says why.
    found = None
    for c in inspected["components"]:
        newest = c["versions"][-1]["version"]
        if high_unit["components"].get(c["name"]) != newest or low_unit["components"].get(c["name"]) == newest:
            continue
        if c["name"] in addon["components"] or c["name"] in addon["removed_components"]:
            continue
        DraftComponents(stub).set(cluster, draft, c["name"], newest)
        task = drafts.validate_task(cluster, draft)
        info, _ = wait_task(task)
        assert info.status == "SUCCEEDED", info.error
        errors = task.get_result().notifications.errors
        unmet = [n for n in errors if n.id == DEPENDENCY_UNMET and c["name"] in n.message.default_message]
        if unmet:
            found = (c["name"], newest, unmet[0])
            break
        DraftComponents(stub).delete(cluster, draft, c["name"])
    assert found, "no component of the generated depot needs more than the oldest base image"
    name, version, unmet = found
    assert name in unmet.message.default_message and "Because:" in unmet.message.default_message
    assert unmet.resolution is not None
    assert drafts.get(cluster, draft).metadata.status == Drafts.StatusType.INVALID

    # One editor per draft.
    editor = connect(server, *EDITOR)
    with pytest.raises(ConcurrentChange):
        DraftBaseImage(editor._stub_config).set(cluster, draft, BaseImageSpec(version=high))

    # Committing the invalid draft fails; fixed, it commits.
    task = drafts.commit_task(cluster, draft, Drafts.CommitSpec(message="too early"))
    info, _ = wait_task(task)
    assert info.status == "FAILED" and isinstance(task.get_error(), InvalidArgument)
    DraftBaseImage(stub).set(cluster, draft, BaseImageSpec(version=high))
    task = drafts.validate_task(cluster, draft)
    wait_task(task)
    assert not task.get_result().notifications.errors
    # The editor's draft, imported, begins from the same (empty) history.
    imported = json.dumps({"base_image": {"version": high}})
    other = Drafts(editor._stub_config).import_software_spec(
        cluster, Drafts.ImportSpec(source_type=Drafts.SourceType.JSON_STRING, software_spec=imported)
    )
    task = drafts.commit_task(cluster, draft, Drafts.CommitSpec(message="sdk image"))
    info, progress = wait_task(task)
    assert info.status == "SUCCEEDED", info.error
    assert progress == sorted(progress)
    commit = task.get_result()
    ci = Commits(stub).get(cluster, commit)
    assert (ci.author, ci.description) == (ADMIN[0], "sdk image")
    with pytest.raises(NotFound):
        drafts.get(cluster, draft)
    late = Drafts(editor._stub_config).commit_task(cluster, other, Drafts.CommitSpec())
    wait_task(late)
    assert isinstance(late.get_error(), ConcurrentChange)
    Drafts(editor._stub_config).delete(cluster, other)

    # The desired image and its effective components.
    sw = Software(stub).get(cluster)
    assert sw.base_image.version == high and sw.add_on.name == addon["name"]
    assert sw.components[name].version == version
    effective = EffectiveComponents(stub).list(cluster)
    assert effective[name].details.source == "USER"

    # Export: JSON and ZIP; downloads need a session; the ZIP imports as a depot.
    urls = Software(stub).export(
        cluster, Software.ExportSpec(export_software_spec=True, export_iso_image=False, export_offline_bundle=True)
    )
    assert set(urls) == {"SOFTWARE_SPEC", "OFFLINE_BUNDLE"}
    assert server.session().get(urls["SOFTWARE_SPEC"]).status_code == 401
    spec = rest.http.get(urls["SOFTWARE_SPEC"]).json()
    assert spec["base_image"]["version"] == high and spec["components"][name] == version
    zip_path = tmp_path / "exported.zip"
    zip_path.write_bytes(rest.http.get(urls["OFFLINE_BUNDLE"]).content)
    exported_depot = import_depot(stub, zip_path)
    Offline(stub).delete(exported_depot)

    # Compliance: compliant, older base image, newer component.
    listed = subprocess_vibs(path, high, addon, name, version)
    good = host_state(high, addon, effective, listed)
    older = dict(good, base_image={"Version": low})
    bumped = [dict(c, Version="999.0.0-1") if c["Name"] == name else c for c in good["components"]]
    newer = dict(good, components=bumped)
    for h, state in zip(hosts, [good, older, newer]):
        rest.call("PUT", f"/esxlcm/hosts/{h}/state", state, expect=204)
    task = Software(stub).scan_task(cluster)
    info, _ = wait_task(task)
    assert info.status == "SUCCEEDED", info.error
    result = task.get_result()
    assert result.compliant_hosts == {hosts[0]}
    assert result.non_compliant_hosts == {hosts[1]}
    assert result.incompatible_hosts == {hosts[2]}
    assert result.status == "INCOMPATIBLE"
    assert result.hosts[hosts[2]].components[name].status == "INCOMPATIBLE"
    assert Compliance(stub).get(cluster).incompatible_hosts == {hosts[2]}

    for h in hosts:
        rest.call("DELETE", f"/esxlcm/hosts/{h}", expect=204)
    rest.call("DELETE", f"/esxlcm/clusters/{cluster}", expect=204)
    Offline(stub).delete(depot)


def subprocess_vibs(bundle, base, addon, name, version):
    """The image's VIBs (what a compliant host has installed), from `esxlcm image resolve --json`."""
    spec = {
        "base_image": {"version": base},
        "add_on": {"name": addon["name"], "version": addon["version"]},
        "components": {name: version},
    }
    spec_path = pathlib.Path(bundle).with_suffix(".spec.json")
    spec_path.write_text(json.dumps(spec))
    out = subprocess.run(
        [str(esxlcm_bin()), "image", "resolve", "--spec", str(spec_path), "--depot", str(bundle), "--json"],
        check=True,
        capture_output=True,
        text=True,
    )
    vibs = []
    for vib_id in json.loads(out.stdout)["vibs"]:
        # <vendor>_<type>_<name>_<version>
        _vendor, _type, rest = vib_id.split("_", 2)
        vib_name, vib_version = rest.rsplit("_", 1)
        vibs.append({"ID": vib_id, "Name": vib_name, "Version": vib_version})
    return vibs


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_online_depot_served_on_loopback_syncs_into_depot_content(admin, tmp_path):
    tree = tmp_path / "online-depot"
    subprocess.run(
        [str(esxlcm_bin()), "depot", "generate", "--preset", "tiny", "--seed", "41", "--out", str(tree)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    inspected = json.loads(
        subprocess.run(
            [str(esxlcm_bin()), "depot", "inspect", str(tree), "--json"], check=True, capture_output=True, text=True
        ).stdout
    )
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(tree)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    stub = admin._stub_config
    online = Online(stub)
    try:
        location = f"http://127.0.0.1:{httpd.server_address[1]}/index.xml"
        depot = online.create(Online.CreateSpec(location=location, description="loopback"))
        with pytest.raises(NotAllowedInCurrentState):
            OnlineContent(stub).get(depot)

        task = Depots(stub).sync_task(Depots.SyncSpec(cleanup=False))
        info, progress = wait_task(task)
        assert info.status == "SUCCEEDED", info.error
        assert info.progress.completed == 100 and progress == sorted(progress)

        content = OnlineContent(stub).get(depot)
        bundles = [m for infos in content.metadata_bundles.values() for m in infos]
        assert {b.version for m in bundles for b in m.base_images} == {b["version"] for b in inspected["base_images"]}
        names = {c.name for c in Components(stub).list()}
        assert {c["name"] for c in inspected["components"]} <= names
        versions = {b.version for b in BaseImages(stub).list()}
        assert {b["version"] for b in inspected["base_images"]} <= versions

        schedule = SyncSchedule(stub)
        assert schedule.get().enabled is False
        schedule.set(
            SyncSchedule.Spec(
                enabled=True,
                email_addresses=[],
                schedule=SyncSchedule.Schedule(type=SyncSchedule.Recurrence.DAILY, hour=3, minute=15),
            )
        )
        got = schedule.get()
        assert got.enabled is True and got.schedule.hour == 3 and got.schedule.type == SyncSchedule.Recurrence.DAILY
        schedule.set(SyncSchedule.Spec(enabled=False, email_addresses=[]))

        # A depot nobody answers for fails the sync, named with the cause.
        bad = online.create(Online.CreateSpec(location="http://127.0.0.1:1/depot/index.xml"))
        task = Depots(stub).sync_task()
        info, _ = wait_task(task)
        assert info.status == "FAILED"
        error = task.get_error()
        assert isinstance(error, ResourceInaccessible), error
        text = " ".join(m.default_message for m in error.messages)
        assert bad in text and "127.0.0.1:1" in text and "could not connect" in text, text
        online.delete(bad)

        # Flushed, the depot leaves depot content.
        info, _ = wait_task(online.flush_task(depot))
        assert info.status == "SUCCEEDED", info.error
        with pytest.raises(NotAllowedInCurrentState):
            OnlineContent(stub).get(depot)
        online.delete(depot)
    finally:
        httpd.shutdown()
