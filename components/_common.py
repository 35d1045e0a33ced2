"""Small helpers shared by the components (not a component themselves)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.config import known_regions

TOOL_TAG = "idp-dr"


@dataclass(frozen=True)
class Site:
    """One site's AWS side: its explicit provider and its region code."""

    name: str  # primary | dr
    provider: pulumi.ProviderResource
    region: str


@dataclass(frozen=True)
class Sites:
    """The two sites every cross-region component spans."""

    primary: Site
    dr: Site


def opts(parent: pulumi.Resource, provider: pulumi.ProviderResource | None = None, **kwargs: Any):
    """Child options: always parented to the component; the provider is explicit.

    Passing ``provider=`` on every child (instead of relying on the component's
    ``providers`` map) makes the region of each resource visible in code and in
    tests; Python silently ignores ``providers`` on custom resources.
    """
    return pulumi.ResourceOptions(parent=parent, provider=provider, **kwargs)


def tags(base: dict[str, str], **extra: str) -> dict[str, str]:
    merged = {"managed-by": TOOL_TAG}
    merged.update(base)
    merged.update(extra)
    return merged


def partition_of(region: str) -> str:
    return known_regions()[region]


def account_of(arn: pulumi.Input[str]) -> pulumi.Output[str]:
    """The AWS account ID inside an ARN (``arn:<partition>:<service>:<region>:<account>:...``): a
    program that must make no data-source calls learns its account from a resource it created."""
    return pulumi.Output.from_input(arn).apply(lambda value: value.split(":", 5)[4])


def root_of(account: str, partition: str = "aws") -> str:
    """An account as a policy principal (every principal of that account)."""
    return f"arn:{partition}:iam::{account}:root"


def encryption_statements(objects_arn: pulumi.Input[str], key_arn: pulumi.Input[str]) -> list[dict[str, Any]]:
    """A bucket policy's denials of uploads that ask for another encryption or another key than the bucket's."""
    return [
        {
            # Only a WRONG header is denied. A request without the header gets the bucket's
            # default encryption (SSE-KMS with this region's key). Denying a missing header
            # would deny every UploadPart (authorised as s3:PutObject, never carrying the
            # header), i.e. every multipart upload: barman-cloud base backups, large dumps.
            # Null false is needed: StringNotEquals is true when the key is absent.
            "Sid": "DenyUploadsRequestingOtherEncryption",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": objects_arn,
            "Condition": {
                "StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"},
                "Null": {"s3:x-amz-server-side-encryption": "false"},
            },
        },
        {
            # A writer naming another key (a known ransomware pattern: encrypt with a key the
            # owner cannot use) is refused; no key header gets the bucket's own, as above.
            "Sid": "DenyUploadsWithAForeignKey",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": objects_arn,
            "Condition": {
                "StringNotEquals": {"s3:x-amz-server-side-encryption-aws-kms-key-id": key_arn},
                "Null": {"s3:x-amz-server-side-encryption-aws-kms-key-id": "false"},
            },
        },
    ]


def policy_json(statements: pulumi.Input[list[dict[str, Any]]]) -> pulumi.Output[str]:
    """An IAM policy document; statements may contain Outputs (ARNs)."""
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": statements})


def customer_managed_key(
    name: str,
    *,
    parent: pulumi.Resource,
    provider: pulumi.ProviderResource,
    description: str,
    alias: str,
    tag_base: dict[str, str],
    policy: pulumi.Input[str] | None = None,
    bypass_lockout_check: bool = False,
) -> aws.kms.Key:
    """A symmetric CMK with yearly rotation and a 30-day deletion window.

    By default the default key policy (account root) is kept: access is granted by IAM policies scoped to the
    roles that need it, and a custom key policy is the classic way to lock everyone out of a DR key. A
    ``policy`` is given only by :mod:`components.protection` (a DR key only a break-glass role may destroy:
    it denies ``PutKeyPolicy`` to the deployer, which KMS's lockout safety check refuses unless
    ``bypass_lockout_check``; the break-glass role keeps the way back) and :mod:`components.vault`.
    """
    key = aws.kms.Key(
        name,
        description=description,
        enable_key_rotation=True,
        deletion_window_in_days=30,
        policy=policy,
        bypass_policy_lockout_safety_check=bypass_lockout_check,
        tags=tags(tag_base),
        opts=opts(parent, provider, protect=True),
    )
    aws.kms.Alias(f"{name}-alias", name=f"alias/{alias}", target_key_id=key.key_id, opts=opts(parent, provider))
    return key
