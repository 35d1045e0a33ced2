"""authentik's server and worker, Redis for versions before 2025.10, and the outpost blueprint."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.standby.pods import PodBuilder
from components.standby.spec import (
    AUTHENTIK_HTTP_PORT,
    AUTHENTIK_KEY_SECRET,
    AUTHENTIK_METRICS_PORT,
    REDIS_CONF_DIR,
    REDIS_CONF_KEY,
    REDIS_IMAGE,
    REDIS_PORT,
    REDIS_SECRET,
    WORKER_SA,
)
from contract.secrets import DB_SECRET_KEYS


class AuthentikBuilder(PodBuilder):
    """Builds the authentik Deployments (a mixin of :class:`~components.standby.component.IdentityStandby`)."""

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
            *self._authentik_db_tls_env(),
            *self._bootstrap_admin_env(),
        ]
        if self._args.forwarded_header_sources:
            # Only the load balancer may tell authentik the client's address (default: all private ranges).
            env.append(
                {
                    "name": "AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS",
                    "value": ",".join(self._args.forwarded_header_sources),
                }
            )
        if args.media_bucket_name is not None:
            env += [
                {"name": "AUTHENTIK_STORAGE__BACKEND", "value": "s3"},
                {"name": "AUTHENTIK_STORAGE__S3__BUCKET_NAME", "value": args.media_bucket_name},
                {"name": "AUTHENTIK_STORAGE__S3__REGION", "value": args.aws_site.region},
            ]
        if redis_host:
            env.append({"name": "AUTHENTIK_REDIS__HOST", "value": redis_host})
            env += self._secret_env(REDIS_SECRET, ["AUTHENTIK_REDIS__PASSWORD"])
        ca_volumes, ca_mounts = self._db_ca_volume()
        volumes = [{"name": "tmp", "emptyDir": {}}, *ca_volumes]
        mounts: list[dict[str, Any]] = [
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - a container path (emptyDir)
            *ca_mounts,
        ]
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
            self._pod_spec([container], volumes, service_account, api_token=service_account == WORKER_SA),
        )

    def _authentik_db_tls_env(self) -> list[dict]:
        tls = self._args.db_tls
        env = [{"name": "AUTHENTIK_POSTGRESQL__SSLMODE", "value": tls.mode}]
        if self._db_ca_path:
            env.append({"name": "AUTHENTIK_POSTGRESQL__SSLROOTCERT", "value": self._db_ca_path})
        return env

    def _redis_secret(self) -> None:
        """Redis's password: derived from authentik's secret key (a Pulumi secret), so it is stable across
        runs, differs from the key itself, and needs no extra provider."""
        password = pulumi.Output.secret(self._args.secrets.authentik_secret_key).apply(
            lambda key: hmac.new(str(key).encode(), b"idp-dr redis password", hashlib.sha256).hexdigest()
        )
        k8s.core.v1.Secret(
            f"{self._name}-redis-secret",
            metadata={"name": REDIS_SECRET, "namespace": self._ns, "labels": self.labels},
            # Secret, as the key it derives from: Output.apply keeps the mark.
            string_data=password.apply(_redis_secret_data),
            opts=self._k8s(),
        )

    def _redis(self) -> str:
        """authentik < 2025.10 keeps sessions/tasks in Redis; losing them only logs users out (seed 000).
        It requires a password: the NetworkPolicy admits only authentik's pods, and the password keeps
        out anything else that reaches it."""
        self._redis_secret()
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
                        # fsGroup: the config file (mode 0440) is readable by redis's user and nobody else.
                        "securityContext": {
                            "runAsNonRoot": True,
                            "fsGroup": 999,
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                        "containers": [
                            {
                                "name": "redis",
                                "image": REDIS_IMAGE,
                                # The password from a file of the Secret, never in argv; redis-cli (the
                                # probe) reads REDISCLI_AUTH from its environment.
                                "args": [f"{REDIS_CONF_DIR}/{REDIS_CONF_KEY}"],
                                "env": [
                                    {
                                        "name": "REDISCLI_AUTH",
                                        "valueFrom": {
                                            "secretKeyRef": {"name": REDIS_SECRET, "key": "AUTHENTIK_REDIS__PASSWORD"}
                                        },
                                    }
                                ],
                                "ports": [{"name": "redis", "containerPort": REDIS_PORT}],
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
                                "volumeMounts": [
                                    {"name": "data", "mountPath": "/data"},
                                    {"name": "config", "mountPath": REDIS_CONF_DIR, "readOnly": True},
                                ],
                            }
                        ],
                        "volumes": [
                            {"name": "data", "emptyDir": {}},
                            {
                                "name": "config",
                                "secret": {
                                    "secretName": REDIS_SECRET,
                                    "defaultMode": 0o440,
                                    "items": [{"key": REDIS_CONF_KEY, "path": REDIS_CONF_KEY}],
                                },
                            },
                        ],
                    },
                },
            },
            opts=self._k8s(),
        )
        k8s.core.v1.Service(
            f"{self._name}-redis-service",
            metadata={"name": "authentik-redis", "namespace": self._ns, "labels": self.labels},
            spec={"selector": self._selector("redis"), "ports": [{"name": "redis", "port": REDIS_PORT}]},
            opts=self._k8s(),
        )
        return f"authentik-redis.{self._args.config.namespace}.svc.cluster.local"

    def _outpost_blueprint(self) -> str:
        """Proxy outpost sessions in PostgreSQL, reading the same DB secret (seed 002)."""
        blueprint = {
            "version": 1,
            "metadata": {"name": "idp-dr: proxy outpost sessions in PostgreSQL"},
            "entries": [
                {
                    "model": "authentik_outposts.outpost",
                    "state": "present",
                    "identifiers": {"name": self._args.config.outpost.name},
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


def _redis_secret_data(password: str) -> dict[str, str]:
    return {
        "AUTHENTIK_REDIS__PASSWORD": password,
        # Redis reads its password from this file, not its argv (which /proc shows to every process).
        REDIS_CONF_KEY: f'requirepass {password}\nsave ""\nappendonly no\n',
    }
