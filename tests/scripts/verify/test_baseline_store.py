"""Baselines kept in the DR bucket (moto): --publish writes them, --baseline latest finds the newest."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws

from contract.outputs import StackOutputs
from scripts.aws.client import Aws
from scripts.errors import InputError
from scripts.verify.baseline_store import load_baseline, publish
from scripts.verify.model import Baseline
from tests.scripts.verify.conftest import run_cli
from tests.unit.conftest import run_stack


def baseline(issuer: str, when: datetime) -> Baseline:
    return Baseline(
        idp="keycloak", scope="company", base_url="https://sso.example.com", captured_at=when, issuer=issuer,
        jwks_kids=["a"], signing_kids=["a"], token_kid="a", app_version="26.4.5",
        schema={"last_changeset": "x", "changesets": 3}, counts={"realms": 2, "users": 5, "clients": 7},
        newest_event_at=when,
    )  # fmt: skip


@pytest.fixture
def outputs(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    out = StackOutputs.model_validate(run_stack().outputs)
    with mock_aws():
        boto3.client("s3", region_name=out.drRegion).create_bucket(
            Bucket=out.archive.drBucket, CreateBucketConfiguration={"LocationConstraint": out.drRegion}
        )
        yield out


def test_latest_is_the_newest_published(outputs):
    aws = Aws()
    older = publish(baseline("https://sso.example.com/realms/company", datetime(2026, 11, 1, tzinfo=UTC)), outputs,
                    aws, now=datetime(2026, 11, 1, 3, tzinfo=UTC))  # fmt: skip
    newer = publish(baseline("https://sso.example.com/realms/company", datetime(2026, 11, 8, tzinfo=UTC)), outputs,
                    aws, now=datetime(2026, 11, 8, 3, tzinfo=UTC))  # fmt: skip
    assert older.endswith("/keycloak-company/20261101T030000Z.json")
    loaded, source = load_baseline("latest", outputs=outputs, aws=aws)
    assert source == newer and loaded.captured_at == datetime(2026, 11, 8, tzinfo=UTC)
    by_url, _ = load_baseline(older, outputs=outputs, aws=aws)
    assert by_url.captured_at == datetime(2026, 11, 1, tzinfo=UTC)


def test_latest_with_nothing_published_is_bad_input(outputs):
    with pytest.raises(InputError) as raised:
        load_baseline("latest", outputs=outputs, aws=Aws())
    assert raised.value.message == (
        f"invalid --baseline 'latest': a baseline in s3://{outputs.archive.drBucket}/idp-dr/baselines/ (there is none)"
    )


def test_an_s3_url_outside_the_dr_bucket_is_refused(outputs):
    with pytest.raises(InputError) as raised:
        load_baseline("s3://someone-elses-bucket/x.json", outputs=outputs, aws=Aws())
    assert raised.value.message == (
        f"invalid --baseline 's3://someone-elses-bucket/x.json': an s3:// URL in the stack's DR bucket "
        f"({outputs.archive.drBucket})"
    )


def test_verify_needs_the_stack_outputs_for_latest():
    code, _out, err = run_cli(
        "verify", "--idp", "keycloak", "--base-url", "http://127.0.0.1:9", "--realm", "company", "--baseline", "latest"
    )
    assert code == 2
    assert "invalid --baseline 'latest': a file; 'latest' and s3:// URLs need --stack-outputs (the DR bucket)" in err


def test_baseline_publish_needs_the_stack_outputs_and_some_destination():
    common = ("baseline", "--idp", "keycloak", "--base-url", "http://127.0.0.1:9", "--realm", "company")
    code, _out, err = run_cli(*common, "--publish")
    assert code == 2
    assert "invalid --stack-outputs None: the stack outputs (required with --publish: the DR bucket)" in err
    code, _out, err = run_cli(*common)
    assert code == 2
    assert "invalid --out None: a file to write the baseline to (or --publish, or both)" in err
