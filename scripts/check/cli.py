"""``idp-dr check <what>``: the scheduled checks of the DR paths (see :mod:`scripts.check`)."""

from __future__ import annotations

import argparse

from scripts.aws.client import Aws
from scripts.check.replicated_backups import check_replicated_backups
from scripts.cliutil import DefaultsHelpFormatter
from scripts.report import Report
from scripts.stack_outputs import load_stack_outputs
from scripts.timeutil import utcnow


def register_check(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "replicated-backups",
        parents=[common],
        formatter_class=DefaultsHelpFormatter,
        help="how old the replicated automated backups' newest restorable point is, against the RPO target",
        description="Read the replicated automated backups in the DR region (database.replicatedBackupsArn), "
        "check that their newest restorable point is younger than the stack's RPO target, and publish its age "
        "(--metric-namespace) for the program's alarm. Read-only apart from that one metric. Exit 0 fresh, 1 "
        "older than the RPO target or no restorable point, 2 bad input, 5 AWS failure.",
    )
    p.add_argument("--stack-outputs", required=True, metavar="FILE|ssm://REGION/PARAM", help="the stack's outputs")
    p.add_argument("--metric-namespace", metavar="NS", help="publish ReplicatedBackupAgeSeconds to this namespace")
    p.add_argument("--metric-stack", default="idp", metavar="NAME", help="the metric's Stack dimension")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, report: Report, *, aws: Aws | None = None) -> None:
    aws = aws or Aws()
    outputs = load_stack_outputs(args.stack_outputs, aws=aws)
    report.result.update(
        check_replicated_backups(
            outputs,
            report,
            aws=aws,
            now=utcnow(),
            metric_namespace=args.metric_namespace,
            metric_stack=args.metric_stack,
        )
    )
