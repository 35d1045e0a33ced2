"""``plan``: the DR topology a stack would create, offline, plus DR policy checks.

Runs the Pulumi program under mocks (``scripts.offline``) with the config of
``Pulumi.<stack>.yaml``: no Pulumi CLI, no cloud account, nothing is created.
Prints the resources per region / cluster with their DR-relevant settings, a
DR posture summary (detection time, TTL, standby mode, PITR window,
replication targets), and checks DR policies on what the program actually
declared. A violated policy fails the command (exit 1), so CI can gate pull
requests on it next to ``pulumi preview``.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path
from typing import Any

from components.config import ConfigError, load_stack_config
from scripts.errors import DrError, ExitCode, ExternalError, InputError
from scripts.offline import REPO_ROOT, OfflineRun, Recorded, load_stack_file, run_program
from scripts.plan.posture import policy_checks, posture_of, render_posture
from scripts.plan.summaries import settings_line
from scripts.progress import say
from scripts.report import Report


class ConfigRefused(DrError):
    exit_code = ExitCode.BAD_INPUT


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "plan",
        parents=[common],
        help="show the DR topology a stack would create (offline, under mocks) and check DR policies",
        description=(
            "Run the Pulumi program offline with a stack's config and print every resource per region "
            "and cluster with its DR-relevant settings, a DR posture summary and DR policy checks. "
            "Nothing is created and no cloud account is needed. Exit 1 when a DR policy is violated."
        ),
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--stack",
        default="prod",
        metavar="NAME",
        help="stack name: reads Pulumi.<NAME>.yaml in the project directory (default: prod)",
    )
    where.add_argument("--stack-file", type=Path, metavar="FILE", help="a stack config file to read instead")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, report: Report) -> None:
    if args.stack_file is not None:
        path, field, value, stack = args.stack_file, "--stack-file", str(args.stack_file), args.stack_file.stem
    else:
        path, field, value, stack = REPO_ROOT / f"Pulumi.{args.stack}.yaml", "--stack", args.stack, args.stack
    if not path.is_file():
        existing = sorted(p.name for p in REPO_ROOT.glob("Pulumi.*.yaml") if p.name != "Pulumi.yaml")
        raise InputError(
            field,
            value,
            f"a stack with a config file ({path} does not exist)",
            hint=f"stack files here: {', '.join(existing) or 'none'}",
        )

    with report.step("validate config", file=str(path)):
        config, secret_keys = load_stack_file(path, field=field, shown=value)
        try:
            cfg = load_stack_config(config, secret_keys)
        except ConfigError as exc:
            raise ConfigRefused(
                f"{path.name}: {len(exc.problems)} refused setting(s):\n" + str(exc),
                hint="each key is documented in docs/reference/configuration.md",
            ) from None

    with report.step("run program under mocks"):
        say(
            f"[plan] running the Pulumi program offline for stack {stack!r} (nothing is created)",
            enabled=not args.quiet,
        )
        try:
            offline = run_program(config, secret_keys, stack=stack)
        except Exception as exc:  # noqa: BLE001 - any program failure is reported, not a traceback
            raise ExternalError(f"the Pulumi program failed under mocks: {exc}") from None

    groups = _group(offline)
    posture = posture_of(cfg, offline)
    report.preamble.extend(_render_tree(stack, path, groups, offline))
    report.preamble.extend(render_posture(posture))
    report.result.update(
        {
            "stack": stack,
            "file": str(path),
            "resource_count": len(offline.recorder.all()),
            "groups": {name: [_resource_doc(r) for r in records] for name, records in groups.items()},
            "posture": posture,
            "outputs": {k: ("[secret]" if k in offline.secret_outputs else v) for k, v in offline.outputs.items()},
        }
    )
    report.show_result_in_text = False  # the tree above shows it; --json carries everything
    report.notes.append("--json prints every resource with its inputs' DR settings and the stack outputs")
    policy_checks(report, cfg, offline, posture)


def _group_name(record: Recorded, offline: OfflineRun, cfg_regions: dict[str, str]) -> str:
    if record.typ.startswith("pulumi:providers:"):
        return "providers"
    if record.typ.startswith("kubernetes:"):
        return {"k8s-primary": "kubernetes: primary cluster", "k8s-dr": "kubernetes: DR cluster"}.get(
            record.provider_name, f"kubernetes: {record.provider_name}"
        )
    if not record.custom:
        return "components"
    if record.typ.startswith(("aws:iam/", "aws:route53/")):
        return "aws: global (IAM, Route 53)"
    label = cfg_regions.get(record.region or "", "")
    return f"aws: {record.region}{f' ({label})' if label else ''}"


def _group(offline: OfflineRun) -> dict[str, list[Recorded]]:
    regions: dict[str, str] = {}
    for record in offline.recorder.all():
        if record.typ == "pulumi:providers:aws":
            role = {"aws-primary": "primary", "aws-dr": "DR", "aws-us-east-1": "Route 53 metrics"}
            regions.setdefault(record.inputs.get("region", ""), role.get(record.name, record.name))
    groups: dict[str, list[Recorded]] = defaultdict(list)
    for record in offline.recorder.all():
        groups[_group_name(record, offline, regions)].append(record)
    order = ["components", "providers"]
    return dict(sorted(groups.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else 2, kv[0])))


def _short_type(typ: str) -> str:
    parts = typ.split(":")
    return f"{parts[0]}:{parts[-1]}" if len(parts) >= 3 else typ


def _resource_doc(record: Recorded) -> dict[str, Any]:
    return {
        "type": record.typ,
        "name": record.name,
        "region": record.region,
        "provider": record.provider_name,
        "parent": record.parent_urn.rsplit("::", 1)[-1],
        "protect": record.protect,
        "settings": settings_line(record),
    }


def _render_tree(stack: str, path: Path, groups: dict[str, list[Recorded]], offline: OfflineRun) -> list[str]:
    lines = [
        f"idp-dr plan: stack {stack!r} from {path.name} (offline, under mocks: nothing was created)",
        f"{len(offline.recorder.all())} resources",
        "",
    ]
    for group, records in groups.items():
        lines.append(f"== {group} ==")
        if group == "components":
            for record in records:
                parent = record.parent_urn.rsplit("::", 1)[-1]
                lines.append(f"  {record.typ} {record.name}  (in {parent})")
            lines.append("")
            continue
        by_parent: dict[str, list[Recorded]] = defaultdict(list)
        for record in records:
            by_parent[record.parent_urn.rsplit("::", 1)[-1]].append(record)
        for parent, children in by_parent.items():
            if group != "providers":
                lines.append(f"  {parent}")
            for record in children:
                settings = settings_line(record)
                lines.append(f"    {_short_type(record.typ)} {record.name}" + (f": {settings}" if settings else ""))
        lines.append("")
    return lines
