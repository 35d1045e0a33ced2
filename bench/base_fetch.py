"""The base-backup restore against its two floors, arms paired in each round: the network and the disk.

One source per size (``--sizes``, MiB of rows like the drill's, plus ``--tables`` small tables with an index
each, as an IdP's schema has: about 2,000 files in all), backed up with ``barman-cloud-backup`` (uncompressed,
barman-cloud's and CloudNativePG's default) into the lab's S3 store. Then ``--rounds`` rounds, each with
every arm once, in an order that rotates from round to round:

* ``ranged``: the backup's objects in 16 MiB ranged GETs, 8 at a time, into memory (the issue's "8-thread raw
  download": what the store and the network give);
* ``local``: the same bytes, downloaded beforehand (untimed), written by the restore's own writer
  (``scripts.wal.untar.TarWriter``) with no network: what creating and writing every file costs;
* ``restore``: ``restore wal``'s base fetch (``scripts.wal.base_fetch.extract``, its defaults), from the store
  into an empty PGDATA owned by the PostgreSQL user;
* ``barman`` (with ``--barman``): ``barman-cloud-restore``, the tool this replaced.

Every arm writes into a directory of its own, after ``sync``; nothing is deleted until the end, so every
writing arm gets page cache no other arm just freed, as a restore on a fresh host does (on this VM, memory
touched for the first time costs about 1 s per GiB; memory just freed by a deletion does not). Per round, the
paired ratios: the restore's throughput over the ranged download's (the goal: >= 0.8) and over the slower
of the two floors. The store is on this machine: CPU seconds of this process and of the store per arm say
how many of the two vCPUs an arm kept busy.

Usage: python -m bench.base_fetch [--sizes 100,1024] [--rounds 5] [--tables 250] [--barman]
"""

from __future__ import annotations

import argparse
import os
import statistics
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench._common import non_negative_int, positive_int, run_main, sizes_mib, timed_with_cpu, write_result
from scripts.drill.data import load_filler
from scripts.lab.postgres import PgCluster
from scripts.lab.s3 import LAB_AWS_ENV, S3Server
from scripts.pg.osuser import OsUser, make_user_dir, make_workspace, pg_os_user, remove_tree
from scripts.pg.tools import ensure_pgtools
from scripts.processes import Supervisor
from scripts.wal import archive, base_fetch
from scripts.wal.location import ArchiveLocation
from scripts.wal.untar import TarWriter

ARMS = ("ranged", "local", "restore")
RANGE_THREADS = 8


def build_source(sup: Supervisor, workspace: Path, size_mb: int, tables: int) -> dict[str, Any]:
    """A primary with ``size_mb`` MiB of rows and ``tables`` small tables, backed up; the backup's tars listed."""
    os.environ.update({k: v for k, v in LAB_AWS_ENV.items() if k not in os.environ})
    user, tools = pg_os_user(), ensure_pgtools(pg_os_user())
    s3 = S3Server.start(sup, workspace)
    bucket = "idp-dr-bench-base"
    s3.create_bucket(bucket, versioning=False)
    location = ArchiveLocation(bucket, "pg", f"primary-{size_mb}", s3.endpoint_url)
    settings = {
        "wal_level": "replica",
        "archive_mode": "on",
        "archive_command": archive.archive_command(tools, location),
    }
    primary = PgCluster.create(workspace, f"primary-{size_mb}", supervisor=sup, settings=settings)
    env = dict(LAB_AWS_ENV)
    primary.start(env=env)
    load_filler(primary, size_mb)
    for n in range(tables):
        primary.execute(f"CREATE TABLE t{n} (id int PRIMARY KEY, v text)")
        primary.execute(f"INSERT INTO t{n} VALUES (1, repeat('x', 3000))")  # noqa: S608 - a toasted row
    backup_id = archive.take_base_backup(tools, user, location, socket_dir=primary.socket_dir, port=primary.port,
                                         env=env)  # fmt: skip
    primary.stop()
    client = location.client()
    tars = base_fetch.backup_tars(location, backup_id, client)
    return {
        "user": user, "tools": tools, "location": location, "client": client, "backup_id": backup_id,
        "tars": tars, "store_pid": s3.process.popen.pid, "env": env,
    }  # fmt: skip


