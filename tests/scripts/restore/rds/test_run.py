"""``restore rds``: what a restore sends, reports, and how it survives throttling, failure and timeouts."""

from __future__ import annotations

import json

import pytest
from botocore.stub import Stubber

from scripts.cli import main
from scripts.polling import FakeClock
from scripts.restore.rds.request import TAG_KIND, TAG_RESTORED_TO, TAG_SOURCE, TAG_TIME, TAG_VERSION
from scripts.sandbox.topology import example_database
from tests.scripts.shapes import BACKUPS_ARN, DR_KMS, automated_backup, instance, not_found, t
from tests.scripts.world import error, invoke, throttle_first

EXAMPLE_DB = example_database()  # what the seeded source instance is (Pulumi.prod.yaml)


def restore(*extra: str) -> list[str]:
    return ["restore", "rds", "--source", "sso-db", *extra]


def _target_rule(target: str, world, response):
    """Answer DescribeDBInstances for ``target`` with ``response(params)`` once the restore was requested."""

    def rule(params):
        if params.get("DBInstanceIdentifier") != target:
            return None
        if "RestoreDBInstanceToPointInTime" not in world.recorder.operations:
            return None
        return response(params)

    return rule


def test_restore_request_carries_every_setting_aws_would_otherwise_default(world, capsys):
    source = world.client("rds").describe_db_instances(DBInstanceIdentifier="sso-db")["DBInstances"][0]
    code = main(restore("--target", "pitr-1", "--latest", "--json"))
    doc = json.loads(capsys.readouterr().out)
    assert code == 0, doc
    [request] = world.recorder.params("RestoreDBInstanceToPointInTime")
    tags = {t["Key"]: t["Value"] for t in request.pop("Tags")}
    assert request == {
        "TargetDBInstanceIdentifier": "pitr-1",
        "SourceDBInstanceIdentifier": "sso-db",
        "UseLatestRestorableTime": True,
        "DBSubnetGroupName": "idp-db",
        "VpcSecurityGroupIds": [g["VpcSecurityGroupId"] for g in source["VpcSecurityGroups"]],
        "DBParameterGroupName": "idp-postgres16",
        "DBInstanceClass": EXAMPLE_DB.instance_class,
        "MultiAZ": True,
        "StorageType": "gp3",
        "Port": 5432,
        "EnableIAMDatabaseAuthentication": True,
        "CopyTagsToSnapshot": True,
        "AutoMinorVersionUpgrade": True,
        "CACertificateIdentifier": source["CACertificateIdentifier"],
        "BackupRetentionPeriod": EXAMPLE_DB.backup_retention_days,
        "DeletionProtection": True,
        "PubliclyAccessible": False,
        "ManageMasterUserPassword": True,
        "MasterUserSecretKmsKeyId": source["MasterUserSecret"]["KmsKeyId"],
    }
    assert tags == {
        "app": "keycloak",
        "env": "prod",
        "owner": "identity-team",
        TAG_SOURCE: "sso-db",
        TAG_TIME: "latest",
        TAG_KIND: "restore",
        TAG_VERSION: "0.1.0",
        TAG_RESTORED_TO: doc["result"]["latest_restorable_at_call"],
    }
    # The default option group is not sent (AWS assigns exactly it) but is recorded and checked.
    settings = doc["result"]["settings"]
    assert settings["the engine's default option group (assigned by AWS, checked after)"] == {
        "OptionGroupName": "default:postgres-16-4"
    }
    assert settings["inherited from the backup (not a restore parameter)"] == {"StorageKmsKeyId": source["KmsKeyId"]}
    assert settings["copied from the source"]["Tags"] == {
        "app": "keycloak",
        "env": "prod",
        "owner": "identity-team",
    }
    assert world.recorder.mutating() == ["rds:RestoreDBInstanceToPointInTime"]


