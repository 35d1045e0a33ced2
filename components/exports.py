"""The stack outputs, every section keyed exactly as :mod:`contract.outputs` reads it.

``DrTopology`` hands its components here; each section is built through
:func:`contract.outputs.exported`, so a renamed or missing key fails ``pulumi preview``.
"""

from __future__ import annotations

import pulumi

from components.archive import WalArchive
from components.config import StackConfig
from components.credentials import DatabaseAccess
from components.database import PG_PORT, PitrDatabase
from components.failover_dns import FailoverDns
from components.standby import IdentityStandby
from components.vault import VaultBackups
from contract.outputs import FAILED_OVER_PATH, DatabaseOutputs, DnsOutputs, ProtectionOutputs, StandbyOutputs, exported
from contract.restore import DrRestoreRequest, command_line, wal_archiver_argv, wal_restore_argv


def rds_outputs(
    name: str, cfg: StackConfig, database: PitrDatabase, access: DatabaseAccess
) -> tuple[dict, pulumi.Output[str]]:
    db_outputs = exported(
        DatabaseOutputs,
        {
            "mode": "rds",
            "primaryInstanceId": database.instance.identifier,
            "primaryInstanceArn": database.instance.arn,
            "primaryEndpoint": database.instance.address,
            "port": PG_PORT,
            "dbName": cfg.db_name,
            "masterSecretArn": database.master_secret_arn,
            "appCredentialsSecret": access.app_credentials_name,
            "drReplicaInstanceId": database.dr_replica.identifier if database.dr_replica else None,
            "drReplicaEndpoint": database.dr_replica.address if database.dr_replica else None,
            "drReplicaArn": database.dr_replica.arn if database.dr_replica else None,
            "replicatedBackupsArn": database.replicated_backups_arn,
            "drKmsKeyArn": database.dr_key_arn,
            "drSubnetGroupName": database.dr_subnet_group_name,
            "drSecurityGroupIds": [database.dr_security_group_id],
            "drParameterGroupName": database.dr_parameter_group_name,
            "drRestoreInstanceId": f"{name}-dr-restore",
        },
    )
    restore_command = pulumi.Output.all(**db_outputs).apply(
        lambda values: command_line(
            DrRestoreRequest.from_outputs(DatabaseOutputs.model_validate(values), cfg.dr_region).argv()
        )
    )
    return db_outputs, restore_command


def self_managed_outputs(
    cfg: StackConfig, archive: WalArchive, access: DatabaseAccess
) -> tuple[dict, pulumi.Output[str]]:
    db_outputs = exported(
        DatabaseOutputs,
        {
            "mode": "self-managed",
            "primaryEndpoint": cfg.database.self_managed_primary_host,
            "port": PG_PORT,
            "dbName": cfg.db_name,
            "drKmsKeyArn": archive.dr_key_arn,
            "appCredentialsSecret": access.app_credentials_name,
        },
    )
    restore_command = archive.dr_bucket_name.apply(
        lambda bucket: command_line(
            wal_restore_argv(bucket, cfg.archive.prefix, cfg.server_name, cfg.database.engine_major)
        )
    )
    return db_outputs, restore_command


def archiver_command(cfg: StackConfig, archive: WalArchive) -> pulumi.Output[str]:
    """Self-managed mode: the ``bootstrap wal-archiver`` line for the primary's host."""
    return archive.primary_bucket_name.apply(
        lambda bucket: command_line(
            wal_archiver_argv(bucket, cfg.archive.prefix, cfg.server_name, cfg.database.engine_major)
        )
    )


def standby_outputs(cfg: StackConfig, dr_site: IdentityStandby, access: DatabaseAccess) -> dict:
    return exported(
        StandbyOutputs,
        {
            "idp": cfg.idp.kind,
            "namespace": cfg.standby.namespace,
            "serverDeployment": dr_site.server_deployment_name,
            "workerDeployment": dr_site.worker_deployment_name,
            "primaryReplicas": cfg.standby.primary_replicas,
            "drReplicas": cfg.standby.dr_replicas,
            "mode": cfg.standby.standby_mode,
            "secretsMode": cfg.standby.secrets_mode,
            "dbSecretName": dr_site.db_secret_name,
            "externalSecretName": dr_site.external_secret_name,
            "drDbEndpointSecretArn": access.dr_endpoint_arn,
            "primaryDbEndpointSecretArn": access.primary_endpoint_arn,
            "verifierSecret": access.verifier_secret_name,
            "drKubeContext": cfg.kubernetes.dr.context,
            "primaryKubeContext": cfg.kubernetes.primary.context,
            "drillNamespace": dr_site.drill_namespace,
        },
    )


def dns_outputs(cfg: StackConfig, dns: FailoverDns) -> dict:
    return exported(
        DnsOutputs,
        {
            "zoneId": cfg.dns.zone_id,
            "recordName": cfg.idp.public_hostname,
            "ttl": cfg.dns.ttl,
            "primaryHealthCheckId": dns.primary_health_check_id,
            "drHealthCheckId": dns.dr_health_check_id,
            "primaryRecordHealthCheckId": dns.primary_record_health_check_id,
            "secondaryRecordHealthCheckId": dns.secondary_record_health_check_id,
            "primaryHealthHostname": cfg.primary_health_hostname,
            "drHealthHostname": cfg.dr_health_hostname,
            "healthPath": cfg.health_path,
            "failedOverPath": FAILED_OVER_PATH,
            "detectionSeconds": cfg.detection_seconds,
        },
    )


def protection_outputs(cfg: StackConfig, archive: WalArchive, backups: VaultBackups | None) -> dict:
    vault = cfg.vault
    return exported(
        ProtectionOutputs,
        {
            "posture": cfg.posture,
            "breakGlassRoleArn": cfg.protection.break_glass_role_arn,
            "vaultAccountId": vault.account_id if vault else None,
            "vaultRegion": vault.region if vault else None,
            "vaultBucket": archive.vault.bucket.bucket if archive.vault else None,
            "vaultBackupVaultArn": backups.vault_arn if backups else None,
        },
    )
