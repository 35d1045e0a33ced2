"""NetworkPolicies of a site's namespace: deny everything, then allow only what the IdP needs.

Allowed, and nothing else:

* into the IdP's serving pods, on its HTTP and health ports: the load balancer's source ranges
  (``network.<site>.loadBalancerCidrs``) and the namespaces of in-cluster ingress controllers
  (``standby.networkPolicy.ingressNamespaces``); with neither set, any source (``plan`` warns);
* DNS to kube-system, PostgreSQL on its port, HTTPS out (Secrets Manager, S3, STS for IRSA, the
  Kubernetes API for authentik's outpost controller, identity brokers);
* the IdP's own pods to each other: Keycloak's JGroups within the site (the kubernetes cache stack
  never crosses regions anyway), authentik's server and worker to Redis, the outpost to the server.

Kubelet probes come from the node and are not subject to NetworkPolicy on EKS's VPC CNI.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.database import PG_PORT
from components.standby.base import StandbyBase
from components.standby.spec import (
    AUTHENTIK_HTTP_PORT,
    KEYCLOAK_HTTP_PORT,
    KEYCLOAK_JGROUPS_FD_PORT,
    KEYCLOAK_JGROUPS_PORT,
    KEYCLOAK_MGMT_PORT,
    REDIS_PORT,
)

#: Labels authentik's outpost controller puts on the outpost Deployments it manages.
OUTPOST_SELECTOR = {"app.kubernetes.io/managed-by": "goauthentik.io"}
DEFAULT_DENY = "idp-dr-default-deny"


def _ports(*ports: int, protocol: str = "TCP") -> list[dict[str, Any]]:
    return [{"port": port, "protocol": protocol} for port in ports]


class NetworkPolicyBuilder(StandbyBase):
    """Builds a site's NetworkPolicies (a mixin of :class:`~components.standby.component.IdentityStandby`)."""

    def _network_policies(self) -> None:
        if not self._args.config.network_policy.enabled:
            return
        self._policy("default-deny", DEFAULT_DENY, {}, ingress=[], egress=[])
        self._policy(
            "egress-common",
            "idp-dr-egress",
            {},
            egress=[
                {
                    "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}],
                    "ports": _ports(53, protocol="UDP") + _ports(53),
                },
                {"ports": _ports(PG_PORT, 443)},
            ],
        )
        serving = self._serving_ports()
        self._policy(
            "ingress-serving", "idp-dr-ingress", self._selector("server"), ingress=[self._from_proxies(serving)]
        )
        if self.app == "keycloak":
            self._within(
                "keycloak-cluster", self._selector("server"), _ports(KEYCLOAK_JGROUPS_PORT, KEYCLOAK_JGROUPS_FD_PORT)
            )
        else:
            self._authentik_paths()

    def _serving_ports(self) -> list[dict[str, Any]]:
        if self.app == "keycloak":
            return _ports(KEYCLOAK_HTTP_PORT, KEYCLOAK_MGMT_PORT)
        return _ports(AUTHENTIK_HTTP_PORT)

    def _from_proxies(self, ports: list[dict[str, Any]]) -> dict[str, Any]:
        """An ingress rule from the load balancer and the ingress controllers (any source if neither is known)."""
        sources: list[dict[str, Any]] = [{"ipBlock": {"cidr": cidr}} for cidr in self._args.trusted_proxy_cidrs]
        sources += [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}
            for namespace in self._args.config.network_policy.ingress_namespaces
        ]
        return {"from": sources, "ports": ports} if sources else {"ports": ports}

    def _authentik_paths(self) -> None:
        app = {"app.kubernetes.io/name": "authentik"}
        if self._args.idp.needs_redis:
            redis = self._selector("redis")
            self._policy(
                "redis-ingress",
                "idp-dr-redis",
                redis,
                ingress=[{"from": [{"podSelector": {"matchLabels": app}}], "ports": _ports(REDIS_PORT)}],
            )
            self._policy(
                "redis-egress",
                "idp-dr-to-redis",
                app,
                egress=[{"to": [{"podSelector": {"matchLabels": redis}}], "ports": _ports(REDIS_PORT)}],
            )
        if self._args.config.outpost.enabled:
            # The outpost serves the protected apps (from the load balancer) and talks to the server.
            self._policy(
                "outpost",
                "idp-dr-outpost",
                OUTPOST_SELECTOR,
                ingress=[self._from_proxies(_ports(AUTHENTIK_HTTP_PORT))],
                egress=[
                    {
                        "to": [{"podSelector": {"matchLabels": self._selector("server")}}],
                        "ports": _ports(AUTHENTIK_HTTP_PORT),
                    }
                ],
            )
            self._policy(
                "outpost-to-server",
                "idp-dr-outpost-to-server",
                self._selector("server"),
                ingress=[
                    {"from": [{"podSelector": {"matchLabels": OUTPOST_SELECTOR}}], "ports": _ports(AUTHENTIK_HTTP_PORT)}
                ],
            )

    def _within(self, suffix: str, selector: dict[str, str], ports: list[dict[str, Any]]) -> None:
        """Pods matching ``selector`` may reach each other on ``ports``, and no one else may."""
        peers = [{"podSelector": {"matchLabels": selector}}]
        self._policy(
            suffix,
            f"idp-dr-{suffix}",
            selector,
            ingress=[{"from": peers, "ports": ports}],
            egress=[{"to": peers, "ports": ports}],
        )

    def _policy(
        self,
        suffix: str,
        name: str,
        selector: dict[str, str],
        *,
        ingress: list[dict[str, Any]] | None = None,
        egress: list[dict[str, Any]] | None = None,
        namespace: pulumi.Input[str] | None = None,
    ) -> None:
        """``namespace``: another namespace of the site (the drill's); default the standby's."""
        spec: dict[str, Any] = {"podSelector": {"matchLabels": selector} if selector else {}, "policyTypes": []}
        if ingress is not None:
            spec["policyTypes"].append("Ingress")
            spec["ingress"] = ingress
        if egress is not None:
            spec["policyTypes"].append("Egress")
            spec["egress"] = egress
        k8s.networking.v1.NetworkPolicy(
            f"{self._name}-netpol-{suffix}",
            metadata={"name": name, "namespace": namespace or self._ns, "labels": self.labels},
            spec=spec,
            opts=self._k8s(),
        )
