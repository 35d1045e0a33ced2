"""The recover: a point-in-time restore into production, as one resumable, journalled run.

    idp-dr recover --stack-outputs ssm://... (--time T | --latest) [--method swap|repoint] --yes

Steps (each journalled with its first start, end, result and attempts; a re-run skips finished ones):

1. ``preflight`` read-only (:mod:`scripts.recover.preflight`); then ``--yes`` is required.
2. ``restore``   ``restore rds`` into ``<id>-recover-<stamp>`` in the same region, every setting copied.
3. ``stop``      the primary site's IdP scaled to 0, waiting until no pod is left.
4. ``cut-over``  ``swap`` (rename, rename) or ``repoint`` (:mod:`scripts.recover.cutover`).
5. ``start``     the IdP scaled back, waiting until it is ready.
6. ``verify``    readiness and issuer, or ``verify`` against ``--baseline`` (keys overlapping it, a
                 token that validates), and every ``--expect-realm`` served again. A failure stops
                 here (exit 1); a re-run resumes at verify.
7. ``follow``    what follows the new primary (:mod:`scripts.recover.follow`): backup replication.
8. ``reprotect`` the topology recorded for the next command, and the DR read replica rebuilt from the
                 restored primary (:mod:`scripts.recover.reprotect`).

The state and the lock live in the DR bucket (``idp-dr/runbook/recover-<id>/``) or ``--state-dir``;
``timeline.json`` and ``postmortem.md`` are written after every run that changed something.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from contract.outputs import StackOutputs
from contract.runbook import RUNBOOK_PREFIX
from scripts.aws.client import Aws
from scripts.aws.rds import describe_instance
from scripts.errors import CheckFailed, InputError, RefusedError
from scripts.failover.probe import ValidationContext, Validator, http_get
from scripts.k8s.site import scale_and_wait
from scripts.polling import Clock
from scripts.progress import Progress
from scripts.recover.cutover import CutOver
from scripts.recover.follow import Follow
from scripts.recover.options import STEPS, Names, RecoverOptions
from scripts.recover.preflight import Preflight
from scripts.recover.reprotect import Reprotect
from scripts.report import Report
from scripts.restore.rds.execute import restore_rds
from scripts.runstate import Journal, write_timeline
from scripts.runstate.store import Holder, LocalStore, S3Store, StateStore
from scripts.timeutil import iso, parse_iso

COMMAND = "recover"


def open_store(options: RecoverOptions, outputs: StackOutputs, aws: Aws) -> StateStore:
    """``--state-dir``, else the DR bucket: any on-call engineer's run finds the incident there."""
    if options.state_dir is not None:
        return LocalStore(options.state_dir)
    instance = outputs.database.primaryInstanceId or "self-managed"
    local = Path(".idp-dr") / "recover" / instance
    return S3Store(
        aws, outputs.archive.drBucket, outputs.drRegion, f"{RUNBOOK_PREFIX}recover-{instance}/", local_dir=local
    )


