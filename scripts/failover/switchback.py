"""The planned failback: back to the primary region onto the copy ``reprotect`` built, with nothing lost.

``failback`` takes this path when the topology record names a caught-up copy (:mod:`scripts.failover.reprotect`);
without one it keeps its pre-checks and refuses (``--force`` only moves traffic). Steps, journalled with
``scripts.runstate`` (``idp-dr/runbook/failback-<record>/`` or ``--state-dir``/failback); a re-run resumes:

1. ``pre-checks``    read-only: the failover is in effect (sticky path), the copy is available, replicates the
                     failed-over primary and is within the RPO target, the versions match; then ``--yes``.
2. ``stop-writes``   the DR site's IdP and the primary site's (it may run on the stale pre-failover database)
                     scaled to 0: from here no write is accepted anywhere until the switch is done.
3. ``drain``         until CloudWatch reports the copy's ``ReplicaLag`` at 0 after the writes stopped.
4. ``promote``       the copy promoted, standalone and available.
5. ``swap``          the pre-failover primary renamed ``<id>-prefailover-<stamp>`` (kept, tagged) and the copy
                     renamed ``<id>``: the endpoint, every client, the alarms and Pulumi's resource ID stay valid.
6. ``start-primary`` the primary site's IdP scaled back, ready.
7. ``verify``        the primary site: readiness and issuer, or ``verify`` against ``--baseline``. A failure
                     stops here (exit 1): traffic still goes to the DR site.
8. ``cut-back``      the primary's readiness check probes ``healthPath`` again; wait until Route 53 sees it.
9. ``protect``       the original direction: the primary's backups replicate to the DR region again, the
                     failed-over primary's stop replicating back, and the DR replica is rebuilt from the primary
                     (:func:`scripts.lifecycle.replica.rebuild_dr_replica`; the failed-over database is kept).
10. ``standby``      the DR site pointed at the DR replica and scaled back to ``drReplicas``.
11. ``record``       the topology record: the primary is home; the failover incident is closed.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from contract.outputs import StackOutputs
from contract.runbook import RUNBOOK_PREFIX
from scripts.aws import route53 as dns
from scripts.aws.client import Aws, error_code, error_message
from scripts.aws.rds import describe_instance, promote_read_replica, read_instance, rename_and_wait, replica_lag_since
from scripts.errors import CheckFailed, ExternalError, RefusedError
from scripts.failover.incident import IncidentLog
from scripts.failover.probe import ValidationContext, Validator
from scripts.failover.switchback_home import home_standby, restore_protection
from scripts.k8s.site import scale_and_wait
from scripts.lifecycle.protection import Instance
from scripts.lifecycle.record import PrimaryRecord, TopologyRecord, read_record, topology_store, write_record
from scripts.lifecycle.replica import TAG_INCIDENT, TAG_ROLE
from scripts.polling import Clock, Verdict, poll_until
from scripts.progress import Progress
from scripts.report import Report
from scripts.runstate import Journal, write_timeline
from scripts.runstate.store import LocalStore, S3Store, StateStore
from scripts.timeutil import iso, parse_iso

COMMAND = "failback"
STEPS = (
    "stop-writes",
    "drain",
    "promote",
    "swap",
    "start-primary",
    "verify",
    "cut-back",
    "protect",
    "standby",
    "record",
)


def planned(record: TopologyRecord | None) -> bool:
    """Whether failback can switch back without --force: a failover in effect and a copy reprotect built."""
    return record is not None and record.failed_over and record.failback_copy is not None


def journal_store(args: argparse.Namespace, outputs: StackOutputs, aws: Aws, incident_store: StateStore) -> StateStore:
    if args.state_dir is not None:
        return LocalStore(args.state_dir / COMMAND)
    name = incident_store.local_dir.name
    return S3Store(
        aws,
        outputs.archive.drBucket,
        outputs.drRegion,
        f"{RUNBOOK_PREFIX}{COMMAND}-{name}/",
        local_dir=Path(".idp-dr") / COMMAND / name,
    )


class Switchback:
    def __init__(
        self,
        args: argparse.Namespace,
        outputs: StackOutputs,
        report: Report,
        *,
        aws: Aws,
        clock: Clock,
        validator: Validator,
        kube: Any,
        primary_kube: Any,
        incident: IncidentLog,
    ):
        self.args, self.out, self.report, self.aws, self.clock = args, outputs, report, aws, clock
        self.validator, self.kube, self.primary_kube, self.log = validator, kube, primary_kube, incident
        self.progress = Progress(COMMAND, enabled=not args.quiet)
        self.topology = topology_store(outputs, aws)
        self.store = journal_store(args, outputs, aws, incident.store)
        self.journal = Journal.open(self.store, command=COMMAND, subject=outputs.dns.recordName, clock=clock.now)
        self.record: TopologyRecord | None = None
        sb = outputs.standby
        self.deployments = [sb.serverDeployment] + ([sb.workerDeployment] if sb.workerDeployment else [])

    # -- orchestration ------------------------------------------------------------------------------
    def run(self, confirm: Callable[[], None]) -> None:
        """Pre-checks (read-only), ``confirm`` (raises unless --yes), then the steps; the lock is the caller's."""
        with self.report.step("pre-checks") as step:
            step.detail.update(self.pre_checks())
        if self.args.dry_run:
            self.report.result["would_run"] = [s for s in STEPS if not self.journal.done(s)]
            return
        confirm()
        steps: dict[str, Callable[[], dict[str, Any] | None]] = {
            "stop-writes": self.stop_writes,
            "drain": self.drain,
            "promote": self.promote,
            "swap": self.swap,
            "start-primary": self.start_primary,
            "verify": self.verify,
            "cut-back": self.cut_back,
            "protect": self.protect,
            "standby": self.standby,
            "record": self.record_home,
        }
        self.journal.data.setdefault("incident", self.log.incident.incident_id)
        try:
            self.journal.run_all(
                self.report,
                [(name, steps[name]) for name in STEPS],
                done="failed back: the primary region serves and is protected again",
            )
        finally:
            self._timeline()

    # -- 1. pre-checks ------------------------------------------------------------------------------
    def pre_checks(self) -> dict[str, Any]:
        record = read_record(self.topology)
        if not planned(record):
            raise RefusedError("no copy to fail back to: run idp-dr reprotect first")
        assert record is not None and record.failback_copy is not None
        self.record = record
        if not self.journal.done("cut-back"):
            self._sticky()
        if self.journal.done("stop-writes"):  # a resumed switch: the copy may be promoted and renamed already
            self.report.check(
                "failback.copy", True, "resuming a switch under way: the copy was checked before it began"
            )
            return {"resumed": True, **{k: self.journal.pinned.get(k) for k in ("copy", "dr_primary", "stamp")}}
        copy, region = record.failback_copy, record.failback_copy.region
        found, why = read_instance(self.aws, region, copy.instance_id)
        problems: list[str] = []
        if found is None:
            problems.append(f"the copy {copy.instance_id} cannot be read in {region}: {why}")
        elif found.get("DbiResourceId") != copy.resource_id:
            problems.append(
                f"{copy.instance_id} is another instance ({found.get('DbiResourceId')}) than the copy "
                f"reprotect built ({copy.resource_id})"
            )
        else:
            problems += self._copy_problems(Instance.of(found, region), record)
        for problem in problems:
            self.report.check("failback.copy", False, problem)
        if problems:
            raise RefusedError(
                "refusing to fail back: " + "; ".join(problems),
                hint="re-run idp-dr reprotect (it resumes), then failback",
            )
        pinned = self.journal.pinned
        if "stamp" not in pinned:
            started = parse_iso(self.journal.data["started_at"]) or self.clock.now()
            old = describe_instance(self.aws, self.out.primaryRegion, str(self.out.database.primaryInstanceId))
            pinned.update(
                stamp=f"{started:%Y%m%d%H%M%S}",
                old_rid=(old or {}).get("DbiResourceId"),
                copy=copy.instance_id,
                copy_rid=copy.resource_id,
                dr_primary=record.primary.instance_id,
                dr_primary_region=record.primary.region,
            )
        self.report.check(
            "failback.copy",
            True,
            f"{copy.instance_id} in {region} follows {record.primary.instance_id} "
            "within the RPO target: nothing written in DR is left behind",
        )
        return {"copy": copy.instance_id, "dr_primary": record.primary.instance_id, "stamp": pinned["stamp"]}

    def _sticky(self) -> None:
        d = self.out.dns
        path = dns.current_path(self.aws, d.primaryHealthCheckId)
        if path != d.failedOverPath:
            raise RefusedError(
                f"the topology record says a failover is in effect, but health check {d.primaryHealthCheckId} probes "
                f"{path!r}, not failedOverPath {d.failedOverPath!r}: someone changed it",
                hint="inspect the check in Route 53 and where traffic goes before failing back",
            )
        self.report.check("failback.sticky", True, f"failover in effect: {d.primaryHealthCheckId} probes {path}")

    def _copy_problems(self, copy: Instance, record: TopologyRecord) -> list[str]:
        if copy.status != "available":
            return [f"the copy {copy.identifier} is {copy.status}"]
        if not copy.source or _name(copy.source) != record.primary.instance_id:
            return [
                f"the copy {copy.identifier} does not replicate the failed-over primary "
                f"{record.primary.instance_id} (its source: {copy.source or 'none'})"
            ]
        lag = replica_lag_since(self.aws, copy.region, copy.identifier, None, self.clock)
        if lag is None or lag > self.out.rpo_target_s:
            shown = "not published" if lag is None else f"{lag:.0f} s"
            return [f"the copy {copy.identifier}'s ReplicaLag is {shown} (at most {self.out.rpo_target_s} s wanted)"]
        return []

    # -- 2. to 6. -----------------------------------------------------------------------------------
    def stop_writes(self) -> dict[str, Any]:
        ns = self.out.standby.namespace
        dr = scale_and_wait(
            self.kube,
            ns,
            self.deployments,
            0,
            timeout=self.args.k8s_timeout,
            clock=self.clock,
            on_update=self.progress.update,
        )
        primary = scale_and_wait(
            self.primary_kube,
            ns,
            self.deployments,
            0,
            timeout=self.args.k8s_timeout,
            clock=self.clock,
            on_update=self.progress.update,
        )
        self.journal.pinned["writes_stopped_at"] = iso(self.clock.now())
        return {"dr_site": dr, "primary_site": primary}

    def drain(self) -> dict[str, Any]:
        pinned, region = self.journal.pinned, self.out.primaryRegion
        since = parse_iso(pinned["writes_stopped_at"])

        def judge(lag: float | None) -> Verdict[Any]:
            shown = "not published since the writes stopped" if lag is None else f"{lag:.0f} s"
            return Verdict("done" if lag == 0 else "wait", f"{pinned['copy']}: ReplicaLag {shown}", lag)

        lag, _ = poll_until(
            lambda: replica_lag_since(self.aws, region, pinned["copy"], since, self.clock),
            judge,
            interval=self.args.poll_interval,
            timeout=self.args.drain_timeout,
            clock=self.clock,
            what=f"{pinned['copy']} to catch up with the stopped DR primary",
            on_update=self.progress.update,
            timeout_hint="no write is accepted meanwhile (both sites are at 0): re-run to keep waiting, or scale "
            "the DR site back up to serve while you find out why the copy lags",
        )
        return {"replica_lag_s": lag}

    def promote(self) -> dict[str, Any]:
        name, region = self.journal.pinned["copy"], self.out.primaryRegion

        def judge(found: dict[str, Any] | None) -> Verdict[Any]:
            status = (found or {}).get("DBInstanceStatus")
            if found and found.get("ReadReplicaSourceDBInstanceIdentifier") and status == "available":
                try:
                    promote_read_replica(self.aws, region, found)
                except ClientError as exc:
                    return Verdict("wait", f"{name}: promotion not accepted yet ({error_code(exc)})", found)
                return Verdict("wait", f"{name}: promotion requested", found)
            done = (
                found is not None and status == "available" and not found.get("ReadReplicaSourceDBInstanceIdentifier")
            )
            return Verdict("done" if done else "wait", f"{name}: {status}", found)

        poll_until(
            lambda: describe_instance(self.aws, region, name),
            judge,
            interval=self.args.poll_interval,
            timeout=self.args.timeout * 60.0,
            clock=self.clock,
            what=f"the promotion of {name}",
            on_update=self.progress.update,
            timeout_hint="the promotion continues in AWS; re-run to resume",
        )
        return {"promoted": name}

    def swap(self) -> dict[str, Any]:
        pinned, original = self.journal.pinned, str(self.out.database.primaryInstanceId)
        kept = f"{original[: 63 - len('-prefailover-') - 14]}-prefailover-{pinned['stamp']}"
        if pinned.get("old_rid"):
            self._rename(pinned["old_rid"], original, kept)
            found = describe_instance(self.aws, self.out.primaryRegion, kept) or {}
            tags = [
                {"Key": TAG_INCIDENT, "Value": str(self.journal.data.get("incident"))},
                {"Key": TAG_ROLE, "Value": "prefailover"},
            ]
            self.aws.call(
                self.aws.client("rds", self.out.primaryRegion),
                "AddTagsToResource",
                ResourceName=found["DBInstanceArn"],
                Tags=tags,
            )
        self._rename(pinned["copy_rid"], pinned["copy"], original)
        pinned["prefailover"] = kept if pinned.get("old_rid") else None
        return {"serving": original, "kept": pinned["prefailover"]}

    def _rename(self, rid: str, old: str, new: str) -> None:
        rds = self.aws.client("rds", self.out.primaryRegion)

        def call(old: str, new: str) -> None:
            try:
                self.aws.call(
                    rds,
                    "ModifyDBInstance",
                    DBInstanceIdentifier=old,
                    NewDBInstanceIdentifier=new,
                    ApplyImmediately=True,
                )
            except ClientError as exc:
                raise ExternalError(
                    f"the rename of {old} to {new} failed: {error_code(exc)}: {error_message(exc)}",
                    hint="no IdP runs meanwhile; fix the cause and re-run to resume",
                ) from None

        rename_and_wait(
            self.aws,
            self.out.primaryRegion,
            rid,
            old,
            new,
            call_rename=call,
            clock=self.clock,
            interval=self.args.poll_interval,
            timeout=self.args.timeout * 60.0,
            on_update=self.progress.update,
        )

    def start_primary(self) -> dict[str, Any]:
        return scale_and_wait(
            self.primary_kube,
            self.out.standby.namespace,
            self.deployments,
            self.out.standby.primaryReplicas,
            timeout=self.args.k8s_timeout,
            clock=self.clock,
            on_update=self.progress.update,
        )

    # -- 7. to 11. ----------------------------------------------------------------------------------
    def verify(self) -> dict[str, Any]:
        ctx = ValidationContext.of_site(
            self.out,
            "primary",
            scheme=self.args.probe_scheme,
            timeout_s=self.args.validate_timeout,
            interval_s=min(self.args.poll_interval, 5.0),
            clock=self.clock,
            on_update=self.progress.update,
        )
        checks = self.validator(ctx)
        for c in checks:
            self.report.check(f"verify.{c.name}", c.ok, c.message, **c.evidence)
        failed = [c for c in checks if c.ok is False]
        if failed:
            raise CheckFailed(
                "the primary site fails its checks, traffic was NOT cut back: "
                + "; ".join(f"{c.name}: {c.message}" for c in failed),
                hint="traffic still goes to the DR site, whose IdP is stopped: fix the primary and re-run (it "
                "resumes at verify), or scale the DR site back up meanwhile",
            )
        return {"checks": [c.name for c in checks]}

    def cut_back(self) -> dict[str, Any]:
        d = self.out.dns
        changed = dns.set_path(self.aws, d.primaryHealthCheckId, d.healthPath)
        # Traffic may return from here; the incident is closed (failed_back_at) by the last step, so that a resumed
        # run finds it open.
        self.log.incident.failback = {
            "started_at": self.journal.data["started_at"],
            "result": "path-restored",
            "overridden": [],
            "reason": None,
            "planned": True,
        }
        self.log.save()
        detail: dict[str, Any] = {
            "health_check": d.primaryHealthCheckId,
            "resource_path": d.healthPath,
            "changed": changed,
        }
        if self.args.dns_wait > 0:
            final = dns.wait_primary_health(
                self.aws,
                d.primaryRecordHealthCheckId,
                healthy=True,
                timeout=self.args.dns_wait,
                clock=self.clock,
                on_update=self.progress.update,
                timeout_hint="the path is restored: Route 53 has not marked the primary healthy yet; re-run to "
                "keep waiting (it resumes here)",
            )
            self.report.check("failback.route53", True, f"Route 53 reports the primary healthy: {final.detail}")
            detail["route53"] = final.to_dict()
        return detail

    def protect(self) -> dict[str, Any]:
        detail, notes = restore_protection(
            self.aws,
            self.out,
            self.journal.pinned,
            incident=str(self.journal.data.get("incident")),
            clock=self.clock,
            interval=self.args.poll_interval,
            timeout=self.args.timeout * 60.0,
            on_update=self.progress.update,
            save=self.journal.save,
        )
        self.report.notes += notes
        return detail

    def standby(self) -> dict[str, Any]:
        return home_standby(
            self.aws,
            self.out,
            self.kube,
            timeout=self.args.k8s_timeout,
            clock=self.clock,
            register_secret=self.report.register_secret,
            on_update=self.progress.update,
        )

    def record_home(self) -> dict[str, Any]:
        serving = describe_instance(self.aws, self.out.primaryRegion, str(self.out.database.primaryInstanceId)) or {}
        record = read_record(self.topology) or self.record
        assert record is not None
        record.primary = PrimaryRecord(
            self.out.primaryRegion, str(serving.get("DBInstanceIdentifier")), str(serving.get("DbiResourceId"))
        )
        now = iso(self.clock.now())
        record.failed_over_at, record.reprotected_at, record.failback_copy = None, None, None
        record.changed(
            str(now),
            COMMAND,
            f"{record.primary.instance_id} ({record.primary.resource_id}) in "
            f"{self.out.primaryRegion} is the primary again; the DR replica follows it",
        )
        write_record(self.topology, record)
        incident = self.log.incident
        incident.failed_back_at = now
        incident.failback = {**(incident.failback or {"started_at": self.journal.data["started_at"], "planned": True})}
        incident.failback.update(ended_at=now, result="completed")
        self.log.close("failback")
        return {"topology_record": self.topology.location}

    def _timeline(self) -> None:
        pinned = self.journal.pinned
        json_path, md_path = write_timeline(
            self.journal,
            self.store.local_dir,
            title=f"failback of {self.out.dns.recordName}",
            facts=[
                f"Copy promoted: {pinned.get('copy')} -> {self.out.database.primaryInstanceId}",
                f"Pre-failover primary kept as {pinned.get('prefailover')}",
                f"Writes stopped at {pinned.get('writes_stopped_at')}",
            ],
            impact=["No write was accepted between stop-writes and start-primary (a planned, short outage)"],
            actions=["delete the kept instances once their forensics are done (see the report's notes)"],
        )
        self.report.result["timeline"] = {"json": str(json_path), "postmortem": str(md_path)}


def _name(arn_or_id: str) -> str:
    return arn_or_id.rsplit(":", 1)[-1]
