"""IdentityStandby invariants: same issuer in both clusters, hardened pods, no literal secrets."""

from __future__ import annotations

import json

import pytest
import yaml

from contract.tls import POD_CA_DIR
from tests.unit.conftest import (
    APP_PASSWORD,
    AUTHENTIK,
    AUTHENTIK_KEY,
    container,
    deployments,
    env_of,
    is_secret,
    plaintext_occurrences,
    run_stack,
    unwrap,
)

DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def test_both_sites_deploy_the_same_image_and_public_hostname(default_run):
    primary, dr = deployments(default_run, "keycloak")
    assert container(primary)["image"] == container(dr)["image"] == "quay.io/keycloak/keycloak:26.4.5"
    hostnames = {env_of(d)["KC_HOSTNAME"] for d in (primary, dr)}
    assert hostnames == {"https://sso.example.com"}
    ingress_hosts = {
        r.inputs["spec"]["rules"][0]["host"]
        for r in default_run.recorder.of_type("kubernetes:networking.k8s.io/v1:Ingress")
        if "public" in r.name
    }
    assert ingress_hosts == {"sso.example.com"}


def test_each_site_uses_its_own_cluster_provider(default_run):
    for record in default_run.recorder.all():
        if record.typ.startswith("kubernetes:") and record.custom:
            expected = "k8s-primary" if record.name.startswith("sso-primary-site") else "k8s-dr"
            assert record.provider_name == expected, record.name


def test_primary_is_active_and_dr_is_a_pilot_light_by_default(default_run):
    replicas = {d.provider_name: d.inputs["spec"]["replicas"] for d in deployments(default_run, "keycloak")}
    assert replicas == {"k8s-primary": 2, "k8s-dr": 0}


def test_warm_standby_runs_the_configured_replicas(warm_run):
    replicas = {d.provider_name: d.inputs["spec"]["replicas"] for d in deployments(warm_run, "keycloak")}
    assert replicas == {"k8s-primary": 2, "k8s-dr": 2}


def test_dr_replicas_belong_to_failover_after_the_first_deploy(default_run, authentik_run):
    # failover scales the DR Deployment(s) up; a routine `pulumi up` must not scale them back.
    for run, name in (
        (default_run, "keycloak"),
        (authentik_run, "authentik-server"),
        (authentik_run, "authentik-worker"),
    ):
        ignored = {d.provider_name: d.ignore_changes for d in deployments(run, name)}
        assert ignored == {"k8s-primary": [], "k8s-dr": ["spec.replicas"]}, name


def test_keycloak_serves_health_on_the_management_port_with_three_probes(default_run):
    deployment = deployments(default_run, "keycloak")[0]
    c, env = container(deployment), env_of(deployment)
    assert env["KC_HEALTH_ENABLED"] == "true" and env["KC_HTTP_MANAGEMENT_PORT"] == "9000"
    assert env["KC_DB"] == "postgres"
    probes = {kind: c[kind]["httpGet"] for kind in ("startupProbe", "livenessProbe", "readinessProbe")}
    assert probes == {
        "startupProbe": {"path": "/health/started", "port": 9000, "scheme": "HTTP"},
        "livenessProbe": {"path": "/health/live", "port": 9000, "scheme": "HTTP"},
        "readinessProbe": {"path": "/health/ready", "port": 9000, "scheme": "HTTP"},
    }


def test_keycloak_sites_never_form_one_cluster_across_regions(default_run):
    for deployment in deployments(default_run, "keycloak"):
        env = env_of(deployment)
        assert env["KC_CACHE_STACK"] == "kubernetes"
        assert env["JAVA_OPTS_APPEND"] == "-Djgroups.dns.query=keycloak-discovery.identity.svc.cluster.local"
    headless = [
        r
        for r in default_run.recorder.of_type("kubernetes:core/v1:Service")
        if r.inputs["metadata"]["name"] == "keycloak-discovery"
    ]
    assert len(headless) == 2 and all(h.inputs["spec"]["clusterIP"] == "None" for h in headless)


