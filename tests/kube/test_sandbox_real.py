"""``sandbox --kube real``: the sandbox with real Kubernetes control planes for both sites, and the documented
failover run against it with real ``kubectl`` (``--kube-adapter kubectl --kube-context sandbox-dr``), each in its
own process, as an operator runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from contract.drills import LABEL_MANAGED_BY, MANAGED_BY_DRILL
from scripts.lab.kube_plane import BINARIES, bin_dir, building, wait_for_binaries
from tests.conftest import need

REPO = Path(__file__).resolve().parents[2]


def _cli(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scripts", *argv], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=180)  # fmt: skip


def _kubectl(env: dict[str, str], *argv: str) -> str:
    return subprocess.run(["kubectl", *argv], capture_output=True, text=True, env=env, check=True).stdout


@pytest.fixture
def sandbox(tmp_path):
    if building():  # make test's background build
        wait_for_binaries(timeout=30 * 60)
    need(all((bin_dir() / b).is_file() for b in BINARIES), f"the test control plane in {bin_dir()} (make kube)")
    workdir = tmp_path / "sandbox"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "KUBECONFIG"}
    argv = [sys.executable, "-m", "scripts", "sandbox", "--dir", str(workdir), "--kube", "real", "--exit-after", "300"]
    proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (workdir / "env.sh").is_file():
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "sandbox did not start within 120 s"
            time.sleep(0.2)
        for line in (workdir / "env.sh").read_text().splitlines():
            key, _, value = line.removeprefix("export ").partition("=")
            env[key] = value
        yield workdir, env, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)


def test_the_failover_runs_with_kubectl_against_the_sandboxs_real_clusters(sandbox):
    workdir, env, proc = sandbox
    assert env["KUBECONFIG"] == str(workdir / "kubeconfig")
    contexts = _kubectl(env, "config", "get-contexts", "-o", "name").split()
    assert sorted(contexts) == ["sandbox-dr", "sandbox-primary"]
    assert _kubectl(env, "--context", "sandbox-dr", "-n", "identity", "get", "deployment", "keycloak",
                    "-o", "jsonpath={.spec.replicas}") == "0"  # fmt: skip  # a pilot light
    done = _cli(env, "failover", "--stack-outputs", str(workdir / "outputs.json"), "--kube-adapter", "kubectl",
                "--kube-context", "sandbox-dr", "--probe-scheme", "http", "--state-dir", str(workdir / "incident"),
                "--yes", "--force", "--reason", "sandbox: moto reports every check healthy", "--dns-wait", "0",
                "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert {s["name"]: s["status"] for s in doc["steps"]}["validate"] == "ok"
    assert doc["result"]["kubernetes"] == "kubectl --context sandbox-dr"
    ready = _kubectl(env, "--context", "sandbox-dr", "-n", "identity", "get", "deployment", "keycloak",
                     "-o", "jsonpath={.status.readyReplicas}")  # fmt: skip
    assert int(ready) == json.loads((workdir / "outputs.json").read_text())["standby"]["primaryReplicas"]

    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == 0
    leftovers = subprocess.run(["pgrep", "-f", str(workdir / "sandbox-dr")], capture_output=True, text=True)
    assert leftovers.stdout == ""  # every server of both planes stopped


def test_the_documented_drill_runs_on_the_sandboxs_real_dr_cluster(sandbox):
    """drill --aws as the sandbox prints it: its pods on the real DR plane, reached by kubectl port-forward through
    the API server (kwok forwards the drill namespace to the stand-in drill IdP), everything removed after."""
    workdir, env, _ = sandbox
    done = _cli(env, "drill", "--aws", "--stack-outputs", str(workdir / "outputs.json"), "--kube-adapter", "kubectl",
                "--kube-context", "sandbox-dr", "--report-dir", str(workdir / "drills"), "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    checks = {c["name"]: c["status"] for c in doc["checks"]}
    assert (checks["verify.issuer"], checks["verify.token.signature"]) == ("pass", "pass")
    preflight = next(s for s in doc["steps"] if s["name"] == "preflight")
    assert preflight["detail"]["kubernetes"] == "kubectl --context sandbox-dr"
    drill_ns = json.loads((workdir / "outputs.json").read_text())["standby"]["drillNamespace"]
    left = _kubectl(env, "--context", "sandbox-dr", "-n", drill_ns, "get", "deployments,services,secrets",
                    "-l", f"{LABEL_MANAGED_BY}={MANAGED_BY_DRILL}", "-o", "name")  # fmt: skip
    assert left == ""
