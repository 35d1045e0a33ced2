"""bench.replay_settings reads its phases from a PostgreSQL 15 log: a real restore's lines (the 1 GiB drill)."""

from __future__ import annotations

from bench.replay_settings import from_log

LOG = """\
2026-12-01 19:09:21.838 UTC [5950] LOG:  database system was interrupted; last known up at 2026-12-01 19:08:25 UTC
2026-12-01 19:09:21.838 UTC [5950] LOG:  creating missing WAL directory "pg_wal/archive_status"
2026-12-01 19:09:22.318 UTC [5950] LOG:  starting point-in-time recovery to 2026-12-01 19:09:03.091+00
2026-12-01 19:09:22.324 UTC [5950] LOG:  redo starts at 0/54000028
2026-12-01 19:09:27.082 UTC [5950] LOG:  redo done at 0/98C64C68 system usage: CPU: user: 3.40 s, system: 0.47 s, \
elapsed: 4.75 s
2026-12-01 19:09:27.106 UTC [5950] LOG:  archive recovery complete
2026-12-01 19:09:27.237 UTC [5948] LOG:  checkpoint starting: end-of-recovery immediate wait wal
2026-12-01 19:09:27.409 UTC [5947] LOG:  database system is ready to accept connections
"""


def test_the_init_sync_redo_and_end_checkpoint_come_from_the_log():
    assert from_log(LOG) == {
        "init_sync_s": 0.48,
        "redo_elapsed_s": 4.75,
        "redo_cpu_s": 3.87,
        "end_checkpoint_s": 0.303,
        "end_of_recovery_checkpoint": True,
    }


def test_a_log_without_those_lines_gives_none_not_a_guess():
    assert from_log("2026-12-01 19:09:21.834 UTC [5947] LOG:  starting PostgreSQL 15.18\n") == {
        "init_sync_s": None,
        "redo_elapsed_s": None,
        "redo_cpu_s": None,
        "end_checkpoint_s": None,
        "end_of_recovery_checkpoint": False,
    }
