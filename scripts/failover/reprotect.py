"""``idp-dr reprotect``: after a failover, a primary-region copy of the DR primary, caught up, for a planned failback.

    idp-dr reprotect --stack-outputs ssm://... [--dry-run] --yes

The copy is a **cross-region read replica** of the failed-over primary, created in the primary region with the
pre-failover primary's settings (network, parameter group, key, class). A replica, not a restore of the DR
primary's replicated backups: it follows every write until the failback stops them, so the switch back loses
nothing and waits only for a lag of zero; a restore would stop at the newest restorable point (minutes behind)
and need a second catch-up. Steps (journalled with ``scripts.runstate``; a re-run resumes):

1. ``preflight``  read-only: a failover is in effect (the topology record), the failed-over primary is available
                  and standalone, the primary region answers and still holds the pre-failover primary (its
                  settings are the copy's); then ``--yes`` is required.
2. ``backups``    the failed-over primary's automated backups replicate to the primary region (PITR there
                  meanwhile; failover's last step tries the same and is often deferred while the region is down).
3. ``copy``       ``CreateDBInstanceReadReplica <primary>-failback-<stamp>`` in the primary region, tagged with
                  the incident; the pre-failover primary is not touched (failback keeps it, renamed).
4. ``catch-up``   until the copy is available, replicating the failed-over primary, with ``ReplicaLag`` at most
                  the stack's RPO target.
5. ``record``     the topology record names the copy and the time: ``failback`` switches to it without
                  ``--force``, and ``check dr-paths`` stops alarming on a failover left unprotected.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from contract.outputs import StackOutputs
from contract.runbook import RUNBOOK_PREFIX
from scripts.aws.client import Aws, error_code, error_message
from scripts.aws.rds import describe_instance, read_instance, replica_lag_since
from scripts.cliutil import DefaultsHelpFormatter, duration, duration_help
from scripts.errors import DrError, ExternalError, InputError, RefusedError
from scripts.failover.incident import default_state_dir
from scripts.lifecycle.protection import Instance
from scripts.lifecycle.record import PrimaryRecord, TopologyRecord, read_record, topology_store, write_record
from scripts.lifecycle.replica import TAG_INCIDENT, TAG_ROLE
from scripts.polling import Clock, Verdict, check_poll_interval, poll_until
from scripts.progress import Progress
from scripts.report import Report
from scripts.runstate import Journal, write_timeline
from scripts.runstate.store import Holder, LocalStore, S3Store, StateStore
from scripts.stack_outputs import load_stack_outputs
from scripts.timeutil import iso, parse_iso

COMMAND = "reprotect"
STEPS = ("backups", "copy", "catch-up", "record")
#: The copy's settings taken from the pre-failover primary (CreateDBInstanceReadReplica names).
_COPIED = (
    "DBInstanceClass",
    "StorageType",
    "MultiAZ",
    "PubliclyAccessible",
    "CopyTagsToSnapshot",
    "AutoMinorVersionUpgrade",
    "DeletionProtection",
)


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "reprotect",
        parents=[common],
        formatter_class=DefaultsHelpFormatter,
        help="after a failover: build a caught-up copy of the DR primary in the primary region (for failback)",
        description="Once the primary region is back after a failover: replicate the failed-over primary's backups "
        "there, create a cross-region read replica of it there with the pre-failover primary's settings, wait "
        "until it has caught up, and record it for failback. Resumable. Exit codes: 0 done, 2 bad input, 3 "
        "refused (no failover in effect, the primary region down, no --yes), 4 timed out (re-run resumes), "
        "5 AWS failure, 130 interrupted.",
    )
    p.add_argument("--stack-outputs", required=True, metavar="FILE|ssm://REGION/PARAM", help="the stack's outputs")
    p.add_argument("--yes", action="store_true", help="create the copy (nothing in production is changed or removed)")
    p.add_argument("--dry-run", action="store_true", help="the preflight and every call it would make; no change")
    p.add_argument("--state-dir", type=Path, metavar="DIR", help="keep the journal locally (default: the DR bucket)")
    p.add_argument("--force", action="store_true", help="take over the lock of a dead run (needs --reason)")
    p.add_argument("--reason", help="why --force (recorded)")
    p.add_argument(
        "--timeout",
        type=duration("m"),
        default=240.0,
        metavar="DURATION",
        help=duration_help("longest wait for the copy to be created and catch up, 1 to 1440 minutes", "m"),
    )
    p.add_argument("--poll-interval", type=duration("s"), default=30.0, metavar="DURATION", help="between polls")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, report: Report, *, aws: Aws | None = None, clock: Clock | None = None) -> None:
    if args.force and not (args.reason or "").strip():
        raise InputError("--reason", args.reason, "a non-empty explanation when --force takes over a lock")
    if not 1 <= args.timeout <= 24 * 60:
        raise InputError("--timeout", args.timeout, "minutes from 1 to 1440")
    interval = check_poll_interval("--poll-interval", args.poll_interval)
    outputs = load_stack_outputs(args.stack_outputs)
    if outputs.database.mode != "rds":
        raise InputError("--stack-outputs", args.stack_outputs, "a stack with database.mode 'rds'")
    aws = aws or Aws()
    if args.dry_run:
        aws.forbid_mutations("--dry-run")
    Reprotect(args, outputs, report, aws=aws, clock=clock or Clock(), interval=interval).run()


def open_store(state_dir: Path | None, outputs: StackOutputs, aws: Aws) -> StateStore:
    if state_dir is not None:
        return LocalStore(state_dir)
    name = default_state_dir(outputs).name
    local = Path(".idp-dr") / COMMAND / name
    return S3Store(
        aws, outputs.archive.drBucket, outputs.drRegion, f"{RUNBOOK_PREFIX}{COMMAND}-{name}/", local_dir=local
    )


class Reprotect:
    def __init__(
        self,
        args: argparse.Namespace,
        outputs: StackOutputs,
        report: Report,
        *,
        aws: Aws,
        clock: Clock,
        interval: float,
    ):
        self.args, self.out, self.report, self.aws, self.clock, self.interval = (
            args,
            outputs,
            report,
            aws,
            clock,
            interval,
        )
        self.progress = Progress(COMMAND, enabled=not args.quiet)
        # Calls into the primary region, which may still be down: few retries, short timeouts.
        self.primary_aws = Aws(aws.session, sleep=aws.sleep, max_attempts=2, connect_timeout=3, read_timeout=10)
        self.store = open_store(args.state_dir, outputs, aws)
        self.topology = topology_store(outputs, aws)
        self.journal = Journal.open(self.store, command=COMMAND, subject=outputs.dns.recordName, clock=clock.now)
        self.record: TopologyRecord | None = None
        self.dr_primary: Instance | None = None
        self.old_primary: dict[str, Any] = {}

    # -- orchestration ---------------------------------------------------------------------------
    def run(self) -> None:
        hold = not self.args.dry_run
        if hold:
            me = Holder.me(COMMAND, iso(self.clock.now()))
            takeover = self.store.acquire(me, force=self.args.force, reason=self.args.reason)
            if takeover:
                self.journal.data.setdefault("lock_takeovers", []).append(takeover)
        try:
            with self.report.step("preflight") as step:
                step.detail.update(self.preflight())
            if self.args.dry_run:
                self._plan()
                return
            if not self.args.yes:
                raise RefusedError(
                    f"reprotect creates {self.journal.pinned['copy']} in {self.out.primaryRegion}, a read replica of "
                    f"the failed-over primary {self.dr_primary.identifier if self.dr_primary else '?'}",
                    hint="re-run with --yes (--dry-run lists every call it would make)",
                )
            self._run_steps()
        finally:
            if hold:
                self.store.release()

    def _run_steps(self) -> None:
        steps = {"backups": self.backups, "copy": self.copy, "catch-up": self.catch_up, "record": self.record_copy}
        try:
            self.journal.run_all(
                self.report,
                [(name, steps[name]) for name in STEPS],
                done="reprotected: a caught-up copy waits in the primary region",
            )
        finally:
            self._timeline()
        self.report.result["next"] = [
            f"idp-dr failback --stack-outputs <outputs> --yes: stops writes in {self.out.drRegion}, waits for a lag "
            f"of zero, promotes {self.journal.pinned['copy']} and makes it {self.out.database.primaryInstanceId} again"
        ]

    # -- 1. preflight --------------------------------------------------------------------------------
    def preflight(self) -> dict[str, Any]:
        record = read_record(self.topology)
        if record is None or not record.failed_over:
            where = f"{record.primary.instance_id} in {record.primary.region}" if record else "the stack's own"
            raise RefusedError(
                f"no failover is in effect (the primary is {where}): there is nothing to reprotect",
                hint="reprotect follows a failover: idp-dr failover, then reprotect, then failback",
            )
        self.record = record
        self.dr_primary = self._dr_primary(record)
        self.old_primary = self._old_primary()
        pinned = self.journal.pinned
        if "copy" not in pinned:
            started = parse_iso(self.journal.data["started_at"]) or self.clock.now()
            base = str(self.out.database.primaryInstanceId)[: 63 - len("-failback-") - 14]
            pinned.update(copy=f"{base}-failback-{started:%Y%m%d%H%M%S}", incident=_incident(record))
        self.report.result.update(
            copy=pinned["copy"], method="cross-region read replica", source=self.dr_primary.describe()
        )
        self.report.notes.append(
            "method: a cross-region read replica of the failed-over primary (it follows every write until failback "
            "stops them, so the switch loses nothing; a restore of replicated backups would stop minutes behind)"
        )
        return {
            "failed_over_at": record.failed_over_at,
            "dr_primary": self.dr_primary.describe(),
            "pre_failover_primary": self.old_primary.get("DBInstanceIdentifier"),
            "copy": pinned["copy"],
        }

    def _dr_primary(self, record: TopologyRecord) -> Instance:
        found, why = read_instance(self.aws, record.primary.region, record.primary.instance_id)
        if found is None:
            raise RefusedError(
                f"the failed-over primary {record.primary.instance_id} cannot be read in {record.primary.region}: {why}"
            )
        primary = Instance.of(found, record.primary.region)
        if primary.resource_id != record.primary.resource_id:
            raise RefusedError(
                f"{primary.identifier} in {primary.region} is another instance ({primary.resource_id}) than the "
                f"topology record's primary ({record.primary.resource_id})",
                hint="find out what replaced it before copying anything",
            )
        if primary.status != "available" or primary.source:
            raise RefusedError(
                f"the failed-over primary {primary.describe()} is {primary.status}"
                + (f" and still a replica of {primary.source}" if primary.source else ""),
                hint="wait until it is available and standalone, then re-run",
            )
        return primary

    def _old_primary(self) -> dict[str, Any]:
        region, name = self.out.primaryRegion, str(self.out.database.primaryInstanceId)
        try:
            found = describe_instance(self.primary_aws, region, name)
        except DrError as exc:
            raise RefusedError(
                f"the primary region {region} does not answer ({exc.message}): reprotect builds the copy there",
                hint="run it once the region is back (the DR site keeps serving meanwhile)",
            ) from None
        if found is None:
            raise RefusedError(
                f"the pre-failover primary {name} is not in {region}: its network, parameter group and key are what "
                "the copy is created with",
                hint="rebuild the primary region's resources with 'pulumi up' (the database itself is protected and "
                "is not recreated while it exists), then re-run",
            )
        return found

    # -- 2. to 5. ------------------------------------------------------------------------------------------
    def backups(self) -> dict[str, Any]:
        assert self.dr_primary is not None
        rds = self.aws.client("rds", self.out.primaryRegion)
        try:
            self.aws.call(
                rds,
                "StartDBInstanceAutomatedBackupsReplication",
                SourceDBInstanceArn=self.dr_primary.arn,
                KmsKeyId=self.old_primary.get("KmsKeyId"),
                SourceRegion=self.dr_primary.region,
                BackupRetentionPeriod=int(self.old_primary.get("BackupRetentionPeriod") or 7),
            )
        except ClientError as exc:
            if error_code(exc) != "DBInstanceAutomatedBackupQuotaExceeded" and "already" not in str(exc).lower():
                raise ExternalError(
                    f"replicating {self.dr_primary.identifier}'s backups to {self.out.primaryRegion}: "
                    f"{error_code(exc)}: {error_message(exc)}"
                ) from None
            return {"to": self.out.primaryRegion, "note": "already replicating"}
        return {"to": self.out.primaryRegion, "source": self.dr_primary.arn}

    def copy(self) -> dict[str, Any]:
        assert self.dr_primary is not None
        name, old, region = self.journal.pinned["copy"], self.old_primary, self.out.primaryRegion
        existing = describe_instance(self.aws, region, name)
        if existing is not None:
            return {"copy": name, "note": f"already created ({existing.get('DBInstanceStatus')})"}
        params: dict[str, Any] = {
            "DBInstanceIdentifier": name,
            "SourceDBInstanceIdentifier": self.dr_primary.arn,
            "SourceRegion": self.dr_primary.region,
            "KmsKeyId": old.get("KmsKeyId"),
            "DBSubnetGroupName": (old.get("DBSubnetGroup") or {}).get("DBSubnetGroupName"),
            "VpcSecurityGroupIds": [g["VpcSecurityGroupId"] for g in old.get("VpcSecurityGroups", [])],
            "DBParameterGroupName": (old.get("DBParameterGroups") or [{}])[0].get("DBParameterGroupName"),
            "Tags": [t for t in old.get("TagList", []) if t["Key"] not in (TAG_INCIDENT, TAG_ROLE)]
            + [
                {"Key": TAG_INCIDENT, "Value": self.journal.pinned["incident"]},
                {"Key": TAG_ROLE, "Value": "failback-copy"},
            ],
            **{key: old[key] for key in _COPIED if key in old},
        }
        try:
            self.aws.call(
                self.aws.client("rds", region),
                "CreateDBInstanceReadReplica",
                **{k: v for k, v in params.items() if v is not None},
            )
        except ClientError as exc:
            raise ExternalError(
                f"creating {name} in {region}: {error_code(exc)}: {error_message(exc)}",
                hint="fix the cause and re-run (it resumes here)",
            ) from None
        return {"copy": name, "source": self.dr_primary.arn, "region": region}

    def catch_up(self) -> dict[str, Any]:
        assert self.dr_primary is not None
        name, region, source_rid = self.journal.pinned["copy"], self.out.primaryRegion, self.dr_primary.resource_id
        target = self.out.rpo_target_s

        def judge(found: dict[str, Any] | None) -> Verdict[Any]:
            if found is None:
                return Verdict("wait", f"{name} does not resolve yet", found)
            status = found.get("DBInstanceStatus")
            if status in ("failed", "incompatible-parameters", "storage-full", "deleting"):
                return Verdict("failed", f"{name} is {status}", found)
            if status != "available":
                return Verdict("wait", f"{name} is {status}", found)
            lag = replica_lag_since(self.aws, region, name, None, self.clock)
            if lag is None or lag > target:
                return Verdict("wait", f"{name} available, ReplicaLag {_lag(lag)} (at most {target} s wanted)", found)
            return Verdict("done", f"{name} available, ReplicaLag {lag:.0f} s", found)

        found, _ = poll_until(
            lambda: describe_instance(self.aws, region, name),
            judge,
            interval=self.interval,
            timeout=self.args.timeout * 60.0,
            clock=self.clock,
            what=f"the copy {name} catching up",
            on_update=self.progress.update,
            on_failed=lambda v: ExternalError(v.message),
            timeout_hint="a new replica copies the whole database first; re-run to keep waiting (it resumes here)",
        )
        self.journal.pinned["copy_rid"] = found.get("DbiResourceId")
        source = found.get("ReadReplicaSourceDBInstanceIdentifier") or ""
        self.report.check(
            "reprotect.copy",
            True,
            f"{name} in {region} replicates {source} (the failed-over primary {source_rid}) within the RPO target",
        )
        return {"copy": name, "replicates": source, "lag_target_s": target}

    def record_copy(self) -> dict[str, Any]:
        record = read_record(self.topology) or self.record
        assert record is not None
        pinned = self.journal.pinned
        record.failback_copy = PrimaryRecord(self.out.primaryRegion, pinned["copy"], str(pinned["copy_rid"]))
        record.reprotected_at = iso(self.clock.now())
        record.changed(
            record.reprotected_at,
            COMMAND,
            f"{pinned['copy']} in {self.out.primaryRegion} follows "
            f"{record.primary.instance_id}: failback may switch to it",
        )
        write_record(self.topology, record)
        return {"topology_record": self.topology.location}

    # -- dry run and timeline --------------------------------------------------------------------------
    def _plan(self) -> None:
        assert self.dr_primary is not None
        copy, region = self.journal.pinned["copy"], self.out.primaryRegion
        plan = [
            f"rds:StartDBInstanceAutomatedBackupsReplication {self.dr_primary.identifier} -> {region}",
            f"rds:CreateDBInstanceReadReplica {copy} ({region}) of {self.dr_primary.arn}, with "
            f"{self.old_primary.get('DBInstanceIdentifier')}'s network, parameter group, key and class",
            f"wait until {copy} is available with ReplicaLag <= {self.out.rpo_target_s} s",
            f"s3:PutObject the topology record: {copy} is the copy failback switches to",
        ]
        self.report.result["plan"] = plan
        self.report.notes += [f"would {i}: {line}" for i, line in enumerate(plan, 1)]

    def _timeline(self) -> None:
        json_path, md_path = write_timeline(
            self.journal,
            self.store.local_dir,
            title=f"reprotect of {self.out.dns.recordName}",
            facts=[
                f"Copy: {self.journal.pinned.get('copy')} in {self.out.primaryRegion}",
                f"Failover incident: {self.journal.pinned.get('incident')}",
            ],
            impact=["None: the DR site keeps serving; the copy is read-only until failback promotes it"],
            actions=["run failback in a quiet hour (it stops writes in DR for the switch)"],
        )
        self.report.result["timeline"] = {"json": str(json_path), "postmortem": str(md_path)}


def _lag(lag: float | None) -> str:
    return "not published yet" if lag is None else f"{lag:.0f} s"


def _incident(record: TopologyRecord) -> str:
    failover = next((h for h in reversed(record.history) if h.get("command") == "failover"), {})
    return str(failover.get("what", "")).split(":", 1)[0] or f"failover at {record.failed_over_at}"
