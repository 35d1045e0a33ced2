"""``restore rds``: RDS point-in-time restore that refuses bad input and copies every setting.

Usage (see ``--help`` and docs/runbook-aws.md)::

    python -m scripts restore rds --source prod-db --target prod-db-pitr --time 2026-11-23T10:15:00Z
    python -m scripts restore rds --source prod-db --target idp-dr-drill-q4 --latest --drill
    python -m scripts restore rds --source prod-db --target prod-db-dr --latest \\
        --from-replicated-backups arn:aws:rds:us-west-2:111122223333:auto-backup:ab-... \\
        --stack-outputs outputs.json

What it guarantees:

* **Validate first.** Malformed time, a time without a timezone, in the future or outside the
  restorable window, a missing source, an invalid or taken target, a missing subnet group /
  security group / parameter group / KMS key and missing read permissions are all refused
  before the first mutating call, each naming the value, what is allowed and a hint.
* **No silent defaults.** ``RestoreDBInstanceToPointInTime`` falls back to the default VPC
  security group, default subnet group, default parameter group, single-AZ and no deletion
  protection. Every such setting is copied from the source (or, restoring from replicated
  backups in the DR region, from the backup record and the DR resources) and passed
  explicitly; the report says where each value came from, and after the restore each one is
  checked on the new instance.
* **Never touches the source.** The only mutating calls are the restore itself and, for
  ``--drill``, creating the isolated security group.
* **Idempotent.** The new instance is tagged with what it was restored from; a re-run of the
  same command resumes waiting on it, a conflicting re-run is refused, and a target that
  exists without our tags is refused as taken.
* **Bounded waits.** Polls every ``--poll-interval`` seconds (default 5) up to ``--timeout``
  minutes (default 120); a timeout exits 4 and the same command resumes.
"""

from __future__ import annotations

import argparse

from contract.restore import DrRestoreRequest
from scripts.aws.client import Aws
from scripts.cliutil import DefaultsHelpFormatter, duration, duration_help
from scripts.errors import InputError
from scripts.polling import Clock, check_poll_interval
from scripts.progress import Progress
from scripts.report import Report
from scripts.restore.rds.execute import restore_rds
from scripts.restore.rds.request import DEFAULT_POLL_S, DEFAULT_TIMEOUT_MIN, DRILL_PREFIX, IDENTIFIER_RULE, RestoreSpec
from scripts.stack_outputs import load_stack_outputs
from scripts.timeutil import format_duration, parse_time


def register_restore(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "rds",
        parents=[common],
        help="RDS point-in-time restore into a new instance (in-region or from replicated backups)",
        description="Restore an RDS instance to a point in time into a NEW instance. Validates the time "
        "against the restorable window, copies every setting AWS would otherwise default, never touches "
        "the source, and resumes on re-run. Exit codes: 0 ok, 1 a post-restore check failed, 2 bad input, "
        "3 refused (conflicting re-run), 4 timed out (re-run to resume), 5 AWS failure.",
        formatter_class=DefaultsHelpFormatter,
    )
    # dest is not "source": scripts.cli uses args.source for the restore kind ("rds").
    p.add_argument(
        "--source",
        dest="source_id",
        required=True,
        metavar="INSTANCE_ID",
        help="the DB instance to restore from (never modified)",
    )
    p.add_argument(
        "--target",
        required=True,
        metavar="NEW_INSTANCE_ID",
        help=f"the new instance; {IDENTIFIER_RULE}. With --drill it is prefixed with '{DRILL_PREFIX}'",
    )
    when = p.add_mutually_exclusive_group(required=True)
    when.add_argument("--time", metavar="ISO8601", help="restore time with a timezone, e.g. 2026-11-23T10:15:00Z")
    when.add_argument("--latest", action="store_true", help="restore to the latest restorable time")
    p.add_argument(
        "--from-replicated-backups",
        metavar="ARN",
        default=None,
        help="restore from replicated automated backups in the DR region (arn:...:auto-backup:ab-...); "
        "the restore runs in the ARN's region",
    )
    p.add_argument("--region", default=None, help="AWS region (default: AWS_REGION / profile)")
    p.add_argument(
        "--drill",
        action="store_true",
        help="isolated drill: name under idp-dr-drill-, a new security group with no ingress/egress, "
        "not publicly accessible, deletion protection off",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="validate everything and print the exact request; create nothing",
    )
    p.add_argument(
        "--stack-outputs",
        metavar="FILE",
        default=None,
        help="take DR subnet group, security groups, parameter group and KMS key from these stack "
        "outputs (for --from-replicated-backups)",
    )
    dr = p.add_argument_group("settings (default: copied from the source)")
    dr.add_argument("--db-subnet-group", default=None)
    dr.add_argument("--vpc-security-group-ids", default=None, metavar="SG[,SG...]")
    dr.add_argument("--db-parameter-group", default=None)
    dr.add_argument("--option-group", default=None)
    dr.add_argument(
        "--master-secret-kms-key",
        default=None,
        metavar="KMS_KEY",
        help="KMS key for the restored instance's managed master-user secret",
    )
    dr.add_argument("--instance-class", default=None)
    dr.add_argument("--multi-az", dest="multi_az", action="store_true", default=None)
    dr.add_argument("--no-multi-az", dest="multi_az", action="store_false")
    w = p.add_argument_group("waiting")
    w.add_argument(
        "--poll-interval",
        type=duration("s"),
        default=DEFAULT_POLL_S,
        metavar="DURATION",
        help=duration_help("time between status polls, 1 to 60 s", "s"),
    )
    w.add_argument(
        "--timeout",
        type=duration("m"),
        default=DEFAULT_TIMEOUT_MIN,
        metavar="DURATION",
        help=duration_help("give up waiting after this long (exit 4; re-run resumes)", "m"),
    )
    p.set_defaults(handler=run)