class Recover(Preflight, CutOver, Follow, Reprotect):
    def __init__(
        self,
        options: RecoverOptions,
        outputs: StackOutputs,
        report: Report,
        *,
        aws: Aws,
        kube: Any,
        clock: Clock,
        validator: Validator,
        store: StateStore | None = None,
    ):
        self.o, self.out, self.report = options, outputs, report
        self.aws, self.kube, self.clock, self.validator = aws, kube, clock, validator
        self.progress = Progress(COMMAND, enabled=not options.quiet)
        self.store = store or open_store(options, outputs, aws)
        self.journal = Journal.open(self.store, command=COMMAND, subject=outputs.database.primaryInstanceId or "")
        started = parse_iso(self.journal.data["started_at"]) or clock.now()
        self.names = Names.for_incident(outputs.database.primaryInstanceId or "", started)
        sb = outputs.standby
        self.deployments = [sb.serverDeployment] + ([sb.workerDeployment] if sb.workerDeployment else [])
        self.todo: list[str] = []

    # -- orchestration -----------------------------------------------------------------------
    def run(self) -> None:
        hold = not self.o.dry_run  # a dry run changes nothing: it takes no lock
        if hold:
            takeover = self.store.acquire(
                Holder.me(COMMAND, iso(self.clock.now())), force=self.o.force, reason=self.o.reason
            )
            if takeover:
                self.journal.data.setdefault("lock_takeovers", []).append(takeover)
        try:
            self._same_incident()
            with self.report.step("preflight") as step:
                step.detail.update(self.preflight())
            self.use_pinned_baseline()
            if self.o.dry_run:
                self._plan()
                return
            if not self.o.yes:
                raise RefusedError(
                    f"recover replaces the production database {self.names.original} "
                    f"(restored to {self.journal.pinned['restore_time']}) and stops the primary site while it does",
                    hint="re-run with --yes (--dry-run lists every call it would make)",
                )
            self._run_steps()
        finally:
            if hold:
                self.store.release()

    def _run_steps(self) -> None:
        steps = {
            "restore": self.restore,
            "stop": self.stop,
            "cut-over": self.cut_over,
            "start": self.start,
            "verify": self.verify,
            "follow": self.follow,
            "reprotect": self.reprotect,
        }
        self.journal.data.setdefault("declared_at", iso(self.clock.now()))
        self.journal.data["forced"] = self.o.force
        self.journal.data["reason"] = self.o.reason
        try:
            self.journal.run_all(self.report, [(name, steps[name]) for name in STEPS], done="recovered and verified")
        finally:
            self._record()
        self.report.notes += self.todo

    def _same_incident(self) -> None:
        """A re-run must ask for the same recovery; another one is refused unless --force --reason."""
        pinned = self.journal.pinned
        if not pinned.get("restore_time"):
            return
        asked = iso(self.o.time) if self.o.time else "latest"
        if (pinned["restore_time"], pinned["method"]) == (asked, self.o.method):
            return
        if not self.o.force:
            raise RefusedError(
                f"an unfinished recover of {self.names.original} to {pinned['restore_time']} ({pinned['method']}, "
                f"incident {pinned.get('incident')}) is recorded in {self.journal.location}; this run asks for "
                f"{asked} ({self.o.method})",
                hint="re-run with the same --time/--latest and --method to finish it, or --force --reason '<why>' "
                "to abandon it and start this one",
            )
        if not self.o.reason:
            raise InputError("--reason", None, "why the unfinished recover is abandoned (required with --force)")
        stamp = f"abandoned-{iso(self.clock.now()).replace(':', '')}"
        self.journal = Journal.fresh(self.store, command=COMMAND, subject=self.names.original, archive_first=stamp)
        self.journal.data["abandoned_previous"] = {"restore_time": pinned["restore_time"], "reason": self.o.reason}
        self.names = Names.for_incident(
            self.names.original, parse_iso(self.journal.data["started_at"]) or self.clock.now()
        )

    # -- the steps -----------------------------------------------------------------------------
    def restore(self) -> dict[str, Any]:
        outcome = restore_rds(self.spec(), self.report, aws=self.aws, clock=self.clock, step_prefix="restore.")
        found = describe_instance(self.aws, self.out.primaryRegion, self.names.restored) or {}
        self.journal.pinned.update(
            restored_rid=found.get("DbiResourceId"),
            restored_endpoint=outcome.endpoint,
            restored_to=iso(outcome.restored_to),
        )
        return {"instance": self.names.restored, "endpoint": outcome.endpoint, "restored_to": iso(outcome.restored_to)}

    def stop(self) -> dict[str, Any]:
        return scale_and_wait(
            self.kube,
            self.out.standby.namespace,
            self.deployments,
            0,
            timeout=self.o.k8s_timeout_s,
            clock=self.clock,
            on_update=self.progress.update,
        )

    def start(self) -> dict[str, Any]:
        return scale_and_wait(
            self.kube,
            self.out.standby.namespace,
            self.deployments,
            self.journal.pinned["replicas"],
            timeout=self.o.k8s_timeout_s,
            clock=self.clock,
            on_update=self.progress.update,
        )

    def verify(self) -> dict[str, Any]:
        ctx = ValidationContext.of_site(
            self.out,
            "primary",
            scheme=self.o.probe_scheme,
            timeout_s=self.o.validate_timeout_s,
            interval_s=min(self.o.poll_interval, 5.0),
            clock=self.clock,
            on_update=self.progress.update,
        )
        failed = []
        for check in self.validator(ctx):
            self.report.check(check.name, check.ok, check.message, **check.evidence)
            failed += [check.name] if check.ok is False else []
        for realm in self.o.expect_realms:
            failed += [] if self._realm_served(realm) else [f"realm {realm}"]
        if failed:
            raise CheckFailed(
                f"the recovered primary site fails its checks: {', '.join(failed)}",
                hint="the database is restored and serving; fix what failed, then re-run to verify",
            )
        return {"checks": len(self.report.checks)}

    def _realm_served(self, realm: str) -> bool:
        issuer = self.out.issuer.rsplit("/realms/", 1)[0] + f"/realms/{realm}"
        site = f"{self.o.probe_scheme}://{self.out.dns.primaryHealthHostname}"
        probe = http_get(f"{site}/realms/{realm}/.well-known/openid-configuration", want_json=True)
        served = probe.ok and isinstance(probe.body, dict) and probe.body.get("issuer") == issuer
        self.report.check(
            f"realm.{realm}",
            served,
            f"realm {realm!r} is served with issuer {issuer}"
            if served
            else f"realm {realm!r} is not served as {issuer}: {probe.summary()}",
        )
        return served

    # -- dry run and record ---------------------------------------------------------------------
    def _plan(self) -> None:
        spec = self.spec()
        spec.dry_run = True
        restore_rds(spec, self.report, aws=self.aws, clock=self.clock, step_prefix="restore.")
        n, sb, region = self.names, self.out.standby, self.out.primaryRegion
        deployments = ", ".join(f"{sb.namespace}/{d}" for d in self.deployments)
        plan = [
            f"rds:RestoreDBInstanceToPointInTime {n.original} -> {n.restored} at {self.journal.pinned['restore_time']} "
            f"({region}), then wait until available",
            f"kubernetes: scale {deployments} to 0, wait until no pod is left ({self.kube.description})",
        ]
        if self.o.method == "swap":
            plan += [
                f"rds:ModifyDBInstance {n.original} -> {n.damaged} (ApplyImmediately), wait until available",
                f"rds:AddTagsToResource {n.damaged} idp-dr:incident={n.incident}",
                f"rds:ModifyDBInstance {n.restored} -> {n.original} (ApplyImmediately), wait until available",
            ]
        else:
            plan += [
                f"secretsmanager:PutSecretValue {sb.primaryDbEndpointSecretArn} host=<{n.restored}'s endpoint>",
                f"kubernetes: annotate ExternalSecret {sb.namespace}/{sb.externalSecretName} force-sync, "
                "wait until the Secret shows it",
            ]
        plan += [
            f"kubernetes: scale {deployments} to {self.journal.pinned['replicas']}, wait until ready",
            f"verify the primary site ({self.out.dns.primaryHealthHostname}) and realms "
            f"{', '.join(self.o.expect_realms) or '(none asked)'}",
        ]
        if self.o.method == "swap":
            plan.append(f"rds:StartDBInstanceAutomatedBackupsReplication {n.original} -> {self.out.drRegion}")
        plan.append(f"s3:PutObject the topology record (s3://{self.out.archive.drBucket}/idp-dr/runbook/topology/): "
                    f"{n.original if self.o.method == 'swap' else n.restored} serves")  # fmt: skip
        replica = self.out.database.drReplicaInstanceId
        if replica and self.o.method == "swap":
            stale = f"{replica[: 63 - len('-stale-') - 17]}-stale-{n.damaged.rsplit('-', 1)[-1]}"
            plan += [
                f"rds:ModifyDBInstance {replica} -> {stale} ({self.out.drRegion}; only if it still replicates the "
                "damaged instance), AddTagsToResource, wait until available",
                f"rds:CreateDBInstanceReadReplica {replica} of {n.original} ({self.out.drRegion}, the stale "
                "replica's settings), wait until it is available and replicating",
            ]
        self.report.result["plan"] = plan
        self.report.notes += [f"would {i}: {line}" for i, line in enumerate(plan, 1)]
        for name in STEPS:
            self.report.skip_step(name, "dry run: nothing changed")

    def _record(self) -> None:
        pinned = self.journal.pinned
        when = pinned.get("restored_to") or pinned.get("restore_time")  # --latest: the time it restored to
        json_path, md_path = write_timeline(
            self.journal,
            self.store.local_dir,
            title=f"recover of {self.names.original} to {pinned.get('restore_time')}",
            facts=[
                f"Method: {pinned.get('method')}; incident {pinned.get('incident')}",
                f"Restored {self.names.restored} to {pinned.get('restored_to') or when}; damaged instance kept as "
                f"{self.names.damaged if pinned.get('method') == 'swap' else self.names.original}",
                f"Forced: {'yes — ' + str(self.o.reason) if self.o.force else 'no'}",
            ],
            impact=[
                f"Everything written after {when} is gone (users, clients, role and realm changes made since)",
                f"Sessions and offline tokens issued after {when} are gone: those users log in again and "
                "offline-token clients re-authorize; sessions that had ended since are back until they expire "
                "('verify --session-hygiene logout-all' ends them)",
            ],
            actions=self.todo,
        )
        self.report.result["timeline"] = {"json": str(json_path), "postmortem": str(md_path)}
        self.report.result["incident"] = pinned.get("incident")
