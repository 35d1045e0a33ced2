"""Flags shared by ``baseline`` and ``verify``, and turning them into library parameters."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from scripts.cliutil import duration, duration_help
from scripts.errors import InputError
from scripts.inputs import read_text
from scripts.verify.model import IDPS, SSL_MODES, VERIFIER_SECRET_KEYS, ClientCredentials, DbParams, Target


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    idp = parser.add_argument_group("identity provider")
    idp.add_argument("--idp", required=True, metavar="IDP", help=f"one of: {', '.join(IDPS)}")
    idp.add_argument(
        "--base-url",
        required=True,
        metavar="URL",
        help="where this machine reaches the server, e.g. https://sso.example.com or "
        "http://10.0.3.7:8080 (may differ from the public hostname in the issuer)",
    )
    idp.add_argument(
        "--mgmt-url",
        metavar="URL",
        help="Keycloak's management interface for /health/ready (default: the --base-url host "
        "on port 9000); authentik: default --base-url",
    )
    idp.add_argument("--realm", metavar="R", help="Keycloak realm (required with --idp keycloak)")
    idp.add_argument("--app", metavar="SLUG", help="authentik application slug (required with --idp authentik)")
    idp.add_argument(
        "--http-timeout",
        type=duration("s"),
        default=10.0,
        metavar="DURATION",
        help=duration_help("time allowed per HTTP request (default: 10)", "s"),
    )
    client = parser.add_argument_group("client-credentials token")
    client.add_argument("--client-id", metavar="ID", help="a confidential client allowed client_credentials")
    client.add_argument(
        "--client-secret-file",
        type=Path,
        metavar="F",
        help="file holding its secret (never passed on the command line, never printed)",
    )
    client.add_argument(
        "--verifier-secret",
        metavar="NAME",
        help="instead: the Secrets Manager secret 'bootstrap verifier' wrote (stack output standby.verifierSecret; "
        "replicated, so read it in the DR region)",
    )
    client.add_argument("--secrets-region", metavar="REGION", help="region to read --verifier-secret in")
    db = parser.add_argument_group("database (optional; read-only except --session-hygiene clear-sessions)")
    db.add_argument(
        "--db-dsn",
        metavar="DSN",
        help="libpq connection string, e.g. postgresql://verifier@db:5432/keycloak; prefer "
        "PGPASSWORD or a pgpass file to a password in the DSN (it would be visible in ps)",
    )
    db.add_argument(
        "--db-sslmode",
        metavar="MODE",
        help=f"libpq sslmode, one of: {', '.join(SSL_MODES)} (require/verify-ca/verify-full make db.tls a real "
        "check); default: the DSN's, else verify-full for an RDS endpoint (*.rds.amazonaws.com), else prefer",
    )
    db.add_argument(
        "--db-sslrootcert",
        type=Path,
        metavar="CA",
        help="CA bundle (PEM) for --db-sslmode verify-ca/verify-full; default for an RDS endpoint: the RDS root "
        "CAs shipped with idp-dr",
    )


def target_from_args(args: argparse.Namespace) -> Target:
    db = None
    if args.db_dsn:
        db = DbParams(args.db_dsn, sslmode=args.db_sslmode, sslrootcert=args.db_sslrootcert)
    elif args.db_sslmode or args.db_sslrootcert:
        raise InputError(
            "--db-sslmode",
            args.db_sslmode or str(args.db_sslrootcert),
            "only meaningful together with --db-dsn",
        )
    return Target(
        idp=args.idp,
        base_url=args.base_url,
        realm=args.realm,
        app=args.app,
        mgmt_url=args.mgmt_url,
        db=db,
        http_timeout=args.http_timeout,
    )


def client_from_args(args: argparse.Namespace) -> ClientCredentials | None:
    if getattr(args, "verifier_secret", None):
        if args.client_id or args.client_secret_file:
            raise InputError("--verifier-secret", args.verifier_secret, "either it or --client-id/--client-secret-file")
        return client_from_secret(args.verifier_secret, getattr(args, "secrets_region", None))
    if not args.client_id and not args.client_secret_file:
        return None
    if not args.client_id:
        raise InputError("--client-id", None, "a client ID (required with --client-secret-file)")
    if not args.client_secret_file:
        raise InputError("--client-secret-file", None, "a file holding the client's secret (required with --client-id)")
    return ClientCredentials(args.client_id, read_secret_file("--client-secret-file", args.client_secret_file))


def read_secret_file(field: str, path: Path) -> str:
    """The secret in ``path``: a regular file of at most 64 KiB (``/dev/zero`` or a log file is refused, never
    read to the end)."""
    secret = read_text(field, path, "a readable file holding the secret", limit=64 << 10).strip()
    if not secret:
        raise InputError(field, str(path), "a file holding the secret (this one is empty)")
    return secret


def client_from_secret(
    name: str, region: str | None, *, field: str = "--verifier-secret", aws: Any = None
) -> ClientCredentials:
    """The verifier client from its Secrets Manager secret (``bootstrap verifier`` writes it); ``aws``: the
    command's session (default: a new one)."""
    from scripts.aws.client import Aws  # boto3 only when a secret is read
    from scripts.aws.secrets import read_json_secret

    aws = aws or Aws()
    document = read_json_secret(
        aws, aws.resolve_region(region, field="--secrets-region"), name, field=field, keys=VERIFIER_SECRET_KEYS
    )
    return ClientCredentials(str(document["client_id"]), str(document["client_secret"]))
