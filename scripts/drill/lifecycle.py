"""``drill --lifecycle``: a year of operation in an hour, against one (staging) stack.

    idp-dr drill --lifecycle --stack-outputs ssm://... --kube-adapter kubectl --primary-kube-adapter kubectl --yes

The runbook's commands, chained the way a year chains them, each run exactly as an operator runs it (the same
command line, parsed by the same parser), one after another on what the one before left:

    baseline -> drill -> recover -> drill -> failover -> reprotect -> failback -> drill

After every step two proofs, recorded as that step's checks:

* the IdP that serves now (the primary site, or the DR site while failed over) is the same IdP: its issuer byte
  for byte, keys overlapping the baseline, a client-credentials token that validates (``verify``);
* the next command's inputs are true: the topology record and AWS agree on what serves, and what protects it
  (:mod:`scripts.check.protection`: the DR replica replicates the serving primary, its backups replicate).

The failover is of a healthy primary (a game day has no disaster): it is a planned failover (``--planned``): the
primary site's IdP is stopped first and the DR replica drained to a lag of zero, so nothing written is lost. No
command of the chain runs with ``--force``. The whole chain stops at the first
step that fails (its exit code is the run's); ``timeline.json`` and ``postmortem.md`` of the chain are written to
``--report-dir`` either way. It changes production-shaped resources (a restore swapped in, a failover, a failback):
``--yes`` is required, and it belongs in a staging account (docs/runbook/lifecycle.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contract.outputs import StackOutputs
from scripts.aws.client import Aws
from scripts.check.protection import check_protection
from scripts.errors import CheckFailed, RefusedError
from scripts.lifecycle.record import read_record, topology_store
from scripts.polling import Clock
from scripts.progress import Progress
from scripts.report import Report
from scripts.runstate import Journal, write_timeline
from scripts.verify import ClientCredentials, Target, VerifyParams, verify
from scripts.verify.baseline_store import load_baseline
from scripts.verify.model import Baseline

STEPS = (
    "baseline",
    "drill",
    "recover",
    "drill-after-recover",
    "failover",
    "reprotect",
    "failback",
    "drill-after-failback",
)
#: Where the IdP serves after each step.
SERVING_SITE = {"failover": "dr", "reprotect": "dr"}


@dataclass
class LifecycleOptions:
    stack_outputs: str
    kube_adapter: str
    primary_kube_adapter: str
    baseline: str
    verifier_secret: str | None
    report_dir: Path
    probe_scheme: str = "https"
    poll_interval: float = 5.0
    #: failover and failback: how long to wait for Route 53 to see the switch (0: not at all).
    dns_wait_s: float = 300.0
    kube_context: str | None = None
    primary_kube_context: str | None = None
    quiet: bool = False


class LifecycleDrill:
    def __init__(
        self,
        options: LifecycleOptions,
        outputs: StackOutputs,
        report: Report,
        *,
        aws: Aws,
        clock: Clock,
        client_loader: Callable[[str, str], ClientCredentials],
        command: Callable[[list[str], Report], None],
    ):
        self.o, self.out, self.report, self.aws, self.clock = options, outputs, report, aws, clock
        self.client_loader, self.command = client_loader, command
        self.progress = Progress("lifecycle", enabled=not options.quiet)
        self.journal = Journal.in_memory("drill --lifecycle", outputs.dns.recordName)
        self.game_day = f"gd-{clock.now():%Y%m%dT%H%M%SZ}"
        self.baseline: Baseline | None = None
        self.client: ClientCredentials | None = None

    # -- orchestration ----------------------------------------------------------------------------
    def run(self) -> None:
        self.report.result.update(game_day=self.game_day, steps=list(STEPS))
        try:
            self.journal.run_all(
                self.report,
                [(name, lambda name=name: self._step(name)) for name in STEPS],
                done="the lifecycle closed: every step verified and protected",
            )
        finally:
            self._timeline()

    def _step(self, name: str) -> dict[str, Any]:
        self.progress.update(f"{name} …")
        detail: dict[str, Any] = {}
        if name == "baseline":
            detail = self._baseline()
        else:
            detail["command"] = self._run_command(name)
        detail["verify"] = self._verify(SERVING_SITE.get(name, "primary"), name)
        detail["protection_gaps"] = self._protection(name)
        return detail

    # -- the steps --------------------------------------------------------------------------------
    def _baseline(self) -> dict[str, Any]:
        """The baseline every step is verified against: it must exist (refused before any change otherwise), and
        the stack must be home (a game day starts from a protected primary, not mid-incident)."""
        record = read_record(topology_store(self.out, self.aws))
        if record is not None and record.failed_over:
            raise RefusedError(
                f"a failover is in effect since {record.failed_over_at} (the primary is {record.primary.instance_id} "
                f"in {record.primary.region}): a lifecycle game day starts from the primary region",
                hint="finish that incident first: idp-dr reprotect, then idp-dr failback",
            )
        self.baseline, source = load_baseline(self.o.baseline, outputs=self.out, aws=self.aws)
        if self.baseline.issuer != self.out.issuer:
            raise RefusedError(
                f"the baseline {source} is of issuer {self.baseline.issuer}, not the stack's {self.out.issuer}",
                hint="record one: idp-dr baseline --publish",
            )
        secret = self.o.verifier_secret or self.out.standby.verifierSecret
        if secret:
            self.client = self.client_loader(secret, self.out.drRegion)
            self.report.register_secret(self.client.client_secret)
        return {"baseline": source, "captured_at": self.baseline.captured_at.isoformat()}

    def _run_command(self, name: str) -> dict[str, Any]:
        argv = self._argv(name)
        sub = Report(argv[0])
        try:
            self.command(argv, sub)
        finally:
            for check in sub.checks:
                self.report.check(f"{name}.{check.name}", check.ok, check.message, advisory=check.advisory)
        if not sub.ok:
            raise CheckFailed(f"{name} ran, but its checks failed", hint="its checks are in this report")
        return {
            "argv": argv,
            "result": {
                k: sub.result[k]
                for k in ("incident", "incident_id", "drill", "copy", "declared_at", "rto_s")
                if k in sub.result
            },
        }

    def _argv(self, name: str) -> list[str]:
        o, so = self.o, self.o.stack_outputs
        dr_kube = ["--kube-adapter", o.kube_adapter] + (["--kube-context", o.kube_context] if o.kube_context else [])
        primary_kube = ["--kube-adapter", o.primary_kube_adapter] + (
            ["--kube-context", o.primary_kube_context] if o.primary_kube_context else []
        )
        poll = ["--poll-interval", f"{o.poll_interval:g}"]
        dns = ["--dns-wait", f"{o.dns_wait_s:g}"]
        if name.startswith("drill"):
            return [
                "drill",
                "--aws",
                "--stack-outputs",
                so,
                *dr_kube,
                "--baseline",
                o.baseline,
                "--report-dir",
                str(o.report_dir / name),
                *poll,
                *(["--verifier-secret", o.verifier_secret] if o.verifier_secret else []),
            ]
        if name == "recover":
            return [
                "recover",
                "--stack-outputs",
                so,
                "--latest",
                "--method",
                "swap",
                "--yes",
                *primary_kube,
                "--probe-scheme",
                o.probe_scheme,
                *poll,
            ]
        if name == "failover":
            return [
                "failover",
                "--stack-outputs",
                so,
                *dr_kube,
                "--probe-scheme",
                o.probe_scheme,
                "--yes",
                "--planned",
                "--primary-kube-adapter",
                o.primary_kube_adapter,
                *(["--primary-kube-context", o.primary_kube_context] if o.primary_kube_context else []),
                *poll,
                *dns,
            ]
        if name == "reprotect":
            return ["reprotect", "--stack-outputs", so, "--yes", *poll]
        return [
            "failback",
            "--stack-outputs",
            so,
            *dr_kube,
            "--primary-kube-adapter",
            o.primary_kube_adapter,
            *(["--primary-kube-context", o.primary_kube_context] if o.primary_kube_context else []),
            "--probe-scheme",
            o.probe_scheme,
            "--yes",
            *poll,
            *dns,
        ]

    def _verify(self, site: str, step: str) -> dict[str, Any]:
        """The IdP that serves now against the baseline: issuer, keys overlapping it, a token that validates."""
        assert self.baseline is not None
        d = self.out.dns
        host = d.primaryHealthHostname if site == "primary" else d.drHealthHostname
        base = f"{self.o.probe_scheme}://{host}"
        target = Target(
            idp=self.baseline.idp,
            base_url=base,
            mgmt_url=base,
            realm=self.baseline.scope if self.baseline.idp == "keycloak" else None,
            app=self.baseline.scope if self.baseline.idp == "authentik" else None,
        )
        sub = Report("verify")
        verify(VerifyParams(target, expected_issuer=self.out.issuer, client=self.client), sub, self.baseline)
        for check in sub.checks:
            self.report.check(f"{step}.idp.{check.name}", check.ok, check.message, advisory=check.advisory)
        if not sub.ok:
            raise CheckFailed(
                f"after {step} the {site} site is not the same IdP: "
                + "; ".join(f"{c.name}: {c.message}" for c in sub.checks if c.ok is False)
            )
        return {"site": site, "base_url": base, "checks": len(sub.checks)}

    def _protection(self, step: str) -> int:
        """What the next command reads is true: the record and AWS agree, and the primary is protected."""
        sub = Report("protection")
        gaps = check_protection(self.out, sub, aws=self.aws, now=self.clock.now(), failover_max_unprotected_s=86400.0)
        for check in sub.checks:
            self.report.check(f"{step}.{check.name}", check.ok, check.message)
        if gaps and step not in ("failover",):  # between failover and reprotect nothing protects the DR primary
            raise CheckFailed(
                f"after {step} the primary is not protected ({gaps} gap(s))",
                hint="the step's protection.* checks say which",
            )
        return gaps

    def _timeline(self) -> None:
        self.o.report_dir.mkdir(parents=True, exist_ok=True)
        json_path, md_path = write_timeline(
            self.journal,
            self.o.report_dir,
            title=f"lifecycle game day {self.game_day} on {self.out.dns.recordName}",
            facts=[
                f"Chain: {' -> '.join(STEPS)}",
                "A planned failover of the healthy primary (its writes stopped first)",
            ],
            impact=["A recover to the latest restorable time, a failover and a failback of the staging stack"],
            actions=["read each step's checks; file an issue for any step that needed a manual fix"],
        )
        self.report.result["timeline"] = {"json": str(json_path), "postmortem": str(md_path)}


def run_command(argv: list[str], report: Report, **inject: Any) -> None:
    """One runbook command as an operator runs it: parsed by the CLI's own parser, run by its handler."""
    from scripts.cli import build_parser  # the parser knows every command, this one included: import late

    args = build_parser().parse_args(argv)
    args.quiet = True
    handler = args.handler
    accepted = handler.__code__.co_varnames[: handler.__code__.co_argcount + handler.__code__.co_kwonlyargcount]
    handler(args, report, **{k: v for k, v in inject.items() if k in accepted})
