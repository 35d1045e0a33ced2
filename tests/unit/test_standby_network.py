"""What can reach the IdP inside each cluster, and how the IdP verifies its database server.

Security review items 4 (NetworkPolicies, trusted proxies, a Redis password) and 6 (verify-full).
"""

from __future__ import annotations

from typing import Any

import pytest
from cryptography import x509

from contract.tls import POD_CA_PATH, RDS_CA_BUNDLE, RDS_CA_CONFIG_MAP
from tests.unit.conftest import AUTHENTIK, AUTHENTIK_KEY, container, deployments, env_of, is_secret, run_stack, unwrap

NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
LB_CIDRS = {
    "idp-dr:network": {
        "primary": {"loadBalancerCidrs": ["10.10.128.0/20"]},
        "dr": {"loadBalancerCidrs": ["10.20.128.0/20"]},
    }
}
OLD_AUTHENTIK = {
    **AUTHENTIK,
    "idp-dr:idp": {**AUTHENTIK["idp-dr:idp"], "image": "ghcr.io/goauthentik/server:2025.8.4"},
}


def policies(run, provider: str) -> dict[str, dict[str, Any]]:
    return {
        p.inputs["metadata"]["name"]: p.inputs["spec"]
        for p in run.recorder.of_type(NETPOL)
        if p.provider_name == provider
    }


def ports(rule: dict[str, Any]) -> set[int]:
    return {p["port"] for p in rule["ports"]}


