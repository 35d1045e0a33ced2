"""DrTopology invariants: structure, providers, outputs contract, modes."""

from __future__ import annotations

import re
import shlex

import pytest

from components.topology import PENDING_FAILOVER_HOST
from contract.outputs import StackOutputs
from scripts.cli import build_parser
from scripts.offline import REPO_ROOT, load_stack_file, run_program
from tests.unit.conftest import run_stack

STACK_TYPE = "pulumi:pulumi:Stack"
TAGGABLE_PREFIXES = (
    "aws:rds/instance:",
    "aws:s3/bucket:",
    "aws:kms/key:",
    "aws:secretsmanager/secret:",
    "aws:route53/healthCheck:",
    "aws:sns/topic:",
    "aws:iam/role:",
    "aws:cloudwatch/metricAlarm:",
)


#: A self-managed database section (the hosts the config's cross-field rules require, and its CA).
SELF_MANAGED = {
    "mode": "self-managed",
    "selfManagedPrimaryHost": "pg.primary.internal",
    "selfManagedDrHost": "pg.dr.internal",
    "tls": {"caConfigMap": "pg-ca"},
}


def test_every_child_has_a_component_as_parent(default_run):
    rec = default_run.recorder
    at_root = sorted(r.name for r in rec.all() if rec.by_urn(r.parent_urn) is None)
    assert at_root == sorted(["aws-primary", "aws-dr", "aws-us-east-1", "k8s-primary", "k8s-dr", "sso"])
    for record in rec.all():
        if record.is_provider or record.name == "sso":
            continue
        parent = rec.by_urn(record.parent_urn)
        assert parent is not None and not parent.custom, f"{record.typ} {record.name} has parent {record.parent_urn}"


def test_component_type_tokens_name_their_module(default_run):
    components = [r for r in default_run.recorder.all() if not r.custom]
    assert len(components) >= 9
    for component in components:
        match = re.fullmatch(r"idp-dr:([a-z_]+):([A-Z][A-Za-z]+)", component.typ)
        assert match, component.typ
        module = __import__(f"components.{match.group(1)}", fromlist=[match.group(2)])
        assert hasattr(module, match.group(2)), component.typ


def test_child_names_derive_from_their_component(default_run):
    rec = default_run.recorder
    for record in rec.all():
        parent = rec.by_urn(record.parent_urn)
        if parent is not None:
            assert record.name.startswith(parent.name), f"{record.name} under {parent.name}"


def test_every_aws_resource_names_its_provider_explicitly(default_run):
    for record in default_run.recorder.all():
        if record.typ.startswith("aws:"):
            assert record.provider_name in ("aws-primary", "aws-dr", "aws-us-east-1"), record.name


def test_dr_site_resources_all_live_in_the_dr_region_or_cluster(default_run):
    rec = default_run.recorder
    for record in rec.all():
        if record.name.startswith("sso-dr-site") and record.custom:
            assert record.provider_name in ("k8s-dr", "aws-dr"), record.name


def test_aws_resources_carry_the_stack_tags(default_run):
    for record in default_run.recorder.all():
        if record.typ.startswith(TAGGABLE_PREFIXES):
            assert record.inputs["tags"]["managed-by"] == "idp-dr", record.name
            assert record.inputs["tags"]["idp-dr:stack"] == "sso", record.name


def test_the_program_makes_no_data_source_calls(default_run, warm_run, authentik_run):
    assert default_run.recorder.calls == warm_run.recorder.calls == authentik_run.recorder.calls == []


@pytest.mark.parametrize("fixture", ["default_run", "warm_run", "authentik_run"])
def test_stack_outputs_satisfy_the_runbook_contract(fixture, request):
    outputs = StackOutputs.model_validate(request.getfixturevalue(fixture).outputs)
    assert outputs.issuer.startswith("https://sso.example.com/")
    assert outputs.dns.failedOverPath == "/idp-dr/failed-over"


def test_restore_command_restores_replicated_backups_in_the_dr_region(default_run):
    argv = shlex.split(default_run.outputs["restoreCommand"])
    assert argv[:5] == ["python", "-m", "scripts", "restore", "rds"]
    args = build_parser().parse_args(argv[3:])  # the real CLI accepts it as printed
    db = default_run.outputs["database"]
    assert (args.region, args.source_id, args.target) == ("eu-central-1", "sso-db", "sso-dr-restore")
    assert args.from_replicated_backups == db["replicatedBackupsArn"]
    assert args.db_subnet_group == db["drSubnetGroupName"]
    assert args.vpc_security_group_ids.split(",") == db["drSecurityGroupIds"]
    assert args.db_parameter_group == db["drParameterGroupName"]
    assert args.latest is True


