"""The local drill at two database sizes: phase medians, restore vs raw download, RPO, orchestration share.

For each size (default 100 MiB and 1 GiB of data, plus as much WAL after the base backup) the
drill runs ``--runs`` times, sizes interleaved. Per run it records every phase, the RTO
breakdown and the RPO; after the restore, while the store still runs, it downloads the same
base-backup and WAL objects with boto3 alone (serially and with 8 threads): the limit of this
machine and store, to compare the restore's throughput with. The base backup's objects are also
downloaded with 8 threads into fresh files on the restore's file system: what writing every byte
costs this machine (a restore must; a download into memory does not); and in 16 MiB ranges, 8 at a
time, into memory (``raw_base_parallel8_ranged``): one GET per object uses one thread on a backup that
is one object, as barman-cloud's ``data.tar`` is. Last, the restore's own base fetch runs again on the
same objects (``probe_restore_writer_s``): the restore's code at a moment when the machine does nothing
else, against the restore's phase in the RTO path, where the WAL prefetch and the rest of the drill share
the same two vCPUs and disk; then once more into the page cache the first run just freed
(``probe_restore_writer_warm_s``): this VM returns idle memory to its host, and memory touched for the
first time costs about 1 s per GiB (a download into reused buffers never pays it). With no network at
all, the same bytes (already in memory) are written into fresh directories by the restore's writer and
by GNU tar (``local_writer_s``, ``local_gnu_tar_s``): the machine's floor for a restore is the slower of
that and the ranged download (``machine_floor_s``). Every arm that writes starts after ``sync``, with no
dirty pages of the drill's.

* orchestration share = (RTO - restore base - WAL replay - Keycloak start) / RTO: what the
  drill itself adds on the recovery path (verification and glue). Goal: under 10 %.
* RPO = last commit on the primary before the crash - newest commit in the archive. Goal: no
  larger than archive_timeout.

Usage: python -m bench.drill [--sizes 100,1024] [--runs 3] [--archive-timeout 10]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench._common import positive_int, run_main, sizes_mib, summarize, timed_with_cpu, write_result
from bench.base_fetch import by_key, write_from_memory
from scripts.drill.local import LocalDrillOptions, run_local_drill
from scripts.pg.osuser import lab_base_dir, pg_os_user
from scripts.report import Report
from scripts.wal import base_fetch


def _restore_writer_s(location, client, base_keys: list[str], into: Path) -> float:
    """Seconds the restore's own base fetch (scripts.wal.base_fetch.extract, its defaults) takes for every base
    backup in the archive, into scratch directories, at the probe's moment: the restore's code on a machine doing
    nothing else, beside the raw downloads of the same objects."""
    user = pg_os_user()
    t0 = time.perf_counter()
    for backup_id in _backup_ids(base_keys):
        pgdata = into / backup_id
        pgdata.mkdir(mode=0o700)
        user.chown(pgdata)
        base_fetch.extract(location, base_fetch.backup_tars(location, backup_id, client), pgdata, user, client=client)
    return time.perf_counter() - t0


@contextlib.contextmanager
def _arm(into: dict, name: str, store_pid: int) -> Iterator[None]:
    """Time an arm into ``into[name + "_s"]``, with the CPU seconds this process and the store used meanwhile
    (``into[name + "_cpu"]``; see :func:`bench._common.timed_with_cpu`)."""
    with timed_with_cpu(store_pid) as measured:
        yield
    into[f"{name}_s"] = measured["s"]
    into[f"{name}_cpu"] = {"ours_s": measured["cpu_ours_s"], "store_s": measured["cpu_store_s"]}


def _fresh(directory: Path) -> None:
    """Remove what the arm before wrote (its page cache is free for the next arm), flushed: no dirty pages left."""
    shutil.rmtree(directory)
    directory.mkdir()
    os.sync()


def _local_write_floor(
    backups: dict[str, list[base_fetch.TarObject]], data: dict[str, list[bytes]], into: Path
) -> dict:
    """The base backups' bytes, already in memory (``data[key]``: its parts in order), written into fresh
    directories with no network: by the restore's own writer (:func:`bench.base_fetch.write_from_memory`) and by
    GNU ``tar -x`` reading them from a pipe. What creating and writing every file costs this machine: a restore
    cannot be faster than this, whatever the store's bandwidth. Both write into page cache that the arm before
    them just freed (see ``_fresh``). None for a compressed backup (the restore decompresses it in ``tar``)."""
    if not backups or any(tar.compression for tars in backups.values() for tar in tars):
        return {"local_writer_s": None, "local_gnu_tar_s": None, "local_files": None}
    writer_root, tar_root = into / "local-writer", into / "local-gnu-tar"
    writer_root.mkdir()
    tar_root.mkdir()
    os.sync()
    t0 = time.perf_counter()
    files = 0
    for backup_id, tars in backups.items():  # one directory per backup
        (writer_root / backup_id).mkdir()
        files += write_from_memory(tars, data, writer_root / backup_id)
    writer_s = time.perf_counter() - t0
    _fresh(writer_root)
    t0 = time.perf_counter()
    for backup_id, tars in backups.items():
        (tar_root / backup_id).mkdir()
        for tar in tars:
            proc = subprocess.Popen(["tar", "-x", "-f", "-", "-C", str(tar_root / backup_id)], stdin=subprocess.PIPE)
            assert proc.stdin is not None
            for part in data[tar.key]:
                proc.stdin.write(part)
            proc.stdin.close()
            if proc.wait() != 0:
                raise RuntimeError(f"tar -x of {tar.key} exited {proc.returncode}")
    gnu_s = time.perf_counter() - t0
    return {"local_writer_s": round(writer_s, 3), "local_gnu_tar_s": round(gnu_s, 3), "local_files": files}


def _backup_ids(base_keys: list[str]) -> list[str]:
    """The backups that objects under ``base/`` belong to."""
    return sorted({key.split("/base/", 1)[1].split("/", 1)[0] for key in base_keys})


def store_probe(s3, location) -> dict:
    """Download the backup's and the WAL's objects with boto3 alone (serial and 8 threads), and the base backup
    again with the restore's own fetch."""
    client = s3.client()
    prefix = f"{location.prefix}/{location.server_name}/"
    keys = {"base": [], "wals": []}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=location.bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            group = "wals" if "/wals/" in obj["Key"] else "base"
            keys[group].append((obj["Key"], obj["Size"]))

    def fetch(key: str) -> int:
        return len(client.get_object(Bucket=location.bucket, Key=key)["Body"].read())

    def fetch_to_file(key: str, into: Path) -> int:
        data = memoryview(client.get_object(Bucket=location.bucket, Key=key)["Body"].read())
        with (into / key.replace("/", "_")).open("wb", buffering=0) as fh:
            for start in range(0, len(data), 1 << 20):
                fh.write(data[start : start + (1 << 20)])
        return len(data)

    out: dict = {}
    for group, objects in keys.items():
        total = sum(size for _, size in objects)
        t0 = time.perf_counter()
        for key, _ in objects:
            fetch(key)
        serial = time.perf_counter() - t0
        t0 = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(fetch, [key for key, _ in objects]))
        parallel = time.perf_counter() - t0
        out[group] = {
            "objects": len(objects),
            "bytes": total,
            "serial_s": round(serial, 3),
            "parallel8_s": round(parallel, 3),
        }
    # One GET per object cannot use 8 threads on a backup that is one object (barman-cloud's data.tar): the same
    # bytes again in 16 MiB ranges, 8 at a time, into memory. The fairest "available bandwidth" of the store.
    part = base_fetch.DEFAULT_PART_SIZE
    ranges = [(key, lo, min(lo + part, size) - 1) for key, size in keys["base"] for lo in range(0, size, part)]

    def fetch_range(item: tuple[str, int, int]) -> bytes:  # kept: the local floor writes these very bytes
        key, lo, hi = item
        return client.get_object(Bucket=location.bucket, Key=key, Range=f"bytes={lo}-{hi}")["Body"].read()

    store_pid = s3.process.popen.pid
    with _arm(out["base"], "parallel8_ranged", store_pid), ThreadPoolExecutor(8) as pool:
        in_memory = list(pool.map(fetch_range, ranges))
    into = Path(tempfile.mkdtemp(prefix="store-probe-", dir=lab_base_dir()))
    try:
        os.sync()  # each arm that writes starts with no dirty pages of the drill's (or of the arm before)
        t0 = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda key: fetch_to_file(key, into), [key for key, _ in keys["base"]]))
        out["base"]["parallel8_to_files_s"] = round(time.perf_counter() - t0, 3)
        writer_into = into / "restore-writer"
        writer_into.mkdir()
        base_keys = [key for key, _ in keys["base"]]
        os.sync()
        out["base"]["restore_writer_s"] = round(_restore_writer_s(location, client, base_keys, writer_into), 3)
        # Again, into the page cache the first run's files held: this machine (a VM whose idle memory goes back to
        # its host) pays ~1 s per GiB of memory first touched, which a download into reused buffers never does.
        _fresh(writer_into)
        with _arm(out["base"], "restore_writer_warm", store_pid):
            _restore_writer_s(location, client, base_keys, writer_into)
        _fresh(writer_into)
        backups = {
            backup_id: base_fetch.backup_tars(location, backup_id, client) for backup_id in _backup_ids(base_keys)
        }
        out["base"].update(_local_write_floor(backups, by_key(ranges, in_memory), into))
    finally:
        shutil.rmtree(into, ignore_errors=True)
    return out


