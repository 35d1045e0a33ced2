"""A real Kubernetes control plane on loopback, for the tests and ``sandbox --kube real``.

What is real: etcd, kube-apiserver (authentication by client certificate, RBAC, admission, server-side apply),
kube-controller-manager (ServiceAccounts, ReplicaSets, Deployments' status, garbage collection) and
kube-scheduler (binds pods). What is simulated: the node. kwok plays a kubelet, so scheduled pods become
Running and Ready without containers, and a deleted pod stays Terminating for its grace period as on a
kubelet (``scripts/lab/kwok/stages.yaml``); ``kubectl port-forward`` goes through the API server to kwok's
server, which connects it to the address a ``ClusterPortForward`` names (:meth:`ControlPlane.forward_pods`:
a stand-in IdP on this machine). No CNI, so NetworkPolicies are stored and validated, not enforced; no EKS,
so no IRSA.

Two stages:

1. **Build** (:func:`ensure_binaries`): ``tools/kube/build.sh`` compiles the five binaries from the Go module
   proxy into ``<cache>/kube-<digest>/bin`` (the digest of ``tools/kube``'s pins: a bump builds anew), once.
2. **Start** (:class:`ControlPlane`): a fresh CA and admin kubeconfig, etcd, the API server on free ports,
   waited for ``/readyz``; the controller manager, the scheduler, kwok and one fake node; every process stopped
   through a :class:`~scripts.processes.Supervisor`.

``python -m scripts.lab.kube_plane prepare`` builds; ``… start DIR`` runs one in the foreground (Ctrl-C stops it).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from scripts.errors import ExternalError, WaitTimeout
from scripts.lab.keycloak_dist import cache_dir
from scripts.lab.kube_certs import Pki, write_kubeconfig, write_pki
from scripts.processes import ManagedProcess, Supervisor, free_port, unwind_on_sigterm, wait_for_port

TOOLS = Path(__file__).resolve().parents[2] / "tools" / "kube"
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
CONTEXT = "idp-dr-test"
NODE = "kwok-node-0"
KWOK_CONFIG = Path(__file__).resolve().parent / "kwok"


def pins_digest() -> str:
    """Digest of everything that decides what is built (go.mod, go.sum, sources, build.sh)."""
    h = hashlib.sha256()
    for path in sorted(p for p in TOOLS.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(TOOLS)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def bin_dir() -> Path:
    return cache_dir() / f"kube-{pins_digest()}" / "bin"


def _pid_file() -> Path:
    return bin_dir().parent / "build.pid"


def build_log() -> Path:
    return bin_dir().parent / "build.log"


def ready() -> bool:
    return all((bin_dir() / name).is_file() for name in BINARIES)


def building() -> bool:
    """A background build (:func:`start_background_build`) is still running."""
    try:
        os.kill(int(_pid_file().read_text()), 0)
    except (OSError, ValueError):
        return False
    return True


def start_background_build() -> str:
    """``make test``'s way: the build runs niced, one package at a time, beside the other tests (which use about
    one core), and ``tests/kube`` (collected last) waits for it. Returns "ready", "building" or "started"."""
    if ready():
        return "ready"
    if building():
        return "building"
    if shutil.which("go") is None:
        raise ExternalError(
            "the test control plane is not built and there is no Go toolchain to build it",
            hint="install Go 1.24 or later (make test needs it), then: make kube",
        )
    bin_dir().parent.mkdir(parents=True, exist_ok=True)
    with open(build_log(), "wb") as log:
        proc = subprocess.Popen(
            ["nice", "-n", "15", "bash", str(TOOLS / "build.sh"), str(bin_dir().parent)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            env={**os.environ, "IDP_DR_GO_PARALLEL": "1"},
        )  # fmt: skip
    _pid_file().write_text(str(proc.pid))
    return "started"


def wait_for_binaries(timeout: float) -> Path:
    """The built binaries, waiting for a background build to finish; an error with the build's log when it failed."""
    deadline = time.monotonic() + timeout
    while not ready():
        if not building():
            tail = build_log().read_text(errors="replace")[-2000:] if build_log().is_file() else "(no log)"
            raise ExternalError(f"the control plane's build did not finish (log {build_log()}):\n{tail}")
        if time.monotonic() > deadline:
            raise WaitTimeout(f"the control plane's build still runs after {timeout:.0f} s (log {build_log()})")
        time.sleep(5)
    return bin_dir()


