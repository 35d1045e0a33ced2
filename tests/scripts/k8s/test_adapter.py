"""Small pieces: Route 53 health semantics, the kubectl adapter, AWS error mapping, polling."""

from __future__ import annotations

import base64
import json
import subprocess

import pytest

from scripts.errors import ExternalError
from scripts.k8s.adapter import FakeKube, FileKube, KubectlAdapter


# -- kubectl ---------------------------------------------------------------------------------------
class FakeKubectl:
    def __init__(self, responses):
        self.argv: list[list[str]] = []
        self.responses = responses

    def __call__(self, argv, **kwargs):
        self.argv.append(argv)
        out, code, err = self.responses.pop(0) if self.responses else ("", 0, "")
        return subprocess.CompletedProcess(argv, code, out, err)


def test_kubectl_adapter_builds_commands_and_decodes_secrets():
    secret = {"data": {"KC_DB_URL_HOST": base64.b64encode(b"db.example").decode()}}
    deployment = {
        "metadata": {"generation": 3},
        "spec": {
            "replicas": 2,
            "template": {"spec": {"containers": [{"image": "quay.io/keycloak/keycloak:26.4.2"}]}},
        },
        "status": {"readyReplicas": 2, "updatedReplicas": 2, "availableReplicas": 2, "observedGeneration": 3},
    }
    runner = FakeKubectl(
        [
            (json.dumps(secret), 0, ""),
            ("", 0, ""),
            ("", 0, ""),
            ("", 0, ""),
            ("", 0, ""),
            (json.dumps(deployment), 0, ""),
        ]
    )
    kube = KubectlAdapter("dr-cluster", runner=runner)
    assert kube.get_secret_data("keycloak", "keycloak-db") == {"KC_DB_URL_HOST": "db.example"}
    kube.patch_secret_data("keycloak", "keycloak-db", {"KC_DB_URL_HOST": "new"})
    kube.annotate("keycloak", "externalsecrets.external-secrets.io", "keycloak-db-sync", {"force-sync": "1700"})
    kube.rollout_restart("keycloak", "keycloak")
    kube.scale("keycloak", "keycloak", 2)
    status = kube.deployment_status("keycloak", "keycloak")
    prefix = ["kubectl", "--context", "dr-cluster", "--namespace", "keycloak"]
    assert runner.argv == [
        [*prefix, "get", "secret", "keycloak-db", "-o", "json"],
        [
            *prefix,
            "patch",
            "secret",
            "keycloak-db",
            "--type",
            "merge",
            "-p",
            '{"stringData": {"KC_DB_URL_HOST": "new"}}',
        ],
        [
            *prefix,
            "annotate",
            "externalsecrets.external-secrets.io",
            "keycloak-db-sync",
            "force-sync=1700",
            "--overwrite",
        ],
        [*prefix, "rollout", "restart", "deployment/keycloak"],
        [*prefix, "scale", "deployment/keycloak", "--replicas=2"],
        [*prefix, "get", "deployment", "keycloak", "-o", "json"],
    ]
    assert status.rolled_out(2) and status.images == ["quay.io/keycloak/keycloak:26.4.2"]


def test_kubectl_failures_become_external_errors_with_the_command():
    kube = KubectlAdapter("dr", runner=FakeKubectl([("", 1, "error: You must be logged in to the server")]))
    with pytest.raises(ExternalError) as info:
        kube.scale("ns", "app", 1)
    assert info.value.message == (
        "kubectl --context dr --namespace ns scale deployment/app --replicas=1 failed (1): "
        "error: You must be logged in to the server"
    )


def test_kubectl_exists_distinguishes_not_found_from_errors():
    kube = KubectlAdapter(
        "dr",
        runner=FakeKubectl(
            [
                ("", 1, 'Error from server (NotFound): secrets "x" not found'),
                ("", 1, "Unable to connect to the server"),
            ]
        ),
    )
    assert kube.exists("ns", "secret", "x") is False
    with pytest.raises(ExternalError):
        kube.exists("ns", "secret", "x")


def test_file_kube_emulates_an_external_secret_sync(tmp_path):
    path = tmp_path / "kube.json"
    path.write_text("{}")
    remote = {"host": "new-db", "port": 5432, "dbname": "keycloak"}
    kube = FileKube(path, secret_source=lambda ref: remote if ref == "arn:sm" else {})
    kube.add_secret("ns", "db", {"KC_DB_URL_HOST": "old-db"})
    kube.add_external_secret(
        "ns",
        "db-sync",
        target="db",
        remote_ref="arn:sm",
        keys={"KC_DB_URL_HOST": "host", "KC_DB_URL_PORT": "port"},
    )
    kube.annotate("ns", "externalsecrets.external-secrets.io", "db-sync", {"force-sync": "1"})
    again = FileKube(path)  # another process sees the same cluster
    assert again.get_secret_data("ns", "db") == {"KC_DB_URL_HOST": "new-db", "KC_DB_URL_PORT": "5432"}


def test_fake_deployments_become_ready_after_a_rollout():
    kube = FakeKube(ready_after=1)
    kube.add_deployment("ns", "app", 0)
    kube.scale("ns", "app", 2)
    assert not kube.deployment_status("ns", "app").rolled_out(2)
    assert kube.deployment_status("ns", "app").rolled_out(2)
