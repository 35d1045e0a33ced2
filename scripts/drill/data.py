"""Bulk data and WAL for the drill at a chosen size (--data-mb, --wal-mb)."""

from __future__ import annotations

from scripts.lab.postgres import PgCluster


def load_filler(primary: PgCluster, megabytes: int) -> None:
    """About ``megabytes`` MiB of rows in their own database (part of the base backup)."""
    primary.execute("CREATE DATABASE filler")
    rows_per_mb = 10367  # 101 bytes per row on disk (pg_total_relation_size of 700k rows, PostgreSQL 15)
    primary.execute(
        "CREATE TABLE filler AS SELECT g AS id, md5(g::text) || md5((g * 7)::text) AS payload "
        "FROM generate_series(1, %s) g",
        (megabytes * rows_per_mb,),
        dbname="filler",
    )
    primary.execute("CHECKPOINT")


def generate_wal(primary: PgCluster, megabytes: int) -> None:
    """About ``megabytes`` MiB of WAL: rewrites of a scratch table, in 16 MiB steps."""
    primary.execute("CREATE TABLE IF NOT EXISTS wal_churn (id int PRIMARY KEY, payload text)", dbname="postgres")
    primary.execute(
        "INSERT INTO wal_churn SELECT g, md5(g::text) FROM generate_series(1, 100000) g ON CONFLICT DO NOTHING",
        dbname="postgres",
    )
    start = primary.execute("SELECT pg_current_wal_lsn()")[0][0]
    while True:
        primary.execute("UPDATE wal_churn SET payload = md5(payload)", dbname="postgres")
        written = primary.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", (start,))[0][0]
        if written >= megabytes * 1024 * 1024:
            return
