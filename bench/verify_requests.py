"""Where ``verify``'s time goes in the drill: each HTTP request it makes, warm primary vs fresh standby.

The drill calls ``verify`` twice against Keycloak: while capturing the baseline from the primary,
which has served traffic for a while (warm), and after the recovery against the standby, which has
just become ready (cold). This runs the default local drill ``--runs`` times with every request
``verify`` makes timed, and reports per endpoint the median seconds on each server, plus the
verify phase of the RTO. The point: how much of the verify phase is the standby's first-request
cost (JIT warm-up, lazy initialisation), which no change to our code removes.

Usage: python -m bench.verify_requests [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlsplit

from bench._common import positive_int, run_main, write_result
from scripts.drill import base as drill
from scripts.drill.local import LocalDrillOptions, run_local_drill
from scripts.report import Report
from scripts.verify import http as verify_http

#: URL path suffix -> the name the results use.
ENDPOINTS = {
    "/health/ready": "readiness",
    "/.well-known/openid-configuration": "discovery",
    "/protocol/openid-connect/certs": "jwks",
    "/protocol/openid-connect/token": "token",
}


def _endpoint(url: str) -> str:
    path = urlsplit(url).path
    return next((name for suffix, name in ENDPOINTS.items() if path.endswith(suffix)), path)


def timed_drill(report_dir: Path) -> tuple[list[tuple[str, str, float]], dict]:
    """One drill with verify's HTTP requests timed: [(role, endpoint, seconds)], the report.

    role is ``warm_primary`` inside the baseline capture and ``fresh_standby`` inside the recovery's
    ``verify``; other requests are not counted.
    """
    calls: list[tuple[str, str, float]] = []
    role: list[str] = []  # the current role, a one-element stack
    http_originals = {name: getattr(verify_http.Http, name) for name in ("get_json", "post_form")}
    drill_originals = {name: getattr(drill, name) for name in ("capture_baseline", "verify")}

    def timing(original):
        def wrapper(self, url, *args, **kwargs):
            t0 = time.perf_counter()
            try:
                return original(self, url, *args, **kwargs)
            finally:
                if role:
                    calls.append((role[-1], _endpoint(url), time.perf_counter() - t0))

        return wrapper

    def in_role(name, original):
        def wrapper(*args, **kwargs):
            role.append(name)
            try:
                return original(*args, **kwargs)
            finally:
                role.pop()

        return wrapper

    for name, original in http_originals.items():
        setattr(verify_http.Http, name, timing(original))
    drill.capture_baseline = in_role("warm_primary", drill_originals["capture_baseline"])
    drill.verify = in_role("fresh_standby", drill_originals["verify"])
    try:
        report = Report("drill")
        run_local_drill(LocalDrillOptions(report_dir=report_dir, progress=False), report)
    finally:
        for name, original in http_originals.items():
            setattr(verify_http.Http, name, original)
        for name, original in drill_originals.items():
            setattr(drill, name, original)
    return calls, report.to_dict()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.verify_requests", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=positive_int, default=3, help="drills to run (default 3)")
    args = parser.parse_args(argv)

    per_role: dict[str, dict[str, list[float]]] = {
        "warm_primary": defaultdict(list),
        "fresh_standby": defaultdict(list),
    }
    verify_phase: list[float] = []
    ok = True
    with tempfile.TemporaryDirectory(prefix="idp-dr-bench-") as tmp:
        for run in range(args.runs):
            print(f"drill {run + 1}/{args.runs} ...", flush=True)
            calls, doc = timed_drill(Path(tmp))
            ok = ok and doc["ok"]
            verify_phase.append(doc["result"]["rto"]["verify_s"])
            for role, endpoint, seconds in calls:
                per_role[role][endpoint].append(seconds)
    results = {
        role: {endpoint: round(statistics.median(v), 3) for endpoint, v in endpoints.items()}
        for role, endpoints in per_role.items()
    }
    results["verify_phase_median_s"] = round(statistics.median(verify_phase), 3)
    results["all_ok"] = ok
    path = write_result("verify_requests", {"runs": args.runs}, results)
    for role in ("warm_primary", "fresh_standby"):
        row = results[role]
        print(
            f"{role:<14} " + "  ".join(f"{k} {v:.3f} s" for k, v in row.items()) + f"  (sum {sum(row.values()):.3f} s)"
        )
    print(f"verify phase of the RTO: median {results['verify_phase_median_s']} s")
    print(f"appended to {path}")
    return 0 if ok else 1


if __name__ == "__main__":
    run_main(main)
