"""Who can destroy the last copy: the ``idp-dr:vault`` and ``idp-dr:protection`` sections.

Two postures keep one copy out of reach of whoever holds production's credentials (a leaked CI token,
ransomware with an administrator's session, a bad script):

* **vault**: a second AWS account holds one more copy: the archive replicated into a bucket it owns, under
  Object Lock in COMPLIANCE mode (no one, that account's root included, shortens it), encrypted with its key,
  and the database's backups copied by AWS Backup into a vault under Vault Lock (compliance mode).
* **guarded keys**: one account, but the DR keys refuse ``ScheduleKeyDeletion``, ``DisableKey`` and
  ``PutKeyPolicy`` and the DR bucket refuses ``BypassGovernanceRetention`` and policy changes to everyone but a
  named break-glass role.

A stack with neither is posture ``none``: ``plan`` says so, and the policy pack warns on a production stack.
"""

from __future__ import annotations

from pydantic import Field

from components.config.rules import BucketName, Region, int_range, matching
from components.config.sections import Section

AccountId = matching(r"\d{12}", "a 12-digit AWS account ID")
RoleArn = matching(
    r"arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}",
    "an IAM role ARN, e.g. arn:aws:iam::210987654321:role/idp-dr-vault-deployer",
)
_AWS_CRON = matching(r"cron\([0-9A-Za-z*?,/ #L-]{9,100}\)", "an AWS cron expression, e.g. 'cron(0 5 * * ? *)'")


def account_of_arn(arn: str) -> str:
    """The account ID an ARN names (its fifth field)."""
    return arn.split(":")[4]


class VaultConfig(Section):
    """An AWS account apart from production holding one more copy that production cannot delete (optional)."""

    account_id: AccountId = Field(description="The vault account: not production's, ideally in its own OU.")  # type: ignore[valid-type]
    region: Region = Field(description="The vault's region (any: the vault is about accounts, not regions).")
    role_arn: RoleArn = Field(  # type: ignore[valid-type]
        description="The role in the vault account that pulumi assumes to build the vault (its own trust policy: "
        "production's roles must not be able to assume it)."
    )
    bucket_name: BucketName | None = Field(
        None, description="The vault bucket's name (default: S3 names it from '<name>-vault-')."
    )
    lock_days: int_range(1, 3650, unit="days") | None = Field(  # type: ignore[valid-type]
        None,
        description="COMPLIANCE retention of every object in the vault bucket (default: the longer of the WAL "
        "retention and the daily dumps' days); objects expire after their tier's days, never before this.",
    )
    backup_schedule: _AWS_CRON = Field(  # type: ignore[valid-type]
        "cron(0 5 * * ? *)", description="When AWS Backup snapshots the database and copies it to the vault (UTC)."
    )
    backup_retention_days: int_range(7, 3650, unit="days") = Field(  # type: ignore[valid-type]
        35, description="Days each database snapshot is kept in the vault (Vault Lock's minimum)."
    )


class ProtectionConfig(Section):
    """Who may destroy the DR copies when there is no vault account."""

    break_glass_role_arn: RoleArn | None = Field(  # type: ignore[valid-type]
        None,
        description="The only role that may schedule a DR key's deletion, disable it or change its policy, and "
        "bypass or change the DR bucket's retention or policy (keep its use alarmed and two-person).",
    )


def posture(vault: VaultConfig | None, protection: ProtectionConfig) -> str:
    """``vault``, ``guarded-keys`` or ``none``: what survives production's credentials being stolen."""
    if vault is not None:
        return "vault"
    return "guarded-keys" if protection.break_glass_role_arn else "none"
