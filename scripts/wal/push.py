"""Ship a WAL backlog in parallel: the ``archive_command`` script that archives ahead.

PostgreSQL's archiver runs ``archive_command`` once per segment, serially and in order.
``barman-cloud-wal-archive`` spends about 0.35 s starting Python and boto3 before a byte moves,
so after a write burst the backlog drains at a few segments a second whatever the bandwidth,
and the RPO grows by the backlog (issue 14 measured 17.2 s once with ``archive_timeout`` 10 s).

The script :func:`render_archive_script` writes does what CloudNativePG's instance manager does
with ``wal.maxParallel`` (and pgBackRest's asynchronous ``archive-push``): asked for segment X,
it ships X and, at the same time, up to ``parallel - 1`` segments PostgreSQL has already queued
after X (``pg_wal/archive_status/*.ready``). One Python process per batch (:data:`BATCH_UPLOADER`,
run by barman-cloud's own interpreter) uploads them in threads with barman-cloud's own
``CloudWalUploader`` and options, so the archive keeps barman-cloud's layout, compression and
encryption, and a batch pays one Python start instead of one per segment. Each upload ahead that
succeeds leaves a record in the spool; when PostgreSQL then asks for that segment, the ``sh``
front finds the record and answers at once, without starting Python.

Why this is safe:

* X is acknowledged only by its own upload's exit status (or by a record of an earlier upload
  of the same file).
* A record holds the file's inode, size and modification time, read before its upload, and is
  accepted only for the same file: a stale or foreign record means the segment is shipped again,
  never skipped.
* Only complete segments (24 hex digits, marked ``.ready`` by PostgreSQL) go ahead; history
  files and backup labels are shipped one by one when PostgreSQL asks for them.
* The script waits for every upload it started before it returns. PostgreSQL runs one
  ``archive_command`` at a time, so two never overlap.
* A failed upload ahead leaves no record (its error is kept in ``<segment>.err`` in the
  spool): PostgreSQL asks for that segment later, and it is shipped then, and retried, as usual.
  X's own error goes to PostgreSQL's log, as barman-cloud-wal-archive's would.
* The spool lives outside PGDATA: a base backup must not carry the records into a restored
  server (:func:`check_spool`).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from scripts.errors import InputError
from scripts.pg.osuser import OsUser
from scripts.pg.tools import PgTools
from scripts.wal.archive import WAL_COMPRESSION_FLAGS
from scripts.wal.location import ArchiveLocation

#: Uploads at a time, the segment asked for included. 1 ships only what PostgreSQL asks for.
DEFAULT_PARALLEL = 8
MAX_PARALLEL = 32
SCRIPT_NAME = "idp-dr-archive-wal.sh"

ARCHIVE_SCRIPT = r"""#!/bin/sh
# idp-dr archive_command: ship %p with barman-cloud, and up to __PARALLEL__ - 1 segments PostgreSQL
# has already queued after it, in one batch. Written by idp-dr; archive_command = '<this> %p'
p="$1"; f="${p##*/}"; dir="${p%/*}"; [ "$dir" = "$p" ] && dir=.
spool=__SPOOL__; n=__PARALLEL__
# Shipped ahead by an earlier call: accepted only for the very same file (inode size mtime).
if [ -f "$spool/$f.ok" ]; then
  shipped=""; read -r shipped < "$spool/$f.ok"
  rm -f "$spool/$f.ok"
  [ -n "$shipped" ] && [ "$shipped" = "$(stat -c '%i %s %Y' "$p" 2>/dev/null)" ] && exit 0
fi
ahead=""
case "$f" in
  [0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F])
    [ "$n" -gt 1 ] && ahead=$(ls "$dir/archive_status" 2>/dev/null \
      | sed -n 's/^\([0-9A-F]\{24\}\)\.ready$/\1/p' | LC_ALL=C sort | awk -v f="$f" '$0 > f' | head -n $((n - 1)));;
