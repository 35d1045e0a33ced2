"""The end of recovery's last-commit line, read from the server's log when the server no longer knows it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from scripts.restore.wal.phases import last_commit_in_log


def test_the_newest_last_commit_line_is_read_with_its_offset():
    log = (
        "LOG:  redo done at 0/3000100\n"
        "LOG:  last completed transaction was at log time 2026-12-01 16:05:01.123456+00\n"
        "LOG:  selected new timeline ID: 2\n"
        "LOG:  last completed transaction was at log time 2026-12-01 17:06:02.5+01\n"
    )
    assert last_commit_in_log(log) == datetime(2026, 12, 1, 17, 6, 2, 500000, tzinfo=timezone(timedelta(hours=1)))
    assert last_commit_in_log(log).astimezone(UTC).hour == 16


def test_a_log_without_it_gives_none():
    assert last_commit_in_log("LOG:  database system is ready to accept connections\n") is None
