"""The runbook's ``kubectl`` adapter against a real kube-apiserver (with its controllers, the scheduler and a kwok
node that makes pods Running and Ready): every operation failover, failback, recover and the drill use, and the
Kubernetes half of their steps (``scale_and_wait``, ``point_at`` in ``secretsMode=pulumi``).

The JSON fake (``fake:FILE``) stays for the AWS-side tests, where the cluster's behaviour is not under test.
"""

from __future__ import annotations

import http.server
import threading
import time

import pytest
import requests

from scripts.errors import ExternalError, WaitTimeout
from scripts.k8s.adapter import KubectlAdapter
from scripts.k8s.site import EndpointSink, point_at, scale_and_wait
from scripts.polling import Clock
from tests.kube.conftest import Cluster
from tests.kube.crds import EXTERNAL_SECRETS_CRDS


def _deployment(ns: str, name: str, replicas: int, image: str = "quay.io/keycloak/keycloak:26.4.5") -> dict:
    labels = {"app.kubernetes.io/name": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels},
                         "spec": {"containers": [{"name": name, "image": image}], "terminationGracePeriodSeconds": 2}},
        },
    }  # fmt: skip


def _secret(ns: str, name: str, data: dict[str, str]) -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns}, "stringData": data}


@pytest.fixture
def site(cluster: Cluster, monkeypatch) -> tuple[Cluster, str, KubectlAdapter]:
    """A namespace with the IdP's Deployment (2 pods) and its DB Secret; the adapter as the runbook builds it."""
    ns = cluster.namespace("identity")
    cluster.apply(
        _deployment(ns, "keycloak", 2),
        _secret(ns, "keycloak-db", {"KC_DB_URL_HOST": "old.db", "KC_DB_URL_PORT": "5432",
                                    "KC_DB_URL_DATABASE": "keycloak", "KC_DB_USERNAME": "keycloak",
                                    "KC_DB_PASSWORD": "s3cret-in-the-cluster"}),
    )  # fmt: skip
    monkeypatch.setenv("KUBECONFIG", str(cluster.plane.kubeconfig))
    return cluster, ns, KubectlAdapter("idp-dr-test")


def test_scale_and_wait_sees_pods_become_ready_and_gone(site):
    _, ns, kube = site
    scale_and_wait(kube, ns, ["keycloak"], 3, timeout=60, clock=Clock(), interval=0.3)
    status = kube.deployment_status(ns, "keycloak")
    assert (status.replicas, status.ready, status.available) == (3, 3, 3)
    scale_and_wait(kube, ns, ["keycloak"], 0, timeout=60, clock=Clock(), interval=0.3)
    status = kube.deployment_status(ns, "keycloak")
    assert (status.replicas, status.ready) == (0, 0)


def test_scaled_to_zero_means_no_pod_left_terminating_ones_included(site):
    """A Deployment's status stops counting a pod the moment it is deleted, while the pod (and the IdP in it,
    with its database connections) still runs out its grace period: the wait is for the pods themselves."""
    cluster, ns, kube = site
    slow = _deployment(ns, "worker", 2)
    slow["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 4
    cluster.apply(slow)
    scale_and_wait(kube, ns, ["worker"], 2, timeout=60, clock=Clock(), interval=0.3)
    seen: list[str] = []
    scale_and_wait(kube, ns, ["worker"], 0, timeout=60, clock=Clock(), interval=0.3, on_update=seen.append)
    assert kube.list_names(ns, "pods", "app.kubernetes.io/name=worker") == []
    assert any("0/0 ready, still terminating: worker-" in line for line in seen), seen


def test_a_port_forward_reaches_the_pod_through_the_api_server(site):
    """kubectl port-forward → kube-apiserver → the node's server (kwok) → the address its ClusterPortForward
    names: here a stand-in IdP on this machine, answering for the Service's pods."""
    cluster, ns, kube = site

    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = f"hello from {self.path}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        cluster.plane.forward_pods(f"stand-in-{ns}", [ns], "127.0.0.1", server.server_address[1])
        scale_and_wait(kube, ns, ["keycloak"], 1, timeout=60, clock=Clock(), interval=0.3)
        kube.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "idp", "namespace": ns},
                    "spec": {"ports": [{"name": "http", "port": 8080}],
                             "selector": {"app.kubernetes.io/name": "keycloak"}}})  # fmt: skip
        with kube.forward(ns, "idp", [8080]) as hosts:
            answer = requests.get(f"http://{hosts[8080]}/realms/company", timeout=10)
        assert (answer.status_code, answer.text) == (200, "hello from /realms/company")
    finally:
        server.shutdown()


def test_a_scale_that_never_becomes_ready_times_out_naming_what_it_saw(site):
    cluster, ns, kube = site
    cluster.kubectl("cordon", "kwok-node-0")  # nothing can be scheduled: the new pods stay Pending
    try:
        with pytest.raises(WaitTimeout) as caught:
            scale_and_wait(kube, ns, ["keycloak"], 4, timeout=3, clock=Clock(), interval=0.3)
    finally:
        cluster.kubectl("uncordon", "kwok-node-0")
    assert "2/4 ready" in caught.value.message


