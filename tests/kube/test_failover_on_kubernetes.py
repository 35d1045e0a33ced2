"""``failover`` end to end with ``--kube-adapter kubectl`` against a real API server: AWS is moto (in-process, as in
``tests/scripts/failover``), the DR cluster is the session's control plane, and the DR site (a stand-in IdP over
HTTP) is ready only when the real Deployment has Ready pods and the real DB Secret names a writable DR instance.

The standby reads its endpoint in ``secretsMode=pulumi`` here (``tests.kube.conftest.idp_site``).
"""

from __future__ import annotations

import json

import pytest

from scripts.k8s.adapter import KubectlAdapter
from tests.kube.conftest import idp_site
from tests.scripts.failover_world import primary_down, run_failover
from tests.scripts.world import fresh_session

PLACEHOLDER = "placeholder.invalid"


class InterruptFirstScale(KubectlAdapter):
    """The real adapter, with Ctrl-C arriving just before its first ``kubectl scale``."""

    interrupt = True

    def scale(self, namespace: str, deployment: str, replicas: int) -> None:
        if self.interrupt:
            self.interrupt = False
            raise KeyboardInterrupt
        super().scale(namespace, deployment, replicas)


def _site_ready(kube: KubectlAdapter, ns: str, region: str) -> bool:
    """Ready = Ready pods AND their DB host is an available, writable DR instance (as Keycloak would need)."""
    if kube.deployment_status(ns, "keycloak").ready == 0:
        return False
    host = kube.get_secret_data(ns, "keycloak-db")["KC_DB_URL_HOST"]
    rds = fresh_session().client("rds", region_name=region)
    for inst in rds.describe_db_instances()["DBInstances"]:
        if (inst.get("Endpoint") or {}).get("Address") == host:
            return inst["DBInstanceStatus"] == "available" and not inst.get("ReadReplicaSourceDBInstanceIdentifier")
    return False


@pytest.fixture
def dr_cluster(cluster, world, sites, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(cluster.plane.kubeconfig))
    ns = idp_site(cluster, world, replicas=0, host=PLACEHOLDER)  # a pilot light
    world.outputs["standby"]["drReplicas"] = 0
    world.outputs_path.write_text(json.dumps(world.outputs))
    kube = KubectlAdapter("idp-dr-test")
    sites[1].set_ready(lambda: _site_ready(kube, ns, world.outputs["drRegion"]))
    return kube, ns


def test_failover_points_and_scales_the_real_standby_and_cuts_traffic(world, dr_cluster):
    kube, ns = dr_cluster
    primary_down(world)
    result = run_failover(world, kube, "--yes", "--dns-wait", "0")
    assert result.code == 0, result.stderr
    steps = {s["name"]: s["status"] for s in result.json()["steps"] if "." not in s["name"]}
    assert [steps[s] for s in ("database", "point-standby", "scale-standby", "validate", "cut-traffic")] == ["ok"] * 5
    data = kube.get_secret_data(ns, "keycloak-db")
    assert data["KC_DB_URL_HOST"].startswith("sso-dr-replica.")
    assert data["KC_DB_PASSWORD"] == "app-password-in-the-cluster"  # only the endpoint keys change
    status = kube.deployment_status(ns, "keycloak")
    assert status.replicas == world.outputs["standby"]["primaryReplicas"] == status.ready
    assert "app-password-in-the-cluster" not in result.stdout + result.stderr


def test_an_interrupted_scale_resumes_against_the_real_cluster(world, dr_cluster):
    """Ctrl-C during scale-standby (before kubectl runs); the re-run skips what was done and scales."""
    kube, ns = dr_cluster
    flaky = InterruptFirstScale("idp-dr-test")
    primary_down(world)
    assert run_failover(world, flaky, "--yes", "--dns-wait", "0").code == 130
    assert kube.deployment_status(ns, "keycloak").replicas == 0
    resumed = run_failover(world, flaky, "--yes", "--dns-wait", "0")
    assert resumed.code == 0, resumed.stderr
    steps = {s["name"]: s["status"] for s in resumed.json()["steps"] if "." not in s["name"]}
    assert (steps["point-standby"], steps["scale-standby"]) == ("skipped", "resumed")
    assert kube.deployment_status(ns, "keycloak").ready == world.outputs["standby"]["primaryReplicas"]
