"""``drill --aws --kube-adapter kubectl`` against a real API server: the drill's Secret, ConfigMap, Deployment and
Service applied to a real drill namespace (admission and validation included), its pod scheduled and made Ready
(kwok), the drill IdP reached by a real ``kubectl port-forward`` through the API server (kwok's
ClusterPortForward connects it to the stand-in Keycloak on this machine: there is no container), and every
object removed at the end. AWS is moto with the replicated-backups simulation, as in ``tests/scripts/drill``.
"""

from __future__ import annotations

import json

import pytest

from contract.drills import LABEL_DRILL_ID
from contract.secrets import DB_SECRET_KEYS
from scripts.k8s.adapter import KubectlAdapter
from scripts.sandbox.command import standby_deployment
from scripts.sandbox.real_cluster import seed, seed_drill_namespace
from tests.kube.conftest import Cluster
from tests.scripts.drill_world import DRILL_STEPS, drill, idp, replicated_backups  # noqa: F401 - the drill's world


@pytest.fixture
def dr_site(cluster: Cluster, world, idp, monkeypatch):  # noqa: F811 - the drill's stand-in IdP
    """The DR cluster seeded like the stack, in namespaces of this test; the drill namespace's pods forwarded
    to the stand-in drill IdP."""
    monkeypatch.setenv("KUBECONFIG", str(cluster.plane.kubeconfig))
    standby_ns = cluster.namespace("identity")
    drill_ns = f"{standby_ns}-drill"  # created by the seed, as the program creates it
    world.outputs["standby"] = {**world.outputs["standby"], "namespace": standby_ns, "drillNamespace": drill_ns}
    world.outputs_path.write_text(json.dumps(world.outputs))
    kube = KubectlAdapter("idp-dr-test")
    db = {"host": "sso-dr-replica.placeholder", "port": "5432", "dbname": "keycloak", "username": "keycloak",
          "password": "app-password-in-the-cluster"}  # fmt: skip
    assert set(db) == set(DB_SECRET_KEYS["keycloak"])
    seed(kube, world.outputs, db, 0, standby_deployment)
    seed_drill_namespace(kube, world.outputs)
    host, port = idp.hostport.split(":")
    cluster.plane.forward_pods(f"drill-{drill_ns}", [drill_ns], host, int(port))
    return kube, standby_ns, drill_ns


def test_a_drill_runs_on_the_real_api_and_leaves_nothing(world, dr_site, drill):  # noqa: F811
    kube, standby_ns, drill_ns = dr_site
    result = drill(kube=kube)
    assert result.code == 0, result.stderr
    doc = result.json()
    assert [(s["name"], s["status"]) for s in doc["steps"] if "." not in s["name"]] == [
        (name, "ok") for name in DRILL_STEPS
    ]
    checks = {c["name"]: c["status"] for c in doc["checks"]}
    for name in ("verify.readiness", "verify.issuer", "verify.jwks.baseline_overlap", "verify.token.signature"):
        assert checks[name] == "pass", (name, checks)
    assert not any("SIMULATED" in n and "Kubernetes" in n for n in doc.get("notes", []))
    for kind in ("deployments", "services", "secrets", "configmaps"):
        assert kube.list_names(drill_ns, kind, f"{LABEL_DRILL_ID}={doc['result']['drill']}") == []
    assert kube.deployment_status(standby_ns, "keycloak").replicas == 0  # the standby untouched
