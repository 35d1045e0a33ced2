"""``sandbox``: a local, production-shaped AWS stand-in for trying the runbook commands.

    python -m scripts sandbox [--dir sandbox] [--port 5055] [--idp keycloak|authentik]

Starts ``moto_server`` on loopback (with :mod:`scripts.sandbox.motofix`), seeds the DR topology
(:mod:`scripts.sandbox.topology`), writes ``<dir>/outputs.json`` (valid stack outputs),
``<dir>/kube.json`` (a SIMULATED DR cluster for ``--kube-adapter fake:<dir>/kube.json``) and
``<dir>/env.sh``, serves two stand-in IdP sites over HTTP and stays in the foreground until
Ctrl-C, then stops everything it started.

What is simulated and how (nothing here is Keycloak, Kubernetes or AWS):

* the primary site answers 503 while ``<dir>/control.json`` says ``"primary_up": false`` (the
  disaster); edit it to bring the primary "back";
* the DR site is ready only when the fake cluster runs the server Deployment with ready pods
  AND its DB Secret points at a DR instance that accepts writes (not a read replica), so the
  failover's validation depends on the steps before it;
* Route 53 in moto always reports every health check healthy, so ``failover`` needs ``--force``
  (recorded) and ``--dns-wait 0`` here.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import boto3

from contract.drills import DRILL_PREFIX
from contract.secrets import DB_SECRET_KEYS
from scripts.cliutil import DefaultsHelpFormatter, duration
from scripts.errors import InputError
from scripts.k8s.adapter import FakeKube, FileKube
from scripts.lab.s3 import LAB_AWS_ENV
from scripts.processes import Supervisor, free_port, interrupted_by, wait_for_port
from scripts.report import Report
from scripts.sandbox.cluster_state import serving_instance
from scripts.sandbox.drill_site import drill_ready, drill_service_key, publish_baseline, seed_verifier
from scripts.sandbox.real_cluster import DR_CONTEXT, PRIMARY_CONTEXT
from scripts.sandbox.sites import FakeIdpSite, SigningKeys
from scripts.sandbox.topology import SiteHosts, seed_topology

REPO_ROOT = Path(__file__).resolve().parents[2]


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "sandbox",
        parents=[common],
        formatter_class=DefaultsHelpFormatter,
        help="run moto_server seeded with a production-like DR topology (to try the commands locally)",
        description="Start moto_server, seed primary + DR regions (RDS, replica, Route 53, Secrets Manager), "
        "write stack outputs and a simulated Kubernetes state, serve stand-in IdP sites, and wait for "
        "Ctrl-C. Everything runs on 127.0.0.1 and is stopped on exit.",
    )
    p.add_argument("--dir", type=Path, default=Path("sandbox"), help="where outputs.json, kube.json, env.sh go")
    p.add_argument("--port", type=int, default=None, help="moto_server port (default: a free one)")
    p.add_argument("--idp", choices=["keycloak", "authentik"], default="keycloak")
    p.add_argument(
        "--secrets-mode",
        choices=["external-secrets", "pulumi"],
        default=None,
        help="how the standby reads its DB endpoint (default: external-secrets; pulumi with --kube real)",
    )
    p.add_argument(
        "--kube",
        choices=["fake", "real"],
        default="fake",
        help="the clusters: fake (JSON files for --kube-adapter fake:FILE) or real (two Kubernetes control planes "
        "built by 'make kube', with kwok's fake nodes; --kube-adapter kubectl --kube-context sandbox-dr)",
    )
    p.add_argument("--dr-replicas", type=int, default=0, help="standby replicas in normal times (0 = pilot light)")
    p.add_argument("--exit-after", type=duration("s"), default=None, metavar="DURATION", help=argparse.SUPPRESS)
    p.set_defaults(handler=run)


def _aws_session() -> boto3.Session:
    # The endpoint comes from AWS_ENDPOINT_URL, as for every command.
    return boto3.Session(
        aws_access_key_id=LAB_AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LAB_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        region_name="eu-west-1",
    )


def _check(args: argparse.Namespace) -> None:
    """Every flag checked before anything starts; ``--secrets-mode`` resolved for ``--kube``."""
    if args.port is not None and not 1024 <= args.port <= 65535:
        raise InputError("--port", args.port, "a TCP port from 1024 to 65535")
    if args.dr_replicas < 0:
        raise InputError("--dr-replicas", args.dr_replicas, "0 or more")
    if args.kube == "real" and args.secrets_mode == "external-secrets":
        raise InputError(
            "--secrets-mode",
            "external-secrets",
            "pulumi with --kube real (no External Secrets Operator runs on the sandbox's control planes)",
        )
    args.secrets_mode = args.secrets_mode or ("pulumi" if args.kube == "real" else "external-secrets")


def run(args: argparse.Namespace, report: Report) -> None:
    _check(args)
    workdir: Path = args.dir
    workdir.mkdir(parents=True, exist_ok=True)
    for stale in ("outputs.json", "kube.json", "primary-kube.json", "control.json", "env.sh", "kubeconfig"):
        (workdir / stale).unlink(missing_ok=True)
    port = args.port or free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with Supervisor() as sup:
        log = workdir / "moto_server.log"
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
            "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",  # faster start; the sandbox needs no AMIs
        }
        proc = sup.start(
            "moto_server",
            [sys.executable, "-m", "scripts.sandbox.moto_server", "-H", "127.0.0.1", "-p", str(port)],
            log_path=log,
            env=env,
            cwd=REPO_ROOT,
        )
        wait_for_port("127.0.0.1", port, timeout=30, proc=proc.popen, what="moto_server", log_path=log)
        os.environ["AWS_ENDPOINT_URL"] = endpoint  # for this process's boto3 (the sites' checks)
        session = _aws_session()
        control = workdir / "control.json"
        control.write_text(json.dumps({"primary_up": False}) + "\n")

        keys = SigningKeys()  # the realm's keys: what the database holds, so every site publishes them
        primary_site, dr_site, drill_site = (
            FakeIdpSite(health_path="/", issuer="https://placeholder/", keys=keys) for _ in range(3)
        )  # configured below
        outputs = seed_topology(
            session,
            idp=args.idp,
            secrets_mode=args.secrets_mode,
            dr_replicas=args.dr_replicas,
            hosts=SiteHosts(primary=primary_site.hostport, dr=dr_site.hostport),
        )
        seed_verifier(session, outputs, keys)
        for site in (primary_site, dr_site, drill_site):
            site.configure(health_path=outputs["dns"]["healthPath"], issuer=outputs["issuer"])
        if args.kube == "real":
            kube_lines = _real_clusters(sup, workdir, outputs, session, control, (primary_site, dr_site, drill_site))
        else:
            kube_lines = _fake_clusters(workdir, outputs, session, control, (primary_site, dr_site, drill_site))
        outputs_path = workdir / "outputs.json"
        outputs_path.write_text(json.dumps(outputs, indent=2) + "\n")
        env_lines = [
            f"export AWS_ENDPOINT_URL={endpoint}",
            f"export AWS_ACCESS_KEY_ID={LAB_AWS_ENV['AWS_ACCESS_KEY_ID']}",
            f"export AWS_SECRET_ACCESS_KEY={LAB_AWS_ENV['AWS_SECRET_ACCESS_KEY']}",
            f"export AWS_REGION={outputs['primaryRegion']}",
            *kube_lines,
        ]
        for site in (primary_site, dr_site, drill_site):
            site.start()
        sup.add_cleanup("stop stand-in sites", lambda: [site.stop() for site in (primary_site, dr_site, drill_site)])
        # As the weekly baseline CronJob leaves one: taken while the primary stand-in is up, before the disaster.
        control.write_text(json.dumps({"primary_up": True}) + "\n")
        baseline = publish_baseline(session, outputs, primary_site, keys)
        control.write_text(json.dumps({"primary_up": False}) + "\n")
        (workdir / "env.sh").write_text("\n".join(env_lines) + "\n")
        sys.stderr.write(_banner(endpoint, log, outputs, workdir, control, env_lines, baseline,
                                 (primary_site, dr_site, drill_site), real=args.kube == "real"))  # fmt: skip
        sys.stderr.flush()
        report.result.update(
            {
                "endpoint": endpoint,
                "outputs": str(outputs_path),
                **_clusters_result(args.kube, workdir),
                "env": env_lines,
            }
        )
        deadline = time.monotonic() + args.exit_after if args.exit_after else None
        try:
            while deadline is None or time.monotonic() < deadline:
                if not proc.running():
                    raise InputError("moto_server", proc.popen.returncode, "a running server", hint=f"see {log}")
                time.sleep(0.5)
        except KeyboardInterrupt:
            report.notes.append(f"stopped by {interrupted_by()}")
        os.environ.pop("AWS_ENDPOINT_URL", None)


def _banner(
    endpoint: str, log: Path, outputs: dict[str, Any], workdir: Path, control: Path, env_lines: list[str],
    baseline: str, sites: tuple[FakeIdpSite, FakeIdpSite, FakeIdpSite], *, real: bool = False,
) -> str:  # fmt: skip
    kube_path, primary_kube_path, outputs_path = (
        workdir / "kube.json",
        workdir / "primary-kube.json",
        workdir / "outputs.json",
    )
    primary_site, dr_site, drill_site = sites
    dr_kube = f"--kube-adapter kubectl --kube-context {DR_CONTEXT}" if real else f"--kube-adapter fake:{kube_path}"
    clusters = (
        [
            f"  DR cluster:         kubectl --kubeconfig {workdir / 'kubeconfig'} --context {DR_CONTEXT}  (real API)",
            f"  primary cluster:    kubectl --kubeconfig {workdir / 'kubeconfig'} --context {PRIMARY_CONTEXT}",
        ]
        if real
        else [
            f"  simulated cluster:  {kube_path}  (use --kube-adapter fake:{kube_path})",
            f"  primary cluster:    {primary_kube_path}  (recover --kube-adapter fake:{primary_kube_path})",
        ]
    )
    return "\n".join(
        [
            f"sandbox ready: moto_server on {endpoint} (log {log})",
            f"  stack outputs:      {outputs_path}",
            *clusters,
            f"  primary site:       http://{primary_site.hostport}  (DOWN: {control} says primary_up=false)",
            f"  DR site:            http://{dr_site.hostport}  (ready once the failover has run)",
            f"  drill site:         http://{drill_site.hostport}  (ready once drill --aws has started its IdP)",
            f"  baseline:           {baseline}",
            "in another shell:",
            *[f"  {line}" for line in env_lines],
            f"  python -m scripts restore rds --source {outputs['database']['primaryInstanceId']} "
            "--target pitr-test --latest",
            f"  python -m scripts drill --aws --stack-outputs {outputs_path} {dr_kube}",
            f"  python -m scripts failover --stack-outputs {outputs_path} {dr_kube} "
            "--probe-scheme http --force --reason sandbox --dns-wait 0 --yes",
            "Ctrl-C stops the sandbox.",
            "",
        ]
    )


def _clusters_result(kube: str, workdir: Path) -> dict[str, Any]:
    if kube == "real":
        contexts = {"dr": DR_CONTEXT, "primary": PRIMARY_CONTEXT}
        return {"kube": kube, "kubeconfig": str(workdir / "kubeconfig"), "contexts": contexts}
    kube_state, primary_state = str(workdir / "kube.json"), str(workdir / "primary-kube.json")
    return {"kube": kube, "kube_state": kube_state, "primary_kube_state": primary_state}


def _fake_clusters(
    workdir: Path, outputs: dict[str, Any], session: boto3.Session, control: Path,
    sites: tuple[FakeIdpSite, FakeIdpSite, FakeIdpSite],
) -> list[str]:  # fmt: skip
    """Both sites' clusters as JSON files (``--kube-adapter fake:FILE``), seeded; the stand-in sites read them."""
    kube_path, primary_kube_path = workdir / "kube.json", workdir / "primary-kube.json"
    primary_site, dr_site, drill_site = sites
    primary_site.set_ready(lambda: _primary_ready(control, primary_kube_path, outputs))
    dr_site.set_ready(lambda: _dr_ready(kube_path, outputs, session))
    drill_site.set_ready(lambda: drill_ready(kube_path, outputs, session))
    _write_kube_state(kube_path, outputs, session, drill_site.hostport)
    _write_primary_kube_state(primary_kube_path, outputs, session)
    return []


