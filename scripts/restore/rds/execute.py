"""``restore rds`` after planning: the restore call, the wait until available, the post-checks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from contract.drills import KIND_DRILL, TAG_KIND
from scripts import __version__
from scripts.aws.client import Aws, error_code, error_message, tags_dict
from scripts.aws.rds import describe_instance
from scripts.errors import ExternalError, RefusedError
from scripts.polling import Clock, Verdict, poll_until
from scripts.progress import Progress
from scripts.report import Report
from scripts.restore.rds.plan import plan_restore
from scripts.restore.rds.request import (
    FAILED_STATUSES,
    NOT_FOUND_GRACE_S,
    TAG_DRILL_TARGET,
    TAG_SOURCE,
    TAG_TIME,
    TAG_VERSION,
    RestoreOutcome,
    RestorePlan,
    RestoreSpec,
    Setting,
    kind_of,
)
from scripts.timeutil import iso


def _ensure_drill_sg(aws: Aws, plan: RestorePlan) -> str:
    group = plan.drill_sg or {}
    if group.get("GroupId"):
        return str(group["GroupId"])
    ec2 = aws.client("ec2", plan.region)
    created = aws.call(
        ec2,
        "CreateSecurityGroup",
        GroupName=plan.target,
        VpcId=plan.vpc_id,
        Description=f"idp-dr drill {plan.target}: no ingress, no egress (isolated restore of {plan.spec.source})",
        TagSpecifications=[
            {
                "ResourceType": "security-group",
                "Tags": [
                    {"Key": TAG_DRILL_TARGET, "Value": plan.target},
                    {"Key": TAG_KIND, "Value": KIND_DRILL},
                    {"Key": TAG_SOURCE, "Value": plan.spec.source_tag},
                    {"Key": TAG_VERSION, "Value": __version__},
                ],
            }
        ],
    )
    group_id = str(created["GroupId"])
    # A new group allows all egress by default; an isolated drill database talks to nobody.
    try:
        aws.call(
            ec2,
            "RevokeSecurityGroupEgress",
            GroupId=group_id,
            IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
        )
    except ClientError as exc:
        if error_code(exc) != "InvalidPermission.NotFound":
            raise ExternalError(f"could not remove default egress from {group_id}: {error_message(exc)}") from None
    return group_id


def restore_rds(
    spec: RestoreSpec,
    report: Report,
    *,
    aws: Aws,
    clock: Clock | None = None,
    progress: Progress | None = None,
    step_prefix: str = "",
    simulate_permissions: bool = True,
) -> RestoreOutcome:
    """Validate, call and wait, recording steps ``validate``, ``restore-call`` and
    ``wait-available`` (prefixed with ``step_prefix``) and the facts in ``report.result``."""
    clock = clock or Clock()
    progress = progress or Progress("restore rds", enabled=False)
    result: dict[str, Any] = report.result.setdefault("restore", {}) if step_prefix else report.result

    with report.step(f"{step_prefix}validate"):
        plan = plan_restore(spec, report, aws=aws, clock=clock, simulate_permissions=simulate_permissions)
    report.notes.extend(plan.notes)
    _record_plan(result, plan)
    # For a resumed restore the RPO is measured from the original request, not from this re-run.
    call_time = plan.requested_at or clock.now()
    _restore_call(report, plan, aws, progress, result, step_prefix)
    result["call_time"] = iso(call_time)
    if spec.dry_run:
        return _dry_run_outcome(plan, aws, result)
    return _wait_and_check(report, plan, aws, clock, progress, result, step_prefix, call_time)


def _record_plan(result: dict[str, Any], plan: RestorePlan) -> None:
    spec = plan.spec
    result.update(
        {
            "source": spec.source,
            **({"replicated_backups_arn": spec.replicated_backups_arn} if spec.replicated_backups_arn else {}),
            "target": plan.target,
            "region": plan.region,
            "kind": kind_of(spec),
            "requested_time": spec.time_tag,
            "restorable_window": plan.window.to_dict(),
            "latest_restorable_at_call": iso(plan.latest_at_call),
            "settings": settings_by_origin(plan.settings),
        }
    )


def _restore_call(
    report: Report, plan: RestorePlan, aws: Aws, progress: Progress, result: dict[str, Any], step_prefix: str
) -> None:
    """The one mutating call (and, for a drill, its isolated security group); skipped to resume or dry-run."""
    spec = plan.spec
    with report.step(f"{step_prefix}restore-call") as call_step:
        if plan.resume:
            call_step.status = "resumed"
            call_step.detail["reason"] = f"{plan.target} already exists with this restore's tags"
            progress.update(f"resuming: {plan.target} was already requested by idp-dr")
        elif spec.dry_run:
            call_step.status = "skipped"
            call_step.detail["reason"] = "--dry-run: nothing was created"
            result["request"] = _printable_request(plan.request)
            if spec.drill and not (plan.drill_sg or {}).get("GroupId"):
                result["would_create_security_group"] = {
                    "GroupName": plan.target,
                    "VpcId": plan.vpc_id,
                    "ingress": [],
                    "egress": [],
                }
            report.check("dry-run", True, "validated; no AWS resource was created or changed", mutating_calls=0)
        else:
            if spec.drill:
                group_id = _ensure_drill_sg(aws, plan)
                plan.request["VpcSecurityGroupIds"] = [group_id]
                plan.settings["VpcSecurityGroupIds"] = Setting([group_id], "drill")
                result["settings"] = settings_by_origin(plan.settings)
                result["drill_security_group"] = group_id
            _call_restore(aws, plan)
            call_step.detail["tags"] = {t["Key"]: t["Value"] for t in plan.request["Tags"]}


def _dry_run_outcome(plan: RestorePlan, aws: Aws, result: dict[str, Any]) -> RestoreOutcome:
    spec = plan.spec
    status = "not-created"
    if plan.resume:
        current = describe_instance(aws, plan.region, plan.target) or {}
        status = str(current.get("DBInstanceStatus", "unknown"))
        result["status"] = status
    return RestoreOutcome(
        plan.target,
        plan.region,
        status,
        None,
        None,
        None,
        spec.restore_time or plan.latest_at_call,
        None,
        plan.resume,
        True,
    )


def _wait_and_check(
    report: Report,
    plan: RestorePlan,
    aws: Aws,
    clock: Clock,
    progress: Progress,
    result: dict[str, Any],
    step_prefix: str,
    call_time: datetime,
) -> RestoreOutcome:
    """Wait until available, record the endpoint and the RPO, and check the settings took."""
    spec = plan.spec
    with report.step(f"{step_prefix}wait-available") as wait_step:
        instance, polls = _wait_available(aws, plan, clock=clock, progress=progress)
        wait_step.detail["polls"] = polls
        wait_step.detail["poll_interval_s"] = spec.poll_interval
    noticed = clock.now()

    endpoint = instance.get("Endpoint") or {}
    secret = instance.get("MasterUserSecret") or {}
    restored_to = spec.restore_time or plan.latest_at_call
    result.update(
        {
            "status": instance.get("DBInstanceStatus"),
            "endpoint": endpoint.get("Address"),
            "port": endpoint.get("Port"),
            "master_secret_arn": secret.get("SecretArn"),
            "available_noticed_at": iso(noticed),
            "rpo": _rpo(call_time, restored_to, plan.latest_at_call),
            "aws_calls": {
                "calls": aws.stats.calls,
                "throttled_retries": aws.stats.throttled_retries,
                "transient_retries": aws.stats.transient_retries,
            },
        }
    )
    _post_checks(report, plan, instance, check_prefix=f"{step_prefix}restored")
    progress.done(f"{plan.target} is available at {endpoint.get('Address')}:{endpoint.get('Port')}")
    return RestoreOutcome(
        plan.target,
        plan.region,
        str(instance.get("DBInstanceStatus")),
        endpoint.get("Address"),
        endpoint.get("Port"),
        secret.get("SecretArn"),
        restored_to,
        instance,
        plan.resume,
        False,
    )


#: How each origin is shown in the report, in this order.
ORIGIN_LABELS = {
    "source": "copied from the source",
    "replicated-backup": "copied from the replicated backups",
    "flag": "from flags / stack outputs",
    "drill": "set for the drill",
    "inherited": "inherited from the backup (not a restore parameter)",
    "default-group": "the engine's default option group (assigned by AWS, checked after)",
    "default": "DR-safe default (source not readable)",
}


def settings_by_origin(settings: dict[str, Setting]) -> dict[str, dict[str, Any]]:
    """The restore's settings grouped by where each value came from (readable as text and JSON)."""
    grouped: dict[str, dict[str, Any]] = {}
    for origin, label in ORIGIN_LABELS.items():
        chosen = {k: v.value for k, v in settings.items() if v.origin == origin}
        if chosen:
            grouped[label] = chosen
    return grouped