def _ranges(tars: list[base_fetch.TarObject]) -> list[tuple[str, int, int]]:
    part = base_fetch.DEFAULT_PART_SIZE
    return [(t.key, lo, min(lo + part, t.size) - 1) for t in tars for lo in range(0, t.size, part)]


def _download(src: dict[str, Any]) -> list[bytes]:
    client, bucket = src["client"], src["location"].bucket

    def get(item: tuple[str, int, int]) -> bytes:
        key, lo, hi = item
        return client.get_object(Bucket=bucket, Key=key, Range=f"bytes={lo}-{hi}")["Body"].read()

    with ThreadPoolExecutor(RANGE_THREADS) as pool:
        return list(pool.map(get, _ranges(src["tars"])))


def write_from_memory(tars: list[base_fetch.TarObject], data: dict[str, list[bytes]], dest: Path,
                      user: OsUser | None = None) -> int:  # fmt: skip
    """Write a backup's tars, already downloaded (``data[key]``: its parts in order), into ``dest`` with the
    restore's own writer, in barman-cloud's order (``tars`` as :func:`scripts.wal.base_fetch.backup_tars` lists
    them), each a tar of its own; owned by ``user`` when given. Returns the number of files written."""
    files = 0
    for tar in tars:
        writer = TarWriter(dest, user.uid if user else None, user.gid if user else None)
        for part in data[tar.key]:
            writer.feed(part)
        writer.close()
        writer.abort()
        files += writer.files
    return files


def by_key(ranges: list[tuple[str, int, int]], parts: list[bytes]) -> dict[str, list[bytes]]:
    """Downloaded parts grouped by object, in order."""
    data: dict[str, list[bytes]] = {}
    for (key, _, _), part in zip(ranges, parts, strict=True):
        data.setdefault(key, []).append(part)
    return data


def _write_local(src: dict[str, Any], parts: list[bytes], dest: Path) -> None:
    write_from_memory(src["tars"], by_key(_ranges(src["tars"]), parts), dest, src["user"])


def _arm(name: str, src: dict[str, Any], parts: list[bytes], dest: Path) -> Callable[[], object]:
    if name == "ranged":
        return lambda: _download(src)
    if name == "local":
        return lambda: _write_local(src, parts, dest)
    if name == "restore":
        return lambda: base_fetch.extract(src["location"], src["tars"], dest, src["user"], client=src["client"])
    location = src["location"]
    argv = [*location.barman_args(), location.url, location.server_name, src["backup_id"], str(dest)]
    return lambda: _barman(src, argv)


def _barman(src: dict[str, Any], argv: list[str]) -> None:
    proc = archive.run_barman(src["tools"], src["user"], "barman-cloud-restore", argv, env=src["env"])
    if proc.returncode != 0:
        raise RuntimeError(f"barman-cloud-restore failed: {archive.tail(proc)}")


def one_round(src: dict[str, Any], parts: list[bytes], workspace: Path, round_no: int, arms: tuple[str, ...]) -> dict:
    """Every arm once, the order rotated by ``round_no``; wall and CPU seconds (ours, the store's) per arm."""
    order = arms[round_no % len(arms) :] + arms[: round_no % len(arms)]
    out: dict[str, dict[str, float]] = {}
    for name in order:
        dest = make_user_dir(workspace / f"{name}-{round_no}", src["user"])
        os.sync()
        with timed_with_cpu(src["store_pid"]) as out[name]:
            _arm(name, src, parts, dest)()
    return out


