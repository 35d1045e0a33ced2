"""`restore wal` against real PostgreSQL 15, moto_server and barman-cloud.

PITR tests follow pgBackRest's pattern: marker rows written before and after each
target; after the restore the markers before the target are present and those after
it are absent, the timeline moved on, the server is writable, and the source's
archive prefix did not change.
"""

from __future__ import annotations

import io
import json
import re
import time
from datetime import datetime
from pathlib import Path

import psycopg
import pytest

from scripts.cli import main
from scripts.lab.s3 import LAB_AWS_ENV
from scripts.processes import Supervisor, free_port
from scripts.report import Report
from scripts.restore.wal.recovery import Target, default_init_sync
from scripts.restore.wal.request import RestoreRequest
from scripts.restore.wal.restore import restore_wal
from scripts.timeutil import iso
from tests.integration.wal.conftest import MARKERS, PLAIN_SERVER, RESTORE_POINT, SERVER, WalSource

pytestmark = pytest.mark.integration


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def markers(socket_dir: Path, port: int) -> list[str]:
    with psycopg.connect(host=str(socket_dir), port=port, user="postgres", dbname="postgres", autocommit=True) as conn:
        return [row[0] for row in conn.execute("SELECT name FROM marker ORDER BY at")]


def query(socket_dir: Path, port: int, sql: str) -> list[tuple]:
    with (
        psycopg.connect(host=str(socket_dir), port=port, user="postgres", dbname="postgres", autocommit=True) as conn,
        conn.cursor() as cur,
    ):
        cur.execute(sql)
        return cur.fetchall() if cur.description else []


def library_request(src: WalSource, name: str, target: Target, **kw) -> RestoreRequest:
    return RestoreRequest(
        archive_url=src.archive_url,
        server_name=SERVER,
        pgdata=src.new_pgdata(name),
        target=target,
        endpoint_url=src.endpoint_url,
        port=free_port(),
        socket_dir=src.socket_dir,
        env=dict(LAB_AWS_ENV),
        **kw,
    )


def assert_restored(src: WalSource, port: int, keep: list[str], new_server_name: str) -> None:
    assert markers(src.socket_dir, port) == keep
    assert query(src.socket_dir, port, "SELECT pg_is_in_recovery()") == [(False,)]
    query(src.socket_dir, port, "INSERT INTO marker(name) VALUES ('written-after-restore')")
    assert "written-after-restore" in markers(src.socket_dir, port)
    # The restored server archives under its own name, never the source's.
    segment = query(src.socket_dir, port, "SELECT pg_walfile_name(pg_switch_wal())")[0][0]
    assert segment.startswith("00000002")
    deadline = time.monotonic() + 60
    new_prefix = f"{src.location.prefix}/{new_server_name}/wals/"
    while time.monotonic() < deadline:
        if any(k.startswith(new_prefix) and segment in k for k in src.all_keys()):
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"{segment} never reached {new_prefix}")


# ---- PITR: time, xid, restore point -----------------------------------------------------------


