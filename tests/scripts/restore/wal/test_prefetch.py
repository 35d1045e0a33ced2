"""The prefetcher against moto in-process, and the restore_command script run by a real sh."""

from __future__ import annotations

import gzip
import os
import subprocess
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from scripts.restore.wal.prefetch import (
    FINAL_LISTING,
    Prefetcher,
    render_restore_script,
    served_counts,
)
from scripts.wal.catalog import Catalog
from scripts.wal.location import ArchiveLocation

SEG = 16 * 1024 * 1024


@pytest.fixture
def archive(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="arch")
        for i in (2, 3, 4):
            body = bytes([i]) * SEG
            s3.put_object(
                Bucket="arch",
                Key=f"pg/primary/wals/0000000100000000/00000001000000000000000{i}.gz",
                Body=gzip.compress(body, compresslevel=1),
            )
        s3.put_object(Bucket="arch", Key="pg/primary/wals/00000002.history", Body=b"1\t0/5000000\tx\n")
        yield ArchiveLocation("arch", "pg", "primary", None)


def test_prefetcher_downloads_decompresses_and_renames_into_the_spool(archive, tmp_path):
    catalog = Catalog.load(archive)
    plan = [w for w in catalog.wal]
    spool = tmp_path / "spool"
    user = _current_user()
    Prefetcher.prepare_spool(spool, user, [w.name for w in plan])
    prefetcher = Prefetcher(archive, spool, user, plan, parallel=3, max_bytes=64 * 1024 * 1024)
    prefetcher.start()
    assert prefetcher.wait_done(60)
    prefetcher.stop()
    names = sorted(p.name for p in spool.iterdir() if not p.name.startswith("."))
    assert names == ["00000001000000000000000" + str(i) for i in (2, 3, 4)] + ["00000002.history"]
    assert (spool / "000000010000000000000003").read_bytes()[:4] == b"\x03\x03\x03\x03"
    assert (spool / "000000010000000000000003").stat().st_size == SEG
    assert prefetcher.stats.fetched == 4 and prefetcher.stats.errors == []
    assert not list((spool / ".inflight").iterdir())
    assert (spool / FINAL_LISTING).read_text().splitlines() == sorted(names)


def test_prefetcher_keeps_the_spool_bounded(archive, tmp_path):
    catalog = Catalog.load(archive)
    segments = [w for w in catalog.wal if w.is_segment]
    spool = tmp_path / "spool"
    user = _current_user()
    Prefetcher.prepare_spool(spool, user, [w.name for w in segments])
    prefetcher = Prefetcher(archive, spool, user, segments, parallel=4, max_bytes=2 * SEG)
    prefetcher.start()
    assert not prefetcher.wait_done(3)  # two segments fill the spool; the third waits for a consumer
    assert len([p for p in spool.iterdir() if not p.name.startswith(".")]) == 2
    (spool / "000000010000000000000002").unlink()  # replay consumed one
    assert prefetcher.wait_done(30)
    prefetcher.stop()
    assert (spool / "000000010000000000000004").exists()


def _current_user():
    import pwd

    from scripts.pg.osuser import OsUser

    entry = pwd.getpwuid(os.geteuid())
    return OsUser(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir)


def _script(tmp_path: Path, names: list[str]) -> tuple[Path, Path]:
    spool = tmp_path / "spool"
    Prefetcher.prepare_spool(spool, _current_user(), names)
    fallback = tmp_path / "fallback.sh"
    fallback.write_text('#!/bin/sh\necho "from-archive $1" > "$2"\n')
    fallback.chmod(0o755)
    script = tmp_path / "restore.sh"
    script.write_text(render_restore_script(spool, [str(fallback)]))
    script.chmod(0o755)
    return spool, script


def _restore(script: Path, name: str, dest: Path) -> int:
    return subprocess.run([str(script), name, str(dest)], capture_output=True, timeout=30).returncode


def test_restore_command_serves_from_spool_then_again_then_archive_and_says_absent(tmp_path):
    seg, nxt = "000000010000000000000002", "000000010000000000000003"
    spool, script = _script(tmp_path, [seg, nxt, "00000002.history"])
    (spool / seg).write_bytes(b"spooled")
    pg_wal = tmp_path / "pg_wal"
    pg_wal.mkdir()

    assert _restore(script, seg, pg_wal / "RECOVERYXLOG") == 0
    assert (pg_wal / "RECOVERYXLOG").read_bytes() == b"spooled"
    assert not (spool / seg).exists()  # moved, not copied
    # PostgreSQL asks for the last segment again at the end of recovery: served from the kept link.
    assert _restore(script, seg, pg_wal / "AGAIN") == 0
    assert (pg_wal / "AGAIN").read_bytes() == b"spooled"
    # Listed in the archive but not prefetched: the fallback (barman-cloud-wal-restore) fetches it.
    assert _restore(script, nxt, pg_wal / "RECOVERYXLOG") == 0
    assert (pg_wal / "RECOVERYXLOG").read_text() == f"from-archive {nxt}\n"
    # Not in the archive listing (a probe past the end): "not found" without calling the fallback.
    assert _restore(script, "000000010000000000000009", pg_wal / "NOPE") == 1
    assert _restore(script, "00000003.history", pg_wal / "NOPE") == 1
    assert not (pg_wal / "NOPE").exists()
    assert served_counts(spool) == {"spool": 1, "again": 1, "fallback": 1, "absent": 2}


def test_a_prefetcher_started_narrow_downloads_one_at_a_time_until_widened(archive, tmp_path, monkeypatch):
    import threading
    import time

    from scripts.restore.wal import prefetch

    running, most, lock = [0], [0], threading.Lock()
    real_fetch = prefetch.fetch_raw

    def counting_fetch(*args, **kwargs):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            time.sleep(0.2)  # a slow GET: the next ones would start meanwhile if allowed
            return real_fetch(*args, **kwargs)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(prefetch, "fetch_raw", counting_fetch)
    segments = [w for w in Catalog.load(archive).wal if w.is_segment]
    spool = tmp_path / "spool"
    user = _current_user()
    Prefetcher.prepare_spool(spool, user, [w.name for w in segments])
    narrow = Prefetcher(archive, spool, user, segments, parallel=3, max_bytes=64 * SEG, width=1)
    narrow.start()
    assert narrow.wait_done(60)
    narrow.stop()
    assert most[0] == 1 and narrow.stats.most_in_flight == 1 and narrow.stats.fetched == 3

    for item in segments:
        (spool / item.name).unlink()
    most[0] = 0
    widened = Prefetcher(archive, spool, user, segments, parallel=3, max_bytes=64 * SEG, width=1)
    widened.widen()
    widened.start()
    assert widened.wait_done(60)
    widened.stop()
    assert most[0] == 3 and widened.stats.most_in_flight == 3
