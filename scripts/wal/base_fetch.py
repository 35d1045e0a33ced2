"""A base backup in barman-cloud's layout restored at the speed of the network: parallel ranged GETs, one tar stream.

``barman-cloud-restore`` reads each tar of the backup over one connection and extracts it with Python's
``tarfile``: 71-162 MiB/s on the build machine where eight connections download the same objects at
~700 MiB/s (docs/benchmarks.md). This reads the same objects, in barman-cloud's (CloudNativePG's) layout,
so an existing archive restores faster without being rewritten:

* each tar (``data.tar[.gz|.bz2]``, its ``data_NNNN`` parts, written with ``--max-archive-size``) is read
  with ``threads`` concurrent ranged GETs of ``part_size`` bytes, handed on strictly in order, at most
  ``2 x threads`` parts in memory;
* an uncompressed tar (barman-cloud's and CloudNativePG's default) is written straight from those parts
  by :class:`scripts.wal.untar.TarWriter` in this process: no pipe, no second process copying every byte;
* a gzip or bzip2 tar is piped into ``tar -x`` running as the PostgreSQL OS user, which decompresses in
  its own process, so download, decompression and extraction overlap;
* ``pg_wal`` is created when the backup did not contain it, as barman-cloud-restore does.

Backups with tablespaces, or compressed with snappy/lz4 (no command-line ``tar`` filter everywhere), are
left to barman-cloud-restore (:func:`supported` says which). Every GET goes through the archive's error
handling (:func:`scripts.wal.location.s3_call`); a failed GET, a damaged or truncated tar, a write that
fails (a full disk) or a ``tar`` that exits non-zero fails the whole restore and stops every download.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts.errors import ExternalError, RefusedError
from scripts.pg.osuser import OsUser
from scripts.wal.location import ArchiveLocation, s3_call
from scripts.wal.untar import TarWriter

#: The codecs ``tar`` decompresses itself (its filter flag); others go to barman-cloud-restore.
TAR_FILTERS: dict[str | None, list[str]] = {None: [], "gzip": ["-z"], "bzip2": ["-j"]}
_EXTENSIONS = {".tar": None, ".tar.gz": "gzip", ".tar.bz2": "bzip2", ".tar.snappy": "snappy", ".tar.lz4": "lz4"}
#: Concurrent GETs: a connection to S3 carries 50-100 MiB/s, so eight fill a fast link; but each part is
#: also copied through this process and into tar, so on a small machine more threads than CPUs (+1) only
#: contend (measured on the 2-vCPU build machine: 3 threads 0.81x of one raw GET, 8 threads 0.54x).
DEFAULT_THREADS = min(8, (os.cpu_count() or 1) + 1)
DEFAULT_PART_SIZE = 16 * 1024 * 1024


@dataclass(frozen=True)
class TarObject:
    key: str
    size: int
    compression: str | None
    #: barman-cloud's part number: 0 for ``data.tar*``, N for ``data_NNNN.tar*``.
    part: int = 0


def backup_tars(location: ArchiveLocation, backup_id: str, client: Any) -> list[TarObject]:
    """The backup's PGDATA tars, main file first, then its parts in order (barman-cloud's naming)."""
    prefix = f"{location.base_prefix}{backup_id}/"
    objects: list[dict[str, Any]] = []
    token: dict[str, str] = {}
    while True:
        page = s3_call(location, f"list {prefix}", client.list_objects_v2, Bucket=location.bucket, Prefix=prefix,
                       **token)  # fmt: skip
        objects += page.get("Contents", [])
        if not page.get("IsTruncated"):
            break
        token = {"ContinuationToken": page["NextContinuationToken"]}
    tars = []
    for obj in objects:
        name = obj["Key"][len(prefix) :]
        stem, dot, _ = name.partition(".")
        extension = "." + name.partition(".")[2] if dot else ""
        if extension in _EXTENSIONS and (stem == "data" or (stem.startswith("data_") and stem[5:].isdigit())):
            part = 0 if stem == "data" else int(stem[5:])
            tars.append(TarObject(obj["Key"], obj["Size"], _EXTENSIONS[extension], part))
    return sorted(tars, key=lambda tar: tar.part)


def part_name(part: int, like: TarObject) -> str:
    """barman-cloud's name for part ``part`` of a backup, with ``like``'s extension (``data_0002.tar.gz``)."""
    extension = like.key.rsplit("/", 1)[-1].partition(".")[2]
    return f"data.{extension}" if part == 0 else f"data_{part:04d}.{extension}"


def part_problems(tars: list[TarObject]) -> list[str]:
    """What is wrong with a backup's numbering of parts, each naming the object; empty when whole.

    barman-cloud-backup numbers the parts it uploads without a gap (``data.tar``, ``data_0001.tar``, ...), each a
    complete tar of different files. A hole is a lost object (a lifecycle rule, a replication gap, a hand's
    delete): every other part still extracts, and the missing files would only show when PostgreSQL reads
    them. Two objects for one part (``data_0001.tar`` and ``data_0001.tar.gz``) cannot both be the backup's.
    The loss of the *last* part leaves no hole: :func:`check_restored` finds it after extraction.
    """
    if not tars:
        return []
    numbers = [tar.part for tar in tars]
    missing = [part_name(n, tars[0]) for n in range(max(numbers) + 1) if n not in numbers]
    twice = sorted({n for n in numbers if numbers.count(n) > 1})
    problems = [f"{name} is missing" for name in missing[:5]]
    if len(missing) > 5:
        problems.append(f"{len(missing) - 5} more parts up to {missing[-1]} are missing")
    problems += [
        f"part {n} is stored twice ({', '.join(t.key.rsplit('/', 1)[-1] for t in tars if t.part == n)})" for n in twice
    ]
    return problems


def check_whole(location: ArchiveLocation, backup_id: str, tars: list[TarObject]) -> None:
    """Refuse (before anything is written) a backup whose parts have a hole or a double: see :func:`part_problems`."""
    problems = part_problems(tars)
    if problems:
        raise RefusedError(
            f"backup {backup_id} cannot be restored from {location.display()}: {'; '.join(problems)} "
            f"(found {_names(tars)})",
            hint="restore another backup with --backup-id, or put the object back from a replica or a versioned "
            "bucket; nothing was changed",
        )


def _names(tars: list[TarObject]) -> str:
    """The objects' names; a long list as its count, first three and last."""
    names = [tar.key.rsplit("/", 1)[-1] for tar in tars]
    return ", ".join(names) if len(names) <= 6 else f"{len(names)} objects: {', '.join(names[:3])}, ..., {names[-1]}"