def spec_from_args(args: argparse.Namespace) -> RestoreSpec:
    restore_time = parse_time("--time", args.time) if args.time is not None else None
    sgs = (
        [s.strip() for s in args.vpc_security_group_ids.split(",") if s.strip()]
        if args.vpc_security_group_ids
        else None
    )
    spec = RestoreSpec(
        source=args.source_id,
        target=args.target,
        restore_time=restore_time,
        time_text=args.time,
        region=args.region,
        replicated_backups_arn=args.from_replicated_backups,
        drill=args.drill,
        dry_run=args.dry_run,
        poll_interval=check_poll_interval("--poll-interval", args.poll_interval),
        timeout_s=_timeout_minutes(args.timeout) * 60.0,
        db_subnet_group=args.db_subnet_group,
        security_group_ids=sgs,
        db_parameter_group=args.db_parameter_group,
        option_group=args.option_group,
        master_secret_kms_key=args.master_secret_kms_key,
        instance_class=args.instance_class,
        multi_az=args.multi_az,
    )
    if args.stack_outputs:
        if not args.from_replicated_backups:
            # The outputs name DR-region resources; an in-region restore copies the source's.
            raise InputError(
                "--stack-outputs",
                args.stack_outputs,
                "only together with --from-replicated-backups",
                hint="an in-region restore copies the source's subnet group, security groups and "
                "parameter group; drop --stack-outputs",
            )

        outputs = load_stack_outputs(args.stack_outputs)
        dr = DrRestoreRequest.from_outputs(outputs.database, outputs.drRegion)
        spec.db_subnet_group = spec.db_subnet_group or dr.db_subnet_group
        spec.security_group_ids = spec.security_group_ids or list(dr.security_group_ids)
        spec.db_parameter_group = spec.db_parameter_group or dr.db_parameter_group
        spec.master_secret_kms_key = spec.master_secret_kms_key or dr.master_secret_kms_key
    return spec


def _timeout_minutes(value: float) -> float:
    if not 1 <= value <= 24 * 60:
        raise InputError("--timeout", value, "minutes from 1 to 1440")
    return value


def run(args: argparse.Namespace, report: Report, *, aws: Aws | None = None, clock: Clock | None = None) -> None:
    spec = spec_from_args(args)
    progress = Progress("restore rds", enabled=not args.quiet)
    aws = aws or Aws(on_retry=progress.update)
    if spec.dry_run:
        aws.forbid_mutations("--dry-run")
    outcome = restore_rds(spec, report, aws=aws, clock=clock, progress=progress)
    if outcome.dry_run:
        report.notes.append("dry run: re-run without --dry-run to restore")
    elif outcome.resumed:
        report.notes.append(f"resumed the restore idp-dr started earlier for {outcome.target}")
    if outcome.endpoint:
        waited = report.steps[-1].duration_s if report.steps else None
        report.notes.append(f"{outcome.target} available after {format_duration(waited)} of waiting")
