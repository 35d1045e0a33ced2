"""``failback``: undo the sticky failover, only when the primary site is really fit again.

    python -m scripts failback --stack-outputs outputs.json [--yes] [--force --reason TEXT]
        [--baseline FILE [--client-id ID --client-secret-file FILE] [--primary-base-url URL]]

Pre-checks (all read-only; each is a named check in the report):

* ``failback.sticky``     the primary's readiness check probes ``failedOverPath`` (a failover is
                          in effect). If it already probes ``healthPath`` there is nothing to do.
* ``failback.primary-app`` the primary site answers ``healthPath`` with 2xx and serves the
                          production issuer (direct probe of ``primaryHealthHostname``); with
                          ``--baseline``, ``verify`` against it instead: issuer, JWKS overlapping
                          the baseline, and with ``--client-id`` a token that validates.
* ``failback.primary-db`` the primary database (``database.primaryInstanceId``) is available,
                          writable (not a read replica) and was created after the failover was
                          declared, i.e. rebuilt from the DR data. The pre-failover instance holds
                          stale data: failing back to it would silently drop every write made in DR.
* ``failback.versions``   the primary and DR databases run the same PostgreSQL major version, and
                          with ``--primary-kube-context`` the server Deployments run the same images.

A failed pre-check refuses (exit 3) unless ``--force --reason TEXT``; overridden checks are kept in
the report and the timeline. Then (with ``--yes``) the readiness check's path is set back to
``healthPath`` and, unless ``--dns-wait 0``, we wait until Route 53 reports the primary healthy.
"""

from __future__ import annotations

import argparse
from typing import Any

from contract.outputs import StackOutputs
from scripts.aws import route53 as dns
from scripts.aws.client import Aws
from scripts.aws.rds import read_instance
from scripts.cliutil import DefaultsHelpFormatter, duration, duration_help
from scripts.errors import InputError, RefusedError
from scripts.failover.cmd_failover import add_shared_options
from scripts.failover.confirm import require_confirmation
from scripts.failover.incident import IncidentLog
from scripts.failover.probe import ValidationContext, Validator
from scripts.failover.site_validation import PRIMARY_SITE, add_validation_options, build_validator
from scripts.failover.switchback import Switchback, planned
from scripts.k8s.adapter import KubeAdapter, KubectlAdapter, make_adapter
from scripts.lifecycle.record import read_record, topology_store
from scripts.polling import Clock, check_poll_interval
from scripts.progress import Progress
from scripts.report import Report
from scripts.stack_outputs import load_stack_outputs
from scripts.timeutil import iso, parse_iso


