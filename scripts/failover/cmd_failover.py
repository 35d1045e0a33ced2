"""``failover``: the six steps of the Keycloak failover runbook as one resumable command.

    python -m scripts failover --stack-outputs outputs.json [--mode promote|restore] [--yes]

Steps (each recorded with start, end and result; each idempotent):

1. ``detect``       Route 53's view of the primary (the PRIMARY record's calculated check and its
                    children) plus a direct HTTPS probe. A primary that looks healthy to either is
                    refused (exit 3) unless ``--force``; the declaration time starts the RTO clock.
2. ``preflight``    read-only: the DR database (replica or replicated backups), the sticky-failover
                    health-check semantics, the failover records, the DR secrets and Deployments.
                    Then ``--yes`` (or a typed confirmation on a terminal) is required.
3. ``database``     promote the cross-region read replica (``--mode promote``) or restore the
                    replicated automated backups at their latest restorable time (``--mode restore``,
                    through ``scripts.restore.rds``), and wait until it accepts writes.
4. ``point-standby``write the new endpoint where the standby reads it: the DR endpoint secret in
                    Secrets Manager + an ExternalSecret force-sync (waiting until the Kubernetes
                    Secret shows it), or the Kubernetes Secret directly (``secretsMode=pulumi``).
5. ``scale-standby``rollout-restart / scale the DR Deployment(s) to ``primaryReplicas``, wait ready.
6. ``validate``     the validator (readiness + issuer by default; ``verify`` against the baseline
                    with ``--baseline``: issuer, JWKS overlapping the baseline, a token with
                    ``--client-id``/``--client-secret-file``; scripts/failover/validation.py).
                    A failed validation stops here: traffic is NOT cut (exit 1).
7. ``cut-traffic``  sticky failover: the primary's readiness check is pointed at ``failedOverPath``
                    so Route 53 keeps answering with the SECONDARY even if the old primary returns;
                    optionally wait until Route 53 reports the primary unhealthy.
8. ``reprotect``    best effort: replicate the new primary's automated backups back to the primary
                    region (skipped, and retried by a later re-run, while that region is down).

Progress is persisted in ``<state-dir>/state.json``; a re-run skips completed steps and resumes at
the interrupted one. ``timeline.json`` and a Markdown post-mortem skeleton are written there after
every run, successful or not.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from contract.outputs import StackOutputs
from contract.restore import DrRestoreRequest
from contract.secrets import DB_SECRET_KEYS
from scripts import __version__
from scripts.aws import route53 as dns
from scripts.aws.client import Aws, error_code, error_message
from scripts.cliutil import DefaultsHelpFormatter
from scripts.errors import CheckFailed, DrError, ExternalError, InputError, RefusedError, WaitTimeout
from scripts.failover.probe import ProbeResult, ValidationContext, Validator, http_get, site_url
from scripts.failover.site_validation import DR_SITE, add_validation_options, build_validator
from scripts.k8s.adapter import (
    EXTERNAL_SECRET_KIND,
    FORCE_SYNC_ANNOTATION,
    KubeAdapter,
    make_adapter,
)
from scripts.polling import Clock, Verdict, check_poll_interval, poll_until
from scripts.progress import Progress
from scripts.report import Report
from scripts.restore.rds.execute import restore_rds
from scripts.restore.rds.plan import plan_restore
from scripts.restore.rds.request import DEFAULT_POLL_S, RestoreSpec
from scripts.stack_outputs import load_stack_outputs
from scripts.timeutil import format_duration, iso, parse_time

STEPS = (
    "detect",
    "preflight",
    "database",
    "point-standby",
    "scale-standby",
    "validate",
    "cut-traffic",
    "reprotect",
)
STATE_VERSION = 1


@dataclass
class FailoverOptions:
    mode: str
    yes: bool = False
    force: bool = False
    reason: str | None = None
    dry_run: bool = False
    state_dir: Path | None = None
    kube_adapter: str = "kubectl"
    kube_context: str | None = None
    baseline: str | None = None
    #: With --baseline: the confidential client for the token checks (its secret is read from
    #: client_secret_file by run(), never kept here) and where the DR IdP's endpoints are reached.
    client_id: str | None = None
    client_secret_file: Path | None = None
    dr_base_url: str | None = None
    probe_scheme: str = "https"
    poll_interval: float = DEFAULT_POLL_S
    timeout_s: float = 120 * 60.0
    k8s_timeout_s: float = 600.0
    validate_timeout_s: float = 600.0
    dns_wait_s: float = 300.0
    reprotect: bool = True
    quiet: bool = False


def default_state_dir(outputs: StackOutputs) -> Path:
    """Stable per record, so a re-run (from the same directory) finds the interrupted failover."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", outputs.dns.recordName.rstrip("."))
    return Path(".idp-dr") / "failover" / safe


# ---------------------------------------------------------------------------------------
# persisted state
# ---------------------------------------------------------------------------------------
class State:
    def __init__(self, path: Path, data: dict[str, Any]):
        self.path = path
        self.data = data

    @classmethod
    def load_or_new(cls, directory: Path, *, record: str, mode: str, now: datetime) -> State:
        path = directory / "state.json"
        if path.is_file():
            data = json.loads(path.read_text())
            if data.get("failed_back_at"):
                # A finished incident: keep it for the record, start a new one.
                stamp = (data.get("incident_id") or "previous").replace(":", "")
                path.replace(directory / f"state-{stamp}.json")
            else:
                return cls(path, data)
        return cls(
            path,
            {
                "version": STATE_VERSION,
                "record": record,
                "mode": mode,
                "tool_version": __version__,
                "incident_id": "fo-" + now.strftime("%Y%m%dT%H%M%SZ"),
                "started_at": iso(now),
                "declared_at": None,
                "forced": False,
                "reason": None,
                "runs": [],
                "steps": {},
                "db": None,
                "completed_at": None,
                "failed_back_at": None,
            },
        )

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=2, sort_keys=False, default=str) + "\n")
        tmp.replace(self.path)

    @property
    def steps(self) -> dict[str, dict[str, Any]]:
        return self.data["steps"]

    def done(self, name: str) -> bool:
        return self.steps.get(name, {}).get("status") == "ok"


