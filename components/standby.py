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
* A PodDisruptionBudget when the site runs two or more replicas, a Service, an
  Ingress for the public hostname and one for the site's health hostname that
  exposes only the readiness path, the discovery document (what Route 53
  probes), and the JWKS and token endpoints (what ``failover --baseline``
  verifies on the DR site before DNS points at it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import yaml

from components._common import opts, policy_json, tags
from components.archive import IrsaSubject, irsa_trust_policy
from contract.secrets import DB_SECRET_KEYS

KEYCLOAK_HTTP_PORT = 8080
KEYCLOAK_MGMT_PORT = 9000
KEYCLOAK_JGROUPS_PORT = 7800
AUTHENTIK_HTTP_PORT = 9000
AUTHENTIK_METRICS_PORT = 9300
REDIS_IMAGE = "docker.io/library/redis:7.4.2-alpine"
NON_ROOT_UID = 1000

DB_SECRET_NAMES = {"keycloak": "keycloak-db", "authentik": "authentik-postgresql"}
AUTHENTIK_KEY_SECRET = "authentik-secret-key"  # noqa: S105 - a Secret *name*
SECRETS_READER_SA = "idp-dr-secrets-reader"


@dataclass(frozen=True)
class IdpSpec:
    """Everything that must be identical on both sites."""

    kind: str
    image: str
    public_hostname: str
    issuer: str
    discovery_path: str
    #: JWKS and token endpoints: routed on the site's health hostname too, so `failover --baseline`
    #: can prove keys and tokens on the DR site before DNS points at it (both are public anyway).
    jwks_path: str
    token_path: str
    health_path: str
    optimized_image: bool
    needs_redis: bool
    read_only_root_filesystem: bool
    cpu_request: str
    memory_request: str
    cpu_limit: str
    memory_limit: str


@dataclass(frozen=True)
class SecretSources:
    """Where a site's DB credentials come from."""

    mode: str  # external-secrets | pulumi
    external_secrets_api_version: str
    #: Secrets Manager names/ARNs in this site's region (external-secrets mode).
    credentials_name: pulumi.Input[str]
    credentials_arn: pulumi.Input[str]
    endpoint_name: pulumi.Input[str]
    endpoint_arn: pulumi.Input[str]
    authentik_key_name: pulumi.Input[str] | None
    authentik_key_arn: pulumi.Input[str] | None
    kms_key_arns: list[pulumi.Input[str]]
    #: Values for pulumi mode (Pulumi secrets).
    db_host: pulumi.Input[str]
    db_port: int
    db_name: str
    db_username: str
    db_password: pulumi.Input[str]
    authentik_secret_key: pulumi.Input[str] | None


@dataclass(frozen=True)
class IdentityStandbyArgs:
    site: str  # primary | dr
    k8s_provider: pulumi.ProviderResource
    aws_provider: pulumi.ProviderResource
    region: str
    idp: IdpSpec
    namespace: str
    replicas: int
    #: authentik worker replicas (0 on a passive site: no tasks run from the DR region).
    worker_replicas: int
    health_hostname: str
    ingress_class_name: str
    ingress_annotations: dict[str, str]
    tls_secret_name: str | None
    oidc_provider_arn: str
    oidc_issuer_host: str
    secrets: SecretSources
    media_bucket_name: pulumi.Input[str] | None = None
    media_bucket_arn: pulumi.Input[str] | None = None
    media_key_arn: pulumi.Input[str] | None = None
    outpost_enabled: bool = False
    outpost_name: str = "proxy"
    #: authentik static directories: (kind, name, mount path) with kind configMap | secret.
    authentik_files: tuple[tuple[str, str, str], ...] = ()
    tag_base: dict[str, str] = field(default_factory=dict)


class IdentityStandby(pulumi.ComponentResource):
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
            "idp-dr/site": args.site,
        }

        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata={
                "name": args.namespace,
                "labels": {**self.labels, "pod-security.kubernetes.io/enforce": "restricted"},
            },
            opts=self._k8s(),
        )
        self._ns = namespace.metadata.name
        self.db_secret_name = DB_SECRET_NAMES[idp.kind]
        self.external_secret_name = None
        app_sa = self._app_service_account()
        self._secrets()

        if idp.kind == "keycloak":
            self.server_deployment = self._keycloak(app_sa)
            self.worker_deployment = None
            backend_port_name, health_port_name = "http", "management"
        else:
            redis_host = self._redis() if idp.needs_redis else None
            blueprints = self._outpost_blueprint() if args.outpost_enabled else None
            self.server_deployment = self._authentik("server", args.replicas, app_sa, redis_host, None)
            self.worker_deployment = self._authentik("worker", args.worker_replicas, app_sa, redis_host, blueprints)
            backend_port_name = health_port_name = "http"
        self.server_deployment_name = self._server_name
        self.worker_deployment_name = f"{idp.kind}-worker" if self.worker_deployment is not None else None

        if args.replicas >= 2:
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}-pdb",
                metadata={"name": self._server_name, "namespace": self._ns, "labels": self.labels},
                spec={"minAvailable": 1, "selector": {"matchLabels": self._selector("server")}},
                opts=self._k8s(),
            )
        service = self._service()
        public = self._ingress(
            f"{name}-public-ingress",
            self._server_name,
            idp.public_hostname,
            [{"path": "/", "pathType": "Prefix", "backend": self._backend(service, backend_port_name)}],
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
                "load_balancer_hostname": self.load_balancer_hostname,
            }
        )

    # ------------------------------------------------------------------ helpers
    def _k8s(self, **kwargs) -> pulumi.ResourceOptions:
        return opts(self, self._args.k8s_provider, **kwargs)

    @property
    def _server_name(self) -> str:
        return "keycloak" if self.app == "keycloak" else "authentik-server"

    def _selector(self, component: str) -> dict[str, str]:
        return {"app.kubernetes.io/name": self.app, "app.kubernetes.io/component": component}

    def _irsa_role(self, suffix: str, service_account: str, statements: list[dict]) -> aws.iam.Role:
        args = self._args
        subject = IrsaSubject(args.oidc_provider_arn, args.oidc_issuer_host, args.namespace, service_account)
        role = aws.iam.Role(
            f"{self._name}-{suffix}-role",
            description=f"idp-dr {args.site} site: {service_account} (IRSA)",
            assume_role_policy=irsa_trust_policy([subject]),
            tags=tags(args.tag_base, **{"idp-dr:site": args.site}),
            opts=opts(self, args.aws_provider),
        )
        aws.iam.RolePolicy(
            f"{self._name}-{suffix}-policy",
            role=role.id,
            policy=policy_json(statements),
            opts=opts(self, args.aws_provider),
        )
        return role

    # ------------------------------------------------------------------ identity
    def _app_service_account(self) -> str:
        args = self._args
        annotations = {}
        if self.app == "authentik" and args.media_bucket_arn is not None:
            role = self._irsa_role(
                "media",
                self.app,
                [
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
                    },
                ],
            )
            annotations["eks.amazonaws.com/role-arn"] = role.arn
        # authentik's worker manages outpost Deployments through the API; nothing else needs a token.
        needs_token = self.app == "authentik" and args.outpost_enabled
        k8s.core.v1.ServiceAccount(
            f"{self._name}-app-sa",
            metadata={"name": self.app, "namespace": self._ns, "labels": self.labels, "annotations": annotations},
            automount_service_account_token=needs_token,
            opts=self._k8s(),
        )
        if needs_token:
            self._outpost_rbac()
        return self.app

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
            subjects=[{"kind": "ServiceAccount", "name": self.app, "namespace": self._ns}],
            opts=self._k8s(),
        )

    # ------------------------------------------------------------------ secrets
    def _secrets(self) -> None:
        args, src = self._args, self._args.secrets
        keys = DB_SECRET_KEYS[self.app]
        if src.mode == "pulumi":
            k8s.core.v1.Secret(
                f"{self._name}-db-secret",
                metadata={"name": self.db_secret_name, "namespace": self._ns, "labels": self.labels},
                string_data=pulumi.Output.secret(
                    {
                        keys["host"]: pulumi.Output.from_input(src.db_host),
                        keys["port"]: str(src.db_port),
                        keys["dbname"]: src.db_name,
                        keys["username"]: src.db_username,
                        keys["password"]: pulumi.Output.from_input(src.db_password),
                    }
                ),
                # Like the DR endpoint secret (credentials.py): failover rewrites the DR copy with the
                # new endpoint, so after the first deployment Pulumi must not write it back (the
                # provider diffs stringData as data, hence both). A password rotation therefore
                # reaches the DR site only through the runbook or a manual patch.
                opts=self._k8s(ignore_changes=["data", "stringData"] if args.site == "dr" else None),
            )
            if self.app == "authentik":
                k8s.core.v1.Secret(
                    f"{self._name}-authentik-key-secret",
                    metadata={"name": AUTHENTIK_KEY_SECRET, "namespace": self._ns, "labels": self.labels},
                    string_data=pulumi.Output.secret({"AUTHENTIK_SECRET_KEY": src.authentik_secret_key}),
                    opts=self._k8s(),
                )
            return

        readable = [src.credentials_arn, src.endpoint_arn]
        if src.authentik_key_arn is not None:
            readable.append(src.authentik_key_arn)
        role = self._irsa_role(
            "secrets-reader",
            SECRETS_READER_SA,
            [
                {
                    "Sid": "ReadIdpSecrets",
                    "Effect": "Allow",
                    "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                    "Resource": readable,
                },
                {
                    "Sid": "DecryptIdpSecrets",
                    "Effect": "Allow",
                    "Action": "kms:Decrypt",
                    "Resource": src.kms_key_arns,
                    "Condition": {"StringEquals": {"kms:ViaService": f"secretsmanager.{args.region}.amazonaws.com"}},
                },
            ],
        )
        k8s.core.v1.ServiceAccount(
            f"{self._name}-secrets-reader-sa",
            metadata={
                "name": SECRETS_READER_SA,
                "namespace": self._ns,
                "labels": self.labels,
                "annotations": {"eks.amazonaws.com/role-arn": role.arn},
            },
            automount_service_account_token=False,
            opts=self._k8s(),
        )
        store = k8s.apiextensions.CustomResource(
            f"{self._name}-secret-store",
            api_version=src.external_secrets_api_version,
            kind="SecretStore",
            metadata={"name": "idp-dr-secrets-manager", "namespace": self._ns, "labels": self.labels},
            spec={
                "provider": {
                    "aws": {
                        "service": "SecretsManager",
                        "region": args.region,
                        "auth": {"jwt": {"serviceAccountRef": {"name": SECRETS_READER_SA}}},
                    }
                }
            },
            opts=self._k8s(),
        )
        self.external_secret_name = self.db_secret_name
        template = {keys[field_]: "{{ ." + field_ + " }}" for field_ in keys}
        self._external_secret(
            f"{self._name}-db-external-secret",
            self.db_secret_name,
            store,
            template,
            [
                ("host", src.endpoint_name, "host"),
                ("port", src.endpoint_name, "port"),
                ("dbname", src.endpoint_name, "dbname"),
                ("username", src.credentials_name, "username"),
                ("password", src.credentials_name, "password"),
            ],
        )
        if src.authentik_key_name is not None:
            self._external_secret(
                f"{self._name}-authentik-key-external-secret",
                AUTHENTIK_KEY_SECRET,
                store,
                {"AUTHENTIK_SECRET_KEY": "{{ .key }}"},
                [("key", src.authentik_key_name, None)],
            )

    def _external_secret(
        self,
        resource_name: str,
        target: str,
        store: k8s.apiextensions.CustomResource,
        template: dict[str, str],
        data: list[tuple[str, pulumi.Input[str], str | None]],
    ):
        src = self._args.secrets
        return k8s.apiextensions.CustomResource(
            resource_name,
            api_version=src.external_secrets_api_version,
            kind="ExternalSecret",
            metadata={"name": target, "namespace": self._ns, "labels": self.labels},
            spec={
                # A minute keeps the window short between a failover writing the endpoint and pods
                # seeing it; failover also forces an immediate sync.
                "refreshInterval": "1m",
                "secretStoreRef": {"name": store.metadata["name"], "kind": "SecretStore"},
                "target": {
                    "name": target,
                    "creationPolicy": "Owner",
                    "template": {"engineVersion": "v2", "data": template},
                },
                "data": [
                    {"secretKey": key, "remoteRef": {"key": remote, **({"property": prop} if prop else {})}}
                    for key, remote, prop in data
                ],
            },
            opts=self._k8s(),
        )

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

    def _pod_spec(self, containers: list[dict], volumes: list[dict], service_account: str) -> dict:
        return {
            "serviceAccountName": service_account,
            "automountServiceAccountToken": self.app == "authentik" and self._args.outpost_enabled,
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
                ignore_changes=["spec.replicas"] if self._args.site == "dr" else None,
            ),
        )

    def _keycloak(self, service_account: str) -> k8s.apps.v1.Deployment:
        args, idp = self._args, self._args.idp
        keys = DB_SECRET_KEYS["keycloak"]
        env = [
            {"name": "KC_DB", "value": "postgres"},
            # TLS to PostgreSQL (RDS refuses anything else: rds.force_ssl=1).
            {"name": "KC_DB_URL_PROPERTIES", "value": "?sslmode=require"},
            *self._secret_env(self.db_secret_name, list(keys.values())),
            # A full URL pins the issuer to the public hostname on both sites.
            {"name": "KC_HOSTNAME", "value": f"https://{idp.public_hostname}"},
            {"name": "KC_HTTP_ENABLED", "value": "true"},
            {"name": "KC_PROXY_HEADERS", "value": "xforwarded"},
            {"name": "KC_HEALTH_ENABLED", "value": "true"},
            {"name": "KC_METRICS_ENABLED", "value": "true"},
            {"name": "KC_HTTP_MANAGEMENT_PORT", "value": str(KEYCLOAK_MGMT_PORT)},
            {"name": "KC_CACHE", "value": "ispn"},
            # Per-cluster discovery: the two sites must never join one cluster across regions.
            {"name": "KC_CACHE_STACK", "value": "kubernetes"},
            {
                "name": "JAVA_OPTS_APPEND",
                "value": f"-Djgroups.dns.query=keycloak-discovery.{args.namespace}.svc.cluster.local",
            },
        ]
        probe = {"port": KEYCLOAK_MGMT_PORT, "scheme": "HTTP"}
        volumes, mounts = [], []
        if idp.read_only_root_filesystem:
            volumes = [{"name": "tmp", "emptyDir": {}}, {"name": "data", "emptyDir": {}}]
            mounts = [
                {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - a container path (emptyDir)
                {"name": "data", "mountPath": "/opt/keycloak/data"},
            ]
        container = {
            "name": "keycloak",
            "image": idp.image,
            "args": ["start", "--optimized"] if idp.optimized_image else ["start"],
            "env": env,
            "ports": [
                {"name": "http", "containerPort": KEYCLOAK_HTTP_PORT},
                {"name": "management", "containerPort": KEYCLOAK_MGMT_PORT},
                {"name": "jgroups", "containerPort": KEYCLOAK_JGROUPS_PORT},
            ],
            "startupProbe": {
                "httpGet": {"path": "/health/started", **probe},
                "periodSeconds": 5,
                "failureThreshold": 120,
            },
            "livenessProbe": {"httpGet": {"path": "/health/live", **probe}, "periodSeconds": 10, "failureThreshold": 3},
            "readinessProbe": {
                "httpGet": {"path": "/health/ready", **probe},
                "periodSeconds": 10,
                "failureThreshold": 3,
            },
            "resources": self._resources(),
            "securityContext": self._container_security(),
            "volumeMounts": mounts,
        }
        k8s.core.v1.Service(
            f"{self._name}-discovery-service",
            metadata={"name": "keycloak-discovery", "namespace": self._ns, "labels": self.labels},
            spec={
                "clusterIP": "None",
                "publishNotReadyAddresses": True,
                "selector": self._selector("server"),
                "ports": [{"name": "jgroups", "port": KEYCLOAK_JGROUPS_PORT}],
            },
            opts=self._k8s(),
        )
        return self._deployment(
            f"{self._name}-keycloak",
            "keycloak",
            "server",
            args.replicas,
            self._pod_spec([container], volumes, service_account),
        )

    def _authentik(
        self,
        component: str,
        replicas: int,
        service_account: str,
        redis_host: str | None,
        blueprints_config_map: str | None,
    ) -> k8s.apps.v1.Deployment:
        args, idp = self._args, self._args.idp
        keys = DB_SECRET_KEYS["authentik"]
        env = [
            *self._secret_env(AUTHENTIK_KEY_SECRET, ["AUTHENTIK_SECRET_KEY"]),
            *self._secret_env(self.db_secret_name, list(keys.values())),
            {"name": "AUTHENTIK_POSTGRESQL__SSLMODE", "value": "require"},
        ]
        if args.media_bucket_name is not None:
            env += [
                {"name": "AUTHENTIK_STORAGE__BACKEND", "value": "s3"},
                {"name": "AUTHENTIK_STORAGE__S3__BUCKET_NAME", "value": args.media_bucket_name},
                {"name": "AUTHENTIK_STORAGE__S3__REGION", "value": args.region},
            ]
        if redis_host:
            env.append({"name": "AUTHENTIK_REDIS__HOST", "value": redis_host})
        volumes = [{"name": "tmp", "emptyDir": {}}]
        mounts: list[dict[str, Any]] = [{"name": "tmp", "mountPath": "/tmp"}]  # noqa: S108 - a container path (emptyDir)
        if blueprints_config_map:
            volumes.append({"name": "idp-dr-blueprints", "configMap": {"name": blueprints_config_map}})
            mounts.append({"name": "idp-dr-blueprints", "mountPath": "/blueprints/idp-dr", "readOnly": True})
        for index, (kind, source, path) in enumerate(args.authentik_files):
            volume = f"files-{index}"
            source_ref = {"configMap": {"name": source}} if kind == "configMap" else {"secret": {"secretName": source}}
            volumes.append({"name": volume, **source_ref})
            mounts.append({"name": volume, "mountPath": path, "readOnly": True})
        container = {
            "name": component,
            "image": idp.image,
            "args": [component],
            "env": env,
            "resources": self._resources(),
            "securityContext": self._container_security(),
            "volumeMounts": mounts,
        }
        if component == "server":
            http = {"port": "http", "scheme": "HTTP"}
            container["ports"] = [
                {"name": "http", "containerPort": AUTHENTIK_HTTP_PORT},
                {"name": "metrics", "containerPort": AUTHENTIK_METRICS_PORT},
            ]
            container["startupProbe"] = {
                "httpGet": {"path": "/-/health/live/", **http},
                "periodSeconds": 5,
                "failureThreshold": 120,
            }
            container["livenessProbe"] = {"httpGet": {"path": "/-/health/live/", **http}, "periodSeconds": 10}
            container["readinessProbe"] = {"httpGet": {"path": "/-/health/ready/", **http}, "periodSeconds": 10}
        else:
            healthcheck = {"exec": {"command": ["ak", "healthcheck"]}, "periodSeconds": 30}
            container["livenessProbe"] = healthcheck
            container["readinessProbe"] = healthcheck
        return self._deployment(
            f"{self._name}-authentik-{component}",
            f"authentik-{component}",
            component,
            replicas,
            self._pod_spec([container], volumes, service_account),
        )

    def _redis(self) -> str:
        """authentik < 2025.10 keeps sessions/tasks in Redis; losing them only logs users out (seed 000)."""
        labels = {**self.labels, "app.kubernetes.io/component": "redis"}
        k8s.apps.v1.Deployment(
            f"{self._name}-redis",
            metadata={"name": "authentik-redis", "namespace": self._ns, "labels": labels},
            spec={
                "replicas": 1,
                "selector": {"matchLabels": self._selector("redis")},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "automountServiceAccountToken": False,
                        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                        "containers": [
                            {
                                "name": "redis",
                                "image": REDIS_IMAGE,
                                "args": ["--save", "", "--appendonly", "no"],
                                "ports": [{"name": "redis", "containerPort": 6379}],
                                "resources": {
                                    "requests": {"cpu": "50m", "memory": "64Mi"},
                                    "limits": {"cpu": "500m", "memory": "256Mi"},
                                },
                                "securityContext": {
                                    **self._container_security(),
                                    "runAsUser": 999,
                                    "readOnlyRootFilesystem": True,
                                },
                                "livenessProbe": {"tcpSocket": {"port": "redis"}, "periodSeconds": 10},
                                "readinessProbe": {"exec": {"command": ["redis-cli", "ping"]}, "periodSeconds": 10},
                                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                            }
                        ],
                        "volumes": [{"name": "data", "emptyDir": {}}],
                    },
                },
            },
            opts=self._k8s(),
        )
        k8s.core.v1.Service(
            f"{self._name}-redis-service",
            metadata={"name": "authentik-redis", "namespace": self._ns, "labels": self.labels},
            spec={"selector": self._selector("redis"), "ports": [{"name": "redis", "port": 6379}]},
            opts=self._k8s(),
        )
        return f"authentik-redis.{self._args.namespace}.svc.cluster.local"

    def _outpost_blueprint(self) -> str:
        """Proxy outpost sessions in PostgreSQL, reading the same DB secret (seed 002)."""
        blueprint = {
            "version": 1,
            "metadata": {"name": "idp-dr: proxy outpost sessions in PostgreSQL"},
            "entries": [
                {
                    "model": "authentik_outposts.outpost",
                    "state": "present",
                    "identifiers": {"name": self._args.outpost_name},
                    "attrs": {
                        "type": "proxy",
                        "config": {
                            "session_backend": "postgres",
                            "kubernetes_postgresql_secret_name": self.db_secret_name,
                        },
                    },
                }
            ],
        }
        config_map = k8s.core.v1.ConfigMap(
            f"{self._name}-outpost-blueprint",
            metadata={"name": "idp-dr-blueprints", "namespace": self._ns, "labels": self.labels},
            data={"outpost-sessions.yaml": yaml.safe_dump(blueprint, sort_keys=False)},
            opts=self._k8s(),
        )
        return config_map.metadata.name

    # ------------------------------------------------------------------ traffic
    def _service(self) -> k8s.core.v1.Service:
        if self.app == "keycloak":
            ports = [
                {"name": "http", "port": KEYCLOAK_HTTP_PORT, "targetPort": "http"},
                {"name": "management", "port": KEYCLOAK_MGMT_PORT, "targetPort": "management"},
            ]
        else:
            ports = [{"name": "http", "port": 80, "targetPort": "http"}]
        return k8s.core.v1.Service(
            f"{self._name}-service",
            metadata={"name": self._server_name, "namespace": self._ns, "labels": self.labels},
            spec={"selector": self._selector("server"), "ports": ports},
            opts=self._k8s(),
        )

    @staticmethod
    def _backend(service: k8s.core.v1.Service, port_name: str) -> dict:
        return {"service": {"name": service.metadata.name, "port": {"name": port_name}}}

    def _ingress(self, resource_name: str, ingress_name: str, host: str, paths: list[dict]):
        args = self._args
        spec: dict = {
            "ingressClassName": args.ingress_class_name,
            "rules": [{"host": host, "http": {"paths": paths}}],
        }
        if args.tls_secret_name:
            spec["tls"] = [{"hosts": [host], "secretName": args.tls_secret_name}]
        return k8s.networking.v1.Ingress(
            resource_name,
            metadata={
                "name": ingress_name,
                "namespace": self._ns,
                "labels": self.labels,
                "annotations": dict(args.ingress_annotations),
            },
            spec=spec,
            opts=self._k8s(),
        )


def _lb_hostname(status) -> str | None:
    """The load balancer hostname (or IP) an ingress controller published."""
    if not status:
        return None
    lb = status.get("load_balancer") if isinstance(status, dict) else getattr(status, "load_balancer", None)
    entries = (lb.get("ingress") if isinstance(lb, dict) else getattr(lb, "ingress", None)) if lb else None
    if not entries:
        return None
    first = entries[0]
    get = first.get if isinstance(first, dict) else (lambda key: getattr(first, key, None))
    return get("hostname") or get("ip")