def test_cli_restores_to_a_time_then_promotes_on_a_new_timeline(wal_source: WalSource, supervisor: Supervisor):
    src = wal_source
    before = src.source_keys()
    pgdata = src.new_pgdata("to-time")
    argv = src.cli_args(pgdata, "--time", iso(src.t_time), "--new-server-name", "restored-time", "--json")
    port = int(argv[argv.index("--port") + 1])
    supervisor.add_cleanup("stop restored", lambda: _stop(src, pgdata))

    code, out, err = run_cli(argv)

    assert code == 0, err
    doc = json.loads(out)
    assert doc["ok"] is True
    assert [s["name"] for s in doc["steps"]] == [
        "validate",
        "fetch base backup",
        "configure recovery",
        "WAL fetch + replay",
        "finalize",
    ]
    result = doc["result"]
    assert result["backup"]["backup_id"] == src.backup_id
    assert result["new_timeline"] == 2
    assert result["new_server_name"] == "restored-time"
    assert result["window"]["earliest"] == iso(src.backup_end)
    assert result["window"]["latest_is"].startswith("last commit in the archived WAL (pg_waldump")
    assert result["running"] is True and "pg_ctl" in result["stop_with"]
    assert result["restore_command_answers"]["spool"] >= 1
    assert LAB_AWS_ENV["AWS_SECRET_ACCESS_KEY"] not in out + err
    assert {c["name"]: c["status"] for c in doc["checks"]} == {
        "promoted_new_timeline": "pass",
        "target_reached": "pass",
        "source_archive_untouched": "pass",
    }
    reached = next(c for c in doc["checks"] if c["name"] == "target_reached")
    assert reached["message"].startswith("recovery stopping before commit of transaction")
    # This kernel (5.8 or newer) gets syncfs for the first start; the line is gone after promotion.
    assert default_init_sync() == "syncfs"
    assert query(src.socket_dir, port, "SHOW recovery_init_sync_method") == [("syncfs",)]
    assert "recovery_init_sync_method" not in (pgdata / "postgresql.auto.conf").read_text()
    assert_restored(src, port, ["time-before"], "restored-time")
    assert src.source_keys() == before
    assert not pgdata.with_name("data.wal-spool").exists()

    # A second restore into the same, now running, directory is refused and changes nothing.
    code, _out, err = run_cli(src.cli_args(pgdata, "--latest"))
    assert code == 3
    pid = int((pgdata / "postmaster.pid").read_text().splitlines()[0])
    assert _error_line(err) == (
        f"refusing to restore into {pgdata}: a PostgreSQL server is running there (postmaster.pid names PID {pid})"
    )
    assert markers(src.socket_dir, port) == ["time-before", "written-after-restore"]


def test_library_restores_to_an_xid(wal_source: WalSource, supervisor: Supervisor):
    src = wal_source
    before = src.source_keys()
    req = library_request(src, "to-xid", Target.from_options(xid=str(src.xid)), new_server_name="restored-xid")
    report = Report("restore wal")

    result = restore_wal(req, report, supervisor=supervisor)

    assert report.ok
    assert result.new_timeline == 2 and result.running
    assert report.result["xid_commit_lsn"]
    assert_restored(src, req.port, ["time-before", "time-after", "xid-before"], "restored-xid")
    assert src.source_keys() == before


def test_library_restores_to_a_named_restore_point_without_prefetch(wal_source: WalSource, supervisor: Supervisor):
    src = wal_source
    before = src.source_keys()
    req = library_request(
        src,
        "to-name",
        Target.from_options(name=RESTORE_POINT),
        new_server_name="restored-name",
        prefetch=False,
        leave_running=False,
    )
    report = Report("restore wal")

    result = restore_wal(req, report, supervisor=supervisor)

    assert report.ok and not result.running
    assert result.new_timeline == 2 and result.segments_replayed >= 1 and result.prefetch is None
    assert (req.pgdata / "postmaster.pid").exists() is False
    supervisor_port = free_port()
    # Start it again (as an operator would) to look at the data.
    from scripts.restore.wal.server import RestoredServer

    auto = req.pgdata / "postgresql.auto.conf"
    auto.write_text(auto.read_text() + f"port = {supervisor_port}\n")
    server = RestoredServer(
        req.pgdata, supervisor_port, src.socket_dir, src.user, _bindir(), req.pgdata / "log" / "again.log"
    )
    server.start(dict(LAB_AWS_ENV))
    supervisor.add_cleanup("stop restored", lambda: server.stop("immediate"))
    _wait_ready(src, supervisor_port)
    assert "recovery_target_name" not in auto.read_text()  # reset after promotion
    assert query(src.socket_dir, supervisor_port, "SHOW recovery_init_sync_method") == [("fsync",)]
    assert markers(src.socket_dir, supervisor_port) == MARKERS[:5]
    assert src.source_keys() == before