class Failback:
    def __init__(
        self,
        args: argparse.Namespace,
        outputs: StackOutputs,
        report: Report,
        *,
        aws: Aws,
        clock: Clock,
        validator: Validator,
        kube: KubeAdapter | None,
        primary_kube: KubeAdapter | None,
    ):
        self.args = args
        self.out = outputs
        self.report = report
        self.aws = aws
        self.clock = clock
        self.validator = validator
        self.kube = kube
        self.primary_kube = primary_kube
        self.progress = Progress("failback", enabled=not args.quiet)
        self.log = IncidentLog.open(args.state_dir, outputs, aws, mode="unknown", clock=clock, as_run=False)
        self.incident = self.log.incident
        self.state_dir = self.log.store.local_dir

    def run(self) -> None:
        """Holding the incident's lock: the planned switchback onto reprotect's copy when there is one; else the
        pre-checks, confirmation, the health path, then the record."""
        hold = not self.args.dry_run
        with self.log.locked("failback", self.clock.now(), force=self.args.force, reason=self.args.reason, hold=hold):
            if planned(read_record(topology_store(self.out, self.aws))):
                self._switchback()
            elif self.args.dry_run:
                self._pre_checks(iso(self.clock.now()))
                self.report.notes.append("dry run: nothing was changed (no copy from reprotect: traffic only)")
            else:
                self._run_locked()

    def _switchback(self) -> None:
        if self.primary_kube is None:
            raise InputError(
                "--primary-kube-adapter",
                None,
                "kubectl or fake:FILE: the planned failback stops and starts the primary site's IdP",
            )
        d = self.out.dns
        Switchback(
            self.args,
            self.out,
            self.report,
            aws=self.aws,
            clock=self.clock,
            validator=self.validator,
            kube=self.kube,
            primary_kube=self.primary_kube,
            incident=self.log,
        ).run(
            confirm=lambda: require_confirmation(
                d.recordName,
                yes=self.args.yes,
                what="failback",
                hint="re-run with --yes",
                question=f"Fail {d.recordName} back to the primary region? Type the record name: ",
            )
        )

    def _run_locked(self) -> None:
        """Pre-checks, confirmation, the health path restored (traffic may return), then the record."""
        started = iso(self.clock.now())
        failed = self._pre_checks(started)
        if failed is None:  # no failover in effect: nothing to do
            return
        if failed:
            self.report.notes.append(
                f"failback FORCED past {len(failed)} failed pre-check(s); reason: {self.args.reason}"
            )
        d = self.out.dns
        require_confirmation(
            d.recordName,
            yes=self.args.yes,
            question=f"Fail {d.recordName} back to the primary region? Type the record name: ",
            what="failback",
            hint="re-run with --yes",
        )
        with self.report.step("restore-health-path") as step:
            changed = dns.set_path(self.aws, d.primaryHealthCheckId, d.healthPath)
            step.detail.update(
                {"health_check": d.primaryHealthCheckId, "resource_path": d.healthPath, "changed": changed}
            )
        # Recorded now, before waiting on Route 53: traffic may move back from this moment, and an
        # incident left open (a timed-out or interrupted wait) would make the next failover resume
        # this one as "already completed" instead of failing over.
        self._record_failback(started, failed, "path-restored")
        self._wait_route53()
        self._finish()

    def _pre_checks(self, started: str) -> list[str] | None:
        """The checks a failback needs (refused unless --force); None when no failover is in effect."""
        d = self.out.dns
        failed: list[str] = []
        with self.report.step("pre-checks") as step:
            path = dns.current_path(self.aws, d.primaryHealthCheckId)
            if path == d.healthPath:
                self.report.check(
                    "failback.sticky",
                    True,
                    f"{d.primaryHealthCheckId} already probes {d.healthPath}: no failover in effect, nothing to do",
                )
                self.report.notes.append("nothing to fail back")
                self._close_stale_incident(started)
                return None
            if path != d.failedOverPath:
                raise RefusedError(
                    f"health check {d.primaryHealthCheckId} probes {path!r}, neither healthPath "
                    f"{d.healthPath!r} nor failedOverPath {d.failedOverPath!r}; someone changed it",
                    hint="inspect the check in Route 53 before failing back",
                )
            self.report.check("failback.sticky", True, f"failover in effect: {d.primaryHealthCheckId} probes {path}")
            for name, ok, message, evidence in self._checks():
                if ok is False:
                    failed.append(f"{name}: {message}")
                    if self.args.force:
                        self.report.check(name, None, f"FAILED, overridden by --force: {message}", **evidence)
                        continue
                self.report.check(name, ok, message, **evidence)
            step.detail["failed"] = failed
            if failed and not self.args.force:
                self.report.result["failed_pre_checks"] = failed
                raise RefusedError(
                    "refusing to fail back: " + "; ".join(failed),
                    hint="fix the primary site; or, knowing the consequences, re-run with --force "
                    "--reason '<why>' (recorded)",
                )
        return failed

    def _wait_route53(self) -> None:
        d = self.out.dns
        if self.args.dns_wait > 0:
            with self.report.step("wait-route53"):
                final = dns.wait_primary_health(
                    self.aws,
                    d.primaryRecordHealthCheckId,
                    healthy=True,
                    timeout=self.args.dns_wait,
                    clock=self.clock,
                    on_update=self.progress.update,
                    timeout_hint="the path is restored and the failback recorded: Route 53 has not marked the primary "
                    "healthy yet; watch the health check (a re-run finds nothing to do)",
                )
                self.report.check("failback.route53", True, f"Route 53 reports the primary healthy: {final.detail}")

    def _finish(self) -> None:
        d = self.out.dns
        i = self.incident
        i.failback = {**(i.failback or {}), "ended_at": iso(self.clock.now()), "result": "completed"}
        self.log.close("failback")
        json_path, md_path = self.log.write_timeline(self.out, getattr(self.kube, "description", "n/a"))
        self.report.result.update(
            {
                "record": d.recordName,
                "failed_back_at": i.failed_back_at,
                "timeline": str(json_path),
                "postmortem": str(md_path),
                "next": [
                    f"after the DNS TTL ({d.ttl} s) and resolver caches, scale the DR standby back to "
                    f"{self.out.standby.drReplicas} replica(s)",
                    "re-create the DR read replica / backup replication from the primary, and point the DR "
                    "endpoint "
                    "secret at it",
                ],
            }
        )

    def _record_failback(self, started: str, overridden: list[str], result: str) -> None:
        i = self.incident
        i.failed_back_at = iso(self.clock.now())
        i.failback = {
            "started_at": started,
            "ended_at": i.failed_back_at,
            "result": result,
            "overridden": overridden,
            "reason": self.args.reason,
        }
        self.log.close(result)

    def _close_stale_incident(self, started: str) -> None:
        """A completed failover whose health path is already restored (an earlier failback that
        was interrupted before it recorded itself, or a manual fix): close it, so that the next
        failover is a new incident rather than a resumed, "already completed" one."""
        i = self.incident
        if i.completed_at and not i.failed_back_at:
            self._record_failback(started, [], "found-restored")
            self.report.notes.append(
                f"closed the failover completed at {i.completed_at}: its health path was already restored"
            )

    def _checks(self) -> list[tuple[str, bool | None, str, dict[str, Any]]]:
        out: list[tuple[str, bool | None, str, dict[str, Any]]] = []
        ctx = ValidationContext.of_site(
            self.out,
            "primary",
            scheme=self.args.probe_scheme,
            timeout_s=0.0,
            clock=self.clock,
            on_update=self.progress.update,
        )
        app = self.validator(ctx)
        # A skipped check (e.g. verify's database checks, which need --db-dsn) blocks nothing; a
        # validator never lets a critical check pass by skipping it (see scripts.failover.validation).
        app_failed = [c for c in app if c.ok is False]
        shown = app_failed or [c for c in app if c.ok]
        out.append(
            (
                "failback.primary-app",
                bool(app) and not app_failed,
                "; ".join(f"{c.name}: {c.message}" for c in shown),
                {"checks": {c.name: {True: "pass", False: "fail", None: "skipped"}[c.ok] for c in app}},
            )
        )
        primary_db, message = self._primary_db()
        out.append(
            (
                "failback.primary-db",
                primary_db is not None and message == "",
                message or f"{self.out.database.primaryInstanceId} is available, writable and newer than the failover",
                {},
            )
        )
        out.append(self._versions(primary_db))
        return out

    def _primary_db(self) -> tuple[dict[str, Any] | None, str]:
        db_id = self.out.database.primaryInstanceId
        inst, text = read_instance(self.aws, self.out.primaryRegion, str(db_id))
        if inst is None:
            return None, f"{db_id} not readable in {self.out.primaryRegion}: {text}"
        status = inst.get("DBInstanceStatus")
        if status != "available":
            return inst, f"{db_id} is {status}, not available"
        if inst.get("ReadReplicaSourceDBInstanceIdentifier"):
            return inst, (
                f"{db_id} is still a read replica of {inst['ReadReplicaSourceDBInstanceIdentifier']}: stop "
                "writes in DR and promote it first"
            )
        declared = parse_iso(self.incident.declared_at)
        created = inst.get("InstanceCreateTime")
        if declared is None:
            return inst, (
                f"no failover state in {self.state_dir} to prove {db_id} holds the DR data (created {iso(created)})"
            )
        if created is None or created <= declared:
            return inst, (
                f"{db_id} was created {iso(created)}, before the failover was declared {iso(declared)}: it is the "
                "pre-failover database and lacks every write made in DR; 'idp-dr reprotect' builds a copy of the DR "
                "data to fail back to"
            )
        return inst, ""

    def _versions(self, primary_db: dict[str, Any] | None) -> tuple[str, bool | None, str, dict[str, Any]]:
        dr_id = (self.incident.db.instance_id if self.incident.db else None) or self.out.database.drReplicaInstanceId
        dr = read_instance(self.aws, self.out.drRegion, dr_id)[0] if dr_id else None
        evidence: dict[str, Any] = {}
        messages = []
        ok: bool | None = None
        if primary_db and dr:
            p_major = str(primary_db.get("EngineVersion", "")).split(".")[0]
            d_major = str(dr.get("EngineVersion", "")).split(".")[0]
            ok = p_major == d_major
            evidence["engine_versions"] = {
                "primary": primary_db.get("EngineVersion"),
                "dr": dr.get("EngineVersion"),
            }
            messages.append(f"PostgreSQL {primary_db.get('EngineVersion')} (primary) vs {dr.get('EngineVersion')} (DR)")
        else:
            messages.append("database versions not compared (an instance is not readable)")
        if self.primary_kube is not None and self.kube is not None:
            sb = self.out.standby
            p_images = self.primary_kube.deployment_status(sb.namespace, sb.serverDeployment).images
            d_images = self.kube.deployment_status(sb.namespace, sb.serverDeployment).images
            same = sorted(p_images) == sorted(d_images)
            ok = same if ok is None else ok and same
            evidence["images"] = {"primary": p_images, "dr": d_images}
            messages.append(f"images {'match' if same else 'differ'}: {p_images} vs {d_images}")
        else:
            messages.append("app images not compared (pass --primary-kube-context)")
        return "failback.versions", ok, "; ".join(messages), evidence


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "failback",
        parents=[common],
        formatter_class=DefaultsHelpFormatter,
        help="undo a sticky failover after pre-checks (primary app ready, primary DB rebuilt, versions match)",
        description="Restore the primary readiness check's path so Route 53 can route to the primary again, "
        "after pre-checks. Exit codes: 0 ok (or nothing to do), 1 a check failed, 2 bad input, 3 refused "
        "(failed pre-check without --force, no --yes), 4 timed out waiting for Route 53, 5 AWS failure.",
    )
    add_shared_options(p)
    p.add_argument("--force", action="store_true", help="fail back despite failed pre-checks (needs --reason)")
    p.add_argument("--reason", default=None, help="why the pre-checks are overridden (recorded)")
    p.add_argument(
        "--primary-kube-context",
        default=None,
        help="kubectl context of the primary cluster (default: standby.primaryKubeContext with "
        "--primary-kube-adapter kubectl), to compare the server images and, after reprotect, to stop and start "
        "the primary site's IdP",
    )
    p.add_argument(
        "--primary-kube-adapter",
        default=None,
        metavar="kubectl|fake:FILE",
        help="how to reach the primary cluster (the planned failback after reprotect needs it)",
    )
    p.add_argument("--dry-run", action="store_true", help="the pre-checks only; change nothing")
    p.add_argument(
        "--timeout",
        type=duration("m"),
        default=120,
        metavar="DURATION",
        help=duration_help("after reprotect: the promotion and each rename, 1 to 1440 minutes", "m"),
    )
    p.add_argument(
        "--drain-timeout",
        type=duration("s"),
        default=900,
        metavar="DURATION",
        help=duration_help("after reprotect: how long to wait for the copy's lag to reach 0 once writes stop", "s"),
    )
    p.add_argument(
        "--k8s-timeout",
        type=duration("s"),
        default=600,
        metavar="DURATION",
        help=duration_help("after reprotect: each scale of a site's IdP", "s"),
    )
    p.add_argument(
        "--validate-timeout",
        type=duration("s"),
        default=600,
        metavar="DURATION",
        help=duration_help("after reprotect: how long to wait for the primary site to become ready", "s"),
    )
    p.add_argument(
        "--poll-interval", type=duration("s"), default=5.0, metavar="DURATION", help="between AWS status polls"
    )
    p.add_argument(
        "--dns-wait",
        type=duration("s"),
        default=300,
        metavar="DURATION",
        help=duration_help("wait until Route 53 reports the primary healthy (0 = don't wait)", "s"),
    )
    add_validation_options(
        p,
        PRIMARY_SITE,
        baseline_help="check the primary site with verify against this file from 'python -m scripts baseline' "
        "(issuer byte for byte, JWKS overlapping the baseline, a token with --client-id) instead of readiness "
        "+ issuer only. Take it from the DR site just before failing back, so that tokens issued during the "
        "failover still validate after it; read before anything is contacted",
    )
    p.set_defaults(handler=run)


