"""Pure parts of `restore wal`: the target-directory rules, number checks, names, log parsing."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scripts.errors import ExitCode, InputError, RefusedError
from scripts.restore.wal.recovery import Target
from scripts.restore.wal.request import STATE_FILE, RestoreRequest
from scripts.restore.wal.server import promotion_time as _promotion_time
from scripts.restore.wal.validate import _check_pgdata, _validate_numbers, default_new_server_name


def _request(tmp_path: Path, **kw) -> RestoreRequest:
    return RestoreRequest(
        archive_url="s3://b/p",
        server_name="kc-db",
        pgdata=tmp_path / "data",
        target=Target.from_options(latest=True),
        **kw,
    )


def test_absent_or_empty_pgdata_is_accepted(tmp_path):
    assert _check_pgdata(tmp_path / "absent", "f") is None
    (tmp_path / "empty").mkdir()
    assert _check_pgdata(tmp_path / "empty", "f") is None


def test_non_empty_pgdata_is_a_safety_refusal(tmp_path):
    (tmp_path / "d").mkdir()
    for name in ("base", "PG_VERSION", "global", "pg_wal"):
        (tmp_path / "d" / name).mkdir()
    with pytest.raises(RefusedError) as info:
        _check_pgdata(tmp_path / "d", "f")
    assert info.value.exit_code == ExitCode.REFUSED
    assert info.value.message == (
        f"refusing to restore into non-empty directory {tmp_path / 'd'} (4 entries, e.g. PG_VERSION, base, global)"
    )


def test_a_file_is_not_a_pgdata(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(InputError) as info:
        _check_pgdata(tmp_path / "f", "f")
    assert info.value.message == f"invalid --pgdata '{tmp_path / 'f'}': a directory path (this is a file)"


def test_our_own_unfinished_restore_is_resumed_only_for_the_same_request(tmp_path):
    req = _request(tmp_path)
    req.pgdata.mkdir()
    (req.pgdata / "PG_VERSION").write_text("15\n")
    (req.pgdata / STATE_FILE).write_text(json.dumps({"fingerprint": req.fingerprint(), "new_server_name": "n"}))
    assert _check_pgdata(req.pgdata, req.fingerprint())["new_server_name"] == "n"
    other = RestoreRequest(
        archive_url="s3://b/p", server_name="kc-db", pgdata=req.pgdata, target=Target.from_options(xid="1234")
    )
    assert other.fingerprint() != req.fingerprint()
    with pytest.raises(RefusedError):
        _check_pgdata(req.pgdata, other.fingerprint())


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("port", 0, "invalid --port 0: an integer from 1 to 65535"),
        ("parallel", 65, "invalid --parallel 65: an integer from 1 to 64"),
        ("spool_max_mb", 16, "invalid --spool-max-mb 16: an integer of at least 64 (MiB)"),
        ("timeout_s", 0, "invalid --timeout 0: a positive number of seconds"),
    ],
)
def test_numbers_are_range_checked(tmp_path, field, value, message):
    with pytest.raises(InputError) as info:
        _validate_numbers(_request(tmp_path, **{field: value}))
    assert info.value.message == message


def test_default_new_server_name_is_the_source_name_plus_a_utc_stamp():
    assert re.fullmatch(r"kc-db-restored-\d{8}T\d{6}Z", default_new_server_name("kc-db"))


def test_promotion_time_is_read_from_the_server_log():
    log = (
        "2026-11-23 11:31:59.377 UTC [10164] LOG:  selected new timeline ID: 2\n"
        "2026-11-23 11:31:59.402 UTC [10164] LOG:  archive recovery complete\n"
    )
    assert _promotion_time(log) == datetime(2026, 11, 23, 11, 31, 59, 402000, tzinfo=UTC)
    assert _promotion_time("LOG:  archive recovery complete\n") is None  # another log_line_prefix
