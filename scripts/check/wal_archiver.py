"""Whether the self-managed primary's WAL archiving works, from ``pg_stat_archiver`` (``check dr-paths``).

An RDS stack's WAL is RDS's to ship; a self-managed primary ships it with ``archive_command``
(barman-cloud-wal-archive) to the archive bucket, from which S3 replicates it to the DR region. When that
command fails, PostgreSQL keeps the segments and retries, silently for the IdP: the archive, and so the
point-in-time recovery from the DR region, stops at the last segment that made it. PostgreSQL counts every
attempt in ``pg_stat_archiver``: archiving fails when its last failure is newer than its last success. The
view is readable by any role (the IdP's own, here). Read-only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

from scripts.report import Report
from scripts.timeutil import iso
from scripts.verify.db_checks import first_line
from scripts.verify.model import DbParams

QUERY = (
    "SELECT current_setting('archive_mode'), archived_count, last_archived_wal, last_archived_time, "
    "failed_count, last_failed_wal, last_failed_time, now() FROM pg_stat_archiver"
)


def read_archiver(db: DbParams) -> dict[str, Any]:
    with psycopg.connect(db.conninfo(), autocommit=True) as conn:
        row = conn.execute(QUERY).fetchone()
    assert row is not None  # the view always has its one row
    keys = ("archive_mode", "archived_count", "last_archived_wal", "last_archived_time", "failed_count",
            "last_failed_wal", "last_failed_time", "now")  # fmt: skip
    return dict(zip(keys, row, strict=True))


def check_wal_archiver(db: DbParams, report: Report) -> int:
    """One check; returns 1 when archiving fails (or cannot be judged), else 0."""
    where = f"{db.describe()['host']}:{db.describe()['port']}"
    try:
        stats = read_archiver(db)
    except psycopg.Error as exc:
        report.check("wal_archiver.archiving", False, f"cannot read pg_stat_archiver on {where}: {first_line(exc)}")
        return 1
    evidence = {k: iso(v) if isinstance(v, datetime) else v for k, v in stats.items()}
    if stats["archive_mode"] not in ("on", "always"):
        report.check("wal_archiver.archiving", False, f"archive_mode is {stats['archive_mode']} on {where}: no WAL "
                     "reaches the archive", **evidence)  # fmt: skip
        return 1
    succeeded, failed = stats["last_archived_time"], stats["last_failed_time"]
    if failed is not None and (succeeded is None or failed >= succeeded):
        report.check(
            "wal_archiver.archiving",
            False,
            f"WAL archiving fails on {where}: {stats['last_failed_wal']} failed at {iso(failed)} "
            f"({stats['failed_count']} failures since the statistics were reset); the last segment archived was "
            f"{stats['last_archived_wal'] or '(none)'} at {iso(succeeded) or '(never)'}: the archive ends there",
            **evidence,
        )
        return 1
    age = f", {(stats['now'] - succeeded).total_seconds():.0f} s ago" if succeeded else ""
    report.check(
        "wal_archiver.archiving",
        True,
        f"WAL archiving works on {where}: last archived {stats['last_archived_wal'] or '(none yet)'}"
        f"{' at ' + iso(succeeded) if succeeded else ''}{age}; no failure since",
        **evidence,
    )
    return 0
