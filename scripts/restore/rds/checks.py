"""Read-only AWS checks of ``restore rds``: the restorable window, DR-region resources, IAM, the drill group."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError

from scripts.aws.client import Aws, MissingPermission, error_code, error_message, tags_dict
from scripts.aws.rds import automated_backups
from scripts.errors import ExternalError, InputError, RefusedError
from scripts.report import Report
from scripts.restore.rds.request import TAG_DRILL_TARGET, Window


def _window_for_instance(aws: Aws, region: str, source: dict[str, Any]) -> Window:
    latest = source.get("LatestRestorableTime")
    backups = automated_backups(aws, region, DBInstanceIdentifier=source["DBInstanceIdentifier"])
    dbi = source.get("DbiResourceId")
    for backup in backups:
        if backup.get("DbiResourceId") not in (None, dbi):
            continue
        restore_window = backup.get("RestoreWindow") or {}
        if restore_window.get("EarliestTime"):
            return Window(restore_window["EarliestTime"], latest or restore_window.get("LatestTime"), "RestoreWindow")
    # No RestoreWindow (moto, or a very new backup): estimate from retention and creation time.
    if latest is None:
        return Window(None, None, "unknown")
    retention = int(source.get("BackupRetentionPeriod") or 0)
    earliest = latest - timedelta(days=retention)
    created = source.get("InstanceCreateTime")
    if created is not None and created > earliest:
        earliest = created
    return Window(earliest, latest, "estimated")


def _check_exists(aws: Aws, region: str, kind: str, name: str, field: str) -> dict[str, Any]:
    """Refuse a DR-region resource that does not exist (would otherwise fail late or default)."""
    rds = aws.client("rds", region)
    try:
        if kind == "subnet-group":
            return _first(aws.call(rds, "DescribeDBSubnetGroups", DBSubnetGroupName=name)["DBSubnetGroups"])
        if kind == "parameter-group":
            found = aws.call(rds, "DescribeDBParameterGroups", DBParameterGroupName=name)["DBParameterGroups"]
            return _first(found)
        if kind == "option-group":
            return _first(aws.call(rds, "DescribeOptionGroups", OptionGroupName=name)["OptionGroupsList"])
        if kind == "kms-key":
            meta = aws.call(aws.client("kms", region), "DescribeKey", KeyId=name)["KeyMetadata"]
            if meta.get("KeyState") not in (None, "Enabled"):
                raise InputError(field, name, f"an enabled KMS key in {region} (state {meta.get('KeyState')})")
            return meta
    except (ClientError, _Empty) as exc:
        code = "NotFound: none listed" if isinstance(exc, _Empty) else error_code(exc)
        if "NotFound" in code or code in (
            "InvalidParameterValue",
            "InvalidArnException",
            "InvalidKeyId.Malformed",
        ):
            raise InputError(
                field,
                name,
                f"an existing {kind.replace('-', ' ')} in {region} ({code})",
                hint="the Pulumi stack creates it in the DR region; check the stack outputs "
                "(database.dr*) and --region",
            ) from None
        raise ExternalError(f"checking {kind} {name} in {region} failed: {code}: {error_message(exc)}") from None
    raise AssertionError(kind)  # pragma: no cover


class _Empty(Exception):
    """A describe call that answered with no item for the name (what moto does for a name AWS would refuse)."""


def _first(items: list[dict[str, Any]]) -> dict[str, Any]:
    if not items:
        raise _Empty
    return items[0]


def _check_security_groups(aws: Aws, region: str, ids: list[str], vpc_id: str | None) -> None:
    ec2 = aws.client("ec2", region)
    try:
        groups = aws.call(ec2, "DescribeSecurityGroups", GroupIds=ids)["SecurityGroups"]
    except ClientError as exc:
        if "NotFound" in error_code(exc) or error_code(exc) == "InvalidGroupId.Malformed":
            raise InputError(
                "--vpc-security-group-ids",
                ",".join(ids),
                f"existing VPC security groups in {region} ({error_message(exc)})",
                hint="use the stack output database.drSecurityGroupIds",
            ) from None
        raise ExternalError(f"DescribeSecurityGroups in {region} failed: {error_code(exc)}") from None
    if vpc_id:
        wrong = [g["GroupId"] for g in groups if g.get("VpcId") and g["VpcId"] != vpc_id]
        if wrong:
            raise InputError(
                "--vpc-security-group-ids",
                ",".join(ids),
                f"security groups in the subnet group's VPC {vpc_id}; {','.join(wrong)} belong to another VPC",
            )


def _simulate_permissions(aws: Aws, principal: str, actions: tuple[str, ...], report: Report) -> None:
    """Best effort: ask IAM whether the caller may run the mutating actions, before any change."""
    role_arn = principal
    match = re.match(r"^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role/([^/]+)/", principal)
    if match:
        role_arn = f"arn:{match.group(1)}:iam::{match.group(2)}:role/{match.group(3)}"
    try:
        result = aws.call(
            aws.client("iam", aws.default_region() or "us-east-1"),
            "SimulatePrincipalPolicy",
            PolicySourceArn=role_arn,
            ActionNames=list(actions),
        )
    except (ClientError, ExternalError, NotImplementedError) as exc:
        reason = exc.message if isinstance(exc, ExternalError) else str(exc)[:160]
        report.check(
            "permissions.simulated",
            None,
            f"IAM simulation unavailable ({reason}); a missing permission is reported by the call that needs it",
        )
        return
    denied = [r["EvalActionName"] for r in result.get("EvaluationResults", []) if r.get("EvalDecision") != "allowed"]
    if denied:
        raise MissingPermission(
            ", ".join(denied), None, "IAM policy simulation says these are denied", principal=role_arn
        )
    report.check("permissions.simulated", True, f"IAM allows {len(actions)} actions for {role_arn}")


def _find_drill_sg(aws: Aws, region: str, target: str, vpc_id: str | None) -> dict[str, Any]:
    if not vpc_id:
        raise InputError("--drill", True, "a subnet group with a VPC (to create the isolated security group in)")
    ec2 = aws.client("ec2", region)
    found = aws.call(
        ec2,
        "DescribeSecurityGroups",
        Filters=[{"Name": "group-name", "Values": [target]}, {"Name": "vpc-id", "Values": [vpc_id]}],
    )["SecurityGroups"]
    if found:
        group = found[0]
        if tags_dict(group.get("Tags")).get(TAG_DRILL_TARGET) != target:
            raise RefusedError(
                f"security group {group['GroupId']} named {target} in {vpc_id} was not created by "
                "idp-dr for this drill",
                hint="choose another --target",
            )
        return group
    return {"GroupName": target, "VpcId": vpc_id}