def ensure_binaries(log: bool = True) -> Path:
    """The built control plane, building it first when the cache does not hold it (minutes, once)."""
    out = bin_dir()
    if ready():
        return out
    if building():
        return wait_for_binaries(timeout=3600)
    if shutil.which("go") is None:
        raise ExternalError(
            "the test control plane is not built and there is no Go toolchain to build it",
            hint="install Go 1.24 or later (make test needs it), then: make kube",
        )
    if log:
        print(f"[kube] building the control plane into {out.parent} (minutes, once)", file=sys.stderr, flush=True)
    done = subprocess.run(["bash", str(TOOLS / "build.sh"), str(out.parent)], check=False)
    if done.returncode != 0 or not all((out / name).is_file() for name in BINARIES):
        raise ExternalError(f"building the control plane failed (exit {done.returncode})", hint="see the log above")
    return out


@dataclass
class ControlPlane:
    """One control plane in ``directory`` (its certificates, etcd's data, the logs, the kubeconfig)."""

    directory: Path
    supervisor: Supervisor = field(default_factory=Supervisor)
    server: str = ""
    kubeconfig: Path = Path()
    pki: Pki | None = None
    started_s: float = 0.0

    def start(self, *, timeout: float = 120.0) -> ControlPlane:
        begin = time.monotonic()
        bins = ensure_binaries()
        d = self.directory
        (d / "logs").mkdir(parents=True, exist_ok=True)
        self.pki = pki = write_pki(d / "pki")
        etcd_port, peer_port, api_port, node_port = free_port(), free_port(), free_port(), free_port()
        self.server = f"https://127.0.0.1:{api_port}"
        self.kubeconfig = write_kubeconfig(d / "admin.kubeconfig", pki, self.server, context=CONTEXT)
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        try:
            etcd = self._run(
                "etcd", bins, env,
                f"--data-dir={d / 'etcd'}", "--name=default", "--unsafe-no-fsync",
                f"--listen-client-urls=http://127.0.0.1:{etcd_port}",
                f"--advertise-client-urls=http://127.0.0.1:{etcd_port}",
                f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-cluster=default=http://127.0.0.1:{peer_port}",
            )  # fmt: skip
            wait_for_port("127.0.0.1", etcd_port, timeout=timeout, proc=etcd.popen, what="etcd", log_path=etcd.log_path)
            api = self._run(
                "kube-apiserver", bins, env,
                f"--etcd-servers=http://127.0.0.1:{etcd_port}", "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1", f"--secure-port={api_port}",
                f"--tls-cert-file={pki.serving_cert}", f"--tls-private-key-file={pki.serving_key}",
                f"--client-ca-file={pki.ca_cert}", "--authorization-mode=RBAC",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki.sa_pub}", f"--service-account-signing-key-file={pki.sa_key}",
                "--service-cluster-ip-range=10.0.0.0/24", "--endpoint-reconciler-type=none",
                "--enable-priority-and-fairness=false", "--kubelet-preferred-address-types=InternalIP",
            )  # fmt: skip
            self._wait_ready(api, timeout)
            self._create_crd(KWOK_CONFIG / "clusterportforwards.crd.yaml")
            common = [f"--kubeconfig={self.kubeconfig}", "--leader-elect=false"]
            self._run(
                "kube-controller-manager", bins, env, *common,
                f"--service-account-private-key-file={pki.sa_key}", f"--root-ca-file={pki.ca_cert}",
                "--use-service-account-credentials=false", "--controllers=*,-nodeipam",
                "--secure-port=0",
            )  # fmt: skip
            self._run("kube-scheduler", bins, env, *common, "--secure-port=0")
            self._run(
                "kwok", bins, env, f"--kubeconfig={self.kubeconfig}", "--manage-all-nodes=true",
                "--node-ip=127.0.0.1", "--cidr=10.0.0.1/24", f"--config={KWOK_CONFIG / 'stages.yaml'}",
                # Explicit: with --config, kwok no longer defaults the node's lease, and without one the node
                # controller marks the node NotReady (and every pod with it) after its 50 s grace period.
                "--node-lease-duration-seconds=40",
                "--enable-crds=ClusterPortForward", f"--node-port={node_port}",
                f"--server-address=127.0.0.1:{node_port}", f"--tls-cert-file={pki.serving_cert}",
                f"--tls-private-key-file={pki.serving_key}",
            )  # fmt: skip
            self._create_node()
            self._wait_default_service_account(timeout)
        except BaseException:
            self.stop()
            raise
        self.started_s = time.monotonic() - begin
        return self

    def stop(self) -> None:
        self.supervisor.close()

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- helpers -----------------------------------------------------------------------------
    def _run(self, name: str, bins: Path, env: dict[str, str], *args: str) -> ManagedProcess:
        proc = self.supervisor.start(
            name, [str(bins / name), *args], log_path=self.directory / "logs" / f"{name}.log", env=env
        )
        return proc

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        """One call to the API server as the admin (status, JSON body)."""
        assert self.pki is not None
        resp = requests.request(
            method,
            self.server + path,
            json=body,
            cert=(str(self.pki.admin_cert), str(self.pki.admin_key)),
            verify=str(self.pki.ca_cert),
            timeout=10,
        )
        text = resp.text.strip()
        return resp.status_code, json.loads(text) if text.startswith("{") else {"text": text}

    def _wait_ready(self, api: ManagedProcess, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if not api.running():
                raise ExternalError(
                    f"kube-apiserver exited with code {api.popen.returncode}", hint=f"see {api.log_path}"
                )
            try:
                status, _ = self.request("GET", "/readyz")
                if status == 200:
                    return
                last = f"HTTP {status}"
            except requests.RequestException as exc:
                last = str(exc)
            time.sleep(0.2)
        raise WaitTimeout(f"kube-apiserver not ready within {timeout:.0f} s ({last})", hint=f"see {api.log_path}")

    def forward_pods(self, name: str, namespaces: list[str], address: str, port: int) -> None:
        """``kubectl port-forward`` to any pod of ``namespaces`` reaches ``address:port`` on this machine
        (kwok's ClusterPortForward: there is no container to forward to)."""
        body = {"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "ClusterPortForward", "metadata": {"name": name},
                "spec": {"selector": {"matchNamespaces": namespaces},
                         "forwards": [{"target": {"address": address, "port": port}}]}}  # fmt: skip
        status, answer = self.request("POST", "/apis/kwok.x-k8s.io/v1alpha1/clusterportforwards", body)
        if status != 201:
            raise ExternalError(f"could not create ClusterPortForward {name}: HTTP {status} {answer}")

    def _create_crd(self, path: Path) -> None:
        import yaml

        status, body = self.request(
            "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", yaml.safe_load(path.read_text())
        )
        if status not in (201, 409):
            raise ExternalError(f"could not create the CRD in {path.name}: HTTP {status} {body}")
        deadline = time.monotonic() + 30
        name = yaml.safe_load(path.read_text())["metadata"]["name"]
        while time.monotonic() < deadline:  # established: kwok's informer can list it
            _, crd = self.request("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
            if any(c.get("type") == "Established" and c.get("status") == "True"
                   for c in (crd.get("status") or {}).get("conditions") or []):  # fmt: skip
                return
            time.sleep(0.1)
        raise WaitTimeout(f"CRD {name} not established within 30 s")

    def _create_node(self) -> None:
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": NODE,
                "annotations": {"node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake"},
                "labels": {"kubernetes.io/hostname": NODE, "type": "kwok"},
            },
            "status": {
                "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "500"},
                "capacity": {"cpu": "64", "memory": "256Gi", "pods": "500"},
            },
        }
        status, body = self.request("POST", "/api/v1/nodes", node)
        if status not in (201, 409):
            raise ExternalError(f"could not create the fake node: HTTP {status} {body}")

    def _wait_default_service_account(self, timeout: float) -> None:
        """Pods need the namespace's default ServiceAccount, which the controller manager creates."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.request("GET", "/api/v1/namespaces/default/serviceaccounts/default")[0] == 200:
                return
            time.sleep(0.2)
        raise WaitTimeout(f"no default ServiceAccount within {timeout:.0f} s", hint=f"see {self.directory / 'logs'}")


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m scripts.lab.kube_plane", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    prepare = sub.add_parser("prepare", help="build the control plane into the cache (skipped when it is there)")
    prepare.add_argument("--background", action="store_true", help="start the build and return (make test)")
    start = sub.add_parser("start", help="run one in the foreground until Ctrl-C")
    start.add_argument("directory", type=Path)
    args = parser.parse_args(argv)
    unwind_on_sigterm()  # a SIGTERM stops every server started, like Ctrl-C
    try:
        if args.action == "prepare" and args.background:
            state = start_background_build()
            print(f"[kube] {state}: {bin_dir()} (log {build_log()})", file=sys.stderr)
            return 0
        if args.action == "prepare":
            print(f"[kube] ready: {ensure_binaries()}", file=sys.stderr)
            return 0
        with ControlPlane(args.directory) as plane:
            print(f"[kube] up in {plane.started_s:.1f} s: KUBECONFIG={plane.kubeconfig}", file=sys.stderr, flush=True)
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        return 130
    except ExternalError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return int(exc.exit_code)


if __name__ == "__main__":
    sys.exit(main())
