"""Failover steps 4 and 5, the standby: point it at the new database, scale it up, wait ready.

A mixin of :class:`scripts.failover.failover.Failover`.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from contract.secrets import DB_SECRET_KEYS
from scripts.aws.client import error_code, error_message
from scripts.errors import InputError, RefusedError
from scripts.k8s.adapter import (
    EXTERNAL_SECRET_KIND,
    FORCE_SYNC_ANNOTATION,
)
from scripts.polling import Verdict, poll_until


class StandbySteps:
    """Steps of a :class:`~scripts.failover.failover.Failover` (uses its options, outputs and adapters)."""

    def preflight_standby(self, detail: dict[str, Any]) -> None:
        """The standby's secrets and Deployments exist before anything changes."""
        sb = self.out.standby
        # Standby: secrets and Deployments must exist before anything changes.
        if sb.secretsMode == "external-secrets":
            if not sb.drDbEndpointSecretArn or not sb.externalSecretName:
                raise InputError(
                    "--stack-outputs",
                    "standby",
                    "drDbEndpointSecretArn and externalSecretName (secretsMode external-secrets)",
                )
            self._read_endpoint_secret()
            if not self.kube.exists(sb.namespace, EXTERNAL_SECRET_KIND, sb.externalSecretName):
                raise RefusedError(
                    f"ExternalSecret {sb.namespace}/{sb.externalSecretName} not found ({self.kube.description})"
                )
        if not self.kube.exists(sb.namespace, "secret", sb.dbSecretName):
            raise RefusedError(f"Secret {sb.namespace}/{sb.dbSecretName} not found ({self.kube.description})")
        for deployment in self._deployments():
            if not self.kube.exists(sb.namespace, "deployment", deployment):
                raise RefusedError(f"Deployment {sb.namespace}/{deployment} not found ({self.kube.description})")
        detail["standby"] = {"deployments": self._deployments(), "secrets_mode": sb.secretsMode}

    # -- 4. point the standby at the database -------------------------------------------------
    def _read_endpoint_secret(self) -> dict[str, Any]:
        sm = self.aws.client("secretsmanager", self.out.drRegion)
        arn = self.out.standby.drDbEndpointSecretArn
        try:
            value = self.aws.call(sm, "GetSecretValue", SecretId=arn)
        except ClientError as exc:
            raise RefusedError(
                f"cannot read the DR endpoint secret {arn}: {error_code(exc)}: {error_message(exc)}",
                hint="the standby's DB endpoint must be writable in the DR region",
            ) from None
        try:
            doc = json.loads(value.get("SecretString") or "{}")
        except json.JSONDecodeError:
            raise RefusedError(f'the DR endpoint secret {arn} is not JSON {{"host","port","dbname"}}') from None
        return doc if isinstance(doc, dict) else {}

    def point_standby(self) -> dict[str, Any]:
        db = self.state.data.get("db") or {}
        sb = self.out.standby
        keys = DB_SECRET_KEYS[sb.idp]
        want = {"host": db["host"], "port": str(db["port"]), "dbname": db["dbname"]}
        detail: dict[str, Any] = {"endpoint": want}
        if sb.secretsMode == "external-secrets":
            current = self._read_endpoint_secret()
            if {k: str(current.get(k)) for k in want} != want:
                sm = self.aws.client("secretsmanager", self.out.drRegion)
                merged = {**current, "host": db["host"], "port": int(db["port"]), "dbname": db["dbname"]}
                self.aws.call(sm, "PutSecretValue", SecretId=sb.drDbEndpointSecretArn, SecretString=json.dumps(merged))
                detail["secrets_manager"] = "updated"
            else:
                detail["secrets_manager"] = "already current"
            if not self._kube_secret_matches(keys, want):
                self.kube.annotate(
                    sb.namespace,
                    EXTERNAL_SECRET_KIND,
                    sb.externalSecretName or "",
                    {FORCE_SYNC_ANNOTATION: str(int(self.clock.now().timestamp()))},
                )
                detail["force_sync"] = True
                self._wait_kube_secret(keys, want)
            detail["kubernetes_secret"] = f"{sb.namespace}/{sb.dbSecretName} shows {want['host']}"
        else:
            if not self._kube_secret_matches(keys, want):
                self.kube.patch_secret_data(sb.namespace, sb.dbSecretName, {keys[k]: v for k, v in want.items()})
                detail["kubernetes_secret"] = "patched"  # noqa: S105 - a status, not a secret
            else:
                detail["kubernetes_secret"] = "already current"  # noqa: S105 - a status
        return detail

    def _kube_secret_matches(self, keys: dict[str, str], want: dict[str, str]) -> bool:
        data = self.kube.get_secret_data(self.out.standby.namespace, self.out.standby.dbSecretName)
        for sensitive in ("username", "password"):
            self.report.register_secret(data.get(keys[sensitive]))
        return all(str(data.get(keys[k])) == v for k, v in want.items())

    def _wait_kube_secret(self, keys: dict[str, str], want: dict[str, str]) -> None:
        def judge(ok: bool) -> Verdict[bool]:
            return Verdict(
                "done" if ok else "wait",
                f"Secret {self.out.standby.dbSecretName} {'shows' if ok else 'does not show yet'} {want['host']}",
                ok,
            )

        poll_until(
            lambda: self._kube_secret_matches(keys, want),
            judge,
            interval=2.0,
            timeout=self.o.k8s_timeout_s,
            clock=self.clock,
            what="ExternalSecret sync",
            on_update=self.progress.update,
            timeout_hint="is external-secrets running in the DR cluster? re-run to resume",
        )

    # -- 5. scale the standby ------------------------------------------------------------
    def _deployments(self) -> list[str]:
        sb = self.out.standby
        return [sb.serverDeployment] + ([sb.workerDeployment] if sb.workerDeployment else [])

    def scale_standby(self) -> dict[str, Any]:
        sb = self.out.standby
        want = sb.primaryReplicas
        detail: dict[str, Any] = {}
        for name in self._deployments():
            status = self.kube.deployment_status(sb.namespace, name)
            if status.replicas > 0:
                # Running pods read the DB settings at start: restart them onto the new endpoint.
                self.kube.rollout_restart(sb.namespace, name)
            target = max(status.replicas, want)
            self.kube.scale(sb.namespace, name, target)
            detail[name] = {
                "from_replicas": status.replicas,
                "to_replicas": target,
                "restarted": status.replicas > 0,
            }
        for name in self._deployments():
            target = detail[name]["to_replicas"]

            def judge(s: Any, target: int = target, name: str = name) -> Verdict[Any]:
                msg = f"{name}: {s.ready}/{target} ready, {s.updated} updated"
                return Verdict("done" if s.rolled_out(target) else "wait", msg, s)

            final, _ = poll_until(
                lambda name=name: self.kube.deployment_status(sb.namespace, name),
                judge,
                interval=min(self.o.poll_interval, 5.0),
                timeout=self.o.k8s_timeout_s,
                clock=self.clock,
                what=f"rollout of {name}",
                on_update=self.progress.update,
                timeout_hint="check the pods (kubectl describe / logs); re-run to resume",
            )
            detail[name]["final"] = final.to_dict()
        return detail