# ---------------------------------------------------------------------------------------
# the command
# ---------------------------------------------------------------------------------------
class Failover:
    def __init__(
        self,
        options: FailoverOptions,
        outputs: StackOutputs,
        report: Report,
        *,
        aws: Aws,
        kube: KubeAdapter,
        clock: Clock,
        validator: Validator,
        probe: Callable[..., ProbeResult] = http_get,
        confirm: Callable[[str], bool] | None = None,
        primary_aws: Aws | None = None,
    ):
        self.o = options
        self.out = outputs
        self.report = report
        self.aws = aws
        # Calls into the (possibly dead) primary region: few retries, short timeouts.
        self.primary_aws = primary_aws or Aws(
            aws.session, sleep=aws.sleep, max_attempts=2, connect_timeout=3, read_timeout=10
        )
        self.kube = kube
        self.clock = clock
        self.validator = validator
        self.probe = probe
        self.confirm = confirm
        self.progress = Progress("failover", enabled=not options.quiet)
        self.state_dir = options.state_dir or default_state_dir(outputs)
        self.state = State.load_or_new(
            self.state_dir, record=outputs.dns.recordName, mode=options.mode, now=clock.now()
        )

    # -- orchestration -----------------------------------------------------------------
    def run(self) -> None:
        st = self.state
        if st.data["mode"] != self.o.mode:
            raise RefusedError(
                f"conflicting re-run: {st.path} holds a failover in mode {st.data['mode']} started "
                f"{st.data['started_at']}, not mode {self.o.mode}",
                hint=f"re-run with --mode {st.data['mode']} to resume it, or use another --state-dir",
            )
        resumed = bool(st.steps)
        run_record = {
            "started_at": iso(self.clock.now()),
            "ended_at": None,
            "result": "running",
            "forced": self.o.force,
            "dry_run": self.o.dry_run,
        }
        if not self.o.dry_run:
            st.data["runs"].append(run_record)
            st.save()
        self.report.result.update(
            {
                "incident_id": st.data["incident_id"],
                "mode": self.o.mode,
                "record": self.out.dns.recordName,
                "state_dir": str(self.state_dir),
                "kubernetes": self.kube.description,
                "resumed": resumed,
            }
        )
        if self.kube.simulated:
            self.report.notes.append(f"{self.kube.description}: no real cluster was touched")
        if st.data.get("completed_at"):
            self.report.notes.append(f"this failover already completed at {st.data['completed_at']}; nothing to do")
        outcome = "failed"
        try:
            self._step("detect", self.detect)
            self._step("preflight", self.preflight, always=True)
            if self.o.dry_run:
                self._dry_run_plan()
                outcome = "dry-run"
                return
            self._confirm()
            self._step("database", self.database)
            self._step("point-standby", self.point_standby)
            self._step("scale-standby", self.scale_standby)
            self._step("validate", self.validate)
            self._step("cut-traffic", self.cut_traffic)
            if self.o.reprotect:
                self._step("reprotect", self.reprotect)
            else:
                self.report.skip_step("reprotect", "--no-reprotect")
            if not st.data.get("completed_at"):
                st.data["completed_at"] = st.steps.get("cut-traffic", {}).get("ended_at") or iso(self.clock.now())
            outcome = "completed"
            self._summary()
        except WaitTimeout:
            outcome = "timed-out"
            raise
        except KeyboardInterrupt:
            outcome = "interrupted"
            raise
        except RefusedError:
            outcome = "refused"
            raise
        finally:
            if not self.o.dry_run:
                run_record["ended_at"] = iso(self.clock.now())
                run_record["result"] = outcome
                st.save()
                self._write_timeline()

    def _step(self, name: str, fn: Callable[[], dict[str, Any] | None], *, always: bool = False) -> None:
        st = self.state
        previous = st.steps.get(name)
        if previous and previous.get("status") == "ok" and not always:
            self.report.skip_step(name, f"done in an earlier run (ended {previous.get('ended_at')})")
            return
        # A refused step changed nothing: re-running it is a fresh attempt, not a resumption.
        interrupted = bool(previous) and previous.get("status") in (
            "running",
            "interrupted",
            "failed",
            "timed-out",
            "skipped-deferred",
        )
        entry = {
            "status": "running",
            "started_at": iso(self.clock.now()),
            "ended_at": None,
            "detail": {},
            "attempts": int((previous or {}).get("attempts", 0)) + 1,
        }
        # The timeline shows when a step was first attempted (an RTO view); preflight re-runs every time.
        if always or not previous:
            entry["first_started_at"] = entry["started_at"]
        else:
            entry["first_started_at"] = previous.get("first_started_at") or previous.get("started_at")
        if not self.o.dry_run:
            st.steps[name] = entry
            st.save()
        self.progress.update(f"{name} …")
        try:
            with self.report.step(name) as record:
                detail = fn() or {}
                record.detail.update(detail)
                if detail.get("_deferred"):
                    record.status = "skipped"
                    entry["status"] = "skipped-deferred"
                elif interrupted:
                    record.status = "resumed"
                    record.detail["resumed_after"] = previous.get("status") if previous else None
        except KeyboardInterrupt:
            entry["status"] = "interrupted"
            raise
        except WaitTimeout as exc:
            entry["status"] = "timed-out"
            entry["error"] = exc.message
            raise
        except RefusedError as exc:
            entry["status"] = "refused"
            entry["error"] = exc.message
            raise
        except BaseException as exc:
            entry["status"] = "failed"
            entry["error"] = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            raise
        else:
            if entry["status"] == "running":
                entry["status"] = "ok"
            entry["detail"] = {k: v for k, v in detail.items() if not k.startswith("_")}
        finally:
            entry["ended_at"] = iso(self.clock.now())
            if not self.o.dry_run:
                st.save()

    # -- 1. detect and declare ----------------------------------------------------------
    def detect(self) -> dict[str, Any]:
        d = self.out.dns
        r53 = dns.observed_status(self.aws, d.primaryRecordHealthCheckId)
        url = site_url(d.primaryHealthHostname, d.healthPath, self.o.probe_scheme)
        probe = self.probe(url)
        db = self._primary_db_status()
        healthy_r53 = r53.healthy is True
        reasons = []
        if healthy_r53:
            reasons.append(f"Route 53 reports the primary healthy ({r53.detail})")
        if probe.ok:
            reasons.append(f"the direct probe succeeds ({probe.summary()})")
        self.report.check(
            "detect.route53",
            None if (healthy_r53 and self.o.force) or r53.healthy is None else not healthy_r53,
            f"primary {'healthy' if healthy_r53 else 'unhealthy' if r53.healthy is False else 'unknown'}"
            f" per Route 53: {r53.detail}",
            status=r53.to_dict(),
        )
        self.report.check(
            "detect.probe",
            None if probe.ok and self.o.force else not probe.ok,
            f"primary {'answers' if probe.ok else 'does not answer'}: {probe.summary()}",
        )
        self.report.check("detect.primary-db", None, db["message"], **{k: v for k, v in db.items() if k != "message"})
        if reasons and not self.o.force:
            raise RefusedError(
                "refusing to fail over a primary that looks healthy: " + "; ".join(reasons),
                hint="if users still cannot log in (a failure the checks cannot see), re-run with --force "
                "--reason '<why>'; the override is recorded in the timeline",
            )
        now = self.clock.now()
        self.state.data["declared_at"] = iso(now)
        self.state.data["forced"] = bool(reasons)
        self.state.data["reason"] = self.o.reason
        self.report.result["declared_at"] = iso(now)
        if reasons:
            self.report.notes.append(
                "failover FORCED over a healthy-looking primary: "
                + "; ".join(reasons)
                + (f" (reason: {self.o.reason})" if self.o.reason else " (no --reason given)")
            )
        return {
            "route53": r53.to_dict(),
            "probe": {"url": url, "ok": probe.ok, "status": probe.status, "error": probe.error},
            "primary_db": db,
            "forced": bool(reasons),
            "reason": self.o.reason,
        }

    def _primary_db_status(self) -> dict[str, Any]:
        db = self.out.database
        rds = self.primary_aws.client("rds", self.out.primaryRegion)
        try:
            inst = self.primary_aws.call(rds, "DescribeDBInstances", DBInstanceIdentifier=db.primaryInstanceId)[
                "DBInstances"
            ][0]
        except (ClientError, DrError) as exc:
            text = exc.message if isinstance(exc, DrError) else f"{error_code(exc)}: {error_message(exc)}"
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

    # -- 2. preflight ----------------------------------------------------------------------
    def preflight(self) -> dict[str, Any]:
        out, d, sb = self.out, self.out.dns, self.out.standby
        detail: dict[str, Any] = {}
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
        else:
            if not out.database.replicatedBackupsArn:
                raise InputError(
                    "--mode",
                    "restore",
                    "promote: the stack has no replicated backups (database.replicatedBackupsArn is empty)",
                )
            if not self.state.done("database"):
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
                }
        problems = dns.sticky_problems(self.aws, d.primaryHealthCheckId, d.primaryRecordHealthCheckId)
        if problems:
            raise RefusedError(
                "sticky failover would not hold: " + "; ".join(problems),
                hint="fix the health checks in the stack (dns.*), then re-run",
            )
        records = dns.failover_records(self.aws, d.zoneId, d.recordName)
        primary_record = records.get("PRIMARY")
        if primary_record is None or "SECONDARY" not in records:
            raise RefusedError(
                f"{d.recordName} has no PRIMARY/SECONDARY failover records in zone {d.zoneId}",
                hint="the stack creates them; check dns.zoneId and dns.recordName",
            )
        if primary_record.get("HealthCheckId") != d.primaryRecordHealthCheckId:
            raise RefusedError(
                f"the PRIMARY record uses health check {primary_record.get('HealthCheckId')}, not "
                f"{d.primaryRecordHealthCheckId} (dns.primaryRecordHealthCheckId)"
            )
        if records["SECONDARY"].get("HealthCheckId"):
            self.report.notes.append(
                "the SECONDARY record has a health check: while it is unhealthy Route 53 answers with the "
                "PRIMARY "
                "(pilot-light standbys should not have one)"
            )
        detail["records"] = {k: {"health_check": v.get("HealthCheckId")} for k, v in records.items()}
        # Standby: secrets and Deployments must exist before anything changes.
        if sb.secretsMode == "external-secrets":
            if not sb.drDbEndpointSecretArn or not sb.externalSecretName:
                raise InputError(
                    "--stack-outputs",
                    "standby",
                    "drDbEndpointSecretArn and externalSecretName (secretsMode external-secrets)",
                )
            self._read_endpoint_secret()
            if not self.kube.exists(sb.namespace, EXTERNAL_SECRET_KIND, sb.externalSecretName):
                raise RefusedError(
                    f"ExternalSecret {sb.namespace}/{sb.externalSecretName} not found ({self.kube.description})"
                )
        if not self.kube.exists(sb.namespace, "secret", sb.dbSecretName):
            raise RefusedError(f"Secret {sb.namespace}/{sb.dbSecretName} not found ({self.kube.description})")
        for deployment in self._deployments():
            if not self.kube.exists(sb.namespace, "deployment", deployment):
                raise RefusedError(f"Deployment {sb.namespace}/{deployment} not found ({self.kube.description})")
        detail["standby"] = {"deployments": self._deployments(), "secrets_mode": sb.secretsMode}
        return detail

    def _dry_run_plan(self) -> None:
        planned = [s for s in STEPS[2:] if not self.state.done(s)]
        self.report.result["would_run"] = planned
        self.report.check("dry-run", True, "detected and pre-checked; nothing was changed")

    def _confirm(self) -> None:
        pending = [s for s in STEPS[2:] if not self.state.done(s)]
        if not pending or self.o.yes:
            return
        if self.confirm is None and sys.stdin.isatty():
            self.confirm = _tty_confirm
        if self.confirm is None:
            raise RefusedError(
                "refusing to change anything without --yes (stdin is not a terminal to confirm on)",
                hint=f"re-run with --yes to run: {', '.join(pending)}",
            )
        if not self.confirm(self.out.dns.recordName):
            raise RefusedError("failover not confirmed; nothing was changed")

    # -- 3. database -----------------------------------------------------------------------
    def _describe_dr(self, identifier: str) -> dict[str, Any] | None:
        rds = self.aws.client("rds", self.out.drRegion)
        try:
            return self.aws.call(rds, "DescribeDBInstances", DBInstanceIdentifier=identifier)["DBInstances"][0]
        except ClientError as exc:
            if error_code(exc) in ("DBInstanceNotFound", "DBInstanceNotFoundFault"):
                return None
            raise ExternalError(f"DescribeDBInstances {identifier} in {self.out.drRegion}: {error_code(exc)}") from None

    def _restore_spec(self) -> RestoreSpec:
        request = DrRestoreRequest.from_outputs(self.out.database, self.out.drRegion)
        return RestoreSpec(
            source=request.source,
            target=request.target,
            restore_time=None,
            region=request.region,
            replicated_backups_arn=request.replicated_backups_arn,
            poll_interval=self.o.poll_interval,
            timeout_s=self.o.timeout_s,
            db_subnet_group=request.db_subnet_group,
            security_group_ids=list(request.security_group_ids),
            db_parameter_group=request.db_parameter_group,
            master_secret_kms_key=request.master_secret_kms_key,
            read_source_region=False,
            extra_tags={"idp-dr-incident": self.state.data["incident_id"]},
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
        db_state = {
            "instance_id": instance.get("DBInstanceIdentifier"),
            "arn": instance.get("DBInstanceArn"),
            "host": endpoint.get("Address"),
            "port": int(endpoint.get("Port") or self.out.database.port),
            "dbname": self.out.database.dbName,
            "region": self.out.drRegion,
            "engine_version": instance.get("EngineVersion"),
        }
        if not db_state["host"]:
            raise ExternalError(f"{db_state['instance_id']} is available but reports no endpoint")
        self.state.data["db"] = db_state
        self.state.data["rpo"] = rpo
        self.report.result["database"] = db_state
        self.report.result["rpo"] = rpo
        return {"db": db_state, "rpo": rpo}

    def _promote(self) -> tuple[dict[str, Any], dict[str, Any]]:
        replica_id = self.out.database.drReplicaInstanceId or ""
        rds = self.aws.client("rds", self.out.drRegion)
        current = self._describe_dr(replica_id)
        if current is None:
            raise ExternalError(f"the DR replica {replica_id} disappeared", hint="re-run with --mode restore")
        rpo = (
            self._replica_lag(replica_id)
            if current.get("ReadReplicaSourceDBInstanceIdentifier")
            else (self.state.data.get("rpo") or {"note": "promoted in an earlier run"})
        )
        if current.get("ReadReplicaSourceDBInstanceIdentifier") and current.get("DBInstanceStatus") == "available":
            retention = int(current.get("BackupRetentionPeriod") or 0) or 7
            try:
                self.aws.call(
                    rds,
                    "PromoteReadReplica",
                    DBInstanceIdentifier=replica_id,
                    BackupRetentionPeriod=retention,
                )
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
                retention = int(inst.get("BackupRetentionPeriod") or 0) or 7
                try:
                    self.aws.call(
                        rds,
                        "PromoteReadReplica",
                        DBInstanceIdentifier=replica_id,
                        BackupRetentionPeriod=retention,
                    )
                except ClientError:
                    pass
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

    # -- 4. point the standby at the database -------------------------------------------------
    def _read_endpoint_secret(self) -> dict[str, Any]:
        sm = self.aws.client("secretsmanager", self.out.drRegion)
        arn = self.out.standby.drDbEndpointSecretArn
        try:
            value = self.aws.call(sm, "GetSecretValue", SecretId=arn)
        except ClientError as exc:
            raise RefusedError(
                f"cannot read the DR endpoint secret {arn}: {error_code(exc)}: {error_message(exc)}",
                hint="the standby's DB endpoint must be writable in the DR region",
            ) from None
        try:
            doc = json.loads(value.get("SecretString") or "{}")
        except json.JSONDecodeError:
            raise RefusedError(f'the DR endpoint secret {arn} is not JSON {{"host","port","dbname"}}') from None
        return doc if isinstance(doc, dict) else {}

    def point_standby(self) -> dict[str, Any]:
        db = self.state.data.get("db") or {}
        sb = self.out.standby
        keys = DB_SECRET_KEYS[sb.idp]
        want = {"host": db["host"], "port": str(db["port"]), "dbname": db["dbname"]}
        detail: dict[str, Any] = {"endpoint": want}
        if sb.secretsMode == "external-secrets":
            current = self._read_endpoint_secret()
            if {k: str(current.get(k)) for k in want} != want:
                sm = self.aws.client("secretsmanager", self.out.drRegion)
                merged = {**current, "host": db["host"], "port": int(db["port"]), "dbname": db["dbname"]}
                self.aws.call(sm, "PutSecretValue", SecretId=sb.drDbEndpointSecretArn, SecretString=json.dumps(merged))
                detail["secrets_manager"] = "updated"
            else:
                detail["secrets_manager"] = "already current"
            if not self._kube_secret_matches(keys, want):
                self.kube.annotate(
                    sb.namespace,
                    EXTERNAL_SECRET_KIND,
                    sb.externalSecretName or "",
                    {FORCE_SYNC_ANNOTATION: str(int(self.clock.now().timestamp()))},
                )
                detail["force_sync"] = True
                self._wait_kube_secret(keys, want)
            detail["kubernetes_secret"] = f"{sb.namespace}/{sb.dbSecretName} shows {want['host']}"
        else:
            if not self._kube_secret_matches(keys, want):
                self.kube.patch_secret_data(sb.namespace, sb.dbSecretName, {keys[k]: v for k, v in want.items()})
                detail["kubernetes_secret"] = "patched"  # noqa: S105 - a status, not a secret
            else:
                detail["kubernetes_secret"] = "already current"  # noqa: S105 - a status
        return detail

    def _kube_secret_matches(self, keys: dict[str, str], want: dict[str, str]) -> bool:
        data = self.kube.get_secret_data(self.out.standby.namespace, self.out.standby.dbSecretName)
        for sensitive in ("username", "password"):
            self.report.register_secret(data.get(keys[sensitive]))
        return all(str(data.get(keys[k])) == v for k, v in want.items())

    def _wait_kube_secret(self, keys: dict[str, str], want: dict[str, str]) -> None:
        def judge(ok: bool) -> Verdict[bool]:
            return Verdict(
                "done" if ok else "wait",
                f"Secret {self.out.standby.dbSecretName} {'shows' if ok else 'does not show yet'} {want['host']}",
                ok,
            )

        poll_until(
            lambda: self._kube_secret_matches(keys, want),
            judge,
            interval=2.0,
            timeout=self.o.k8s_timeout_s,
            clock=self.clock,
            what="ExternalSecret sync",
            on_update=self.progress.update,
            timeout_hint="is external-secrets running in the DR cluster? re-run to resume",
        )

    # -- 5. scale the standby ------------------------------------------------------------
    def _deployments(self) -> list[str]:
        sb = self.out.standby
        return [sb.serverDeployment] + ([sb.workerDeployment] if sb.workerDeployment else [])

    def scale_standby(self) -> dict[str, Any]:
        sb = self.out.standby
        want = sb.primaryReplicas
        detail: dict[str, Any] = {}
        for name in self._deployments():
            status = self.kube.deployment_status(sb.namespace, name)
            if status.replicas > 0:
                # Running pods read the DB settings at start: restart them onto the new endpoint.
                self.kube.rollout_restart(sb.namespace, name)
            target = max(status.replicas, want)
            self.kube.scale(sb.namespace, name, target)
            detail[name] = {
                "from_replicas": status.replicas,
                "to_replicas": target,
                "restarted": status.replicas > 0,
            }
        for name in self._deployments():
            target = detail[name]["to_replicas"]

            def judge(s: Any, target: int = target, name: str = name) -> Verdict[Any]:
                msg = f"{name}: {s.ready}/{target} ready, {s.updated} updated"
                return Verdict("done" if s.rolled_out(target) else "wait", msg, s)

            final, _ = poll_until(
                lambda name=name: self.kube.deployment_status(sb.namespace, name),
                judge,
                interval=min(self.o.poll_interval, 5.0),
                timeout=self.o.k8s_timeout_s,
                clock=self.clock,
                what=f"rollout of {name}",
                on_update=self.progress.update,
                timeout_hint="check the pods (kubectl describe / logs); re-run to resume",
            )
            detail[name]["final"] = final.to_dict()
        return detail

    # -- 6. validate -------------------------------------------------------------------------
    def validate(self) -> dict[str, Any]:
        d = self.out.dns
        ctx = ValidationContext(
            site="dr",
            host=d.drHealthHostname,
            health_path=d.healthPath,
            issuer=self.out.issuer,
            scheme=self.o.probe_scheme,
            timeout_s=self.o.validate_timeout_s,
            interval_s=min(self.o.poll_interval, 5.0),
            clock=self.clock,
            on_update=self.progress.update,
            baseline=self.o.baseline,
            outputs=self.out,
        )
        checks = self.validator(ctx)
        for c in checks:
            self.report.check(f"validate.{c.name}", c.ok, c.message, **c.evidence)
        failed = [c for c in checks if c.ok is False]
        if failed:
            raise CheckFailed(
                "validation failed, traffic was NOT cut: " + "; ".join(f"{c.name}: {c.message}" for c in failed),
                hint="fix the standby, then re-run the same command: it resumes at validate",
            )
        return {"checks": [{"name": c.name, "ok": c.ok, "message": c.message} for c in checks]}

    # -- 7. cut traffic ----------------------------------------------------------------------
    def cut_traffic(self) -> dict[str, Any]:
        d = self.out.dns
        changed = dns.set_path(self.aws, d.primaryHealthCheckId, d.failedOverPath)
        detail: dict[str, Any] = {
            "health_check": d.primaryHealthCheckId,
            "resource_path": d.failedOverPath,
            "changed": changed,
        }
        self.report.check(
            "cut-traffic.sticky",
            dns.current_path(self.aws, d.primaryHealthCheckId) == d.failedOverPath,
            f"primary readiness check {d.primaryHealthCheckId} now probes {d.failedOverPath} "
            "(stays unhealthy until failback)",
        )
        if self.o.dns_wait_s <= 0:
            self.report.check(
                "cut-traffic.route53",
                None,
                "not waited for Route 53 to mark the primary unhealthy (--dns-wait 0)",
            )
            return detail

        def judge(status: dns.CheckStatus) -> Verdict[dns.CheckStatus]:
            msg = f"Route 53: primary {'healthy' if status.healthy else 'unhealthy'} ({status.detail})"
            return Verdict("done" if status.healthy is False else "wait", msg, status)

        final, _ = poll_until(
            lambda: dns.observed_status(self.aws, d.primaryRecordHealthCheckId),
            judge,
            interval=10.0,
            timeout=self.o.dns_wait_s,
            clock=self.clock,
            what="Route 53 marking the primary unhealthy",
            on_update=self.progress.update,
            timeout_hint="the sticky path is set; Route 53 needs interval x threshold to react. "
            "Re-run to keep waiting (or --dns-wait 0 to skip)",
        )
        self.report.check("cut-traffic.route53", True, f"Route 53 reports the primary unhealthy: {final.detail}")
        detail["route53"] = final.to_dict()
        return detail

    # -- 8. re-protect ---------------------------------------------------------------------------
    def reprotect(self) -> dict[str, Any]:
        """Replicate the new primary's automated backups to the old primary region (best effort)."""
        db = self.state.data.get("db") or {}
        primary_rds = self.primary_aws.client("rds", self.out.primaryRegion)
        try:
            old = self.primary_aws.call(
                primary_rds, "DescribeDBInstances", DBInstanceIdentifier=self.out.database.primaryInstanceId
            )["DBInstances"][0]
            kms = old.get("KmsKeyId")
            self.primary_aws.call(
                primary_rds,
                "StartDBInstanceAutomatedBackupsReplication",
                SourceDBInstanceArn=db["arn"],
                KmsKeyId=kms,
                BackupRetentionPeriod=int(old.get("BackupRetentionPeriod") or 7),
                SourceRegion=self.out.drRegion,
            )
        except (ClientError, DrError, NotImplementedError) as exc:
            code = error_code(exc) if isinstance(exc, ClientError) else ""
            if code == "DBInstanceAutomatedBackupQuotaExceeded" or "already" in str(exc).lower():
                return {"replicating_to": self.out.primaryRegion, "note": "already replicating"}
            text = exc.message if isinstance(exc, DrError) else f"{code}: {error_message(exc)}" if code else str(exc)
            self.report.notes.append(
                f"reprotect deferred: backups of {db.get('instance_id')} are NOT replicated to "
                f"{self.out.primaryRegion} yet ({text[:200]}); re-run failover later to retry"
            )
            return {"_deferred": True, "reason": text[:300]}
        return {"replicating_to": self.out.primaryRegion, "source": db["arn"], "kms_key": kms}

    # -- summary and timeline ---------------------------------------------------------------------
    def _summary(self) -> None:
        st = self.state.data
        for key, value in (
            ("declared_at", st.get("declared_at")),
            ("database", st.get("db")),
            ("rpo", st.get("rpo")),
        ):
            self.report.result.setdefault(key, value)
        self.report.result["traffic_cut_at"] = (st["steps"].get("cut-traffic") or {}).get("ended_at")
        declared = parse_iso(st.get("declared_at"))
        cut = parse_iso((st["steps"].get("cut-traffic") or {}).get("ended_at"))
        if declared and cut:
            rto = (cut - declared).total_seconds()
            self.report.result["rto_s"] = round(rto, 1)
            self.report.result["rto_target_s"] = self.out.rto_target_s
            self.report.check(
                "rto",
                rto <= self.out.rto_target_s,
                f"declared → traffic cut in {format_duration(rto)} (target "
                f"{format_duration(self.out.rto_target_s)}; DNS TTL {self.out.dns.ttl} s comes on top)",
            )
        self.report.result["rpo_target_s"] = self.out.rpo_target_s
        self.report.result["next"] = [
            "watch authentication error rates for the next minutes",
            "rebuild the primary region and re-establish replication from the DR database",
            f"then: python -m scripts failback --stack-outputs <file> (restores {self.out.dns.healthPath})",
        ]

    def _write_timeline(self) -> None:
        json_path, md_path = write_timeline(self.state, self.out, self.kube.description, self.state_dir)
        self.report.result["timeline"] = str(json_path)
        self.report.result["postmortem"] = str(md_path)


def write_timeline(state: State, outputs: StackOutputs, kube_description: str, state_dir: Path) -> tuple[Path, Path]:
    """timeline.json (every step's first start, end, result; every run) + the post-mortem skeleton."""
    st = state.data
    timeline = {
        "incident_id": st["incident_id"],
        "record": st["record"],
        "mode": st["mode"],
        "tool_version": __version__,
        "started_at": st["started_at"],
        "declared_at": st["declared_at"],
        "forced": st["forced"],
        "reason": st["reason"],
        "completed_at": st["completed_at"],
        "failed_back_at": st.get("failed_back_at"),
        "database": st.get("db"),
        "rpo": st.get("rpo"),
        "rto_target_s": outputs.rto_target_s,
        "rpo_target_s": outputs.rpo_target_s,
        "kubernetes": kube_description,
        "steps": [{"name": name, **st["steps"][name]} for name in STEPS if name in st["steps"]]
        + [{"name": name, **v} for name, v in st["steps"].items() if name not in STEPS],
        "runs": st["runs"],
        "failback": st.get("failback"),
    }
    state_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = state_dir / "timeline.json", state_dir / "postmortem.md"
    json_path.write_text(json.dumps(timeline, indent=2, default=str) + "\n")
    md_path.write_text(render_postmortem(timeline))
    return json_path, md_path


def parse_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return parse_time("time", text)
    except InputError:
        return None


def render_postmortem(t: dict[str, Any]) -> str:
    """A blameless post-mortem skeleton with the measured timeline filled in."""
    declared, completed = parse_iso(t.get("declared_at")), parse_iso(t.get("completed_at"))
    rto = f"{format_duration((completed - declared).total_seconds())}" if declared and completed else "n/a"
    lines = [
        f"# Post-mortem: failover of {t['record']} ({t['incident_id']})",
        "",
        "_Skeleton written by `python -m scripts failover`. Fill in every TODO; keep it blameless._",
        "",
        "## Summary",
        "",
        f"- Mode: **{t['mode']}**; declared {t.get('declared_at') or 'n/a'}; "
        f"traffic cut {t.get('completed_at') or 'not yet'}",
        f"- Measured RTO (declared → traffic cut): **{rto}** "
        f"(target {format_duration(t.get('rto_target_s'))}; "
        "add DNS TTL and resolver caching for users)",
        f"- RPO evidence: {json.dumps(t.get('rpo'))} (target {format_duration(t.get('rpo_target_s'))})",
        f"- New database: {(t.get('database') or {}).get('host', 'n/a')}",
        f"- Forced over a healthy-looking primary: {'yes' if t.get('forced') else 'no'}"
        + (f" — reason: {t['reason']}" if t.get("reason") else ""),
        f"- Kubernetes: {t.get('kubernetes')}",
        "- Impact: TODO (who could not log in, for how long; sessions lost at the recovery site)",
        "",
        "## Timeline (UTC)",
        "",
        "| step | started | ended | result | attempts |",
        "| --- | --- | --- | --- | --- |",
    ]
    for s in t["steps"]:
        result = s.get("status", "")
        if s.get("error"):
            result += f": {str(s['error'])[:120]}"
        lines.append(
            f"| {s['name']} | {s.get('first_started_at') or s.get('started_at') or ''} | "
            f"{s.get('ended_at') or ''} | {result} | {s.get('attempts', 1)} |"
        )
    lines += ["", "Runs of the command:", ""]
    for r in t.get("runs", []):
        lines.append(
            f"- {r.get('started_at')} → {r.get('ended_at') or '…'}: {r.get('result')}"
            + (" (forced)" if r.get("forced") else "")
        )
    failback = t.get("failback")
    if failback:
        lines += [
            "",
            f"Failback: {failback.get('started_at')} → {failback.get('ended_at') or '…'}: {failback.get('result')}",
        ]
        if failback.get("overridden"):
            lines.append(
                f"- pre-checks overridden with --force ({failback.get('reason')}): " + "; ".join(failback["overridden"])
            )
    lines += [
        "",
        "## Root cause",
        "",
        "TODO",
        "",
        "## What went well / what went badly",
        "",
        "TODO",
        "",
        "## Action items",
        "",
        "- [ ] Rebuild the primary region; re-establish replication from the DR database",
        "- [ ] Fail back with `python -m scripts failback` once its pre-checks pass",
        "- [ ] TODO",
        "",
    ]
    return "\n".join(lines)


def _tty_confirm(record: str) -> bool:
    sys.stderr.write(f"This fails {record} over to the DR region. Type the record name to continue: ")
    sys.stderr.flush()
    return sys.stdin.readline().strip().rstrip(".") == record.rstrip(".")


# ---------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------
def add_shared_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--stack-outputs",
        required=True,
        metavar="FILE|-",
        help="'pulumi stack output --json' of the idp-dr stack (a file, or - for stdin)",
    )
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation (required when not on a terminal)")
    p.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="where progress, timeline.json and postmortem.md live (default: "
        ".idp-dr/failover/<record name> in the current directory)",
    )
    p.add_argument(
        "--kube-adapter",
        default="kubectl",
        metavar="kubectl|fake:FILE",
        help="how to reach the DR cluster: kubectl (real), or fake:<state.json> (a SIMULATED cluster, "
        "see the sandbox command)",
    )
    p.add_argument("--kube-context", default=None, help="kubectl context (default: standby.drKubeContext)")
    p.add_argument(
        "--probe-scheme",
        choices=["https", "http"],
        default="https",
        help="scheme of the health/discovery probes (http only for the local sandbox)",
    )


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "failover",
        parents=[common],
        formatter_class=DefaultsHelpFormatter,
        help="fail the IdP over to the DR region (the six runbook steps, resumable)",
        description="Detect and declare, promote or restore the DR database, point and scale the standby, "
        "validate, make the Route 53 failover sticky, and write a timeline + post-mortem skeleton. "
        "Re-running resumes at the interrupted step. Exit codes: 0 ok, 1 a check failed (e.g. validation: "
        "traffic not cut), 2 bad input, 3 refused (healthy primary without --force, no --yes, conflicting "
        "state), 4 timed out (re-run resumes), 5 AWS/Kubernetes failure, 130 interrupted (re-run resumes).",
    )
    add_shared_options(p)
    p.add_argument(
        "--mode",
        choices=["promote", "restore"],
        default=None,
        help="promote the DR read replica, or restore replicated backups (default: promote when the "
        "stack has a replica)",
    )
    p.add_argument("--force", action="store_true", help="fail over even if the primary looks healthy (recorded)")
    p.add_argument("--reason", default=None, help="why (recorded in the timeline; recommended with --force)")
    p.add_argument("--dry-run", action="store_true", help="detect and pre-check only; change nothing")
    add_validation_options(
        p,
        DR_SITE,
        baseline_help="validate the DR site with verify against this file from 'python -m scripts baseline' "
        "(issuer byte for byte, JWKS overlapping the baseline, a token with --client-id) instead of "
        "readiness + issuer only; read before anything changes",
    )
    p.add_argument(
        "--poll-interval",
        type=float,
        default=DEFAULT_POLL_S,
        metavar="SECONDS",
        help="seconds between AWS status polls (1-60)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=120,
        metavar="MINUTES",
        help="database promote/restore timeout (exit 4; re-run resumes)",
    )
    p.add_argument(
        "--k8s-timeout",
        type=float,
        default=600,
        metavar="SECONDS",
        help="timeout for the Secret sync and the rollout",
    )
    p.add_argument(
        "--validate-timeout",
        type=float,
        default=600,
        metavar="SECONDS",
        help="how long to wait for the standby to become ready",
    )
    p.add_argument(
        "--dns-wait",
        type=float,
        default=300,
        metavar="SECONDS",
        help="wait until Route 53 reports the primary unhealthy after the sticky change (0 = don't wait)",
    )
    p.add_argument(
        "--no-reprotect",
        dest="reprotect",
        action="store_false",
        help="do not start replicating the new primary's backups to the primary region",
    )
    p.set_defaults(handler=run)