def _real_clusters(
    sup: Supervisor, workdir: Path, outputs: dict[str, Any], session: boto3.Session, control: Path,
    sites: tuple[FakeIdpSite, FakeIdpSite, FakeIdpSite],
) -> list[str]:  # fmt: skip
    """Both sites' clusters as real control planes, seeded; the stand-in sites read them, and the drill's pods are
    port-forwarded to the stand-in drill IdP. Returns env.sh's lines."""
    from scripts.k8s.adapter import KubectlAdapter
    from scripts.sandbox import real_cluster

    kubeconfig, planes = real_cluster.start_planes(sup, workdir)
    os.environ["KUBECONFIG"] = str(kubeconfig)  # this process's kubectl: the seeding and the sites' checks
    dr, primary = KubectlAdapter(DR_CONTEXT), KubectlAdapter(PRIMARY_CONTEXT)
    db, creds = outputs["database"], _app_credentials(outputs, session)
    dr_db = {**_endpoint(outputs, session), **creds}
    real_cluster.seed(dr, outputs, dr_db, outputs["standby"]["drReplicas"], standby_deployment)
    real_cluster.seed_drill_namespace(dr, outputs)
    primary_db = {"host": db["primaryEndpoint"], "port": str(db["port"]), "dbname": db["dbName"], **creds}
    real_cluster.seed(primary, outputs, primary_db, outputs["standby"]["primaryReplicas"], standby_deployment)
    primary_site, dr_site, drill_site = sites
    drill_ns = outputs["standby"].get("drillNamespace")
    if drill_ns:
        host, port = drill_site.hostport.rsplit(":", 1)
        planes[DR_CONTEXT].forward_pods("sandbox-drill", [drill_ns], host, int(port))

    def drill_ready() -> bool:
        instance = real_cluster.site_instance(dr, outputs, session, namespace=drill_ns)
        return instance is not None and instance["DBInstanceIdentifier"].startswith(DRILL_PREFIX)

    def dr_ready() -> bool:
        instance = real_cluster.site_instance(dr, outputs, session)
        writable = instance is not None and not instance.get("ReadReplicaSourceDBInstanceIdentifier")
        return writable and instance.get("DBInstanceStatus") == "available"

    dr_site.set_ready(dr_ready)
    drill_site.set_ready(drill_ready)
    primary_site.set_ready(lambda: _control_says_up(control) and real_cluster.primary_running(primary, outputs))
    return [f"export KUBECONFIG={kubeconfig}"]


