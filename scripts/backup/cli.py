"""``idp-dr backup dump``: a verified logical dump with its manifest (see :mod:`scripts.backup.dump`)."""

from __future__ import annotations

import argparse

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from contract.tls import RDS_CA_BUNDLE, RDS_SSLMODE, is_rds_host
from scripts.aws.client import Aws, validate_region
from scripts.aws.secrets import read_json_secret
from scripts.backup.archive import archive_errors, check_bucket
from scripts.backup.dump import DumpRequest, backup_dump
from scripts.backup.manifest import TIERS, tier_for
from scripts.cliutil import DefaultsHelpFormatter
from scripts.errors import InputError
from scripts.inputs import check_http_url
from scripts.report import Report
from scripts.stack_outputs import load_stack_outputs
from scripts.timeutil import utcnow
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
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--db-dsn",
        metavar="DSN",
        help="libpq connection string of the dump source, ideally a read replica (password via PGPASSWORD)",
    )
    source.add_argument(
        "--stack-outputs",
        metavar="FILE|ssm://...",
        help="instead: the stack's DR read replica if it has one (else its primary), the IdP's role from the "
        "app-credentials secret, TLS verify-full, and the archive bucket of that region",
    )
    parser.add_argument(
        "--archive",
        metavar="s3://BUCKET[/PREFIX]",
        help="the archive bucket (the program's lifecycle rules expire dumps/<tier>/ at the bucket's root); "
        "default with --stack-outputs: the source's region's archive bucket",
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
    if args.db_dsn is not None and not args.db_dsn.strip():  # '' would silently mean "use the stack outputs"
        raise InputError(
            "--db-dsn", args.db_dsn, "a libpq connection string, e.g. postgresql://backup@replica/keycloak"
        )
    dsn, archive = (args.db_dsn, args.archive) if args.db_dsn else source_from_outputs(args, report)
    if not archive:
        raise InputError("--archive", None, "the archive bucket, s3://BUCKET (or --stack-outputs)")
    args.db_dsn = dsn
    bucket, prefix = parse_archive_url(archive)
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
    tier_for(utcnow(), args.tier)  # a bad --tier is refused before the database is touched
    if args.metric_region is not None:  # checked now: after the upload, a bad region would fail a verified dump
        validate_region("--metric-region", args.metric_region)
    request = DumpRequest(
        args.idp, args.db_dsn, bucket, prefix, tier=args.tier, kms_key_arn=args.kms_key_arn,
        metric_namespace=args.metric_namespace, metric_stack=args.metric_stack, metric_region=args.metric_region,
    )  # fmt: skip
    s3 = s3_client(endpoint)
    with archive_errors(archive, endpoint):
        check_bucket(s3, bucket)
        report.result.update(backup_dump(request, s3, report))


def source_from_outputs(args: argparse.Namespace, report: Report) -> tuple[str, str | None]:
    """The DR replica when the stack has one (the report says which, and why), else the primary; the
    IdP's own role from the app-credentials secret in that region; verify-full TLS with the RDS roots."""
    out = load_stack_outputs(args.stack_outputs)
    db = out.database
    if db.drReplicaEndpoint:
        host, region, bucket = db.drReplicaEndpoint, out.drRegion, out.archive.drBucket
        report.notes.append(f"dumping the DR read replica {host}: the primary carries no dump load")
    else:
        host, region, bucket = db.primaryEndpoint, out.primaryRegion, out.archive.primaryBucket
    if not db.appCredentialsSecret:
        raise InputError("--stack-outputs", args.stack_outputs, "stack outputs naming database.appCredentialsSecret")
    secret = read_json_secret(
        Aws(), region, db.appCredentialsSecret, field="--stack-outputs", keys=("username", "password")
    )
    report.register_secret(str(secret["password"]))
    params = {"host": host, "port": str(db.port), "dbname": db.dbName, "user": secret["username"],
              "password": secret["password"], "connect_timeout": "10"}  # fmt: skip
    if is_rds_host(host):
        params.update(sslmode=RDS_SSLMODE, sslrootcert=str(RDS_CA_BUNDLE))
    return make_conninfo(**params), args.archive or f"s3://{bucket}"
