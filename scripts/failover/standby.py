"""Failover steps 4 and 5, the standby: point it at the new database, scale it up, wait ready.

A mixin of :class:`scripts.failover.failover.Failover`.
"""

from __future__ import annotations

from typing import Any

from scripts.aws.rds import replica_lag_since
from scripts.errors import InputError, RefusedError
from scripts.k8s.adapter import EXTERNAL_SECRET_KIND
from scripts.k8s.site import (
    EndpointSink,
    point_at,
    read_endpoint_secret,
    rollout_failed,
    rollout_verdict,
    scale_and_wait,
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
    def _sink(self) -> EndpointSink:
        sb = self.out.standby
        return EndpointSink(
            idp=sb.idp,
            namespace=sb.namespace,
            db_secret=sb.dbSecretName,
            secrets_mode=sb.secretsMode,
            endpoint_secret=sb.drDbEndpointSecretArn,
            region=self.out.drRegion,
            external_secret=sb.externalSecretName,
        )

    def _read_endpoint_secret(self) -> dict[str, Any]:
        return read_endpoint_secret(self.aws, self._sink())

    def point_standby(self) -> dict[str, Any]:
        db = self.incident.db
        if db is None:
            raise RefusedError(
                "no database in the incident to point the standby at", hint="re-run: the database step runs first"
            )
        want = {"host": db.host, "port": str(db.port), "dbname": db.dbname}
        return point_at(
            self._sink(),
            want,
            aws=self.aws,
            kube=self.kube,
            clock=self.clock,
            timeout=self.o.k8s_timeout_s,
            register_secret=self.report.register_secret,
            on_update=self.progress.update,
        )

    # -- planned only: stop the primary's writes -----------------------------------------------
    def stop_primary(self) -> dict[str, Any]:
        """A planned failover loses nothing: the primary site's IdP stopped, then (promoting) the DR replica's lag
        waited down to 0 after the stop, so the promoted replica holds every write."""
        sb = self.out.standby
        detail = scale_and_wait(
            self.primary_kube,
            sb.namespace,
            self._deployments(),
            0,
            timeout=self.o.k8s_timeout_s,
            clock=self.clock,
            on_update=self.progress.update,
        )
        stopped = self.clock.now()
        if self.o.mode != "promote":
            self.report.notes.append("planned failover by restore: writes after the newest restorable point are lost")
            return detail
        replica = str(self.out.database.drReplicaInstanceId)

        def judge(lag: float | None) -> Verdict[Any]:
            shown = "not published since the stop" if lag is None else f"{lag:.0f} s"
            return Verdict("done" if lag == 0 else "wait", f"{replica}: ReplicaLag {shown}", lag)

        lag, _ = poll_until(
            lambda: replica_lag_since(self.aws, self.out.drRegion, replica, stopped, self.clock),
            judge,
            interval=self.o.poll_interval,
            timeout=self.o.k8s_timeout_s,
            clock=self.clock,
            what=f"{replica} to catch up with the stopped primary",
            on_update=self.progress.update,
            timeout_hint="the primary site is stopped: re-run to keep waiting (it resumes here), or scale it back up",
        )
        return {**detail, "replica_lag_s": lag}

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
                return rollout_verdict(s, target, msg)

            final, _ = poll_until(
                lambda name=name: self.kube.deployment_status(sb.namespace, name),
                judge,
                interval=min(self.o.poll_interval, 5.0),
                timeout=self.o.k8s_timeout_s,
                clock=self.clock,
                what=f"rollout of {name}",
                on_update=self.progress.update,
                timeout_hint="check the pods (kubectl describe / logs); re-run to resume",
                on_failed=rollout_failed,
            )
            detail[name]["final"] = final.to_dict()
        return detail
