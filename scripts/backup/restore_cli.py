"""``idp-dr restore dump``: a verified dump back into the IdP's database (see :mod:`scripts.backup.restore`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from contract.outputs import StackOutputs
from scripts.backup.archive import archive_errors, check_bucket
from scripts.backup.restore import RestoreRequest, Site, VerifySpec, restore_dump
from scripts.cliutil import DefaultsHelpFormatter
from scripts.errors import InputError
from scripts.inputs import check_http_url
from scripts.k8s.adapter import make_adapter
from scripts.report import Report
from scripts.runstate import Journal, write_timeline
from scripts.runstate.store import LocalStore
from scripts.stack_outputs import load_stack_outputs
from scripts.timeutil import parse_time
from scripts.verify.baseline_store import load_baseline
from scripts.verify.cli_args import client_from_args
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
    site = parser.add_argument_group("the IdP to stop and start (optional; --stack-outputs fills the defaults)")
    site.add_argument("--stack-outputs", metavar="FILE|ssm://REGION/PARAM", help="the stack's outputs")
    site.add_argument("--kube-adapter", metavar="kubectl|fake:FILE", help="scale the IdP through this adapter")
    site.add_argument("--kube-context", metavar="CTX", help="kubectl context (default: the stack's primary context)")
    site.add_argument("--namespace", help="the IdP's namespace (default: the stack's, else identity)")
    site.add_argument(
        "--deployment", action="append", default=None, help="the IdP's Deployment(s) (default: the stack's; keycloak)"
    )
    site.add_argument("--replicas", type=int, help="replicas to bring back (default: the stack's; 2)")
    check = parser.add_argument_group("verify the IdP once it is back (optional; needs --kube-adapter)")
    check.add_argument("--baseline", metavar="FILE|latest|s3://…", help="verify against this baseline")
    check.add_argument(
        "--base-url", metavar="URL", help="where this machine reaches the IdP, e.g. https://sso.example.com"
    )
    check.add_argument("--mgmt-url", metavar="URL", help="Keycloak's management interface (default: port 9000)")
    check.add_argument("--client-id", metavar="ID", help="a confidential client for the token check")
    check.add_argument("--client-secret-file", type=Path, metavar="F", help="file holding its secret")
    check.add_argument("--verifier-secret", metavar="NAME", help="instead: the secret 'bootstrap verifier' wrote")
    check.add_argument("--secrets-region", metavar="REGION", help="region to read --verifier-secret in")
    parser.add_argument(
        "--state-dir", type=Path, metavar="DIR",
        help="the run's journal, timeline.json and postmortem.md (default: .idp-dr/restore-dump/<database>); "
        "an interrupted run resumes from it",
    )  # fmt: skip
    parser.add_argument("--yes", action="store_true", help="really drop and recreate the database")
    parser.add_argument("--dry-run", action="store_true", help="the preflight and the plan; change nothing")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, report: Report) -> None:
    bucket, prefix = parse_archive_url(args.archive)
    if not 1 <= args.jobs <= 64:
        raise InputError("--jobs", args.jobs, "an integer from 1 to 64")
    outputs = load_stack_outputs(args.stack_outputs) if args.stack_outputs else None
    params = _admin_params(args, report)
    dbname = args.dbname or (outputs.database.dbName if outputs else None) or _source_database(args.dump)
    if params["dbname"] == dbname:
        raise InputError("--db-dsn", f"dbname={dbname}", "a connection to another database (the target is dropped)")
    endpoint = check_http_url("--endpoint-url", args.endpoint_url, "an http(s) URL") if args.endpoint_url else None
    site = _site(args, outputs)
    request = RestoreRequest(
        bucket=bucket, prefix=prefix, dump=args.dump,
        before=parse_time("--before", args.before) if args.before else None,
        admin_conninfo=make_conninfo(**params), dbname=dbname, owner=args.owner, app_version=args.app_version,
        jobs=args.jobs, yes=args.yes, dry_run=args.dry_run, site=site, verify=_verify_spec(args, outputs, site),
    )  # fmt: skip
    s3 = s3_client(endpoint)
    state_dir = args.state_dir or Path(".idp-dr") / "restore-dump" / dbname
    journal = Journal.open(LocalStore(state_dir), command="restore dump", subject=dbname)
    with archive_errors(args.archive, endpoint):
        check_bucket(s3, bucket)
        try:
            report.result.update(restore_dump(request, s3, report, journal))
        except BaseException as exc:
            if journal.data["steps"]:  # something ran: record how this run ended
                journal.finish(f"stopped: {_why(exc)}", completed=False)
                _timeline(journal, state_dir, report)
            raise
    if not args.dry_run:
        journal.finish("restored" + (" and verified" if request.verify else ""), completed=True)
        _timeline(journal, state_dir, report)


def _admin_params(args: argparse.Namespace, report: Report) -> dict:
    try:
        params = conninfo_to_dict(args.db_dsn)
    except Exception:  # noqa: BLE001 - psycopg raises ProgrammingError with the DSN inside
        raise InputError(
            "--db-dsn", "…", "a libpq connection string, e.g. postgresql://admin@db:5432/postgres"
        ) from None
    if params.get("password"):
        report.register_secret(str(params["password"]))
    params.setdefault("dbname", "postgres")
    return params


def _site(args: argparse.Namespace, outputs: StackOutputs | None) -> Site | None:
    if not args.kube_adapter:
        return None
    standby = outputs.standby if outputs else None
    deployments = args.deployment or (
        [d for d in (standby.serverDeployment, standby.workerDeployment) if d] if standby else ["keycloak"]
    )
    replicas = args.replicas if args.replicas is not None else (standby.primaryReplicas if standby else 2)
    if not 1 <= replicas <= 100:
        raise InputError("--replicas", replicas, "an integer from 1 to 100")
    context = args.kube_context or (standby.primaryKubeContext if standby else None)
    kube = make_adapter(args.kube_adapter, context=context)
    namespace = args.namespace or (standby.namespace if standby else "identity")
    return Site(kube, namespace, tuple(deployments), replicas)


def _verify_spec(args: argparse.Namespace, outputs: StackOutputs | None, site: Site | None) -> VerifySpec | None:
    if not args.baseline:
        for flag in ("base_url", "client_id", "client_secret_file", "verifier_secret"):
            if getattr(args, flag):
                value = str(getattr(args, flag))
                raise InputError(f"--{flag.replace('_', '-')}", value, "only meaningful with --baseline")
        return None
    if site is None:
        raise InputError(
            "--baseline", args.baseline, "only with --kube-adapter (the IdP must be started again to be verified)",
            hint="without one, start the IdP yourself, then run 'idp-dr verify --baseline ...'",
        )  # fmt: skip
    base_url = args.base_url or (f"https://{outputs.publicHostname}" if outputs else None)
    if not base_url:
        raise InputError("--base-url", None, "where this machine reaches the IdP (required with --baseline)")
    check_http_url("--base-url", base_url, "an http(s) URL")
    baseline, source = load_baseline(args.baseline, outputs=outputs)
    return VerifySpec(baseline, source, base_url, args.mgmt_url, client_from_args(args))


def _timeline(journal: Journal, state_dir: Path, report: Report) -> None:
    pinned = journal.pinned
    json_path, md_path = write_timeline(
        journal, state_dir, title=f"restore of {journal.data['subject']} from a logical dump",
        facts=[f"Dump: {pinned.get('dump')} (taken {pinned.get('dumped_at')})",
               f"Database: {pinned.get('database')}, owner {pinned.get('owner')}"],
        impact=[f"Everything written after {pinned.get('dumped_at')} is gone: users, clients and realm changes "
                "made since the dump must be made again",
                "Sessions and offline tokens issued after the dump are gone (users log in again); sessions that "
                "had ended since are back until they expire ('verify --session-hygiene' ends them)"],
        actions=["Find what was changed after the dump (admin events, the audit log) and redo what is still wanted",
                 "Check that the next scheduled dump is verified (backup dump's alarm)"],
    )  # fmt: skip
    report.result["timeline"] = {"json": str(json_path), "postmortem": str(md_path)}


def _why(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    return getattr(exc, "message", None) or type(exc).__name__


def _source_database(dump: str) -> str:
    """dumps/<tier>/<database>/<time>.dump names the database it came from."""
    parts = dump.split("/")
    if dump == "latest" or len(parts) < 3:
        raise InputError("--dbname", None, "the database to replace (required with --dump latest)")
    return parts[-2]
