"""What protects the primary now, read from AWS by ``DbiResourceId`` instead of trusted from the stack outputs.

A command that restores from replicated backups (``drill --aws``, ``failover --mode restore``) or checks the
DR paths (``check dr-paths``) resolves, in this order:

1. the serving primary: the instance the topology record names (:mod:`scripts.lifecycle.record`), else
   ``database.primaryInstanceId`` in the primary region, read live. Its ``DbiResourceId`` says which
   instance it is (after ``recover``'s swap the same name serves another instance);
2. its replicated backups: ``DescribeDBInstanceAutomatedBackups DbiResourceId=<the primary's>`` in the DR
   region (the ARN is per source instance, so the stack output's ARN is stale after a swap);
3. while the primary region cannot answer: the ``DbiResourceId`` the record holds.

Backups that belong to an instance that is no longer the primary are never used: when the primary's own are
not replicated, the command is refused (exit 3) naming both instances. The stack outputs are used as they
are only when nothing says otherwise (no record and the primary region unreachable), and the result says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from contract.outputs import StackOutputs
from scripts.aws.client import Aws
from scripts.aws.rds import automated_backups, read_instance
from scripts.errors import RefusedError
from scripts.lifecycle.record import TopologyRecord, read_record, topology_store


@dataclass(frozen=True)
class Instance:
    identifier: str
    region: str
    arn: str
    resource_id: str
    status: str
    #: ``ReadReplicaSourceDBInstanceIdentifier``: the source's ARN (cross-region) or identifier; None if standalone.
    source: str | None

    @classmethod
    def of(cls, doc: dict[str, Any], region: str) -> Instance:
        return cls(
            identifier=str(doc.get("DBInstanceIdentifier")),
            region=region,
            arn=str(doc.get("DBInstanceArn")),
            resource_id=str(doc.get("DbiResourceId")),
            status=str(doc.get("DBInstanceStatus")),
            source=doc.get("ReadReplicaSourceDBInstanceIdentifier") or None,
        )

    def describe(self) -> str:
        return f"{self.identifier} ({self.resource_id}, {self.region})"


@dataclass
class DrSource:
    """Where a DR-region restore reads from: the serving primary's replicated automated backups."""

    #: ``restore rds --source``: the identifier the backups belong to.
    source: str
    backups_arn: str
    #: "live" (AWS answered), "record" (the primary region did not; the record named the primary) or
    #: "stack outputs" (nothing said otherwise).
    resolved_by: str
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "backups_arn": self.backups_arn, "resolved_by": self.resolved_by}


def serving_primary(aws: Aws, out: StackOutputs, record: TopologyRecord | None) -> tuple[Instance | None, str]:
    """The instance serving as primary, read live, or None and why not (its region may be the one down)."""
    region = record.primary.region if record else out.primaryRegion
    identifier = record.primary.instance_id if record else str(out.database.primaryInstanceId)
    found, why = read_instance(aws, region, identifier)
    return (Instance.of(found, region), "") if found else (None, why)


def replicated_backups_of(aws: Aws, dr_region: str, resource_id: str) -> dict[str, Any] | None:
    """The replicated automated backups of the instance ``resource_id`` in ``dr_region`` that still replicate."""
    found = automated_backups(aws, dr_region, DbiResourceId=resource_id)
    mine = [b for b in found if b.get("DbiResourceId") == resource_id and b.get("DBInstanceAutomatedBackupsArn")]
    replicating = [b for b in mine if b.get("Status") == "replicating"]
    return (replicating or [None])[0]


def backups_owner(aws: Aws, dr_region: str, arn: str) -> dict[str, Any] | None:
    found = automated_backups(aws, dr_region, DBInstanceAutomatedBackupsArn=arn)
    return next((b for b in found if b.get("DBInstanceAutomatedBackupsArn") == arn), None)


def current_dr_source(aws: Aws, out: StackOutputs) -> DrSource:
    """:func:`dr_restore_source` with the topology record read from the DR bucket (read-only)."""
    return dr_restore_source(aws, out, read_record(topology_store(out, aws)))


