"""``python -m scripts verify``: is the (restored, failed-over) IdP the same IdP as production?"""

from __future__ import annotations

import argparse

from scripts.cliutil import duration, duration_help
from scripts.errors import InputError
from scripts.report import Report
from scripts.stack_outputs import load_stack_outputs
from scripts.verify.baseline_store import load_baseline
from scripts.verify.cli_args import add_target_arguments, client_from_args, target_from_args
from scripts.verify.core import verify
from scripts.verify.model import SESSION_HYGIENE, VerifyParams


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "verify",
        parents=[common],
        help="check readiness, issuer, JWKS, a client-credentials token and the database (exit 0 only if none fails)",
        description="Named checks with evidence: readiness, issuer (byte for byte), jwks.signing_keys, "
        "jwks.baseline_overlap, token.signature, token.issuer, db.connect, db.tls, db.schema_version, "
        "db.signing_keys, db.realms|db.brands, db.users, db.clients|db.applications, db.newest_event, "
        "sessions.hygiene. A check is skipped when its input is missing (no --client-id, no --db-dsn, no "
        "--baseline). Exit 0 when no check failed, 1 when one did, 2 for bad input.",
    )
    add_target_arguments(parser)
    expect = parser.add_argument_group("expectations")
    expect.add_argument(
        "--baseline",
        metavar="FILE|latest|s3://...",
        help="a baseline from 'baseline': issuer, key IDs, schema, counts and newest event to match; 'latest' "
        "(or an s3:// URL) reads it from the DR bucket, with --stack-outputs",
    )
    expect.add_argument("--stack-outputs", metavar="FILE|ssm://...", help="the stack outputs (for --baseline latest)")
    expect.add_argument(
        "--expected-issuer",
        metavar="URL",
        help="the issuer production tokens carry (default: the baseline's); one of the two is required",
    )
    expect.add_argument(
        "--expect-version",
        metavar="V",
        help="the app version the database schema must be at (default: the baseline's, else "
        "what the running app reports)",
    )
    expect.add_argument(
        "--max-event-age",
        type=duration("s"),
        metavar="DURATION",
        help=duration_help("fail db.newest_event when the newest stored event is older than this", "s"),
    )
    hygiene = parser.add_argument_group("post-PITR session hygiene (off by default)")
    hygiene.add_argument(
        "--session-hygiene",
        default="off",
        metavar="POLICY",
        help="keycloak: off | logout-all (admin API: remove the realm's user sessions and set "
        "its not-before; the client's service account needs realm-management manage-users); "
        "authentik: off | clear-sessions (delete sessions and session-bound tokens in the "
        "database). Default: off",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, report: Report) -> None:
    target = target_from_args(args)
    if args.session_hygiene not in SESSION_HYGIENE.get(target.idp, ()):
        raise InputError(
            "--session-hygiene",
            args.session_hygiene,
            f"one of {', '.join(SESSION_HYGIENE[target.idp])} for {target.idp}",
        )
    params = VerifyParams(
        target=target,
        expected_issuer=args.expected_issuer,
        client=client_from_args(args),
        expect_version=args.expect_version,
        session_hygiene=args.session_hygiene,
        max_event_age_s=args.max_event_age,
    )
    baseline = None
    if args.baseline:
        outputs = load_stack_outputs(args.stack_outputs) if args.stack_outputs else None
        baseline, source = load_baseline(args.baseline, outputs=outputs)
        report.result["baseline"] = source
    verify(params, report, baseline)
