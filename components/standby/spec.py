"""What one site's standby is given: the IdP, where its secrets come from, its cluster and replicas."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from components._common import Site
from components.config.sections import ClusterConfig, DatabaseTls, RegionNetwork, StandbyConfig
from contract.secrets import DB_SECRET_NAMES  # noqa: F401 - re-exported for the builders

KEYCLOAK_HTTP_PORT = 8080


KEYCLOAK_MGMT_PORT = 9000


KEYCLOAK_JGROUPS_PORT = 7800
#: JGroups' failure detection (FD_SOCK2) listens at the JGroups port + 50000.
KEYCLOAK_JGROUPS_FD_PORT = KEYCLOAK_JGROUPS_PORT + 50000


AUTHENTIK_HTTP_PORT = 9000


AUTHENTIK_METRICS_PORT = 9300


REDIS_PORT = 6379
REDIS_SECRET = "authentik-redis"  # noqa: S105 - a Secret *name*
#: Where Redis reads its configuration (the password included) from that Secret.
REDIS_CONF_DIR, REDIS_CONF_KEY = "/etc/redis", "redis.conf"


REDIS_IMAGE = "docker.io/library/redis:7.4.2-alpine"


NON_ROOT_UID = 1000
#: The runbook image's user (Dockerfile): not root, not the IdP's.
RUNBOOK_UID = 10001


AUTHENTIK_KEY_SECRET = "authentik-secret-key"  # noqa: S105 - a Secret *name*


SECRETS_READER_SA = "idp-dr-secrets-reader"
#: authentik's worker manages outpost Deployments through the Kubernetes API: with the outpost on, it
#: alone runs under this account with a token and the outpost Role; the internet-facing server gets none.
WORKER_SA = "authentik-worker"


@dataclass(frozen=True)
class IdpSpec:
    """Everything that must be identical on both sites."""

    kind: str
    image: str
    public_hostname: str
    issuer: str
    discovery_path: str
    #: (path, pathType) routed on the public hostname.
    public_routes: tuple[tuple[str, str], ...]
    #: JWKS and token endpoints: routed on the site's health hostname too, so `failover --baseline`
    #: can prove keys and tokens on the DR site before DNS points at it (both are public anyway).
    jwks_path: str
    token_path: str
    health_path: str
    optimized_image: bool
    #: The class-data-sharing archive in the image (Keycloak, optimized images), or None.
    cds_archive: str | None
    #: The JDK 25+ AOT cache in the image (Keycloak, optimized images), or None.
    aot_cache: str | None
    #: Keycloak: raise the JVM's C2 thresholds (contract.jvm.LATE_C2_OPTIONS).
    late_c2_compilation: bool
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
    #: The first administrator's password (the primary site; None: no bootstrap admin).
    bootstrap_admin_password: pulumi.Input[str] | None = None


#: The first administrator: the Secret and the variables each IdP reads it from (only while none exists).
BOOTSTRAP_ADMIN_SECRET = "idp-bootstrap-admin"  # noqa: S105 - a Secret *name*
BOOTSTRAP_ADMIN_USER = "admin"  # what bootstrap verifier --admin-user defaults to
BOOTSTRAP_ADMIN_ENV = {
    "keycloak": ("KC_BOOTSTRAP_ADMIN_USERNAME", "KC_BOOTSTRAP_ADMIN_PASSWORD"),
    "authentik": (None, "AUTHENTIK_BOOTSTRAP_PASSWORD"),  # authentik's first admin is akadmin
}


@dataclass(frozen=True)
class BootstrapSpec:
    """What the Job needs; built for the primary site in rds mode when ``runbook.image`` is set."""

    image: str
    region: str
    host: pulumi.Input[str]
    dbname: str
    master_secret_arn: pulumi.Input[str]
    app_credentials_name: pulumi.Input[str]
    app_credentials_arn: pulumi.Input[str]
    #: Keys that encrypt the two secrets (decrypt through Secrets Manager only).
    kms_key_arns: tuple[pulumi.Input[str], ...]


@dataclass(frozen=True)
class BackupSpec:
    """The scheduled dump: built for the primary site when runbook.image is set and backup enabled."""

    image: str
    schedule: str
    deadline_minutes: int
    stack: str
    region: str
    bucket_name: pulumi.Input[str]
    key_arn: pulumi.Input[str]
    alarm_topic_arn: pulumi.Input[str]


@dataclass(frozen=True)
class BaselineSpec:
    """The scheduled baseline: built for the primary site when runbook.image is set and baselines enabled."""

    image: str
    schedule: str
    stack: str
    primary_region: str
    dr_region: str
    #: The Keycloak realm or authentik application slug whose issuer the stack checks.
    scope: str
    #: The DR bucket (baselines go under idp-dr/baselines/) and its key.
    dr_bucket_name: pulumi.Input[str]
    dr_key_arn: pulumi.Input[str]
    #: The verifier client's secret in the primary region (the token check; bootstrap verifier fills it).
    verifier_secret_name: pulumi.Input[str]
    verifier_secret_arn: pulumi.Input[str]
    verifier_key_arn: pulumi.Input[str]


@dataclass(frozen=True)
class ChecksSpec:
    """The DR side's scheduled checks: built for the DR site when runbook.image is set, checks enabled, rds mode."""

    image: str
    schedule: str
    stack: str
    #: rds mode: where the serving primary is read (its protection is checked).
    primary_region: str
    dr_region: str
    rpo_target_s: int
    #: rds mode: the replicated automated backups are checked too (self-managed stacks have none).
    rds: bool
    #: A key ARN of the DR region: the account the IAM resource ARNs name (no data-source call).
    dr_key_arn: pulumi.Input[str]
    alarm_topic_arn: pulumi.Input[str]
    #: With drills (runbook.drill, rds mode): the drill records it reads in the DR bucket (and its key), and
    #: the days without a successful drill after which the check fails.
    drill_max_age_days: int | None = None
    dr_bucket_name: pulumi.Input[str] | None = None
    dr_bucket_key_arn: pulumi.Input[str] | None = None
    #: Self-managed: the primary's WAL archiving checked (pg_stat_archiver) as the IdP's role, read from this
    #: secret's DR replica (encrypted with ``dr_key_arn``).
    wal_archiver_credentials_arn: pulumi.Input[str] | None = None


