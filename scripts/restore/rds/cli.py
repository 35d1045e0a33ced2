"""``restore rds``: RDS point-in-time restore that refuses bad input and copies every setting.

Usage (see ``--help`` and docs/runbook-aws.md)::

    python -m scripts restore rds --source prod-db --target prod-db-pitr --time 2026-11-23T10:15:00Z
    python -m scripts restore rds --source prod-db --target idp-dr-drill-q4 --latest --drill
    python -m scripts restore rds --source prod-db --target prod-db-dr --latest \\
        --from-replicated-backups arn:aws:rds:us-west-2:111122223333:auto-backup:ab-... \\
        --stack-outputs outputs.json

What it guarantees:

* **Validate first.** Malformed time, a time without a timezone, in the future or outside the
  restorable window, a missing source, an invalid or taken target, a missing subnet group /
  security group / parameter group / KMS key and missing read permissions are all refused
  before the first mutating call, each naming the value, what is allowed and a hint.
* **No silent defaults.** ``RestoreDBInstanceToPointInTime`` falls back to the default VPC
  security group, default subnet group, default parameter group, single-AZ and no deletion
  protection. Every such setting is copied from the source (or, restoring from replicated
  backups in the DR region, from the backup record and the DR resources) and passed
  explicitly; the report says where each value came from, and after the restore each one is
  checked on the new instance.
* **Never touches the source.** The only mutating calls are the restore itself and, for
  ``--drill``, creating the isolated security group.
* **Idempotent.** The new instance is tagged with what it was restored from; a re-run of the
  same command resumes waiting on it, a conflicting re-run is refused, and a target that
  exists without our tags is refused as taken.
* **Bounded waits.** Polls every ``--poll-interval`` seconds (default 5) up to ``--timeout``
  minutes (default 120); a timeout exits 4 and the same command resumes.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from contract.restore import DrRestoreRequest
from scripts import __version__
from scripts.aws.client import (
    Aws,
    MissingPermission,
    error_code,
    error_message,
    tags_dict,
    validate_region,
)
from scripts.cliutil import DefaultsHelpFormatter
from scripts.errors import ExternalError, InputError, RefusedError
from scripts.polling import Clock, Verdict, check_poll_interval, poll_until
from scripts.progress import Progress
from scripts.report import Report
from scripts.stack_outputs import load_stack_outputs
from scripts.timeutil import format_duration, iso, parse_time

# -- tags that make a restore recognisable (and resumable) ---------------------------------
TAG_SOURCE = "idp-dr:restore-source"
TAG_TIME = "idp-dr:restore-time"
TAG_KIND = "idp-dr:restore-kind"
TAG_VERSION = "idp-dr:tool-version"
TAG_RESTORED_TO = "idp-dr:restored-to"
TAG_DRILL_TARGET = "idp-dr:drill-target"
OUR_TAG_PREFIX = "idp-dr:"
LATEST = "latest"

#: Every drill target lives under this prefix; non-drill targets may not use it. The two
#: namespaces are disjoint, so a drill can never overwrite or be mistaken for production.
DRILL_PREFIX = "idp-dr-drill-"

#: Terminal failure states of a DB instance (RDS user guide "Viewing instance status").
FAILED_STATUSES = frozenset(
    {
        "failed",
        "incompatible-restore",
        "incompatible-parameters",
        "incompatible-network",
        "incompatible-option-group",
        "incompatible-credentials",
        "inaccessible-encryption-credentials",
        "inaccessible-encryption-credentials-recoverable",
        "restore-error",
        "storage-full",
        "insufficient-capacity",
        "deleting",
        "deleted",
    }
)

DEFAULT_POLL_S = 5.0
DEFAULT_TIMEOUT_MIN = 120
#: After the restore call AWS may briefly answer DBInstanceNotFound (eventual consistency).
NOT_FOUND_GRACE_S = 90.0

_IDENTIFIER_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_BACKUPS_ARN_RE = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):rds:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):auto-backup:(?P<id>ab-[a-z0-9]+)$"
)
IDENTIFIER_RULE = (
    "1-63 characters: lowercase letters, digits and hyphens, starting with a letter, no trailing hyphen and no '--'"
)

#: The read calls (and the IAM actions behind them) the validation phase makes; a denied
#: call is reported with its action. Mutating actions are checked by IAM simulation when the
#: caller may simulate, else reported by the restore call itself (which then changed nothing).
REQUIRED_ACTIONS = (
    "rds:DescribeDBInstances",
    "rds:DescribeDBInstanceAutomatedBackups",
    "rds:RestoreDBInstanceToPointInTime",
    "rds:AddTagsToResource",
    "rds:DescribeEvents",
)
DRILL_ACTIONS = (
    "ec2:DescribeSecurityGroups",
    "ec2:CreateSecurityGroup",
    "ec2:RevokeSecurityGroupEgress",
    "ec2:CreateTags",
)


@dataclass
class RestoreSpec:
    """What to restore. ``restore_time`` None means the latest restorable time."""

    source: str
    target: str
    restore_time: datetime | None = None
    time_text: str | None = None  # as typed, for messages
    region: str | None = None
    replicated_backups_arn: str | None = None
    drill: bool = False
    dry_run: bool = False
    poll_interval: float = DEFAULT_POLL_S
    timeout_s: float = DEFAULT_TIMEOUT_MIN * 60.0
    # Overrides / DR-region resources (replicated backups cannot reuse the source's).
    db_subnet_group: str | None = None
    security_group_ids: list[str] | None = None
    db_parameter_group: str | None = None
    option_group: str | None = None
    master_secret_kms_key: str | None = None
    instance_class: str | None = None
    multi_az: bool | None = None
    #: Extra tags (e.g. the failover incident id); never overrides ours.
    extra_tags: dict[str, str] = field(default_factory=dict)
    #: Try reading the source instance in its own region when restoring from replicated
    #: backups (settings to copy). False in a regional outage to avoid slow timeouts.
    read_source_region: bool = True

    @property
    def latest(self) -> bool:
        return self.restore_time is None

    @property
    def time_tag(self) -> str:
        return LATEST if self.restore_time is None else iso(self.restore_time) or ""

    @property
    def source_tag(self) -> str:
        return self.replicated_backups_arn or self.source


@dataclass
class Setting:
    value: Any
    origin: str  # source | replicated-backup | flag | stack-outputs | drill | default | inherited

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "from": self.origin}


@dataclass
class Window:
    earliest: datetime | None
    latest: datetime | None
    basis: str  # "RestoreWindow" | "estimated" | "unknown"

    def text(self) -> str:
        return f"{iso(self.earliest) or '?'} .. {iso(self.latest) or '?'}"

    def to_dict(self) -> dict[str, Any]:
        return {"earliest": iso(self.earliest), "latest": iso(self.latest), "basis": self.basis}


@dataclass
class RestorePlan:
    spec: RestoreSpec
    region: str
    target: str
    window: Window
    latest_at_call: datetime | None
    settings: dict[str, Setting]
    request: dict[str, Any]
    resume: bool
    source_kms_key: str | None
    vpc_id: str | None
    drill_sg: dict[str, Any] | None = None
    #: When resuming: when the earlier run's restore was requested (the instance's creation time).
    requested_at: datetime | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class RestoreOutcome:
    target: str
    region: str
    status: str
    endpoint: str | None
    port: int | None
    master_secret_arn: str | None
    restored_to: datetime | None
    instance: dict[str, Any] | None
    resumed: bool
    dry_run: bool


# ----------------------------------------------------------------------------------------
# validation helpers
# ----------------------------------------------------------------------------------------
def validate_identifier(field: str, value: str) -> str:
    if not value or len(value) > 63 or not _IDENTIFIER_RE.match(value):
        hint = None
        if value and value.lower() != value and _IDENTIFIER_RE.match(value.lower()):
            hint = f"use lowercase: {value.lower()}"
        raise InputError(field, value, f"a DB instance identifier: {IDENTIFIER_RULE}", hint=hint)
    return value


def effective_target(spec: RestoreSpec) -> str:
    """The identifier actually used: drills are forced under :data:`DRILL_PREFIX`."""
    target = spec.target
    validate_identifier("--target", target)
    if spec.drill:
        if not target.startswith(DRILL_PREFIX):
            target = DRILL_PREFIX + target
        if len(target) > 63:
            raise InputError(
                "--target",
                spec.target,
                f"at most {63 - len(DRILL_PREFIX)} characters with --drill (the name is "
                f"prefixed with '{DRILL_PREFIX}')",
            )
    elif target.startswith(DRILL_PREFIX):
        raise InputError(
            "--target",
            target,
            f"a name outside the drill namespace '{DRILL_PREFIX}' (reserved for --drill)",
            hint="add --drill for an isolated drill restore, or choose another name",
        )
    if target == spec.source:
        raise InputError(
            "--target",
            target,
            "a new DB instance identifier, different from --source",
            hint="a restore always creates a new instance; the source is never modified",
        )
    return target


def parse_backups_arn(arn: str) -> re.Match[str]:
    match = _BACKUPS_ARN_RE.match(arn or "")
    if not match:
        raise InputError(
            "--from-replicated-backups",
            arn,
            "the ARN of replicated automated backups, arn:aws:rds:<dr-region>:<account>:auto-backup:ab-<id>",
            hint="find it with: aws rds describe-db-instance-automated-backups --region <dr-region> "
            "(DBInstanceAutomatedBackupsArn), or the stack output database.replicatedBackupsArn",
        )
    return match


def check_restore_time(spec: RestoreSpec, window: Window, now: datetime) -> None:
    """Refuse a time in the future or outside the restorable window, with the closest valid time."""
    if spec.restore_time is None:
        if window.latest is None:
            raise InputError(
                "--latest",
                True,
                "a source with a latest restorable time",
                hint="the source reports no LatestRestorableTime yet (backups not enabled "
                "or the first backup has not finished)",
            )
        return
    when = spec.restore_time
    shown = spec.time_text or iso(when)
    allowed = f"a time inside the restorable window {window.text()}"
    if when > now:
        hint = f"it is {iso(now)} now"
        if window.latest is not None:
            hint += f"; the latest restorable time is {iso(window.latest)} (use --latest for it)"
        raise InputError("--time", shown, f"not in the future: {allowed}", hint=hint)
    if window.earliest is not None and when < window.earliest:
        raise InputError(
            "--time",
            shown,
            allowed,
            hint=f"the closest valid time is {iso(window.earliest)} (the earliest restorable "
            "time; older backups have expired)",
        )
    if window.latest is not None and when > window.latest:
        raise InputError(
            "--time",
            shown,
            allowed,
            hint=f"the closest valid time is {iso(window.latest)} (the latest restorable time; "
            "RDS uploads transaction logs every 5 minutes, so it trails now by up to ~5 min); "
            "or use --latest",
        )
    if window.latest is None:
        raise InputError(
            "--time",
            shown,
            allowed,
            hint="the source reports no LatestRestorableTime (backups disabled or not yet taken)",
        )


# ----------------------------------------------------------------------------------------
# planning (read-only)
# ----------------------------------------------------------------------------------------
def _describe_instance(aws: Aws, region: str, identifier: str) -> dict[str, Any] | None:
    rds = aws.client("rds", region)
    try:
        found = aws.call(rds, "DescribeDBInstances", DBInstanceIdentifier=identifier)["DBInstances"]
    except ClientError as exc:
        if error_code(exc) in ("DBInstanceNotFound", "DBInstanceNotFoundFault"):
            return None
        raise ExternalError(
            f"DescribeDBInstances {identifier} in {region} failed: {error_code(exc)}: {error_message(exc)}"
        ) from None
    return found[0] if found else None


def _instances_hint(aws: Aws, region: str) -> str:
    rds = aws.client("rds", region)
    try:
        names = [
            d["DBInstanceIdentifier"]
            for d in aws.call(rds, "DescribeDBInstances", MaxRecords=100).get("DBInstances", [])
        ]
    except (ClientError, ExternalError):
        return f"check --source and --region ({region})"
    if not names:
        return f"there are no DB instances in {region}; check --region / AWS_REGION"
    shown = ", ".join(sorted(names)[:10]) + (" …" if len(names) > 10 else "")
    return f"DB instances in {region}: {shown}"


def _automated_backups(aws: Aws, region: str, **params: Any) -> list[dict[str, Any]]:
    rds = aws.client("rds", region)
    try:
        return aws.call(rds, "DescribeDBInstanceAutomatedBackups", **params).get("DBInstanceAutomatedBackups", [])
    except ClientError as exc:
        if error_code(exc) in (
            "DBInstanceAutomatedBackupNotFound",
            "DBInstanceAutomatedBackupNotFoundFault",
            "DBInstanceNotFound",
        ):
            return []
        raise ExternalError(
            f"DescribeDBInstanceAutomatedBackups in {region} failed: {error_code(exc)}: {error_message(exc)}"
        ) from None


def _window_for_instance(aws: Aws, region: str, source: dict[str, Any]) -> Window:
    latest = source.get("LatestRestorableTime")
    backups = _automated_backups(aws, region, DBInstanceIdentifier=source["DBInstanceIdentifier"])
    dbi = source.get("DbiResourceId")
    for backup in backups:
        if backup.get("DbiResourceId") not in (None, dbi):
            continue
        restore_window = backup.get("RestoreWindow") or {}
        if restore_window.get("EarliestTime"):
            return Window(restore_window["EarliestTime"], latest or restore_window.get("LatestTime"), "RestoreWindow")
    # No RestoreWindow (moto, or a very new backup): estimate from retention and creation time.
    if latest is None:
        return Window(None, None, "unknown")
    retention = int(source.get("BackupRetentionPeriod") or 0)
    earliest = latest - timedelta(days=retention)
    created = source.get("InstanceCreateTime")
    if created is not None and created > earliest:
        earliest = created
    return Window(earliest, latest, "estimated")


def _check_exists(aws: Aws, region: str, kind: str, name: str, field: str) -> dict[str, Any]:
    """Refuse a DR-region resource that does not exist (would otherwise fail late or default)."""
    rds = aws.client("rds", region)
    try:
        if kind == "subnet-group":
            return aws.call(rds, "DescribeDBSubnetGroups", DBSubnetGroupName=name)["DBSubnetGroups"][0]
        if kind == "parameter-group":
            return aws.call(rds, "DescribeDBParameterGroups", DBParameterGroupName=name)["DBParameterGroups"][0]
        if kind == "option-group":
            return aws.call(rds, "DescribeOptionGroups", OptionGroupName=name)["OptionGroupsList"][0]
        if kind == "kms-key":
            meta = aws.call(aws.client("kms", region), "DescribeKey", KeyId=name)["KeyMetadata"]
            if meta.get("KeyState") not in (None, "Enabled"):
                raise InputError(field, name, f"an enabled KMS key in {region} (state {meta.get('KeyState')})")
            return meta
    except ClientError as exc:
        code = error_code(exc)
        if "NotFound" in code or code in (
            "InvalidParameterValue",
            "InvalidArnException",
            "InvalidKeyId.Malformed",
        ):
            raise InputError(
                field,
                name,
                f"an existing {kind.replace('-', ' ')} in {region} ({code})",
                hint="the Pulumi stack creates it in the DR region; check the stack outputs "
                "(database.dr*) and --region",
            ) from None
        raise ExternalError(f"checking {kind} {name} in {region} failed: {code}: {error_message(exc)}") from None
    raise AssertionError(kind)  # pragma: no cover


def _check_security_groups(aws: Aws, region: str, ids: list[str], vpc_id: str | None) -> None:
    ec2 = aws.client("ec2", region)
    try:
        groups = aws.call(ec2, "DescribeSecurityGroups", GroupIds=ids)["SecurityGroups"]
    except ClientError as exc:
        if "NotFound" in error_code(exc) or error_code(exc) == "InvalidGroupId.Malformed":
            raise InputError(
                "--vpc-security-group-ids",
                ",".join(ids),
                f"existing VPC security groups in {region} ({error_message(exc)})",
                hint="use the stack output database.drSecurityGroupIds",
            ) from None
        raise ExternalError(f"DescribeSecurityGroups in {region} failed: {error_code(exc)}") from None
    if vpc_id:
        wrong = [g["GroupId"] for g in groups if g.get("VpcId") and g["VpcId"] != vpc_id]
        if wrong:
            raise InputError(
                "--vpc-security-group-ids",
                ",".join(ids),
                f"security groups in the subnet group's VPC {vpc_id}; {','.join(wrong)} belong to another VPC",
            )


def _simulate_permissions(aws: Aws, principal: str, actions: tuple[str, ...], report: Report) -> None:
    """Best effort: ask IAM whether the caller may run the mutating actions, before any change."""
    role_arn = principal
    match = re.match(r"^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role/([^/]+)/", principal)
    if match:
        role_arn = f"arn:{match.group(1)}:iam::{match.group(2)}:role/{match.group(3)}"
    try:
        result = aws.call(
            aws.client("iam", aws.default_region() or "us-east-1"),
            "SimulatePrincipalPolicy",
            PolicySourceArn=role_arn,
            ActionNames=list(actions),
        )
    except (ClientError, ExternalError, NotImplementedError) as exc:
        reason = exc.message if isinstance(exc, ExternalError) else str(exc)[:160]
        report.check(
            "permissions.simulated",
            None,
            f"IAM simulation unavailable ({reason}); a missing permission is reported by the call that needs it",
        )
        return
    denied = [r["EvalActionName"] for r in result.get("EvaluationResults", []) if r.get("EvalDecision") != "allowed"]
    if denied:
        raise MissingPermission(
            ", ".join(denied), None, "IAM policy simulation says these are denied", principal=role_arn
        )
    report.check("permissions.simulated", True, f"IAM allows {len(actions)} actions for {role_arn}")


def plan_restore(
    spec: RestoreSpec, report: Report, *, aws: Aws, clock: Clock, simulate_permissions: bool = True
) -> RestorePlan:
    """Everything before the first mutating call. Raises on any bad input."""
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

    arn_match = parse_backups_arn(spec.replicated_backups_arn) if spec.replicated_backups_arn else None
    if arn_match is not None:
        region = validate_region("--from-replicated-backups", arn_match.group("region"))
        if spec.region and spec.region != region:
            raise InputError(
                "--region",
                spec.region,
                f"the region of the replicated backups ({region}); the restore runs where the backups are",
                hint=f"drop --region or pass --region {region}",
            )
    else:
        region = aws.resolve_region(spec.region)

    account, principal = aws.account_and_principal()
    if arn_match is not None and arn_match.group("account") != account:
        raise InputError(
            "--from-replicated-backups",
            spec.replicated_backups_arn,
            f"replicated backups in this account ({account}); the ARN names account {arn_match.group('account')}",
            hint="run with credentials for the account that owns the backups",
        )

    settings: dict[str, Setting] = {}
    notes: list[str] = []
    source_instance: dict[str, Any] | None = None
    backup: dict[str, Any] | None = None
    if arn_match is None:
        source_instance = _describe_instance(aws, region, spec.source)
        if source_instance is None:
            raise InputError(
                "--source",
                spec.source,
                f"an existing DB instance in {region}",
                hint=_instances_hint(aws, region),
            )
        if not int(source_instance.get("BackupRetentionPeriod") or 0):
            raise InputError(
                "--source",
                spec.source,
                "a DB instance with automated backups (BackupRetentionPeriod > 0); point-in-time "
                "restore is impossible without them",
            )
        window = _window_for_instance(aws, region, source_instance)
        source_kms = source_instance.get("KmsKeyId")
        vpc_id = (source_instance.get("DBSubnetGroup") or {}).get("VpcId")
    else:
        candidates = _automated_backups(aws, region, DBInstanceAutomatedBackupsArn=spec.replicated_backups_arn)
        backup = next(
            (b for b in candidates if b.get("DBInstanceAutomatedBackupsArn") == spec.replicated_backups_arn),
            None,
        )
        if backup is None:
            raise InputError(
                "--from-replicated-backups",
                spec.replicated_backups_arn,
                f"replicated automated backups that exist in {region}",
                hint=f"is backup replication running? aws rds describe-db-instance-automated-backups --region {region}",
            )
        if backup.get("DBInstanceIdentifier") not in (None, spec.source):
            raise InputError(
                "--source",
                spec.source,
                f"the instance the replicated backups belong to ({backup['DBInstanceIdentifier']})",
                hint=f"use --source {backup['DBInstanceIdentifier']}",
            )
        rw = backup.get("RestoreWindow") or {}
        if not rw.get("LatestTime"):
            raise InputError(
                "--from-replicated-backups",
                spec.replicated_backups_arn,
                f"replicated backups with a restore window (status {backup.get('Status', '?')}, no RestoreWindow yet)",
                hint="the first replicated snapshot has not arrived; wait for status 'replicating'",
            )
        window = Window(rw.get("EarliestTime"), rw.get("LatestTime"), "RestoreWindow")
        source_kms = backup.get("KmsKeyId")
        vpc_id = None
        source_region = backup.get("Region")
        if spec.read_source_region and source_region and source_region != region:
            try:
                source_instance = _describe_instance(aws, source_region, spec.source)
            except ExternalError as exc:
                notes.append(
                    f"source {spec.source} not readable in {source_region} ({exc.message}); settings "
                    "come from the replicated backup, the flags and defaults"
                )
            if source_instance is None and not notes:
                notes.append(
                    f"source {spec.source} not found in {source_region}; settings come from the "
                    "replicated backup, the flags and defaults"
                )

    now = clock.now()
    check_restore_time(spec, window, now)
    latest_at_call = window.latest

    # -- target: free, ours (resume) or taken -------------------------------------------
    resume = False
    requested_at = None
    existing = _describe_instance(aws, region, target)
    if existing is not None:
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
            and tags.get(TAG_KIND) == _kind(spec)
        )
        if not same:
            raise RefusedError(
                f"conflicting re-run: {target} was created by idp-dr restoring {tags.get(TAG_SOURCE)} to "
                f"{tags.get(TAG_TIME)} ({tags.get(TAG_KIND, 'restore')}), not {spec.source_tag} to "
                f"{spec.time_tag} ({_kind(spec)})",
                hint="re-run with the original --source/--time to resume it, or choose another --target",
            )
        if status in ("deleting", "deleted"):
            raise RefusedError(
                f"{target} (created by idp-dr for this restore) is being deleted",
                hint="wait for the deletion to finish, then re-run, or choose another --target",
            )
        resume = True
        requested_at = existing.get("InstanceCreateTime")
        if tags.get(TAG_RESTORED_TO):
            latest_at_call = _parse_tag_time(tags[TAG_RESTORED_TO]) or latest_at_call

    # -- settings to copy ------------------------------------------------------------------
    settings = _settings(spec, region, source_instance, backup, notes)
    if arn_match is not None or spec.db_subnet_group:
        group = _check_exists(aws, region, "subnet-group", settings["DBSubnetGroupName"].value, "--db-subnet-group")
        vpc_id = group.get("VpcId") or vpc_id
    if settings.get("VpcSecurityGroupIds") and (arn_match is not None or spec.security_group_ids):
        _check_security_groups(aws, region, settings["VpcSecurityGroupIds"].value, vpc_id)
    if settings.get("DBParameterGroupName") and (arn_match is not None or spec.db_parameter_group):
        _check_exists(aws, region, "parameter-group", settings["DBParameterGroupName"].value, "--db-parameter-group")
    option_group = settings.get("OptionGroupName")
    if option_group and option_group.origin == "flag":
        _check_exists(aws, region, "option-group", option_group.value, "--option-group")
    kms = settings.get("MasterUserSecretKmsKeyId")
    if kms and (arn_match is not None or spec.master_secret_kms_key):
        _check_exists(aws, region, "kms-key", kms.value, "--master-secret-kms-key")

    drill_sg = None
    if spec.drill:
        drill_sg = _find_drill_sg(aws, region, target, vpc_id)
        settings["VpcSecurityGroupIds"] = Setting(
            [drill_sg["GroupId"]] if drill_sg.get("GroupId") else [f"<new: {drill_sg['GroupName']}>"], "drill"
        )

    if simulate_permissions and not resume:
        actions = REQUIRED_ACTIONS + (DRILL_ACTIONS if spec.drill and not drill_sg.get("GroupId") else ())
        _simulate_permissions(aws, principal, actions, report)

    request = _build_request(spec, target, settings, latest_at_call)
    return RestorePlan(
        spec=spec,
        region=region,
        target=target,
        window=window,
        latest_at_call=latest_at_call,
        settings=settings,
        request=request,
        resume=resume,
        source_kms_key=source_kms,
        vpc_id=vpc_id,
        drill_sg=drill_sg,
        notes=notes,
        requested_at=requested_at,
    )


def _kind(spec: RestoreSpec) -> str:
    return "drill" if spec.drill else "restore"


def _suggest_name(target: str, now: datetime) -> str:
    suffix = now.strftime("-%Y%m%d-%H%M")
    return (target[: 63 - len(suffix)].rstrip("-") + suffix) if target else "restored" + suffix


def _parse_tag_time(text: str) -> datetime | None:
    try:
        return parse_time("tag", text)
    except InputError:
        return None


def _settings(
    spec: RestoreSpec,
    region: str,
    src: dict[str, Any] | None,
    backup: dict[str, Any] | None,
    notes: list[str],
) -> dict[str, Setting]:
    """Every setting AWS would otherwise default, with where its value came from."""
    s: dict[str, Setting] = {}
    from_backups = backup is not None
    src_origin = "source"

    def pick(
        key: str,
        flag_value: Any,
        source_value: Any,
        *,
        backup_value: Any = None,
        default: Any = None,
        required_flag: str | None = None,
    ) -> None:
        if flag_value is not None:
            s[key] = Setting(flag_value, "flag")
        elif from_backups and required_flag is not None:
            raise InputError(
                required_flag,
                None,
                f"a {region} value when restoring from replicated backups (the source's is in another region)",
                hint=f"pass {required_flag}, or --stack-outputs with the stack's DR outputs",
            )
        elif source_value is not None:
            s[key] = Setting(source_value, src_origin)
        elif backup_value is not None:
            s[key] = Setting(backup_value, "replicated-backup")
        elif default is not None:
            s[key] = Setting(default, "default")
            notes.append(f"{key}: source not readable, using the DR-safe default {default!r}")

    src = src or {}
    # Network and parameters: in the DR region they must be DR resources (flags / stack outputs).
    pick(
        "DBSubnetGroupName",
        spec.db_subnet_group,
        (src.get("DBSubnetGroup") or {}).get("DBSubnetGroupName"),
        required_flag="--db-subnet-group",
    )
    pick(
        "VpcSecurityGroupIds",
        spec.security_group_ids,
        [g["VpcSecurityGroupId"] for g in src.get("VpcSecurityGroups", [])] or None,
        required_flag="--vpc-security-group-ids",
    )
    params = src.get("DBParameterGroups") or []
    pick(
        "DBParameterGroupName",
        spec.db_parameter_group,
        params[0]["DBParameterGroupName"] if params else None,
        required_flag="--db-parameter-group",
    )
    options = src.get("OptionGroupMemberships") or []
    src_option = options[0]["OptionGroupName"] if options else None
    backup_option = (backup or {}).get("OptionGroupName")
    if spec.option_group is not None:
        s["OptionGroupName"] = Setting(spec.option_group, "flag")
    else:
        current = src_option or backup_option
        if current and current.startswith("default:"):
            # The engine's default option group: AWS assigns exactly this one when the parameter is
            # omitted (and the name differs across regions/versions), so it is recorded, not sent.
            s["OptionGroupName"] = Setting(current, "default-group")
        elif current and from_backups:
            raise InputError(
                "--option-group",
                None,
                f"an option group in {region}: the source uses the custom option group "
                f"{current!r}, which does not exist there",
            )
        elif current:
            s["OptionGroupName"] = Setting(current, src_origin)
    pick("DBInstanceClass", spec.instance_class, src.get("DBInstanceClass"))
    if "DBInstanceClass" not in s:
        notes.append("DBInstanceClass: source not readable; AWS restores with the class recorded in the backup")
    pick("MultiAZ", spec.multi_az, src.get("MultiAZ"), default=True)
    pick("StorageType", None, src.get("StorageType"), backup_value=(backup or {}).get("StorageType"))
    storage = s.get("StorageType")
    allocated = int(src.get("AllocatedStorage") or (backup or {}).get("AllocatedStorage") or 0)
    # Provisioned IOPS/throughput: always for io1/io2. For gp3, RDS only accepts them at or above
    # the baseline threshold (400 GiB for PostgreSQL); below it the baseline is what AWS assigns.
    if storage and (storage.value in ("io1", "io2") or (storage.value == "gp3" and allocated >= 400)):
        pick("Iops", None, src.get("Iops"), backup_value=(backup or {}).get("Iops"))
        if storage.value == "gp3":
            pick(
                "StorageThroughput",
                None,
                src.get("StorageThroughput"),
                backup_value=(backup or {}).get("StorageThroughput"),
            )
    pick("MaxAllocatedStorage", None, src.get("MaxAllocatedStorage"))
    pick(
        "Port",
        None,
        (src.get("Endpoint") or {}).get("Port") or src.get("DbInstancePort") or None,
        backup_value=(backup or {}).get("Port"),
    )
    pick(
        "EnableIAMDatabaseAuthentication",
        None,
        src.get("IAMDatabaseAuthenticationEnabled"),
        backup_value=(backup or {}).get("IAMDatabaseAuthenticationEnabled"),
    )
    if src.get("EnabledCloudwatchLogsExports"):
        s["EnableCloudwatchLogsExports"] = Setting(list(src["EnabledCloudwatchLogsExports"]), src_origin)
    pick("CopyTagsToSnapshot", None, src.get("CopyTagsToSnapshot"), default=True)
    pick("AutoMinorVersionUpgrade", None, src.get("AutoMinorVersionUpgrade"))
    pick("CACertificateIdentifier", None, src.get("CACertificateIdentifier"))
    pick(
        "BackupRetentionPeriod",
        None,
        src.get("BackupRetentionPeriod") or None,
        backup_value=(backup or {}).get("BackupRetentionPeriod"),
    )
    if spec.drill:
        s["DeletionProtection"] = Setting(False, "drill")
        s["PubliclyAccessible"] = Setting(False, "drill")
    else:
        pick("DeletionProtection", None, src.get("DeletionProtection"), default=True)
        pick("PubliclyAccessible", None, src.get("PubliclyAccessible"), default=False)
    # Managed master password: RDS creates a new secret for the restored instance; without these
    # two parameters it would keep the snapshot's password, or encrypt with the default key.
    secret = src.get("MasterUserSecret") or {}
    if spec.master_secret_kms_key is not None:
        s["ManageMasterUserPassword"] = Setting(True, "flag")
        s["MasterUserSecretKmsKeyId"] = Setting(spec.master_secret_kms_key, "flag")
    elif from_backups:
        raise InputError(
            "--master-secret-kms-key",
            None,
            f"a KMS key in {region} for the restored instance's master-user secret",
            hint="use the stack output database.drKmsKeyArn (or pass --stack-outputs)",
        )
    elif secret:
        s["ManageMasterUserPassword"] = Setting(True, src_origin)
        if secret.get("KmsKeyId"):
            s["MasterUserSecretKmsKeyId"] = Setting(secret["KmsKeyId"], src_origin)
    # Storage encryption is inherited from the backup: RestoreDBInstanceToPointInTime has no
    # KmsKeyId parameter. Recorded so the report (and the post-check) show the key.
    storage_kms = src.get("KmsKeyId") if not from_backups else (backup or {}).get("KmsKeyId")
    if storage_kms:
        s["StorageKmsKeyId"] = Setting(storage_kms, "inherited")
    # Tags: the source's own (not AWS-reserved, not a previous idp-dr restore's), plus ours.
    if src.get("TagList"):
        tag_list, tag_origin = src["TagList"], src_origin
    else:
        tag_list, tag_origin = (backup or {}).get("TagList") or [], "replicated-backup"
    copied = {k: v for k, v in tags_dict(tag_list).items() if not k.startswith(("aws:", OUR_TAG_PREFIX))}
    s["Tags"] = Setting(copied, tag_origin)
    return s


def _build_request(
    spec: RestoreSpec, target: str, settings: dict[str, Setting], latest_at_call: datetime | None
) -> dict[str, Any]:
    request: dict[str, Any] = {"TargetDBInstanceIdentifier": target}
    if spec.replicated_backups_arn:
        request["SourceDBInstanceAutomatedBackupsArn"] = spec.replicated_backups_arn
    else:
        request["SourceDBInstanceIdentifier"] = spec.source
    if spec.restore_time is None:
        request["UseLatestRestorableTime"] = True
    else:
        request["RestoreTime"] = spec.restore_time
    for key, setting in settings.items():
        if key in ("StorageKmsKeyId", "Tags") or setting.origin == "default-group":
            continue
        request[key] = setting.value
    tags: dict[str, str] = dict(settings["Tags"].value) if "Tags" in settings else {}
    tags.update({k: v for k, v in spec.extra_tags.items() if not k.startswith(OUR_TAG_PREFIX)})
    tags.update(
        {
            TAG_SOURCE: spec.source_tag,
            TAG_TIME: spec.time_tag,
            TAG_KIND: _kind(spec),
            TAG_VERSION: __version__,
        }
    )
    restored_to = spec.restore_time or latest_at_call
    if restored_to is not None:
        tags[TAG_RESTORED_TO] = iso(restored_to) or ""
    request["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
    return request


def _find_drill_sg(aws: Aws, region: str, target: str, vpc_id: str | None) -> dict[str, Any]:
    if not vpc_id:
        raise InputError("--drill", True, "a subnet group with a VPC (to create the isolated security group in)")
    ec2 = aws.client("ec2", region)
    found = aws.call(
        ec2,
        "DescribeSecurityGroups",
        Filters=[{"Name": "group-name", "Values": [target]}, {"Name": "vpc-id", "Values": [vpc_id]}],
    )["SecurityGroups"]
    if found:
        group = found[0]
        if tags_dict(group.get("Tags")).get(TAG_DRILL_TARGET) != target:
            raise RefusedError(
                f"security group {group['GroupId']} named {target} in {vpc_id} was not created by "
                "idp-dr for this drill",
                hint="choose another --target",
            )
        return group
    return {"GroupName": target, "VpcId": vpc_id}


# ----------------------------------------------------------------------------------------
# execution
# ----------------------------------------------------------------------------------------
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
    result.update(
        {
            "source": spec.source,
            **({"replicated_backups_arn": spec.replicated_backups_arn} if spec.replicated_backups_arn else {}),
            "target": plan.target,
            "region": plan.region,
            "kind": _kind(spec),
            "requested_time": spec.time_tag,
            "restorable_window": plan.window.to_dict(),
            "latest_restorable_at_call": iso(plan.latest_at_call),
            "settings": settings_by_origin(plan.settings),
        }
    )

    # For a resumed restore the RPO is measured from the original request, not from this re-run.
    call_time = plan.requested_at or clock.now()
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
    result["call_time"] = iso(call_time)

    if spec.dry_run:
        status = "not-created"
        if plan.resume:
            current = _describe_instance(aws, plan.region, plan.target) or {}
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
    rds = aws.client("rds", plan.region)
    started = clock.monotonic()
    state: dict[str, Any] = {"last_status": None, "last_event": None, "events_at": -1e9}

    def fetch() -> dict[str, Any] | None:
        try:
            return aws.call(rds, "DescribeDBInstances", DBInstanceIdentifier=plan.target)["DBInstances"][0]
        except ClientError as exc:
            if error_code(exc) in ("DBInstanceNotFound", "DBInstanceNotFoundFault"):
                return None
            raise ExternalError(
                f"DescribeDBInstances {plan.target} failed: {error_code(exc)}: {error_message(exc)}"
            ) from None

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


# ----------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------
def register_restore(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "rds",
        parents=[common],
        help="RDS point-in-time restore into a new instance (in-region or from replicated backups)",
        description="Restore an RDS instance to a point in time into a NEW instance. Validates the time "
        "against the restorable window, copies every setting AWS would otherwise default, never touches "
        "the source, and resumes on re-run. Exit codes: 0 ok, 1 a post-restore check failed, 2 bad input, "
        "3 refused (conflicting re-run), 4 timed out (re-run to resume), 5 AWS failure.",
        formatter_class=DefaultsHelpFormatter,
    )
    # dest is not "source": scripts.cli uses args.source for the restore kind ("rds").
    p.add_argument(
        "--source",
        dest="source_id",
        required=True,
        metavar="INSTANCE_ID",
        help="the DB instance to restore from (never modified)",
    )
    p.add_argument(
        "--target",
        required=True,
        metavar="NEW_INSTANCE_ID",
        help=f"the new instance; {IDENTIFIER_RULE}. With --drill it is prefixed with '{DRILL_PREFIX}'",
    )
    when = p.add_mutually_exclusive_group(required=True)
    when.add_argument("--time", metavar="ISO8601", help="restore time with a timezone, e.g. 2026-11-23T10:15:00Z")
    when.add_argument("--latest", action="store_true", help="restore to the latest restorable time")
    p.add_argument(
        "--from-replicated-backups",
        metavar="ARN",
        default=None,
        help="restore from replicated automated backups in the DR region (arn:...:auto-backup:ab-...); "
        "the restore runs in the ARN's region",
    )
    p.add_argument("--region", default=None, help="AWS region (default: AWS_REGION / profile)")
    p.add_argument(
        "--drill",
        action="store_true",
        help="isolated drill: name under idp-dr-drill-, a new security group with no ingress/egress, "
        "not publicly accessible, deletion protection off",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="validate everything and print the exact request; create nothing",
    )
    p.add_argument(
        "--stack-outputs",
        metavar="FILE",
        default=None,
        help="take DR subnet group, security groups, parameter group and KMS key from these stack "
        "outputs (for --from-replicated-backups)",
    )
    dr = p.add_argument_group("settings (default: copied from the source)")
    dr.add_argument("--db-subnet-group", default=None)
    dr.add_argument("--vpc-security-group-ids", default=None, metavar="SG[,SG...]")
    dr.add_argument("--db-parameter-group", default=None)
    dr.add_argument("--option-group", default=None)
    dr.add_argument(
        "--master-secret-kms-key",
        default=None,
        metavar="KMS_KEY",
        help="KMS key for the restored instance's managed master-user secret",
    )
    dr.add_argument("--instance-class", default=None)
    dr.add_argument("--multi-az", dest="multi_az", action="store_true", default=None)
    dr.add_argument("--no-multi-az", dest="multi_az", action="store_false")
    w = p.add_argument_group("waiting")
    w.add_argument(
        "--poll-interval",
        type=float,
        default=DEFAULT_POLL_S,
        metavar="SECONDS",
        help="seconds between status polls (1-60)",
    )
    w.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_MIN,
        metavar="MINUTES",
        help="give up waiting after this many minutes (exit 4; re-run resumes)",
    )
    p.set_defaults(handler=run)


def spec_from_args(args: argparse.Namespace) -> RestoreSpec:
    restore_time = parse_time("--time", args.time) if args.time is not None else None
    sgs = (
        [s.strip() for s in args.vpc_security_group_ids.split(",") if s.strip()]
        if args.vpc_security_group_ids
        else None
    )
    spec = RestoreSpec(
        source=args.source_id,
        target=args.target,
        restore_time=restore_time,
        time_text=args.time,
        region=args.region,
        replicated_backups_arn=args.from_replicated_backups,
        drill=args.drill,
        dry_run=args.dry_run,
        poll_interval=check_poll_interval("--poll-interval", args.poll_interval),
        timeout_s=_timeout_minutes(args.timeout) * 60.0,
        db_subnet_group=args.db_subnet_group,
        security_group_ids=sgs,
        db_parameter_group=args.db_parameter_group,
        option_group=args.option_group,
        master_secret_kms_key=args.master_secret_kms_key,
        instance_class=args.instance_class,
        multi_az=args.multi_az,
    )
    if args.stack_outputs:
        if not args.from_replicated_backups:
            # The outputs name DR-region resources; an in-region restore copies the source's.
            raise InputError(
                "--stack-outputs",
                args.stack_outputs,
                "only together with --from-replicated-backups",
                hint="an in-region restore copies the source's subnet group, security groups and "
                "parameter group; drop --stack-outputs",
            )

        outputs = load_stack_outputs(args.stack_outputs)
        dr = DrRestoreRequest.from_outputs(outputs.database, outputs.drRegion)
        spec.db_subnet_group = spec.db_subnet_group or dr.db_subnet_group
        spec.security_group_ids = spec.security_group_ids or list(dr.security_group_ids)
        spec.db_parameter_group = spec.db_parameter_group or dr.db_parameter_group
        spec.master_secret_kms_key = spec.master_secret_kms_key or dr.master_secret_kms_key
    return spec


def _timeout_minutes(value: float) -> float:
    if not 1 <= value <= 24 * 60:
        raise InputError("--timeout", value, "minutes from 1 to 1440")
    return value


def run(args: argparse.Namespace, report: Report, *, aws: Aws | None = None, clock: Clock | None = None) -> None:
    spec = spec_from_args(args)
    progress = Progress("restore rds", enabled=not args.quiet)
    aws = aws or Aws(on_retry=progress.update)
    if spec.dry_run:
        aws.forbid_mutations("--dry-run")
    outcome = restore_rds(spec, report, aws=aws, clock=clock, progress=progress)
    if outcome.dry_run:
        report.notes.append("dry run: re-run without --dry-run to restore")
    elif outcome.resumed:
        report.notes.append(f"resumed the restore idp-dr started earlier for {outcome.target}")
    if outcome.endpoint:
        waited = report.steps[-1].duration_s if report.steps else None
        report.notes.append(f"{outcome.target} available after {format_duration(waited)} of waiting")
