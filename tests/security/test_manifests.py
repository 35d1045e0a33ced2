"""Every Kubernetes object of the example stack and its variants is valid for every Kubernetes
version we support: built-in kinds against the Kubernetes OpenAPI schema (kubernetes-validate,
strict: an unknown field is an error, as ``kubectl apply --validate=strict`` makes it), External
Secrets' kinds against their CRD schemas (vendored in tests/schemas/external-secrets, see SOURCE.md),
with unknown fields refused the same way."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

from tests.security.render import VARIANTS, manifests

#: The Kubernetes minor versions idp-dr supports (EKS standard and extended support, late 2026).
KUBERNETES_VERSIONS = ("1.31.0", "1.32.0", "1.33.0", "1.34.0", "1.35.0")
CRD_SCHEMAS = Path(__file__).resolve().parent.parent / "schemas" / "external-secrets"


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    """The CRD schema with unknown fields refused wherever Kubernetes would prune them."""
    schema = dict(schema)
    if "properties" in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
        schema.setdefault("additionalProperties", False)
        schema["properties"] = {k: _strict(v) for k, v in schema["properties"].items()}
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            schema[key] = _strict(schema[key])
    for key in ("allOf", "anyOf", "oneOf"):
        if key in schema:
            schema[key] = [_strict(s) for s in schema[key]]
    return schema


def _crd_validator(kind: str) -> jsonschema.Draft7Validator:
    schema = json.loads((CRD_SCHEMAS / f"{kind}-v1.json").read_text())
    # apiVersion, kind and metadata are the API server's own; the schema describes spec/status.
    schema["properties"]["metadata"] = {"type": "object"}
    return jsonschema.Draft7Validator(_strict(schema))


def _problems(manifest: dict[str, Any], version: str) -> list[str]:
    if manifest["apiVersion"].startswith("external-secrets.io/"):
        validator = _crd_validator(manifest["kind"])
        return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(manifest)]
    try:
        kubernetes_validate.validate(manifest, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{'.'.join(map(str, exc.path))}: {exc.message}"]
    return []


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_is_valid_for_the_kubernetes_version(variant, version):
    checked, problems = 0, []
    for cluster, name, manifest in manifests(variant):
        checked += 1
        problems += [f"{cluster} {name}: {p}" for p in _problems(manifest, version)]
    assert checked >= 20, f"only {checked} manifests rendered"
    assert problems == []


def test_an_unknown_field_is_caught():
    bad = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "x"},
        "spec": {"ports": [{"port": 80}], "bogus": 1},
    }
    assert _problems(bad, KUBERNETES_VERSIONS[-1])
    external = {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": "x"},
        "spec": {"secretStoreRef": {"name": "s", "kind": "SecretStore"}, "refreshIntervall": "1h"},
    }
    assert any("refreshIntervall" in p for p in _problems(external, KUBERNETES_VERSIONS[-1]))
