"""Benchmark WAL archiving throughput: a backlog drained by PostgreSQL's own archiver.

``python -m bench.archive_wal [--segments 32] [--runs 3] [--parallel 2,4,8]``

A write burst (or a bucket unreachable for a while) leaves a backlog of segments PostgreSQL has
queued (``.ready``); the RPO grows by the time the archiver needs to empty it. Built once: a real
PostgreSQL 15 whose ``archive_command`` fails while it writes ``--segments`` full segments, then a
clean stop: that data directory, backlog included, is the template every run copies (untimed).

Arms, interleaved, each run on a fresh copy of the template archiving under a fresh server name:

* **serial** ``barman-cloud-wal-archive`` per segment (the archive_command before the archive-ahead
  script; what CloudNativePG runs with ``wal.maxParallel`` = 1);
* **ahead-N** the archive-ahead script (:mod:`scripts.wal.push`) with ``parallel`` N: batches of N
  uploaded by one Python process with barman-cloud's own uploader;
* **raw-N** the same segment files PUT by N boto3 threads into the same store (no PostgreSQL, no
  barman-cloud): what the machine and the store can carry.

Timed: from ``pg_reload_conf()`` with the arm's ``archive_command`` until ``pg_stat_archiver``
reports the last queued segment (the wait polls every 50 ms). Nothing is asserted; medians and
the ahead-N / raw-N and serial / ahead-N ratios of one run go to ``bench/results/archive_wal.jsonl``.
moto keeps objects in memory on the same 2 vCPUs: absolute MiB/s are not S3's.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench._common import positive_int, run_main, summarize, write_result
from scripts.lab.postgres import PgCluster
from scripts.lab.s3 import LAB_AWS_ENV, S3Server
from scripts.pg.osuser import make_workspace, pg_os_user, remove_tree
from scripts.pg.tools import ensure_pgtools
from scripts.processes import Supervisor
from scripts.wal import archive, push
from scripts.wal.location import ArchiveLocation

BUCKET = "bench-archive"
PREFIX = "pg"
SEGMENT = 16 * 1024 * 1024


def build_template(sup: Supervisor, workspace: Path, segments: int) -> tuple[PgCluster, list[str]]:
    """A stopped primary with ``segments`` full segments queued for archiving."""
    primary = PgCluster.create(
        workspace,
        "template",
        supervisor=sup,
        settings={
            "wal_level": "replica",
            "archive_mode": "on",
            "archive_command": "/bin/false",
            "max_wal_size": "4GB",
        },
    )
    primary.start()
    primary.execute("CREATE TABLE filler (id int, payload text)")
    status = primary.datadir / "pg_wal" / "archive_status"
    while len(list(status.glob("*.ready"))) < segments:
        # md5 text does not compress, as real row data mostly does not; about 12 MiB of WAL a round.
        primary.execute("INSERT INTO filler SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 60000) g")
    primary.stop("fast")
    queued = sorted(p.name[: -len(".ready")] for p in status.glob("*.ready") if len(p.name) == 24 + 6)
    return primary, queued


def run_archiver(
    sup: Supervisor, template: PgCluster, workspace: Path, name: str, command_for: Any, queued: list[str]
) -> float:
    """Copy the template, start it with archiving failing, switch to the arm's command; seconds to drain."""
    cluster = PgCluster.create(workspace, name, supervisor=sup, settings=template.settings, initdb=False)
    # cp -a keeps the PostgreSQL user's ownership and modes; the settings file gets this copy's port.
    subprocess.run(["cp", "-a", f"{template.datadir}/.", str(cluster.datadir)], check=True)
    cluster.write_settings({"archive_command": "/bin/false"})
    command = command_for(cluster)
    try:
        cluster.start(env=dict(LAB_AWS_ENV))
        cluster.write_settings({"archive_command": command})
        t0 = time.monotonic()
        cluster.execute("SELECT pg_reload_conf()")
        archive.wait_archived(cluster.execute, queued[-1], timeout=1800, poll=0.05)
        return time.monotonic() - t0
    finally:
        cluster.stop_if_running()
        remove_tree(cluster.root)


def raw_puts(s3: S3Server, template: PgCluster, queued: list[str], threads: int, prefix: str) -> float:
    """The same segment files PUT by ``threads`` boto3 threads: the store's and machine's capacity."""
    client = s3.client()
    wal = template.datadir / "pg_wal"

    def put(name: str) -> None:
        client.put_object(Bucket=BUCKET, Key=f"{prefix}/{name}", Body=(wal / name).read_bytes())

    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(put, queued))
    return time.monotonic() - t0


def _widths(text: str) -> list[int]:
    try:
        values = sorted({int(w) for w in text.split(",")})
    except ValueError:
        values = []
    if not values or not all(2 <= w <= push.MAX_PARALLEL for w in values):
        raise argparse.ArgumentTypeError(f"{text!r}: comma-separated whole numbers from 2 to {push.MAX_PARALLEL}")
    return values


