"""Failover step 3, the database: promote the DR read replica or restore the replicated backups.

A mixin of :class:`scripts.failover.failover.Failover`: each strategy (promote, restore; self-managed
will be a third) is a method that returns the step's detail.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError

from contract.restore import DrRestoreRequest
from scripts.aws.client import error_code, error_message
from scripts.aws.rds import describe_instance, promote_read_replica, read_instance
from scripts.errors import DrError, ExternalError, InputError, RefusedError
from scripts.failover.incident import FailoverDatabase
from scripts.lifecycle.protection import dr_restore_source
from scripts.lifecycle.record import PrimaryRecord, TopologyRecord, read_record, topology_store, write_record
from scripts.polling import Verdict, poll_until
from scripts.report import Report
from scripts.restore.rds.execute import restore_rds
from scripts.restore.rds.plan import plan_restore
from scripts.restore.rds.request import RestoreSpec
from scripts.timeutil import iso


class DatabaseSteps:
    """Steps of a :class:`~scripts.failover.failover.Failover` (uses its options, outputs and adapters)."""

    def preflight_database(self, detail: dict[str, Any]) -> None:
        """The DR database the chosen mode needs exists (replica) or can be restored (backups)."""
        out = self.out
        if self.o.mode == "promote":
            if not out.database.drReplicaInstanceId:
                raise InputError(
                    "--mode",
                    "promote",
                    "restore: the stack has no DR read replica (database.drReplicaInstanceId is empty)",
                    hint="use --mode restore",
                )
            replica = self._describe_dr(out.database.drReplicaInstanceId)
            if replica is None:
                raise RefusedError(
                    f"the DR read replica {out.database.drReplicaInstanceId} does not exist in {out.drRegion}",
                    hint="use --mode restore to restore from replicated backups",
                )
            detail["replica"] = {
                "id": replica["DBInstanceIdentifier"],
                "status": replica.get("DBInstanceStatus"),
                "replicating_from": replica.get("ReadReplicaSourceDBInstanceIdentifier"),
            }
            if replica.get("ReadReplicaSourceDBInstanceIdentifier"):
                lag = self._replica_lag(out.database.drReplicaInstanceId)
                self._would_accept(_lag_text(lag), lag=lag)
        else:
            if not out.database.replicatedBackupsArn:
                raise InputError(
                    "--mode",
                    "restore",
                    "promote: the stack has no replicated backups (database.replicatedBackupsArn is empty)",
                )
            if not self.log.done("database"):
                self._resolve_dr_source()
                try:
                    plan = plan_restore(
                        self._restore_spec(),
                        Report("preflight"),
                        aws=self.aws,
                        clock=self.clock,
                        simulate_permissions=False,
                    )
                except InputError as exc:
                    # The values come from the stack outputs, not from flags: say so.
                    raise RefusedError(
                        f"cannot restore from the stack's replicated backups: {exc.message}",
                        hint=exc.hint or "check database.* in the stack outputs",
                    ) from None
                detail["restore"] = {
                    "target": plan.target,
                    "window": plan.window.to_dict(),
                    "resume": plan.resume,
                    "source": self.incident.dr_source,
                }
                self._check_declared_in(plan.window.earliest)
                latest = plan.window.latest
                if latest is not None:
                    age = max((self.clock.now() - latest).total_seconds(), 0.0)
                    self._would_accept(f"writes after {iso(latest)} ({age:.0f} s before now)", restored_to=iso(latest))

    def _resolve_dr_source(self) -> None:
        """The serving primary's replicated backups, resolved live (never the stack outputs' ARN when it belongs
        to an instance that is no longer the primary), pinned in the incident so a resumed run restores the same."""
        if self.incident.dr_source:
            return
        source = dr_restore_source(self.aws, self.out, read_record(topology_store(self.out, self.aws)))
        self.report.notes += source.notes
        self.incident.dr_source = source.to_dict()

    def _check_declared_in(self, earliest: Any) -> None:
        declared = self.o.declared_at
        if declared is not None and earliest is not None and declared < earliest:
            raise InputError(
                "--declared-at",
                iso(declared),
                f"a time within the replicated backups' restore window (from {iso(earliest)})",
                hint="the incident cannot have begun before the oldest point the backups hold",
            )

    def _would_accept(self, what: str, **evidence: Any) -> None:
        """The data loss this failover would accept, shown by a dry run and kept in the incident."""
        self.incident.would_accept = {"loses": what, **evidence}
        self.report.check("preflight.rpo", None, f"a failover now loses {what}", **evidence)

    def _primary_db_status(self) -> dict[str, Any]:
        db = self.out.database
        inst, text = read_instance(self.primary_aws, self.out.primaryRegion, str(db.primaryInstanceId))
        if inst is None:
            return {
                "message": f"primary DB {db.primaryInstanceId} not readable in {self.out.primaryRegion}: {text}",
                "reachable": False,
            }
        status = inst.get("DBInstanceStatus")
        return {
            "message": f"primary DB {db.primaryInstanceId} status {status} (RDS API view; not a connection test)",
            "reachable": True,
            "status": status,
        }

    # -- 3. database -----------------------------------------------------------------------
    def _describe_dr(self, identifier: str) -> dict[str, Any] | None:
        return describe_instance(self.aws, self.out.drRegion, identifier)

    def _restore_spec(self) -> RestoreSpec:
        request = DrRestoreRequest.from_outputs(self.out.database, self.out.drRegion)
        pinned = self.incident.dr_source or {}
        return RestoreSpec(
            source=pinned.get("source") or request.source,
            target=request.target,
            restore_time=None,
            region=request.region,
            replicated_backups_arn=pinned.get("backups_arn") or request.replicated_backups_arn,
            poll_interval=self.o.poll_interval,
            timeout_s=self.o.timeout_s,
            db_subnet_group=request.db_subnet_group,
            security_group_ids=list(request.security_group_ids),
            db_parameter_group=request.db_parameter_group,
            master_secret_kms_key=request.master_secret_kms_key,
            read_source_region=False,
            extra_tags={"idp-dr-incident": self.incident.incident_id},
        )

    def database(self) -> dict[str, Any]:
        if self.o.mode == "restore":
            outcome = restore_rds(
                self._restore_spec(),
                self.report,
                aws=self.aws,
                clock=self.clock,
                progress=self.progress,
                step_prefix="database.",
                simulate_permissions=False,
            )
            instance = outcome.instance or {}
            rpo = (self.report.result.get("restore") or {}).get("rpo")
        else:
            instance, rpo = self._promote()
        endpoint = instance.get("Endpoint") or {}
        if not endpoint.get("Address"):
            raise ExternalError(f"{instance.get('DBInstanceIdentifier')} is available but reports no endpoint")
        self.incident.db = FailoverDatabase(
            instance_id=str(instance.get("DBInstanceIdentifier")),
            arn=str(instance.get("DBInstanceArn")),
            host=str(endpoint["Address"]),
            port=int(endpoint.get("Port") or self.out.database.port),
            dbname=self.out.database.dbName,
            region=self.out.drRegion,
            engine_version=instance.get("EngineVersion"),
        )
        self.incident.rpo = rpo
        self._record_failed_over(instance)
        db_state = asdict(self.incident.db)
        self.report.result["database"] = db_state
        self.report.result["rpo"] = rpo
        return {"db": db_state, "rpo": rpo}

    def _record_failed_over(self, instance: dict[str, Any]) -> None:
        """The primary is in the DR region from now on: the record every later command reads."""
        store = topology_store(self.out, self.aws)
        record = read_record(store) or TopologyRecord(PrimaryRecord("", "", ""))
        record.primary = PrimaryRecord(
            self.out.drRegion, str(instance.get("DBInstanceIdentifier")), str(instance.get("DbiResourceId"))
        )
        record.failed_over_at = iso(self.clock.now())
        record.reprotected_at, record.failback_copy = None, None
        what = f"{record.primary.instance_id} in {self.out.drRegion} is the primary ({self.o.mode})"
        record.changed(record.failed_over_at, "failover", f"{self.incident.incident_id}: {what}")
        write_record(store, record)

    def _promote(self) -> tuple[dict[str, Any], dict[str, Any]]:
        replica_id = self.out.database.drReplicaInstanceId or ""
        current = self._describe_dr(replica_id)
        if current is None:
            raise ExternalError(f"the DR replica {replica_id} disappeared", hint="re-run with --mode restore")
        rpo = (
            self._replica_lag(replica_id)
            if current.get("ReadReplicaSourceDBInstanceIdentifier")
            else (self.incident.rpo or {"note": "promoted in an earlier run"})
        )
        if current.get("ReadReplicaSourceDBInstanceIdentifier") and current.get("DBInstanceStatus") == "available":
            try:
                promote_read_replica(self.aws, self.out.drRegion, {**current, "DBInstanceIdentifier": replica_id})
            except ClientError as exc:
                raise ExternalError(
                    f"PromoteReadReplica {replica_id}: {error_code(exc)}: {error_message(exc)}",
                    hint="a replica cannot be promoted while it is backing-up or modifying; "
                    "re-run in a few minutes (the failover resumes here)",
                ) from None
            self.progress.update(f"promotion of {replica_id} requested")
        elif current.get("ReadReplicaSourceDBInstanceIdentifier"):
            self.progress.update(f"{replica_id} is {current.get('DBInstanceStatus')}: waiting before promoting")

        def fetch() -> dict[str, Any]:
            return self._describe_dr(replica_id) or {}

        def judge(inst: dict[str, Any]) -> Verdict[dict[str, Any]]:
            status = inst.get("DBInstanceStatus")
            still_replica = inst.get("ReadReplicaSourceDBInstanceIdentifier")
            msg = f"{replica_id}: {status}" + (" (still a replica)" if still_replica else "")
            if status in ("failed", "incompatible-parameters", "storage-full", "deleting", None):
                return Verdict("failed", msg, inst)
            if status == "available" and not still_replica:
                return Verdict("done", msg, inst)
            if status == "available" and still_replica:
                # Not promoted yet (a previous run's call may not have been made): try again.
                with contextlib.suppress(ClientError):
                    promote_read_replica(self.aws, self.out.drRegion, {**inst, "DBInstanceIdentifier": replica_id})
            return Verdict("wait", msg, inst)

        instance, _polls = poll_until(
            fetch,
            judge,
            interval=self.o.poll_interval,
            timeout=self.o.timeout_s,
            clock=self.clock,
            what=f"promotion of {replica_id}",
            on_update=self.progress.update,
            on_failed=lambda v: ExternalError(f"promotion of {replica_id} failed: {v.message}"),
            timeout_hint="the promotion continues in AWS; re-run the same failover command to resume",
        )
        return instance, rpo

    def _replica_lag(self, replica_id: str) -> dict[str, Any]:
        """Best-effort RPO for a promotion: the replica's lag just before promoting (CloudWatch)."""
        cw = self.aws.client("cloudwatch", self.out.drRegion)
        now = self.clock.now()
        try:
            points = self.aws.call(
                cw,
                "GetMetricStatistics",
                Namespace="AWS/RDS",
                MetricName="ReplicaLag",
                Dimensions=[{"Name": "DBInstanceIdentifier", "Value": replica_id}],
                StartTime=now - timedelta(minutes=10),
                EndTime=now,
                Period=60,
                Statistics=["Maximum"],
            ).get("Datapoints", [])
        except (ClientError, DrError) as exc:
            return {"replica_lag_s": None, "note": f"ReplicaLag unavailable: {getattr(exc, 'message', exc)}"}
        if not points:
            return {"replica_lag_s": None, "note": "no ReplicaLag datapoints in the last 10 minutes"}
        last = max(points, key=lambda p: p["Timestamp"])
        return {
            "replica_lag_s": last.get("Maximum"),
            "at": iso(last["Timestamp"]),
            "note": "writes within this lag before the primary failed may be lost",
        }


def _lag_text(lag: dict[str, Any]) -> str:
    seconds = lag.get("replica_lag_s")
    return f"{seconds:.0f} s of writes (ReplicaLag at {lag.get('at')})" if seconds is not None else str(lag.get("note"))
