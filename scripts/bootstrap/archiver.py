"""``python -m scripts bootstrap wal-archiver``: the archive-ahead ``archive_command`` for a self-managed primary.

Run on the primary's host. It writes :mod:`scripts.wal.push`'s script and its spool, owned by the
PostgreSQL OS user, and prints the ``archive_command`` with the SQL that sets it. It never changes
the server's configuration itself: that stays the operator's step (``ALTER SYSTEM`` and a reload),
so a typo here cannot stop a production primary's archiving. Re-running it with the same options
changes nothing.
"""

from __future__ import annotations

import argparse
import pwd
import shutil
import subprocess
from pathlib import Path

from scripts.cliutil import DefaultsHelpFormatter
from scripts.errors import InputError
from scripts.pg.osuser import OsUser
from scripts.pg.tools import PgTools
from scripts.report import Report
from scripts.stack_outputs import load_stack_outputs
from scripts.wal import push
from scripts.wal.archive import WAL_COMPRESSION_FLAGS
from scripts.wal.location import ArchiveLocation

DEFAULT_SCRIPT = Path("/var/lib/postgresql") / push.SCRIPT_NAME
DEFAULT_SPOOL = Path("/var/lib/postgresql/idp-dr-archive-spool")


def register_bootstrap(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "wal-archiver",
        parents=[common],
        formatter_class=DefaultsHelpFormatter,
        help="self-managed primary: write the archive_command that ships a WAL backlog in parallel",
        description="Self-managed PostgreSQL: write the archive-ahead archive_command script on the primary's host. "
        "Asked for one segment, it ships it and up to --parallel - 1 segments PostgreSQL has already queued, each "
        "with barman-cloud-wal-archive (barman-cloud's layout, the one restore wal and CloudNativePG read), so a "
        "write burst's backlog drains in batches instead of one Python start per segment. Prints the "
        "archive_command and the SQL that sets it; never changes the server itself. Exit 0 written (or "
        "unchanged), 2 bad input (nothing written).",
    )
    where = parser.add_argument_group("the archive (from --stack-outputs, or given)")
    where.add_argument("--stack-outputs", metavar="FILE", help="a self-managed stack's outputs")
    where.add_argument("--archive", metavar="s3://BUCKET/PREFIX", help="the primary's WAL archive")
    where.add_argument("--server-name", help="barman-cloud server name (the folder under the prefix)")
    where.add_argument("--endpoint-url", metavar="URL", help="S3-compatible endpoint (default: AWS S3)")
    host = parser.add_argument_group("the primary's host")
    host.add_argument("--pgdata", type=Path, required=True, help="the primary's data directory")
    host.add_argument("--script", type=Path, default=DEFAULT_SCRIPT, help="where the archive_command script goes")
    host.add_argument(
        "--spool-dir", type=Path, default=DEFAULT_SPOOL, help="records of segments shipped ahead; outside --pgdata"
    )
    host.add_argument("--os-user", help="the PostgreSQL OS user (default: the owner of --pgdata)")
    host.add_argument(
        "--barman-bin", type=Path, help="directory holding barman-cloud-wal-archive (default: the one on PATH)"
    )
    ship = parser.add_argument_group("shipping")
    ship.add_argument(
        "--parallel",
        type=int,
        default=push.DEFAULT_PARALLEL,
        help=f"uploads at a time, the asked-for segment included, 1-{push.MAX_PARALLEL}",
    )
    ship.add_argument("--compression", default="none", help="one of " + ", ".join(WAL_COMPRESSION_FLAGS))
    parser.add_argument("--dry-run", action="store_true", help="validate and print the command; write nothing")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, report: Report) -> None:
    location = _location(args)
    pgdata = _pgdata(args.pgdata)
    user = _os_user(args.os_user, pgdata)
    tools = _barman_tools(args.barman_bin)
    if not 1 <= args.parallel <= push.MAX_PARALLEL:
        raise InputError("--parallel", args.parallel, f"an integer from 1 to {push.MAX_PARALLEL}")
    if args.compression not in WAL_COMPRESSION_FLAGS:
        raise InputError("--compression", args.compression, "one of " + ", ".join(WAL_COMPRESSION_FLAGS))
    archiver = push.ParallelArchiver(args.script.absolute(), args.spool_dir.absolute(), args.parallel)
    try:
        push.check_spool(archiver.spool, pgdata)
    except InputError as exc:
        raise InputError("--spool-dir", str(args.spool_dir), exc.allowed) from None
    python = _python_with_barman(tools, user, args.barman_bin)
    text = push.render_archive_script(archiver, python, push.barman_args(location, args.compression))
    unchanged = (
        _holds(archiver.script, text) and _holds(archiver.uploader, push.BATCH_UPLOADER) and archiver.spool.is_dir()
    )
    with report.step("write archive-ahead script", script=str(archiver.script), spool=str(archiver.spool)) as step:
        if args.dry_run:
            step.detail["dry_run"] = True
        elif unchanged:
            step.detail["changed"] = False
        else:
            push.install(archiver, tools, location, user, pgdata=pgdata, compression=args.compression)
            step.detail["changed"] = True
    command = archiver.command()
    report.result.update(
        {
            "archive": location.display(),
            "parallel": args.parallel,
            "archive_command": command,
            "apply_with": [f"ALTER SYSTEM SET archive_command = {_sql_literal(command)}", "SELECT pg_reload_conf()"],
        }
    )
    report.notes.append(
        "set it as a superuser on the primary: ALTER SYSTEM SET archive_command = ...; SELECT pg_reload_conf(); "
        f"PostgreSQL runs it as {user.name}, who needs the AWS credentials in the server's environment"
    )