def _printable_request(request: dict[str, Any]) -> dict[str, Any]:
    return {k: (iso(v) if isinstance(v, datetime) else v) for k, v in request.items()}


def _call_restore(aws: Aws, plan: RestorePlan) -> None:
    rds = aws.client("rds", plan.region)
    try:
        aws.call(rds, "RestoreDBInstanceToPointInTime", **plan.request)
    except ClientError as exc:
        code = error_code(exc)
        if code in ("DBInstanceAlreadyExists", "DBInstanceAlreadyExistsFault"):
            raise RefusedError(
                f"{plan.target} was created by someone else between validation and the restore call",
                hint="re-run: the command will resume it if idp-dr created it, else refuse",
            ) from None
        raise ExternalError(
            f"RestoreDBInstanceToPointInTime for {plan.target} in {plan.region} failed: {code}: {error_message(exc)}",
            hint="nothing was created and the source is untouched; fix the cause and re-run",
        ) from None


def _events(aws: Aws, region: str, target: str, since: datetime | None = None) -> list[dict[str, Any]]:
    rds = aws.client("rds", region)
    params: dict[str, Any] = {"SourceIdentifier": target, "SourceType": "db-instance"}
    if since is not None:
        params["StartTime"] = since
    else:
        params["Duration"] = 24 * 60
    try:
        return aws.call(rds, "DescribeEvents", **params).get("Events", [])
    except (ClientError, ExternalError):
        return []


