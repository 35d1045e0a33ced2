"""The archive-ahead script on a real PostgreSQL 15 archiver, real barman-cloud and moto_server.

A backlog is built the way a write burst or an unreachable bucket builds one: the primary writes
segments while its archive_command fails, so PostgreSQL queues them (``.ready``). Then the
archive-ahead script takes over, the primary is killed (SIGKILL to the whole process group:
the script and the uploads it started die with it) while the backlog drains, and started again.
Afterwards every segment must be in barman-cloud's layout byte for byte, and ``restore wal``
must replay the archive to the newest marker.

The batch uploader writes a line per batch into the server's log, so the test sees the backlog
go out in batches, not one call after another.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from scripts.cli import main
from scripts.lab.postgres import PgCluster
from scripts.lab.s3 import LAB_AWS_ENV, S3Server
from scripts.pg.bindir import find_pg_bindir, pg_available
from scripts.pg.osuser import make_user_dir, make_workspace, pg_os_user, remove_tree
from scripts.pg.tools import ensure_pgtools
from scripts.processes import Supervisor, free_port
from scripts.restore.wal.server import RestoredServer
from scripts.wal import archive
from scripts.wal.catalog import Catalog
from scripts.wal.location import ArchiveLocation
from scripts.wal.push import ParallelArchiver, install
from tests.conftest import need

BUCKET, PREFIX, SERVER = "idp-dr-push", "pg", "burst"
BACKLOG = 10  # segments queued while archiving fails


@dataclass
class Drained:
    workspace: Path
    s3: S3Server
    location: ArchiveLocation
    socket_dir: Path
    expected: dict[str, bytes]  # segment name -> its bytes in pg_wal while it was queued
    spool: Path
    server_log: Path
    markers: int


@pytest.fixture(scope="module")
def drained() -> Iterator[Drained]:
    need(pg_available(), "PostgreSQL 15 server binaries (and a non-root OS user to run them)")
    os.environ.update({k: v for k, v in LAB_AWS_ENV.items() if k not in os.environ})
    workspace = make_workspace(prefix="test-push-")
    with Supervisor() as sup:
        s3 = S3Server.start(sup, workspace)
        s3.create_bucket(BUCKET)
        user, env = pg_os_user(), dict(LAB_AWS_ENV)
        tools = ensure_pgtools(user)
        location = ArchiveLocation(BUCKET, PREFIX, SERVER, s3.endpoint_url)
        archiver = ParallelArchiver(workspace / "bin" / "idp-dr-archive-wal.sh", workspace / "archive-spool", 4)
        primary = PgCluster.create(
            workspace,
            "primary",
            supervisor=sup,
            settings={
                "wal_level": "replica",
                "archive_mode": "on",
                "archive_timeout": 0,
                "archive_command": "/bin/false",
            },
        )
        command = install(archiver, tools, location, user, pgdata=primary.datadir)
        primary.start(env=env)
        primary.execute("CREATE TABLE marker (n int PRIMARY KEY, payload text)")
        # The base backup needs the archive working; the backlog comes after it.
        primary.write_settings({"archive_command": command})
        primary.execute("SELECT pg_reload_conf()")
        archive.take_base_backup(tools, user, location, socket_dir=primary.socket_dir, port=primary.port, env=env)
        archive.switch_and_wait_archived(primary.execute, timeout=120)
        primary.write_settings({"archive_command": "/bin/false"})  # the bucket is unreachable
        primary.execute("SELECT pg_reload_conf()")
        for n in range(BACKLOG):
            primary.execute(f"INSERT INTO marker SELECT {int(n)}, repeat('x', 200000)")
            primary.execute("SELECT pg_switch_wal()")
        status = primary.datadir / "pg_wal" / "archive_status"
        queued = sorted(p.name[: -len(".ready")] for p in status.glob("*.ready"))
        assert len(queued) >= BACKLOG, queued
        expected = {name: (primary.datadir / "pg_wal" / name).read_bytes() for name in queued}
        primary.write_settings({"archive_command": command})  # reachable again: the backlog drains
        primary.execute("SELECT pg_reload_conf()")
        _wait_for_a_batch(primary.log_path)
        primary.crash()  # mid-drain: the script and its uploads die with the server
        primary.start(env=env)
        archive.wait_archived(primary.execute, queued[-1], timeout=180)
        primary.crash()
        yield Drained(
            workspace,
            s3,
            location,
            make_user_dir(workspace / "sock", user, 0o755),
            expected,
            archiver.spool,
            primary.log_path,
            BACKLOG,
        )
    remove_tree(workspace)


def _wait_for_a_batch(log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while "queued segments ahead" not in log.read_text(errors="replace"):
        assert time.monotonic() < deadline, "the archive-ahead script never shipped a batch"
        time.sleep(0.02)


def test_every_queued_segment_is_archived_byte_for_byte_after_a_kill_mid_drain(drained: Drained):
    client = drained.s3.client()
    for name, content in drained.expected.items():
        key = f"{drained.location.server_prefix}wals/{name[:16]}/{name}"
        body = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        assert body == content, name
    wal = {w.name for w in Catalog.load(drained.location).wal if w.is_segment}
    assert set(drained.expected) <= wal


def test_the_backlog_went_out_in_batches(drained: Drained):
    batches = re.findall(r"idp-dr archive: ([0-9A-F]{24}) shipped with (\d+) queued segments ahead \((\d+) ok\)",
                         drained.server_log.read_text(errors="replace"))  # fmt: skip
    assert batches, "no batch in the server's log"
    assert all(int(ahead) <= 3 for _, ahead, _ in batches)  # parallel 4: the asked-for segment and 3 ahead
    assert sum(int(ok) for _, _, ok in batches) >= 3


def test_nothing_is_left_in_the_spool_once_postgresql_has_asked_for_every_segment(drained: Drained):
    # Every record was consumed by PostgreSQL's own call, every error by the upload that followed it.
    assert sorted(p.name for p in drained.spool.iterdir()) == []


def test_restore_wal_replays_the_parallel_archive_to_the_newest_marker(drained: Drained):
    pgdata = drained.workspace / "restored" / "data"
    out, err = io.StringIO(), io.StringIO()
    argv = [
        "restore", "wal", "--archive", f"s3://{BUCKET}/{PREFIX}", "--server-name", SERVER,
        "--endpoint-url", drained.s3.endpoint_url, "--pgdata", str(pgdata), "--port", str(free_port()),
        "--socket-dir", str(drained.socket_dir), "--no-archive", "--json", "--latest",
    ]  # fmt: skip
    code = main(argv, stdout=out, stderr=err)
    doc = json.loads(out.getvalue())
    assert code == 0, err.getvalue()
    port = doc["result"]["listen"]["port"]
    import psycopg

    with psycopg.connect(host=str(drained.socket_dir), port=port, user="postgres", dbname="postgres") as conn:
        rows = conn.execute("SELECT count(*), max(n) FROM marker").fetchone()
    assert rows == (drained.markers, drained.markers - 1)
    RestoredServer(pgdata, port, drained.socket_dir, pg_os_user(), find_pg_bindir(), pgdata / "log" / "x").stop("fast")
    shutil.rmtree(pgdata.parent, ignore_errors=True)
