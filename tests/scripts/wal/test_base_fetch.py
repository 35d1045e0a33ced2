"""A base backup's parts as barman-cloud names them: the order they are read in, and what makes one incomplete.

The listing runs against moto (the real S3 API); a lost part, a part stored twice and a restored PGDATA without
the files barman-cloud writes last are each refused with the exact message, and nothing else is touched.
"""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from scripts.errors import ExternalError, RefusedError
from scripts.wal import base_fetch
from scripts.wal.base_fetch import TarObject
from scripts.wal.location import ArchiveLocation

BUCKET = "archive"
LOCATION = ArchiveLocation(BUCKET, "pg", "primary", None)
PREFIX = "pg/primary/base/20261206T100000/"


def _tars(*names: str) -> list[TarObject]:
    listed = [(f"{PREFIX}{name}", 100) for name in names]
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        for key, size in listed:
            s3.put_object(Bucket=BUCKET, Key=key, Body=b"x" * size)
        return base_fetch.backup_tars(LOCATION, "20261206T100000", s3)


def test_parts_are_read_in_barman_clouds_order_whatever_the_listing_order():
    tars = _tars("data_0010.tar", "data_0002.tar", "backup.info", "data.tar", "data_0001.tar", *(
        f"data_{n:04d}.tar" for n in range(3, 10)))  # fmt: skip
    assert [t.part for t in tars] == list(range(11))
    assert tars[10].key == f"{PREFIX}data_0010.tar"
    assert base_fetch.part_problems(tars) == []
    base_fetch.check_whole(LOCATION, "20261206T100000", tars)  # whole: no refusal


def test_a_hole_in_the_numbering_names_each_missing_part_with_the_backups_extension():
    tars = _tars("data.tar.gz", "data_0001.tar.gz", "data_0004.tar.gz")
    assert base_fetch.part_problems(tars) == ["data_0002.tar.gz is missing", "data_0003.tar.gz is missing"]


def test_a_long_hole_names_the_first_five_and_counts_the_rest():
    tars = _tars("data.tar", "data_0009.tar")
    assert base_fetch.part_problems(tars) == [
        *(f"data_{n:04d}.tar is missing" for n in range(1, 6)),
        "3 more parts up to data_0008.tar are missing",
    ]


def test_a_refusal_for_a_backup_of_many_parts_names_its_count_first_three_and_last():
    tars = _tars("data.tar", *(f"data_{n:04d}.tar" for n in range(1, 40) if n != 7))
    with pytest.raises(RefusedError) as caught:
        base_fetch.check_whole(LOCATION, "20261206T100000", tars)
    assert str(caught.value) == (
        "backup 20261206T100000 cannot be restored from s3://archive/pg/primary: data_0007.tar is missing "
        "(found 39 objects: data.tar, data_0001.tar, data_0002.tar, ..., data_0039.tar)"
    )


def test_a_lost_first_part_is_a_hole_too():
    tars = _tars("data_0001.tar", "data_0002.tar")
    assert base_fetch.part_problems(tars) == ["data.tar is missing"]


def test_a_part_stored_twice_is_refused_naming_both_objects():
    tars = _tars("data.tar", "data_0001.tar", "data_0001.tar.gz")
    assert base_fetch.part_problems(tars) == ["part 1 is stored twice (data_0001.tar, data_0001.tar.gz)"]


def test_no_tar_at_all_is_left_to_barman_cloud_restore_which_also_reads_snapshot_backups():
    assert base_fetch.part_problems([]) == []
    assert base_fetch.supported({}, []) == "no data.tar* object found"


def test_the_refusal_names_the_backup_the_archive_and_what_was_found():
    tars = _tars("data.tar", "data_0002.tar")
    with pytest.raises(RefusedError) as caught:
        base_fetch.check_whole(LOCATION, "20261206T100000", tars)
    assert str(caught.value) == (
        "backup 20261206T100000 cannot be restored from s3://archive/pg/primary: data_0001.tar is missing "
        "(found data.tar, data_0002.tar)"
    )
    assert caught.value.hint == (
        "restore another backup with --backup-id, or put the object back from a replica or a versioned bucket; "
        "nothing was changed"
    )


def _pgdata(root: Path, *files: str) -> Path:
    for name in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"x")
    return root


def test_a_restored_pgdata_with_its_last_files_passes(tmp_path):
    pgdata = _pgdata(tmp_path, "global/pg_control", "backup_label", "base/1/1259")
    base_fetch.check_restored("20261206T100000", pgdata)
    assert sorted(p.name for p in pgdata.iterdir()) == ["backup_label", "base", "global"]  # nothing removed


@pytest.mark.parametrize(
    ("present", "missing"),
    [
        (("global/pg_control",), "backup_label"),
        (("backup_label",), "global/pg_control"),
        ((), "global/pg_control and backup_label"),
    ],
)
def test_a_restored_pgdata_without_its_last_files_is_refused_naming_them(tmp_path, present, missing):
    pgdata = _pgdata(tmp_path, "base/1/1259", *present)
    with pytest.raises(ExternalError) as caught:
        base_fetch.check_restored("20261206T100000", pgdata)
    assert str(caught.value) == (
        f"backup 20261206T100000 restored into {pgdata} without {missing}: barman-cloud writes them into the "
        "backup's last part, so that part is missing from the archive (or this is not a base backup)"
    )
    assert caught.value.hint == (
        f"restore another backup with --backup-id, or put the last part back; empty {pgdata} before re-running"
    )
    assert (pgdata / "base/1/1259").exists()  # the check only reads
