"""``drill --lifecycle``'s flags and entry point (the chain itself: :mod:`scripts.drill.lifecycle`)."""

from __future__ import annotations

import argparse
from typing import Any

from scripts.aws.client import Aws
from scripts.cliutil import duration, duration_help, report_dir
from scripts.errors import InputError, RefusedError
from scripts.polling import Clock, check_poll_interval
from scripts.report import Report
from scripts.stack_outputs import load_stack_outputs
from scripts.verify.cli_args import client_from_secret


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("--lifecycle (the whole chain against one staging stack; also takes --aws's)")
    group.add_argument("--primary-kube-adapter", metavar="kubectl|fake:FILE", help="the primary cluster (required)")
    group.add_argument("--primary-kube-context", metavar="CTX", help="its kubectl context (default: the stack's)")
    group.add_argument("--probe-scheme", default="https", metavar="https|http", help="how the sites' hosts answer")
    group.add_argument(
        "--dns-wait",
        type=duration("s"),
        default=300.0,
        metavar="DURATION",
        help=duration_help("failover and failback: wait until Route 53 sees the switch, 0-3600 (0 = don't)", "s"),
    )
    group.add_argument(
        "--yes", action="store_true", help="really recover, fail over and fail back the stack (staging only)"
    )


def run_lifecycle(args: argparse.Namespace, report: Report, refuse_local: Any, **inject: Any) -> None:
    """Every flag checked before anything is read; then the chain (:class:`~scripts.drill.lifecycle.LifecycleDrill`)."""
    from scripts.drill.lifecycle import LifecycleDrill, LifecycleOptions, run_command

    refuse_local(args)
    if not args.stack_outputs:
        raise InputError(
            "--stack-outputs", None, "the stack's outputs (a file, - or ssm://REGION/PARAM) with --lifecycle"
        )
    if not args.primary_kube_adapter:
        raise InputError(
            "--primary-kube-adapter",
            None,
            "kubectl or fake:FILE: recover and failback stop and start the primary site's IdP",
        )
    if args.probe_scheme not in ("https", "http"):
        raise InputError("--probe-scheme", args.probe_scheme, "https or http")
    for flag in ("cleanup", "keep"):
        if getattr(args, flag):
            raise InputError(f"--{flag}", True, "not with --lifecycle (each drill of the chain cleans up after itself)")
    poll = check_poll_interval("--poll-interval", args.poll_interval)
    if not 0 <= args.dns_wait <= 3600:
        raise InputError("--dns-wait", args.dns_wait, "seconds from 0 to 3600")
    if not args.yes:
        raise RefusedError(
            "drill --lifecycle recovers the stack's database in place, fails it over and fails it back: it is for a "
            "staging stack",
            hint="re-run with --yes against a staging stack (docs/runbook/lifecycle.md)",
        )
    outputs = load_stack_outputs(args.stack_outputs)
    if outputs.database.mode != "rds":
        raise InputError("--stack-outputs", args.stack_outputs, "a stack with database.mode 'rds'")
    aws = inject.get("aws") or Aws()
    options = LifecycleOptions(
        stack_outputs=args.stack_outputs,
        kube_adapter=args.kube_adapter,
        primary_kube_adapter=args.primary_kube_adapter,
        baseline=args.baseline,
        verifier_secret=args.verifier_secret,
        report_dir=report_dir("--report-dir", args.report_dir),
        probe_scheme=args.probe_scheme,
        poll_interval=poll,
        dns_wait_s=args.dns_wait,
        kube_context=args.kube_context,
        primary_kube_context=args.primary_kube_context,
        quiet=args.quiet,
    )
    LifecycleDrill(
        options,
        outputs,
        report,
        aws=aws,
        clock=inject.get("clock") or Clock(),
        client_loader=lambda name, region: client_from_secret(name, region, aws=aws),
        command=lambda argv, sub: run_command(argv, sub, **inject),
    ).run()
