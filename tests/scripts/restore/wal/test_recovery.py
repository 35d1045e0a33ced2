"""Targets, the restorable window and the recovery settings we write (pure logic)."""

from __future__ import annotations

import shlex
from datetime import UTC, datetime

import pytest

from scripts.errors import InputError
from scripts.restore.wal.recovery import (
    BEGIN_MARK,
    END_MARK,
    Target,
    Window,
    check_time_in_window,
    default_init_sync,
    render_auto_conf,
    restore_command_line,
    without_recovery_settings,
)

T0 = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)
T1 = datetime(2026, 11, 23, 12, 0, 0, 500000, tzinfo=UTC)
WINDOW = Window(T0, T1, "end of the oldest usable backup B1", "last commit in the archived WAL (pg_waldump, S..S)")


def test_exactly_one_target_is_required():
    with pytest.raises(InputError) as info:
        Target.from_options(time="2026-11-23T10:00:00Z", xid="7")
    assert info.value.message == ("invalid target '--time --xid': exactly one of --time, --xid, --name or --latest")
    with pytest.raises(InputError) as info:
        Target.from_options()
    assert info.value.message == "invalid target None: exactly one of --time, --xid, --name or --latest"


def test_time_target_needs_a_timezone():
    with pytest.raises(InputError) as info:
        Target.from_options(time="2026-11-23T10:00:00")
    assert info.value.message == (
        "invalid --time '2026-11-23T10:00:00': expected an ISO-8601 time with a timezone, e.g. 2026-11-23T10:15:00Z"
    )


@pytest.mark.parametrize("bad", ["abc", "-1", "2", "1.5", ""])
def test_xid_must_be_a_normal_transaction_id(bad):
    with pytest.raises(InputError) as info:
        Target.from_options(xid=bad)
    assert info.value.message == (
        f"invalid --xid {bad!r}: a transaction id: an integer from 3 (e.g. the value "
        "of txid_current() in the transaction to keep)"
    )


def test_restore_point_name_length_is_bounded_like_postgresql():
    assert Target.from_options(name="x" * 63).value == "x" * 63
    with pytest.raises(InputError) as info:
        Target.from_options(name="x" * 64)
    assert info.value.field == "--name"


def test_time_inside_the_window_passes_and_outside_names_the_window():
    inside = Target.from_options(time="2026-11-23T11:00:00Z")
    check_time_in_window(inside, WINDOW)
    early = Target.from_options(time="2026-11-23T09:59:59Z")
    with pytest.raises(InputError) as info:
        check_time_in_window(early, WINDOW)
    assert info.value.message == (
        "invalid --time '2026-11-23T09:59:59Z': before the end of the oldest usable backup B1; "
        "the restorable window is 2026-11-23T10:00:00Z .. 2026-11-23T12:00:00.500Z (exclusive; "
        "earliest = end of the oldest usable backup B1, latest = last commit in the archived WAL "
        "(pg_waldump, S..S))"
    )
    late = Target.from_options(time="2026-11-23T12:00:00.500Z")  # == newest commit: no record after it
    with pytest.raises(InputError) as info:
        check_time_in_window(late, WINDOW)
    assert "not earlier than the newest commit in the archived WAL; the restorable window is" in info.value.message


def test_window_edges_are_exclusive():
    assert not WINDOW.contains(T0)
    assert not WINDOW.contains(T1)
    assert WINDOW.contains(datetime(2026, 11, 23, 10, 0, 0, 1, tzinfo=UTC))