def _wait_available(aws: Aws, plan: RestorePlan, *, clock: Clock, progress: Progress) -> tuple[dict[str, Any], int]:
    started = clock.monotonic()
    state: dict[str, Any] = {"last_status": None, "last_event": None, "events_at": -1e9}

    def fetch() -> dict[str, Any] | None:
        return describe_instance(aws, plan.region, plan.target)

    def judge(instance: dict[str, Any] | None) -> Verdict[dict[str, Any]]:
        if instance is None:
            if clock.monotonic() - started < NOT_FOUND_GRACE_S:
                return Verdict("wait", f"{plan.target}: not visible yet")
            return Verdict("failed", f"{plan.target} does not exist (deleted while restoring?)")
        status = str(instance.get("DBInstanceStatus"))
        # Events are fetched when the status changes and every 30 s: progress, not a poll driver.
        if status != state["last_status"] or clock.monotonic() - state["events_at"] >= 30:
            events = _events(aws, plan.region, plan.target)
            state["events_at"] = clock.monotonic()
            if events:
                state["last_event"] = events[-1].get("Message")
            state["last_status"] = status
        message = f"{plan.target}: {status}" + (f" ({state['last_event']})" if state["last_event"] else "")
        if status == "available":
            return Verdict("done", message, instance)
        if status in FAILED_STATUSES:
            return Verdict("failed", status, instance)
        return Verdict("wait", message, instance)

    def failed(verdict: Verdict[dict[str, Any]]) -> Exception:
        events = [f"{iso(e.get('Date'))} {e.get('Message')}" for e in _events(aws, plan.region, plan.target)][-5:]
        status = verdict.message
        return ExternalError(
            f"restore of {plan.target} ended in status '{status}'"
            + (f"; last events: {' | '.join(events)}" if events else "; no events recorded"),
            hint="the source was not touched; inspect the events, delete the failed instance (it was created "
            "by this restore) and re-run, or restore to another --target",
            details={"status": status, "events": events},
        )

    instance, polls = poll_until(
        fetch,
        judge,
        interval=plan.spec.poll_interval,
        timeout=plan.spec.timeout_s,
        clock=clock,
        what=f"restore of {plan.target}",
        on_update=progress.update,
        on_failed=failed,
        timeout_hint="the restore continues in AWS; re-run the same command to resume waiting "
        "(raise --timeout for large databases)",
    )
    assert instance is not None
    return instance, polls