def _control_says_up(control: Path) -> bool:
    try:
        return bool(json.loads(control.read_text()).get("primary_up"))
    except (OSError, ValueError):
        return False


def _endpoint(outputs: dict[str, Any], session: boto3.Session) -> dict[str, str]:
    """The DR endpoint secret's host, port and dbname (what the standby starts with)."""
    sm = session.client("secretsmanager", region_name=outputs["drRegion"])
    doc = json.loads(sm.get_secret_value(SecretId=outputs["standby"]["drDbEndpointSecretArn"])["SecretString"])
    return {"host": doc["host"], "port": str(doc["port"]), "dbname": doc["dbname"]}


def _app_credentials(outputs: dict[str, Any], session: boto3.Session) -> dict[str, str]:
    sm = session.client("secretsmanager", region_name=outputs["drRegion"])
    doc = json.loads(sm.get_secret_value(SecretId=f"{outputs['standby']['idp']}/db-app-credentials")["SecretString"])
    return {"username": doc["username"], "password": doc["password"]}


def _write_kube_state(path: Path, outputs: dict[str, Any], session: boto3.Session, drill_host: str) -> None:
    path.write_text(json.dumps({"secrets": {}, "deployments": {}, "externalsecrets": {}}))
    kube = FileKube(path, ready_after=2)
    seed_kube(kube, outputs, session)
    kube.state["service_urls"][drill_service_key(outputs)] = drill_host
    kube._save()


