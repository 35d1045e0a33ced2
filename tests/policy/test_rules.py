"""Each rule of the policy pack, on the rendered example stack (compliant) and with one resource
broken the way the rule exists to catch (violating). ``plan`` and the pack run these functions."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from policy.rules import RULES, Resource, Rule
from scripts.plan.posture import rule_resources
from tests.unit.conftest import AUTHENTIK, run_stack

RUNBOOK_IMAGE = "ghcr.io/example/idp-dr:0.1.0@sha256:" + "4f1c" * 16
EXAMPLE = {
    "idp-dr:network": {
        "primary": {"loadBalancerCidrs": ["10.10.128.0/20"]},
        "dr": {"loadBalancerCidrs": ["10.20.128.0/20"]},
    },
    "idp-dr:standby": {"drReplicas": 1},
    "idp-dr:database": {"drReadReplica": True},
    "idp-dr:runbook": {"image": RUNBOOK_IMAGE},
    "idp-dr:protection": {"breakGlassRoleArn": "arn:aws:iam::123456789012:role/break-glass"},
}
BY_NAME = {rule.name: rule for rule in RULES}
PRIMARY_REGION_KEY = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture(scope="module")
def keycloak() -> list[Resource]:
    return rule_resources(run_stack(EXAMPLE))


@pytest.fixture(scope="module")
def authentik() -> list[Resource]:
    return rule_resources(run_stack({**EXAMPLE, **AUTHENTIK}))


Mutation = Callable[[dict[str, Any]], None]


def broken(resources: list[Resource], pick: Callable[[Resource], bool], mutate: Mutation) -> list[Resource]:
    """A copy of the stack with the first resource ``pick`` selects changed by ``mutate``."""
    out, done = [], False
    for r in resources:
        if not done and pick(r):
            props = copy.deepcopy(dict(r.props))
            mutate(props)
            r = Resource(r.type, r.name, props, r.provider, r.region)
            done = True
        out.append(r)
    assert done, "no resource matched"
    return out


def dropped(resources: list[Resource], pick: Callable[[Resource], bool]) -> list[Resource]:
    kept = [r for r in resources if not pick(r)]
    assert len(kept) < len(resources), "no resource matched"
    return kept


def of_type(suffix: str, name: str | None = None) -> Callable[[Resource], bool]:
    return lambda r: (
        r.type.endswith(suffix) and (name is None or r.name == name or r.props.get("metadata", {}).get("name") == name)
    )


def primary_db(r: Resource) -> bool:
    return r.type == "aws:rds/instance:Instance" and not r.props.get("replicateSourceDb")


def set_(*path_and_value: Any) -> Mutation:
    *path, value = path_and_value

    def mutate(props: dict[str, Any]) -> None:
        target = props
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


def pop(key: str) -> Mutation:
    return lambda props: props.pop(key, None)


def policy_without(sid_test: Callable[[dict], bool]) -> Mutation:
    def mutate(props: dict[str, Any]) -> None:
        doc = json.loads(props["policy"])
        doc["Statement"] = [s for s in doc["Statement"] if not sid_test(s)]
        props["policy"] = json.dumps(doc)

    return mutate


def env_set(name: str, value: str | None) -> Mutation:
    def mutate(props: dict[str, Any]) -> None:
        container = props["spec"]["template"]["spec"]["containers"][0]
        env = [e for e in container["env"] if e["name"] != name]
        container["env"] = env + ([{"name": name, "value": value}] if value is not None else [])

    return mutate


def route(path: str, kind: str) -> Mutation:
    def mutate(props: dict[str, Any]) -> None:
        paths = props["spec"]["rules"][0]["http"]["paths"]
        paths.append({**paths[0], "path": path, "pathType": kind})

    return mutate


CASES: dict[str, tuple[str, Callable[[list[Resource]], list[Resource]], str]] = {
    "rds.deletion-protection": ("keycloak", lambda s: broken(s, primary_db, set_("deletionProtection", False)),
                                "deletion protection is off: one API call deletes the production database"),
    "rds.encrypted": ("keycloak", lambda s: broken(s, primary_db, set_("storageEncrypted", False)),
                      "storage is not encrypted with a customer-managed KMS key"),
    "rds.pitr-window": ("keycloak", lambda s: broken(s, primary_db, set_("backupRetentionPeriod", 3)),
                        "PITR window 3 days (policy: at least 7)"),
    "rds.backups-survive-delete": ("keycloak", lambda s: broken(s, primary_db, set_("deleteAutomatedBackups", True)),
                                   "a delete would drop the automated backups or skip the final snapshot"),
    "rds.no-password-in-state": ("keycloak", lambda s: broken(s, primary_db, set_("password", "hunter2-hunter2")),
                                 "the master password is a stack input (manageMasterPassword: false): it lives in "
                                 "Pulumi state"),
    "rds.not-public": ("keycloak", lambda s: broken(s, primary_db, set_("publiclyAccessible", True)),
                       "the instance is publicly accessible"),
    "rds.cross-region-backups": (
        "keycloak",
        lambda s: broken(s, of_type("InstanceAutomatedBackupsReplication"),
                         set_("kmsKeyId", PRIMARY_REGION_KEY)),
        "automated backups are not replicated to the DR region with a DR-region key",
    ),
    "s3.tls-only": ("keycloak", lambda s: broken(s, of_type("bucketPolicy:BucketPolicy"),
                                                 policy_without(lambda st: "aws:SecureTransport" in json.dumps(st))),
                    "the bucket policy does not deny requests without TLS (aws:SecureTransport)"),
    "s3.kms-pinned": ("keycloak", lambda s: broken(s, of_type("bucketPolicy:BucketPolicy"),
                                                   policy_without(lambda st: "kms-key-id" in json.dumps(st))),
                      "the bucket policy does not deny uploads encrypted with another KMS key"),
    "s3.replication-rtc": ("keycloak", lambda s: broken(s, of_type("BucketReplicationConfig"),
                                                        lambda p: p["rules"][0]["destination"].pop("replicationTime")),
                           "replication without Replication Time Control: sso-archive-buckets-replication"),
    "s3.dr-object-lock": ("keycloak", lambda s: dropped(s, of_type("BucketObjectLockConfiguration")),
                          "the DR archive bucket sso-archive-buckets-dr has no Object Lock default retention: "
                          "ransomware with the primary's credentials could delete the only off-region copy"),
    "network.private-app-cidrs": ("keycloak", lambda s: broken(s, of_type("SecurityGroupIngressRule"),
                                                               set_("cidrIpv4", "0.0.0.0/1")),
                                  "the database admits 0.0.0.0/1, which reaches the internet"),
    "dns.failover-pair": ("keycloak", lambda s: broken(s, lambda r: r.type.endswith("record:Record")
                                                       and bool(r.props.get("failoverRoutingPolicies")),
                                                       set_("ttl", 300)),
                          "TTL 300 s (at most 60 s, so clients follow a failover)"),
    "k8s.pinned-images": ("keycloak", lambda s: broken(s, of_type("Deployment", "keycloak"),
                                                       lambda p: p["spec"]["template"]["spec"]["containers"][0]
                                                       .update(image="quay.io/keycloak/keycloak:latest")),
                          "container keycloak runs 'quay.io/keycloak/keycloak:latest': pin a version tag or a digest"),
    "k8s.runbook-image-digest": ("keycloak", lambda s: broken(s, of_type("CronJob", "idp-dr-checks"),
                                                              lambda p: p["spec"]["jobTemplate"]["spec"]["template"]
                                                              ["spec"]["containers"][0]
                                                              .update(image="ghcr.io/example/idp-dr:0.1.0")),
                                 "container check-dr-paths runs 'ghcr.io/example/idp-dr:0.1.0': pin the runbook image "
                                 "by digest (@sha256:…); a tag can be pushed again"),
    "k8s.hardened-pods": ("keycloak", lambda s: broken(s, of_type("Deployment", "keycloak"),
                                                       lambda p: p["spec"]["template"]["spec"]["containers"][0]
                                                       ["securityContext"].update(allowPrivilegeEscalation=True)),
                          "container keycloak allows privilege escalation"),
    "k8s.no-public-admin": ("keycloak", lambda s: broken(s, lambda r: r.type.endswith("Ingress")
                                                         and "public" in r.name, route("/", "Prefix")),
                            "host sso.example.com routes / (Prefix) to Keycloak, exposing /admin, /realms/master"),
    "k8s.network-policies": ("keycloak", lambda s: dropped(s, lambda r: r.type.endswith("NetworkPolicy")
                                                           and r.props["metadata"]["name"] == "idp-dr-default-deny"),
                             "without a default-deny NetworkPolicy"),
    "k8s.trusted-proxies": ("authentik", lambda s: broken(s, of_type("Deployment", "authentik-server"),
                                                          env_set("AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS", None)),
                            "X-Forwarded-* headers are trusted from any address"),
    "db.tls-verified": ("authentik", lambda s: broken(s, of_type("Deployment", "authentik-worker"),
                                                      env_set("AUTHENTIK_POSTGRESQL__SSLMODE", "require")),
                        "worker connects with sslmode=require: the database server is not verified"),
    "protection.last-copy": ("keycloak", lambda s: dropped(s, lambda r: r.type == "aws:kms/key:Key"
                                                        and "OnlyBreakGlassDestroys" in json.dumps(r.props)),
                             "every copy lives in the production account and its administrators can destroy it "
                             "(schedule the DR keys' deletion, bypass the GOVERNANCE lock): set idp-dr:vault (a "
                             "second account), or at least idp-dr:protection.breakGlassRoleArn"),
    "standby.same-image": ("keycloak", lambda s: broken(s, of_type("Deployment", "keycloak"),
                                                        lambda p: p["spec"]["template"]["spec"]["containers"][0]
                                                        .update(image="quay.io/keycloak/keycloak:26.4.4")),
                           "the sites run different images"),
}  # fmt: skip


def test_every_rule_has_a_case():
    assert set(CASES) == set(BY_NAME)


@pytest.mark.parametrize("name", sorted(CASES))
def test_rule_holds_on_the_example_and_catches_its_violation(name, request):
    stack_name, breaks, expected = CASES[name]
    rule: Rule = BY_NAME[name]
    stack = request.getfixturevalue(stack_name)
    assert rule.violations(stack) == [], "the example stack must comply"
    found = rule.violations(breaks(stack))
    assert found, f"{name} did not catch its violation"
    assert any(expected in message for _where, message in found), found


def test_a_keycloak_ingress_routing_only_client_paths_complies(keycloak):
    rule = BY_NAME["k8s.no-public-admin"]
    assert rule.violations(broken(keycloak, lambda r: r.type.endswith("Ingress") and "public" in r.name,
                                  route("/realms/company", "Prefix"))) == []  # fmt: skip
    assert rule.violations(broken(keycloak, lambda r: r.type.endswith("Ingress") and "public" in r.name,
                                  route("/admin/", "Exact"))) != []  # fmt: skip


def test_a_digest_pinned_image_complies(keycloak):
    digest = "quay.io/keycloak/keycloak@sha256:" + "a" * 64
    stack = broken(keycloak, of_type("Deployment", "keycloak"),
                   lambda p: p["spec"]["template"]["spec"]["containers"][0].update(image=digest))  # fmt: skip
    assert BY_NAME["k8s.pinned-images"].violations(stack) == []


def test_self_managed_mode_needs_no_rds_backup_replication():
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
    assert BY_NAME["rds.cross-region-backups"].violations(rule_resources(run)) == []


def test_a_vault_account_holds_the_last_copy_and_its_copy_needs_no_rtc():
    """The vault's cross-account rule is the last resort, not the RPO path: exempt from s3.replication-rtc."""
    vault = {"idp-dr:vault": {"accountId": "210987654321", "region": "eu-west-1",
                              "roleArn": "arn:aws:iam::210987654321:role/vault"}}  # fmt: skip
    stack = rule_resources(run_stack({**EXAMPLE, "idp-dr:protection": None, **vault}))
    assert BY_NAME["protection.last-copy"].violations(stack) == []
    assert BY_NAME["s3.replication-rtc"].violations(stack) == []
