"""The failover: the Keycloak failover runbook's steps as one resumable run (the command is ``cmd_failover``).

    python -m scripts failover --stack-outputs outputs.json [--mode promote|restore] [--yes]

Steps (each recorded with start, end and result; each idempotent):

1. ``detect``       Route 53's view of the primary (the PRIMARY record's calculated check and its
                    children) plus a direct HTTPS probe. A primary that looks healthy to either is
                    refused (exit 3) unless ``--force`` or ``--planned``.
2. ``preflight``    read-only: the DR database (replica or replicated backups: the serving primary's,
                    resolved live), the sticky-failover health-check semantics, the failover records,
                    the DR secrets and Deployments, the DR site's readiness, the loss a failover would
                    accept. Then ``--yes`` (or a typed confirmation on a terminal) is required; only then
                    is the incident declared and written (the RTO runs from ``--declared-at``, else from
                    now). ``--planned`` then stops the primary site's IdP and drains the replica
                    (``stop-primary``).
3. ``database``     promote the cross-region read replica (``--mode promote``) or restore the
                    replicated automated backups at their latest restorable time (``--mode restore``,
                    through ``scripts.restore.rds``), and wait until it accepts writes; the topology
                    record then names it as the primary.
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
                    region (skipped, and retried by a later re-run, while that region is down). The
                    copy to fail back to is ``idp-dr reprotect``'s (:mod:`scripts.failover.reprotect`).

Progress is kept on the runbook's journal (:mod:`scripts.failover.incident`: ``<state-dir>/state.json``,
else the DR bucket); a re-run skips completed steps and resumes at the interrupted one. ``timeline.json``
and a Markdown post-mortem skeleton are written beside it after every run, successful or not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from contract.outputs import StackOutputs
from scripts.aws import route53 as dns
from scripts.aws.client import Aws
from scripts.errors import CheckFailed, RefusedError, WaitTimeout
from scripts.failover.confirm import require_confirmation
from scripts.failover.database import DatabaseSteps
from scripts.failover.incident import STEPS, IncidentLog
from scripts.failover.options import FailoverOptions
from scripts.failover.probe import ProbeResult, ValidationContext, Validator, http_get, site_url
from scripts.failover.standby import StandbySteps
from scripts.failover.traffic import TrafficSteps
from scripts.k8s.adapter import (
    KubeAdapter,
)
from scripts.polling import Clock
from scripts.progress import Progress
from scripts.report import Report
from scripts.runstate.journal import status_after
from scripts.timeutil import format_duration, iso, parse_iso


class Failover(DatabaseSteps, StandbySteps, TrafficSteps):
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
        primary_kube: KubeAdapter | None = None,
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
        self.primary_kube = primary_kube
        self.clock = clock
        self.validator = validator
        self.probe = probe
        self.confirm = confirm
        self.progress = Progress("failover", enabled=not options.quiet)
        #: Held (nothing written, no incident declared, no clock started) until the run is confirmed: a resumed
        #: incident was declared by its first run.
        self.log = IncidentLog.open(options.state_dir, outputs, aws, mode=options.mode, clock=clock)
        self.incident = self.log.incident
        self.state_dir = self.log.store.local_dir
        if options.dry_run:
            self.log.journal.held = True

    # -- orchestration -----------------------------------------------------------------
    def run(self) -> None:
        # One run per incident at a time, from whichever machine (a dry run changes nothing: no lock).
        o = self.o
        with self.log.locked("failover", self.clock.now(), force=o.force, reason=o.reason, hold=not o.dry_run):
            self._run_locked()

    def _run_locked(self) -> None:
        self._begin_run()
        outcome = "failed"
        try:
            outcome = self._run_steps()
        except (WaitTimeout, KeyboardInterrupt, RefusedError) as exc:
            outcome = status_after(exc)  # the run ends as its step did; anything else: "failed"
            raise
        finally:
            if not self.log.journal.held:
                self.log.journal.data["runs"][-1].update(forced=self.o.force)
                self.log.journal.pinned["incident"] = self.incident.to_dict()
                self.log.journal.finish(outcome, completed=False)  # the incident stays open until failback
                self._write_timeline()

    def _begin_run(self) -> None:
        """Refuse a conflicting re-run, say what is being resumed."""
        i = self.incident
        if i.mode != self.o.mode:
            raise RefusedError(
                f"conflicting re-run: {self.log.location} holds a failover in mode {i.mode} started "
                f"{self.log.journal.data['started_at']}, not mode {self.o.mode}",
                hint=f"re-run with --mode {i.mode} to resume it, or use another --state-dir",
            )
        self.report.result.update(
            {
                "incident_id": i.incident_id,
                "mode": self.o.mode,
                "record": self.out.dns.recordName,
                "state_dir": str(self.state_dir),
                "state": self.log.location,
                "kubernetes": self.kube.description,
                "resumed": bool(self.log.steps),
            }
        )
        if self.kube.simulated:
            self.report.notes.append(f"{self.kube.description}: no real cluster was touched")
        if i.completed_at:
            self.report.notes.append(f"this failover already completed at {i.completed_at}; nothing to do")

    def _run_steps(self) -> str:
        """The runbook's steps in order; returns the run's outcome."""
        i = self.incident
        self._step("detect", self.detect)
        self._step("preflight", self.preflight, always=True)
        if self.o.dry_run:
            self._dry_run_plan()
            return "dry-run"
        self._confirm()
        self._declare()
        if self.o.planned:
            self._step("stop-primary", self.stop_primary)
        self._step("database", self.database)
        self._step("point-standby", self.point_standby)
        self._step("scale-standby", self.scale_standby)
        self._step("validate", self.validate)
        self._step("cut-traffic", self.cut_traffic)
        if self.o.reprotect:
            self._step("reprotect", self.reprotect)
        else:
            self.report.skip_step("reprotect", "--no-reprotect")
        if not i.completed_at:
            i.completed_at = self.log.steps.get("cut-traffic", {}).get("ended_at") or iso(self.clock.now())
        self._summary()
        return "completed"

    def _step(self, name: str, fn: Callable[[], dict[str, Any] | None], *, always: bool = False) -> None:
        """One step on the incident's journal: its status saved before and after, so a re-run resumes here."""
        self.progress.update(f"{name} …")
        self.log.journal.pinned["incident"] = self.incident.to_dict()
        self.log.journal.run(self.report, name, lambda: self._saving(fn), always=always)

    def _saving(self, fn: Callable[[], dict[str, Any] | None]) -> dict[str, Any] | None:
        """``fn``, then what it decided (the typed incident) into the journal, saved with the step's status."""
        try:
            return fn()
        finally:
            self.log.journal.pinned["incident"] = self.incident.to_dict()

    def _pending(self) -> list[str]:
        """The steps after preflight this run would do (stop-primary only in a planned failover)."""
        return [s for s in STEPS[2:] if not self.log.done(s) and (self.o.planned or s != "stop-primary")]

    def _declare(self) -> None:
        """Confirmed: the incident is declared now (or at --declared-at) and written, with what was read."""
        i = self.incident
        if not i.declared_at:
            i.declared_at = iso(self.o.declared_at or self.clock.now())
            i.declared_by = "--declared-at" if self.o.declared_at else "the first change (confirmed)"
        self.log.journal.held = False
        self.report.result["declared_at"] = i.declared_at
        self.log.save()

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
            None if (healthy_r53 and (self.o.force or self.o.planned)) or r53.healthy is None else not healthy_r53,
            f"primary {'healthy' if healthy_r53 else 'unhealthy' if r53.healthy is False else 'unknown'}"
            f" per Route 53: {r53.detail}",
            status=r53.to_dict(),
        )
        self.report.check(
            "detect.probe",
            None if probe.ok and (self.o.force or self.o.planned) else not probe.ok,
            f"primary {'answers' if probe.ok else 'does not answer'}: {probe.summary()}",
        )
        self.report.check("detect.primary-db", None, db["message"], **{k: v for k, v in db.items() if k != "message"})
        if reasons and self.o.planned:
            self.report.notes.append("a planned failover of a healthy primary: its writes stop first (stop-primary)")
        elif reasons and not self.o.force:
            raise RefusedError(
                "refusing to fail over a primary that looks healthy: " + "; ".join(reasons),
                hint="if users still cannot log in (a failure the checks cannot see), re-run with --force "
                "--reason '<why>'; the override is recorded in the timeline",
            )
        self.incident.detected_at = iso(self.clock.now())
        self.incident.forced = bool(reasons) and not self.o.planned
        self.incident.planned = self.o.planned
        self.incident.reason = self.o.reason
        if reasons and not self.o.planned:
            self.report.notes.append(
                "failover FORCED over a healthy-looking primary: "
                + "; ".join(reasons)
                + (f" (reason: {self.o.reason})" if self.o.reason else " (no --reason given)")
            )
        return {
            "route53": r53.to_dict(),
            "probe": {"url": url, "ok": probe.ok, "status": probe.status, "error": probe.error},
            "primary_db": db,
            "forced": bool(reasons) and not self.o.planned,
            "planned": self.o.planned,
            "reason": self.o.reason,
        }

    # -- 2. preflight ----------------------------------------------------------------------
    def preflight(self) -> dict[str, Any]:
        """Read-only: the DR database, the sticky-failover checks and records, the standby's objects."""
        detail: dict[str, Any] = {}
        self.preflight_database(detail)
        self.preflight_records(detail)
        self.preflight_standby(detail)
        detail["dr_site"] = self._dr_site_readiness()
        return detail

    def _dr_site_readiness(self) -> dict[str, Any]:
        """The DR site as it is before anything changes (a pilot light has no pods: not ready is expected)."""
        d, sb = self.out.dns, self.out.standby
        url = site_url(d.drHealthHostname, d.healthPath, self.o.probe_scheme)
        probe = self.probe(url)
        pilot = sb.drReplicas == 0
        message = f"DR site {'ready' if probe.ok else 'not ready'}: {probe.summary()}" + (
            f" (pilot light: {sb.serverDeployment} runs 0 pods until scale-standby)" if pilot and not probe.ok else ""
        )
        self.report.check("preflight.dr-site", None if pilot or probe.ok else False, message)
        if not (pilot or probe.ok):
            self.report.notes.append(f"the warm DR site does not answer {url}: validate will wait for it")
        return {"url": url, "ready": probe.ok, "pilot_light": pilot}

    def _dry_run_plan(self) -> None:
        planned = self._pending()
        self.report.result["would_run"] = planned
        self.report.result["would_accept"] = self.incident.would_accept
        self.report.notes.append(
            "nothing was declared: the RTO clock starts at --declared-at, or at the first change once confirmed"
        )
        self.report.check("dry-run", True, "detected and pre-checked; nothing was changed")

    def _confirm(self) -> None:
        pending = self._pending()
        if not pending:
            return
        record = self.out.dns.recordName
        require_confirmation(
            record,
            yes=self.o.yes,
            question=f"This fails {record} over to the DR region. Type the record name to continue: ",
            what="failover",
            hint=f"re-run with --yes to run: {', '.join(pending)}",
            confirm=self.confirm,
        )

    # -- 6. validate -------------------------------------------------------------------------
    def validate(self) -> dict[str, Any]:
        ctx = ValidationContext.of_site(
            self.out,
            "dr",
            scheme=self.o.probe_scheme,
            timeout_s=self.o.validate_timeout_s,
            interval_s=min(self.o.poll_interval, 5.0),
            clock=self.clock,
            on_update=self.progress.update,
            baseline=self.o.baseline,
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

    # -- summary and timeline ---------------------------------------------------------------------
    def _summary(self) -> None:
        i = self.incident
        for key, value in (
            ("declared_at", i.declared_at),
            ("database", i.to_dict()["db"]),
            ("rpo", i.rpo),
        ):
            self.report.result.setdefault(key, value)
        cut_at = (self.log.steps.get("cut-traffic") or {}).get("ended_at")
        self.report.result["traffic_cut_at"] = cut_at
        declared, cut = parse_iso(i.declared_at), parse_iso(cut_at)
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
            "once the primary region answers: idp-dr reprotect --stack-outputs <file> --yes (a caught-up copy of the "
            "DR database there; check dr-paths alarms if none follows within --failover-max-unprotected)",
            f"then: idp-dr failback --stack-outputs <file> --yes (switches back to it and restores "
            f"{self.out.dns.healthPath})",
        ]

    def _write_timeline(self) -> None:
        json_path, md_path = self.log.write_timeline(self.out, self.kube.description)
        self.report.result["timeline"] = str(json_path)
        self.report.result["postmortem"] = str(md_path)
