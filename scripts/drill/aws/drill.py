"""``drill --aws``: a failover by restore rehearsed in the DR region, proven, measured and removed.

    preflight  read-only: an RDS stack with a drill namespace, the standby's Deployment and Secrets to copy,
               the baseline (the newest in the DR bucket), the verifier client
    leftovers  whatever earlier drills left (by name and tag) is removed first; outside the RTO
    restore    the replicated automated backups at their latest restorable time into ``idp-dr-drill-<time>``
               (``restore rds --drill``), its security group opened only to the DR cluster's DB clients
    start      the standby's Deployment copied into ``<namespace>-drill`` on that instance (:mod:`.site`),
               one replica, waited until ready
    verify     ``verify`` against the baseline through a port-forward (or the Service, in the cluster):
               readiness, the production issuer, the baseline's keys, a token that validates
    measure    RTO = restore + start + verify; RPO = the drill's start minus the restored point in time
    metrics    DrillSucceeded (1/0), RTO, RPO and each phase to CloudWatch (``--metric-namespace``)
    record     the outcome in the DR bucket (``idp-dr/drills/``): ``check dr-paths`` alarms on it hourly
    cleanup    exactly what this drill created, also after a failure, a timeout, Ctrl-C or SIGTERM
               (``--keep`` leaves it and prints the command that removes it)

Nothing in production is touched: no Route 53 call, nothing written in the standby's namespace, no change to
the production instances or their secrets. Tests prove each.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from psycopg.conninfo import make_conninfo

from contract.drills import DRILL_SERVICE, drill_name, drill_namespace, drill_started, record_key
from contract.outputs import StackOutputs
from scripts.aws.client import Aws, error_code, error_message
from scripts.drill.artefacts import DrillArtefacts
from scripts.drill.aws import cleanup, metrics, site
from scripts.drill.aws.database import admit_drill_clients, client_sources, restore_spec
from scripts.drill.aws.options import RTO_PHASES, AwsDrillOptions
from scripts.drill.timing import _Clock, _Phase
from scripts.errors import CheckFailed, ExternalError, InputError, RefusedError
from scripts.k8s.site import rollout_failed, rollout_verdict
from scripts.lifecycle.protection import DrSource, current_dr_source
from scripts.polling import Clock, poll_until
from scripts.progress import Progress
from scripts.report import Report
from scripts.restore.rds.execute import restore_rds
from scripts.timeutil import iso
from scripts.verify import ClientCredentials, DbParams, Target, VerifyParams, verify
from scripts.verify.baseline_store import load_baseline
from scripts.verify.model import Baseline

COMMAND = "drill --aws"
#: Ports the drill Service names for each IdP's HTTP and management interfaces.
_HTTP, _MGMT = "http", "management"


class AnotherDrillRunning(RefusedError):
    """Refused because another drill may be running: not this drill's outcome, so neither recorded nor published."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (a Job's deadline, a node drained): handled like Ctrl-C, so the cleanup runs."""


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    def handler(signum: int, frame: Any) -> None:
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (tests): nothing to install
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _WallClock(_Clock):
    """The timeline chart's clock, on the same (replaceable) clock as the waits."""

    def __init__(self, clock: Clock):
        super().__init__(t0=clock.monotonic())
        self.source = clock

    def now(self) -> float:
        return self.source.monotonic() - self.t0


