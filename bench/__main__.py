"""Run every benchmark: ``python -m bench`` (or one: ``python -m bench.<name>``)."""

import importlib
import sys

#: Benchmark modules, each exposing main(argv) -> int.
BENCHMARKS: list[str] = [
    "program_build",
    "rds_restore_wait",
    "restore_wal",
    "base_fetch",
    "replay_settings",
    "archive_wal",
    "keycloak_start",
    "drill",
    "verify_requests",
    "dump",
]

if __name__ == "__main__":
    from scripts.processes import unwind_on_sigterm

    unwind_on_sigterm()  # SIGTERM stops the run like Ctrl-C, with every lab process it started
    status = 0
    for name in BENCHMARKS:
        print(f"== bench.{name}", flush=True)
        status |= importlib.import_module(f"bench.{name}").main([])
    sys.exit(status)
