"""The drill database: the replicated automated backups restored in the DR region into an isolated instance.

``restore rds --drill`` does the restore (latest restorable time, the DR subnet and parameter groups, no
deletion protection, tagged ``idp-dr:restore-kind=drill``) into a new security group with no rule at all.
:func:`admit_drill_clients` then opens that group on the database port to exactly the sources the DR
database's own groups admit on it (the DR cluster), so the drill IdP reaches it as a failover's would; the
drill namespace's NetworkPolicies decide which pods of that cluster may.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from contract.outputs import StackOutputs
from scripts.aws.client import Aws, error_code, error_message
from scripts.errors import ExternalError, RefusedError
from scripts.lifecycle.protection import DrSource
from scripts.restore.rds.request import RestoreSpec


def restore_spec(
    out: StackOutputs, source: DrSource, target: str, *, poll_interval: float, timeout_s: float
) -> RestoreSpec:
    """The restore of ``source`` (the serving primary's replicated backups, resolved live: never the stack
    outputs' ARN when it belongs to an instance that is no longer the primary)."""
    db = out.database
    return RestoreSpec(
        source=source.source,
        target=target,
        restore_time=None,
        region=out.drRegion,
        replicated_backups_arn=source.backups_arn,
        drill=True,
        poll_interval=poll_interval,
        timeout_s=timeout_s,
        db_subnet_group=db.drSubnetGroupName,
        # Validated as a failover's would be; the drill then restores into its own isolated group instead.
        security_group_ids=list(db.drSecurityGroupIds),
        db_parameter_group=db.drParameterGroupName,
        master_secret_kms_key=db.drKmsKeyArn,
        # As a failover finds it: the primary region is not asked for anything.
        read_source_region=False,
    )


def _covers(permission: dict[str, Any], port: int) -> bool:
    if permission.get("IpProtocol") == "-1":
        return True
    if permission.get("IpProtocol") not in ("tcp", "6"):
        return False
    return int(permission.get("FromPort", -1)) <= port <= int(permission.get("ToPort", -1))


def client_sources(aws: Aws, region: str, group_ids: list[str], port: int) -> list[dict[str, Any]]:
    """The sources the DR database's groups admit on ``port``, as one tcp permission for that port only."""
    ec2 = aws.client("ec2", region)
    groups = aws.call(ec2, "DescribeSecurityGroups", GroupIds=group_ids)["SecurityGroups"]
    sources: dict[str, list[dict[str, Any]]] = {"UserIdGroupPairs": [], "IpRanges": [], "Ipv6Ranges": []}
    for group in groups:
        for permission in group.get("IpPermissions", []):
            if not _covers(permission, port):
                continue
            sources["UserIdGroupPairs"] += [
                {"GroupId": pair["GroupId"], **({"UserId": pair["UserId"]} if pair.get("UserId") else {})}
                for pair in permission.get("UserIdGroupPairs", [])
            ]
            sources["IpRanges"] += [{"CidrIp": r["CidrIp"]} for r in permission.get("IpRanges", [])]
            sources["Ipv6Ranges"] += [{"CidrIpv6": r["CidrIpv6"]} for r in permission.get("Ipv6Ranges", [])]
    if not any(sources.values()):
        raise RefusedError(
            f"the DR database's security groups ({', '.join(group_ids)}) admit no one on port {port}",
            hint="a failover's IdP could not reach its database either: check database.drSecurityGroupIds",
        )
    return [{"IpProtocol": "tcp", "FromPort": port, "ToPort": port, **{k: v for k, v in sources.items() if v}}]


def admit_drill_clients(aws: Aws, region: str, drill_group: str, permissions: list[dict[str, Any]]) -> str:
    """Open the drill group to ``permissions``; idempotent (a resumed or repeated call changes nothing)."""
    ec2 = aws.client("ec2", region)
    try:
        aws.call(ec2, "AuthorizeSecurityGroupIngress", GroupId=drill_group, IpPermissions=permissions)
    except ClientError as exc:
        if error_code(exc) == "InvalidPermission.Duplicate":
            return "already open"
        raise ExternalError(f"AuthorizeSecurityGroupIngress {drill_group}: {error_message(exc)}") from None
    return "opened"
