"""The vault account: one more copy that production's credentials cannot delete (``idp-dr:vault``).

Every resource here is created through a provider that assumes ``vault.roleArn`` in the vault account, so the
vault's owner is that account, never production. Two copies land there:

* :class:`VaultStore`: the archive (WAL, base backups, dumps, baselines, manifests), replicated from the primary
  bucket by a second replication rule (:mod:`components.buckets`) with the objects' ownership handed to the vault
  account, re-encrypted with a key of the vault account, into a bucket under Object Lock in **COMPLIANCE** mode
  for ``lockDays`` (no one, the vault account's root included, shortens or lifts it). The bucket policy lets
  production's replication role replicate into it and denies production's principals everything else; the key
  lets production encrypt (replicate, copy) and nothing more: not decrypt, not disable, not delete.
* :class:`VaultBackups`: the database's snapshots, copied by AWS Backup from a plan in production into a backup
  vault of the vault account under Vault Lock in compliance mode (after a 3-day grace, nobody can remove the
  lock or delete a recovery point before ``backupRetentionDays``).

Why AWS Backup and not a scheduled cross-account snapshot copy: RDS automated backups cannot be shared; a
manual snapshot copied into a plain account can be deleted by that account's administrators, while Vault Lock
in compliance mode binds them too; and AWS Backup does the cross-account copy and re-encryption itself, with
its own job history to alarm on. Cross-account copies need the database's key shared with the vault account:
the primary database key's policy says so when a vault is configured (:func:`source_key_statement`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_aws as aws

from components._common import (
    Sites,
    customer_managed_key,
    encryption_statements,
    opts,
    partition_of,
    policy_json,
    root_of,
    tags,
)
from components.config.protection import VaultConfig

if TYPE_CHECKING:
    from components.config import StackConfig

VAULT_LOCK_GRACE_DAYS = 3
LOCAL_BACKUP_DAYS = 7
#: What production's replication role may do in the vault bucket: replicate in, and nothing else.
REPLICATION_INTO_VAULT = ["s3:ReplicateObject", "s3:ReplicateTags", "s3:ObjectOwnerOverrideToBucketOwner"]
#: What production may do with the vault's key: encrypt through S3 (replication) and AWS Backup (copies).
ENCRYPT_ONLY = ["kms:Encrypt", "kms:GenerateDataKey", "kms:GenerateDataKey*", "kms:ReEncrypt*", "kms:DescribeKey",
                "kms:CreateGrant"]  # fmt: skip


@dataclass(frozen=True)
class VaultDestination:
    """Where the archive's second replication rule sends every object (read by :mod:`components.buckets`)."""

    account_id: str
    region: str
    bucket_arn: pulumi.Input[str]
    key_arn: pulumi.Input[str]


@dataclass(frozen=True)
class VaultStoreArgs:
    config: VaultConfig
    #: Production's account: the one the vault denies everything but replication to.
    production_account: str
    partition: str
    lock_days: int
    #: The archive's lifecycle rules (tier expirations): applied after the lock, never before it ends.
    lifecycle_rules: list[dict[str, Any]] = field(default_factory=list)
    tag_base: dict[str, str] = field(default_factory=dict)


def vault_provider(name: str, config: VaultConfig, parent: pulumi.Resource) -> aws.Provider:
    """The vault account's provider: pulumi assumes the vault's own role (its credentials, not production's)."""
    return aws.Provider(
        f"{name}-vault-provider",
        region=config.region,
        assume_roles=[{"role_arn": config.role_arn, "session_name": "idp-dr-vault"}],
        allowed_account_ids=[config.account_id],
        opts=pulumi.ResourceOptions(parent=parent),
    )


