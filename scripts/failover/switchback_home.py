"""The planned failback's last steps: the original direction of protection, and the DR site as it was.

Functions with explicit inputs, called by :class:`scripts.failover.switchback.Switchback`:

* :func:`restore_protection` the primary's automated backups replicate to the DR region again, the failed-over
  primary's stop replicating toward the primary region, and the DR read replica is rebuilt from the primary
  (the failed-over database kept under ``<replica>-failedover-<stamp>`` when it held the replica's name);
* :func:`home_standby` the DR site pointed at the DR replica (External Secrets) and scaled back to ``drReplicas``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from contract.outputs import StackOutputs
from scripts.aws.client import Aws, error_code, error_message
from scripts.aws.rds import describe_instance
from scripts.errors import ExternalError
from scripts.k8s.site import EndpointSink, point_at, scale_and_wait
from scripts.lifecycle.replica import RebuildContext, rebuild_dr_replica
from scripts.polling import Clock


def restore_protection(
    aws: Aws,
    out: StackOutputs,
    pinned: dict[str, Any],
    *,
    incident: str,
    clock: Clock,
    interval: float,
    timeout: float,
    on_update: Callable[[str], None],
    save: Callable[[], None],
) -> tuple[dict[str, Any], list[str]]:
    """Returns the step's detail and the notes for the report (what was kept, and how to delete it)."""
    serving = describe_instance(aws, out.primaryRegion, str(out.database.primaryInstanceId)) or {}
    detail: dict[str, Any] = {
        "backups_to_dr": _replicate(
            aws, out.drRegion, serving["DBInstanceArn"], out.primaryRegion, out.database.drKmsKeyArn
        ),
        "stopped_back_replication": _stop_back_replication(aws, out, pinned),
    }
    ctx = RebuildContext(
        aws=aws,
        out=out,
        serving_id=str(out.database.primaryInstanceId),
        incident=incident,
        suffix="failedover",
        stamp=pinned["stamp"],
        clock=clock,
        interval=interval,
        timeout=timeout,
        on_update=on_update,
        pinned=pinned,
        save=save,
        replace_standalone=True,
    )
    detail["dr_replica"] = rebuild_dr_replica(ctx)
    notes = list(ctx.todo)
    if pinned.get("dr_primary") != out.database.drReplicaInstanceId:
        notes.append(
            f"the failed-over primary {pinned.get('dr_primary')} in {out.drRegion} is kept: delete it once you no "
            "longer need it (it holds nothing the primary lacks)"
        )
    return detail, notes


def _replicate(aws: Aws, region: str, source_arn: str, source_region: str, key: str | None) -> str:
    try:
        aws.call(
            aws.client("rds", region),
            "StartDBInstanceAutomatedBackupsReplication",
            SourceDBInstanceArn=source_arn,
            KmsKeyId=key,
            SourceRegion=source_region,
        )
    except ClientError as exc:
        if error_code(exc) != "DBInstanceAutomatedBackupQuotaExceeded" and "already" not in str(exc).lower():
            raise ExternalError(
                f"replicating {source_arn}'s backups to {region}: {error_code(exc)}: {error_message(exc)}",
                hint="re-run failback (it resumes here)",
            ) from None
        return "already replicating"
    return "started"


def _stop_back_replication(aws: Aws, out: StackOutputs, pinned: dict[str, Any]) -> str:
    dr_primary = describe_instance(aws, pinned["dr_primary_region"], pinned["dr_primary"]) or {}
    if not dr_primary.get("DBInstanceArn"):
        return "the failed-over primary is gone"
    try:
        aws.call(
            aws.client("rds", out.primaryRegion),
            "StopDBInstanceAutomatedBackupsReplication",
            SourceDBInstanceArn=dr_primary["DBInstanceArn"],
        )
    except ClientError as exc:
        return f"not replicating ({error_code(exc)})"
    return "stopped"


def home_standby(
    aws: Aws,
    out: StackOutputs,
    kube: Any,
    *,
    timeout: float,
    clock: Clock,
    register_secret: Callable[[str | None], None],
    on_update: Callable[[str], None],
) -> dict[str, Any]:
    sb = out.standby
    detail: dict[str, Any] = {}
    replica_id = out.database.drReplicaInstanceId
    replica = describe_instance(aws, out.drRegion, replica_id) if replica_id else None
    if replica and sb.secretsMode == "external-secrets":
        sink = EndpointSink(
            idp=sb.idp,
            namespace=sb.namespace,
            db_secret=sb.dbSecretName,
            secrets_mode=sb.secretsMode,
            endpoint_secret=sb.drDbEndpointSecretArn,
            region=out.drRegion,
            external_secret=sb.externalSecretName,
        )
        endpoint = replica["Endpoint"]
        want = {"host": endpoint["Address"], "port": str(endpoint.get("Port") or 5432), "dbname": out.database.dbName}
        detail["pointed"] = point_at(
            sink,
            want,
            aws=aws,
            kube=kube,
            clock=clock,
            timeout=timeout,
            register_secret=register_secret,
            on_update=on_update,
        )
    deployments = [sb.serverDeployment] + ([sb.workerDeployment] if sb.workerDeployment else [])
    detail["scaled"] = scale_and_wait(
        kube, sb.namespace, deployments, sb.drReplicas, timeout=timeout, clock=clock, on_update=on_update
    )
    return detail