def test_report_has_window_timings_endpoint_secret_and_rpo(world, capsys):
    assert main(restore("--target", "pitr-1", "--latest", "--json")) == 0
    doc = json.loads(capsys.readouterr().out)
    result = doc["result"]
    assert [s["name"] for s in doc["steps"]] == ["validate", "restore-call", "wait-available"]
    assert all(s["status"] == "ok" and s["duration_s"] is not None for s in doc["steps"])
    assert result["requested_time"] == "latest"
    assert set(result["restorable_window"]) == {"earliest", "latest", "basis"}
    assert result["restorable_window"]["basis"] == "estimated"  # moto returns no RestoreWindow
    restored = world.client("rds").describe_db_instances(DBInstanceIdentifier="pitr-1")["DBInstances"][0]
    assert result["endpoint"] == restored["Endpoint"]["Address"]
    assert result["port"] == 5432
    assert result["master_secret_arn"] == restored["MasterUserSecret"]["SecretArn"]
    assert result["rpo"]["restored_to"] == result["latest_restorable_at_call"]
    assert result["rpo"]["data_loss_window_s"] >= 0
    failing = [c for c in doc["checks"] if c["status"] == "FAIL"]
    assert failing == []
    assert {c["name"] for c in doc["checks"]} >= {
        "restored.DBSubnetGroupName",
        "restored.VpcSecurityGroupIds",
        "restored.DBParameterGroupName",
        "restored.OptionGroupName",
        "restored.MultiAZ",
        "restored.StorageType",
        "restored.DeletionProtection",
        "restored.StorageKmsKeyId",
        "restored.MasterUserSecret",
        "restored.Tags",
    }


def test_rerun_after_success_resumes_without_a_second_restore(world, capsys):
    assert main(restore("--target", "pitr-1", "--latest")) == 0
    capsys.readouterr()
    assert main(restore("--target", "pitr-1", "--latest", "--json")) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [s["status"] for s in doc["steps"]] == ["ok", "resumed", "ok"]
    assert world.recorder.operations.count("RestoreDBInstanceToPointInTime") == 1


def test_a_changed_setting_on_the_new_instance_fails_its_check(world, capsys):
    """AWS can apply settings differently (e.g. Multi-AZ); the post-checks catch it (injected response)."""

    def single_az(params):
        doc = world.client("rds").describe_db_instances(DBInstanceIdentifier="pitr-1")
        doc["DBInstances"][0]["MultiAZ"] = False
        return doc

    world.faults.add("DescribeDBInstances", _target_rule("pitr-1", world, single_az))
    assert main(restore("--target", "pitr-1", "--latest", "--json")) == 1
    checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    assert checks["restored.MultiAZ"]["status"] == "FAIL"
    assert checks["restored.MultiAZ"]["message"] == "False, requested True"


def test_drill_restores_isolated_and_never_collides_with_production(world, capsys):
    assert main(restore("--target", "q4", "--latest", "--drill", "--json")) == 0
    result = json.loads(capsys.readouterr().out)["result"]
    assert result["target"] == "idp-dr-drill-q4"
    [request] = world.recorder.params("RestoreDBInstanceToPointInTime")
    assert request["TargetDBInstanceIdentifier"] == "idp-dr-drill-q4"
    assert request["DeletionProtection"] is False
    assert request["PubliclyAccessible"] is False
    [group_id] = request["VpcSecurityGroupIds"]
    group = world.client("ec2").describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    assert group["GroupName"] == "idp-dr-drill-q4"
    assert group["IpPermissions"] == []
    assert group["IpPermissionsEgress"] == []
    source = world.client("rds").describe_db_instances(DBInstanceIdentifier="sso-db")["DBInstances"][0]
    assert group_id not in [g["VpcSecurityGroupId"] for g in source["VpcSecurityGroups"]]
    # Re-running resumes: no second security group, no second restore.
    assert main(restore("--target", "q4", "--latest", "--drill")) == 0
    assert world.recorder.operations.count("CreateSecurityGroup") == 1
    assert world.recorder.operations.count("RestoreDBInstanceToPointInTime") == 1