def seed_kube(kube: FakeKube, outputs: dict[str, Any], session: boto3.Session) -> None:
    """The DR cluster as the stack leaves it: DB Secret, ExternalSecret, Deployment(s) at drReplicas."""
    sb = outputs["standby"]
    keys = DB_SECRET_KEYS[sb["idp"]]
    ns = sb["namespace"]
    endpoint = json.loads(
        session.client("secretsmanager", region_name=outputs["drRegion"]).get_secret_value(
            SecretId=sb["drDbEndpointSecretArn"]
        )["SecretString"]
    )
    creds = json.loads(
        session.client("secretsmanager", region_name=outputs["drRegion"]).get_secret_value(
            SecretId=f"{sb['idp']}/db-app-credentials"
        )["SecretString"]
    )
    kube.add_secret(
        ns,
        sb["dbSecretName"],
        {
            keys["host"]: endpoint["host"],
            keys["port"]: str(endpoint["port"]),
            keys["dbname"]: endpoint["dbname"],
            keys["username"]: creds["username"],
            keys["password"]: creds["password"],
        },
    )
    for name in filter(None, [sb["serverDeployment"], sb.get("workerDeployment")]):
        kube.add_object(standby_deployment(sb, name, sb["drReplicas"]))
        kube.add_deployment(ns, name, sb["drReplicas"], image=f"{sb['idp']}:26.4.2")
    kube.add_object({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "rds-ca", "namespace": ns},
                     "data": {"rds-ca.pem": "(the RDS CA bundle)"}})  # fmt: skip
    if sb.get("drillNamespace"):
        kube.add_object({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": sb["drillNamespace"]}})
    if sb.get("externalSecretName"):
        kube.add_external_secret(
            ns,
            sb["externalSecretName"],
            target=sb["dbSecretName"],
            remote_ref=sb["drDbEndpointSecretArn"],
            keys={keys["host"]: "host", keys["port"]: "port", keys["dbname"]: "dbname"},
        )


def standby_deployment(sb: dict[str, Any], name: str, replicas: int) -> dict[str, Any]:
    """The standby Deployment's manifest as the program writes it, reduced to what a drill copies: the image,
    the DB Secret's keys as env, the CA bundle ConfigMap, the ports and the ServiceAccount (SIMULATED)."""
    keys = DB_SECRET_KEYS[sb["idp"]]
    labels = {"app.kubernetes.io/name": sb["idp"], "app.kubernetes.io/component": name}
    env = [
        {"name": key, "valueFrom": {"secretKeyRef": {"name": sb["dbSecretName"], "key": key}}} for key in keys.values()
    ]
    env.append({"name": "JAVA_OPTS_APPEND", "value": f"-Djgroups.dns.query=keycloak-discovery.{sb['namespace']}.svc"})
    ports = [{"name": "http", "containerPort": 8080}, {"name": "management", "containerPort": 9000}]
    if sb["idp"] == "authentik":
        ports = [{"name": "http", "containerPort": 9000}]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": sb["namespace"], "labels": labels, "uid": "sandbox"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": name,
                    # A real cluster (sandbox --kube real) keeps a deleted pod this long, as a kubelet would.
                    "terminationGracePeriodSeconds": 5,
                    "containers": [{"name": name, "image": f"{sb['idp']}:26.4.2", "env": env, "ports": ports,
                                    "volumeMounts": [{"name": "rds-ca", "mountPath": "/etc/rds-ca"}]}],
                    "volumes": [{"name": "rds-ca", "configMap": {"name": "rds-ca"}}],
                },
            },
        },
    }  # fmt: skip