#: What barman-cloud-backup writes into the last part of every backup (pg_control after the data files, then the
#: backup label once the backup has stopped): a PGDATA without them lost its last part, or is not a base backup.
LAST_FILES: tuple[str, ...] = ("global/pg_control", "backup_label")


def check_restored(backup_id: str, pgdata: Path) -> None:
    """Never start PostgreSQL on a base backup without its last files (no backup label: a silent corruption).

    Whichever fetch restored it: barman-cloud-restore restores what it finds as quietly as :func:`extract`.
    """
    missing = [name for name in LAST_FILES if not (pgdata / name).is_file()]
    if missing:
        raise ExternalError(
            f"backup {backup_id} restored into {pgdata} without {' and '.join(missing)}: barman-cloud writes them "
            "into the backup's last part, so that part is missing from the archive (or this is not a base backup)",
            hint=f"restore another backup with --backup-id, or put the last part back; empty {pgdata} "
            "before re-running",
        )


def supported(backup_info: dict[str, str], tars: list[TarObject]) -> str | None:
    """None when this reader restores the backup, else why barman-cloud-restore must."""
    if backup_info.get("tablespaces") not in (None, "", "None", "[]"):
        return "the backup has tablespaces"
    if not tars:
        return "no data.tar* object found"
    codecs = {tar.compression for tar in tars} - set(TAR_FILTERS)
    if codecs:
        return f"compressed with {', '.join(sorted(str(c) for c in codecs))}"
    return None


def describe(tars: list[TarObject], threads: int) -> str:
    """How :func:`extract` writes these tars (the restore report's ``fetched_by``)."""
    into = "into tar" if any(tar.compression for tar in tars) else "written in process"
    return f"parallel ranged GETs ({threads} threads) {into}"


