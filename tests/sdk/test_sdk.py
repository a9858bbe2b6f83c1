"""The official vSphere Automation SDK (vmware-vcenter + vmware-vapi-runtime), unmodified,
against esxlcm: login, online depots, offline depots by path and by upload, depot content,
tasks and the error classes the SDK raises."""

import pytest
from com.vmware.cis_client import Session as CisSession
from com.vmware.cis_client import Tasks
from com.vmware.esx.settings.depot_content_client import AddOns, BaseImages, Components
from com.vmware.esx.settings.depots.offline_client import Content
from com.vmware.esx.settings.depots_client import Offline, Online
from com.vmware.vapi.std.errors_client import (
    AlreadyExists,
    InvalidArgument,
    NotFound,
    Unauthenticated,
    Unauthorized,
)

from conftest import ADMIN, VIEWER, connect, wait_task


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
