"""The DR and security rules of idp-dr, written once and used two ways.

* ``policy/__main__.py`` wraps them as a Pulumi CrossGuard policy pack, so ``pulumi preview
  --policy-pack policy`` (the PR workflow) and ``pulumi up`` enforce them against the real plan.
* ``python -m scripts plan`` runs the very same functions over the program rendered offline under
  mocks, so the offline gate and the preview can never disagree.

This module imports nothing outside the standard library: the policy pack runs in its own
virtualenv (``policy/requirements.txt``), which holds only the policy SDK.

A rule reads resources as Pulumi sees them: the type token, the logical name, the properties
(camelCase, as the provider schema names them; JSON documents as strings), and the provider it
is created with (a key naming one region or cluster) and that provider's region. It returns its
violations, one message each; an empty list is compliant. A *resource* rule sees one resource of
its ``types`` at a time; a *stack* rule sees all of them. Advisory rules name a deliberate,
documented opt-out (``plan`` shows them as ``warn``; the pack prints a warning).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

RDS_INSTANCE = "aws:rds/instance:Instance"
BACKUP_REPLICATION = "aws:rds/instanceAutomatedBackupsReplication:InstanceAutomatedBackupsReplication"
BUCKET = "aws:s3/bucket:Bucket"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
BUCKET_REPLICATION = "aws:s3/bucketReplicationConfig:BucketReplicationConfig"
OBJECT_LOCK = "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"
KMS_KEY = "aws:kms/key:Key"
SG_INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
RECORD = "aws:route53/record:Record"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
WORKLOADS = (
    DEPLOYMENT,
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:batch/v1:Job",
    "kubernetes:batch/v1:CronJob",
)
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"

#: The shortest point-in-time window the rules accept (days).
MIN_PITR_DAYS = 7
#: Failover records must expire quickly for clients to follow a failover (seconds).
MAX_FAILOVER_TTL = 60
#: The IdP's serving Deployments (the ones both sites must run identically).
SERVING_DEPLOYMENTS = ("keycloak", "authentik-server")
#: Keycloak paths that must never be routed publicly (the admin console and the master realm).
KEYCLOAK_ADMIN_PATHS = ("/admin", "/realms/master")
VERIFYING_SSLMODES = ("verify-full", "verify-ca")
_PRIVATE = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)


@dataclass(frozen=True)
class Resource:
    """One resource as a rule sees it."""

    type: str
    name: str
    props: Mapping[str, Any]
    #: Names the provider the resource is created with (one AWS region or one cluster).
    provider: str | None = None
    #: The AWS region of that provider (None for Kubernetes).
    region: str | None = None


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    #: What ``plan`` prints when the rule holds.
    holds: str
    #: Resource rule: types it applies to, and the check of one resource.
    types: tuple[str, ...] = ()
    resource_check: Callable[[Resource], list[str]] | None = None
    #: Stack rule: the check of all resources.
    stack_check: Callable[[list[Resource]], list[str]] | None = None
    mandatory: bool = True

    def violations(self, resources: Iterable[Resource]) -> list[tuple[str, str]]:
        """(resource name or "stack", message) per violation."""
        resources = list(resources)
        if self.resource_check is not None:
            return [(r.name, m) for r in resources if r.type in self.types for m in self.resource_check(r)]
        assert self.stack_check is not None
        return [("stack", m) for m in self.stack_check(resources)]


# ---------------------------------------------------------------------------- helpers
def _get(value: Any, *path: str | int) -> Any:
    for key in path:
        if isinstance(key, int):
            # CrossGuard hands lists as read-only proxies: any sequence but a string.
            if not isinstance(value, Sequence) or isinstance(value, str) or len(value) <= key:
                return None
            value = value[key]
        else:
            if not isinstance(value, Mapping):
                return None
            value = value.get(key)
    return value


def _document(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return dict(value) if isinstance(value, Mapping) else {}


def _statements(policy: Any) -> list[dict[str, Any]]:
    statements = _document(policy).get("Statement", [])
    return [s for s in (statements if isinstance(statements, list) else [statements]) if isinstance(s, dict)]


def _actions(statement: Mapping[str, Any]) -> set[str]:
    action = statement.get("Action", [])
    return set([action] if isinstance(action, str) else action)


def _is_replica(r: Resource) -> bool:
    return bool(r.props.get("replicateSourceDb"))


def _pod_spec(r: Resource) -> Mapping[str, Any]:
    if r.type == "kubernetes:batch/v1:CronJob":
        return _get(r.props, "spec", "jobTemplate", "spec", "template", "spec") or {}
    return _get(r.props, "spec", "template", "spec") or {}


def _containers(r: Resource) -> list[Mapping[str, Any]]:
    spec = _pod_spec(r)
    return [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]


def _env(container: Mapping[str, Any]) -> dict[Any, Any]:
    return {e.get("name"): e.get("value") for e in container.get("env") or [] if isinstance(e, Mapping)}


def _num(value: Any) -> Any:
    """The engine sends every number as a float: show 14, not 14.0."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _region_of_arn(arn: Any) -> str | None:
    parts = arn.split(":") if isinstance(arn, str) else []
    return parts[3] if len(parts) > 3 and parts[0] == "arn" else None


