"""``idp-dr restore dump``: a verified dump back into the IdP's database (see :mod:`scripts.backup.restore`)."""

from __future__ import annotations

import argparse

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from scripts.backup.archive import archive_errors, check_bucket
from scripts.backup.restore import RestoreRequest, Site, restore_dump
from scripts.cliutil import DefaultsHelpFormatter
from scripts.errors import InputError
from scripts.inputs import check_http_url
from scripts.k8s.adapter import make_adapter
from scripts.report import Report
from scripts.timeutil import parse_time
from scripts.wal.location import parse_archive_url, s3_client


def register_restore(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "dump",
        parents=[common],
        formatter_class=DefaultsHelpFormatter,
        help="restore a verified logical dump into the IdP's database (drops and recreates it; --yes)",
        description="Preflight first, changing nothing: the manifest, the dump's checksum read from the archive, "
        "the dump's IdP version against --app-version, the target's PostgreSQL major, who is connected. Then: "
        "scale the IdP to 0 (--kube-adapter), terminate that database's backends, drop and recreate it owned by "
        "its owner, pg_restore --no-owner --no-privileges, scale the IdP back up. Exit 0 restored; 2 bad input; "
        "3 refused (no --yes, a damaged dump, a newer IdP or PostgreSQL than the target); 5 server or S3 failure.",
    )
    parser.add_argument("--archive", required=True, metavar="s3://BUCKET[/PREFIX]", help="the archive bucket")
    parser.add_argument(
        "--dump", default="latest", metavar="latest|KEY", help="the dump: the newest verified one, or a key"
    )
    parser.add_argument(
        "--before", metavar="ISO8601", help="with --dump latest: the newest verified dump ended before this"
    )
    parser.add_argument(
        "--db-dsn",
        required=True,
        metavar="DSN",
        help="admin connection to the target server (its maintenance database, e.g. postgres; password via PGPASSWORD)",
    )
    parser.add_argument("--dbname", help="the database to replace (default: the one the dump was taken from)")
    parser.add_argument("--owner", help="its owner after the restore (default: its current owner)")
    parser.add_argument(
        "--app-version", metavar="V", help="the IdP version that will run on it (refused if older than the dump's)"
    )
    parser.add_argument(
        "--jobs", type=int, default=1, help="parallel pg_restore jobs (> 1 stages the dump in a temp file)"
    )
    parser.add_argument("--endpoint-url", metavar="URL", help="an S3-compatible endpoint instead of AWS")
    site = parser.add_argument_group("the IdP to stop and start (optional)")
    site.add_argument("--kube-adapter", metavar="kubectl|fake:FILE", help="scale the IdP through this adapter")
    site.add_argument("--kube-context", metavar="CTX", help="kubectl context")
    site.add_argument("--namespace", default="identity", help="the IdP's namespace")
    site.add_argument("--deployment", action="append", default=None, help="the IdP's Deployment(s) (default: keycloak)")
    site.add_argument("--replicas", type=int, default=2, help="replicas to bring back")
    parser.add_argument("--yes", action="store_true", help="really drop and recreate the database")
    parser.add_argument("--dry-run", action="store_true", help="the preflight and the plan; change nothing")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, report: Report) -> None:
    bucket, prefix = parse_archive_url(args.archive)
    if not 1 <= args.jobs <= 64:
        raise InputError("--jobs", args.jobs, "an integer from 1 to 64")
    try:
        params = conninfo_to_dict(args.db_dsn)
    except Exception:  # noqa: BLE001 - psycopg raises ProgrammingError with the DSN inside
        raise InputError(
            "--db-dsn", "…", "a libpq connection string, e.g. postgresql://admin@db:5432/postgres"
        ) from None
    if params.get("password"):
        report.register_secret(str(params["password"]))
    params.setdefault("dbname", "postgres")
    dbname = args.dbname or _source_database(args.dump)
    if params["dbname"] == dbname:
        raise InputError("--db-dsn", f"dbname={dbname}", "a connection to another database (the target is dropped)")
    endpoint = check_http_url("--endpoint-url", args.endpoint_url, "an http(s) URL") if args.endpoint_url else None
    site = None
    if args.kube_adapter:
        kube = make_adapter(args.kube_adapter, context=args.kube_context)
        site = Site(kube, args.namespace, tuple(args.deployment or ["keycloak"]), args.replicas)
    request = RestoreRequest(
        bucket=bucket, prefix=prefix, dump=args.dump,
        before=parse_time("--before", args.before) if args.before else None,
        admin_conninfo=make_conninfo(**params), dbname=dbname, owner=args.owner, app_version=args.app_version,
        jobs=args.jobs, yes=args.yes, dry_run=args.dry_run, site=site,
    )  # fmt: skip
    s3 = s3_client(endpoint)
    with archive_errors(args.archive, endpoint):
        check_bucket(s3, bucket)
        report.result.update(restore_dump(request, s3, report))


def _source_database(dump: str) -> str:
    """dumps/<tier>/<database>/<time>.dump names the database it came from."""
    parts = dump.split("/")
    if dump == "latest" or len(parts) < 3:
        raise InputError("--dbname", None, "the database to replace (required with --dump latest)")
    return parts[-2]
