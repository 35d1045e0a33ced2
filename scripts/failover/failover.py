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

Progress is persisted in ``<state-dir>/state.json``; a re-run skips completed steps and resumes at
the interrupted one. ``timeline.json`` and a Markdown post-mortem skeleton are written there after
every run, successful or not.
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
from scripts.failover.probe import ProbeResult, ValidationContext, Validator, http_get, site_url
from scripts.failover.standby import StandbySteps
from scripts.failover.state import STEPS, FailoverOptions, State
from scripts.failover.timeline import write_timeline
from scripts.failover.traffic import TrafficSteps
from scripts.k8s.adapter import (
    KubeAdapter,
)
from scripts.polling import Clock
from scripts.progress import Progress
from scripts.report import Report
from scripts.timeutil import format_duration, iso, parse_iso

#: Step statuses a re-run resumes (a refused step changed nothing: it is simply tried again).
_RESUMABLE_STATUSES = ("running", "interrupted", "failed", "timed-out", "skipped-deferred")


def _step_status(exc: BaseException) -> str:
    """A step's (and the run's) status after it raised ``exc``."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, WaitTimeout):
        return "timed-out"
    if isinstance(exc, RefusedError):
        return "refused"
    return "failed"


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
        self.state = State.open(options.state_dir, outputs, aws, mode=options.mode, now=clock.now())
        self.state_dir = self.state.store.local_dir
        #: Nothing is written (no incident declared, no clock started) until the run is confirmed: a resumed
        #: incident was declared by its first run.
        self.declared = bool(self.state.data.get("declared_at"))

    # -- orchestration -----------------------------------------------------------------
    def run(self) -> None:
        # One run per incident at a time, from whichever machine (a dry run changes nothing: no lock).
        o = self.o
        with self.state.locked("failover", self.clock.now(), force=o.force, reason=o.reason, hold=not o.dry_run):
            self._run_locked()

    def _run_locked(self) -> None:
        run_record = self._begin_run()
        outcome = "failed"
        try:
            outcome = self._run_steps()
        except (WaitTimeout, KeyboardInterrupt, RefusedError) as exc:
            outcome = _step_status(exc)  # the run ends as its step did; anything else: "failed"
            raise
        finally:
            if self._persist:
                run_record["ended_at"] = iso(self.clock.now())
                run_record["result"] = outcome
                self.state.save()
                self._write_timeline()

    def _begin_run(self) -> dict[str, Any]:
        """Refuse a conflicting re-run, record this run, say what is being resumed."""
        st = self.state
        if st.data["mode"] != self.o.mode:
            raise RefusedError(
                f"conflicting re-run: {st.location} holds a failover in mode {st.data['mode']} started "
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
        st.data["runs"].append(run_record)
        if self._persist:
            st.save()
        self.report.result.update(
            {
                "incident_id": st.data["incident_id"],
                "mode": self.o.mode,
                "record": self.out.dns.recordName,
                "state_dir": str(self.state_dir),
                "state": st.location,
                "kubernetes": self.kube.description,
                "resumed": resumed,
            }
        )
        if self.kube.simulated:
            self.report.notes.append(f"{self.kube.description}: no real cluster was touched")
        if st.data.get("completed_at"):
            self.report.notes.append(f"this failover already completed at {st.data['completed_at']}; nothing to do")
        return run_record

    def _run_steps(self) -> str:
        """The runbook's steps in order; returns the run's outcome."""
        st = self.state
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
        if not st.data.get("completed_at"):
            st.data["completed_at"] = st.steps.get("cut-traffic", {}).get("ended_at") or iso(self.clock.now())
        self._summary()
        return "completed"

    def _step(self, name: str, fn: Callable[[], dict[str, Any] | None], *, always: bool = False) -> None:
        """Run one step, persisting its status before and after: a re-run resumes at this step."""
        st = self.state
        previous = st.steps.get(name)
        if previous and previous.get("status") == "ok" and not always:
            self.report.skip_step(name, f"done in an earlier run (ended {previous.get('ended_at')})")
            return
        # A refused step changed nothing: re-running it is a fresh attempt, not a resumption.
        interrupted = bool(previous) and previous.get("status") in _RESUMABLE_STATUSES
        entry = self._new_entry(previous, always)
        st.steps[name] = entry
        if self._persist:
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
        except BaseException as exc:
            entry["status"] = _step_status(exc)
            if not isinstance(exc, KeyboardInterrupt):
                entry["error"] = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            raise
        else:
            if entry["status"] == "running":
                entry["status"] = "ok"
            entry["detail"] = {k: v for k, v in detail.items() if not k.startswith("_")}
        finally:
            entry["ended_at"] = iso(self.clock.now())
            if self._persist:
                st.save()

    def _pending(self) -> list[str]:
        """The steps after preflight this run would do (stop-primary only in a planned failover)."""
        return [s for s in STEPS[2:] if not self.state.done(s) and (self.o.planned or s != "stop-primary")]

    @property
    def _persist(self) -> bool:
        return self.declared and not self.o.dry_run

    def _declare(self) -> None:
        """Confirmed: the incident is declared now (or at --declared-at) and written, with what was read."""
        st = self.state.data
        if not st.get("declared_at"):
            declared = self.o.declared_at or self.clock.now()
            st["declared_at"] = iso(declared)
            st["declared_by"] = "--declared-at" if self.o.declared_at else "the first change (confirmed)"
        self.declared = True
        self.report.result["declared_at"] = st["declared_at"]
        self.state.save()

    def _new_entry(self, previous: dict[str, Any] | None, always: bool) -> dict[str, Any]:
        entry: dict[str, Any] = {
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
        return entry

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
        self.state.data["detected_at"] = iso(self.clock.now())
        self.state.data["forced"] = bool(reasons) and not self.o.planned
        self.state.data["planned"] = self.o.planned
        self.state.data["reason"] = self.o.reason
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
        self.report.result["would_accept"] = self.state.data.get("would_accept")
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
            "once the primary region answers: idp-dr reprotect --stack-outputs <file> --yes (a caught-up copy of the "
            "DR database there; check dr-paths alarms if none follows within --failover-max-unprotected)",
            f"then: idp-dr failback --stack-outputs <file> --yes (switches back to it and restores "
            f"{self.out.dns.healthPath})",
        ]

    def _write_timeline(self) -> None:
        json_path, md_path = write_timeline(self.state, self.out, self.kube.description, self.state_dir)
        self.report.result["timeline"] = str(json_path)
        self.report.result["postmortem"] = str(md_path)
