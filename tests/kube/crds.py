"""Stand-in CustomResourceDefinitions for the kinds the program declares that a bare API server does not know:
External Secrets Operator's ``ExternalSecret`` and ``SecretStore`` (``external-secrets.io/v1``).

Written here, not copied from ESO: the group, version, kinds, plural names and scope are ESO's; the schema
accepts any object (``x-kubernetes-preserve-unknown-fields``), so the API server stores what the program
sends without checking ESO's field schema. What they prove: the objects are accepted under those names,
namespaced, and RBAC and the runbook's ``kubectl annotate`` act on them. What they do not: ESO's validation,
and the sync (no controller runs; the tests that need a sync use the fake cluster)."""

from __future__ import annotations


def _crd(kind: str, plural: str, short: str) -> dict:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.external-secrets.io"},
        "spec": {
            "group": "external-secrets.io",
            "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "shortNames": [short]},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                }
            ],
        },
    }


EXTERNAL_SECRETS_CRDS = (
    _crd("ExternalSecret", "externalsecrets", "es"),
    _crd("SecretStore", "secretstores", "ss"),
)
