"""What a drill leaves behind, found by name and tag, and removed: this drill's, or an earlier one's.

Only what carries both the drill's name and its tag is touched: DB instances named ``idp-dr-drill-*``
tagged ``idp-dr:restore-kind=drill``, their security groups (the same name and tag), and the Kubernetes
objects labelled ``app.kubernetes.io/managed-by=idp-dr-drill`` in the drill namespace. A production
instance can carry neither (``restore rds`` refuses the prefix for anything but a drill), and the drill's IAM
role may not delete anything else (its conditions say so; a test evaluates them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from contract.drills import DRILL_PREFIX, KIND_DRILL, LABEL_DRILL_ID, TAG_KIND
from scripts.aws.client import Aws, error_code, error_message, tags_dict
from scripts.aws.rds import INSTANCE_NOT_FOUND
from scripts.drill.aws.site import KINDS, selector_of_all
from scripts.errors import ExternalError
from scripts.polling import Clock, Verdict, poll_until


@dataclass
class Leftovers:
    instances: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    #: (kind, name) in the drill namespace.
    objects: list[tuple[str, str]] = field(default_factory=list)
    #: The drills these belong to (an instance and its security group are both named after the drill).
    drills: set[str] = field(default_factory=set)

    def empty(self) -> bool:
        return not (self.instances or self.groups or self.objects)

    def to_dict(self) -> dict[str, Any]:
        return {
            "db_instances": self.instances,
            "security_groups": self.groups,
            "kubernetes": [f"{kind}/{name}" for kind, name in self.objects],
        }


def is_drill_instance(instance: dict[str, Any]) -> bool:
    identifier = str(instance.get("DBInstanceIdentifier", ""))
    return identifier.startswith(DRILL_PREFIX) and tags_dict(instance.get("TagList")).get(TAG_KIND) == KIND_DRILL


def find(aws: Aws, region: str, kube: Any, namespace: str, *, drill: str | None = None) -> Leftovers:
    """Every drill's resources, or (``drill``) exactly that drill's."""
    rds, ec2 = aws.client("rds", region), aws.client("ec2", region)
    found = Leftovers()
    marker: dict[str, str] = {}
    while True:
        page = aws.call(rds, "DescribeDBInstances", **marker)
        found.instances += [
            i["DBInstanceIdentifier"]
            for i in page.get("DBInstances", [])
            if is_drill_instance(i) and drill in (None, i["DBInstanceIdentifier"])
        ]
        if not page.get("Marker"):
            break
        marker = {"Marker": page["Marker"]}
    groups = aws.call(
        ec2,
        "DescribeSecurityGroups",
        Filters=[
            {"Name": f"tag:{TAG_KIND}", "Values": [KIND_DRILL]},
            {"Name": "group-name", "Values": [drill or f"{DRILL_PREFIX}*"]},
        ],
    )["SecurityGroups"]
    groups = [g for g in groups if str(g.get("GroupName", "")).startswith(DRILL_PREFIX)]
    found.groups = sorted(g["GroupId"] for g in groups)
    found.drills = set(found.instances) | {str(g["GroupName"]) for g in groups}
    selector = selector_of_all() + (f",{LABEL_DRILL_ID}={drill}" if drill else "")
    for kind in KINDS:
        found.objects += [(kind, name) for name in kube.list_names(namespace, kind, selector)]
    return found


def remove(
    aws: Aws, region: str, kube: Any, namespace: str, leftovers: Leftovers, *, clock: Clock, timeout: float,
    interval: float = 15.0, on_update: Any = None,
) -> dict[str, Any]:  # fmt: skip
    """Delete everything in ``leftovers``; waits until the instances are gone, then deletes their groups."""
    for kind, name in sorted(leftovers.objects, key=lambda o: -KINDS.index(o[0])):
        kube.delete(namespace, kind, name)
    rds = aws.client("rds", region)
    for identifier in leftovers.instances:
        _delete_instance(aws, rds, identifier)
    for identifier in leftovers.instances:
        poll_until(
            lambda identifier=identifier: _instance_status(aws, rds, identifier),
            lambda status, identifier=identifier: Verdict(
                "done" if status is None else "wait", f"{identifier}: {status or 'deleted'}", status
            ),
            interval=interval,
            timeout=timeout,
            clock=clock,
            what=f"{identifier} deleted",
            on_update=on_update,
            timeout_hint="the drill's cleanup finishes on the next drill, or: drill --aws --cleanup",
        )
    ec2 = aws.client("ec2", region)
    for group in leftovers.groups:
        poll_until(
            lambda group=group: _delete_group(aws, ec2, group),
            lambda outcome, group=group: Verdict(
                "done" if outcome == "deleted" else "wait", f"{group}: {outcome}", outcome
            ),
            interval=interval,
            timeout=timeout,
            clock=clock,
            what=f"security group {group} deleted",
            on_update=on_update,
            timeout_hint="a network interface still uses it; drill --aws --cleanup removes it later",
        )
    return leftovers.to_dict()


def _delete_instance(aws: Aws, rds: Any, identifier: str) -> None:
    try:
        aws.call(rds, "DeleteDBInstance", DBInstanceIdentifier=identifier, SkipFinalSnapshot=True,
                 DeleteAutomatedBackups=True)  # fmt: skip
    except ClientError as exc:
        if error_code(exc) in INSTANCE_NOT_FOUND:
            return
        if error_code(exc) == "InvalidDBInstanceState" and "deleting" in error_message(exc).lower():
            return
        raise ExternalError(f"DeleteDBInstance {identifier}: {error_code(exc)}: {error_message(exc)}") from None


def _instance_status(aws: Aws, rds: Any, identifier: str) -> str | None:
    try:
        found = aws.call(rds, "DescribeDBInstances", DBInstanceIdentifier=identifier)["DBInstances"]
    except ClientError as exc:
        if error_code(exc) in INSTANCE_NOT_FOUND:
            return None
        raise ExternalError(f"DescribeDBInstances {identifier}: {error_message(exc)}") from None
    return str(found[0].get("DBInstanceStatus")) if found else None


def _delete_group(aws: Aws, ec2: Any, group: str) -> str:
    try:
        aws.call(ec2, "DeleteSecurityGroup", GroupId=group)
    except ClientError as exc:
        if error_code(exc) == "InvalidGroup.NotFound":
            return "deleted"
        if error_code(exc) == "DependencyViolation":
            return "still in use"
        raise ExternalError(f"DeleteSecurityGroup {group}: {error_code(exc)}: {error_message(exc)}") from None
    return "deleted"
