"""``python -m scripts <command>``: the single entry point for every runbook step.

Conventions every command follows (a command module only fills a Report):

* ``register(subparsers, common)`` adds the command's parser, with ``common``
  as a parent (``--json``, ``--quiet``, ``--report-file``), and sets
  ``handler=run`` where ``run(args, report) -> None``.
* The report goes to stdout (a table, or one JSON document with ``--json``);
  progress and ``error:``/``hint:`` lines go to stderr.
* Exit code: the raised error's code, else 1 if any step or check failed,
  else 0 (see ``scripts.errors.ExitCode``).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from scripts import __version__
from scripts.errors import DrError, ExitCode, InputError, interrupted
from scripts.processes import unwind_on_sigterm
from scripts.report import Report

#: Top-level commands: (module that defines register/run).
COMMAND_MODULES: list[str] = [
    "scripts.plan.command",
    "scripts.failover.cmd_failover",
    "scripts.failover.reprotect",
    "scripts.failover.cmd_failback",
    "scripts.sandbox.command",
    "scripts.verify.cmd_baseline",
    "scripts.verify.cmd_verify",
    "scripts.drill.cli",
    "scripts.recover.cli",
]

#: ``restore <source>`` subcommands; each module defines register_restore().
RESTORE_MODULES: list[str] = [
    "scripts.restore.rds.cli",
    "scripts.restore.wal.cli",
    "scripts.backup.restore_cli",
]

#: ``backup <kind>`` subcommands; each module defines register_backup().
BACKUP_MODULES: list[str] = [
    "scripts.backup.cli",
]

#: ``audit <what>`` subcommands; each module defines register_audit().
AUDIT_MODULES: list[str] = [
    "scripts.audit.cli",
]

#: ``check <what>`` subcommands; each module defines register_check().
CHECK_MODULES: list[str] = [
    "scripts.check.cli",
]

#: ``bootstrap <step>`` subcommands; each module defines register_bootstrap().
BOOTSTRAP_MODULES: list[str] = [
    "scripts.bootstrap.cli",
    "scripts.bootstrap.archiver",
]


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors exit with our BAD_INPUT code (2, same as argparse)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"error: {message}\n")
        raise SystemExit(ExitCode.BAD_INPUT)


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    out = common.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="print the report as one JSON document on stdout")
    out.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    out.add_argument(
        "--report-file",
        type=Path,
        metavar="FILE",
        help="also write the JSON report to FILE (written even when the command fails)",
    )
    return common


@dataclass(frozen=True)
class CommandGroup:
    """``<name> <sub>`` commands: each module defines ``register_<name>(sub, common)``."""

    name: str
    metavar: str
    help: str
    description: str
    modules: tuple[str, ...]


COMMAND_GROUPS: tuple[CommandGroup, ...] = (
    CommandGroup(
        "restore",
        "<source>",
        "restore a database to a point in time (RDS, a self-managed WAL archive, or a logical dump)",
        "Restore a database. Choose the source kind.",
        tuple(RESTORE_MODULES),
    ),
    CommandGroup(
        "backup",
        "<kind>",
        "logical dumps of the IdP's database, verified where they land, with their manifest",
        "Backups the point-in-time restore cannot give: logical dumps kept 14 days, 90 days, a year.",
        tuple(BACKUP_MODULES),
    ),
    CommandGroup(
        "bootstrap",
        "<step>",
        "first-day steps of a new stack: the IdP's database role, the verifier client, a self-managed WAL archiver",
        "First-day steps of a new stack (docs/getting-started-aws.md). Each is idempotent: a re-run changes nothing.",
        tuple(BOOTSTRAP_MODULES),
    ),
    CommandGroup(
        "check",
        "<what>",
        "scheduled checks of the DR paths no CloudWatch metric covers (the replicated backups' age)",
        "Scheduled checks of the DR paths; each publishes a metric the program alarms on.",
        tuple(CHECK_MODULES),
    ),
    CommandGroup(
        "audit",
        "<what>",
        "configuration drift audits: a Keycloak realm's configuration against a committed reference",
        "Drift audits (the guide: a realm export is for configuration as code and drift audits, never a backup).",
        tuple(AUDIT_MODULES),
    ),
)


def _add_group(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser, group: CommandGroup) -> None:
    parser = subparsers.add_parser(group.name, help=group.help, description=group.description)
    sub = parser.add_subparsers(dest="source", metavar=group.metavar, parser_class=_Parser)
    sub.required = True
    for module_name in group.modules:
        getattr(importlib.import_module(module_name), f"register_{group.name}")(sub, common)


def _prog() -> str:
    """How the user called us: ``idp-dr`` (the console script) or ``python -m scripts``."""
    return "idp-dr" if Path(sys.argv[0]).name == "idp-dr" else "python -m scripts"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=_prog(),
        description="idp-dr runbook commands: plan, restore, verify, failover and drills for Keycloak/authentik.",
        epilog="Run 'python -m scripts <command> --help' for a command's options. "
        "Exit codes: 0 ok, 1 a check failed, 2 bad input, 3 refused for safety, 4 timed out (re-run to "
        "resume), 5 external failure, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"idp-dr {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="<command>", parser_class=_Parser)
    subparsers.required = True
    common = _common_options()
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers, common)
    for group in COMMAND_GROUPS:
        _add_group(subparsers, common, group)
    return parser


def _command_name(args: argparse.Namespace) -> str:
    name = args.command
    if getattr(args, "source", None):
        name = f"{name} {args.source}"
    return name


def main(argv: list[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    stdout = stdout if stdout is not None else sys.stdout
    stderr = stderr if stderr is not None else sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return int(exc.code or 0)

    unwind_on_sigterm()  # the same cleanup path as Ctrl-C: every started process is stopped

    report = Report(_command_name(args))
    exit_code: int
    try:
        _check_report_file(args)
        args.handler(args, report)
        exit_code = ExitCode.OK if report.ok else ExitCode.CHECK_FAILED
    except DrError as exc:
        report.error = exc
        exit_code = exc.exit_code
    except KeyboardInterrupt:
        report.error = interrupted()
        exit_code = ExitCode.INTERRUPTED

    _emit(report, args, stdout, stderr)
    return int(exit_code)


def entry() -> None:
    """The ``idp-dr`` console script (``pip install .``)."""
    raise SystemExit(main())


def _check_report_file(args: argparse.Namespace) -> None:
    """Refuse an unwritable --report-file before the command runs, not after it has changed things."""
    path = getattr(args, "report_file", None)
    if not path:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a"):
            pass
    except OSError as exc:
        args.report_file = None  # nothing to write the refusal to
        raise InputError("--report-file", str(path), f"a writable file path ({exc.strerror})") from None


def _emit(report: Report, args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> None:
    doc_json = report.to_json()
    if getattr(args, "report_file", None):
        args.report_file.parent.mkdir(parents=True, exist_ok=True)
        args.report_file.write_text(doc_json + "\n")
    if getattr(args, "json", False):
        stdout.write(doc_json + "\n")
    elif report.steps or report.checks or report.result:
        stdout.write(report.render_text() + "\n")
    if report.error is not None:
        err = report.to_dict()["error"]  # scrubbed of registered secrets
        stderr.write(f"error: {err['message']}\n")
        if err.get("hint"):
            stderr.write(f"hint: {err['hint']}\n")
    stdout.flush()
    stderr.flush()
