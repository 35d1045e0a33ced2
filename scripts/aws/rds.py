"""RDS describe calls with their not-found handling, written once for every command."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from scripts.aws.client import Aws, error_code, error_message
from scripts.errors import ExternalError

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