def _machine_floor(samples: list[dict], med) -> dict:
    """A restore's floor on this machine: the slower of the network (8 ranged GETs into memory) and the disk (the
    same bytes written by the restore's writer from memory), per run; and the restore against it."""
    if any(r["local_writer_s"] is None for r in samples):
        return {}
    for r in samples:
        r["machine_floor_s"] = max(r["raw_base_parallel8_ranged_s"], r["local_writer_s"])
    return {
        "local_writer_s": med("local_writer_s"),
        "local_gnu_tar_s": med("local_gnu_tar_s"),
        "local_files": med("local_files"),
        "machine_floor_s": med("machine_floor_s"),
        # The goal's question asked of the floor: the restore's throughput over the machine's (<= 1).
        "restore_base_throughput_vs_machine_floor": round(med("machine_floor_s") / med("restore_base_fetch_s"), 2),
        "probe_restore_writer_vs_machine_floor": round(med("machine_floor_s") / med("probe_restore_writer_s"), 2),
        # The disk's share of the floor: the ranged download into memory over the local write (< 1: the disk).
        "raw_ranged_over_local_writer": round(med("raw_base_parallel8_ranged_s") / med("local_writer_s"), 2),
    }


def _cpus_busy(base: dict, arm: str) -> float:
    """How many CPUs the arm kept busy on average: (this process's + the store's CPU seconds) / wall seconds."""
    cpu = base[f"{arm}_cpu"]
    return round((cpu["ours_s"] + cpu["store_s"]) / base[f"{arm}_s"], 2)


