"""What ``backup dump`` and ``restore dump`` cost over pg_dump and pg_restore run by hand.

``python -m bench.dump [--sizes 100,1024] [--runs 3] [--jobs 1,4]``. On a real PostgreSQL 15 holding
``--sizes`` MiB of filler (the drill's generator) and moto_server as the archive, each run, arms
interleaved:

* ``pg_dump``: ``pg_dump -Fc`` to a local file (the floor: no upload, no verification);
* ``backup_dump``: our command (stream to the archive, read back, SHA-256, ``pg_restore --list``);
* ``pg_restore``: ``pg_restore --no-owner --no-privileges`` of the local file into a new database;
* ``restore_dump``: our command for each ``--jobs`` value (preflight reads the object for its
  checksum, then streams it, or stages it for ``--jobs`` > 1).

moto keeps objects in memory: the ratios say what the tool adds on this machine, not what S3 costs.
Medians and ratios go to bench/results/dump.jsonl.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import time
from pathlib import Path

from bench._common import positive_int, run_main, summarize, write_result
from scripts.cli import main as cli
from scripts.drill.data import load_filler
from scripts.lab.postgres import PgCluster
from scripts.lab.s3 import LAB_AWS_ENV, S3Server
from scripts.pg.osuser import make_workspace, remove_tree
from scripts.processes import Supervisor

BUCKET = "bench-dumps"
DB = "filler"


def _timed(fn) -> float:
    t0 = time.monotonic()
    fn()
    return time.monotonic() - t0


def _run(argv: list[str]) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = cli([*argv, "--quiet"], stdout=out, stderr=err)
    if code != 0:
        raise SystemExit(f"{argv[:2]} failed ({code}): {(out.getvalue() + err.getvalue())[-1500:]}")


class _Arms:
    """The four arms of one size, each one timed call."""

    def __init__(self, pg: PgCluster, s3: S3Server, workspace: Path):
        self.pg, self.s3 = pg, s3
        self.local = workspace / "by-hand.dump"
        self.env = {**os.environ, "PGPASSWORD": pg.superuser_password}
        self.conn = ["-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres"]

    def pg_dump(self) -> None:
        argv = [str(self.pg.bindir / "pg_dump"), *self.conn, "-Fc", "-f", str(self.local), DB]
        subprocess.run(argv, check=True, env=self.env)

    def backup_dump(self) -> None:
        dsn = self.pg.tcp_dsn(DB, "postgres", self.pg.superuser_password)
        _run(["backup", "dump", "--idp", "keycloak", "--db-dsn", dsn, "--archive", f"s3://{BUCKET}",
              "--endpoint-url", self.s3.endpoint_url, "--tier", "daily"])  # fmt: skip

    def pg_restore(self, target: str) -> None:
        self.pg.execute(f'CREATE DATABASE "{target}"')
        argv = [str(self.pg.bindir / "pg_restore"), *self.conn, "--no-owner", "--no-privileges", "-d", target]
        subprocess.run([*argv, str(self.local)], check=True, env=self.env)

    def restore_dump(self, target: str, jobs: int) -> None:
        admin = self.pg.tcp_dsn("postgres", "postgres", self.pg.superuser_password)
        _run(["restore", "dump", "--archive", f"s3://{BUCKET}", "--endpoint-url", self.s3.endpoint_url,
              "--db-dsn", admin, "--dbname", target, "--owner", "postgres", "--jobs", str(jobs), "--yes"])  # fmt: skip


def _one_size(pg: PgCluster, s3: S3Server, workspace: Path, jobs: list[int], runs: int) -> dict:
    arms = _Arms(pg, s3, workspace)
    samples: dict[str, list[float]] = {"pg_dump": [], "backup_dump": [], "pg_restore": []}
    samples |= {f"restore_dump_jobs{j}": [] for j in jobs}
    for run in range(runs):
        samples["pg_dump"].append(_timed(arms.pg_dump))
        samples["backup_dump"].append(_timed(arms.backup_dump))
        samples["pg_restore"].append(_timed(lambda run=run: arms.pg_restore(f"byhand_{run}")))
        for j in jobs:
            samples[f"restore_dump_jobs{j}"].append(
                _timed(lambda run=run, j=j: arms.restore_dump(f"ours_{run}_{j}", j))
            )
    summary: dict = {arm: summarize(values) for arm, values in samples.items()}
    med = {arm: s["median_s"] for arm, s in summary.items()}
    ratios = {"backup_dump_over_pg_dump": round(med["backup_dump"] / med["pg_dump"], 2)}
    for j in jobs:
        ratios[f"restore_dump_jobs{j}_over_pg_restore"] = round(med[f"restore_dump_jobs{j}"] / med["pg_restore"], 2)
    summary["ratios"] = ratios
    summary["dump_bytes"] = arms.local.stat().st_size
    return summary


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dump")
    parser.add_argument("--sizes", default="100", help="MiB of filler per size, comma separated")
    parser.add_argument("--runs", type=positive_int, default=3)
    parser.add_argument("--jobs", default="1,4", help="restore dump --jobs values to compare")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    jobs = [int(j) for j in args.jobs.split(",")]
    os.environ.update(LAB_AWS_ENV)
    workspace = make_workspace(prefix="bench-dump-")
    results = {}
    try:
        with Supervisor() as supervisor:
            s3 = S3Server.start(supervisor, workspace)
            s3.create_bucket(BUCKET)
            for size in sizes:
                pg = PgCluster.create(workspace, f"pg{size}", supervisor=supervisor)
                pg.start()
                load_filler(pg, size)  # database "filler"
                pg.execute("CREATE TABLE migration_model (id text, version text, update_time bigint)", dbname=DB)
                results[f"{size}MiB"] = _one_size(pg, s3, workspace, jobs, args.runs)
                pg.stop()
                print(f"{size} MiB: {results[f'{size}MiB']['ratios']}", flush=True)
    finally:
        remove_tree(workspace)
    path = write_result("dump", {"sizes_mib": sizes, "runs": args.runs, "jobs": jobs}, results)
    print(f"results appended to {path}")
    return 0


if __name__ == "__main__":
    run_main(main)