def _private(cidr: str) -> bool:
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False
    return net.prefixlen > 0 and any(net.version == p.version and net.subnet_of(p) for p in _PRIVATE)  # type: ignore[arg-type]


def _pinned(image: str) -> bool:
    if "@sha256:" in image:
        return True
    last = image.rsplit("/", 1)[-1]
    return ":" in last and last.rsplit(":", 1)[1] not in ("", "latest")


def _name_of(r: Resource) -> str | None:
    return _get(r.props, "metadata", "name")


def _namespace_of(r: Resource) -> str | None:
    return _get(r.props, "metadata", "namespace")


# ---------------------------------------------------------------------------- RDS
def _deletion_protection(r: Resource) -> list[str]:
    if r.props.get("deletionProtection"):
        return []
    return ["deletion protection is off: one API call deletes the production database"]


def _encrypted(r: Resource) -> list[str]:
    if r.props.get("storageEncrypted") and r.props.get("kmsKeyId"):
        return []
    return ["storage is not encrypted with a customer-managed KMS key"]


def _pitr_window(r: Resource) -> list[str]:
    if _is_replica(r):
        return []
    days = r.props.get("backupRetentionPeriod") or 0
    return [] if days >= MIN_PITR_DAYS else [f"PITR window {_num(days)} days (policy: at least {MIN_PITR_DAYS})"]


def _backups_survive_delete(r: Resource) -> list[str]:
    if _is_replica(r):
        return []
    if r.props.get("deleteAutomatedBackups") is False and not r.props.get("skipFinalSnapshot"):
        return []
    return ["a delete would drop the automated backups or skip the final snapshot"]


def _no_password(r: Resource) -> list[str]:
    if _is_replica(r) or "password" not in r.props:
        return []
    return ["the master password is a stack input (manageMasterPassword: false): it lives in Pulumi state"]


def _not_public(r: Resource) -> list[str]:
    return ["the instance is publicly accessible"] if r.props.get("publiclyAccessible") else []


def _cross_region_backups(resources: list[Resource]) -> list[str]:
    primaries = [r for r in resources if r.type == RDS_INSTANCE and not _is_replica(r)]
    if not primaries:
        return []  # self-managed PostgreSQL: its WAL archive is replicated instead (s3 rules)
    replications = [r for r in resources if r.type == BACKUP_REPLICATION]
    source_regions = {p.region for p in primaries}
    good = [
        r
        for r in replications
        if r.region not in source_regions and _region_of_arn(r.props.get("kmsKeyId")) == r.region
    ]
    if good:
        return []
    return ["automated backups are not replicated to the DR region with a DR-region key"]


# ---------------------------------------------------------------------------- S3
def _tls_only(r: Resource) -> list[str]:
    for s in _statements(r.props.get("policy")):
        if s.get("Effect") == "Deny" and _get(s, "Condition", "Bool", "aws:SecureTransport") in ("false", False):
            return []
    return ["the bucket policy does not deny requests without TLS (aws:SecureTransport)"]


def _kms_pinned(r: Resource) -> list[str]:
    for s in _statements(r.props.get("policy")):
        key = _get(s, "Condition", "StringNotEquals", "s3:x-amz-server-side-encryption-aws-kms-key-id")
        if s.get("Effect") == "Deny" and "s3:PutObject" in _actions(s) and key:
            return []
    return ["the bucket policy does not deny uploads encrypted with another KMS key"]