class OrderedParts:
    """An object's bytes as consecutive parts, fetched ``threads`` at a time, yielded in order."""

    def __init__(self, location: ArchiveLocation, client: Any, obj: TarObject, *, threads: int, part_size: int):
        self.location, self.client, self.obj = location, client, obj
        self.threads, self.part_size = threads, part_size
        self.stopped = threading.Event()

    def _get(self, start: int) -> bytes:
        if self.stopped.is_set():
            return b""
        end = min(start + self.part_size, self.obj.size) - 1
        what = f"GET {self.obj.key} bytes={start}-{end}"

        def call() -> bytes:
            body = self.client.get_object(Bucket=self.location.bucket, Key=self.obj.key, Range=f"bytes={start}-{end}")
            return body["Body"].read()

        data = s3_call(self.location, what, call)
        if len(data) != end - start + 1:
            raise ExternalError(f"{what} returned {len(data)} bytes, not {end - start + 1} (the object changed?)")
        return data

    def __iter__(self) -> Iterator[bytes]:
        starts = list(range(0, self.obj.size, self.part_size))
        window = 2 * self.threads
        with ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="base-fetch") as pool:
            pending: list[Future[bytes]] = [pool.submit(self._get, s) for s in starts[:window]]
            following = iter(starts[window:])
            try:
                while pending:
                    data = pending.pop(0).result()
                    nxt = next(following, None)
                    if nxt is not None:
                        pending.append(pool.submit(self._get, nxt))
                    yield data
            finally:
                self.stopped.set()
                for future in pending:
                    future.cancel()


@dataclass
class FetchStats:
    objects: int = 0
    bytes: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"objects": self.objects, "bytes": self.bytes}


def extract(
    location: ArchiveLocation, tars: list[TarObject], pgdata: Path, user: OsUser, *, client: Any,
    threads: int = DEFAULT_THREADS, part_size: int = DEFAULT_PART_SIZE, tar: str = "tar",
) -> FetchStats:  # fmt: skip
    """Extract every tar into ``pgdata`` (empty, owned by ``user``), one after the other, each in parallel parts.

    An uncompressed tar is written by :class:`scripts.wal.untar.TarWriter` in this process; a compressed one
    goes through ``tar`` running as ``user``, which decompresses in its own process.
    """
    stats = FetchStats()
    for obj in tars:
        parts = OrderedParts(location, client, obj, threads=threads, part_size=part_size)
        try:
            if obj.compression is None:
                _write_here(parts, pgdata, user, stats)
            else:
                _pipe_into_tar(parts, [tar, "-x", *TAR_FILTERS[obj.compression], "-f", "-", "-C", str(pgdata)],
                               pgdata, user, stats)  # fmt: skip
        finally:
            parts.stopped.set()
        stats.objects += 1
    wal = pgdata / "pg_wal"
    if not wal.exists():
        wal.mkdir(mode=0o700)
        user.chown(wal)
    return stats


def _write_here(parts: OrderedParts, pgdata: Path, user: OsUser, stats: FetchStats) -> None:
    writer = TarWriter(pgdata, None if user.is_current else user.uid, None if user.is_current else user.gid)
    try:
        for data in parts:
            writer.feed(data)
            stats.bytes += len(data)
        writer.close()
    except OSError as exc:  # TarFormatError is an ExternalError, not an OSError: it passes unchanged
        raise ExternalError(f"extracting {parts.obj.key} into {pgdata} failed: {exc}",
                            hint=f"empty {pgdata} before re-running") from None  # fmt: skip
    finally:
        writer.abort()


def _pipe_into_tar(parts: OrderedParts, argv: list[str], pgdata: Path, user: OsUser, stats: FetchStats) -> None:
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stderr=subprocess.PIPE, **user.popen_kwargs())
    assert proc.stdin is not None and proc.stderr is not None
    try:
        for data in parts:
            proc.stdin.write(data)
            stats.bytes += len(data)
        proc.stdin.close()
    except BrokenPipeError:
        pass  # tar stopped reading: its exit status and stderr say why
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    if proc.wait() != 0:
        message = proc.stderr.read().decode(errors="replace").strip()[-300:]
        raise ExternalError(f"extracting {parts.obj.key} into {pgdata} failed (tar exit {proc.returncode}): {message}")
