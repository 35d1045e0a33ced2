"""``python -m scripts failover``: the command line; the run is :class:`scripts.failover.failover.Failover`.

See :mod:`scripts.failover.failover` for the steps and docs/runbook-aws.md for real output.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from contract.outputs import StackOutputs
from scripts.aws.client import Aws
from scripts.cliutil import DefaultsHelpFormatter, duration, duration_help
from scripts.errors import InputError
from scripts.failover.failover import Failover
from scripts.failover.options import FailoverOptions
from scripts.failover.probe import ProbeResult, Validator, http_get
from scripts.failover.site_validation import DR_SITE, add_validation_options, build_validator
from scripts.k8s.adapter import (
    KubeAdapter,
    make_adapter,
)
from scripts.polling import Clock, check_poll_interval
from scripts.report import Report
from scripts.restore.rds.request import DEFAULT_POLL_S
from scripts.stack_outputs import load_stack_outputs
from scripts.timeutil import iso, parse_time, utcnow


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


def _add_incident_options(p: argparse.ArgumentParser) -> None:
    """--dry-run and --declared-at: what the run reads before anything is declared, and when the incident began."""
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="detect and pre-check only, showing what the run would read and decide (replica lag, the DR site's "
        "readiness, the RPO it would accept); change nothing, declare nothing",
    )
    p.add_argument(
        "--declared-at",
        metavar="TIME",
        default=None,
        help="when the incident began (ISO-8601 with a zone, not in the future, within the last "
        f"{MAX_DECLARED_AGE_DAYS} days): the RTO is measured from it. Default: from the first change, once "
        "confirmed (nothing is declared without --yes or the typed confirmation)",
    )


def _add_planned_options(p: argparse.ArgumentParser) -> None:
    """--planned and the primary cluster it stops."""
    planned = p.add_argument_group("a planned failover (a game day, an evacuation): nothing written is lost")
    planned.add_argument(
        "--planned",
        action="store_true",
        help="the primary is healthy and stays reachable: stop its IdP first (stop-primary) and, promoting, wait "
        "until the DR replica's lag is 0; needs --primary-kube-adapter; not with --force",
    )
    planned.add_argument("--primary-kube-adapter", metavar="kubectl|fake:FILE", help="the primary cluster (--planned)")
    planned.add_argument("--primary-kube-context", metavar="CTX", help="its kubectl context (default: the stack's)")


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "failover",
        parents=[common],
        formatter_class=DefaultsHelpFormatter,
        help="fail the IdP over to the DR region (eight runbook steps, resumable)",
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
    _add_planned_options(p)
    p.add_argument(
        "--reason",
        default=None,
        help="why (recorded in the timeline); required with --force, which also takes over a stale incident lock",
    )
    _add_incident_options(p)
    add_validation_options(
        p,
        DR_SITE,
        baseline_help="validate the DR site with verify against this file from 'python -m scripts baseline' "
        "(issuer byte for byte, JWKS overlapping the baseline, a token with --client-id) instead of "
        "readiness + issuer only; read before anything changes",
    )
    p.add_argument(
        "--poll-interval",
        type=duration("s"),
        default=DEFAULT_POLL_S,
        metavar="DURATION",
        help=duration_help("time between AWS status polls, 1 to 60 s", "s"),
    )
    p.add_argument(
        "--timeout",
        type=duration("m"),
        default=120,
        metavar="DURATION",
        help=duration_help("database promote/restore timeout (exit 4; re-run resumes)", "m"),
    )
    p.add_argument(
        "--k8s-timeout",
        type=duration("s"),
        default=600,
        metavar="DURATION",
        help=duration_help("timeout for the Secret sync and the rollout", "s"),
    )
    p.add_argument(
        "--validate-timeout",
        type=duration("s"),
        default=600,
        metavar="DURATION",
        help=duration_help("how long to wait for the standby to become ready", "s"),
    )
    p.add_argument(
        "--dns-wait",
        type=duration("s"),
        default=300,
        metavar="DURATION",
        help=duration_help(
            "wait until Route 53 reports the primary unhealthy after the sticky change (0 = don't wait)", "s"
        ),
    )
    p.add_argument(
        "--no-reprotect",
        dest="reprotect",
        action="store_false",
        help="do not start replicating the new primary's backups to the primary region",
    )
    p.set_defaults(handler=run)


#: RDS keeps at most 35 days of automated backups: an incident older than the longest PITR window is a typo.
MAX_DECLARED_AGE_DAYS = 35


def declared_at(text: str | None, now: datetime) -> datetime | None:
    """``--declared-at``: a time with a zone, not in the future, within the longest PITR window."""
    if text is None:
        return None
    when = parse_time("--declared-at", text)
    allowed = f"a time with a zone between {iso(now - timedelta(days=MAX_DECLARED_AGE_DAYS))} and now ({iso(now)})"
    if when > now:
        raise InputError("--declared-at", text, allowed, hint="an incident that has not begun cannot be declared")
    if now - when > timedelta(days=MAX_DECLARED_AGE_DAYS):
        raise InputError("--declared-at", text, allowed, hint="older than any PITR window RDS keeps (35 days)")
    return when


def options_from_args(args: argparse.Namespace, outputs: StackOutputs, now: datetime | None = None) -> FailoverOptions:
    mode = args.mode or ("promote" if outputs.database.drReplicaInstanceId else "restore")
    when = declared_at(args.declared_at, now or utcnow())
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
    if args.planned and args.force:
        raise InputError("--planned", True, "not with --force: a planned failover expects a healthy primary")
    if args.planned and not args.primary_kube_adapter:
        raise InputError(
            "--primary-kube-adapter", None, "kubectl or fake:FILE with --planned (it stops the primary site)"
        )
    if args.primary_kube_adapter and not args.planned:
        raise InputError("--primary-kube-adapter", args.primary_kube_adapter, "only with --planned")
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
        declared_at=when,
        planned=args.planned,
        primary_kube_adapter=args.primary_kube_adapter,
        primary_kube_context=args.primary_kube_context,
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
    primary_kube: KubeAdapter | None = None,
) -> None:
    if args.force and not (args.reason or "").strip():
        raise InputError("--reason", args.reason, "a non-empty explanation when --force is given (it is recorded)")
    outputs = load_stack_outputs(args.stack_outputs)
    clock = clock or Clock()
    options = options_from_args(args, outputs, clock.now())
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
    if options.planned and primary_kube is None:
        primary_kube = make_adapter(
            str(options.primary_kube_adapter),
            context=options.primary_kube_context or outputs.standby.primaryKubeContext,
            aws=aws,
            dr_region=outputs.primaryRegion,
            flag="--primary-kube-context",
        )
    Failover(
        options,
        outputs,
        report,
        aws=aws,
        kube=kube,
        clock=clock,
        validator=validator,
        probe=probe or http_get,
        confirm=confirm,
        primary_aws=primary_aws,
        primary_kube=primary_kube,
    ).run()
