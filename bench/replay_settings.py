"""WAL replay under different server settings: what the restored server itself can take off the WAL phase.

The drill's source (``--data-mb`` of filler, a base backup, then ``--wal-mb`` of the drill's WAL
churn) is restored again and again from local disk (``restore_command = cp``, the replay floor of
bench.restore_wal), each time with one setting changed, arms interleaved:

* ``default``: PostgreSQL's defaults (``recovery_init_sync_method = fsync``);
* ``syncfs``: ``recovery_init_sync_method = syncfs`` (``restore wal``'s default on Linux >= 5.8);
* ``prefetch_off``: ``recovery_prefetch = off`` (the default ``try`` looks ahead for blocks to read);
* ``shared_buffers_1g``: ``shared_buffers = 1GB`` (the source's is 128 MB);
* ``max_wal_size_8g``: ``max_wal_size = 8GB``, ``checkpoint_timeout = 1h`` (fewer restartpoints);
* ``pause_then_promote``: ``recovery_target_action = pause``, then ``pg_promote()``: a promotion
  without the end-of-recovery checkpoint.

Per run it records the time from ``pg_ctl start`` to a writable server, and from the server's log
the time it took to make PGDATA durable before recovery (the init sync), the redo's elapsed and CPU
time, and the end-of-recovery checkpoint's. Every run checks the marker rows (before the target
present, after it absent).

Usage: python -m bench.replay_settings [--data-mb 300] [--wal-mb 1024] [--runs 3]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import statistics
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench._common import positive_int, run_main, summarize, write_result
from scripts.drill.data import generate_wal, load_filler
from scripts.lab.postgres import PgCluster
from scripts.lab.s3 import LAB_AWS_ENV, S3Server
from scripts.pg.bindir import find_pg_bindir
from scripts.pg.osuser import OsUser, make_user_dir, make_workspace, pg_os_user, remove_tree
from scripts.pg.tools import ensure_pgtools
from scripts.processes import Supervisor, free_port
from scripts.restore.wal.phases import _ensure_postgresql_conf
from scripts.restore.wal.recovery import Target, render_auto_conf
from scripts.restore.wal.server import RestoredServer, wait_promoted
from scripts.timeutil import iso
from scripts.wal import archive, base_fetch
from scripts.wal.catalog import Catalog
from scripts.wal.fetch import fetch_decompressed
from scripts.wal.location import ArchiveLocation

ARMS: dict[str, dict[str, str]] = {
    "default": {},
    "syncfs": {"recovery_init_sync_method": "syncfs"},
    "prefetch_off": {"recovery_prefetch": "off"},
    "shared_buffers_1g": {"shared_buffers": "1GB"},
    "max_wal_size_8g": {"max_wal_size": "8GB", "checkpoint_timeout": "1h"},
    "pause_then_promote": {"recovery_target_action": "pause"},
}
_STAMP = r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) UTC \[\d+\] LOG:  "


def _at(log: str, message: str) -> datetime | None:
    found = re.search(_STAMP + message, log, re.M)
    return datetime.fromisoformat(found[1]) if found else None


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return None if start is None or end is None else round((end - start).total_seconds(), 3)


def from_log(log: str) -> dict[str, Any]:
    """The init sync, the redo and the end-of-recovery checkpoint, from the restored server's log."""
    redo = re.search(
        r"redo done at \S+ system usage: CPU: user: ([\d.]+) s, system: ([\d.]+) s, elapsed: ([\d.]+)", log
    )
    return {
        "init_sync_s": _seconds(_at(log, "database system was interrupted"), _at(log, "starting point-in-time")),
        "redo_elapsed_s": float(redo[3]) if redo else None,
        "redo_cpu_s": round(float(redo[1]) + float(redo[2]), 3) if redo else None,
        "end_checkpoint_s": _seconds(
            _at(log, "archive recovery complete"), _at(log, "database system is ready to accept connections")
        ),
        "end_of_recovery_checkpoint": "checkpoint starting: end-of-recovery" in log,
    }  # fmt: skip


def build_source(sup: Supervisor, workspace: Path, args: argparse.Namespace) -> dict[str, Any]:
    os.environ.update({k: v for k, v in LAB_AWS_ENV.items() if k not in os.environ})
    user = pg_os_user()
    tools = ensure_pgtools(user)
    s3 = S3Server.start(sup, workspace)
    s3.create_bucket("idp-dr-bench-replay", versioning=False)
    location = ArchiveLocation("idp-dr-bench-replay", "pg", "primary", s3.endpoint_url)
    settings = {
        "wal_level": "replica",
        "archive_mode": "on",
        "archive_command": archive.archive_command(tools, location),
    }
    primary = PgCluster.create(workspace, "primary", supervisor=sup, settings=settings)
    env = dict(LAB_AWS_ENV)
    primary.start(env=env)
    load_filler(primary, args.data_mb)
    backup_id = archive.take_base_backup(
        tools, user, location, socket_dir=primary.socket_dir, port=primary.port, env=env
    )
    generate_wal(primary, args.wal_mb)
    primary.execute("CREATE TABLE marker (name text)")
    primary.execute("INSERT INTO marker VALUES ('before')")
    time.sleep(1.2)
    target = primary.execute("SELECT clock_timestamp()")[0][0]
    time.sleep(1.2)
    primary.execute("INSERT INTO marker VALUES ('after')")
    archive.switch_and_wait_archived(primary.execute, timeout=1800)
    primary.crash()
    client = location.client()
    staged = make_user_dir(workspace / "wal", user, 0o755)
    for item in Catalog.load(location).wal:
        if not item.partial:
            (staged / item.name).write_bytes(fetch_decompressed(location, item.key, item.compression, client))
    subprocess.run(["chown", "-R", f"{user.name}:", str(staged)], check=True)
    tars = base_fetch.backup_tars(location, backup_id, client)
    return {"user": user, "location": location, "client": client, "tars": tars, "staged": staged, "target": target}


