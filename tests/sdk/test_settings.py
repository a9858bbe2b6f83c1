"""The settings services around an image, driven with the unmodified official SDK: depot
overrides, software enablement, apply policies (defaults, configured, effective), the UMDS
depot and the trust store HTTPS depot sync uses.

Wire names here come from the SDK's own bindings (struct names such as
`certificate_management.x509_cert_chain`, field names such as `is_CA`): a wrong one fails
to deserialize in the SDK, which is what these tests are for."""

import pathlib

import pytest
from com.vmware.esx.settings.clusters.enablement_client import Software as Enablement
from com.vmware.esx.settings.clusters.policies.apply_client import Effective
from com.vmware.esx.settings.clusters.policies_client import Apply
from com.vmware.esx.settings.clusters_client import DepotOverrides
from com.vmware.esx.settings.defaults.clusters.policies_client import Apply as DefaultApply
from com.vmware.esx.settings.depots_client import Umds
from com.vmware.vapi.std.errors_client import AlreadyExists, InvalidArgument, NotFound
from com.vmware.vcenter.certificate_management.vcenter_client import Tls, TrustedRootChains
from com.vmware.vcenter.certificate_management_client import X509CertChain

from conftest import ADMIN, Rest


@pytest.fixture(scope="module")
def cluster(server):
    return Rest(server, ADMIN).call("POST", "/esxlcm/clusters", {"name": "settings"}, expect=201)


def test_depot_overrides(admin, cluster):
    overrides = DepotOverrides(admin._stub_config)
    branch = DepotOverrides.Depot(location="http://branch.example:8080/vmw/index.xml")
    assert overrides.get(cluster).depots == []
    overrides.add(cluster, branch)
    assert [d.location for d in overrides.get(cluster).depots] == [branch.location]
    with pytest.raises(AlreadyExists):
        overrides.add(cluster, branch)
    overrides.remove(cluster, branch)
    assert overrides.get(cluster).depots == []
    with pytest.raises(NotFound):
        overrides.remove(cluster, branch)
    with pytest.raises(NotFound):
        overrides.get("domain-c999999")


def test_software_enablement_is_on(admin, cluster):
    assert Enablement(admin._stub_config).get(cluster).enabled is True


def test_apply_policies_defaults_and_effective(admin, cluster):
    stub = admin._stub_config
    defaults = DefaultApply(stub)
    retry = DefaultApply.FailureAction(action=DefaultApply.FailureAction.Action.RETRY, retry_delay=120, retry_count=4)
    defaults.set(DefaultApply.ConfiguredPolicySpec(failure_action=retry, enable_quick_boot=True))
    assert defaults.get().failure_action.retry_count == 4

    # The cluster sets only Quick Boot: the failure action still comes from the defaults.
    Apply(stub).set(cluster, Apply.ConfiguredPolicySpec(enable_quick_boot=False))
    effective = Effective(stub).get(cluster)
    assert effective.enable_quick_boot is False
    assert effective.failure_action.action == "RETRY"
    assert (effective.failure_action.retry_delay, effective.failure_action.retry_count) == (120, 4)

    # RETRY without its delay and count breaks the union rule: the SDK itself refuses to
    # send it, so the server's check is exercised over REST in crates/server/tests.
    with pytest.raises(Exception):
        Apply(stub).set(
            cluster,
            Apply.ConfiguredPolicySpec(failure_action=Apply.FailureAction(action=Apply.FailureAction.Action.RETRY)),
        )


def test_umds_depot_set_get_delete(admin):
    umds = Umds(admin._stub_config)
    umds.set(Umds.SetSpec(description="UMDS export", enabled=False, location="https://umds.example/umds-patch-store/index.xml"))
    info = umds.get()
    assert info.location == "https://umds.example/umds-patch-store/index.xml"
    assert info.enabled is False
    umds.delete()
    with pytest.raises(NotFound):
        umds.get()


def test_trust_store_round_trip(server, admin):
    stub = admin._stub_config
    chains = TrustedRootChains(stub)
    before = {c.chain for c in chains.list()}
    pem = pathlib.Path(server.ca).read_text()
    chain = chains.create(TrustedRootChains.CreateSpec(cert_chain=X509CertChain(cert_chain=[pem])))
    assert chain not in before
    assert chain in {c.chain for c in chains.list()}
    assert chains.get(chain).cert_chain.cert_chain[0].strip() == pem.strip()
    with pytest.raises(InvalidArgument):
        chains.create(TrustedRootChains.CreateSpec(cert_chain=X509CertChain(cert_chain=["not a certificate"])))
    chains.delete(chain)
    with pytest.raises(NotFound):
        chains.get(chain)


def test_tls_certificate_of_the_server(server, admin):
    info = Tls(admin._stub_config).get()
    assert info.cert.startswith("-----BEGIN CERTIFICATE-----")
    assert info.is_ca is False
    assert any("127.0.0.1" in san or "localhost" in san for san in info.subject_alternative_name)
