"""The sections of the stack config (``idp-dr:<section>``), one model each.

Each key is described once, in its ``Field(description=...)``; what it accepts is its type
(:mod:`components.config.rules`). The configuration reference (docs/reference/configuration.md) is generated from
the JSON schema of these models. Rules that tie several keys together live in one place,
:func:`components.config.stack.cross_field_problems`.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from components.config.rules import (
    ArchiveName,
    BucketName,
    CidrList,
    EmailList,
    FilePath,
    Hostname,
    Image,
    InstanceClass,
    KmsKeyArn,
    PgIdentifier,
    ProxyCidrList,
    Slug,
    SubnetIds,
    UrlPath,
    checked,
    int_range,
    matching,
    one_of,
    parse_image,
    version_tuple,
)

# authentik stopped using Redis in 2025.10 (sessions, tasks, cache all in PostgreSQL).
AUTHENTIK_REDIS_REMOVED_IN = (2025, 10)

_RETENTION = (
    "an integer number of days from 1 to 35 (RDS keeps point-in-time backups for at most 35 days; 0 would disable them)"
)
_TIER_DAYS = int_range(1, 3650, unit="days")


class Section(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        str_strip_whitespace=True,
    )


class Targets(Section):
    """Declared recovery objectives; alarms and drills are measured against them."""

    rpo_seconds: int_range(1, 86400, unit="seconds") = Field(300, description="Maximum acceptable data loss.")  # type: ignore[valid-type]
    rto_seconds: int_range(60, 86400, unit="seconds") = Field(1800, description="Maximum acceptable downtime.")  # type: ignore[valid-type]


class IdpConfig(Section):
    """The identity provider, identical on both sites."""

    kind: one_of("keycloak", "authentik") = Field(description="The identity provider.")  # type: ignore[valid-type]
    image: Image = Field(description="Pinned image used in BOTH regions, e.g. quay.io/keycloak/keycloak:26.4.5.")
    public_hostname: Hostname = Field(description="Public hostname served by both regions, so tokens carry one issuer.")
    realm: Slug = Field("master", description="Keycloak realm whose issuer is checked.")
    application_slug: Slug | None = Field(
        None, description="authentik application slug whose issuer is checked (required for authentik)."
    )
    version: str | None = Field(
        None, description="App version when the image tag is not one (digest-pinned images), e.g. '2025.10.2'."
    )
    public_realms: list[Slug] = Field(
        default_factory=list,
        description="Keycloak: more realms to serve on the public hostname besides realm (the admin "
        "console and the master realm are never routed there unless you list master).",
    )
    optimized_image: bool = Field(
        False,
        description="Keycloak only: the image was pre-built (``kc.sh build --db=postgres --health-enabled=true``), "
        "so pods run ``start --optimized`` with a read-only root filesystem. False: the stock image "
        "re-augments at start and needs a writable root.",
    )
    cds_archive: FilePath | None = Field(
        None,
        description="Keycloak with optimizedImage: the class-data-sharing archive baked into the image "
        "(docs/keycloak-image.md), e.g. /opt/keycloak/lib/keycloak.jsa; pods map it "
        "(-XX:SharedArchiveFile, -Xshare:auto) and start in about half the time. None: no archive.",
    )
    aot_cache: FilePath | None = Field(
        None,
        description="Keycloak with optimizedImage on a JDK 25+ image: the AOT cache baked into the image "
        "(docs/keycloak-image.md), e.g. /opt/keycloak/lib/keycloak.aot; pods map it (-XX:AOTCache, "
        "-XX:AOTMode=auto: an unusable cache, or an older JDK, means a normal start) and start in about 0.65x "
        "the time. Instead of cdsArchive, not with it. None: no cache.",
    )
    late_c2_compilation: bool = Field(False, description="Keycloak only: pods raise the JVM's C2 compiler "
        "thresholds ten-fold (contract/jvm.py): on one or two CPUs the start is not slowed by C2 (with aotCache, "
        "0.88x the start on 2 CPUs, the same token rate 15 s later: docs/keycloak-image.md). False: JVM defaults.",
    )  # fmt: skip

    @property
    def image_tag(self) -> str | None:
        return parse_image(self.image)[1]

    @property
    def app_version(self) -> tuple[int, ...] | None:
        return version_tuple(self.version) or version_tuple(self.image_tag)

    @property
    def issuer(self) -> str:
        if self.kind == "keycloak":
            return f"https://{self.public_hostname}/realms/{self.realm}"
        return f"https://{self.public_hostname}/application/o/{self.application_slug}/"

    @property
    def public_routes(self) -> tuple[tuple[str, str], ...]:
        """(path, pathType) the public Ingress routes. Keycloak: only what clients need, per the
        reverse-proxy guide (the realms in use, static resources, robots.txt): ``/admin/`` and the
        master realm stay off the internet. authentik serves its flows, API and admin UI under one
        tree, so ``/`` is routed (see docs/security.md)."""
        if self.kind != "keycloak":
            return (("/", "Prefix"),)
        realms = dict.fromkeys([self.realm, *self.public_realms])
        return (
            *((f"/realms/{realm}/", "Prefix") for realm in realms),
            ("/resources/", "Prefix"),
            ("/robots.txt", "Exact"),
        )

    @property
    def discovery_path(self) -> str:
        if self.kind == "keycloak":
            return f"/realms/{self.realm}/.well-known/openid-configuration"
        return f"/application/o/{self.application_slug}/.well-known/openid-configuration"

    @property
    def jwks_path(self) -> str:
        if self.kind == "keycloak":
            return f"/realms/{self.realm}/protocol/openid-connect/certs"
        return f"/application/o/{self.application_slug}/jwks/"

    @property
    def token_path(self) -> str:
        if self.kind == "keycloak":
            return f"/realms/{self.realm}/protocol/openid-connect/token"
        return "/application/o/token/"

    @property
    def default_health_path(self) -> str:
        return "/health/ready" if self.kind == "keycloak" else "/-/health/ready/"

    @property
    def needs_redis(self) -> bool:
        version = self.app_version
        return self.kind == "authentik" and version is not None and version[:2] < AUTHENTIK_REDIS_REMOVED_IN


def _engine_ok(value: str) -> bool:
    match = re.fullmatch(r"(\d+)(\.\d+)?", value)
    return match is not None and 13 <= int(match.group(1)) <= 17


class DatabaseTls(Section):
    """How the IdPs verify the database server (the scripts default to the same for RDS hosts)."""

    mode: one_of("verify-full", "verify-ca", "require") = Field(  # type: ignore[valid-type]
        "verify-full",
        description="libpq sslmode of the IdPs' connections: verify-full checks the CA and the host name; require "
        "encrypts without verifying the server (a man in the middle goes unnoticed).",
    )
    ca_config_map: str | None = Field(
        None,
        description="ConfigMap (key ca.pem) in the IdP's namespace holding the server's CA; default: the RDS "
        "global bundle this program ships (rds mode). Required for verify-* in self-managed mode.",
    )


class DatabaseConfig(Section):
    """The IdP's PostgreSQL: RDS with PITR (default) or self-managed with a WAL archive."""

    mode: one_of("rds", "self-managed") = Field(  # type: ignore[valid-type]
        "rds", description="rds: managed PITR; self-managed: PostgreSQL archiving WAL to the archive bucket."
    )
    engine_version: checked(_engine_ok, "a PostgreSQL version with major 13 to 17, e.g. '16' or '16.4'") = Field(  # type: ignore[valid-type]
        "16", description="PostgreSQL version for RDS, e.g. '16.4' or '16'."
    )
    instance_class: InstanceClass = Field("db.m6g.large", description="RDS instance class.")
    allocated_storage_gb: int_range(20, 65536, unit="GiB") = Field(50, description="Initial storage.")  # type: ignore[valid-type]
    max_allocated_storage_gb: int = Field(200, description="Storage autoscaling ceiling (>= allocatedStorageGb).")
    storage_type: one_of("gp3", "io1", "io2") = Field("gp3", description="RDS storage type.")  # type: ignore[valid-type]
    multi_az: bool = Field(True, description="Multi-AZ standby in the primary region.")
    backup_retention_days: int_range(1, 35, _RETENTION) = Field(14, description="PITR window in days.")  # type: ignore[valid-type]
    replicated_backup_retention_days: int_range(1, 35, _RETENTION) | None = Field(  # type: ignore[valid-type]
        None, description="Retention of the replicated automated backups in the DR region; default: the PITR window."
    )
    backup_window: matching(  # type: ignore[valid-type]
        r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d", "a UTC window 'hh:mm-hh:mm', e.g. 03:00-03:30"
    ) = Field("03:00-03:30", description="Daily backup window, UTC.")
    maintenance_window: matching(  # type: ignore[valid-type]
        r"(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):[0-5]\d-(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):[0-5]\d",
        "a UTC window 'ddd:hh:mm-ddd:hh:mm', e.g. sun:04:00-sun:05:00",
    ) = Field("sun:04:00-sun:05:00", description="Weekly maintenance window, UTC.")
    deletion_protection: bool = Field(True, description="Refuse deletes at the AWS API.")
    master_username: PgIdentifier = Field("idp_admin", description="Master user name (not the IdP's user).")
    manage_master_password: bool = Field(
        True, description="Let RDS generate and rotate the master password in Secrets Manager (never in state)."
    )
    db_name: PgIdentifier | None = Field(None, description="Database the IdP uses; default: 'keycloak' or 'authentik'.")
    app_username: PgIdentifier | None = Field(
        None, description="Role the IdP logs in as; its password is the secret idp-dr:dbAppPassword. Default: db name."
    )
    dr_read_replica: bool = Field(
        False, description="Create a cross-region read replica in the DR region (a warm DB to promote)."
    )
    dr_replica_instance_class: InstanceClass | None = Field(
        None, description="Instance class of the DR replica; default: instanceClass."
    )
    tls: DatabaseTls = Field(default_factory=DatabaseTls, description=DatabaseTls.__doc__)
    enhanced_monitoring_seconds: one_of(  # type: ignore[valid-type]
        0, 1, 5, 10, 15, 30, 60, allowed="0 (off), 1, 5, 10, 15, 30 or 60 (the intervals RDS supports)"
    ) = Field(
        60, description="Enhanced Monitoring interval of the primary and the DR replica, seconds; 0 turns it off."
    )
    performance_insights: bool = Field(True, description="Performance Insights (encrypted with the primary CMK).")
    low_storage_alarm_gb: int_range(1, 1000, unit="GiB") = Field(10, description="Free-storage alarm threshold.")  # type: ignore[valid-type]
    dr_kms_key_arn: KmsKeyArn | None = Field(
        None,
        description="Bring your own CMK for the DR region (replicated backups, DR replica); it must live in "
        "drRegion. Default: a key is created there.",
    )
    self_managed_primary_host: str | None = Field(
        None, description="self-managed mode only (required there): host the primary site's IdP connects to."
    )
    self_managed_dr_host: str | None = Field(
        None, description="self-managed mode only (required there): host the DR site's IdP connects to after failover."
    )

    @property
    def engine_major(self) -> int:
        return int(self.engine_version.split(".")[0])

    @property
    def replicated_retention(self) -> int:
        return self.replicated_backup_retention_days or self.backup_retention_days


