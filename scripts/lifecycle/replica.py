"""The stack's DR read replica rebuilt from the instance that serves as primary now.

A read replica is bound to the *instance* it was created from, not to its name. After ``recover``'s swap the
stack's DR replica still replicates the damaged instance; after a failback the DR region holds the promoted
(or restored) failover database and no replica at all. Either way a later failover by promotion would bring
back the wrong data, so both commands end here. Idempotent and resumable (each part checks what AWS holds;
what it decided is pinned in the caller's journal):

1. the replica and its source are read by ``DbiResourceId``; when it already replicates the serving primary
   (a re-run) there is nothing to do; a standalone (promoted) instance under the replica's name is renamed
   only when the caller allows it (failback: it is the failover's database, kept for the record);
2. the instance under the replica's name is renamed ``<replica>-<suffix>-<stamp>`` and tagged with the
   incident, and kept (deletion protection and all) until someone deletes it: the caller's report says how;
3. ``<replica>`` is created again, a cross-region read replica of the serving primary with the kept one's
   settings (class, storage, groups, retention, tags) and the stack's DR key, under the identifier the program
   expects, so ``pulumi refresh``/``up`` reads it as the same resource and replaces nothing;
4. it waits until the replica is available and replicating the serving primary.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from contract.outputs import StackOutputs
from scripts.aws.client import Aws, error_code, error_message
from scripts.aws.rds import describe_instance, rename_and_wait
from scripts.errors import ExternalError
from scripts.lifecycle.protection import read_replica_source
from scripts.polling import Clock, Verdict, poll_until

#: The tags naming an incident on the instances a command keeps (the same keys recover uses).
TAG_INCIDENT = "idp-dr:incident"
TAG_ROLE = "idp-dr:recover-role"

#: The replica's settings copied from the kept instance to the rebuilt one (CreateDBInstanceReadReplica names).
_COPIED = (
    "DBInstanceClass",
    "StorageType",
    "MultiAZ",
    "PubliclyAccessible",
    "DeletionProtection",
    "CopyTagsToSnapshot",
    "AutoMinorVersionUpgrade",
)


@dataclass
class RebuildContext:
    """What a rebuild needs, passed explicitly (recover and failback each make one)."""

    aws: Aws
    out: StackOutputs
    #: The instance serving as primary now (its identifier in the primary region).
    serving_id: str
    incident: str
    #: ``<replica>-<suffix>-<stamp>``: the name the old instance is kept under.
    suffix: str
    stamp: str
    clock: Clock
    interval: float
    timeout: float
    on_update: Callable[[str], None]
    #: The caller's journal's pinned facts (``kept_rid``, ``replica_rid``) and its save.
    pinned: dict[str, Any]
    save: Callable[[], None]
    #: failback: the standalone failover database under the replica's name is kept and replaced.
    replace_standalone: bool = False
    todo: list[str] = field(default_factory=list)

    def kept_name(self, replica_id: str) -> str:
        keep = 63 - len(self.suffix) - len(self.stamp) - 2
        return f"{replica_id[:keep].rstrip('-')}-{self.suffix}-{self.stamp}"


def rebuild_dr_replica(ctx: RebuildContext) -> dict[str, Any]:
    """The stack's DR replica replicating ``ctx.serving_id`` (see the module's docstring for the order)."""
    out, pinned = ctx.out, ctx.pinned
    replica_id = out.database.drReplicaInstanceId
    if not replica_id:
        return {"dr_replica": "the stack has no DR read replica"}
    serving = describe_instance(ctx.aws, out.primaryRegion, ctx.serving_id) or {}
    replica, source, _why = read_replica_source(ctx.aws, out)
    if replica is not None and source is not None and source.resource_id == serving.get("DbiResourceId"):
        return {"instance": replica_id, "replicates": source.describe(), "rebuilt": "replica_rid" in pinned}
    if replica is not None and replica.source is None and not ctx.replace_standalone:
        ctx.todo.append(
            f"the DR replica {replica_id} is standalone (promoted): it protects nothing and was left alone; "
            f"recreate it from the new primary with 'pulumi up --target-replace <URN of {replica_id}>' once it "
            "is no longer needed"
        )
        return {"instance": replica_id, "left": "standalone (promoted): not a replica of anything"}
    kept_name = ctx.kept_name(replica_id)
    if replica is not None and replica.resource_id != pinned.get("replica_rid"):
        pinned["kept_rid"] = replica.resource_id
        ctx.save()
    if pinned.get("kept_rid") and describe_instance(ctx.aws, out.drRegion, kept_name) is None:
        _rename(ctx, pinned["kept_rid"], replica_id, kept_name)
    kept = describe_instance(ctx.aws, out.drRegion, kept_name)
    if kept is not None:
        _tag(ctx, kept)
    if describe_instance(ctx.aws, out.drRegion, replica_id) is None:
        _create(ctx, replica_id, serving, kept or {})
    pinned["replica_rid"] = _wait(ctx, replica_id, str(serving.get("DbiResourceId")))
    ctx.save()
    if kept is not None:
        ctx.todo.append(
            f"{kept_name} (kept: it was {replica_id}) holds no data the new replica lacks: delete it once its "
            f"forensics are done: aws rds modify-db-instance --region {out.drRegion} --db-instance-identifier "
            f"{kept_name} --no-deletion-protection --apply-immediately, then aws rds delete-db-instance --region "
            f"{out.drRegion} --db-instance-identifier {kept_name} --skip-final-snapshot"
        )
    return {"instance": replica_id, "replicates": ctx.serving_id, "kept": kept_name if kept else None, "rebuilt": True}


def _rename(ctx: RebuildContext, rid: str, old: str, new: str) -> None:
    rds = ctx.aws.client("rds", ctx.out.drRegion)

    def call(old: str, new: str) -> None:
        try:
            ctx.aws.call(
                rds, "ModifyDBInstance", DBInstanceIdentifier=old, NewDBInstanceIdentifier=new, ApplyImmediately=True
            )
        except ClientError as exc:
            raise ExternalError(
                f"the rename of {old} to {new} in {ctx.out.drRegion} failed: {error_code(exc)}: {error_message(exc)}",
                hint="the primary serves and is verified; fix the cause and re-run to finish re-protecting it "
                "(it resumes here)",
            ) from None

    rename_and_wait(
        ctx.aws,
        ctx.out.drRegion,
        rid,
        old,
        new,
        call_rename=call,
        clock=ctx.clock,
        interval=ctx.interval,
        timeout=ctx.timeout,
        on_update=ctx.on_update,
    )


def _tag(ctx: RebuildContext, instance: dict[str, Any]) -> None:
    tags = [{"Key": TAG_INCIDENT, "Value": ctx.incident}, {"Key": TAG_ROLE, "Value": ctx.suffix}]
    rds = ctx.aws.client("rds", ctx.out.drRegion)
    ctx.aws.call(rds, "AddTagsToResource", ResourceName=instance["DBInstanceArn"], Tags=tags)


def _create(ctx: RebuildContext, replica_id: str, serving: dict[str, Any], kept: dict[str, Any]) -> None:
    out = ctx.out
    groups = [g["VpcSecurityGroupId"] for g in kept.get("VpcSecurityGroups", [])]
    parameter_group = (kept.get("DBParameterGroups") or [{}])[0].get("DBParameterGroupName")
    params: dict[str, Any] = {
        "DBInstanceIdentifier": replica_id,
        "SourceDBInstanceIdentifier": serving["DBInstanceArn"],
        "SourceRegion": out.primaryRegion,
        "KmsKeyId": out.database.drKmsKeyArn,
        "DBSubnetGroupName": (kept.get("DBSubnetGroup") or {}).get("DBSubnetGroupName")
        or out.database.drSubnetGroupName,
        "VpcSecurityGroupIds": groups or list(out.database.drSecurityGroupIds),
        "DBParameterGroupName": parameter_group or out.database.drParameterGroupName,
        # The program's tags, not the incident's (the kept instance carries those now).
        "Tags": [t for t in kept.get("TagList", []) if t["Key"] not in (TAG_INCIDENT, TAG_ROLE)],
        **{key: kept[key] for key in _COPIED if key in kept},
    }
    try:
        ctx.aws.call(ctx.aws.client("rds", out.drRegion), "CreateDBInstanceReadReplica", **params)
    except ClientError as exc:
        raise ExternalError(
            f"creating the DR read replica {replica_id} of {ctx.serving_id} failed: {error_code(exc)}: "
            f"{error_message(exc)}",
            hint="the primary serves and is verified; fix the cause and re-run (it resumes here), or recreate the "
            "replica with 'pulumi up'",
        ) from None


def _wait(ctx: RebuildContext, replica_id: str, serving_rid: str) -> str:
    def judge(pair: tuple[Any, Any]) -> Verdict[Any]:
        replica, source = pair
        status = replica.status if replica else "not there yet"
        if source is not None and source.resource_id != serving_rid:
            return Verdict("failed", f"{replica_id} replicates {source.describe()}, not {serving_rid}", pair)
        done = replica is not None and status == "available" and source is not None
        return Verdict("done" if done else "wait", f"{replica_id}: {status}", pair)

    (replica, _source), _polls = poll_until(
        lambda: read_replica_source(ctx.aws, ctx.out)[:2],
        judge,
        interval=ctx.interval,
        timeout=ctx.timeout,
        clock=ctx.clock,
        what=f"the DR read replica {replica_id}",
        on_update=ctx.on_update,
        timeout_hint="creating a replica takes minutes to hours; re-run to keep waiting (it resumes here)",
        on_failed=lambda v: ExternalError(v.message),
    )
    return str(replica.resource_id)
