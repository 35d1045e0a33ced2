"""``check dr-paths``' WAL-archiving check against a real PostgreSQL 15 whose archive_command fails, then works.

The faults are PostgreSQL's own: a failing ``archive_command`` (the bucket unreachable, a credential
revoked) is retried and counted in ``pg_stat_archiver``; archiving off; a server that cannot be reached.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import pytest

from scripts.check.wal_archiver import check_wal_archiver
from scripts.lab.postgres import PgCluster
from scripts.pg.bindir import pg_available
from scripts.pg.osuser import make_workspace, remove_tree
from scripts.processes import Supervisor
from scripts.report import Report
from scripts.verify.model import DbParams
from tests.conftest import need


@pytest.fixture(scope="module")
def pg() -> Iterator[tuple[PgCluster, str]]:
    need(pg_available(), "PostgreSQL 15 server binaries (apt-get install postgresql)")
    workspace = make_workspace(prefix="test-archiver-")
    try:
        with Supervisor() as supervisor:
            cluster = PgCluster.create(
                workspace, "pg", supervisor=supervisor,
                settings={"archive_mode": "on", "archive_command": "/bin/true", "wal_level": "replica"},
            )  # fmt: skip
            cluster.start()
            password = secrets.token_urlsafe(16)
            cluster.create_role_and_db("keycloak", password, "keycloak")
            yield cluster, cluster.tcp_dsn("keycloak", "keycloak", password)
    finally:
        remove_tree(workspace)


def _archive_command(cluster: PgCluster, command: str) -> None:
    cluster.execute(f"ALTER SYSTEM SET archive_command = '{command}'")
    cluster.execute("SELECT pg_reload_conf()")


_COUNTERS = {
    "archived_count": "SELECT archived_count FROM pg_stat_archiver",
    "failed_count": "SELECT failed_count FROM pg_stat_archiver",
}


def _switch_and_wait(cluster: PgCluster, column: str) -> None:
    """Write, switch to a new segment, and wait until the archiver has tried it (``column`` advanced)."""
    before = cluster.execute(_COUNTERS[column])[0][0]
    cluster.execute("CREATE TABLE IF NOT EXISTS t (v int); INSERT INTO t SELECT generate_series(1, 1000)")
    cluster.execute("SELECT pg_switch_wal()")
    deadline = time.monotonic() + 30
    while cluster.execute(_COUNTERS[column])[0][0] == before:
        assert time.monotonic() < deadline, f"the archiver did not update {column} within 30 s"
        time.sleep(0.2)


def _judge(dsn: str) -> tuple[int, dict]:
    report = Report("check")
    failing = check_wal_archiver(DbParams(dsn), report)
    [check] = report.checks
    return failing, check.to_dict()


def test_working_archiving_passes_then_a_failing_command_fails_it_then_recovery_passes_again(pg):
    cluster, dsn = pg
    _switch_and_wait(cluster, "archived_count")
    failing, check = _judge(dsn)
    assert (failing, check["status"]) == (0, "pass"), check
    assert check["message"].startswith("WAL archiving works on 127.0.0.1:")

    _archive_command(cluster, "/bin/false")  # the bucket became unreachable
    _switch_and_wait(cluster, "failed_count")
    failing, check = _judge(dsn)
    assert (failing, check["status"]) == (1, "FAIL"), check
    assert " failed at " in check["message"] and check["message"].endswith(": the archive ends there")
    assert check["evidence"]["failed_count"] >= 1

    _archive_command(cluster, "/bin/true")  # fixed: the queued segments go out
    _switch_and_wait(cluster, "archived_count")
    failing, check = _judge(dsn)
    assert (failing, check["status"]) == (0, "pass"), check


def test_an_unreachable_server_fails_the_check_naming_it(pg):
    failing, check = _judge("postgresql://keycloak@127.0.0.1:1/keycloak?connect_timeout=2")
    assert failing == 1
    assert check["message"].startswith("cannot read pg_stat_archiver on 127.0.0.1:1: ")


def test_archiving_turned_off_fails_the_check(pg):
    """Last in this module: it restarts the server with archive_mode off (a restart is what it takes)."""
    cluster, dsn = pg
    cluster.execute("ALTER SYSTEM SET archive_mode = 'off'")
    cluster.stop()
    cluster.start()
    try:
        failing, check = _judge(dsn)
        assert failing == 1 and check["message"].startswith("archive_mode is off on 127.0.0.1:"), check
    finally:
        cluster.execute("ALTER SYSTEM SET archive_mode = 'on'")
        cluster.stop()
        cluster.start()
