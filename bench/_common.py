"""Shared plumbing for benchmarks: repeat, take medians, append comparable results.

Machines are shared and noisy, so a benchmark never asserts a time. It runs
each arm several times (interleaved where there are arms), reports the median
and min, ratios measured in the same run, and appends one JSON line to
``bench/results/<name>.jsonl`` together with what is needed to compare runs:
git commit, machine, Python and tool versions, and the parameters used.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from scripts.processes import unwind_on_sigterm

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def run_main(main: Callable[[list[str]], int]) -> NoReturn:
    """A benchmark as a command (``python -m bench.<name>``): SIGTERM stops it like Ctrl-C, with every lab process
    it started."""
    unwind_on_sigterm()
    sys.exit(main(sys.argv[1:]))


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU seconds of process ``pid`` and its waited-for children (from /proc), or of this process
    (all its threads) and its children when ``pid`` is None."""
    if pid is None:
        times = os.times()
        return times.user + times.system + times.children_user + times.children_system
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def timed_with_cpu(store_pid: int | None) -> Iterator[dict[str, float]]:
    """Time the block: ``{"s": wall seconds, "cpu_ours_s": this process's CPU seconds, "cpu_store_s": process
    ``store_pid``'s}``, filled in when the block ends. On two vCPUs shared with the lab's store, (ours + the
    store's) / wall near 2 means both CPUs were busy (on S3 the store's CPU is not the restoring machine's)."""
    measured: dict[str, float] = {}
    t0, ours, store = time.perf_counter(), cpu_seconds(), cpu_seconds(store_pid)
    yield measured
    measured["s"] = round(time.perf_counter() - t0, 3)
    measured["cpu_ours_s"] = round(cpu_seconds() - ours, 3)
    measured["cpu_store_s"] = round(cpu_seconds(store_pid) - store, 3)


def positive_int(text: str) -> int:
    """argparse type for counts (runs, rounds): a whole number of at least 1, else a clear error."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: a whole number of at least 1")
    return value


def non_negative_int(text: str) -> int:
    """argparse type for counts that may be zero (tables): a whole number of at least 0, else a clear error."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a whole number of at least 0")
    return value


def sizes_mib(text: str) -> list[int]:
    """argparse type for ``--sizes``: comma-separated whole numbers of MiB, each at least 1, else a clear error."""
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: comma-separated whole numbers of MiB, each at least 1")
    return values


def summarize(samples: list[float]) -> dict[str, float | int]:
    """Median, min, max and count of a list of seconds (rounded to ms)."""
    if not samples:
        return {"n": 0}
    return {
        "n": len(samples),
        "median_s": round(statistics.median(samples), 4),
        "min_s": round(min(samples), 4),
        "max_s": round(max(samples), 4),
    }


def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "hostname": platform.node(),
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            check=True,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], capture_output=True, text=True, cwd=Path(__file__).parent, check=True
        ).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


#: The code a benchmark measures: the commit when it started (long runs outlive commits).
STARTED_AT_COMMIT = git_commit()


def write_result(name: str, params: dict[str, Any], results: dict[str, Any]) -> Path:
    """Append one run to bench/results/<name>.jsonl and return the path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.jsonl"
    record = {
        "benchmark": name,
        "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": STARTED_AT_COMMIT,
        "machine": machine(),
        "params": params,
        "results": results,
    }
    with path.open("a") as fh:
        fh.write(json.dumps(record, sort_keys=True) + "\n")
    return path
