"""The stack outputs the runbook commands read (``pulumi stack output --json``).

``__main__.py`` exports exactly this shape; ``failover``, ``failback`` and
``restore rds`` read it with :func:`scripts.stack_outputs.load_stack_outputs`, so a renamed output is
caught by a test on both sides instead of at 3 a.m. Field names are the
exported camelCase keys.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Out(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class DatabaseOutputs(_Out):
    mode: Literal["rds", "self-managed"]
    primaryEndpoint: str
    port: int = 5432
    dbName: str
    drKmsKeyArn: str
    #: Secrets Manager secret {"username","password"} of the IdP's database role, replicated to the DR
    #: region under the same name (``bootstrap db`` reads it).
    appCredentialsSecret: str | None = None
    # -- RDS only (required when mode is "rds") ---------------------------
    primaryInstanceId: str | None = None
    primaryInstanceArn: str | None = None
    #: RDS-managed master secret (primary region). Deleted with the instance by RDS.
    masterSecretArn: str | None = None
    #: Cross-region read replica in the DR region, when configured (warm DB standby).
    drReplicaInstanceId: str | None = None
    #: Its endpoint: where ``backup dump --stack-outputs`` dumps from (the guide: a replica, not the primary).
    drReplicaEndpoint: str | None = None
    drReplicaArn: str | None = None
    #: ARN of the replicated automated backups in the DR region (restore source).
    replicatedBackupsArn: str | None = None
    drSubnetGroupName: str | None = None
    drSecurityGroupIds: list[str] = Field(default_factory=list)
    drParameterGroupName: str | None = None
    #: Identifier to use for a DB restored in the DR region during failover.
    drRestoreInstanceId: str | None = None

    @model_validator(mode="after")
    def _rds_fields(self) -> DatabaseOutputs:
        if self.mode == "rds":
            required = (
                "primaryInstanceId",
                "primaryInstanceArn",
                "replicatedBackupsArn",
                "drSubnetGroupName",
                "drParameterGroupName",
                "drRestoreInstanceId",
            )
            missing = [name for name in required if not getattr(self, name)]
            if missing or not self.drSecurityGroupIds:
                raise ValueError(f"RDS outputs missing: {', '.join(missing or ['drSecurityGroupIds'])}")
        return self


class ArchiveOutputs(_Out):
    primaryBucket: str
    drBucket: str
    #: barman-cloud server name; WAL lives under s3://<bucket>/<prefix>/<serverName>/wals/.
    prefix: str
    serverName: str
    #: IRSA roles allowed to write the archive (when ``archive.writer`` is configured): the primary
    #: site's writes its own bucket; the DR site's adds objects to the DR bucket, never deleting and
    #: never writing the replicated copy of the primary's archive.
    writerRoleArn: str | None = None
    drWriterRoleArn: str | None = None
    #: The DR bucket's key (``check dr-paths`` alarms when a DR key is scheduled for deletion or disabled).
    drKmsKeyArn: str | None = None
    #: Self-managed mode: run on the primary's host to write its archive-ahead ``archive_command``.
    archiverCommand: str | None = None


class StandbyOutputs(_Out):
    idp: Literal["keycloak", "authentik"]
    namespace: str
    serverDeployment: str
    workerDeployment: str | None = None
    primaryReplicas: int
    #: Replicas the passive site runs in normal times (0 = pilot light).
    drReplicas: int
    #: pilot-light (drReplicas 0) | warm.
    mode: Literal["pilot-light", "warm"] | None = None
    #: external-secrets: the DB Secret is synced from Secrets Manager in the DR region.
    #: pulumi: the DB Secret is a Kubernetes Secret written by Pulumi.
    secretsMode: Literal["external-secrets", "pulumi"]
    #: Kubernetes Secret (in ``namespace``) holding the DB connection for the app.
    dbSecretName: str
    externalSecretName: str | None = None
    #: Secrets Manager secret in the DR region with {"host","port","dbname"} for the
    #: standby; failover writes the recovered endpoint here (external-secrets mode).
    drDbEndpointSecretArn: str | None = None
    #: The same in the primary region, for the primary site; Pulumi owns its value (``recover --method
    #: repoint`` writes it, and says what the stack must be told so the next ``pulumi up`` keeps it).
    primaryDbEndpointSecretArn: str | None = None
    #: Secrets Manager secret {"client_id","client_secret","realm"} of the verifier client (``bootstrap
    #: verifier`` writes it in the primary region; replicated, it is read in the DR region).
    verifierSecret: str | None = None
    drKubeContext: str | None = None
    primaryKubeContext: str | None = None
    #: The DR cluster's isolated namespace where ``drill --aws`` starts the IdP (``<namespace>-drill``; the
    #: program creates it and its NetworkPolicies with ``runbook.drill.enabled``), None without it.
    drillNamespace: str | None = None


#: The path failover writes into the primary's readiness health check so it stays unhealthy (sticky
#: failover) until failback restores it; the component, the sandbox and the docs all use this one.
FAILED_OVER_PATH = "/idp-dr/failed-over"


class DnsOutputs(_Out):
    zoneId: str
    recordName: str
    ttl: int
    primaryHealthCheckId: str
    drHealthCheckId: str
    #: Health check attached to the PRIMARY failover record (the calculated one).
    primaryRecordHealthCheckId: str
    #: Health check attached to the SECONDARY record, None when deliberately omitted.
    secondaryRecordHealthCheckId: str | None = None
    primaryHealthHostname: str
    drHealthHostname: str
    healthPath: str
    #: Path the sticky-failover step writes into the primary check so it stays unhealthy.
    failedOverPath: str
    #: Worst-case seconds for Route 53 to declare the primary unhealthy (interval x threshold).
    detectionSeconds: int | None = None


class ProtectionOutputs(_Out):
    """What survives production's credentials being stolen (components.config.protection)."""

    posture: Literal["vault", "guarded-keys", "none"] = "none"
    #: guarded-keys: the only role that may destroy the DR keys or unlock the DR bucket.
    breakGlassRoleArn: str | None = None
    #: vault: the account, region and bucket holding the archive's locked copy, and the locked backup vault.
    vaultAccountId: str | None = None
    vaultRegion: str | None = None
    vaultBucket: str | None = None
    vaultBackupVaultArn: str | None = None