def one_run(src: dict[str, Any], workspace: Path, socket_dir: Path, arm: str) -> dict[str, Any]:
    user: OsUser = src["user"]
    root = workspace / f"{arm}-{time.monotonic_ns()}"
    root.mkdir()
    root.chmod(0o755)
    pgdata = make_user_dir(root / "data", user, 0o700)
    base_fetch.extract(src["location"], src["tars"], pgdata, user, client=src["client"])
    os.sync()  # every arm starts from the same clean page cache
    _ensure_postgresql_conf(pgdata, user)
    port = free_port()
    conf = render_auto_conf(
        target=Target.from_options(time=iso(src["target"])), restore_command=f"cp {src['staged']}/%f %p",
        archive_command=None, port=port, listen_addresses="127.0.0.1", socket_dir=str(socket_dir),
    )  # fmt: skip
    extra = "".join(f"{key} = '{value}'\n" for key, value in ARMS[arm].items())
    auto = pgdata / "postgresql.auto.conf"
    auto.write_text((auto.read_text() if auto.exists() else "") + "\n" + conf + extra)
    (pgdata / "recovery.signal").touch()
    make_user_dir(pgdata / "log", user, 0o700)
    subprocess.run(["chown", "-R", f"{user.name}:", str(root)], check=True)
    server = RestoredServer(pgdata, port, socket_dir, user, find_pg_bindir(), pgdata / "log" / "replay.log")
    try:
        t0 = time.monotonic()
        server.start(dict(LAB_AWS_ENV))
        if arm == "pause_then_promote":
            _promote_when_paused(server)
        else:
            wait_promoted(server, timeout=1800, progress=None, spool=None, planned=0)
        writable_s = time.monotonic() - t0
        markers = sorted(r[0] for r in server.query("SELECT name FROM marker"))
        if markers != ["before"]:
            raise RuntimeError(f"arm {arm}: restored markers {markers}, expected ['before']")
        return {"writable_s": round(writable_s, 3), **from_log(server.log_text())}
    finally:
        with contextlib.suppress(Exception):
            server.stop("immediate")
        remove_tree(root)


def _promote_when_paused(server: RestoredServer) -> None:
    """Watch the log (as the other arms do: a connection every few ms would take CPU from replay), then promote."""
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        if "pausing at the end of recovery" in server.log_text():
            server.query("SELECT pg_promote(true, 600)")
            return
        time.sleep(0.05)
    raise RuntimeError("the server did not pause at the target within 1800 s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.replay_settings", description=__doc__.splitlines()[0])
    parser.add_argument("--data-mb", type=positive_int, default=300, help="MiB of filler in the backup (default 300)")
    parser.add_argument("--wal-mb", type=positive_int, default=1024, help="MiB of WAL after it (default 1024)")
    parser.add_argument("--runs", type=positive_int, default=3, help="runs per arm, interleaved (default 3)")
    parser.add_argument("--no-write", action="store_true", help="do not append to bench/results")
    args = parser.parse_args(argv)
    workspace = make_workspace(prefix="bench-replay-")
    samples: dict[str, list[dict[str, Any]]] = {arm: [] for arm in ARMS}
    try:
        with Supervisor() as sup:
            print(f"[bench] source: {args.data_mb} MiB of data, {args.wal_mb} MiB of WAL after the backup", flush=True)
            src = build_source(sup, workspace, args)
            socket_dir = make_user_dir(workspace / "sock", src["user"], 0o755)
            for run in range(args.runs):
                for arm in ARMS:
                    result = one_run(src, workspace, socket_dir, arm)
                    samples[arm].append(result)
                    print(f"[bench] run {run + 1} {arm}: {result}", flush=True)
    finally:
        remove_tree(workspace)
    results = _summary(samples)
    for arm, row in results.items():
        print(f"{arm:20s} writable {row['writable_s']['median_s']:.2f} s ({row['vs_default']:.2f}x default)")
    if not args.no_write:
        print(f"[bench] wrote {write_result('replay_settings', vars(args) | {'arms': ARMS}, results)}")
    return 0


def _summary(samples: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    base = statistics.median(r["writable_s"] for r in samples["default"])
    out: dict[str, Any] = {}
    for arm, runs in samples.items():
        row: dict[str, Any] = {"writable_s": summarize([r["writable_s"] for r in runs])}
        for key in ("init_sync_s", "redo_elapsed_s", "redo_cpu_s", "end_checkpoint_s"):
            values = [r[key] for r in runs if r[key] is not None]
            row[f"{key}_median"] = round(statistics.median(values), 3) if values else None
        row["end_of_recovery_checkpoint"] = all(r["end_of_recovery_checkpoint"] for r in runs)
        row["vs_default"] = round(row["writable_s"]["median_s"] / base, 3)
        out[arm] = row
    return out


if __name__ == "__main__":
    run_main(main)
