"""What the sandbox's stand-in sites read of the fake cluster: is the IdP running there, and on which instance."""

from __future__ import annotations

from typing import Any

import boto3

from contract.secrets import DB_SECRET_KEYS


def serving_instance(
    state: dict[str, Any], outputs: dict[str, Any], namespace: str, session: boto3.Session
) -> dict[str, Any] | None:
    """The DR-region instance the namespace's server pods use, when at least one of them is ready; else None."""
    sb = outputs["standby"]
    deployment = state["deployments"].get(f"{namespace}/{sb['serverDeployment']}", {})
    if not deployment.get("replicas") or deployment.get("ready", 0) < 1:
        return None
    host = state["secrets"].get(f"{namespace}/{sb['dbSecretName']}", {}).get(DB_SECRET_KEYS[sb["idp"]]["host"])
    return instance_at(host, outputs["drRegion"], session)


def instance_at(host: str | None, region: str, session: boto3.Session) -> dict[str, Any] | None:
    """The instance in ``region`` whose endpoint is ``host``, if any."""
    rds = session.client("rds", region_name=region)
    for instance in rds.describe_db_instances()["DBInstances"]:
        if host and (instance.get("Endpoint") or {}).get("Address") == host:
            return instance
    return None