def test_restore_command_names_the_dr_key_for_the_master_secret(default_run):
    # restore.py refuses --from-replicated-backups without --master-secret-kms-key.
    args = build_parser().parse_args(shlex.split(default_run.outputs["restoreCommand"])[3:])
    assert args.from_replicated_backups
    assert args.master_secret_kms_key == default_run.outputs["database"]["drKmsKeyArn"]
    assert args.master_secret_kms_key.startswith("arn:aws:kms:eu-central-1:")


def test_self_managed_restore_command_parses_with_the_real_cli():
    run = run_stack({"idp-dr:database": SELF_MANAGED})
    argv = shlex.split(run.outputs["restoreCommand"])
    assert argv[3:5] == ["restore", "wal"]


def test_self_managed_archiver_command_writes_the_archive_ahead_script_for_the_primary_bucket():
    run = run_stack({"idp-dr:database": SELF_MANAGED})
    argv = shlex.split(run.outputs["archive"]["archiverCommand"])
    args = build_parser().parse_args(argv[3:])  # the real CLI accepts it as printed
    archive = run.outputs["archive"]
    assert argv[3:5] == ["bootstrap", "wal-archiver"]
    assert args.archive == f"s3://{archive['primaryBucket']}/{archive['prefix']}"
    assert args.server_name == archive["serverName"]
    assert str(args.pgdata) == "/var/lib/postgresql/16/main"


def test_an_rds_stack_has_no_archiver_command(default_run):
    assert default_run.outputs["archive"]["archiverCommand"] is None


@pytest.mark.parametrize(("engine_version", "major"), [(None, "16"), ("15.7", "15"), ("17", "17")])
def test_self_managed_restore_pgdata_follows_the_engine_major(engine_version, major):
    database = dict(SELF_MANAGED)
    if engine_version:
        database["engineVersion"] = engine_version
    run = run_stack({"idp-dr:database": database})
    args = build_parser().parse_args(shlex.split(run.outputs["restoreCommand"])[3:])
    assert str(args.pgdata) == f"/var/lib/postgresql/{major}/restore"


def test_dr_endpoint_secret_is_owned_by_failover_after_the_first_deploy(default_run):
    version = default_run.recorder.by_name("sso-db-access-dr-endpoint-value")
    assert version.ignore_changes == ["secretString"]
    assert version.region == "eu-central-1"
    assert PENDING_FAILOVER_HOST in str(version.inputs["secretString"])


def test_dr_endpoint_starts_at_the_replica_or_the_primary_for_a_warm_standby(warm_run):
    version = warm_run.recorder.by_name("sso-db-access-dr-endpoint-value")
    primary_address = warm_run.recorder.by_name("sso-database-db").outputs["address"]
    assert primary_address in str(version.inputs["secretString"])
    with_replica = run_stack({"idp-dr:database": {"drReadReplica": True}})
    replica_address = with_replica.recorder.by_name("sso-database-dr-replica").outputs["address"]
    endpoint = with_replica.recorder.by_name("sso-db-access-dr-endpoint-value")
    assert replica_address in str(endpoint.inputs["secretString"])


def test_app_credentials_are_replicated_to_the_dr_region_with_the_dr_key(default_run):
    secret = default_run.recorder.by_name("sso-db-access-app-credentials")
    assert secret.region == "eu-west-1"
    assert secret.inputs["replicas"] == [
        {"region": "eu-central-1", "kmsKeyId": default_run.recorder.by_name("sso-database-dr-key").outputs["arn"]}
    ]


def test_self_managed_mode_creates_no_rds_and_restores_from_the_archive():
    run = run_stack({"idp-dr:database": SELF_MANAGED})
    assert run.recorder.of_type("aws:rds/instance:Instance") == []
    outputs = StackOutputs.model_validate(run.outputs)
    assert outputs.database.mode == "self-managed"
    assert outputs.restoreCommand.startswith("python -m scripts restore wal --archive s3://")
    assert "pg.dr.internal" in str(run.recorder.by_name("sso-db-access-dr-endpoint-value").inputs["secretString"])


def test_example_prod_stack_builds_and_satisfies_the_contract():
    config, secret_keys = load_stack_file(REPO_ROOT / "Pulumi.prod.yaml")
    run = run_program(config, secret_keys)
    outputs = StackOutputs.model_validate(run.outputs)
    assert outputs.database.drReplicaInstanceId == "sso-dr-replica"
    assert outputs.archive.drBucket == "example-sso-archive-euc1"
    assert len(run.recorder.all()) > 90
