"""``drill --aws``'s own flags and how they become :class:`AwsDrillOptions` (``drill --help`` lists them)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from scripts.aws.client import Aws
from scripts.cliutil import duration, duration_help, report_dir
from scripts.drill.aws.drill import AwsDrill
from scripts.drill.aws.options import REACH, AwsDrillOptions
from scripts.errors import InputError
from scripts.k8s.adapter import make_adapter
from scripts.polling import Clock, check_poll_interval
from scripts.report import Report
from scripts.stack_outputs import load_stack_outputs
from scripts.verify.cli_args import client_from_secret
from scripts.verify.model import Baseline


def add_arguments(parser: argparse.ArgumentParser) -> None:
    aws = parser.add_argument_group("--aws (a drill in the stack's DR region and DR cluster)")
    aws.add_argument("--stack-outputs", metavar="FILE|ssm://REGION/PARAM", help="the stack's outputs (required)")
    aws.add_argument("--kube-adapter", default="kubectl", metavar="kubectl|fake:FILE", help="the DR cluster")
    aws.add_argument(
        "--kube-context",
        metavar="CTX",
        help="kubectl context (default: the stack's drKubeContext; in-cluster: the pod's service account)",
    )
    aws.add_argument(
        "--baseline",
        default="latest",
        metavar="latest|s3://…|FILE",
        help="verify against this baseline; 'latest' is the newest in the DR bucket (default: %(default)s)",
    )
    aws.add_argument("--verifier-secret", metavar="NAME", help="the verifier client (default: standby.verifierSecret)")
    aws.add_argument(
        "--reach",
        default="auto",
        metavar="|".join(REACH),
        help="how the drill IdP is reached: kubectl port-forward, or its Service's cluster DNS name (in the cluster); "
        "auto picks service inside a cluster (default: %(default)s)",
    )
    aws.add_argument("--cleanup", action="store_true", help="only remove what earlier drills left behind")
    aws.add_argument(
        "--timeout",
        type=duration("m"),
        default=120.0,
        metavar="DURATION",
        help=duration_help("longest wait for the restored instance, 1-1440 (default: %(default)s)", "m"),
    )
    aws.add_argument(
        "--k8s-timeout",
        type=duration("m"),
        default=15.0,
        metavar="DURATION",
        help=duration_help("longest wait for the drill IdP to be ready, 1-240 (default: %(default)s)", "m"),
    )
    aws.add_argument(
        "--poll-interval", type=duration("s"), default=15.0, metavar="DURATION", help="seconds between polls"
    )
    aws.add_argument("--metric-namespace", metavar="NS", help="publish the drill's metrics to this namespace")
    aws.add_argument("--metric-stack", metavar="NAME", help="their Stack dimension (default: the standby namespace)")


def _refuse_local_flags(args: argparse.Namespace, defaults: dict[str, Any]) -> None:
    if args.method != "wal":
        raise InputError("--method", args.method, "wal with --aws (it restores the replicated automated backups)")
    for dest in defaults:
        if getattr(args, dest) != defaults[dest]:
            flag = "--" + dest.replace("_", "-")
            raise InputError(flag, getattr(args, dest), "a --local option (not used with --aws)")


def options_from_args(args: argparse.Namespace, defaults: dict[str, Any]) -> AwsDrillOptions:
    _refuse_local_flags(args, defaults)
    if not args.stack_outputs:
        raise InputError("--stack-outputs", None, "the stack's outputs (a file, - or ssm://REGION/PARAM) with --aws")
    if args.reach not in REACH:
        raise InputError("--reach", args.reach, " or ".join(REACH))
    if not 1 <= args.timeout <= 1440:
        raise InputError("--timeout", args.timeout, "minutes from 1 to 1440")
    if not 1 <= args.k8s_timeout <= 240:
        raise InputError("--k8s-timeout", args.k8s_timeout, "minutes from 1 to 240")
    if args.keep and args.cleanup:
        raise InputError("--keep", True, "not with --cleanup (which removes what a drill kept)")
    return AwsDrillOptions(
        baseline=args.baseline,
        keep=args.keep,
        cleanup_only=args.cleanup,
        reach=args.reach,
        verifier_secret=args.verifier_secret,
        restore_timeout_s=args.timeout * 60.0,
        k8s_timeout_s=args.k8s_timeout * 60.0,
        poll_interval=check_poll_interval("--poll-interval", args.poll_interval),
        metric_namespace=args.metric_namespace,
        metric_stack=args.metric_stack,
        rto_target_s=args.rto_target,
        rpo_target_s=args.rpo_target,
        report_dir=report_dir("--report-dir", args.report_dir),
        quiet=args.quiet,
    )


def run_aws(
    args: argparse.Namespace, report: Report, defaults: dict[str, Any], *, aws: Aws | None = None,
    kube: Any = None, clock: Clock | None = None,
) -> None:  # fmt: skip
    options = options_from_args(args, defaults)
    outputs = load_stack_outputs(args.stack_outputs)
    if args.baseline not in (None, "latest") and not str(args.baseline).startswith("s3://"):
        # A file the operator named is checked before the drill begins: a bad one is bad input and records no
        # failed drill. A missing or broken baseline in the DR bucket is the DR path's problem: recorded, alarmed.
        Baseline.load(Path(args.baseline))
    aws = aws or Aws()
    kube = kube or make_adapter(
        args.kube_adapter, context=args.kube_context or outputs.standby.drKubeContext, aws=aws,
        dr_region=outputs.drRegion,
    )  # fmt: skip
    AwsDrill(
        options, outputs, report, aws=aws, kube=kube, clock=clock or Clock(),
        client_loader=lambda name, region: client_from_secret(name, region, aws=aws),
    ).run()  # fmt: skip
