"""The parallel base-backup fetch against the real gzip'd barman-cloud backup of ``wal_source``: the same files as
``barman-cloud-restore``, and what a broken archive does to it (a part shorter than asked, a corrupt object)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from scripts.errors import ExternalError
from scripts.pg.osuser import make_user_dir, pg_os_user
from scripts.report import Report
from scripts.restore.wal.recovery import Target
from scripts.restore.wal.restore import restore_wal
from scripts.wal import archive as archiving
from scripts.wal import base_fetch
from tests.integration.wal.conftest import SERVER, WalSource
from tests.integration.wal.test_restore_wal import assert_restored, library_request

pytestmark = pytest.mark.integration


def _tree(root: Path) -> dict[str, str]:
    """Every regular file under ``root`` with its SHA-256 (what a restore must reproduce byte for byte)."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _empty_dir(src: WalSource, name: str) -> Path:
    user = pg_os_user()
    path = src.workspace / name
    make_user_dir(path.parent, user, 0o755)
    return make_user_dir(path, user)


def test_the_parallel_fetch_extracts_exactly_what_barman_cloud_restore_does(wal_source: WalSource):
    src = wal_source
    tars = base_fetch.backup_tars(src.location, src.backup_id, src.location.client())
    assert [t.compression for t in tars] == ["gzip"] and tars[0].key.endswith("/data.tar.gz")
    ours = _empty_dir(src, "fetch-parallel/data")
    stats = base_fetch.extract(src.location, tars, ours, src.user, client=src.location.client(), threads=8,
                               part_size=256 * 1024)  # many parts, so their order matters  # fmt: skip
    assert stats.objects == 1 and stats.bytes == tars[0].size
    theirs = _empty_dir(src, "fetch-barman/data")
    argv = [*src.location.barman_args(), src.archive_url, SERVER, src.backup_id, str(theirs)]
    proc = archiving.run_barman(src.tools, src.user, "barman-cloud-restore", argv)
    assert proc.returncode == 0, proc.stderr
    assert _tree(ours) == _tree(theirs)
    assert (ours / "pg_wal").is_dir() and (ours / "backup_label").is_file()
    assert {p.stat().st_uid for p in ours.rglob("*")} == {src.user.uid}


def test_an_uncompressed_backup_in_parts_is_written_in_process_as_barman_cloud_restore_does(wal_source: WalSource):
    src = wal_source
    assert src.plain_location is not None and src.plain_backup_id is not None
    location, client = src.plain_location, src.plain_location.client()
    tars = base_fetch.backup_tars(location, src.plain_backup_id, client)
    assert len(tars) > 3 and {t.compression for t in tars} == {None}
    assert [t.key.rsplit("/", 1)[1] for t in tars] == ["data.tar", *(f"data_{n:04d}.tar" for n in range(1, len(tars)))]
    ours = _empty_dir(src, "fetch-plain-parallel/data")
    stats = base_fetch.extract(location, tars, ours, src.user, client=client, threads=8,
                               part_size=64 * 1024 + 512)  # parts that split headers and files anywhere  # fmt: skip
    assert stats.objects == len(tars) and stats.bytes == sum(t.size for t in tars)
    theirs = _empty_dir(src, "fetch-plain-barman/data")
    argv = [*location.barman_args(), location.url, location.server_name, src.plain_backup_id, str(theirs)]
    proc = archiving.run_barman(src.tools, src.user, "barman-cloud-restore", argv)
    assert proc.returncode == 0, proc.stderr
    assert _tree(ours) == _tree(theirs)
    assert _modes(ours) == _modes(theirs)
    assert {p.stat().st_uid for p in [ours, *ours.rglob("*")]} == {src.user.uid}


def _modes(root: Path) -> dict[str, tuple[int, int]]:
    """Every entry's permission bits and (for files) modification time, as the restore leaves them."""
    return {
        str(p.relative_to(root)): (p.stat().st_mode & 0o7777, int(p.stat().st_mtime) if p.is_file() else 0)
        for p in sorted(root.rglob("*"))
    }