class RegionNetwork(Section):
    """One region's network: where the database lives and who may reach it."""

    vpc_id: matching(r"vpc-[0-9a-f]{8,17}", "a VPC ID, e.g. vpc-0123456789abcdef0") = Field(  # type: ignore[valid-type]
        description="VPC of the database and the cluster in this region."
    )
    db_subnet_ids: SubnetIds = Field(description="Private subnets (different AZs) for the DB subnet group.")
    app_cidrs: CidrList = Field(description="CIDRs allowed to reach PostgreSQL (the cluster's node/pod ranges).")
    load_balancer_cidrs: ProxyCidrList | None = Field(
        None,
        description="Where the load balancer's connections to the IdP come from (an ALB in IP mode: the VPC's "
        "public subnets). Only these reach the IdP's HTTP and health ports, and only they are trusted for "
        "X-Forwarded-* headers; unset, any pod may reach those ports (plan warns).",
    )


class NetworkConfig(Section):
    """Existing VPCs and subnets in both regions (this program creates none)."""

    primary: RegionNetwork = Field(description="The primary region's network.")
    dr: RegionNetwork = Field(description="The DR region's network (restores and promotions land here).")


class DumpRetention(Section):
    """Logical-dump tiers from the Keycloak guide (prefixes dumps/daily|weekly|monthly/)."""

    daily_days: _TIER_DAYS = Field(14, description="Days a daily dump is kept.")  # type: ignore[valid-type]
    weekly_days: _TIER_DAYS = Field(90, description="Days a weekly dump is kept.")  # type: ignore[valid-type]
    monthly_days: _TIER_DAYS = Field(365, description="Days a monthly dump is kept.")  # type: ignore[valid-type]