def _replication_rtc(resources: list[Resource]) -> list[str]:
    replications = [r for r in resources if r.type == BUCKET_REPLICATION]
    if not replications:
        return ["bucket replication with Replication Time Control is missing"]
    # A rule into another account is the vault's copy: the last resort, not the RPO path (the vault drill proves it).
    late = [
        r.name
        for r in replications
        for rule in r.props.get("rules") or [{}]
        if _get(rule, "destination", "replicationTime", "status") != "Enabled"
        and not _get(rule, "destination", "account")
    ]
    return [f"replication without Replication Time Control: {', '.join(sorted(set(late)))}"] if late else []


def _dr_object_lock(resources: list[Resource]) -> list[str]:
    """The archive's DR copy (tags idp-dr:site=dr, idp-dr:data=archive) is locked by default."""
    locks = {r.name for r in resources if r.type == OBJECT_LOCK and _get(r.props, "rule", "defaultRetention", "mode")}
    archives = [
        b for b in resources if b.type == BUCKET and (b.props.get("tags") or {}).get("idp-dr:data") == "archive"
    ]
    dr_copies = [b for b in archives if b.props["tags"].get("idp-dr:site") == "dr"]
    if archives and not dr_copies:
        return ["the archive has no DR copy (no bucket tagged idp-dr:site=dr, idp-dr:data=archive)"]
    problems = []
    for bucket in dr_copies:
        if not bucket.props.get("objectLockEnabled") or f"{bucket.name}-object-lock" not in locks:
            problems.append(
                f"the DR archive bucket {bucket.name} has no Object Lock default retention: ransomware with the "
                "primary's credentials could delete the only off-region copy"
            )
    return problems


def _last_copy(resources: list[Resource]) -> list[str]:
    """One copy survives production's credentials: a vault bucket (another account, COMPLIANCE lock), or DR keys
    only a break-glass role may destroy (components.config.protection)."""
    vault = [b for b in resources if b.type == BUCKET and (b.props.get("tags") or {}).get("idp-dr:site") == "vault"]
    guarded = [
        k for k in resources if k.type == KMS_KEY and any(
            st.get("Effect") == "Deny" and "kms:ScheduleKeyDeletion" in _actions(st)
            for st in _statements(k.props.get("policy")))
    ]  # fmt: skip
    if vault or guarded:
        return []
    return [
        "every copy lives in the production account and its administrators can destroy it (schedule the DR keys' "
        "deletion, bypass the GOVERNANCE lock): set idp-dr:vault (a second account), or at least "
        "idp-dr:protection.breakGlassRoleArn"
    ]


# ---------------------------------------------------------------------------- network
def _private_app_cidrs(r: Resource) -> list[str]:
    cidr = r.props.get("cidrIpv4") or r.props.get("cidrIpv6")
    if cidr is None or _private(cidr):
        return []
    return [f"the database admits {cidr}, which reaches the internet"]


# ---------------------------------------------------------------------------- DNS
def _failover_pair(resources: list[Resource]) -> list[str]:
    records = [r for r in resources if r.type == RECORD and r.props.get("failoverRoutingPolicies")]
    kinds = sorted(_get(r.props, "failoverRoutingPolicies", 0, "type") or "?" for r in records)
    problems = []
    if kinds != ["PRIMARY", "SECONDARY"]:
        problems.append(f"expected one PRIMARY and one SECONDARY failover record, found {kinds or 'none'}")
    for r in records:
        ttl = r.props.get("ttl")
        if ttl is None or ttl > MAX_FAILOVER_TTL:
            problems.append(f"{r.name}: TTL {_num(ttl)} s (at most {MAX_FAILOVER_TTL} s, so clients follow a failover)")
        if _get(r.props, "failoverRoutingPolicies", 0, "type") == "PRIMARY" and not r.props.get("healthCheckId"):
            problems.append(f"{r.name}: the PRIMARY record has no health check, so Route 53 never fails over")
    return problems


# ---------------------------------------------------------------------------- Kubernetes
def _pinned_images(r: Resource) -> list[str]:
    return [
        f"container {c.get('name')} runs {c.get('image')!r}: pin a version tag or a digest"
        for c in _containers(r)
        if isinstance(c.get("image"), str) and not _pinned(c["image"])
    ]


