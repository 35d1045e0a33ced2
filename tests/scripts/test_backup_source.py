"""``backup dump --stack-outputs``: the source chosen from the stack (moto for the secret)."""

from __future__ import annotations

import argparse
import json

import boto3
from moto import mock_aws
from psycopg.conninfo import conninfo_to_dict

from contract.tls import RDS_CA_BUNDLE
from scripts.backup.cli import source_from_outputs
from scripts.report import Report
from tests.unit.conftest import run_stack


def _with_outputs(tmp_path, monkeypatch, changes):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    outputs = run_stack(changes).outputs
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs))
    return outputs, argparse.Namespace(stack_outputs=str(path), archive=None)


def test_the_dr_replica_is_dumped_when_the_stack_has_one(tmp_path, monkeypatch):
    outputs, args = _with_outputs(tmp_path, monkeypatch, {"idp-dr:database": {"drReadReplica": True}})
    report = Report("backup dump")
    with mock_aws():
        boto3.client("secretsmanager", region_name=outputs["drRegion"]).create_secret(
            Name=outputs["database"]["appCredentialsSecret"],
            SecretString=json.dumps({"username": "keycloak", "password": "s3cret-app-password"}),
        )
        dsn, archive = source_from_outputs(args, report)
    params = conninfo_to_dict(dsn)
    assert params["host"] == outputs["database"]["drReplicaEndpoint"]
    assert (params["user"], params["dbname"]) == ("keycloak", outputs["database"]["dbName"])
    assert archive == f"s3://{outputs['archive']['drBucket']}"
    assert any("dumping the DR read replica" in note for note in report.notes)
    assert "s3cret-app-password" in report._secrets  # masked wherever it would appear


def test_without_a_replica_the_primary_and_its_bucket(tmp_path, monkeypatch):
    outputs, args = _with_outputs(tmp_path, monkeypatch, {"idp-dr:database": {"drReadReplica": False}})
    with mock_aws():
        boto3.client("secretsmanager", region_name=outputs["primaryRegion"]).create_secret(
            Name=outputs["database"]["appCredentialsSecret"],
            SecretString=json.dumps({"username": "keycloak", "password": "x" * 20}),
        )
        dsn, archive = source_from_outputs(args, Report("backup dump"))
    params = conninfo_to_dict(dsn)
    assert params["host"] == outputs["database"]["primaryEndpoint"]
    assert archive == f"s3://{outputs['archive']['primaryBucket']}"
    assert params["host"].endswith(".rds.amazonaws.com")  # an RDS endpoint: the server is verified
    assert params["sslmode"] == "verify-full" and params["sslrootcert"] == str(RDS_CA_BUNDLE)
