"""ReplicatedBuckets: a hardened bucket in each region, replicated primary -> DR.

Used for the WAL/backup archive and for authentik's media files. Each bucket:

* versioned, SSE-KMS with a bucket key (its region's CMK), all four public-access
  blocks, objects owned by the bucket owner (ACLs off), ``force_destroy`` off and
  Pulumi ``protect=True``;
* a bucket policy denying plain-HTTP access and uploads that request an
  encryption other than SSE-KMS; uploads without the header (including every
  UploadPart of a multipart upload) get the default SSE-KMS encryption;
* lifecycle rules given by the caller, plus aborting incomplete multipart
  uploads and expiring noncurrent versions;
* optional Object Lock (default retention), which S3 allows only on new buckets.

Replication: every object to the DR bucket with Replication Time Control
(15 minutes, the only threshold S3 offers) and its metrics, re-encrypted with
the DR key, through a role that can read only the source and write only the
destination. Delete markers are deliberately *not* replicated, so a deletion
(or ransomware) in the primary region never empties the DR copy.

With a vault account (:mod:`components.vault`), a second rule replicates every object into the vault's
bucket too, handing the replicas to the vault account (ownership override) under its key. With a
break-glass role and no vault (:mod:`components.protection`), the DR bucket's policy lets only that role
bypass or change its lock or its policy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components._common import Sites, account_of, encryption_statements, opts, policy_json, tags
from components.protection import guarded_bucket_statements
from components.vault import VaultDestination

NONCURRENT_VERSION_DAYS = 30
ABORT_MULTIPART_DAYS = 7
RTC_MINUTES = 15


@dataclass(frozen=True)
class ObjectLockSettings:
    mode: str
    days: int


#: The replication rule every stack has: every object to the DR bucket (its ID names it in the RTC metrics).
REPLICATION_RULE = "all-objects-to-dr"
#: With a vault account: every object to the vault's bucket as well.
VAULT_RULE = "all-objects-to-vault"


@dataclass(frozen=True)
class ReplicatedBucketsArgs:
    sites: Sites
    primary_key_arn: pulumi.Input[str]
    dr_key_arn: pulumi.Input[str]
    #: Explicit names, or None to let S3 name them from ``<name>-primary-`` / ``<name>-dr-``.
    primary_bucket_name: str | None
    dr_bucket_name: str | None
    #: Caller-specific lifecycle rules (BucketLifecycleConfigurationRule dicts).
    lifecycle_rules: list[dict[str, Any]] = field(default_factory=list)
    object_lock: ObjectLockSettings | None = None
    #: The DR bucket's lock (the primary's is ``object_lock``).
    dr_object_lock: ObjectLockSettings | None = None
    tag_base: dict[str, str] = field(default_factory=dict)
    #: The primary region's alarm topic: S3 reports replication metrics in the source bucket's region.
    #: None: no replication alarms (a caller without notifications).
    alarm_topic_arn: pulumi.Input[str] | None = None
    #: A vault account's bucket: a second destination for every object (None: no vault).
    vault: VaultDestination | None = None
    #: The break-glass role: the only one that may bypass or change the DR bucket's lock or policy.
    break_glass_role_arn: str | None = None


class ReplicatedBuckets(pulumi.ComponentResource):
    primary_bucket: aws.s3.Bucket
    dr_bucket: aws.s3.Bucket
    primary_bucket_name: pulumi.Output[str]
    dr_bucket_name: pulumi.Output[str]
    replication_role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: ReplicatedBucketsArgs, opts_: pulumi.ResourceOptions | None = None):
        super().__init__("idp-dr:buckets:ReplicatedBuckets", name, None, opts_)
        self._args = args
        primary = self._bucket(
            f"{name}-primary", args.sites.primary.provider, args.primary_bucket_name, args.primary_key_arn, "primary"
        )
        dr = self._bucket(f"{name}-dr", args.sites.dr.provider, args.dr_bucket_name, args.dr_key_arn, "dr")
        self.primary_bucket, primary_versioning = primary
        self.dr_bucket, dr_versioning = dr

        role = self._replication_role(name)
        aws.s3.BucketReplicationConfig(
            f"{name}-replication",
            bucket=self.primary_bucket.id,
            role=role.arn,
            rules=[
                {
                    "id": REPLICATION_RULE,
                    "status": "Enabled",
                    "priority": 1,
                    "filter": {"prefix": ""},
                    # Not replicating delete markers keeps the DR copy when the primary is wiped.
                    "delete_marker_replication": {"status": "Disabled"},
                    "source_selection_criteria": {"sse_kms_encrypted_objects": {"status": "Enabled"}},
                    "destination": {
                        "bucket": self.dr_bucket.arn,
                        "storage_class": "STANDARD",
                        "encryption_configuration": {"replica_kms_key_id": args.dr_key_arn},
                        "replication_time": {"status": "Enabled", "time": {"minutes": RTC_MINUTES}},
                        "metrics": {"status": "Enabled", "event_threshold": {"minutes": RTC_MINUTES}},
                    },
                },
                *self._vault_rules(),
            ],
            # S3 refuses replication until versioning is on at both ends.
            opts=opts(self, args.sites.primary.provider, depends_on=[primary_versioning, dr_versioning]),
        )
        if args.alarm_topic_arn is not None:
            self._replication_alarms(name, args.alarm_topic_arn)
        self.primary_bucket_name = self.primary_bucket.bucket
        self.dr_bucket_name = self.dr_bucket.bucket
        self.replication_role_arn = role.arn
        self.register_outputs(
            {
                "primary_bucket_name": self.primary_bucket_name,
                "dr_bucket_name": self.dr_bucket_name,
                "replication_role_arn": self.replication_role_arn,
            }
        )

    # ------------------------------------------------------------------ pieces
    def _vault_rules(self) -> list[dict[str, Any]]:
        vault = self._args.vault
        if vault is None:
            return []
        return [
            {
                "id": VAULT_RULE,
                "status": "Enabled",
                "priority": 2,
                "filter": {"prefix": ""},
                "delete_marker_replication": {"status": "Disabled"},
                "source_selection_criteria": {"sse_kms_encrypted_objects": {"status": "Enabled"}},
                "destination": {
                    "bucket": vault.bucket_arn,
                    "account": vault.account_id,
                    # The replicas belong to the vault account: production cannot touch them afterwards.
                    "access_control_translation": {"owner": "Destination"},
                    "storage_class": "STANDARD",
                    "encryption_configuration": {"replica_kms_key_id": vault.key_arn},
                },
            }
        ]

    def _replication_alarms(self, name: str, topic_arn: pulumi.Input[str]) -> None:
        """The DR copy falling behind (latency above the RTC threshold) or objects failing to replicate.

        Both are RTC metrics (on above), per source bucket, destination bucket and rule. No replication
        traffic means no data points: not an alarm (an idle archive is not a broken one).
        """
        args = self._args
        dimensions = pulumi.Output.all(self.primary_bucket.bucket, self.dr_bucket.bucket).apply(
            lambda names: {"SourceBucket": names[0], "DestinationBucket": names[1], "RuleId": REPLICATION_RULE}
        )
        for suffix, metric, statistic, threshold, why in (
            (
                "replication-latency",
                "ReplicationLatency",
                "Maximum",
                RTC_MINUTES * 60,
                f"objects reach the DR bucket later than the {RTC_MINUTES}-minute RTC threshold",
            ),
            (
                "replication-failed",
                "OperationsFailedReplication",
                "Sum",
                0,
                "objects failed to replicate to the DR bucket (a key, a policy or Object Lock refuses them)",
            ),
        ):
            aws.cloudwatch.MetricAlarm(
                f"{name}-{suffix}",
                alarm_description=f"idp-dr {name}: {why}; the DR copy is incomplete",
                namespace="AWS/S3",
                metric_name=metric,
                dimensions=dimensions,
                statistic=statistic,
                period=300,
                evaluation_periods=1,
                threshold=threshold,
                comparison_operator="GreaterThanThreshold",
                treat_missing_data="notBreaching",
                alarm_actions=[topic_arn],
                ok_actions=[topic_arn],
                tags=tags(args.tag_base),
                opts=opts(self, args.sites.primary.provider),
            )

    def _bucket(
        self,
        name: str,
        provider: pulumi.ProviderResource,
        bucket_name: str | None,
        key_arn: pulumi.Input[str],
        site: str,
    ) -> tuple[aws.s3.Bucket, aws.s3.BucketVersioning]:
        args = self._args
        lock = args.object_lock if site == "primary" else args.dr_object_lock
        bucket = aws.s3.Bucket(
            name,
            bucket=bucket_name,
            bucket_prefix=None if bucket_name else f"{name}-",
            force_destroy=False,
            object_lock_enabled=bool(lock),
            tags=tags(args.tag_base, **{"idp-dr:site": site}),
            opts=opts(self, provider, protect=True),
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket.id,
            rule={"object_ownership": "BucketOwnerEnforced"},
            opts=opts(self, provider),
        )
        access_block = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=opts(self, provider),
        )
        versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=bucket.id,
            versioning_configuration={"status": "Enabled"},
            opts=opts(self, provider),
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket.id,
            rules=[
                {
                    "apply_server_side_encryption_by_default": {
                        "sse_algorithm": "aws:kms",
                        "kms_master_key_id": key_arn,
                    },
                    "bucket_key_enabled": True,
                }
            ],
            opts=opts(self, provider),
        )
        guard = args.break_glass_role_arn if site == "dr" else None
        aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=bucket.id,
            policy=self._deny_insecure_policy(bucket.arn, key_arn, guard),
            # A policy PUT racing the public-access block is rejected by S3.
            opts=opts(self, provider, depends_on=[access_block]),
        )
        rules = [
            *args.lifecycle_rules,
            {
                "id": "abort-incomplete-multipart-uploads",
                "status": "Enabled",
                "filter": {"prefix": ""},
                "abort_incomplete_multipart_upload": {"days_after_initiation": ABORT_MULTIPART_DAYS},
            },
            {
                "id": "expire-noncurrent-versions",
                "status": "Enabled",
                "filter": {"prefix": ""},
                "noncurrent_version_expiration": {"noncurrent_days": NONCURRENT_VERSION_DAYS},
            },
        ]
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket.id,
            rules=rules,
            opts=opts(self, provider, depends_on=[versioning]),
        )
        if lock:
            aws.s3.BucketObjectLockConfiguration(
                f"{name}-object-lock",
                bucket=bucket.id,
                rule={"default_retention": {"mode": lock.mode, "days": lock.days}},
                opts=opts(self, provider, depends_on=[versioning]),
            )
        return bucket, versioning

    @staticmethod
    def _deny_insecure_policy(
        bucket_arn: pulumi.Output[str], key_arn: pulumi.Input[str], break_glass_role_arn: str | None = None
    ) -> pulumi.Output[str]:
        objects = pulumi.Output.concat(bucket_arn, "/*")
        guarded = guarded_bucket_statements(bucket_arn, break_glass_role_arn) if break_glass_role_arn else []
        return policy_json(
            [
                *guarded,
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [bucket_arn, objects],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
                *encryption_statements(objects, key_arn),
            ]
        )

    def _replication_role(self, name: str) -> aws.iam.Role:
        args = self._args
        role = aws.iam.Role(
            f"{name}-replication-role",
            description="S3 cross-region replication of the idp-dr buckets (source read, destination write)",
            assume_role_policy=policy_json(
                [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "s3.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                        # Only S3 replicating this source bucket, in this account, may assume it
                        # (confused deputy). The account comes from the key's ARN: no data-source call.
                        "Condition": {
                            "ArnLike": {"aws:SourceArn": self.primary_bucket.arn},
                            "StringEquals": {"aws:SourceAccount": account_of(args.primary_key_arn)},
                        },
                    }
                ]
            ),
            tags=tags(args.tag_base),
            opts=opts(self, args.sites.primary.provider),
        )
        aws.iam.RolePolicy(
            f"{name}-replication-policy",
            role=role.id,
            policy=policy_json(self._replication_statements()),
            opts=opts(self, args.sites.primary.provider),
        )
        return role

    def _replication_statements(self) -> list[dict[str, Any]]:
        args = self._args
        src, dst = self.primary_bucket.arn, self.dr_bucket.arn
        read_source = [
            "s3:GetObjectVersionForReplication",
            "s3:GetObjectVersionAcl",
            "s3:GetObjectVersionTagging",
        ]
        if args.object_lock or args.dr_object_lock:
            # S3 reads the source's retention and legal hold to replicate them to the locked bucket.
            read_source += ["s3:GetObjectRetention", "s3:GetObjectLegalHold"]
        return [
            {
                "Sid": "ReadSourceConfiguration",
                "Effect": "Allow",
                "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"],
                "Resource": src,
            },
            {
                "Sid": "ReadSourceObjects",
                "Effect": "Allow",
                "Action": read_source,
                "Resource": pulumi.Output.concat(src, "/*"),
            },
            {
                "Sid": "WriteDestinationObjects",
                "Effect": "Allow",
                # No s3:ReplicateDelete: delete markers are not replicated (a deletion in the
                # primary bucket must never reach the DR copy).
                "Action": ["s3:ReplicateObject", "s3:ReplicateTags"],
                "Resource": pulumi.Output.concat(dst, "/*"),
            },
            {
                "Sid": "DecryptSource",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": args.primary_key_arn,
                "Condition": {
                    "StringLike": {
                        "kms:ViaService": f"s3.{args.sites.primary.region}.amazonaws.com",
                    }
                },
            },
            {
                "Sid": "EncryptDestination",
                "Effect": "Allow",
                "Action": ["kms:Encrypt", "kms:GenerateDataKey"],
                "Resource": args.dr_key_arn,
                "Condition": {"StringLike": {"kms:ViaService": f"s3.{args.sites.dr.region}.amazonaws.com"}},
            },
            *self._vault_statements(),
        ]

    def _vault_statements(self) -> list[dict[str, Any]]:
        vault = self._args.vault
        if vault is None:
            return []
        return [
            {
                "Sid": "WriteVaultObjects",
                "Effect": "Allow",
                "Action": ["s3:ReplicateObject", "s3:ReplicateTags", "s3:ObjectOwnerOverrideToBucketOwner"],
                "Resource": pulumi.Output.concat(vault.bucket_arn, "/*"),
            },
            {
                "Sid": "EncryptVault",
                "Effect": "Allow",
                "Action": ["kms:Encrypt", "kms:GenerateDataKey"],
                "Resource": vault.key_arn,
                "Condition": {"StringLike": {"kms:ViaService": f"s3.{vault.region}.amazonaws.com"}},
            },
        ]