@pytest.mark.parametrize("provider", ["k8s-primary", "k8s-dr"])
def test_every_namespace_denies_all_traffic_by_default(default_run, provider):
    deny = policies(default_run, provider)["idp-dr-default-deny"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"], "ingress": [], "egress": []}


def test_network_policies_can_be_turned_off():
    run = run_stack({"idp-dr:standby": {"networkPolicy": {"enabled": False}}})
    assert run.recorder.of_type(NETPOL) == []


def test_only_the_load_balancer_reaches_keycloaks_http_and_health_ports():
    run = run_stack(LB_CIDRS)
    for provider, cidr in (("k8s-primary", "10.10.128.0/20"), ("k8s-dr", "10.20.128.0/20")):
        [rule] = policies(run, provider)["idp-dr-ingress"]["ingress"]
        assert rule["from"] == [{"ipBlock": {"cidr": cidr}}]
        assert ports(rule) == {8080, 9000}


def test_without_a_known_proxy_the_serving_ports_stay_open_and_keycloak_trusts_no_range(default_run):
    [rule] = policies(default_run, "k8s-primary")["idp-dr-ingress"]["ingress"]
    assert "from" not in rule
    assert ports(rule) == {8080, 9000}
    assert "KC_PROXY_TRUSTED_ADDRESSES" not in env_of(deployments(default_run, "keycloak")[0])


def test_keycloak_trusts_forwarded_headers_only_from_the_load_balancer():
    run = run_stack(LB_CIDRS)
    trusted = {d.provider_name: env_of(d)["KC_PROXY_TRUSTED_ADDRESSES"] for d in deployments(run, "keycloak")}
    assert trusted == {"k8s-primary": "10.10.128.0/20", "k8s-dr": "10.20.128.0/20"}


def test_an_in_cluster_ingress_controller_is_admitted_by_namespace_and_trusted_by_cluster_range():
    run = run_stack({"idp-dr:standby": {"networkPolicy": {"ingressNamespaces": ["ingress-nginx"]}}})
    [rule] = policies(run, "k8s-primary")["idp-dr-ingress"]["ingress"]
    assert rule["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}]
    trusted = {d.provider_name: env_of(d)["KC_PROXY_TRUSTED_ADDRESSES"] for d in deployments(run, "keycloak")}
    assert trusted == {"k8s-primary": "10.10.0.0/16", "k8s-dr": "10.20.0.0/16"}


def test_jgroups_is_open_only_between_keycloak_pods(default_run):
    cluster = policies(default_run, "k8s-primary")["idp-dr-keycloak-cluster"]
    peers = [{"podSelector": {"matchLabels": cluster["podSelector"]["matchLabels"]}}]
    assert cluster["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "keycloak"
    assert cluster["ingress"] == [{"from": peers, "ports": cluster["ingress"][0]["ports"]}]
    assert cluster["egress"] == [{"to": peers, "ports": cluster["egress"][0]["ports"]}]
    assert ports(cluster["ingress"][0]) == ports(cluster["egress"][0]) == {7800, 57800}
    # No other policy admits the JGroups or failure-detection ports.
    for name, spec in policies(default_run, "k8s-primary").items():
        if name != "idp-dr-keycloak-cluster":
            for rule in spec.get("ingress", []):
                assert not ports(rule) & {7800, 57800}, name


def test_egress_is_dns_the_database_and_https_only(default_run):
    egress = policies(default_run, "k8s-dr")["idp-dr-egress"]["egress"]
    dns, out = egress
    assert dns["to"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}]
    assert {(p["port"], p["protocol"]) for p in dns["ports"]} == {(53, "UDP"), (53, "TCP")}
    assert ports(out) == {5432, 443}


def test_redis_admits_only_authentik_and_requires_a_password():
    run = run_stack(OLD_AUTHENTIK)
    redis_policy = policies(run, "k8s-primary")["idp-dr-redis"]
    assert redis_policy["ingress"] == [
        {
            "from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "authentik"}}}],
            "ports": [{"port": 6379, "protocol": "TCP"}],
        }
    ]
    redis = container(deployments(run, "authentik-redis")[0])
    assert redis["args"] == ["/etc/redis/redis.conf"]  # requirepass in a file of the Secret (test_standby)
    assert redis["env"][0]["valueFrom"]["secretKeyRef"]["name"] == "authentik-redis"
    server_env = env_of(deployments(run, "authentik-server")[0])
    assert server_env["AUTHENTIK_REDIS__PASSWORD"]["secretKeyRef"]["name"] == "authentik-redis"
    [secret] = [
        s
        for s in run.recorder.of_type("kubernetes:core/v1:Secret")
        if s.inputs["metadata"]["name"] == "authentik-redis" and s.provider_name == "k8s-primary"
    ]
    assert is_secret(secret.inputs["stringData"])
    password = unwrap(secret.inputs["stringData"])["AUTHENTIK_REDIS__PASSWORD"]
    assert len(password) == 64 and AUTHENTIK_KEY not in password


def test_the_outpost_reaches_only_the_authentik_server():
    run = run_stack({**AUTHENTIK, "idp-dr:standby": {"outpost": {"enabled": True}}})
    outpost = policies(run, "k8s-primary")["idp-dr-outpost"]
    assert outpost["podSelector"] == {"matchLabels": {"app.kubernetes.io/managed-by": "goauthentik.io"}}
    [to_server] = outpost["egress"]
    assert to_server["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "server"
    server_in = policies(run, "k8s-primary")["idp-dr-outpost-to-server"]["ingress"][0]
    assert server_in["from"] == [{"podSelector": {"matchLabels": outpost["podSelector"]["matchLabels"]}}]


def test_authentik_trusts_forwarded_headers_only_from_the_load_balancer():
    run = run_stack({**AUTHENTIK, **LB_CIDRS})
    trusted = {
        d.provider_name: env_of(d)["AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS"]
        for d in deployments(run, "authentik-server")
    }
    assert trusted == {"k8s-primary": "10.10.128.0/20", "k8s-dr": "10.20.128.0/20"}


# ---------------------------------------------------------------------------- database TLS
def test_keycloak_verifies_the_rds_server_with_the_shipped_bundle(default_run):
    for deployment in deployments(default_run, "keycloak"):
        env = env_of(deployment)
        assert env["KC_DB_URL_PROPERTIES"] == f"?sslmode=verify-full&sslrootcert={POD_CA_PATH}"
        volume = next(v for v in deployment.inputs["spec"]["template"]["spec"]["volumes"] if v["name"] == "db-ca")
        assert volume["configMap"]["name"] == RDS_CA_CONFIG_MAP
    bundles = [
        c
        for c in default_run.recorder.of_type("kubernetes:core/v1:ConfigMap")
        if c.inputs["metadata"]["name"] == RDS_CA_CONFIG_MAP
    ]
    assert {c.provider_name for c in bundles} == {"k8s-primary", "k8s-dr"}
    assert bundles[0].inputs["data"]["ca.pem"] == RDS_CA_BUNDLE.read_text()


def test_authentik_verifies_the_rds_server(authentik_run):
    for name in ("authentik-server", "authentik-worker"):
        env = env_of(deployments(authentik_run, name)[0])
        assert env["AUTHENTIK_POSTGRESQL__SSLMODE"] == "verify-full"
        assert env["AUTHENTIK_POSTGRESQL__SSLROOTCERT"] == POD_CA_PATH


def test_require_mode_mounts_no_ca():
    run = run_stack({"idp-dr:database": {"tls": {"mode": "require"}}})
    deployment = deployments(run, "keycloak")[0]
    assert env_of(deployment)["KC_DB_URL_PROPERTIES"] == "?sslmode=require"
    assert all(v["name"] != "db-ca" for v in deployment.inputs["spec"]["template"]["spec"]["volumes"])


def test_self_managed_mode_verifies_with_the_operators_ca():
    run = run_stack(
        {
            "idp-dr:database": {
                "mode": "self-managed",
                "selfManagedPrimaryHost": "pg.primary.internal",
                "selfManagedDrHost": "pg.dr.internal",
                "tls": {"caConfigMap": "pg-ca"},
            }
        }
    )
    volume = next(
        v for v in deployments(run, "keycloak")[0].inputs["spec"]["template"]["spec"]["volumes"] if v["name"] == "db-ca"
    )
    assert volume["configMap"]["name"] == "pg-ca"
    names = {c.inputs["metadata"]["name"] for c in run.recorder.of_type("kubernetes:core/v1:ConfigMap")}
    assert RDS_CA_CONFIG_MAP not in names


def test_the_shipped_bundle_holds_only_ca_roots():
    text = RDS_CA_BUNDLE.read_text()
    # Public certificates only: nothing secret is tracked in the repository.
    assert "PRIVATE KEY" not in text and text.count("-----BEGIN CERTIFICATE-----") == text.count("-----BEGIN")
    certs = x509.load_pem_x509_certificates(RDS_CA_BUNDLE.read_bytes())
    assert len(certs) >= 60
    for cert in certs:
        assert cert.subject == cert.issuer
        assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