class AwsDrill(DrillArtefacts):
    title = "idp-dr drill on AWS"

    def __init__(
        self, options: AwsDrillOptions, outputs: StackOutputs, report: Report, *, aws: Aws, kube: Any, clock: Clock,
        client_loader: Callable[[str, str], ClientCredentials] | None = None,
    ):  # fmt: skip
        self.o, self.out, self.report, self.aws, self.kube, self.clock = options, outputs, report, aws, kube, clock
        self.timeline = _WallClock(clock)
        self.progress = Progress("drill", enabled=not options.quiet)
        self.started: datetime = clock.now()
        self.id = drill_name(self.started)
        self.standby_ns = outputs.standby.namespace
        self.ns = outputs.standby.drillNamespace or drill_namespace(self.standby_ns)
        self.client_loader = client_loader
        self.rto: dict[str, float] = {}
        self.rpo_s: float | None = None
        self.baseline: Baseline | None = None
        self.baseline_source = ""
        self.client: ClientCredentials | None = None
        self.restored_to: datetime | None = None
        self.endpoint: dict[str, str] = {}
        self.log_paths: list[tuple[str, Path]] = []
        self.source: dict[str, Any] | None = None
        self.db_login: dict[str, str] = {}
        self.service: dict[str, Any] = {}
        self.dr_source: DrSource | None = None

    @property
    def chart_clock(self) -> _Clock:
        """The timeline's phases (:class:`DrillArtefacts` draws them)."""
        return self.timeline

    # -- orchestration ------------------------------------------------------------------------
    def run(self) -> None:
        out_dir = self.o.report_dir / f"drill-aws-{self.started.strftime('%Y%m%dT%H%M%SZ')}"
        self.report.result.update(
            drill=self.id, namespace=self.ns, region=self.out.drRegion, issuer=self.out.issuer,
            targets={"rto_s": self._rto_target(), "rpo_s": self._rpo_target()},
        )  # fmt: skip
        failure: BaseException | None = None
        with _sigterm_interrupts():
            try:
                self._phase("preflight", self.preflight)
                self._phase("leftovers", self.remove_leftovers)
                if self.o.cleanup_only:
                    return
                for name, phase in (("restore", self.restore), ("start", self.start), ("verify", self.verify)):
                    self._phase(name, phase)
                self._phase("measure", self.measure)
            except BaseException as exc:  # noqa: BLE001 - every failure still cleans up, then propagates
                failure = exc
            finally:
                if not self.o.cleanup_only and not isinstance(failure, AnotherDrillRunning):
                    self._finish(out_dir, failure)
        if failure is not None:
            raise failure
        if any(c.blocking for c in self.report.checks):
            failed = ", ".join(c.name for c in self.report.checks if c.blocking)
            raise CheckFailed(f"the drill failed its checks: {failed}", hint=f"see {out_dir}/drill-report.md")

    def _finish(self, out_dir: Path, failure: BaseException | None) -> None:
        succeeded = failure is None and not any(c.blocking for c in self.report.checks)
        self.report.result["succeeded"] = succeeded
        self._guarded("metrics", lambda: self.publish(succeeded))
        if self.o.keep:
            self.report.skip_step("cleanup", "--keep: left for inspection")
            self.report.notes.append(
                f"kept: {self.id} in {self.out.drRegion} and the IdP in namespace {self.ns}; remove them with: "
                f"python -m scripts drill --aws --cleanup --stack-outputs <the same outputs>"
            )
        else:
            self._guarded("cleanup", self.cleanup)
        self._guarded("record", lambda: self.record(succeeded, failure))
        out_dir.mkdir(parents=True, exist_ok=True)
        self.write_artefacts(out_dir)

    def _guarded(self, name: str, body: Callable[[], Any]) -> None:
        """A phase of the way out: its failure is recorded, never hides the drill's own outcome."""
        try:
            self._phase(name, body)
        except Exception as exc:  # noqa: BLE001
            self.report.notes.append(f"{name} failed: {getattr(exc, 'message', None) or exc}")

    def _phase(self, name: str, body: Callable[[], dict[str, Any] | None]) -> None:
        self.progress.update(name)
        group = "verify" if name == "verify" else "recovery" if name in RTO_PHASES else "setup"
        with _Phase(self.report, self.timeline, name, group) as step:
            step.detail.update(body() or {})

    # -- the phases ---------------------------------------------------------------------------
    def preflight(self) -> dict[str, Any]:
        db, sb = self.out.database, self.out.standby
        if getattr(self.kube, "simulated", False):
            self.report.notes.append(f"SIMULATED: {self.kube.description} and a stand-in drill IdP")
        if db.mode != "rds":
            raise RefusedError(
                "drill --aws restores the replicated RDS backups; this stack's database is self-managed",
                hint="drill the WAL archive with: python -m scripts restore wal --from-dr-bucket ... (drill --local "
                "shows the same path end to end)",
            )
        if not self.kube.exists(self.ns, "namespace", self.ns):
            raise RefusedError(
                f"the drill namespace {self.ns} does not exist in the DR cluster ({self.kube.description})",
                hint="the program creates it with runbook.drill.enabled (the default): run pulumi up",
            )
        self.source = self.kube.get_object(self.standby_ns, "deployment", sb.serverDeployment)
        if self.source is None:
            raise RefusedError(f"the standby's Deployment {self.standby_ns}/{sb.serverDeployment} does not exist")
        self.baseline, self.baseline_source = load_baseline(self.o.baseline, outputs=self.out, aws=self.aws)
        if self.baseline.issuer != self.out.issuer:
            raise RefusedError(
                f"the baseline {self.baseline_source} is of issuer {self.baseline.issuer}, not the stack's "
                f"{self.out.issuer}",
                hint="pass --baseline with one of this stack's, or record one: idp-dr baseline --publish",
            )
        self.dr_source = current_dr_source(self.aws, self.out)
        self.report.notes += self.dr_source.notes
        self.report.result["dr_source"] = self.dr_source.to_dict()
        secret = self.o.verifier_secret or sb.verifierSecret
        if secret and self.client_loader is not None:
            self.client = self.client_loader(secret, self.out.drRegion)
            self.report.register_secret(self.client.client_secret)
        else:
            self.report.notes.append("no verifier client (standby.verifierSecret): no token is requested")
        return {
            "baseline": self.baseline_source,
            "baseline_captured_at": iso(self.baseline.captured_at),
            "standby_deployment": f"{self.standby_ns}/{sb.serverDeployment}",
            "kubernetes": self.kube.description,
        }

    def remove_leftovers(self) -> dict[str, Any]:
        """What earlier drills left, removed first, unless one of them may still be running: the drill namespace
        holds one drill at a time (the same Deployment name), and its resources are not ours to remove."""
        found = cleanup.find(self.aws, self.out.drRegion, self.kube, self.ns)
        if found.empty():
            return {"found": "nothing"}
        if not self.o.cleanup_only:
            self._refuse_a_running_drill(found.drills - {self.id})
        self.report.notes.append(f"removed an earlier drill's leftovers: {found.to_dict()}")
        return {"removed": self._remove(found)}

    def _refuse_a_running_drill(self, others: set[str]) -> None:
        """A drill with no record, younger than a drill can run, may be running: refused (nothing created yet)."""
        longest = self.o.restore_timeout_s + self.o.k8s_timeout_s + self.o.cleanup_timeout_s + 30 * 60
        for other in sorted(others):
            started = drill_started(other)
            if started is None or self._has_record(started):
                continue  # finished (kept, or its cleanup failed): a leftover
            age = (self.clock.now() - started).total_seconds()
            if age > longest:
                self.report.notes.append(f"{other} has no record and started {age / 60:.0f} min ago: its runner died")
                continue
            raise AnotherDrillRunning(
                f"another drill, {other}, started {iso(started)} and has not finished (no record in "
                f"s3://{self.out.archive.drBucket}/{record_key(started)}): it may still be running",
                hint="wait for it (a drill takes at most "
                f"{longest / 60:.0f} min), or, if its runner died, remove it with: drill --aws --cleanup",
            )

    def _has_record(self, started: datetime) -> bool:
        s3 = self.aws.client("s3", self.out.drRegion)
        try:
            self.aws.call(s3, "HeadObject", Bucket=self.out.archive.drBucket, Key=record_key(started))
        except ClientError as exc:
            if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise ExternalError(f"cannot read the drill records: {error_code(exc)}: {error_message(exc)}") from None
        return True

    def restore(self) -> dict[str, Any]:
        assert self.dr_source is not None
        spec = restore_spec(
            self.out, self.dr_source, self.id, poll_interval=self.o.poll_interval, timeout_s=self.o.restore_timeout_s
        )
        try:
            outcome = restore_rds(spec, self.report, aws=self.aws, clock=self.clock, step_prefix="restore.")
        except InputError as exc:  # the values come from the stack outputs, not from flags: say so
            raise RefusedError(
                f"cannot restore the stack's replicated backups: {exc.message}",
                hint=exc.hint or "check database.* in the stack outputs",
            ) from None
        self.restored_to = outcome.restored_to
        instance = outcome.instance or {}
        groups = [g["VpcSecurityGroupId"] for g in instance.get("VpcSecurityGroups", [])]
        port = int(outcome.port or self.out.database.port)
        opened = admit_drill_clients(
            self.aws, self.out.drRegion, groups[0],
            client_sources(self.aws, self.out.drRegion, list(self.out.database.drSecurityGroupIds), port),
        )  # fmt: skip
        self.endpoint = {"host": str(outcome.endpoint), "port": str(port), "dbname": self.out.database.dbName}
        return {"instance": self.id, "restored_to": iso(outcome.restored_to), "security_group": groups[0],
                "ingress": opened, "endpoint": self.endpoint["host"]}  # fmt: skip

    def start(self) -> dict[str, Any]:
        sb = self.out.standby
        assert self.source is not None
        refs = site.referenced(self.source)
        for kind in ("secret", "configmap"):
            for name in sorted(refs[kind]):
                original = self.kube.get_object(self.standby_ns, kind, name)
                if original is None:
                    raise RefusedError(f"{kind} {self.standby_ns}/{name}, which the standby's pods read, is missing")
                if kind == "secret" and name == sb.dbSecretName:
                    manifest = site.db_secret(original, sb.idp, self.endpoint, self.ns, self.id)
                    self.db_login = site.db_login(original, sb.idp)
                    self.report.register_secret(self.db_login.get("password"))
                else:
                    manifest = site.copied_object(original, self.ns, self.id)
                self.kube.apply(manifest)
        deployment = site.drill_deployment(
            self.source, namespace=self.ns, standby_namespace=self.standby_ns, drill_id=self.id
        )
        self.kube.apply(deployment)
        self.service = site.drill_service(deployment, self.id)
        self.kube.apply(self.service)
        poll_until(
            lambda: self.kube.deployment_status(self.ns, sb.serverDeployment),
            lambda s: rollout_verdict(s, 1, f"{s.ready}/1 ready"),
            interval=min(self.o.poll_interval, 5.0),
            timeout=self.o.k8s_timeout_s,
            clock=self.clock,
            what=f"{self.ns}/{sb.serverDeployment} ready",
            on_update=self.progress.update,
            timeout_hint=f"kubectl -n {self.ns} describe pods; logs show why the IdP does not start",
            on_failed=rollout_failed,
        )
        return {"copied": {k: sorted(v) for k, v in refs.items()}, "deployment": f"{self.ns}/{sb.serverDeployment}"}

    def verify(self) -> dict[str, Any]:
        assert self.baseline is not None
        ports = {p["name"]: p["port"] for p in self.service["spec"]["ports"]}
        http_port = ports.get(_HTTP) or next(iter(ports.values()))
        wanted = sorted({http_port, *([ports[_MGMT]] if _MGMT in ports else [])})
        with self._reach(wanted) as (hosts, in_cluster):
            target = Target(
                idp=self.baseline.idp,
                base_url=f"http://{hosts[http_port]}",
                realm=self.baseline.scope if self.baseline.idp == "keycloak" else None,
                app=self.baseline.scope if self.baseline.idp == "authentik" else None,
                mgmt_url=f"http://{hosts[ports[_MGMT]]}" if _MGMT in ports else None,
                http_timeout=self.o.http_timeout_s,
                # In the cluster the drill database is reachable (the drill namespace's egress): its checks run.
                db=self._drill_db() if in_cluster else None,
            )
            sub = Report("verify")
            verify(VerifyParams(target, expected_issuer=self.out.issuer, client=self.client), sub, self.baseline)
        for check in sub.checks:
            self.report.check(f"verify.{check.name}", check.ok, check.message, advisory=check.advisory,
                              **check.evidence)  # fmt: skip
        self._key_rotation_since_baseline(sub)
        return {"base_url": target.base_url, "baseline": self.baseline_source, "checks": len(sub.checks)}

    @contextmanager
    def _reach(self, ports: list[int]) -> Iterator[tuple[dict[int, str], bool]]:
        """The drill IdP's host:port per port, and whether this process runs in the cluster."""
        reach = self.o.reach
        if reach == "auto":
            reach = "service" if os.environ.get("KUBERNETES_SERVICE_HOST") else "port-forward"
        if reach == "service":
            yield {port: f"{DRILL_SERVICE}.{self.ns}.svc:{port}" for port in ports}, True
            return
        self.report.notes.append("database checks not run: the drill database is reachable from the DR cluster only")
        with self.kube.forward(self.ns, DRILL_SERVICE, ports) as hosts:
            yield hosts, False

    def _drill_db(self) -> DbParams | None:
        login = self.db_login
        if not login.get("username"):
            return None
        dsn = make_conninfo(host=self.endpoint["host"], port=self.endpoint["port"], dbname=self.endpoint["dbname"],
                            user=login["username"], password=login.get("password") or "")  # fmt: skip
        return DbParams(dsn)

    def _key_rotation_since_baseline(self, sub: Report) -> None:
        """A signing key the restored IdP publishes that the baseline never saw: the baseline predates a rotation."""
        assert self.baseline is not None
        published = set(sub.result.get("jwks_kids") or [])
        unseen = sorted(published - set(self.baseline.jwks_kids))
        self.report.check(
            "baseline.fresh",
            not unseen,
            "the baseline knows every signing key the restored IdP publishes"
            if not unseen
            else f"the restored IdP publishes signing keys the baseline {self.baseline_source} does not know "
            f"({', '.join(unseen)}): a key rotation happened after it; record a new baseline",
            advisory=True,
            unseen_kids=unseen,
        )

    def measure(self) -> dict[str, Any]:
        spans = {s.name: s.end_s - s.start_s for s in self.timeline.spans}
        self.rto = {name: round(spans.get(name, 0.0), 1) for name in RTO_PHASES}
        self.rto["total_s"] = round(sum(spans.get(name, 0.0) for name in RTO_PHASES), 1)
        if self.restored_to is not None:
            self.rpo_s = round(max(0.0, (self.started - self.restored_to).total_seconds()), 1)
        rto_target, rpo_target = self._rto_target(), self._rpo_target()
        self.report.check("rto", self.rto["total_s"] <= rto_target,
                          f"RTO {self.rto['total_s']} s (target {rto_target:g} s)", **self.rto)  # fmt: skip
        if self.rpo_s is not None:
            self.report.check("rpo", self.rpo_s <= rpo_target, f"RPO {self.rpo_s:.0f} s (target {rpo_target:g} s): "
                              "the drill's start minus the newest restorable point")  # fmt: skip
        self.report.result.update(
            rto=self.rto,
            rpo={"rpo_s": self.rpo_s, "definition": "the drill's start minus the replicated backups' newest "
                 "restorable point (what a failover by restore would lose)"},
            rto_parts=" + ".join(f"{n} {self.rto[n]} s" for n in RTO_PHASES),
        )  # fmt: skip
        return {"rto_s": self.rto["total_s"], "rpo_s": self.rpo_s}

    def publish(self, succeeded: bool) -> dict[str, Any]:
        if not self.o.metric_namespace:
            return {"published": "no --metric-namespace"}
        phases = {s.name: s.end_s - s.start_s for s in self.timeline.spans}
        data = metrics.datums(
            self.o.metric_stack or self.standby_ns, succeeded=succeeded, rto_s=self.rto.get("total_s"),
            rpo_s=self.rpo_s, phases=phases, at=self.clock.now(),
        )  # fmt: skip
        sent = metrics.publish(self.aws, self.out.drRegion, self.o.metric_namespace, data)
        return {"namespace": self.o.metric_namespace, "datums": sent, "succeeded": succeeded}

    def record(self, succeeded: bool, failure: BaseException | None) -> dict[str, Any]:
        """The outcome in the DR bucket, where ``check dr-paths`` finds the newest drill for its alarms."""
        key = record_key(self.started)
        doc = {
            "drill": self.id, "started_at": iso(self.started), "succeeded": succeeded, "kept": self.o.keep,
            "rto_s": self.rto.get("total_s"), "rpo_s": self.rpo_s,
            "error": None if failure is None else getattr(failure, "message", None) or type(failure).__name__,
            "failed_checks": [c.name for c in self.report.checks if c.blocking],
        }  # fmt: skip
        # The evidence too (the CronJob's pod and its report directory are gone after the run); secrets masked.
        report = self.report.to_dict()
        doc["report"] = {k: report[k] for k in ("steps", "checks", "notes")}
        s3 = self.aws.client("s3", self.out.drRegion)
        self.aws.call(s3, "PutObject", Bucket=self.out.archive.drBucket, Key=key, Body=json.dumps(doc).encode(),
                      ContentType="application/json")  # fmt: skip
        return {"record": f"s3://{self.out.archive.drBucket}/{key}"}

    def cleanup(self) -> dict[str, Any]:
        """Exactly this drill's resources (another drill's, even a leftover, are the next drill's to judge)."""
        found = cleanup.find(self.aws, self.out.drRegion, self.kube, self.ns, drill=self.id)
        return {"removed": self._remove(found)}

    def _remove(self, found: cleanup.Leftovers) -> dict[str, Any]:
        return cleanup.remove(
            self.aws, self.out.drRegion, self.kube, self.ns, found, clock=self.clock,
            timeout=self.o.cleanup_timeout_s, interval=self.o.poll_interval, on_update=self.progress.update,
        )  # fmt: skip

    def _rto_target(self) -> float:
        return float(self.o.rto_target_s or self.out.rto_target_s)

    def _rpo_target(self) -> float:
        return float(self.o.rpo_target_s or self.out.rpo_target_s)
