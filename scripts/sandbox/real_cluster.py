"""``sandbox --kube real``: the two sites' clusters as real Kubernetes control planes (scripts.lab.kube_plane:
kube-apiserver with RBAC, controllers, scheduler, and kwok's fake node, so pods are Running and Ready without
containers), seeded like the JSON fake: the IdP's namespace, DB Secret, CA ConfigMap and Deployment(s), and the
drill namespace on the DR side. One kubeconfig (``<dir>/kubeconfig``) holds both: contexts ``sandbox-dr`` and
``sandbox-primary``; the runbook's commands use ``--kube-adapter kubectl --kube-context sandbox-dr``.

What stays simulated: no External Secrets Operator runs (``--secrets-mode pulumi``: the runbook patches the DB
Secret), and no container runs: ``kubectl port-forward`` to the drill's pods reaches the stand-in drill IdP through
the DR plane's API server and kwok (a ClusterPortForward for the drill namespace), so ``drill --aws`` runs on the
real API too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3

from contract.secrets import DB_SECRET_KEYS
from scripts.k8s.adapter import KubectlAdapter
from scripts.lab.kube_plane import ControlPlane
from scripts.processes import Supervisor
from scripts.sandbox.cluster_state import instance_at

DR_CONTEXT, PRIMARY_CONTEXT = "sandbox-dr", "sandbox-primary"


def start_planes(sup: Supervisor, workdir: Path) -> tuple[Path, dict[str, ControlPlane]]:
    """Both clusters, stopped with the sandbox; returns the kubeconfig that names them, and the planes."""
    planes = {}
    for context in (DR_CONTEXT, PRIMARY_CONTEXT):
        plane = ControlPlane(workdir / context).start()
        sup.add_cleanup(f"stop {context}", plane.stop)
        planes[context] = plane
    return write_merged_kubeconfig(workdir / "kubeconfig", planes), planes


def write_merged_kubeconfig(path: Path, planes: dict[str, ControlPlane]) -> Path:
    merged: dict[str, Any] = {"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": []}
    for context, plane in planes.items():
        own = json.loads(plane.kubeconfig.read_text())
        merged["clusters"].append({**own["clusters"][0], "name": context})
        merged["users"].append({**own["users"][0], "name": f"{context}-admin"})
        merged["contexts"].append({"name": context, "context": {"cluster": context, "user": f"{context}-admin"}})
    merged["current-context"] = DR_CONTEXT
    path.write_text(json.dumps(merged, indent=2))
    path.chmod(0o600)
    return path


def seed(kube: KubectlAdapter, outputs: dict[str, Any], db: dict[str, str], replicas: int, deployment: Any) -> None:
    """A site's cluster as the stack leaves it: namespace, DB Secret (``db``: the endpoint and credentials),
    the CA bundle ConfigMap, and the IdP's Deployment(s) at ``replicas`` (``deployment(sb, name, replicas)``)."""
    sb = outputs["standby"]
    ns = sb["namespace"]
    keys = DB_SECRET_KEYS[sb["idp"]]
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    kube.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": sb["dbSecretName"], "namespace": ns},
                "stringData": {keys[k]: v for k, v in db.items()}})  # fmt: skip
    kube.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "rds-ca", "namespace": ns},
                "data": {"rds-ca.pem": "(the RDS CA bundle)"}})  # fmt: skip
    for name in filter(None, [sb["serverDeployment"], sb.get("workerDeployment")]):
        manifest = deployment(sb, name, replicas)
        manifest["metadata"].pop("uid", None)
        account = manifest["spec"]["template"]["spec"].get("serviceAccountName")
        if account:  # the API server refuses pods whose ServiceAccount is missing (the JSON fake did not)
            kube.apply({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": account, "namespace": ns}})
        kube.apply(manifest)


def seed_drill_namespace(kube: KubectlAdapter, outputs: dict[str, Any]) -> None:
    if outputs["standby"].get("drillNamespace"):
        kube.apply(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": outputs["standby"]["drillNamespace"]}}
        )


def site_instance(
    kube: KubectlAdapter, outputs: dict[str, Any], session: boto3.Session, namespace: str | None = None
) -> dict[str, Any] | None:
    """The DR-region instance the server pods in ``namespace`` (the standby's by default; the drill's) use,
    when one of them is Ready (read from the real API)."""
    sb = outputs["standby"]
    ns = namespace or sb["namespace"]
    try:
        if kube.deployment_status(ns, sb["serverDeployment"]).ready < 1:
            return None
        host = kube.get_secret_data(ns, sb["dbSecretName"]).get(DB_SECRET_KEYS[sb["idp"]]["host"])
    except Exception:  # noqa: BLE001 - a cluster that does not answer: the site is not ready
        return None
    return instance_at(host, outputs["drRegion"], session)


def primary_running(kube: KubectlAdapter, outputs: dict[str, Any]) -> bool:
    sb = outputs["standby"]
    try:
        return kube.deployment_status(sb["namespace"], sb["serverDeployment"]).replicas > 0
    except Exception:  # noqa: BLE001 - not answering: not running
        return False
