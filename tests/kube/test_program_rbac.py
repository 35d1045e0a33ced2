"""The program's Kubernetes objects, rendered under Pulumi's mocks and applied to a real API server (server-side
apply), then each scheduled job's Kubernetes work run *as its own ServiceAccount* (a TokenRequest token: the API
server authenticates it and RBAC decides), and what each must not do shown Forbidden. One test per job.

Each site gets a control plane of its own, as each site has a cluster: the DR site's objects go to the session's
plane, the primary site's to a second one. NetworkPolicies are stored and validated, not enforced (no CNI).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from scripts.drill.aws import site
from scripts.errors import ExternalError
from scripts.k8s.adapter import KubectlAdapter
from scripts.lab.kube_plane import ControlPlane
from tests.kube.conftest import Cluster
from tests.kube.crds import EXTERNAL_SECRETS_CRDS
from tests.unit.conftest import run_stack

WITH_IMAGE = {"idp-dr:runbook": {"image": "ghcr.io/example/idp-dr:0.1.0"}}
DRILL_NS, STANDBY_NS = "identity-drill", "identity"


def _clean(value: Any) -> Any:
    """Pulumi's wire numbers are floats; the API server wants integers where the schema says so."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    """The program's Kubernetes objects per cluster provider (``k8s-primary``, ``k8s-dr``)."""
    run = run_stack(WITH_IMAGE)
    out: dict[str, list[dict[str, Any]]] = {}
    for r in run.recorder.resources.values():
        if r.typ.startswith("kubernetes:") and not r.is_provider:
            out.setdefault(r.provider_name, []).append(_clean(r.inputs))
    return out


def _apply_site(cluster: Cluster, objects: list[dict[str, Any]]) -> None:
    cluster.apply(*EXTERNAL_SECRETS_CRDS)
    cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=30s")
    namespaces = [o for o in objects if o["kind"] == "Namespace"]
    cluster.apply(*namespaces)
    for ns in namespaces:  # pods need the namespace's default ServiceAccount first
        cluster.kubectl("wait", "--for=jsonpath={.metadata.name}=default", "serviceaccount/default",
                        "-n", ns["metadata"]["name"], "--timeout=30s")  # fmt: skip
    cluster.apply(*[o for o in objects if o["kind"] != "Namespace"])
    cluster.apply(*[_synced(o) for o in objects if o["kind"] == "ExternalSecret"])


def _synced(external_secret: dict[str, Any]) -> dict[str, Any]:
    """The Secret External Secrets Operator would write for ``external_secret`` (no operator runs here): its
    target name, one placeholder value per key the ExternalSecret maps."""
    spec, meta = external_secret["spec"], external_secret["metadata"]
    keys = [d["secretKey"] for d in spec.get("data", [])]
    target = spec.get("target", {}).get("name") or meta["name"]
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": target, "namespace": meta["namespace"]},
            "stringData": {k: f"synced-{k}" for k in keys or ["value"]}}  # fmt: skip


@pytest.fixture(scope="module")
def dr(plane, rendered, monkeypatch_module) -> Cluster:
    cluster = Cluster(plane)
    _apply_site(cluster, rendered["k8s-dr"])
    monkeypatch_module.setenv("KUBECONFIG", str(plane.kubeconfig))
    return cluster


@pytest.fixture(scope="module")
def primary(rendered, tmp_path_factory) -> Iterator[Cluster]:
    with ControlPlane(tmp_path_factory.mktemp("kube-primary")) as plane:
        cluster = Cluster(plane)
        _apply_site(cluster, rendered["k8s-primary"])
        yield cluster


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def _job_account(objects: list[dict[str, Any]], name: str) -> tuple[str, str, dict[str, Any]]:
    """(namespace, ServiceAccount, pod spec) of the CronJob or Job ``name`` as the program declares it."""
    for o in objects:
        if o["kind"] in ("CronJob", "Job") and o["metadata"]["name"].startswith(name):
            spec = o["spec"]
            pod = (spec["jobTemplate"]["spec"] if o["kind"] == "CronJob" else spec)["template"]["spec"]
            return o["metadata"]["namespace"], pod["serviceAccountName"], pod
    raise AssertionError(f"no job {name} rendered")


def _as(cluster: Cluster, namespace: str, account: str) -> KubectlAdapter:
    return KubectlAdapter(cluster.as_service_account(namespace, account))


def _forbidden(call, account: str, verb: str, resource: str) -> None:
    with pytest.raises(ExternalError) as caught:
        call()
    assert f'User "system:serviceaccount:{account}" cannot {verb} resource "{resource}"' in caught.value.message


def _can(cluster: Cluster, context: str, *args: str) -> bool:
    return cluster.kubectl("--context", context, "auth", "can-i", *args, check=False).stdout.strip() == "yes"


def test_every_object_of_both_sites_is_accepted_by_the_api_server(dr, primary, rendered):
    for cluster, provider in ((dr, "k8s-dr"), (primary, "k8s-primary")):
        for o in rendered[provider]:
            meta = o["metadata"]
            where = ["-n", meta["namespace"]] if meta.get("namespace") else []
            kind = o["kind"].lower() + ("." + o["apiVersion"].split("/")[0] if "/" in o["apiVersion"] else "")
            cluster.kubectl("get", kind, meta["name"], *where, "-o", "name")


def test_the_drill_job_does_its_kubernetes_work_as_its_own_service_account(dr, rendered):
    """The calls ``drill --aws`` makes in the DR cluster (preflight, start, leftovers, cleanup), in its order, with
    the drill's own manifest builders, authenticated as the CronJob's ServiceAccount."""
    namespace, account, pod = _job_account(rendered["k8s-dr"], "idp-dr-drill")
    assert (namespace, pod["automountServiceAccountToken"]) == (DRILL_NS, True)
    kube = _as(dr, namespace, account)
    drill_id = "idp-dr-drill-20261207-040000"
    assert kube.exists(DRILL_NS, "namespace", DRILL_NS)
    source = kube.get_object(STANDBY_NS, "deployment", "keycloak")
    refs = site.referenced(source)
    assert refs["secret"] and refs["configmap"]
    for kind in ("secret", "configmap"):
        for name in sorted(refs[kind]):
            original = kube.get_object(STANDBY_NS, kind, name)
            assert original is not None, f"{kind}/{name}"
            kube.apply(site.copied_object(original, DRILL_NS, drill_id))
    deployment = site.drill_deployment(source, namespace=DRILL_NS, standby_namespace=STANDBY_NS, drill_id=drill_id)
    kube.apply(deployment)
    kube.apply(site.drill_service(deployment, drill_id))
    dr.kubectl("rollout", "status", "deployment/keycloak", "-n", DRILL_NS, "--timeout=60s")
    assert kube.deployment_status(DRILL_NS, "keycloak").rolled_out(1)
    found = [(kind, name) for kind in site.KINDS for name in kube.list_names(DRILL_NS, kind, site.selector_of_all())]
    assert ("deployment", "keycloak") in found and ("service", "idp-dr-drill") in found
    for kind, name in found:
        kube.delete(DRILL_NS, kind, name)
    assert all(kube.list_names(DRILL_NS, kind, site.selector_of_all()) == [] for kind in site.KINDS)


def test_the_drill_job_cannot_touch_production_or_read_what_the_standby_does_not(dr, rendered):
    namespace, account, _ = _job_account(rendered["k8s-dr"], "idp-dr-drill")
    dr.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "keycloak-admin", "namespace": STANDBY_NS},
              "stringData": {"password": "admin-password"}})  # fmt: skip
    kube = _as(dr, namespace, account)
    who = f"{namespace}:{account}"
    _forbidden(lambda: kube.scale(STANDBY_NS, "keycloak", 0), who, "patch", "deployments/scale")
    _forbidden(lambda: kube.patch_secret_data(STANDBY_NS, "keycloak-db", {"x": "y"}), who, "patch", "secrets")
    _forbidden(lambda: kube.get_secret_data(STANDBY_NS, "keycloak-admin"), who, "get", "secrets")
    _forbidden(lambda: kube.list_names(STANDBY_NS, "secrets", "a=b"), who, "list", "secrets")
    context = kube.context
    assert not _can(dr, context, "create", "pods/portforward", "-n", DRILL_NS)  # it reaches the Service in-cluster
    assert not _can(dr, context, "delete", "namespace", DRILL_NS)
    assert not _can(dr, context, "get", "secrets", "-n", "kube-system")


@pytest.mark.parametrize(
    ("site_name", "job"),
    [
        ("k8s-dr", "idp-dr-checks"),
        ("k8s-primary", "idp-dr-baseline"),
        ("k8s-primary", "idp-dr-backup-dump"),
        ("k8s-primary", "idp-dr-bootstrap-db"),
    ],
)
def test_a_job_that_needs_no_kubernetes_api_has_no_token_and_its_account_can_do_nothing(
    dr, primary, rendered, site_name, job, monkeypatch
):
    """These jobs talk to AWS and the database only: no token is mounted, and even a token of their
    ServiceAccount reads no Secret (the IdP's admin and database credentials stay out of their reach)."""
    cluster = dr if site_name == "k8s-dr" else primary
    monkeypatch.setenv("KUBECONFIG", str(cluster.plane.kubeconfig))
    namespace, account, pod = _job_account(rendered[site_name], job)
    assert pod["automountServiceAccountToken"] is False
    kube = _as(cluster, namespace, account)
    who = f"{namespace}:{account}"
    _forbidden(lambda: kube.get_secret_data(namespace, "keycloak-db"), who, "get", "secrets")
    _forbidden(lambda: kube.list_names(namespace, "secrets", "a=b"), who, "list", "secrets")
    _forbidden(lambda: kube.deployment_status(namespace, "keycloak"), who, "get", "deployments")
    assert not _can(cluster, kube.context, "create", "pods", "-n", namespace)


def test_the_idps_own_service_account_cannot_touch_the_runbooks_objects(dr):
    kube = _as(dr, STANDBY_NS, "keycloak")
    who = f"{STANDBY_NS}:keycloak"
    _forbidden(lambda: kube.get_object(STANDBY_NS, "cronjob", "idp-dr-checks"), who, "get", "cronjobs")
    _forbidden(lambda: kube.list_names(DRILL_NS, "secrets", "a=b"), who, "list", "secrets")
    _forbidden(lambda: kube.get_secret_data(STANDBY_NS, "keycloak-db"), who, "get", "secrets")
    assert not _can(dr, kube.context, "create", "serviceaccounts/token", "-n", DRILL_NS)