class VaultStore(pulumi.ComponentResource):
    provider: aws.Provider
    bucket: aws.s3.Bucket
    key: aws.kms.Key
    destination: VaultDestination

    def __init__(self, name: str, args: VaultStoreArgs, opts_: pulumi.ResourceOptions | None = None):
        super().__init__("idp-dr:vault:VaultStore", name, None, opts_)
        self._args = args
        cfg = args.config
        self.provider = provider = vault_provider(name, cfg, self)
        self.key = customer_managed_key(
            f"{name}-key", parent=self, provider=provider, alias=f"idp-dr/{name}",
            description=f"idp-dr {name}: the vault's copies (production may only encrypt with it)",
            tag_base=args.tag_base, policy=self._key_policy(),
        )  # fmt: skip
        self.bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket=cfg.bucket_name,
            bucket_prefix=None if cfg.bucket_name else f"{name}-",
            force_destroy=False,
            object_lock_enabled=True,
            tags=tags(args.tag_base, **{"idp-dr:site": "vault", "idp-dr:data": "archive"}),
            opts=opts(self, provider, protect=True),
        )
        bucket = self.bucket.id
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership", bucket=bucket, rule={"object_ownership": "BucketOwnerEnforced"},
            opts=opts(self, provider),
        )  # fmt: skip
        self._access_block = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block", bucket=bucket, block_public_acls=True, block_public_policy=True,
            ignore_public_acls=True, restrict_public_buckets=True, opts=opts(self, provider),
        )  # fmt: skip
        self.versioning = aws.s3.BucketVersioning(
            f"{name}-versioning", bucket=bucket, versioning_configuration={"status": "Enabled"},
            opts=opts(self, provider),
        )  # fmt: skip
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption", bucket=bucket,
            rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms",
                                                                "kms_master_key_id": self.key.arn},
                    "bucket_key_enabled": True}],
            opts=opts(self, provider),
        )  # fmt: skip
        aws.s3.BucketObjectLockConfiguration(
            f"{name}-object-lock", bucket=bucket,
            rule={"default_retention": {"mode": "COMPLIANCE", "days": args.lock_days}},
            opts=opts(self, provider, depends_on=[self.versioning]),
        )  # fmt: skip
        if args.lifecycle_rules:
            aws.s3.BucketLifecycleConfiguration(f"{name}-lifecycle", bucket=bucket, rules=args.lifecycle_rules,
                                                opts=opts(self, provider, depends_on=[self.versioning]))  # fmt: skip
        self.destination = VaultDestination(cfg.account_id, cfg.region, self.bucket.arn, self.key.arn)
        self.register_outputs({"bucket": self.bucket.bucket, "key_arn": self.key.arn})

    def admit_replication(self, name: str, replication_role_arn: pulumi.Input[str]) -> aws.s3.BucketPolicy:
        """The vault bucket's policy, once production's replication role exists: that role replicates in;
        every other request from production's principals is denied, whatever production's IAM says."""
        arn, production = self.bucket.arn, root_of(self._args.production_account, self._args.partition)
        objects = pulumi.Output.concat(arn, "/*")
        statements = [
            {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
             "Resource": [arn, objects], "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
            *encryption_statements(objects, self.key.arn),
            {"Sid": "ProductionReplicatesIn", "Effect": "Allow", "Principal": {"AWS": replication_role_arn},
             "Action": REPLICATION_INTO_VAULT, "Resource": objects},
            {"Sid": "ProductionSeesVersioning", "Effect": "Allow", "Principal": {"AWS": replication_role_arn},
             "Action": "s3:GetBucketVersioning", "Resource": arn},
            {"Sid": "ProductionDoesNothingElse", "Effect": "Deny", "Principal": {"AWS": production},
             "NotAction": [*REPLICATION_INTO_VAULT, "s3:GetBucketVersioning"], "Resource": [arn, objects]},
        ]  # fmt: skip
        return aws.s3.BucketPolicy(
            f"{name}-policy", bucket=self.bucket.id, policy=policy_json(statements),
            opts=opts(self, self.provider, depends_on=[self._access_block]),
        )  # fmt: skip

    def _key_policy(self) -> pulumi.Output[str]:
        args = self._args
        region = args.config.region
        return policy_json(
            [
                {"Sid": "VaultAccountAdministers", "Effect": "Allow",
                 "Principal": {"AWS": root_of(args.config.account_id, args.partition)}, "Action": "kms:*",
                 "Resource": "*"},
                {"Sid": "ProductionOnlyEncrypts", "Effect": "Allow",
                 "Principal": {"AWS": root_of(args.production_account, args.partition)}, "Action": ENCRYPT_ONLY,
                 "Resource": "*",
                 "Condition": {"StringEquals": {"kms:ViaService": [f"s3.{region}.amazonaws.com",
                                                                    f"backup.{region}.amazonaws.com",
                                                                    f"rds.{region}.amazonaws.com"]}}},
            ]
        )  # fmt: skip


@dataclass(frozen=True)
class VaultBackupsArgs:
    config: VaultConfig
    production_account: str
    partition: str
    #: The primary database: what AWS Backup snapshots, in the primary region.
    instance_arn: pulumi.Input[str]
    #: The primary database's key (local recovery points are encrypted with it).
    source_key_arn: pulumi.Input[str]
    #: The vault's key and provider (:class:`VaultStore`): the locked backup vault is encrypted with it.
    vault_key_arn: pulumi.Input[str]
    vault_provider: aws.Provider
    primary_provider: pulumi.ProviderResource
    tag_base: dict[str, str] = field(default_factory=dict)


class VaultBackups(pulumi.ComponentResource):
    """Daily snapshots of the primary database, copied into a locked backup vault of the vault account."""

    vault_arn: pulumi.Output[str]

    def __init__(self, name: str, args: VaultBackupsArgs, opts_: pulumi.ResourceOptions | None = None):
        super().__init__("idp-dr:vault:VaultBackups", name, None, opts_)
        cfg, vp, pp = args.config, args.vault_provider, args.primary_provider
        locked = aws.backup.Vault(f"{name}-locked", kms_key_arn=args.vault_key_arn, force_destroy=False,
                                  tags=tags(args.tag_base, **{"idp-dr:site": "vault"}),
                                  opts=opts(self, vp, protect=True))  # fmt: skip
        aws.backup.VaultLockConfiguration(
            f"{name}-vault-lock", backup_vault_name=locked.name, min_retention_days=cfg.backup_retention_days,
            # Compliance mode: once this grace ends, nobody (the vault account's root included) can remove the
            # lock or delete a recovery point before its retention.
            changeable_for_days=VAULT_LOCK_GRACE_DAYS, opts=opts(self, vp),
        )  # fmt: skip
        production = root_of(args.production_account, args.partition)
        aws.backup.VaultPolicy(
            f"{name}-vault-policy", backup_vault_name=locked.name,
            policy=policy_json([
                # Production may copy in; deleting early is what the compliance-mode lock refuses to anyone.
                {"Sid": "ProductionCopiesIn", "Effect": "Allow", "Principal": {"AWS": production},
                 "Action": "backup:CopyIntoBackupVault", "Resource": "*"},
            ]),
            opts=opts(self, vp),
        )  # fmt: skip
        local = aws.backup.Vault(f"{name}-local", kms_key_arn=args.source_key_arn, force_destroy=False,
                                 tags=tags(args.tag_base), opts=opts(self, pp))  # fmt: skip
        role = aws.iam.Role(
            f"{name}-backup-role",
            description="AWS Backup: snapshots the IdP's database and copies them into the vault account",
            assume_role_policy=policy_json([{"Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"},
                                             "Action": "sts:AssumeRole",
                                             "Condition": {"StringEquals": {
                                                 "aws:SourceAccount": args.production_account}}}]),
            tags=tags(args.tag_base), opts=opts(self, pp),
        )  # fmt: skip
        aws.iam.RolePolicyAttachment(
            f"{name}-backup-role-policy", role=role.name,
            policy_arn=f"arn:{args.partition}:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup",
            opts=opts(self, pp),
        )  # fmt: skip
        plan = aws.backup.Plan(
            f"{name}-plan",
            rules=[{"rule_name": "daily-to-vault", "target_vault_name": local.name, "schedule": cfg.backup_schedule,
                    "lifecycle": {"delete_after": LOCAL_BACKUP_DAYS},
                    "copy_actions": [{"destination_vault_arn": locked.arn,
                                      "lifecycle": {"delete_after": cfg.backup_retention_days}}]}],
            tags=tags(args.tag_base), opts=opts(self, pp),
        )  # fmt: skip
        aws.backup.Selection(f"{name}-selection", plan_id=plan.id, iam_role_arn=role.arn,
                             resources=[args.instance_arn], opts=opts(self, pp))  # fmt: skip
        self.vault_arn = locked.arn
        self.register_outputs({"vault_arn": self.vault_arn})