def _rpo(call_time: datetime, restored_to: datetime | None, latest: datetime | None) -> dict[str, Any]:
    if restored_to is None:
        return {"restored_to": None}
    out: dict[str, Any] = {
        "restored_to": iso(restored_to),
        # Writes after restored_to are not in the new instance: the data-loss window if the
        # source were lost at call time.
        "data_loss_window_s": round((call_time - restored_to).total_seconds(), 1),
    }
    if latest is not None:
        out["restorable_lag_s"] = round((call_time - latest).total_seconds(), 1)
    return out


def _post_checks(report: Report, plan: RestorePlan, instance: dict[str, Any], *, check_prefix: str) -> None:
    """Check the new instance carries what was requested: AWS applies some settings silently."""
    req = plan.request
    observed: dict[str, Any] = {
        "DBSubnetGroupName": (instance.get("DBSubnetGroup") or {}).get("DBSubnetGroupName"),
        "VpcSecurityGroupIds": sorted(g["VpcSecurityGroupId"] for g in instance.get("VpcSecurityGroups", [])),
        "DBParameterGroupName": next(
            iter(g["DBParameterGroupName"] for g in instance.get("DBParameterGroups", [])), None
        ),
        "OptionGroupName": next(iter(g["OptionGroupName"] for g in instance.get("OptionGroupMemberships", [])), None),
        "MultiAZ": instance.get("MultiAZ"),
        "StorageType": instance.get("StorageType"),
        "DeletionProtection": instance.get("DeletionProtection"),
        "PubliclyAccessible": instance.get("PubliclyAccessible"),
    }
    expected = dict(req)
    if "OptionGroupName" in plan.settings and "OptionGroupName" not in req and not plan.spec.replicated_backups_arn:
        expected["OptionGroupName"] = plan.settings["OptionGroupName"].value  # the source's default group
    for key, actual in observed.items():
        if key not in expected:
            continue
        wanted = sorted(expected[key]) if isinstance(expected[key], list) else expected[key]
        if key == "PubliclyAccessible" and actual is None:
            actual = False  # omitted by some APIs when false
        ok = actual == wanted
        report.check(f"{check_prefix}.{key}", ok, f"{actual!r}" + ("" if ok else f", requested {wanted!r}"))
    if plan.source_kms_key:
        actual_kms = instance.get("KmsKeyId")
        report.check(
            f"{check_prefix}.StorageKmsKeyId",
            actual_kms == plan.source_kms_key,
            f"{actual_kms}"
            + ("" if actual_kms == plan.source_kms_key else f", expected the backup's key {plan.source_kms_key}"),
        )
    if req.get("ManageMasterUserPassword"):
        secret = instance.get("MasterUserSecret") or {}
        ok = bool(secret.get("SecretArn")) and (
            "MasterUserSecretKmsKeyId" not in req or secret.get("KmsKeyId") == req["MasterUserSecretKmsKeyId"]
        )
        report.check(
            f"{check_prefix}.MasterUserSecret",
            ok,
            f"{secret.get('SecretArn')} (status {secret.get('SecretStatus')}, key {secret.get('KmsKeyId')})",
        )
    tags = tags_dict(instance.get("TagList"))
    report.check(
        f"{check_prefix}.Tags",
        tags.get(TAG_SOURCE) == plan.spec.source_tag,
        f"{TAG_SOURCE}={tags.get(TAG_SOURCE)}, {TAG_TIME}={tags.get(TAG_TIME)}",
    )
