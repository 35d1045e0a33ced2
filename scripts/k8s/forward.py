"""``kubectl port-forward`` to a Service, for as long as a block runs: how a drill run from a laptop or a CI
runner reaches the drill IdP, which has no Ingress and no DNS record.

Local ports are chosen by kubectl (``:<port>``) and read from its "Forwarding from 127.0.0.1:N -> P" lines;
the forward is stopped (and waited for) when the block ends, also on an error or Ctrl-C.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from scripts.errors import ExternalError

_FORWARDING = re.compile(r"Forwarding from 127\.0\.0\.1:(?P<local>\d+) -> (?P<remote>\d+)")
#: How long kubectl may take to print its forwarding lines.
START_TIMEOUT_S = 30.0


@contextmanager
def port_forward(kubectl: Any, namespace: str, service: str, ports: list[int]) -> Iterator[dict[int, str]]:
    """Yields ``{service port: "127.0.0.1:<local port>"}``. ``kubectl`` is a :class:`KubectlAdapter`."""
    argv = kubectl.argv(namespace, "port-forward", f"service/{service}", "--address", "127.0.0.1")
    argv += [f":{port}" for port in ports]
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except FileNotFoundError:
        raise ExternalError(f"{argv[0]} not found", hint="install kubectl, or run the drill in the cluster") from None
    try:
        yield _wait_forwarding(proc, ports, " ".join(argv[:8]))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_forwarding(proc: subprocess.Popen, ports: list[int], shown: str) -> dict[int, str]:
    """The forwarded ports once kubectl printed them all; else an error with what kubectl said.

    The reader thread ends when kubectl closes its stdout, which happens *before* the process is reaped: when it
    ends early, kubectl is waited for (briefly) before its stderr is read, so a kubectl that failed at once is
    reported with its own words and how long it ran, not as a 30-second timeout with nothing to say."""
    found: dict[int, str] = {}
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.strip())
            match = _FORWARDING.search(line)
            if match:
                found[int(match["remote"])] = f"127.0.0.1:{match['local']}"
            if all(p in found for p in ports):
                return

    started = time.monotonic()
    reader = threading.Thread(target=read, name="port-forward-reader", daemon=True)
    reader.start()
    deadline = started + START_TIMEOUT_S
    while time.monotonic() < deadline and reader.is_alive() and proc.poll() is None:
        reader.join(timeout=0.1)
    if all(p in found for p in ports):
        return found
    exited = _exit_code(proc, reader)
    took = time.monotonic() - started
    stderr = proc.stderr.read().strip()[:300] if exited is not None and proc.stderr is not None else ""
    said = stderr or "; ".join(lines)[:300] or "nothing"
    if exited is not None:
        what = f"exited with code {exited} after {took:.1f} s without forwarding ports {ports}"
    else:
        what = f"did not forward ports {ports} within {START_TIMEOUT_S:.0f} s"
    raise ExternalError(
        f"{shown} … {what}: {said}",
        hint="is the drill's Service there and its pod ready? (kubectl get svc,pods in the drill namespace)",
    )


#: How long a kubectl whose stdout closed may take to exit before it counts as still running.
EXIT_GRACE_S = 5.0


def _exit_code(proc: subprocess.Popen, reader: threading.Thread) -> int | None:
    """kubectl's exit code, waiting briefly when its output already ended (closed, not yet reaped)."""
    if reader.is_alive():
        return proc.poll()
    try:
        return proc.wait(timeout=EXIT_GRACE_S)
    except subprocess.TimeoutExpired:
        return None
