"""How long the Pulumi program takes to build under mocks (the offline plan and the unit tests).

Arms, all on the example stack (Pulumi.prod.yaml), measured in one run:
* ``cold_import_s``  fresh interpreter: import pulumi, pulumi_aws, pulumi_kubernetes (subprocess)
* ``cold_plan_s``    fresh interpreter: the whole ``python -m scripts plan --json`` (subprocess)
* ``warm_build_s``   in-process: run the program again under mocks (imports already paid)

Usage: python -m bench.program_build [--runs N]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from bench._common import positive_int, run_main, summarize, write_result
from scripts.offline import REPO_ROOT, load_stack_file, run_program


def _timed_subprocess(argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, cwd=REPO_ROOT, check=True, capture_output=True)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.program_build", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=positive_int, default=7, help="repetitions per arm (default 7)")
    args = parser.parse_args(argv)

    cold_import, cold_plan, warm = [], [], []
    config, secret_keys = load_stack_file(REPO_ROOT / "Pulumi.prod.yaml")
    resources = 0
    for _ in range(args.runs):  # interleaved arms spread machine noise evenly
        cold_import.append(_timed_subprocess([sys.executable, "-c", "import pulumi, pulumi_aws, pulumi_kubernetes"]))
        cold_plan.append(
            _timed_subprocess([sys.executable, "-m", "scripts", "plan", "--stack", "prod", "--json", "--quiet"])
        )
        t0 = time.perf_counter()
        run = run_program(config, secret_keys)
        warm.append(time.perf_counter() - t0)
        resources = len(run.recorder.all())

    results = {
        "resources": resources,
        "cold_import_s": summarize(cold_import),
        "cold_plan_s": summarize(cold_plan),
        "warm_build_s": summarize(warm),
        "plan_overhead_over_import_ratio": round(
            summarize(cold_plan)["median_s"] / summarize(cold_import)["median_s"], 2
        ),
    }
    path = write_result("program_build", {"runs": args.runs, "stack": "prod"}, results)
    print(f"resources: {resources}")
    for arm in ("cold_import_s", "cold_plan_s", "warm_build_s"):
        r = results[arm]
        print(f"{arm:<14} median {r['median_s']:.3f} s  min {r['min_s']:.3f} s  max {r['max_s']:.3f} s  (n={r['n']})")
    print(f"plan / import ratio: {results['plan_overhead_over_import_ratio']}")
    print(f"appended to {path.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    run_main(main)
