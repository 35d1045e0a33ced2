"""``check dr-paths``: is the primary protected *now*, after whatever the runbook last did to the topology?

The replicated-backups age and the replica-lag alarm watch the DR copies the stack outputs name. After a
``recover`` swap or a failover those can be copies of an instance that no longer serves, and be perfectly
fresh. These checks read what serves (:mod:`scripts.lifecycle`) and fail (one count, ``DrProtectionGaps``) when:

* ``protection.replica``  the DR read replica does not replicate the serving primary (by ``DbiResourceId``): a
  failover by promotion would bring back another instance's data;
* ``protection.backups``  the serving primary's automated backups are not replicated to the DR region;
* ``protection.failover`` a failover has been in effect longer than ``--failover-max-unprotected`` without
  ``reprotect`` (nothing protects the failed-over primary, and failback has nothing to switch to).

While a failover is in effect the first two do not apply (the primary is the DR region's) and say so. It only
reads.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from contract.outputs import StackOutputs
from scripts.aws.client import Aws
from scripts.lifecycle.protection import read_replica_source, replicated_backups_of, serving_primary
from scripts.lifecycle.record import TopologyRecord, read_record, topology_store
from scripts.report import Report
from scripts.timeutil import format_duration, parse_iso


def check_protection(
    outputs: StackOutputs, report: Report, *, aws: Aws, now: datetime, failover_max_unprotected_s: float
) -> int:
    """Runs the three checks; returns how many failed (the metric)."""
    record = read_record(topology_store(outputs, aws))
    if record is not None and record.failed_over:
        _skip_while_failed_over(report, record)
        return int(not _failover_protected(report, record, now, failover_max_unprotected_s))
    report.check("protection.failover", True, "no failover in effect")
    primary, why = serving_primary(aws, outputs, record)
    if primary is None:
        report.check("protection.replica", None, f"the primary cannot be read ({why}): not compared")
        report.check("protection.backups", None, f"the primary cannot be read ({why}): not compared")
        return 0
    failed = 0
    if outputs.database.drReplicaInstanceId:
        _replica, source, why = read_replica_source(aws, outputs)
        follows = source is not None and source.resource_id == primary.resource_id
        failed += not follows
        report.check(
            "protection.replica",
            follows,
            f"{outputs.database.drReplicaInstanceId} replicates the primary {primary.describe()}"
            if follows
            else f"{outputs.database.drReplicaInstanceId} does not replicate the primary {primary.describe()}: "
            + (f"it replicates {source.describe()}" if source else why)
            + "; a failover by promotion would not bring back the primary's data",
            **({"replicates": source.resource_id} if source else {}),
        )
    backups = replicated_backups_of(aws, outputs.drRegion, primary.resource_id)
    failed += backups is None
    report.check(
        "protection.backups",
        backups is not None,
        f"the primary {primary.describe()} replicates its backups to {outputs.drRegion}"
        if backups
        else f"the primary {primary.describe()}'s automated backups are not replicated to {outputs.drRegion}",
        **({"replicated_backups": backups["DBInstanceAutomatedBackupsArn"]} if backups else {}),
    )
    return failed


def _skip_while_failed_over(report: Report, record: TopologyRecord) -> None:
    why = f"a failover is in effect: the primary is {record.primary.instance_id} in {record.primary.region}"
    report.check("protection.replica", None, why)
    report.check("protection.backups", None, why)


def _failover_protected(report: Report, record: TopologyRecord, now: datetime, limit_s: float) -> bool:
    since = parse_iso(record.failed_over_at)
    age = (now - since).total_seconds() if since else 0.0
    copy = record.failback_copy
    if record.reprotected_at and copy is not None:
        report.check(
            "protection.failover",
            True,
            f"failed over {format_duration(age)} ago; reprotected at "
            f"{record.reprotected_at}: {copy.instance_id} in {copy.region} follows the primary",
        )
        return True
    ok = age <= limit_s
    report.check(
        "protection.failover",
        ok,
        f"failed over {format_duration(age)} ago and not reprotected (allowed: {format_duration(limit_s)}): "
        "run idp-dr reprotect once the primary region is back",
        failed_over_at=record.failed_over_at,
    )
    return ok


def protection_detail(report: Report) -> dict[str, Any]:
    return {c.name: c.status for c in report.checks if c.name.startswith("protection.")}
