"""``check replicated-backups`` against moto. moto cannot replicate automated backups across regions: the
DR region's DescribeDBInstanceAutomatedBackups answer is injected, shaped as AWS documents it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from contract.backups import DR_PATH_METRIC_NAMESPACE, REPLICATED_BACKUP_AGE_METRIC
from scripts.timeutil import utcnow
from tests.scripts.world import invoke


def replicated(world, *, age_s: float | None, status: str = "replicating"):
    arn = world.outputs["database"]["replicatedBackupsArn"]

    def answer(params):
        if params.get("DBInstanceAutomatedBackupsArn") != arn:
            return None
        backup = {"DBInstanceAutomatedBackupsArn": arn, "Status": status, "Region": "eu-central-1"}
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
