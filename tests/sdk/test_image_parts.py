"""Parts of an image beyond base image, add-on and components, driven with the unmodified
official SDK: hardware support packages (the managers' catalogue from the depots'
manifests, set in a draft, committed, read back), solutions set/updated/deleted as commits,
the default image, and enum values checked on input.

The generated bundle has no manifest, so one is added to its metadata.zip here, the way an
OEM depot carries a hardware support package (depot-format §2.6 `hardwareSupportInfo`)."""

import io
import json
import zipfile

import pytest
from com.vmware.esx.settings.clusters.policies_client import Apply
from com.vmware.esx.settings.clusters.software.drafts.software_client import BaseImage as DraftBaseImage
from com.vmware.esx.settings.clusters.software.drafts.software_client import HardwareSupport as DraftHardwareSupport
from com.vmware.esx.settings.clusters.software_client import Drafts, EffectiveComponents, HardwareSupport, Solutions
from com.vmware.esx.settings.clusters_client import Software
from com.vmware.esx.settings.depots_client import Offline
from com.vmware.esx.settings.hardware_support.managers.packages_client import Versions
from com.vmware.esx.settings.hardware_support.managers_client import Packages
from com.vmware.esx.settings.hardware_support_client import Managers
from com.vmware.esx.settings_client import (
    BaseImageSpec,
    HardwareSupportPackageSpec,
    HardwareSupportSpec,
    SolutionComponentSpec,
    SolutionSpec,
)
from com.vmware.vapi.std.errors_client import InvalidArgument, NotFound

from conftest import ADMIN, Rest, wait_task


def with_manifest(bundle, out, component, version, supported):
    """A copy of `bundle` whose metadata.zip also holds a manifest: manager `sdk-hsm`,
    package `sdk-hsp` 1.0 carrying `component` at `version`."""
    manifest = {
        "releaseID": "sdk-hsp:1.0-1",
        "releaseType": "manifest",
        "schemaVersion": "1.0",
        "vendor": "SDK Systems",
        "summary": "SDK hardware support package",
        "description": "SDK hardware support package 1.0",
        "category": "enhancement",
        "releaseDate": "2024-06-25T00:00:00+00:00",
        "acceptanceLevel": "community",
        "nameSpec": {"name": "sdk-hsp", "uiString": "SDK HSP"},
        "versionSpec": {"version": "1.0-1", "uiString": "1.0"},
        "components": {component: version},
        "removedComponents": [],
        "supportedBaseImageVersions": supported,
        "hardwareSupportInfo": {"manager": {"name": "sdk-hsm"}, "package": {"name": "sdk-hsp", "version": "1.0"}},
    }
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename.endswith("metadata.zip"):
                buf = io.BytesIO()
                with zipfile.ZipFile(io.BytesIO(data)) as inner, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as new:
                    for member in inner.infolist():
                        new.writestr(member, inner.read(member.filename))
                    new.writestr("manifests/sdk-hsp.json", json.dumps(manifest))
                data = buf.getvalue()
            dst.writestr(item, data)
    return out


def test_hardware_support_solutions_and_default_image(server, admin, make_bundle, tmp_path):
    path, inspected = make_bundle(41)
    high_unit = inspected["base_images"][-1]
    high = high_unit["version"]
    component = next(n for n in sorted(high_unit["components"]) if n != "ESXi")
    version = high_unit["components"][component]
    bundle = with_manifest(path, tmp_path / "hsp.zip", component, version, [high.split("-")[0]])
    stub = admin._stub_config
    task = Offline(stub).create_task(Offline.CreateSpec(source_type=Offline.SourceType.PULL, location=str(bundle)))
    info, _ = wait_task(task)
    assert info.status == "SUCCEEDED", info.error
    depot = task.get_result().depot

    # The catalogue, from the manifest.
    managers = Managers(stub).list()
    assert [(m.manager, m.vendor) for m in managers] == [("sdk-hsm", "SDK Systems")]
    packages = Packages(stub).list("sdk-hsm", Packages.FilterSpec(base_image_version=high))
    assert [(p.pkg, p.version) for p in packages] == [("sdk-hsp", "1.0")]
    assert Packages(stub).list("sdk-hsm", Packages.FilterSpec(base_image_version="7.0.3")) == []
    info = Versions(stub).get("sdk-hsm", "sdk-hsp", "1.0")
    assert [(c.name, c.version) for c in info.components] == [(component, version)]
    with pytest.raises(NotFound):
        Packages(stub).list("nope")

    # In a draft, checked against the manifests; committed.
    rest = Rest(server, ADMIN)
    cluster = rest.call("POST", "/esxlcm/clusters", {"name": "sdk-hsp"}, expect=201)
    drafts = Drafts(stub)
    draft = drafts.create(cluster)
    DraftBaseImage(stub).set(cluster, draft, BaseImageSpec(version=high))
    hsp = DraftHardwareSupport(stub)
    assert hsp.get(cluster, draft).packages == {}

    def package(version):
        return HardwareSupportSpec(packages={"sdk-hsm": HardwareSupportPackageSpec(pkg="sdk-hsp", version=version)})

    with pytest.raises(InvalidArgument):
        hsp.set(cluster, draft, package("9.9"))
    hsp.set(cluster, draft, package("1.0"))
    assert hsp.get(cluster, draft).packages["sdk-hsm"].pkg == "sdk-hsp"
    task = drafts.commit_task(cluster, draft, Drafts.CommitSpec(message="with hsp"))
    info, _ = wait_task(task)
    assert info.status == "SUCCEEDED", info.error
    assert HardwareSupport(stub).get(cluster).packages["sdk-hsm"].version == "1.0"
    assert EffectiveComponents(stub).list(cluster)[component].details.source == "HARDWARE_SUPPORT_PACKAGE"
    default = Software(stub).get_default_image(cluster)
    assert default.base_image.version == high and default.hardware_support.packages["sdk-hsm"].pkg == "sdk-hsp"

    # Solutions: each change is a commit, the task's result.
    solutions = Solutions(stub)
    spec = SolutionSpec(version="1.0", components=[SolutionComponentSpec(component=component)])
    task = solutions.set_task(cluster, "sdk-solution", spec)
    info, _ = wait_task(task)
    assert info.status == "SUCCEEDED", info.error
    assert task.get_result()
    assert solutions.get(cluster, "sdk-solution").version == "1.0"
    task = solutions.update_task(
        cluster, Solutions.UpdateSolutionsSpec(solutions={"other": SolutionSpec(version="2.0", components=[])})
    )
    info, _ = wait_task(task)
    assert info.status == "SUCCEEDED", info.error
    assert set(solutions.list(cluster)) == {"sdk-solution", "other"}
    task = solutions.delete_task(cluster, "sdk-solution")
    wait_task(task)
    task = solutions.delete_task(cluster, "sdk-solution")
    wait_task(task)
    assert isinstance(task.get_error(), NotFound)

    # An enum value the schema does not have is refused by the server.
    with pytest.raises(InvalidArgument):
        Apply(stub).set(
            cluster,
            Apply.ConfiguredPolicySpec(
                pre_remediation_power_action=Apply.ConfiguredPolicySpec.PreRemediationPowerAction("REBOOT_ALL")
            ),
        )

    rest.call("DELETE", f"/esxlcm/clusters/{cluster}", expect=204)
    Offline(stub).delete(depot)
