"""DrTopology: the whole DR topology for one identity provider, composed.

    Notifications   SNS topics (primary, DR, us-east-1) for the alarms
    WalArchive      KMS keys + archive buckets (WAL, base backups, dumps), CRR to DR
    PitrDatabase    RDS PostgreSQL with PITR, backups replicated to DR, optional DR replica
    DatabaseAccess  app credentials (replicated) + per-region endpoint secrets
    ReplicatedBuckets (authentik only) media bucket per region, CRR to DR
    IdentityStandby x2  the IdP on the primary cluster (active) and the DR cluster (passive)
    FailoverDns     Route 53 health checks, failover records, alarms

:attr:`DrTopology.stack_outputs` is the dict ``__main__.py`` exports; its shape is
``contract.outputs.StackOutputs``, which the runbook commands read.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components._common import Site, Sites, tags
from components.archive import IrsaSubject, WalArchive, WalArchiveArgs
from components.buckets import ObjectLockSettings, ReplicatedBuckets, ReplicatedBucketsArgs
from components.config import StackConfig
from components.credentials import DatabaseAccess, DatabaseAccessArgs
from components.database import PG_PORT, PitrDatabase, PitrDatabaseArgs, RegionNetworkArgs
from components.dr_key_watch import DrKeyWatch, DrKeyWatchArgs
from components.exports import (
    archiver_command,
    dns_outputs,
    protection_outputs,
    rds_outputs,
    self_managed_outputs,
    standby_outputs,
)
from components.failover_dns import FailoverDns, FailoverDnsArgs, SiteTarget
from components.notifications import Notifications, NotificationsArgs
from components.protection import KeyPolicies
from components.rds_event_watch import RdsEventWatch, RdsEventWatchArgs
from components.runbook_jobs import backup_spec, baseline_spec, bootstrap_spec, checks_spec, drill_spec
from components.standby import IdentityStandby, IdentityStandbyArgs, IdpSpec, SecretSources
from components.standby.spec import BackupSpec, BaselineSpec, BootstrapSpec, ChecksSpec, DrillSpec
from components.vault import vault_backups
from contract.outputs import STACK_OUTPUTS_PARAMETER, ArchiveOutputs, StackOutputs, exported

#: Endpoint written into the DR endpoint secret of a pilot-light site without a DR replica: it
#: resolves nowhere (.invalid is reserved), so nothing can connect before failover writes a real one.
PENDING_FAILOVER_HOST = "pending-failover.invalid"


@dataclass(frozen=True)
class Providers:
    aws_primary: pulumi.ProviderResource
    aws_dr: pulumi.ProviderResource
    aws_us_east_1: pulumi.ProviderResource
    k8s_primary: pulumi.ProviderResource
    k8s_dr: pulumi.ProviderResource


@dataclass(frozen=True)
class Secrets:
    db_app_password: pulumi.Input[str]
    authentik_secret_key: pulumi.Input[str] | None = None
    master_password: pulumi.Input[str] | None = None
    #: The IdP's first administrator (primary site only; ignored once one exists).
    admin_password: pulumi.Input[str] | None = None


@dataclass(frozen=True)
class _DbEndpoints:
    """Where each site's IdP connects first, and the keys that encrypt its endpoint secrets."""

    primary_host: pulumi.Input[str]
    dr_initial_host: pulumi.Input[str]
    primary_key_arn: pulumi.Input[str]
    dr_key_arn: pulumi.Input[str]


def _idp_spec(cfg: StackConfig) -> IdpSpec:
    """The IdP both sites run: one pinned image, one hostname, hence one issuer."""
    idp = cfg.idp
    return IdpSpec(
        kind=idp.kind,
        image=idp.image,
        public_hostname=idp.public_hostname,
        issuer=idp.issuer,
        discovery_path=idp.discovery_path,
        public_routes=idp.public_routes,
        jwks_path=idp.jwks_path,
        token_path=idp.token_path,
        health_path=cfg.health_path,
        optimized_image=idp.optimized_image,
        cds_archive=idp.cds_archive,
        aot_cache=idp.aot_cache,
        late_c2_compilation=idp.late_c2_compilation,
        needs_redis=idp.needs_redis,
        # The stock Keycloak image re-augments at start and writes to its root filesystem.
        read_only_root_filesystem=cfg.standby.read_only_root_filesystem
        and (idp.kind == "authentik" or idp.optimized_image),
        cpu_request=cfg.standby.resources.cpu_request,
        memory_request=cfg.standby.resources.memory_request,
        cpu_limit=cfg.standby.resources.cpu_limit,
        memory_limit=cfg.standby.resources.memory_limit,
    )


