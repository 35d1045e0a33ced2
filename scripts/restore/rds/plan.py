"""``restore rds`` planning: everything before the first mutating call, as named read-only phases.

:func:`plan_restore` reads as its phases: check the request, find the region and account, read
the source (an instance, or replicated backups in the DR region), check the time against the
restorable window, check the target (free, ours to resume, or taken), choose every setting and
check the DR-region resources it names, the drill's security group, the IAM simulation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from scripts.aws.client import Aws, tags_dict, validate_region
from scripts.aws.rds import automated_backups, describe_instance, instances_hint
from scripts.errors import ExternalError, InputError, RefusedError
from scripts.polling import Clock, check_poll_interval
from scripts.report import Report
from scripts.restore.rds.checks import (
    _check_exists,
    _check_security_groups,
    _find_drill_sg,
    _simulate_permissions,
    _window_for_instance,
)
from scripts.restore.rds.request import (
    DRILL_ACTIONS,
    REQUIRED_ACTIONS,
    TAG_KIND,
    TAG_RESTORED_TO,
    TAG_SOURCE,
    TAG_TIME,
    RestorePlan,
    RestoreSpec,
    Setting,
    Window,
    check_restore_time,
    effective_target,
    kind_of,
    parse_backups_arn,
    validate_identifier,
)
from scripts.restore.rds.settings import build_request, choose_settings
from scripts.timeutil import parse_iso


@dataclass
class _Source:
    """What the restore starts from: the source instance (when readable) and/or its replicated backups."""

    window: Window
    instance: dict[str, Any] | None = None
    backup: dict[str, Any] | None = None
    kms_key: str | None = None
    vpc_id: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class _Target:
    resume: bool = False
    requested_at: datetime | None = None
    restored_to: datetime | None = None


def plan_restore(
    spec: RestoreSpec, report: Report, *, aws: Aws, clock: Clock, simulate_permissions: bool = True
) -> RestorePlan:
    """Everything before the first mutating call. Raises on any bad input."""
    target = _check_spec(spec)
    arn_match = parse_backups_arn(spec.replicated_backups_arn) if spec.replicated_backups_arn else None
    region = _region(spec, arn_match, aws)
    principal = _check_account(spec, arn_match, aws)
    source = _read_backups(spec, aws, region) if arn_match is not None else _read_instance(spec, aws, region)
    check_restore_time(spec, source.window, clock.now())
    existing = _check_target(spec, aws, region, target, clock)
    latest_at_call = existing.restored_to or source.window.latest
    settings = choose_settings(spec, region, source.instance, source.backup, source.notes)
    vpc_id = _check_dr_resources(spec, aws, region, settings, source.vpc_id, from_backups=arn_match is not None)
    drill_sg = _drill_security_group(spec, aws, region, target, vpc_id, settings)
    if simulate_permissions and not existing.resume:
        actions = REQUIRED_ACTIONS + (DRILL_ACTIONS if drill_sg is not None and not drill_sg.get("GroupId") else ())
        _simulate_permissions(aws, principal, actions, report)
    return RestorePlan(
        spec=spec,
        region=region,
        target=target,
        window=source.window,
        latest_at_call=latest_at_call,
        settings=settings,
        request=build_request(spec, target, settings, latest_at_call),
        resume=existing.resume,
        source_kms_key=source.kms_key,
        vpc_id=vpc_id,
        drill_sg=drill_sg,
        notes=source.notes,
        requested_at=existing.requested_at,
    )


def _check_spec(spec: RestoreSpec) -> str:
    """Identifiers, the poll interval, the time's timezone and the timeout; returns the target used."""
    validate_identifier("--source", spec.source)
    target = effective_target(spec)
    if spec.poll_interval:
        check_poll_interval("--poll-interval", spec.poll_interval)
    if spec.restore_time is not None and spec.restore_time.tzinfo is None:
        raise InputError(
            "--time",
            spec.time_text or str(spec.restore_time),
            "an ISO-8601 time with a timezone, e.g. 2026-11-23T10:15:00Z",
        )
    if spec.timeout_s <= 0:
        raise InputError("--timeout", spec.timeout_s / 60, "a positive number of minutes")
    return target


