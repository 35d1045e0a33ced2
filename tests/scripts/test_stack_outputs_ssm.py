"""Stack outputs read from the copy the Pulumi program keeps in the DR region (SSM, moto), so no
runbook command depends on the Pulumi backend, the primary region or a file on a laptop."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from contract.outputs import STACK_OUTPUTS_PARAMETER, stack_outputs_location
from scripts.errors import InputError
from scripts.stack_outputs import load_stack_outputs
from tests.unit.conftest import run_stack


@pytest.fixture
def outputs():
    return run_stack().outputs


def test_the_program_writes_its_outputs_to_the_dr_region(outputs):
    run = run_stack()
    [parameter] = run.recorder.of_type("aws:ssm/parameter:Parameter")
    assert parameter.region == "eu-central-1"
    assert parameter.inputs["name"] == STACK_OUTPUTS_PARAMETER.format(stack="sso") == "/idp-dr/sso/stack-outputs"
    assert json.loads(parameter.inputs["insecureValue"]) == run.outputs
    assert parameter.inputs["type"] == "String"  # nothing secret in it


def test_a_runbook_command_reads_them_back(outputs, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        boto3.client("ssm", region_name="eu-central-1").put_parameter(
            Name="/idp-dr/sso/stack-outputs", Type="String", Value=json.dumps(outputs), Tier="Intelligent-Tiering"
        )
        loaded = load_stack_outputs(stack_outputs_location("sso", "eu-central-1"))
    assert loaded.drRegion == "eu-central-1" and loaded.database.dbName == outputs["database"]["dbName"]
    assert loaded.standby.verifierSecret == "idp-dr/sso/verifier-client"


def test_a_missing_parameter_is_bad_input(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws(), pytest.raises(InputError) as raised:
        load_stack_outputs("ssm://eu-central-1/idp-dr/nope/stack-outputs")
    assert str(raised.value.message) == (
        "invalid --stack-outputs 'ssm://eu-central-1/idp-dr/nope/stack-outputs': an SSM parameter in eu-central-1 "
        "(none by that name)"
    )


@pytest.mark.parametrize("source", ["ssm://idp-dr/sso/stack-outputs", "ssm://EU-1/x", "ssm:/eu-central-1/x"])
def test_a_malformed_location_is_bad_input(source):
    with pytest.raises(InputError) as raised:
        load_stack_outputs(source)
    assert raised.value.message == (
        f"invalid --stack-outputs {source!r}: a file, '-', or ssm://<region><parameter>, e.g. "
        "ssm://eu-central-1/idp-dr/sso/stack-outputs"
    )
