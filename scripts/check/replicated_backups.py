"""``idp-dr check replicated-backups``: how old the newest restorable point of the replicated backups is.

RDS publishes no metric for cross-region automated-backup replication. A replication that stopped, or
failed, or a source that stopped taking backups all show the same way here: the replicated backups'
latest restorable time (``RestoreWindow.LatestTime`` in the DR region) falls behind. This check reads it,
compares its age with the stack's RPO target, and publishes the age as ``ReplicatedBackupAgeSeconds``
(dimension ``Stack``) for the program's alarm. It also covers stacks without a read replica, which have
no replica-lag alarm. It only reads, and puts one metric.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from contract.backups import REPLICATED_BACKUP_AGE_METRIC
from contract.outputs import StackOutputs
from scripts.aws.client import Aws
from scripts.aws.rds import automated_backups
from scripts.errors import InputError
from scripts.report import Report
from scripts.timeutil import iso


def check_replicated_backups(
    outputs: StackOutputs,
    report: Report,
    *,
    aws: Aws,
    now: datetime,
    metric_namespace: str | None,
    metric_stack: str = "idp",
) -> dict[str, Any]:
    arn = outputs.database.replicatedBackupsArn
    if outputs.database.mode != "rds" or not arn:
        raise InputError("--stack-outputs", "database.replicatedBackupsArn", "an RDS stack with replicated backups")
    with report.step("read", region=outputs.drRegion):
        found = automated_backups(aws, outputs.drRegion, DBInstanceAutomatedBackupsArn=arn)
    backup = found[0] if found else {}
    latest = (backup.get("RestoreWindow") or {}).get("LatestTime")
    target = outputs.rpo_target_s
    if latest is None:
        age = None
        report.check(
            "replicated_backups.fresh",
            False,
            f"the replicated backups {arn} in {outputs.drRegion} have no restorable point "
            f"({'not found' if not found else backup.get('Status')}): a failover by restore has nothing to restore",
        )
    else:
        age = max((now - latest).total_seconds(), 0.0)
        report.check(
            "replicated_backups.fresh",
            age <= target,
            f"newest restorable point {iso(latest)}, {age:.0f} s old (RPO target {target} s)",
            status=backup.get("Status"),
            latest_restorable=iso(latest),
            age_s=round(age, 1),
        )
    if metric_namespace:
        with report.step("metric", namespace=metric_namespace):
            _publish(aws, outputs, metric_namespace, metric_stack, age)
    return {
        "replicated_backups": arn,
        "latest_restorable": iso(latest) if latest else None,
        "age_s": None if age is None else round(age, 1),
        "rpo_target_s": target,
    }


def _publish(aws: Aws, outputs: StackOutputs, namespace: str, stack: str, age: float | None) -> None:
    """The age, or (no restorable point at all) a value past any RPO: the alarm must fire either way."""
    value = age if age is not None else float(outputs.rpo_target_s * 1000)
    publish(aws, outputs.drRegion, namespace, stack, REPLICATED_BACKUP_AGE_METRIC, value, unit="Seconds")


def publish(aws: Aws, region: str, namespace: str, stack: str, metric: str, value: float, *, unit: str) -> None:
    """One data point of a DR-path metric (dimension ``Stack``), in the DR region where its alarm lives."""
    cloudwatch = aws.client("cloudwatch", region)
    datum = {"MetricName": metric, "Dimensions": [{"Name": "Stack", "Value": stack}], "Value": value, "Unit": unit}
    aws.call(cloudwatch, "PutMetricData", Namespace=namespace, MetricData=[datum])