def _region(spec: RestoreSpec, arn_match: re.Match[str] | None, aws: Aws) -> str:
    """The restore runs where the backups are: the ARN's region, else --region or the default."""
    if arn_match is None:
        return aws.resolve_region(spec.region)
    region = validate_region("--from-replicated-backups", arn_match.group("region"))
    if spec.region and spec.region != region:
        raise InputError(
            "--region",
            spec.region,
            f"the region of the replicated backups ({region}); the restore runs where the backups are",
            hint=f"drop --region or pass --region {region}",
        )
    return region


def _check_account(spec: RestoreSpec, arn_match: re.Match[str] | None, aws: Aws) -> str:
    account, principal = aws.account_and_principal()
    if arn_match is not None and arn_match.group("account") != account:
        raise InputError(
            "--from-replicated-backups",
            spec.replicated_backups_arn,
            f"replicated backups in this account ({account}); the ARN names account {arn_match.group('account')}",
            hint="run with credentials for the account that owns the backups",
        )
    return principal


def _read_instance(spec: RestoreSpec, aws: Aws, region: str) -> _Source:
    """An in-region restore: the source instance must exist and keep automated backups."""
    instance = describe_instance(aws, region, spec.source)
    if instance is None:
        raise InputError(
            "--source", spec.source, f"an existing DB instance in {region}", hint=instances_hint(aws, region)
        )
    if not int(instance.get("BackupRetentionPeriod") or 0):
        raise InputError(
            "--source",
            spec.source,
            "a DB instance with automated backups (BackupRetentionPeriod > 0); point-in-time "
            "restore is impossible without them",
        )
    return _Source(
        window=_window_for_instance(aws, region, instance),
        instance=instance,
        kms_key=instance.get("KmsKeyId"),
        vpc_id=(instance.get("DBSubnetGroup") or {}).get("VpcId"),
    )


def _read_backups(spec: RestoreSpec, aws: Aws, region: str) -> _Source:
    """A DR-region restore: the replicated backups must exist, belong to --source and have a window."""
    arn = spec.replicated_backups_arn
    candidates = automated_backups(aws, region, DBInstanceAutomatedBackupsArn=arn)
    backup = next((b for b in candidates if b.get("DBInstanceAutomatedBackupsArn") == arn), None)
    if backup is None:
        raise InputError(
            "--from-replicated-backups",
            arn,
            f"replicated automated backups that exist in {region}",
            hint=f"is backup replication running? aws rds describe-db-instance-automated-backups --region {region}",
        )
    if backup.get("DBInstanceIdentifier") not in (None, spec.source):
        _refuse_another_instances_backups(spec, aws, region, backup)
    rw = backup.get("RestoreWindow") or {}
    if not rw.get("LatestTime"):
        raise InputError(
            "--from-replicated-backups",
            arn,
            f"replicated backups with a restore window (status {backup.get('Status', '?')}, no RestoreWindow yet)",
            hint="the first replicated snapshot has not arrived; wait for status 'replicating'",
        )
    source = _Source(
        window=Window(rw.get("EarliestTime"), rw.get("LatestTime"), "RestoreWindow"),
        backup=backup,
        kms_key=backup.get("KmsKeyId"),
    )
    source_region = backup.get("Region")
    if spec.read_source_region and source_region and source_region != region:
        _read_source_in_its_region(spec, aws, source_region, source)
    return source


def _refuse_another_instances_backups(spec: RestoreSpec, aws: Aws, region: str, backup: dict[str, Any]) -> None:
    """The ARN names another instance's backups (after a recover swap, the stack's ARN names the damaged one): point
    at --source's own replicated backups when it has some, never suggest restoring the other instance's data."""
    owner = f"{backup['DBInstanceIdentifier']} ({backup.get('DbiResourceId')})"
    own = [
        b["DBInstanceAutomatedBackupsArn"]
        for b in automated_backups(aws, region)
        if b.get("DBInstanceIdentifier") == spec.source and b.get("Status") == "replicating"
    ]
    if own:
        raise InputError(
            "--from-replicated-backups",
            spec.replicated_backups_arn,
            f"the replicated backups of --source {spec.source}: {own[0]}; these belong to {owner}",
            hint=f"use --from-replicated-backups {own[0]}",
        )
    raise InputError(
        "--source",
        spec.source,
        f"the instance the replicated backups belong to ({owner})",
        hint=f"restoring them brings back {backup['DBInstanceIdentifier']}'s data: pass --source "
        f"{backup['DBInstanceIdentifier']} only if that is what you want; {spec.source}'s own backups are not "
        f"replicated to {region}",
    )


