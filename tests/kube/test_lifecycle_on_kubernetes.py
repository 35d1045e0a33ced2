"""failover → reprotect → failback with both sites on real API servers: the DR site on the session's control
plane, the primary site on a second one (a cluster per region, as in production; one kubeconfig naming both).
AWS is moto as in ``tests/scripts/lifecycle`` (replicated backups simulated, ``ReplicaLag`` answered in
CloudWatch's shape: moto publishes no RDS metrics).

What this proves beyond the JSON fake: no IdP pod of either site, terminating ones included, exists while the
database is switched back (the planned failback's promise of no write anywhere), and each site ends as the
stack left it: the primary serving at ``primaryReplicas`` on ``sso-db``, the DR site back to ``drReplicas`` on the
rebuilt DR replica.
"""

from __future__ import annotations

import json

import pytest

from scripts.failover import switchback
from scripts.k8s.adapter import KubectlAdapter
from scripts.lab.kube_plane import ControlPlane
from scripts.sandbox.real_cluster import write_merged_kubeconfig
from tests.kube.conftest import Cluster, idp_site, pods
from tests.scripts.drill_world import replicated_backups  # noqa: F401 - the simulated replicated backups
from tests.scripts.failover_world import health_path, primary_down, run_failover
from tests.scripts.lifecycle.test_failover_cycle import failback, lag_answered, reprotect
from tests.scripts.recover_world import instance, replica
from tests.scripts.world import fresh_session

PLACEHOLDER = "placeholder.invalid"


@pytest.fixture(scope="module")
def primary_plane(plane, tmp_path_factory):
    """The primary region's cluster: a second control plane, for this module's tests."""
    with ControlPlane(tmp_path_factory.mktemp("kube-primary")) as cp:
        yield cp


def _ready_on_writable_dr_db(kube: KubectlAdapter, ns: str, region: str) -> bool:
    if kube.deployment_status(ns, "keycloak").ready == 0:
        return False
    host = kube.get_secret_data(ns, "keycloak-db")["KC_DB_URL_HOST"]
    for found in fresh_session().client("rds", region_name=region).describe_db_instances()["DBInstances"]:
        if (found.get("Endpoint") or {}).get("Address") == host:
            return found["DBInstanceStatus"] == "available" and not found.get("ReadReplicaSourceDBInstanceIdentifier")
    return False


@pytest.fixture
def two_sites(replicated_backups, world, sites, plane, primary_plane, tmp_path, monkeypatch):  # noqa: F811
    """Both clusters seeded like the stack: DR at 0 (pilot light) with a placeholder host, primary at 2."""
    dr_cluster, primary_cluster = Cluster(plane), Cluster(primary_plane)
    ns = idp_site(dr_cluster, world, replicas=0, host=PLACEHOLDER)
    idp_site(primary_cluster, world, replicas=2, host=world.outputs["database"]["primaryEndpoint"], namespace=ns)
    world.outputs["standby"]["drReplicas"] = 0
    world.outputs_path.write_text(json.dumps(world.outputs))
    monkeypatch.setenv("KUBECONFIG", str(write_merged_kubeconfig(tmp_path / "kubeconfig",
                                                                 {"dr": plane, "primary": primary_plane})))  # fmt: skip
    dr, primary = KubectlAdapter("dr"), KubectlAdapter("primary")
    sites[1].set_ready(lambda: _ready_on_writable_dr_db(dr, ns, world.outputs["drRegion"]))
    sites[0].set_ready(lambda: primary.deployment_status(ns, "keycloak").ready > 0)
    return dr, primary, dr_cluster, primary_cluster, ns


def test_failover_reprotect_failback_on_two_real_clusters(world, two_sites, tmp_path, monkeypatch):
    dr, primary, dr_cluster, primary_cluster, ns = two_sites
    # The primary region is lost: its IdP is gone (scaled to 0 by hand, as an operator would find it).
    primary_cluster.kubectl("scale", "deployment/keycloak", "-n", ns, "--replicas=0")
    primary_down(world)
    failover = run_failover(world, dr, "--yes", "--dns-wait", "0", "--state-dir", str(tmp_path / "failover"))
    assert failover.code == 0, failover.stderr
    assert dr.get_secret_data(ns, "keycloak-db")["KC_DB_URL_HOST"].startswith("sso-dr-replica.")
    assert dr.deployment_status(ns, "keycloak").ready == world.outputs["standby"]["primaryReplicas"]
    world.faults.clear()
    lag_answered(world)
    assert reprotect(world, tmp_path, "--yes").code == 0

    at_promote: list[tuple[set[str], set[str]]] = []  # both sites' pods, terminating included, as the copy is promoted
    real_promote = switchback.Switchback.promote

    def watched(self):
        at_promote.append((pods(dr_cluster, ns), pods(primary_cluster, ns)))
        return real_promote(self)

    monkeypatch.setattr(switchback.Switchback, "promote", watched)
    result = failback(world, dr, primary, tmp_path, "--yes")
    assert result.code == 0, result.stderr
    assert at_promote == [(set(), set())]
    serving = instance(world, "sso-db")
    assert primary.get_secret_data(ns, "keycloak-db")["KC_DB_URL_HOST"] == serving["Endpoint"]["Address"]
    assert primary.deployment_status(ns, "keycloak").ready == world.outputs["standby"]["primaryReplicas"]
    assert health_path(world) == world.outputs["dns"]["healthPath"]
    # The DR site as the stack left it: at drReplicas, pointed at the rebuilt DR replica that follows sso-db.
    rebuilt = replica(world, "sso-dr-replica")
    assert rebuilt["ReadReplicaSourceDBInstanceIdentifier"] == serving["DBInstanceArn"]
    assert dr.get_secret_data(ns, "keycloak-db")["KC_DB_URL_HOST"] == rebuilt["Endpoint"]["Address"]
    assert dr.deployment_status(ns, "keycloak").replicas == 0 and pods(dr_cluster, ns) == set()
    assert "app-password-in-the-cluster" not in result.stdout + result.stderr
