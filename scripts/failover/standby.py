"""Failover steps 4 and 5, the standby: point it at the new database, scale it up, wait ready.

A mixin of :class:`scripts.failover.failover.Failover`.
"""

from __future__ import annotations

from typing import Any

from scripts.errors import InputError, RefusedError
from scripts.k8s.adapter import EXTERNAL_SECRET_KIND
from scripts.k8s.site import EndpointSink, point_at, read_endpoint_secret
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
    def _sink(self) -> EndpointSink:
        sb = self.out.standby
        return EndpointSink(
            idp=sb.idp, namespace=sb.namespace, db_secret=sb.dbSecretName, secrets_mode=sb.secretsMode,
            endpoint_secret=sb.drDbEndpointSecretArn, region=self.out.drRegion, external_secret=sb.externalSecretName,
        )  # fmt: skip

    def _read_endpoint_secret(self) -> dict[str, Any]:
        return read_endpoint_secret(self.aws, self._sink())

    def point_standby(self) -> dict[str, Any]:
        db = self.state.data.get("db") or {}
        want = {"host": db["host"], "port": str(db["port"]), "dbname": db["dbname"]}
        return point_at(
            self._sink(), want, aws=self.aws, kube=self.kube, clock=self.clock, timeout=self.o.k8s_timeout_s,
            register_secret=self.report.register_secret, on_update=self.progress.update,
        )  # fmt: skip

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
