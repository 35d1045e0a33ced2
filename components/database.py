"""PitrDatabase: RDS PostgreSQL with point-in-time recovery that survives a region.

Creates, in the primary region:

* a customer-managed KMS key (rotation on) for storage, Performance Insights and
  the RDS-managed master secret;
* a parameter group with ``rds.force_ssl=1``, a DB subnet group, a security
  group admitting only the app CIDRs on 5432;
* the instance: Multi-AZ, encrypted, deletion-protected, PITR window of
  ``backupRetentionDays``, a final snapshot on delete, automated backups kept
  when the instance is deleted, tags copied to snapshots, master password
  generated and rotated by RDS in Secrets Manager (never in Pulumi state),
  Pulumi ``protect=True``.

And in the DR region (explicit DR provider, because AWS requires the
replication to be created in the destination region):

* a CMK (or the configured ``drKmsKeyArn``), a parameter group, subnet group and
  security group matching the primary's, so a restore or promotion there never
  falls back to AWS defaults;
* cross-region automated-backup replication encrypted with the DR key;
* optionally a cross-region read replica (a warm database to promote).

Alarms: replica lag above the declared RPO (DR region) and low free storage
(primary region).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components._common import Site, Sites, account_of, customer_managed_key, opts, partition_of, policy_json, tags
from components.config.sections import DatabaseConfig
from components.protection import KeyPolicies

PG_PORT = 5432
GIB = 1024**3


@dataclass(frozen=True)
class RegionNetworkArgs:
    vpc_id: str
    subnet_ids: list[str]
    app_cidrs: list[str]


@dataclass(frozen=True)
class PitrDatabaseArgs:
    """The validated ``idp-dr:database`` section, the two sites, and what the topology derives."""

    config: DatabaseConfig
    sites: Sites
    #: Each region's network; the primary's app CIDRs include a warm DR site's (it uses the primary's DB).
    primary_network: RegionNetworkArgs
    dr_network: RegionNetworkArgs
    db_name: str
    rpo_seconds: int
    master_password: pulumi.Input[str] | None
    primary_alarm_topic_arn: pulumi.Input[str]
    dr_alarm_topic_arn: pulumi.Input[str]
    tag_base: dict[str, str]
    #: RDS identifiers are '<prefix>-db' and '<prefix>-dr-replica' (what operators type in runbooks).
    identifier_prefix: str
    #: The keys' policies beyond the default: None, or what components.protection / components.vault need.
    key_policies: KeyPolicies | None = None


@dataclass(frozen=True)
class _Placement:
    """Where the database lives in one region: its key and the groups a restore there must use."""

    key_arn: pulumi.Output[str]
    params: aws.rds.ParameterGroup
    subnets: aws.rds.SubnetGroup
    security_group: aws.ec2.SecurityGroup


class PitrDatabase(pulumi.ComponentResource):
    instance: aws.rds.Instance
    dr_replica: aws.rds.Instance | None
    backup_replication: aws.rds.InstanceAutomatedBackupsReplication
    primary_key_arn: pulumi.Output[str]
    dr_key_arn: pulumi.Output[str]
    master_secret_arn: pulumi.Output[str | None]
    replicated_backups_arn: pulumi.Output[str]
    """ARN of the replicated automated backups in the DR region: the restore source there."""
    dr_subnet_group_name: pulumi.Output[str]
    dr_security_group_id: pulumi.Output[str]
    dr_parameter_group_name: pulumi.Output[str]

    def __init__(self, name: str, args: PitrDatabaseArgs, opts_: pulumi.ResourceOptions | None = None):
        super().__init__("idp-dr:database:PitrDatabase", name, None, opts_)
        self._args, self._name = args, name
        primary = self._placement(args.sites.primary, args.primary_network, "")
        dr = self._placement(args.sites.dr, args.dr_network, "dr-")
        self.instance = self._primary_instance(primary)
        self.backup_replication = self._backup_replication(dr)
        self.dr_replica = self._dr_replica(dr) if args.config.dr_read_replica else None
        self._low_storage_alarm()
        self.primary_key_arn = primary.key_arn
        self.dr_key_arn = dr.key_arn
        self.dr_subnet_group_name = dr.subnets.name
        self.dr_security_group_id = dr.security_group.id
        self.dr_parameter_group_name = dr.params.name
        self.master_secret_arn = self.instance.master_user_secrets.apply(_first_secret_arn)
        self.replicated_backups_arn = self.backup_replication.id
        self.register_outputs(
            {
                "endpoint": self.instance.address,
                "instance_arn": self.instance.arn,
                "master_secret_arn": self.master_secret_arn,
                "replicated_backups_arn": self.replicated_backups_arn,
                "dr_replica_arn": self.dr_replica.arn if self.dr_replica else None,
                "dr_key_arn": self.dr_key_arn,
            }
        )

    def _placement(self, site: Site, network: RegionNetworkArgs, prefix: str) -> _Placement:
        """One region's key, parameter group, subnet group and security group: a restore or promotion
        there never falls back to AWS defaults."""
        args, name = self._args, self._name
        family = f"postgres{args.config.engine_major}"
        is_dr = site.name == "dr"
        if is_dr and args.config.dr_kms_key_arn:
            key_arn: pulumi.Output[str] = pulumi.Output.from_input(args.config.dr_kms_key_arn)
        else:
            what = "replicated backups and DR replica" if is_dr else "RDS storage, Performance Insights, master secret"
            key_arn = customer_managed_key(
                f"{name}-{site.name}-key",
                parent=self,
                provider=site.provider,
                description=f"idp-dr {name}: {what} ({site.region})",
                alias=f"idp-dr/{name}/db",
                tag_base=args.tag_base,
                **(args.key_policies.for_key(site.name) if args.key_policies else {}),
            ).arn
        subnets_what = "DR database subnets (restores and promotions land here)" if is_dr else "database subnets"
        return _Placement(
            key_arn=key_arn,
            params=self._parameter_group(f"{name}-{prefix}params", family, site.provider),
            subnets=aws.rds.SubnetGroup(
                f"{name}-{prefix}subnets",
                subnet_ids=network.subnet_ids,
                description=f"idp-dr {name} {subnets_what}",
                tags=tags(args.tag_base),
                opts=opts(self, site.provider),
            ),
            security_group=self._security_group(f"{name}-{prefix}sg", network, site.provider),
        )

    def _primary_instance(self, primary: _Placement) -> aws.rds.Instance:
        """Multi-AZ, encrypted, deletion-protected, PITR, a final snapshot, backups kept on delete."""
        args, name = self._args, self._name
        return aws.rds.Instance(
            f"{name}-db",
            identifier=f"{args.identifier_prefix}-db",
            engine="postgres",
            engine_version=args.config.engine_version,
            instance_class=args.config.instance_class,
            allocated_storage=args.config.allocated_storage_gb,
            max_allocated_storage=args.config.max_allocated_storage_gb,
            storage_type=args.config.storage_type,
            storage_encrypted=True,
            kms_key_id=primary.key_arn,
            multi_az=args.config.multi_az,
            db_name=args.db_name,
            username=args.config.master_username,
            manage_master_user_password=True if args.config.manage_master_password else None,
            master_user_secret_kms_key_id=primary.key_arn if args.config.manage_master_password else None,
            password=None if args.config.manage_master_password else args.master_password,
            port=PG_PORT,
            parameter_group_name=primary.params.name,
            db_subnet_group_name=primary.subnets.name,
            vpc_security_group_ids=[primary.security_group.id],
            publicly_accessible=False,
            backup_retention_period=args.config.backup_retention_days,
            backup_window=args.config.backup_window,
            maintenance_window=args.config.maintenance_window,
            copy_tags_to_snapshot=True,
            deletion_protection=args.config.deletion_protection,
            skip_final_snapshot=False,
            final_snapshot_identifier=f"{args.identifier_prefix}-db-final",
            # Keep the PITR history when the instance is deleted (the provider defaults to deleting it).
            delete_automated_backups=False,
            auto_minor_version_upgrade=True,
            iam_database_authentication_enabled=True,
            enabled_cloudwatch_logs_exports=["postgresql", "upgrade"],
            performance_insights_enabled=args.config.performance_insights,
            performance_insights_kms_key_id=primary.key_arn if args.config.performance_insights else None,
            performance_insights_retention_period=7 if args.config.performance_insights else None,
            **self._monitoring(args.sites.primary, primary.key_arn),
            tags=tags(args.tag_base, **{"idp-dr:role": "primary"}),
            opts=opts(self, args.sites.primary.provider, protect=True),
        )

    def _monitoring(self, site: Site, key_arn: pulumi.Output[str]) -> dict:
        """Enhanced Monitoring (OS metrics every ``enhancedMonitoringSeconds``) through one role per site, which only
        RDS acting for this account may assume (``aws:SourceAccount``: no confused deputy); ``key_arn`` names the
        account without a data-source call."""
        interval = self._args.config.enhanced_monitoring_seconds
        if not interval:
            return {"monitoring_interval": 0}
        role = aws.iam.Role(
            f"{self._name}-{site.name}-monitoring-role",
            description=f"idp-dr {self._name}: RDS Enhanced Monitoring ({site.name} site)",
            assume_role_policy=policy_json(
                [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "monitoring.rds.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                        "Condition": {"StringEquals": {"aws:SourceAccount": account_of(key_arn)}},
                    }
                ]
            ),
            tags=tags(self._args.tag_base),
            opts=opts(self, site.provider),
        )
        aws.iam.RolePolicyAttachment(
            f"{self._name}-{site.name}-monitoring-policy",
            role=role.name,
            policy_arn=f"arn:{partition_of(site.region)}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole",
            opts=opts(self, site.provider),
        )
        return {"monitoring_interval": interval, "monitoring_role_arn": role.arn}

    def _backup_replication(self, dr: _Placement) -> aws.rds.InstanceAutomatedBackupsReplication:
        args, name = self._args, self._name
        return aws.rds.InstanceAutomatedBackupsReplication(
            f"{name}-backup-replication",
            source_db_instance_arn=self.instance.arn,
            kms_key_id=dr.key_arn,
            retention_period=args.config.replicated_retention,
            # Created in the destination region: that is where AWS runs the replication.
            opts=opts(self, args.sites.dr.provider),
        )

    def _dr_replica(self, dr: _Placement) -> aws.rds.Instance:
        """A cross-region read replica (a warm database to promote), with its lag alarm."""
        args, name = self._args, self._name
        replica = aws.rds.Instance(
            f"{name}-dr-replica",
            identifier=f"{args.identifier_prefix}-dr-replica",
            replicate_source_db=self.instance.arn,
            instance_class=(args.config.dr_replica_instance_class or args.config.instance_class),
            storage_type=args.config.storage_type,
            storage_encrypted=True,
            kms_key_id=dr.key_arn,
            parameter_group_name=dr.params.name,
            db_subnet_group_name=dr.subnets.name,
            vpc_security_group_ids=[dr.security_group.id],
            publicly_accessible=False,
            # Once promoted it is the production database: the same availability, logs and PITR window
            # as the primary (a promoted replica keeps its own retention, not the primary's).
            multi_az=args.config.multi_az,
            enabled_cloudwatch_logs_exports=["postgresql", "upgrade"],
            backup_retention_period=args.config.backup_retention_days,
            copy_tags_to_snapshot=True,
            deletion_protection=args.config.deletion_protection,
            # RDS takes no final snapshot of a read replica; after promotion the runbook
            # turns on backups (see README, "After a failover").
            skip_final_snapshot=True,
            auto_minor_version_upgrade=True,
            performance_insights_enabled=args.config.performance_insights,
            performance_insights_kms_key_id=dr.key_arn if args.config.performance_insights else None,
            **self._monitoring(args.sites.dr, dr.key_arn),
            tags=tags(args.tag_base, **{"idp-dr:role": "dr-replica"}),
            opts=opts(self, args.sites.dr.provider, protect=True),
        )
        aws.cloudwatch.MetricAlarm(
            f"{name}-dr-replica-lag",
            alarm_description=(
                f"idp-dr {name}: DR replica lag above the declared RPO ({args.rpo_seconds} s); a failover "
                "now would lose more data than promised"
            ),
            namespace="AWS/RDS",
            metric_name="ReplicaLag",
            dimensions={"DBInstanceIdentifier": replica.identifier},
            statistic="Maximum",
            period=60,
            evaluation_periods=5,
            datapoints_to_alarm=3,
            threshold=args.rpo_seconds,
            comparison_operator="GreaterThanThreshold",
            treat_missing_data="breaching",
            alarm_actions=[args.dr_alarm_topic_arn],
            ok_actions=[args.dr_alarm_topic_arn],
            tags=tags(args.tag_base),
            opts=opts(self, args.sites.dr.provider),
        )
        return replica

    def _low_storage_alarm(self) -> None:
        args, name = self._args, self._name
        aws.cloudwatch.MetricAlarm(
            f"{name}-low-storage",
            alarm_description=f"idp-dr {name}: less than {args.config.low_storage_alarm_gb} GiB free on the primary",
            namespace="AWS/RDS",
            metric_name="FreeStorageSpace",
            dimensions={"DBInstanceIdentifier": self.instance.identifier},
            statistic="Minimum",
            period=300,
            evaluation_periods=1,
            threshold=args.config.low_storage_alarm_gb * GIB,
            comparison_operator="LessThanThreshold",
            alarm_actions=[args.primary_alarm_topic_arn],
            ok_actions=[args.primary_alarm_topic_arn],
            tags=tags(args.tag_base),
            opts=opts(self, args.sites.primary.provider),
        )

    def _parameter_group(self, name: str, family: str, provider: pulumi.ProviderResource) -> aws.rds.ParameterGroup:
        return aws.rds.ParameterGroup(
            name,
            family=family,
            description="idp-dr: TLS required for every client connection",
            parameters=[
                {"name": "rds.force_ssl", "value": "1"},
                {"name": "password_encryption", "value": "scram-sha-256"},
                {"name": "log_connections", "value": "1"},
            ],
            tags=tags(self._args.tag_base),
            opts=opts(self, provider),
        )

    def _security_group(
        self, name: str, network: RegionNetworkArgs, provider: pulumi.ProviderResource
    ) -> aws.ec2.SecurityGroup:
        group = aws.ec2.SecurityGroup(
            name,
            vpc_id=network.vpc_id,
            description="idp-dr: PostgreSQL from the identity provider's cluster only",
            tags=tags(self._args.tag_base),
            opts=opts(self, provider),
        )
        for index, cidr in enumerate(network.app_cidrs):
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-postgres-{index}",
                security_group_id=group.id,
                ip_protocol="tcp",
                from_port=PG_PORT,
                to_port=PG_PORT,
                **({"cidr_ipv6": cidr} if ":" in cidr else {"cidr_ipv4": cidr}),
                description="PostgreSQL from the app cluster",
                opts=opts(self, provider),
            )
        return group


def _first_secret_arn(secrets) -> str | None:
    if not secrets:
        return None
    first = secrets[0]
    return first.get("secret_arn") if isinstance(first, dict) else getattr(first, "secret_arn", None)
