"""What ``restore rds`` is asked (:class:`RestoreSpec`), what it plans and what it did; the tags and rules."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from contract.drills import DRILL_PREFIX, KIND_DRILL
from contract.drills import TAG_DRILL_TARGET as TAG_DRILL_TARGET  # re-exported: one place, contract/
from contract.drills import TAG_KIND as TAG_KIND
from scripts.errors import InputError
from scripts.timeutil import iso

# -- tags that make a restore recognisable (and resumable) ---------------------------------
TAG_SOURCE = "idp-dr:restore-source"
TAG_TIME = "idp-dr:restore-time"
TAG_VERSION = "idp-dr:tool-version"
TAG_RESTORED_TO = "idp-dr:restored-to"
OUR_TAG_PREFIX = "idp-dr:"
LATEST = "latest"

#: Every drill target lives under DRILL_PREFIX; non-drill targets may not use it. The two
#: namespaces are disjoint, so a drill can never overwrite or be mistaken for production.

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


def kind_of(spec: RestoreSpec) -> str:
    """The restore-kind tag: "drill" or "restore"."""
    return KIND_DRILL if spec.drill else "restore"


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
