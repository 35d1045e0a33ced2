"""Typed, validated stack configuration (the ``idp-dr:*`` keys of a Pulumi stack).

Every key is validated here, before any resource (not even a provider) is
registered. A bad value raises :class:`ConfigError` whose lines each read
``invalid idp-dr:<key> <value>: <what is allowed>``; nothing is created.

Keys (YAML under ``config:`` in ``Pulumi.<stack>.yaml``; objects are nested):

========================================  ==========================================================
``idp-dr:name``                           resource-name prefix, ``^[a-z][a-z0-9-]{1,20}$``; default ``idp``
``idp-dr:primaryRegion`` / ``drRegion``   AWS region codes (botocore's list); must differ, same partition
``idp-dr:targets``                        ``rpoSeconds`` (default 300), ``rtoSeconds`` (default 1800)
``idp-dr:tags``                           tags added to every AWS resource
``idp-dr:idp``                            the identity provider (see :class:`IdpConfig`)
``idp-dr:database``                       RDS / self-managed PostgreSQL (see :class:`DatabaseConfig`)
``idp-dr:network``                        per-region VPC, DB subnets, app CIDRs (:class:`NetworkConfig`)
``idp-dr:archive``                        WAL/backup/dump buckets (see :class:`ArchiveConfig`)
``idp-dr:standby``                        Kubernetes deployment of the IdP (see :class:`StandbyConfig`)
``idp-dr:kubernetes``                     per-cluster context and IRSA OIDC provider (:class:`ClustersConfig`)
``idp-dr:dns``                            Route 53 zone, TTL, health checks (see :class:`DnsConfig`)
``idp-dr:dbAppPassword``                  secret (``pulumi config set --secret``): the IdP's DB password
``idp-dr:authentikSecretKey``             secret, required for authentik: shared by both regions
``idp-dr:masterPassword``                 secret; refused unless ``database.manageMasterPassword: false``
========================================  ==========================================================
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from functools import lru_cache
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from contract.messages import describe_invalid

NAMESPACE = "idp-dr"
SECRET_KEYS = ("dbAppPassword", "authentikSecretKey", "masterPassword")

# authentik stopped using Redis in 2025.10 (sessions, tasks, cache all in PostgreSQL).
AUTHENTIK_REDIS_REMOVED_IN = (2025, 10)


class ConfigValueError(ValueError):
    """A refused value, carrying the exact key so cross-field checks name it too."""

    def __init__(self, key: str, value: Any, allowed: str):
        super().__init__(allowed)
        self.key = key
        self.value = value
        self.allowed = allowed


class ConfigError(ValueError):
    """All problems found in the stack config, one ``invalid ...`` line each."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def describe(key: str, value: Any, allowed: str) -> str:
    return describe_invalid(f"{NAMESPACE}:{key}", value, allowed)


# --------------------------------------------------------------------------- helpers
@lru_cache(maxsize=1)
def known_regions() -> dict[str, str]:
    """AWS region code -> partition, from the installed botocore's endpoint data."""
    import botocore.session

    session = botocore.session.get_session()
    regions: dict[str, str] = {}
    for partition in session.get_available_partitions():
        for region in session.get_available_regions("rds", partition_name=partition):
            regions[region] = partition
    return regions


def _check_region(key: str, value: str) -> str:
    regions = known_regions()
    if value not in regions:
        close = difflib.get_close_matches(value, list(regions), n=1, cutoff=0.8)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigValueError(key, value, f"an AWS region code where RDS exists, e.g. eu-west-1{hint}")
    return value


KMS_KEY_ARN_RE = re.compile(r"^arn:aws[a-z-]*:kms:(?P<region>[a-z0-9-]+):\d{12}:key/(mrk-[0-9a-f]{32}|[0-9a-f-]{36})$")

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def _check_bucket_name(key: str, value: str) -> str:
    ok = (
        _BUCKET_RE.match(value)
        and ".." not in value
        and not re.match(r"^\d+\.\d+\.\d+\.\d+$", value)
        and not value.startswith(("xn--", "sthree-", "amzn-s3-demo-"))
        and not value.endswith(("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"))
    )
    if not ok:
        raise ConfigValueError(
            key,
            value,
            "an S3 bucket name: 3-63 characters of lowercase letters, digits, dots and hyphens, "
            "starting and ending with a letter or digit, not an IP address",
        )
    return value


_HOSTNAME_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def _check_hostname(key: str, value: str) -> str:
    if not _HOSTNAME_RE.match(value):
        raise ConfigValueError(key, value, "a lowercase DNS name without scheme or path, e.g. sso.example.com")
    return value


def _check_path(key: str, value: str) -> str:
    if not value or not value.startswith("/") or " " in value or "://" in value:
        raise ConfigValueError(key, value, "an absolute URL path starting with '/', e.g. /health/ready")
    return value


