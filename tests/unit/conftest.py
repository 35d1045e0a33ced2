"""The Pulumi program under mocks: one recorded run shared by the invariant tests.

``scripts.offline.Recorder`` records every resource (type, name, inputs,
provider and its region, parent, protect, ignore_changes) and fills computed
fields (ARNs in the right region, endpoints, secret ARNs, ingress hostnames).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pulumi.runtime import rpc

from scripts.offline import OfflineRun, Recorded, run_program

#: Distinctive secret values: tests assert they never appear outside secret inputs.
APP_PASSWORD = "unit-test-app-password-7f3a"
AUTHENTIK_KEY = "unit-test-authentik-secret-key-91c2"
SECRET_KEYS = {"idp-dr:dbAppPassword", "idp-dr:authentikSecretKey", "idp-dr:masterPassword", "idp-dr:adminPassword"}

BASE: dict[str, Any] = {
    "idp-dr:name": "sso",
    "idp-dr:primaryRegion": "eu-west-1",
    "idp-dr:drRegion": "eu-central-1",
    "idp-dr:idp": {
        "kind": "keycloak",
        "image": "quay.io/keycloak/keycloak:26.4.5",
        "publicHostname": "sso.example.com",
        "realm": "company",
    },
    "idp-dr:network": {
        "primary": {
            "vpcId": "vpc-0a1b2c3d4e5f60718",
            "dbSubnetIds": ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"],
            "appCidrs": ["10.10.0.0/16"],
        },
        "dr": {
            "vpcId": "vpc-0f1e2d3c4b5a69788",
            "dbSubnetIds": ["subnet-0f1e2d3c4b5a60001", "subnet-0f1e2d3c4b5a60002"],
            "appCidrs": ["10.20.0.0/16"],
        },
    },
    "idp-dr:kubernetes": {
        "primary": {
            "context": "primary-cluster",
            "oidcProviderArn": "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/AAA",
        },
        "dr": {
            "context": "dr-cluster",
            "oidcProviderArn": "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-central-1.amazonaws.com/id/BBB",
        },
    },
    "idp-dr:dns": {"zoneId": "Z0123456789ABCDEFGHIJ"},
    "idp-dr:dbAppPassword": APP_PASSWORD,
}

AUTHENTIK: dict[str, Any] = {
    "idp-dr:idp": {
        "kind": "authentik",
        "image": "ghcr.io/goauthentik/server:2025.10.2",
        "publicHostname": "sso.example.com",
        "applicationSlug": "portal",
    },
    "idp-dr:authentikSecretKey": AUTHENTIK_KEY,
}


def config_with(changes: dict[str, Any] | None = None, *, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """BASE with ``changes`` deep-merged in; a value of None removes the key."""
    merged = copy.deepcopy(base if base is not None else BASE)
    for key, value in (changes or {}).items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _deep_merge(left: dict, right: dict) -> dict:
    out = dict(left)
    for key, value in right.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def run_stack(changes: dict[str, Any] | None = None, *, base: dict[str, Any] | None = None) -> OfflineRun:
    return run_program(config_with(changes, base=base), SECRET_KEYS)


@pytest.fixture(scope="session")
def default_run() -> OfflineRun:
    """The minimal Keycloak stack: pilot light, no DR replica, external-secrets."""
    return run_stack()


@pytest.fixture(scope="session")
def warm_run() -> OfflineRun:
    """Warm standby (2 DR replicas) with a DR read replica."""
    return run_stack({"idp-dr:standby": {"drReplicas": 2}, "idp-dr:database": {"drReadReplica": True}})


@pytest.fixture(scope="session")
def authentik_run() -> OfflineRun:
    return run_stack({**AUTHENTIK, "idp-dr:standby": {"outpost": {"enabled": True}}})


def provider_region(run: OfflineRun, record: Recorded) -> str | None:
    return record.region


def deployments(run: OfflineRun, name: str) -> list[Recorded]:
    return [r for r in run.recorder.of_type("kubernetes:apps/v1:Deployment") if r.inputs["metadata"]["name"] == name]


def container(deployment: Recorded) -> dict[str, Any]:
    return deployment.inputs["spec"]["template"]["spec"]["containers"][0]


def env_of(deployment: Recorded) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(deployment)["env"]}


def is_secret(value: Any) -> bool:
    """True for an input the engine received as a Pulumi secret."""
    return isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig


def unwrap(value: Any) -> Any:
    return value["value"] if is_secret(value) else value


def plaintext_occurrences(run: OfflineRun, needle: str) -> list[str]:
    """Names of resources whose inputs contain ``needle`` outside a secret."""
    found = []

    def walk(value: Any, where: str) -> None:
        if is_secret(value):
            return
        if isinstance(value, dict):
            for _key, item in value.items():
                walk(item, where)
        elif isinstance(value, list):
            for item in value:
                walk(item, where)
        elif isinstance(value, str) and needle in value:
            found.append(where)

    for record in run.recorder.all():
        walk(record.inputs, record.name)
    return found