def options_from_args(args: argparse.Namespace, outputs: StackOutputs) -> FailoverOptions:
    mode = args.mode or ("promote" if outputs.database.drReplicaInstanceId else "restore")
    if not 1 <= args.timeout <= 24 * 60:
        raise InputError("--timeout", args.timeout, "minutes from 1 to 1440")
    for field_name, value in (
        ("--k8s-timeout", args.k8s_timeout),
        ("--validate-timeout", args.validate_timeout),
    ):
        if not 1 <= value <= 24 * 3600:
            raise InputError(field_name, value, "seconds from 1 to 86400")
    if not 0 <= args.dns_wait <= 3600:
        raise InputError("--dns-wait", args.dns_wait, "seconds from 0 to 3600")
    if outputs.database.mode != "rds":
        raise InputError(
            "--stack-outputs",
            args.stack_outputs,
            "a stack with database.mode 'rds' (self-managed failover is a separate command)",
        )
    return FailoverOptions(
        mode=mode,
        yes=args.yes,
        force=args.force,
        reason=args.reason,
        dry_run=args.dry_run,
        state_dir=args.state_dir,
        kube_adapter=args.kube_adapter,
        kube_context=args.kube_context,
        baseline=args.baseline,
        client_id=args.client_id,
        client_secret_file=args.client_secret_file,
        dr_base_url=args.dr_base_url,
        probe_scheme=args.probe_scheme,
        poll_interval=check_poll_interval("--poll-interval", args.poll_interval),
        timeout_s=args.timeout * 60.0,
        k8s_timeout_s=args.k8s_timeout,
        validate_timeout_s=args.validate_timeout,
        dns_wait_s=args.dns_wait,
        reprotect=args.reprotect,
        quiet=args.quiet,
    )