def test_dry_run_prints_the_exact_request_and_changes_nothing(world, capsys):
    assert main(restore("--target", "pitr-1", "--latest", "--drill", "--dry-run", "--json")) == 0
    doc = json.loads(capsys.readouterr().out)
    assert world.recorder.mutating() == []
    assert doc["result"]["request"]["TargetDBInstanceIdentifier"] == "idp-dr-drill-pitr-1"
    assert doc["result"]["request"]["VpcSecurityGroupIds"] == ["<new: idp-dr-drill-pitr-1>"]
    assert doc["result"]["would_create_security_group"] == {
        "GroupName": "idp-dr-drill-pitr-1",
        "VpcId": doc["result"]["would_create_security_group"]["VpcId"],
        "ingress": [],
        "egress": [],
    }
    assert [s["status"] for s in doc["steps"]] == ["ok", "skipped"]
    assert (
        world.client("rds").describe_db_instances(
            Filters=[{"Name": "db-instance-id", "Values": ["idp-dr-drill-pitr-1"]}]
        )["DBInstances"]
        == []
    )


def test_throttling_backs_off_and_succeeds(world):
    world.faults.add("DescribeDBInstances", throttle_first(2))
    result = invoke(restore("--target", "pitr-1", "--latest", "--json"), aws=world.aws(), clock=world.clock)
    assert result.code == 0, result.stderr
    assert result.json()["result"]["aws_calls"]["throttled_retries"] == 2
    backoffs = world.clock.sleeps[:2]
    assert 0.5 <= backoffs[0] <= 1.0 and 1.0 <= backoffs[1] <= 2.0


def test_throttling_that_never_stops_gives_up_with_a_clear_error(world):
    world.faults.add("DescribeDBInstances", lambda p: error("Throttling", "Rate exceeded"))
    result = invoke(restore("--target", "pitr-1", "--latest"), aws=world.aws(), clock=world.clock)
    assert result.code == 5
    assert (
        result.error_line == "DescribeDBInstances in eu-west-1 still failing after 8 attempts: Throttling: "
        "Rate exceeded"
    )
    assert result.hint_line == "AWS is throttling or unavailable; re-run the same command to resume"
    assert max(world.clock.sleeps) <= 20.0
    assert world.recorder.mutating() == []


def test_restore_ending_in_a_failed_state_reports_status_and_events(world):
    """moto never fails a restore: the new instance's status and events are injected (AWS-shaped)."""
    world.faults.add(
        "DescribeDBInstances",
        _target_rule("pitr-1", world, lambda p: {"DBInstances": [instance("pitr-1", status="incompatible-restore")]}),
    )
    world.faults.add(
        "DescribeEvents",
        lambda p: (
            {
                "Events": [
                    {
                        "SourceIdentifier": "pitr-1",
                        "SourceType": "db-instance",
                        "Date": t("2026-11-23T10:20:00Z"),
                        "Message": "Restored from snapshot",
                    },
                    {
                        "SourceIdentifier": "pitr-1",
                        "SourceType": "db-instance",
                        "Date": t("2026-11-23T10:31:00Z"),
                        "Message": "The DB instance could not be restored because of incompatible parameters",
                    },
                ]
            }
            if p.get("SourceIdentifier") == "pitr-1"
            else None
        ),
    )
    result = invoke(restore("--target", "pitr-1", "--latest"), aws=world.aws(), clock=world.clock)
    assert result.code == 5
    assert result.error_line == (
        "restore of pitr-1 ended in status 'incompatible-restore'; last events: 2026-11-23T10:20:00Z "
        "Restored from "
        "snapshot | 2026-11-23T10:31:00Z The DB instance could not be restored because of incompatible "
        "parameters"
    )
    assert result.hint_line.startswith("the source was not touched;")
    assert world.recorder.mutating() == ["rds:RestoreDBInstanceToPointInTime"]  # never a delete or modify


def test_timeout_exits_4_and_a_rerun_resumes_the_same_restore(world):
    """moto makes an instance available at once: 'creating' is injected until we let it finish."""
    world.faults.add(
        "DescribeDBInstances",
        _target_rule("pitr-1", world, lambda p: {"DBInstances": [instance("pitr-1", status="creating")]}),
    )
    world.faults.add("DescribeEvents", lambda p: {"Events": []})
    argv = restore("--target", "pitr-1", "--latest", "--timeout", "1", "--poll-interval", "5")
    first = invoke(argv, aws=world.aws(), clock=world.clock)
    assert first.code == 4
    assert first.error_line == "restore of pitr-1 not done after 1m00s (timeout 1m00s); last state: pitr-1: creating"
    assert first.hint_line.startswith("the restore continues in AWS; re-run the same command to resume waiting")
    assert world.clock.sleeps == [5.0] * 12

    world.faults.clear()
    second = invoke([*argv, "--json"], aws=world.aws(), clock=world.clock)
    assert second.code == 0, second.stderr
    assert [s["status"] for s in second.json()["steps"]] == ["ok", "resumed", "ok"]
    assert world.recorder.operations.count("RestoreDBInstanceToPointInTime") == 1