class ObjectLock(Section):
    """S3 Object Lock on both archive buckets (only possible when the buckets are created)."""

    enabled: bool = Field(False, description="Enable Object Lock with a default retention.")
    mode: one_of("GOVERNANCE", "COMPLIANCE") = Field("GOVERNANCE", description="Object Lock mode.")  # type: ignore[valid-type]
    days: _TIER_DAYS = Field(14, description="Default retention of new objects, days.")  # type: ignore[valid-type]


class DrObjectLock(Section):
    """Object Lock on the DR bucket alone, on by default: ransomware or a mistake in the primary region
    cannot empty the DR copy (deletes there only add markers; locked versions outlive lifecycle rules).
    Set ``enabled: false`` to opt out (the bucket must be created without a lock; this cannot be undone
    on an existing bucket). ``archive.objectLock``, when enabled, applies to both buckets instead."""

    enabled: bool = Field(True, description="Lock the DR bucket's objects with a default retention.")
    mode: one_of("GOVERNANCE", "COMPLIANCE") = Field(  # type: ignore[valid-type]
        "GOVERNANCE", description="GOVERNANCE: a privileged role may lift it; COMPLIANCE: nobody may."
    )
    days: _TIER_DAYS | None = Field(  # type: ignore[valid-type]
        None, description="Default retention of new objects, days; at least the PITR window (its default)."
    )