class DrTopology(pulumi.ComponentResource):
    stack_outputs: dict

    def __init__(
        self,
        name: str,
        config: StackConfig,
        providers: Providers,
        secrets: Secrets,
        opts_: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("idp-dr:topology:DrTopology", name, None, opts_)
        cfg = config
        child = pulumi.ResourceOptions(parent=self)
        tag_base = {**cfg.tags, "idp-dr:stack": name, "idp-dr:idp": cfg.idp.kind}
        warm = cfg.standby.dr_replicas > 0

        self._name, self._cfg, self._child = name, cfg, child
        self._tag_base, self._warm = tag_base, warm
        self._site_providers = providers
        self._aws_sites = Sites(
            Site("primary", providers.aws_primary, cfg.primary_region),
            Site("dr", providers.aws_dr, cfg.dr_region),
        )
        notifications = self._build_notifications()
        archive = self._build_archive(notifications)
        database, endpoints = self._build_database(secrets, notifications, archive)
        access = self._build_access(secrets, endpoints)
        media = self._build_media(archive, notifications)
        bootstrap = bootstrap_spec(
            cfg, database, access, host=endpoints.primary_host, key_arn=endpoints.primary_key_arn
        )
        baseline = baseline_spec(cfg, archive, access, secrets_key_arn=endpoints.primary_key_arn)
        jobs = (
            bootstrap,
            backup_spec(cfg, archive, notifications),
            baseline,
            checks_spec(cfg, archive, access, notifications),
            drill_spec(cfg, database, archive, access, notifications),
        )
        sites = self._build_sites(secrets, archive, access, media, endpoints, jobs)
        dns = self._build_dns(sites, notifications)
        self._watch_dr_keys(archive, database, notifications)
        self._watch_dr_replica(database, notifications)
        backups = vault_backups(
            f"{name}-vault-backups", cfg, archive.vault, instance_arn=database.instance.arn if database else None,
            source_key_arn=database.primary_key_arn if database else None, sites=self._aws_sites, tag_base=tag_base,
            parent_opts=child,
        )  # fmt: skip
        self.stack_outputs = self._outputs(name, cfg, archive, database, access, sites, dns)
        self.stack_outputs["protection"] = protection_outputs(cfg, archive, backups)
        self._publish_outputs()
        self.register_outputs({"stack_outputs": self.stack_outputs})

    def _watch_dr_keys(self, archive: WalArchive, database: PitrDatabase | None, notifications: Notifications) -> None:
        """The DR keys' deletion or disabling, to the DR topic within minutes (EventBridge on CloudTrail)."""
        keys = [archive.dr_key_arn] + ([database.dr_key_arn] if database is not None else [])
        DrKeyWatch(
            f"{self._name}-dr-keys",
            DrKeyWatchArgs(self._aws_sites.dr, keys, notifications.dr_topic_arn, f"{self._name}-dr-key-changes",
                           self._tag_base),
            self._child,
        )  # fmt: skip

    def _watch_dr_replica(self, database: PitrDatabase | None, notifications: Notifications) -> None:
        """The DR replica's replication breaking, to the DR topic within minutes (EventBridge on RDS events)."""
        if database is None or database.dr_replica is None:
            return
        RdsEventWatch(
            f"{self._name}-dr-replica-events",
            RdsEventWatchArgs(self._aws_sites.dr, database.dr_replica.identifier, notifications.dr_topic_arn,
                              f"{self._name}-dr-replica-events", self._tag_base),
            self._child,
        )  # fmt: skip

    def _publish_outputs(self) -> None:
        """A copy of the stack outputs in the DR region, where a regional outage cannot take it (the
        runbook reads it with --stack-outputs ssm://...). Outputs hold names and ARNs, never a secret."""
        aws.ssm.Parameter(
            f"{self._name}-stack-outputs",
            name=STACK_OUTPUTS_PARAMETER.format(stack=self._name),
            type="String",
            # Past 4 KB (many optional outputs) the parameter moves to the advanced tier by itself.
            tier="Intelligent-Tiering",
            description=f"idp-dr {self._name}: the stack outputs the runbook reads (no secrets)",
            # insecure_value: readable in plain text (the provider makes `value` a secret).
            insecure_value=pulumi.Output.json_dumps(self.stack_outputs),
            tags=tags(self._tag_base),
            opts=pulumi.ResourceOptions(parent=self, provider=self._aws_sites.dr.provider),
        )

    def _build_notifications(self) -> Notifications:
        """SNS topics (primary, DR, us-east-1) for every alarm."""
        name, cfg, child, tag_base, providers = self._name, self._cfg, self._child, self._tag_base, self._site_providers
        notifications = Notifications(
            f"{name}-alarms",
            NotificationsArgs(
                sites=self._aws_sites,
                us_east_1_provider=providers.aws_us_east_1,
                emails=cfg.dns.alarm_emails,
                tag_base=tag_base,
                events_rule_prefix=f"{name}-",
            ),
            child,
        )
        return notifications

    def _build_archive(self, notifications: Notifications) -> WalArchive:
        """KMS keys and the archive buckets (WAL, base backups, dumps), replicated to DR."""
        name, cfg, child, tag_base = self._name, self._cfg, self._child, self._tag_base
        writers: dict[str, IrsaSubject] = {}
        if cfg.archive.writer:
            for site, cluster in (("primary", cfg.kubernetes.primary), ("dr", cfg.kubernetes.dr)):
                writers[site] = IrsaSubject(
                    cluster.oidc_provider_arn,
                    cluster.oidc_issuer_host,
                    cfg.archive.writer.namespace,
                    cfg.archive.writer.name,
                )
        lock = cfg.archive.object_lock
        object_lock = ObjectLockSettings(lock.mode, lock.days) if lock.enabled else None
        dr_lock = cfg.archive.dr_object_lock
        dr_object_lock = (
            ObjectLockSettings(dr_lock.mode, dr_lock.days or cfg.database.backup_retention_days)
            if dr_lock.enabled
            else None
        )
        archive = WalArchive(
            f"{name}-archive",
            WalArchiveArgs(
                config=cfg.archive,
                sites=self._aws_sites,
                server_name=cfg.server_name,
                wal_retention_days=cfg.wal_retention_days,
                object_lock=object_lock,
                dr_object_lock=dr_object_lock,
                writers=writers,
                tag_base=tag_base,
                alarm_topic_arn=notifications.primary_topic_arn,
                vault=cfg.vault,
                vault_lock_days=cfg.vault_lock_days,
                key_policies=KeyPolicies.of(cfg),
            ),
            child,
        )
        return archive

    def _build_database(
        self, secrets: Secrets, notifications: Notifications, archive: WalArchive
    ) -> tuple[PitrDatabase | None, _DbEndpoints]:
        """RDS with PITR (or the self-managed hosts), and where each site connects first."""
        name, cfg, child, tag_base, warm = self._name, self._cfg, self._child, self._tag_base, self._warm
        db = cfg.database
        database: PitrDatabase | None = None
        if db.mode == "rds":
            primary_net, dr_net = cfg.network.primary, cfg.network.dr
            # A warm standby runs against the primary database until failover: admit its CIDRs.
            primary_cidrs = primary_net.app_cidrs + (dr_net.app_cidrs if warm else [])
            database = PitrDatabase(
                f"{name}-database",
                PitrDatabaseArgs(
                    config=db,
                    sites=self._aws_sites,
                    primary_network=RegionNetworkArgs(primary_net.vpc_id, primary_net.db_subnet_ids, primary_cidrs),
                    dr_network=RegionNetworkArgs(dr_net.vpc_id, dr_net.db_subnet_ids, dr_net.app_cidrs),
                    db_name=cfg.db_name,
                    rpo_seconds=cfg.targets.rpo_seconds,
                    master_password=secrets.master_password,
                    primary_alarm_topic_arn=notifications.primary_topic_arn,
                    dr_alarm_topic_arn=notifications.dr_topic_arn,
                    tag_base=tag_base,
                    identifier_prefix=name,
                    key_policies=KeyPolicies.of(cfg),
                ),
                child,
            )
            primary_host: pulumi.Input[str] = database.instance.address
            primary_secret_key, dr_secret_key = database.primary_key_arn, database.dr_key_arn
            if warm:
                dr_initial_host: pulumi.Input[str] = database.instance.address
            elif database.dr_replica is not None:
                dr_initial_host = database.dr_replica.address
            else:
                dr_initial_host = PENDING_FAILOVER_HOST
        else:
            # The config's cross-field rules require both hosts in self-managed mode.
            assert db.self_managed_primary_host is not None and db.self_managed_dr_host is not None
            primary_host = db.self_managed_primary_host
            dr_initial_host = db.self_managed_primary_host if warm else db.self_managed_dr_host
            primary_secret_key, dr_secret_key = archive.primary_key_arn, archive.dr_key_arn
        return (database, _DbEndpoints(primary_host, dr_initial_host, primary_secret_key, dr_secret_key))

    def _build_access(self, secrets: Secrets, endpoints: _DbEndpoints) -> DatabaseAccess:
        """App credentials (replicated) and the per-region endpoint secrets."""
        name, cfg, child, tag_base = self._name, self._cfg, self._child, self._tag_base
        access = DatabaseAccess(
            f"{name}-db-access",
            DatabaseAccessArgs(
                sites=self._aws_sites,
                primary_key_arn=endpoints.primary_key_arn,
                dr_key_arn=endpoints.dr_key_arn,
                app_username=cfg.app_username,
                app_password=secrets.db_app_password,
                db_name=cfg.db_name,
                port=PG_PORT,
                primary_host=endpoints.primary_host,
                dr_initial_host=endpoints.dr_initial_host,
                authentik_secret_key=secrets.authentik_secret_key,
                tag_base=tag_base,
                secret_prefix=name,
            ),
            child,
        )
        return access

    def _build_media(self, archive: WalArchive, notifications: Notifications) -> ReplicatedBuckets | None:
        """authentik's media buckets, one per region, replicated."""
        name, cfg, child, tag_base = self._name, self._cfg, self._child, self._tag_base
        media = None
        if cfg.idp.kind == "authentik":
            media = ReplicatedBuckets(
                f"{name}-media",
                ReplicatedBucketsArgs(
                    sites=self._aws_sites,
                    primary_key_arn=archive.primary_key_arn,
                    dr_key_arn=archive.dr_key_arn,
                    primary_bucket_name=None,
                    dr_bucket_name=None,
                    tag_base={**tag_base, "idp-dr:data": "media"},
                    alarm_topic_arn=notifications.primary_topic_arn,
                ),
                child,
            )
        return media

    def _build_sites(
        self,
        secrets: Secrets,
        archive: WalArchive,
        access: DatabaseAccess,
        media: ReplicatedBuckets | None,
        endpoints: _DbEndpoints,
        jobs: tuple[BootstrapSpec | None, BackupSpec | None, BaselineSpec | None, ChecksSpec | None, DrillSpec | None],
    ) -> dict[str, IdentityStandby]:
        """The IdP on each cluster: the same image and hostname, so the same issuer."""
        name, cfg, child, tag_base, providers = self._name, self._cfg, self._child, self._tag_base, self._site_providers
        spec = _idp_spec(cfg)
        files = cfg.standby.authentik_files
        authentik_files = tuple(
            (kind, name, path)
            for kind, name, path in (
                ("configMap", files.custom_templates_config_map, "/templates"),
                ("secret", files.certs_secret, "/certs"),
                ("configMap", files.blueprints_config_map, "/blueprints/custom"),
            )
            if name
        )
        sites = {}
        for site in ("primary", "dr"):
            is_primary = site == "primary"
            cluster = cfg.kubernetes.primary if is_primary else cfg.kubernetes.dr
            replicas = cfg.standby.primary_replicas if is_primary else cfg.standby.dr_replicas
            sites[site] = IdentityStandby(
                f"{name}-{site}-site",
                IdentityStandbyArgs(
                    config=cfg.standby,
                    network=cfg.network.primary if is_primary else cfg.network.dr,
                    db_tls=cfg.database.tls,
                    aws_site=self._aws_sites.primary if is_primary else self._aws_sites.dr,
                    k8s_provider=providers.k8s_primary if is_primary else providers.k8s_dr,
                    cluster=cluster,
                    idp=spec,
                    replicas=replicas,
                    failover_replicas=cfg.standby.primary_replicas,
                    worker_replicas=replicas if is_primary else 0,
                    health_hostname=cfg.primary_health_hostname if is_primary else cfg.dr_health_hostname,
                    secrets=SecretSources(
                        mode=cfg.standby.secrets_mode,
                        external_secrets_api_version=cfg.standby.external_secrets_api_version,
                        credentials_name=access.app_credentials_name,
                        credentials_arn=access.app_credentials_arn if is_primary else access.app_credentials_dr_arn,
                        endpoint_name=access.primary_endpoint_name if is_primary else access.dr_endpoint_name,
                        endpoint_arn=access.primary_endpoint_arn if is_primary else access.dr_endpoint_arn,
                        authentik_key_name=access.authentik_key_name,
                        authentik_key_arn=access.authentik_key_arn if is_primary else access.authentik_key_dr_arn,
                        kms_key_arns=[endpoints.primary_key_arn if is_primary else endpoints.dr_key_arn],
                        db_host=endpoints.primary_host if is_primary else endpoints.dr_initial_host,
                        db_port=PG_PORT,
                        db_name=cfg.db_name,
                        db_username=cfg.app_username,
                        db_password=secrets.db_app_password,
                        authentik_secret_key=secrets.authentik_secret_key,
                        bootstrap_admin_password=secrets.admin_password if is_primary else None,
                    ),
                    media_bucket_name=(media.primary_bucket_name if is_primary else media.dr_bucket_name)
                    if media
                    else None,
                    media_bucket_arn=(media.primary_bucket.arn if is_primary else media.dr_bucket.arn)
                    if media
                    else None,
                    media_key_arn=(archive.primary_key_arn if is_primary else archive.dr_key_arn) if media else None,
                    authentik_files=authentik_files,
                    tag_base=tag_base,
                    bootstrap=jobs[0] if is_primary else None,
                    backup=jobs[1] if is_primary else None,
                    baseline=jobs[2] if is_primary else None,
                    checks=None if is_primary else jobs[3],
                    drill=None if is_primary else jobs[4],
                ),
                child,
            )
        return sites

    def _build_dns(self, sites: dict[str, IdentityStandby], notifications: Notifications) -> FailoverDns:
        """Route 53 health checks, failover records and their alarms."""
        name, cfg, child, tag_base, warm, providers = (
            self._name,
            self._cfg,
            self._child,
            self._tag_base,
            self._warm,
            self._site_providers,
        )
        dns = FailoverDns(
            f"{name}-dns",
            FailoverDnsArgs(
                config=cfg.dns,
                route53_provider=providers.aws_primary,
                us_east_1_provider=providers.aws_us_east_1,
                record_name=cfg.idp.public_hostname,
                primary=SiteTarget("primary", cfg.primary_health_hostname, sites["primary"].load_balancer_hostname),
                dr=SiteTarget("dr", cfg.dr_health_hostname, sites["dr"].load_balancer_hostname),
                health_path=cfg.health_path,
                discovery_path=cfg.idp.discovery_path,
                issuer=cfg.idp.issuer,
                alarm_on_dr_readiness=warm,
                alarm_topic_arn=notifications.global_topic_arn,
                tag_base=tag_base,
            ),
            child,
        )
        return dns

    @staticmethod
    def _outputs(
        name: str,
        cfg: StackConfig,
        archive: WalArchive,
        database: PitrDatabase | None,
        access: DatabaseAccess,
        sites: dict[str, IdentityStandby],
        dns: FailoverDns,
    ) -> dict:
        """The stack outputs, every section keyed as :mod:`contract.outputs` reads it."""
        if database is not None:
            db_outputs, restore_command = rds_outputs(name, cfg, database, access)
        else:
            db_outputs, restore_command = self_managed_outputs(cfg, archive, access)
        return exported(
            StackOutputs,
            {
                "primaryRegion": cfg.primary_region,
                "drRegion": cfg.dr_region,
                "idp": cfg.idp.kind,
                "publicHostname": cfg.idp.public_hostname,
                "issuer": cfg.idp.issuer,
                "rtoTargetSeconds": cfg.targets.rto_seconds,
                "rpoTargetSeconds": cfg.targets.rpo_seconds,
                "database": db_outputs,
                "archive": exported(
                    ArchiveOutputs,
                    {
                        "primaryBucket": archive.primary_bucket_name,
                        "drBucket": archive.dr_bucket_name,
                        "drKmsKeyArn": archive.dr_key_arn,
                        "prefix": cfg.archive.prefix,
                        "serverName": cfg.server_name,
                        "writerRoleArn": archive.writer_role_arn,
                        "drWriterRoleArn": archive.dr_writer_role_arn,
                        "archiverCommand": archiver_command(cfg, archive) if database is None else None,
                    },
                ),
                "standby": standby_outputs(cfg, sites["dr"], access),
                "dns": dns_outputs(cfg, dns),
                "restoreCommand": restore_command,
            },
        )