def test_restore_from_replicated_backups_in_the_dr_region(world):
    """moto cannot restore from replicated backups (IndexError): the DR-region RDS client is Stubbed with
    AWS-shaped responses, and Stubber asserts the exact request, including every copied setting."""
    out = world.outputs["database"]
    aws = world.aws()
    clock = FakeClock(t("2026-11-23T10:14:00Z"))
    source = world.client("rds").describe_db_instances(DBInstanceIdentifier="sso-db")["DBInstances"][0]
    dr_vpc = world.client("ec2", "eu-central-1").describe_security_groups(GroupIds=out["drSecurityGroupIds"])[
        "SecurityGroups"
    ][0]["VpcId"]
    restored = instance(
        "sso-dr-restore",
        region="eu-central-1",
        KmsKeyId=DR_KMS,
        DBSubnetGroup={"DBSubnetGroupName": "idp-db", "VpcId": dr_vpc},
        VpcSecurityGroups=[{"VpcSecurityGroupId": out["drSecurityGroupIds"][0], "Status": "active"}],
        MasterUserSecret={
            "SecretArn": "arn:aws:secretsmanager:eu-central-1:123456789012:secret:rds!x",
            "SecretStatus": "active",
            "KmsKeyId": out["drKmsKeyArn"],
        },
        OptionGroupMemberships=[{"OptionGroupName": "default:postgres-16", "Status": "in-sync"}],
        TagList=[{"Key": TAG_SOURCE, "Value": BACKUPS_ARN}],
    )
    with Stubber(aws.client("rds", "eu-central-1")) as rds:
        rds.add_response(
            "describe_db_instance_automated_backups",
            {"DBInstanceAutomatedBackups": [automated_backup(arn=BACKUPS_ARN, region="eu-central-1")]},
            {"DBInstanceAutomatedBackupsArn": BACKUPS_ARN},
        )
        rds.add_client_error("describe_db_instances", **not_found())
        rds.add_response(
            "describe_db_subnet_groups",
            {"DBSubnetGroups": [{"DBSubnetGroupName": "idp-db", "VpcId": dr_vpc}]},
            {"DBSubnetGroupName": "idp-db"},
        )
        rds.add_response(
            "describe_db_parameter_groups",
            {"DBParameterGroups": [{"DBParameterGroupName": "idp-postgres16"}]},
            {"DBParameterGroupName": "idp-postgres16"},
        )
        expected = {
            "TargetDBInstanceIdentifier": "sso-dr-restore",
            "SourceDBInstanceAutomatedBackupsArn": BACKUPS_ARN,
            "UseLatestRestorableTime": True,
            "DBSubnetGroupName": out["drSubnetGroupName"],
            "VpcSecurityGroupIds": out["drSecurityGroupIds"],
            "DBParameterGroupName": out["drParameterGroupName"],
            # from the source instance, read in its own region:
            "DBInstanceClass": EXAMPLE_DB.instance_class,
            "MultiAZ": True,
            "StorageType": "gp3",
            "Port": 5432,
            "EnableIAMDatabaseAuthentication": True,
            "CopyTagsToSnapshot": True,
            "AutoMinorVersionUpgrade": True,
            "CACertificateIdentifier": source["CACertificateIdentifier"],
            "BackupRetentionPeriod": EXAMPLE_DB.backup_retention_days,
            "DeletionProtection": True,
            "PubliclyAccessible": False,
            # the master secret is encrypted with the DR key:
            "ManageMasterUserPassword": True,
            "MasterUserSecretKmsKeyId": out["drKmsKeyArn"],
            "Tags": [
                {"Key": "app", "Value": "keycloak"},
                {"Key": "env", "Value": "prod"},
                {"Key": "owner", "Value": "identity-team"},
                {"Key": TAG_SOURCE, "Value": BACKUPS_ARN},
                {"Key": TAG_TIME, "Value": "latest"},
                {"Key": TAG_KIND, "Value": "restore"},
                {"Key": TAG_VERSION, "Value": "0.1.0"},
                {"Key": TAG_RESTORED_TO, "Value": "2026-11-23T10:10:00Z"},
            ],
        }
        rds.add_response(
            "restore_db_instance_to_point_in_time",
            {"DBInstance": instance("sso-dr-restore", region="eu-central-1", status="creating")},
            expected,
        )
        rds.add_response(
            "describe_db_instances",
            {"DBInstances": [instance("sso-dr-restore", region="eu-central-1", status="creating")]},
        )
        rds.add_response("describe_events", {"Events": []})
        rds.add_response("describe_db_instances", {"DBInstances": [restored]})
        rds.add_response("describe_events", {"Events": []})
        result = invoke(
            [
                "restore",
                "rds",
                "--source",
                "sso-db",
                "--target",
                "sso-dr-restore",
                "--latest",
                "--from-replicated-backups",
                BACKUPS_ARN,
                "--stack-outputs",
                str(world.outputs_path),
                "--json",
            ],
            aws=aws,
            clock=clock,
        )
    assert result.code == 0, result.stderr + result.stdout
    rds.assert_no_pending_responses()
    doc = result.json()
    checks = {c["name"]: c for c in doc["checks"]}
    # Storage encryption is inherited from the replicated backups (DR key), and checked:
    assert checks["restored.StorageKmsKeyId"]["status"] == "pass"
    assert checks["restored.MasterUserSecret"]["status"] == "pass"
    assert checks["restored.Tags"]["status"] == "pass"
    assert doc["result"]["restorable_window"] == {
        "earliest": "2026-11-16T10:00:00Z",
        "latest": "2026-11-23T10:10:00Z",
        "basis": "RestoreWindow",
    }
    assert doc["result"]["rpo"] == {
        "restored_to": "2026-11-23T10:10:00Z",
        "data_loss_window_s": 240.0,
        "restorable_lag_s": 240.0,
    }
    assert doc["result"]["settings"]["from flags / stack outputs"]["DBSubnetGroupName"] == "idp-db"
    assert world.recorder.mutating() == ["rds:RestoreDBInstanceToPointInTime"]


