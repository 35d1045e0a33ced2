"""WalArchive: the archive buckets for WAL, base backups and logical dumps.

Creates, per region, a customer-managed KMS key (rotation on) and a hardened,
versioned bucket (see :mod:`components.buckets`), replicated primary -> DR with
Replication Time Control. Layout inside each bucket:

* ``<prefix>/<serverName>/{base,wals}/...`` barman-cloud / CloudNativePG layout
  (self-managed PostgreSQL), kept ``walRetentionDays`` (>= the PITR window);
* ``dumps/daily|weekly|monthly/...`` logical dumps (``pg_dump -Fc``), expired
  after 14 / 90 / 365 days by default (the Keycloak guide's tiers).

Optionally an IRSA role for the Kubernetes service account that writes the
archive, limited to these two buckets, their keys and the two prefixes; it
trusts the service account in both clusters so the DR site can archive after a
failover (under its own server name).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components._common import Site, Sites, customer_managed_key, opts, policy_json, tags
from components.buckets import ObjectLockSettings, ReplicatedBuckets, ReplicatedBucketsArgs
from components.config.protection import VaultConfig
from components.config.sections import ArchiveConfig
from components.protection import KeyPolicies
from components.vault import VaultStore, VaultStoreArgs
from contract.backups import DUMP_PREFIX


@dataclass(frozen=True)
class IrsaSubject:
    """A Kubernetes service account in a cluster whose OIDC provider IAM trusts."""

    oidc_provider_arn: str
    oidc_issuer_host: str
    namespace: str
    service_account: str


@dataclass(frozen=True)
class WalArchiveArgs:
    """The validated ``idp-dr:archive`` section, the two sites, and what the topology derives."""

    config: ArchiveConfig
    sites: Sites
    #: barman-cloud server name (``archive.serverName`` or ``idp-dr:name``).
    server_name: str
    #: Days WAL and base backups are kept (at least the PITR window).
    wal_retention_days: int
    object_lock: ObjectLockSettings | None = None
    #: The DR bucket's lock; ``object_lock`` when that is set (it then covers both buckets).
    dr_object_lock: ObjectLockSettings | None = None
    #: The archiving service account per site ("primary", "dr"): each gets its own writer role.
    writers: dict[str, IrsaSubject] = field(default_factory=dict)
    tag_base: dict[str, str] = field(default_factory=dict)
    #: The primary region's alarm topic, for the replication alarms (None: none).
    alarm_topic_arn: pulumi.Input[str] | None = None
    #: A vault account holding one more copy (components.vault), and its COMPLIANCE days.
    vault: VaultConfig | None = None
    vault_lock_days: int = 0
    #: Production's account and the keys' policies (components.protection): needed with a vault or a break-glass
    #: role (the DR key guarded; the vault denies production everything but replication).
    key_policies: KeyPolicies | None = None


def _service_account_subject(subject: IrsaSubject) -> str:
    return f"system:serviceaccount:{subject.namespace}:{subject.service_account}"


def irsa_trust_policy(subjects: list[IrsaSubject]) -> pulumi.Output[str]:
    """Trust policy letting exactly these service accounts assume a role (IRSA)."""
    return policy_json(
        [
            {
                "Effect": "Allow",
                "Principal": {"Federated": subject.oidc_provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{subject.oidc_issuer_host}:sub": _service_account_subject(subject),
                        f"{subject.oidc_issuer_host}:aud": "sts.amazonaws.com",
                    }
                },
            }
            for subject in subjects
        ]
    )


class WalArchive(pulumi.ComponentResource):
    primary_bucket_name: pulumi.Output[str]
    dr_bucket_name: pulumi.Output[str]
    primary_key_arn: pulumi.Output[str]
    dr_key_arn: pulumi.Output[str]
    writer_role_arn: pulumi.Output[str] | None
    dr_writer_role_arn: pulumi.Output[str] | None
    vault: VaultStore | None

    def __init__(self, name: str, args: WalArchiveArgs, opts_: pulumi.ResourceOptions | None = None):
        super().__init__("idp-dr:archive:WalArchive", name, None, opts_)
        primary_key = customer_managed_key(
            f"{name}-primary-key",
            parent=self,
            provider=args.sites.primary.provider,
            description=f"idp-dr {name}: WAL, base backups and dumps ({args.sites.primary.region})",
            alias=f"idp-dr/{name}/archive",
            tag_base=args.tag_base,
        )
        dr_key = customer_managed_key(
            f"{name}-dr-key",
            parent=self,
            provider=args.sites.dr.provider,
            description=f"idp-dr {name}: replicated WAL, base backups and dumps ({args.sites.dr.region})",
            alias=f"idp-dr/{name}/archive",
            tag_base=args.tag_base,
            **(args.key_policies.for_key("dr") if args.key_policies else {}),
        )
        self.vault = None
        if args.vault is not None and args.key_policies is not None:
            keys = args.key_policies
            self.vault = VaultStore(
                f"{name}-vault",
                VaultStoreArgs(args.vault, keys.production_account, keys.partition, args.vault_lock_days,
                               self._lifecycle_rules(args), args.tag_base),
                pulumi.ResourceOptions(parent=self),
            )  # fmt: skip
        buckets = ReplicatedBuckets(
            f"{name}-buckets",
            ReplicatedBucketsArgs(
                sites=args.sites,
                primary_key_arn=primary_key.arn,
                dr_key_arn=dr_key.arn,
                primary_bucket_name=args.config.bucket_name,
                dr_bucket_name=args.config.dr_bucket_name,
                lifecycle_rules=self._lifecycle_rules(args),
                object_lock=args.object_lock,
                dr_object_lock=args.object_lock or args.dr_object_lock,
                # What the bucket holds: the policy pack requires Object Lock on the archive's DR copy.
                tag_base={**args.tag_base, "idp-dr:data": "archive"},
                alarm_topic_arn=args.alarm_topic_arn,
                vault=self.vault.destination if self.vault else None,
                break_glass_role_arn=args.key_policies.break_glass_role_arn if args.key_policies else None,
            ),
            pulumi.ResourceOptions(parent=self),
        )
        if self.vault is not None:
            self.vault.admit_replication(f"{name}-vault", buckets.replication_role_arn)
        self.primary_bucket_name = buckets.primary_bucket_name
        self.dr_bucket_name = buckets.dr_bucket_name
        self.primary_key_arn = primary_key.arn
        self.dr_key_arn = dr_key.arn
        self.writer_role_arn = self.dr_writer_role_arn = None
        if "primary" in args.writers:
            self.writer_role_arn = self._primary_writer_role(name, args, buckets, primary_key).arn
        if "dr" in args.writers:
            self.dr_writer_role_arn = self._dr_writer_role(name, args, buckets, dr_key).arn
        self.register_outputs(
            {
                "primary_bucket_name": self.primary_bucket_name,
                "dr_bucket_name": self.dr_bucket_name,
                "primary_key_arn": self.primary_key_arn,
                "dr_key_arn": self.dr_key_arn,
                "writer_role_arn": self.writer_role_arn,
            }
        )

    @staticmethod
    def _lifecycle_rules(args: WalArchiveArgs) -> list[dict]:
        return [
            {
                # A safety net under barman-cloud-backup-delete's retention policy: never
                # shorter than the PITR window (validated in config).
                "id": "wal-and-base-backups",
                "status": "Enabled",
                "filter": {"prefix": f"{args.config.prefix}/"},
                "expiration": {"days": args.wal_retention_days},
            },
            {
                "id": "dumps-daily",
                "status": "Enabled",
                "filter": {"prefix": f"{DUMP_PREFIX}/daily/"},
                "expiration": {"days": args.config.dump_retention.daily_days},
            },
            {
                "id": "dumps-weekly",
                "status": "Enabled",
                "filter": {"prefix": f"{DUMP_PREFIX}/weekly/"},
                "expiration": {"days": args.config.dump_retention.weekly_days},
            },
            {
                "id": "dumps-monthly",
                "status": "Enabled",
                "filter": {"prefix": f"{DUMP_PREFIX}/monthly/"},
                "expiration": {"days": args.config.dump_retention.monthly_days},
            },
        ]

    def _writer(
        self, resource: str, args: WalArchiveArgs, site: Site, subject: IrsaSubject, statements: list[dict]
    ) -> aws.iam.Role:
        role = aws.iam.Role(
            f"{resource}-role",
            description=f"Writes the idp-dr archive in {site.region} ({site.name} site only, IRSA)",
            assume_role_policy=irsa_trust_policy([subject]),
            tags=tags(args.tag_base, **{"idp-dr:site": site.name}),
            opts=opts(self, site.provider),
        )
        aws.iam.RolePolicy(
            f"{resource}-policy", role=role.id, policy=policy_json(statements), opts=opts(self, site.provider)
        )
        return role

    def _primary_writer_role(
        self, name: str, args: WalArchiveArgs, buckets: ReplicatedBuckets, key: aws.kms.Key
    ) -> aws.iam.Role:
        """The primary cluster's archiver: its own bucket only (replication alone writes the DR copy)."""
        site, bucket = args.sites.primary, buckets.primary_bucket.arn
        prefixes = [f"{args.config.prefix}/*", f"{DUMP_PREFIX}/*"]
        return self._writer(
            f"{name}-writer",
            args,
            site,
            args.writers["primary"],
            [
                _list_statement(bucket, args.config.prefix),
                {
                    "Sid": "ReadWriteArchiveObjects",
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
                    "Resource": [pulumi.Output.concat(bucket, "/", prefix) for prefix in prefixes],
                },
                _key_statement(key.arn, site.region),
            ],
        )

    def _dr_writer_role(
        self, name: str, args: WalArchiveArgs, buckets: ReplicatedBuckets, key: aws.kms.Key
    ) -> aws.iam.Role:
        """The DR cluster's archiver (a restored or failed-over server archives under a new server name):
        it may add objects to the DR bucket but never delete, and never write the replicated copy."""
        site, bucket = args.sites.dr, buckets.dr_bucket.arn
        replicated = pulumi.Output.concat(bucket, f"/{args.config.prefix}/{args.server_name}/*")
        return self._writer(
            f"{name}-dr-writer",
            args,
            site,
            args.writers["dr"],
            [
                _list_statement(bucket, args.config.prefix),
                {
                    "Sid": "AddArchiveObjects",
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
                    "Resource": [pulumi.Output.concat(bucket, f"/{args.config.prefix}/*")],
                },
                {
                    "Sid": "NeverWriteTheReplicatedCopy",
                    "Effect": "Deny",
                    "Action": ["s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"],
                    "Resource": [replicated, pulumi.Output.concat(bucket, f"/{DUMP_PREFIX}/*")],
                },
                _key_statement(key.arn, site.region),
            ],
        )


def _list_statement(bucket_arn: pulumi.Input[str], prefix: str) -> dict:
    return {
        "Sid": "ListArchivePrefixes",
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": bucket_arn,
        "Condition": {"StringLike": {"s3:prefix": [f"{prefix}/*", f"{DUMP_PREFIX}/*", prefix, DUMP_PREFIX, ""]}},
    }


def _key_statement(key_arn: pulumi.Input[str], region: str) -> dict:
    """The site's archive key, used only through S3 in that region."""
    return {
        "Sid": "UseArchiveKey",
        "Effect": "Allow",
        "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"],
        "Resource": key_arn,
        "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
    }
