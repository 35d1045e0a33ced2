"""Archive layout parsing and the replay plan (pure logic; no S3 calls)."""

from __future__ import annotations

from datetime import UTC, datetime

from scripts.wal.catalog import (
    Catalog,
    backup_from_info,
    parse_backup_info,
    parse_history,
    replay_plan,
    segment_name,
    segment_number,
    split_wal_key,
)
from scripts.wal.location import ArchiveLocation, parse_archive_url
from scripts.wal.waldump import parse_waldump

NOW = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
LOC = ArchiveLocation("arch", "pg", "primary", "http://127.0.0.1:1")

BACKUP_INFO = """begin_time=2026-11-23 11:26:18.411802+00:00
begin_wal=000000010000000000000002
begin_xlog=0/2000028
end_time=2026-11-23 11:26:19.066636+00:00
end_wal=000000010000000000000002
end_xlog=0/2000100
status=DONE
timeline=1
backup_name=None
xlog_segment_size=16777216
"""


def test_archive_url_split_and_refusal():
    assert parse_archive_url("s3://arch/pg/x/") == ("arch", "pg/x")
    assert parse_archive_url("s3://arch") == ("arch", "")
    for bad in ("arch/pg", "s3://", "s3://UPPER/x", "https://arch/pg", "s3://arch/a//b"):
        try:
            parse_archive_url(bad)
        except Exception as exc:  # noqa: BLE001
            assert exc.message == (
                f"invalid --archive {bad!r}: an S3 URL such as s3://bucket/prefix "
                "(lower-case bucket name, optional prefix)"
            )
        else:
            raise AssertionError(f"{bad} accepted")


def test_wal_keys_are_classified_with_compression_and_partial():
    seg = split_wal_key("pg/primary/wals/0000000100000000/000000010000000000000003.gz", 10, NOW)
    assert (seg.name, seg.compression, seg.partial, seg.is_segment) == (
        "000000010000000000000003",
        "gzip",
        False,
        True,
    )
    part = split_wal_key("pg/primary/wals/0000000200000000/000000020000000000000005.partial", 10, NOW)
    assert (part.name, part.partial, part.timeline) == ("000000020000000000000005", True, 2)
    hist = split_wal_key("pg/primary/wals/00000002.history", 10, NOW)
    assert hist.is_history and hist.timeline == 2
    assert split_wal_key("pg/primary/wals/0000000100000000/000000010000000000000002.00000028.backup.gz", 1, NOW) is None


def test_backup_info_parsing():
    backup = backup_from_info("20261123T112618", parse_backup_info(BACKUP_INFO))
    assert backup.usable and backup.timeline == 1 and backup.name is None
    assert backup.end_time == datetime(2026, 11, 23, 11, 26, 19, 66636, tzinfo=UTC)
    failed = backup_from_info("x", parse_backup_info(BACKUP_INFO.replace("DONE", "FAILED")))
    assert not failed.usable


def test_segment_numbers_round_trip_across_the_xlogid_boundary():
    assert segment_number("0000000100000001000000FF") == 0x1FF
    assert segment_name(1, 0x1FF) == "0000000100000001000000FF"
    assert segment_name(3, 0x200) == "000000030000000200000000"


def test_history_parsing():
    text = "1\t0/5000000\tno recovery target specified\n\n2\t0/7A000A0\tbefore 2026-11-23\n"
    assert parse_history(text) == [(1, 0x5000000), (2, 0x7A000A0)]


def _wal(name: str, suffix: str = "") -> object:
    return split_wal_key(f"pg/primary/wals/{name[:16]}/{name}{suffix}", 16 << 20, NOW)


def test_replay_plan_runs_from_the_backup_to_the_end_and_reports_holes():
    backup = backup_from_info("b", parse_backup_info(BACKUP_INFO))
    names = [
        "000000010000000000000001",
        "000000010000000000000002",
        "000000010000000000000003",
        "000000010000000000000004",
        "000000010000000000000006",
    ]
    catalog = Catalog(LOC, [backup], [_wal(n) for n in names])
    plan = replay_plan(catalog, backup)
    assert [s.name for s in plan.segments] == names[1:4]
    assert plan.gap_after == "000000010000000000000004"
    assert plan.target_timeline == 1


def test_replay_plan_prefers_a_complete_segment_over_a_partial():
    backup = backup_from_info("b", parse_backup_info(BACKUP_INFO))
    catalog = Catalog(
        LOC,
        [backup],
        [
            _wal("000000010000000000000002"),
            _wal("000000010000000000000003", ".partial"),
            _wal("000000010000000000000003"),
        ],
    )
    plan = replay_plan(catalog, backup)
    assert [(s.name, s.partial) for s in plan.segments] == [
        ("000000010000000000000002", False),
        ("000000010000000000000003", False),
    ]


WALDUMP = """rmgr: Heap        len (rec/tot):     57/    57, tx:        726, lsn: 0/03023098, prev 0/03022C70, desc: INSERT+INIT off 1
rmgr: Transaction len (rec/tot):     34/    34, tx:        726, lsn: 0/030230D8, prev 0/03023098, desc: COMMIT 2026-11-23 11:26:21.439856 UTC
rmgr: XLOG        len (rec/tot):     98/    98, tx:          0, lsn: 0/03023100, prev 0/030230D8, desc: RESTORE_POINT before upgrade
rmgr: Transaction len (rec/tot):     34/    34, tx:        727, lsn: 0/03023168, prev 0/03023100, desc: ABORT 2026-11-23 11:26:22 UTC
rmgr: XLOG        len (rec/tot):     24/    24, tx:          0, lsn: 0/030231A0, prev 0/03023168, desc: SWITCH
"""  # noqa: E501


def test_waldump_output_yields_commits_aborts_and_restore_points():
    facts = parse_waldump(WALDUMP)
    assert facts.records == 5
    assert facts.restore_points == [("before upgrade", "0/03023100")]
    assert facts.last_commit().xid == 726
    assert facts.last_commit().time == datetime(2026, 11, 23, 11, 26, 21, 439856, tzinfo=UTC)
    assert facts.last_timestamped.aborted and facts.last_timestamped.xid == 727
    assert facts.commit_of(727) is None and facts.commit_of(726).lsn == "0/030230D8"