def run(
    args: argparse.Namespace,
    report: Report,
    *,
    aws: Aws | None = None,
    kube: KubeAdapter | None = None,
    clock: Clock | None = None,
    validator: Validator | None = None,
    probe: Callable[..., ProbeResult] | None = None,
    confirm: Callable[[str], bool] | None = None,
    primary_aws: Aws | None = None,
) -> None:
    outputs = load_stack_outputs(args.stack_outputs)
    options = options_from_args(args, outputs)
    if validator is None:
        # Before the first AWS call: a bad baseline or secret file is bad input, nothing changed.
        validator = build_validator(
            DR_SITE,
            baseline=options.baseline,
            client_id=options.client_id,
            secret_file=options.client_secret_file,
            base_url=options.dr_base_url,
            outputs=outputs,
            report=report,
        )
    aws = aws or Aws()
    if options.dry_run:
        aws.forbid_mutations("--dry-run")
    kube = kube or make_adapter(
        options.kube_adapter,
        context=options.kube_context or outputs.standby.drKubeContext,
        aws=aws,
        dr_region=outputs.drRegion,
    )
    Failover(
        options,
        outputs,
        report,
        aws=aws,
        kube=kube,
        clock=clock or Clock(),
        validator=validator,
        probe=probe or http_get,
        confirm=confirm,
        primary_aws=primary_aws,
    ).run()
