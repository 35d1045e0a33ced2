"""Small pieces: Route 53 health semantics, the kubectl adapter, AWS error mapping, polling."""

from __future__ import annotations

import base64
import io
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


# -- what a drill needs of kubectl ----------------------------------------------------------------------
class RecordingKubectl(FakeKubectl):
    def __call__(self, argv, **kwargs):
        self.stdin = kwargs.get("input")
        return super().__call__(argv, **kwargs)


def test_kubectl_applies_a_manifest_on_stdin_and_lists_deletes_and_reads_objects():
    listing = {"items": [{"metadata": {"name": "keycloak-db"}}, {"metadata": {"name": "a-ca"}}]}
    runner = RecordingKubectl([
        ("", 0, ""), (json.dumps(listing), 0, ""), ("", 0, ""), ("", 1, 'Error from server (NotFound): "x" not found'),
    ])  # fmt: skip
    kube = KubectlAdapter("dr", runner=runner)
    manifest = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "keycloak-db", "namespace": "identity-drill"},
    }
    kube.apply(manifest)
    assert runner.argv[0] == ["kubectl", "--context", "dr", "--namespace", "identity-drill", "apply", "-f", "-"]
    assert json.loads(runner.stdin) == manifest
    assert kube.list_names("identity-drill", "secret", "app.kubernetes.io/managed-by=idp-dr-drill") == [
        "a-ca", "keycloak-db",
    ]  # fmt: skip
    assert runner.argv[1][-5:] == ["secret", "-l", "app.kubernetes.io/managed-by=idp-dr-drill", "-o", "json"]
    kube.delete("identity-drill", "deployment", "keycloak")
    assert runner.argv[2][-4:] == ["deployment", "keycloak", "--ignore-not-found", "--wait=false"]
    assert kube.get_object("identity", "configmap", "x") is None


def test_port_forward_reads_the_local_ports_kubectl_chose_and_stops_it(tmp_path):
    """A stand-in kubectl (a shell script) that forwards as kubectl prints it, then waits to be stopped."""
    script = tmp_path / "kubectl"
    script.write_text(
        "#!/bin/sh\n"
        # The trap before the first line: the adapter stops it as soon as both ports are printed (a trap set
        # after them lost that race once under load, and the script died without saying it was stopped).
        'trap \'echo stopped > "$(dirname "$0")/stopped"; exit 0\' TERM\n'
        'echo "$@" > "$(dirname "$0")/argv"\n'
        "echo 'Forwarding from 127.0.0.1:41001 -> 8080'\n"
        "echo 'Forwarding from 127.0.0.1:41002 -> 9000'\n"
        "while :; do sleep 0.1; done\n"
    )
    script.chmod(0o755)
    kube = KubectlAdapter("dr", kubectl=str(script))
    with kube.forward("identity-drill", "idp-dr-drill", [8080, 9000]) as hosts:
        assert hosts == {8080: "127.0.0.1:41001", 9000: "127.0.0.1:41002"}
    assert (tmp_path / "argv").read_text().split() == [
        "--context", "dr", "--namespace", "identity-drill", "port-forward", "service/idp-dr-drill",
        "--address", "127.0.0.1", ":8080", ":9000",
    ]  # fmt: skip
    assert (tmp_path / "stopped").read_text().strip() == "stopped"


def test_a_port_forward_that_fails_says_what_kubectl_said(tmp_path):
    script = tmp_path / "kubectl"
    script.write_text("#!/bin/sh\necho 'error: services \"idp-dr-drill\" not found' >&2\nexit 1\n")
    script.chmod(0o755)
    kube = KubectlAdapter("dr", kubectl=str(script))
    with pytest.raises(
        ExternalError,
        match=r'exited with code 1 after \d+\.\d s without forwarding ports \[8080\]: error: services "idp-dr-drill" '
        r"not found",
    ):
        with kube.forward("identity-drill", "idp-dr-drill", [8080]):
            pass


class _ClosedButNotReaped:
    """A kubectl that failed at once: its stdout is closed, its stderr says why, and it is reaped only a few polls
    later (what a loaded machine shows: the reader thread ends before the process is waited for)."""

    def __init__(self) -> None:
        self.stdout, self.stderr = io.StringIO(""), io.StringIO('error: services "idp-dr-drill" not found\n')
        self.polls = 0
        self.returncode: int | None = None

    def poll(self) -> int | None:
        self.polls += 1
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        self.returncode = 1
        return 1


def test_a_kubectl_that_exits_before_it_is_reaped_is_reported_with_its_words_not_as_a_timeout():
    from scripts.k8s.forward import _wait_forwarding

    with pytest.raises(ExternalError) as failed:
        _wait_forwarding(_ClosedButNotReaped(), [8080], "kubectl port-forward")
    assert failed.value.message.startswith("kubectl port-forward … exited with code 1 after ")
    assert failed.value.message.endswith('without forwarding ports [8080]: error: services "idp-dr-drill" not found')
