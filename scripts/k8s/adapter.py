"""The few Kubernetes operations a failover needs, behind a small adapter.

* :class:`KubectlAdapter` runs ``kubectl --context <drKubeContext>`` with JSON output: no
  Kubernetes client library, and the operator's kubeconfig/credentials work as they do by hand.
* :class:`FakeKube` keeps the state in memory (tests); :class:`FileKube` keeps it in a JSON file
  (``--kube-adapter fake:<file>``, used by the sandbox). Both emulate an ExternalSecret: on a
  ``force-sync`` annotation they read the remote secret and update the target Secret, the way
  external-secrets does. Output from a fake adapter is labelled as a simulation.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Protocol

from scripts.errors import ExternalError, InputError
from scripts.inputs import read_json
from scripts.k8s.status import DeploymentStatus, rollout_failure, selector_of

EXTERNAL_SECRET_KIND = "externalsecrets.external-secrets.io"  # noqa: S105 - a resource kind
FORCE_SYNC_ANNOTATION = "force-sync"
#: ``--kube-context in-cluster``: no kubeconfig context; kubectl reads the pod's service account.
IN_CLUSTER = "in-cluster"


class KubeAdapter(Protocol):
    #: Shown in reports, e.g. "kubectl --context dr-cluster" or "SIMULATED (fake:state.json)".
    description: str
    simulated: bool

    def exists(self, namespace: str, kind: str, name: str) -> bool: ...
    def get_secret_data(self, namespace: str, name: str) -> dict[str, str]: ...
    def patch_secret_data(self, namespace: str, name: str, data: dict[str, str]) -> None: ...
    def annotate(self, namespace: str, kind: str, name: str, annotations: dict[str, str]) -> None: ...
    def rollout_restart(self, namespace: str, deployment: str) -> None: ...
    def scale(self, namespace: str, deployment: str, replicas: int) -> None: ...
    def deployment_status(self, namespace: str, deployment: str) -> DeploymentStatus: ...
    # -- what a drill needs: objects by manifest, found and removed by label ---------------
    def get_object(self, namespace: str, kind: str, name: str) -> dict[str, Any] | None: ...
    def apply(self, manifest: dict[str, Any]) -> None: ...
    def delete(self, namespace: str, kind: str, name: str) -> None: ...
    def list_names(self, namespace: str, kind: str, selector: str) -> list[str]: ...
    def forward(self, namespace: str, service: str, ports: list[int]) -> AbstractContextManager[dict[int, str]]: ...


# ---------------------------------------------------------------------------------------
# kubectl
# ---------------------------------------------------------------------------------------
Runner = Callable[..., subprocess.CompletedProcess]


class KubectlAdapter:
    simulated = False

    def __init__(
        self,
        context: str | None,
        *,
        flag: str = "--kube-context",
        kubectl: str = "kubectl",
        timeout: float = 60.0,
        runner: Runner = subprocess.run,
    ):
        if context is not None and not (0 < len(context) <= 253 and context.isprintable() and context.strip()):
            raise InputError(flag, context, "a kubeconfig context name: 1 to 253 printable characters")
        self.context = context
        self.kubectl = kubectl
        self.timeout = timeout
        self.runner = runner
        self.description = f"kubectl --context {context}" if context else "kubectl (current context)"

    def argv(self, namespace: str, *args: str) -> list[str]:
        head = [self.kubectl] + (["--context", self.context] if self.context else [])
        return [*head, "--namespace", namespace, *args]

    def _run(
        self, namespace: str, *args: str, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess:
        argv = self.argv(namespace, *args)
        try:
            extra = {"input": stdin} if stdin is not None else {}
            proc = self.runner(argv, capture_output=True, text=True, timeout=self.timeout, **extra)
        except FileNotFoundError:
            raise ExternalError(f"{self.kubectl} not found", hint="install kubectl, or pass --kube-adapter") from None
        except subprocess.TimeoutExpired:
            raise ExternalError(f"{' '.join(argv[:6])} … did not answer within {self.timeout:.0f} s") from None
        if check and proc.returncode != 0:
            raise ExternalError(
                f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()[:300]}",
                hint="check the DR cluster context (stack output standby.drKubeContext) and your access to it",
            )
        return proc

    def exists(self, namespace: str, kind: str, name: str) -> bool:
        proc = self._run(namespace, "get", kind, name, "-o", "name", check=False)
        if proc.returncode == 0:
            return True
        if "NotFound" in proc.stderr or "not found" in proc.stderr:
            return False
        raise ExternalError(f"kubectl get {kind} {name} failed: {proc.stderr.strip()[:300]}")

    def get_secret_data(self, namespace: str, name: str) -> dict[str, str]:
        doc = json.loads(self._run(namespace, "get", "secret", name, "-o", "json").stdout)
        return {k: base64.b64decode(v).decode() for k, v in (doc.get("data") or {}).items()}

    def patch_secret_data(self, namespace: str, name: str, data: dict[str, str]) -> None:
        self._run(namespace, "patch", "secret", name, "--type", "merge", "-p", json.dumps({"stringData": data}))

    def annotate(self, namespace: str, kind: str, name: str, annotations: dict[str, str]) -> None:
        self._run(namespace, "annotate", kind, name, *[f"{k}={v}" for k, v in annotations.items()], "--overwrite")

    def rollout_restart(self, namespace: str, deployment: str) -> None:
        self._run(namespace, "rollout", "restart", f"deployment/{deployment}")

    def scale(self, namespace: str, deployment: str, replicas: int) -> None:
        self._run(namespace, "scale", f"deployment/{deployment}", f"--replicas={replicas}")

    def deployment_status(self, namespace: str, deployment: str) -> DeploymentStatus:
        doc = json.loads(self._run(namespace, "get", "deployment", deployment, "-o", "json").stdout)
        spec, status, meta = doc.get("spec", {}), doc.get("status", {}), doc.get("metadata", {})
        containers = ((spec.get("template") or {}).get("spec") or {}).get("containers", [])
        found = DeploymentStatus(
            name=deployment,
            replicas=int(spec.get("replicas", 1)),
            ready=int(status.get("readyReplicas", 0)),
            updated=int(status.get("updatedReplicas", 0)),
            available=int(status.get("availableReplicas", 0)),
            generation=int(meta.get("generation", 0)),
            observed_generation=int(status.get("observedGeneration", 0)),
            images=[c.get("image", "") for c in containers],
            failure=rollout_failure(status.get("conditions") or []),
        )
        if found.replicas == 0 and found.ready == 0 and selector_of(doc):  # its status no longer counts them
            found.terminating = self.list_names(namespace, "pod", selector_of(doc))
        return found

    def get_object(self, namespace: str, kind: str, name: str) -> dict[str, Any] | None:
        proc = self._run(namespace, "get", kind, name, "-o", "json", check=False)
        if proc.returncode == 0:
            return json.loads(proc.stdout)
        if "NotFound" in proc.stderr or "not found" in proc.stderr:
            return None
        raise ExternalError(f"kubectl get {kind} {name} failed: {proc.stderr.strip()[:300]}")

    def apply(self, manifest: dict[str, Any]) -> None:
        namespace = manifest.get("metadata", {}).get("namespace") or "default"
        self._run(namespace, "apply", "-f", "-", stdin=json.dumps(manifest))

    def delete(self, namespace: str, kind: str, name: str) -> None:
        self._run(namespace, "delete", kind, name, "--ignore-not-found", "--wait=false")

    def list_names(self, namespace: str, kind: str, selector: str) -> list[str]:
        doc = json.loads(self._run(namespace, "get", kind, "-l", selector, "-o", "json").stdout)
        return sorted(item["metadata"]["name"] for item in doc.get("items", []))

    def forward(self, namespace: str, service: str, ports: list[int]) -> AbstractContextManager[dict[int, str]]:
        from scripts.k8s.forward import port_forward

        return port_forward(self, namespace, service, ports)


# ---------------------------------------------------------------------------------------
# fakes
# ---------------------------------------------------------------------------------------
SecretSource = Callable[[str], dict[str, Any]]


class FakeKube:
    """In-memory cluster: Secrets, Deployments and ExternalSecrets. For tests and the sandbox.

    ``secret_source(remote_ref)`` returns the remote secret's JSON (e.g. from Secrets Manager)
    when an ExternalSecret is force-synced. Deployments report ready ``ready_after`` status
    reads after a change (0 = at once).
    """

    simulated = True

    def __init__(
        self,
        state: dict[str, Any] | None = None,
        *,
        secret_source: SecretSource | None = None,
        ready_after: int = 1,
    ):
        self.state: dict[str, Any] = state or {"secrets": {}, "deployments": {}, "externalsecrets": {}}
        #: "objects": full manifests by "<kind>/<namespace>/<name>"; "service_urls": where "<ns>/<service>"
        #: answers (the sandbox's stand-in sites), for :meth:`forward`.
        for key in ("secrets", "deployments", "externalsecrets", "objects", "service_urls"):
            self.state.setdefault(key, {})
        self.secret_source = secret_source
        self.ready_after = ready_after
        self.calls: list[tuple[str, ...]] = []
        self.description = "SIMULATED Kubernetes (in-memory fake)"

    # state helpers -------------------------------------------------------------------
    def _load(self) -> None:  # FileKube overrides
        pass

    def _save(self) -> None:  # FileKube overrides
        pass

    @staticmethod
    def _key(namespace: str, name: str) -> str:
        return f"{namespace}/{name}"

    def add_secret(self, namespace: str, name: str, data: dict[str, str]) -> None:
        self.state["secrets"][self._key(namespace, name)] = dict(data)
        self._save()

    def add_deployment(self, namespace: str, name: str, replicas: int, image: str = "idp:1") -> None:
        self.state["deployments"][self._key(namespace, name)] = {
            "replicas": replicas,
            "ready": replicas,
            "generation": 1,
            "observed": 1,
            "pending_reads": 0,
            "image": image,
            "restarts": 0,
        }
        self._save()

    def add_external_secret(
        self, namespace: str, name: str, *, target: str, remote_ref: str, keys: dict[str, str]
    ) -> None:
        """``keys`` maps the target Secret's key to the remote JSON property."""
        self.state["externalsecrets"][self._key(namespace, name)] = {
            "target": target,
            "remote_ref": remote_ref,
            "keys": dict(keys),
            "annotations": {},
        }
        self._save()

    # adapter ---------------------------------------------------------------------------
    def exists(self, namespace: str, kind: str, name: str) -> bool:
        self._load()
        table = {
            "secret": "secrets",
            "deployment": "deployments",
            EXTERNAL_SECRET_KIND: "externalsecrets",
            "externalsecret": "externalsecrets",
        }.get(kind)
        if table is None:
            return _object_key(kind, namespace, name) in self.state["objects"]
        return self._key(namespace, name) in self.state[table]

    def get_secret_data(self, namespace: str, name: str) -> dict[str, str]:
        self._load()
        self.calls.append(("get_secret_data", namespace, name))
        try:
            return dict(self.state["secrets"][self._key(namespace, name)])
        except KeyError:
            raise ExternalError(f"secret {namespace}/{name} not found") from None

    def patch_secret_data(self, namespace: str, name: str, data: dict[str, str]) -> None:
        self._load()
        self.calls.append(("patch_secret_data", namespace, name))
        self.state["secrets"].setdefault(self._key(namespace, name), {}).update(data)
        self._save()

    def annotate(self, namespace: str, kind: str, name: str, annotations: dict[str, str]) -> None:
        self._load()
        self.calls.append(("annotate", namespace, kind, name, *sorted(annotations)))
        if kind in (EXTERNAL_SECRET_KIND, "externalsecret"):
            es = self.state["externalsecrets"].get(self._key(namespace, name))
            if es is None:
                raise ExternalError(f"externalsecret {namespace}/{name} not found")
            es["annotations"].update(annotations)
            if FORCE_SYNC_ANNOTATION in annotations and self.secret_source is not None:
                remote = self.secret_source(es["remote_ref"])
                synced = {k: str(remote[prop]) for k, prop in es["keys"].items() if prop in remote}
                self.state["secrets"].setdefault(self._key(namespace, es["target"]), {}).update(synced)
        self._save()

    def _deployment(self, namespace: str, name: str) -> dict[str, Any]:
        try:
            return self.state["deployments"][self._key(namespace, name)]
        except KeyError:
            raise ExternalError(f"deployment {namespace}/{name} not found") from None

    def rollout_restart(self, namespace: str, deployment: str) -> None:
        self._load()
        self.calls.append(("rollout_restart", namespace, deployment))
        d = self._deployment(namespace, deployment)
        d["generation"] += 1
        d["restarts"] += 1
        d["pending_reads"] = self.ready_after
        d["ready"] = 0 if self.ready_after else d["replicas"]
        self._save()

    def scale(self, namespace: str, deployment: str, replicas: int) -> None:
        self._load()
        self.calls.append(("scale", namespace, deployment, str(replicas)))
        d = self._deployment(namespace, deployment)
        if d["replicas"] != replicas:
            d["replicas"] = replicas
            d["generation"] += 1
            d["pending_reads"] = self.ready_after
            d["ready"] = 0 if self.ready_after else replicas
        self._save()

    def deployment_status(self, namespace: str, deployment: str) -> DeploymentStatus:
        self._load()
        d = self._deployment(namespace, deployment)
        if d["pending_reads"] > 0:
            d["pending_reads"] -= 1
        else:
            d["ready"] = d["replicas"]
            d["observed"] = d["generation"]
        self._save()
        done = d["pending_reads"] == 0 and d["ready"] == d["replicas"]
        return DeploymentStatus(
            name=deployment,
            replicas=d["replicas"],
            ready=d["ready"],
            updated=d["replicas"] if done else 0,
            available=d["ready"],
            generation=d["generation"],
            observed_generation=d["observed"],
            images=[d.get("image", "")],
        )

    # objects (drills) ------------------------------------------------------------------------
    def add_object(self, manifest: dict[str, Any]) -> None:
        """Seed an object as the stack left it (not recorded as a call)."""
        self._store(manifest)
        self._save()

    def _store(self, manifest: dict[str, Any]) -> None:
        meta = manifest["metadata"]
        kind, namespace, name = manifest["kind"].lower(), meta.get("namespace", ""), meta["name"]
        self.state["objects"][_object_key(kind, namespace, name)] = manifest
        if kind == "secret":
            data = {k: base64.b64decode(v).decode() for k, v in (manifest.get("data") or {}).items()}
            self.state["secrets"][self._key(namespace, name)] = {**data, **(manifest.get("stringData") or {})}
        elif kind == "deployment":
            replicas = int(manifest["spec"].get("replicas", 1))
            containers = manifest["spec"]["template"]["spec"].get("containers", [{}])
            self.add_deployment(namespace, name, replicas, image=containers[0].get("image", ""))
            if self.ready_after:
                entry = self.state["deployments"][self._key(namespace, name)]
                entry.update(ready=0, pending_reads=self.ready_after)

    def get_object(self, namespace: str, kind: str, name: str) -> dict[str, Any] | None:
        self._load()
        self.calls.append(("get_object", namespace, kind, name))
        found = self.state["objects"].get(_object_key(kind, namespace, name))
        data = self.state["secrets"].get(self._key(namespace, name)) if kind == "secret" else None
        if data is not None:  # the Secret's current data (an ExternalSecret sync may have changed it)
            encoded = {k: base64.b64encode(str(v).encode()).decode() for k, v in data.items()}
            meta = (found or {}).get("metadata") or {"name": name, "namespace": namespace}
            found = {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": "Opaque", "data": encoded}
        return json.loads(json.dumps(found)) if found is not None else None

    def apply(self, manifest: dict[str, Any]) -> None:
        self._load()
        meta = manifest["metadata"]
        self.calls.append(("apply", meta.get("namespace", ""), manifest["kind"].lower(), meta["name"]))
        namespace = meta.get("namespace", "")
        if manifest["kind"].lower() != "namespace" and not self.exists(namespace, "namespace", namespace):
            raise ExternalError(f'namespaces "{meta.get("namespace")}" not found')
        self._store(manifest)
        self._save()

    def delete(self, namespace: str, kind: str, name: str) -> None:
        self._load()
        self.calls.append(("delete", namespace, kind, name))
        self.state["objects"].pop(_object_key(kind, namespace, name), None)
        table = {"secret": "secrets", "deployment": "deployments"}.get(kind)
        if table:
            self.state[table].pop(self._key(namespace, name), None)
        self._save()

    def list_names(self, namespace: str, kind: str, selector: str) -> list[str]:
        self._load()
        want = dict(part.split("=", 1) for part in selector.split(",") if part)
        names = []
        for key, manifest in self.state["objects"].items():
            labels = manifest["metadata"].get("labels") or {}
            if key.startswith(f"{kind}/{namespace}/") and all(labels.get(k) == v for k, v in want.items()):
                names.append(manifest["metadata"]["name"])
        return sorted(names)

    @contextmanager
    def _forward(self, namespace: str, service: str, ports: list[int]) -> Iterator[dict[int, str]]:
        self._load()
        self.calls.append(("forward", namespace, service, *map(str, ports)))
        if not self.exists(namespace, "service", service):
            raise ExternalError(f'services "{service}" not found in {namespace}')
        url = self.state["service_urls"].get(self._key(namespace, service))
        if url is None:
            raise ExternalError(f"the fake cluster has no address for {namespace}/{service}")
        yield {port: url for port in ports}

    def forward(self, namespace: str, service: str, ports: list[int]) -> AbstractContextManager[dict[int, str]]:
        return self._forward(namespace, service, ports)


def _object_key(kind: str, namespace: str, name: str) -> str:
    kind = kind.lower()
    return f"{kind}/{'' if kind == 'namespace' else namespace}/{name}"  # a Namespace is in none


class FileKube(FakeKube):
    """:class:`FakeKube` persisted in a JSON file, so separate processes share one fake cluster."""

    def __init__(self, path: Path, *, secret_source: SecretSource | None = None, ready_after: int = 1):
        self.path = path
        if not path.is_file():
            raise InputError(
                "--kube-adapter",
                f"fake:{path}",
                "fake:<existing JSON state file> (the sandbox writes one) or kubectl",
            )
        state = read_json("--kube-adapter", path, "fake:<a JSON state file the sandbox wrote>", shown=f"fake:{path}")
        if not isinstance(state, dict):
            raise InputError(
                "--kube-adapter", f"fake:{path}", "fake:<a JSON state file the sandbox wrote> (not an object)"
            )
        super().__init__(state, secret_source=secret_source, ready_after=ready_after)
        self.description = f"SIMULATED Kubernetes (fake cluster in {path})"

    def _load(self) -> None:
        self.state = json.loads(self.path.read_text())

    def _save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state, indent=2, sort_keys=True))
        tmp.replace(self.path)