def test_a_restore_to_an_xid_with_the_parallel_fetch_reports_how_it_fetched(wal_source: WalSource, supervisor):
    src = wal_source
    req = library_request(src, "xid-parallel", Target.from_options(xid=str(src.xid)), new_server_name="xid-parallel")
    report = Report("restore wal")
    restore_wal(req, report, supervisor=supervisor)
    assert report.ok
    [step] = [s for s in report.steps if s.name == "fetch base backup"]
    assert step.detail["fetched_by"] == f"parallel ranged GETs ({base_fetch.DEFAULT_THREADS} threads) into tar"
    assert_restored(src, req.port, ["time-before", "time-after", "xid-before"], "xid-parallel")


def test_a_part_shorter_than_asked_fails_the_fetch_and_says_so(wal_source: WalSource, monkeypatch):
    """What a half-written upload (or an object replaced mid-restore) looks like to a ranged GET."""
    src = wal_source
    client = src.location.client()
    real = client.get_object

    def short(**kwargs):
        answer = real(**kwargs)
        if kwargs.get("Range", "").startswith("bytes=262144-"):
            body = answer["Body"].read()[:-1000]
            answer["Body"] = type("Body", (), {"read": lambda self: body})()
        return answer

    monkeypatch.setattr(client, "get_object", short)
    tars = base_fetch.backup_tars(src.location, src.backup_id, client)
    target = _empty_dir(src, "fetch-short/data")
    with pytest.raises(ExternalError, match=r"bytes=262144-524287 returned 261144 bytes, not 262144"):
        base_fetch.extract(src.location, tars, target, src.user, client=client, part_size=256 * 1024)


def test_a_corrupt_object_fails_the_extraction_with_tars_own_words(wal_source: WalSource):
    src = wal_source
    s3 = src.s3.client()
    key = f"{src.location.base_prefix}corrupt-backup/data.tar.gz"
    s3.put_object(Bucket="idp-dr-archive", Key=key, Body=os.urandom(3 * 1024 * 1024))
    try:
        tars = base_fetch.backup_tars(src.location, "corrupt-backup", src.location.client())
        target = _empty_dir(src, "fetch-corrupt/data")
        with pytest.raises(ExternalError, match=r"extracting .*data\.tar\.gz into .* failed \(tar exit 2\): "):
            base_fetch.extract(src.location, tars, target, src.user, client=src.location.client())
    finally:
        s3.delete_object(Bucket="idp-dr-archive", Key=key)


def test_what_it_does_not_read_goes_to_barman_cloud_restore():
    gz = base_fetch.TarObject("pg/s/base/b/data.tar.gz", 10, "gzip")
    assert base_fetch.supported({"tablespaces": "None"}, [gz]) is None
    assert base_fetch.supported({"tablespaces": "[('tbs', 16400, '/srv/tbs')]"}, [gz]) == "the backup has tablespaces"
    snappy = base_fetch.TarObject("pg/s/base/b/data.tar.snappy", 10, "snappy")
    assert base_fetch.supported({}, [snappy]) == "compressed with snappy"
    assert base_fetch.supported({}, []) == "no data.tar* object found"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--base-fetch", "rsync"), "invalid --base-fetch 'rsync': parallel or barman"),
        (("--base-threads", "0"), "invalid --base-threads 0: an integer from 1 to 64"),
        (("--base-threads", "65"), "invalid --base-threads 65: an integer from 1 to 64"),
        (("--init-sync", "sync"), "invalid --init-sync 'sync': fsync or syncfs"),
    ],
)
def test_bad_base_fetch_flags_are_refused_before_anything_is_written(wal_source: WalSource, extra, message):
    from tests.integration.wal.test_restore_wal import _bad, _error_line

    code, err, _ = _bad(wal_source, f"bad-base-{extra[1]}", "--latest", extra=extra)
    assert code == 2
    assert _error_line(err) == message
