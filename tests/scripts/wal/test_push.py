"""The archive-ahead script (scripts/wal/push.py), run by /bin/sh against a stand-in archiver.

The batch uploader runs with a stand-in for barman-cloud's modules: its ``CloudWalUploader``
copies the file into an "archive" directory and logs each upload; it fails for names listed in
``fail-once`` (then forgets them), as an upload hit by a network error would. PostgreSQL's archiver is played by
:func:`pgarch`: the oldest ``.ready`` file first, one ``archive_command`` at a time, ``.ready``
renamed to ``.done`` on success and retried on failure, as pgarch.c does. The real archiver,
barman-cloud and moto are in tests/integration/wal/test_parallel_archive.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from scripts.errors import InputError
from scripts.pg.tools import PgTools
from scripts.wal.location import ArchiveLocation
from scripts.wal.push import ParallelArchiver, barman_python, check_spool, install

#: A stand-in for barman-cloud's modules, first on the batch uploader's PYTHONPATH.
FAKE_BARMAN = {
    "barman/__init__.py": "",
    "barman/clients/__init__.py": "",
    "barman/xlog.py": "def is_history_file(path):\n    return path.endswith('.history')\n",
    "barman/cloud_providers/__init__.py": (
        "class _Cloud:\n    def close(self):\n        pass\n\n\ndef get_cloud_interface(config):\n    return _Cloud()\n"
    ),
    "barman/clients/cloud_walarchive.py": """
import argparse, os, shutil, threading

_lock = threading.Lock()


def parse_arguments(args):
    return argparse.Namespace(server_name=args[-2], compression=None, compression_level=None, history_tags=None)


def configure_logging(config):
    pass


class CloudWalUploader:
    def __init__(self, cloud_interface, server_name, compression=None, compression_level=None):
        self.server_name = server_name

    def upload_wal(self, wal_path, override_tags=None):
        name = os.path.basename(wal_path)
        with _lock:
            with open(os.environ["LOG"], "a") as fh:
                fh.write(name + "\\n")
            fail = os.environ["FAIL_ONCE"]
            names = open(fail).read().split() if os.path.exists(fail) else []
            if name in names:
                names.remove(name)
                open(fail, "w").write("".join(n + "\\n" for n in names))
                raise ConnectionError("upload of %s failed: connection reset" % name)
        shutil.copyfile(wal_path, os.path.join(os.environ["ARCHIVE"], name))
""",
}


def segment(n: int, timeline: int = 1) -> str:
    return f"{timeline:08X}{0:08X}{n:08X}"


@dataclass
class Primary:
    root: Path
    pgdata: Path
    spool: Path
    archive: Path
    log: Path
    fail_once: Path
    script: Path

    @property
    def status(self) -> Path:
        return self.pgdata / "pg_wal" / "archive_status"

    def write_segment(self, name: str, content: bytes | None = None) -> None:
        (self.pgdata / "pg_wal" / name).write_bytes(content if content is not None else name.encode() * 100)
        (self.status / f"{name}.ready").touch()

    def calls(self) -> list[str]:
        return self.log.read_text().split() if self.log.exists() else []

    def archive_command(self, wal_path: str) -> int:
        env = {
            **os.environ,
            "LOG": str(self.log),
            "FAIL_ONCE": str(self.fail_once),
            "ARCHIVE": str(self.archive),
            "PYTHONPATH": str(self.root / "fake-barman"),
        }
        cmd = f"{self.script} {wal_path}"
        return subprocess.run(["sh", "-c", cmd], cwd=self.pgdata, env=env, capture_output=True).returncode

    def pgarch(self, *, max_failures: int = 5) -> list[tuple[str, int]]:
        """PostgreSQL's archiver: oldest .ready first (history files first), serially, retried on failure."""
        answers: list[tuple[str, int]] = []
        failures = 0
        while True:
            ready = sorted(
                (p.name[: -len(".ready")] for p in self.status.glob("*.ready")),
                key=lambda n: (not n.endswith(".history"), n),
            )
            if not ready:
                return answers
            name = ready[0]
            rc = self.archive_command(f"pg_wal/{name}")
            answers.append((name, rc))
            if rc == 0:
                (self.status / f"{name}.ready").rename(self.status / f"{name}.done")
            else:
                failures += 1
                assert failures <= max_failures, answers