def summarize_rounds(rounds: list[dict[str, dict[str, float]]], size_bytes: int) -> dict[str, Any]:
    """Medians per arm, and the paired ratios of each round (the arms of one round ran seconds apart)."""
    arms = list(rounds[0])
    med = {a: statistics.median(r[a]["s"] for r in rounds) for a in arms}
    summary: dict[str, Any] = {
        "bytes": size_bytes,
        "median_s": {a: round(med[a], 3) for a in arms},
        "mib_per_s": {a: round(size_bytes / 2**20 / med[a], 1) for a in arms},
        "cpus_busy": {
            a: round(statistics.median((r[a]["cpu_ours_s"] + r[a]["cpu_store_s"]) / r[a]["s"] for r in rounds), 2)
            for a in arms
        },
        "store_cpu_s": {a: round(statistics.median(r[a]["cpu_store_s"] for r in rounds), 3) for a in arms},
        # The goal: the restore's throughput over the ranged download's, i.e. ranged time / restore time.
        "restore_vs_ranged": round(statistics.median(r["ranged"]["s"] / r["restore"]["s"] for r in rounds), 2),
        # The same against the machine's floor: the slower of the network and the disk, in the same round.
        "restore_vs_floor": round(
            statistics.median(max(r["ranged"]["s"], r["local"]["s"]) / r["restore"]["s"] for r in rounds), 2
        ),
        "local_over_ranged": round(statistics.median(r["local"]["s"] / r["ranged"]["s"] for r in rounds), 2),
    }
    if "barman" in arms:
        summary["restore_vs_barman"] = round(statistics.median(r["barman"]["s"] / r["restore"]["s"] for r in rounds), 2)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.base_fetch", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=sizes_mib, default=[100, 1024], help="MiB of rows per source (default 100,1024)"
    )
    parser.add_argument("--rounds", type=positive_int, default=5, help="rounds, every arm once each (default 5)")
    parser.add_argument(
        "--tables", type=non_negative_int, default=250, help="small tables with an index each (default 250)"
    )
    parser.add_argument("--barman", action="store_true", help="also time barman-cloud-restore (slow at 1 GiB)")
    args = parser.parse_args(argv)
    sizes = args.sizes
    arms = (*ARMS, "barman") if args.barman else ARMS
    results: dict[str, Any] = {}
    for size in sizes:
        workspace = make_workspace(prefix=f"bench-base-{size}-")
        try:
            with Supervisor() as sup:
                print(f"{size} MiB: building the source ...", flush=True)
                src = build_source(sup, workspace, size, args.tables)
                parts = _download(src)  # untimed: what the local arm writes
                rounds = []
                for n in range(args.rounds):
                    rounds.append(one_round(src, parts, workspace, n, arms))
                    print(
                        f"  round {n + 1}/{args.rounds}: " + ", ".join(f"{a} {v['s']} s" for a, v in rounds[-1].items())
                    )
                files = sum(1 for p in (workspace / "restore-0").rglob("*") if p.is_file())
                results[f"{size}MiB"] = {**summarize_rounds(rounds, sum(len(p) for p in parts)), "files": files,
                                         "rounds": rounds}  # fmt: skip
        finally:
            remove_tree(workspace)
    path = write_result("base_fetch", {"sizes_mib": sizes, "rounds": args.rounds, "tables": args.tables,
                                       "arms": list(arms), "range_threads": RANGE_THREADS}, results)  # fmt: skip
    for label, r in results.items():
        print(
            f"\n== {label}: {r['bytes'] / 2**20:.0f} MiB in {r['files']} files; medians {r['median_s']} s\n"
            f"  restore vs the 8-thread ranged download: {r['restore_vs_ranged']}x (goal 0.8); vs the slower of the "
            f"network and the disk: {r['restore_vs_floor']}x; local write / ranged download {r['local_over_ranged']}\n"
            f"  CPUs kept busy, this process and the store (of 2): {r['cpus_busy']}; "
            f"the store's CPU: {r['store_cpu_s']}"
            + (f"\n  barman-cloud-restore / restore: {r['restore_vs_barman']}x" if "restore_vs_barman" in r else "")
        )
    print(f"\nappended to {path}")
    return 0


if __name__ == "__main__":
    run_main(main)
