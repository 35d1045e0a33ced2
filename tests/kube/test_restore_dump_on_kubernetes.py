"""``restore dump --kube-adapter kubectl`` against a real API server, a real PostgreSQL and the lab's S3: the
IdP is scaled to 0 and the restore begins only when no pod of it is left, terminating ones included (a pod
being deleted leaves the Deployment's status at once but keeps its database connections for its grace period,
which kwok honours like a kubelet); then it is scaled back and rolled out with new pods.
"""

from __future__ import annotations

import pytest

from scripts.backup import restore as restore_module
from scripts.errors import ExitCode
from tests.integration.backup.test_backup_dump import aws_env, fresh_dump, lab, markers, run_restore  # noqa: F401
from tests.kube.conftest import pods

pytestmark = pytest.mark.integration


def test_the_database_is_replaced_only_when_no_pod_is_left(lab, aws_env, cluster, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("KUBECONFIG", str(cluster.plane.kubeconfig))
    ns = cluster.namespace("identity")
    labels = {"app.kubernetes.io/name": "keycloak"}
    cluster.apply({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "keycloak", "namespace": ns},
                   "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                            "template": {"metadata": {"labels": labels},
                                         "spec": {"containers": [{"name": "keycloak", "image": "keycloak:26.4.5"}],
                                                  "terminationGracePeriodSeconds": 3}}}})  # fmt: skip
    cluster.kubectl("rollout", "status", "deployment/keycloak", "-n", ns, "--timeout=60s")
    before = pods(cluster, ns)
    fresh_dump(lab)
    lab.pg.execute("DELETE FROM marker WHERE note <> 'row 1'", dbname="keycloak")  # the damage
    at_terminate: list[set[str]] = []
    real_terminate = restore_module._terminate

    def watched(req):
        at_terminate.append(pods(cluster, ns))
        return real_terminate(req)

    monkeypatch.setattr(restore_module, "_terminate", watched)
    code, _, text = run_restore(lab, "--yes", "--kube-adapter", "kubectl", "--kube-context", "idp-dr-test",
                                  "--namespace", ns, "--replicas", "2", "--app-version", "26.4.5",
                                  state=tmp_path / "state")  # fmt: skip
    assert code == ExitCode.OK, text
    assert at_terminate == [set()]
    assert markers(lab) == 5000
    after = pods(cluster, ns)
    assert len(before) == 2 and len(after) == 2 and not before & after
    ready = cluster.kubectl("get", "deployment/keycloak", "-n", ns, "-o", "jsonpath={.status.readyReplicas}")
    assert ready.stdout == "2"
