"""``idp-dr check <what>``: the scheduled checks of the DR paths (see :mod:`scripts.check`)."""

from __future__ import annotations

import argparse

from contract.backups import DR_KEYS_METRIC, REPLICATED_BACKUP_AGE_METRIC
from contract.outputs import StackOutputs
from scripts.aws.client import Aws
from scripts.check.dr_keys import check_dr_keys
from scripts.check.drills import check_drills
from scripts.check.replicated_backups import check_replicated_backups, publish
from scripts.cliutil import DefaultsHelpFormatter
from scripts.errors import InputError
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
    _add_common(p)
    p.set_defaults(handler=run)
    paths = sub.add_parser(
        "dr-paths",
        parents=[common],
        formatter_class=DefaultsHelpFormatter,
        help="every scheduled DR-path check: the replicated backups' age (rds), the DR keys usable",
        description="What the DR cluster's hourly CronJob runs: check replicated-backups (rds mode) and that every "
        "DR-region key of the stack is enabled (not pending deletion, not disabled), publishing "
        f"{REPLICATED_BACKUP_AGE_METRIC} and {DR_KEYS_METRIC} (--metric-namespace). Read-only apart from the "
        "metrics. Exit 0 all good, 1 a check failed, 2 bad input, 5 AWS failure.",
    )
    _add_common(paths)
    paths.add_argument(
        "--drill-max-age-days",
        type=float,
        default=100.0,
        metavar="DAYS",
        help="with a drill namespace (runbook.drill): fail when no drill has succeeded for longer, 1-3650",
    )
    paths.set_defaults(handler=run_dr_paths)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack-outputs", required=True, metavar="FILE|ssm://REGION/PARAM", help="the stack's outputs")
    parser.add_argument("--metric-namespace", metavar="NS", help="publish the check's metrics to this namespace")
    parser.add_argument("--metric-stack", default="idp", metavar="NAME", help="the metrics' Stack dimension")


def run(args: argparse.Namespace, report: Report, *, aws: Aws | None = None) -> None:
    aws = aws or Aws()
    _replicated_backups(args, report, aws, load_stack_outputs(args.stack_outputs, aws=aws))


def run_dr_paths(args: argparse.Namespace, report: Report, *, aws: Aws | None = None) -> None:
    if not 1 <= args.drill_max_age_days <= 3650:
        raise InputError("--drill-max-age-days", args.drill_max_age_days, "a number of days from 1 to 3650")
    aws = aws or Aws()
    outputs = load_stack_outputs(args.stack_outputs, aws=aws)
    if outputs.database.mode == "rds" and outputs.standby.drillNamespace:
        with report.step("drills", region=outputs.drRegion):
            report.result.update(
                check_drills(
                    outputs, report, aws=aws, now=utcnow(), max_age_days=args.drill_max_age_days,
                    metric_namespace=args.metric_namespace, metric_stack=args.metric_stack,
                )
            )  # fmt: skip
    if outputs.database.mode == "rds" and outputs.database.replicatedBackupsArn:
        _replicated_backups(args, report, aws, outputs)
    with report.step("dr-keys", region=outputs.drRegion):
        unusable = check_dr_keys(outputs, report, aws=aws)
    report.result["dr_keys_not_enabled"] = unusable
    if args.metric_namespace:
        publish(
            aws,
            outputs.drRegion,
            args.metric_namespace,
            args.metric_stack,
            DR_KEYS_METRIC,
            float(unusable),
            unit="Count",
        )


def _replicated_backups(args: argparse.Namespace, report: Report, aws: Aws, outputs: StackOutputs) -> None:
    result = check_replicated_backups(
        outputs, report, aws=aws, now=utcnow(), metric_namespace=args.metric_namespace, metric_stack=args.metric_stack
    )
    report.result.update(result)
