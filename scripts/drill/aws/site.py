"""The drill IdP in the DR cluster: the standby's Deployment copied into the drill namespace, on the drill database.

What the copy changes, and why (everything else, the image and the public hostname among it, is the
standby's own, so the issuer is production's):

* namespace ``<standby namespace>-drill`` (the program created it with NetworkPolicies that isolate it);
* one replica; no ServiceAccount of the standby's (its IRSA role is the standby's): the namespace's
  default, without a token;
* the database Secret: a copy whose host, port and database name are the drill instance's;
* every other Secret and ConfigMap the pods read, copied as they are (read from the standby's namespace);
* values naming the standby's namespace (Keycloak's JGroups DNS query) name the drill namespace instead, so
  the drill pod can never join the standby's cache cluster;
* every object carries the drill's labels (``app.kubernetes.io/managed-by=idp-dr-drill``,
  ``idp-dr/drill=<id>``): the cleanup deletes exactly those. A Service reaches the pod; no Ingress, no DNS.
"""

from __future__ import annotations

import base64
import copy
from typing import Any

from contract.drills import DRILL_SERVICE, LABEL_DRILL_ID, LABEL_MANAGED_BY, MANAGED_BY_DRILL, pod_references
from contract.secrets import DB_SECRET_KEYS

#: What a drill creates, in the order it creates them (and deletes them in reverse).
KINDS = ("secret", "configmap", "deployment", "service")
#: Metadata a copy must not carry over (the API server owns it).
_SERVER_FIELDS = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "ownerReferences")


def drill_labels(drill_id: str) -> dict[str, str]:
    return {LABEL_MANAGED_BY: MANAGED_BY_DRILL, LABEL_DRILL_ID: drill_id}


def selector_of_all() -> str:
    """Every drill's objects (the leftovers of earlier drills too)."""
    return f"{LABEL_MANAGED_BY}={MANAGED_BY_DRILL}"


def _metadata(source: dict[str, Any], namespace: str, drill_id: str) -> dict[str, Any]:
    meta = {k: v for k, v in (source.get("metadata") or {}).items() if k not in _SERVER_FIELDS}
    meta.pop("annotations", None)  # kubectl's last-applied configuration names the standby's namespace
    meta["namespace"] = namespace
    meta["labels"] = {**(meta.get("labels") or {}), **drill_labels(drill_id)}
    return meta


def referenced(deployment: dict[str, Any]) -> dict[str, set[str]]:
    """The Secrets and ConfigMaps the Deployment's pods read (the program scopes the drill's RBAC to the same)."""
    return pod_references(deployment["spec"]["template"]["spec"])


def copied_object(source: dict[str, Any], namespace: str, drill_id: str) -> dict[str, Any]:
    """A Secret or ConfigMap as it is, in the drill namespace with the drill's labels."""
    out = {"apiVersion": "v1", "kind": source["kind"], "metadata": _metadata(source, namespace, drill_id)}
    for key in ("type", "data", "stringData", "binaryData", "immutable"):
        if key in source:
            out[key] = copy.deepcopy(source[key])
    return out


def db_secret(source: dict[str, Any], idp: str, endpoint: dict[str, str], namespace: str, drill_id: str) -> dict:
    """The database Secret pointing at the drill instance (its credentials are the restored database's own)."""
    out = copied_object(source, namespace, drill_id)
    keys = DB_SECRET_KEYS[idp]
    data = dict(out.pop("data", {}) or {})
    for field in ("host", "port", "dbname"):
        data[keys[field]] = base64.b64encode(str(endpoint[field]).encode()).decode()
    out["data"] = data
    out.pop("stringData", None)
    return out


def db_login(source: dict[str, Any], idp: str) -> dict[str, str]:
    """The username and password in the standby's database Secret (the restored database's own)."""
    keys = DB_SECRET_KEYS[idp]
    data = source.get("data") or {}
    return {f: base64.b64decode(data[keys[f]]).decode() for f in ("username", "password") if keys[f] in data}


def drill_deployment(source: dict[str, Any], *, namespace: str, standby_namespace: str, drill_id: str) -> dict:
    """The standby's Deployment in the drill namespace, one replica, isolated (see the module docstring)."""
    out = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _metadata(source, namespace, drill_id)}
    spec = copy.deepcopy(source["spec"])
    spec.pop("paused", None)
    spec["replicas"] = 1
    template = spec["template"]
    template.setdefault("metadata", {})
    template["metadata"]["labels"] = {**(template["metadata"].get("labels") or {}), **drill_labels(drill_id)}
    template["metadata"].pop("annotations", None)  # e.g. kubectl.kubernetes.io/restartedAt
    pod = template["spec"]
    pod.pop("serviceAccountName", None)
    pod.pop("serviceAccount", None)
    pod["automountServiceAccountToken"] = False
    for container in [*pod.get("initContainers", []), *pod.get("containers", [])]:
        for env in container.get("env", []):
            if isinstance(env.get("value"), str):
                env["value"] = env["value"].replace(f".{standby_namespace}.svc", f".{namespace}.svc")
    out["spec"] = spec
    return out


def drill_service(deployment: dict[str, Any], drill_id: str) -> dict[str, Any]:
    """A ClusterIP Service on every port the drill pod's first container declares."""
    pod = deployment["spec"]["template"]["spec"]
    ports = [
        {
            "name": p.get("name") or f"p{p['containerPort']}",
            "port": p["containerPort"],
            "targetPort": p["containerPort"],
        }
        for p in pod["containers"][0].get("ports", [])
    ]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": DRILL_SERVICE,
            "namespace": deployment["metadata"]["namespace"],
            "labels": drill_labels(drill_id),
        },
        "spec": {
            "type": "ClusterIP",
            "selector": dict(deployment["spec"]["selector"]["matchLabels"]),
            "ports": ports,
        },
    }
