"""``idp-dr check <what>``: the scheduled checks of the DR paths (see :mod:`scripts.check`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from psycopg.conninfo import make_conninfo

from contract.backups import (
    DR_KEYS_METRIC,
    DR_PROTECTION_GAPS_METRIC,
    REPLICATED_BACKUP_AGE_METRIC,
    WAL_ARCHIVER_FAILING_METRIC,
)
from contract.outputs import StackOutputs
from scripts.aws.client import Aws
from scripts.aws.secrets import read_json_secret
from scripts.check.dr_keys import check_dr_keys
from scripts.check.drills import check_drills
from scripts.check.protection import check_protection
from scripts.check.replicated_backups import check_replicated_backups, publish
from scripts.check.wal_archiver import check_wal_archiver
from scripts.cliutil import DefaultsHelpFormatter, duration, duration_help
from scripts.errors import InputError
from scripts.report import Report
from scripts.stack_outputs import load_stack_outputs
from scripts.timeutil import utcnow
from scripts.verify.model import DbParams


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
        help="every scheduled DR-path check: the replicated backups' age and the primary's protection (rds), "
        "the DR keys usable",
        description="What the DR cluster's hourly CronJob runs: check replicated-backups (rds mode); that the DR "
        "replica replicates the serving primary, that the serving primary's backups are replicated and that no "
        "failover stays unprotected longer than allowed (rds mode, read live and from the topology record); and "
        "that every DR-region key of the stack is enabled (not pending deletion, not disabled), publishing "
        f"{REPLICATED_BACKUP_AGE_METRIC}, {DR_PROTECTION_GAPS_METRIC} and {DR_KEYS_METRIC} (--metric-namespace). "
        "Read-only apart from the metrics. Exit 0 all good, 1 a check failed, 2 bad input, 5 AWS failure.",
    )
    _add_common(paths)
    paths.add_argument(
        "--drill-max-age-days",
        type=float,
        default=100.0,
        metavar="DAYS",
        help="with a drill namespace (runbook.drill): fail when no drill has succeeded for longer, 1-3650",
    )
    paths.add_argument(
        "--failover-max-unprotected",
        type=duration("h"),
        default=72.0,
        metavar="DURATION",
        help=duration_help(
            "rds: fail when a failover has been in effect longer without reprotect, 1 h to 90 days", "h"
        ),
    )
    archiver = paths.add_argument_group("WAL archiving of a self-managed primary (pg_stat_archiver)")
    archiver.add_argument(
        "--wal-archiver",
        action="store_true",
        help="check it on the stack's primary (database.primaryEndpoint) as the IdP's role "
        "(database.appCredentialsSecret, read in the DR region)",
    )
    archiver.add_argument("--wal-archiver-dsn", metavar="DSN", help="check it on this server instead (a libpq DSN)")
    archiver.add_argument("--db-sslmode", metavar="MODE", help="libpq sslmode for it (default: the DSN's, else prefer)")
    archiver.add_argument("--db-sslrootcert", type=Path, metavar="FILE", help="the CA that signed its certificate")
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
    if not 1 <= args.failover_max_unprotected <= 90 * 24:
        raise InputError("--failover-max-unprotected", args.failover_max_unprotected, "hours from 1 to 2160 (90 days)")
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
        with report.step("protection", region=outputs.drRegion):
            gaps = check_protection(outputs, report, aws=aws, now=utcnow(),
                                    failover_max_unprotected_s=args.failover_max_unprotected * 3600.0)  # fmt: skip
        report.result["protection_gaps"] = gaps
        if args.metric_namespace:
            publish(aws, outputs.drRegion, args.metric_namespace, args.metric_stack, DR_PROTECTION_GAPS_METRIC,
                    float(gaps), unit="Count")  # fmt: skip
    db = _archiver_db(args, outputs, aws)
    if db is not None:
        with report.step("wal-archiver", server=db.describe()["host"]):
            failing = check_wal_archiver(db, report)
        report.result["wal_archiving_failing"] = failing
        if args.metric_namespace:
            publish(aws, outputs.drRegion, args.metric_namespace, args.metric_stack, WAL_ARCHIVER_FAILING_METRIC,
                    float(failing), unit="Count")  # fmt: skip
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


def _archiver_db(args: argparse.Namespace, outputs: StackOutputs, aws: Aws) -> DbParams | None:
    """The server whose pg_stat_archiver is checked: --wal-archiver-dsn, or the stack's self-managed primary."""
    if args.wal_archiver_dsn:
        return DbParams(args.wal_archiver_dsn, sslmode=args.db_sslmode, sslrootcert=args.db_sslrootcert)
    if not args.wal_archiver:
        return None
    db = outputs.database
    if db.mode != "self-managed" or not db.appCredentialsSecret:
        raise InputError("--wal-archiver", True, "a self-managed stack with database.appCredentialsSecret (RDS "
                         "archives its own WAL)")  # fmt: skip
    login = read_json_secret(aws, outputs.drRegion, db.appCredentialsSecret, field="--wal-archiver",
                             keys=("username", "password"))  # fmt: skip
    dsn = make_conninfo(host=db.primaryEndpoint, port=db.port, dbname=db.dbName, user=str(login["username"]),
                        password=str(login["password"]))  # fmt: skip
    return DbParams(dsn, sslmode=args.db_sslmode, sslrootcert=args.db_sslrootcert)


def _replicated_backups(args: argparse.Namespace, report: Report, aws: Aws, outputs: StackOutputs) -> None:
    result = check_replicated_backups(
        outputs, report, aws=aws, now=utcnow(), metric_namespace=args.metric_namespace, metric_stack=args.metric_stack
    )
    report.result.update(result)
