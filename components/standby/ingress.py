"""The Service and the two Ingresses: the public hostname, and the health hostname's few exact paths."""

from __future__ import annotations

import pulumi_kubernetes as k8s

from components.config.stack import ALB_DEFAULT_SSL_POLICY, ALB_SSL_POLICY
from components.standby.base import StandbyBase
from components.standby.spec import KEYCLOAK_HTTP_PORT, KEYCLOAK_MGMT_PORT


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


class IngressBuilder(StandbyBase):
    """Builds the Service and Ingresses (a mixin of :class:`~components.standby.component.IdentityStandby`)."""

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

    def _ingress_annotations(self) -> dict[str, str]:
        """The configured annotations; on an ALB, TLS 1.2 and later only unless a (checked) policy is configured."""
        annotations = dict(self._args.config.ingress_annotations)
        if self._args.config.ingress_class_name == "alb":
            annotations.setdefault(ALB_SSL_POLICY, ALB_DEFAULT_SSL_POLICY)
        return annotations

    def _ingress(self, resource_name: str, ingress_name: str, host: str, paths: list[dict]):
        args = self._args
        spec: dict = {
            "ingressClassName": args.config.ingress_class_name,
            "rules": [{"host": host, "http": {"paths": paths}}],
        }
        if args.config.tls_secret_name:
            spec["tls"] = [{"hosts": [host], "secretName": args.config.tls_secret_name}]
        return k8s.networking.v1.Ingress(
            resource_name,
            metadata={
                "name": ingress_name,
                "namespace": self._ns,
                "labels": self.labels,
                "annotations": self._ingress_annotations(),
            },
            spec=spec,
            opts=self._k8s(),
        )
