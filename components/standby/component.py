"""IdentityStandby: the identity provider on one Kubernetes cluster (one site).

``DrTopology`` creates one per site with the same :class:`IdpSpec`, so both
sites run the same pinned image and serve the same public hostname, hence the
same OIDC issuer. Only the replica count, the database endpoint and the health
hostname differ.

Per site, in namespace ``standby.namespace`` (Pod Security "restricted"):

* DB credentials as a Kubernetes Secret named for the app (``keycloak-db`` or
  ``authentik-postgresql``), either synced by External Secrets from Secrets
  Manager in the site's region (IRSA, a reader role scoped to exactly those
  secret ARNs and the key that encrypts them) or written by Pulumi from Pulumi
  secrets. Never a literal in a manifest.
* The Deployment(s): requests/limits, non-root, no privilege escalation, all
  capabilities dropped, seccomp RuntimeDefault, read-only root where the image
  allows it, probes on the app's own health endpoints.
* Keycloak: ``KC_HOSTNAME`` = the public URL, health and metrics on the
  management port 9000 (``/health/started|live|ready``), the ``kubernetes``
  cache stack (DNS_PING on a per-cluster headless Service) so the two sites
  never form one Infinispan cluster across regions.
* authentik: server + worker, ``/-/health/live/`` and ``/-/health/ready/``, the
  shared secret key, media in the site's replicated S3 bucket, Redis only for
  versions before 2025.10, and optionally a proxy outpost keeping sessions in
  PostgreSQL (``session_backend: postgres``, seed 002) configured by a blueprint.
* A PodDisruptionBudget when the site runs (or after failover will run) two or more replicas, a Service, an
  Ingress for the public hostname and one for the site's health hostname that
  exposes only the readiness path, the discovery document (what Route 53
  probes), and the JWKS and token endpoints (what ``failover --baseline``
  verifies on the DR site before DNS points at it).
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.standby.authentik import AuthentikBuilder
from components.standby.backup import BackupBuilder
from components.standby.baseline import BaselineBuilder
from components.standby.bootstrap import BootstrapBuilder
from components.standby.checks import ChecksBuilder
from components.standby.drill import DrillBuilder
from components.standby.ingress import IngressBuilder, _lb_hostname
from components.standby.keycloak import KeycloakBuilder
from components.standby.network import NetworkPolicyBuilder
from components.standby.secrets import SecretsBuilder
from components.standby.spec import DB_SECRET_NAMES, WORKER_SA, IdentityStandbyArgs


class IdentityStandby(
    SecretsBuilder,
    KeycloakBuilder,
    AuthentikBuilder,
    IngressBuilder,
    BaselineBuilder,
    DrillBuilder,
    NetworkPolicyBuilder,
    BootstrapBuilder,
    BackupBuilder,
    ChecksBuilder,
):
    server_deployment: k8s.apps.v1.Deployment
    worker_deployment: k8s.apps.v1.Deployment | None
    load_balancer_hostname: pulumi.Output[str]
    server_deployment_name: str
    worker_deployment_name: str | None
    db_secret_name: str
    external_secret_name: str | None

    def __init__(self, name: str, args: IdentityStandbyArgs, opts_: pulumi.ResourceOptions | None = None):
        super().__init__("idp-dr:standby:IdentityStandby", name, None, opts_)
        self._name = name
        self._args = args
        idp = args.idp
        self.app = idp.kind
        self.labels = {
            "app.kubernetes.io/name": idp.kind,
            "app.kubernetes.io/part-of": "idp-dr",
            "app.kubernetes.io/managed-by": "pulumi",
            "idp-dr/site": args.aws_site.name,
        }

        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata={
                "name": args.config.namespace,
                "labels": {**self.labels, "pod-security.kubernetes.io/enforce": "restricted"},
            },
            opts=self._k8s(),
        )
        self._ns = namespace.metadata.name
        self.db_secret_name = DB_SECRET_NAMES[idp.kind]
        self.external_secret_name = None
        app_sa = self._app_service_account()
        self._secrets()
        self._db_ca()
        self._network_policies()
        self._workload_dependencies = (self._bootstrap_job(args.bootstrap),) if args.bootstrap else ()
        self._scheduled_jobs(args)

        if idp.kind == "keycloak":
            self.server_deployment = self._keycloak(app_sa)
            self.worker_deployment = None
            backend_port_name, health_port_name = "http", "management"
        else:
            redis_host = self._redis() if idp.needs_redis else None
            blueprints = self._outpost_blueprint() if args.config.outpost.enabled else None
            worker_sa = self._worker_service_account(app_sa) if args.config.outpost.enabled else app_sa
            self.server_deployment = self._authentik("server", args.replicas, app_sa, redis_host, None)
            self.worker_deployment = self._authentik("worker", args.worker_replicas, worker_sa, redis_host, blueprints)
            backend_port_name = health_port_name = "http"
        self.server_deployment_name = self._server_name
        self.worker_deployment_name = f"{idp.kind}-worker" if self.worker_deployment is not None else None
        # After the server's Deployment: the drill's Role reads exactly what its pods read.
        self.drill_namespace = self._drill(args.drill) if args.drill else None

        self._disruption_budget()
        service = self._service()
        public = self._ingress(
            f"{name}-public-ingress",
            self._server_name,
            idp.public_hostname,
            [
                {"path": path, "pathType": path_type, "backend": self._backend(service, backend_port_name)}
                for path, path_type in idp.public_routes
            ],
        )
        self._ingress(
            f"{name}-health-ingress",
            f"{self._server_name}-health",
            args.health_hostname,
            [
                {"path": idp.health_path, "pathType": "Exact", "backend": self._backend(service, health_port_name)},
                *(
                    {"path": path, "pathType": "Exact", "backend": self._backend(service, backend_port_name)}
                    for path in (idp.discovery_path, idp.jwks_path, idp.token_path)
                ),
            ],
        )
        self.load_balancer_hostname = public.status.apply(_lb_hostname)
        self.register_outputs(
            {
                "server_deployment": self.server_deployment_name,
                "worker_deployment": self.worker_deployment_name,
                "db_secret": self.db_secret_name,
                "drill_namespace": self.drill_namespace,
                "load_balancer_hostname": self.load_balancer_hostname,
            }
        )

    # ------------------------------------------------------------------ identity
    def _scheduled_jobs(self, args: IdentityStandbyArgs) -> None:
        """The runbook's CronJobs on this site: dumps and baselines (primary), the DR-path checks (DR)."""
        if args.backup:
            self._backup(args.backup)
        if args.baseline:
            self._baseline(args.baseline)
        if args.checks:
            self._checks(args.checks)

    def _disruption_budget(self) -> None:
        """Where two or more replicas run, or will once a failover scales the site up (a pilot light
        has no pod to protect until then; the budget is there when it does)."""
        args = self._args
        if max(args.replicas, args.failover_replicas) >= 2:
            k8s.policy.v1.PodDisruptionBudget(
                f"{self._name}-pdb",
                metadata={"name": self._server_name, "namespace": self._ns, "labels": self.labels},
                spec={"minAvailable": 1, "selector": {"matchLabels": self._selector("server")}},
                opts=self._k8s(),
            )

    def _app_service_account(self) -> str:
        args = self._args
        annotations = {}
        if self.app == "authentik" and args.media_bucket_arn is not None:
            role = self._irsa_role(
                "media",
                self.app,
                also=(WORKER_SA,) if args.config.outpost.enabled else (),
                statements=[
                    {
                        "Sid": "ListMedia",
                        "Effect": "Allow",
                        "Action": "s3:ListBucket",
                        "Resource": args.media_bucket_arn,
                    },
                    {
                        "Sid": "ReadWriteMedia",
                        "Effect": "Allow",
                        "Action": [
                            "s3:GetObject",
                            "s3:PutObject",
                            "s3:DeleteObject",
                            "s3:AbortMultipartUpload",
                            "s3:ListMultipartUploadParts",
                        ],
                        "Resource": pulumi.Output.concat(args.media_bucket_arn, "/*"),
                    },
                    {
                        "Sid": "UseMediaKey",
                        "Effect": "Allow",
                        "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"],
                        "Resource": args.media_key_arn,
                        # The archive's key: usable for media only through S3 in this region.
                        "Condition": {"StringEquals": {"kms:ViaService": f"s3.{args.aws_site.region}.amazonaws.com"}},
                    },
                ],
            )
            annotations["eks.amazonaws.com/role-arn"] = role.arn
        self._media_role_annotations = annotations
        # No API token: the IdP's pods never talk to Kubernetes (IRSA's token is projected separately).
        k8s.core.v1.ServiceAccount(
            f"{self._name}-app-sa",
            metadata={"name": self.app, "namespace": self._ns, "labels": self.labels, "annotations": annotations},
            automount_service_account_token=False,
            opts=self._k8s(),
        )
        return self.app

    def _worker_service_account(self, app_sa: str) -> str:
        """authentik's worker with the outpost on: its own account, the only one with an API token."""
        k8s.core.v1.ServiceAccount(
            f"{self._name}-worker-sa",
            metadata={
                "name": WORKER_SA,
                "namespace": self._ns,
                "labels": self.labels,
                "annotations": self._media_role_annotations,
            },
            automount_service_account_token=True,
            opts=self._k8s(),
        )
        self._outpost_rbac()
        return WORKER_SA

    def _outpost_rbac(self) -> None:
        role = k8s.rbac.v1.Role(
            f"{self._name}-outpost-role",
            metadata={"name": "authentik-outposts", "namespace": self._ns, "labels": self.labels},
            rules=[
                {
                    "apiGroups": [""],
                    "resources": ["secrets", "services", "configmaps"],
                    "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
                },
                {
                    "apiGroups": ["apps"],
                    "resources": ["deployments"],
                    "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
                },
                {
                    "apiGroups": ["networking.k8s.io"],
                    "resources": ["ingresses"],
                    "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
                },
            ],
            opts=self._k8s(),
        )
        k8s.rbac.v1.RoleBinding(
            f"{self._name}-outpost-binding",
            metadata={"name": "authentik-outposts", "namespace": self._ns, "labels": self.labels},
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role.metadata.name},
            subjects=[{"kind": "ServiceAccount", "name": WORKER_SA, "namespace": self._ns}],
            opts=self._k8s(),
        )