def secretsmanager_source(aws: Any, region: str) -> SecretSource:
    """Read a Secrets Manager secret's JSON, as external-secrets would (used by the fakes)."""

    def read(remote_ref: str) -> dict[str, Any]:
        client = aws.client("secretsmanager", region)
        value = aws.call(client, "GetSecretValue", SecretId=remote_ref)
        return json.loads(value.get("SecretString") or "{}")

    return read


def make_adapter(
    spec: str, *, context: str | None, aws: Any = None, dr_region: str | None = None, flag: str = "--kube-context"
) -> KubeAdapter:
    """``kubectl`` (default) or ``fake:<state.json>``; a fake's ExternalSecrets read Secrets Manager in
    ``dr_region`` (the region of the cluster's site: the DR region for failover, the primary for recover)."""
    if spec == "kubectl":
        if context == IN_CLUSTER:  # a CronJob's pod: kubectl uses its service account's token
            return KubectlAdapter(None)
        return KubectlAdapter(context, flag=flag)
    if spec.startswith("fake:") and len(spec) > 5:
        source = secretsmanager_source(aws, dr_region) if aws is not None and dr_region else None
        return FileKube(Path(spec[5:]), secret_source=source)
    raise InputError("--kube-adapter", spec, "kubectl, or fake:<state.json> (a simulated cluster; see sandbox)")
