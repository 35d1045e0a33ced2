"""``check replicated-backups`` against moto. moto cannot replicate automated backups across regions: the
DR region's DescribeDBInstanceAutomatedBackups answer is injected, shaped as AWS documents it."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from contract.backups import DR_PATH_METRIC_NAMESPACE, REPLICATED_BACKUP_AGE_METRIC
from scripts.timeutil import utcnow
from tests.scripts.world import invoke


def replicated(world, *, age_s: float | None, status: str = "replicating"):
    arn = world.outputs["database"]["replicatedBackupsArn"]

    primary = world.client("rds").describe_db_instances(DBInstanceIdentifier="sso-db")["DBInstances"][0]

    def answer(params):
        # by the stack's ARN (the age), or by the serving primary's DbiResourceId (its protection)
        if (
            params.get("DBInstanceAutomatedBackupsArn") != arn
            and params.get("DbiResourceId") != primary["DbiResourceId"]
        ):
            return None
        backup = {"DBInstanceAutomatedBackupsArn": arn, "Status": status, "Region": "eu-central-1",
                  "DbiResourceId": primary["DbiResourceId"]}  # fmt: skip
        if age_s is not None:
            backup["RestoreWindow"] = {
                "EarliestTime": utcnow() - timedelta(days=7),
                "LatestTime": utcnow() - timedelta(seconds=age_s),
            }
        return {"DBInstanceAutomatedBackups": [backup]}

    world.faults.add("DescribeDBInstanceAutomatedBackups", answer)


def check(world, *extra):
    argv = [
        "check",
        "replicated-backups",
        "--stack-outputs",
        str(world.outputs_path),
        "--json",
        "--metric-namespace",
        DR_PATH_METRIC_NAMESPACE,
        "--metric-stack",
        "sso",
        *extra,
    ]
    return invoke(argv, aws=world.aws())


@pytest.mark.parametrize(("age_s", "code"), [(120, 0), (4 * 3600, 1)])
def test_the_age_is_checked_against_the_rpo_target_and_published(world, age_s, code):
    replicated(world, age_s=age_s)
    result = check(world)
    assert result.code == code, result.stderr
    doc = result.json()
    assert doc["result"]["rpo_target_s"] == world.outputs["rpoTargetSeconds"]
    assert abs(doc["result"]["age_s"] - age_s) < 60
    [put] = world.recorder.params("PutMetricData")
    [datum] = put["MetricData"]
    assert put["Namespace"] == DR_PATH_METRIC_NAMESPACE and datum["MetricName"] == REPLICATED_BACKUP_AGE_METRIC
    assert datum["Dimensions"] == [{"Name": "Stack", "Value": "sso"}] and abs(datum["Value"] - age_s) < 60
    assert world.recorder.mutating() == ["cloudwatch:PutMetricData"]  # it only reads, and puts one metric


def test_replicated_backups_without_a_restorable_point_fail_and_publish_past_any_rpo(world):
    replicated(world, age_s=None, status="pending")
    result = check(world)
    assert result.code == 1
    check_line = {c["name"]: c for c in result.json()["checks"]}["replicated_backups.fresh"]
    assert check_line["message"].endswith(
        "have no restorable point (pending): a failover by restore has nothing to restore"
    )
    [datum] = world.recorder.params("PutMetricData")[0]["MetricData"]
    assert datum["Value"] > world.outputs["rpoTargetSeconds"]


def test_a_self_managed_stack_is_bad_input(world, tmp_path):
    import json

    outputs = json.loads(world.outputs_path.read_text())
    outputs["database"]["mode"] = "self-managed"
    path = tmp_path / "self-managed.json"
    path.write_text(json.dumps(outputs))
    result = invoke(["check", "replicated-backups", "--stack-outputs", str(path)], aws=world.aws())
    assert result.code == 2
    assert result.error_line == (
        "invalid --stack-outputs 'database.replicatedBackupsArn': an RDS stack with replicated backups"
    )
    assert world.recorder.mutating() == []


def dr_paths(world, outputs_path=None):
    argv = [
        "check",
        "dr-paths",
        "--stack-outputs",
        str(outputs_path or world.outputs_path),
        "--json",
        "--metric-namespace",
        DR_PATH_METRIC_NAMESPACE,
        "--metric-stack",
        "sso",
    ]
    return invoke(argv, aws=world.aws())


def test_dr_paths_passes_with_fresh_backups_and_enabled_dr_keys(world):
    replicated(world, age_s=60)
    result = dr_paths(world)
    assert result.code == 0, result.stderr
    metrics = {d["MetricName"]: d["Value"] for p in world.recorder.params("PutMetricData") for d in p["MetricData"]}
    assert metrics["DrKeysNotEnabled"] == 0 and metrics["ReplicatedBackupAgeSeconds"] < 120
    # The stack has a drill namespace: the days since a successful drill too (none yet: since the DR bucket).
    assert metrics["DaysSinceSuccessfulDrill"] < 0.1
    assert metrics["DrProtectionGaps"] == 0  # the replica follows the primary, whose backups replicate
    assert world.recorder.mutating() == ["cloudwatch:PutMetricData"] * 4


def test_a_dr_key_scheduled_for_deletion_fails_the_check_naming_it(world):
    """moto implements ScheduleKeyDeletion: the key is really PendingDeletion when the check reads it."""
    replicated(world, age_s=60)
    key = world.outputs["database"]["drKmsKeyArn"]
    # moto takes the key's ID here, not its ARN (AWS takes both)
    world.client("kms", "eu-central-1").schedule_key_deletion(KeyId=key.rsplit("/", 1)[1], PendingWindowInDays=7)
    result = dr_paths(world)
    assert result.code == 1
    [failed] = [c for c in result.json()["checks"] if c["status"] == "FAIL"]
    assert failed["message"].startswith(f"{key} is PendingDeletion (deleted on ")
    assert failed["message"].endswith(
        "cancel with aws kms cancel-key-deletion): what it encrypts in the DR region cannot be restored once it is gone"
    )
    metrics = {d["MetricName"]: d["Value"] for p in world.recorder.params("PutMetricData") for d in p["MetricData"]}
    assert metrics["DrKeysNotEnabled"] == 1


def test_a_self_managed_stack_checks_its_dr_keys_only(world, tmp_path):
    import json

    outputs = json.loads(world.outputs_path.read_text())
    outputs["database"]["mode"] = "self-managed"
    path = tmp_path / "self-managed.json"
    path.write_text(json.dumps(outputs))
    world.client("kms", "eu-central-1").disable_key(KeyId=outputs["database"]["drKmsKeyArn"].rsplit("/", 1)[1])
    result = dr_paths(world, path)
    assert result.code == 1
    assert "DescribeDBInstanceAutomatedBackups" not in world.recorder.operations
    assert [c["message"].split(" is ")[1][:8] for c in result.json()["checks"]] == ["Disabled"]


def _self_managed(world, tmp_path, port: int) -> Path:
    """The world's outputs as a self-managed stack: the primary at 127.0.0.1:<port>, the IdP's role in the DR
    region's Secrets Manager (seeded as keycloak/db-app-credentials)."""
    outputs = json.loads(world.outputs_path.read_text())
    outputs["database"] = {
        "mode": "self-managed", "primaryEndpoint": "127.0.0.1", "port": port, "dbName": "keycloak",
        "drKmsKeyArn": outputs["database"]["drKmsKeyArn"], "appCredentialsSecret": "keycloak/db-app-credentials",
    }  # fmt: skip
    path = tmp_path / "self-managed.json"
    path.write_text(json.dumps(outputs))
    return path