@pytest.mark.parametrize("status", ["creating", "backing-up", "modifying"])
def test_intermediate_statuses_keep_waiting(world, status):
    seen = {"n": 0}

    def respond(params):
        seen["n"] += 1
        if seen["n"] >= 3:
            return None  # moto's real (available) instance
        return {"DBInstances": [instance("pitr-1", status=status)]}

    world.faults.add("DescribeDBInstances", _target_rule("pitr-1", world, respond))
    world.faults.add("DescribeEvents", lambda p: {"Events": []})
    result = invoke(
        restore("--target", "pitr-1", "--latest", "--poll-interval", "2"), aws=world.aws(), clock=world.clock
    )
    assert result.code == 0, result.stderr
    assert world.clock.sleeps == [2.0, 2.0]


@pytest.mark.parametrize(
    ("storage", "allocated", "copied"),
    [
        ("gp3", 50, set()),  # below 400 GiB RDS refuses explicit gp3 IOPS/throughput: the baseline applies
        ("gp3", 500, {"Iops", "StorageThroughput"}),
        ("io1", 100, {"Iops"}),
        ("gp2", 100, set()),
    ],
)
def test_provisioned_iops_are_copied_only_where_rds_accepts_them(storage, allocated, copied):
    from scripts.restore.rds.request import RestoreSpec
    from scripts.restore.rds.settings import choose_settings as _settings

    src = instance("sso-db", StorageType=storage, AllocatedStorage=allocated)
    settings = _settings(RestoreSpec(source="sso-db", target="x"), "eu-west-1", src, None, [])
    assert {"Iops", "StorageThroughput"} & set(settings) == copied
    assert all(settings[k].value == src[k] for k in copied)
