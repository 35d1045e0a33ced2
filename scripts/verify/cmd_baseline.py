"""``python -m scripts baseline``: record production facts for a later ``verify --baseline``."""

from __future__ import annotations

import argparse
from pathlib import Path

from scripts.aws.client import Aws
from scripts.errors import InputError
from scripts.report import Report
from scripts.stack_outputs import load_stack_outputs
from scripts.verify.baseline_store import publish
from scripts.verify.cli_args import add_target_arguments, client_from_args, target_from_args
from scripts.verify.core import capture_baseline, describe_baseline
from scripts.verify.model import BaselineParams


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "baseline",
        parents=[common],
        help="record production facts (issuer, signing key IDs, schema version, counts, newest event)",
        description="Record what production looks like today: the discovery issuer, the JWKS key IDs (and, "
        "with --client-id, the key that signs tokens now), and with --db-dsn the schema/app version, "
        "realm|brand, user and client counts and the newest event time. 'verify --baseline FILE' proves a "
        "restored or failed-over IdP matches. Exit 0 when captured, 5 when a fact could not be read.",
    )
    add_target_arguments(parser)
    parser.add_argument("--out", type=Path, metavar="FILE", help="where to write the baseline (JSON)")
    parser.add_argument(
        "--publish",
        action="store_true",
        help="also keep it in the DR bucket (idp-dr/baselines/), where 'verify --baseline latest' and failover "
        "find it during an outage; needs --stack-outputs",
    )
    parser.add_argument("--stack-outputs", metavar="FILE|ssm://...", help="the stack outputs (for --publish)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, report: Report) -> None:
    if not args.out and not args.publish:
        raise InputError("--out", None, "a file to write the baseline to (or --publish, or both)")
    outputs = None
    if args.publish:
        if not args.stack_outputs:
            raise InputError("--stack-outputs", None, "the stack outputs (required with --publish: the DR bucket)")
        outputs = load_stack_outputs(args.stack_outputs)
    params = BaselineParams(target=target_from_args(args), client=client_from_args(args))
    with report.step("capture", base_url=params.target.base_url, **{params.target.scope_label: params.target.scope}):
        baseline = capture_baseline(params, report)
    report.result.update(describe_baseline(baseline))
    if args.out:
        with report.step("write", file=str(args.out)):
            baseline.save(args.out)
        report.result["file"] = str(args.out)
    if outputs is not None:
        with report.step("publish") as step:
            report.result["published"] = step.detail["url"] = publish(baseline, outputs, Aws())