def run(
    args: argparse.Namespace,
    report: Report,
    *,
    aws: Aws | None = None,
    clock: Clock | None = None,
    validator: Validator | None = None,
    kube: KubeAdapter | None = None,
    primary_kube: KubeAdapter | None = None,
) -> None:
    outputs = load_stack_outputs(args.stack_outputs)
    if args.force and not (args.reason or "").strip():
        raise InputError("--reason", args.reason, "a non-empty explanation when --force overrides pre-checks")
    if not 0 <= args.dns_wait <= 3600:
        raise InputError("--dns-wait", args.dns_wait, "seconds from 0 to 3600")
    if not 1 <= args.timeout <= 24 * 60:
        raise InputError("--timeout", args.timeout, "minutes from 1 to 1440")
    for flag, value in (
        ("--drain-timeout", args.drain_timeout),
        ("--k8s-timeout", args.k8s_timeout),
        ("--validate-timeout", args.validate_timeout),
    ):
        if not 1 <= value <= 24 * 3600:
            raise InputError(flag, value, "seconds from 1 to 86400")
    check_poll_interval("--poll-interval", args.poll_interval)
    if validator is None:
        # Before the first AWS call: a bad baseline or secret file is bad input, nothing contacted.
        validator = build_validator(
            PRIMARY_SITE,
            baseline=args.baseline,
            client_id=args.client_id,
            secret_file=args.client_secret_file,
            base_url=args.primary_base_url,
            outputs=outputs,
            report=report,
        )
    aws = aws or Aws()
    if kube is None and args.kube_adapter:
        kube = make_adapter(
            args.kube_adapter,
            context=args.kube_context or outputs.standby.drKubeContext,
            aws=aws,
            dr_region=outputs.drRegion,
        )
    if primary_kube is None and args.primary_kube_adapter:
        primary_kube = make_adapter(
            args.primary_kube_adapter,
            context=args.primary_kube_context or outputs.standby.primaryKubeContext,
            aws=aws,
            dr_region=outputs.primaryRegion,  # a fake cluster's ExternalSecrets read the primary region
            flag="--primary-kube-context",
        )
    elif primary_kube is None and args.primary_kube_context:
        primary_kube = KubectlAdapter(args.primary_kube_context, flag="--primary-kube-context")
    Failback(
        args,
        outputs,
        report,
        aws=aws,
        clock=clock or Clock(),
        validator=validator,
        kube=kube,
        primary_kube=primary_kube,
    ).run()
