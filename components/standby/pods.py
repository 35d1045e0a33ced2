"""Pod hardening and the Deployment shape both IdPs share."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.standby.base import StandbyBase
from components.standby.spec import NON_ROOT_UID


class PodBuilder(StandbyBase):
    """Builds hardened pods and Deployments (a mixin of :class:`~components.standby.component.IdentityStandby`)."""

    # ------------------------------------------------------------------ pods
    def _container_security(self) -> dict:
        return {
            "runAsNonRoot": True,
            "runAsUser": NON_ROOT_UID,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": self._args.idp.read_only_root_filesystem,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        }

    def _pod_spec(
        self, containers: list[dict], volumes: list[dict], service_account: str, *, api_token: bool = False
    ) -> dict:
        """``api_token``: mount a Kubernetes API token (only authentik's worker, which manages outposts)."""
        return {
            "serviceAccountName": service_account,
            "automountServiceAccountToken": api_token,
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "topologySpreadConstraints": [
                {
                    "maxSkew": 1,
                    "topologyKey": "topology.kubernetes.io/zone",
                    "whenUnsatisfiable": "ScheduleAnyway",
                    "labelSelector": {"matchLabels": {"app.kubernetes.io/name": self.app}},
                }
            ],
            "containers": containers,
            "volumes": volumes,
        }

    def _resources(self) -> dict:
        idp = self._args.idp
        return {
            "requests": {"cpu": idp.cpu_request, "memory": idp.memory_request},
            "limits": {"cpu": idp.cpu_limit, "memory": idp.memory_limit},
        }

    def _secret_env(self, secret: str, keys: list[str]) -> list[dict]:
        return [{"name": key, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}} for key in keys]

    def _deployment(
        self, resource_name: str, deployment_name: str, component: str, replicas: int, pod_spec: dict
    ) -> k8s.apps.v1.Deployment:
        labels = {**self.labels, "app.kubernetes.io/component": component}
        return k8s.apps.v1.Deployment(
            resource_name,
            metadata={"name": deployment_name, "namespace": self._ns, "labels": labels},
            spec={
                "replicas": replicas,
                "selector": {"matchLabels": self._selector(component)},
                "template": {"metadata": {"labels": labels}, "spec": pod_spec},
            },
            # Pilot light (0 replicas) or a DR database not reachable yet must not block `pulumi up`.
            # On the DR site failover scales these up: a later `pulumi up` must not scale them back
            # to drReplicas. So a changed standby.drReplicas is not applied here (kubectl scale it).
            opts=self._k8s(
                custom_timeouts=pulumi.CustomTimeouts(create="15m", update="15m"),
                ignore_changes=["spec.replicas"] if self._args.aws_site.name == "dr" else None,
            ),
        )