_IMAGE_RE = re.compile(
    r"^(?P<repo>[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._/-][a-z0-9]+)*)*)"
    r"(:(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(@(?P<digest>sha256:[a-f0-9]{64}))?$"
)


def parse_image(key: str, value: str) -> tuple[str, str | None, str | None]:
    match = _IMAGE_RE.match(value)
    if not match:
        raise ConfigValueError(key, value, "a container image reference, e.g. quay.io/keycloak/keycloak:26.4.5")
    tag, digest = match.group("tag"), match.group("digest")
    if tag == "latest":
        raise ConfigValueError(
            key,
            value,
            "a pinned image: a version tag or an @sha256 digest, not 'latest' (both regions must run "
            "the exact same build)",
        )
    if not tag and not digest:
        raise ConfigValueError(
            key, value, "a pinned image: add a version tag or an @sha256 digest (no tag means 'latest')"
        )
    return match.group("repo"), tag, digest


def _version_tuple(text: str | None) -> tuple[int, ...] | None:
    if not text:
        return None
    match = re.match(r"^v?(\d+)\.(\d+)(?:\.(\d+))?", text)
    if not match:
        return None
    return tuple(int(g) for g in match.groups() if g is not None)


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        str_strip_whitespace=True,
    )


# --------------------------------------------------------------------------- sections
class Targets(_Model):
    """Declared recovery objectives; alarms and drills are measured against them."""

    #: Maximum acceptable data loss, seconds (1..86400). Default 300.
    rpo_seconds: int = 300
    #: Maximum acceptable downtime, seconds (60..86400). Default 1800.
    rto_seconds: int = 1800

    @field_validator("rpo_seconds")
    @classmethod
    def _rpo(cls, v: int) -> int:
        if not 1 <= v <= 86400:
            raise ValueError("an integer number of seconds from 1 to 86400")
        return v

    @field_validator("rto_seconds")
    @classmethod
    def _rto(cls, v: int) -> int:
        if not 60 <= v <= 86400:
            raise ValueError("an integer number of seconds from 60 to 86400")
        return v


