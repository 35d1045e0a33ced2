"""The whole stack config (:class:`StackConfig`) and, in one place, the rules that tie keys together."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from components.config.protection import ProtectionConfig, VaultConfig, account_of_arn, posture
from components.config.rules import KMS_KEY_ARN_RE, Region, StackName, Tags, known_regions
from components.config.runbook import RunbookConfig
from components.config.sections import (
    ArchiveConfig,
    ClustersConfig,
    DatabaseConfig,
    DnsConfig,
    IdpConfig,
    NetworkConfig,
    Section,
    StandbyConfig,
    Targets,
)


class ConfigValueError(ValueError):
    """A refused value found by a cross-field rule, carrying the exact key it names."""

    def __init__(self, key: str, value: Any, allowed: str):
        super().__init__(allowed)
        self.key = key
        self.value = value
        self.allowed = allowed


class CrossFieldProblems(ValueError):
    """Every cross-field rule the config breaks (reported together, one line each)."""

    def __init__(self, problems: list[ConfigValueError]):
        super().__init__("; ".join(p.allowed for p in problems))
        self.problems = problems


class StackConfig(Section):
    """All idp-dr settings of one stack."""

    name: StackName = Field(
        "idp", description="Prefix of resource names and identifiers ('<name>-db', 'idp-dr/<name>/...')."
    )
    primary_region: Region = Field(description="AWS region serving traffic, e.g. eu-west-1.")
    dr_region: Region = Field(
        description="AWS region holding the copies and the standby; must differ from primaryRegion, same partition."
    )
    targets: Targets = Field(default_factory=Targets, description=Targets.__doc__)
    tags: Tags = Field(default_factory=dict, description="Tags added to every AWS resource.")
    idp: IdpConfig = Field(description=IdpConfig.__doc__)
    database: DatabaseConfig = Field(default_factory=DatabaseConfig, description=DatabaseConfig.__doc__)
    network: NetworkConfig = Field(description=NetworkConfig.__doc__)
    archive: ArchiveConfig = Field(default_factory=ArchiveConfig, description=ArchiveConfig.__doc__)
    standby: StandbyConfig = Field(default_factory=StandbyConfig, description=StandbyConfig.__doc__)
    kubernetes: ClustersConfig = Field(description=ClustersConfig.__doc__)
    dns: DnsConfig = Field(description=DnsConfig.__doc__)
    runbook: RunbookConfig = Field(default_factory=RunbookConfig, description=RunbookConfig.__doc__)
    vault: VaultConfig | None = Field(None, description=VaultConfig.__doc__)
    protection: ProtectionConfig = Field(default_factory=ProtectionConfig, description=ProtectionConfig.__doc__)
    #: Names of the secret keys present (their values are read as Pulumi secrets, never here).
    secrets_present: SkipJsonSchema[frozenset[str]] = Field(default_factory=frozenset, exclude=True)

    @model_validator(mode="after")
    def _cross_field_rules(self) -> StackConfig:
        problems = cross_field_problems(self)
        if problems:
            raise CrossFieldProblems(problems)
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
    def production_account(self) -> str:
        """Production's AWS account: the one whose IAM trusts the primary cluster's OIDC provider."""
        return account_of_arn(self.kubernetes.primary.oidc_provider_arn)

    @property
    def posture(self) -> str:
        """What survives production's credentials being stolen: vault, guarded-keys or none."""
        return posture(self.vault, self.protection)

    @property
    def vault_lock_days(self) -> int:
        """COMPLIANCE days in the vault bucket: set, or the longer of the WAL retention and the daily dumps."""
        if self.vault is None:
            return 0
        return self.vault.lock_days or max(self.wal_retention_days, self.archive.dump_retention.daily_days)

    @property
    def server_name(self) -> str:
        return self.archive.server_name or self.name

    @property
    def detection_seconds(self) -> int:
        """Worst-case time for Route 53 to declare the primary unhealthy."""
        return self.dns.health_check.request_interval * self.dns.health_check.failure_threshold


# -- the cross-field rules, all here ------------------------------------------------------------
def cross_field_problems(cfg: StackConfig) -> list[ConfigValueError]:
    """Every rule that ties several keys together; each broken one is one problem.

    Rules within one section come first; the rules across sections run once those hold (a
    section that contradicts itself says nothing reliable about the rest).
    """
    within_sections = [problem for rule in (_idp, _database) for problem in rule(cfg)]
    if within_sections:
        return within_sections
    return [problem for rule in (_regions, _secrets, _archive, _features, _vault) for problem in rule(cfg)]


