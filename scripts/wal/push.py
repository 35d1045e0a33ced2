"""Ship a WAL backlog in parallel: the ``archive_command`` script that archives ahead.

PostgreSQL's archiver runs ``archive_command`` once per segment, serially and in order.
``barman-cloud-wal-archive`` spends about 0.35 s starting Python and boto3 before a byte moves,
so after a write burst the backlog drains at a few segments a second whatever the bandwidth,
and the RPO grows by the backlog (issue 14 measured 17.2 s once with ``archive_timeout`` 10 s).

The script :func:`render_archive_script` writes does what CloudNativePG's instance manager does
with ``wal.maxParallel`` (and pgBackRest's asynchronous ``archive-push``): asked for segment X,
it ships X and, at the same time, up to ``parallel - 1`` segments PostgreSQL has already queued
after X (``pg_wal/archive_status/*.ready``), each with its own ``barman-cloud-wal-archive``, so
the archive keeps barman-cloud's layout, compression and encryption. Each upload ahead that
succeeds leaves a record in the spool; when PostgreSQL then asks for that segment, the script
finds the record and answers at once.

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
DEFAULT_PARALLEL = 4
MAX_PARALLEL = 32
SCRIPT_NAME = "idp-dr-archive-wal.sh"

ARCHIVE_SCRIPT = r"""#!/bin/sh
# idp-dr archive_command: ship %p with barman-cloud, and up to __PARALLEL__ - 1 segments PostgreSQL
# has already queued after it, in parallel. Written by idp-dr; archive_command = '<this> %p'
p="$1"; f="${p##*/}"; dir="${p%/*}"; [ "$dir" = "$p" ] && dir=.
spool=__SPOOL__; n=__PARALLEL__
stamp() { stat -c '%i %s %Y' "$1" 2>/dev/null; }
ship() { __ARCHIVER__ "$1"; }
# Shipped ahead by an earlier call: accepted only for the very same file.
if [ -f "$spool/$f.ok" ]; then
  shipped=""; read -r shipped < "$spool/$f.ok"
  rm -f "$spool/$f.ok"
  [ -n "$shipped" ] && [ "$shipped" = "$(stamp "$p")" ] && exit 0
fi
ahead=""
case "$f" in
  [0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F])
    [ "$n" -gt 1 ] && ahead=$(ls "$dir/archive_status" 2>/dev/null \
      | sed -n 's/^\([0-9A-F]\{24\}\)\.ready$/\1/p' | LC_ALL=C sort | awk -v f="$f" '$0 > f' | head -n $((n - 1)));;
esac
for g in $ahead; do
  [ -f "$spool/$g.ok" ] && continue
  (
    s=$(stamp "$dir/$g")
    if [ -n "$s" ] && ship "$dir/$g" > "$spool/$g.err" 2>&1; then
      echo "$s" > "$spool/$g.tmp" && mv -f "$spool/$g.tmp" "$spool/$g.ok" && rm -f "$spool/$g.err"
    fi
  ) &
done
ship "$p"; rc=$?
wait
[ $rc -eq 0 ] && rm -f "$spool/$f.err"
exit $rc
"""


@dataclass(frozen=True)
class ParallelArchiver:
    """Where the archive-ahead script and its spool live, and how wide it ships.

    ``parallel``: uploads at a time, 1-32 (default 4); ``spool``: a directory outside PGDATA,
    one per server; ``script``: the file written for ``archive_command``.
    """

    script: Path
    spool: Path
    parallel: int = DEFAULT_PARALLEL

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


def barman_argv(tools: PgTools, location: ArchiveLocation, compression: str = "none") -> list[str]:
    """``barman-cloud-wal-archive`` for ``location``, without the WAL path (the script adds it)."""
    if compression not in WAL_COMPRESSION_FLAGS:
        raise InputError("compression", compression, "one of " + ", ".join(WAL_COMPRESSION_FLAGS))
    return [
        tools.exe("barman-cloud-wal-archive"),
        *location.barman_args(),
        *WAL_COMPRESSION_FLAGS[compression],
        location.url,
        location.server_name,
    ]


def render_archive_script(spool: Path, archiver_argv: list[str], parallel: int) -> str:
    """The script's text; ``archiver_argv`` gets the WAL file's path appended."""
    return (
        ARCHIVE_SCRIPT.replace("__SPOOL__", shlex.quote(str(spool)))
        .replace("__PARALLEL__", str(int(parallel)))
        .replace("__ARCHIVER__", " ".join(shlex.quote(a) for a in archiver_argv))
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
    """Write the script (mode 0755) and the spool (mode 0700, owned by ``user``); returns the
    ``archive_command``. Refused (InputError) for a spool inside ``pgdata`` or a bad setting,
    before anything is written."""
    if pgdata is not None:
        check_spool(archiver.spool, pgdata)
    argv = barman_argv(tools, location, compression)
    archiver.spool.mkdir(parents=True, exist_ok=True)
    archiver.spool.chmod(0o700)
    user.chown(archiver.spool)
    archiver.script.parent.mkdir(parents=True, exist_ok=True)
    archiver.script.write_text(render_archive_script(archiver.spool, argv, archiver.parallel))
    archiver.script.chmod(0o755)
    return archiver.command()