def _location(args: argparse.Namespace) -> ArchiveLocation:
    if args.stack_outputs:
        outputs = load_stack_outputs(args.stack_outputs)
        if outputs.database.mode != "self-managed":
            raise InputError("--stack-outputs", args.stack_outputs, "a self-managed stack (RDS archives its own WAL)")
        url = args.archive or f"s3://{outputs.archive.primaryBucket}/{outputs.archive.prefix}"
        server = args.server_name or outputs.archive.serverName
    else:
        url, server = args.archive, args.server_name
    if not url:
        raise InputError("--archive", None, "s3://BUCKET/PREFIX of the primary's WAL archive (or --stack-outputs)")
    if not server:
        raise InputError("--server-name", None, "the barman-cloud server name (or --stack-outputs)")
    return ArchiveLocation.parse(url, server, args.endpoint_url)


def _pgdata(path: Path) -> Path:
    pgdata = path.absolute()
    if not (pgdata / "PG_VERSION").is_file() or not (pgdata / "pg_wal").is_dir():
        raise InputError("--pgdata", str(path), "the primary's data directory (holding PG_VERSION and pg_wal)")
    return pgdata


def _os_user(name: str | None, pgdata: Path) -> OsUser:
    try:
        entry = pwd.getpwnam(name) if name else pwd.getpwuid(pgdata.stat().st_uid)
    except KeyError:
        raise InputError("--os-user", name, "an existing OS user (the one PostgreSQL runs as)") from None
    if entry.pw_uid == 0:
        raise InputError("--os-user", entry.pw_name, "the PostgreSQL OS user, never root")
    return OsUser(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir)


def _barman_tools(bindir: Path | None) -> PgTools:
    if bindir is None:
        found = shutil.which("barman-cloud-wal-archive")
        if found is None:
            raise InputError(
                "--barman-bin", None, "a directory holding barman-cloud-wal-archive (pip install 'barman[cloud]')"
            )
        return PgTools(Path(found).parent)
    if not (bindir / "barman-cloud-wal-archive").is_file():
        raise InputError("--barman-bin", str(bindir), "a directory holding barman-cloud-wal-archive")
    return PgTools(bindir.absolute())


def _python_with_barman(tools: PgTools, user: OsUser, given: Path | None) -> str:
    """barman-cloud's interpreter, proven to import barman's uploader as the PostgreSQL OS user."""
    python = push.barman_python(tools)
    probe = [python, "-c", "import barman.clients.cloud_walarchive, barman.cloud_providers"]
    try:
        proc = subprocess.run(probe, capture_output=True, text=True, timeout=60, env=user.env(), **user.popen_kwargs())
        failure = (
            None if proc.returncode == 0 else (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        )
    except (OSError, subprocess.SubprocessError) as exc:
        failure = str(exc)
    if failure is not None:
        raise InputError(
            "--barman-bin",
            str(given or tools.bindir),
            f"a barman-cloud whose Python {user.name} can run and import barman from (tried {python}: {failure})",
        )
    return python


def _holds(path: Path, text: str) -> bool:
    return path.is_file() and path.read_text() == text


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