@dataclass(frozen=True)
class DrillSpec:
    """Drills on AWS from the DR site: built for the DR site in rds mode with runbook.drill.enabled."""

    stack: str
    #: Where the serving primary is read (its replicated backups are resolved by its DbiResourceId).
    primary_region: str
    dr_region: str
    #: The runbook image, and the CronJob's schedule; no CronJob without either (drill --aws by hand).
    image: str | None
    schedule: str | None
    deadline_minutes: int
    max_days_without_success: int
    rto_target_s: int
    replicated_backups_arn: pulumi.Input[str]
    #: The DR database key (replicated backups, restored instances, their master secret).
    db_key_arn: pulumi.Input[str]
    #: The DR bucket (baselines are read, drill records written) and its key.
    dr_bucket_name: pulumi.Input[str]
    dr_bucket_key_arn: pulumi.Input[str]
    #: The verifier client's secret (its DR-region replica) and the key that encrypts it there.
    verifier_secret_arn: pulumi.Input[str]
    verifier_key_arn: pulumi.Input[str]
    alarm_topic_arn: pulumi.Input[str]


@dataclass(frozen=True)
class IdentityStandbyArgs:
    """The validated ``idp-dr:standby`` section, the site (AWS side and cluster), and what differs per site."""

    config: StandbyConfig
    #: The site's network section: its load balancer's and cluster's ranges.
    network: RegionNetwork
    #: How the IdP verifies the database server.
    db_tls: DatabaseTls
    aws_site: Site
    k8s_provider: pulumi.ProviderResource
    cluster: ClusterConfig
    idp: IdpSpec
    replicas: int
    #: Replicas the site runs after a failover (the DR site is scaled to the primary's count).
    failover_replicas: int
    #: authentik worker replicas (0 on a passive site: no tasks run from the DR region).
    worker_replicas: int
    health_hostname: str
    secrets: SecretSources
    media_bucket_name: pulumi.Input[str] | None = None
    media_bucket_arn: pulumi.Input[str] | None = None
    media_key_arn: pulumi.Input[str] | None = None
    #: authentik static directories: (kind, name, mount path) with kind configMap | secret.
    authentik_files: tuple[tuple[str, str, str], ...] = ()
    tag_base: dict[str, str] = field(default_factory=dict)
    #: The database bootstrap Job (primary site, rds mode, runbook.image set).
    bootstrap: BootstrapSpec | None = None
    #: The dump CronJob and its freshness alarm (primary site).
    backup: BackupSpec | None = None
    #: The weekly baseline CronJob (primary site, runbook.image set).
    baseline: BaselineSpec | None = None
    #: The DR side's scheduled checks and their alarms (DR site).
    checks: ChecksSpec | None = None
    #: The drill namespace, role, CronJob and alarms (DR site, rds mode).
    drill: DrillSpec | None = None

    @property
    def trusted_proxy_cidrs(self) -> list[str]:
        """The load balancer's source ranges (the ingress NetworkPolicy's ipBlocks); empty when unknown."""
        return list(self.network.load_balancer_cidrs or [])

    @property
    def forwarded_header_sources(self) -> list[str]:
        """Who may set X-Forwarded-* headers: the load balancer, plus the cluster's own ranges when an
        in-cluster ingress controller proxies (the NetworkPolicy already limits who reaches the port)."""
        cidrs = self.trusted_proxy_cidrs
        if self.config.network_policy.ingress_namespaces:
            cidrs += [cidr for cidr in self.network.app_cidrs if cidr not in cidrs]
        return cidrs
