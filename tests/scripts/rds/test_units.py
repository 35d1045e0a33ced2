"""Small pieces: Route 53 health semantics, the kubectl adapter, AWS error mapping, polling."""

from __future__ import annotations

import base64
import json
import subprocess

import pytest
from botocore.exceptions import EndpointConnectionError

from scripts.errors import ExternalError, WaitTimeout
from scripts.rds import dns
from scripts.rds.aws import MissingPermission, is_mutating
from scripts.rds.k8s import FakeKube, FileKube, KubectlAdapter
from scripts.rds.polling import FakeClock, Verdict, poll_until

from .conftest import error
from .shapes import observations


# -- Route 53 -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("healthy", "total", "expected"),
    [
        (0, 8, False),
        (1, 8, False),  # 12.5 %: not more than 18 %
        (2, 8, True),  # 25 %
        (8, 8, True),
    ],
)
def test_route53_counts_an_endpoint_healthy_above_18_percent_of_checkers(world, healthy, total, expected):
    """moto always reports one healthy checker: the observations are injected (AWS-shaped)."""
    world.faults.add("GetHealthCheckStatus", lambda p: observations(healthy, total))
    status = dns.observed_status(world.aws(), world.outputs["dns"]["primaryHealthCheckId"])
    assert status.healthy is expected
    assert status.detail.startswith(f"{healthy}/{total} checkers healthy")


def test_calculated_status_is_derived_from_its_children(world):
    ready_id = world.outputs["dns"]["primaryHealthCheckId"]
    world.faults.add(
        "GetHealthCheckStatus",
        lambda p: observations(0, 8) if p["HealthCheckId"] == ready_id else observations(8, 8),
    )
    status = dns.observed_status(world.aws(), world.outputs["dns"]["primaryRecordHealthCheckId"])
    assert status.healthy is False
    assert status.detail == "calculated: 1/2 children healthy, threshold 2"
    assert [c.healthy for c in status.children] == [False, True]


def test_the_seeded_topology_satisfies_the_sticky_failover_rules(world):
    d = world.outputs["dns"]
    assert dns.sticky_problems(world.aws(), d["primaryHealthCheckId"], d["primaryRecordHealthCheckId"]) == []
    records = dns.failover_records(world.aws(), d["zoneId"], d["recordName"])
    assert records["PRIMARY"]["HealthCheckId"] == d["primaryRecordHealthCheckId"]
    assert "HealthCheckId" not in records["SECONDARY"]


def test_an_inverted_readiness_check_is_a_sticky_problem(world):
    d = world.outputs["dns"]
    world.client("route53").update_health_check(HealthCheckId=d["primaryHealthCheckId"], Inverted=True)
    assert dns.sticky_problems(world.aws(), d["primaryHealthCheckId"], d["primaryRecordHealthCheckId"]) == [
        f"{d['primaryHealthCheckId']} is Inverted: a failing path would read as healthy"
    ]


def test_set_path_is_idempotent(world):
    d = world.outputs["dns"]
    aws = world.aws()
    assert dns.set_path(aws, d["primaryHealthCheckId"], "/x") is True
    assert dns.set_path(aws, d["primaryHealthCheckId"], "/x") is False
    assert world.recorder.operations.count("UpdateHealthCheck") == 1


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


# -- AWS plumbing ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("operation", "mutating"),
    [
        ("DescribeDBInstances", False),
        ("GetHealthCheckStatus", False),
        ("ListResourceRecordSets", False),
        ("RestoreDBInstanceToPointInTime", True),
        ("PromoteReadReplica", True),
        ("PutSecretValue", True),
        ("UpdateHealthCheck", True),
        ("CreateSecurityGroup", True),
        ("RevokeSecurityGroupEgress", True),
        ("ChangeResourceRecordSets", True),
        ("StartDBInstanceAutomatedBackupsReplication", True),
    ],
)
def test_mutating_operations_are_recognised(operation, mutating):
    assert is_mutating(operation) is mutating


def test_expired_credentials_are_not_reported_as_a_missing_permission(world):
    world.faults.add("DescribeDBInstances", lambda p: error("ExpiredToken", "The security token has expired", 403))
    aws = world.aws()
    with pytest.raises(ExternalError) as info:
        aws.call(aws.client("rds", "us-east-1"), "DescribeDBInstances")
    assert not isinstance(info.value, MissingPermission)
    assert info.value.message == (
        "AWS rejected the credentials calling DescribeDBInstances in us-east-1: "
        "ExpiredToken: The security token has expired"
    )


def test_an_unreachable_endpoint_is_retried_then_reported(world, monkeypatch):
    aws = world.aws()
    client = aws.client("rds", "us-east-1")

    def unreachable(**kwargs):
        raise EndpointConnectionError(endpoint_url="https://rds.us-east-1.amazonaws.com/")

    monkeypatch.setattr(client, "describe_db_instances", unreachable)
    with pytest.raises(ExternalError) as info:
        aws.call(client, "DescribeDBInstances")
    assert info.value.message == (
        "cannot reach the AWS rds endpoint in us-east-1: Could not connect to the endpoint "
        'URL: "https://rds.us-east-1.amazonaws.com/"'
    )
    assert len(world.clock.sleeps) == 3


def test_dry_run_guard_refuses_a_mutating_call(world):
    aws = world.aws()
    aws.forbid_mutations("--dry-run")
    with pytest.raises(RuntimeError, match="refusing mutating call PromoteReadReplica"):
        aws.call(aws.client("rds", "us-west-2"), "PromoteReadReplica", DBInstanceIdentifier="x")
    assert world.recorder.calls == []


# -- polling ---------------------------------------------------------------------------------------
def test_poll_until_never_sleeps_past_the_deadline():
    clock = FakeClock()
    with pytest.raises(WaitTimeout) as info:
        poll_until(
            lambda: 1,
            lambda v: Verdict("wait", "still waiting", v),
            interval=7,
            timeout=20,
            clock=clock,
            what="the thing",
        )
    assert clock.sleeps == [7, 7, 6]
    assert info.value.message == "the thing not done after 20.0 s (timeout 20.0 s); last state: still waiting"
