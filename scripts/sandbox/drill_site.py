"""What the sandbox adds so ``drill --aws`` runs to a green report (SIMULATED, like the rest of the sandbox).

* the verifier client's secret in both regions (``bootstrap verifier`` writes it; AWS replicates it);
* a baseline of the primary stand-in site in the DR bucket, as the weekly baseline CronJob leaves one;
* a third stand-in site for the drill namespace's Service: ready only when the fake DR cluster runs the drill's
  Deployment with a ready pod AND its DB Secret names an available ``idp-dr-drill-*`` instance in the DR region,
  so the drill's report depends on its own restore and start.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3

from contract.drills import DRILL_PREFIX, DRILL_SERVICE
from contract.outputs import StackOutputs
from scripts.aws.client import Aws
from scripts.sandbox.cluster_state import serving_instance
from scripts.sandbox.sites import FakeIdpSite, SigningKeys
from scripts.verify import BaselineParams, ClientCredentials, Target, capture_baseline
from scripts.verify.baseline_store import publish


def seed_verifier(session: boto3.Session, outputs: dict[str, Any], keys: SigningKeys) -> None:
    name = f"idp-dr/sso/verifier-client-{outputs['idp']}"
    value = json.dumps({"client_id": keys.client_id, "client_secret": keys.client_secret, "realm": "company"})
    for region in (outputs["primaryRegion"], outputs["drRegion"]):
        session.client("secretsmanager", region_name=region).create_secret(Name=name, SecretString=value)
    outputs["standby"]["verifierSecret"] = name


def publish_baseline(session: boto3.Session, outputs: dict[str, Any], site: FakeIdpSite, keys: SigningKeys) -> str:
    """The primary site's baseline in the DR bucket (keycloak: realm company)."""
    target = Target(idp="keycloak", base_url=f"http://{site.hostport}", realm="company")
    baseline = capture_baseline(BaselineParams(target, ClientCredentials(keys.client_id, keys.client_secret)))
    return publish(baseline, StackOutputs.model_validate(outputs), Aws(session))


def drill_service_key(outputs: dict[str, Any]) -> str:
    return f"{outputs['standby']['drillNamespace']}/{DRILL_SERVICE}"


def drill_ready(kube_path: Path, outputs: dict[str, Any], session: boto3.Session) -> bool:
    try:
        state = json.loads(kube_path.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    instance = serving_instance(state, outputs, outputs["standby"]["drillNamespace"], session)
    if instance is None:
        return False
    return instance["DBInstanceIdentifier"].startswith(DRILL_PREFIX) and instance["DBInstanceStatus"] == "available"
