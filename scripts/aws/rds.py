"""RDS describe calls with their not-found handling, written once for every command."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from scripts.aws.client import Aws, error_code, error_message
from scripts.errors import DrError, ExternalError, RefusedError
from scripts.polling import Clock, Verdict, poll_until

#: The codes RDS answers for an instance that does not exist (the Fault form from older APIs).
INSTANCE_NOT_FOUND = ("DBInstanceNotFound", "DBInstanceNotFoundFault")
AUTOMATED_BACKUPS_NOT_FOUND = (
    "DBInstanceAutomatedBackupNotFound",
    "DBInstanceAutomatedBackupNotFoundFault",
    "DBInstanceNotFound",
)


def describe_instance(aws: Aws, region: str, identifier: str) -> dict[str, Any] | None:
    """The instance, or None when it does not exist; any other failure is an ExternalError."""
    rds = aws.client("rds", region)
    try:
        found = aws.call(rds, "DescribeDBInstances", DBInstanceIdentifier=identifier)["DBInstances"]
    except ClientError as exc:
        if error_code(exc) in INSTANCE_NOT_FOUND:
            return None
        raise ExternalError(
            f"DescribeDBInstances {identifier} in {region} failed: {error_code(exc)}: {error_message(exc)}"
        ) from None
    return found[0] if found else None


def read_instance(aws: Aws, region: str, identifier: str) -> tuple[dict[str, Any] | None, str]:
    """Best effort (its region may be the one that is down): the instance and "", or None and why not."""
    try:
        found = aws.call(aws.client("rds", region), "DescribeDBInstances", DBInstanceIdentifier=identifier)
    except ClientError as exc:
        return None, f"{error_code(exc)}: {error_message(exc)}"
    except DrError as exc:
        return None, exc.message
    instances = found.get("DBInstances") or []
    return (instances[0], "") if instances else (None, "not found")


def instances_hint(aws: Aws, region: str) -> str:
    """A hint naming the instances that do exist in ``region`` (for a mistyped identifier)."""
    rds = aws.client("rds", region)
    try:
        names = [
            d["DBInstanceIdentifier"]
            for d in aws.call(rds, "DescribeDBInstances", MaxRecords=100).get("DBInstances", [])
        ]
    except (ClientError, ExternalError):
        return f"check --source and --region ({region})"
    if not names:
        return f"there are no DB instances in {region}; check --region / AWS_REGION"
    shown = ", ".join(sorted(names)[:10]) + (" …" if len(names) > 10 else "")
    return f"DB instances in {region}: {shown}"


def automated_backups(aws: Aws, region: str, **params: Any) -> list[dict[str, Any]]:
    """DescribeDBInstanceAutomatedBackups; an empty list when there are none."""
    rds = aws.client("rds", region)
    try:
        return aws.call(rds, "DescribeDBInstanceAutomatedBackups", **params).get("DBInstanceAutomatedBackups", [])
    except ClientError as exc:
        if error_code(exc) in AUTOMATED_BACKUPS_NOT_FOUND:
            return []
        raise ExternalError(
            f"DescribeDBInstanceAutomatedBackups in {region} failed: {error_code(exc)}: {error_message(exc)}"
        ) from None


#: Backup retention a promoted replica gets when it reports none (RDS's own default for new instances).
DEFAULT_PROMOTED_RETENTION_DAYS = 7


def promote_read_replica(aws: Aws, region: str, replica: dict[str, Any]) -> None:
    """Ask RDS to promote ``replica`` (a DescribeDBInstances entry), keeping its backup retention.

    Raises botocore's ClientError: the caller decides whether a refusal (still backing up,
    modifying) is an error or a reason to ask again on the next poll.
    """
    retention = int(replica.get("BackupRetentionPeriod") or 0) or DEFAULT_PROMOTED_RETENTION_DAYS
    aws.call(
        aws.client("rds", region),
        "PromoteReadReplica",
        DBInstanceIdentifier=replica["DBInstanceIdentifier"],
        BackupRetentionPeriod=retention,
    )


def rename_and_wait(
    aws: Aws,
    region: str,
    rid: str,
    old: str,
    new: str,
    *,
    call_rename: Callable[[str, str], None],
    clock: Clock,
    interval: float,
    timeout: float,
    on_update: Callable[[str], None],
) -> None:
    """``old`` -> ``new`` for the instance ``rid`` (its DbiResourceId, which no rename changes); idempotent and
    safe to resume mid-rename: while a rename runs neither name may resolve, so it waits until ``new`` answers,
    available, as ``rid``. Another instance under either name is refused: nothing is renamed then."""
    there = describe_instance(aws, region, new)
    if there is not None and there.get("DbiResourceId") != rid:
        raise RefusedError(
            f"{new} in {region} is another instance ({there.get('DbiResourceId')}), not {rid}",
            hint="nothing was renamed; find out what created it",
        )
    if there is None:
        current = describe_instance(aws, region, old)
        if current is not None and current.get("DbiResourceId") != rid:
            raise RefusedError(f"{old} in {region} is another instance ({current.get('DbiResourceId')}), not {rid}")
        if current is not None:
            call_rename(old, new)
        # else: the rename is under way and neither name resolves yet
    on_update(f"renaming {old} to {new}")
    poll_until(
        lambda: describe_instance(aws, region, new),
        lambda found: _judge_rename(found, rid, new),
        interval=interval,
        timeout=timeout,
        clock=clock,
        what=f"rename of {old} to {new}",
        on_update=on_update,
        timeout_hint="a rename takes minutes; re-run to keep waiting (it resumes here)",
        on_failed=lambda verdict: RefusedError(verdict.message, hint="nothing else was renamed"),
    )


def _judge_rename(found: dict[str, Any] | None, rid: str, new: str) -> Verdict[Any]:
    if found is None:
        return Verdict("wait", f"{new} does not resolve yet (renaming)", found)
    if found.get("DbiResourceId") != rid:
        return Verdict("failed", f"{new} is another instance ({found.get('DbiResourceId')})", found)
    status = found.get("DBInstanceStatus")
    return Verdict("done" if status == "available" else "wait", f"{new} is {status}", found)


def replica_lag_since(aws: Aws, region: str, identifier: str, since: datetime | None, clock: Clock) -> float | None:
    """The newest ``ReplicaLag`` (seconds) of the last 10 minutes, taken at or after ``since``; None when CloudWatch
    has none (yet)."""
    cloudwatch = aws.client("cloudwatch", region)
    now = clock.now()
    start = max(now - timedelta(minutes=10), since) if since else now - timedelta(minutes=10)
    try:
        points = aws.call(
            cloudwatch,
            "GetMetricStatistics",
            Namespace="AWS/RDS",
            MetricName="ReplicaLag",
            Dimensions=[{"Name": "DBInstanceIdentifier", "Value": identifier}],
            StartTime=start,
            EndTime=now,
            Period=60,
            Statistics=["Maximum"],
        ).get("Datapoints", [])
    except (ClientError, DrError):
        return None
    points = [p for p in points if since is None or p["Timestamp"] >= since]
    if not points:
        return None
    return float(max(points, key=lambda p: p["Timestamp"])["Maximum"])
