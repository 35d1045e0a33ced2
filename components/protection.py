"""Key and bucket policies for the guarded-keys posture (:mod:`components.config.protection`).

Without a vault account, the DR copies live in the production account, so whoever holds an administrator's
credentials could schedule the DR keys for deletion, disable them, rewrite their policies, or bypass the DR
bucket's GOVERNANCE lock. Here only the named break-glass role may:

* a DR key's policy keeps the account's administration through IAM (the default statement) and denies
  ``kms:ScheduleKeyDeletion``, ``kms:DisableKey`` and ``kms:PutKeyPolicy`` to every other principal, the account
  root included (a key policy's deny binds the root user);
* the DR bucket's policy denies ``s3:BypassGovernanceRetention``, ``s3:PutBucketObjectLockConfiguration`` and
  changes to the bucket policy itself to every other principal.

Accepted: the deny on ``PutKeyPolicy`` trips KMS's lockout safety check unless the check is bypassed, so the
DR keys are created with it bypassed (the break-glass role keeps the way back); changing these policies later
takes the break-glass role, not the deployer; the account root can still delete a bucket policy (S3 always lets
it), which only a vault account answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from components._common import partition_of, policy_json, root_of
from components.config import StackConfig
from components.vault import source_key_statement

KEY_DESTRUCTION = ["kms:ScheduleKeyDeletion", "kms:DisableKey", "kms:PutKeyPolicy"]
BUCKET_UNLOCKING = [
    "s3:BypassGovernanceRetention",
    "s3:PutBucketObjectLockConfiguration",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
]


def guarded_key_policy(account: str, break_glass_role_arn: str, partition: str = "aws") -> pulumi.Output[str]:
    """A DR key's policy: administered through IAM as by default, destroyed only by the break-glass role."""
    return policy_json(
        [
            {
                "Sid": "AccountAdministersThroughIam",
                "Effect": "Allow",
                "Principal": {"AWS": root_of(account, partition)},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "OnlyBreakGlassDestroys",
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": KEY_DESTRUCTION,
                "Resource": "*",
                "Condition": {"ArnNotEquals": {"aws:PrincipalArn": break_glass_role_arn}},
            },
        ]
    )


def guarded_bucket_statements(bucket_arn: pulumi.Input[str], break_glass_role_arn: str) -> list[dict[str, Any]]:
    """The DR bucket's: its lock bypassed or changed, or its policy changed, only by the break-glass role."""
    return [
        {
            "Sid": "OnlyBreakGlassUnlocks",
            "Effect": "Deny",
            "Principal": "*",
            "Action": BUCKET_UNLOCKING,
            "Resource": [bucket_arn, pulumi.Output.concat(bucket_arn, "/*")],
            "Condition": {"ArnNotEquals": {"aws:PrincipalArn": break_glass_role_arn}},
        }
    ]


@dataclass(frozen=True)
class KeyPolicies:
    """Production's account; the break-glass role (guarded DR key) or the vault account (shared primary key)."""

    production_account: str
    partition: str
    break_glass_role_arn: str | None = None
    vault_account: str | None = None

    @classmethod
    def of(cls, cfg: StackConfig) -> KeyPolicies:
        return cls(
            cfg.production_account,
            partition_of(cfg.primary_region),
            cfg.protection.break_glass_role_arn,
            cfg.vault.account_id if cfg.vault else None,
        )

    def for_key(self, site: str) -> dict[str, Any]:
        """``customer_managed_key``'s policy arguments for that site's key ({}: the default policy)."""
        if site == "dr" and self.break_glass_role_arn and not self.vault_account:
            policy = guarded_key_policy(self.production_account, self.break_glass_role_arn, self.partition)
            return {"policy": policy, "bypass_lockout_check": True}
        if site == "primary" and self.vault_account:
            return {"policy": policy_json([
                {"Sid": "AccountAdministersThroughIam", "Effect": "Allow",
                 "Principal": {"AWS": root_of(self.production_account, self.partition)}, "Action": "kms:*",
                 "Resource": "*"},
                source_key_statement(self.vault_account, self.partition),
            ])}  # fmt: skip
        return {}
