"""Start helper processes and guarantee they are stopped.

A :class:`Supervisor` is a context manager. Everything started through it (or
registered with :meth:`Supervisor.add_cleanup`) is stopped in reverse order
when the block exits: normally, on an exception, on Ctrl-C, or on SIGTERM
(:func:`unwind_on_sigterm`, which the CLI and the benchmarks install, turns SIGTERM into
KeyboardInterrupt). Each child runs in its own process group, so wrappers such as ``kc.sh``
that fork a JVM are stopped together with their children.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from scripts.errors import ExternalError, WaitTimeout
from scripts.pg.osuser import OsUser


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(
    host: str,
    port: int,
    *,
    timeout: float,
    proc: subprocess.Popen | None = None,
    what: str = "service",
    log_path: Path | None = None,
) -> None:
    """Block until something accepts TCP connections on host:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ExternalError(
                f"{what} exited with code {proc.returncode} before listening on {host}:{port}",
                hint=f"see its log: {log_path}" if log_path else None,
            )
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.1)
    raise WaitTimeout(
        f"{what} did not listen on {host}:{port} within {timeout:.0f} s",
        hint=f"see its log: {log_path}" if log_path else None,
    )


@dataclass
class ManagedProcess:
    name: str
    popen: subprocess.Popen
    log_path: Path | None
    stop_signal: int = signal.SIGTERM
    stop_timeout: float = 20.0

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def stop(self) -> None:
        if not self.running():
            return
        _signal_group(self.popen.pid, self.stop_signal)
        try:
            self.popen.wait(timeout=self.stop_timeout)
        except subprocess.TimeoutExpired:
            _signal_group(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)

    def kill(self) -> None:
        """SIGKILL the whole process group (a disaster, not a shutdown)."""
        if self.running():
            _signal_group(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)


#: The signal that last unwound this process (None: Ctrl-C, or nothing yet): reports say which it was.
last_signal: int | None = None


def _raise_interrupt(signum: int, frame: object) -> None:
    global last_signal
    last_signal = signum
    raise KeyboardInterrupt


def interrupted_by() -> str:
    """What stopped this process: "SIGTERM" when that signal unwound it, else "Ctrl-C"."""
    return "SIGTERM" if last_signal == signal.SIGTERM else "Ctrl-C"


def unwind_on_sigterm() -> None:
    """SIGTERM (a CI job cancelled, ``kill``, a drained node) unwinds like Ctrl-C, so every :class:`Supervisor` block
    stops what it started instead of leaving PostgreSQL, Keycloak or the S3 stand-in running. A handler someone
    else installed is left alone."""
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _raise_interrupt)


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


@dataclass
class Supervisor:
    """Owns started processes and cleanup callbacks; undoes them in reverse order."""

    _cleanups: list[tuple[str, Callable[[], None]]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def add_cleanup(self, name: str, fn: Callable[[], None]) -> None:
        self._cleanups.append((name, fn))

    def start(
        self,
        name: str,
        argv: list[str],
        *,
        log_path: Path | None = None,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        user: OsUser | None = None,
        stop_signal: int = signal.SIGTERM,
        stop_timeout: float = 20.0,
    ) -> ManagedProcess:
        log = open(log_path, "ab") if log_path else subprocess.DEVNULL
        try:
            popen = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=cwd,
                start_new_session=True,  # own process group: Ctrl-C reaches us, we stop it
                **(user.popen_kwargs() if user else {}),
            )
        except OSError as exc:
            raise ExternalError(f"could not start {name}: {exc}") from None
        finally:
            if log is not subprocess.DEVNULL:
                log.close()
        proc = ManagedProcess(name, popen, log_path, stop_signal, stop_timeout)
        self.add_cleanup(f"stop {name}", proc.stop)
        return proc

    def close(self) -> None:
        """Every cleanup, even when one fails or a second Ctrl-C/SIGTERM arrives meanwhile (an impatient operator,
        a supervisor that signals twice): the children run in their own sessions, so an aborted cleanup would
        leave them running."""
        interrupted = False
        while self._cleanups:
            name, fn = self._cleanups.pop()
            try:
                fn()
            except KeyboardInterrupt:
                interrupted = True
                self.errors.append(f"{name}: interrupted; going on with the rest")
            except Exception as exc:  # noqa: BLE001 - keep cleaning up the rest
                self.errors.append(f"{name}: {exc}")
        if interrupted:
            raise KeyboardInterrupt
