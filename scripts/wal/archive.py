"""The archiving side: ship WAL and base backups to S3 with barman-cloud.

Used by the local drill, the integration tests and the benchmark to build a
real archive in barman-cloud's (and CloudNativePG's) layout:

* :func:`archive_command` – the ``archive_command`` for a server archiving to a location
* :func:`check_wal_archive` – ``barman-cloud-check-wal-archive``: refuse to archive over a used prefix
* :func:`take_base_backup` – ``barman-cloud-backup --immediate-checkpoint`` (a spread checkpoint
  made a 137 MB backup take 3.5 min instead of 6 s here, design.md §6)
* :func:`switch_and_wait_archived` – close the current segment and wait until it (and every
  segment before it) is in the archive; returns the archive lag

barman-cloud runs as the PostgreSQL OS user (it must, for archive_command) and
gets AWS credentials and region from the environment passed in ``env``.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from scripts.errors import ExternalError, InputError, RefusedError, WaitTimeout
from scripts.pg.osuser import OsUser
from scripts.pg.tools import PgTools
from scripts.polling import Clock, Verdict, poll_until
from scripts.progress import Progress
from scripts.wal.location import ArchiveLocation

#: barman-cloud-wal-archive compression flags. snappy/zstd/lz4 need extra Python modules.
WAL_COMPRESSION_FLAGS: dict[str, list[str]] = {
    "none": [],
    "gzip": ["--gzip"],
    "bzip2": ["--bzip2"],
    "xz": ["--xz"],
    "snappy": ["--snappy"],
    "zstd": ["--zstd"],
    "lz4": ["--lz4"],
}
#: barman-cloud-backup compression flags (it has fewer than the WAL archiver).
BACKUP_COMPRESSION_FLAGS: dict[str, list[str]] = {
    "none": [],
    "gzip": ["--gzip"],
    "bzip2": ["--bzip2"],
    "snappy": ["--snappy"],
    "lz4": ["--lz4"],
}


def archive_command(tools: PgTools, location: ArchiveLocation, *, compression: str = "none") -> str:
    """``archive_command`` that ships each completed segment to ``location`` with barman-cloud.

    ``compression``: one of none (default), gzip, bzip2, xz, snappy, zstd, lz4.
    """
    if compression not in WAL_COMPRESSION_FLAGS:
        raise InputError("compression", compression, "one of " + ", ".join(WAL_COMPRESSION_FLAGS))
    argv = [
        tools.exe("barman-cloud-wal-archive"),
        *location.barman_args(),
        *WAL_COMPRESSION_FLAGS[compression],
        location.url,
        location.server_name,
    ]
    # %p is substituted by PostgreSQL and must stay unquoted-by-us (it holds no spaces: pg_wal/...).
    return " ".join(shlex.quote(a) for a in argv) + " %p"


def run_barman(
    tools: PgTools,
    user: OsUser,
    name: str,
    args: list[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
    on_wait: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess:
    """Run one barman-cloud command as the PostgreSQL OS user; returns the completed process.

    ``on_wait`` is called about twice a second while it runs (progress on long downloads).
    """
    argv = [tools.exe(name), *args]
    kwargs = {"env": user.env({**os.environ, **(env or {})}), **user.popen_kwargs()}
    try:
        if on_wait is None:
            return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            popen = subprocess.Popen(argv, stdout=out, stderr=err, text=True, **kwargs)
            deadline = time.monotonic() + timeout
            try:
                while popen.poll() is None:
                    if time.monotonic() > deadline:
                        raise subprocess.TimeoutExpired(argv, timeout)
                    on_wait()
                    time.sleep(0.5)
            except BaseException:
                # Timeout, Ctrl-C/SIGTERM or a failing progress callback: never leave barman-cloud
                # writing into the data directory after we have given up on it.
                popen.kill()
                popen.wait()
                raise
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(argv, popen.returncode, out.read(), err.read())
    except subprocess.TimeoutExpired:
        raise WaitTimeout(f"{name} did not finish within {timeout:.0f} s") from None
    except OSError as exc:
        raise ExternalError(f"could not run {name}: {exc}") from None


def tail(proc: subprocess.CompletedProcess, lines: int = 3) -> str:
    text = (proc.stderr or proc.stdout or "").strip().splitlines()
    return " / ".join(text[-lines:]) or f"exit {proc.returncode}"


def check_wal_archive(
    tools: PgTools, user: OsUser, location: ArchiveLocation, *, env: Mapping[str, str] | None = None
) -> None:
    """Refuse (RefusedError) unless ``location`` holds no WAL: never archive over another server.

    Note: barman-cloud-check-wal-archive creates the bucket when it is missing; callers that
    must not write anything check the bucket exists first.
    """
    proc = run_barman(
        tools,
        user,
        "barman-cloud-check-wal-archive",
        [*location.barman_args(), location.url, location.server_name],
        env=env,
        timeout=120,
    )
    if proc.returncode == 0:
        return
    if "Expected empty archive" in (proc.stderr + proc.stdout) or proc.returncode == 1:
        raise RefusedError(
            f"refusing to archive into {location.display()}: it already holds WAL of another server",
            hint="choose a server name (prefix) nobody archives to; a restored server must never archive "
            "into its source's prefix",
        )
    raise ExternalError(f"barman-cloud-check-wal-archive failed for {location.display()}: {tail(proc)}")


def take_base_backup(
    tools: PgTools,
    user: OsUser,
    location: ArchiveLocation,
    *,
    socket_dir: Path,
    port: int,
    env: Mapping[str, str] | None = None,
    compression: str = "none",
    jobs: int = 2,
    name: str | None = None,
    timeout: float = 1800,
    max_archive_size: str | None = None,
) -> str:
    """``barman-cloud-backup --immediate-checkpoint`` of the server on ``socket_dir``:``port``.

    ``max_archive_size`` (barman-cloud's ``--max-archive-size``, e.g. ``1MB``; default its own,
    100GB) splits the backup into ``data.tar``, ``data_0001.tar``, ... parts.

    Returns the new backup id (found by listing the archive before and after).
    """
    if compression not in BACKUP_COMPRESSION_FLAGS:
        raise InputError("compression", compression, "one of " + ", ".join(BACKUP_COMPRESSION_FLAGS))
    from scripts.wal.catalog import list_backup_ids

    before = set(list_backup_ids(location))
    args = [
        *location.barman_args(),
        *BACKUP_COMPRESSION_FLAGS[compression],
        "--immediate-checkpoint",
        "-J",
        str(jobs),
        "-h",
        str(socket_dir),
        "-p",
        str(port),
        "-U",
        "postgres",
    ]
    if name:
        args += ["-n", name]
    if max_archive_size:
        args += ["--max-archive-size", max_archive_size]
    proc = run_barman(
        tools,
        user,
        "barman-cloud-backup",
        [*args, location.url, location.server_name],
        env=env,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise ExternalError(f"barman-cloud-backup to {location.display()} failed: {tail(proc)}")
    new = sorted(set(list_backup_ids(location)) - before)
    if len(new) != 1:
        raise ExternalError(f"barman-cloud-backup finished but {len(new)} new backups appeared in {location.display()}")
    return new[0]


@dataclass(frozen=True)
class ArchiveWait:
    """What :func:`switch_and_wait_archived` saw: the last segment needed and how long it took."""

    segment: str
    lag_s: float
    failed_count: int


def switch_and_wait_archived(
    execute: Callable[[str], list[tuple]],
    *,
    timeout: float = 120,
    progress: Progress | None = None,
    poll: float = 0.1,
) -> ArchiveWait:
    """``pg_switch_wal()``, then wait until the segment it closed is archived.

    PostgreSQL's archiver is serial and in order, so once ``pg_stat_archiver.last_archived_wal``
    reaches that segment every earlier one is archived too. ``execute`` runs one SQL statement
    as a superuser (e.g. ``PgCluster.execute``). Raises WaitTimeout with the archiver's last error.
    """
    lsn = execute("SELECT pg_switch_wal()")[0][0]
    segment = execute(f"SELECT pg_walfile_name({_sql_literal(str(lsn))}::pg_lsn)")[0][0]
    return wait_archived(execute, segment, timeout=timeout, progress=progress, poll=poll)


def wait_archived(
    execute: Callable[[str], list[tuple]],
    segment: str,
    *,
    timeout: float = 120,
    progress: Progress | None = None,
    poll: float = 0.1,
) -> ArchiveWait:
    """Wait until ``segment`` (a WAL file name) and everything before it is archived."""
    clock = Clock()
    t0 = clock.monotonic()

    def fetch() -> tuple:
        return execute("SELECT last_archived_wal, failed_count, last_failed_wal FROM pg_stat_archiver")[0]

    def judge(row: tuple) -> Verdict[tuple]:
        last = row[0]
        # Same timeline: names sort in WAL order. A newer timeline's files sort after, too.
        done = last is not None and len(last) == 24 and last >= segment
        return Verdict("done" if done else "wait", f"waiting for {segment} to be archived (last archived: {last})", row)

    def timed_out(verdict: Verdict[tuple]) -> WaitTimeout:
        last, failed, last_failed = verdict.value or (None, 0, None)
        return WaitTimeout(
            f"WAL segment {segment} not archived after {timeout:.0f} s (last archived: {last}, "
            f"failed attempts: {failed}, last failed: {last_failed})",
            hint="check archive_command in the server log; the archiver retries on its own",
        )

    row, _polls = poll_until(
        fetch,
        judge,
        interval=poll,
        timeout=timeout,
        clock=clock,
        what=f"archiving {segment}",
        on_update=progress.update if progress is not None else None,
        on_timeout=timed_out,
    )
    return ArchiveWait(segment=segment, lag_s=clock.monotonic() - t0, failed_count=int(row[1]))


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