class WriterAccount(Section):
    """Kubernetes service account allowed to write the archive (IRSA), e.g. a CNPG cluster or dump job."""

    namespace: str = Field(description="Namespace of the service account.")
    name: str = Field(description="Name of the service account.")


class ArchiveConfig(Section):
    """Buckets for WAL, base backups and logical dumps, replicated to the DR region."""

    bucket_name: BucketName | None = Field(
        None, description="Primary bucket name; default: generated from idp-dr:name with a unique suffix."
    )
    dr_bucket_name: BucketName | None = Field(
        None, description="DR bucket name; default: generated from idp-dr:name with a unique suffix."
    )
    prefix: ArchiveName = Field("pg", description="Key prefix for WAL and base backups (<prefix>/<serverName>/...).")
    server_name: (
        matching(  # type: ignore[valid-type]
            r"[a-z0-9][a-z0-9._-]{0,63}", "a barman server name of lowercase letters, digits, '.', '_', '-'"
        )
        | None
    ) = Field(None, description="barman-cloud server name; default: idp-dr:name.")
    wal_retention_days: int | None = Field(
        None, description="Days WAL and base backups are kept; must cover the PITR window. Default: window + 7."
    )
    dump_retention: DumpRetention = Field(default_factory=DumpRetention, description=DumpRetention.__doc__)
    object_lock: ObjectLock = Field(default_factory=ObjectLock, description=ObjectLock.__doc__)
    dr_object_lock: DrObjectLock = Field(default_factory=DrObjectLock, description=DrObjectLock.__doc__)
    writer: WriterAccount | None = Field(
        None, description="Service account that archives WAL / uploads dumps (IRSA role limited to the prefix)."
    )