def one_run(size_mb: int, archive_timeout: int, report_dir: Path, *, prefetch_during_base: bool = True) -> dict:
    report = Report("drill")
    opts = LocalDrillOptions(
        data_mb=size_mb,
        wal_mb=size_mb,
        archive_timeout_s=archive_timeout,
        report_dir=report_dir,
        progress=False,
        store_probe=store_probe,
        wal_prefetch_during_base=prefetch_during_base,
    )
    t0 = time.perf_counter()
    run_local_drill(opts, report)
    wall = time.perf_counter() - t0
    doc = report.to_dict()
    result = doc["result"]
    rto, restore = result["rto"], result["restore"]
    probe = result["store_probe"]
    phases = {s["name"]: s["duration_s"] for s in doc["steps"]}
    base_fetch_s = restore["phases_s"]["fetch_base_backup"]
    wal_s = restore["phases_s"]["wal_fetch_replay"]
    non_tool = rto["total_s"] - rto["restore_base_s"] - rto["replay_wal_s"] - rto["keycloak_ready_s"]
    return {
        "ok": doc["ok"],
        "wall_s": wall,
        "phases": phases,
        "rto": rto,
        "rpo_s": result["rpo"]["rpo_s"],
        "orchestration_share": non_tool / rto["total_s"],
        "base_bytes": probe["base"]["bytes"],
        "wal_bytes": probe["wals"]["bytes"],
        "restore_base_fetch_s": base_fetch_s,
        "restore_wal_fetch_replay_s": wal_s,
        "raw_base_serial_s": probe["base"]["serial_s"],
        "raw_base_parallel8_s": probe["base"]["parallel8_s"],
        "raw_base_parallel8_to_files_s": probe["base"]["parallel8_to_files_s"],
        "probe_restore_writer_s": probe["base"]["restore_writer_s"],
        "probe_restore_writer_warm_s": probe["base"]["restore_writer_warm_s"],
        "cpus_busy_ranged": _cpus_busy(probe["base"], "parallel8_ranged"),
        "cpus_busy_restore_warm": _cpus_busy(probe["base"], "restore_writer_warm"),
        "store_cpu_restore_warm_s": probe["base"]["restore_writer_warm_cpu"]["store_s"],
        "raw_base_parallel8_ranged_s": probe["base"]["parallel8_ranged_s"],
        "local_writer_s": probe["base"]["local_writer_s"],
        "local_gnu_tar_s": probe["base"]["local_gnu_tar_s"],
        "local_files": probe["base"]["local_files"],
        "raw_wal_serial_s": probe["wals"]["serial_s"],
        "raw_wal_parallel8_s": probe["wals"]["parallel8_s"],
        "segments_replayed": restore["segments_replayed"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.drill", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=sizes_mib, default=[100, 1024], help="MiB of data (and of WAL) per size (default 100,1024)"
    )
    parser.add_argument("--runs", type=positive_int, default=3, help="runs per size (default 3)")
    parser.add_argument("--archive-timeout", type=positive_int, default=10, help="archive_timeout in s (default 10)")
    parser.add_argument("--report-dir", type=Path, default=Path("reports/bench-drill"))
    parser.add_argument(
        "--wal-prefetch",
        choices=("during-base", "after-base"),
        default="during-base",
        help="start the restore's WAL prefetch during the base download (restore wal's default) or after it",
    )
    args = parser.parse_args(argv)
    sizes = args.sizes

    runs: dict[int, list[dict]] = {size: [] for size in sizes}
    for round_ in range(args.runs):
        for size in sizes:  # interleaved: machine drift spreads over both sizes
            print(f"run {round_ + 1}/{args.runs}, {size} MiB ...", flush=True)
            runs[size].append(
                one_run(size, args.archive_timeout, args.report_dir,
                        prefetch_during_base=args.wal_prefetch == "during-base")
            )  # fmt: skip

    results = {}
    for size, samples in runs.items():

        def med(key: str, rows: list[dict] = samples) -> float:
            return round(statistics.median(r[key] for r in rows), 3)

        phase_names = list(samples[0]["phases"])
        base_mib = med("base_bytes") / 2**20
        wal_mib = med("wal_bytes") / 2**20
        results[f"{size}MiB"] = {
            "all_ok": all(r["ok"] for r in samples),
            "phases_median_s": {n: round(statistics.median(r["phases"][n] for r in samples), 3) for n in phase_names},
            "rto_median_s": {k: round(statistics.median(r["rto"][k] for r in samples), 3) for k in samples[0]["rto"]},
            "rto_s": summarize([r["rto"]["total_s"] for r in samples]),
            "rpo_s": summarize([r["rpo_s"] for r in samples]),
            "rpo_max_s": max(r["rpo_s"] for r in samples),
            "orchestration_share_median": med("orchestration_share"),
            "base_mib": round(base_mib, 1),
            "wal_mib": round(wal_mib, 1),
            "restore_base_mib_per_s": round(base_mib / med("restore_base_fetch_s"), 1),
            "raw_base_serial_mib_per_s": round(base_mib / med("raw_base_serial_s"), 1),
            "raw_base_parallel8_mib_per_s": round(base_mib / med("raw_base_parallel8_s"), 1),
            "restore_base_vs_raw_parallel_ratio": round(med("restore_base_fetch_s") / med("raw_base_parallel8_s"), 2),
            # Throughput, restore over raw (the goal: >= 0.8): the raw side's time over the restore's.
            "restore_base_throughput_vs_raw8": round(med("raw_base_parallel8_s") / med("restore_base_fetch_s"), 2),
            # The same download written into files: the machine's cost of writing every byte, which the restore pays.
            "raw_base_parallel8_to_files_mib_per_s": round(base_mib / med("raw_base_parallel8_to_files_s"), 1),
            "restore_base_throughput_vs_raw8_to_files": round(
                med("raw_base_parallel8_to_files_s") / med("restore_base_fetch_s"), 2
            ),
            # 16 MiB ranged GETs, 8 at a time: 8 threads on a one-object backup too.
            "raw_base_parallel8_ranged_mib_per_s": round(base_mib / med("raw_base_parallel8_ranged_s"), 1),
            "restore_base_throughput_vs_raw8_ranged": round(
                med("raw_base_parallel8_ranged_s") / med("restore_base_fetch_s"), 2
            ),
            # The restore's own base fetch again, at the probe's moment (nothing else running), over the raw download.
            "probe_restore_writer_s": med("probe_restore_writer_s"),
            "probe_restore_writer_throughput_vs_raw8": round(
                med("raw_base_parallel8_s") / med("probe_restore_writer_s"), 2
            ),
            # The same fetch into page cache just freed (memory already faulted in): the goal's ratio without this
            # VM's cost of first-touched memory, and that cost itself.
            "probe_restore_writer_warm_s": med("probe_restore_writer_warm_s"),
            "probe_restore_writer_warm_throughput_vs_raw8_ranged": round(
                med("raw_base_parallel8_ranged_s") / med("probe_restore_writer_warm_s"), 2
            ),
            "first_touch_cost_s": round(med("probe_restore_writer_s") - med("probe_restore_writer_warm_s"), 3),
            # CPUs kept busy (of 2) by this process and the store together: the store is on the restoring machine here.
            "cpus_busy_ranged": med("cpus_busy_ranged"),
            "cpus_busy_restore_warm": med("cpus_busy_restore_warm"),
            "store_cpu_restore_warm_s": med("store_cpu_restore_warm_s"),
            **_machine_floor(samples, med),
            "restore_wal_phase_s": med("restore_wal_fetch_replay_s"),
            "raw_wal_parallel8_s": med("raw_wal_parallel8_s"),
            "segments_replayed_median": med("segments_replayed"),
            "wall_s": summarize([r["wall_s"] for r in samples]),
        }
    path = write_result(
        "drill",
        {
            "sizes_mib": sizes,
            "runs": args.runs,
            "archive_timeout_s": args.archive_timeout,
            "wal_prefetch": args.wal_prefetch,
        },
        results,
    )
    for label, r in results.items():
        print(
            f"\n== {label} (data {r['base_mib']} MiB in the base backup, WAL {r['wal_mib']} MiB), "
            f"all runs passed: {r['all_ok']}"
        )
        for name, seconds in r["phases_median_s"].items():
            print(f"  {name:<34} median {seconds:8.2f} s")
        print(f"  RTO median {r['rto_s']['median_s']:.1f} s: {r['rto_median_s']}")
        print(
            f"  RPO median {r['rpo_s']['median_s']:.2f} s, max {r['rpo_max_s']:.2f} s "
            f"(archive_timeout {args.archive_timeout} s)"
        )
        print(f"  orchestration share of the RTO: {r['orchestration_share_median'] * 100:.1f} %")
        print(
            f"  base restore {r['restore_base_mib_per_s']} MiB/s vs raw download {r['raw_base_serial_mib_per_s']} "
            f"MiB/s serial, {r['raw_base_parallel8_mib_per_s']} MiB/s 8 threads "
            f"(throughput ratio {r['restore_base_throughput_vs_raw8']}x); downloaded into files with 8 threads "
            f"{r['raw_base_parallel8_to_files_mib_per_s']} MiB/s ({r['restore_base_throughput_vs_raw8_to_files']}x); "
            f"8 threads of ranged GETs {r['raw_base_parallel8_ranged_mib_per_s']} MiB/s "
            f"({r['restore_base_throughput_vs_raw8_ranged']}x); "
            f"the restore's fetch again at the probe's moment {r['probe_restore_writer_s']} s "
            f"({r['probe_restore_writer_throughput_vs_raw8']}x)"
        )
        print(
            f"  the restore's fetch again into page cache just freed (memory already touched): "
            f"{r['probe_restore_writer_warm_s']} s, {r['probe_restore_writer_warm_throughput_vs_raw8_ranged']}x the "
            f"ranged download's throughput; first-touched memory cost {r['first_touch_cost_s']} s; CPUs busy (this "
            f"process and the store, of 2): {r['cpus_busy_restore_warm']} (the store {r['store_cpu_restore_warm_s']} "
            f"CPU-s), the ranged download {r['cpus_busy_ranged']}"
        )
        if "machine_floor_s" in r:
            print(
                f"  with no network, the same bytes written from memory: restore's writer {r['local_writer_s']} s, "
                f"GNU tar {r['local_gnu_tar_s']} s ({r['local_files']:.0f} files); the machine's floor (the slower of "
                f"that and the ranged download) {r['machine_floor_s']} s: restore "
                f"{r['restore_base_throughput_vs_machine_floor']}x of it in the RTO path, "
                f"{r['probe_restore_writer_vs_machine_floor']}x at the probe's moment"
            )
        print(
            f"  WAL phase {r['restore_wal_phase_s']} s ({r['segments_replayed_median']:.0f} segments) vs raw "
            f"download of the archived WAL {r['raw_wal_parallel8_s']} s with 8 threads"
        )
    print(f"\nappended to {path}")
    return 0 if all(r["all_ok"] for r in results.values()) else 1


if __name__ == "__main__":
    run_main(main)