esac
set -- "$p"
for g in $ahead; do [ -f "$spool/$g.ok" ] || set -- "$@" "$dir/$g"; done
exec __PYTHON__ __UPLOADER__ "$spool" __BARMAN_ARGS__ -- "$@"
"""

#: The batch: argv = SPOOL, barman-cloud-wal-archive's options and positionals, ``--``, the asked-for
#: WAL path, then the paths shipped ahead. Stdlib and barman-cloud only: it runs in barman-cloud's
#: interpreter, where idp-dr is not installed. Exit status: the asked-for file's upload.
BATCH_UPLOADER = r"""# idp-dr: upload WAL files in one process with barman-cloud's own uploader. Written by idp-dr.
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing

from barman.clients import cloud_walarchive as walarchive
from barman.cloud_providers import get_cloud_interface
from barman.xlog import is_history_file


def stamp(path):
    st = os.stat(path)
    return "%d %d %d" % (st.st_ino, st.st_size, int(st.st_mtime))


def upload(cloud, config, path):
    uploader = walarchive.CloudWalUploader(
        cloud_interface=cloud,
        server_name=config.server_name,
        compression=config.compression,
        compression_level=config.compression_level,
    )
    uploader.upload_wal(path, **({"override_tags": config.history_tags} if is_history_file(path) else {}))


def ship_ahead(cloud, config, spool, path):
    name = os.path.basename(path)
    try:
        before = stamp(path)
        upload(cloud, config, path)
        tmp = os.path.join(spool, name + ".tmp")
        with open(tmp, "w") as fh:
            fh.write(before + "\n")
        os.replace(tmp, os.path.join(spool, name + ".ok"))
        if os.path.exists(os.path.join(spool, name + ".err")):
            os.unlink(os.path.join(spool, name + ".err"))
    except Exception as exc:  # kept for the operator; PostgreSQL ships this segment again when it asks
        try:
            with open(os.path.join(spool, name + ".err"), "w") as fh:
                fh.write("%s: %s\n" % (type(exc).__name__, exc))
        except OSError:
            pass


def main(argv):
    spool, rest = argv[0], argv[1:]
    split = rest.index("--")
    options, paths = rest[:split], rest[split + 1 :]
    config = walarchive.parse_arguments([*options, paths[0]])
    walarchive.configure_logging(config)
    if not os.access(spool, os.W_OK | os.X_OK):
        # No records can be kept (the spool was removed or is not ours): ship what was asked for, alone.
        sys.stderr.write("idp-dr archive: spool %s is not writable; shipping %s alone\n" % (spool, paths[0]))
        paths = paths[:1]
    # One cloud interface for the batch: its uploads go through the boto3 client (thread-safe);
    # one interface per thread made a batch of 16 take 3x as long (a boto3 session each).
    with closing(get_cloud_interface(config)) as cloud, ThreadPoolExecutor(max_workers=len(paths)) as pool:
        ahead = [pool.submit(ship_ahead, cloud, config, spool, path) for path in paths[1:]]
        try:
            upload(cloud, config, paths[0])
            status = 0
        except Exception as exc:
            sys.stderr.write("idp-dr archive: upload of %s failed: %s\n" % (paths[0], exc))
            status = 1
        for future in ahead:
            future.result()
    if len(paths) > 1:  # one line per batch in the server's log: what went ahead, and how it went
        shipped = sum(os.path.exists(os.path.join(spool, os.path.basename(p) + ".ok")) for p in paths[1:])
        sys.stderr.write(
            "idp-dr archive: %s shipped with %d queued segments ahead (%d ok)\n"
            % (os.path.basename(paths[0]), len(paths) - 1, shipped)
        )
    if status == 0 and os.path.exists(os.path.join(spool, os.path.basename(paths[0]) + ".err")):
        os.unlink(os.path.join(spool, os.path.basename(paths[0]) + ".err"))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