class Resources(Section):
    """Requests and limits of the IdP container (Kubernetes quantities)."""

    cpu_request: str = Field("500m", description="CPU request.")
    memory_request: str = Field("1Gi", description="Memory request.")
    cpu_limit: str = Field("2", description="CPU limit.")
    memory_limit: str = Field("2Gi", description="Memory limit.")


class OutpostConfig(Section):
    """authentik proxy outpost keeping sessions in PostgreSQL."""

    enabled: bool = Field(
        False, description="Configure the outpost named below (by a blueprint) to keep sessions in PostgreSQL."
    )
    name: str = Field("proxy", description="Name of the proxy outpost in authentik.")


class AuthentikFiles(Section):
    """authentik's static directories, delivered from Git to BOTH sites.

    A volume that exists only in the primary region is lost with it; a ConfigMap
    or Secret applied by this program exists in each cluster.
    """

    custom_templates_config_map: str | None = Field(None, description="ConfigMap mounted at /templates.")
    certs_secret: str | None = Field(None, description="Secret mounted at /certs (certificates authentik discovers).")
    blueprints_config_map: str | None = Field(None, description="ConfigMap mounted at /blueprints/custom.")


_NAMESPACE_ALLOWED = "a DNS-label namespace other than default and kube-system"


def _namespace_name_ok(value: str) -> bool:
    return bool(re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", value))


def _namespace_ok(value: str) -> bool:
    return _namespace_name_ok(value) and value not in ("default", "kube-system")


class NetworkPolicyConfig(Section):
    """NetworkPolicies in the IdP's namespace of both clusters: deny all, then allow only what the IdP needs."""

    enabled: bool = Field(
        True,
        description="Default-deny ingress and egress, then allow: the load balancer (or ingressNamespaces) to the "
        "HTTP and health ports, DNS, the database, HTTPS out, and the IdP's own pods to each other.",
    )
    ingress_namespaces: list[checked(_namespace_name_ok, "a namespace name (DNS label)")] = Field(  # type: ignore[valid-type]
        default_factory=list,
        description="Namespaces of in-cluster ingress controllers (e.g. ingress-nginx) allowed to reach the IdP.",
    )


class StandbyConfig(Section):
    """The IdP on Kubernetes: active in the primary cluster, passive in the DR cluster."""

    namespace: checked(_namespace_ok, _NAMESPACE_ALLOWED) = Field(  # type: ignore[valid-type]
        "identity", description="Namespace in both clusters."
    )
    primary_replicas: int_range(1, 50) = Field(2, description="Active replicas in the primary cluster.")  # type: ignore[valid-type]
    dr_replicas: int_range(0, 50, "an integer from 0 (pilot light) to 50 (warm standby)") = Field(  # type: ignore[valid-type]
        0, description="Passive replicas in the DR cluster: 0 = pilot light, >= 1 = warm."
    )
    secrets_mode: one_of("external-secrets", "pulumi") = Field(  # type: ignore[valid-type]
        "external-secrets",
        description="external-secrets: Secrets Manager via IRSA; pulumi: a Kubernetes Secret written by Pulumi.",
    )
    external_secrets_api_version: str = Field(
        "external-secrets.io/v1", description="API version of the External Secrets Operator CRDs."
    )
    ingress_class_name: str = Field("alb", description="IngressClass of the public and health Ingresses.")
    ingress_annotations: dict[str, str] = Field(
        default_factory=dict, description="Annotations for both Ingresses (e.g. ALB scheme, certificate, group)."
    )
    tls_secret_name: str | None = Field(
        None, description="Kubernetes TLS secret for the public and health hostnames (optional with ALB + ACM)."
    )
    read_only_root_filesystem: bool = Field(
        True, description="Read-only root filesystem where the image allows it (authentik; Keycloak optimizedImage)."
    )
    resources: Resources = Field(default_factory=Resources, description=Resources.__doc__)
    outpost: OutpostConfig = Field(default_factory=OutpostConfig, description=OutpostConfig.__doc__)
    authentik_files: AuthentikFiles = Field(
        default_factory=AuthentikFiles, description="authentik's static directories."
    )
    network_policy: NetworkPolicyConfig = Field(
        default_factory=NetworkPolicyConfig, description=NetworkPolicyConfig.__doc__
    )

    @property
    def standby_mode(self) -> str:
        return "pilot-light" if self.dr_replicas == 0 else "warm"


class ClusterConfig(Section):
    """One EKS cluster."""

    context: str = Field(description="kubeconfig context name of the cluster (uses the default kubeconfig).")
    oidc_provider_arn: matching(  # type: ignore[valid-type]
        r"arn:aws[a-z-]*:iam::\d{12}:oidc-provider/.+",
        "an IAM OIDC provider ARN, e.g. arn:aws:iam::123456789012:oidc-provider/"
        "oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE",
    ) = Field(description="IAM OIDC provider ARN of the EKS cluster, for IRSA roles.")

    @property
    def oidc_issuer_host(self) -> str:
        return self.oidc_provider_arn.split(":oidc-provider/", 1)[1]


class ClustersConfig(Section):
    """The two clusters, addressed by kubeconfig context."""

    primary: ClusterConfig = Field(description="The primary (active) cluster.")
    dr: ClusterConfig = Field(description="The DR (passive) cluster.")


class HealthCheckConfig(Section):
    """Route 53 health checks of each site (readiness, and optionally the issuer)."""

    path: UrlPath | None = Field(
        None, description="Readiness path; default /health/ready (Keycloak mgmt port) or /-/health/ready/ (authentik)."
    )
    request_interval: one_of(10, 30, allowed="10 or 30 (the only intervals Route 53 supports)") = Field(  # type: ignore[valid-type]
        30, description="Seconds between checks from each checker."
    )
    failure_threshold: int_range(1, 10) = Field(3, description="Consecutive failures before unhealthy.")  # type: ignore[valid-type]
    issuer_check: bool = Field(
        True, description="Also check that the discovery document carries the exact production issuer."
    )


class DnsConfig(Section):
    """Route 53 failover for the public hostname."""

    zone_id: matching(r"Z[A-Z0-9]{4,31}", "a Route 53 hosted zone ID, e.g. Z0123456789ABCDEFGHIJ") = Field(  # type: ignore[valid-type]
        description="Route 53 hosted zone holding publicHostname."
    )
    ttl: int_range(  # type: ignore[valid-type]
        5,
        60,
        "an integer from 5 to 60 seconds (failover records must expire within a minute so clients follow a failover)",
    ) = Field(60, description="TTL of the failover records, seconds (Route 53 advises <= 60 with health checks).")
    health_check: HealthCheckConfig = Field(default_factory=HealthCheckConfig, description=HealthCheckConfig.__doc__)
    primary_health_hostname: Hostname | None = Field(
        None, description="Hostname the primary site's health checks probe; default health-primary.<publicHostname>."
    )
    dr_health_hostname: Hostname | None = Field(
        None, description="Hostname the DR site's health checks probe; default health-dr.<publicHostname>."
    )
    secondary_record_health_check: bool = Field(
        False,
        description="Attach a health check to the SECONDARY record. Off: Route 53 answers with the PRIMARY when a "
        "SECONDARY with a check is unhealthy, i.e. it would fail back to a dead primary.",
    )
    alarm_emails: EmailList = Field(
        default_factory=list, description="E-mail addresses notified by the health-check alarm (SNS, us-east-1)."
    )