def test_db_credentials_come_from_the_secret_never_literals(default_run):
    for deployment in deployments(default_run, "keycloak"):
        env = env_of(deployment)
        for key in ("KC_DB_URL_HOST", "KC_DB_URL_PORT", "KC_DB_URL_DATABASE", "KC_DB_USERNAME", "KC_DB_PASSWORD"):
            assert env[key] == {"secretKeyRef": {"name": "keycloak-db", "key": key}}, key
    assert plaintext_occurrences(default_run, APP_PASSWORD) == []


def test_app_password_reaches_aws_only_as_a_pulumi_secret(default_run):
    version = default_run.recorder.by_name("sso-db-access-app-credentials-value")
    assert is_secret(version.inputs["secretString"])
    assert json.loads(unwrap(version.inputs["secretString"])) == {"username": "keycloak", "password": APP_PASSWORD}


def test_pulumi_secrets_mode_writes_kubernetes_secrets_as_secrets():
    run = run_stack({"idp-dr:standby": {"secretsMode": "pulumi"}})
    secrets = run.recorder.of_type("kubernetes:core/v1:Secret")
    assert len(secrets) == 2
    assert all(is_secret(s.inputs["stringData"]) for s in secrets)
    assert plaintext_occurrences(run, APP_PASSWORD) == []
    assert run.recorder.of_type("kubernetes:external-secrets.io/v1:ExternalSecret") == []


def test_pulumi_mode_dr_db_secret_belongs_to_failover_after_the_first_deploy():
    # failover rewrites the DR copy with the new endpoint; `pulumi up` must not write it back.
    run = run_stack({"idp-dr:standby": {"secretsMode": "pulumi"}})
    ignored = {s.provider_name: s.ignore_changes for s in run.recorder.of_type("kubernetes:core/v1:Secret")}
    assert ignored == {"k8s-primary": [], "k8s-dr": ["data", "stringData"]}


def test_external_secrets_read_the_sites_own_region(default_run):
    stores = {
        s.provider_name: s.inputs["spec"]["provider"]["aws"]
        for s in default_run.recorder.of_type("kubernetes:external-secrets.io/v1:SecretStore")
    }
    assert stores["k8s-primary"]["region"] == "eu-west-1"
    assert stores["k8s-dr"]["region"] == "eu-central-1"
    assert stores["k8s-dr"]["auth"] == {"jwt": {"serviceAccountRef": {"name": "idp-dr-secrets-reader"}}}


def test_external_secret_maps_endpoint_and_credentials_into_the_app_keys(default_run):
    external = next(
        e
        for e in default_run.recorder.of_type("kubernetes:external-secrets.io/v1:ExternalSecret")
        if e.provider_name == "k8s-dr"
    )
    spec = external.inputs["spec"]
    remote = {d["secretKey"]: (d["remoteRef"]["key"], d["remoteRef"]["property"]) for d in spec["data"]}
    assert remote == {
        "host": ("idp-dr/sso/db-endpoint", "host"),
        "port": ("idp-dr/sso/db-endpoint", "port"),
        "dbname": ("idp-dr/sso/db-endpoint", "dbname"),
        "username": ("idp-dr/sso/db-app-credentials", "username"),
        "password": ("idp-dr/sso/db-app-credentials", "password"),
    }
    assert spec["target"]["template"]["data"]["KC_DB_URL_HOST"] == "{{ .host }}"
    assert spec["refreshInterval"] == "1m"


def test_dr_secrets_reader_can_read_exactly_the_dr_region_secrets(default_run):
    policy = json.loads(default_run.recorder.by_name("sso-dr-site-secrets-reader-policy").inputs["policy"])
    read = {s["Sid"]: s for s in policy["Statement"]}["ReadIdpSecrets"]["Resource"]
    assert len(read) == 2
    assert all(arn.startswith("arn:aws:secretsmanager:eu-central-1:") for arn in read)
    assert any("idp-dr/sso/db-app-credentials" in arn for arn in read)
    assert default_run.outputs["standby"]["drDbEndpointSecretArn"] in read


def test_secrets_reader_service_account_carries_the_irsa_role(default_run):
    accounts = [
        a
        for a in default_run.recorder.of_type("kubernetes:core/v1:ServiceAccount")
        if a.inputs["metadata"]["name"] == "idp-dr-secrets-reader"
    ]
    assert len(accounts) == 2
    for account in accounts:
        assert account.inputs["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")
        assert account.inputs["automountServiceAccountToken"] is False


