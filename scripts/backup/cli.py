"""``idp-dr backup dump``: a verified logical dump with its manifest (see :mod:`scripts.backup.dump`)."""

from __future__ import annotations

import argparse

from psycopg.conninfo import conninfo_to_dict

from scripts.backup.dump import DumpRequest, backup_dump
from scripts.backup.manifest import TIERS
from scripts.cliutil import DefaultsHelpFormatter
from scripts.errors import InputError
from scripts.inputs import check_http_url
from scripts.report import Report
from scripts.verify.model import IDPS
from scripts.wal.location import parse_archive_url, s3_client


def register_backup(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "dump",
        parents=[common],
        formatter_class=DefaultsHelpFormatter,
        help="pg_dump the IdP's database into the archive, read it back, verify it, write its manifest",
        description="A logical dump (pg_dump custom format) of the IdP's database, streamed to the archive "
        "under dumps/<tier>/<database>/ and verified where it landed (size, SHA-256, pg_restore --list), with "
        "a manifest beside it: IdP and PostgreSQL versions, source, key, checksum, times. Exit 0 only when "
        "uploaded and verified; 1 when the dump or its verification failed (the manifest says failed, and "
        "'latest' never resolves to it); 2 bad input; 5 database or S3 unreachable.",
    )
    parser.add_argument("--idp", required=True, choices=IDPS, help="the identity provider whose database this is")
    parser.add_argument(
        "--db-dsn",
        required=True,
        metavar="DSN",
        help="libpq connection string of the dump source, ideally a read replica (password via PGPASSWORD)",
    )
    parser.add_argument(
        "--archive",
        required=True,
        metavar="s3://BUCKET[/PREFIX]",
        help="the archive bucket (the program's lifecycle rules expire dumps/<tier>/ at the bucket's root)",
    )
    parser.add_argument(
        "--tier", default="auto", help=f"auto (monthly on the 1st, weekly on Sundays), or {', '.join(TIERS)}"
    )
    parser.add_argument(
        "--kms-key-arn", metavar="ARN", help="recorded in the manifest: the key the bucket encrypts with"
    )
    parser.add_argument("--endpoint-url", metavar="URL", help="an S3-compatible endpoint instead of AWS")
    metric = parser.add_argument_group("freshness metric (what the scheduled job publishes; the alarm watches it)")
    metric.add_argument("--metric-namespace", metavar="NS", help="publish VerifiedDumps=1 here after a verified dump")
    metric.add_argument("--metric-stack", metavar="NAME", help="the metric's Stack dimension (idp-dr:name)")
    metric.add_argument("--metric-region", metavar="REGION", help="CloudWatch region (default: AWS_REGION)")
    parser.set_defaults(handler=run_dump)


def run_dump(args: argparse.Namespace, report: Report) -> None:
    bucket, prefix = parse_archive_url(args.archive)
    try:
        params = conninfo_to_dict(args.db_dsn)
    except Exception:  # noqa: BLE001 - psycopg raises ProgrammingError with the DSN inside
        raise InputError(
            "--db-dsn", "…", "a libpq connection string, e.g. postgresql://backup@replica:5432/keycloak"
        ) from None
    if not params.get("dbname"):
        raise InputError("--db-dsn", "(no dbname)", "a connection string naming the IdP's database (dbname)")
    if params.get("password"):
        report.register_secret(str(params["password"]))
    endpoint = check_http_url("--endpoint-url", args.endpoint_url, "an http(s) URL") if args.endpoint_url else None
    request = DumpRequest(
        args.idp, args.db_dsn, bucket, prefix, tier=args.tier, kms_key_arn=args.kms_key_arn,
        metric_namespace=args.metric_namespace, metric_stack=args.metric_stack, metric_region=args.metric_region,
    )  # fmt: skip
    report.result.update(backup_dump(request, s3_client(endpoint), report))
