"""Archive faults a real archive produces: a lost segment, a damaged one, a lost part of the base backup.
``restore wal`` refuses a hole (never promotes at it while reporting success), fails a restore whose replay
stopped early, naming the segment, and never restores a base backup with a part missing (the source's backup
is uncompressed and in 1 MB parts, as a large database's is). Real PostgreSQL 15, barman-cloud and moto_server.

Each test copies the source's archive to its own server name and damages the copy, so the tests
stay independent of each other and of the other restore tests.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from scripts.cli import main
from scripts.lab.postgres import PgCluster
from scripts.lab.s3 import LAB_AWS_ENV, S3Server
from scripts.pg.bindir import pg_available
from scripts.pg.osuser import make_user_dir, make_workspace, pg_os_user, remove_tree
from scripts.pg.tools import ensure_pgtools
from scripts.processes import Supervisor, free_port
from scripts.wal import archive
from scripts.wal.catalog import Catalog, segment_name, segment_number
from scripts.wal.location import ArchiveLocation
from tests.conftest import need

BUCKET, PREFIX, SERVER = "idp-dr-continuity", "pg", "source"
ROUNDS = 4  # WAL segments written (and switched) after the base backup


@dataclass
class Source:
    workspace: Path
    s3: S3Server
    socket_dir: Path
    backup_end_wal: str
    backup_id: str

    def client(self):
        return self.s3.client()

    def copy_archive(self, name: str) -> list[str]:
        """The source archive under server name ``name``; returns its WAL segment keys, oldest first."""
        s3 = self.client()
        old, new = f"{PREFIX}/{SERVER}/", f"{PREFIX}/{name}/"
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=old):
            for obj in page.get("Contents", []):
                s3.copy_object(
                    Bucket=BUCKET, Key=new + obj["Key"][len(old) :], CopySource={"Bucket": BUCKET, "Key": obj["Key"]}
                )
        keys = [
            o["Key"]
            for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=new + "wals/")["Contents"]
            if re.fullmatch(r"[0-9A-F]{24}(\.gz)?", o["Key"].rsplit("/", 1)[-1])  # segments, not .backup/.history
        ]
        return sorted(keys, key=lambda k: k.rsplit("/", 1)[-1])

    def argv(self, name: str, pgdata: Path, *extra: str) -> list[str]:
        return [
            "restore", "wal", "--archive", f"s3://{BUCKET}/{PREFIX}", "--server-name", name,
            "--endpoint-url", self.s3.endpoint_url, "--pgdata", str(pgdata), "--port", str(free_port()),
            "--socket-dir", str(self.socket_dir), "--no-archive", "--stop-after", "--json", *extra,
        ]  # fmt: skip


@pytest.fixture(scope="module")
def source() -> Iterator[Source]:
    need(pg_available(), "PostgreSQL 15 server binaries (and a non-root OS user to run them)")
    os.environ.update({k: v for k, v in LAB_AWS_ENV.items() if k not in os.environ})
    workspace = make_workspace(prefix="test-continuity-")
    with Supervisor() as sup:
        s3 = S3Server.start(sup, workspace)
        s3.create_bucket(BUCKET)
        user, env = pg_os_user(), dict(LAB_AWS_ENV)
        tools = ensure_pgtools(user)
        location = ArchiveLocation(BUCKET, PREFIX, SERVER, s3.endpoint_url)
        archive.check_wal_archive(tools, user, location, env=env)
        primary = PgCluster.create(
            workspace,
            "source",
            supervisor=sup,
            settings={
                "wal_level": "replica",
                "archive_mode": "on",
                "archive_timeout": 60,
                "archive_command": archive.archive_command(tools, location, compression="gzip"),
            },
        )
        primary.start(env=env)
        primary.execute("CREATE TABLE marker (round int PRIMARY KEY)")
        backup_id = archive.take_base_backup(
            tools, user, location, socket_dir=primary.socket_dir, port=primary.port, env=env, max_archive_size="1MB"
        )
        for n in range(ROUNDS):  # one marker per segment: each segment holds a commit of its own
            primary.execute(f"INSERT INTO marker VALUES ({int(n)})")  # noqa: S608 - an int
            primary.execute("SELECT pg_switch_wal()")
        archive.switch_and_wait_archived(primary.execute, timeout=120)
        primary.crash()
        backup = Catalog.load(location).usable_backups[-1]
        assert backup.end_wal is not None
        assert backup.backup_id == backup_id
        yield Source(workspace, s3, make_user_dir(workspace / "sock", user, 0o755), backup.end_wal, backup_id)
    remove_tree(workspace)


def _run(argv: list[str]) -> tuple[int, dict, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, stdout=out, stderr=err)
    return code, json.loads(out.getvalue() or "{}"), err.getvalue()


def _after_backup(source: Source, keys: list[str]) -> list[str]:
    end = segment_number(source.backup_end_wal)
    return [k for k in keys if segment_number(k.rsplit("/", 1)[-1][:24]) > end]


def _name(key: str) -> str:
    return key.rsplit("/", 1)[-1][:24]


def test_a_lost_segment_is_refused_for_latest_naming_it_and_the_last_reachable_commit(source: Source):
    keys = source.copy_archive("lost-latest")
    later = _after_backup(source, keys)
    assert len(later) >= 3, later  # the fixture wrote a segment per round
    lost = later[1]
    source.client().delete_object(Bucket=BUCKET, Key=lost)
    pgdata = source.workspace / "lost-latest" / "data"
    code, doc, err = _run(source.argv("lost-latest", pgdata, "--latest"))
    assert code == 3, err
    message = doc["error"]["message"]
    assert message.startswith(f"refusing to restore to the latest WAL: WAL segment {_name(lost)} is missing from ")
    assert "the last commit that can be reached is 20" in message
    assert "--accept-wal-gap" in doc["error"]["hint"]
    assert not pgdata.exists()  # nothing written


def test_a_time_past_the_hole_is_refused_naming_the_missing_segment(source: Source):
    keys = source.copy_archive("lost-time")
    later = _after_backup(source, keys)
    lost = later[1]
    source.client().delete_object(Bucket=BUCKET, Key=lost)
    pgdata = source.workspace / "lost-time" / "data"
    code, doc, err = _run(source.argv("lost-time", pgdata, "--time", "2100-01-01T00:00:00Z"))
    assert code == 2, err
    message = doc["error"]["message"]
    assert message.startswith("invalid --time '2100-01-01T00:00:00Z': ")
    assert f"WAL segment {_name(lost)} is missing" in message
    assert not pgdata.exists()


def test_accepting_the_gap_promotes_at_it_and_reports_what_is_lost(source: Source):
    keys = source.copy_archive("lost-accepted")
    later = _after_backup(source, keys)
    lost = later[1]
    source.client().delete_object(Bucket=BUCKET, Key=lost)
    pgdata = source.workspace / "lost-accepted" / "data"
    code, doc, err = _run(source.argv("lost-accepted", pgdata, "--latest", "--accept-wal-gap"))
    assert code == 0, err
    gap = doc["result"]["wal_gap"]
    assert gap["missing_segment"] == _name(lost)
    assert gap["segments_after_it"] == len(later) - 2
    assert any(note.startswith("--accept-wal-gap: promoted at the hole") for note in doc["notes"])


def test_a_missing_segment_the_backup_needs_is_refused(source: Source):
    keys = source.copy_archive("lost-backup-wal")
    needed = next(k for k in keys if _name(k) == source.backup_end_wal)
    source.client().delete_object(Bucket=BUCKET, Key=needed)
    pgdata = source.workspace / "lost-backup-wal" / "data"
    code, doc, err = _run(source.argv("lost-backup-wal", pgdata, "--latest"))
    assert code == 3, err
    assert f"WAL segment {source.backup_end_wal} (needed to make it consistent) is missing" in doc["error"]["message"]
    assert not pgdata.exists()


def test_a_damaged_segment_fails_the_restore_naming_where_replay_stopped(source: Source):
    keys = source.copy_archive("damaged")
    later = _after_backup(source, keys)
    damaged = later[1]
    s3 = source.client()
    wal = bytearray(gzip.decompress(s3.get_object(Bucket=BUCKET, Key=damaged)["Body"].read()))
    # The first records after the segment's long page header (40 bytes): PostgreSQL cannot read on
    # from there and, as at the end of an archive, ends recovery and promotes.
    wal[40:240] = bytes(200)
    s3.put_object(Bucket=BUCKET, Key=damaged, Body=gzip.compress(bytes(wal)))
    pgdata = source.workspace / "damaged" / "data"
    code, doc, err = _run(source.argv("damaged", pgdata, "--latest"))
    assert code == 1, err
    check = next(c for c in doc["checks"] if c["name"] == "replayed_to_archive_end")
    assert check["status"] == "FAIL"
    stopped = _name(damaged)
    assert check["message"].startswith(f"replay stopped in segment {stopped[8:]} (timeline ")
    assert _name(later[-1]) in check["message"]
    assert check["evidence"]["not_replayed"][0] == segment_name(int(stopped[:8], 16), segment_number(stopped) + 1)


def _parts(source: Source, name: str) -> list[str]:
    """The copy's base-backup part keys, in barman-cloud's order (data.tar, data_0001.tar, ...)."""
    prefix = f"{PREFIX}/{name}/base/{source.backup_id}/"
    keys = [o["Key"] for o in source.client().list_objects_v2(Bucket=BUCKET, Prefix=prefix)["Contents"]]
    parts = sorted((k for k in keys if re.fullmatch(r"data(_\d{4})?\.tar", k.rsplit("/", 1)[-1])), key=len)
    return sorted(parts, key=lambda k: (len(k), k))


@pytest.mark.parametrize("base_fetch", ["parallel", "barman"])
def test_a_lost_part_of_the_base_backup_is_refused_naming_it_before_anything_is_written(source: Source, base_fetch):
    name = f"lost-part-{base_fetch}"
    source.copy_archive(name)
    parts = _parts(source, name)
    assert len(parts) > 7, parts  # the fixture's 1 MB parts
    source.client().delete_object(Bucket=BUCKET, Key=parts[2])
    pgdata = source.workspace / name / "data"
    code, doc, err = _run(source.argv(name, pgdata, "--latest", "--base-fetch", base_fetch))
    assert code == 3, err
    assert doc["error"]["message"] == (
        f"backup {source.backup_id} cannot be restored from s3://{BUCKET}/{PREFIX}/{name}: data_0002.tar is missing "
        f"(found {len(parts) - 1} objects: data.tar, data_0001.tar, data_0003.tar, ..., data_{len(parts) - 1:04d}.tar)"
    )
    assert doc["error"]["hint"].endswith("; nothing was changed")
    assert not pgdata.exists()  # nothing written


@pytest.mark.parametrize("base_fetch", ["parallel", "barman"])
def test_a_lost_last_part_stops_the_restore_before_postgresql_starts(source: Source, base_fetch):
    """No hole to see: the files barman-cloud writes last are missing. Starting PostgreSQL without the backup
    label would recover from pg_control's checkpoint instead of the backup's start: a silent corruption."""
    name = f"lost-last-part-{base_fetch}"
    source.copy_archive(name)
    parts = _parts(source, name)
    source.client().delete_object(Bucket=BUCKET, Key=parts[-1])
    pgdata = source.workspace / name / "data"
    code, doc, err = _run(source.argv(name, pgdata, "--latest", "--base-fetch", base_fetch))
    assert code == 5, err
    message = doc["error"]["message"]
    assert message.startswith(f"backup {source.backup_id} restored into {pgdata} without ")
    assert message.endswith(
        "backup_label: barman-cloud writes them into the backup's last part, so that part is missing from the "
        "archive (or this is not a base backup)"
    )
    assert not (pgdata / "backup_label").exists() and (pgdata / "base").is_dir()  # the other parts were written
    assert not (pgdata / "postmaster.pid").exists() and not (pgdata / "recovery.signal").exists()
    [step] = [s for s in doc["steps"] if s["name"] == "fetch base backup"]
    assert step["status"] == "failed"
