"""Benchmark ``restore wal``: our prefetching restore vs serial barman-cloud vs pgBackRest async.

``python -m bench.restore_wal [--scale 10] [--transactions 4000] [--clients 2] [--runs 3]``

Same data for every arm, built once on one machine:

* a PostgreSQL 15 primary archives every segment to **both** a barman-cloud archive
  (``s3://bench-barman/pg``, server ``primary``) and a pgBackRest repository
  (``s3://bench-pgbackrest``) on the same ``moto_server``. Debian's pgBackRest 2.45 speaks only
  TLS to S3, so it reaches moto through a local nginx TLS terminator (self-signed,
  ``repo1-storage-verify-tls=n``);
* one barman-cloud base backup and one pgBackRest full backup of the same primary, then a
  deterministic load: ``pgbench -i -s S`` plus ``pgbench -t N -c C`` (fixed transaction count);
* marker ``before``, target time T, marker ``after`` (>= 1 s either side), switch WAL, wait until
  both archives hold it, crash the primary.

Arms, interleaved (A, B, C, A, B, C, ...), each restoring the same WAL to the same time target
into a fresh directory, archiving off, verified (``before`` present, ``after`` absent, timeline 2):

* **A** ``restore_wal`` with prefetch (``--parallel``, default 4), started when replay starts,
  so its WAL phase compares with pgBackRest's like for like;
* **A2** the CLI default: the same prefetch, started while the base backup downloads (compare
  base + WAL totals: part of the WAL download moves into the base phase);
* **B** pgBackRest ``restore --type=time --target-action=promote`` with ``archive-async=y``
  (asynchronous ``archive-get``, ``process-max=2``, default 128 MiB queue);
* **C** ``restore_wal --no-prefetch``: plain serial ``barman-cloud-wal-restore``;
* **D** ``barman-cloud-wal-restore -p N --spool-dir`` (barman-cloud's own look-ahead; still one
  Python start per segment). ``--barman-parallel 0`` skips it.
* **F** the replay floor: the same base backup and the same recovery settings, every archived WAL
  file already downloaded (untimed) into a local directory, ``restore_command = 'cp DIR/%f %p'``.
  Its WAL phase is what replaying this WAL costs when no byte has to move over the network: the
  floor the prefetching arm A is measured against (goal: A <= 1.1x F).

Phases per run: base restore (download + write PGDATA and recovery config) and the WAL
phase (``pg_ctl start`` until promoted, measured the same way for every arm: the server's
log says "selected new timeline" and "ready to accept connections"). Nothing is asserted;
medians, minima and the A/B and A/C ratios of one run are appended to
``bench/results/restore_wal.jsonl``. moto keeps objects in memory: absolute MB/s are not S3's.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from bench._common import cpu_seconds, positive_int, run_main, summarize, write_result
from scripts.lab.postgres import PgCluster
from scripts.lab.s3 import LAB_AWS_ENV, S3Server
from scripts.pg.bindir import find_pg_bindir
from scripts.pg.osuser import OsUser, make_user_dir, make_workspace, pg_os_user, remove_tree
from scripts.pg.tools import ensure_pgtools
from scripts.processes import Supervisor, free_port, wait_for_port
from scripts.report import Report
from scripts.restore.wal.phases import _ensure_postgresql_conf
from scripts.restore.wal.recovery import Target, render_auto_conf
from scripts.restore.wal.request import RestoreRequest
from scripts.restore.wal.restore import restore_wal
from scripts.restore.wal.server import RestoredServer, wait_promoted
from scripts.timeutil import iso
from scripts.wal import archive, base_fetch
from scripts.wal.catalog import Catalog
from scripts.wal.fetch import fetch_decompressed
from scripts.wal.location import ArchiveLocation

BARMAN_BUCKET = "bench-barman"
PGBR_BUCKET = "bench-pgbackrest"
STANZA = "bench"


# ---- pgBackRest behind a TLS terminator -------------------------------------------------------


def start_tls_terminator(sup: Supervisor, workspace: Path, upstream_port: int) -> int:
    """nginx on loopback, TLS (self-signed) -> plain-http moto_server. Returns the TLS port."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        raise RuntimeError("nginx not installed (apt-get install nginx-light)")
    tls_dir = workspace / "tls"
    tls_dir.mkdir()
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(tls_dir / "key.pem"),
            "-out",
            str(tls_dir / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )
    port = free_port()
    conf = tls_dir / "nginx.conf"
    conf.write_text(f"""
daemon off;
worker_processes 2;
pid {tls_dir}/nginx.pid;
error_log {tls_dir}/error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {tls_dir}/body;
  proxy_temp_path {tls_dir}/proxy;
  fastcgi_temp_path {tls_dir}/fastcgi;
  uwsgi_temp_path {tls_dir}/uwsgi;
  scgi_temp_path {tls_dir}/scgi;
  upstream moto {{ server 127.0.0.1:{upstream_port}; keepalive 16; }}
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {tls_dir}/cert.pem;
    ssl_certificate_key {tls_dir}/key.pem;
    client_max_body_size 0;
    proxy_request_buffering off;
    proxy_buffering off;
    location / {{
      proxy_pass http://moto;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
    }}
  }}
}}
""")
    proc = sup.start(
        "nginx",
        [nginx, "-c", str(conf), "-e", str(tls_dir / "error.log")],
        log_path=tls_dir / "nginx.out",
        stop_signal=signal.SIGQUIT,
    )
    wait_for_port("127.0.0.1", port, timeout=15, proc=proc.popen, what="nginx", log_path=tls_dir / "error.log")
    return port


