"""``recover`` end to end with ``--kube-adapter kubectl`` against a real API server: AWS is moto (as in
``tests/scripts/recover``), the primary cluster is the session's control plane, and the primary site (a stand-in
IdP over HTTP) is up while the real Deployment has pods.

What the real API adds over the JSON fake: a pod being deleted leaves the Deployment's status at once but runs
out its grace period (kwok honours it like a kubelet), so "stopped" is proven by the pods themselves, before a
database is swapped under them; and the restart after the cut-over is a real rollout of new pods.
"""

from __future__ import annotations

import pytest

from scripts.k8s.adapter import KubectlAdapter
from scripts.recover.cutover import CutOver
from tests.kube.conftest import idp_site, pods
from tests.scripts.recover_world import backup_replication_answered, instance, recover


@pytest.fixture
def primary_site(cluster, world, sites, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(cluster.plane.kubeconfig))
    ns = idp_site(cluster, world, replicas=2, host=world.outputs["database"]["primaryEndpoint"])
    kube = KubectlAdapter("idp-dr-test")
    cluster.kubectl("rollout", "status", "deployment/keycloak", "-n", ns, "--timeout=60s")
    sites[0].set_ready(lambda: kube.deployment_status(ns, "keycloak").ready > 0)
    return kube, ns


def test_swap_stops_every_pod_before_the_rename_and_starts_new_ones(world, primary_site, cluster, tmp_path,
                                                                     monkeypatch):  # fmt: skip
    kube, ns = primary_site
    at_rename: list[set[str]] = []  # the IdP's pods, terminating ones included, as each database is renamed
    real_rename = CutOver._call_rename

    def watched(self, old, new):
        at_rename.append(pods(cluster, ns))
        return real_rename(self, old, new)

    monkeypatch.setattr(CutOver, "_call_rename", watched)
    backup_replication_answered(world)
    before = pods(cluster, ns)
    result = recover(world, kube, tmp_path, "--latest", "--yes")
    assert result.code == 0, result.stderr
    steps = {s["name"]: s["status"] for s in result.json()["steps"] if "." not in s["name"]}
    assert [steps[s] for s in ("stop", "cut-over", "start", "verify")] == ["ok"] * 4
    assert len(at_rename) == 2 and at_rename == [set(), set()]  # none, not even terminating
    status = kube.deployment_status(ns, "keycloak")
    assert (status.replicas, status.ready) == (2, 2)
    after = pods(cluster, ns)
    assert len(before) == 2 and len(after) == 2 and not before & after
    assert instance(world, "sso-db")["Endpoint"]["Address"] == kube.get_secret_data(ns, "keycloak-db")["KC_DB_URL_HOST"]


def test_repoint_writes_the_restored_endpoint_into_the_real_secret(world, primary_site, tmp_path):
    kube, ns = primary_site
    result = recover(world, kube, tmp_path, "--latest", "--yes", "--method", "repoint")
    assert result.code == 0, result.stderr
    restored = result.json()["result"]["restore"]["target"]
    data = kube.get_secret_data(ns, "keycloak-db")
    assert data["KC_DB_URL_HOST"] == instance(world, restored)["Endpoint"]["Address"]
    assert data["KC_DB_PASSWORD"] == "app-password-in-the-cluster"  # only the endpoint keys change
    assert kube.deployment_status(ns, "keycloak").ready == 2
    assert "app-password-in-the-cluster" not in result.stdout + result.stderr