def _vault(cfg: StackConfig) -> list[ConfigValueError]:
    """The vault is another account, built with that account's role; the break-glass role is production's."""
    production = cfg.production_account
    problems = []
    vault = cfg.vault
    if vault is not None and vault.account_id == production:
        problems.append(ConfigValueError(
            "vault.accountId", vault.account_id,
            f"an account other than production's ({production}, from kubernetes.primary.oidcProviderArn): a "
            "vault in the production account falls with its credentials",
        ))  # fmt: skip
    if vault is not None and account_of_arn(vault.role_arn) != vault.account_id:
        problems.append(ConfigValueError(
            "vault.roleArn", vault.role_arn, f"a role in the vault account ({vault.account_id})",
        ))  # fmt: skip
    if (
        vault is not None
        and vault.bucket_name
        and vault.bucket_name in (cfg.archive.bucket_name, cfg.archive.dr_bucket_name)
    ):
        problems.append(ConfigValueError(
            "vault.bucketName", vault.bucket_name, "a name other than the archive's buckets (S3 names are global)",
        ))  # fmt: skip
    glass = cfg.protection.break_glass_role_arn
    if glass and account_of_arn(glass) != production:
        problems.append(ConfigValueError(
            "protection.breakGlassRoleArn", glass,
            f"a role in the production account ({production}), whose DR keys and bucket it alone may unlock",
        ))  # fmt: skip
    return problems


def _regions(cfg: StackConfig) -> list[ConfigValueError]:
    if cfg.primary_region == cfg.dr_region:
        return [
            ConfigValueError(
                "drRegion",
                cfg.dr_region,
                f"a region other than primaryRegion ({cfg.primary_region}): a DR copy in the same "
                "region does not survive a regional outage",
            )
        ]
    regions = known_regions()
    if regions[cfg.primary_region] != regions[cfg.dr_region]:
        return [
            ConfigValueError(
                "drRegion",
                cfg.dr_region,
                f"a region in the same AWS partition as primaryRegion ({regions[cfg.primary_region]})",
            )
        ]
    return []


def _idp(cfg: StackConfig) -> list[ConfigValueError]:
    idp = cfg.idp
    for key, value in (("idp.cdsArchive", idp.cds_archive), ("idp.aotCache", idp.aot_cache)):
        if value and (idp.kind != "keycloak" or not idp.optimized_image):
            return [
                ConfigValueError(
                    key,
                    value,
                    "unset unless kind is keycloak with optimizedImage: true (an archive is made from, and only "
                    "valid for, one pre-built image)",
                )
            ]
    if idp.cds_archive and idp.aot_cache:
        return [
            ConfigValueError(
                "idp.aotCache",
                idp.aot_cache,
                "unset while idp.cdsArchive is set: one or the other (an AOT cache holds the archived classes too)",
            )
        ]
    if idp.late_c2_compilation and idp.kind != "keycloak":
        return [
            ConfigValueError(
                "idp.lateC2Compilation",
                idp.late_c2_compilation,
                "false unless kind is keycloak (C2 is the JVM's compiler; authentik is Python)",
            )
        ]
    if idp.kind != "authentik":
        return []
    if not idp.application_slug:
        return [
            ConfigValueError(
                "idp.applicationSlug",
                None,
                "required for authentik: the OAuth2/OIDC application slug whose issuer is checked",
            )
        ]
    if idp.app_version is None:
        return [
            ConfigValueError(
                "idp.version",
                idp.version,
                "required when the authentik image tag is not a version (e.g. '2025.10.2'): it decides "
                "whether Redis is deployed",
            )
        ]
    return []


def _database(cfg: StackConfig) -> list[ConfigValueError]:
    db = cfg.database
    problems = []
    if db.max_allocated_storage_gb < db.allocated_storage_gb:
        problems.append(
            ConfigValueError(
                "database.maxAllocatedStorageGb",
                db.max_allocated_storage_gb,
                f"at least allocatedStorageGb ({db.allocated_storage_gb})",
            )
        )
    if db.mode == "self-managed":
        # Name the host that is missing (the primary's when both are).
        for key, value, other in (
            ("selfManagedPrimaryHost", db.self_managed_primary_host, "selfManagedDrHost"),
            ("selfManagedDrHost", db.self_managed_dr_host, "selfManagedPrimaryHost"),
        ):
            if not value:
                problems.append(
                    ConfigValueError(
                        f"database.{key}", value, f"required with mode 'self-managed' (together with {other})"
                    )
                )
                break
    if db.dr_kms_key_arn is not None:
        match = KMS_KEY_ARN_RE.match(db.dr_kms_key_arn)
        key_region = match.group("region") if match else None
        if key_region != cfg.dr_region:
            problems.append(
                ConfigValueError(
                    "database.drKmsKeyArn",
                    db.dr_kms_key_arn,
                    f"a KMS key in drRegion ({cfg.dr_region}), not {key_region}: backups replicated to "
                    f"{cfg.dr_region} can only be encrypted with a key that lives there",
                )
            )
    if db.mode == "self-managed" and db.tls.mode != "require" and not db.tls.ca_config_map:
        problems.append(
            ConfigValueError(
                "database.tls.caConfigMap",
                None,
                f"required with mode 'self-managed' and tls.mode '{db.tls.mode}' (a ConfigMap, key ca.pem, with "
                "your server's CA; the shipped bundle only verifies RDS)",
            )
        )
    if db.dr_read_replica and db.mode != "rds":
        problems.append(ConfigValueError("database.drReadReplica", True, "only with database.mode 'rds'"))
    if cfg.app_username == db.master_username:
        # The bootstrap Job would rewrite the master's password and revoke its privileges on every `pulumi up`.
        problems.append(
            ConfigValueError(
                "database.appUsername",
                cfg.app_username,
                f"a role other than database.masterUsername ({db.master_username}): the IdP's role is made to own "
                "its database and nothing more, which would strip the master user",
            )
        )
    return problems


