"""``bootstrap wal-archiver``: the archive-ahead script for a self-managed primary, written (or not) on its host.

A directory shaped like a data directory stands in for the primary's (PG_VERSION, pg_wal), owned
by the PostgreSQL OS user; a stand-in barman-cloud-wal-archive marks where barman-cloud lives.
What the written script does is tested in tests/scripts/wal/test_push.py and, on a real server,
tests/integration/wal/test_parallel_archive.py.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from scripts.pg.osuser import pg_os_user
from scripts.pg.tools import ensure_pgtools
from scripts.wal import push
from tests.scripts.world import invoke


@pytest.fixture
def host(tmp_path: Path) -> dict[str, Path]:
    user = pg_os_user()
    pgdata = tmp_path / "15" / "main"
    (pgdata / "pg_wal" / "archive_status").mkdir(parents=True)
    (pgdata / "PG_VERSION").write_text("15\n")
    for path in (pgdata, pgdata / "pg_wal"):
        os.chown(path, user.uid, user.gid) if os.geteuid() == 0 else None
    barman = tmp_path / "barman" / "bin"
    barman.mkdir(parents=True)
    # A barman-cloud the PostgreSQL user can run: the lab's venv interpreter, which has barman installed.
    (barman / "barman-cloud-wal-archive").write_text(f"#!{ensure_pgtools(user).python}\n")
    (barman / "barman-cloud-wal-archive").chmod(0o755)
    return {"pgdata": pgdata, "barman": barman, "script": tmp_path / "archive-wal.sh", "spool": tmp_path / "spool"}


def argv(host: dict[str, Path], *extra: str) -> list[str]:
    return [
        "bootstrap", "wal-archiver", "--archive", "s3://idp-archive/keycloak", "--server-name", "kc-db",
        "--pgdata", str(host["pgdata"]), "--barman-bin", str(host["barman"]), "--script", str(host["script"]),
        "--spool-dir", str(host["spool"]), "--json", *extra,
    ]  # fmt: skip


def test_it_writes_the_script_and_spool_and_prints_the_command_and_its_sql(host):
    result = invoke(argv(host, "--parallel", "6", "--compression", "gzip"))
    assert result.code == 0, result.stderr
    doc = result.json()["result"]
    assert doc["archive_command"] == f"{host['script']} %p"
    assert doc["apply_with"] == [f"ALTER SYSTEM SET archive_command = '{host['script']} %p'", "SELECT pg_reload_conf()"]
    text = host["script"].read_text()
    python, uploader = ensure_pgtools(pg_os_user()).python, host["script"].with_name(push.UPLOADER_NAME)
    assert f'exec {python} {uploader} "$spool" --gzip s3://idp-archive/keycloak kc-db -- "$@"' in text
    assert "n=6" in text and f"spool={host['spool']}" in text
    assert uploader.read_text() == push.BATCH_UPLOADER
    assert stat.S_IMODE(host["script"].stat().st_mode) == 0o755
    assert stat.S_IMODE(host["spool"].stat().st_mode) == 0o700
    assert host["spool"].stat().st_uid == pg_os_user().uid


def test_a_rerun_with_the_same_options_changes_nothing(host):
    assert invoke(argv(host)).code == 0
    before = host["script"].stat().st_mtime_ns
    result = invoke(argv(host))
    assert result.code == 0
    assert result.json()["steps"][0]["detail"]["changed"] is False
    assert host["script"].stat().st_mtime_ns == before


def test_dry_run_writes_nothing(host):
    result = invoke(argv(host, "--dry-run"))
    assert result.code == 0
    assert result.json()["result"]["archive_command"] == f"{host['script']} %p"
    assert not host["script"].exists() and not host["spool"].exists()


def test_a_spool_inside_pgdata_is_refused_and_nothing_is_written(host):
    spool = host["pgdata"] / "idp-dr-spool"
    args = argv(host)
    args[args.index("--spool-dir") + 1] = str(spool)
    result = invoke(args)
    assert result.code == 2
    assert result.error_line == (
        f"invalid --spool-dir '{spool}': a directory outside PGDATA {host['pgdata']} "
        "(a base backup would carry its records into a restored server)"
    )
    assert not spool.exists() and not host["script"].exists()


@pytest.mark.parametrize("bad", ["0", "33"])
def test_parallel_outside_1_to_32_is_refused(host, bad):
    result = invoke(argv(host, "--parallel", bad))
    assert result.code == 2
    assert result.error_line == f"invalid --parallel {bad}: an integer from 1 to 32"
    assert not host["script"].exists()


def test_a_directory_that_is_no_data_directory_is_refused(host, tmp_path):
    args = argv(host)
    args[args.index("--pgdata") + 1] = str(tmp_path)
    result = invoke(args)
    assert result.code == 2
    assert (
        result.error_line
        == f"invalid --pgdata '{tmp_path}': the primary's data directory (holding PG_VERSION and pg_wal)"
    )


def test_an_unknown_compression_is_refused(host):
    result = invoke(argv(host, "--compression", "brotli"))
    assert result.code == 2
    assert result.error_line == "invalid --compression 'brotli': one of none, gzip, bzip2, xz, snappy, zstd, lz4"


def test_a_missing_barman_is_refused_naming_the_flag(host, tmp_path):
    args = argv(host)
    args[args.index("--barman-bin") + 1] = str(tmp_path)
    result = invoke(args)
    assert result.code == 2
    assert result.error_line == f"invalid --barman-bin '{tmp_path}': a directory holding barman-cloud-wal-archive"


def test_a_barman_whose_python_cannot_import_barman_is_refused_and_nothing_is_written(host, tmp_path):
    bindir = tmp_path / "plain"
    bindir.mkdir()
    (bindir / "barman-cloud-wal-archive").write_text("#!/usr/bin/python3\n")  # Debian's python, no barman
    args = argv(host)
    args[args.index("--barman-bin") + 1] = str(bindir)
    result = invoke(args)
    assert result.code == 2
    assert result.error_line.startswith(
        f"invalid --barman-bin '{bindir}': a barman-cloud whose Python {pg_os_user().name} can run and import barman "
        "from (tried /usr/bin/python3: ModuleNotFoundError: No module named 'barman'"
    )
    assert not host["script"].exists() and not host["spool"].exists()


def test_a_self_managed_stacks_outputs_name_the_archive(host, world, tmp_path):
    outputs = json.loads(world.outputs_path.read_text())
    outputs["database"] = {**outputs["database"], "mode": "self-managed"}
    path = tmp_path / "self-managed.json"
    path.write_text(json.dumps(outputs))
    args = [a for a in argv(host) if a not in ("--archive", "s3://idp-archive/keycloak", "--server-name", "kc-db")]
    result = invoke([*args, "--stack-outputs", str(path)])
    assert result.code == 0, result.stderr
    archive = outputs["archive"]
    assert (
        result.json()["result"]["archive"]
        == f"s3://{archive['primaryBucket']}/{archive['prefix']}/{archive['serverName']}"
    )


def test_an_rds_stack_is_refused(host, world):
    args = [a for a in argv(host) if a not in ("--archive", "s3://idp-archive/keycloak", "--server-name", "kc-db")]
    result = invoke([*args, "--stack-outputs", str(world.outputs_path)])
    assert result.code == 2
    assert result.error_line == (
        f"invalid --stack-outputs '{world.outputs_path}': a self-managed stack (RDS archives its own WAL)"
    )
    assert not host["script"].exists()