def _runbook_digest(r: Resource) -> list[str]:
    """The runbook's jobs (part of idp-dr) hold the keys to restore, fail over and read the archive: their image is
    pinned by digest, since a tag can be pushed again by whoever can push to the registry."""
    if _get(r.props, "metadata", "labels", "app.kubernetes.io/part-of") != "idp-dr":
        return []
    return [
        f"container {c.get('name')} runs {c.get('image')!r}: pin the runbook image by digest (@sha256:…); a tag "
        "can be pushed again"
        for c in _containers(r)
        if isinstance(c.get("image"), str) and "@sha256:" not in c["image"]
    ]


def _hardened_pods(r: Resource) -> list[str]:
    pod = _pod_spec(r)
    problems = []
    for c in _containers(r):
        sc = c.get("securityContext") or {}
        if not (sc.get("runAsNonRoot") or _get(pod, "securityContext", "runAsNonRoot")):
            problems.append(f"container {c.get('name')} may run as root")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"container {c.get('name')} allows privilege escalation")
        if "ALL" not in (_get(sc, "capabilities", "drop") or []):
            problems.append(f"container {c.get('name')} keeps Linux capabilities (drop ALL)")
    return problems


def _no_public_admin(r: Resource) -> list[str]:
    problems = []
    for rule in r.props.get("spec", {}).get("rules") or []:
        for path in _get(rule, "http", "paths") or []:
            if _get(path, "backend", "service", "name") != "keycloak":
                continue
            route, kind = path.get("path") or "/", path.get("pathType")
            prefix = kind in ("Prefix", "ImplementationSpecific")
            exposes = [
                p
                for p in KEYCLOAK_ADMIN_PATHS
                if route.rstrip("/") == p or (prefix and (p + "/").startswith(route.rstrip("/") + "/"))
            ]
            if exposes:
                problems.append(
                    f"host {rule.get('host')} routes {route} ({kind}) to Keycloak, exposing {', '.join(exposes)}"
                )
    return problems


def _network_policies(resources: list[Resource]) -> list[str]:
    """Every namespace that runs an IdP workload denies all traffic by default."""
    denied = {
        (r.provider, _namespace_of(r))
        for r in resources
        if r.type == NETWORK_POLICY
        and not _get(r.props, "spec", "podSelector", "matchLabels")
        and set(_get(r.props, "spec", "policyTypes") or []) == {"Ingress", "Egress"}
        and not _get(r.props, "spec", "ingress")
        and not _get(r.props, "spec", "egress")
    }
    problems = []
    for r in resources:
        labels = _get(r.props, "metadata", "labels") or {}
        if r.type in WORKLOADS and labels.get("app.kubernetes.io/part-of") == "idp-dr":
            where = (r.provider, _namespace_of(r))
            if where not in denied:
                problems.append(
                    f"namespace {where[1]} ({r.provider}) runs {r.name} without a default-deny NetworkPolicy"
                )
                denied.add(where)  # one message per namespace
    return problems


def _db_tls_verified(r: Resource) -> list[str]:
    if _name_of(r) not in (*SERVING_DEPLOYMENTS, "authentik-worker"):
        return []
    problems = []
    for c in _containers(r):
        env = _env(c)
        mode = None
        if "KC_DB_URL_PROPERTIES" in env:
            match = re.search(r"sslmode=([a-z-]+)", env["KC_DB_URL_PROPERTIES"] or "")
            mode = match.group(1) if match else "prefer"
        elif "AUTHENTIK_POSTGRESQL__SSLMODE" in env:
            mode = env["AUTHENTIK_POSTGRESQL__SSLMODE"]
        if mode is not None and mode not in VERIFYING_SSLMODES:
            problems.append(f"{c.get('name')} connects with sslmode={mode}: the database server is not verified")
    return problems


def _trusted_proxies(r: Resource) -> list[str]:
    if _name_of(r) not in SERVING_DEPLOYMENTS:
        return []
    for c in _containers(r):
        env = _env(c)
        if env.get("KC_PROXY_TRUSTED_ADDRESSES") or env.get("AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS"):
            return []
    return [
        "X-Forwarded-* headers are trusted from any address: set network.<site>.loadBalancerCidrs "
        "(or standby.networkPolicy.ingressNamespaces)"
    ]


def _same_image(resources: list[Resource]) -> list[str]:
    images = {
        c.get("image")
        for r in resources
        if r.type == DEPLOYMENT and _name_of(r) in SERVING_DEPLOYMENTS
        for c in (_pod_spec(r).get("containers") or [])[:1]
    }
    return [] if len(images) <= 1 else [f"the sites run different images: {sorted(map(str, images))}"]


