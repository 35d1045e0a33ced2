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

    reader = threading.Thread(target=read, name="port-forward-reader", daemon=True)
    reader.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and reader.is_alive() and proc.poll() is None:
        reader.join(timeout=0.1)
    if all(p in found for p in ports):
        return found
    stderr = ""
    if proc.poll() is not None and proc.stderr is not None:
        stderr = proc.stderr.read().strip()[:300]
    raise ExternalError(
        f"{shown} … did not forward ports {ports} within {START_TIMEOUT_S:.0f} s: {stderr or '; '.join(lines)[:300]}",
        hint="is the drill's Service there and its pod ready? (kubectl get svc,pods in the drill namespace)",
    )