class IdpConfig(_Model):
    """The identity provider, identical on both sites."""

    #: keycloak | authentik
    kind: str
    #: Pinned image used in BOTH regions, e.g. quay.io/keycloak/keycloak:26.4.5 (never 'latest').
    image: str
    #: Public hostname served by both regions, so tokens carry one issuer.
    public_hostname: str
    #: Keycloak realm whose issuer is checked (default 'master').
    realm: str = "master"
    #: authentik application slug whose issuer is checked (required for authentik).
    application_slug: str | None = None
    #: App version when the image tag is not one (digest-pinned images); e.g. '2025.10.2'.
    version: str | None = None
    #: Keycloak only: the image was pre-built (``kc.sh build --db=postgres --health-enabled=true``), so
    #: pods run ``start --optimized`` with a read-only root filesystem. Default false: the stock image
    #: re-augments at start and needs a writable root.
    optimized_image: bool = False

    @field_validator("kind")
    @classmethod
    def _kind(cls, v: str) -> str:
        if v not in ("keycloak", "authentik"):
            raise ValueError("one of 'keycloak', 'authentik'")
        return v

    @field_validator("image")
    @classmethod
    def _image(cls, v: str) -> str:
        parse_image("idp.image", v)
        return v

    @field_validator("public_hostname")
    @classmethod
    def _host(cls, v: str) -> str:
        return _check_hostname("idp.publicHostname", v)

    @field_validator("realm", "application_slug")
    @classmethod
    def _slug(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$", v):
            raise ValueError("letters, digits, '.', '_' and '-', starting with a letter or digit")
        return v

    @model_validator(mode="after")
    def _authentik_needs(self) -> IdpConfig:
        if self.kind == "authentik" and not self.application_slug:
            raise ConfigValueError(
                "idp.applicationSlug",
                None,
                "required for authentik: the OAuth2/OIDC application slug whose issuer is checked",
            )
        if self.kind == "authentik" and self.app_version is None:
            raise ConfigValueError(
                "idp.version",
                self.version,
                "required when the authentik image tag is not a version (e.g. '2025.10.2'): it decides "
                "whether Redis is deployed",
            )
        return self

    @property
    def image_tag(self) -> str | None:
        return parse_image("idp.image", self.image)[1]

    @property
    def app_version(self) -> tuple[int, ...] | None:
        return _version_tuple(self.version) or _version_tuple(self.image_tag)

    @property
    def issuer(self) -> str:
        if self.kind == "keycloak":
            return f"https://{self.public_hostname}/realms/{self.realm}"
        return f"https://{self.public_hostname}/application/o/{self.application_slug}/"

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


class DatabaseConfig(_Model):
    """The IdP's PostgreSQL: RDS with PITR (default) or self-managed with a WAL archive."""

    #: rds (managed PITR, default) | self-managed (PostgreSQL archiving WAL to the archive bucket).
    mode: str = "rds"
    #: PostgreSQL version for RDS, e.g. '16.4' or '16'. Major 13..17. Default '16'.
    engine_version: str = "16"
    #: RDS instance class, must start with 'db.'. Default db.m6g.large.
    instance_class: str = "db.m6g.large"
    #: Initial storage in GiB (20..65536). Default 50.
    allocated_storage_gb: int = 50
    #: Storage autoscaling ceiling in GiB (>= allocatedStorageGb). Default 200.
    max_allocated_storage_gb: int = 200
    #: gp3 | io1 | io2. Default gp3.
    storage_type: str = "gp3"
    #: Multi-AZ standby in the primary region. Default true.
    multi_az: bool = True
    #: PITR window in days (1..35, RDS's limit). Default 14.
    backup_retention_days: int = 14
    #: Retention of the replicated automated backups in the DR region (1..35). Default: same as above.
    replicated_backup_retention_days: int | None = None
    #: Daily backup window 'hh:mm-hh:mm' UTC. Default 03:00-03:30.
    backup_window: str = "03:00-03:30"
    #: Weekly maintenance window 'ddd:hh:mm-ddd:hh:mm' UTC. Default sun:04:00-sun:05:00.
    maintenance_window: str = "sun:04:00-sun:05:00"
    #: Refuse deletes at the AWS API. Default true.
    deletion_protection: bool = True
    #: Master user name (not the IdP's user). Default idp_admin.
    master_username: str = "idp_admin"
    #: Let RDS generate and rotate the master password in Secrets Manager (never in state). Default true.
    manage_master_password: bool = True
    #: Database the IdP uses. Default: 'keycloak' or 'authentik'.
    db_name: str | None = None
    #: Role the IdP logs in as; its password is the secret key idp-dr:dbAppPassword. Default: db name.
    app_username: str | None = None
    #: Create a cross-region read replica in the DR region (a warm DB to promote). Default false.
    dr_read_replica: bool = False
    #: Instance class of the DR replica. Default: instanceClass.
    dr_replica_instance_class: str | None = None
    #: Performance Insights (encrypted with the primary CMK). Default true.
    performance_insights: bool = True
    #: Free-storage alarm threshold in GiB. Default 10.
    low_storage_alarm_gb: int = 10
    #: Bring your own CMK for the DR region (replicated backups, DR replica). Must live in drRegion.
    #: Default: a key is created there.
    dr_kms_key_arn: str | None = None
    #: self-managed mode only (required there): host the primary site's IdP connects to.
    self_managed_primary_host: str | None = None
    #: self-managed mode only (required there): host the DR site's IdP connects to after failover.
    self_managed_dr_host: str | None = None

    @field_validator("mode")
    @classmethod
    def _mode(cls, v: str) -> str:
        if v not in ("rds", "self-managed"):
            raise ValueError("one of 'rds', 'self-managed'")
        return v

    @field_validator("engine_version")
    @classmethod
    def _engine(cls, v: str) -> str:
        match = re.match(r"^(\d+)(\.\d+)?$", v)
        if not match or not 13 <= int(match.group(1)) <= 17:
            raise ValueError("a PostgreSQL version with major 13 to 17, e.g. '16' or '16.4'")
        return v

    @field_validator("instance_class", "dr_replica_instance_class")
    @classmethod
    def _class(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^db\.[a-z0-9]+\.[a-z0-9]+$", v):
            raise ValueError("an RDS instance class starting with 'db.', e.g. db.m6g.large")
        return v

    @field_validator("allocated_storage_gb")
    @classmethod
    def _storage(cls, v: int) -> int:
        if not 20 <= v <= 65536:
            raise ValueError("an integer number of GiB from 20 to 65536")
        return v

    @field_validator("storage_type")
    @classmethod
    def _storage_type(cls, v: str) -> str:
        if v not in ("gp3", "io1", "io2"):
            raise ValueError("one of 'gp3', 'io1', 'io2'")
        return v

    @field_validator("backup_retention_days", "replicated_backup_retention_days")
    @classmethod
    def _retention(cls, v: int | None) -> int | None:
        if v is not None and not 1 <= v <= 35:
            raise ValueError(
                "an integer number of days from 1 to 35 (RDS keeps point-in-time backups "
                "for at most 35 days; 0 would disable them)"
            )
        return v

    @field_validator("backup_window")
    @classmethod
    def _bwindow(cls, v: str) -> str:
        if not re.match(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$", v):
            raise ValueError("a UTC window 'hh:mm-hh:mm', e.g. 03:00-03:30")
        return v

    @field_validator("maintenance_window")
    @classmethod
    def _mwindow(cls, v: str) -> str:
        day = r"(mon|tue|wed|thu|fri|sat|sun)"
        if not re.match(rf"^{day}:([01]\d|2[0-3]):[0-5]\d-{day}:([01]\d|2[0-3]):[0-5]\d$", v):
            raise ValueError("a UTC window 'ddd:hh:mm-ddd:hh:mm', e.g. sun:04:00-sun:05:00")
        return v

    @field_validator("master_username", "app_username", "db_name")
    @classmethod
    def _ident(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if not re.match(r"^[a-z][a-z0-9_]{0,62}$", v) or v in ("postgres", "rdsadmin", "admin", "public"):
            raise ValueError(
                "a lowercase PostgreSQL identifier (letters, digits, '_'; max 63) other than "
                "postgres, rdsadmin, admin, public"
            )
        return v

    @field_validator("dr_kms_key_arn")
    @classmethod
    def _kms(cls, v: str | None) -> str | None:
        if v is not None and not KMS_KEY_ARN_RE.match(v):
            raise ValueError(
                "a KMS key ARN, e.g. arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
            )
        return v

    @field_validator("low_storage_alarm_gb")
    @classmethod
    def _low(cls, v: int) -> int:
        if not 1 <= v <= 1000:
            raise ValueError("an integer number of GiB from 1 to 1000")
        return v

    @model_validator(mode="after")
    def _cross(self) -> DatabaseConfig:
        if self.max_allocated_storage_gb < self.allocated_storage_gb:
            raise ConfigValueError(
                "database.maxAllocatedStorageGb",
                self.max_allocated_storage_gb,
                f"at least allocatedStorageGb ({self.allocated_storage_gb})",
            )
        if self.mode == "self-managed":
            # Name the field that is missing (the primary's first when both are).
            for key, value, other in (
                ("selfManagedPrimaryHost", self.self_managed_primary_host, "selfManagedDrHost"),
                ("selfManagedDrHost", self.self_managed_dr_host, "selfManagedPrimaryHost"),
            ):
                if not value:
                    raise ConfigValueError(
                        f"database.{key}",
                        value,
                        f"required with mode 'self-managed' (together with {other})",
                    )
        return self

    @property
    def engine_major(self) -> int:
        return int(self.engine_version.split(".")[0])

    @property
    def replicated_retention(self) -> int:
        return self.replicated_backup_retention_days or self.backup_retention_days


class RegionNetwork(_Model):
    """One region's network: where the database lives and who may reach it."""

    #: VPC of the database and the cluster in this region, e.g. vpc-0abc...
    vpc_id: str
    #: At least two private subnets (different AZs) for the DB subnet group.
    db_subnet_ids: list[str]
    #: CIDRs allowed to reach PostgreSQL (the cluster's node/pod ranges).
    app_cidrs: list[str]

    @field_validator("vpc_id")
    @classmethod
    def _vpc(cls, v: str) -> str:
        if not re.match(r"^vpc-[0-9a-f]{8,17}$", v):
            raise ValueError("a VPC ID, e.g. vpc-0123456789abcdef0")
        return v

    @field_validator("db_subnet_ids")
    @classmethod
    def _subnets(cls, v: list[str]) -> list[str]:
        if len(v) < 2 or any(not re.match(r"^subnet-[0-9a-f]{8,17}$", s) for s in v):
            raise ValueError("at least two subnet IDs (e.g. subnet-0123456789abcdef0) in different AZs")
        return v

    @field_validator("app_cidrs")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("at least one CIDR, e.g. 10.0.0.0/16")
        for cidr in v:
            try:
                net = ipaddress.ip_network(cidr, strict=True)
            except ValueError:
                raise ValueError(f"CIDR blocks such as 10.0.0.0/16 ({cidr!r} is not one)") from None
            if net.prefixlen == 0:
                raise ValueError("private CIDR blocks, not 0.0.0.0/0 (the database is never open to all)")
        return v


class NetworkConfig(_Model):
    """Existing VPCs and subnets in both regions (this program creates none)."""

    #: The primary region's network.
    primary: RegionNetwork
    #: The DR region's network (restores and promotions land here).
    dr: RegionNetwork


class DumpRetention(_Model):
    """Logical-dump tiers from the Keycloak guide (prefixes dumps/daily|weekly|monthly/)."""

    #: Days a daily dump is kept (1..3650). Default 14.
    daily_days: int = 14
    #: Days a weekly dump is kept (1..3650). Default 90.
    weekly_days: int = 90
    #: Days a monthly dump is kept (1..3650). Default 365.
    monthly_days: int = 365

    @field_validator("daily_days", "weekly_days", "monthly_days")
    @classmethod
    def _days(cls, v: int) -> int:
        if not 1 <= v <= 3650:
            raise ValueError("an integer number of days from 1 to 3650")
        return v


class ObjectLock(_Model):
    """S3 Object Lock on both archive buckets (only possible when the buckets are created)."""

    #: Enable Object Lock with a default retention. Default false.
    enabled: bool = False
    #: GOVERNANCE | COMPLIANCE. Default GOVERNANCE.
    mode: str = "GOVERNANCE"
    #: Default retention of new objects, days (1..3650). Default 14.
    days: int = 14

    @field_validator("mode")
    @classmethod
    def _mode(cls, v: str) -> str:
        if v not in ("GOVERNANCE", "COMPLIANCE"):
            raise ValueError("one of 'GOVERNANCE', 'COMPLIANCE'")
        return v

    @field_validator("days")
    @classmethod
    def _days(cls, v: int) -> int:
        if not 1 <= v <= 3650:
            raise ValueError("an integer number of days from 1 to 3650")
        return v


class WriterAccount(_Model):
    """Kubernetes service account allowed to write the archive (IRSA), e.g. a CNPG cluster or dump job."""

    #: Namespace of the service account.
    namespace: str
    #: Name of the service account.
    name: str


class ArchiveConfig(_Model):
    """Buckets for WAL, base backups and logical dumps, replicated to the DR region."""

    #: Primary bucket name (S3 naming rules). Default: generated from idp-dr:name with a unique suffix.
    bucket_name: str | None = None
    #: DR bucket name (S3 naming rules). Default: generated from idp-dr:name with a unique suffix.
    dr_bucket_name: str | None = None
    #: Key prefix for WAL and base backups (barman-cloud layout <prefix>/<serverName>/...). Default 'pg'.
    prefix: str = "pg"
    #: barman-cloud server name. Default: idp-dr:name.
    server_name: str | None = None
    #: Days WAL and base backups are kept; must cover the PITR window. Default: window + 7.
    wal_retention_days: int | None = None
    dump_retention: DumpRetention = Field(default_factory=DumpRetention)
    object_lock: ObjectLock = Field(default_factory=ObjectLock)
    #: Service account that archives WAL / uploads dumps (IRSA role limited to the prefix).
    writer: WriterAccount | None = None

    @field_validator("bucket_name", "dr_bucket_name")
    @classmethod
    def _bucket(cls, v: str | None, info: Any) -> str | None:
        if v is None:
            return v
        return _check_bucket_name(f"archive.{to_camel(info.field_name)}", v)

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        if not re.match(r"^[a-z0-9][a-z0-9._-]{0,63}$", v):
            raise ValueError("a key prefix of lowercase letters, digits, '.', '_', '-' (no slashes)")
        return v

    @field_validator("server_name")
    @classmethod
    def _server(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^[a-z0-9][a-z0-9._-]{0,63}$", v):
            raise ValueError("a barman server name of lowercase letters, digits, '.', '_', '-'")
        return v


class Resources(_Model):
    """Requests and limits of the IdP container (Kubernetes quantities)."""

    #: CPU request. Default 500m.
    cpu_request: str = "500m"
    #: Memory request. Default 1Gi.
    memory_request: str = "1Gi"
    #: CPU limit. Default 2.
    cpu_limit: str = "2"
    #: Memory limit. Default 2Gi.
    memory_limit: str = "2Gi"


class OutpostConfig(_Model):
    """authentik proxy outpost keeping sessions in PostgreSQL (seed 002)."""

    #: Configure the outpost named below (by a blueprint) to keep sessions in PostgreSQL. Default false.
    enabled: bool = False
    #: Name of the proxy outpost in authentik. Default proxy.
    name: str = "proxy"


class AuthentikFiles(_Model):
    """authentik's static directories (seeds 000/001), delivered from Git to BOTH sites.

    A volume that exists only in the primary region is lost with it; a ConfigMap
    or Secret applied by this program exists in each cluster.
    """

    #: ConfigMap mounted at /templates (custom templates).
    custom_templates_config_map: str | None = None
    #: Secret mounted at /certs (certificates authentik discovers from files).
    certs_secret: str | None = None
    #: ConfigMap mounted at /blueprints/custom (your blueprints).
    blueprints_config_map: str | None = None


class StandbyConfig(_Model):
    """The IdP on Kubernetes: active in the primary cluster, passive in the DR cluster."""

    #: Namespace in both clusters (never 'default'). Default 'identity'.
    namespace: str = "identity"
    #: Active replicas in the primary cluster (1..50). Default 2.
    primary_replicas: int = 2
    #: Passive replicas in the DR cluster: 0 = pilot light, >= 1 = warm. Default 0.
    dr_replicas: int = 0
    #: external-secrets (Secrets Manager via IRSA, default) | pulumi (a Kubernetes Secret from Pulumi).
    secrets_mode: str = "external-secrets"
    #: API version of the External Secrets Operator CRDs. Default external-secrets.io/v1.
    external_secrets_api_version: str = "external-secrets.io/v1"
    #: IngressClass of the public and health Ingresses. Default alb.
    ingress_class_name: str = "alb"
    #: Annotations for both Ingresses (e.g. ALB scheme, certificate, group). Default none.
    ingress_annotations: dict[str, str] = Field(default_factory=dict)
    #: Kubernetes TLS secret for the public and health hostnames (optional with ALB + ACM).
    tls_secret_name: str | None = None
    #: Read-only root filesystem where the image allows it (authentik; Keycloak with optimizedImage). Default true.
    read_only_root_filesystem: bool = True
    #: Container resources (see below).
    resources: Resources = Field(default_factory=Resources)
    outpost: OutpostConfig = Field(default_factory=OutpostConfig)
    authentik_files: AuthentikFiles = Field(default_factory=AuthentikFiles)

    @field_validator("namespace")
    @classmethod
    def _ns(cls, v: str) -> str:
        if not re.match(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", v) or v in ("default", "kube-system"):
            raise ValueError("a DNS-label namespace other than default and kube-system")
        return v

    @field_validator("primary_replicas")
    @classmethod
    def _primary(cls, v: int) -> int:
        if not 1 <= v <= 50:
            raise ValueError("an integer from 1 to 50")
        return v

    @field_validator("dr_replicas")
    @classmethod
    def _dr(cls, v: int) -> int:
        if not 0 <= v <= 50:
            raise ValueError("an integer from 0 (pilot light) to 50 (warm standby)")
        return v

    @field_validator("secrets_mode")
    @classmethod
    def _secrets(cls, v: str) -> str:
        if v not in ("external-secrets", "pulumi"):
            raise ValueError("one of 'external-secrets', 'pulumi'")
        return v

    @property
    def standby_mode(self) -> str:
        return "pilot-light" if self.dr_replicas == 0 else "warm"


class ClusterConfig(_Model):
    """One EKS cluster."""

    #: kubeconfig context name of the cluster (uses the default kubeconfig).
    context: str
    #: IAM OIDC provider ARN of the EKS cluster, for IRSA roles.
    oidc_provider_arn: str

    @field_validator("oidc_provider_arn")
    @classmethod
    def _oidc(cls, v: str) -> str:
        if not re.match(r"^arn:aws[a-z-]*:iam::\d{12}:oidc-provider/.+$", v):
            raise ValueError(
                "an IAM OIDC provider ARN, e.g. arn:aws:iam::123456789012:oidc-provider/"
                "oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE"
            )
        return v

    @property
    def oidc_issuer_host(self) -> str:
        return self.oidc_provider_arn.split(":oidc-provider/", 1)[1]


class ClustersConfig(_Model):
    """The two clusters, addressed by kubeconfig context."""

    #: The primary (active) cluster.
    primary: ClusterConfig
    #: The DR (passive) cluster.
    dr: ClusterConfig


class HealthCheckConfig(_Model):
    """Route 53 health checks of each site (readiness, and optionally the issuer)."""

    #: Readiness path; default /health/ready (Keycloak mgmt port) or /-/health/ready/ (authentik).
    path: str | None = None
    #: Seconds between checks from each checker: 10 or 30. Default 30.
    request_interval: int = 30
    #: Consecutive failures before unhealthy (1..10). Default 3.
    failure_threshold: int = 3
    #: Also check that the discovery document carries the exact production issuer. Default true.
    issuer_check: bool = True

    @field_validator("path")
    @classmethod
    def _path(cls, v: str | None) -> str | None:
        return v if v is None else _check_path("dns.healthCheck.path", v)

    @field_validator("request_interval")
    @classmethod
    def _interval(cls, v: int) -> int:
        if v not in (10, 30):
            raise ValueError("10 or 30 (the only intervals Route 53 supports)")
        return v

    @field_validator("failure_threshold")
    @classmethod
    def _threshold(cls, v: int) -> int:
        if not 1 <= v <= 10:
            raise ValueError("an integer from 1 to 10")
        return v


class DnsConfig(_Model):
    """Route 53 failover for the public hostname."""

    #: Route 53 hosted zone holding publicHostname, e.g. Z0123456789ABCDEFGHIJ.
    zone_id: str
    #: TTL of the failover records, seconds (5..60; Route 53 advises <= 60 with health checks). Default 60.
    ttl: int = 60
    health_check: HealthCheckConfig = Field(default_factory=HealthCheckConfig)
    #: Hostname the primary site's health checks probe. Default health-primary.<publicHostname>.
    primary_health_hostname: str | None = None
    #: Hostname the DR site's health checks probe. Default health-dr.<publicHostname>.
    dr_health_hostname: str | None = None
    #: Attach a health check to the SECONDARY record. Default false: Route 53 answers with the
    #: PRIMARY when a SECONDARY with a check is unhealthy, i.e. it would fail back to a dead primary.
    secondary_record_health_check: bool = False
    #: E-mail addresses notified by the health-check alarm (SNS, us-east-1).
    alarm_emails: list[str] = Field(default_factory=list)

    @field_validator("zone_id")
    @classmethod
    def _zone(cls, v: str) -> str:
        if not re.match(r"^Z[A-Z0-9]{4,31}$", v):
            raise ValueError("a Route 53 hosted zone ID, e.g. Z0123456789ABCDEFGHIJ")
        return v

    @field_validator("ttl")
    @classmethod
    def _ttl(cls, v: int) -> int:
        if not 5 <= v <= 60:
            raise ValueError(
                "an integer from 5 to 60 seconds (failover records must expire within a "
                "minute so clients follow a failover)"
            )
        return v

    @field_validator("primary_health_hostname", "dr_health_hostname")
    @classmethod
    def _hosts(cls, v: str | None, info: Any) -> str | None:
        return v if v is None else _check_hostname(f"dns.{to_camel(info.field_name)}", v)

    @field_validator("alarm_emails")
    @classmethod
    def _emails(cls, v: list[str]) -> list[str]:
        for email in v:
            if not re.match(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", email):
                raise ValueError(f"e-mail addresses ({email!r} is not one)")
        return v


class StackConfig(_Model):
    """All idp-dr settings of one stack."""

    #: Prefix of resource names and identifiers ('<name>-db', 'idp-dr/<name>/...'): 2-21 of a-z, 0-9, '-'.
    #: Default idp.
    name: str = "idp"
    #: AWS region serving traffic, e.g. eu-west-1.
    primary_region: str
    #: AWS region holding the copies and the standby; must differ from primaryRegion, same partition.
    dr_region: str
    #: Declared recovery objectives (see below).
    targets: Targets = Field(default_factory=Targets)
    #: Tags added to every AWS resource. Default none.
    tags: dict[str, str] = Field(default_factory=dict)
    #: The identity provider (see below).
    idp: IdpConfig
    #: The database (see below).
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    #: Existing VPCs and subnets (see below).
    network: NetworkConfig
    #: Archive buckets (see below).
    archive: ArchiveConfig = Field(default_factory=ArchiveConfig)
    #: Kubernetes deployment of the IdP (see below).
    standby: StandbyConfig = Field(default_factory=StandbyConfig)
    #: The two clusters (see below).
    kubernetes: ClustersConfig
    #: Route 53 failover (see below).
    dns: DnsConfig
    #: Names of the secret keys present (their values are read as Pulumi secrets, never here).
    secrets_present: frozenset[str] = Field(default_factory=frozenset, exclude=True)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not re.match(r"^[a-z][a-z0-9-]{1,20}$", v):
            raise ValueError("2-21 characters: lowercase letters, digits and '-', starting with a letter")
        return v

    @field_validator("primary_region")
    @classmethod
    def _pregion(cls, v: str) -> str:
        return _check_region("primaryRegion", v)

    @field_validator("dr_region")
    @classmethod
    def _dregion(cls, v: str) -> str:
        return _check_region("drRegion", v)

    @model_validator(mode="after")
    def _cross(self) -> StackConfig:
        if self.primary_region == self.dr_region:
            raise ConfigValueError(
                "drRegion",
                self.dr_region,
                f"a region other than primaryRegion ({self.primary_region}): a DR copy in the same "
                "region does not survive a regional outage",
            )
        regions = known_regions()
        if regions[self.primary_region] != regions[self.dr_region]:
            raise ConfigValueError(
                "drRegion",
                self.dr_region,
                f"a region in the same AWS partition as primaryRegion ({regions[self.primary_region]})",
            )
        if self.database.mode == "rds":
            has_password = "masterPassword" in self.secrets_present
            if has_password and self.database.manage_master_password:
                raise ConfigValueError(
                    "masterPassword",
                    "[secret]",
                    "not set while database.manageMasterPassword is true (RDS generates and rotates the "
                    "master password in Secrets Manager; remove the key or set manageMasterPassword: false)",
                )
            if not has_password and not self.database.manage_master_password:
                raise ConfigValueError(
                    "masterPassword",
                    None,
                    "required (as a secret) when database.manageMasterPassword is false",
                )
        if "dbAppPassword" not in self.secrets_present:
            raise ConfigValueError(
                "dbAppPassword",
                None,
                "required: set it with 'pulumi config set --secret idp-dr:dbAppPassword <password>'",
            )
        if self.idp.kind == "authentik" and "authentikSecretKey" not in self.secrets_present:
            raise ConfigValueError(
                "authentikSecretKey",
                None,
                "required for authentik: 'pulumi config set --secret idp-dr:authentikSecretKey <key>' "
                "(both regions must share it)",
            )
        window = self.database.backup_retention_days
        wal_days = self.archive.wal_retention_days
        if wal_days is not None and wal_days < window:
            raise ConfigValueError(
                "archive.walRetentionDays",
                wal_days,
                f"at least database.backupRetentionDays ({window}): WAL and base backups must cover the "
                "whole point-in-time window",
            )
        dr_key = self.database.dr_kms_key_arn
        if dr_key is not None:
            key_match = KMS_KEY_ARN_RE.match(dr_key)
            assert key_match is not None  # the field validator accepted only matching ARNs
            key_region = key_match.group("region")
            if key_region != self.dr_region:
                raise ConfigValueError(
                    "database.drKmsKeyArn",
                    dr_key,
                    f"a KMS key in drRegion ({self.dr_region}), not {key_region}: backups replicated to "
                    f"{self.dr_region} can only be encrypted with a key that lives there",
                )
        if self.database.dr_read_replica and self.database.mode != "rds":
            raise ConfigValueError("database.drReadReplica", True, "only with database.mode 'rds'")
        if self.standby.outpost.enabled and self.idp.kind != "authentik":
            raise ConfigValueError("standby.outpost.enabled", True, "only with idp.kind 'authentik'")
        return self

    # -- derived values ------------------------------------------------------
    @property
    def db_name(self) -> str:
        return self.database.db_name or self.idp.kind

    @property
    def app_username(self) -> str:
        return self.database.app_username or self.db_name

    @property
    def health_path(self) -> str:
        return self.dns.health_check.path or self.idp.default_health_path

    @property
    def primary_health_hostname(self) -> str:
        return self.dns.primary_health_hostname or f"health-primary.{self.idp.public_hostname}"

    @property
    def dr_health_hostname(self) -> str:
        return self.dns.dr_health_hostname or f"health-dr.{self.idp.public_hostname}"

    @property
    def wal_retention_days(self) -> int:
        return self.archive.wal_retention_days or self.database.backup_retention_days + 7

    @property
    def server_name(self) -> str:
        return self.archive.server_name or self.name

    @property
    def detection_seconds(self) -> int:
        """Worst-case time for Route 53 to declare the primary unhealthy."""
        return self.dns.health_check.request_interval * self.dns.health_check.failure_threshold


# --------------------------------------------------------------------------- loading
def _decode(value: Any) -> Any:
    """Pulumi passes structured config as JSON strings; scalars stay strings."""
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in "{[":
            try:
                return json.loads(text)
            except json.JSONDecodeError:
                return value
    return value


def _key_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _format_error(err: Any) -> str:
    ctx_error = (err.get("ctx") or {}).get("error")
    if isinstance(ctx_error, ConfigValueError):
        return describe(ctx_error.key, ctx_error.value, ctx_error.allowed)
    key = _key_path(err["loc"])
    value = err.get("input")
    kind = err["type"]
    if kind == "missing":
        return f"missing required key {NAMESPACE}:{key}"
    if kind == "extra_forbidden":
        return f"unknown key {NAMESPACE}:{key}: not a setting of idp-dr (see the README's config reference)"
    if kind == "value_error" and ctx_error is not None:
        return describe(key, value, str(ctx_error))
    readable = {
        "int_parsing": "an integer",
        "int_type": "an integer",
        "int_from_float": "an integer",
        "bool_parsing": "true or false",
        "bool_type": "true or false",
        "string_type": "a string",
        "list_type": "a list",
        "dict_type": "an object (mapping)",
        "model_type": "an object (mapping)",
        "model_attributes_type": "an object (mapping)",
    }
    return describe(key, value, readable.get(kind, err["msg"]))


def load_stack_config(raw: dict[str, Any], secret_keys: set[str] | None = None) -> StackConfig:
    """Validate the ``idp-dr:*`` entries of a stack's config.

    ``raw`` maps full keys (``idp-dr:database``) to values as Pulumi provides
    them (strings, JSON strings for objects). Secret values are only checked
    for presence; they are read later as Pulumi secrets.
    """
    data: dict[str, Any] = {}
    present: set[str] = set()
    problems: list[str] = []
    prefix = f"{NAMESPACE}:"
    for full_key, value in raw.items():
        if not full_key.startswith(prefix):
            continue
        key = full_key[len(prefix) :]
        if key in SECRET_KEYS:
            if value not in (None, ""):
                present.add(key)
            if secret_keys is not None and full_key not in secret_keys and value not in (None, ""):
                problems.append(
                    f"invalid {full_key}: must be stored as a secret "
                    f"('pulumi config set --secret {full_key} ...'), not in plain text"
                )
            continue
        data[key] = _decode(value)
    if problems:
        raise ConfigError(problems)
    data["secretsPresent"] = frozenset(present)
    try:
        return StackConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([_format_error(e) for e in exc.errors(include_url=False)]) from None


def read_pulumi_config() -> tuple[dict[str, Any], set[str]]:
    """All config of the running stack, and which keys are secrets (as the engine passed them)."""
    from pulumi.runtime import config as runtime_config

    raw = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    secret_keys = set(runtime_config.get_config_secret_keys_env())
    secret_keys |= {key for key in raw if runtime_config.is_config_secret(key)}
    return raw, secret_keys