def test_pods_are_hardened(default_run, authentik_run):
    for run in (default_run, authentik_run):
        for deployment in run.recorder.of_type(DEPLOYMENT):
            pod = deployment.inputs["spec"]["template"]["spec"]
            assert pod["securityContext"]["runAsNonRoot"] is True
            assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
            for c in pod["containers"]:
                sc = c["securityContext"]
                assert sc["allowPrivilegeEscalation"] is False, deployment.name
                assert sc["capabilities"] == {"drop": ["ALL"]}, deployment.name
                assert sc["runAsNonRoot"] is True, deployment.name
                assert set(c["resources"]) == {"requests", "limits"}, deployment.name
                assert "livenessProbe" in c and "readinessProbe" in c, deployment.name
                assert not c["image"].endswith(":latest"), deployment.name


def test_read_only_root_only_where_the_image_allows_it(default_run):
    stock = container(deployments(default_run, "keycloak")[0])
    assert stock["securityContext"]["readOnlyRootFilesystem"] is False
    assert stock["args"] == ["start"]
    optimized = container(deployments(run_stack({"idp-dr:idp": {"optimizedImage": True}}), "keycloak")[0])
    assert optimized["securityContext"]["readOnlyRootFilesystem"] is True
    assert optimized["args"] == ["start", "--optimized"]
    assert {m["mountPath"] for m in optimized["volumeMounts"]} == {"/tmp", "/opt/keycloak/data", POD_CA_DIR}