def test_wal_archiver_reads_the_idps_role_in_the_dr_region_and_fails_on_an_unreachable_primary(world, tmp_path):
    argv = ["check", "dr-paths", "--stack-outputs", str(_self_managed(world, tmp_path, 1)), "--wal-archiver",
            "--metric-namespace", DR_PATH_METRIC_NAMESPACE, "--metric-stack", "sso", "--json"]  # fmt: skip
    result = invoke(argv, aws=world.aws())
    assert result.code == 1, result.stderr
    [check] = [c for c in result.json()["checks"] if c["name"] == "wal_archiver.archiving"]
    assert check["status"] == "FAIL" and check["message"].startswith("cannot read pg_stat_archiver on 127.0.0.1:1: ")
    assert ("secretsmanager", "GetSecretValue") in {(c.service, c.operation) for c in world.recorder.calls}
    metrics = {d["MetricName"]: d["Value"] for p in world.recorder.params("PutMetricData") for d in p["MetricData"]}
    assert metrics["WalArchivingFailing"] == 1.0
    password = json.loads(world.client("secretsmanager", "eu-central-1").get_secret_value(
        SecretId="keycloak/db-app-credentials")["SecretString"])["password"]  # fmt: skip
    assert password not in result.stdout + result.stderr


def test_wal_archiver_is_refused_on_an_rds_stack_before_any_call(world):
    argv = ["check", "dr-paths", "--stack-outputs", str(world.outputs_path), "--wal-archiver", "--json"]
    result = invoke(argv, aws=world.aws())
    assert result.code == 2
    assert result.error_line == (
        "invalid --wal-archiver True: a self-managed stack with database.appCredentialsSecret "
        "(RDS archives its own WAL)"
    )
    assert world.recorder.mutating() == []


@pytest.mark.parametrize("days", ["0", "3651"])
def test_a_drill_age_out_of_range_is_refused_before_any_call(world, days):
    argv = ["check", "dr-paths", "--stack-outputs", str(world.outputs_path), "--drill-max-age-days", days]
    result = invoke(argv, aws=world.aws())
    assert result.code == 2
    assert result.error_line == f"invalid --drill-max-age-days {float(days)}: a number of days from 1 to 3650"
    assert world.recorder.calls == []