def dr_restore_source(aws: Aws, out: StackOutputs, record: TopologyRecord | None) -> DrSource:
    """The serving primary's replicated backups in the DR region (see the module's docstring for the order)."""
    stack_arn, dr = str(out.database.replicatedBackupsArn), out.drRegion
    if record is not None and record.failed_over_at:
        raise RefusedError(
            f"the primary has been {record.primary.instance_id} in {record.primary.region} since the failover at "
            f"{record.failed_over_at}: there are no replicated backups of it in {dr} to restore",
            hint="fail back first (idp-dr failback), or drill the failed-over primary with restore rds --source "
            f"{record.primary.instance_id} --region {record.primary.region}",
        )
    primary, why = serving_primary(aws, out, record)
    if primary is not None:
        identifier, resource_id, resolved_by = primary.identifier, primary.resource_id, "live"
    elif record is not None:
        identifier, resource_id, resolved_by = record.primary.instance_id, record.primary.resource_id, "record"
    else:
        return DrSource(
            str(out.database.primaryInstanceId),
            stack_arn,
            "stack outputs",
            [
                f"the primary {out.database.primaryInstanceId} cannot be read in {out.primaryRegion} ({why}) and no "
                "runbook command has changed the topology: the stack outputs' replicated backups are used"
            ],
        )
    return _backups_of_primary(aws, out, identifier, resource_id, resolved_by, why)


def _backups_of_primary(
    aws: Aws, out: StackOutputs, identifier: str, resource_id: str, resolved_by: str, why: str
) -> DrSource:
    stack_arn, dr = str(out.database.replicatedBackupsArn), out.drRegion
    notes = (
        []
        if resolved_by == "live"
        else [
            f"the primary cannot be read in its region ({why}): the topology record names {identifier} ({resource_id})"
        ]
    )
    live = replicated_backups_of(aws, dr, resource_id)
    if live is not None:
        arn = str(live["DBInstanceAutomatedBackupsArn"])
        if arn != stack_arn:
            notes.append(
                f"the stack output database.replicatedBackupsArn ({stack_arn}) is stale: the primary {identifier} "
                f"({resource_id}) replicates its backups to {arn}; 'pulumi refresh' then 'pulumi up' updates it"
            )
        return DrSource(identifier, arn, resolved_by, notes)
    owner = backups_owner(aws, dr, stack_arn)
    if owner is None or owner.get("DbiResourceId") == resource_id:
        # Ours, or nothing at all under that ARN (the restore's own checks then say what is missing).
        return DrSource(identifier, stack_arn, resolved_by, notes)
    owned_by = f"{owner.get('DBInstanceIdentifier')} ({owner.get('DbiResourceId')})"
    raise RefusedError(
        f"the stack's replicated backups {stack_arn} belong to {owned_by}, which is not the primary: the primary is "
        f"{identifier} ({resource_id}), and its backups are not replicated to {dr}",
        hint=f"restoring them would bring back another instance's data; start replication of the primary's backups "
        f"(aws rds start-db-instance-automated-backups-replication --region {dr} --source-db-instance-arn <arn of "
        f"{identifier}> --kms-key-id {out.database.drKmsKeyArn}; recover starts it after a swap) and wait for "
        "its first restorable point",
    )


def read_replica_source(aws: Aws, out: StackOutputs) -> tuple[Instance | None, Instance | None, str]:
    """The DR replica and the instance it replicates (None, None, why when either cannot be read)."""
    replica_id = out.database.drReplicaInstanceId
    if not replica_id:
        return None, None, "the stack has no DR read replica"
    found, why = read_instance(aws, out.drRegion, replica_id)
    if found is None:
        return None, None, f"the DR replica {replica_id} cannot be read in {out.drRegion}: {why}"
    replica = Instance.of(found, out.drRegion)
    if not replica.source:
        return replica, None, f"{replica_id} is standalone (promoted): it replicates nothing"
    region = _arn_region(replica.source) or out.drRegion
    source_doc, why = read_instance(aws, region, _arn_name(replica.source))
    if source_doc is None:
        return replica, None, f"its source {replica.source} cannot be read: {why}"
    return replica, Instance.of(source_doc, region), ""


def _arn_region(arn_or_id: str) -> str | None:
    parts = arn_or_id.split(":")
    return parts[3] if arn_or_id.startswith("arn:") and len(parts) > 6 else None


def _arn_name(arn_or_id: str) -> str:
    return arn_or_id.rsplit(":", 1)[-1] if arn_or_id.startswith("arn:") else arn_or_id


__all__ = [
    "DrSource",
    "Instance",
    "backups_owner",
    "current_dr_source",
    "dr_restore_source",
    "read_replica_source",
    "replicated_backups_of",
    "serving_primary",
]
