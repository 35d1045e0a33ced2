"""SIGTERM (a cancelled CI job, ``kill``) stops a benchmark like Ctrl-C: the processes it started stop with it.

Before, ``python -m bench.drill`` killed with SIGTERM left its PostgreSQL, Keycloak and S3 stand-in running.
A real process tree: a benchmark-shaped command (``bench._common.run_main``) that starts a child through a
``Supervisor`` and waits, then SIGTERM.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scripts.processes import Supervisor, unwind_on_sigterm

ROOT = Path(__file__).resolve().parents[2]

COMMAND = """
import time
from bench._common import run_main
from scripts.processes import Supervisor

def main(argv):
    with Supervisor() as sup:
        child = sup.start("sleeper", ["sleep", "300"])
        print(child.popen.pid, flush=True)
        time.sleep(300)
    return 0

run_main(main)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is gone for our purpose
        return stat.read().split(") ", 1)[1][0] != "Z"


def test_sigterm_stops_a_benchmark_and_every_process_it_started():
    proc = subprocess.Popen([sys.executable, "-c", COMMAND], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        child = int(proc.stdout.readline())
        assert _alive(child)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child), "the benchmark's child outlived SIGTERM"
        assert proc.returncode != 0  # interrupted, not a success
    finally:
        proc.kill()
        proc.wait()


def test_a_handler_someone_else_installed_is_left_alone():
    def theirs(signum, frame):
        pass

    before = signal.signal(signal.SIGTERM, theirs)
    try:
        unwind_on_sigterm()
        assert signal.getsignal(signal.SIGTERM) is theirs
    finally:
        signal.signal(signal.SIGTERM, before)


def test_with_no_handler_sigterm_raises_keyboard_interrupt():
    before = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        unwind_on_sigterm()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(1000):  # the handler runs between bytecodes: give it some
                pass
    finally:
        signal.signal(signal.SIGTERM, before)


def test_a_second_interrupt_during_cleanup_does_not_leave_the_rest_running():
    """Ctrl-C (or a second SIGTERM) while the supervisor stops its children: the interrupted cleanup is recorded,
    every other one still runs, and the interrupt goes on afterwards."""
    ran = []
    sup = Supervisor()
    sup.add_cleanup("first", lambda: ran.append("first"))

    def interrupted() -> None:
        raise KeyboardInterrupt

    sup.add_cleanup("second", interrupted)
    sup.add_cleanup("third", lambda: ran.append("third"))
    with pytest.raises(KeyboardInterrupt):
        sup.close()
    assert ran == ["third", "first"]
    assert sup.errors == ["second: interrupted; going on with the rest"]
