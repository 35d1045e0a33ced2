"""Small pieces: Route 53 health semantics, the kubectl adapter, AWS error mapping, polling."""

from __future__ import annotations

import pytest
from botocore.exceptions import EndpointConnectionError

from scripts.aws.client import MissingPermission, is_mutating
from scripts.errors import ExternalError
from tests.scripts.world import error


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
        aws.call(aws.client("rds", "eu-west-1"), "DescribeDBInstances")
    assert not isinstance(info.value, MissingPermission)
    assert info.value.message == (
        "AWS rejected the credentials calling DescribeDBInstances in eu-west-1: "
        "ExpiredToken: The security token has expired"
    )


def test_an_unreachable_endpoint_is_retried_then_reported(world, monkeypatch):
    aws = world.aws()
    client = aws.client("rds", "eu-west-1")

    def unreachable(**kwargs):
        raise EndpointConnectionError(endpoint_url="https://rds.eu-west-1.amazonaws.com/")

    monkeypatch.setattr(client, "describe_db_instances", unreachable)
    with pytest.raises(ExternalError) as info:
        aws.call(client, "DescribeDBInstances")
    assert info.value.message == (
        "cannot reach the AWS rds endpoint in eu-west-1: Could not connect to the endpoint "
        'URL: "https://rds.eu-west-1.amazonaws.com/"'
    )
    assert len(world.clock.sleeps) == 3


def test_dry_run_guard_refuses_a_mutating_call(world):
    aws = world.aws()
    aws.forbid_mutations("--dry-run")
    with pytest.raises(RuntimeError, match="refusing mutating call PromoteReadReplica"):
        aws.call(aws.client("rds", "eu-central-1"), "PromoteReadReplica", DBInstanceIdentifier="x")
    assert world.recorder.calls == []
