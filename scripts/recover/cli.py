"""``idp-dr recover``: a point-in-time restore into production (see :mod:`scripts.recover.recover`)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from scripts.aws.client import Aws
from scripts.cliutil import DefaultsHelpFormatter, duration, duration_help
from scripts.errors import InputError
from scripts.failover.probe import Validator
from scripts.failover.site_validation import PRIMARY_SITE, add_validation_options, build_validator
from scripts.failover.validation import FailoverValidator
from scripts.k8s.adapter import make_adapter
from scripts.polling import Clock, check_poll_interval
from scripts.recover.options import METHODS, RecoverOptions
from scripts.recover.recover import Recover
from scripts.report import Report
from scripts.stack_outputs import load_stack_outputs
from scripts.timeutil import parse_time
from scripts.verify.model import SESSION_HYGIENE


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "recover",
        parents=[common],
        formatter_class=DefaultsHelpFormatter,
        help="recover production in place after logical damage: restore, cut over, verify (--yes)",
        description="A point-in-time restore into production, as resumable steps: preflight (read-only), "
        "restore into <id>-recover-<time>, stop the primary IdP, cut over (swap: rename the damaged instance to "
        "<id>-damaged-<time> and the restored one to <id>; repoint: write the primary endpoint secret), start, "
        "verify, and set up what follows the new primary. The damaged instance is kept. Exit codes: 0 recovered, "
        "1 a check failed (re-run resumes), 2 bad input, 3 refused, 4 timed out (re-run resumes), 5 AWS failure.",
    )
    p.add_argument("--stack-outputs", required=True, metavar="FILE|ssm://REGION/PARAM", help="the stack's outputs")
    when = p.add_mutually_exclusive_group(required=True)
    when.add_argument("--time", metavar="ISO8601", help="the last good moment, with a timezone")
    when.add_argument("--latest", action="store_true", help="the latest restorable time")
    p.add_argument("--method", default="swap", metavar="|".join(METHODS), help="how the restored instance takes over")
    p.add_argument(
        "--expect-realm", action="append", default=[], metavar="NAME", help="a realm that must be served again"
    )
    p.add_argument(
        "--session-hygiene",
        default="off",
        metavar="MODE",
        help="with --baseline: end sessions the restore revived (keycloak: logout-all; authentik: clear-sessions)",
    )
    p.add_argument("--kube-adapter", default="kubectl", metavar="kubectl|fake:FILE", help="the primary cluster")
    p.add_argument("--kube-context", metavar="CTX", help="kubectl context (default: the stack's primaryKubeContext)")
    p.add_argument("--state-dir", type=Path, metavar="DIR", help="keep the state locally (default: the DR bucket)")
    p.add_argument("--yes", action="store_true", help="really replace the production database")
    p.add_argument("--force", action="store_true", help="override a refused pre-check or lock (needs --reason)")
    p.add_argument("--reason", help="why --force (recorded in the timeline)")
    p.add_argument("--dry-run", action="store_true", help="the preflight and every call it would make; no change")
    p.add_argument(
        "--timeout",
        type=duration("m"),
        default=120.0,
        metavar="DURATION",
        help=duration_help("longest wait for the restore and for each rename", "m"),
    )
    p.add_argument("--poll-interval", type=duration("s"), default=5.0, metavar="DURATION", help="seconds between polls")
    p.add_argument("--probe-scheme", default="https", metavar="https|http", help="how the site's health host answers")
    add_validation_options(
        p,
        PRIMARY_SITE,
        baseline_help="verify the recovered site against this baseline (issuer, keys overlapping it, a token with "
        "--client-id); take it in normal times ('baseline --publish'): 'latest' reads the DR bucket",
    )
    p.set_defaults(handler=run)


def options_from_args(args: argparse.Namespace) -> RecoverOptions:
    if args.method not in METHODS:
        raise InputError("--method", args.method, " or ".join(METHODS))
    if args.force and not (args.reason or "").strip():
        raise InputError("--reason", args.reason, "a non-empty explanation when --force overrides a refusal")
    if args.probe_scheme not in ("https", "http"):
        raise InputError("--probe-scheme", args.probe_scheme, "https or http")
    if not 1 <= args.timeout <= 24 * 60:
        raise InputError("--timeout", args.timeout, "minutes from 1 to 1440")
    return RecoverOptions(
        time=parse_time("--time", args.time) if args.time else None,
        time_text=args.time,
        method=args.method,
        yes=args.yes,
        force=args.force,
        reason=args.reason,
        dry_run=args.dry_run,
        state_dir=args.state_dir,
        expect_realms=list(args.expect_realm),
        poll_interval=check_poll_interval("--poll-interval", args.poll_interval),
        timeout_s=args.timeout * 60.0,
        probe_scheme=args.probe_scheme,
        primary_base_url=args.primary_base_url,
        quiet=args.quiet,
    )


def run(
    args: argparse.Namespace,
    report: Report,
    *,
    aws: Aws | None = None,
    clock: Clock | None = None,
    kube: Any = None,
    validator: Validator | None = None,
) -> None:
    options = options_from_args(args)
    outputs = load_stack_outputs(args.stack_outputs)
    if options.expect_realms and outputs.idp != "keycloak":
        raise InputError("--expect-realm", options.expect_realms[0], "only for Keycloak stacks (realms)")
    if validator is None:
        # Before the first AWS call: a bad baseline or secret file is bad input, nothing contacted.
        # Without --baseline, --primary-base-url is where preflight takes a baseline of the site now.
        validator = build_validator(
            PRIMARY_SITE,
            baseline=args.baseline,
            client_id=args.client_id,
            secret_file=args.client_secret_file,
            base_url=args.primary_base_url if args.baseline else None,
            outputs=outputs,
            report=report,
        )
    validator = _with_hygiene(validator, args.session_hygiene, outputs.idp)
    aws = aws or Aws()
    kube = kube or make_adapter(
        args.kube_adapter,
        context=args.kube_context or outputs.standby.primaryKubeContext,
        aws=aws,
        dr_region=outputs.primaryRegion,  # a fake cluster's ExternalSecrets read the primary region
    )
    Recover(options, outputs, report, aws=aws, kube=kube, clock=clock or Clock(), validator=validator).run()


def _with_hygiene(validator: Validator, mode: str, idp: str) -> Validator:
    allowed = SESSION_HYGIENE[idp]
    if mode not in allowed:
        raise InputError("--session-hygiene", mode, f"one of {', '.join(allowed)} for {idp}")
    if mode == "off":
        return validator
    if not isinstance(validator, FailoverValidator):
        raise InputError("--session-hygiene", mode, "only with --baseline (it runs as part of verify)")
    return dataclasses.replace(validator, session_hygiene=mode)
