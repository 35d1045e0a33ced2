"""Facts read from archived WAL with ``pg_waldump``: commit times, xids, restore points.

Used to compute the precise end of the restorable window (the newest commit in
the archive, not the upload time of the newest object) and to check ``--xid``
and ``--name`` targets before anything is written.

Only Transaction and XLOG records are printed (``-r Transaction -r XLOG``,
PostgreSQL 15 accepts several), which keeps a 16 MiB segment of pgbench WAL
well under a second to scan.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from scripts.errors import ExternalError

_RECORD = re.compile(
    r"^rmgr: (?P<rmgr>\w+)\s+len \(rec/tot\):\s*\d+/\s*\d+, tx:\s*(?P<xid>\d+), "
    r"lsn: (?P<lsn>[0-9A-F]+/[0-9A-F]+), prev [0-9A-F]+/[0-9A-F]+, desc: (?P<desc>.*)$"
)
_XACT_TIME = re.compile(
    r"^(?P<kind>COMMIT|ABORT|COMMIT_PREPARED|ABORT_PREPARED) "
    r"(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) UTC"
)
# pg_waldump's "end of WAL" complaints: expected at the end of the archived WAL.
_END_OF_WAL = (
    "could not find a valid record",
    "invalid record length",
    "invalid magic number",
    "could not find file",
    "record with incorrect prev-link",
    "invalid resource manager ID",
    "contrecord is requested",
    "missing contrecord",
    "out-of-sequence timeline",
    "unexpected pageaddr",
    "zero length",
)


@dataclass(frozen=True)
class Commit:
    xid: int
    time: datetime
    lsn: str
    aborted: bool = False


@dataclass
class WalFacts:
    """What a scan saw. ``commits`` holds commits and aborts in WAL order."""

    commits: list[Commit] = field(default_factory=list)
    restore_points: list[tuple[str, str]] = field(default_factory=list)  # (name, lsn)
    records: int = 0
    last_lsn: str | None = None

    def merge(self, other: WalFacts) -> None:
        self.commits.extend(other.commits)
        self.restore_points.extend(other.restore_points)
        self.records += other.records
        self.last_lsn = other.last_lsn or self.last_lsn

    @property
    def last_timestamped(self) -> Commit | None:
        return self.commits[-1] if self.commits else None

    def last_commit(self) -> Commit | None:
        for item in reversed(self.commits):
            if not item.aborted:
                return item
        return None

    def commit_of(self, xid: int) -> Commit | None:
        for item in self.commits:
            if item.xid == xid and not item.aborted:
                return item
        return None


def parse_waldump(text: str) -> WalFacts:
    facts = WalFacts()
    for line in text.splitlines():
        match = _RECORD.match(line)
        if not match:
            continue
        facts.records += 1
        facts.last_lsn = match.group("lsn")
        rmgr, desc = match.group("rmgr"), match.group("desc")
        if rmgr == "Transaction":
            xact = _XACT_TIME.match(desc)
            if xact:
                when = datetime.strptime(
                    xact.group("time"),
                    "%Y-%m-%d %H:%M:%S.%f" if "." in xact.group("time") else "%Y-%m-%d %H:%M:%S",
                ).replace(tzinfo=UTC)
                facts.commits.append(
                    Commit(
                        int(match.group("xid")),
                        when,
                        match.group("lsn"),
                        aborted=xact.group("kind").startswith("ABORT"),
                    )
                )
        elif rmgr == "XLOG" and desc.startswith("RESTORE_POINT "):
            facts.restore_points.append((desc[len("RESTORE_POINT ") :].rstrip(), match.group("lsn")))
    return facts


def scan(
    pg_bindir: Path,
    directory: Path,
    start_segment: str,
    end_segment: str | None = None,
    *,
    timeout: float = 600,
) -> WalFacts:
    """Scan segments ``start_segment`` .. ``end_segment`` (one timeline) found in ``directory``."""
    argv = [
        str(pg_bindir / "pg_waldump"),
        "-r",
        "Transaction",
        "-r",
        "XLOG",
        "-p",
        str(directory),
        "-t",
        str(int(start_segment[:8], 16)),
        start_segment,
    ]
    if end_segment and end_segment != start_segment:
        argv.append(end_segment)
    try:
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "TZ": "UTC", "LC_ALL": "C"},
        )
    except subprocess.TimeoutExpired:
        raise ExternalError(
            f"pg_waldump did not finish reading {start_segment}..{end_segment} within {timeout:.0f} s"
        ) from None
    except OSError as exc:
        raise ExternalError(f"could not run pg_waldump: {exc}") from None
    facts = parse_waldump(proc.stdout)
    if proc.returncode != 0 and not any(s in proc.stderr for s in _END_OF_WAL):
        raise ExternalError(f"pg_waldump failed on {start_segment}: {proc.stderr.strip()[-300:]}")
    return facts
