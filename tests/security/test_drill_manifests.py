"""What ``drill --aws`` applies, built from the program's own standby Deployment, is valid Kubernetes (strict)."""

from __future__ import annotations

import base64

import pytest

from contract.drills import drill_namespace
from scripts.drill.aws import site
from tests.security.render import VARIANTS, manifests
from tests.security.test_manifests import KUBERNETES_VERSIONS, _problems

SERVERS = {"keycloak", "authentik-server"}


def _dr_objects(variant: str) -> dict[tuple[str, str], dict]:
    return {
        (m["kind"], m["metadata"]["name"]): m
        for cluster, _, m in manifests(variant)
        if cluster == "k8s-dr" and m["metadata"].get("namespace", "") in ("identity", "")
    }


def _drill_objects(variant: str) -> list[dict]:
    objects = _dr_objects(variant)
    [standby] = [m for (kind, name), m in objects.items() if kind == "Deployment" and name in SERVERS]
    idp = "keycloak" if standby["metadata"]["name"] == "keycloak" else "authentik"
    ns, drill = drill_namespace("identity"), "idp-dr-drill-20261201-051000"
    refs = site.referenced(standby)
    applied = []
    for name in sorted(refs["secret"]):
        # The Secret's data as the cluster holds it (a synced or Pulumi-written Secret): names and keys only here.
        source = objects.get(("Secret", name)) or {"kind": "Secret", "metadata": {"name": name}, "data": {
            "k": base64.b64encode(b"v").decode()}}  # fmt: skip
        endpoint = {"host": f"{drill}.abc.{variant}.rds.amazonaws.com", "port": "5432", "dbname": idp}
        applied.append(site.db_secret(source, idp, endpoint, ns, drill) if name.endswith(("-db", "postgresql"))
                       else site.copied_object(source, ns, drill))  # fmt: skip
    for name in sorted(refs["configmap"]):
        source = objects.get(("ConfigMap", name)) or {"kind": "ConfigMap", "metadata": {"name": name}, "data": {}}
        applied.append(site.copied_object(source, ns, drill))
    deployment = site.drill_deployment(standby, namespace=ns, standby_namespace="identity", drill_id=drill)
    return [*applied, deployment, site.drill_service(deployment, drill)]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_object_the_drill_applies_is_valid_for_the_kubernetes_version(variant, version):
    objects = _drill_objects(variant)
    assert {o["kind"] for o in objects} >= {"Deployment", "Service", "Secret"}
    problems = [f"{o['kind']}/{o['metadata']['name']}: {p}" for o in objects for p in _problems(o, version)]
    assert problems == []


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_drill_copy_keeps_the_standbys_hardening_and_drops_its_identity(variant):
    deployment = next(o for o in _drill_objects(variant) if o["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert "serviceAccountName" not in pod and pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    for container in pod["containers"]:
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        values = [e.get("value", "") for e in container.get("env", [])]
        assert not [v for v in values if ".identity.svc" in v], "a value still names the standby's namespace"