def test_auto_conf_has_exactly_one_target_promote_and_our_own_archive_name():
    target = Target.from_options(time="2026-11-23T12:15:00+02:00")
    text = render_auto_conf(
        target=target,
        restore_command=restore_command_line("/spool/it's.sh"),
        archive_command="barman-cloud-wal-archive s3://b/p new %p",
        port=5433,
        listen_addresses="127.0.0.1",
        socket_dir="/run/pg",
        new_server_name="new",
    )
    lines = text.splitlines()
    assert lines[0] == BEGIN_MARK and lines[-1] == END_MARK
    expected = "restore_command = " + "'" + shlex.quote("/spool/it's.sh").replace("'", "''") + " %f %p'"
    assert expected == "restore_command = '''/spool/it''\"''\"''s.sh'' %f %p'"
    assert expected in lines
    assert "recovery_target_time = '2026-11-23 10:15:00+00:00'" in lines
    assert [
        ln
        for ln in lines
        if ln.startswith("recovery_target_")
        and not ln.startswith(("recovery_target_action", "recovery_target_timeline"))
    ] == ["recovery_target_time = '2026-11-23 10:15:00+00:00'"]
    assert "recovery_target_action = 'promote'" in lines
    assert "archive_mode = 'on'" in lines
    assert "archive_command = 'barman-cloud-wal-archive s3://b/p new %p'" in lines
    assert "port = 5433" in lines


def _latest_conf(**overrides) -> str:
    """Our block for a latest target without archiving, with ``overrides`` applied."""
    settings = {
        "target": Target.from_options(latest=True),
        "restore_command": "x %f %p",
        "archive_command": None,
        "port": 5432,
        "listen_addresses": "*",
        "socket_dir": "/tmp",
    }
    return render_auto_conf(**(settings | overrides))


def test_auto_conf_for_latest_has_no_target_and_no_archive_turns_archiving_off():
    text = _latest_conf()
    assert "recovery_target_time =" not in text and "recovery_target_action =" not in text
    assert "archive_mode = 'off'" in text.splitlines()
    assert "archive_command = ''" in text.splitlines()


@pytest.mark.parametrize(
    ("kind", "value", "setting"),
    [
        ("xid", "1234", "recovery_target_xid = '1234'"),
        ("name", "before 'upgrade'", "recovery_target_name = 'before ''upgrade'''"),
    ],
)
def test_xid_and_name_targets_render_quoted(kind, value, setting):
    target = Target.from_options(**{kind: value})
    text = render_auto_conf(
        target=target,
        restore_command="x",
        archive_command=None,
        port=1,
        listen_addresses="127.0.0.1",
        socket_dir="/tmp",
    )
    assert setting in text.splitlines()


@pytest.mark.parametrize(
    ("system", "release", "method"),
    [
        ("Linux", "6.18.44-fc-v657", "syncfs"),
        ("Linux", "5.8.0-1-amd64", "syncfs"),
        ("Linux", "5.4.0-150-generic", "fsync"),  # syncfs() reports no write-back errors before 5.8
        ("Linux", "4.19.0", "fsync"),
        ("Linux", "unknown", "fsync"),
        ("Darwin", "23.1.0", "fsync"),
    ],
)
def test_the_init_sync_default_is_syncfs_only_where_the_kernel_reports_its_errors(system, release, method):
    assert default_init_sync(system, release) == method


def test_auto_conf_sets_the_init_sync_method_asked_for():
    assert "recovery_init_sync_method = 'syncfs'" in _latest_conf(init_sync="syncfs").splitlines()


def test_after_promotion_the_target_goes_everywhere_and_our_init_sync_only_from_our_block():
    source_own = "recovery_init_sync_method = 'fsync'\nrecovery_target_xid = '77'\nwork_mem = '64MB'\n"
    ours = _latest_conf(target=Target.from_options(xid="1234"), init_sync="syncfs")
    left = without_recovery_settings(source_own + ours).splitlines()
    assert "recovery_init_sync_method = 'fsync'" in left  # the source's own choice stays
    assert "recovery_init_sync_method = 'syncfs'" not in left
    assert not [ln for ln in left if ln.startswith(("recovery_target", "restore_command"))]
    assert "work_mem = '64MB'" in left and "port = 5432" in left and left[-1] == END_MARK