def write_pgbackrest_conf(workspace: Path, user: OsUser, tls_port: int, primary: PgCluster) -> Path:
    base = make_user_dir(workspace / "pgbackrest", user, 0o755)
    for sub in ("log", "lock", "spool", "conf.d"):
        make_user_dir(base / sub, user, 0o700)
    conf = base / "pgbackrest.conf"
    conf.write_text(f"""[global]
repo1-type=s3
repo1-path=/repo
repo1-s3-bucket={PGBR_BUCKET}
repo1-s3-endpoint=127.0.0.1
repo1-storage-port={tls_port}
repo1-s3-region=us-east-1
repo1-s3-key={LAB_AWS_ENV["AWS_ACCESS_KEY_ID"]}
repo1-s3-key-secret={LAB_AWS_ENV["AWS_SECRET_ACCESS_KEY"]}
repo1-s3-uri-style=path
repo1-storage-verify-tls=n
repo1-retention-full=2
compress-type=none
process-max=2
start-fast=y
log-path={base / "log"}
lock-path={base / "lock"}
spool-path={base / "spool"}
log-level-console=warn
log-level-file=info

[global:archive-get]
archive-async=y

[{STANZA}]
pg1-path={primary.datadir}
pg1-port={primary.port}
pg1-socket-path={primary.socket_dir}
pg1-user=postgres
""")
    conf.chmod(0o644)
    return conf


def pgbackrest(user: OsUser, conf: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    argv = [
        "pgbackrest",
        f"--config={conf}",
        f"--config-include-path={conf.parent}/conf.d",
        f"--stanza={STANZA}",
        *args,
    ]
    proc = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=user.env(),
        cwd=str(conf.parent),
        **user.popen_kwargs(),
    )
    if proc.returncode != 0:
        raise RuntimeError(f"pgbackrest {args[-1]} failed ({proc.returncode}): {proc.stderr or proc.stdout}")
    return proc