def _read_source_in_its_region(spec: RestoreSpec, aws: Aws, source_region: str, source: _Source) -> None:
    """Best effort: the source's own settings to copy (its region may be the one that is down)."""
    try:
        source.instance = describe_instance(aws, source_region, spec.source)
    except ExternalError as exc:
        source.notes.append(
            f"source {spec.source} not readable in {source_region} ({exc.message}); settings "
            "come from the replicated backup, the flags and defaults"
        )
    if source.instance is None and not source.notes:
        source.notes.append(
            f"source {spec.source} not found in {source_region}; settings come from the "
            "replicated backup, the flags and defaults"
        )


def _check_target(spec: RestoreSpec, aws: Aws, region: str, target: str, clock: Clock) -> _Target:
    """The target is free, or ours for this very restore (resume); anything else is refused."""
    existing = describe_instance(aws, region, target)
    if existing is None:
        return _Target()
    tags = tags_dict(existing.get("TagList"))
    status = existing.get("DBInstanceStatus", "?")
    if TAG_SOURCE not in tags:
        raise InputError(
            "--target",
            target,
            f"a free DB instance identifier in {region}; it is taken by an instance idp-dr did not "
            f"create (status {status})",
            hint=f"choose another --target, e.g. {_suggest_name(target, clock.now())}; idp-dr never "
            "reuses or modifies an instance it did not create",
        )
    same = (
        tags.get(TAG_SOURCE) == spec.source_tag
        and tags.get(TAG_TIME) == spec.time_tag
        and tags.get(TAG_KIND) == kind_of(spec)
    )
    if not same:
        raise RefusedError(
            f"conflicting re-run: {target} was created by idp-dr restoring {tags.get(TAG_SOURCE)} to "
            f"{tags.get(TAG_TIME)} ({tags.get(TAG_KIND, 'restore')}), not {spec.source_tag} to "
            f"{spec.time_tag} ({kind_of(spec)})",
            hint="re-run with the original --source/--time to resume it, or choose another --target",
        )
    if status in ("deleting", "deleted"):
        raise RefusedError(
            f"{target} (created by idp-dr for this restore) is being deleted",
            hint="wait for the deletion to finish, then re-run, or choose another --target",
        )
    restored_to = parse_iso(tags.get(TAG_RESTORED_TO))
    return _Target(resume=True, requested_at=existing.get("InstanceCreateTime"), restored_to=restored_to)


def _check_dr_resources(
    spec: RestoreSpec,
    aws: Aws,
    region: str,
    settings: dict[str, Setting],
    vpc_id: str | None,
    *,
    from_backups: bool,
) -> str | None:
    """The subnet group, security groups, parameter/option group and key the restore names exist."""
    if from_backups or spec.db_subnet_group:
        group = _check_exists(aws, region, "subnet-group", settings["DBSubnetGroupName"].value, "--db-subnet-group")
        vpc_id = group.get("VpcId") or vpc_id
    if settings.get("VpcSecurityGroupIds") and (from_backups or spec.security_group_ids):
        _check_security_groups(aws, region, settings["VpcSecurityGroupIds"].value, vpc_id)
    if settings.get("DBParameterGroupName") and (from_backups or spec.db_parameter_group):
        _check_exists(aws, region, "parameter-group", settings["DBParameterGroupName"].value, "--db-parameter-group")
    option_group = settings.get("OptionGroupName")
    if option_group and option_group.origin == "flag":
        _check_exists(aws, region, "option-group", option_group.value, "--option-group")
    kms = settings.get("MasterUserSecretKmsKeyId")
    if kms and (from_backups or spec.master_secret_kms_key):
        _check_exists(aws, region, "kms-key", kms.value, "--master-secret-kms-key")
    return vpc_id


def _drill_security_group(
    spec: RestoreSpec, aws: Aws, region: str, target: str, vpc_id: str | None, settings: dict[str, Setting]
) -> dict[str, Any] | None:
    """A drill restores into its own isolated security group (found, or to be created)."""
    if not spec.drill:
        return None
    drill_sg = _find_drill_sg(aws, region, target, vpc_id)
    settings["VpcSecurityGroupIds"] = Setting(
        [drill_sg["GroupId"]] if drill_sg.get("GroupId") else [f"<new: {drill_sg['GroupName']}>"], "drill"
    )
    return drill_sg


def _suggest_name(target: str, now: datetime) -> str:
    suffix = now.strftime("-%Y%m%d-%H%M")
    return (target[: 63 - len(suffix)].rstrip("-") + suffix) if target else "restored" + suffix
