"""One source server with a barman-cloud archive, shared by the `restore wal` integration tests.

Built once per module (initdb, base backup, markers around each kind of target, a
disaster) because it costs ~15 s; each test restores into its own new directory and
never writes into the source's prefix, so the tests stay independent.

Timeline of the source (pgBackRest's integration-test pattern, with >= 1 s around time targets):

    t_before_backup | base backup | time-before, T_time, time-after | xid-before (X), xid-after
    | name-before, restore point 'rp-before-upgrade', name-after | switch WAL, archive, crash
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from scripts.lab.postgres import PgCluster
from scripts.lab.s3 import LAB_AWS_ENV, S3Server
from scripts.pg.bindir import pg_available
from scripts.pg.osuser import OsUser, make_user_dir, make_workspace, pg_os_user, remove_tree
from scripts.pg.tools import PgTools, ensure_pgtools
from scripts.processes import Supervisor, free_port
from scripts.wal import archive
from scripts.wal.location import ArchiveLocation
from tests.conftest import need

BUCKET = "idp-dr-archive"
PREFIX = "pg"
SERVER = "primary"
PLAIN_SERVER = "primary-plain"  # an uncompressed base backup, no WAL of its own
RESTORE_POINT = "rp-before-upgrade"
MARKERS = ["time-before", "time-after", "xid-before", "xid-after", "name-before", "name-after"]


@dataclass
class WalSource:
    workspace: Path
    s3: S3Server
    location: ArchiveLocation
    user: OsUser
    tools: PgTools
    socket_dir: Path
    backup_id: str
    backup_end: datetime
    t_before_backup: datetime
    t_time: datetime
    xid: int
    last_commit: datetime
    #: An uncompressed backup of the same server under its own name, in 1 MB parts (data.tar, data_0001.tar, ...).
    plain_location: ArchiveLocation | None = None
    plain_backup_id: str | None = None

    @property
    def archive_url(self) -> str:
        return self.location.url

    @property
    def endpoint_url(self) -> str:
        return self.s3.endpoint_url

    def all_keys(self) -> set[str]:
        s3 = self.s3.client()
        keys: set[str] = set()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
            keys.update(obj["Key"] for obj in page.get("Contents", []))
        return keys

    def source_keys(self) -> set[str]:
        return {k for k in self.all_keys() if k.startswith(self.location.server_prefix)}

    def new_pgdata(self, name: str) -> Path:
        return self.workspace / name / "data"

    def cli_args(self, pgdata: Path, *target: str) -> list[str]:
        return [
            "restore",
            "wal",
            "--archive",
            self.archive_url,
            "--server-name",
            SERVER,
            "--endpoint-url",
            self.endpoint_url,
            "--pgdata",
            str(pgdata),
            "--port",
            str(free_port()),
            "--socket-dir",
            str(self.socket_dir),
            *target,
        ]


@pytest.fixture(scope="module")
def wal_source() -> Iterator[WalSource]:
    need(pg_available(), "PostgreSQL 15 server binaries (and a non-root OS user to run them)")
    os.environ.update({k: v for k, v in LAB_AWS_ENV.items() if k not in os.environ})
    workspace = make_workspace(prefix="test-wal-")
    with Supervisor() as sup:
        s3 = S3Server.start(sup, workspace)
        s3.create_bucket(BUCKET)
        user = pg_os_user()
        tools = ensure_pgtools(user)
        location = ArchiveLocation(BUCKET, PREFIX, SERVER, s3.endpoint_url)
        env = dict(LAB_AWS_ENV)
        archive.check_wal_archive(tools, user, location, env=env)
        primary = PgCluster.create(
            workspace,
            "source",
            supervisor=sup,
            settings={
                "wal_level": "replica",
                "track_commit_timestamp": "on",  # the exact newest commit time, to compare the window with
                "archive_mode": "on",
                "archive_timeout": 60,
                "archive_command": archive.archive_command(tools, location, compression="gzip"),
            },
        )
        primary.start(env=env)
        primary.execute("CREATE TABLE marker (name text PRIMARY KEY, at timestamptz DEFAULT clock_timestamp())")
        primary.execute(
            "CREATE TABLE filler AS SELECT g AS id, md5(g::text) AS payload FROM generate_series(1, 50000) g"
        )
        t_before_backup = primary.execute("SELECT clock_timestamp()")[0][0]
        time.sleep(1.1)
        backup_id = archive.take_base_backup(
            tools,
            user,
            location,
            socket_dir=primary.socket_dir,
            port=primary.port,
            env=env,
            compression="gzip",
        )
        plain_location = location.with_server(PLAIN_SERVER)
        plain_backup_id = archive.take_base_backup(
            tools, user, plain_location, socket_dir=primary.socket_dir, port=primary.port, env=env,
            max_archive_size="1MB",  # many parts, as a large database's backup has
        )  # fmt: skip
        primary.execute("UPDATE filler SET payload = md5(payload)")  # WAL worth replaying
        time.sleep(1.1)
        primary.execute("INSERT INTO marker(name) VALUES ('time-before')")
        time.sleep(1.1)
        t_time = primary.execute("SELECT clock_timestamp()")[0][0]
        time.sleep(1.1)
        primary.execute("INSERT INTO marker(name) VALUES ('time-after')")
        with primary.connect(autocommit=False) as conn:
            conn.execute("INSERT INTO marker(name) VALUES ('xid-before')")
            xid = int(conn.execute("SELECT txid_current()").fetchone()[0])
            conn.commit()
        primary.execute("INSERT INTO marker(name) VALUES ('xid-after')")
        primary.execute("INSERT INTO marker(name) VALUES ('name-before')")
        primary.execute(f"SELECT pg_create_restore_point('{RESTORE_POINT}')")
        primary.execute("INSERT INTO marker(name) VALUES ('name-after')")
        last_commit = primary.execute("SELECT pg_xact_commit_timestamp(xmin) FROM marker WHERE name = 'name-after'")[0][
            0
        ]
        archive.switch_and_wait_archived(primary.execute, timeout=120)
        primary.crash()  # the disaster: no shutdown checkpoint, nothing more archived
        backup_end = _backup_end(location, backup_id)
        socket_dir = make_user_dir(workspace / "sock", user, 0o755)
        yield WalSource(
            workspace,
            s3,
            location,
            user,
            tools,
            socket_dir,
            backup_id,
            backup_end,
            t_before_backup,
            t_time,
            xid,
            last_commit,
            plain_location,
            plain_backup_id,
        )
    remove_tree(workspace)


def _backup_end(location: ArchiveLocation, backup_id: str) -> datetime:
    from scripts.wal.catalog import Catalog

    backup = next(b for b in Catalog.load(location).backups if b.backup_id == backup_id)
    assert backup.end_time is not None
    return backup.end_time