def kill_pgbackrest_children(conf: Path) -> None:
    """Async archive-get forks background workers; stop the ones using our config, by PID."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if cmdline.startswith("pgbackrest") and f"--config={conf}" in cmdline:
                os.kill(int(entry.name), signal.SIGTERM)


# ---- the shared source ------------------------------------------------------------------------


def build_source(sup: Supervisor, workspace: Path, args: argparse.Namespace) -> dict[str, Any]:
    os.environ.update({k: v for k, v in LAB_AWS_ENV.items() if k not in os.environ})
    user = pg_os_user()
    tools = ensure_pgtools(user)
    s3 = S3Server.start(sup, workspace)
    s3.create_bucket(BARMAN_BUCKET, versioning=False)
    s3.create_bucket(PGBR_BUCKET, versioning=False)
    location = ArchiveLocation(BARMAN_BUCKET, "pg", "primary", s3.endpoint_url)
    primary = PgCluster.create(
        workspace,
        "primary",
        supervisor=sup,
        settings={
            "wal_level": "replica",
            "archive_mode": "on",
            "max_wal_size": "1GB",
            "archive_timeout": 60,
        },
    )
    info: dict[str, Any] = {
        "endpoint": s3.endpoint_url,
        "location": location,
        "user": user,
        "tools": tools,
        "store_pid": s3.process.popen.pid,
    }
    pgbr_conf = None
    if not args.no_pgbackrest:
        try:
            if not shutil.which("pgbackrest"):
                raise RuntimeError("pgbackrest not installed (apt-get install pgbackrest)")
            tls_port = start_tls_terminator(sup, workspace, s3.port)
            pgbr_conf = write_pgbackrest_conf(workspace, user, tls_port, primary)
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            info["pgbackrest_unavailable"] = str(exc)
    barman_cmd = archive.archive_command(tools, location)
    command = barman_cmd
    if pgbr_conf is not None:
        command = (
            f"{barman_cmd} && pgbackrest --config={pgbr_conf} --config-include-path={pgbr_conf.parent}"
            f"/conf.d --stanza={STANZA} archive-push %p"
        )
    primary.write_settings({"archive_command": command})
    env = dict(LAB_AWS_ENV)
    primary.start(env=env)
    if pgbr_conf is not None:
        pgbackrest(user, pgbr_conf, "stanza-create")
    pg = ["-h", str(primary.socket_dir), "-p", str(primary.port), "-U", "postgres"]
    t0 = time.monotonic()
    backup_id = archive.take_base_backup(
        tools, user, location, socket_dir=primary.socket_dir, port=primary.port, env=env
    )
    info["t_backup_barman_s"] = round(time.monotonic() - t0, 3)
    if pgbr_conf is not None:
        t0 = time.monotonic()
        pgbackrest(user, pgbr_conf, "--type=full", "backup")
        info["t_backup_pgbackrest_s"] = round(time.monotonic() - t0, 3)
    start_lsn = primary.execute("SELECT pg_current_wal_lsn()")[0][0]
    subprocess.run(["pgbench", "-i", "-q", "-s", str(args.scale), *pg, "postgres"], check=True, capture_output=True)
    subprocess.run(
        [
            "pgbench",
            "-n",
            "-t",
            str(args.transactions),
            "-c",
            str(args.clients),
            "--random-seed=1",
            *pg,
            "postgres",
        ],
        check=True,
        capture_output=True,
    )
    primary.execute("CREATE TABLE marker (name text PRIMARY KEY, at timestamptz DEFAULT clock_timestamp())")
    primary.execute("INSERT INTO marker(name) VALUES ('before')")
    time.sleep(1.2)
    target = primary.execute("SELECT clock_timestamp()")[0][0]
    time.sleep(1.2)
    primary.execute("INSERT INTO marker(name) VALUES ('after')")
    end_lsn = primary.execute("SELECT pg_current_wal_lsn()")[0][0]
    wal_bytes = primary.execute(f"SELECT pg_wal_lsn_diff('{end_lsn}', '{start_lsn}')")[0][0]
    waited = archive.switch_and_wait_archived(primary.execute, timeout=1800)
    primary.crash()
    info.update(
        {
            "primary": primary,
            "backup_id": backup_id,
            "target": target,
            "pgbr_conf": pgbr_conf,
            "wal_bytes_generated": int(wal_bytes),
            "archive_drain_s": round(waited.lag_s, 3),
            "archive_failed": waited.failed_count,
        }
    )
    return info


# ---- arms ---------------------------------------------------------------------------------------


def verify(server: RestoredServer) -> None:
    names = [r[0] for r in server.query("SELECT name FROM marker ORDER BY at")]
    tli = server.query("SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int")[0][0]
    if names != ["before"] or tli != 2:
        raise RuntimeError(f"PITR incorrect: markers {names}, timeline {tli}")


def run_ours(
    src: dict[str, Any],
    workspace: Path,
    socket_dir: Path,
    *,
    prefetch: bool,
    parallel: int,
    barman_parallel: int = 0,
    overlap: bool = False,
) -> dict[str, Any]:
    loc: ArchiveLocation = src["location"]
    pgdata = workspace / f"ours-{time.monotonic_ns()}" / "data"
    req = RestoreRequest(
        archive_url=loc.url,
        server_name=loc.server_name,
        pgdata=pgdata,
        target=Target.from_options(time=iso(src["target"])),
        endpoint_url=src["endpoint"],
        archive=False,
        port=free_port(),
        socket_dir=socket_dir,
        prefetch=prefetch,
        parallel=parallel,
        barman_parallel=barman_parallel,
        prefetch_during_base=overlap,
        env=dict(LAB_AWS_ENV),
        leave_running=True,
    )
    report = Report("restore wal")
    with Supervisor() as sup:
        result = restore_wal(req, report, supervisor=sup)
        server = RestoredServer(pgdata, req.port, socket_dir, src["user"], find_pg_bindir(), pgdata / "log" / "x")
        verify(server)
    remove_tree(pgdata.parent)
    return {
        "base_s": result.phases_s["fetch_base_backup"] + result.phases_s.get("configure_recovery", 0.0),
        "wal_s": result.phases_s["wal_fetch_replay"],
        "validate_s": result.phases_s["validate"],
        "segments": result.segments_replayed,
        "answers": result.served,
    }


def timed_replay(server: RestoredServer) -> tuple[float, int]:
    """The WAL phase as every arm measures it: ``pg_ctl start`` until promoted; verified, then stopped."""
    try:
        t0 = time.monotonic()
        server.start(dict(LAB_AWS_ENV))
        wait_promoted(server, timeout=1800, progress=None, spool=None, planned=0)
        wal_s = time.monotonic() - t0
        verify(server)
        return wal_s, len(set(re.findall(r'restored log file "([0-9A-F]{24})"', server.log_text())))
    finally:
        with contextlib.suppress(Exception):
            server.stop("immediate")


def run_pgbackrest(src: dict[str, Any], workspace: Path, socket_dir: Path) -> dict[str, Any]:
    user: OsUser = src["user"]
    conf: Path = src["pgbr_conf"]
    root = workspace / f"pgbr-{time.monotonic_ns()}"
    root.mkdir()
    root.chmod(0o755)
    pgdata = make_user_dir(root / "data", user, 0o700)
    port = free_port()
    t0 = time.monotonic()
    pgbackrest(
        user,
        conf,
        f"--pg1-path={pgdata}",
        "--type=time",
        f"--target={src['target'].isoformat(sep=' ')}",
        "--target-action=promote",
        "--archive-mode=off",
        "restore",
    )
    auto = pgdata / "postgresql.auto.conf"
    auto.write_text(auto.read_text() + f"port = {port}\nunix_socket_directories = '{socket_dir}'\n")
    log_dir = make_user_dir(pgdata / "log", user, 0o700)
    base_s = time.monotonic() - t0
    server = RestoredServer(pgdata, port, socket_dir, user, find_pg_bindir(), log_dir / "idp-dr-restore.log")
    try:
        wal_s, segments = timed_replay(server)
    finally:
        kill_pgbackrest_children(conf)
    remove_tree(root)
    return {"base_s": base_s, "wal_s": wal_s, "segments": segments}


def run_floor(src: dict[str, Any], workspace: Path, socket_dir: Path) -> dict[str, Any]:
    """Arm F: base backup and WAL put on local disk first (untimed), then timed replay from there."""
    loc: ArchiveLocation = src["location"]
    user: OsUser = src["user"]
    root = workspace / f"floor-{time.monotonic_ns()}"
    root.mkdir()
    root.chmod(0o755)
    pgdata = make_user_dir(root / "data", user, 0o700)
    staged = make_user_dir(root / "wal", user, 0o755)
    client = loc.client()
    t0 = time.monotonic()
    base_fetch.extract(loc, base_fetch.backup_tars(loc, src["backup_id"], client), pgdata, user, client=client)
    for item in Catalog.load(loc).wal:
        if not item.partial:
            (staged / item.name).write_bytes(fetch_decompressed(loc, item.key, item.compression, client))
    base_s = time.monotonic() - t0
    _ensure_postgresql_conf(pgdata, user)
    port = free_port()
    target = Target.from_options(time=iso(src["target"]))
    auto = pgdata / "postgresql.auto.conf"
    auto.write_text(
        (auto.read_text() if auto.exists() else "")
        + "\n"
        + render_auto_conf(
            target=target,
            restore_command=f"cp {staged}/%f %p",
            archive_command=None,
            port=port,
            listen_addresses="127.0.0.1",
            socket_dir=str(socket_dir),
        )
    )
    (pgdata / "recovery.signal").touch()
    log_dir = make_user_dir(pgdata / "log", user, 0o700)
    subprocess.run(["chown", "-R", f"{user.name}:", str(root)], check=True)
    server = RestoredServer(pgdata, port, socket_dir, user, find_pg_bindir(), log_dir / "idp-dr-restore.log")
    wal_s, segments = timed_replay(server)
    remove_tree(root)
    return {"base_s": base_s, "wal_s": wal_s, "segments": segments, "untimed_staging_s": base_s}


# ---- main ---------------------------------------------------------------------------------------


def run_arm(arm: str, src: dict[str, Any], workspace: Path, socket_dir: Path, args: Any) -> dict[str, Any] | None:
    """One run of one arm; None for an arm this run skips (no pgBackRest, no barman parallelism)."""
    if arm.startswith("F"):
        return run_floor(src, workspace, socket_dir)
    if arm.startswith("B"):
        return None if src["pgbr_conf"] is None else run_pgbackrest(src, workspace, socket_dir)
    if arm.startswith("D"):
        if args.barman_parallel < 2:
            return None
        return run_ours(src, workspace, socket_dir, prefetch=False, parallel=1, barman_parallel=args.barman_parallel)
    if arm.startswith("A2"):
        return run_ours(src, workspace, socket_dir, prefetch=True, parallel=args.parallel, overlap=True)
    if arm.startswith("A"):
        return run_ours(src, workspace, socket_dir, prefetch=True, parallel=args.parallel)
    return run_ours(src, workspace, socket_dir, prefetch=False, parallel=1)  # C: barman serial


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.restore_wal", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=positive_int, default=10, help="pgbench -i -s (default: 10, ~160 MB)")
    parser.add_argument("--transactions", type=int, default=4000, help="pgbench -t per client (default: 4000)")
    parser.add_argument("--clients", type=positive_int, default=2, help="pgbench -c (default: 2)")
    parser.add_argument("--runs", type=positive_int, default=3, help="runs per arm, interleaved (default: 3)")
    parser.add_argument("--parallel", type=positive_int, default=4, help="arm A prefetch parallelism (default: 4)")
    parser.add_argument("--no-pgbackrest", action="store_true", help="skip arm B")
    parser.add_argument(
        "--barman-parallel",
        type=int,
        default=8,
        help="arm D: barman-cloud-wal-restore -p N, its own look-ahead (default: 8; 0 skips arm D)",
    )
    parser.add_argument("--no-write", action="store_true", help="do not append to bench/results")
    args = parser.parse_args(argv)

    workspace = make_workspace(prefix="bench-restore-wal-")
    samples: dict[str, list[dict[str, Any]]] = {
        "A_ours_prefetch": [],
        "A2_ours_default_overlap": [],
        "B_pgbackrest_async": [],
        "C_barman_serial": [],
        "D_barman_parallel": [],
        "F_replay_floor_local_cp": [],
    }
    load_start = os.getloadavg()
    try:
        with Supervisor() as sup:
            print("[bench] building the source (pgbench data, two archives, backups)...", flush=True)
            src = build_source(sup, workspace, args)
            socket_dir = make_user_dir(workspace / "sock", src["user"], 0o755)
            print(
                f"[bench] WAL generated after the backups: {src['wal_bytes_generated'] / 2**20:.0f} MiB; "
                f"archive drained {src['archive_drain_s']} s after the switch",
                flush=True,
            )
            if src.get("pgbackrest_unavailable"):
                print(f"[bench] arm B skipped: {src['pgbackrest_unavailable']}", flush=True)
            for run in range(args.runs):
                for arm in samples:
                    cpu0 = cpu_seconds(src["store_pid"])
                    sample = run_arm(arm, src, workspace, socket_dir, args)
                    if sample is None:
                        continue
                    # The lab's S3 store runs on the same 2 vCPUs as the replay: what it costs here.
                    sample["store_cpu_s"] = cpu_seconds(src["store_pid"]) - cpu0
                    samples[arm].append(sample)
                    print(
                        f"[bench] run {run + 1} {arm}: base {sample['base_s']:.2f} s, WAL phase "
                        f"{sample['wal_s']:.2f} s, {sample['segments']} segments",
                        flush=True,
                    )
    finally:
        remove_tree(workspace)

    results: dict[str, Any] = {}
    wal_mib = src["wal_bytes_generated"] / 2**20
    for arm, runs in samples.items():
        if not runs:
            continue
        wal = summarize([r["wal_s"] for r in runs])
        results[arm] = {
            "base_restore": summarize([r["base_s"] for r in runs]),
            "wal_phase": wal,
            "wal_phase_runs_s": [round(r["wal_s"], 3) for r in runs],
            "base_plus_wal": summarize([r["base_s"] + r["wal_s"] for r in runs]),
            "segments": runs[0]["segments"],
            **({"restore_command_answers": runs[0]["answers"]} if runs[0].get("answers") else {}),
            "wal_mib_per_s_median": round(wal_mib / wal["median_s"], 1),
            "store_cpu_s_median": summarize([r["store_cpu_s"] for r in runs])["median_s"],
        }
    ratios = _ratios(results)
    results["ratios"] = ratios
    results["source"] = {
        "wal_mib_generated": round(wal_mib, 1),
        "archive_drain_s": src["archive_drain_s"],
        "archive_failed": src["archive_failed"],
        "t_backup_barman_s": src["t_backup_barman_s"],
        "t_backup_pgbackrest_s": src.get("t_backup_pgbackrest_s"),
        "pgbackrest_unavailable": src.get("pgbackrest_unavailable"),
    }
    params = {
        "scale": args.scale,
        "transactions": args.transactions,
        "clients": args.clients,
        "runs": args.runs,
        "parallel": args.parallel,
        "barman_parallel": args.barman_parallel,
        "loadavg_1m_start_end": [round(load_start[0], 2), round(os.getloadavg()[0], 2)],
        "compression": "none (both tools)",
        "pgbackrest": _version(["pgbackrest", "version"]),
        "postgres": _version([str(find_pg_bindir() / "postgres"), "--version"]),
        "barman": "3.19.1",
        "s3": "moto_server (in-memory) on loopback; pgBackRest via nginx TLS",
    }
    for arm, body in results.items():
        if arm[:1] in "ABCDF":
            print(
                f"{arm:<22} base median {body['base_restore']['median_s']:.2f} s  WAL phase median "
                f"{body['wal_phase']['median_s']:.2f} s (min {body['wal_phase']['min_s']:.2f})  "
                f"{body['segments']} segments  {body['wal_mib_per_s_median']} MiB/s  "
                f"base+WAL median {body['base_plus_wal']['median_s']:.2f} s"
            )
    print(f"ratios: {ratios}")
    if not args.no_write:
        path = write_result("restore_wal", params, results)
        print(f"[bench] appended to {path}")
    return 0


def _ratios(results: dict[str, Any]) -> dict[str, Any]:
    """Our WAL phase against each other arm, measured in the same run."""
    a = results["A_ours_prefetch"]["wal_phase"]["median_s"]
    ratios = {"wal_phase_A_over_C": round(a / results["C_barman_serial"]["wal_phase"]["median_s"], 3)}
    if "B_pgbackrest_async" in results:
        b = results["B_pgbackrest_async"]["wal_phase"]["median_s"]
        ratios["wal_phase_A_over_B"] = round(a / b, 3)
        ratios["goal_A_no_slower_than_B_met"] = a <= b
    if "A2_ours_default_overlap" in results and "B_pgbackrest_async" in results:
        ratios["base_plus_wal_A2_over_B"] = round(
            results["A2_ours_default_overlap"]["base_plus_wal"]["median_s"]
            / results["B_pgbackrest_async"]["base_plus_wal"]["median_s"],
            3,
        )
    if "F_replay_floor_local_cp" in results:
        f = results["F_replay_floor_local_cp"]["wal_phase"]["median_s"]
        ratios["wal_phase_A_over_F_floor"] = round(a / f, 3)
        ratios["goal_A_within_1_1x_floor_met"] = a <= 1.1 * f
        if "B_pgbackrest_async" in results:
            # The best any restore_command can do against pgBackRest here: below 0.6 needs replay itself faster.
            ratios["wal_phase_F_floor_over_B"] = round(f / results["B_pgbackrest_async"]["wal_phase"]["median_s"], 3)
    if "D_barman_parallel" in results:
        ratios["wal_phase_A_over_D"] = round(a / results["D_barman_parallel"]["wal_phase"]["median_s"], 3)
    return ratios


def _version(argv: list[str]) -> str | None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip()
    return None


if __name__ == "__main__":
    run_main(main)
