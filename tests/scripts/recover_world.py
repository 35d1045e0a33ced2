"""The ``recover`` world shared by the tests that recover: the primary cluster (fake) with the IdP on the
primary database, and the command's invocation.

moto has no ``StartDBInstanceAutomatedBackupsReplication``: :func:`backup_replication_answered` injects AWS's
answer (the call and its parameters are still recorded), unless a test applies the replicated-backups
simulation (:func:`scripts.sandbox.motofix.apply_replicated_backups`), which records it.
"""

from __future__ import annotations

import json

import pytest

from contract.secrets import DB_SECRET_KEYS
from scripts.k8s.adapter import FakeKube, secretsmanager_source
from tests.scripts.world import invoke

NS, DEPLOYMENT = "identity", "keycloak"


@pytest.fixture
def primary(world, sites):
    """The primary cluster (fake): the IdP at 2 replicas on sso-db, its Secret synced from the primary
    region's endpoint secret; the primary site is ready while a pod runs."""
    kube = FakeKube(secret_source=secretsmanager_source(world.aws(), "eu-west-1"), ready_after=1)
    sb, keys = world.outputs["standby"], DB_SECRET_KEYS["keycloak"]
    host = world.outputs["database"]["primaryEndpoint"]
    kube.add_secret(
        NS,
        sb["dbSecretName"],
        {
            keys["host"]: host,
            keys["port"]: "5432",
            keys["dbname"]: "keycloak",
            keys["username"]: "keycloak_app",
            keys["password"]: "not-shown",
        },
    )
    kube.add_deployment(NS, DEPLOYMENT, 2)
    kube.add_external_secret(
        NS,
        sb["externalSecretName"],
        target=sb["dbSecretName"],
        remote_ref=sb["primaryDbEndpointSecretArn"],
        keys={keys["host"]: "host", keys["port"]: "port", keys["dbname"]: "dbname"},
    )
    site, _ = sites
    site.set_ready(lambda: kube.state["deployments"][f"{NS}/{DEPLOYMENT}"]["replicas"] > 0)
    return kube


def backup_replication_answered(world) -> None:
    """moto lacks StartDBInstanceAutomatedBackupsReplication: answer it as AWS does."""
    world.faults.add(
        "StartDBInstanceAutomatedBackupsReplication",
        lambda p: {"DBInstanceAutomatedBackup": {"DBInstanceArn": p["SourceDBInstanceArn"], "Status": "pending"}},
    )


def recover(world, kube, tmp_path, *extra: str, **inject):
    argv = [
        "recover",
        "--stack-outputs",
        str(world.outputs_path),
        "--probe-scheme",
        "http",
        "--json",
        "--state-dir",
        str(tmp_path / "state"),
        *extra,
    ]
    return invoke(argv, aws=world.aws(), kube=kube, clock=world.clock, **inject)


def instance(world, name):
    found = world.client("rds").describe_db_instances(Filters=[{"Name": "db-instance-id", "Values": [name]}])
    return (found["DBInstances"] or [None])[0]


def replica(world, name):
    found = world.client("rds", "eu-central-1").describe_db_instances(
        Filters=[{"Name": "db-instance-id", "Values": [name]}]
    )["DBInstances"]
    return found[0] if found else None


def topology_record(world):
    s3 = world.client("s3", "eu-central-1")
    body = s3.get_object(Bucket=world.outputs["archive"]["drBucket"], Key="idp-dr/runbook/topology/state.json")["Body"]
    return json.loads(body.read())