def test_namespace_is_not_default_and_enforces_restricted_pod_security(default_run):
    names = []
    for namespace in default_run.recorder.of_type("kubernetes:core/v1:Namespace"):
        meta = namespace.inputs["metadata"]
        names.append((namespace.provider_name, meta["name"]))
        assert meta["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    # The DR cluster also has the drill namespace (runbook.drill, on by default).
    assert sorted(names) == [("k8s-dr", "identity"), ("k8s-dr", "identity-drill"), ("k8s-primary", "identity")]


def test_disruption_budget_where_two_or_more_replicas_run_or_will_after_failover(default_run, warm_run):
    # The pilot-light DR site runs none, but a failover scales it to primaryReplicas (2).
    assert sorted(
        p.provider_name for p in default_run.recorder.of_type("kubernetes:policy/v1:PodDisruptionBudget")
    ) == [
        "k8s-dr",
        "k8s-primary",
    ]
    single = run_stack({"idp-dr:standby": {"primaryReplicas": 1}})
    assert single.recorder.of_type("kubernetes:policy/v1:PodDisruptionBudget") == []
    assert sorted(p.provider_name for p in warm_run.recorder.of_type("kubernetes:policy/v1:PodDisruptionBudget")) == [
        "k8s-dr",
        "k8s-primary",
    ]


def test_health_ingress_exposes_only_what_route53_and_failover_check(default_run):
    ingress = default_run.recorder.by_name("sso-dr-site-health-ingress")
    [rule] = ingress.inputs["spec"]["rules"]
    assert rule["host"] == "health-dr.sso.example.com"
    paths = {p["path"]: (p["pathType"], p["backend"]["service"]["port"]["name"]) for p in rule["http"]["paths"]}
    assert paths == {
        "/health/ready": ("Exact", "management"),
        "/realms/company/.well-known/openid-configuration": ("Exact", "http"),
        "/realms/company/protocol/openid-connect/certs": ("Exact", "http"),
        "/realms/company/protocol/openid-connect/token": ("Exact", "http"),
    }


def test_authentik_runs_server_and_worker_with_its_health_endpoints(authentik_run):
    server = next(d for d in deployments(authentik_run, "authentik-server") if d.provider_name == "k8s-primary")
    c = container(server)
    assert c["args"] == ["server"]
    assert c["livenessProbe"]["httpGet"]["path"] == "/-/health/live/"
    assert c["readinessProbe"]["httpGet"]["path"] == "/-/health/ready/"
    worker = next(d for d in deployments(authentik_run, "authentik-worker") if d.provider_name == "k8s-primary")
    assert container(worker)["readinessProbe"]["exec"]["command"] == ["ak", "healthcheck"]
    assert container(worker)["securityContext"]["readOnlyRootFilesystem"] is True


def test_authentik_passive_site_runs_no_worker(authentik_run):
    replicas = {d.provider_name: d.inputs["spec"]["replicas"] for d in deployments(authentik_run, "authentik-worker")}
    assert replicas == {"k8s-primary": 2, "k8s-dr": 0}


def test_authentik_secret_key_is_shared_and_replicated(authentik_run):
    secret = authentik_run.recorder.by_name("sso-db-access-authentik-secret-key")
    assert secret.inputs["replicas"][0]["region"] == "eu-central-1"
    version = authentik_run.recorder.by_name("sso-db-access-authentik-secret-key-value")
    assert is_secret(version.inputs["secretString"]) and unwrap(version.inputs["secretString"]) == AUTHENTIK_KEY
    for deployment in authentik_run.recorder.of_type(DEPLOYMENT):
        if deployment.inputs["metadata"]["name"].startswith("authentik-") and "redis" not in deployment.name:
            assert env_of(deployment)["AUTHENTIK_SECRET_KEY"] == {
                "secretKeyRef": {"name": "authentik-secret-key", "key": "AUTHENTIK_SECRET_KEY"}
            }
    assert plaintext_occurrences(authentik_run, AUTHENTIK_KEY) == []


def test_authentik_media_lives_in_each_sites_replicated_bucket(authentik_run):
    buckets = {
        b.region: b.outputs["bucket"]
        for b in authentik_run.recorder.of_type("aws:s3/bucket:Bucket")
        if b.name.startswith("sso-media")
    }
    assert set(buckets) == {"eu-west-1", "eu-central-1"}
    for deployment in deployments(authentik_run, "authentik-server"):
        env = env_of(deployment)
        region = "eu-west-1" if deployment.provider_name == "k8s-primary" else "eu-central-1"
        assert env["AUTHENTIK_STORAGE__BACKEND"] == "s3"
        assert env["AUTHENTIK_STORAGE__S3__BUCKET_NAME"] == buckets[region]
        assert env["AUTHENTIK_STORAGE__S3__REGION"] == region
    assert authentik_run.recorder.by_name("sso-media-replication").inputs["rules"][0]["status"] == "Enabled"


@pytest.mark.parametrize(
    ("image", "redis"),
    [
        ("ghcr.io/goauthentik/server:2025.8.4", True),
        ("ghcr.io/goauthentik/server:2025.10.0", False),
        ("ghcr.io/goauthentik/server:2026.2.1", False),
    ],
)
def test_authentik_gets_redis_only_before_2025_10(image, redis):
    run = run_stack({**AUTHENTIK, "idp-dr:idp": {**AUTHENTIK["idp-dr:idp"], "image": image}})
    assert bool(deployments(run, "authentik-redis")) is redis
    server = deployments(run, "authentik-server")[0]
    assert ("AUTHENTIK_REDIS__HOST" in env_of(server)) is redis


def test_redis_reads_its_password_from_a_file_never_from_its_argv():
    """argv is in /proc/<pid>/cmdline, readable by every process of the pod (and the node's agents)."""
    idp = {**AUTHENTIK["idp-dr:idp"], "image": "ghcr.io/goauthentik/server:2025.8.4"}
    run = run_stack({**AUTHENTIK, "idp-dr:idp": idp})
    redis = deployments(run, "authentik-redis")[0]  # the same on both sites
    pod = redis.inputs["spec"]["template"]["spec"]
    args = container(redis)["args"]
    assert args == ["/etc/redis/redis.conf"] and not any("pass" in a.lower() or "$(" in a for a in args)
    [config] = [v for v in pod["volumes"] if v["name"] == "config"]
    assert config["secret"]["items"] == [{"key": "redis.conf", "path": "redis.conf"}]
    assert config["secret"]["defaultMode"] == 0o440 and pod["securityContext"]["fsGroup"] == 999
    secret = next(r for r in run.recorder.of_type("kubernetes:core/v1:Secret")
                  if r.inputs["metadata"]["name"] == "authentik-redis")  # fmt: skip
    data = unwrap(secret.inputs["stringData"])
    assert data["redis.conf"].startswith(f"requirepass {data['AUTHENTIK_REDIS__PASSWORD']}\n")
    assert is_secret(secret.inputs["stringData"])


def test_authentik_outpost_keeps_sessions_in_postgres(authentik_run):
    blueprint_map = next(
        c
        for c in authentik_run.recorder.of_type("kubernetes:core/v1:ConfigMap")
        if c.provider_name == "k8s-dr" and c.inputs["metadata"]["name"] == "idp-dr-blueprints"
    )
    blueprint = yaml.safe_load(blueprint_map.inputs["data"]["outpost-sessions.yaml"])
    [entry] = blueprint["entries"]
    assert entry["model"] == "authentik_outposts.outpost"
    assert entry["attrs"]["config"] == {
        "session_backend": "postgres",
        "kubernetes_postgresql_secret_name": "authentik-postgresql",
    }
    worker = next(d for d in deployments(authentik_run, "authentik-worker") if d.provider_name == "k8s-dr")
    assert {"name": "idp-dr-blueprints", "mountPath": "/blueprints/idp-dr", "readOnly": True} in container(worker)[
        "volumeMounts"
    ]
    external = next(
        e
        for e in authentik_run.recorder.of_type("kubernetes:external-secrets.io/v1:ExternalSecret")
        if e.inputs["metadata"]["name"] == "authentik-postgresql" and e.provider_name == "k8s-dr"
    )
    assert set(external.inputs["spec"]["target"]["template"]["data"]) == {
        "AUTHENTIK_POSTGRESQL__HOST",
        "AUTHENTIK_POSTGRESQL__PORT",
        "AUTHENTIK_POSTGRESQL__NAME",
        "AUTHENTIK_POSTGRESQL__USER",
        "AUTHENTIK_POSTGRESQL__PASSWORD",
    }


def test_authentik_static_directories_are_mounted_from_git_on_both_sites():
    run = run_stack(
        {
            **AUTHENTIK,
            "idp-dr:standby": {
                "authentikFiles": {"customTemplatesConfigMap": "authentik-templates", "certsSecret": "authentik-certs"}
            },
        }
    )
    for deployment in deployments(run, "authentik-server") + deployments(run, "authentik-worker"):
        pod = deployment.inputs["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["mountPath"]: volumes[m["name"]] for m in container(deployment)["volumeMounts"]}
        assert mounts["/templates"]["configMap"] == {"name": "authentik-templates"}, deployment.name
        assert mounts["/certs"]["secret"] == {"secretName": "authentik-certs"}, deployment.name
    assert {d.provider_name for d in deployments(run, "authentik-server")} == {"k8s-primary", "k8s-dr"}


def _exposed(ingress, path: str) -> bool:
    """Whether the Ingress routes ``path`` (Kubernetes Prefix: element-wise; Exact: equal)."""
    for rule in ingress.inputs["spec"]["rules"]:
        for p in rule["http"]["paths"]:
            if p["pathType"] == "Exact" and path == p["path"]:
                return True
            prefix = p["path"].rstrip("/")
            if p["pathType"] == "Prefix" and (path == prefix or path.startswith(prefix + "/")):
                return True
    return False


@pytest.mark.parametrize("site", ["primary", "dr"])
def test_the_public_ingress_keeps_the_keycloak_admin_console_and_master_realm_off_the_internet(default_run, site):
    ingress = default_run.recorder.by_name(f"sso-{site}-site-public-ingress")
    for path in ("/admin/", "/admin/master/console/", "/realms/master/protocol/openid-connect/auth", "/metrics", "/"):
        assert not _exposed(ingress, path), path
    for path in (
        "/realms/company/.well-known/openid-configuration",
        "/realms/company/protocol/openid-connect/auth",
        "/resources/x/login/keycloak.v2/css/styles.css",
        "/robots.txt",
    ):
        assert _exposed(ingress, path), path


def test_more_public_realms_are_routed_when_listed():
    run = run_stack({"idp-dr:idp": {"publicRealms": ["partners"]}})
    ingress = run.recorder.by_name("sso-primary-site-public-ingress")
    assert _exposed(ingress, "/realms/partners/protocol/openid-connect/token")
    assert not _exposed(ingress, "/realms/master/protocol/openid-connect/token")


def _pod(deployment) -> dict:
    return deployment.inputs["spec"]["template"]["spec"]


def test_the_internet_facing_authentik_server_mounts_no_api_token_even_with_the_outpost(authentik_run):
    # authentik_run has the outpost on: the worker alone may manage outposts through the API.
    server = next(d for d in deployments(authentik_run, "authentik-server") if d.provider_name == "k8s-primary")
    worker = next(d for d in deployments(authentik_run, "authentik-worker") if d.provider_name == "k8s-primary")
    assert (_pod(server)["serviceAccountName"], _pod(server)["automountServiceAccountToken"]) == ("authentik", False)
    assert (_pod(worker)["serviceAccountName"], _pod(worker)["automountServiceAccountToken"]) == (
        "authentik-worker",
        True,
    )
    bindings = _idp_bindings(authentik_run)
    assert bindings and all([s["name"] for s in b.inputs["subjects"]] == ["authentik-worker"] for b in bindings), [
        b.inputs["subjects"] for b in bindings
    ]
    accounts = {
        a.inputs["metadata"]["name"]: a.inputs["automountServiceAccountToken"]
        for a in authentik_run.recorder.of_type("kubernetes:core/v1:ServiceAccount")
        if a.provider_name == "k8s-primary"
    }
    assert accounts["authentik"] is False and accounts["authentik-worker"] is True


def test_without_the_outpost_no_authentik_pod_has_an_api_token():
    run = run_stack(AUTHENTIK)
    for name in ("authentik-server", "authentik-worker"):
        for d in deployments(run, name):
            assert _pod(d)["automountServiceAccountToken"] is False, d.name
    assert _idp_bindings(run) == []


def _idp_bindings(run):
    """The RoleBindings of the IdP's own accounts (not the drill's, which runs no IdP code with its token)."""
    bindings = run.recorder.of_type("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")
    return [b for b in bindings if [s["name"] for s in b.inputs["subjects"]] != ["idp-dr-drill"]]


def test_authentik_media_may_use_the_archive_key_only_through_s3_in_its_region(authentik_run):
    for site, region in (("primary", "eu-west-1"), ("dr", "eu-central-1")):
        policy = json.loads(authentik_run.recorder.by_name(f"sso-{site}-site-media-policy").inputs["policy"])
        [key] = [s for s in policy["Statement"] if s["Sid"] == "UseMediaKey"]
        assert key["Condition"] == {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}}


def test_a_cds_archive_in_the_image_is_mapped_by_both_sites_keycloaks_and_never_required():
    run = run_stack({"idp-dr:idp": {"optimizedImage": True, "cdsArchive": "/opt/keycloak/lib/keycloak.jsa"}})
    for deployment in deployments(run, "keycloak"):
        env = {e["name"]: e.get("value") for e in _pod(deployment)["containers"][0]["env"]}
        options = env["JAVA_OPTS_APPEND"].split()
        assert options[0].startswith("-Djgroups.dns.query=keycloak-discovery.identity.svc")
        assert options[1:] == ["-XX:SharedArchiveFile=/opt/keycloak/lib/keycloak.jsa", "-Xshare:auto"]


def test_an_aot_cache_in_the_image_is_mapped_by_both_sites_and_an_older_jdk_starts_without_it():
    run = run_stack({"idp-dr:idp": {"optimizedImage": True, "aotCache": "/opt/keycloak/lib/keycloak.aot"}})
    sites = deployments(run, "keycloak")
    assert len(sites) == 2
    for deployment in sites:
        env = {e["name"]: e.get("value") for e in _pod(deployment)["containers"][0]["env"]}
        assert env["JAVA_OPTS_APPEND"].split()[1:] == [
            "-XX:+IgnoreUnrecognizedVMOptions",  # a JDK before 24 would refuse -XX:AOTCache and not start at all
            "-XX:AOTCache=/opt/keycloak/lib/keycloak.aot",
            "-XX:AOTMode=auto",  # an unusable cache means a normal start
        ]


def test_late_c2_compilation_adds_the_raised_c2_thresholds_after_the_aot_cache_on_both_sites():
    run = run_stack(
        {
            "idp-dr:idp": {
                "optimizedImage": True,
                "aotCache": "/opt/keycloak/lib/keycloak.aot",
                "lateC2Compilation": True,
            }
        }
    )
    sites = deployments(run, "keycloak")
    assert len(sites) == 2
    for deployment in sites:
        env = {e["name"]: e.get("value") for e in _pod(deployment)["containers"][0]["env"]}
        assert env["JAVA_OPTS_APPEND"].split()[4:] == [
            "-XX:Tier4InvocationThreshold=50000",
            "-XX:Tier4MinInvocationThreshold=20000",
            "-XX:Tier4CompileThreshold=60000",
            "-XX:Tier4BackEdgeThreshold=400000",
        ]


def test_without_a_cds_archive_the_jvm_options_are_the_discovery_query_only(default_run):
    for deployment in deployments(default_run, "keycloak"):
        env = {e["name"]: e.get("value") for e in _pod(deployment)["containers"][0]["env"]}
        assert env["JAVA_OPTS_APPEND"] == "-Djgroups.dns.query=keycloak-discovery.identity.svc.cluster.local"


def test_alb_ingresses_accept_tls_12_and_later_only_by_default(default_run):
    """The review found no TLS policy on the ALB Ingresses: older controllers' default allows TLS 1.0."""
    ingresses = [r for r in default_run.recorder.resources.values() if r.typ.endswith(":Ingress")]
    assert len(ingresses) == 4
    for ingress in ingresses:
        annotations = ingress.inputs["metadata"]["annotations"]
        assert annotations["alb.ingress.kubernetes.io/ssl-policy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06", (
            ingress.name
        )


def test_a_configured_tls_13_only_policy_is_kept():
    run = run_stack({"idp-dr:standby": {"ingressAnnotations": {
        "alb.ingress.kubernetes.io/ssl-policy": "ELBSecurityPolicy-TLS13-1-3-2021-06"}}})  # fmt: skip
    ingress = next(r for r in run.recorder.resources.values() if r.typ.endswith(":Ingress"))
    assert ingress.inputs["metadata"]["annotations"]["alb.ingress.kubernetes.io/ssl-policy"] == (
        "ELBSecurityPolicy-TLS13-1-3-2021-06"
    )


ADMIN = "unit-test-admin-password-5e1d"


@pytest.mark.parametrize(("overrides", "variables"), [
    ({}, ["KC_BOOTSTRAP_ADMIN_USERNAME", "KC_BOOTSTRAP_ADMIN_PASSWORD"]),
    (AUTHENTIK, ["AUTHENTIK_BOOTSTRAP_PASSWORD"]),
])  # fmt: skip
def test_the_primary_site_starts_with_an_administrator_from_the_admin_password(overrides, variables):
    """Keycloak 26 starts with no administrator unless one is given (day one's first gap); authentik likewise."""
    run = run_stack({**overrides, "idp-dr:adminPassword": ADMIN})
    server = "keycloak" if not overrides else "authentik-server"
    primary, dr = sorted(deployments(run, server), key=lambda d: d.provider_name != "k8s-primary")
    assert primary.provider_name == "k8s-primary"
    env = env_of(primary)
    assert [env[v]["secretKeyRef"]["name"] for v in variables] == ["idp-bootstrap-admin"] * len(variables)
    assert not any(v in env_of(dr) for v in variables)  # the DR site starts on a database that has its admins
    [secret] = [r for r in run.recorder.of_type("kubernetes:core/v1:Secret")
                if r.inputs["metadata"]["name"] == "idp-bootstrap-admin"]  # fmt: skip
    assert is_secret(secret.inputs["stringData"]) and unwrap(secret.inputs["stringData"])[variables[-1]] == ADMIN
    assert plaintext_occurrences(run, ADMIN) == []


def test_without_an_admin_password_no_bootstrap_admin_is_set(default_run):
    assert not any("KC_BOOTSTRAP_ADMIN_PASSWORD" in env_of(d) for d in deployments(default_run, "keycloak"))
