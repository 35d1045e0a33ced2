"""bench.drill's local write floor: it writes exactly the backup's files (both arms), parts in order, and the
machine's floor per run is the slower of the ranged download and the local write."""

from __future__ import annotations

import statistics
from pathlib import Path

import boto3
from moto import mock_aws

from bench import drill
from bench.base_fetch import by_key
from scripts.wal import base_fetch
from scripts.wal.base_fetch import TarObject
from scripts.wal.location import ArchiveLocation
from tests.scripts.tars import tar_of

BACKUP = "20261206T100000"


def _ranges(objects: dict[str, bytes], part: int) -> tuple[list[tuple[str, int, int]], list[bytes]]:
    ranges, parts = [], []
    for key, data in objects.items():
        for lo in range(0, len(data), part):
            ranges.append((key, lo, min(lo + part, len(data)) - 1))
            parts.append(data[lo : lo + part])
    return ranges, parts


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _listed(objects: dict[str, bytes]) -> list[TarObject]:
    """The backup's tars as the probe lists them: scripts.wal.base_fetch.backup_tars against the S3 API (moto)."""
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="archive")
        for key, data in objects.items():
            s3.put_object(Bucket="archive", Key=key, Body=data)
        return base_fetch.backup_tars(ArchiveLocation("archive", "pg", "primary", None), BACKUP, s3)


def test_both_arms_write_every_file_of_every_part_and_count_them(tmp_path, monkeypatch):
    removed: dict[str, dict[str, bytes]] = {}
    real_fresh = drill._fresh

    def fresh(directory: Path) -> None:  # what each arm wrote, read before the next arm's turn removes it
        removed[directory.name] = _files(directory / BACKUP)
        real_fresh(directory)

    monkeypatch.setattr(drill, "_fresh", fresh)
    prefix = f"pg/primary/base/{BACKUP}/"
    objects = {  # listed out of order, as a listing may be: the floor writes them in barman-cloud's order
        f"{prefix}data_0001.tar": tar_of({"base/1/1260": b"b" * 70000}),
        f"{prefix}data.tar": tar_of({"base/1/1259": b"a" * 5000, "PG_VERSION": b"15\n"}),
        f"{prefix}backup.info": b"status=DONE\n",  # downloaded with the base, written by neither arm
    }
    ranges, parts = _ranges(objects, part=4096)
    result = drill._local_write_floor({BACKUP: _listed(objects)}, by_key(ranges, parts), tmp_path)
    assert result["local_files"] == 3
    assert all(isinstance(result[k], float) for k in ("local_writer_s", "local_gnu_tar_s"))  # times, rounded to ms
    expected = {"PG_VERSION": b"15\n", "base/1/1259": b"a" * 5000, "base/1/1260": b"b" * 70000}
    assert removed == {"local-writer": expected}  # removed (and flushed) before GNU tar's turn
    assert list((tmp_path / "local-writer").iterdir()) == []
    assert _files(tmp_path / "local-gnu-tar" / BACKUP) == expected


def test_a_compressed_backup_has_no_local_floor(tmp_path):
    objects = {f"pg/primary/base/{BACKUP}/data.tar.gz": b"\x1f\x8b" + b"x" * 100}
    ranges, parts = _ranges(objects, part=64)
    assert drill._local_write_floor({BACKUP: _listed(objects)}, by_key(ranges, parts), tmp_path) == {
        "local_writer_s": None,
        "local_gnu_tar_s": None,
        "local_files": None,
    }
    assert list(tmp_path.iterdir()) == []


def _sample(ranged: float, writer: float, restore: float) -> dict:
    return {
        "raw_base_parallel8_ranged_s": ranged,
        "local_writer_s": writer,
        "local_gnu_tar_s": writer * 1.5,
        "local_files": 1000,
        "restore_base_fetch_s": restore,
        "probe_restore_writer_s": restore / 2,
    }


def _med(rows: list[dict]):
    return lambda key: round(statistics.median(r[key] for r in rows), 3)


def test_the_floor_is_the_slower_side_of_each_run_and_the_restore_is_measured_against_it():
    rows = [_sample(0.5, 2.0, 4.0), _sample(0.5, 1.0, 4.0), _sample(3.0, 1.0, 4.0)]  # disk, disk, network
    floor = drill._machine_floor(rows, _med(rows))
    assert [r["machine_floor_s"] for r in rows] == [2.0, 1.0, 3.0]
    assert floor["machine_floor_s"] == 2.0
    assert floor["restore_base_throughput_vs_machine_floor"] == 0.5
    assert floor["probe_restore_writer_vs_machine_floor"] == 1.0
    assert floor["raw_ranged_over_local_writer"] == 0.5


def test_without_a_local_floor_in_every_run_nothing_is_derived():
    rows = [_sample(0.5, 2.0, 4.0), {**_sample(0.5, 2.0, 4.0), "local_writer_s": None}]
    assert drill._machine_floor(rows, _med(rows)) == {}