def test_a_rollout_the_controller_cannot_do_fails_at_once_naming_why(site):
    """Pods refused by the API server (here: a ServiceAccount that does not exist) are a failure to report now,
    not a wait of the whole timeout: the sandbox's first real-cluster run found exactly this."""
    cluster, ns, kube = site
    broken = _deployment(ns, "worker", 0)
    broken["spec"]["template"]["spec"]["serviceAccountName"] = "worker-missing"
    cluster.apply(broken)
    with pytest.raises(ExternalError) as caught:
        scale_and_wait(kube, ns, ["worker"], 1, timeout=120, clock=Clock(), interval=0.3)
    assert caught.value.message.startswith('the rollout cannot finish: worker: FailedCreate: pods "worker-')
    assert 'serviceaccount "worker-missing" not found' in caught.value.message


def test_rollout_restart_replaces_the_pods_and_they_become_ready_again(site):
    cluster, ns, kube = site
    scale_and_wait(kube, ns, ["keycloak"], 2, timeout=60, clock=Clock(), interval=0.3)
    before = set(kube.list_names(ns, "pods", "app.kubernetes.io/name=keycloak"))
    kube.rollout_restart(ns, "keycloak")
    cluster.kubectl("rollout", "status", "deployment/keycloak", "-n", ns, "--timeout=60s")
    deadline = time.monotonic() + 30  # the old pods run out their grace period after the rollout is done
    while len(after := set(kube.list_names(ns, "pods", "app.kubernetes.io/name=keycloak"))) > 2:
        assert time.monotonic() < deadline, after
        time.sleep(0.3)
    status = kube.deployment_status(ns, "keycloak")
    assert status.rolled_out(2) and status.generation == 2
    assert before and after and not before & after


def test_the_db_secret_is_read_and_patched_and_the_credentials_kept(site):
    _, ns, kube = site
    data = kube.get_secret_data(ns, "keycloak-db")
    assert data["KC_DB_PASSWORD"] == "s3cret-in-the-cluster"
    kube.patch_secret_data(ns, "keycloak-db", {"KC_DB_URL_HOST": "new.db"})
    after = kube.get_secret_data(ns, "keycloak-db")
    assert after == {**data, "KC_DB_URL_HOST": "new.db"}


def test_point_at_in_pulumi_mode_moves_the_standby_to_the_new_database(site):
    _, ns, kube = site
    sink = EndpointSink(idp="keycloak", namespace=ns, db_secret="keycloak-db", secrets_mode="pulumi")
    seen: list[str | None] = []
    want = {"host": "sso-dr-replica.eu-central-1.rds.amazonaws.com", "port": "5432", "dbname": "keycloak"}
    detail = point_at(sink, want, aws=None, kube=kube, clock=Clock(), timeout=30, register_secret=seen.append)
    data = kube.get_secret_data(ns, "keycloak-db")
    assert (data["KC_DB_URL_HOST"], data["KC_DB_URL_PORT"], data["KC_DB_URL_DATABASE"]) == tuple(want.values())
    assert "s3cret-in-the-cluster" in seen  # registered for masking before anything is printed
    assert detail["endpoint"] == want


def test_objects_are_applied_found_listed_and_deleted(site):
    _, ns, kube = site
    assert kube.exists(ns, "deployment", "keycloak") and not kube.exists(ns, "deployment", "nothing")
    assert kube.get_object(ns, "service", "nothing") is None
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "drill", "namespace": ns,
               "labels": {"idp-dr/drill": "x"}}, "spec": {"ports": [{"port": 8080}],
               "selector": {"app.kubernetes.io/name": "keycloak"}}}  # fmt: skip
    kube.apply(service)
    kube.apply({**service, "metadata": {**service["metadata"], "annotations": {"again": "yes"}}})
    found = kube.get_object(ns, "service", "drill")
    assert found["metadata"]["annotations"]["again"] == "yes" and found["spec"]["clusterIP"]
    assert kube.list_names(ns, "services", "idp-dr/drill=x") == ["drill"]
    kube.delete(ns, "service", "drill")
    kube.delete(ns, "service", "drill")  # absent: not an error
    assert kube.list_names(ns, "services", "idp-dr/drill=x") == []


def test_an_external_secret_is_annotated_to_force_a_sync(site):
    cluster, ns, kube = site
    cluster.apply(*EXTERNAL_SECRETS_CRDS)
    cluster.kubectl("wait", "--for=condition=Established", "crd/externalsecrets.external-secrets.io", "--timeout=30s")
    cluster.apply({"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
                   "metadata": {"name": "keycloak-db", "namespace": ns},
                   "spec": {"refreshInterval": "1h", "target": {"name": "keycloak-db"}}})  # fmt: skip
    kube.annotate(ns, "externalsecret", "keycloak-db", {"force-sync": "1765152000"})
    found = kube.get_object(ns, "externalsecret", "keycloak-db")
    assert found["metadata"]["annotations"]["force-sync"] == "1765152000"


def test_the_images_a_deployment_runs_are_read_for_the_version_check(site):
    _, ns, kube = site
    assert kube.deployment_status(ns, "keycloak").images == ["quay.io/keycloak/keycloak:26.4.5"]


def test_a_missing_deployment_is_an_error_naming_kubectls_answer(site):
    _, ns, kube = site
    with pytest.raises(ExternalError) as caught:
        kube.scale(ns, "keyclaok", 1)
    assert 'deployments.apps "keyclaok" not found' in caught.value.message
