"""What the runbook does to a site's IdP through the adapter: scale it and wait, point it at a database.

* :func:`scale_and_wait` scales Deployments and waits until they are at that count: for 0, until no
  pod is left, terminating ones included (``restore dump`` and ``recover`` stop the IdP before its
  database is replaced; see :mod:`scripts.k8s.status`); else until rolled out and ready.
* :func:`point_at` writes a database endpoint where a site's IdP reads it: the Secrets Manager
  endpoint secret plus an ExternalSecret force-sync, waiting until the Kubernetes Secret shows it
  (``secretsMode=external-secrets``), or the Kubernetes Secret itself (``secretsMode=pulumi``).
  ``failover`` points the DR site, ``recover --method repoint`` the primary site.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from contract.secrets import DB_SECRET_KEYS
from scripts.aws.client import error_code, error_message
from scripts.errors import ExternalError, RefusedError
from scripts.k8s.adapter import EXTERNAL_SECRET_KIND, FORCE_SYNC_ANNOTATION
from scripts.k8s.status import DeploymentStatus
from scripts.polling import Clock, Verdict, poll_until


def scale_and_wait(
    kube: Any, namespace: str, deployments: tuple[str, ...] | list[str], replicas: int, *, timeout: float,
    clock: Clock, interval: float = 2.0, on_update: Callable[[str], None] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Scale every Deployment to ``replicas``, then wait for each; returns what each was scaled from."""
    before = {name: kube.deployment_status(namespace, name).replicas for name in deployments}
    for name in deployments:
        kube.scale(namespace, name, replicas)
    for name in deployments:
        poll_until(
            lambda name=name: kube.deployment_status(namespace, name),
            lambda status: _judge(status, replicas),
            interval=interval,
            timeout=timeout,
            clock=clock,
            what=f"{namespace}/{name} at {replicas} pod(s)",
            on_update=on_update,
            timeout_hint="check the pods (kubectl describe / logs); re-run to resume",
            on_failed=rollout_failed,
        )
    return {"replicas": replicas, "from": before}


def _judge(status: DeploymentStatus, replicas: int) -> Verdict[DeploymentStatus]:
    if replicas == 0:
        left = f", still terminating: {', '.join(status.terminating)}" if status.terminating else ""
        return Verdict("done" if status.stopped() else "wait", f"{status.ready}/0 ready{left}", status)
    return rollout_verdict(status, replicas, f"{status.ready}/{replicas} ready, {status.replicas} pod(s)")


def rollout_verdict(status: DeploymentStatus, want: int, message: str) -> Verdict[DeploymentStatus]:
    """Rolled out to ``want`` ready pods; failed at once when the controller says it cannot (a missing
    ServiceAccount, a quota, a webhook): waiting the whole timeout would only hide why."""
    if status.failure:
        return Verdict("failed", f"{status.name}: {status.failure}", status)
    return Verdict("done" if status.rolled_out(want) else "wait", message, status)


def rollout_failed(verdict: Verdict[DeploymentStatus]) -> ExternalError:
    return ExternalError(
        f"the rollout cannot finish: {verdict.message}",
        hint="fix what the Deployment's controller reports (kubectl describe deployment/replicaset), then re-run: "
        "it resumes here",
    )


@dataclass(frozen=True)
class EndpointSink:
    """Where one site's IdP reads its database endpoint."""

    idp: str
    namespace: str
    db_secret: str
    secrets_mode: str  # external-secrets | pulumi
    #: external-secrets: the Secrets Manager secret {"host","port","dbname"} and its region.
    endpoint_secret: str | None = None
    region: str | None = None
    external_secret: str | None = None


def point_at(
    sink: EndpointSink, want: dict[str, str], *, aws: Any, kube: Any, clock: Clock, timeout: float,
    register_secret: Callable[[str | None], None], on_update: Callable[[str], None] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Make the site's DB Secret show ``want`` ({"host","port","dbname"}); idempotent."""
    keys = DB_SECRET_KEYS[sink.idp]
    detail: dict[str, Any] = {"endpoint": want}

    def matches() -> bool:
        data = kube.get_secret_data(sink.namespace, sink.db_secret)
        for sensitive in ("username", "password"):
            register_secret(data.get(keys[sensitive]))
        return all(str(data.get(keys[k])) == v for k, v in want.items())

    if sink.secrets_mode != "external-secrets":
        if not matches():
            kube.patch_secret_data(sink.namespace, sink.db_secret, {keys[k]: v for k, v in want.items()})
            detail["kubernetes_secret"] = "patched"  # noqa: S105 - a status, not a secret
        else:
            detail["kubernetes_secret"] = "already current"  # noqa: S105 - a status
        return detail
    current = read_endpoint_secret(aws, sink)
    if {k: str(current.get(k)) for k in want} != want:
        merged = {**current, "host": want["host"], "port": int(want["port"]), "dbname": want["dbname"]}
        sm = aws.client("secretsmanager", sink.region)
        aws.call(sm, "PutSecretValue", SecretId=sink.endpoint_secret, SecretString=json.dumps(merged))
        detail["secrets_manager"] = "updated"
    else:
        detail["secrets_manager"] = "already current"
    if not matches():
        stamp = str(int(clock.now().timestamp()))
        kube.annotate(sink.namespace, EXTERNAL_SECRET_KIND, sink.external_secret or "", {FORCE_SYNC_ANNOTATION: stamp})
        detail["force_sync"] = True
        poll_until(
            matches,
            lambda ok: Verdict("done" if ok else "wait", f"Secret {sink.db_secret} shows {want['host']}: {ok}", ok),
            interval=2.0,
            timeout=timeout,
            clock=clock,
            what="ExternalSecret sync",
            on_update=on_update,
            timeout_hint="is external-secrets running in that cluster? re-run to resume",
        )
    detail["kubernetes_secret"] = f"{sink.namespace}/{sink.db_secret} shows {want['host']}"
    return detail


def read_endpoint_secret(aws: Any, sink: EndpointSink) -> dict[str, Any]:
    """The endpoint secret's JSON; refused (exit 3) when it cannot be read or is not JSON."""
    sm = aws.client("secretsmanager", sink.region)
    try:
        value = aws.call(sm, "GetSecretValue", SecretId=sink.endpoint_secret)
    except ClientError as exc:
        raise RefusedError(
            f"cannot read the endpoint secret {sink.endpoint_secret}: {error_code(exc)}: {error_message(exc)}",
            hint=f"the site's DB endpoint must be readable and writable in {sink.region}",
        ) from None
    try:
        doc = json.loads(value.get("SecretString") or "{}")
    except json.JSONDecodeError:
        shape = '{"host","port","dbname"}'
        raise RefusedError(f"the endpoint secret {sink.endpoint_secret} is not JSON {shape}") from None
    return doc if isinstance(doc, dict) else {}