def make_primary(tmp_path: Path, parallel: int) -> Primary:
    pgdata = tmp_path / "data"
    (pgdata / "pg_wal" / "archive_status").mkdir(parents=True)
    archive = tmp_path / "archive"
    archive.mkdir()
    for relative, text in FAKE_BARMAN.items():
        path = tmp_path / "fake-barman" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "barman-cloud-wal-archive").write_text(f"#!{sys.executable}\n")
    spool, script = tmp_path / "spool", tmp_path / "idp-dr-archive-wal.sh"
    location = ArchiveLocation("bucket", "pg", "primary", None)
    install(ParallelArchiver(script, spool, parallel), PgTools(bindir), location, _current_user(), pgdata=pgdata)
    return Primary(tmp_path, pgdata, spool, archive, tmp_path / "calls.log", tmp_path / "fail-once", script)


def _current_user():
    import pwd

    from scripts.pg.osuser import OsUser

    entry = pwd.getpwuid(os.geteuid())
    return OsUser(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir)


def test_a_backlog_ships_in_batches_and_the_segments_shipped_ahead_are_answered_from_their_records(tmp_path):
    primary = make_primary(tmp_path, parallel=4)
    names = [segment(n) for n in range(1, 9)]
    for name in names:
        primary.write_segment(name)
    assert primary.archive_command(f"pg_wal/{names[0]}") == 0
    assert sorted(p.name for p in primary.spool.iterdir()) == [f"{name}.ok" for name in names[1:4]]
    (primary.status / f"{names[0]}.ready").rename(primary.status / f"{names[0]}.done")
    answers = primary.pgarch()
    assert answers == [(name, 0) for name in names[1:]]
    # Two batches of four: the first call of each ships it; the other three find their records.
    assert sorted(primary.calls()) == names
    assert len(primary.calls()) == len(names)  # nothing shipped twice
    for name in names:
        assert (primary.archive / name).read_bytes() == (primary.pgdata / "pg_wal" / name).read_bytes()
    assert list(primary.spool.iterdir()) == []  # every record consumed, no error kept


def test_only_segments_queued_after_the_one_asked_for_go_ahead(tmp_path):
    primary = make_primary(tmp_path, parallel=4)
    primary.write_segment(segment(5))
    primary.write_segment(segment(3))  # older, but already done: not ready any more
    (primary.status / f"{segment(3)}.ready").rename(primary.status / f"{segment(3)}.done")
    assert primary.archive_command(f"pg_wal/{segment(5)}") == 0
    assert primary.calls() == [segment(5)]


def test_parallel_1_ships_only_what_postgresql_asks_for(tmp_path):
    primary = make_primary(tmp_path, parallel=1)
    for n in range(1, 4):
        primary.write_segment(segment(n))
    assert primary.archive_command(f"pg_wal/{segment(1)}") == 0
    assert primary.calls() == [segment(1)]
    assert list(primary.spool.iterdir()) == []


def test_a_failed_upload_ahead_leaves_no_record_and_its_error_and_is_shipped_when_asked_for(tmp_path):
    primary = make_primary(tmp_path, parallel=4)
    names = [segment(n) for n in range(1, 5)]
    for name in names:
        primary.write_segment(name)
    primary.fail_once.write_text(names[2] + "\n")
    assert primary.archive_command(f"pg_wal/{names[0]}") == 0
    assert not (primary.spool / f"{names[2]}.ok").exists()
    assert "connection reset" in (primary.spool / f"{names[2]}.err").read_text()
    (primary.status / f"{names[0]}.ready").rename(primary.status / f"{names[0]}.done")
    assert primary.pgarch() == [(name, 0) for name in names[1:]]
    assert primary.calls().count(names[2]) == 2  # failed ahead, shipped again when asked for
    assert primary.calls().count(names[1]) == 1 and primary.calls().count(names[3]) == 1
    assert (primary.archive / names[2]).exists()
    assert list(primary.spool.iterdir()) == []  # the error went with the successful upload


def test_the_segment_asked_for_fails_when_its_own_upload_fails_even_if_those_ahead_succeeded(tmp_path):
    primary = make_primary(tmp_path, parallel=3)
    names = [segment(n) for n in range(1, 4)]
    for name in names:
        primary.write_segment(name)
    primary.fail_once.write_text(names[0] + "\n")
    assert primary.archive_command(f"pg_wal/{names[0]}") == 1
    assert not (primary.archive / names[0]).exists()
    assert primary.pgarch() == [(names[0], 0), (names[1], 0), (names[2], 0)]
    assert sorted(primary.calls()) == sorted([names[0], *names])  # the retry of the failed one only


