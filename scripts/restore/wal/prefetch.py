"""Parallel WAL prefetch into a spool, and the ``restore_command`` that reads from it.

PostgreSQL replays WAL by calling ``restore_command`` once per 16 MiB segment,
serially. ``barman-cloud-wal-restore`` costs ~0.35 s per call here before any
byte moves (0.22 s of it is importing Python and boto3), so serial replay is
bounded by process start-up, not bandwidth (design.md §6).

The fix, as pgBackRest's asynchronous ``archive-get`` and WAL-G's prefetch do:

* :class:`Prefetcher` (threads in the restoring process, one boto3 client)
  downloads the segments replay will ask for, in replay order, ``parallel`` at
  a time, into a spool directory owned by the PostgreSQL OS user. Compressed
  segments (gzip, bzip2, xz; zstd/lz4/snappy when their module is installed)
  are decompressed on the way. Each file is written under a temporary name and
  renamed into place, so the spool never holds a half-written segment. The
  spool is bounded (``max_bytes``): downloads wait while it is full.
* :func:`render_restore_script` writes a POSIX ``sh`` script used as
  ``restore_command``. It costs a few milliseconds: ``mv`` the segment out of the
  spool (a rename on the same filesystem); if the segment is being downloaded
  right now, wait for it; if the archive listing taken at the start says the
  file does not exist (PostgreSQL probes for newer timelines and for the segment
  after the last one), answer "not found" at once; otherwise fall back to
  ``barman-cloud-wal-restore`` (e.g. a codec the prefetcher lacks, or a segment
  it has not reached). Every answer is appended to ``.served`` for the report.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scripts.pg.osuser import OsUser
from scripts.wal.catalog import WalObject
from scripts.wal.fetch import decompressor, fetch_raw
from scripts.wal.location import ArchiveLocation

INFLIGHT_DIR = ".inflight"
FINAL_LISTING = ".final"
SERVED_LOG = ".served"
LAST_DIR = ".last"
HEARTBEAT = ".alive"

RESTORE_SCRIPT = r"""#!/bin/sh
# idp-dr restore_command: serve WAL from the prefetch spool, else ask barman-cloud.
# Written by `python -m scripts restore wal`; used as: restore_command = '<this> %f %p'
f="$1"; p="$2"; spool=__SPOOL__
served() { echo "$f $1" >> "$spool/__SERVED__" 2>/dev/null; }
take() {
  # Keep a link to the newest segment: at the end of recovery PostgreSQL asks for it again.
  case "$f" in
    *.history) ;;
    *) rm -f "$spool/__LAST__"/* 2>/dev/null; ln "$spool/$f" "$spool/__LAST__/$f" 2>/dev/null;;
  esac
  if mv -f "$spool/$f" "$p" 2>/dev/null; then served spool; exit 0; fi
}
[ -f "$spool/$f" ] && take
if [ -f "$spool/__LAST__/$f" ] && cp "$spool/__LAST__/$f" "$p" 2>/dev/null; then served again; exit 0; fi
# Being downloaded right now (and the prefetcher is alive): wait for it instead of fetching it twice.
i=0
while [ -f "$spool/__INFLIGHT__/$f" ] && [ $i -lt 1200 ]; do
  [ -f "$spool/$f" ] && take
  [ -n "$(find "$spool/__HEARTBEAT__" -mmin -0.1 2>/dev/null)" ] || break
  sleep 0.02; i=$((i+1))
done
[ -f "$spool/$f" ] && take
# Absent from the archive listing taken when the restore started: "not found", without a round trip.
if [ -f "$spool/__FINAL__" ] && ! grep -qxF "$f" "$spool/__FINAL__"; then served absent; exit 1; fi
__FALLBACK__ "$f" "$p" && { served fallback; exit 0; }
rc=$?; served "fallback-failed-$rc"; exit $rc
"""


def render_restore_script(spool: Path, fallback_argv: list[str]) -> str:
    """The ``restore_command`` script for ``spool``; ``fallback_argv`` gets ``%f %p`` appended."""
    return (
        RESTORE_SCRIPT.replace("__SPOOL__", shlex.quote(str(spool)))
        .replace("__SERVED__", SERVED_LOG)
        .replace("__INFLIGHT__", INFLIGHT_DIR)
        .replace("__HEARTBEAT__", HEARTBEAT)
        .replace("__LAST__", LAST_DIR)
        .replace("__FINAL__", FINAL_LISTING)
        .replace("__FALLBACK__", " ".join(shlex.quote(a) for a in fallback_argv))
    )


@dataclass
class PrefetchStats:
    planned: int = 0
    fetched: int = 0
    bytes_downloaded: int = 0
    bytes_written: int = 0
    skipped_codec: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    busy_s: float = 0.0
    waited_for_slot_s: float = 0.0
    most_in_flight: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "planned": self.planned,
            "fetched": self.fetched,
            "bytes_downloaded": self.bytes_downloaded,
            "bytes_written": self.bytes_written,
            "skipped_codec": self.skipped_codec[:5],
            "errors": self.errors[:5],
            "busy_s": round(self.busy_s, 3),
            "waited_for_slot_s": round(self.waited_for_slot_s, 3),
            "most_in_flight": self.most_in_flight,
        }


class Prefetcher:
    """Download ``plan`` (WAL objects in replay order) into ``spool``, ``parallel`` at a time.

    ``max_bytes`` bounds what sits in the spool (unconsumed + in flight); default 512 MiB.
    ``width`` (default ``parallel``) is how many download at a time until :meth:`widen`: the restore
    starts with 1 while the base backup downloads, so the WAL takes only what the base leaves over.
    Files are owned by ``user`` (mode 0600) so the server's restore_command can move them.
    Use as a context manager or call :meth:`start` / :meth:`stop`.
    """

    def __init__(
        self,
        location: ArchiveLocation,
        spool: Path,
        user: OsUser,
        plan: list[WalObject],
        *,
        parallel: int = 4,
        max_bytes: int = 512 * 1024 * 1024,
        width: int | None = None,
    ):
        self.location = location
        self.spool = spool
        self.user = user
        self.plan = list(plan)
        self.parallel = max(1, parallel)
        self._width = min(self.parallel, max(1, width or self.parallel))
        self.max_bytes = max(max_bytes, 16 * 1024 * 1024)
        self.stats = PrefetchStats(planned=len(self.plan))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._done = threading.Event()
        self._inflight_bytes = 0
        self._lock = threading.Lock()
        self._client = location.client()

    # -- spool layout --------------------------------------------------------
    @staticmethod
    def prepare_spool(spool: Path, user: OsUser, final_names: list[str]) -> None:
        """Create the spool (mode 0700, owned by ``user``) with the archive listing in ``.final``."""
        spool.mkdir(parents=True, exist_ok=True)
        spool.chmod(0o700)
        user.chown(spool)
        inflight = spool / INFLIGHT_DIR
        inflight.mkdir(exist_ok=True)
        inflight.chmod(0o755)
        last = spool / LAST_DIR
        last.mkdir(exist_ok=True)
        last.chmod(0o700)
        user.chown(last)
        final = spool / FINAL_LISTING
        final.write_text("".join(f"{name}\n" for name in sorted(set(final_names))))
        final.chmod(0o644)
        (spool / SERVED_LOG).touch()
        user.chown(spool / SERVED_LOG)

    def spool_bytes(self) -> int:
        total = 0
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.spool):
                if entry.is_file() and not entry.name.startswith("."):
                    total += entry.stat().st_size
        return total

    # -- lifecycle -------------------------------------------------------------
    def __enter__(self) -> Prefetcher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._beat()
        self._thread = threading.Thread(target=self._run, name="wal-prefetch", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        # No stale "in flight" markers: restore_command would wait on them.
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.spool / INFLIGHT_DIR):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
        with contextlib.suppress(FileNotFoundError):
            (self.spool / HEARTBEAT).unlink()

    def widen(self) -> None:
        """From now on download ``parallel`` at a time (the base backup is in: replay needs the WAL)."""
        self._width = self.parallel

    def wait_done(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def fetch_all_now(self) -> None:
        """Download the whole plan and return (used to scan WAL before the server starts)."""
        self.start()
        self._done.wait()
        self._stop.set()

    # -- work --------------------------------------------------------------------
    def _beat(self) -> None:
        hb = self.spool / HEARTBEAT
        with contextlib.suppress(OSError):
            hb.touch()
            os.chmod(hb, 0o644)

    def _run(self) -> None:
        t0 = time.monotonic()
        last_beat = 0.0
        futures: list[Future] = []
        try:
            with ThreadPoolExecutor(max_workers=self.parallel, thread_name_prefix="wal-get") as pool:
                for item in self.plan:
                    if self._stop.is_set():
                        break
                    if (self.spool / item.name).exists():
                        continue  # already there (a resumed restore, or the pre-scan)
                    # Bounded spool: what is waiting to be replayed + what is on its way.
                    while not self._stop.is_set():
                        now = time.monotonic()
                        if now - last_beat > 0.5:
                            self._beat()
                            last_beat = now
                        with self._lock:
                            pending = self._inflight_bytes
                        running = len([f for f in futures if not f.done()])
                        if (
                            pending + self.spool_bytes() + _expected_size(item) <= self.max_bytes
                            and running < self._width
                        ):
                            self.stats.most_in_flight = max(self.stats.most_in_flight, running + 1)
                            break
                        t_wait = time.monotonic()
                        time.sleep(0.01)
                        self.stats.waited_for_slot_s += time.monotonic() - t_wait
                    if self._stop.is_set():
                        break
                    with self._lock:
                        self._inflight_bytes += _expected_size(item)
                    futures = [f for f in futures if not f.done()]
                    futures.append(pool.submit(self._fetch_one, item))
                while any(not f.done() for f in futures) and not self._stop.is_set():
                    if time.monotonic() - last_beat > 0.5:
                        self._beat()
                        last_beat = time.monotonic()
                    time.sleep(0.01)
        finally:
            self.stats.busy_s = time.monotonic() - t0
            self._done.set()

    def _fetch_one(self, item: WalObject) -> None:
        marker = self.spool / INFLIGHT_DIR / item.name
        tmp = self.spool / f".tmp.{item.name}"
        try:
            decompress = decompressor(item.compression)
            if decompress is None:
                self.stats.skipped_codec.append(item.name)
                return
            marker.touch()
            body = fetch_raw(self.location, item.key, f"GET {item.key}", self._client)
            data = decompress(body)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            self.user.chown(tmp)
            os.replace(tmp, self.spool / item.name)  # atomic: never a half-written segment
            with self._lock:
                self.stats.fetched += 1
                self.stats.bytes_downloaded += len(body)
                self.stats.bytes_written += len(data)
        except Exception as exc:  # noqa: BLE001 - the fallback in restore_command covers it
            with self._lock:
                self.stats.errors.append(f"{item.name}: {exc}")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        finally:
            with self._lock:
                self._inflight_bytes -= _expected_size(item)
            with contextlib.suppress(FileNotFoundError):
                marker.unlink()


def _expected_size(item: WalObject) -> int:
    return 16 * 1024 * 1024 if item.is_segment else max(item.size, 1)


def served_counts(spool: Path) -> dict[str, int]:
    """How restore_command answered: {'spool': n, 'fallback': n, 'absent': n, ...}."""
    counts: dict[str, int] = {}
    with contextlib.suppress(FileNotFoundError):
        for line in (spool / SERVED_LOG).read_text().splitlines():
            parts = line.split()
            if len(parts) == 2:
                counts[parts[1]] = counts.get(parts[1], 0) + 1
    return counts


def served_names(spool: Path, how: str = "spool") -> list[str]:
    with contextlib.suppress(FileNotFoundError):
        return [
            ln.split()[0]
            for ln in (spool / SERVED_LOG).read_text().splitlines()
            if len(ln.split()) == 2 and ln.split()[1] == how
        ]
    return []