def _dr_ready(kube_path: Path, outputs: dict[str, Any], session: boto3.Session) -> bool:
    try:
        state = json.loads(kube_path.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return dr_site_ready(state, outputs, session)


def dr_site_ready(state: dict[str, Any], outputs: dict[str, Any], session: boto3.Session) -> bool:
    """Ready = pods running AND their DB host is a writable DR instance (as the real app would need)."""
    instance = serving_instance(state, outputs, outputs["standby"]["namespace"], session)
    if instance is None:
        return False
    return instance.get("DBInstanceStatus") == "available" and not instance.get("ReadReplicaSourceDBInstanceIdentifier")


def _write_primary_kube_state(path: Path, outputs: dict[str, Any], session: boto3.Session) -> None:
    """The primary cluster: the IdP on the primary instance at primaryReplicas, its DB Secret synced from
    the primary region's endpoint secret (what ``recover`` stops, repoints and starts)."""
    path.write_text(json.dumps({"secrets": {}, "deployments": {}, "externalsecrets": {}}))
    kube, sb = FileKube(path, ready_after=2), outputs["standby"]
    keys = DB_SECRET_KEYS[sb["idp"]]
    db = outputs["database"]
    kube.add_secret(sb["namespace"], sb["dbSecretName"], {
        keys["host"]: db["primaryEndpoint"], keys["port"]: str(db["port"]), keys["dbname"]: db["dbName"],
    })  # fmt: skip
    for name in filter(None, [sb["serverDeployment"], sb.get("workerDeployment")]):
        kube.add_deployment(sb["namespace"], name, sb["primaryReplicas"], image=f"{sb['idp']}:26.4.2")
    if sb.get("externalSecretName") and sb.get("primaryDbEndpointSecretArn"):
        kube.add_external_secret(
            sb["namespace"], sb["externalSecretName"], target=sb["dbSecretName"],
            remote_ref=sb["primaryDbEndpointSecretArn"],
            keys={keys["host"]: "host", keys["port"]: "port", keys["dbname"]: "dbname"},
        )  # fmt: skip


def _primary_ready(control: Path, primary_kube: Path, outputs: dict[str, Any]) -> bool:
    """Up when control.json says so and the primary cluster runs the IdP (recover scales it to 0)."""
    try:
        up = bool(json.loads(control.read_text()).get("primary_up"))
        state = json.loads(primary_kube.read_text())
    except (OSError, ValueError):
        return False
    sb = outputs["standby"]
    key = f"{sb['namespace']}/{sb['serverDeployment']}"
    return up and int(state["deployments"].get(key, {}).get("replicas", 0)) > 0
