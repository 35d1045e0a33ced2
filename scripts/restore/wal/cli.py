"""``python -m scripts restore wal``: the command line; the work is :func:`scripts.restore.wal.restore.restore_wal`."""

from __future__ import annotations

import argparse
from pathlib import Path

from scripts.cliutil import duration, duration_help
from scripts.progress import Progress
from scripts.report import Report
from scripts.restore.wal.recovery import Target, default_init_sync
from scripts.restore.wal.request import (
    DEFAULT_PARALLEL,
    DEFAULT_PORT,
    DEFAULT_SPOOL_MB,
    DEFAULT_TIMEOUT_S,
    RestoreRequest,
)
from scripts.restore.wal.restore import restore_wal
from scripts.wal.base_fetch import DEFAULT_THREADS as BASE_FETCH_THREADS


def register_restore(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "wal",
        parents=[common],
        help="self-managed PITR: restore a barman-cloud base backup and replay archived WAL to a target",
        description="Restore a base backup from a barman-cloud archive (the layout CloudNativePG writes) "
        "into an empty PGDATA, replay archived WAL to the target with parallel prefetch, and promote. "
        "The restored server archives under its own server name, never into the source's prefix.",
        epilog="Exit codes: 0 restored and promoted; 2 bad input or target outside the restorable window "
        "(nothing written); 3 refused for safety (non-empty --pgdata, a server running there, a used "
        "archive prefix; nothing written); 4 timed out (the server keeps replaying: re-run the same command "
        "to resume); 5 S3, barman-cloud or PostgreSQL failed. AWS credentials come from the usual chain "
        "(environment, profile, instance role) and are passed to PostgreSQL for restore/archive_command.",
    )
    src = parser.add_argument_group("source")
    src.add_argument(
        "--archive",
        required=True,
        metavar="s3://BUCKET/PREFIX",
        help="the archive's URL (barman-cloud's source_url)",
    )
    src.add_argument("--server-name", required=True, metavar="NAME", help="the source server's name in the archive")
    src.add_argument(
        "--backup-id",
        default="latest",
        metavar="latest|ID",
        help="base backup to start from (default: latest, the newest usable backup before the target)",
    )
    src.add_argument("--endpoint-url", metavar="URL", help="S3 endpoint (default: AWS S3 for the region)")
    tgt = parser.add_argument_group("target (exactly one)").add_mutually_exclusive_group(required=True)
    tgt.add_argument(
        "--time",
        metavar="T",
        help="ISO-8601 time with a timezone, e.g. 2026-11-23T10:15:00Z; the last commit at or before T is kept",
    )
    tgt.add_argument("--xid", metavar="XID", help="transaction id; recovery stops after its commit")
    tgt.add_argument("--name", metavar="N", help="restore point created with pg_create_restore_point()")
    tgt.add_argument("--latest", action="store_true", help="replay all archived WAL")
    dst = parser.add_argument_group("restored server")
    dst.add_argument(
        "--pgdata",
        required=True,
        type=Path,
        metavar="DIR",
        help="new data directory: must be empty or absent (owned by the PostgreSQL OS user, 0700)",
    )
    dst.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default: {DEFAULT_PORT})")
    dst.add_argument(
        "--listen-addresses",
        default="127.0.0.1",
        help="listen_addresses of the restored server (default: 127.0.0.1)",
    )
    dst.add_argument(
        "--socket-dir",
        type=Path,
        metavar="DIR",
        help="unix_socket_directories (default: /var/run/postgresql, else /tmp)",
    )
    dst.add_argument(
        "--new-server-name",
        metavar="NAME",
        help="server name the restored server archives under (default: <server-name>-restored-"
        "<UTC timestamp>); must be unused and differ from --server-name",
    )
    dst.add_argument("--no-archive", action="store_true", help="archive_mode = off on the restored server")
    dst.add_argument(
        "--accept-wal-gap",
        action="store_true",
        help="with --latest: when a WAL segment is missing from the archive, promote at the hole instead of "
        "refusing (the report states what is lost)",
    )
    dst.add_argument(
        "--stop-after",
        action="store_true",
        help="stop the restored server after promotion (default: leave it running)",
    )
    base = parser.add_argument_group("base backup fetch")
    base.add_argument(
        "--base-fetch",
        default="parallel",
        metavar="parallel|barman",
        help="parallel ranged GETs, written in process (uncompressed) or into tar (gzip/bzip2); "
        "barman-cloud-restore for tablespaces or snappy/lz4; or "
        "barman-cloud-restore alone (default: %(default)s)",
    )
    base.add_argument(
        "--base-threads",
        type=int,
        default=BASE_FETCH_THREADS,
        metavar="N",
        help="parallel GETs of the base backup, 1-64 (default: CPUs + 1, at most 8: %(default)s here)",
    )
    base.add_argument(
        "--init-sync",
        default=default_init_sync(),
        metavar="syncfs|fsync",
        help="how PostgreSQL makes the restored files durable before replay (recovery_init_sync_method, "
        "reset after promotion): syncfs, one call per file system, or fsync, every file "
        "(default: syncfs on Linux 5.8 or newer, else fsync: %(default)s here)",
    )
    wal = parser.add_argument_group("WAL fetch")
    wal.add_argument(
        "--no-prefetch",
        action="store_true",
        help="plain serial barman-cloud-wal-restore per segment (slower; for comparison)",
    )
    wal.add_argument(
        "--parallel",
        type=int,
        default=DEFAULT_PARALLEL,
        help=f"parallel segment downloads, 1-64 (default: {DEFAULT_PARALLEL})",
    )
    wal.add_argument(
        "--spool-max-mb",
        type=int,
        default=DEFAULT_SPOOL_MB,
        help=f"most MiB of prefetched WAL waiting on disk (default: {DEFAULT_SPOOL_MB})",
    )
    wal.add_argument("--spool-dir", type=Path, metavar="DIR", help="prefetch spool (default: <pgdata>.wal-spool)")
    run_opts = parser.add_argument_group("run")
    run_opts.add_argument(
        "--timeout",
        type=duration("s"),
        default=DEFAULT_TIMEOUT_S,
        metavar="DURATION",
        help=duration_help(f"longest wait for promotion (default: {DEFAULT_TIMEOUT_S:.0f} s)", "s"),
    )
    run_opts.add_argument(
        "--dry-run",
        action="store_true",
        help="validate and print the plan (backup, window, WAL to replay); write nothing",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, report: Report) -> None:
    target = Target.from_options(time=args.time, xid=args.xid, name=args.name, latest=args.latest)
    request = RestoreRequest(
        archive_url=args.archive,
        server_name=args.server_name,
        pgdata=args.pgdata,
        target=target,
        backup_id=args.backup_id,
        endpoint_url=args.endpoint_url,
        new_server_name=args.new_server_name,
        archive=not args.no_archive,
        port=args.port,
        listen_addresses=args.listen_addresses,
        socket_dir=args.socket_dir,
        prefetch=not args.no_prefetch,
        parallel=args.parallel,
        spool_max_mb=args.spool_max_mb,
        spool_dir=args.spool_dir,
        timeout_s=args.timeout,
        leave_running=not args.stop_after,
        dry_run=args.dry_run,
        accept_wal_gap=args.accept_wal_gap,
        base_fetch=args.base_fetch,
        base_fetch_threads=args.base_threads,
        init_sync=args.init_sync,
    )
    progress = Progress("restore wal", enabled=not args.quiet, min_interval=5.0)
    restore_wal(request, report, progress=progress)
    if not args.dry_run:
        progress.done("restored and promoted" if report.ok else "promoted, but a check failed: see the report")
