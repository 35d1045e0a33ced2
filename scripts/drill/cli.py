"""``python -m scripts drill``: a game-day drill that measures RTO and RPO against declared targets."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from scripts.cliutil import duration, duration_help, report_dir
from scripts.drill.aws.cli import add_arguments as add_aws_arguments
from scripts.drill.aws.cli import run_aws
from scripts.drill.lifecycle_cli import add_arguments as add_lifecycle_arguments
from scripts.drill.lifecycle_cli import run_lifecycle
from scripts.drill.local import LocalDrillOptions, run_local_drill
from scripts.drill.options import METHODS
from scripts.errors import InputError
from scripts.inputs import check_http_url
from scripts.report import Report


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "drill",
        parents=[common],
        help="run a DR drill and report measured RTO/RPO (--local: everything on this machine)",
        description=(
            "Run a complete disaster and recovery and report measured RTO and RPO against declared targets. "
            "--local needs no cloud account: a PostgreSQL primary archiving WAL with barman-cloud to an "
            "S3-compatible store (moto_server), a real Keycloak on it, a workload, a disaster (a realm deleted, "
            "then the primary SIGKILLed), a recovery (--method wal: a point-in-time restore from the archived "
            "WAL; --method dump: the newest verified logical dump, taken during the workload, restored onto a "
            "new server), a standby Keycloak with the same hostname, and verification against a baseline. "
            "Everything started is stopped, also on failure or Ctrl-C. "
            "Exit 0 only when every check passed."
        ),
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--local", action="store_true", help="run everything on this machine (no cloud account)")
    where.add_argument(
        "--lifecycle",
        action="store_true",
        help="a year in an hour against one staging stack: baseline, drill, recover, drill, failover, reprotect, "
        "failback, drill, verifying the IdP and its protection after every step (--yes)",
    )
    where.add_argument(
        "--aws",
        action="store_true",
        help="drill the stack's DR path on AWS: restore the replicated backups into an isolated idp-dr-drill-* "
        "instance, start the IdP in the DR cluster's drill namespace, verify it against the newest baseline, "
        "measure, publish metrics and remove everything it created (production is never touched)",
    )
    parser.add_argument(
        "--method",
        default=LocalDrillOptions.method,
        metavar="|".join(METHODS),
        help="recover by WAL (point in time) or by logical dump (default: %(default)s)",
    )
    parser.add_argument(
        "--hostname",
        default=LocalDrillOptions.hostname,
        metavar="URL",
        help="public hostname of both Keycloaks, https://... (default: %(default)s)",
    )
    parser.add_argument(
        "--archive-timeout",
        type=duration("s", integer=True),
        default=LocalDrillOptions.archive_timeout_s,
        metavar="DURATION",
        help=duration_help("PostgreSQL archive_timeout, 1-300 (default: %(default)s)", "s"),
    )
    parser.add_argument(
        "--workload-seconds",
        type=duration("s"),
        default=LocalDrillOptions.workload_s,
        metavar="DURATION",
        help=duration_help("workload before and after the target, 2-600 (default: %(default)s)", "s"),
    )
    parser.add_argument(
        "--seed-users",
        type=int,
        default=LocalDrillOptions.seed_users,
        metavar="N",
        help="users in the realm before the drill, 1-1000 (default: %(default)s)",
    )
    parser.add_argument(
        "--rpo-target",
        type=duration("s"),
        default=None,
        metavar="DURATION",
        help=duration_help(
            f"declared RPO the drill must meet (default: {LocalDrillOptions.rpo_target_s:g} with --local, the "
            "stack's rpoTargetSeconds with --aws)",
            "s",
        ),
    )
    parser.add_argument(
        "--rto-target",
        type=duration("s"),
        default=None,
        metavar="DURATION",
        help=duration_help(
            f"declared RTO the drill must meet (default: {LocalDrillOptions.rto_target_s:g} with --local, the "
            "stack's rtoTargetSeconds with --aws)",
            "s",
        ),
    )
    parser.add_argument(
        "--report-dir",
        type=Path,
        default=LocalDrillOptions.report_dir,
        metavar="DIR",
        help="where drill-<time>/ with the JSON, Markdown and PNG reports goes (default: %(default)s)",
    )
    parser.add_argument(
        "--keycloak-timeout",
        type=duration("s"),
        default=LocalDrillOptions.keycloak_timeout_s,
        metavar="DURATION",
        help=duration_help("longest wait for a Keycloak to be ready (default: %(default)s)", "s"),
    )
    parser.add_argument(
        "--data-mb",
        type=int,
        default=0,
        metavar="MIB",
        help="extra data loaded before the base backup, 0-65536 MiB (default: %(default)s)",
    )
    parser.add_argument(
        "--wal-mb",
        type=int,
        default=0,
        metavar="MIB",
        help="WAL generated after the base backup, 0-65536 MiB; --method wal only (default: %(default)s)",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="--local: keep the workspace (data directories, logs); --aws: leave the drill instance and IdP running",
    )
    add_aws_arguments(parser)
    add_lifecycle_arguments(parser)
    parser.set_defaults(handler=run)


#: The --local-only flags' defaults (``drill --aws`` refuses them when changed).
_LOCAL_DEFAULTS: dict[str, object] = {
    "hostname": LocalDrillOptions.hostname,
    "archive_timeout": LocalDrillOptions.archive_timeout_s,
    "workload_seconds": LocalDrillOptions.workload_s,
    "seed_users": LocalDrillOptions.seed_users,
    "keycloak_timeout": LocalDrillOptions.keycloak_timeout_s,
    "data_mb": 0,
    "wal_mb": 0,
}
#: The --aws-only flags' defaults (``drill --local`` refuses them when changed).
_AWS_DEFAULTS: dict[str, object] = {"stack_outputs": None, "cleanup": False, "metric_namespace": None,
                                    "verifier_secret": None}  # fmt: skip


def _options(args: argparse.Namespace) -> LocalDrillOptions:
    if args.method not in METHODS:
        raise InputError("--method", args.method, " or ".join(METHODS))
    if args.method == "dump" and args.wal_mb:
        raise InputError("--wal-mb", args.wal_mb, "0 with --method dump (a dump restore replays no WAL)")
    check_http_url("--hostname", args.hostname, "an https:// URL without a path, e.g. https://sso.example.test")
    url = urlsplit(args.hostname)
    if url.scheme != "https" or not url.hostname or url.path not in ("", "/"):
        raise InputError("--hostname", args.hostname, "an https:// URL without a path, e.g. https://sso.example.test")
    if args.rpo_target is None:
        args.rpo_target = LocalDrillOptions.rpo_target_s
    if args.rto_target is None:
        args.rto_target = LocalDrillOptions.rto_target_s
    bounds = [
        ("--archive-timeout", args.archive_timeout, 1, 300),
        ("--workload-seconds", args.workload_seconds, 2, 600),
        ("--seed-users", args.seed_users, 1, 1000),
        ("--rpo-target", args.rpo_target, 1, 86400),
        ("--rto-target", args.rto_target, 10, 86400),
        ("--keycloak-timeout", args.keycloak_timeout, 30, 3600),
        ("--data-mb", args.data_mb, 0, 65536),
        ("--wal-mb", args.wal_mb, 0, 65536),
    ]
    for flag, value, low, high in bounds:
        if not low <= value <= high:
            raise InputError(flag, value, f"a number from {low} to {high}")
    return LocalDrillOptions(
        method=args.method,
        hostname=args.hostname.rstrip("/"),
        archive_timeout_s=args.archive_timeout,
        workload_s=args.workload_seconds,
        seed_users=args.seed_users,
        rpo_target_s=args.rpo_target,
        rto_target_s=args.rto_target,
        report_dir=report_dir("--report-dir", args.report_dir),
        keep=args.keep,
        keycloak_timeout_s=args.keycloak_timeout,
        progress=not args.quiet,
        data_mb=args.data_mb,
        wal_mb=args.wal_mb,
    )


def _refuse_local_flags(args: argparse.Namespace) -> None:
    if args.method != "wal":
        raise InputError("--method", args.method, "wal (not used with --lifecycle)")
    for dest, default in _LOCAL_DEFAULTS.items():
        if getattr(args, dest) != default:
            raise InputError(
                "--" + dest.replace("_", "-"), getattr(args, dest), "a --local option (not with --lifecycle)"
            )


def run(args: argparse.Namespace, report: Report, **inject: Any) -> None:
    """``inject``: the AWS session, Kubernetes adapter and clock of ``drill --aws`` (tests)."""
    if args.lifecycle:
        run_lifecycle(args, report, _refuse_local_flags, **inject)
        return
    for flag in ("primary_kube_adapter", "primary_kube_context", "yes"):
        if getattr(args, flag):
            raise InputError("--" + flag.replace("_", "-"), getattr(args, flag), "a --lifecycle option")
    if args.aws:
        for flag, value in (("--rpo-target", args.rpo_target), ("--rto-target", args.rto_target)):
            if value is not None and not 1 <= value <= 86400:
                raise InputError(flag, value, "a number from 1 to 86400")
        run_aws(args, report, _LOCAL_DEFAULTS, **inject)
        return
    for dest, default in _AWS_DEFAULTS.items():
        if getattr(args, dest) != default:
            flag = "--" + dest.replace("_", "-")
            raise InputError(flag, getattr(args, dest), "an --aws option (not used with --local)")
    opts = _options(args)
    run_local_drill(opts, report)
