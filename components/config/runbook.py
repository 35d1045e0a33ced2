"""The runbook's own settings: its container image, and the scheduled dumps and baselines it runs."""

from __future__ import annotations

import re

from pydantic import Field

from components.config.rules import Image, checked, int_range
from components.config.sections import Section


def _cron_ok(value: str) -> bool:
    fields = value.split()
    return len(fields) == 5 and all(re.fullmatch(r"[0-9*/,\-]+", f) for f in fields)


class BackupConfig(Section):
    """Scheduled logical dumps (``idp-dr backup dump`` as a CronJob in the primary cluster)."""

    enabled: bool = Field(
        True, description="Run the dump CronJob (needs runbook.image); the dumps go to the archive under dumps/."
    )
    schedule: checked(_cron_ok, "a five-field cron schedule, e.g. '17 2 * * *' (UTC)") = Field(  # type: ignore[valid-type]
        "17 2 * * *", description="When the dump runs (cron, UTC); monthly on the 1st, weekly on Sundays, else daily."
    )
    deadline_minutes: int_range(10, 1440, unit="minutes") = Field(  # type: ignore[valid-type]
        180, description="A run still going after this is stopped (and the freshness alarm will tell)."
    )


class BaselineConfig(Section):
    """Scheduled baselines (``idp-dr baseline --publish`` as a CronJob in the primary cluster), so drills and
    failovers always have a fresh one in the DR bucket (``--baseline latest``)."""

    enabled: bool = Field(
        True, description="Run the baseline CronJob (needs runbook.image); baselines go to the DR bucket."
    )
    schedule: checked(_cron_ok, "a five-field cron schedule, e.g. '41 3 * * 1' (UTC)") = Field(  # type: ignore[valid-type]
        "41 3 * * 1", description="When a baseline is taken (cron, UTC); weekly by default, and after a key rotation."
    )


class ChecksConfig(Section):
    """Scheduled checks of the DR paths from the DR side (``idp-dr check replicated-backups`` as a CronJob in
    the DR cluster), each publishing the metric an alarm watches."""

    enabled: bool = Field(True, description="Run the checks CronJob in the DR cluster (needs runbook.image; rds mode).")
    schedule: checked(_cron_ok, "a five-field cron schedule, e.g. '23 * * * *' (UTC)") = Field(  # type: ignore[valid-type]
        "23 * * * *", description="When the checks run (cron, UTC); hourly by default."
    )


class DrillConfig(Section):
    """Drills on AWS from the DR side (``idp-dr drill --aws``): the drill namespace, its isolation and RBAC,
    the monthly CronJob, its IAM role (which can create, change and delete only ``idp-dr-drill-*``), and the
    alarms on the drills' records (rds mode)."""

    enabled: bool = Field(
        True,
        description="Create the DR cluster's drill namespace (<standby.namespace>-drill) with its NetworkPolicies, "
        "the drill's service account, role and alarms, so drill --aws can run (rds mode).",
    )
    scheduled: bool = Field(
        True, description="Run drill --aws as a CronJob in the drill namespace (needs runbook.image)."
    )
    schedule: checked(_cron_ok, "a five-field cron schedule, e.g. '7 5 1 * *' (UTC)") = Field(  # type: ignore[valid-type]
        "7 5 1 * *", description="When the drill runs (cron, UTC); monthly on the 1st by default."
    )
    max_days_without_success: int_range(7, 365, unit="days") = Field(  # type: ignore[valid-type]
        100, description="Alarm when no drill has succeeded for longer (a quarterly cadence plus slack)."
    )
    deadline_minutes: int_range(30, 1440, unit="minutes") = Field(  # type: ignore[valid-type]
        240, description="A drill still running after this is stopped (SIGTERM: it cleans up what it created)."
    )


class RunbookConfig(Section):
    """The runbook's container image (``Dockerfile`` in this repository): what Jobs of this program run."""

    image: Image | None = Field(
        None,
        description="Pinned runbook image, e.g. ghcr.io/example/idp-dr:0.1.0. With it, pulumi up runs "
        "'idp-dr bootstrap db' as a Job in the primary cluster before the IdP starts (rds mode); without it, "
        "run that command by hand (docs/getting-started-aws.md).",
    )
    backup: BackupConfig = Field(default_factory=BackupConfig, description=BackupConfig.__doc__)
    baseline: BaselineConfig = Field(default_factory=BaselineConfig, description=BaselineConfig.__doc__)
    checks: ChecksConfig = Field(default_factory=ChecksConfig, description=ChecksConfig.__doc__)
    drill: DrillConfig = Field(default_factory=DrillConfig, description=DrillConfig.__doc__)