RULES: tuple[Rule, ...] = (
    Rule("rds.deletion-protection", "RDS instances are deletion-protected.", "deletion protection on",
         (RDS_INSTANCE,), _deletion_protection),
    Rule("rds.encrypted", "RDS storage is encrypted with a customer-managed key.", "storage encrypted with a CMK",
         (RDS_INSTANCE,), _encrypted),
    Rule("rds.pitr-window", f"The primary keeps at least {MIN_PITR_DAYS} days of point-in-time recovery.",
         f"PITR window at least {MIN_PITR_DAYS} days", (RDS_INSTANCE,), _pitr_window),
    Rule("rds.backups-survive-delete", "Deleting the primary keeps its automated backups and takes a final snapshot.",
         "automated backups kept and a final snapshot taken on delete", (RDS_INSTANCE,), _backups_survive_delete),
    Rule("rds.no-password-in-state", "The master password is managed by RDS, not a stack input.",
         "master password managed by RDS in Secrets Manager (no password input)", (RDS_INSTANCE,), _no_password,
         mandatory=False),
    Rule("rds.not-public", "No database is publicly accessible.", "no public database", (RDS_INSTANCE,), _not_public),
    Rule("rds.cross-region-backups", "Automated backups are replicated to the DR region with a key there.",
         "automated backups replicated to the DR region with a key there", stack_check=_cross_region_backups),
    Rule("s3.tls-only", "Bucket policies deny requests without TLS.", "every bucket denies requests without TLS",
         (BUCKET_POLICY,), _tls_only),
    Rule("s3.kms-pinned", "Bucket policies deny uploads encrypted with a foreign KMS key.",
         "every bucket denies uploads under a foreign KMS key", (BUCKET_POLICY,), _kms_pinned),
    Rule("s3.replication-rtc", "Bucket replication runs with Replication Time Control (15 min).",
         "bucket replication with RTC 15 min", stack_check=_replication_rtc),
    Rule("protection.last-copy", "One copy survives a compromised production account (a vault, or guarded keys).",
         "a copy out of reach of production's administrators", stack_check=_last_copy, mandatory=False),
    Rule("s3.dr-object-lock", "The archive's DR copy has an Object Lock default retention.",
         "the archive's DR copy is locked by default", stack_check=_dr_object_lock),
    Rule("network.private-app-cidrs", "The database admits only private address ranges.",
         "the database admits only private ranges", (SG_INGRESS,), _private_app_cidrs),
    Rule("dns.failover-pair", f"PRIMARY and SECONDARY failover records, health-checked, TTL <= {MAX_FAILOVER_TTL} s.",
         "PRIMARY/SECONDARY records with a health check", stack_check=_failover_pair),
    Rule("k8s.pinned-images", "Every container image is pinned by version tag or digest.", "every image pinned",
         WORKLOADS, _pinned_images),
    Rule("k8s.runbook-image-digest", "The runbook's jobs run their image pinned by digest.",
         "the runbook's jobs run a digest", ("kubernetes:batch/v1:Job", "kubernetes:batch/v1:CronJob"),
         _runbook_digest),
    Rule("k8s.hardened-pods", "Containers run as non-root, without privilege escalation or capabilities.",
         "every container non-root, no escalation, capabilities dropped", WORKLOADS, _hardened_pods),
    Rule("k8s.no-public-admin", "No Ingress routes Keycloak's admin console or master realm.",
         "no Ingress routes the admin console or the master realm", (INGRESS,), _no_public_admin),
    Rule("k8s.network-policies", "Every IdP namespace denies traffic by default.",
         "every IdP namespace has a default-deny NetworkPolicy", stack_check=_network_policies),
    Rule("k8s.trusted-proxies", "Forwarded headers are trusted only from the load balancer.",
         "forwarded headers trusted only from the load balancer", (DEPLOYMENT,), _trusted_proxies, mandatory=False),
    Rule("db.tls-verified", "The IdPs verify the database server's certificate.",
         "the IdPs verify the database server (sslmode verify-*)", (DEPLOYMENT,), _db_tls_verified, mandatory=False),
    Rule("standby.same-image", "Both sites run the same IdP image.", "both sites run the same image",
         stack_check=_same_image),
)  # fmt: skip