class StackOutputs(_Out):
    primaryRegion: str
    drRegion: str
    idp: Literal["keycloak", "authentik"]
    publicHostname: str
    #: The OIDC issuer production tokens carry (verify compares byte for byte).
    issuer: str
    database: DatabaseOutputs
    archive: ArchiveOutputs
    standby: StandbyOutputs
    dns: DnsOutputs
    restoreCommand: str
    #: Absent in outputs written before it existed: posture "none" until the next pulumi up says otherwise.
    protection: ProtectionOutputs = Field(default_factory=ProtectionOutputs)
    rto_target_s: int = Field(alias="rtoTargetSeconds")
    rpo_target_s: int = Field(alias="rpoTargetSeconds")


def exported(model: type[BaseModel], values: dict[str, Any]) -> dict[str, Any]:
    """``values`` keyed exactly as ``model`` reads them: the Pulumi program builds every output
    section through this, so a renamed or forgotten key fails ``pulumi preview``, not a failover."""
    fields = {field.alias or name: field for name, field in model.model_fields.items()}
    unknown = sorted(set(values) - set(fields))
    missing = sorted(key for key, field in fields.items() if field.is_required() and key not in values)
    if unknown or missing:
        raise ValueError(f"{model.__name__} outputs: unknown {unknown}, missing {missing}")
    return values


#: Where the Pulumi program keeps a copy of these outputs in the DR region (an SSM parameter, no
#: secret values in it): what every runbook command reads with ``--stack-outputs ssm://<drRegion><name>``
#: when the Pulumi backend or the laptop that saved the file is out of reach.
STACK_OUTPUTS_PARAMETER = "/idp-dr/{stack}/stack-outputs"


def stack_outputs_location(stack: str, dr_region: str) -> str:
    """The ``--stack-outputs`` value that reads the DR-region copy, e.g. ssm://eu-central-1/idp-dr/sso/stack-outputs."""
    return f"ssm://{dr_region}{STACK_OUTPUTS_PARAMETER.format(stack=stack)}"
