"""``python -m scripts bootstrap db``: the first-day steps a fresh stack needs (see docs/getting-started-aws.md)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from contract.tls import RDS_CA_BUNDLE, RDS_SSLMODE, is_rds_host
from scripts.aws.client import Aws
from scripts.aws.secrets import read_json_secret
from scripts.bootstrap.db import DbBootstrapRequest, bootstrap_db
from scripts.bootstrap.verifier import (
    DEFAULT_CLIENT_ID,
    VerifierRequest,
    bootstrap_verifier,
    check_client_id,
    check_realm,
)
from scripts.cliutil import DefaultsHelpFormatter
from scripts.errors import InputError
from scripts.inputs import check_http_url, read_text
from scripts.keycloak_api import KeycloakAdminApi
from scripts.report import Report
from scripts.stack_outputs import load_stack_outputs


def register_bootstrap(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    _register_db(sub, common)
    _register_verifier(sub, common)


def _register_verifier(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "verifier",
        parents=[common],
        formatter_class=DefaultsHelpFormatter,
        help="create the least-privileged client verify and the drills use; store its secret in Secrets Manager",
        description="Keycloak: create (or repair) a confidential client with client credentials only, no "
        "client roles and fullScopeAllowed off, through the admin API; store its secret in the stack's verifier "
        "secret (replicated to the DR region), where baseline, verify, failover and drill read it with "
        "--stack-outputs. Idempotent. authentik is not supported yet: create an OAuth2 provider with client "
        "credentials by hand (docs/verify.md). Exit 0 when the token check passes, 1 when it fails, 2 bad "
        "input, 5 Keycloak or AWS unreachable.",
    )
    parser.add_argument("--stack-outputs", metavar="FILE", help="the stack outputs (realm, secret and region from it)")
    parser.add_argument(
        "--admin-url",
        required=True,
        metavar="URL",
        help="where this machine reaches Keycloak's admin API (not public: e.g. kubectl port-forward)",
    )
    parser.add_argument("--admin-user", default="admin", help="an admin of the master realm")
    parser.add_argument(
        "--admin-password-file", required=True, type=Path, metavar="FILE", help="file holding that admin's password"
    )
    parser.add_argument("--realm", help="the realm verify checks (default: the stack's issuer's realm)")
    parser.add_argument("--client-id", default=DEFAULT_CLIENT_ID, help="the verifier client's ID")
    parser.add_argument("--secret", metavar="NAME", help="Secrets Manager secret to store it in (default: the stack's)")
    parser.add_argument("--region", help="region of that secret (default: the stack's primaryRegion)")
    parser.add_argument("--dry-run", action="store_true", help="report what would change; change nothing")
    parser.set_defaults(handler=run_verifier)


def run_verifier(args: argparse.Namespace, report: Report) -> None:
    outputs = load_stack_outputs(args.stack_outputs) if args.stack_outputs else None
    if outputs is not None and outputs.idp != "keycloak":
        raise InputError(
            "--stack-outputs", args.stack_outputs, "a Keycloak stack (authentik: create the provider by hand)"
        )
    realm = args.realm or (_realm_of(outputs.issuer) if outputs else None)
    if not realm:
        raise InputError("--realm", None, "the Keycloak realm (or --stack-outputs)")
    check_realm(realm)
    check_client_id(args.client_id)
    secret = args.secret or (outputs.standby.verifierSecret if outputs else None)
    if not secret:
        raise InputError("--secret", None, "the verifier secret's name (or --stack-outputs)")
    aws = Aws()
    region = aws.resolve_region(args.region or (outputs.primaryRegion if outputs else None))
    admin = KeycloakAdminApi(
        check_http_url("--admin-url", args.admin_url, "an http(s) URL of Keycloak, e.g. http://127.0.0.1:8080"),
        args.admin_user,
        read_text("--admin-password-file", args.admin_password_file, "a readable file with the password").strip(),
    )
    report.register_secret(admin.password)
    request = VerifierRequest(admin, realm, args.client_id, secret, region, dry_run=args.dry_run)
    report.result.update(bootstrap_verifier(request, aws, report))


def _realm_of(issuer: str) -> str | None:
    marker = "/realms/"
    return issuer.rsplit(marker, 1)[1].strip("/") if marker in issuer else None


def _register_db(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "db",
        parents=[common],
        formatter_class=DefaultsHelpFormatter,
        help="create or repair the IdP's database role (login, owner of its database, nothing more)",
        description="Connect as the RDS master user (its RDS-managed secret) and make the IdP's role "
        "(database.appUsername, password dbAppPassword from the app-credentials secret) log in and own its "
        "database, with no other attribute or membership. Idempotent; --dry-run shows what would change. "
        "The Pulumi program runs the same as a Job when runbook.image is set. Exit 0 when the checks pass, "
        "1 when one fails, 2 bad input, 3 refused (a superuser app role), 5 database or AWS unreachable.",
    )
    where = parser.add_argument_group("where (from --stack-outputs, or each given)")
    where.add_argument("--stack-outputs", metavar="FILE", help="the stack outputs (pulumi stack output --json)")
    where.add_argument("--host", help="database host (default: the primary endpoint)")
    where.add_argument("--port", type=int, help="database port (default: 5432)")
    where.add_argument("--dbname", help="the IdP's database (default: the stack's database.dbName)")
    where.add_argument("--region", help="region of the secrets (default: the stack's primaryRegion)")
    who = parser.add_argument_group("credentials (never on the command line)")
    who.add_argument(
        "--admin-dsn",
        metavar="DSN",
        help="libpq connection string of the admin user instead of --master-secret (password via PGPASSWORD)",
    )
    who.add_argument("--master-secret", metavar="ARN", help="RDS-managed master secret (default: the stack's)")
    who.add_argument(
        "--app-credentials-secret",
        metavar="NAME",
        help="Secrets Manager secret with the IdP role's username and password (default: the stack's)",
    )
    who.add_argument("--app-username", help="the IdP's role, with --app-password-file instead of the secret")
    who.add_argument("--app-password-file", type=Path, metavar="FILE", help="file holding the IdP role's password")
    parser.add_argument("--dry-run", action="store_true", help="inspect and report what would change; change nothing")
    parser.set_defaults(handler=run_db)


def run_db(args: argparse.Namespace, report: Report) -> None:
    outputs = load_stack_outputs(args.stack_outputs) if args.stack_outputs else None
    aws = Aws()
    region = args.region or (outputs.primaryRegion if outputs else None)
    with report.step("credentials"):
        admin = _admin_conninfo(args, outputs, aws, region)
        username, password = _app_credentials(args, outputs, aws, region)
    dbname = args.dbname or (outputs.database.dbName if outputs else None)
    if not dbname:
        raise InputError("--dbname", None, "the IdP's database name (or --stack-outputs)")
    req = DbBootstrapRequest(admin, str(dbname), username, password, dry_run=args.dry_run)
    report.result.update(bootstrap_db(req, report))


def _admin_conninfo(args: argparse.Namespace, outputs, aws: Aws, region: str | None) -> str:
    params: dict = conninfo_to_dict(args.admin_dsn) if args.admin_dsn else {}
    host = args.host or params.get("host") or (outputs.database.primaryEndpoint if outputs else None)
    if not host:
        raise InputError("--host", None, "the database host (or --stack-outputs, or --admin-dsn)")
    params["host"] = host
    params["port"] = str(args.port or params.get("port") or (outputs.database.port if outputs else 5432))
    # The admin session lives in the maintenance database: the IdP's may not exist yet (a clear error).
    params["dbname"] = params.get("dbname") or "postgres"
    secret_arn = args.master_secret or (outputs.database.masterSecretArn if outputs and not args.admin_dsn else None)
    if secret_arn:
        secret = read_json_secret(
            aws, _secret_region(secret_arn, region), secret_arn, field="--master-secret", keys=("username", "password")
        )
        params.update(user=secret["username"], password=secret["password"])
    elif not args.admin_dsn:
        raise InputError("--master-secret", None, "the RDS-managed master secret ARN (or --admin-dsn)")
    if is_rds_host(host) and "sslmode" not in params:
        params.update(sslmode=RDS_SSLMODE, sslrootcert=str(RDS_CA_BUNDLE))
    params.setdefault("connect_timeout", "10")
    return make_conninfo(**params)


def _app_credentials(args: argparse.Namespace, outputs, aws: Aws, region: str | None) -> tuple[str, str]:
    if args.app_password_file:
        if not args.app_username:
            raise InputError("--app-username", None, "the IdP's role name (required with --app-password-file)")
        password = read_text("--app-password-file", args.app_password_file, "a readable file with the password").strip()
        if not password:
            raise InputError("--app-password-file", str(args.app_password_file), "a file holding a non-empty password")
        return args.app_username, password
    name = args.app_credentials_secret or (outputs.database.appCredentialsSecret if outputs else None)
    if not name:
        raise InputError(
            "--app-credentials-secret", None, "the app-credentials secret (or --stack-outputs, or --app-password-file)"
        )
    if not region:
        region = aws.resolve_region(None)
    secret = read_json_secret(aws, region, name, field="--app-credentials-secret", keys=("username", "password"))
    return str(secret["username"]), str(secret["password"])


def _secret_region(arn: str, fallback: str | None) -> str:
    parts = arn.split(":")
    if len(parts) > 3 and parts[0] == "arn" and parts[3]:
        return parts[3]
    if fallback:
        return fallback
    return os.environ.get("AWS_REGION") or "us-east-1"