def run_arm(arm: str, run: int, ctx: dict[str, Any]) -> float:
    """One run of one arm, on its own server name; seconds to archive the backlog."""
    tag = f"{arm}-{run}"
    location = ArchiveLocation(BUCKET, PREFIX, tag, ctx["s3"].endpoint_url)
    tools, user, workspace = ctx["tools"], ctx["user"], ctx["workspace"]
    if arm.startswith("raw-"):
        return raw_puts(ctx["s3"], ctx["template"], ctx["queued"], int(arm[4:]), f"raw/{tag}")
    if arm == "serial":

        def command_for(_cluster: PgCluster) -> str:
            return archive.archive_command(tools, location)
    else:

        def command_for(cluster: PgCluster) -> str:
            width = int(arm.split("-")[1])
            archiver = push.ParallelArchiver(workspace / f"{tag}.sh", workspace / f"{tag}.spool", width)
            return push.install(archiver, tools, location, user, pgdata=cluster.datadir)

    return run_archiver(ctx["sup"], ctx["template"], workspace, tag, command_for, ctx["queued"])


def measure(args: argparse.Namespace, arms: list[str]) -> tuple[dict[str, list[float]], int]:
    """Every arm ``args.runs`` times, interleaved; returns the samples and the backlog's length."""
    os.environ.update({k: v for k, v in LAB_AWS_ENV.items() if k not in os.environ})
    workspace = make_workspace(prefix="bench-archive-wal-")
    samples: dict[str, list[float]] = {arm: [] for arm in arms}
    try:
        with Supervisor() as sup:
            user = pg_os_user()
            ctx: dict[str, Any] = {"sup": sup, "user": user, "tools": ensure_pgtools(user), "workspace": workspace}
            ctx["s3"] = S3Server.start(sup, workspace)
            ctx["s3"].create_bucket(BUCKET, versioning=False)
            print(f"[bench] writing a backlog of {args.segments} segments...", flush=True)
            ctx["template"], ctx["queued"] = build_template(sup, workspace, args.segments)
            mib = len(ctx["queued"]) * SEGMENT / 2**20
            for run in range(args.runs):
                for arm in arms:
                    seconds = run_arm(arm, run, ctx)
                    samples[arm].append(seconds)
                    print(f"[bench] run {run + 1} {arm}: {seconds:.2f} s, {mib / seconds:.0f} MiB/s", flush=True)
    finally:
        remove_tree(workspace)
    return samples, len(ctx["queued"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.archive_wal", description=__doc__.split("\n\n")[0])
    parser.add_argument("--segments", type=positive_int, default=32, help="backlog, in 16 MiB segments (default: 32)")
    parser.add_argument("--runs", type=positive_int, default=3, help="runs per arm, interleaved (default: 3)")
    parser.add_argument(
        "--parallel",
        type=_widths,
        default=[2, 4, 8],
        help=f"archive-ahead widths to measure, comma-separated, each 2-{push.MAX_PARALLEL} (default: 2,4,8)",
    )
    parser.add_argument("--no-write", action="store_true", help="do not append to bench/results")
    args = parser.parse_args(argv)
    widths = args.parallel
    arms = ["serial", *(f"ahead-{w}" for w in widths), *(f"raw-{w}" for w in sorted({1, *widths}))]
    load_start = os.getloadavg()
    samples, segments = measure(args, arms)

    mib = segments * SEGMENT / 2**20
    results: dict[str, Any] = {}
    for arm, runs in samples.items():
        stats = summarize(runs)
        results[arm] = {**stats, "runs_s": [round(r, 3) for r in runs], "mib_per_s": round(mib / stats["median_s"], 1)}
    ratios: dict[str, float] = {}
    for w in widths:
        ahead_s = results[f"ahead-{w}"]["median_s"]
        ratios[f"ahead_{w}_throughput_over_raw_{w}"] = round(results[f"raw-{w}"]["median_s"] / ahead_s, 3)
        ratios[f"ahead_{w}_speedup_over_serial"] = round(results["serial"]["median_s"] / ahead_s, 3)
    ratios["serial_throughput_over_raw_1"] = round(results["raw-1"]["median_s"] / results["serial"]["median_s"], 3)
    results["ratios"] = ratios
    for arm, body in results.items():
        if arm != "ratios":
            print(f"{arm:<10} median {body['median_s']:.2f} s  {body['mib_per_s']} MiB/s")
    print(f"ratios: {ratios}")
    params = {
        "segments": segments,
        "runs": args.runs,
        "parallel": widths,
        "loadavg_1m_start_end": [round(load_start[0], 2), round(os.getloadavg()[0], 2)],
        "compression": "none",
        "s3": "moto_server (in-memory) on loopback",
    }
    if not args.no_write:
        path = write_result("archive_wal", params, results)
        print(f"[bench] appended to {path}")
    return 0


if __name__ == "__main__":
    run_main(main)