"""
UPLOADER_NAME = "idp-dr-archive-batch.py"


@dataclass(frozen=True)
class ParallelArchiver:
    """Where the archive-ahead script and its spool live, and how wide it ships.

    ``parallel``: uploads at a time, 1-32 (default 8); ``spool``: a directory outside PGDATA,
    one per server; ``script``: the file written for ``archive_command``.
    """

    script: Path
    spool: Path
    parallel: int = DEFAULT_PARALLEL

    @property
    def uploader(self) -> Path:
        """The batch uploader, beside the script."""
        return self.script.with_name(UPLOADER_NAME)

    def __post_init__(self) -> None:
        if (
            isinstance(self.parallel, bool)
            or not isinstance(self.parallel, int)
            or not (1 <= self.parallel <= MAX_PARALLEL)
        ):
            raise InputError("parallel", self.parallel, f"an integer from 1 to {MAX_PARALLEL}")

    def command(self) -> str:
        """The ``archive_command`` line: the script with ``%p``."""
        return f"{shlex.quote(str(self.script))} %p"


def check_spool(spool: Path, pgdata: Path) -> None:
    """InputError when ``spool`` is inside ``pgdata``: a base backup would carry its records along."""
    spool_abs, pgdata_abs = Path(spool).absolute(), Path(pgdata).absolute()
    if spool_abs == pgdata_abs or pgdata_abs in spool_abs.parents:
        raise InputError(
            "spool",
            str(spool),
            f"a directory outside PGDATA {pgdata_abs} (a base backup would carry its records into a restored server)",
        )


def barman_args(location: ArchiveLocation, compression: str = "none") -> list[str]:
    """``barman-cloud-wal-archive``'s options and positionals for ``location``, without the WAL path."""
    if compression not in WAL_COMPRESSION_FLAGS:
        raise InputError("compression", compression, "one of " + ", ".join(WAL_COMPRESSION_FLAGS))
    return [*location.barman_args(), *WAL_COMPRESSION_FLAGS[compression], location.url, location.server_name]


def barman_python(tools: PgTools) -> str:
    """The interpreter barman-cloud runs under: its ``barman-cloud-wal-archive``'s ``#!`` line
    (a venv's python, or Debian's /usr/bin/python3), else the ``python`` beside it."""
    try:
        with open(tools.exe("barman-cloud-wal-archive"), "rb") as fh:
            first = fh.readline(512).decode(errors="replace").strip()
    except OSError:
        first = ""
    if first.startswith("#!") and "python" in first:
        parts = first[2:].split()
        if parts and parts[0].endswith("/env") and len(parts) > 1:
            return parts[1]
        return parts[0]
    return str(tools.python)


def render_archive_script(archiver: ParallelArchiver, python: str, archiver_args: list[str]) -> str:
    """The ``sh`` front's text; ``archiver_args`` are barman-cloud-wal-archive's, without the WAL path."""
    return (
        ARCHIVE_SCRIPT.replace("__SPOOL__", shlex.quote(str(archiver.spool)))
        .replace("__PARALLEL__", str(int(archiver.parallel)))
        .replace("__PYTHON__", shlex.quote(python))
        .replace("__UPLOADER__", shlex.quote(str(archiver.uploader)))
        .replace("__BARMAN_ARGS__", " ".join(shlex.quote(a) for a in archiver_args))
    )


def install(
    archiver: ParallelArchiver,
    tools: PgTools,
    location: ArchiveLocation,
    user: OsUser,
    *,
    pgdata: Path | None = None,
    compression: str = "none",
) -> str:
    """Write the script (mode 0755), its batch uploader (0644) and the spool (mode 0700, owned by ``user``); returns the
    ``archive_command``. Refused (InputError) for a spool inside ``pgdata`` or a bad setting,
    before anything is written."""
    if pgdata is not None:
        check_spool(archiver.spool, pgdata)
    text = render_archive_script(archiver, barman_python(tools), barman_args(location, compression))
    archiver.spool.mkdir(parents=True, exist_ok=True)
    archiver.spool.chmod(0o700)
    user.chown(archiver.spool)
    archiver.script.parent.mkdir(parents=True, exist_ok=True)
    archiver.uploader.write_text(BATCH_UPLOADER)
    archiver.uploader.chmod(0o644)
    archiver.script.write_text(text)
    archiver.script.chmod(0o755)
    return archiver.command()
