"""The example stack and the variants the security review rendered, as manifests and policy documents.

Each variant is ``Pulumi.prod.yaml`` with a few settings changed, run under mocks as ``plan`` runs
it. The scanners read what comes out: every Kubernetes object as the API server would receive it,
and every IAM, S3 and KMS policy document with the resource it belongs to.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from scripts.offline import REPO_ROOT, OfflineRun, load_stack_file, run_program
from scripts.plan.posture import unwrap_secrets
from scripts.plan.summaries import plain

AUTHENTIK_IDP = {
    "kind": "authentik",
    "image": "ghcr.io/goauthentik/server:2025.10.2",
    "publicHostname": "sso.example.com",
    "applicationSlug": "portal",
}
#: name -> settings changed from Pulumi.prod.yaml (merged one level deep, per section).
VARIANTS: dict[str, dict[str, Any]] = {
    "example": {},
    "authentik-outpost": {
        "idp": AUTHENTIK_IDP,
        "standby": {"outpost": {"enabled": True}},
        "authentikSecretKey": "scan-authentik-secret-key-0123456789",
    },
    "authentik-redis": {
        "idp": {**AUTHENTIK_IDP, "image": "ghcr.io/goauthentik/server:2025.8.4"},
        "authentikSecretKey": "scan-authentik-secret-key-0123456789",
    },
    "warm-pulumi-secrets": {"standby": {"drReplicas": 2, "secretsMode": "pulumi"}, "database": {"drReadReplica": True}},
    "object-lock-compliance": {"archive": {"objectLock": {"enabled": True, "mode": "COMPLIANCE", "days": 14}}},
}


@dataclass(frozen=True)
class Document:
    """One policy document and where it lives."""

    variant: str
    resource: str
    type: str
    kind: str  # identity | trust | bucket | key
    policy: dict[str, Any]


@functools.cache
def render(variant: str) -> OfflineRun:
    config, secret_keys = load_stack_file(REPO_ROOT / "Pulumi.prod.yaml")
    for key, value in VARIANTS[variant].items():
        full = f"idp-dr:{key}"
        if isinstance(value, dict) and isinstance(config.get(full), dict):
            config[full] = {**config[full], **value}
        else:
            config[full] = value
        if key.endswith("SecretKey") or key.endswith("Password"):
            secret_keys.add(full)
    return run_program(config, secret_keys)


def manifests(variant: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(cluster, resource name, manifest) of every Kubernetes object."""
    for record in render(variant).recorder.all():
        if record.custom and record.typ.startswith("kubernetes:") and not record.is_provider:
            yield record.provider_name, record.name, plain(unwrap_secrets(record.inputs))


_POLICY_PROPS = {
    "aws:iam/rolePolicy:RolePolicy": ("policy", "identity"),
    "aws:iam/policy:Policy": ("policy", "identity"),
    "aws:iam/role:Role": ("assumeRolePolicy", "trust"),
    "aws:s3/bucketPolicy:BucketPolicy": ("policy", "bucket"),
    "aws:kms/keyPolicy:KeyPolicy": ("policy", "key"),
    "aws:kms/key:Key": ("policy", "key"),
    "aws:sns/topicPolicy:TopicPolicy": ("policy", "topic"),
}


def documents(variant: str) -> Iterator[Document]:
    for record in render(variant).recorder.all():
        if record.typ in _POLICY_PROPS:
            prop, kind = _POLICY_PROPS[record.typ]
            value = unwrap_secrets(record.inputs.get(prop))
            if value:
                yield Document(variant, record.name, record.typ, kind, json.loads(value))


def _logical_id(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace("_", "-").split("-") if part)


def cloudformation(variant: str) -> dict[str, Any]:
    """Every policy document as the CloudFormation resource that would carry it, so checkov's IAM,
    S3 and KMS policy checks read them (the stack is Pulumi's; only the documents matter here)."""
    resources: dict[str, Any] = {}
    keys = {r.name: r for r in render(variant).recorder.all() if r.typ == "aws:kms/key:Key"}
    for doc in documents(variant):
        logical = _logical_id(doc.resource)
        if doc.kind == "identity":
            resources[logical] = {
                "Type": "AWS::IAM::Policy",
                "Properties": {"PolicyName": doc.resource, "PolicyDocument": doc.policy, "Roles": ["role"]},
            }
        elif doc.kind == "trust":
            resources[logical] = {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": doc.policy}}
        elif doc.kind == "bucket":
            resources[logical] = {
                "Type": "AWS::S3::BucketPolicy",
                "Properties": {"Bucket": doc.resource, "PolicyDocument": doc.policy},
            }
        elif doc.kind == "key":
            key = keys.get(doc.resource.removesuffix("-policy"))
            rotation = bool(key and key.inputs.get("enableKeyRotation"))
            resources[logical] = {
                "Type": "AWS::KMS::Key",
                "Properties": {"KeyPolicy": doc.policy, "EnableKeyRotation": rotation},
            }
    return {"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources}
