"""Pod hardening, the Deployment shape both IdPs share, and the runbook's CronJob shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.standby.base import StandbyBase
from components.standby.spec import BOOTSTRAP_ADMIN_ENV, BOOTSTRAP_ADMIN_SECRET, NON_ROOT_UID, RUNBOOK_UID
from contract.tls import POD_CA_DIR, POD_CA_KEY, POD_CA_PATH, RDS_CA_BUNDLE, RDS_CA_CONFIG_MAP


class PodBuilder(StandbyBase):
    """Builds hardened pods and Deployments (a mixin of :class:`~components.standby.component.IdentityStandby`)."""

    _db_ca_config_map: str | None = None
    _server_pod_spec: dict | None = None
    #: What the IdP's Deployments wait for (the bootstrap Job, when there is one).
    _workload_dependencies: tuple[pulumi.Resource, ...] = ()

    # ------------------------------------------------------------------ database TLS
    def _db_ca(self) -> None:
        """The CA the IdP verifies the database with: the operator's ConfigMap, or the shipped RDS
        bundle written into this namespace (none under sslmode ``require``)."""
        tls = self._args.db_tls
        if tls.mode == "require":
            self._db_ca_config_map = None
        elif tls.ca_config_map:
            self._db_ca_config_map = tls.ca_config_map
        else:
            k8s.core.v1.ConfigMap(
                f"{self._name}-rds-ca",
                metadata={"name": RDS_CA_CONFIG_MAP, "namespace": self._ns, "labels": self.labels},
                data={POD_CA_KEY: RDS_CA_BUNDLE.read_text()},
                opts=self._k8s(),
            )
            self._db_ca_config_map = RDS_CA_CONFIG_MAP

    @property
    def _db_ca_path(self) -> str | None:
        return POD_CA_PATH if self._db_ca_config_map else None

    def _db_ca_volume(self) -> tuple[list[dict], list[dict]]:
        """The CA's volume and read-only mount (none without a CA)."""
        if not self._db_ca_config_map:
            return [], []
        volume = {
            "name": "db-ca",
            "configMap": {"name": self._db_ca_config_map, "items": [{"key": POD_CA_KEY, "path": POD_CA_KEY}]},
        }
        return [volume], [{"name": "db-ca", "mountPath": POD_CA_DIR, "readOnly": True}]

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

    def _bootstrap_admin_env(self) -> list[dict]:
        """The first administrator's variables (the primary site, when adminPassword is set)."""
        if self._args.secrets.bootstrap_admin_password is None:
            return []
        return self._secret_env(BOOTSTRAP_ADMIN_SECRET, [k for k in BOOTSTRAP_ADMIN_ENV[self.app] if k])

    def _deployment(
        self, resource_name: str, deployment_name: str, component: str, replicas: int, pod_spec: dict
    ) -> k8s.apps.v1.Deployment:
        labels = {**self.labels, "app.kubernetes.io/component": component}
        if component == "server":
            self._server_pod_spec = pod_spec  # what a drill copies, and so what its Role may read
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
                depends_on=list(self._workload_dependencies) or None,
            ),
        )

    # ------------------------------------------------------------------ the runbook's CronJobs
    def _runbook_cronjob(self, job: RunbookCronJob) -> k8s.batch.v1.CronJob:
        """One of the runbook's scheduled jobs: the runbook image as a non-root, read-only, token-less pod under
        its own (IRSA) service account, never two runs at once, stopped at its deadline."""
        labels = {**self.labels, "app.kubernetes.io/component": job.component}
        container = {
            "name": job.container,
            "image": job.image,
            "args": job.args,
            "env": job.env,
            "resources": job.resources,
            "securityContext": {**self._container_security(), "runAsUser": RUNBOOK_UID, "readOnlyRootFilesystem": True},
            "volumeMounts": [*job.mounts, {"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108 - a container path (emptyDir)
        }
        pod = {
            "metadata": {"labels": labels},
            "spec": {
                "serviceAccountName": job.service_account,
                "automountServiceAccountToken": job.api_token,
                "restartPolicy": "Never",
                "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [container],
                "volumes": [*job.volumes, {"name": "tmp", "emptyDir": {}}],
            },
        }
        return k8s.batch.v1.CronJob(
            f"{self._name}-{job.suffix}",
            metadata={"name": job.name, "namespace": job.namespace or self._ns, "labels": labels},
            spec={
                "schedule": job.schedule,
                "timeZone": "Etc/UTC",
                "concurrencyPolicy": "Forbid",  # never two runs at once
                "startingDeadlineSeconds": job.starting_deadline_s,
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 5,
                "jobTemplate": {
                    "metadata": {"labels": labels},
                    "spec": {"backoffLimit": job.backoff, "activeDeadlineSeconds": job.deadline_s, "template": pod},
                },
            },
            opts=self._k8s(),
        )


@dataclass(frozen=True)
class RunbookCronJob:
    """What differs between the runbook's CronJobs (:meth:`PodBuilder._runbook_cronjob` builds the rest)."""

    suffix: str  # of the Pulumi resource name
    name: str  # of the CronJob
    component: str  # its app.kubernetes.io/component label
    container: str
    service_account: str
    image: str
    schedule: str
    args: Any
    deadline_s: int
    env: list[dict] = field(default_factory=list)
    resources: dict = field(
        default_factory=lambda: {
            "requests": {"cpu": "50m", "memory": "128Mi"},
            "limits": {"cpu": "500m", "memory": "256Mi"},
        }
    )
    volumes: list[dict] = field(default_factory=list)
    mounts: list[dict] = field(default_factory=list)
    backoff: int = 2
    starting_deadline_s: int = 3600
    #: Another namespace of the site (the drill namespace); default: the standby's.
    namespace: pulumi.Input[str] | None = None
    #: Mount a Kubernetes API token (the drill runs kubectl against its own namespace); default: none.
    api_token: bool = False