def _secrets(cfg: StackConfig) -> list[ConfigValueError]:
    present, problems = cfg.secrets_present, []
    if cfg.database.mode == "rds":
        has_password = "masterPassword" in present
        if has_password and cfg.database.manage_master_password:
            problems.append(
                ConfigValueError(
                    "masterPassword",
                    "[secret]",
                    "not set while database.manageMasterPassword is true (RDS generates and rotates the "
                    "master password in Secrets Manager; remove the key or set manageMasterPassword: false)",
                )
            )
        if not has_password and not cfg.database.manage_master_password:
            problems.append(
                ConfigValueError(
                    "masterPassword", None, "required (as a secret) when database.manageMasterPassword is false"
                )
            )
    if "dbAppPassword" not in present:
        problems.append(
            ConfigValueError(
                "dbAppPassword",
                None,
                "required: set it with 'pulumi config set --secret idp-dr:dbAppPassword <password>'",
            )
        )
    if cfg.idp.kind == "authentik" and "authentikSecretKey" not in present:
        problems.append(
            ConfigValueError(
                "authentikSecretKey",
                None,
                "required for authentik: 'pulumi config set --secret idp-dr:authentikSecretKey <key>' "
                "(both regions must share it)",
            )
        )
    return problems


def _archive(cfg: StackConfig) -> list[ConfigValueError]:
    names = cfg.archive.bucket_name, cfg.archive.dr_bucket_name
    if names[0] is not None and names[0] == names[1]:
        # S3 names are global: the second bucket would fail to create, half-way through `pulumi up`.
        return [
            ConfigValueError(
                "archive.drBucketName",
                names[1],
                f"a name other than archive.bucketName ({names[0]}): S3 bucket names are global, and the DR "
                "copy must be a second bucket in the DR region",
            )
        ]
    window = cfg.database.backup_retention_days
    dr_lock_days = cfg.archive.dr_object_lock.days
    if cfg.archive.dr_object_lock.enabled and dr_lock_days is not None and dr_lock_days < window:
        return [
            ConfigValueError(
                "archive.drObjectLock.days",
                dr_lock_days,
                f"at least database.backupRetentionDays ({window}): the DR copy must stay locked for the "
                "whole point-in-time window",
            )
        ]
    wal_days = cfg.archive.wal_retention_days
    if wal_days is not None and wal_days < window:
        return [
            ConfigValueError(
                "archive.walRetentionDays",
                wal_days,
                f"at least database.backupRetentionDays ({window}): WAL and base backups must cover the "
                "whole point-in-time window",
            )
        ]
    return []


def _features(cfg: StackConfig) -> list[ConfigValueError]:
    if cfg.standby.outpost.enabled and cfg.idp.kind != "authentik":
        return [ConfigValueError("standby.outpost.enabled", True, "only with idp.kind 'authentik'")]
    policy = cfg.standby.ingress_annotations.get(ALB_SSL_POLICY)
    if cfg.standby.ingress_class_name == "alb" and policy is not None and not tls12_or_later(policy):
        return [
            ConfigValueError(
                f"standby.ingressAnnotations.{ALB_SSL_POLICY}",
                policy,
                f"an ELB security policy that allows TLS 1.2 and later only (e.g. {ALB_DEFAULT_SSL_POLICY}, the "
                "default): the IdP's logins and tokens cross it",
            )
        ]
    return []


#: The AWS Load Balancer Controller's annotation for an ALB listener's TLS policy, and the one the program sets
#: unless told otherwise (AWS's recommended policy: TLS 1.3 and 1.2).
ALB_SSL_POLICY = "alb.ingress.kubernetes.io/ssl-policy"
ALB_DEFAULT_SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"


def tls12_or_later(policy: str) -> bool:
    """ELB policy names that allow no TLS below 1.2 (the TLS13-1-2-*, TLS13-1-3-*, TLS-1-2-* and FS-1-2-* families)."""
    return policy.startswith(("ELBSecurityPolicy-TLS13-1-2", "ELBSecurityPolicy-TLS13-1-3",
                              "ELBSecurityPolicy-TLS-1-2", "ELBSecurityPolicy-FS-1-2"))  # fmt: skip
