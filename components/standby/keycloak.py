"""Keycloak's Deployment: the public URL as KC_HOSTNAME, health on the management port, per-cluster DNS discovery."""

from __future__ import annotations

import pulumi_kubernetes as k8s

from components.standby.pods import PodBuilder
from components.standby.spec import KEYCLOAK_HTTP_PORT, KEYCLOAK_JGROUPS_PORT, KEYCLOAK_MGMT_PORT
from contract.jvm import LATE_C2_OPTIONS
from contract.secrets import DB_SECRET_KEYS


class KeycloakBuilder(PodBuilder):
    """Builds the Keycloak Deployment (a mixin of :class:`~components.standby.component.IdentityStandby`)."""

    def _jdbc_tls_properties(self) -> str:
        """pgjdbc's URL properties: the sslmode, and the CA file for verify-ca/verify-full."""
        properties = f"?sslmode={self._args.db_tls.mode}"
        if self._db_ca_path:
            properties += f"&sslrootcert={self._db_ca_path}"
        return properties

    def _trusted_proxies_env(self) -> list[dict]:
        """Keycloak (26+) honours X-Forwarded-* only from these ranges; unknown ranges: from anyone."""
        sources = self._args.forwarded_header_sources
        return [{"name": "KC_PROXY_TRUSTED_ADDRESSES", "value": ",".join(sources)}] if sources else []

    def _java_options(self) -> str:
        """Per-cluster JGroups discovery; and the image's class-data-sharing archive (``idp.cdsArchive``) or AOT
        cache (``idp.aotCache``), each mapped so that one that does not match the JVM means a normal start, never
        a failed one (-Xshare:auto, -XX:AOTMode=auto). A JDK older than 24 does not know -XX:AOTCache and would
        refuse to start: -XX:+IgnoreUnrecognizedVMOptions lets it start without the cache. With
        ``idp.lateC2Compilation``, C2's raised thresholds (contract.jvm)."""
        options = [f"-Djgroups.dns.query=keycloak-discovery.{self._args.config.namespace}.svc.cluster.local"]
        if self._args.idp.cds_archive:
            options += [f"-XX:SharedArchiveFile={self._args.idp.cds_archive}", "-Xshare:auto"]
        if self._args.idp.aot_cache:
            options += [
                "-XX:+IgnoreUnrecognizedVMOptions",
                f"-XX:AOTCache={self._args.idp.aot_cache}",
                "-XX:AOTMode=auto",
            ]
        if self._args.idp.late_c2_compilation:
            options += LATE_C2_OPTIONS
        return " ".join(options)

    def _keycloak(self, service_account: str) -> k8s.apps.v1.Deployment:
        args, idp = self._args, self._args.idp
        keys = DB_SECRET_KEYS["keycloak"]
        env = [
            {"name": "KC_DB", "value": "postgres"},
            # TLS to PostgreSQL (RDS refuses anything else: rds.force_ssl=1), the server verified.
            {"name": "KC_DB_URL_PROPERTIES", "value": self._jdbc_tls_properties()},
            *self._secret_env(self.db_secret_name, list(keys.values())),
            *self._bootstrap_admin_env(),
            # A full URL pins the issuer to the public hostname on both sites.
            {"name": "KC_HOSTNAME", "value": f"https://{idp.public_hostname}"},
            {"name": "KC_HTTP_ENABLED", "value": "true"},
            {"name": "KC_PROXY_HEADERS", "value": "xforwarded"},
            *self._trusted_proxies_env(),
            {"name": "KC_HEALTH_ENABLED", "value": "true"},
            {"name": "KC_METRICS_ENABLED", "value": "true"},
            {"name": "KC_HTTP_MANAGEMENT_PORT", "value": str(KEYCLOAK_MGMT_PORT)},
            {"name": "KC_CACHE", "value": "ispn"},
            # Per-cluster discovery: the two sites must never join one cluster across regions.
            {"name": "KC_CACHE_STACK", "value": "kubernetes"},
            {"name": "JAVA_OPTS_APPEND", "value": self._java_options()},
        ]
        probe = {"port": KEYCLOAK_MGMT_PORT, "scheme": "HTTP"}
        volumes, mounts = self._db_ca_volume()
        if idp.read_only_root_filesystem:
            volumes += [{"name": "tmp", "emptyDir": {}}, {"name": "data", "emptyDir": {}}]
            mounts += [
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