def source_key_statement(vault_account: str, partition: str) -> dict[str, Any]:
    """The primary database key's statement letting AWS Backup copy its snapshots into the vault account
    (a cross-account copy of an encrypted snapshot needs its key shared with the destination account)."""
    return {
        "Sid": "VaultAccountCopiesSnapshots",
        "Effect": "Allow",
        "Principal": {"AWS": root_of(vault_account, partition)},
        "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:CreateGrant"],
        "Resource": "*",
    }


def vault_backups(
    name: str, cfg: StackConfig, store: VaultStore | None, *, instance_arn: pulumi.Input[str] | None,
    source_key_arn: pulumi.Input[str] | None, sites: Sites, tag_base: dict[str, str],
    parent_opts: pulumi.ResourceOptions,
) -> VaultBackups | None:  # fmt: skip
    """The locked backup vault and its plan, when the stack has a vault and an RDS database (self-managed
    PostgreSQL's copies are the archive's, already replicated into the vault bucket)."""
    if cfg.vault is None or store is None or instance_arn is None or source_key_arn is None:
        return None
    return VaultBackups(
        name,
        VaultBackupsArgs(
            config=cfg.vault, production_account=cfg.production_account, partition=partition_of(cfg.primary_region),
            instance_arn=instance_arn, source_key_arn=source_key_arn, vault_key_arn=store.key.arn,
            vault_provider=store.provider, primary_provider=sites.primary.provider, tag_base=tag_base,
        ),
        parent_opts,
    )  # fmt: skip