def test_a_record_of_another_file_under_the_same_name_is_not_trusted(tmp_path):
    primary = make_primary(tmp_path, parallel=2)
    name = segment(7)
    primary.write_segment(name)
    (primary.spool / f"{name}.ok").write_text("1 16777216 1700000000\n")  # a foreign or stale record
    assert primary.archive_command(f"pg_wal/{name}") == 0
    assert primary.calls() == [name]  # shipped, not skipped
    assert not (primary.spool / f"{name}.ok").exists()


def test_a_segment_rewritten_after_it_was_shipped_ahead_is_shipped_again(tmp_path):
    primary = make_primary(tmp_path, parallel=2)
    first, second = segment(1), segment(2)
    primary.write_segment(first)
    primary.write_segment(second)
    assert primary.archive_command(f"pg_wal/{first}") == 0
    assert (primary.spool / f"{second}.ok").exists()
    wal = primary.pgdata / "pg_wal" / second
    wal.unlink()  # a different file now carries the name (another inode)
    wal.write_bytes(b"other content" * 10)
    assert primary.archive_command(f"pg_wal/{second}") == 0
    assert sorted(primary.calls()) == [first, second, second]
    assert (primary.archive / second).read_bytes() == b"other content" * 10


def test_history_files_are_shipped_alone_and_nothing_goes_ahead_of_them(tmp_path):
    primary = make_primary(tmp_path, parallel=4)
    (primary.pgdata / "pg_wal" / "00000002.history").write_text("1\t0/3000000\tno recovery target specified\n")
    (primary.status / "00000002.history.ready").touch()
    primary.write_segment(segment(3, timeline=2))
    assert primary.archive_command("pg_wal/00000002.history") == 0
    assert primary.calls() == ["00000002.history"]


def test_a_spool_inside_pgdata_is_refused_before_anything_is_written(tmp_path):
    pgdata = tmp_path / "data"
    pgdata.mkdir()
    spool = pgdata / "archive-spool"
    with pytest.raises(InputError) as err:
        install(
            ParallelArchiver(tmp_path / "archive.sh", spool),
            PgTools(tmp_path),
            ArchiveLocation("bucket", "pg", "primary", None),
            _current_user(),
            pgdata=pgdata,
        )
    assert str(err.value) == (
        f"invalid spool '{spool}': a directory outside PGDATA {pgdata} "
        "(a base backup would carry its records into a restored server)"
    )
    assert not spool.exists() and not (tmp_path / "archive.sh").exists()
    check_spool(tmp_path / "spool", pgdata)  # beside PGDATA is fine


@pytest.mark.parametrize("bad", [0, 33, True, "4"])
def test_parallel_outside_1_to_32_is_refused(tmp_path, bad):
    with pytest.raises(InputError) as err:
        ParallelArchiver(tmp_path / "a.sh", tmp_path / "spool", bad)
    assert str(err.value) == f"invalid parallel {bad!r}: an integer from 1 to 32"


def test_the_archive_command_quotes_the_script_path(tmp_path):
    archiver = ParallelArchiver(tmp_path / "a dir" / "archive.sh", tmp_path / "spool", 2)
    assert archiver.command() == f"'{tmp_path}/a dir/archive.sh' %p"


def test_the_uploader_runs_in_barman_clouds_own_interpreter(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "barman-cloud-wal-archive").write_text("#!/opt/barman/venv/bin/python3\nimport sys\n")
    assert barman_python(PgTools(bindir)) == "/opt/barman/venv/bin/python3"
    (bindir / "barman-cloud-wal-archive").write_text("#!/usr/bin/env python3\n")
    assert barman_python(PgTools(bindir)) == "python3"
    (bindir / "barman-cloud-wal-archive").write_text("ELF\n")  # a frozen binary: the python beside it
    assert barman_python(PgTools(bindir)) == str(bindir / "python")


def test_a_spool_that_is_gone_still_ships_what_postgresql_asks_for_alone(tmp_path):
    primary = make_primary(tmp_path, parallel=4)
    names = [segment(n) for n in range(1, 4)]
    for name in names:
        primary.write_segment(name)
    primary.spool.rmdir()  # cleaned away (a tmpfs after a reboot, an operator): no record can be kept
    assert primary.archive_command(f"pg_wal/{names[0]}") == 0
    assert primary.calls() == [names[0]]  # nothing went ahead: it could not be recorded
    assert primary.pgarch() == [(name, 0) for name in names]
    assert sorted(primary.calls()) == sorted([names[0], *names])  # the first twice: asked again by pgarch