def test_cli_resumes_a_restore_that_timed_out_and_replays_to_the_latest_wal(
    wal_source: WalSource, supervisor: Supervisor
):
    src = wal_source
    pgdata = src.new_pgdata("latest-resumed")
    argv = src.cli_args(pgdata, "--latest", "--no-archive")
    port = int(argv[argv.index("--port") + 1])
    supervisor.add_cleanup("stop restored", lambda: _stop(src, pgdata))

    code, _out, err = run_cli([*argv, "--timeout", "0.01"])
    assert code == 4
    assert _error_line(err) == f"the restored server in {pgdata} was not promoted within 0.01 s"
    assert "hint: it keeps replaying; re-run the same command to resume waiting" in err

    code, out, err = run_cli([*argv, "--json"])
    assert code == 0, err
    doc = json.loads(out)
    assert [(s["name"], s["status"]) for s in doc["steps"]][:2] == [
        ("validate", "resumed"),
        ("fetch base backup", "skipped"),
    ]
    assert doc["result"]["resumed"] is True and doc["result"]["archive_mode"] == "off"
    assert markers(src.socket_dir, port) == MARKERS
    last = datetime.fromisoformat(doc["result"]["last_replayed_commit"].replace("Z", "+00:00"))
    # reports carry milliseconds; the commit follows the marker's clock_timestamp()
    assert last >= src.last_commit.replace(microsecond=src.last_commit.microsecond // 1000 * 1000)
    assert doc["result"]["rpo_s"] > 0


# ---- bad inputs: exact messages, nothing written ----------------------------------------------


def _bad(
    src: WalSource,
    tmp_name: str,
    *target: str,
    extra: tuple[str, ...] = (),
    archive: str | None = None,
    endpoint: str | None = None,
    server: str = SERVER,
) -> tuple[int, str, Path]:
    pgdata = src.new_pgdata(tmp_name)
    pgdata.mkdir(parents=True)
    argv = src.cli_args(pgdata, *target, *extra)
    argv[argv.index("--server-name") + 1] = server
    if archive is not None:
        argv[argv.index("--archive") + 1] = archive
    if endpoint is not None:
        argv[argv.index("--endpoint-url") + 1] = endpoint
    keys_before = src.all_keys()
    code, _out, err = run_cli(argv)
    assert list(pgdata.iterdir()) == [], "bad input wrote into --pgdata"
    assert not pgdata.with_name("data.wal-spool").exists()
    assert src.all_keys() == keys_before, "bad input wrote into the bucket"
    return code, err, pgdata


def _error_line(err: str) -> str:
    return next(line for line in err.splitlines() if line.startswith("error: "))[len("error: ") :]


def test_refuses_a_non_empty_pgdata(wal_source: WalSource):
    src = wal_source
    pgdata = src.new_pgdata("non-empty")
    pgdata.mkdir(parents=True)
    (pgdata / "PG_VERSION").write_text("15\n")
    keys_before = src.all_keys()
    code, _out, err = run_cli(src.cli_args(pgdata, "--latest"))
    assert code == 3
    assert _error_line(err) == f"refusing to restore into non-empty directory {pgdata} (1 entries, e.g. PG_VERSION)"
    assert "hint: restore into an empty or new directory; nothing was changed" in err
    assert [p.name for p in pgdata.iterdir()] == ["PG_VERSION"]
    assert src.all_keys() == keys_before


def _window_text(src: WalSource) -> str:
    return (
        f"the restorable window is {iso(src.backup_end)} .. {iso(src.last_commit)} (exclusive; earliest = "
        f"end of the oldest usable backup {src.backup_id}, latest = last commit in the archived WAL "
        "(pg_waldump, "
    )


def test_refuses_a_time_before_the_oldest_backup_and_names_the_window(wal_source: WalSource):
    src = wal_source
    when = iso(src.t_before_backup)
    code, err, _ = _bad(src, "too-early", "--time", when)
    assert code == 2
    assert _error_line(err).startswith(
        f"invalid --time '{when}': before the end of the oldest usable backup {src.backup_id}; " + _window_text(src)
    )


def test_refuses_a_time_after_the_archived_wal_and_names_the_window(wal_source: WalSource):
    src = wal_source
    when = "2099-01-01T00:00:00Z"
    code, err, _ = _bad(src, "too-late", "--time", when)
    assert code == 2
    assert _error_line(err).startswith(
        f"invalid --time '{when}': not earlier than the newest commit in the archived WAL; " + _window_text(src)
    )


@pytest.mark.parametrize(
    ("value", "message", "hint"),
    [
        (
            "yesterday",
            "invalid --time 'yesterday': expected an ISO-8601 time with a timezone, e.g. 2026-11-23T10:15:00Z",
            None,
        ),
        (
            "2026-11-23T10:15:00",
            "invalid --time '2026-11-23T10:15:00': expected an ISO-8601 time with a timezone, "
            "e.g. 2026-11-23T10:15:00Z",
            "hint: add a timezone: '2026-11-23T10:15:00Z' for UTC, or an offset such as '2026-11-23T10:15:00+02:00'",
        ),
    ],
)
def test_refuses_malformed_times_and_times_without_a_timezone(wal_source: WalSource, value, message, hint):
    code, err, _ = _bad(wal_source, f"bad-time-{len(value)}", "--time", value)
    assert code == 2
    assert _error_line(err) == message
    if hint:
        assert hint in err.splitlines()


def test_refuses_an_unknown_backup_id(wal_source: WalSource):
    src = wal_source
    code, err, _ = _bad(src, "bad-backup", "--latest", extra=("--backup-id", "20200101T000000"))
    assert code == 2
    assert (
        _error_line(err) == f"invalid --backup-id '20200101T000000': latest, or the id of a usable backup: "
        f"{src.backup_id}"
    )


def test_refuses_a_missing_bucket(wal_source: WalSource):
    src = wal_source
    code, err, _ = _bad(src, "no-bucket", "--latest", archive="s3://no-such-bucket/pg")
    assert code == 2
    assert (
        _error_line(err) == f"invalid --archive 's3://no-such-bucket/pg': bucket 'no-such-bucket' does not "
        f"exist at {src.endpoint_url}"
    )


def test_refuses_a_missing_prefix_or_server_and_lists_what_exists(wal_source: WalSource):
    src = wal_source
    code, err, _ = _bad(src, "no-server", "--latest", server="nobody")
    assert code == 2
    assert _error_line(err) == (
        "invalid --server-name 'nobody': no barman-cloud backups under "
        f"s3://idp-dr-archive/pg/nobody/base/; server names with backups under "
        f"s3://idp-dr-archive/pg: {SERVER}, {PLAIN_SERVER}"
    )
    code, err, _ = _bad(src, "no-prefix", "--latest", archive="s3://idp-dr-archive/elsewhere")
    assert code == 2
    assert _error_line(err) == (
        "invalid --server-name 'primary': no barman-cloud backups under "
        "s3://idp-dr-archive/elsewhere/primary/base/; server names with backups under "
        "s3://idp-dr-archive/elsewhere: none"
    )


def test_reports_an_unreachable_endpoint(wal_source: WalSource):
    port = free_port()  # nothing listens there
    code, err, _ = _bad(wal_source, "no-endpoint", "--latest", endpoint=f"http://127.0.0.1:{port}")
    assert code == 5
    assert _error_line(err) == f"cannot reach the S3 endpoint http://127.0.0.1:{port} (HEAD bucket idp-dr-archive)"


def test_refuses_more_than_one_target(wal_source: WalSource, capsys):
    code, _err, _ = _bad(wal_source, "two-targets", "--latest", "--xid", "1234")
    assert code == 2
    # argparse reports usage errors on the process's stderr
    assert "error: argument --xid: not allowed with argument --latest" in capsys.readouterr().err.splitlines()


def test_refuses_an_xid_and_a_restore_point_the_archive_does_not_hold(wal_source: WalSource):
    src = wal_source
    code, err, _ = _bad(src, "bad-xid", "--xid", "999999")
    assert code == 2
    line = _error_line(err)
    match = re.fullmatch(
        r"invalid --xid '999999': no commit of this transaction in the archived WAL after the "
        r"end of any usable backup; committed xids there: from (\d+) to (\d+)",
        line,
    )
    assert match, line
    assert int(match.group(1)) <= src.xid <= int(match.group(2)) < 999999
    code, err, _ = _bad(src, "bad-name", "--name", "no-such-point")
    assert code == 2
    assert _error_line(err) == (
        "invalid --name 'no-such-point': no restore point with this name in the "
        f"archived WAL after the end of any usable backup; restore points there: "
        # barman-cloud-backup creates one named after each backup, at its end (the uncompressed one's too)
        f"barman_{src.backup_id}, barman_{src.plain_backup_id}, {RESTORE_POINT}"
    )


def test_refuses_to_archive_under_the_source_name(wal_source: WalSource):
    code, err, _ = _bad(wal_source, "same-name", "--latest", extra=("--new-server-name", SERVER))
    assert code == 3
    assert _error_line(err) == (
        "refusing to archive the restored server as 'primary': that is the source's "
        "server name, and a restored server never archives into the source's prefix"
    )


def test_dry_run_plans_and_writes_nothing(wal_source: WalSource):
    src = wal_source
    pgdata = src.new_pgdata("dry-run")
    pgdata.mkdir(parents=True)
    keys_before = src.all_keys()
    code, out, err = run_cli(src.cli_args(pgdata, "--latest", "--dry-run", "--json"))
    assert code == 0, err
    doc = json.loads(out)
    assert [s["name"] for s in doc["steps"]] == ["validate"]
    assert doc["result"]["backup"]["backup_id"] == src.backup_id
    assert doc["result"]["wal_segments_planned"] >= 2
    assert doc["result"]["dry_run"] is True
    assert "dry run: nothing was written" in doc["notes"]
    assert list(pgdata.iterdir()) == [] and src.all_keys() == keys_before


# ---- helpers ----------------------------------------------------------------------------------


def _bindir() -> Path:
    from scripts.pg.bindir import find_pg_bindir

    return find_pg_bindir()


def _stop(src: WalSource, pgdata: Path) -> None:
    from scripts.restore.wal.server import RestoredServer

    RestoredServer(pgdata, 0, src.socket_dir, src.user, _bindir(), pgdata / "log" / "stop.log").stop("immediate")


def _wait_ready(src: WalSource, port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if query(src.socket_dir, port, "SELECT pg_is_in_recovery()") == [(False,)]:
                return
        except psycopg.OperationalError:
            pass
        time.sleep(0.2)
    raise AssertionError("restarted server not ready")


def test_xid_and_name_checks_leave_nothing_behind_on_a_dry_run_or_a_later_refusal(wal_source: WalSource):
    src = wal_source
    # The restore point is found by downloading and reading WAL into the spool: a dry run removes it.
    code, err, _ = _bad(src, "dry-run-name", "--name", RESTORE_POINT, extra=("--dry-run",))
    assert code == 0, err
    # A refusal after that scan (here: the port is taken, by moto_server) removes it too.
    port = src.s3.port
    code, err, _ = _bad(src, "scan-then-port", "--xid", str(src.xid), extra=("--port", str(port)))
    assert code == 2
    assert _error_line(err) == (
        f"invalid --port {port}: a free TCP port (something already listens on 127.0.0.1:{port})"
    )
