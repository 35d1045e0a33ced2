"""The test control plane itself (scripts.lab.kube_plane): what the other tests in this folder rely on."""

from __future__ import annotations

from tests.kube.conftest import Cluster


def test_the_node_keeps_its_lease_so_the_node_controller_never_marks_its_pods_not_ready(cluster: Cluster):
    """Without a renewed Lease the node controller declares the node NotReady after its 50 s grace period and
    marks every pod on it NotReady: tests later in the session saw Deployments lose their ready pods."""
    status, lease = cluster.plane.request("GET", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/"
                                          "kwok-node-0")  # fmt: skip
    assert status == 200, lease
    assert lease["spec"]["renewTime"] and lease["spec"]["leaseDurationSeconds"] == 40


def test_a_deleted_pod_stays_terminating_for_its_grace_period(cluster: Cluster):
    ns = cluster.namespace("plane")
    spec = {"containers": [{"name": "c", "image": "x"}], "terminationGracePeriodSeconds": 30}
    cluster.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": ns}, "spec": spec})
    cluster.kubectl("wait", "--for=condition=Ready", "pod/p", "-n", ns, "--timeout=30s")
    cluster.kubectl("delete", "pod", "p", "-n", ns, "--wait=false")
    status, pod = cluster.plane.request("GET", f"/api/v1/namespaces/{ns}/pods/p")
    assert status == 200 and pod["metadata"]["deletionTimestamp"]  # still there, Terminating
    cluster.kubectl("delete", "pod", "p", "-n", ns, "--grace-period=0", "--force")
