"""A real Kubernetes control plane for the tests of this folder (scripts.lab.kube_plane): one per session,
started on loopback with its own CA, stopped by PID at the end; each test works in namespaces of its own.

Built by ``make kube`` (``make test`` runs it first); a missing build or Go toolchain fails the run under
``make test`` and skips on a laptop (``tests/conftest.py:need``)."""

from __future__ import annotations

import itertools
import json
import subprocess
from collections.abc import Iterator

import pytest

from scripts.lab.kube_plane import BINARIES, ControlPlane, bin_dir, building, wait_for_binaries
from tests.conftest import need
from tests.scripts.world import aws_env, moto_session, sites, world  # noqa: F401 - the AWS world, shared

_names = itertools.count(1)


@pytest.fixture(scope="session")
def plane(tmp_path_factory) -> Iterator[ControlPlane]:
    if building():  # make test's background build: these tests run last, and wait for it
        wait_for_binaries(timeout=30 * 60)
    need(all((bin_dir() / b).is_file() for b in BINARIES), f"the test control plane in {bin_dir()} (make kube)")
    with ControlPlane(tmp_path_factory.mktemp("kube")) as cp:
        yield cp


class Cluster:
    """The control plane as a test uses it: kubectl as the admin, and contexts for ServiceAccounts."""

    def __init__(self, plane: ControlPlane):
        self.plane = plane

    @property
    def env(self) -> dict[str, str]:
        import os

        return {**os.environ, "KUBECONFIG": str(self.plane.kubeconfig)}

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run(
            ["kubectl", "--context", "idp-dr-test", *args],
            input=stdin, capture_output=True, text=True, env=self.env, timeout=60, check=False,
        )  # fmt: skip
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {done.stderr}")
        return done

    def apply(self, *manifests: dict) -> None:
        body = {"apiVersion": "v1", "kind": "List", "items": list(manifests)}
        self.kubectl("apply", "--server-side", "--field-manager=pulumi", "-f", "-", stdin=json.dumps(body))

    def namespace(self, prefix: str) -> str:
        name = f"{prefix}-{next(_names)}"
        self.kubectl("create", "namespace", name)
        return name

    def as_service_account(self, namespace: str, name: str) -> str:
        """A kubeconfig context that authenticates with a token of that ServiceAccount (TokenRequest), as the
        job's pod would: the API server's authenticator and RBAC decide, not an impersonation header."""
        token = self.kubectl("create", "token", name, "-n", namespace, "--duration=1h").stdout.strip()
        context = f"sa-{namespace}-{name}"
        user = f"{context}-user"
        self.kubectl("config", "set-credentials", user, f"--token={token}")
        self.kubectl("config", "set-context", context, "--cluster=idp-dr-test", f"--user={user}")
        return context


@pytest.fixture
def cluster(plane) -> Cluster:
    return Cluster(plane)


def idp_site(cluster: Cluster, aws_world, *, replicas: int, host: str, namespace: str | None = None) -> str:
    """A site's IdP as the program leaves it, in a namespace of this test: the Deployment at ``replicas`` (pods
    with a 2 s grace period, which kwok honours like a kubelet) and its DB Secret (``host`` and the credentials).
    The stack outputs name this namespace, with ``secretsMode=pulumi``: no External Secrets Operator runs here,
    so the ExternalSecret path (a force-sync annotation ESO turns into a Secret) stays with the JSON fake."""
    ns = namespace or cluster.namespace("identity")
    if namespace:  # the other site's namespace, in this cluster too
        cluster.kubectl("create", "namespace", namespace)
    outputs = dict(aws_world.outputs)
    outputs["standby"] = {**outputs["standby"], "namespace": ns, "secretsMode": "pulumi", "externalSecretName": None}
    aws_world.outputs = outputs
    aws_world.outputs_path.write_text(json.dumps(outputs))
    labels = {"app.kubernetes.io/name": "keycloak"}
    cluster.apply(
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "keycloak", "namespace": ns},
         "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels},
                               "spec": {"containers": [{"name": "keycloak", "image": "keycloak:26.4.2"}],
                                        "terminationGracePeriodSeconds": 2}}}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "keycloak-db", "namespace": ns},
         "stringData": {"KC_DB_URL_HOST": host, "KC_DB_URL_PORT": "5432", "KC_DB_URL_DATABASE": "keycloak",
                        "KC_DB_USERNAME": "keycloak", "KC_DB_PASSWORD": "app-password-in-the-cluster"}},
    )  # fmt: skip
    return ns


def pods(cluster: Cluster, ns: str) -> set[str]:
    """Every pod of the IdP's Deployment, terminating ones included."""
    found = cluster.kubectl("get", "pods", "-n", ns, "-l", "app.kubernetes.io/name=keycloak", "-o", "name")
    return set(found.stdout.split())
